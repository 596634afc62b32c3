// global_avg_pool: NHWC [n, h, w, c] -> [n, c], the mean over h * w in ascending pixel order;
// backward spreads dy[n, c] / (h * w) over the pixels. One invocation per output (forward) or
// input (backward) element. CPU twin: src/cpu/pool.rs.

const WG_SIZE: u32 = 256u;

// Mirrors `GapParams` in src/ops/pool.rs.
struct GapParams {
    n: u32,
    hw: u32,
    c: u32,
    backward: u32,
}

@group(0) @binding(0) var<uniform> params: GapParams;
@group(0) @binding(1) var<storage> x: array<f32>;
@group(0) @binding(2) var<storage> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = gid.x + gid.y * nwg.x * WG_SIZE;
    let inv = 1.0 / f32(params.hw);
    if params.backward == 0u {
        if idx >= params.n * params.c {
            return;
        }
        let ni = idx / params.c;
        let ci = idx % params.c;
        var s = 0.0;
        for (var p = 0u; p < params.hw; p++) {
            s += x[(ni * params.hw + p) * params.c + ci];
        }
        out[idx] = s * inv;
    } else {
        if idx >= params.n * params.hw * params.c {
            return;
        }
        let ni = idx / (params.hw * params.c);
        out[idx] = dy[ni * params.c + idx % params.c] * inv;
    }
}
