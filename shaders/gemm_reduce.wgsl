// gemm_reduce: finishes a split-K GEMM. out[m, n] = epilogue(sum over z = 0.. of partials[z][m][n]),
// summed in ascending z, stored from out[out_offset] on. CPU twin: src/cpu/gemm_reduce.rs.

const WG_SIZE: u32 = 256u;

@group(0) @binding(0) var<uniform> params: GemmParams;
@group(0) @binding(1) var<storage> partials: array<f32>;
@group(0) @binding(2) var<storage> scale_a: array<f32>;
@group(0) @binding(3) var<storage> scale_b: array<f32>;
@group(0) @binding(4) var<storage> bias: array<u32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = gid.x + gid.y * nwg.x * WG_SIZE;
    let cells = params.m * params.n;
    if idx >= cells {
        return;
    }
    var v = 0.0;
    for (var z = 0u; z < params.chunks; z++) {
        v += partials[z * cells + idx];
    }
    out[params.out_offset + idx] = epilogue(v, idx / params.n, idx % params.n);
}
