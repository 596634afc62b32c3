//! Twins of `shaders/common.wgsl`.

use crate::abi::ChannelAxis;

/// Clips below this (or non-finite) are degenerate: the channel quantizes to zeros, scale 0.
pub const MIN_CLIP: f32 = 1e-30;

/// `rectify()`: negative values (-0 and -Inf included) become +0; NaN passes through.
pub fn rectify(v: f32) -> f32 {
    let bits = v.to_bits();
    if (bits >> 31) == 1 && (bits & 0x7fff_ffff) <= 0x7f80_0000 {
        0.0
    } else {
        v
    }
}

pub use crate::rng::{hash_u32, rng_u32};

/// The channel of element `(r, c)`.
pub fn channel_of(axis: ChannelAxis, r: u32, c: u32) -> u32 {
    match axis {
        ChannelAxis::Tensor => 0,
        ChannelAxis::Rows => r,
        ChannelAxis::Cols => c,
    }
}

/// Positive, finite and at least [`MIN_CLIP`].
pub fn clip_is_valid(c: f32) -> bool {
    let bits = c.to_bits();
    (bits >> 31) == 0 && (bits & 0x7f80_0000) != 0x7f80_0000 && c >= MIN_CLIP
}

/// Correctly rounded `a / b` for positive normal `a`, `b` with a normal quotient, by long
/// division of the significands: the shader's way, which equals IEEE division (tested).
pub fn div_rn(a: f32, b: f32) -> f32 {
    let ba = a.to_bits();
    let bb = b.to_bits();
    let mut ma = (ba & 0x7f_ffff) | 0x80_0000;
    let mb = (bb & 0x7f_ffff) | 0x80_0000;
    let mut e = ((ba >> 23) & 0xff) as i32 - ((bb >> 23) & 0xff) as i32 + 127;
    if ma < mb {
        ma <<= 1;
        e -= 1;
    }
    let mut q = 0u32;
    let mut r = ma;
    for _ in 0..25 {
        q <<= 1;
        if r >= mb {
            r -= mb;
            q |= 1;
        }
        r <<= 1;
    }
    let mut m = q >> 1;
    if (q & 1) == 1 && (r != 0 || (m & 1) == 1) {
        m += 1;
    }
    if m == 0x100_0000 {
        m >>= 1;
        e += 1;
    }
    f32::from_bits(((e as u32) << 23) | (m & 0x7f_ffff))
}

/// `127 / c`.
pub fn inv_step(c: f32) -> f32 {
    div_rn(127.0, c)
}

/// `c / 127`, the scale.
pub fn step_of(c: f32) -> f32 {
    div_rn(c, 127.0)
}

/// `floor(v · 2²⁴)` for `0 ≤ v < 128` given as bits.
pub fn to_fixed24(v: u32) -> u32 {
    let e = (v >> 23) & 0xff;
    if e == 0 {
        return 0;
    }
    let m = (v & 0x7f_ffff) | 0x80_0000;
    let sh = e as i32 - 126;
    if sh >= 0 {
        return m << sh as u32;
    }
    if sh <= -32 {
        return 0;
    }
    m >> (-sh) as u32
}

/// clip → scale → round of one value; see `quantize_one` in `shaders/common.wgsl`.
pub fn quantize_one(x: f32, c: f32, inv: f32, stochastic: bool, rnd: u32) -> i32 {
    let bits = x.to_bits();
    let mag = bits & 0x7fff_ffff;
    if !(0x0080_0000..=0x7f80_0000).contains(&mag) {
        return 0;
    }
    let a = f32::from_bits(mag).min(c);
    let q = if stochastic {
        let fixed = to_fixed24((a * inv).to_bits());
        (fixed >> 24) + ((rnd & 0xff_ffff) < (fixed & 0xff_ffff)) as u32
    } else {
        (a * inv).round_ties_even() as u32
    };
    let q = q.min(127);
    if (bits >> 31) == 1 {
        -(q as i32)
    } else {
        q as i32
    }
}

/// WGSL's `pack4xI8`: the low byte of each lane.
pub fn pack4x_i8(q: [i32; 4]) -> u32 {
    q.iter()
        .enumerate()
        .fold(0u32, |w, (j, &v)| w | ((v as u32 & 0xff) << (8 * j)))
}

/// WGSL's `unpack4xI8`: sign-extended bytes.
pub fn unpack4x_i8(w: u32) -> [i32; 4] {
    [0, 1, 2, 3].map(|j| ((w >> (8 * j)) as u8 as i8) as i32)
}

/// Whether `x` is neither NaN nor ±Inf.
pub fn is_finite_f32(x: f32) -> bool {
    (x.to_bits() & 0x7f80_0000) != 0x7f80_0000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn div_rn_equals_ieee_division() {
        // Random significands over the exponent range quantization uses, plus the clips of
        // interest: 127 / c and c / 127.
        for i in 0..200_000u32 {
            let c =
                f32::from_bits((rng_u32(7, i) & 0x007f_ffff) | ((rng_u32(8, i) % 200 + 27) << 23));
            assert_eq!(
                div_rn(127.0, c).to_bits(),
                (127.0 / c).to_bits(),
                "127/{c:e}"
            );
            assert_eq!(
                div_rn(c, 127.0).to_bits(),
                (c / 127.0).to_bits(),
                "{c:e}/127"
            );
            let d = f32::from_bits((rng_u32(9, i) & 0x007f_ffff) | 127 << 23);
            assert_eq!(div_rn(c, d).to_bits(), (c / d).to_bits(), "{c:e}/{d:e}");
        }
    }

    #[test]
    fn nearest_rounding_is_half_even_and_saturates() {
        let c = 127.0;
        let inv = inv_step(c);
        assert_eq!(inv, 1.0);
        for (x, q) in [
            (0.5, 0),
            (1.5, 2),
            (2.5, 2),
            (-2.5, -2),
            (126.5, 126),
            (1e9, 127),
        ] {
            assert_eq!(quantize_one(x, c, inv, false, 0), q, "{x}");
        }
        assert_eq!(quantize_one(f32::INFINITY, c, inv, false, 0), 127);
        assert_eq!(quantize_one(f32::NEG_INFINITY, c, inv, false, 0), -127);
        assert_eq!(quantize_one(f32::NAN, c, inv, false, 0), 0);
        assert_eq!(quantize_one(1e-40, c, inv, false, 0), 0);
    }

    #[test]
    fn round_trip_error_is_within_half_a_step() {
        // ALGORITHMS.md §4 test 1: |x̂ − x| ≤ s/2 (nearest), ≤ s (stochastic) inside the clip.
        let c = 3.7f32;
        let (inv, s) = (inv_step(c), step_of(c));
        for i in 0..100_000u32 {
            let x = (rng_u32(1, i) as f32 / u32::MAX as f32 * 2.0 - 1.0) * c;
            // Slack of a few ulps of x for the rounding of x·(127/c) and of q·s.
            let slack = 4.0 * f32::EPSILON * c;
            let near = quantize_one(x, c, inv, false, 0) as f32 * s;
            assert!((near - x).abs() <= s * 0.5 + slack, "{x}: {near}");
            let sr = quantize_one(x, c, inv, true, rng_u32(2, i)) as f32 * s;
            assert!((sr - x).abs() <= s + slack, "{x}: {sr}");
        }
    }

    #[test]
    fn pack_and_unpack_are_inverse() {
        let q = [-127, -1, 0, 127];
        assert_eq!(pack4x_i8(q), 0x7f00_ff81);
        assert_eq!(unpack4x_i8(pack4x_i8(q)), q);
    }
}
