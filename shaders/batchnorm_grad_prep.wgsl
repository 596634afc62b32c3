// batchnorm_grad_prep: lays out [dy * xhat | dy] as rows [m, 2c], so that one GEMM with a row of
// ones sums both over the batch: [dgamma | dbeta]. CPU twin: src/cpu/batchnorm.rs.

@group(0) @binding(0) var<uniform> params: BatchNormParams;
@group(0) @binding(1) var<storage> dy: array<f32>;
@group(0) @binding(2) var<storage> xhat: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = gid.x + gid.y * nwg.x * WG_SIZE;
    let c = params.channels;
    if idx >= params.rows * c {
        return;
    }
    let row = idx / c;
    let ci = idx % c;
    out[row * 2u * c + ci] = dy[idx] * xhat[idx];
    out[row * 2u * c + c + ci] = dy[idx];
}
