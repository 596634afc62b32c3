// batchnorm: BatchNorm2d forward over NHWC rows [m, c] (channels last), in FP32.
// Training (mode 0): mu, var = the batch's per-channel mean and population variance (from
// channel_stats), xhat = (x - mu) / sqrt(var + eps) is saved for the backward, out = gamma * xhat
// + beta, and the invocations of the first row update the running statistics
// (running = (1 - momentum) * running + momentum * batch, the variance unbiased as PyTorch does).
// Evaluation (mode 1): the running statistics replace the batch's. With RECTIFY, out is passed
// through rectify(): the ReLU after the batch norm, run here instead of in a pass of its own.
// CPU twin: src/cpu/batchnorm.rs.

const RECTIFY: u32 = 1u;

@group(0) @binding(0) var<uniform> params: BatchNormParams;
@group(0) @binding(1) var<storage> x: array<f32>;
@group(0) @binding(2) var<storage> stats: array<ChannelStat>;
// gamma [c] then beta [c].
@group(0) @binding(3) var<storage> affine: array<f32>;
// running mean [c] then running variance [c].
@group(0) @binding(4) var<storage, read_write> running: array<f32>;
@group(0) @binding(5) var<storage, read_write> xhat: array<f32>;
@group(0) @binding(6) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = gid.x + gid.y * nwg.x * WG_SIZE;
    let c = params.channels;
    if idx >= params.rows * c {
        return;
    }
    let ci = idx % c;
    var mu: f32;
    var var_: f32;
    if params.mode == 0u {
        mu = stats[ci].mean;
        var_ = stats[ci].std_dev * stats[ci].std_dev;
    } else {
        mu = running[ci];
        var_ = running[c + ci];
    }
    let xh = (x[idx] - mu) / sqrt(var_ + params.eps);
    if params.mode == 0u {
        xhat[idx] = xh;
        if idx < c {
            let m = params.momentum;
            let unbiased = var_ * f32(params.rows) / f32(max(params.rows, 2u) - 1u);
            running[ci] = (1.0 - m) * running[ci] + m * mu;
            running[c + ci] = (1.0 - m) * running[c + ci] + m * unbiased;
        }
    }
    let y = affine[ci] * xh + affine[c + ci];
    out[idx] = select(y, rectify(y), (params.flags & RECTIFY) != 0u);
}
