//! Twin of `shaders/channel_stats_reduce.wgsl`.

use crate::cpu::channel_stats::{WG_SIZE, combine, finalize, tree_reduce};
use crate::ops::channel_stats::segments;
use crate::ops::{ChannelStat, Layout, StatsPartial};

/// Folds pass 1's segment partials into one [`ChannelStat`] per channel.
pub fn channel_stats_reduce(
    layout: &Layout,
    input: &[f32],
    partials: &[StatsPartial],
    stats: &mut [ChannelStat],
) {
    let segs = segments(layout);
    for ch in 0..layout.channels() {
        let mut lanes = [StatsPartial::default(); WG_SIZE];
        for (lid, p) in lanes.iter_mut().enumerate() {
            let mut seg = lid;
            while seg < segs {
                *p = combine(*p, partials[ch * segs + seg]);
                seg += WG_SIZE;
            }
        }
        stats[ch] = finalize(layout, input, ch, tree_reduce(&mut lanes, combine));
    }
}
