//! `nonfinite_count`: the health record's NaN and infinity counts.

use super::check::Check;
use super::{CaseResult, Extent};
use crate::cpu;
use crate::error::Result;
use crate::gpu::{Context, Recording};
use crate::ops;
use crate::rng::Gen;

/// The kernels the suite exercises.
pub(super) const KERNELS: &[&str] = &["nonfinite_count"];

/// NaN and infinity counts into a health record: signalling and quiet NaNs, ±Inf, the largest
/// finite values (not counted), two tensors adding into one record.
pub(super) fn cases(ctx: &Context, _: Extent, out: &mut Vec<CaseResult>) -> Result<()> {
    let mut g = Gen::new(141);
    for n in [1usize, 255, 257, 70_000] {
        let mut x = g.normal_vec(n, 1.0);
        let specials = [
            f32::NAN,
            f32::from_bits(0x7f80_0001), // a signalling NaN
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::MAX,
            -f32::MAX,
        ];
        if n > 1 {
            for (i, v) in specials.iter().enumerate() {
                x[(i * 97 + n / 2) % n] = *v;
            }
        }
        let y = vec![f32::NAN; 3];
        let (xb, yb) = (ctx.upload("test.x", &x), ctx.upload("test.y", &y));
        let health = ctx.storage_buffer("test.health", 4 * 4);
        let mut rec = Recording::new();
        ops::nonfinite::nonfinite_count(&mut rec, n as u32, &xb, (&health, 2))?;
        ops::nonfinite::nonfinite_count(&mut rec, 3, &yb, (&health, 3))?;
        ctx.run(&rec)?;
        let gpu: Vec<u32> = ctx.read_buffer(&health)?;
        let mut twin = vec![0u32; 4];
        cpu::nonfinite_count(&x, 2, &mut twin);
        cpu::nonfinite_count(&y, 3, &mut twin);
        let mut check = Check::new();
        check.exact("health", &gpu[..4], &twin);
        let expected = if n > 1 { 4 } else { 0 };
        check.exact("count", &[twin[2]], &[expected]);
        check.finish("nonfinite", format!("n={n}"), out);
    }
    // Every value bad: every lane of every workgroup adds.
    let x = vec![f32::NAN; 5000];
    let health = ctx.storage_buffer("test.health", 2 * 4);
    let mut rec = Recording::new();
    ops::nonfinite::nonfinite_count(&mut rec, 5000, &ctx.upload("test.x", &x), (&health, 1))?;
    ctx.run(&rec)?;
    let gpu: Vec<u32> = ctx.read_buffer(&health)?;
    let mut check = Check::new();
    check.exact("health", &gpu[..2], &[5000, 5000]);
    check.finish("nonfinite", "n=5000, all NaN".to_string(), out);
    Ok(())
}
