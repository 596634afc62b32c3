//! Twin of `shaders/channel_stats.wgsl` (and the shared helpers of `stats_common.wgsl`,
//! `stats_moments.wgsl` and `stats_fold.wgsl`).

use crate::abi::{
    ChannelAxis, ChannelStat, Layout, STATS_WG_SIZE, StatsParams, StatsPartial, segments,
};
use crate::cpu::common::is_finite_f32;
use crate::cpu::{
    self,
    replay::{Replay, bad_bindings, f32s, read, stats_layout, stats_words, structs_mut},
};

/// Lanes per workgroup of the statistics kernels.
pub const WG_SIZE: usize = STATS_WG_SIZE;

/// Flat index of element `i` of channel `ch`.
pub(crate) fn element_index(layout: &Layout, ch: usize, i: usize) -> usize {
    match layout.axis {
        ChannelAxis::Tensor => i,
        ChannelAxis::Rows => ch * layout.cols as usize + i,
        ChannelAxis::Cols => i * layout.cols as usize + ch,
    }
}

/// The channel's first element, or 0 if it is not finite.
pub(crate) fn channel_shift(layout: &Layout, input: &[f32], ch: usize) -> f32 {
    let x = input[element_index(layout, ch, 0)];
    if is_finite_f32(x) { x } else { 0.0 }
}

/// Folds `v[0..WG_SIZE]` in the shaders' fixed order (`shaders/fold_shared.wgsl`): each group
/// of 8 lanes as `((v0 ⊕ v4) ⊕ (v2 ⊕ v6)) ⊕ ((v1 ⊕ v5) ⊕ (v3 ⊕ v7))`, then the groups' totals
/// in group order.
pub(crate) fn fold_lanes<T: Copy>(v: &[T], op: impl Fn(T, T) -> T) -> T {
    let group = |g: &[T]| {
        op(
            op(op(g[0], g[4]), op(g[2], g[6])),
            op(op(g[1], g[5]), op(g[3], g[7])),
        )
    };
    v[..WG_SIZE]
        .chunks(8)
        .map(group)
        .reduce(&op)
        .expect("a workgroup has lanes")
}

/// `combine()` of `stats_common.wgsl`.
pub(crate) fn combine(a: StatsPartial, b: StatsPartial) -> StatsPartial {
    StatsPartial {
        max_abs: a.max_abs.max(b.max_abs),
        sum: a.sum + b.sum,
        sum_sq_shifted: a.sum_sq_shifted + b.sum_sq_shifted,
        sum_sq: a.sum_sq + b.sum_sq,
        count: a.count + b.count,
        nonfinite: a.nonfinite + b.nonfinite,
        _pad: [0; 2],
    }
}

/// `lane_partial()` of `stats_moments.wgsl`: lane `lid`'s share of pass 1 over elements
/// `start + lid, + WG_SIZE, … < end` of channel `ch`.
pub(crate) fn lane_partial(
    layout: &Layout,
    input: &[f32],
    lid: usize,
    (ch, start, end): (usize, usize, usize),
) -> StatsPartial {
    let shift = channel_shift(layout, input, ch);
    let mut p = StatsPartial::default();
    let mut i = start + lid;
    while i < end {
        let x = input[element_index(layout, ch, i)];
        if is_finite_f32(x) {
            let d = x - shift;
            p.max_abs = p.max_abs.max(x.abs());
            p.sum += d;
            p.sum_sq_shifted += d * d;
            p.sum_sq += x * x;
            p.count += 1;
        } else {
            p.nonfinite += 1;
        }
        i += WG_SIZE;
    }
    p
}

/// Pass 1, per segment of `seg_len`: `partials[ch · segments + seg]`, or with one segment per
/// channel the channel's statistics, `stats[ch]` (then there is no reduce).
pub fn channel_stats(
    layout: &Layout,
    seg_len: usize,
    input: &[f32],
    partials: &mut [StatsPartial],
    stats: &mut [ChannelStat],
) {
    let (n, segs) = (layout.channel_len(), segments(layout, seg_len));
    for w in 0..layout.channels() * segs {
        let (ch, seg) = (w / segs, w % segs);
        let end = n.min((seg + 1) * seg_len);
        let lanes: [StatsPartial; WG_SIZE] =
            std::array::from_fn(|lid| lane_partial(layout, input, lid, (ch, seg * seg_len, end)));
        let total = fold_lanes(&lanes, combine);
        if segs == 1 {
            stats[ch] = finalize(layout, input, ch, total);
        } else {
            partials[w] = total;
        }
    }
}

/// `finalize()` of `shaders/stats_moments.wgsl`: a channel's statistics from the fold of all its
/// elements.
pub(crate) fn finalize(layout: &Layout, input: &[f32], ch: usize, t: StatsPartial) -> ChannelStat {
    let (mut mean, mut std_dev) = (0.0, 0.0);
    if t.count > 0 {
        let nf = t.count as f32;
        let m = t.sum / nf;
        mean = channel_shift(layout, input, ch) + m;
        std_dev = (t.sum_sq_shifted / nf - m * m).max(0.0).sqrt();
    }
    ChannelStat {
        max_abs: t.max_abs,
        mean,
        std_dev,
        sum_sq: t.sum_sq,
        count: t.count,
        nonfinite: t.nonfinite,
        above_sigma: 0,
        _pad: 0,
    }
}

/// Replays dispatches of `channel_stats` on this twin.
pub(crate) const REPLAY: Replay = Replay {
    kernels: &["channel_stats"],
    run: replay,
    words: stats_words,
};

fn replay(kernel: &str, params: &[u8], bufs: &mut [Vec<u32>]) -> Result<(), String> {
    let bad = || bad_bindings(kernel);
    let p: StatsParams = read(params);
    let [input, partials, stats] = bufs else {
        return Err(bad());
    };
    let layout = stats_layout(&p);
    let (ch, segs) = (layout.channels(), p.segments as usize);
    // With one segment the partials binding is a placeholder and stats the output.
    let (partials, stats) = if segs == 1 {
        (&mut [][..], &mut structs_mut::<ChannelStat>(stats)[..ch])
    } else {
        (
            &mut structs_mut::<StatsPartial>(partials)[..ch * segs],
            &mut [][..],
        )
    };
    cpu::channel_stats(&layout, p.seg_len as usize, f32s(input), partials, stats);
    Ok(())
}
