//! Twin of `shaders/channel_stats_tail.wgsl`.

use crate::cpu::channel_stats::{WG_SIZE, element_index, tree_reduce};
use crate::cpu::common::{clip_is_valid, inv_step, is_finite_f32, quantize_one, step_of};
use crate::ops::{ChannelStat, Layout, MAX_CANDIDATES};

/// Pass 2: sets `above_sigma` in `stats` (which holds pass 1's result) and writes the cosine
/// terms `[g·ĝ, ĝ·ĝ]` of each candidate `ratios[r] · max|x|` to `terms[ch · ratios.len() + r]`.
pub fn channel_stats_tail(
    layout: &Layout,
    input: &[f32],
    ratios: &[f32],
    stats: &mut [ChannelStat],
    terms: &mut [[f32; 2]],
) {
    let n = layout.channel_len();
    let nc = ratios.len().min(MAX_CANDIDATES);
    for ch in 0..layout.channels() {
        let sigma = stats[ch].std_dev;
        let mut sh_clip = [0f32; MAX_CANDIDATES];
        let mut sh_inv = [0f32; MAX_CANDIDATES];
        let mut sh_step = [0f32; MAX_CANDIDATES];
        for r in 0..nc {
            let clip = ratios[r] * stats[ch].max_abs;
            let valid = clip_is_valid(clip);
            sh_clip[r] = clip;
            sh_inv[r] = if valid { inv_step(clip) } else { 0.0 };
            sh_step[r] = if valid { step_of(clip) } else { 0.0 };
        }
        let mut dot = vec![[0f32; MAX_CANDIDATES]; WG_SIZE];
        let mut qq = vec![[0f32; MAX_CANDIDATES]; WG_SIZE];
        let mut sh_cnt = [0u32; WG_SIZE];
        for lid in 0..WG_SIZE {
            let mut i = lid;
            while i < n {
                let x = input[element_index(layout, ch, i)];
                i += WG_SIZE;
                if !is_finite_f32(x) {
                    continue;
                }
                if x.abs() > sigma {
                    sh_cnt[lid] += 1;
                }
                for r in 0..nc {
                    let xq = quantize_one(x, sh_clip[r], sh_inv[r], false, 0) as f32 * sh_step[r];
                    dot[lid][r] += x * xq;
                    qq[lid][r] += xq * xq;
                }
            }
        }
        stats[ch].above_sigma = tree_reduce(&mut sh_cnt, |a, b| a + b);
        for r in 0..nc {
            let mut sh_red = [[0f32; 2]; WG_SIZE];
            for lid in 0..WG_SIZE {
                sh_red[lid] = [dot[lid][r], qq[lid][r]];
            }
            terms[ch * nc + r] = tree_reduce(&mut sh_red, |a, b| [a[0] + b[0], a[1] + b[1]]);
        }
    }
}
