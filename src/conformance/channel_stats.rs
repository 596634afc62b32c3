//! Both statistics passes (`channel_stats`, `channel_stats_tail` and their reductions) against
//! their twins, one dispatch for both passes against two, a lane per channel
//! (`channel_stats_per_lane`) against a workgroup, and the folds on subgroup shuffles against
//! those through workgroup memory.

use super::check::Check;
use super::grids::AXES;
use super::harness::{StatsRun, default_ratios, gpu_channel_stats, twin_channel_stats};
use super::{CaseResult, Extent};
use crate::cpu;
use crate::error::Result;
use crate::gpu::Context;
use crate::ops::channel_stats::{per_lane_max_len, seg_len, segments};
use crate::ops::{ChannelStat, Layout};
use crate::rng::Gen;

/// The kernels the suite exercises.
pub(super) const KERNELS: &[&str] = &[
    "channel_stats",
    "channel_stats_reduce",
    "channel_stats_tail",
    "channel_stats_tail_reduce",
    "channel_stats_per_lane",
];

/// One float statistic and the scale its tolerance is relative to.
struct Moment<'a> {
    name: &'a str,
    get: fn(&ChannelStat) -> f32,
    scale: &'a [f32],
}

/// Every shape × dataset × axis, both passes, exact where integer and within 1e-4 elsewhere.
pub(super) async fn cases(ctx: &Context, extent: Extent, out: &mut Vec<CaseResult>) -> Result<()> {
    // (9000, 2) and (2, 9000) span several segments per channel on every adapter; (3000, 5)'s
    // columns are one segment each on a CPU driver, where they take a lane each.
    let mut shapes = vec![
        (1u32, 1u32),
        (3, 5),
        (17, 129),
        (129, 3),
        (300, 7),
        (9000, 2),
        (2, 9000),
        (3000, 5),
    ];
    if extent == Extent::Full {
        shapes.push((1000, 33));
    }
    let ratios = default_ratios();
    let mut g = Gen::new(31);
    for &(rows, cols) in &shapes {
        let n = (rows * cols) as usize;
        let mut nonfinite = g.normal_vec(n, 1.0);
        for v in nonfinite.iter_mut().step_by(5) {
            *v = f32::NAN;
        }
        if n > 2 {
            nonfinite[2] = f32::NEG_INFINITY;
        }
        let datasets: Vec<(&str, Vec<f32>)> = vec![
            ("normal", g.normal_vec(n, 1.0)),
            ("laplace", (0..n).map(|_| g.laplace() * 3.0).collect()),
            (
                "mean 1000 std 1",
                (0..n).map(|_| 1000.0 + g.normal()).collect(),
            ),
            ("zeros", vec![0.0; n]),
            ("huge 1e18", g.normal_vec(n, 1e18)),
            ("tiny 1e-18", g.normal_vec(n, 1e-18)),
            ("nan/inf", nonfinite),
        ];
        // Every case's one-dispatch run, to compare with the workgroup-memory folds below.
        let mut folded = Vec::new();
        for (data_name, input) in &datasets {
            for axis in AXES {
                let layout = Layout::new(rows, cols, axis);
                let seg_len = seg_len(ctx, &layout);
                // Thousands of two-element channels, a workgroup each, take seconds on a CPU
                // driver and test nothing the smaller shapes do not.
                if layout.channels() > 1000 {
                    continue;
                }
                let StatsRun {
                    pass1: p1,
                    pass2: p2,
                    terms,
                } = gpu_channel_stats(ctx, &layout, input, &ratios, false).await?;
                // Again, in one dispatch where a channel is one segment: the same bits.
                let again = gpu_channel_stats(ctx, &layout, input, &ratios, true).await?;
                let twin = twin_channel_stats(&layout, seg_len, input, &ratios, Some(&p1));
                let (twin1, twin2, twin_terms) = (twin.pass1, twin.pass2, twin.terms);
                let counts = |v: &[ChannelStat]| -> Vec<[u32; 3]> {
                    v.iter()
                        .map(|s| [s.count, s.nonfinite, s.above_sigma])
                        .collect()
                };
                let mut check = Check::new();
                pass1_matches(&mut check, "", &p1, &twin1);
                check.exact("above_sigma", &counts(&p2), &counts(&twin2));
                let flat = |t: &[[f32; 2]]| -> Vec<f32> { t.iter().flatten().copied().collect() };
                let term_scale: Vec<f32> = (0..terms.len() * 2)
                    .map(|i| {
                        let s = &twin1[i / (2 * ratios.len())];
                        s.sum_sq + flush(s.count.max(1))
                    })
                    .collect();
                check.close(
                    "cosine terms",
                    &flat(&terms),
                    &flat(&twin_terms),
                    &term_scale,
                    TOL as f64,
                );
                // Determinism, and one dispatch = two passes: the same input gives the same bits.
                let bits = |v: &[ChannelStat]| -> Vec<u8> { bytemuck::cast_slice(v).to_vec() };
                check.exact("rerun stats bits", &bits(&again.pass2), &bits(&p2));
                check.exact("rerun pass-1 bits", &bits(&again.pass1), &bits(&p1));
                check.exact_f32("rerun cosine terms", &flat(&again.terms), &flat(&terms));
                // Without candidates short channels take a lane each: the same bits again.
                let per_lane = layout.channel_len() <= per_lane_max_len(ctx, &layout);
                if segments(&layout, seg_len) == 1 && per_lane {
                    let lanes = gpu_channel_stats(ctx, &layout, input, &[], true)
                        .await?
                        .pass2;
                    let mut twin = vec![ChannelStat::default(); layout.channels()];
                    cpu::channel_stats_per_lane(&layout, input, &mut twin);
                    pass1_matches(&mut check, "per lane: ", &lanes, &twin);
                    check.exact("per lane: above_sigma", &counts(&lanes), &counts(&twin));
                    check.exact("per lane = per workgroup bits", &bits(&lanes), &bits(&p2));
                }
                check.finish(
                    "channel_stats",
                    format!("{rows}x{cols} {axis:?} {data_name}"),
                    out,
                );
                folded.push((format!("{axis:?} {data_name}"), layout, input, again));
            }
        }
        // Where the folds ran on subgroup shuffles, the workgroup-memory folds give the same bits.
        if ctx.subgroup_folds() {
            ctx.set_subgroup_folds(false);
            let mut shared: Vec<Result<StatsRun>> = Vec::with_capacity(folded.len());
            for (_, layout, input, _) in &folded {
                shared.push(gpu_channel_stats(ctx, layout, input, &ratios, true).await);
            }
            ctx.set_subgroup_folds(true);
            let shared: Vec<StatsRun> = shared.into_iter().collect::<Result<_>>()?;
            for ((name, _, _, sub), shared) in folded.iter().zip(shared) {
                let bits = |v: &[ChannelStat]| -> Vec<u8> { bytemuck::cast_slice(v).to_vec() };
                let terms = |t: &[[f32; 2]]| -> Vec<u32> {
                    t.iter().flatten().map(|x| x.to_bits()).collect()
                };
                let mut check = Check::new();
                check.exact("stats bits", &bits(&shared.pass2), &bits(&sub.pass2));
                check.exact(
                    "cosine term bits",
                    &terms(&shared.terms),
                    &terms(&sub.terms),
                );
                check.finish(
                    "channel_stats",
                    format!("{rows}x{cols} {name}: subgroup folds = workgroup-memory folds"),
                    out,
                );
            }
        }
    }
    Ok(())
}

/// Tolerance of the float statistics, relative to their scale.
const TOL: f32 = 1e-4;

/// What flushing subnormal results to zero can change in a sum of `count` squares, over [`TOL`].
fn flush(count: u32) -> f32 {
    count as f32 * f32::MIN_POSITIVE / TOL
}

/// Pass 1's statistics against the twin's: max|x| and the counts exact, the moments within 1e-4
/// of their scale. Names start with `prefix`.
fn pass1_matches(check: &mut Check, prefix: &str, gpu: &[ChannelStat], twin: &[ChannelStat]) {
    let field =
        |v: &[ChannelStat], f: fn(&ChannelStat) -> f32| -> Vec<f32> { v.iter().map(f).collect() };
    let counts =
        |v: &[ChannelStat]| -> Vec<[u32; 2]> { v.iter().map(|s| [s.count, s.nonfinite]).collect() };
    check.exact_f32(
        &format!("{prefix}max_abs"),
        &field(gpu, |s| s.max_abs),
        &field(twin, |s| s.max_abs),
    );
    check.exact(
        &format!("{prefix}count, nonfinite"),
        &counts(gpu),
        &counts(twin),
    );
    // Vulkan lets a driver flush subnormal results to zero (NVIDIA's do, llvmpipe's
    // do not): a square or product below f32::MIN_POSITIVE may vanish. The scales
    // below allow what that can change — per element at most MIN_POSITIVE in a sum
    // of squares, about √MIN_POSITIVE in a standard deviation — which only matters
    // for data near 1e-19 and below.
    let std_flush = f32::MIN_POSITIVE.sqrt() / TOL;
    let scale: Vec<f32> = twin
        .iter()
        .map(|s| s.mean.abs() + s.std_dev + std_flush)
        .collect();
    let sq_scale: Vec<f32> = twin
        .iter()
        .map(|s| s.sum_sq + flush(s.count.max(1)))
        .collect();
    let moments: [Moment; 3] = [
        Moment {
            name: "mean",
            get: |s| s.mean,
            scale: &scale,
        },
        Moment {
            name: "std",
            get: |s| s.std_dev,
            scale: &scale,
        },
        Moment {
            name: "sum_sq",
            get: |s| s.sum_sq,
            scale: &sq_scale,
        },
    ];
    for Moment {
        name,
        get,
        scale: tol_scale,
    } in moments
    {
        check.close(
            &format!("{prefix}{name}"),
            &field(gpu, get),
            &field(twin, get),
            tol_scale,
            TOL as f64,
        );
    }
}
