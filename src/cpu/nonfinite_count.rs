//! Twin of `shaders/nonfinite_count.wgsl`.

use crate::abi::{NONFINITE_PER_LANE, NONFINITE_TENSORS, NonFiniteParams};
use crate::cpu::{
    self,
    replay::{Replay, Words, bad_bindings, f32s, read},
};

const WG_SIZE: usize = 256;

/// Adds the number of NaN and infinite values of each tensor `x` to `health[slot]` and
/// `health[0]`, as one dispatch checks up to four; a tensor with segment ends (non-empty, at
/// most one per dispatch) counts segment `s` into `health[slot + s]`.
pub fn nonfinite_count(tensors: &[(&[f32], usize, &[u32])], health: &mut [u32]) {
    let per_lane = NONFINITE_PER_LANE as usize;
    let segmented = tensors.iter().position(|(_, _, ends)| !ends.is_empty());
    let nonfinite = |v: f32| u32::from(v.to_bits() & 0x7f80_0000 == 0x7f80_0000);
    let most = tensors.iter().map(|(x, ..)| x.len()).max().unwrap_or(0);
    for workgroup in 0..most.div_ceil(WG_SIZE * per_lane) {
        for lid in 0..WG_SIZE {
            let first = workgroup * WG_SIZE * per_lane + lid;
            let lane_end = first + per_lane * WG_SIZE;
            let mut bad = [0u32; NONFINITE_TENSORS];
            for (t, &(x, ..)) in tensors.iter().enumerate() {
                let mut i = first;
                while i < x.len().min(lane_end) {
                    bad[t] += nonfinite(x[i]);
                    i += WG_SIZE;
                }
            }
            let total: u32 = bad.iter().sum();
            if total == 0 {
                continue;
            }
            health[0] = health[0].wrapping_add(total);
            for (t, &(_, slot, _)) in tensors.iter().enumerate() {
                if bad[t] > 0 && Some(t) != segmented {
                    health[slot] = health[slot].wrapping_add(bad[t]);
                }
            }
            if let Some(s) = segmented {
                let (x, slot, ends) = tensors[s];
                let mut i = first;
                while i < lane_end {
                    if i < x.len() && nonfinite(x[i]) == 1 {
                        let at = slot + segment_of(ends, i);
                        health[at] = health[at].wrapping_add(1);
                    }
                    i += WG_SIZE;
                }
            }
        }
    }
}

/// The segment element `i` belongs to: the first whose end is past it (the last if none is).
fn segment_of(ends: &[u32], i: usize) -> usize {
    let mut s = 0;
    while s + 1 < ends.len() && i >= ends[s] as usize {
        s += 1;
    }
    s
}

/// Replays dispatches of `nonfinite_count` on this twin.
pub(crate) const REPLAY: Replay = Replay {
    kernels: &["nonfinite_count"],
    run: replay,
    words: |_, _, _| Words::Exact,
};

fn replay(kernel: &str, params: &[u8], bufs: &mut [Vec<u32>]) -> Result<(), String> {
    let bad = || bad_bindings(kernel);
    let p: NonFiniteParams = read(params);
    let [x0, x1, x2, x3, ends, health] = bufs else {
        return Err(bad());
    };
    let segments = p.segments as usize;
    let tensors: Vec<(&[f32], usize, &[u32])> = [&*x0, &*x1, &*x2, &*x3]
        .into_iter()
        .zip(p.n.iter().zip(p.slot))
        .enumerate()
        .filter(|(_, (_, (n, _)))| **n > 0)
        .map(|(t, (x, (&n, slot)))| {
            let ends: &[u32] = if t as u32 == p.segmented {
                &ends[..segments]
            } else {
                &[]
            };
            (&f32s(x)[..n as usize], slot as usize, ends)
        })
        .collect();
    cpu::nonfinite_count(&tensors, health);
    Ok(())
}
