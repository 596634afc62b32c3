// clip_select: turns channel statistics into clips on the GPU, so a training step never waits
// for a readback. One workgroup; lane l takes channels l, l + 256, ...
//   MODE_MAX  : clip = max|g|                                   (FP32-free naive INT8, forward W/X)
//   MODE_DSGC : clip = ratio_r* * max|g|, r* = argmin_r d_c(r)  (UI8 direction-sensitive clipping)
//   MODE_MCS  : Gaussian channel (P(|g| > sigma) > lambda): clip = max|g|;
//               inverted-T: clip = s_t = (1 - k*A) * s_{t-1} + A * max|g|   (DAI8 magnitude-aware)
// Also writes a summary: the tensor clip max_c clip_c (DAI8's clip for the dX copy), the largest
// cosine distance d over channels and UI8's learning-rate factor phi = max(exp(-alpha*d), beta),
// and the number of Gaussian / inverted-T channels. CPU twin: src/cpu/clip_select.rs.

const WG_SIZE: u32 = 256u;
const MODE_MAX: u32 = 0u;
const MODE_DSGC: u32 = 1u;
const MODE_MCS: u32 = 2u;
// MCS state is updated for Gaussian channels too (default: inverted-T channels only).
const MCS_UPDATE_ALWAYS: u32 = 1u;

// Mirrors `ClipParams` in src/ops/clip_select.rs.
struct ClipParams {
    channels: u32,
    mode: u32,
    n_candidates: u32,
    flags: u32,
    lambda: f32,
    k: f32,
    a: f32,
    alpha: f32,
    beta: f32,
    slot: u32,
    _pad0: u32,
    _pad1: u32,
}

// Mirrors `ClipSummary` in src/ops/clip_select.rs.
struct ClipSummary {
    tensor_clip: f32,
    distance: f32,
    phi: f32,
    gaussian: u32,
    inverted_t: u32,
    max_abs: f32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> params: ClipParams;
@group(0) @binding(1) var<storage> stats: array<ChannelStat>;
@group(0) @binding(2) var<storage> cosine_terms: array<vec2<f32>>;
@group(0) @binding(3) var<storage> ratios: array<f32>;
// DAI8's s_{t-1} per channel; a value that is not > 0 means "not yet set".
@group(0) @binding(4) var<storage, read_write> state: array<f32>;
@group(0) @binding(5) var<storage, read_write> clips: array<f32>;
// A model's table of summaries, one slot per quantized layer; this dispatch writes `slot`.
@group(0) @binding(6) var<storage, read_write> summary: array<ClipSummary>;

var<workgroup> sh_clip: array<f32, WG_SIZE>;
var<workgroup> sh_dist: array<f32, WG_SIZE>;
var<workgroup> sh_max: array<f32, WG_SIZE>;
var<workgroup> sh_gauss: array<u32, WG_SIZE>;
var<workgroup> sh_inv: array<u32, WG_SIZE>;

// 1 - g.g^ / (|g| |g^|); 0 for an all-zero g (nothing to lose), 1 when g^ vanishes.
fn cosine_distance(sum_sq: f32, terms: vec2<f32>) -> f32 {
    if sum_sq <= 0.0 {
        return 0.0;
    }
    let denom = sqrt(sum_sq) * sqrt(terms.y);
    if denom <= 0.0 {
        return 1.0;
    }
    return 1.0 - terms.x / denom;
}

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32) {
    var top = 0.0;
    var top_abs = 0.0;
    var worst = 0.0;
    var gauss = 0u;
    var inv_t = 0u;
    let nc = params.n_candidates;
    for (var ch = lid; ch < params.channels; ch += WG_SIZE) {
        let st = stats[ch];
        var clip = st.max_abs;
        if params.mode == MODE_DSGC && nc > 0u {
            var best = 0u;
            var best_d = cosine_distance(st.sum_sq, cosine_terms[ch * nc]);
            for (var r = 1u; r < nc; r++) {
                let d = cosine_distance(st.sum_sq, cosine_terms[ch * nc + r]);
                if d < best_d {
                    best = r;
                    best_d = d;
                }
            }
            clip = ratios[best] * st.max_abs;
            worst = max(worst, best_d);
        } else if params.mode == MODE_MCS {
            let is_gauss = f32(st.above_sigma) > params.lambda * f32(st.count);
            var prev = state[ch];
            if !(prev > 0.0) {
                prev = st.max_abs;
            }
            let s_t = (1.0 - params.k * params.a) * prev + params.a * st.max_abs;
            if is_gauss {
                gauss += 1u;
                if (params.flags & MCS_UPDATE_ALWAYS) != 0u {
                    state[ch] = s_t;
                } else {
                    state[ch] = prev;
                }
            } else {
                inv_t += 1u;
                clip = s_t;
                state[ch] = s_t;
            }
        }
        clips[ch] = clip;
        top = max(top, clip);
        top_abs = max(top_abs, st.max_abs);
    }
    sh_clip[lid] = top;
    sh_max[lid] = top_abs;
    sh_dist[lid] = worst;
    sh_gauss[lid] = gauss;
    sh_inv[lid] = inv_t;
    for (var stride = WG_SIZE / 2u; stride > 0u; stride = stride / 2u) {
        workgroupBarrier();
        if lid < stride {
            sh_clip[lid] = max(sh_clip[lid], sh_clip[lid + stride]);
            sh_max[lid] = max(sh_max[lid], sh_max[lid + stride]);
            sh_dist[lid] = max(sh_dist[lid], sh_dist[lid + stride]);
            sh_gauss[lid] = sh_gauss[lid] + sh_gauss[lid + stride];
            sh_inv[lid] = sh_inv[lid] + sh_inv[lid + stride];
        }
    }
    if lid == 0u {
        let d = sh_dist[0];
        var phi = 1.0;
        if params.mode == MODE_DSGC {
            phi = max(exp(-params.alpha * d), params.beta);
        }
        summary[params.slot] =
            ClipSummary(sh_clip[0], d, phi, sh_gauss[0], sh_inv[0], sh_max[0], 0u, 0u);
    }
}
