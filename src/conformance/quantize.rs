//! `quantize` (and its ReLU-mask and fold variants) against its twin, and stochastic rounding's
//! bias.

use super::check::Check;
use super::grids::AXES;
use super::harness::{Quantized, ReluMaskOutput, gpu_quantize, max_abs_clips};
use super::{CaseResult, Extent};
use crate::cpu;
use crate::error::Result;
use crate::gpu::{Context, Recording};
use crate::ops::relu::relu_mask_bytes;
use crate::ops::{self, ChannelAxis, Layout, QuantizeBuffers, Rounding};
use crate::rng::Gen;

/// The kernels the suite exercises.
pub(super) const KERNELS: &[&str] = &[
    "quantize",
    "quantize_relu_mask",
    "quantize_fold",
    "quantize_relu_mask_fold",
    "quantize_scan",
    "quantize_relu_mask_scan",
    "quantize_pair",
];

/// The inputs every quantize shape is tried on, by name.
fn quantize_inputs(rows: u32, cols: u32, g: &mut Gen) -> Vec<(&'static str, Vec<f32>)> {
    let n = (rows * cols) as usize;
    let mut nonfinite = g.normal_vec(n, 2.0);
    for (i, v) in nonfinite.iter_mut().enumerate() {
        match i % 7 {
            1 => *v = f32::NAN,
            3 => *v = f32::INFINITY,
            5 => *v = f32::NEG_INFINITY,
            _ => {}
        }
    }
    vec![
        ("normal", g.normal_vec(n, 1.0)),
        ("laplace", (0..n).map(|_| g.laplace()).collect()),
        ("zeros", vec![0.0; n]),
        (
            "extremes ±127",
            (0..n)
                .map(|i| if i % 2 == 0 { 127.0 } else { -127.0 })
                .collect(),
        ),
        (
            "ties k+0.5",
            (0..n).map(|i| (i % 255) as f32 - 127.0 + 0.5).collect(),
        ),
        ("huge 1e30", g.normal_vec(n, 1e30)),
        ("tiny 1e-25", g.normal_vec(n, 1e-25)),
        ("nan/inf", nonfinite),
    ]
}

/// Every shape × input × axis × clip set × rounding, exact against the twin.
pub(super) async fn cases(ctx: &Context, extent: Extent, out: &mut Vec<CaseResult>) -> Result<()> {
    // A ReLU mask needs a multiple of 4 columns: (3, 8), (300, 4) (two workgroups, a last word
    // half full) and (64, 1000) also write one.
    let mut shapes = vec![
        (1, 1),
        (3, 5),
        (3, 8),
        (5, 17),
        (17, 129),
        (129, 3),
        (300, 4),
    ];
    if extent == Extent::Full {
        shapes.push((64, 1000));
    }
    let mut g = Gen::new(11);
    for &(rows, cols) in &shapes {
        for (data_name, input) in quantize_inputs(rows, cols, &mut g) {
            for axis in AXES {
                let layout = Layout::new(rows, cols, axis);
                let max_clips = max_abs_clips(&layout, &input);
                let mut clip_sets = vec![("max", max_clips.clone())];
                if data_name == "normal" {
                    clip_sets.push(("0.4·max", max_clips.iter().map(|c| c * 0.4).collect()));
                    let degenerate = [0.0, f32::NAN, f32::INFINITY, -1.0, 1e-31];
                    clip_sets.push((
                        "degenerate",
                        (0..layout.channels()).map(|i| degenerate[i % 5]).collect(),
                    ));
                }
                for (clip_name, clips) in clip_sets {
                    for rounding in [Rounding::Nearest, Rounding::Stochastic { seed: 0x5eed }] {
                        let marks = cols % 4 == 0;
                        let mask = if marks {
                            ReluMaskOutput::Write
                        } else {
                            ReluMaskOutput::Skip
                        };
                        let Quantized {
                            packed: p,
                            scales: s,
                            relu_mask: m,
                        } = gpu_quantize(ctx, &layout, rounding, &input, &clips, mask).await?;
                        let mut tp = vec![0u32; layout.packed_words()];
                        let mut ts = vec![0f32; layout.channels()];
                        let mut tm = vec![0u32; relu_mask_bytes(layout.len() as u32) as usize / 4];
                        let twin_mask = marks.then_some(&mut tm[..]);
                        cpu::quantize(
                            &layout, rounding, &input, &clips, &mut tp, &mut ts, twin_mask,
                        );
                        let mut check = Check::new();
                        check.exact("packed", &p, &tp);
                        check.exact_f32("scales", &s, &ts);
                        if let Some(m) = m {
                            check.exact("relu_mask", &m, &tm);
                            // The very bits the ReLU pass writes.
                            let mut rm = vec![0u32; tm.len()];
                            let mut y = vec![0f32; input.len()];
                            cpu::relu_forward(&input, false, Some(&mut rm), &mut y);
                            check.exact("relu_mask vs relu", &m, &rm);
                        }
                        let r = if rounding == Rounding::Nearest {
                            "nearest"
                        } else {
                            "stochastic"
                        };
                        let case =
                            format!("{rows}x{cols} {axis:?} {data_name} clip={clip_name} {r}");
                        check.finish("quantize", case, out);
                    }
                }
            }
        }
    }
    let seeds = match extent {
        Extent::Quick => 16,
        Extent::Full => 64,
    };
    fold_cases(ctx, &mut g, out).await?;
    scan_cases(ctx, &mut g, out).await?;
    pair_cases(ctx, &mut g, out).await?;
    stochastic_unbiased_case(ctx, seeds, out).await
}

/// Each input of `data` with nearest and with stochastic rounding.
fn cases_of(data: &[&'static str]) -> Vec<(&'static str, Rounding)> {
    let roundings = [Rounding::Nearest, Rounding::Stochastic { seed: 0x5eed }];
    data.iter()
        .flat_map(|&d| roundings.map(|r| (d, r)))
        .collect()
}

/// `quantize_fold` after `channel_stats_partials` against `channel_stats` (with its reduce) then
/// `quantize` on the GPU, bit for bit, and against the twin: tensors of 2 to 10 segments (one
/// ending short), with and without the ReLU mask, and non-finite values, which the partial
/// records leave out of max|x|.
async fn fold_cases(ctx: &Context, g: &mut Gen, out: &mut Vec<CaseResult>) -> Result<()> {
    for (rows, cols) in [(4, 4096), (64, 400), (75, 1000), (97, 843)] {
        for (data, rounding) in cases_of(&["normal", "nan/inf"]) {
            let layout = Layout::new(rows, cols, ChannelAxis::Tensor);
            let mut input = g.normal_vec(layout.len(), 3.0);
            if data == "nan/inf" {
                for (i, v) in input.iter_mut().enumerate().step_by(4099) {
                    *v = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY][i % 3];
                }
            }
            let marks = cols % 4 == 0;
            let x = ctx.upload("test.x", &input);
            let seg_len = ops::channel_stats::seg_len(ctx, &layout);
            let records = ops::channel_stats::partials_records(&layout, seg_len);
            let stats = ctx.storage_buffer("test.stats", records as u64 * 32);
            let reduced = ctx.storage_buffer("test.reduced", 32);
            let words = layout.packed_words() as u64 * 4;
            let [packed, packed_ref] =
                ["test.packed", "test.packed_ref"].map(|n| ctx.storage_buffer(n, words));
            let [scales, scales_ref] =
                ["test.scales", "test.scales_ref"].map(|n| ctx.storage_buffer(n, 4));
            let mask_bytes = relu_mask_bytes(layout.len() as u32);
            let masks = marks
                .then(|| ["test.mask", "test.mask_ref"].map(|n| ctx.storage_buffer(n, mask_bytes)));
            let mut rec = Recording::new();
            let parts = ops::channel_stats_partials(ctx, &mut rec, &layout, &x, &stats)?;
            let bufs = |clips, packed, scales, relu_mask| QuantizeBuffers {
                input: (&x).into(),
                clips,
                packed,
                scales,
                relu_mask,
            };
            let fold = bufs(&stats, &packed, &scales, masks.as_ref().map(|m| &m[0]));
            ops::quantize::quantize_fold(ctx, &mut rec, &layout, rounding, fold, parts)?;
            ops::channel_stats(ctx, &mut rec, &layout, &x, &reduced, None)?;
            let plain = bufs(
                &reduced,
                &packed_ref,
                &scales_ref,
                masks.as_ref().map(|m| &m[1]),
            );
            ops::quantize(ctx, &mut rec, &layout, rounding, plain)?;
            ctx.run(&rec)?;
            let read_u32 = async |b| ctx.read_buffer_async::<u32>(b).await;
            let read_f32 = async |b| ctx.read_buffer_async::<f32>(b).await;
            let stats_words = read_f32(&stats).await?;
            let folded = stats_words[parts as usize * 8];
            let reduced_clip = read_f32(&reduced).await?[0];
            let p = read_u32(&packed).await?;
            let s = read_f32(&scales).await?;
            // The twin from the partial records the GPU wrote.
            let mut twin_clips = stats_words.clone();
            let mut tp = vec![0u32; layout.packed_words()];
            let mut ts = vec![0f32; 1];
            let mut tm = vec![0u32; mask_bytes as usize / 4];
            let twin_mask = marks.then_some(&mut tm[..]);
            cpu::quantize_fold(
                &layout,
                rounding,
                &input,
                &mut twin_clips,
                parts,
                &mut tp,
                &mut ts,
                twin_mask,
            );
            let mut check = Check::new();
            if parts < 2 {
                check.fail(format!("{parts} partial records: the case does not fold"));
            }
            check.exact_f32(
                "folded clip vs channel_stats_reduce",
                &[folded],
                &[reduced_clip],
            );
            check.exact_f32(
                "folded clip vs twin",
                &[folded],
                &[twin_clips[parts as usize * 8]],
            );
            check.exact("packed vs quantize", &p, &read_u32(&packed_ref).await?);
            check.exact_f32("scales vs quantize", &s, &read_f32(&scales_ref).await?);
            check.exact("packed vs twin", &p[..tp.len()], &tp);
            check.exact_f32("scales vs twin", &s[..1], &ts);
            if let Some([m, m_ref]) = &masks {
                let m = read_u32(m).await?;
                check.exact("relu_mask vs quantize", &m, &read_u32(m_ref).await?);
                check.exact("relu_mask vs twin", &m[..tm.len()], &tm);
            }
            let case = format!("fold {rows}x{cols} Tensor {data} {rounding:?} ({parts} parts)");
            check.finish("quantize", case, out);
        }
    }
    Ok(())
}

/// `quantize_scan` against `channel_stats` then `quantize` on the GPU, bit for bit, and against
/// its twin: tensors from one element to [`SCAN_MAX_LEN`](ops::quantize::SCAN_MAX_LEN) (one
/// workgroup and many), with and without the ReLU mask, all zeros, and non-finite values,
/// which max|x| leaves out.
async fn scan_cases(ctx: &Context, g: &mut Gen, out: &mut Vec<CaseResult>) -> Result<()> {
    let shapes = [(1, 1), (3, 5), (64, 120), (4, 4096), (97, 337), (128, 256)];
    for (rows, cols) in shapes {
        for (data, rounding) in cases_of(&["normal", "zeros", "nan/inf"]) {
            let layout = Layout::new(rows, cols, ChannelAxis::Tensor);
            let mut input = match data {
                "zeros" => vec![0.0; layout.len()],
                _ => g.normal_vec(layout.len(), 3.0),
            };
            if data == "nan/inf" {
                for (i, v) in input.iter_mut().enumerate().step_by(7) {
                    *v = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY][i % 3];
                }
            }
            let marks = cols % 4 == 0;
            let x = ctx.upload("test.x", &input);
            let [clip, reduced] = ["test.clip", "test.reduced"].map(|n| ctx.storage_buffer(n, 32));
            let words = layout.packed_words() as u64 * 4;
            let [packed, packed_ref] =
                ["test.packed", "test.packed_ref"].map(|n| ctx.storage_buffer(n, words));
            let [scales, scales_ref] =
                ["test.scales", "test.scales_ref"].map(|n| ctx.storage_buffer(n, 4));
            let mask_bytes = relu_mask_bytes(layout.len() as u32);
            let masks = marks
                .then(|| ["test.mask", "test.mask_ref"].map(|n| ctx.storage_buffer(n, mask_bytes)));
            let bufs = |clips, packed, scales, relu_mask| QuantizeBuffers {
                input: (&x).into(),
                clips,
                packed,
                scales,
                relu_mask,
            };
            let mut rec = Recording::new();
            let scan = bufs(&clip, &packed, &scales, masks.as_ref().map(|m| &m[0]));
            ops::quantize::quantize_scan(ctx, &mut rec, &layout, rounding, scan, 1)?;
            ops::channel_stats(ctx, &mut rec, &layout, &x, &reduced, None)?;
            let plain = bufs(
                &reduced,
                &packed_ref,
                &scales_ref,
                masks.as_ref().map(|m| &m[1]),
            );
            ops::quantize(ctx, &mut rec, &layout, rounding, plain)?;
            ctx.run(&rec)?;
            let read_u32 = async |b| ctx.read_buffer_async::<u32>(b).await;
            let read_f32 = async |b| ctx.read_buffer_async::<f32>(b).await;
            let measured = read_f32(&clip).await?[1];
            let reduced_clip = read_f32(&reduced).await?[0];
            let p = read_u32(&packed).await?;
            let s = read_f32(&scales).await?;
            let mut twin_clip = [0f32];
            let mut tp = vec![0u32; layout.packed_words()];
            let mut ts = vec![0f32; 1];
            let mut tm = vec![0u32; mask_bytes as usize / 4];
            let twin_mask = marks.then_some(&mut tm[..]);
            let (input_ref, clip_ref) = (&input, &mut twin_clip);
            cpu::quantize_scan(
                &layout, rounding, input_ref, clip_ref, &mut tp, &mut ts, twin_mask,
            );
            let mut check = Check::new();
            check.exact_f32("clip vs channel_stats", &[measured], &[reduced_clip]);
            check.exact_f32("clip vs twin", &[measured], &twin_clip);
            check.exact("packed vs quantize", &p, &read_u32(&packed_ref).await?);
            check.exact_f32("scales vs quantize", &s, &read_f32(&scales_ref).await?);
            check.exact("packed vs twin", &p[..tp.len()], &tp);
            check.exact_f32("scales vs twin", &s[..1], &ts);
            if let Some([m, m_ref]) = &masks {
                let m = read_u32(m).await?;
                check.exact("relu_mask vs quantize", &m, &read_u32(m_ref).await?);
                check.exact("relu_mask vs twin", &m[..tm.len()], &tm);
            }
            let case = format!("scan {rows}x{cols} Tensor {data} {rounding:?}");
            check.finish("quantize_scan", case, out);
        }
    }
    Ok(())
}

/// `quantize_pair` against two `quantize` passes on the GPU (per tensor, its clip the largest
/// column clip; per column), bit for bit, and against its twin: columns from 1 to 1,030 (more
/// than a workgroup's lanes fold, and more word-columns than its lanes hold reciprocals for),
/// rows over one and several workgroups, both roundings with a seed per copy, and column clips
/// that are degenerate or not finite, which zero their column.
async fn pair_cases(ctx: &Context, g: &mut Gen, out: &mut Vec<CaseResult>) -> Result<()> {
    for (rows, cols) in [(1, 1), (3, 5), (64, 84), (33, 300), (257, 16), (3, 1030)] {
        for clip_set in ["max", "degenerate"] {
            for rounding in [Rounding::Nearest, Rounding::Stochastic { seed: 0x5eed }] {
                let channels = Layout::new(rows, cols, ChannelAxis::Cols);
                let input = g.normal_vec(channels.len(), 2.0);
                let mut clips = max_abs_clips(&channels, &input);
                if clip_set == "degenerate" {
                    let degenerate = [0.0, f32::NAN, f32::INFINITY, -1.0, 1e-31];
                    for (c, v) in clips.iter_mut().enumerate().step_by(2) {
                        *v = degenerate[c / 2 % 5];
                    }
                }
                let seeds = match rounding {
                    Rounding::Nearest => (0, 0),
                    Rounding::Stochastic { seed } => (seed, seed ^ 0x9e37),
                };
                let tensor = Layout::new(rows, cols, ChannelAxis::Tensor);
                let tensor_clip = clips.iter().fold(0f32, |m, &c| m.max(c));
                let with_seed = |seed| match rounding {
                    Rounding::Nearest => Rounding::Nearest,
                    Rounding::Stochastic { .. } => Rounding::Stochastic { seed },
                };
                let skip = ReluMaskOutput::Skip;
                let one = [tensor_clip];
                let one =
                    gpu_quantize(ctx, &tensor, with_seed(seeds.0), &input, &one, skip).await?;
                let per_col =
                    gpu_quantize(ctx, &channels, with_seed(seeds.1), &input, &clips, skip).await?;
                let x = ctx.upload("test.x", &input);
                let c = ctx.upload("test.clips", &clips);
                let words = channels.packed_words() as u64 * 4;
                let [packed, packed_ch] =
                    ["test.packed", "test.packed_ch"].map(|n| ctx.storage_buffer(n, words));
                let scale = ctx.storage_buffer("test.scale", 4);
                let scales_ch = ctx.storage_buffer("test.scales_ch", cols as u64 * 4);
                let mut rec = Recording::new();
                let bufs = ops::quantize::QuantizePairBuffers {
                    input: (&x).into(),
                    clips: &c,
                    tensor: (&packed, &scale),
                    channels: (&packed_ch, &scales_ch),
                };
                ops::quantize::quantize_pair(&mut rec, (rows, cols), rounding, bufs)?;
                let params = &mut rec.dispatches[0].params;
                let at = std::mem::offset_of!(ops::quantize::QuantizePairParams, seed_channels);
                params[at..at + 4].copy_from_slice(&seeds.1.to_ne_bytes());
                ctx.run(&rec)?;
                let n = channels.packed_words();
                let p = ctx.read_buffer_async::<u32>(&packed).await?[..n].to_vec();
                let pc = ctx.read_buffer_async::<u32>(&packed_ch).await?[..n].to_vec();
                let s = ctx.read_buffer_async::<f32>(&scale).await?;
                let sc = ctx.read_buffer_async::<f32>(&scales_ch).await?;
                let (mut tp, mut tpc) = (vec![0u32; n], vec![0u32; n]);
                let (mut ts, mut tsc) = (vec![0f32; 1], vec![0f32; cols as usize]);
                cpu::quantize_pair(
                    (rows, cols),
                    rounding != Rounding::Nearest,
                    seeds,
                    &input,
                    &clips,
                    (&mut tp, &mut ts),
                    (&mut tpc, &mut tsc),
                );
                let mut check = Check::new();
                check.exact("per tensor vs quantize", &p, &one.packed);
                check.exact_f32("tensor scale vs quantize", &s, &one.scales);
                check.exact("per column vs quantize", &pc, &per_col.packed);
                check.exact_f32("column scales vs quantize", &sc, &per_col.scales);
                check.exact("per tensor vs twin", &p, &tp);
                check.exact_f32("tensor scale vs twin", &s, &ts);
                check.exact("per column vs twin", &pc, &tpc);
                check.exact_f32("column scales vs twin", &sc, &tsc);
                let r = match rounding {
                    Rounding::Nearest => "nearest",
                    Rounding::Stochastic { .. } => "stochastic",
                };
                let case = format!("pair {rows}x{cols} clip={clip_set} {r}");
                check.finish("quantize_pair", case, out);
            }
        }
    }
    Ok(())
}

/// Stochastic rounding is unbiased: for each of 64 values between grid points, the mean of its
/// dequantized copies over `seeds` seeds × 64 rows must lie within 5 standard errors of it, while
/// nearest rounding is off by up to half a step.
async fn stochastic_unbiased_case(
    ctx: &Context,
    seeds: u32,
    out: &mut Vec<CaseResult>,
) -> Result<()> {
    let (rows, cols) = (64u32, 64u32);
    let layout = Layout::new(rows, cols, ChannelAxis::Tensor);
    let clip = 127.0f32;
    // Column c holds the same value in every row: fractions spread over (0, 1), both signs.
    let values: Vec<f32> = (0..cols)
        .map(|c| (c as f32 - 32.0) * 1.37 + (c as f32 * 0.618).fract() * 0.98 + 0.01)
        .collect();
    let input: Vec<f32> = (0..rows * cols)
        .map(|i| values[(i % cols) as usize])
        .collect();
    let mut sums = vec![0f64; cols as usize];
    let mut check = Check::new();
    for seed in 0..seeds {
        let rounding = Rounding::Stochastic {
            seed: seed.wrapping_mul(0x9e37) + 1,
        };
        let Quantized {
            packed: p,
            scales: s,
            ..
        } = gpu_quantize(
            ctx,
            &layout,
            rounding,
            &input,
            &[clip],
            ReluMaskOutput::Skip,
        )
        .await?;
        let mut tp = vec![0u32; layout.packed_words()];
        let mut ts = vec![0f32; 1];
        cpu::quantize(&layout, rounding, &input, &[clip], &mut tp, &mut ts, None);
        check.exact("packed", &p, &tp);
        let mut deq = vec![0f32; layout.len()];
        cpu::dequantize(&layout, &p, &s, &mut deq);
        for (i, v) in deq.iter().enumerate() {
            sums[i % cols as usize] += *v as f64;
        }
    }
    let draws = (seeds * rows) as f64;
    let step = (clip / 127.0) as f64;
    let bound = 5.0 * 0.5 * step / draws.sqrt();
    let mut worst_nearest = 0f64;
    for c in 0..cols as usize {
        let mean = sums[c] / draws;
        let err = (mean - values[c] as f64).abs();
        check.max_error = check.max_error.max(err / bound);
        if err > bound {
            check.fail(format!(
                "value {}: mean of {draws} draws {mean} (bound {bound:e})",
                values[c]
            ));
        }
        worst_nearest = worst_nearest.max((values[c] as f64 - values[c].round() as f64).abs());
    }
    if worst_nearest < 3.0 * bound {
        check.fail(format!(
            "test too weak: nearest's bias {worst_nearest} is within {bound}"
        ));
    }
    check.finish(
        "quantize",
        format!("stochastic rounding unbiased ({seeds} seeds × {rows} rows)"),
        out,
    );
    Ok(())
}
