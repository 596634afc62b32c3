//! octet's example trainer: trains a zoo model under an FP32 or INT8 policy on IDX (MNIST,
//! Fashion-MNIST) or CIFAR-10 data — by default LeNet-5 with DAI8 on the Fashion-MNIST subset
//! embedded in the repository — with a progress bar, checkpoints, a JSON report and a plot.
//!
//! ```text
//! cargo run --release --example train                       # LeNet-5, DAI8, embedded data
//! cargo run --release --example train -- --compare --report r.json --plot r.png
//! cargo run --release --example train -- --data /usr/share/datasets/fashion-mnist --epochs 5
//! cargo run --release --example train -- --resume runs/last.safetensors
//! cargo run --release --example train -- --eval runs/last.safetensors
//! ```

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use clap::{Parser, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use octet::checkpoint::Checkpoint;
use octet::data::{Dataset, Splits, load_dir, permutation};
use octet::nn::{LayerQuantState, ModelSpec};
use octet::quant::Policy;
use octet::train::{LrSchedule, NonFinitePolicy, TrainConfig, Trainer};
use serde::Serialize;

/// The embedded default data set.
const EMBEDDED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/fashion-mnist");

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
enum Model {
    /// 784-256-256-10 perceptron (any input, flattened).
    Mlp,
    /// LeNet-5: two 5×5 convolutions with max-pooling, then 120-84-10.
    Lenet5,
    /// A small ResNet: 3 basic blocks (16, 32, 64 channels) with batch norm.
    Resnet,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
enum Quant {
    /// Everything in FP32: the baseline.
    Fp32,
    /// Max-abs per tensor, nearest rounding, no gradient clipping.
    Naive,
    /// Unified INT8 training (direction-sensitive clipping, DCLRS, stochastic rounding).
    Ui8,
    /// Distribution-adaptive INT8 (per-channel dY for dW, magnitude-aware clipping).
    Dai8,
}

impl Quant {
    fn name(self) -> &'static str {
        match self {
            Quant::Fp32 => "fp32",
            Quant::Naive => "naive",
            Quant::Ui8 => "ui8",
            Quant::Dai8 => "dai8",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum OnNonFinite {
    /// Stop with an error.
    Stop,
    /// Skip the step and halve the learning rate.
    Skip,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Schedule {
    /// The same learning rate throughout.
    Constant,
    /// Multiplied by 0.1 at 50% and 75% of the steps.
    Step,
    /// Cosine decay to zero over the run.
    Cosine,
}

#[derive(Parser, Debug)]
#[command(
    about = "Train a network with INT8 GEMMs on wgpu (octet's example trainer)",
    long_about = "Trains a zoo model under an FP32 or INT8 policy. With no arguments: LeNet-5 \
                  with DAI8 on the Fashion-MNIST subset embedded in the repository (10,000 \
                  training and 2,000 test images), two epochs."
)]
struct Args {
    /// Model from the zoo.
    #[arg(long, value_enum, default_value = "lenet5")]
    model: Model,
    /// Quantization policy.
    #[arg(long, value_enum, default_value = "dai8")]
    quant: Quant,
    /// Passes over the training split.
    #[arg(long, default_value_t = 2)]
    epochs: u32,
    /// Images per step (a last partial batch of each epoch is skipped).
    #[arg(long, default_value_t = 32)]
    batch_size: u32,
    /// Peak learning rate.
    #[arg(long, default_value_t = 0.04)]
    lr: f32,
    /// SGD momentum.
    #[arg(long, default_value_t = 0.9)]
    momentum: f32,
    /// L2 weight decay.
    #[arg(long, default_value_t = 5e-4)]
    weight_decay: f32,
    /// Nesterov momentum.
    #[arg(long)]
    nesterov: bool,
    /// Learning-rate schedule over the whole run.
    #[arg(long, value_enum, default_value = "cosine")]
    schedule: Schedule,
    /// Steps of linear learning-rate warm-up.
    #[arg(long, default_value_t = 50)]
    warmup_steps: u64,
    /// Seed of the weights, the data order and stochastic rounding.
    #[arg(long, default_value_t = 1)]
    seed: u32,
    /// Quantize the first and last layers too (by default they stay FP32).
    #[arg(long)]
    quantize_first_last: bool,
    /// When a step's loss or gradients hold NaN/Inf (its update is skipped either way): stop
    /// with an error naming the step and layer, or skip it and halve the learning rate.
    #[arg(long, value_enum, default_value = "stop")]
    on_nonfinite: OnNonFinite,
    /// Directory with IDX files (train-images-idx3-ubyte[.gz], …) or CIFAR-10 binary batches
    /// [default: the embedded Fashion-MNIST subset].
    #[arg(long)]
    data: Option<PathBuf>,
    /// Hold out this many training images as a validation split, reported each epoch.
    #[arg(long, default_value_t = 0)]
    val: usize,
    /// Use only the first N training images.
    #[arg(long)]
    train_limit: Option<usize>,
    /// GPU backend: vulkan, metal, dx12 or gl [default: the best adapter present].
    #[arg(long)]
    backend: Option<String>,
    /// Write `last.safetensors` here at every epoch end and on Ctrl-C.
    #[arg(long)]
    checkpoint_dir: Option<PathBuf>,
    /// Continue the run saved in this checkpoint (same options as the run that wrote it).
    #[arg(long)]
    resume: Option<PathBuf>,
    /// Only evaluate this checkpoint on the test split.
    #[arg(long, conflicts_with_all = ["resume", "compare"])]
    eval: Option<PathBuf>,
    /// Write a JSON report here.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Plot loss and accuracy curves here (.png or .svg).
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Train FP32, naive, UI8 and DAI8 back to back with the same seed and print one table.
    #[arg(long, conflicts_with = "resume")]
    compare: bool,
}

/// One epoch's figures.
#[derive(Clone, Debug, Serialize)]
struct EpochRecord {
    epoch: u32,
    train_loss: f32,
    train_accuracy: f32,
    test_loss: f32,
    test_accuracy: f32,
    val_accuracy: Option<f32>,
    seconds: f64,
}

/// A layer's quantization state, briefly.
#[derive(Clone, Debug, Serialize)]
struct LayerReport {
    layer: usize,
    quantized: bool,
    clip_x: f32,
    clip_w: f32,
    clip_dy: f32,
    cosine_distance: f32,
    phi: f32,
    gaussian_channels: u32,
    inverted_t_channels: u32,
}

impl From<&LayerQuantState> for LayerReport {
    fn from(s: &LayerQuantState) -> Self {
        LayerReport {
            layer: s.layer,
            quantized: s.quantized,
            clip_x: s.clip_x,
            clip_w: s.clip_w,
            clip_dy: s.dy.tensor_clip,
            cosine_distance: s.dy.distance,
            phi: s.dy.phi,
            gaussian_channels: s.dy.gaussian,
            inverted_t_channels: s.dy.inverted_t,
        }
    }
}

/// Everything one run reports.
#[derive(Clone, Debug, Serialize)]
struct RunReport {
    octet_version: &'static str,
    backend: String,
    adapter: String,
    driver: String,
    model: Model,
    quant: &'static str,
    dataset: String,
    train_size: usize,
    val_size: usize,
    test_size: usize,
    epochs: u32,
    batch_size: u32,
    lr: f32,
    seed: u32,
    quantize_first_last: bool,
    per_epoch: Vec<EpochRecord>,
    /// Mean training loss of each step, for the plot.
    step_losses: Vec<f32>,
    final_test_accuracy: f32,
    wall_seconds: f64,
    images_per_second: f64,
    dispatches_per_step: usize,
    quant_state: Vec<LayerReport>,
    interrupted: bool,
}

fn main() -> ExitCode {
    env_logger::init();
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

type AnyResult<T> = Result<T, Box<dyn std::error::Error>>;

fn run(args: &Args) -> AnyResult<()> {
    // Check what can be checked before minutes of work.
    for path in [&args.report, &args.plot].into_iter().flatten() {
        check_writable(path)?;
    }
    if let Some(plot) = &args.plot {
        plot_format(plot)?;
    }
    let ctx = match &args.backend {
        Some(name) => octet::Context::with_backends(octet::gpu::parse_backends(name)?, None)?,
        None => octet::Context::new_default()?,
    };
    let info = ctx.adapter_info().cloned();
    let (backend, adapter, driver) = match &info {
        Some(i) => (
            format!("{:?}", i.backend),
            i.name.clone(),
            format!("{} {}", i.driver, i.driver_info),
        ),
        None => ("host".into(), "host device".into(), String::new()),
    };
    let data_dir = args.data.clone().unwrap_or_else(|| PathBuf::from(EMBEDDED));
    let data = load(args, &data_dir)?;
    eprintln!(
        "octet {} on {adapter} ({backend}, {driver}); data {}: {} train, {} val, {} test, {}x{}x{}",
        env!("CARGO_PKG_VERSION"),
        data_dir.display(),
        data.train.len(),
        data.val.as_ref().map_or(0, Dataset::len),
        data.test.len(),
        data.train.shape[0],
        data.train.shape[1],
        data.train.shape[2],
    );
    if let Some(path) = &args.eval {
        return evaluate_checkpoint(&ctx, path, &data);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            // A second Ctrl-C: the user really wants out.
            std::process::exit(130);
        }
        eprintln!(
            "\ninterrupted: finishing this step and saving a checkpoint (Ctrl-C again to quit now)"
        );
    })?;
    let quants = if args.compare {
        vec![Quant::Fp32, Quant::Naive, Quant::Ui8, Quant::Dai8]
    } else {
        vec![args.quant]
    };
    let mut reports = Vec::new();
    for quant in quants {
        let mut report = train_one(args, &ctx, &data, quant, &stop)?;
        report.backend = backend.clone();
        report.adapter = adapter.clone();
        report.driver = driver.clone();
        report.dataset = data_dir.display().to_string();
        summarize(&report);
        let interrupted = report.interrupted;
        reports.push(report);
        if interrupted {
            break;
        }
    }
    if args.compare {
        print_table(&reports);
    }
    if let Some(path) = &args.report {
        let json = serde_json::to_vec_pretty(&serde_json::json!({ "runs": reports }))?;
        octet::checkpoint::write_atomically(path, &json)?;
        eprintln!("report: {}", path.display());
    }
    if let Some(path) = &args.plot {
        plot(path, &reports)?;
        eprintln!("plot: {}", path.display());
    }
    if reports.iter().any(|r| r.interrupted) {
        return Err("interrupted; continue with --resume <checkpoint-dir>/last.safetensors".into());
    }
    Ok(())
}

/// Training, validation and test splits, normalized with the training split's statistics.
struct Data {
    train: Dataset,
    val: Option<Dataset>,
    test: Dataset,
}

fn load(args: &Args, dir: &Path) -> AnyResult<Data> {
    let Splits {
        mut train,
        mut test,
    } = load_dir(dir)?;
    if let Some(n) = args.train_limit {
        train.truncate(n);
    }
    let mut val = (args.val > 0).then(|| train.split_off(args.val));
    let (mean, std) = train.channel_moments();
    for d in [Some(&mut train), val.as_mut(), Some(&mut test)]
        .into_iter()
        .flatten()
    {
        d.normalize(&mean, &std);
    }
    if train.len() < args.batch_size as usize {
        return Err(format!(
            "the training split has {} images, fewer than one batch of {}; lower --batch-size",
            train.len(),
            args.batch_size
        )
        .into());
    }
    Ok(Data { train, val, test })
}

fn spec(model: Model, [h, w, c]: [usize; 3], classes: u32) -> ModelSpec {
    let (h, w, c) = (h as u32, w as u32, c as u32);
    match model {
        Model::Mlp => ModelSpec {
            input: [h, w, c],
            ..ModelSpec::mlp(h * w * c, &[256, 256], classes)
        },
        Model::Lenet5 => ModelSpec::lenet5(h, w, c, classes),
        Model::Resnet => ModelSpec::resnet(h, w, c, classes),
    }
}

fn config(args: &Args, steps_per_epoch: u64) -> TrainConfig {
    let total = steps_per_epoch * args.epochs as u64;
    let after_warmup = total.saturating_sub(args.warmup_steps).max(1);
    TrainConfig {
        batch: args.batch_size,
        lr: args.lr,
        momentum: args.momentum,
        weight_decay: args.weight_decay,
        nesterov: args.nesterov,
        schedule: match args.schedule {
            Schedule::Constant => LrSchedule::Constant,
            Schedule::Step => LrSchedule::Step {
                every: after_warmup / 4,
                gamma: 0.1,
            },
            Schedule::Cosine => LrSchedule::Cosine {
                total: after_warmup,
            },
        },
        warmup_steps: args.warmup_steps,
        seed: args.seed,
        quantize_first_last: args.quantize_first_last,
        on_nonfinite: match args.on_nonfinite {
            OnNonFinite::Stop => NonFinitePolicy::Stop,
            OnNonFinite::Skip => NonFinitePolicy::SkipStep { lr_backoff: 0.5 },
        },
    }
}

fn policy(quant: Quant) -> Policy {
    Policy::from_name(quant.name()).expect("every Quant names a policy")
}

fn train_one(
    args: &Args,
    ctx: &octet::Context,
    data: &Data,
    quant: Quant,
    stop: &AtomicBool,
) -> AnyResult<RunReport> {
    let batch = args.batch_size as usize;
    let steps_per_epoch = (data.train.len() / batch) as u64;
    let spec = spec(args.model, data.train.shape, data.train.classes);
    let cfg = config(args, steps_per_epoch);
    let mut trainer = Trainer::new(ctx, &spec, policy(quant), cfg)?;
    let mut report = RunReport {
        octet_version: env!("CARGO_PKG_VERSION"),
        backend: String::new(),
        adapter: String::new(),
        driver: String::new(),
        model: args.model,
        quant: quant.name(),
        dataset: String::new(),
        train_size: data.train.len(),
        val_size: data.val.as_ref().map_or(0, Dataset::len),
        test_size: data.test.len(),
        epochs: args.epochs,
        batch_size: args.batch_size,
        lr: args.lr,
        seed: args.seed,
        quantize_first_last: args.quantize_first_last,
        per_epoch: Vec::new(),
        step_losses: Vec::new(),
        final_test_accuracy: 0.0,
        wall_seconds: 0.0,
        images_per_second: 0.0,
        dispatches_per_step: trainer.dispatches_per_step(),
        quant_state: Vec::new(),
        interrupted: false,
    };
    if let Some(path) = &args.resume {
        let ckpt = Checkpoint::load(path)?;
        trainer.restore(&ckpt).map_err(|e| {
            format!(
                "{}: {e} (resume with the options of the run that wrote it)",
                path.display()
            )
        })?;
        if let Some(previous) = ckpt.extra.get("report") {
            // Keep the curves of the epochs before the interruption.
            if let Ok(old) = serde_json::from_str::<serde_json::Value>(previous) {
                restore_history(&mut report, &old);
            }
        }
        eprintln!("resumed {} at step {}", path.display(), ckpt.step);
    }
    let started = Instant::now();
    let mut images = 0u64;
    let (mut xb, mut yb) = (Vec::new(), Vec::new());
    let first_epoch = (trainer.step() / steps_per_epoch) as u32;
    for epoch in first_epoch..args.epochs {
        let epoch_started = Instant::now();
        let order = permutation(data.train.len(), args.seed, epoch as u64);
        let bar = progress_bar(steps_per_epoch, epoch, args.epochs, quant);
        let skip = trainer.step() - epoch as u64 * steps_per_epoch;
        bar.set_position(skip);
        let (mut loss_sum, mut correct, mut rows, mut seen) = (0f64, 0u64, 0u64, 0u64);
        for s in skip..steps_per_epoch {
            if stop.load(Ordering::SeqCst) {
                report.interrupted = true;
                break;
            }
            let s = s as usize;
            data.train
                .gather(&order[s * batch..(s + 1) * batch], &mut xb, &mut yb);
            trainer.train_step(&xb, &yb)?;
            images += batch as u64;
            for m in trainer.poll_metrics(false)? {
                report.step_losses.push(m.loss);
                loss_sum += m.loss as f64;
                correct += m.correct as u64;
                rows += m.rows as u64;
                seen += 1;
            }
            let rate = images as f64 / started.elapsed().as_secs_f64();
            if seen > 0 {
                bar.set_message(format!(
                    "loss {:.3}  acc {:.1}%  {rate:.0} img/s",
                    loss_sum / seen as f64,
                    100.0 * correct as f64 / rows.max(1) as f64
                ));
            }
            bar.inc(1);
        }
        for m in trainer.poll_metrics(true)? {
            report.step_losses.push(m.loss);
            loss_sum += m.loss as f64;
            correct += m.correct as u64;
            rows += m.rows as u64;
            seen += 1;
        }
        bar.finish_and_clear();
        if report.interrupted {
            save(args, &mut trainer, &report, epoch)?;
            break;
        }
        let (test_loss, test_accuracy) = trainer.evaluate(&data.test.x, &data.test.y)?;
        let val_accuracy = match &data.val {
            Some(v) => Some(trainer.evaluate(&v.x, &v.y)?.1),
            None => None,
        };
        let record = EpochRecord {
            epoch: epoch + 1,
            train_loss: (loss_sum / seen.max(1) as f64) as f32,
            train_accuracy: correct as f32 / rows.max(1) as f32,
            test_loss,
            test_accuracy,
            val_accuracy,
            seconds: epoch_started.elapsed().as_secs_f64(),
        };
        eprintln!(
            "{} epoch {}/{}: train loss {:.4} acc {:.2}% | test loss {:.4} acc {:.2}%{} | {:.1} s",
            quant.name(),
            record.epoch,
            args.epochs,
            record.train_loss,
            100.0 * record.train_accuracy,
            record.test_loss,
            100.0 * record.test_accuracy,
            val_accuracy.map_or(String::new(), |v| format!(" | val acc {:.2}%", 100.0 * v)),
            record.seconds
        );
        report.per_epoch.push(record);
        save(args, &mut trainer, &report, epoch + 1)?;
    }
    report.wall_seconds = started.elapsed().as_secs_f64();
    report.images_per_second = images as f64 / report.wall_seconds.max(1e-9);
    report.final_test_accuracy = report.per_epoch.last().map_or(0.0, |e| e.test_accuracy);
    report.quant_state = trainer
        .quant_state()?
        .iter()
        .map(LayerReport::from)
        .collect();
    Ok(report)
}

/// Writes `last.safetensors` (with the report so far, for the curves of a resumed run).
fn save(args: &Args, trainer: &mut Trainer, report: &RunReport, epoch: u32) -> AnyResult<()> {
    let Some(dir) = &args.checkpoint_dir else {
        return Ok(());
    };
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut ckpt = trainer.checkpoint()?;
    ckpt.extra.extend([
        ("epoch".to_string(), epoch.to_string()),
        ("report".to_string(), serde_json::to_string(report)?),
    ]);
    let path = dir.join("last.safetensors");
    ckpt.save(&path)?;
    eprintln!("checkpoint: {} (step {})", path.display(), ckpt.step);
    Ok(())
}

fn restore_history(report: &mut RunReport, old: &serde_json::Value) {
    if let Some(losses) = old["step_losses"].as_array() {
        report.step_losses = losses
            .iter()
            .filter_map(|v| v.as_f64())
            .map(|v| v as f32)
            .collect();
    }
    if let Some(epochs) = old["per_epoch"].as_array() {
        for e in epochs {
            let f = |k: &str| e[k].as_f64().unwrap_or(0.0);
            report.per_epoch.push(EpochRecord {
                epoch: f("epoch") as u32,
                train_loss: f("train_loss") as f32,
                train_accuracy: f("train_accuracy") as f32,
                test_loss: f("test_loss") as f32,
                test_accuracy: f("test_accuracy") as f32,
                val_accuracy: e["val_accuracy"].as_f64().map(|v| v as f32),
                seconds: f("seconds"),
            });
        }
    }
}

fn evaluate_checkpoint(ctx: &octet::Context, path: &Path, data: &Data) -> AnyResult<()> {
    let ckpt = Checkpoint::load(path)?;
    if ckpt.model.input != data.test.shape.map(|d| d as u32) {
        return Err(format!(
            "{}: the model takes {:?} inputs, the data set has {:?}; pass the --data it was \
             trained on",
            path.display(),
            ckpt.model.input,
            data.test.shape
        )
        .into());
    }
    let mut trainer = Trainer::new(ctx, &ckpt.model, ckpt.policy.clone(), ckpt.config.clone())?;
    trainer.restore(&ckpt)?;
    let (loss, accuracy) = trainer.evaluate(&data.test.x, &data.test.y)?;
    println!(
        "{}: step {}, test loss {loss:.4}, test accuracy {:.2}% ({} images)",
        path.display(),
        ckpt.step,
        100.0 * accuracy,
        data.test.len()
    );
    Ok(())
}

fn progress_bar(steps: u64, epoch: u32, epochs: u32, quant: Quant) -> ProgressBar {
    let bar = ProgressBar::new(steps);
    let style =
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} steps  {msg}  ETA {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
    bar.set_style(style);
    bar.set_prefix(format!("{} epoch {}/{epochs}", quant.name(), epoch + 1));
    bar
}

fn summarize(r: &RunReport) {
    eprintln!(
        "{} {:?}: final test accuracy {:.2}% in {:.1} s ({:.0} images/s, {} dispatches per step)",
        r.quant,
        r.model,
        100.0 * r.final_test_accuracy,
        r.wall_seconds,
        r.images_per_second,
        r.dispatches_per_step
    );
    for l in r.quant_state.iter().filter(|l| l.quantized) {
        eprintln!(
            "  layer {:>2}: clip X {:.3}  W {:.3}  dY {:.2e}  cos dist {:.2e}  φ {:.3}  \
             classes {} Gaussian / {} inverted-T",
            l.layer,
            l.clip_x,
            l.clip_w,
            l.clip_dy,
            l.cosine_distance,
            l.phi,
            l.gaussian_channels,
            l.inverted_t_channels
        );
    }
}

fn print_table(reports: &[RunReport]) {
    let fp32 = reports
        .iter()
        .find(|r| r.quant == "fp32")
        .map(|r| r.final_test_accuracy);
    println!("\n| policy | test accuracy | gap to FP32 | wall time | images/s |");
    println!("|---|---|---|---|---|");
    for r in reports {
        let gap = fp32.map_or("–".into(), |f| {
            format!("{:+.2} pts", 100.0 * (r.final_test_accuracy - f))
        });
        println!(
            "| {} | {:.2}% | {gap} | {:.1} s | {:.0} |",
            r.quant,
            100.0 * r.final_test_accuracy,
            r.wall_seconds,
            r.images_per_second
        );
    }
}

fn check_writable(path: &Path) -> AnyResult<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return Err(format!(
            "{}: the directory {} does not exist",
            path.display(),
            dir.display()
        )
        .into());
    }
    Ok(())
}

#[derive(Clone, Copy)]
enum PlotFormat {
    Png,
    Svg,
}

fn plot_format(path: &Path) -> AnyResult<PlotFormat> {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
    {
        Some(e) if e == "png" => Ok(PlotFormat::Png),
        Some(e) if e == "svg" => Ok(PlotFormat::Svg),
        _ => Err(format!("{}: --plot needs a .png or .svg file name", path.display()).into()),
    }
}

fn plot(path: &Path, reports: &[RunReport]) -> AnyResult<()> {
    use plotters::prelude::*;
    let size = (1200, 480);
    match plot_format(path)? {
        PlotFormat::Png => {
            plotters::style::register_font(
                "sans-serif",
                FontStyle::Normal,
                include_bytes!("assets/DejaVuSans.ttf"),
            )
            .map_err(|_| "the embedded font is unreadable")?;
            let root = BitMapBackend::new(path, size).into_drawing_area();
            draw(&root, reports)?;
            root.present()?;
        }
        PlotFormat::Svg => {
            let root = SVGBackend::new(path, size).into_drawing_area();
            draw(&root, reports)?;
            root.present()?;
        }
    }
    Ok(())
}

fn draw<DB: plotters::prelude::DrawingBackend>(
    root: &plotters::prelude::DrawingArea<DB, plotters::coord::Shift>,
    reports: &[RunReport],
) -> AnyResult<()>
where
    DB::ErrorType: 'static,
{
    use plotters::prelude::*;
    root.fill(&WHITE)?;
    let (left, right) = root.split_horizontally(600);
    let colors = [BLACK, RED, BLUE, GREEN];
    // Training loss per step, smoothed over 20 steps.
    let steps = reports
        .iter()
        .map(|r| r.step_losses.len())
        .max()
        .unwrap_or(1)
        .max(2);
    let top = reports
        .iter()
        .flat_map(|r| r.step_losses.iter().copied())
        .filter(|v| v.is_finite())
        .fold(0.1f32, f32::max);
    let mut chart = ChartBuilder::on(&left)
        .caption("training loss (20-step mean)", ("sans-serif", 20))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(50)
        .build_cartesian_2d(0..steps, 0f32..top)?;
    chart
        .configure_mesh()
        .x_desc("step")
        .y_desc("loss")
        .draw()?;
    for (r, color) in reports.iter().zip(colors.iter().cycle()) {
        let smooth = r
            .step_losses
            .windows(20.min(r.step_losses.len().max(1)))
            .enumerate()
            .map(|(i, w)| (i + w.len(), w.iter().sum::<f32>() / w.len() as f32));
        chart
            .draw_series(LineSeries::new(smooth, color))?
            .label(r.quant)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerLeft)
        .border_style(BLACK)
        .background_style(WHITE)
        .draw()?;
    // Test accuracy per epoch, zoomed to the measured range.
    let epochs = reports
        .iter()
        .map(|r| r.per_epoch.len())
        .max()
        .unwrap_or(1)
        .max(2) as u32;
    let lowest = reports
        .iter()
        .flat_map(|r| r.per_epoch.iter().map(|e| 100.0 * e.test_accuracy))
        .fold(100f32, f32::min);
    let floor = ((lowest - 5.0) / 5.0).floor().max(0.0) * 5.0;
    let mut chart = ChartBuilder::on(&right)
        .caption("test accuracy", ("sans-serif", 20))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(50)
        .build_cartesian_2d(1..epochs, floor..100f32)?;
    chart.configure_mesh().x_desc("epoch").y_desc("%").draw()?;
    for (r, color) in reports.iter().zip(colors.iter().cycle()) {
        let points: Vec<(u32, f32)> = r
            .per_epoch
            .iter()
            .map(|e| (e.epoch, 100.0 * e.test_accuracy))
            .collect();
        chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))?
            .label(r.quant)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerLeft)
        .border_style(BLACK)
        .background_style(WHITE)
        .draw()?;
    Ok(())
}
