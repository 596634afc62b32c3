//! Whole training steps replayed dispatch by dispatch on the twins.

use super::check::Check;
use super::{CaseResult, Extent};
use crate::error::Result;
use crate::gpu::Context;

/// Every kernel a training step dispatches, in its real context.
pub(super) const KERNELS: &[&str] = &[
    "im2col",
    "im2col_i8",
    "col2im",
    "gemm_i8",
    "gemm_i8_regs_nn",
    "gemm_i8_regs_nt",
    "gemm_i8_regs_tt",
    "gemm_i8_regs_nt_gated",
    "gemm_f32",
    "gemm_f32_regs",
    "gemm_f32_regs_gated",
    "gemm_reduce",
    "quantize",
    "quantize_relu_mask",
    "quantize_fold",
    "channel_stats",
    "channel_stats_reduce",
    "channel_stats_tail",
    "channel_stats_tail_reduce",
    "channel_stats_per_lane",
    "clip_select",
    "column_sum",
    "batchnorm",
    "batchnorm_grad_prep",
    "batchnorm_backward",
    "relu",
    "maxpool",
    "maxpool_backward",
    "global_avg_pool",
    "add",
    "softmax_xent",
    "nonfinite_count",
    "nonfinite_count_vec4",
    "sgd",
    "sgd_vec4",
];

/// Largest relative float difference a checked training step may show (see
/// [`crate::train::DispatchCheck`]).
pub const STEP_FLOAT_TOLERANCE: f64 = 1e-4;

/// Whole training steps of a small network with every layer kind, all quantized, under each
/// policy, replayed dispatch by dispatch on the twins ([`Trainer::train_step_checked`]): every
/// integer word of every dispatch — the forward, dgrad and wgrad GEMMs of Conv2d, the
/// depthwise convolution and Linear,
/// each policy's quantizers and clip choices — must match bit for bit.
///
/// [`Trainer::train_step_checked`]: crate::train::Trainer::train_step_checked
pub(super) async fn cases(ctx: &Context, _: Extent, out: &mut Vec<CaseResult>) -> Result<()> {
    use crate::nn::{LayerSpec, ModelSpec};
    use crate::quant::{Dclrs, Policy, Ui8};
    use crate::train::{TrainConfig, Trainer};
    let spec = ModelSpec {
        input: [8, 8, 2],
        layers: vec![
            LayerSpec::Conv2d {
                channels: 4,
                kernel: 3,
                stride: 1,
                pad: 1,
            },
            LayerSpec::BatchNorm2d,
            // A ReLU whose backward the pooling does.
            LayerSpec::Relu,
            LayerSpec::MaxPool2d { k: 2 },
            // A ReLU in an int8 GEMM's epilogue, and the pooling's backward.
            LayerSpec::Conv2d {
                channels: 4,
                kernel: 3,
                stride: 1,
                pad: 1,
            },
            LayerSpec::Relu,
            LayerSpec::MaxPool2d { k: 2 },
            LayerSpec::BasicBlock {
                channels: 6,
                stride: 2,
            },
            // Expansion, depthwise convolution, two ReLU6 and the identity shortcut.
            LayerSpec::InvertedResidual {
                expand: 2,
                channels: 6,
                stride: 1,
            },
            LayerSpec::GlobalAvgPool,
            // FP32: a ReLU in a GEMM's epilogue, its backward reading the output the next Linear
            // keeps; int8: also in the epilogue, its bit mask written by the next Linear's
            // quantization (8 inputs, a multiple of 4). The block's ReLUs write theirs.
            LayerSpec::Linear { outputs: 8 },
            LayerSpec::Relu,
            LayerSpec::Linear { outputs: 3 },
        ],
    };
    let data = crate::data::Dataset::synthetic_images(8, [8, 8, 2], 3, 0.5, 5);
    // Refresh at step 0 only, so step 1 runs UI8 on kept clips.
    let ui8 = |dclrs| {
        Policy::Ui8(Ui8 {
            warmup: 1,
            dclrs,
            ..Ui8::default()
        })
    };
    let policies = [
        Policy::Fp32,
        Policy::NaiveInt8,
        ui8(Dclrs::PerLayer),
        ui8(Dclrs::GlobalMeanDistance),
        ui8(Dclrs::GlobalMinPhi),
        Policy::dai8(),
    ];
    for policy in policies {
        let label = match &policy {
            Policy::Ui8(u) if u.dclrs == Dclrs::GlobalMeanDistance => "ui8 global φ(mean d)",
            Policy::Ui8(u) if u.dclrs == Dclrs::GlobalMinPhi => "ui8 global min φ",
            p => p.name(),
        };
        let cfg = TrainConfig {
            batch: 4,
            quantize_first_last: true,
            ..Default::default()
        };
        let mut trainer = Trainer::new(ctx, &spec, policy, cfg)?;
        for step in 0..2 {
            let (x, y) = data.batch(step * 4, 4);
            let checks = trainer.train_step_checked_async(x, y).await?;
            let mut check = Check::new();
            for c in &checks {
                if c.exact_mismatches > 0 {
                    check.fail(format!(
                        "dispatch {} ({}): {} of {} integer words differ",
                        c.index, c.kernel, c.exact_mismatches, c.exact_words
                    ));
                }
                let err = c.max_float_error / STEP_FLOAT_TOLERANCE;
                if err.is_nan() || err > 1.0 {
                    check.fail(format!(
                        "dispatch {} ({}): float difference {:e}",
                        c.index, c.kernel, c.max_float_error
                    ));
                } else {
                    check.max_error = check.max_error.max(err);
                }
            }
            let words: usize = checks.iter().map(|c| c.exact_words).sum();
            check.finish(
                "train_step",
                format!(
                    "{label} step {step}: {} dispatches, {words} integer words",
                    checks.len()
                ),
                out,
            );
        }
    }
    Ok(())
}
