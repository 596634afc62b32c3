//! Twin of `shaders/channel_stats.wgsl`.

use crate::cpu::common::is_finite_f32;
use crate::ops::{ChannelAxis, ChannelStat, Layout};

/// Lanes per workgroup; lane `l` takes elements `l, l + 256, …` of its channel.
pub const WG_SIZE: usize = 256;

/// Flat index of element `i` of channel `ch`.
pub(crate) fn element_index(layout: &Layout, ch: usize, i: usize) -> usize {
    match layout.axis {
        ChannelAxis::Tensor => i,
        ChannelAxis::Rows => ch * layout.cols as usize + i,
        ChannelAxis::Cols => i * layout.cols as usize + ch,
    }
}

/// Folds `v[0..256]` pairwise, `v[l] ⊕= v[l + stride]` for halving strides, as the shader does.
pub(crate) fn tree_reduce<T: Copy>(v: &mut [T; WG_SIZE], op: impl Fn(T, T) -> T) -> T {
    let mut stride = WG_SIZE / 2;
    while stride > 0 {
        for l in 0..stride {
            v[l] = op(v[l], v[l + stride]);
        }
        stride /= 2;
    }
    v[0]
}

/// Pass 1 of the channel statistics into `stats` (`layout.channels()` entries).
pub fn channel_stats(layout: &Layout, input: &[f32], stats: &mut [ChannelStat]) {
    let n = layout.channel_len();
    for ch in 0..layout.channels() {
        let mut shift = input[element_index(layout, ch, 0)];
        if !is_finite_f32(shift) {
            shift = 0.0;
        }
        let mut sh_max = [0f32; WG_SIZE];
        let mut sh_sum = [0f32; WG_SIZE];
        let mut sh_sq = [0f32; WG_SIZE];
        let mut sh_zsq = [0f32; WG_SIZE];
        let mut sh_n = [0u32; WG_SIZE];
        let mut sh_bad = [0u32; WG_SIZE];
        for lid in 0..WG_SIZE {
            let mut i = lid;
            while i < n {
                let x = input[element_index(layout, ch, i)];
                if is_finite_f32(x) {
                    let d = x - shift;
                    sh_max[lid] = sh_max[lid].max(x.abs());
                    sh_sum[lid] += d;
                    sh_sq[lid] += d * d;
                    sh_zsq[lid] += x * x;
                    sh_n[lid] += 1;
                } else {
                    sh_bad[lid] += 1;
                }
                i += WG_SIZE;
            }
        }
        let max_abs = tree_reduce(&mut sh_max, f32::max);
        let sum = tree_reduce(&mut sh_sum, |a, b| a + b);
        let sq = tree_reduce(&mut sh_sq, |a, b| a + b);
        let zsq = tree_reduce(&mut sh_zsq, |a, b| a + b);
        let count = tree_reduce(&mut sh_n, |a, b| a + b);
        let bad = tree_reduce(&mut sh_bad, |a, b| a + b);
        let (mean, std) = if count > 0 {
            let nf = count as f32;
            let m = sum / nf;
            (shift + m, (sq / nf - m * m).max(0.0).sqrt())
        } else {
            (0.0, 0.0)
        };
        stats[ch] = ChannelStat {
            max_abs,
            mean,
            std_dev: std,
            sum_sq: zsq,
            count,
            nonfinite: bad,
            above_sigma: 0,
            _pad: 0,
        };
    }
}
