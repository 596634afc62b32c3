//! A short training run on generated, learnable data reduces the loss under every policy, on
//! every adapter, with the first and last layers in FP32 (the default) and with everything
//! quantized.

mod common;

use common::{Needs, for_each_adapter};
use octet::data::Dataset;
use octet::nn::ModelSpec;
use octet::quant::Policy;
use octet::train::{TrainConfig, Trainer};

#[test]
fn mlp_training_reduces_the_loss_under_every_policy() {
    // Overlapping clusters, so the task is not solved in a handful of steps.
    let data = Dataset::synthetic(3072, 48, 6, 2.5, 11);
    // 2048 rows to train on, the last 1024 to test on.
    let train = 2048usize;
    let spec = ModelSpec::mlp(48, &[32, 32], 6);
    let test = "mlp_training_reduces_the_loss_under_every_policy";
    for_each_adapter(test, Needs::EveryAdapter, |gpu| {
        let (backend, ctx) = (gpu.backend(), gpu.context());
        for name in ["fp32", "naive", "ui8", "dai8"] {
            for quantize_first_last in [false, true] {
                let cfg = TrainConfig {
                    batch: 32,
                    lr: 0.05,
                    quantize_first_last,
                    ..Default::default()
                };
                let mut trainer =
                    Trainer::new(&ctx, &spec, Policy::from_name(name).unwrap(), cfg).unwrap();
                let (before, _) = trainer
                    .evaluate(&data.x[train * 48..], &data.y[train..])
                    .unwrap();
                let mut metrics = Vec::new();
                for _epoch in 0..2 {
                    for step in 0..train / 32 {
                        let (x, y) = data.batch(step * 32, 32);
                        trainer.train_step(x, y).unwrap();
                        metrics.extend(trainer.poll_metrics(false).unwrap());
                    }
                }
                metrics.extend(trainer.poll_metrics(true).unwrap());
                assert_eq!(
                    metrics.len(),
                    2 * train / 32,
                    "every step reports its metrics once"
                );
                assert!(
                    metrics.windows(2).all(|w| w[0].step + 1 == w[1].step),
                    "in order"
                );
                let (after, accuracy) = trainer
                    .evaluate(&data.x[train * 48..], &data.y[train..])
                    .unwrap();
                eprintln!(
                    "{backend:?} {name} qfl={quantize_first_last}: test loss {before:.3} -> {after:.3}, accuracy {accuracy:.3}"
                );
                assert!(
                    after < 0.5 * before,
                    "{backend:?} {name}: loss {before} -> {after}"
                );
                assert!(accuracy > 0.7, "{backend:?} {name}: accuracy {accuracy}");
            }
        }
    });
}

/// Trains `steps` consecutive batches; returns the mean loss of the first and of the last
/// `window` steps (metrics collected asynchronously, as a trainer would).
fn train_steps(
    trainer: &mut Trainer,
    data: &Dataset,
    batch: usize,
    steps: usize,
    window: usize,
) -> (f32, f32) {
    let mut metrics = Vec::new();
    for step in 0..steps {
        let (x, y) = data.batch(step * batch, batch);
        trainer.train_step(x, y).unwrap();
        metrics.extend(trainer.poll_metrics(false).unwrap());
    }
    metrics.extend(trainer.poll_metrics(true).unwrap());
    assert_eq!(metrics.len(), steps, "every step reports its metrics once");
    let mean =
        |m: &[octet::train::StepMetrics]| m.iter().map(|m| m.loss).sum::<f32>() / m.len() as f32;
    (mean(&metrics[..window]), mean(&metrics[steps - window..]))
}

/// Trains the zoo model `make(h, w, c, classes)` on synthetic images of each input shape the
/// zoo serves (28×28×1 and 32×32×3) under every policy, on every adapter, and checks the loss
/// of the last `window` steps against the first.
fn zoo_model_trains(
    label: &str,
    make: fn(u32, u32, u32, u32) -> ModelSpec,
    (batch, steps, window): (usize, usize, usize),
    lr: f32,
) {
    for [h, w, c] in [[28u32, 28, 1], [32, 32, 3]] {
        let shape = [h as usize, w as usize, c as usize];
        let data = Dataset::synthetic_images(batch * steps, shape, 4, 0.3, 3);
        let spec = make(h, w, c, 4);
        let test = format!("{label} {h}x{w}x{c}");
        for_each_adapter(&test, Needs::EveryAdapter, |gpu| {
            let (backend, ctx) = (gpu.backend(), gpu.context());
            for name in ["fp32", "naive", "ui8", "dai8"] {
                let cfg = TrainConfig {
                    batch: batch as u32,
                    lr,
                    ..Default::default()
                };
                let started = std::time::Instant::now();
                let mut trainer =
                    Trainer::new(&ctx, &spec, Policy::from_name(name).unwrap(), cfg).unwrap();
                let (first, last) = train_steps(&mut trainer, &data, batch, steps, window);
                eprintln!(
                    "{backend:?} {label} {h}x{w}x{c} {name}: loss {first:.3} -> {last:.3} in {:?}",
                    started.elapsed()
                );
                assert!(
                    last < 0.8 * first,
                    "{backend:?} {label} {h}x{w}x{c} {name}: loss {first} -> {last}"
                );
            }
        });
    }
}

#[test]
fn lenet5_training_reduces_the_loss_under_every_policy() {
    zoo_model_trains("lenet5", ModelSpec::lenet5, (8, 20, 4), 0.05);
}

/// A step submits once and, after the first, creates no GPU buffer or bind group.
#[test]
fn a_step_is_one_submit_and_allocates_nothing() {
    let test = "a_step_is_one_submit_and_allocates_nothing";
    for_each_adapter(test, Needs::PreferredAdapter, |gpu| {
        let ctx = gpu.context();
        let data = Dataset::synthetic_images(64, [28, 28, 1], 10, 0.5, 3);
        let spec = ModelSpec::lenet5(28, 28, 1, 10);
        for name in ["fp32", "ui8", "dai8"] {
            let cfg = TrainConfig {
                batch: 16,
                quantize_first_last: true,
                ..Default::default()
            };
            let mut trainer =
                Trainer::new(&ctx, &spec, Policy::from_name(name).unwrap(), cfg).unwrap();
            let (x, y) = data.batch(0, 16);
            trainer.train_step(x, y).unwrap();
            let (objects, submits) = (ctx.objects_created(), ctx.submit_count());
            for step in 1..4 {
                let (x, y) = data.batch(step * 16, 16);
                trainer.train_step(x, y).unwrap();
            }
            trainer.poll_metrics(true).unwrap();
            assert_eq!(
                ctx.objects_created(),
                objects,
                "{name}: GPU objects created in the step loop"
            );
            assert_eq!(
                ctx.submit_count() - submits,
                3,
                "{name}: submits for 3 steps"
            );
        }
    });
}

#[test]
fn resnet_training_reduces_the_loss_under_every_policy() {
    zoo_model_trains("resnet", ModelSpec::resnet, (4, 10, 3), 0.05);
}

#[test]
fn mobilenetv2_training_reduces_the_loss_under_every_policy() {
    zoo_model_trains("mobilenetv2", ModelSpec::mobilenetv2, (4, 16, 3), 0.05);
}

/// A convolution's two lowerings — the column matrix, the implicit GEMMs — give the same bits,
/// so forcing either trains to the very same weights: int8 layers on the column matrix keep
/// their input quantized in place and gather the matrix (`im2col_i8`) for each GEMM, and a ReLU
/// before a convolution has its mask written by the convolution's quantization both ways.
#[test]
fn both_convolution_lowerings_train_to_the_same_bits() {
    use octet::nn::LayerSpec;
    use octet::ops::ConvLowering;
    let conv = |channels, stride| LayerSpec::Conv2d {
        channels,
        kernel: 3,
        stride,
        pad: 1,
    };
    let spec = ModelSpec {
        input: [10, 10, 4],
        layers: vec![
            conv(8, 1),
            LayerSpec::Relu,
            conv(8, 2),
            LayerSpec::BatchNorm2d,
            LayerSpec::Relu,
            LayerSpec::BasicBlock {
                channels: 8,
                stride: 1,
            },
            LayerSpec::GlobalAvgPool,
            LayerSpec::Linear { outputs: 3 },
        ],
    };
    let batch = 6;
    let data = Dataset::synthetic_images(batch * 3, [10, 10, 4], 3, 0.5, 9);
    let test = "both_convolution_lowerings_train_to_the_same_bits";
    for_each_adapter(test, Needs::EveryAdapter, |gpu| {
        let ctx = gpu.context();
        let backend = format!("{:?}", gpu.backend());
        for policy in [Policy::Fp32, Policy::ui8(), Policy::dai8()] {
            let run = |lowering| {
                ctx.set_conv_lowering(Some(lowering));
                let cfg = TrainConfig {
                    batch: batch as u32,
                    quantize_first_last: true,
                    ..Default::default()
                };
                let mut t = Trainer::new(&ctx, &spec, policy.clone(), cfg).unwrap();
                for step in 0..3 {
                    let (x, y) = data.batch(step * batch, batch);
                    t.train_step(x, y).unwrap();
                }
                t.checkpoint().unwrap().tensors
            };
            let (columns, implicit) = (run(ConvLowering::Columns), run(ConvLowering::Implicit));
            ctx.set_conv_lowering(None);
            assert_eq!(columns.len(), implicit.len());
            for ((_, a), (_, b)) in columns.iter().zip(&implicit) {
                assert_eq!(
                    common::bits(&a.data),
                    common::bits(&b.data),
                    "{backend} {}: {} differs between the lowerings",
                    policy.name(),
                    a.name
                );
            }
        }
    });
}
