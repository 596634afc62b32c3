// gather_rows: one batch from a data set kept on the device as bytes. Row r of the batch is
// data row order[offset + r]; each byte becomes table[channel * 256 + byte] (the set's
// normalized value, computed on the CPU), its label is copied. A lane writes four values.
// CPU twin: src/cpu/gather_rows.rs.

const WG_SIZE: u32 = 256u;

struct GatherParams {
    rows: u32,
    features: u32,
    features4: u32,
    channels: u32,
    offset: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> params: GatherParams;
@group(0) @binding(1) var<storage> pixels: array<u32>;
@group(0) @binding(2) var<storage> table: array<f32>;
@group(0) @binding(3) var<storage> order: array<u32>;
@group(0) @binding(4) var<storage> labels: array<u32>;
@group(0) @binding(5) var<storage, read_write> x: array<f32>;
@group(0) @binding(6) var<storage, read_write> y: array<u32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = flat_index(gid, nwg, WG_SIZE);
    if idx >= params.rows * params.features4 {
        return;
    }
    let r = idx / params.features4;
    let f4 = idx % params.features4;
    let src = order[params.offset + r];
    if f4 == 0u {
        y[r] = labels[src];
    }
    // The lane's four bytes span at most two words: load those once (a row's bytes need not
    // start on a word).
    let b0 = src * params.features + f4 * 4u;
    let lo = pixels[b0 / 4u];
    let hi = pixels[min(b0 / 4u + 1u, arrayLength(&pixels) - 1u)];
    let shift = (b0 % 4u) * 8u;
    for (var j = 0u; j < 4u; j++) {
        let f = f4 * 4u + j;
        if f >= params.features {
            break;
        }
        let s = shift + j * 8u;
        var byte: u32;
        if s < 32u {
            byte = (lo >> s) & 0xffu;
        } else {
            byte = (hi >> (s - 32u)) & 0xffu;
        }
        x[r * params.features + f] = table[(f % params.channels) * 256u + byte];
    }
}
