//! `nonfinite_count`: the health record's NaN and infinity counts.

use super::check::Check;
use super::{CaseResult, Extent};
use crate::cpu;
use crate::error::Result;
use crate::gpu::{Context, Recording};
use crate::ops;
use crate::ops::nonfinite::Checked;
use crate::rng::Gen;

/// The kernels the suite exercises.
pub(super) const KERNELS: &[&str] = &["nonfinite_count"];

/// NaN and infinity counts into a health record: signalling and quiet NaNs, ±Inf, the largest
/// finite values (not counted), tensors of different lengths in one dispatch, more tensors
/// than one dispatch takes, two adding into one slot.
pub(super) async fn cases(ctx: &Context, _: Extent, out: &mut Vec<CaseResult>) -> Result<()> {
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
        let checked = [
            Checked {
                x: (&xb).into(),
                n: n as u32,
                slot: 2,
            },
            Checked {
                x: (&yb).into(),
                n: 3,
                slot: 3,
            },
        ];
        ops::nonfinite::nonfinite_count(ctx, &mut rec, &checked, &health)?;
        ctx.run(&rec)?;
        let gpu: Vec<u32> = ctx.read_buffer_async(&health).await?;
        let mut twin = vec![0u32; 4];
        cpu::nonfinite_count(&[(&x, 2), (&y, 3)], &mut twin);
        let mut check = Check::new();
        check.exact("health", &gpu[..4], &twin);
        let expected = if n > 1 { 4 } else { 0 };
        check.exact("count", &[twin[2]], &[expected]);
        check.finish("nonfinite", format!("n={n} and 3 in one dispatch"), out);
    }
    // Six tensors (two dispatches), one NaN more in each than in the one before, two of them
    // into one slot.
    let tensors: Vec<Vec<f32>> = (0..6)
        .map(|t| {
            let n = [3000usize, 1, 20_000, 77, 5000, 2048][t];
            let mut x = g.normal_vec(n, 1.0);
            for i in 0..t.min(n) {
                x[(i * 131) % n] = f32::NAN;
            }
            x
        })
        .collect();
    let bufs: Vec<wgpu::Buffer> = tensors.iter().map(|x| ctx.upload("test.x", x)).collect();
    let slots = [1usize, 2, 2, 3, 4, 5];
    let checked: Vec<Checked> = bufs
        .iter()
        .zip(&tensors)
        .zip(slots)
        .map(|((x, v), slot)| Checked {
            x: x.into(),
            n: v.len() as u32,
            slot: slot as u32,
        })
        .collect();
    let health = ctx.storage_buffer("test.health", 6 * 4);
    let mut rec = Recording::new();
    ops::nonfinite::nonfinite_count(ctx, &mut rec, &checked, &health)?;
    let dispatches = rec.dispatches.len();
    ctx.run(&rec)?;
    let gpu: Vec<u32> = ctx.read_buffer_async(&health).await?;
    let mut twin = vec![0u32; 6];
    for group in tensors.iter().zip(slots).collect::<Vec<_>>().chunks(4) {
        let group: Vec<(&[f32], usize)> = group.iter().map(|(x, s)| (&x[..], *s)).collect();
        cpu::nonfinite_count(&group, &mut twin);
    }
    let mut check = Check::new();
    check.exact("health", &gpu[..6], &twin);
    check.exact("health, counted", &twin, &[15, 0, 3, 3, 4, 5]);
    check.exact("dispatches", &[dispatches], &[2]);
    check.finish("nonfinite", "six tensors, two dispatches".to_string(), out);
    // Every value bad: every lane of every workgroup adds.
    let x = vec![f32::NAN; 5000];
    let health = ctx.storage_buffer("test.health", 2 * 4);
    let mut rec = Recording::new();
    let xb = ctx.upload("test.x", &x);
    let all = Checked {
        x: (&xb).into(),
        n: 5000,
        slot: 1,
    };
    ops::nonfinite::nonfinite_count(ctx, &mut rec, &[all], &health)?;
    ctx.run(&rec)?;
    let gpu: Vec<u32> = ctx.read_buffer_async(&health).await?;
    let mut check = Check::new();
    check.exact("health", &gpu[..2], &[5000, 5000]);
    check.finish("nonfinite", "n=5000, all NaN".to_string(), out);
    Ok(())
}
