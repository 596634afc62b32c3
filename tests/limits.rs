//! Buffers beyond the device's size limits are refused with an error that names the buffer, the
//! size asked for, the limit and what to change — never a wgpu panic — and a smaller batch then
//! trains on the same device.

mod common;

use common::{Needs, for_each_adapter};
use octet::data::Dataset;
use octet::nn::ModelSpec;
use octet::quant::Policy;
use octet::train::{TrainConfig, Trainer};

#[test]
fn oversized_buffers_are_refused_naming_the_limit() {
    let test = "oversized_buffers_are_refused_naming_the_limit";
    for_each_adapter(test, Needs::PreferredAdapter, |gpu| {
        let adapter = gpu.adapter;
        let base = adapter.limits();
        let mib = 1u64 << 20;
        let cases = [
            (
                "max_storage_buffer_binding_size",
                wgpu::Limits {
                    max_storage_buffer_binding_size: mib,
                    ..base.clone()
                },
            ),
            (
                "max_buffer_size",
                wgpu::Limits {
                    max_buffer_size: mib,
                    ..base.clone()
                },
            ),
        ];
        let spec = ModelSpec::lenet5(28, 28, 1, 10);
        let data = Dataset::synthetic_images(8, [28, 28, 1], 10, 0.5, 1);
        for (limit, limits) in cases {
            let (device, queue) =
                pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
                    required_limits: limits,
                    ..Default::default()
                }))
                .unwrap();
            let ctx = octet::Context::new(&device, &queue).unwrap();
            // LeNet-5's first im2col matrix at batch 64 is 64·784·25·4 bytes = 5 MB.
            let cfg = |batch| TrainConfig {
                batch,
                ..Default::default()
            };
            match Trainer::new(&ctx, &spec, Policy::dai8(), cfg(64)) {
                Err(e @ octet::Error::LimitExceeded { .. }) => {
                    let octet::Error::LimitExceeded {
                        limit: named,
                        requested,
                        available,
                        ..
                    } = &e
                    else {
                        unreachable!()
                    };
                    assert_eq!(*named, limit);
                    assert_eq!(*available, mib);
                    assert!(*requested > mib);
                    let message = e.to_string();
                    assert!(message.contains("batch size"), "{message}");
                    eprintln!("{message}");
                }
                other => panic!("{limit}: expected LimitExceeded, got {other:?}"),
            }
            // At batch 4 every buffer fits: the same device trains.
            let mut trainer = Trainer::new(&ctx, &spec, Policy::dai8(), cfg(4)).unwrap();
            let (x, y) = data.batch(0, 4);
            trainer.train_step(x, y).unwrap();
            let metrics = trainer.poll_metrics(true).unwrap();
            assert!(metrics[0].loss.is_finite());
        }
    });
}
