// gather_rows: one batch from a data set kept on the device as bytes. Row r of the batch is
// data row order[offset + r]; each byte becomes table[channel * 256 + byte] (the set's
// normalized value, computed on the CPU), its label is copied. A lane writes four values.
// With the prepended GATHER_AUGMENT (gather_rows_augment) the order buffer holds (row, draw)
// pairs and each image is shifted and flipped as its draw says (src/data/augment.rs), the
// padding reading byte 0. CPU twins: src/cpu/gather_rows.rs.

const WG_SIZE: u32 = 256u;

struct GatherParams {
    rows: u32,
    features: u32,
    features4: u32,
    channels: u32,
    offset: u32,
    height: u32,
    width: u32,
    pad: u32,
    flip: u32,
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

// The four values of lane (r, f4) of an augmented gather: Augment::source in
// src/data/augment.rs, byte by byte.
fn gather_augmented(r: u32, f4: u32) {
    let src = order[2u * (params.offset + r)];
    let key = order[2u * (params.offset + r) + 1u];
    if f4 == 0u {
        y[r] = labels[src];
    }
    let span = 2u * params.pad + 1u;
    let dy = i32(key % span) - i32(params.pad);
    let dx = i32((key / span) % span) - i32(params.pad);
    let flip = params.flip != 0u && (key >> 31u) != 0u;
    for (var j = 0u; j < 4u; j++) {
        let f = f4 * 4u + j;
        if f >= params.features {
            break;
        }
        let c = f % params.channels;
        let px = f / params.channels;
        var ox = px % params.width;
        if flip {
            ox = params.width - 1u - ox;
        }
        let sy = i32(px / params.width) + dy;
        let sx = i32(ox) + dx;
        var byte = 0u;
        if sy >= 0 && sx >= 0 && sy < i32(params.height) && sx < i32(params.width) {
            let b = src * params.features + (u32(sy) * params.width + u32(sx)) * params.channels + c;
            byte = (pixels[b / 4u] >> ((b % 4u) * 8u)) & 0xffu;
        }
        x[r * params.features + f] = table[c * 256u + byte];
    }
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = flat_index(gid, nwg, WG_SIZE);
    if idx >= params.rows * params.features4 {
        return;
    }
    let r = idx / params.features4;
    let f4 = idx % params.features4;
    if GATHER_AUGMENT {
        gather_augmented(r, f4);
        return;
    }
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
