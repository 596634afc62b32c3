// sgd: one step of SGD with momentum, weight decay and optional Nesterov on FP32 master weights,
// PyTorch's formulation: g = grad + wd * w; v = mu * v + g; step = nesterov ? g + mu * v : v;
// w -= lr * factor * step. `factor` comes from a GPU buffer, so the learning rate can follow the
// gradient's quality without a readback: UI8's DCLRS, per layer (one word: that layer's phi,
// written by clip_select) or global over a model's table of clip summaries (phi of the mean
// cosine distance, or the smallest phi). With GUARD the update is skipped when the step's health
// record counts any non-finite gradient or loss (health[0] > 0, see nonfinite_count.wgsl), so a
// bad step never reaches the weights. `per_lane` elements per lane, WG_SIZE apart so that a
// workgroup's loads are contiguous: on CPU drivers a workgroup's start costs as much as a few
// thousand updates, and the factor and the guard are read once per lane. An element is an
// `Elem`, prepended per kernel (src/ops/sgd.rs): one f32 in `sgd`, four in `sgd_vec4` (n a
// multiple of 4), whose per-lane loads CPU drivers make once per vector, not per value (an MLP's
// update took 60% of the time on lavapipe); the arithmetic is per value either way.
// CPU twins: src/cpu/sgd.rs (sgd, sgd_vec4).

const WG_SIZE: u32 = 256u;
const NESTEROV: u32 = 1u;
// Bits 1-2 of flags: where the factor comes from.
const SCALE_WORD: u32 = 1u;
const SCALE_MEAN_DISTANCE: u32 = 2u;
const SCALE_MIN_PHI: u32 = 3u;
const GUARD: u32 = 8u;
// A ClipSummary is 8 words: tensor clip, distance, phi, ...
const SUMMARY_WORDS: u32 = 8u;

// Mirrors `SgdParams` in src/ops/sgd.rs.
struct SgdParams {
    n: u32,
    flags: u32,
    scale_index: u32,
    layers: u32,
    lr: f32,
    momentum: f32,
    weight_decay: f32,
    alpha: f32,
    beta: f32,
    // Parameters each lane updates: `flat_per_lane` in src/abi/elementwise.rs.
    per_lane: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> params: SgdParams;
@group(0) @binding(1) var<storage> grad: array<Elem>;
@group(0) @binding(2) var<storage> lr_scale: array<f32>;
@group(0) @binding(3) var<storage, read_write> weights: array<Elem>;
@group(0) @binding(4) var<storage, read_write> velocity: array<Elem>;
@group(0) @binding(5) var<storage> health: array<u32>;

fn lr_factor() -> f32 {
    let mode = (params.flags >> 1u) & 3u;
    if mode == SCALE_WORD {
        return lr_scale[params.scale_index];
    }
    if mode == SCALE_MEAN_DISTANCE {
        var sum = 0.0;
        for (var l = 0u; l < params.layers; l++) {
            sum += lr_scale[l * SUMMARY_WORDS + 1u];
        }
        let d = sum / f32(max(params.layers, 1u));
        return max(exp(-params.alpha * d), params.beta);
    }
    if mode == SCALE_MIN_PHI {
        var phi = 1.0;
        for (var l = 0u; l < params.layers; l++) {
            phi = min(phi, lr_scale[l * SUMMARY_WORDS + 2u]);
        }
        return phi;
    }
    return 1.0;
}

@compute @workgroup_size(256)
fn main(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let first = strided_first(gid, nwg, lid, WG_SIZE, params.per_lane);
    let elems = params.n / ELEM_VALUES;
    if first >= elems {
        return;
    }
    if (params.flags & GUARD) != 0u && health[0] != 0u {
        return;
    }
    let lr = params.lr * lr_factor();
    for (var k = 0u; k < params.per_lane; k++) {
        let i = first + k * WG_SIZE;
        if i >= elems {
            return;
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
}
