//! `quantize` (and its ReLU-mask variant) against its twin, and stochastic rounding's bias.

use super::check::Check;
use super::grids::AXES;
use super::harness::{Quantized, ReluMaskOutput, gpu_quantize, max_abs_clips};
use super::{CaseResult, Extent};
use crate::cpu;
use crate::error::Result;
use crate::gpu::Context;
use crate::ops::relu::relu_mask_bytes;
use crate::ops::{ChannelAxis, Layout, Rounding};
use crate::rng::Gen;

/// The kernels the suite exercises.
pub(super) const KERNELS: &[&str] = &["quantize", "quantize_relu_mask"];

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
    stochastic_unbiased_case(ctx, seeds, out).await
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
