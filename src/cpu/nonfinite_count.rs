//! Twin of `shaders/nonfinite_count.wgsl`.

use crate::abi::{NONFINITE_PER_LANE, NonFiniteParams};
use crate::cpu::{
    self,
    replay::{Replay, Words, bad_bindings, f32s, read},
};

const WG_SIZE: usize = 256;

/// Adds the number of NaN and infinite values of each tensor `x` to `health[slot]` and
/// `health[0]`, as one dispatch checks up to four.
pub fn nonfinite_count(tensors: &[(&[f32], usize)], health: &mut [u32]) {
    let per_lane = NONFINITE_PER_LANE as usize;
    let most = tensors.iter().map(|(x, _)| x.len()).max().unwrap_or(0);
    for workgroup in 0..most.div_ceil(WG_SIZE * per_lane) {
        for lid in 0..WG_SIZE {
            let first = workgroup * WG_SIZE * per_lane + lid;
            for &(x, slot) in tensors {
                let bad = (0..per_lane)
                    .map(|k| first + k * WG_SIZE)
                    .filter(|&i| i < x.len() && x[i].to_bits() & 0x7f80_0000 == 0x7f80_0000)
                    .count() as u32;
                if bad > 0 {
                    health[slot] = health[slot].wrapping_add(bad);
                    health[0] = health[0].wrapping_add(bad);
                }
            }
        }
    }
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
    let [x0, x1, x2, x3, health] = bufs else {
        return Err(bad());
    };
    let tensors: Vec<(&[f32], usize)> = [&*x0, &*x1, &*x2, &*x3]
        .into_iter()
        .zip(p.n.iter().zip(p.slot))
        .filter(|(_, (n, _))| **n > 0)
        .map(|(x, (&n, slot))| (&f32s(x)[..n as usize], slot as usize))
        .collect();
    cpu::nonfinite_count(&tensors, health);
    Ok(())
}
