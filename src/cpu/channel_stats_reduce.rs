//! Twin of `shaders/channel_stats_reduce.wgsl`.

use crate::abi::{ChannelStat, Layout, StatsParams, StatsPartial, segments};
use crate::cpu::channel_stats::{WG_SIZE, combine, finalize, fold_lanes};
use crate::cpu::{
    self,
    replay::{Replay, bad_bindings, f32s, read, stats_layout, stats_words, structs, structs_mut},
};

/// Folds pass 1's partials, segments of `seg_len`, into one [`ChannelStat`] per channel.
pub fn channel_stats_reduce(
    layout: &Layout,
    seg_len: usize,
    input: &[f32],
    partials: &[StatsPartial],
    stats: &mut [ChannelStat],
) {
    let segs = segments(layout, seg_len);
    for ch in 0..layout.channels() {
        let mut lanes = [StatsPartial::default(); WG_SIZE];
        for (lid, p) in lanes.iter_mut().enumerate() {
            let mut seg = lid;
            while seg < segs {
                *p = combine(*p, partials[ch * segs + seg]);
                seg += WG_SIZE;
            }
        }
        stats[ch] = finalize(layout, input, ch, fold_lanes(&lanes, combine));
    }
}

/// Replays dispatches of `channel_stats_reduce` on this twin.
pub(crate) const REPLAY: Replay = Replay {
    kernels: &["channel_stats_reduce"],
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
    let stats = &mut structs_mut::<ChannelStat>(stats)[..layout.channels()];
    let seg_len = p.seg_len as usize;
    cpu::channel_stats_reduce(&layout, seg_len, f32s(input), structs(partials), stats);
    Ok(())
}
