// Shared by the channel statistics kernels (prepended by src/gpu/kernel.rs): the parameter block,
// the partial record and how a channel maps onto the matrix (ChannelStat is in common.wgsl).
// The kernel file declares `params`.
//
// A channel is cut into segments of params.seg_len elements (shorter on a GPU than on a CPU
// driver), one workgroup each (pass kernels), whose partial records one workgroup per channel
// then folds (reduce kernels). Segments keep every invocation's loop trip count small (llvmpipe
// silently ends an invocation's loops after 65535 iterations in total) and spread a large channel
// over many cores. All folds run in a fixed order, so the same input and segment length give the
// same bits.

const WG_SIZE: u32 = 64u;
// Groups of 8 lanes per workgroup (fold_shared.wgsl).
const GROUPS: u32 = WG_SIZE / 8u;
const MAX_CANDIDATES: u32 = 32u;

// Mirrors `StatsParams` in src/ops/channel_stats.rs.
struct StatsParams {
    rows: u32,
    cols: u32,
    axis: u32,
    n_candidates: u32,
    segments: u32,
    // channel_stats_tail: WITH_PASS1 or 0.
    flags: u32,
    seg_len: u32,
    _pad: u32,
}

// Mirrors `StatsPartial` in src/ops/channel_stats.rs: one segment's sums, moments taken about the
// channel's first element (the shift).
struct StatsPartial {
    max_abs: f32,
    sum: f32,
    sum_sq_shifted: f32,
    sum_sq: f32,
    count: u32,
    nonfinite: u32,
    _pad0: u32,
    _pad1: u32,
}

fn combine(a: StatsPartial, b: StatsPartial) -> StatsPartial {
    return StatsPartial(max(a.max_abs, b.max_abs), a.sum + b.sum,
        a.sum_sq_shifted + b.sum_sq_shifted, a.sum_sq + b.sum_sq, a.count + b.count,
        a.nonfinite + b.nonfinite, 0u, 0u);
}

fn channel_len() -> u32 {
    if params.axis == AXIS_TENSOR {
        return params.rows * params.cols;
    }
    if params.axis == AXIS_ROWS {
        return params.cols;
    }
    return params.rows;
}

fn channel_count() -> u32 {
    if params.axis == AXIS_TENSOR {
        return 1u;
    }
    if params.axis == AXIS_ROWS {
        return params.rows;
    }
    return params.cols;
}

fn element_index(ch: u32, i: u32) -> u32 {
    if params.axis == AXIS_TENSOR {
        return i;
    }
    if params.axis == AXIS_ROWS {
        return ch * params.cols + i;
    }
    return i * params.cols + ch;
}

// The (channel, first element, end) of pass workgroup w: channel w / segments, elements
// [segment * seg_len, min(channel_len, (segment + 1) * seg_len)).
fn segment_of(w: u32) -> vec3<u32> {
    let seg = w % params.segments;
    let len = params.seg_len;
    return vec3<u32>(w / params.segments, seg * len, min(channel_len(), (seg + 1u) * len));
}
