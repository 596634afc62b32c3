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
pub(super) const KERNELS: &[&str] = &["nonfinite_count", "nonfinite_count_vec4"];

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
        let (gpu, _) = x_and_three(ctx, (&x, n), &y).await?;
        let mut twin = vec![0u32; 4];
        cpu::nonfinite_count(&[(&x, 2, &[]), (&y, 3, &[])], per_lane(ctx), &mut twin);
        let mut check = Check::new();
        check.exact("health", &gpu, &twin);
        let expected = if n > 1 { 4 } else { 0 };
        check.exact("count", &[twin[2]], &[expected]);
        check.finish("nonfinite", format!("n={n} and 3 in one dispatch"), out);
    }
    vec4s(ctx, &mut g, out).await?;
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
            ends: &[],
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
        let group: Vec<(&[f32], usize, &[u32])> =
            group.iter().map(|(x, s)| (&x[..], *s, &[][..])).collect();
        cpu::nonfinite_count(&group, per_lane(ctx), &mut twin);
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
        ends: &[],
    };
    ops::nonfinite::nonfinite_count(ctx, &mut rec, &[all], &health)?;
    ctx.run(&rec)?;
    let gpu: Vec<u32> = ctx.read_buffer_async(&health).await?;
    let mut check = Check::new();
    check.exact("health", &gpu[..2], &[5000, 5000]);
    check.finish("nonfinite", "n=5000, all NaN".to_string(), out);
    segmented(ctx, &mut g, out).await
}

/// A model's gradients in one flat buffer: one tensor of segments, each counted into its own
/// slot, beside an unsegmented one in the same dispatch; bad values at segment edges, none in
/// some segments, a segment of one element, more segments than a model has trainables.
async fn segmented(ctx: &Context, g: &mut Gen, out: &mut Vec<CaseResult>) -> Result<()> {
    for segments in [1usize, 5, 300] {
        let lens: Vec<u32> = (0..segments).map(|s| [700, 1, 64, 3000][s % 4]).collect();
        let ends: Vec<u32> = lens
            .iter()
            .scan(0, |end, len| {
                *end += len;
                Some(*end)
            })
            .collect();
        let n = *ends.last().unwrap_or(&0);
        let mut x = g.normal_vec(n as usize, 1.0);
        // Segment s gets s % 3 bad values (as many as it holds), the last at its last element.
        let bad = |s: usize| (s % 3).min(lens[s] as usize);
        for (s, &end) in ends.iter().enumerate() {
            for b in 0..bad(s) {
                x[end as usize - 1 - b] = [f32::NAN, f32::INFINITY][b % 2];
            }
        }
        let y = vec![f32::NEG_INFINITY; 2];
        let (xb, yb) = (ctx.upload("test.x", &x), ctx.upload("test.y", &y));
        let slots = 2 + segments + 1;
        let health = ctx.storage_buffer("test.health", slots as u64 * 4);
        let checked = [
            Checked {
                x: (&yb).into(),
                n: 2,
                slot: 1,
                ends: &[],
            },
            Checked {
                x: (&xb).into(),
                n,
                slot: 2,
                ends: &ends,
            },
        ];
        let mut rec = Recording::new();
        ops::nonfinite::nonfinite_count(ctx, &mut rec, &checked, &health)?;
        let dispatches = rec.dispatches.len();
        ctx.run(&rec)?;
        let gpu: Vec<u32> = ctx.read_buffer_async(&health).await?;
        let mut twin = vec![0u32; slots];
        cpu::nonfinite_count(&[(&y, 1, &[]), (&x, 2, &ends)], per_lane(ctx), &mut twin);
        let mut expected = vec![0u32; slots];
        expected[1] = 2;
        for s in 0..segments {
            expected[2 + s] = bad(s) as u32;
        }
        expected[0] = expected.iter().sum();
        let mut check = Check::new();
        check.exact("health", &gpu, &twin);
        check.exact("health, counted", &twin, &expected);
        check.exact("dispatches", &[dispatches], &[1]);
        check.finish(
            "nonfinite",
            format!("{segments} segments of n={n} beside 2 values, one dispatch"),
            out,
        );
    }
    Ok(())
}

/// Tensors whose buffers hold whole vec4s run `nonfinite_count_vec4`: the counts of the scalar
/// kernel's twin, and NaNs in the last vec4 past a tensor's length not counted.
async fn vec4s(ctx: &Context, g: &mut Gen, out: &mut Vec<CaseResult>) -> Result<()> {
    for n in [1usize, 255, 70_001] {
        let mut x = g.normal_vec(n, 1.0);
        for i in (0..n).step_by(997) {
            x[i] = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY][i % 3];
        }
        let padded: Vec<f32> = x
            .iter()
            .copied()
            .chain(std::iter::repeat(f32::NAN))
            .take(n.next_multiple_of(4))
            .collect();
        let y = [1.0, f32::NAN, 2.0, f32::NAN];
        let (gpu, kernels) = x_and_three(ctx, (&padded, n), &y).await?;
        let tensors: [(&[f32], usize, &[u32]); 2] = [(&x, 2, &[]), (&y[..3], 3, &[])];
        let (mut twin, mut scalar) = (vec![0u32; 4], vec![0u32; 4]);
        cpu::nonfinite_count_vec4(&tensors, per_lane(ctx), &mut twin);
        cpu::nonfinite_count(&tensors, per_lane(ctx), &mut scalar);
        let mut check = Check::new();
        check.exact("kernel", &kernels, &["nonfinite_count_vec4"]);
        check.exact("health", &gpu, &twin);
        check.exact("health, scalar twin", &twin, &scalar);
        check.finish("nonfinite", format!("n={n} and 3 on vec4s"), out);
    }
    Ok(())
}

/// One dispatch's health record (slots 0..4) for the first `n` values of `x` into slot 2 and the
/// first 3 of `y` into slot 3, each uploaded whole, and the kernels that ran.
async fn x_and_three(
    ctx: &Context,
    (x, n): (&[f32], usize),
    y: &[f32],
) -> Result<(Vec<u32>, Vec<&'static str>)> {
    let (xb, yb) = (ctx.upload("test.x", x), ctx.upload("test.y", y));
    let health = ctx.storage_buffer("test.health", 4 * 4);
    let checked = [
        Checked {
            x: (&xb).into(),
            n: n as u32,
            slot: 2,
            ends: &[],
        },
        Checked {
            x: (&yb).into(),
            n: 3,
            slot: 3,
            ends: &[],
        },
    ];
    let mut rec = Recording::new();
    ops::nonfinite::nonfinite_count(ctx, &mut rec, &checked, &health)?;
    let kernels = rec.dispatches.iter().map(|d| d.def.name).collect();
    ctx.run(&rec)?;
    let gpu: Vec<u32> = ctx.read_buffer_async(&health).await?;
    Ok((gpu[..4].to_vec(), kernels))
}

/// The elements per lane the kernel takes on `ctx`'s adapter.
fn per_lane(ctx: &Context) -> u32 {
    crate::abi::flat_per_lane(ctx.spread())
}
