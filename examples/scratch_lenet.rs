use octet::data::Dataset;
use octet::nn::ModelSpec;
use octet::quant::Policy;
use octet::train::{TrainConfig, Trainer};
fn main() {
    let backend = std::env::args().nth(1).unwrap_or("vulkan".into());
    let steps: usize = std::env::args()
        .nth(2)
        .map(|s| s.parse().unwrap())
        .unwrap_or(20);
    let ctx =
        octet::Context::with_backends(octet::gpu::parse_backends(&backend).unwrap(), None).unwrap();
    let data = Dataset::synthetic(2048, 784, 10, 4.0, 3);
    let spec = ModelSpec::lenet5(28, 28, 1, 10);
    for policy in ["fp32", "naive", "ui8", "dai8"] {
        let cfg = TrainConfig {
            batch: 64,
            lr: 0.02,
            ..Default::default()
        };
        let mut tr = Trainer::new(&ctx, &spec, Policy::from_name(policy).unwrap(), cfg).unwrap();
        // warm up (compiles kernels)
        let (x, y) = data.batch(0, 64);
        tr.train_step(x, y).unwrap();
        tr.poll_metrics(true).unwrap();
        let s0 = ctx.submit_count();
        let t0 = std::time::Instant::now();
        let mut ms = Vec::new();
        for s in 0..steps {
            let (x, y) = data.batch((s * 64) % (2048 - 64), 64);
            tr.train_step(x, y).unwrap();
            ms.extend(tr.poll_metrics(false).unwrap());
        }
        ms.extend(tr.poll_metrics(true).unwrap());
        let dt = t0.elapsed().as_secs_f64() * 1000.0 / steps as f64;
        let submits = (ctx.submit_count() - s0) as f64 / steps as f64;
        println!(
            "{policy:6}: {dt:.1} ms/step, {} dispatches/step, {submits} submits/step, saved activations {} bytes, loss {:.3} -> {:.3}",
            tr.dispatches_per_step(),
            tr.model().saved_activation_bytes(),
            ms[0].loss,
            ms[ms.len() - 1].loss
        );
    }
}
