//! Twin of `shaders/nonfinite_count.wgsl`.

use crate::abi::{NONFINITE_PER_LANE, NonFiniteParams};
use crate::cpu::{
    self,
    replay::{Replay, Words, bad_bindings, f32s, read},
};

const WG_SIZE: usize = 256;

/// Adds the number of NaN and infinite values of `x` to `health[slot]` and `health[0]`.
pub fn nonfinite_count(x: &[f32], slot: usize, health: &mut [u32]) {
    let per_lane = NONFINITE_PER_LANE as usize;
    for workgroup in 0..x.len().div_ceil(WG_SIZE * per_lane) {
        for lid in 0..WG_SIZE {
            let first = workgroup * WG_SIZE * per_lane + lid;
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

/// Replays dispatches of `nonfinite_count` on this twin.
pub(crate) const REPLAY: Replay = Replay {
    kernels: &["nonfinite_count"],
    run: replay,
    words: |_, _, _| Words::Exact,
};

fn replay(kernel: &str, params: &[u8], bufs: &mut [Vec<u32>]) -> Result<(), String> {
    let bad = || bad_bindings(kernel);
    let p: NonFiniteParams = read(params);
    let [x, health] = bufs else {
        return Err(bad());
    };
    cpu::nonfinite_count(&f32s(x)[..p.n as usize], p.slot as usize, health);
    Ok(())
}
