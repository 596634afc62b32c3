// channel_stats_tail: pass 2, which needs pass 1's std and max|x| per channel; one workgroup per
// (channel, segment). Counts |x| > std (DAI8's channel classifier) and, for each candidate clip
// c_r = ratio_r * max|x|, the cosine-distance terms between g and its nearest-rounded
// quantize-dequantize copy g^: sum g*g^ and sum g^*g^ (sum g*g is pass 1's sum_sq). Writes
// 1 + n_candidates slots per segment: (count, 0), then the bits of (sum g*g^, sum g^*g^) per
// candidate; channel_stats_tail_reduce folds the segments. When a channel is one segment, this
// kernel writes above_sigma and the cosine terms itself and the reduce is not dispatched; then,
// with WITH_PASS1, it also takes pass 1 first (channel_stats's loop and fold, the same bits), so
// one dispatch reads the tensor for all its statistics. CPU twin: src/cpu/channel_stats_tail.rs.

const WITH_PASS1: u32 = 1u;

@group(0) @binding(0) var<uniform> params: StatsParams;
@group(0) @binding(1) var<storage> input: array<f32>;
@group(0) @binding(2) var<storage> ratios: array<f32>;
@group(0) @binding(3) var<storage, read_write> stats: array<ChannelStat>;
// Integer storage, so float bits pass through untouched (no denormal flushing of the counts).
@group(0) @binding(4) var<storage, read_write> partials: array<vec2<u32>>;
@group(0) @binding(5) var<storage, read_write> cosine_terms: array<vec2<f32>>;

var<workgroup> sh_clip: array<f32, MAX_CANDIDATES>;
var<workgroup> sh_inv: array<f32, MAX_CANDIDATES>;
var<workgroup> sh_step: array<f32, MAX_CANDIDATES>;

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
    let w = wid.x + wid.y * nwg.x;
    let range = segment_of(w);
    let ch = range.x;
    // Whole workgroups past the last channel (grid folded into y) leave together.
    if ch >= channel_count() {
        return;
    }
    let nc = min(params.n_candidates, MAX_CANDIDATES);
    // The channel's (std, max|x|) from pass 1, in every lane (the fold's total is).
    var stat: vec2<f32>;
    if (params.flags & WITH_PASS1) != 0u {
        let s = finalize(ch, fold_lanes(lid, lane_partial(lid, range)));
        if lid == 0u {
            stats[ch] = s;
        }
        stat = vec2<f32>(s.std_dev, s.max_abs);
    } else {
        stat = vec2<f32>(stats[ch].std_dev, stats[ch].max_abs);
    }
    let sigma = stat.x;
    // DAI8 has no candidates: no barrier for them (barriers are what this kernel costs CPU
    // drivers).
    if nc > 0u {
        if lid < nc {
            let clip = ratios[lid] * stat.y;
            sh_clip[lid] = clip;
            // An invalid clip (e.g. an all-zero channel) contributes g^ = 0.
            sh_inv[lid] = select(0.0, inv_step(clip), clip_is_valid(clip));
            sh_step[lid] = select(0.0, step_of(clip), clip_is_valid(clip));
        }
        workgroupBarrier();
    }
    var dot: array<f32, MAX_CANDIDATES>;
    var qq: array<f32, MAX_CANDIDATES>;
    for (var r = 0u; r < MAX_CANDIDATES; r++) {
        dot[r] = 0.0;
        qq[r] = 0.0;
    }
    var above = 0u;
    for (var i = range.y + lid; i < range.z; i += WG_SIZE) {
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
    let base = w * (1u + nc);
    let single = params.segments == 1u;
    let count = fold_count(lid, above);
    if lid == 0u {
        if single {
            stats[ch].above_sigma = count;
        } else {
            partials[base] = vec2<u32>(count, 0u);
        }
    }
    for (var r = 0u; r < nc; r++) {
        let pair = fold_pair(lid, vec2<f32>(dot[r], qq[r]));
        if lid == 0u {
            if single {
                cosine_terms[ch * nc + r] = pair;
            } else {
                partials[base + 1u + r] = bitcast<vec2<u32>>(pair);
            }
        }
    }
}
