//! Twins of `shaders/nonfinite_count.wgsl` (`nonfinite_count`, `nonfinite_count_vec4`).

use crate::abi::{NONFINITE_TENSORS, NonFiniteParams};
use crate::cpu::replay::{Replay, Words, bad_bindings, f32s, read};

const WG_SIZE: usize = 256;

/// One tensor a dispatch checks: its values, its health slot and its segments' ends (empty if
/// it is not segmented).
pub type Tensor<'a> = (&'a [f32], usize, &'a [u32]);

/// Adds the number of NaN and infinite values of each tensor `x` to `health[slot]` and
/// `health[0]`, as one dispatch checks up to four; a tensor with segment ends (non-empty, at
/// most one per dispatch) counts segment `s` into `health[slot + s]`. Each lane takes
/// `per_lane` elements ([`flat_per_lane`](crate::abi::flat_per_lane)); the counts do not depend
/// on it, except that 0 checks nothing, as the kernel does.
pub fn nonfinite_count(tensors: &[Tensor<'_>], per_lane: u32, health: &mut [u32]) {
    count::<1>(tensors, per_lane, health);
}

/// [`nonfinite_count()`] as `nonfinite_count_vec4` takes it, four values per element: the same
/// counts.
pub fn nonfinite_count_vec4(tensors: &[Tensor<'_>], per_lane: u32, health: &mut [u32]) {
    count::<4>(tensors, per_lane, health);
}

/// Which twin replays `kernel`.
pub fn twin(kernel: &str) -> fn(&[Tensor<'_>], u32, &mut [u32]) {
    match kernel {
        "nonfinite_count_vec4" => nonfinite_count_vec4,
        _ => nonfinite_count,
    }
}

/// The kernel's loops with elements of `VALUES` values.
fn count<const VALUES: usize>(tensors: &[Tensor<'_>], per_lane: u32, health: &mut [u32]) {
    let per_lane = per_lane as usize;
    let segmented = tensors.iter().position(|(_, _, ends)| !ends.is_empty());
    let nonfinite = |v: f32| u32::from(v.to_bits() & 0x7f80_0000 == 0x7f80_0000);
    // The non-finite values of element i of x (those past its length not counted).
    let bad_in = |x: &[f32], i: usize| -> u32 {
        (i * VALUES..(i + 1) * VALUES)
            .filter(|&v| v < x.len())
            .map(|v| nonfinite(x[v]))
            .sum()
    };
    let elems = |x: &[f32]| x.len().div_ceil(VALUES);
    let most = tensors.iter().map(|(x, ..)| elems(x)).max().unwrap_or(0);
    // At least one element a workgroup, so that `per_lane` 0 counts nothing, as on the GPU.
    for workgroup in 0..most.div_ceil((WG_SIZE * per_lane).max(1)) {
        for lid in 0..WG_SIZE {
            let first = workgroup * WG_SIZE * per_lane + lid;
            let lane_end = first + per_lane * WG_SIZE;
            let mut bad = [0u32; NONFINITE_TENSORS];
            for (t, &(x, ..)) in tensors.iter().enumerate() {
                let mut i = first;
                while i < elems(x).min(lane_end) {
                    bad[t] += bad_in(x, i);
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
                    for v in i * VALUES..(i + 1) * VALUES {
                        if v < x.len() && nonfinite(x[v]) == 1 {
                            let at = slot + segment_of(ends, v);
                            health[at] = health[at].wrapping_add(1);
                        }
                    }
                    i += WG_SIZE;
                }
            }
        }
    }
}

/// The segment value `i` belongs to: the first whose end is past it (the last if none is).
fn segment_of(ends: &[u32], i: usize) -> usize {
    let mut s = 0;
    while s + 1 < ends.len() && i >= ends[s] as usize {
        s += 1;
    }
    s
}

/// Replays dispatches of `nonfinite_count` and `nonfinite_count_vec4` on these twins.
pub(crate) const REPLAY: Replay = Replay {
    kernels: &["nonfinite_count", "nonfinite_count_vec4"],
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
    let tensors: Vec<Tensor<'_>> = [&*x0, &*x1, &*x2, &*x3]
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
    twin(kernel)(&tensors, p.per_lane, health);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_elements_per_lane_counts_nothing() {
        let x = [f32::NAN, 1.0, f32::INFINITY];
        let mut health = [0u32; 2];
        nonfinite_count_vec4(&[(&x, 1, &[])], 0, &mut health);
        assert_eq!(health, [0, 0]);
        nonfinite_count(&[(&x, 1, &[])], 1, &mut health);
        assert_eq!(health, [2, 2]);
    }
}
