//! Training-step times under one protocol, the same as the Burn peer's: the training set on the
//! device (batches gathered there, [`Trainer::train_steps`]), each submit synchronised (its
//! metrics waited for) and timed alone, 5 warm-up steps, then at least 20 timed steps per
//! policy taken in rounds in which the policies take turns (a slow spell of a shared machine
//! then hits one round of every policy, not all of one), the median reported. With k steps per
//! submit a submit's time over k is one sample (at least 3 submits). SGD with momentum, no
//! weight decay.

use std::time::Instant;

use octet::data::Dataset;
use octet::nn::{ModelSpec, TensorRole};
use octet::quant::{Policy, Ui8};
use octet::rng::rng_u32;
use octet::train::{TrainConfig, Trainer};
use serde::Serialize;

use crate::AnyResult;

/// One model, policy and batch size.
#[derive(Serialize)]
pub struct StepRow {
    pub model: &'static str,
    pub policy: &'static str,
    pub batch: u32,
    /// Steps recorded into one submit.
    pub steps_per_submit: u32,
    /// Median of the timed steps.
    pub ms_per_step: f64,
    /// FP32's median divided by this one's (above 1: faster).
    pub ratio_to_fp32: f64,
    pub dispatches_per_step: usize,
    pub submits_per_step: f64,
    pub weight_bytes: u64,
    pub optimizer_bytes: u64,
    pub saved_activation_bytes: u64,
    /// This policy's saved activations divided by FP32's.
    pub saved_ratio_to_fp32: f64,
    pub other_bytes: u64,
}

/// What to time.
pub struct Plan<'a> {
    pub models: &'a [String],
    pub policies: &'a [String],
    pub batches: &'a [u32],
    /// Steps per submit to time each policy with.
    pub submits: &'a [u32],
    pub warm: usize,
    pub timed: usize,
    pub rounds: usize,
    pub profile: bool,
    /// With `profile`, also list every dispatch in order.
    pub dispatches: bool,
}

/// The models the bench knows, by name.
pub fn model(name: &str) -> AnyResult<(&'static str, ModelSpec)> {
    Ok(match name {
        "mlp" => ("mlp", ModelSpec::mlp(784, &[256, 256], 10)),
        "lenet5" => ("lenet5", ModelSpec::lenet5(28, 28, 1, 10)),
        "resnet" => ("resnet", ModelSpec::resnet(28, 28, 1, 10)),
        "mobilenetv2" => ("mobilenetv2", ModelSpec::mobilenetv2(28, 28, 1, 10)),
        other => {
            let known = "mlp, lenet5, resnet or mobilenetv2";
            return Err(format!("unknown model {other}: {known}").into());
        }
    })
}

/// The policies the bench knows, by name, with whether the first and last layers are int8 too.
/// "ui8" times steps that refresh clips (UI8's first 200), "ui8-kept" the steps between
/// refreshes after that; "dai8-all" quantizes the first and last layers as well.
pub fn policy(name: &str) -> AnyResult<(&'static str, Policy, bool)> {
    Ok(match name {
        "fp32" => ("fp32", Policy::Fp32, false),
        "naive" => ("naive", Policy::NaiveInt8, false),
        "ui8" => ("ui8", Policy::ui8(), false),
        "ui8-kept" => {
            let kept = Ui8 {
                warmup: 0,
                ..Ui8::default()
            };
            ("ui8-kept", Policy::Ui8(kept), false)
        }
        "dai8" => ("dai8", Policy::dai8(), false),
        "dai8-all" => ("dai8-all", Policy::dai8(), true),
        other => {
            return Err(format!(
                "unknown policy {other}: fp32, naive, ui8, ui8-kept, dai8 or dai8-all"
            )
            .into());
        }
    })
}

struct Run {
    label: &'static str,
    /// Steps per submit.
    k: usize,
    trainer: Trainer,
    held: u64,
    times: Vec<f64>,
    submits: u64,
}

pub fn rows(ctx: &octet::Context, plan: &Plan<'_>) -> AnyResult<Vec<StepRow>> {
    let mut rows = Vec::new();
    for model_name in plan.models {
        let (name, spec) = model(model_name)?;
        for &batch in plan.batches {
            let data = byte_images(batch as usize * 4, spec.input);
            let mut runs = Vec::new();
            for p in plan.policies {
                for &k in plan.submits {
                    let (label, policy, first_last) = policy(p)?;
                    let cfg = TrainConfig {
                        batch,
                        weight_decay: 0.0,
                        quantize_first_last: first_last,
                        ..Default::default()
                    };
                    let before = ctx.storage_bytes();
                    let mut trainer = Trainer::new(ctx, &spec, policy, cfg)?;
                    let held = ctx.storage_bytes() - before;
                    trainer.upload_training_set(&data)?;
                    let mut run = Run {
                        label,
                        k: k as usize,
                        trainer,
                        held,
                        times: Vec::new(),
                        submits: 0,
                    };
                    for _ in 0..plan.warm.div_ceil(run.k) {
                        submit(&mut run)?;
                    }
                    run.times.clear();
                    runs.push(run);
                }
            }
            for _round in 0..plan.rounds {
                for run in &mut runs {
                    let per_round = plan.timed.div_ceil(plan.rounds * run.k).max(1);
                    let submits = ctx.submit_count();
                    for _ in 0..per_round {
                        submit(run)?;
                    }
                    run.submits += ctx.submit_count() - submits;
                }
            }
            let fp32 = |k| runs.iter().find(|r| r.label == "fp32" && r.k == k);
            let fp32_ms: Vec<_> = runs
                .iter()
                .map(|r| fp32(r.k).map(|f| median(&f.times)))
                .collect();
            let fp32_saved: Vec<_> = runs
                .iter()
                .map(|r| fp32(r.k).map(|f| f.trainer.model().saved_activation_bytes()))
                .collect();
            for (i, run) in runs.iter_mut().enumerate() {
                let (fp32_ms, fp32_saved) = (fp32_ms[i], fp32_saved[i]);
                let ms = median(&run.times);
                let saved = run.trainer.model().saved_activation_bytes();
                let bytes = |role| -> AnyResult<u64> {
                    let t = run.trainer.model().read_tensors(ctx, role)?;
                    Ok(t.iter().map(|t| t.data.len() as u64 * 4).sum())
                };
                let (weights, optimizer) =
                    (bytes(TensorRole::Parameter)?, bytes(TensorRole::Velocity)?);
                rows.push(StepRow {
                    model: name,
                    policy: run.label,
                    batch,
                    steps_per_submit: run.k as u32,
                    ms_per_step: ms,
                    ratio_to_fp32: fp32_ms.map_or(f64::NAN, |f| f / ms),
                    // The step's own and its batch gather.
                    dispatches_per_step: 1 + match run.label {
                        "ui8-kept" => run.trainer.dispatches_per_kept_step(),
                        _ => run.trainer.dispatches_per_step(),
                    },
                    submits_per_step: run.submits as f64 / (run.times.len() * run.k) as f64,
                    weight_bytes: weights,
                    optimizer_bytes: optimizer,
                    saved_activation_bytes: saved,
                    saved_ratio_to_fp32: fp32_saved.map_or(f64::NAN, |f| saved as f64 / f as f64),
                    other_bytes: run.held.saturating_sub(weights + optimizer + saved),
                });
                // Progress, and the figures so far should a long run be cut off.
                eprintln!(
                    "step {name} {} batch {batch} k {}: {ms:.3} ms",
                    run.label, run.k
                );
                if plan.profile && run.k == plan.submits[0] as usize {
                    let (x, y) = data.batch(0, batch as usize);
                    let timing = wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES;
                    let gpu = ctx.device().features().contains(timing);
                    let timings = run.trainer.profile_step(x, y)?;
                    print_profile(name, run.label, gpu, &timings, plan.dispatches);
                }
            }
        }
    }
    Ok(rows)
}

/// One submit of the run's steps, waited for, its time per step recorded.
fn submit(run: &mut Run) -> AnyResult<()> {
    let started = Instant::now();
    run.trainer.train_steps(run.k)?;
    run.trainer.poll_metrics(true)?;
    run.times
        .push(started.elapsed().as_secs_f64() * 1e3 / run.k as f64);
    Ok(())
}

/// `rows` random 8-bit images shaped `input`, normalized, with random labels: what a step
/// costs does not depend on what the images show.
fn byte_images(rows: usize, input: [u32; 3]) -> Dataset {
    let shape = input.map(|d| d as usize);
    let bytes = (0..rows * shape.iter().product::<usize>())
        .map(|i| rng_u32(1, i as u32) as u8)
        .collect();
    let labels = (0..rows as u32).map(|i| rng_u32(2, i) % 10).collect();
    let mut set = Dataset::from_bytes(shape, 10, bytes, labels);
    let (mean, std) = set.channel_moments();
    set.normalize(&mean, &std);
    set
}

fn median(times: &[f64]) -> f64 {
    let mut t = times.to_vec();
    t.sort_by(f64::total_cmp);
    t.get(t.len() / 2).copied().unwrap_or(f64::NAN)
}

pub fn print(rows: &[StepRow]) {
    println!(
        "\n{:<8} {:<8} {:>5} {:>3} {:>9} {:>8} {:>10} {:>8} {:>10} {:>10} {:>12} {:>8} {:>10}",
        "model",
        "policy",
        "batch",
        "k",
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
    for s in rows {
        let mb = |b: u64| format!("{:.2} MB", b as f64 / 1e6);
        println!(
            "{:<8} {:<8} {:>5} {:>3} {:>9.2} {:>7.2}x {:>10} {:>8.2} {:>10} {:>10} {:>12} {:>7.2}x {:>10}",
            s.model,
            s.policy,
            s.batch,
            s.steps_per_submit,
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
        "\nk: steps per submit. ms/step: the median of the timed submits' time per step, each \
         submit waited for alone. vs fp32: FP32's step time (same k) divided by this policy's \
         (above 1: faster). Saved acts: what the forward keeps for \
         the backward; its vs fp32: divided by FP32's (below 1: lighter). Other: activations, \
         gradients, quantized copies and scratch."
    );
}

fn print_profile(
    model: &str,
    policy: &str,
    gpu_timestamps: bool,
    timings: &[octet::train::DispatchTiming],
    dispatches: bool,
) {
    let total: f64 = timings.iter().map(|t| t.seconds).sum();
    if dispatches {
        println!("\n{model} {policy}, dispatch by dispatch (kernel, workgroups, ms):");
        for t in timings {
            println!("  {:<28} {:?} {:>8.3}", t.kernel, t.grid, t.seconds * 1e3);
        }
    }
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
    let how = if gpu_timestamps {
        "GPU timestamps around each dispatch of one pass"
    } else {
        "one submit each, timed on the CPU"
    };
    println!(
        "\n{model} {policy}: {:.1} ms in {} dispatches ({how})",
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
