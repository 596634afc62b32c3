// batchnorm_backward: dx = gamma / sqrt(var + eps) * (dy - dbeta / m - xhat * dgamma / m), with
// [dgamma | dbeta] summed by batchnorm_grad_prep and a GEMM. CPU twin: src/cpu/batchnorm.rs.

@group(0) @binding(0) var<uniform> params: BatchNormParams;
@group(0) @binding(1) var<storage> dy: array<f32>;
@group(0) @binding(2) var<storage> xhat: array<f32>;
@group(0) @binding(3) var<storage> stats: array<ChannelStat>;
@group(0) @binding(4) var<storage> affine: array<f32>;
// dgamma [c] then dbeta [c].
@group(0) @binding(5) var<storage> sums: array<f32>;
@group(0) @binding(6) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = gid.x + gid.y * nwg.x * WG_SIZE;
    let c = params.channels;
    if idx >= params.rows * c {
        return;
    }
    let ci = idx % c;
    let sd = stats[ci].std_dev;
    let inv = 1.0 / sqrt(sd * sd + params.eps);
    let m = f32(params.rows);
    dx[idx] = affine[ci] * inv * (dy[idx] - sums[c + ci] / m - xhat[idx] * sums[ci] / m);
}
