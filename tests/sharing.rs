//! Two models training on one device from two threads reach exactly the weights each reaches
//! alone: trainers share the context (device, queue, pipeline cache) and nothing else.

mod common;

use common::{Needs, for_each_adapter};
use octet::data::Dataset;
use octet::nn::{ModelSpec, NamedTensor, TensorRole};
use octet::quant::Policy;
use octet::train::{TrainConfig, Trainer};

fn train(
    ctx: &octet::Context,
    spec: &ModelSpec,
    policy: Policy,
    data: &Dataset,
) -> Vec<NamedTensor> {
    let cfg = TrainConfig {
        batch: 8,
        lr: 0.05,
        ..Default::default()
    };
    let mut trainer = Trainer::new(ctx, spec, policy, cfg).unwrap();
    for s in 0..6 {
        let (x, y) = data.batch(s * 8, 8);
        trainer.train_step(x, y).unwrap();
        trainer.poll_metrics(false).unwrap();
    }
    trainer.poll_metrics(true).unwrap();
    trainer
        .model()
        .read_tensors(ctx, TensorRole::Parameter)
        .unwrap()
}

#[test]
fn two_models_on_two_threads_match_their_solo_runs() {
    let data = Dataset::synthetic_images(48, [12, 12, 1], 4, 0.5, 9);
    let mlp = ModelSpec {
        input: [12, 12, 1],
        ..ModelSpec::mlp(144, &[32], 4)
    };
    let lenet = ModelSpec::lenet5(12, 12, 1, 4);
    let test = "two_models_on_two_threads_match_their_solo_runs";
    for_each_adapter(test, Needs::EveryAdapter, |gpu| {
        let (backend, ctx) = (gpu.backend(), gpu.context());
        let alone_a = train(&ctx, &mlp, Policy::dai8(), &data);
        let alone_b = train(&ctx, &lenet, Policy::ui8(), &data);
        let (together_a, together_b) = std::thread::scope(|s| {
            let a = s.spawn(|| train(&ctx.clone(), &mlp, Policy::dai8(), &data));
            let b = s.spawn(|| train(&ctx.clone(), &lenet, Policy::ui8(), &data));
            (a.join().unwrap(), b.join().unwrap())
        });
        for (alone, together) in [(&alone_a, &together_a), (&alone_b, &together_b)] {
            assert_eq!(alone.len(), together.len());
            for (x, y) in alone.iter().zip(together) {
                assert!(
                    common::bits(&x.data) == common::bits(&y.data),
                    "{backend:?}: {} differs when shared",
                    x.name
                );
            }
        }
    });
}
