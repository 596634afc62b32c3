//! NaN and Inf are caught on the GPU inside the step that produced them: that step's update is
//! skipped, and the trainer stops with an error naming the step and the tensor (default) or
//! goes on with a lower learning rate (`NonFinitePolicy::SkipStep`).

mod common;

use common::{Needs, for_each_adapter, tensor_bits};
use octet::data::Dataset;
use octet::nn::{ModelSpec, TensorRole};
use octet::quant::Policy;
use octet::train::{NonFinitePolicy, TrainConfig, Trainer};

fn spec() -> ModelSpec {
    ModelSpec::lenet5(12, 12, 1, 4)
}

#[test]
fn an_injected_nan_stops_training_and_leaves_the_weights_untouched() {
    let data = Dataset::synthetic_images(32, [12, 12, 1], 4, 0.5, 2);
    let test = "an_injected_nan_stops_training_and_leaves_the_weights_untouched";
    for_each_adapter(test, Needs::EveryAdapter, |gpu| {
        let (backend, ctx) = (gpu.backend(), gpu.context());
        for policy in [Policy::Fp32, Policy::dai8()] {
            let cfg = TrainConfig {
                batch: 8,
                ..Default::default()
            };
            let mut trainer = Trainer::new(&ctx, &spec(), policy.clone(), cfg).unwrap();
            for s in 0..2 {
                let (x, y) = data.batch(s * 8, 8);
                trainer.train_step(x, y).unwrap();
            }
            assert_eq!(trainer.poll_metrics(true).unwrap().len(), 2);
            let before = trainer
                .model()
                .read_tensors(&ctx, TensorRole::Parameter)
                .unwrap();
            let (x, y) = data.batch(16, 8);
            let mut poisoned = x.to_vec();
            poisoned[5] = f32::NAN;
            trainer.train_step(&poisoned, y).unwrap();
            match trainer.poll_metrics(true) {
                Err(e @ octet::Error::NonFinite { .. }) => {
                    let octet::Error::NonFinite { step, tensor, .. } = &e else {
                        unreachable!()
                    };
                    assert_eq!(*step, 2, "{backend:?} {policy:?}");
                    // In FP32 the NaN reaches the loss; under INT8 the quantized layers map it
                    // to 0 on the way, and it shows in the first (FP32) layer's gradient.
                    let expected = if policy == Policy::Fp32 {
                        "loss"
                    } else {
                        "layer0.conv"
                    };
                    assert_eq!(tensor, expected, "{backend:?} {policy:?}");
                    eprintln!("{backend:?} {}: {e}", policy.name());
                }
                other => panic!("{backend:?} {policy:?}: expected NonFinite, got {other:?}"),
            }
            let after = trainer
                .model()
                .read_tensors(&ctx, TensorRole::Parameter)
                .unwrap();
            assert!(
                tensor_bits(&before) == tensor_bits(&after),
                "{backend:?} {policy:?}: a bad step changed the weights"
            );
        }
    });
}

#[test]
fn an_absurd_learning_rate_is_caught_naming_the_step_and_tensor() {
    let data = Dataset::synthetic_images(64, [12, 12, 1], 4, 0.5, 2);
    let test = "an_absurd_learning_rate_is_caught_naming_the_step_and_tensor";
    for_each_adapter(test, Needs::PreferredAdapter, |gpu| {
        let ctx = gpu.context();
        let cfg = TrainConfig {
            batch: 8,
            lr: 1e12,
            ..Default::default()
        };
        let mut trainer = Trainer::new(&ctx, &spec(), Policy::ui8(), cfg).unwrap();
        let mut caught = None;
        for s in 0..8 {
            let (x, y) = data.batch(s * 8, 8);
            let stepped = trainer
                .train_step(x, y)
                .and_then(|_| trainer.poll_metrics(true));
            if let Err(e) = stepped {
                caught = Some(e);
                break;
            }
        }
        match caught {
            Some(e @ octet::Error::NonFinite { .. }) => {
                let msg = e.to_string();
                eprintln!("{msg}");
                assert!(msg.contains("step ") && (msg.contains("layer") || msg.contains("loss")));
            }
            other => panic!("expected NonFinite within 8 steps, got {other:?}"),
        }
    });
}

#[test]
fn the_skip_policy_skips_bad_steps_and_goes_on() {
    let data = Dataset::synthetic_images(48, [12, 12, 1], 4, 0.5, 2);
    let test = "the_skip_policy_skips_bad_steps_and_goes_on";
    for_each_adapter(test, Needs::PreferredAdapter, |gpu| {
        let ctx = gpu.context();
        let cfg = TrainConfig {
            batch: 8,
            on_nonfinite: NonFinitePolicy::SkipStep { lr_backoff: 0.5 },
            ..Default::default()
        };
        let mut trainer = Trainer::new(&ctx, &spec(), Policy::dai8(), cfg).unwrap();
        let (x, y) = data.batch(0, 8);
        trainer.train_step(x, y).unwrap();
        trainer.poll_metrics(true).unwrap();
        let before = trainer
            .model()
            .read_tensors(&ctx, TensorRole::Parameter)
            .unwrap();
        let (x, y) = data.batch(8, 8);
        let mut poisoned = x.to_vec();
        poisoned[0] = f32::INFINITY;
        trainer.train_step(&poisoned, y).unwrap();
        let m = trainer.poll_metrics(true).unwrap();
        assert_eq!(m[0].nonfinite.as_deref(), Some("layer0.conv"));
        let after = trainer
            .model()
            .read_tensors(&ctx, TensorRole::Parameter)
            .unwrap();
        assert!(
            tensor_bits(&before) == tensor_bits(&after),
            "the skipped step changed the weights"
        );
        for s in 2..5 {
            let (x, y) = data.batch(s * 8, 8);
            trainer.train_step(x, y).unwrap();
        }
        let later = trainer.poll_metrics(true).unwrap();
        assert_eq!(later.len(), 3);
        assert!(
            later
                .iter()
                .all(|m| m.nonfinite.is_none() && m.loss.is_finite())
        );
    });
}
