//! A training split kept on the device as bytes: batches gathered there, one or several steps
//! per submit, train to the same bits as the same rows uploaded from the host step by step.

mod common;

use common::{Needs, for_each_adapter};
use octet::data::{Dataset, permutation};
use octet::nn::ModelSpec;
use octet::quant::Policy;
use octet::rng::rng_u32;
use octet::train::{StepMetrics, TrainConfig, Trainer};

/// 100 normalized 4×4×3 byte images in 5 classes.
fn byte_set() -> Dataset {
    let bytes = (0..100 * 48).map(|i| rng_u32(5, i) as u8).collect();
    let labels = (0..100).map(|i| rng_u32(6, i) % 5).collect();
    let mut set = Dataset::from_bytes([4, 4, 3], 5, bytes, labels);
    let (mean, std) = set.channel_moments();
    set.normalize(&mean, &std);
    set
}

fn spec() -> ModelSpec {
    ModelSpec::builder(4, 4, 3)
        .conv2d(4, 3, 1, 1)
        .relu()
        .flatten()
        .linear(8)
        .relu()
        .linear(5)
        .build()
}

const BATCH: usize = 16;
/// 6 steps an epoch: the runs cross two epochs' orders.
const STEPS: usize = 14;

fn trainer(ctx: &octet::Context, policy: &Policy) -> Trainer {
    let cfg = TrainConfig {
        batch: BATCH as u32,
        quantize_first_last: true,
        ..Default::default()
    };
    Trainer::new(ctx, &spec(), policy.clone(), cfg).unwrap()
}

/// What a run leaves: every checkpointed tensor's bits and each step's loss bits.
fn outcome(mut t: Trainer, mut metrics: Vec<StepMetrics>) -> (Vec<Vec<u32>>, Vec<u32>) {
    metrics.extend(t.poll_metrics(true).unwrap());
    let steps: Vec<u64> = metrics.iter().map(|m| m.step).collect();
    assert_eq!(steps, (0..STEPS as u64).collect::<Vec<_>>());
    let tensors = t.checkpoint().unwrap().tensors;
    let bits = tensors.iter().map(|(_, t)| common::bits(&t.data)).collect();
    (bits, metrics.iter().map(|m| m.loss.to_bits()).collect())
}

#[test]
fn device_batches_train_to_the_bits_of_host_batches() {
    let set = byte_set();
    let test = "device_batches_train_to_the_bits_of_host_batches";
    for_each_adapter(test, Needs::EveryAdapter, |gpu| {
        let ctx = gpu.context();
        for policy in [Policy::Fp32, Policy::ui8(), Policy::dai8()] {
            // The host's way: each batch gathered on the CPU and uploaded.
            let mut host = trainer(&ctx, &policy);
            let mut metrics = Vec::new();
            let per_epoch = set.len() / BATCH;
            let (mut x, mut y) = (Vec::new(), Vec::new());
            for t in 0..STEPS {
                let order = permutation(set.len(), 1, (t / per_epoch) as u64);
                let s = t % per_epoch;
                set.gather(&order[s * BATCH..(s + 1) * BATCH], &mut x, &mut y);
                host.train_step(&x, &y).unwrap();
                metrics.extend(host.poll_metrics(false).unwrap());
            }
            let want = outcome(host, metrics);
            // Gathered on the device, one step per submit and then several.
            for chunks in [vec![1; STEPS], vec![1, 5, 8]] {
                let mut dev = trainer(&ctx, &policy);
                dev.upload_training_set(&set).unwrap();
                assert_eq!(dev.steps_per_epoch(), Some(per_epoch as u64));
                let mut metrics = Vec::new();
                for k in &chunks {
                    let submits = ctx.submit_count();
                    dev.train_steps(*k).unwrap();
                    assert_eq!(ctx.submit_count(), submits + 1, "{k} steps in one submit");
                    metrics.extend(dev.poll_metrics(false).unwrap());
                }
                let got = outcome(dev, metrics);
                let what = format!("{} {} in chunks {chunks:?}", gpu.label(), policy.name());
                assert_eq!(got.1, want.1, "{what}: step losses differ");
                assert!(got.0 == want.0, "{what}: trained tensors differ");
            }
        }
    });
}

#[test]
fn sets_that_cannot_live_on_the_device_are_refused_with_the_reason() {
    let test = "sets_that_cannot_live_on_the_device_are_refused_with_the_reason";
    for_each_adapter(test, Needs::PreferredAdapter, |gpu| {
        let ctx = gpu.context();
        let mut t = trainer(&ctx, &Policy::dai8());
        let err = t.train_steps(2).unwrap_err().to_string();
        assert!(err.contains("upload_training_set"), "{err}");
        let floats = Dataset::synthetic_images(40, [4, 4, 3], 5, 0.5, 1);
        let err = t.upload_training_set(&floats).unwrap_err().to_string();
        assert!(err.contains("no bytes"), "{err}");
        let mut small = byte_set();
        small.truncate(BATCH - 1);
        let err = t.upload_training_set(&small).unwrap_err().to_string();
        assert!(err.contains("at least one batch"), "{err}");
        let wide = Dataset::from_bytes([4, 4, 1], 5, vec![0; 16 * 20], vec![0; 20]);
        let err = t.upload_training_set(&wide).unwrap_err().to_string();
        assert!(err.contains("the model takes"), "{err}");
    });
}
