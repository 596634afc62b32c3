//! Twin of `shaders/channel_stats_tail_reduce.wgsl`.

use crate::abi::{ChannelStat, Layout, StatsParams, segments};
use crate::cpu::channel_stats::{WG_SIZE, fold_lanes};
use crate::cpu::{
    self,
    replay::{Replay, bad_bindings, read, stats_layout, stats_words, structs, structs_mut},
};

/// Folds pass 2's slots, segments of `seg_len`, into `stats[ch].above_sigma` and
/// `terms[ch · nc + r]`.
pub fn channel_stats_tail_reduce(
    layout: &Layout,
    seg_len: usize,
    n_candidates: usize,
    partials: &[[u32; 2]],
    stats: &mut [ChannelStat],
    terms: &mut [[f32; 2]],
) {
    let segs = segments(layout, seg_len);
    let slots = 1 + n_candidates;
    for ch in 0..layout.channels() {
        let mut cnt = [0u32; WG_SIZE];
        for (lid, c) in cnt.iter_mut().enumerate() {
            let mut seg = lid;
            while seg < segs {
                *c += partials[(ch * segs + seg) * slots][0];
                seg += WG_SIZE;
            }
        }
        stats[ch].above_sigma = fold_lanes(&cnt, |a, b| a + b);
        for r in 0..n_candidates {
            let mut lanes = [[0f32; 2]; WG_SIZE];
            for (lid, t) in lanes.iter_mut().enumerate() {
                let mut seg = lid;
                while seg < segs {
                    let p = partials[(ch * segs + seg) * slots + 1 + r].map(f32::from_bits);
                    *t = [t[0] + p[0], t[1] + p[1]];
                    seg += WG_SIZE;
                }
            }
            terms[ch * n_candidates + r] = fold_lanes(&lanes, |a, b| [a[0] + b[0], a[1] + b[1]]);
        }
    }
}

/// Replays dispatches of `channel_stats_tail_reduce` on this twin.
pub(crate) const REPLAY: Replay = Replay {
    kernels: &["channel_stats_tail_reduce"],
    run: replay,
    words: stats_words,
};

fn replay(kernel: &str, params: &[u8], bufs: &mut [Vec<u32>]) -> Result<(), String> {
    let bad = || bad_bindings(kernel);
    let p: StatsParams = read(params);
    let [partials, stats, terms] = bufs else {
        return Err(bad());
    };
    let layout = stats_layout(&p);
    let nc = p.n_candidates as usize;
    let terms = &mut structs_mut::<[f32; 2]>(terms)[..layout.channels() * nc];
    let stats = &mut structs_mut::<ChannelStat>(stats)[..layout.channels()];
    let seg_len = p.seg_len as usize;
    cpu::channel_stats_tail_reduce(&layout, seg_len, nc, structs(partials), stats, terms);
    Ok(())
}
