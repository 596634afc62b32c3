//! A lost device surfaces as typed errors from octet's calls — never a panic, never a hang.

mod common;

use common::{Needs, for_each_adapter};
use octet::data::Dataset;
use octet::nn::ModelSpec;
use octet::quant::Policy;
use octet::train::{TrainConfig, Trainer};

#[test]
fn a_lost_device_gives_typed_errors() {
    let data = Dataset::synthetic_images(16, [12, 12, 1], 4, 0.5, 1);
    let spec = ModelSpec::lenet5(12, 12, 1, 4);
    let cfg = TrainConfig {
        batch: 8,
        ..Default::default()
    };
    let test = "a_lost_device_gives_typed_errors";
    for_each_adapter(test, Needs::EveryAdapter, |gpu| {
        let (backend, ctx) = (gpu.backend(), gpu.context());
        let mut trainer = Trainer::new(&ctx, &spec, Policy::dai8(), cfg.clone()).unwrap();
        let (x, y) = data.batch(0, 8);
        trainer.train_step(x, y).unwrap();
        trainer.poll_metrics(true).unwrap();
        // What a driver reset does to a device, on purpose.
        ctx.device().destroy();
        let lost = |r: octet::Result<()>, what: &str| match r {
            Err(octet::Error::DeviceLost { reason }) => {
                eprintln!("{backend:?} {what}: {reason}")
            }
            other => panic!("{backend:?} {what}: expected DeviceLost, got {other:?}"),
        };
        lost(trainer.train_step(x, y), "train_step");
        lost(trainer.poll_metrics(true).map(|_| ()), "poll_metrics");
        lost(trainer.checkpoint().map(|_| ()), "checkpoint");
        lost(
            Trainer::new(&ctx, &spec, Policy::dai8(), cfg.clone()).map(|_| ()),
            "Trainer::new",
        );
    });
}
