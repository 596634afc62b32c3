//! Twin of `shaders/nonfinite_count.wgsl`.

/// Adds the number of NaN and infinite values of `x` to `health[slot]` and `health[0]`.
pub fn nonfinite_count(x: &[f32], slot: usize, health: &mut [u32]) {
    let bad = x
        .iter()
        .filter(|v| v.to_bits() & 0x7f80_0000 == 0x7f80_0000)
        .count() as u32;
    health[slot] = health[slot].wrapping_add(bad);
    health[0] = health[0].wrapping_add(bad);
}
