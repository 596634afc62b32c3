//! octet's benchmark report: INT8 against FP32 on one adapter, in one run.
//!
//! ```text
//! cargo run --release --example bench -- [--json FILE] [--quick] [--backend vulkan|gl|…]
//! ```
//!
//! Prints one table and optionally writes JSON: GEMM f32 vs i8 at 256, 512 and 1024; the three
//! GEMMs of convolution layers of LeNet-5 and the ResNet (forward, dgrad, wgrad); ms per
//! training step at batch 64 for the MLP, LeNet-5 and the ResNet under each policy, with
//! dispatches and submits per step and the GPU memory each model holds. `--profile` adds the
//! per-kernel time breakdown of one LeNet-5 step per policy.

use std::process::ExitCode;

use clap::Parser;
use octet::conformance::gemm_throughput;
use octet::data::Dataset;
use octet::nn::{ModelSpec, TensorRole};
use octet::ops::{ConvGeometry, GemmShape, GemmVariant, Precision};
use octet::quant::{Policy, Ui8};
use octet::train::{TrainConfig, Trainer, time_steps};
use serde::Serialize;

#[derive(Parser)]
#[command(about = "Benchmark octet's INT8 kernels and training steps against FP32")]
struct Args {
    /// Write the results as JSON to this file.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
    /// Fewer sizes and steps (well under a minute of measurement on a software driver).
    #[arg(long)]
    quick: bool,
    /// GPU backend: vulkan, metal, dx12 or gl [default: the best adapter present].
    #[arg(long)]
    backend: Option<String>,
    /// Timed training steps per model and policy, taken in three rounds in which the policies
    /// take turns (rounded up to a multiple of 3; one round with --quick).
    #[arg(long, default_value_t = 5)]
    steps: usize,
    /// Also print where one LeNet-5 step's time goes, kernel by kernel.
    #[arg(long)]
    profile: bool,
}

#[derive(Serialize)]
struct GemmRow {
    what: String,
    m: u32,
    n: u32,
    k: u32,
    f32_gflops: f64,
    i8_gops: f64,
    ratio: f64,
    /// The kernel variants the autotuner picked (f32, i8).
    variants: (GemmVariant, GemmVariant),
}

#[derive(Serialize)]
struct StepRow {
    model: &'static str,
    policy: &'static str,
    ms_per_step: f64,
    ratio_to_fp32: f64,
    dispatches_per_step: usize,
    submits_per_step: f64,
    weight_bytes: u64,
    optimizer_bytes: u64,
    saved_activation_bytes: u64,
    /// This policy's saved activations divided by FP32's.
    saved_ratio_to_fp32: f64,
    other_bytes: u64,
}

fn main() -> ExitCode {
    env_logger::init();
    match run(&Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

type AnyResult<T> = Result<T, Box<dyn std::error::Error>>;

fn run(args: &Args) -> AnyResult<()> {
    let ctx = match &args.backend {
        Some(name) => octet::Context::with_backends(octet::gpu::parse_backends(name)?, None)?,
        None => octet::Context::new_default()?,
    };
    let adapter = ctx
        .adapter_info()
        .map(|i| {
            format!(
                "{} ({:?}, {} {})",
                i.name, i.backend, i.driver, i.driver_info
            )
        })
        .unwrap_or_else(|| "host device".into());
    println!("octet {} bench on {adapter}\n", env!("CARGO_PKG_VERSION"));

    let gemms = gemm_rows(&ctx, args.quick)?;
    println!(
        "{:<34} {:>6} {:>6} {:>7} {:>10} {:>10} {:>7}  kernels (f32, i8)",
        "GEMM", "M", "N", "K", "f32 GF/s", "i8 GOP/s", "i8/f32"
    );
    for g in &gemms {
        println!(
            "{:<34} {:>6} {:>6} {:>7} {:>10.2} {:>10.2} {:>6.2}x  {:?}, {:?}",
            g.what, g.m, g.n, g.k, g.f32_gflops, g.i8_gops, g.ratio, g.variants.0, g.variants.1
        );
    }

    let steps = step_rows(&ctx, args)?;
    println!(
        "\n{:<8} {:<8} {:>9} {:>8} {:>10} {:>8} {:>10} {:>10} {:>12} {:>8} {:>10}",
        "model",
        "policy",
        "ms/step",
        "vs fp32",
        "dispatches",
        "submits",
        "weights",
        "optimizer",
        "saved acts",
        "vs fp32",
        "other"
    );
    for s in &steps {
        let mb = |b: u64| format!("{:.2} MB", b as f64 / 1e6);
        println!(
            "{:<8} {:<8} {:>9.1} {:>7.2}x {:>10} {:>8.1} {:>10} {:>10} {:>12} {:>7.2}x {:>10}",
            s.model,
            s.policy,
            s.ms_per_step,
            s.ratio_to_fp32,
            s.dispatches_per_step,
            s.submits_per_step,
            mb(s.weight_bytes),
            mb(s.optimizer_bytes),
            mb(s.saved_activation_bytes),
            s.saved_ratio_to_fp32,
            mb(s.other_bytes)
        );
    }
    println!(
        "\nms/step: the median of three rounds in which the policies take turns. vs fp32: the \
         step time of FP32 divided by this policy's (above 1: faster). ui8: steps \
         that refresh clips (UI8's first 200); ui8-kept: the steps between refreshes after that. \
         dai8-all: DAI8 with the first and last layers on int8 too. Saved acts: what the forward \
         keeps for the backward; its vs fp32: divided by FP32's (below 1: lighter). Other: \
         activations, gradients, quantized copies and scratch."
    );
    if let Some(path) = &args.json {
        let json = serde_json::json!({
            "octet_version": env!("CARGO_PKG_VERSION"),
            "adapter": adapter,
            "gemm": gemms,
            "steps": steps,
        });
        std::fs::write(path, serde_json::to_vec_pretty(&json)?)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

fn gemm_rows(ctx: &octet::Context, quick: bool) -> AnyResult<Vec<GemmRow>> {
    let mut shapes: Vec<(String, GemmShape)> = Vec::new();
    let sizes: &[u32] = if quick {
        &[256, 512]
    } else {
        &[256, 512, 1024]
    };
    for &s in sizes {
        shapes.push((format!("square {s}"), GemmShape::new(s, s, s)));
    }
    // The convolution layers as octet runs them: im2col rows × taps × channels, batch 64.
    let convs = [
        ("lenet5 conv1 5x5 1->6", conv(28, 1, 6, 5, 2)),
        ("lenet5 conv2 5x5 6->16", conv(14, 6, 16, 5, 0)),
        ("resnet 3x3 16->16 @28", conv(28, 16, 16, 3, 1)),
        ("resnet 3x3 32->32 @14", conv(14, 32, 32, 3, 1)),
        ("resnet 3x3 64->64 @7", conv(7, 64, 64, 3, 1)),
    ];
    for (name, (g, out)) in convs.iter().take(if quick { 3 } else { 5 }) {
        let (rows, taps) = (g.rows(), g.taps());
        shapes.push((format!("{name} fwd"), GemmShape::new(rows, *out, taps)));
        shapes.push((
            format!("{name} dgrad"),
            GemmShape::new(rows, taps, *out).with_trans(false, true),
        ));
        shapes.push((
            format!("{name} wgrad"),
            GemmShape::new(*out, taps, rows).with_trans(true, true),
        ));
    }
    let mut rows = Vec::new();
    for (what, shape) in shapes {
        let f = gemm_throughput(ctx, &shape, Precision::Fp32)?;
        let i = gemm_throughput(ctx, &shape, Precision::Int8)?;
        rows.push(GemmRow {
            what,
            m: shape.m,
            n: shape.n,
            k: shape.k,
            f32_gflops: f,
            i8_gops: i,
            ratio: i / f,
            variants: (
                ctx.gemm_variant(&shape, Precision::Fp32)?,
                ctx.gemm_variant(&shape, Precision::Int8)?,
            ),
        });
    }
    Ok(rows)
}

/// A square convolution at batch 64: `(geometry, output channels)`.
fn conv(hw: u32, c: u32, out: u32, k: u32, pad: u32) -> (ConvGeometry, u32) {
    let g = ConvGeometry {
        n: 64,
        h: hw,
        w: hw,
        c,
        kh: k,
        kw: k,
        stride: 1,
        pad,
    };
    (g, out)
}

fn step_rows(ctx: &octet::Context, args: &Args) -> AnyResult<Vec<StepRow>> {
    let batch = 64usize;
    let models: [(&str, ModelSpec); 3] = [
        ("mlp", ModelSpec::mlp(784, &[256, 256], 10)),
        ("lenet5", ModelSpec::lenet5(28, 28, 1, 10)),
        ("resnet", ModelSpec::resnet(28, 28, 1, 10)),
    ];
    let steps = if args.quick { 2 } else { args.steps.max(1) };
    // The policies take turns, a few steps each, and each reports its median round: a software
    // driver on a shared machine has slow spells of a second or two, which then spoil one round
    // of one policy instead of a whole row. Each round starts with an untimed step, which brings
    // the trainer's buffers back into the caches (CPU drivers) after the other trainers' turns.
    let rounds = if args.quick { 1 } else { 3 };
    let per_round = steps.div_ceil(rounds);
    let data = Dataset::synthetic_images(batch * (1 + per_round), [28, 28, 1], 10, 0.5, 1);
    let mut rows = Vec::new();
    for (name, spec) in models.iter().take(if args.quick { 2 } else { 3 }) {
        // UI8 refreshes its clips every step for 200 steps, then every 100: "ui8" times the
        // former, "ui8-kept" (warm-up skipped) the steady state, whose timed steps keep clips.
        let kept = Policy::Ui8(Ui8 {
            warmup: 0,
            ..Ui8::default()
        });
        let mut runs = Vec::new();
        for (label, policy) in [
            ("fp32", Policy::Fp32),
            ("naive", Policy::NaiveInt8),
            ("ui8", Policy::ui8()),
            ("ui8-kept", kept),
            ("dai8", Policy::dai8()),
            // First conv and last Linear on int8 too (TrainConfig::quantize_first_last).
            ("dai8-all", Policy::dai8()),
        ] {
            let cfg = TrainConfig {
                batch: batch as u32,
                quantize_first_last: label == "dai8-all",
                ..Default::default()
            };
            let before = ctx.storage_bytes();
            let mut trainer = Trainer::new(ctx, spec, policy, cfg)?;
            let held = ctx.storage_bytes() - before;
            // Submits counted over the warm-up and timed steps together: both are steps.
            let submits = ctx.submit_count();
            time_steps(&mut trainer, &data, 2, 0)?;
            let submits = ctx.submit_count() - submits;
            runs.push((label, trainer, held, submits, Vec::new()));
        }
        for _ in 0..rounds {
            for (_, trainer, _, submits, times) in &mut runs {
                let before = ctx.submit_count();
                times.push(time_steps(trainer, &data, 1, per_round)?);
                *submits += ctx.submit_count() - before;
            }
        }
        let median = |times: &mut Vec<f64>| {
            times.sort_by(f64::total_cmp);
            times[times.len() / 2]
        };
        let fp32_ms = median(&mut runs[0].4.clone());
        let fp32_saved = runs[0].1.model().saved_activation_bytes();
        for (label, trainer, held, submits, mut times) in runs {
            let ms = median(&mut times);
            let saved = trainer.model().saved_activation_bytes();
            let bytes = |role| -> AnyResult<u64> {
                let t = trainer.model().read_tensors(ctx, role)?;
                Ok(t.iter().map(|t| t.data.len() as u64 * 4).sum())
            };
            let (weights, optimizer) =
                (bytes(TensorRole::Parameter)?, bytes(TensorRole::Velocity)?);
            rows.push(StepRow {
                model: name,
                policy: label,
                ms_per_step: ms,
                ratio_to_fp32: fp32_ms / ms,
                dispatches_per_step: match label {
                    "ui8-kept" => trainer.dispatches_per_kept_step(),
                    _ => trainer.dispatches_per_step(),
                },
                submits_per_step: submits as f64 / (2 + rounds * (1 + per_round)) as f64,
                weight_bytes: weights,
                optimizer_bytes: optimizer,
                saved_activation_bytes: saved,
                saved_ratio_to_fp32: saved as f64 / fp32_saved as f64,
                other_bytes: held.saturating_sub(weights + optimizer + saved),
            });
            if args.profile && *name == "lenet5" {
                let (x, y) = data.batch(0, batch);
                let mut trainer = trainer;
                print_profile(label, &trainer.profile_step(x, y)?);
            }
        }
    }
    Ok(rows)
}

fn print_profile(policy: &str, timings: &[octet::train::DispatchTiming]) {
    let total: f64 = timings.iter().map(|t| t.seconds).sum();
    let mut by_kernel: Vec<(&str, f64, usize)> = Vec::new();
    for t in timings {
        match by_kernel.iter_mut().find(|(k, _, _)| *k == t.kernel) {
            Some(e) => {
                e.1 += t.seconds;
                e.2 += 1;
            }
            None => by_kernel.push((t.kernel, t.seconds, 1)),
        }
    }
    by_kernel.sort_by(|a, b| b.1.total_cmp(&a.1));
    println!(
        "\nlenet5 {policy}: {:.1} ms in {} dispatches, one submit each",
        total * 1e3,
        timings.len()
    );
    for (kernel, secs, n) in by_kernel {
        println!(
            "  {kernel:<26} {:>8.2} ms {:>5.1}%  ({n} dispatches)",
            secs * 1e3,
            100.0 * secs / total
        );
    }
}
