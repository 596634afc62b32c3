//! A whole training step, under every policy, equals its CPU twin pipeline: each dispatch is
//! replayed on its twin from the GPU's state before it, and every integer part — packed int8
//! operands of all three GEMMs, stochastic-rounding results for the step's seeds, scales,
//! int32 split-K partials, statistics counts, classifier counts, pooling indices, correct
//! counts — matches bit for bit.

mod common;

use octet::data::Dataset;
use octet::nn::{LayerSpec, ModelSpec};
use octet::quant::{Dclrs, Policy, Ui8};
use octet::train::{TrainConfig, Trainer};

/// Largest relative difference allowed in float outputs (GPU vs twin on the same inputs).
const FLOAT_TOLERANCE: f64 = 1e-4;

#[test]
fn training_steps_equal_the_cpu_twins_in_their_integer_parts() {
    // Every layer kind, all quantized: conv, BN, ReLU, max-pool, a projection block, pooling
    // and the logits.
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
            LayerSpec::Relu,
            LayerSpec::MaxPool2d { k: 2 },
            LayerSpec::BasicBlock {
                channels: 6,
                stride: 2,
            },
            LayerSpec::GlobalAvgPool,
            LayerSpec::Linear { outputs: 3 },
        ],
    };
    let data = Dataset::synthetic_images(16, [8, 8, 2], 3, 0.5, 5);
    for adapter in common::adapters() {
        let backend = format!("{:?}", adapter.get_info().backend);
        let ctx = octet::Context::from_adapter(&adapter).unwrap();
        let ui8 = |dclrs| {
            // Refresh at step 0 only, so step 1 runs on the kept clips.
            Policy::Ui8(Ui8 {
                warmup: 1,
                dclrs,
                ..Ui8::default()
            })
        };
        let policies = [
            ("fp32", Policy::Fp32),
            ("naive", Policy::NaiveInt8),
            ("ui8", ui8(Dclrs::PerLayer)),
            ("ui8 global mean d", ui8(Dclrs::GlobalMeanDistance)),
            ("ui8 global min phi", ui8(Dclrs::GlobalMinPhi)),
            ("dai8", Policy::from_name("dai8").unwrap()),
        ];
        for (name, policy) in policies {
            let cfg = TrainConfig {
                batch: 4,
                quantize_first_last: true,
                ..Default::default()
            };
            let mut trainer = Trainer::new(&ctx, &spec, policy, cfg).unwrap();
            // Step 0 refreshes every clip; under UI8 step 1 reuses them.
            for step in 0..2 {
                let rows = 4 * 128;
                let (xb, yb) = (
                    &data.x[step * rows..(step + 1) * rows],
                    &data.y[step * 4..][..4],
                );
                let checks = trainer.train_step_checked(xb, yb).unwrap();
                let exact: usize = checks.iter().map(|c| c.exact_words).sum();
                let quantize = checks.iter().filter(|c| c.kernel == "quantize").count();
                eprintln!(
                    "{backend} {name} step {step}: {} dispatches, {quantize} quantizations, \
                     {exact} words compared exactly, largest float difference {:.2e}",
                    checks.len(),
                    checks.iter().map(|c| c.max_float_error).fold(0.0, f64::max)
                );
                if name != "fp32" {
                    assert!(quantize > 0, "{backend} {name}: nothing was quantized");
                }
                for c in &checks {
                    assert_eq!(
                        c.exact_mismatches, 0,
                        "{backend} {name} step {step}: dispatch {} ({}) differs in {} of {} \
                         integer words",
                        c.index, c.kernel, c.exact_mismatches, c.exact_words
                    );
                    assert!(
                        c.max_float_error <= FLOAT_TOLERANCE,
                        "{backend} {name} step {step}: dispatch {} ({}) float difference {}",
                        c.index,
                        c.kernel,
                        c.max_float_error
                    );
                }
            }
        }
    }
}
