// sgd: one step of SGD with momentum, weight decay and optional Nesterov on FP32 master weights,
// PyTorch's formulation: g = grad + wd * w; v = mu * v + g; step = nesterov ? g + mu * v : v;
// w -= lr * scale * step. `scale` is read from a GPU buffer (UI8's per-layer phi, written by
// clip_select) so the learning rate can follow the gradient's quality without a readback.
// CPU twin: src/cpu/sgd.rs.

const WG_SIZE: u32 = 256u;
const NESTEROV: u32 = 1u;
const USE_SCALE: u32 = 2u;

// Mirrors `SgdParams` in src/ops/sgd.rs.
struct SgdParams {
    n: u32,
    flags: u32,
    scale_index: u32,
    _pad0: u32,
    lr: f32,
    momentum: f32,
    weight_decay: f32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> params: SgdParams;
@group(0) @binding(1) var<storage> grad: array<f32>;
@group(0) @binding(2) var<storage> lr_scale: array<f32>;
@group(0) @binding(3) var<storage, read_write> weights: array<f32>;
@group(0) @binding(4) var<storage, read_write> velocity: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG_SIZE;
    if i >= params.n {
        return;
    }
    var lr = params.lr;
    if (params.flags & USE_SCALE) != 0u {
        lr = lr * lr_scale[params.scale_index];
    }
    let w = weights[i];
    let g = grad[i] + params.weight_decay * w;
    let v = params.momentum * velocity[i] + g;
    velocity[i] = v;
    var step = v;
    if (params.flags & NESTEROV) != 0u {
        step = g + params.momentum * v;
    }
    weights[i] = w - lr * step;
}
