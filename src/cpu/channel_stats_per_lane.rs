//! Twin of `shaders/channel_stats_per_lane.wgsl`.

use crate::abi::{ChannelStat, Layout, StatsParams};
use crate::cpu::channel_stats::{WG_SIZE, combine, element_index, finalize, lane_partial};
use crate::cpu::common::is_finite_f32;
use crate::cpu::{
    self,
    replay::{Replay, bad_bindings, f32s, read, stats_layout, stats_words, structs_mut},
};

/// Both passes without candidates, a lane per channel: `stats[ch]` with `above_sigma`, the bits
/// [`crate::cpu::channel_stats_tail()`] gives with `with_pass1` — each of a workgroup's lanes'
/// shares in turn, folded in the workgroup's order.
pub fn channel_stats_per_lane(layout: &Layout, input: &[f32], stats: &mut [ChannelStat]) {
    let n = layout.channel_len();
    for (ch, stat) in stats.iter_mut().enumerate().take(layout.channels()) {
        let lane = |l: usize| lane_partial(layout, input, l, (ch, 0, n));
        let mut total = None;
        for g in 0..WG_SIZE / 8 {
            let b = g * 8;
            let w0 = combine(lane(b), lane(b + 4));
            let w1 = combine(lane(b + 1), lane(b + 5));
            let w2 = combine(lane(b + 2), lane(b + 6));
            let w3 = combine(lane(b + 3), lane(b + 7));
            let t = combine(combine(w0, w2), combine(w1, w3));
            total = Some(total.map_or(t, |total| combine(total, t)));
        }
        let mut s = finalize(layout, input, ch, total.expect("a workgroup has lanes"));
        let mut above = 0;
        for i in 0..n {
            let x = input[element_index(layout, ch, i)];
            above += u32::from(is_finite_f32(x) && x.abs() > s.std_dev);
        }
        s.above_sigma = above;
        *stat = s;
    }
}

/// Replays dispatches of `channel_stats_per_lane` on this twin.
pub(crate) const REPLAY: Replay = Replay {
    kernels: &["channel_stats_per_lane"],
    run: replay,
    words: stats_words,
};

fn replay(kernel: &str, params: &[u8], bufs: &mut [Vec<u32>]) -> Result<(), String> {
    let p: StatsParams = read(params);
    let [input, stats] = bufs else {
        return Err(bad_bindings(kernel));
    };
    let layout = stats_layout(&p);
    let ch = layout.channels();
    cpu::channel_stats_per_lane(
        &layout,
        f32s(input),
        &mut structs_mut::<ChannelStat>(stats)[..ch],
    );
    Ok(())
}
