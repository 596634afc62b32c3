// channel_stats_tail: second pass, which needs the first pass's std and max|x| per channel.
// Counts |x| > std (DAI8's channel classifier) and, for each candidate clip c_r = ratio_r * max|x|,
// the cosine-distance terms between g and its nearest-rounded quantize-dequantize copy g^:
// sum g*g^ and sum g^*g^ (sum g*g is the first pass's sum_sq). One workgroup per channel, fixed
// tree order. CPU twin: src/cpu/channel_stats_tail.rs.

const WG_SIZE: u32 = 256u;
const MAX_CANDIDATES: u32 = 32u;

@group(0) @binding(0) var<uniform> params: StatsParams;
@group(0) @binding(1) var<storage> input: array<f32>;
@group(0) @binding(2) var<storage> ratios: array<f32>;
@group(0) @binding(3) var<storage, read_write> stats: array<ChannelStat>;
// [channel][candidate] pairs (sum g*g^, sum g^*g^).
@group(0) @binding(4) var<storage, read_write> cosine_terms: array<vec2<f32>>;

var<workgroup> sh_clip: array<f32, MAX_CANDIDATES>;
var<workgroup> sh_inv: array<f32, MAX_CANDIDATES>;
var<workgroup> sh_step: array<f32, MAX_CANDIDATES>;
var<workgroup> sh_red: array<vec2<f32>, WG_SIZE>;
var<workgroup> sh_cnt: array<u32, WG_SIZE>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
    let ch = wid.x + wid.y * nwg.x;
    // Whole workgroups past the last channel (grid folded into y) leave together.
    if ch >= channel_count() {
        return;
    }
    let n = channel_len();
    let nc = min(params.n_candidates, MAX_CANDIDATES);
    let sigma = stats[ch].std_dev;
    if lid < nc {
        let clip = ratios[lid] * stats[ch].max_abs;
        sh_clip[lid] = clip;
        // An invalid clip (e.g. an all-zero channel) contributes g^ = 0.
        sh_inv[lid] = select(0.0, inv_step(clip), clip_is_valid(clip));
        sh_step[lid] = select(0.0, step_of(clip), clip_is_valid(clip));
    }
    workgroupBarrier();
    var dot: array<f32, MAX_CANDIDATES>;
    var qq: array<f32, MAX_CANDIDATES>;
    for (var r = 0u; r < MAX_CANDIDATES; r++) {
        dot[r] = 0.0;
        qq[r] = 0.0;
    }
    var above = 0u;
    for (var i = lid; i < n; i += WG_SIZE) {
        let x = input[element_index(ch, i)];
        if !is_finite_f32(x) {
            continue;
        }
        if abs(x) > sigma {
            above += 1u;
        }
        for (var r = 0u; r < nc; r++) {
            let xq = f32(quantize_one(x, sh_clip[r], sh_inv[r], ROUND_NEAREST, 0u)) * sh_step[r];
            dot[r] += x * xq;
            qq[r] += xq * xq;
        }
    }
    sh_cnt[lid] = above;
    for (var stride = WG_SIZE / 2u; stride > 0u; stride = stride / 2u) {
        workgroupBarrier();
        if lid < stride {
            sh_cnt[lid] = sh_cnt[lid] + sh_cnt[lid + stride];
        }
    }
    if lid == 0u {
        stats[ch].above_sigma = sh_cnt[0];
    }
    for (var r = 0u; r < nc; r++) {
        workgroupBarrier();
        sh_red[lid] = vec2<f32>(dot[r], qq[r]);
        for (var stride = WG_SIZE / 2u; stride > 0u; stride = stride / 2u) {
            workgroupBarrier();
            if lid < stride {
                sh_red[lid] = sh_red[lid] + sh_red[lid + stride];
            }
        }
        if lid == 0u {
            cosine_terms[ch * nc + r] = sh_red[0];
        }
    }
}
