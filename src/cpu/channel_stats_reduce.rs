//! Twin of `shaders/channel_stats_reduce.wgsl`.

use crate::cpu::channel_stats::{WG_SIZE, channel_shift, combine, tree_reduce};
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
        let t = tree_reduce(&mut lanes, combine);
        let (mut mean, mut std_dev) = (0.0, 0.0);
        if t.count > 0 {
            let nf = t.count as f32;
            let m = t.sum / nf;
            mean = channel_shift(layout, input, ch) + m;
            std_dev = (t.sum_sq_shifted / nf - m * m).max(0.0).sqrt();
        }
        stats[ch] = ChannelStat {
            max_abs: t.max_abs,
            mean,
            std_dev,
            sum_sq: t.sum_sq,
            count: t.count,
            nonfinite: t.nonfinite,
            above_sigma: 0,
            _pad: 0,
        };
    }
}
