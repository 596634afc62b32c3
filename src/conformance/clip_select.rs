//! `clip_select` under every clip rule, from statistics the GPU computed, against its twin.

use super::check::Check;
use super::harness::{ClipSelection, default_ratios, gpu_channel_stats, gpu_clip_select};
use super::{CaseResult, Extent};
use crate::cpu;
use crate::error::Result;
use crate::gpu::Context;
use crate::ops::{ChannelAxis, ClipRule, Layout};
use crate::rng::Gen;

/// The kernels the suite exercises.
pub(super) const KERNELS: &[&str] = &["clip_select"];

/// Three steps of mixed-family data per shape and axis, each clip rule from the same state.
pub(super) async fn cases(ctx: &Context, _: Extent, out: &mut Vec<CaseResult>) -> Result<()> {
    let ratios = default_ratios();
    let mut g = Gen::new(61);
    // Columns of mixed families, so MCS sees both classes; 300 columns exercise lane striding.
    for &(rows, cols) in &[(2000u32, 7u32), (64, 300), (1, 1)] {
        let n = (rows * cols) as usize;
        for step in 0..3 {
            let scale = [1.0, 0.3, 2.0][step];
            let input: Vec<f32> = (0..n)
                .map(|i| match i % cols as usize % 3 {
                    0 => g.normal() * scale,
                    1 => g.laplace().powi(3) * scale,
                    _ => (g.uniform() - 0.5) * scale,
                })
                .collect();
            for axis in [ChannelAxis::Tensor, ChannelAxis::Cols] {
                let layout = Layout::new(rows, cols, axis);
                let run = gpu_channel_stats(ctx, &layout, &input, &ratios, true).await?;
                let ch = layout.channels();
                // MCS state carried over from an earlier step (zeros = unset at step 0).
                let state: Vec<f32> = (0..ch)
                    .map(|i| {
                        if step == 0 {
                            0.0
                        } else {
                            1.0 + i as f32 * 0.01
                        }
                    })
                    .collect();
                let rules = [
                    ("max", ClipRule::Max),
                    ("ui8", ClipRule::UI8),
                    ("dai8", ClipRule::DAI8),
                    (
                        "dai8 update-always",
                        ClipRule::Mcs {
                            lambda: 0.3,
                            k: 1.0,
                            a: 0.8,
                            update_always: true,
                        },
                    ),
                ];
                for (name, rule) in rules {
                    let ClipSelection {
                        clips,
                        state: new_state,
                        summary,
                    } = gpu_clip_select(ctx, rule, &run.pass2, &run.terms, &ratios, &state).await?;
                    let mut twin_state = state.clone();
                    let mut twin_clips = vec![0f32; ch];
                    let twin = cpu::clip_select(
                        rule,
                        &run.pass2,
                        &run.terms,
                        &ratios,
                        &mut twin_state,
                        &mut twin_clips,
                    );
                    let mut check = Check::new();
                    let scale: Vec<f32> = run
                        .pass2
                        .iter()
                        .map(|s| s.max_abs + f32::MIN_POSITIVE)
                        .collect();
                    if let ClipRule::Dsgc { .. } = rule {
                        // The GPU's choice must be a candidate whose twin distance ties the best.
                        for (c, clip) in clips.iter().enumerate() {
                            let d: Vec<f32> = (0..ratios.len())
                                .map(|r| {
                                    run.pass2[c].cosine_distance(run.terms[c * ratios.len() + r])
                                })
                                .collect();
                            let best = d.iter().copied().fold(f32::INFINITY, f32::min);
                            let ok = (0..ratios.len()).any(|r| {
                                (ratios[r] * run.pass2[c].max_abs).to_bits() == clip.to_bits()
                                    && d[r] - best <= 1e-6
                            });
                            if !ok {
                                check.fail(format!(
                                    "channel {c}: clip {} is not a best candidate",
                                    clips[c]
                                ));
                            }
                        }
                        check.close(
                            "distance",
                            &[summary.distance],
                            &[twin.distance],
                            &[1.0],
                            1e-6,
                        );
                    } else {
                        check.close("clips", &clips, &twin_clips, &scale, 1e-6);
                        check.close("state", &new_state, &twin_state, &scale, 1e-6);
                    }
                    check.close("phi", &[summary.phi], &[twin.phi], &[1.0], 1e-5);
                    // Under DSGC candidates can tie (a one-element channel loses nothing at any
                    // clip), and a driver's sqrt may break the tie differently from the twin:
                    // the tensor clip must then be the largest of the GPU's own choices.
                    let tensor_twin = match rule {
                        ClipRule::Dsgc { .. } => clips.iter().copied().fold(0f32, f32::max),
                        _ => twin.tensor_clip,
                    };
                    check.close(
                        "tensor clip",
                        &[summary.tensor_clip],
                        &[tensor_twin],
                        &[tensor_twin.max(f32::MIN_POSITIVE)],
                        1e-6,
                    );
                    check.exact(
                        "classes",
                        &[summary.gaussian, summary.inverted_t],
                        &[twin.gaussian, twin.inverted_t],
                    );
                    check.exact_f32("tensor max|g|", &[summary.max_abs], &[twin.max_abs]);
                    check.finish(
                        "clip_select",
                        format!("{rows}x{cols} {axis:?} step {step} {name}"),
                        out,
                    );
                }
            }
        }
    }
    Ok(())
}
