//! Twin of `shaders/channel_stats_tail.wgsl`.

use crate::abi::{
    ChannelStat, Layout, MAX_CANDIDATES, StatsParams, StatsPartial, TAIL_WITH_PASS1, segments,
};
use crate::cpu::channel_stats::{
    WG_SIZE, combine, element_index, finalize, fold_lanes, lane_partial,
};
use crate::cpu::common::{clip_is_valid, inv_step, is_finite_f32, quantize_one, step_of};
use crate::cpu::{
    self,
    replay::{Replay, bad_bindings, f32s, read, stats_layout, stats_words, structs_mut},
};

/// Pass 2, per segment: slot 0 of `partials[(ch · segments + seg) · (1 + nc)]` holds
/// `[count, 0]`, slots 1..=nc the bits of `[Σg·ĝ, Σĝ·ĝ]` for candidate `ratios[r] · max|x|`.
/// With one segment per channel it writes `stats[ch].above_sigma` and `terms[ch · nc + r]`
/// instead (then there is no reduce), and with `with_pass1` first the channel's pass-1
/// statistics, as [`crate::cpu::channel_stats()`] would.
pub fn channel_stats_tail(
    layout: &Layout,
    seg_len: usize,
    input: &[f32],
    ratios: &[f32],
    stats: &mut [ChannelStat],
    (partials, terms): (&mut [[u32; 2]], &mut [[f32; 2]]),
    with_pass1: bool,
) {
    let (n, segs) = (layout.channel_len(), segments(layout, seg_len));
    let nc = ratios.len().min(MAX_CANDIDATES);
    for w in 0..layout.channels() * segs {
        let (ch, seg) = (w / segs, w % segs);
        let end = n.min((seg + 1) * seg_len);
        if with_pass1 {
            let lanes: [StatsPartial; WG_SIZE] =
                std::array::from_fn(|lid| lane_partial(layout, input, lid, (ch, 0, end)));
            stats[ch] = finalize(layout, input, ch, fold_lanes(&lanes, combine));
        }
        let (sigma, max_abs) = (stats[ch].std_dev, stats[ch].max_abs);
        let mut sh_clip = [0f32; MAX_CANDIDATES];
        let mut sh_inv = [0f32; MAX_CANDIDATES];
        let mut sh_step = [0f32; MAX_CANDIDATES];
        for r in 0..nc {
            let clip = ratios[r] * max_abs;
            let valid = clip_is_valid(clip);
            sh_clip[r] = clip;
            sh_inv[r] = if valid { inv_step(clip) } else { 0.0 };
            sh_step[r] = if valid { step_of(clip) } else { 0.0 };
        }
        let mut dot = vec![[0f32; MAX_CANDIDATES]; WG_SIZE];
        let mut qq = vec![[0f32; MAX_CANDIDATES]; WG_SIZE];
        let mut above = [0u32; WG_SIZE];
        for lid in 0..WG_SIZE {
            let mut i = seg * seg_len + lid;
            while i < end {
                let x = input[element_index(layout, ch, i)];
                i += WG_SIZE;
                if !is_finite_f32(x) {
                    continue;
                }
                if x.abs() > sigma {
                    above[lid] += 1;
                }
                for r in 0..nc {
                    let xq = quantize_one(x, sh_clip[r], sh_inv[r], false, 0) as f32 * sh_step[r];
                    dot[lid][r] += x * xq;
                    qq[lid][r] += xq * xq;
                }
            }
        }
        let base = w * (1 + nc);
        let count = fold_lanes(&above, |a, b| a + b);
        if segs == 1 {
            stats[ch].above_sigma = count;
        } else {
            partials[base] = [count, 0];
        }
        for r in 0..nc {
            let pairs: Vec<[f32; 2]> = (0..WG_SIZE).map(|l| [dot[l][r], qq[l][r]]).collect();
            let pair = fold_lanes(&pairs, |a, b| [a[0] + b[0], a[1] + b[1]]);
            if segs == 1 {
                terms[ch * nc + r] = pair;
            } else {
                partials[base + 1 + r] = pair.map(f32::to_bits);
            }
        }
    }
}

/// Replays dispatches of `channel_stats_tail` on this twin.
pub(crate) const REPLAY: Replay = Replay {
    kernels: &["channel_stats_tail"],
    run: replay,
    words: stats_words,
};

fn replay(kernel: &str, params: &[u8], bufs: &mut [Vec<u32>]) -> Result<(), String> {
    let bad = || bad_bindings(kernel);
    let p: StatsParams = read(params);
    let [input, ratios, stats, partials, terms] = bufs else {
        return Err(bad());
    };
    let layout = stats_layout(&p);
    let (ch, nc, segs) = (
        layout.channels(),
        p.n_candidates as usize,
        p.segments as usize,
    );
    // With one segment the partials binding is a placeholder, stats and terms outputs.
    let (partials, terms) = if segs == 1 {
        (&mut [][..], &mut structs_mut::<[f32; 2]>(terms)[..ch * nc])
    } else {
        let n = ch * segs * (1 + nc);
        (&mut structs_mut::<[u32; 2]>(partials)[..n], &mut [][..])
    };
    cpu::channel_stats_tail(
        &layout,
        p.seg_len as usize,
        f32s(input),
        &f32s(ratios)[..nc],
        &mut structs_mut::<ChannelStat>(stats)[..ch],
        (partials, terms),
        p.flags & TAIL_WITH_PASS1 != 0,
    );
    Ok(())
}
