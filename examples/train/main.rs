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
//! cargo run --release --example train -- --export runs/export     # for PyTorch and others
//! ```

mod args;
mod data;
mod dist;
mod inference;
mod plot;
mod report;

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use octet::checkpoint::Checkpoint;
use octet::data::{Augment, permutation};
use octet::train::{StepMetrics, Trainer};

use crate::args::{Args, Quant};
use crate::data::Data;
use crate::dist::World;
use crate::plot::PlotFormat;
use crate::report::{DeviceInfo, EpochRecord, LayerReport, RunReport};

type AnyResult<T> = Result<T, Box<dyn std::error::Error>>;

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

/// Everything but the exit code: `--eval`, or training each policy, then the outputs. A rank
/// of a distributed run that fails ends the whole job (MPI_Abort): the others may be waiting
/// for it in a collective, which MPI would not end for an error, only for a dead process.
fn run(args: &Args) -> AnyResult<()> {
    let world = dist::world(args)?;
    let result = run_in(args, world.as_ref());
    if let (Err(e), Some(w)) = (&result, &world) {
        eprintln!("error on rank {}: {e}", w.comm.rank());
        w.comm.abort(2);
    }
    result
}

/// [`run`] in `world`.
fn run_in(args: &Args, world: Option<&World>) -> AnyResult<()> {
    // Check what can be checked before minutes of work.
    for path in [&args.report, &args.plot].into_iter().flatten() {
        check_writable(path)?;
    }
    if let Some(plot) = &args.plot {
        PlotFormat::of(plot)?;
    }
    let ctx = match &args.backend {
        Some(name) => octet::Context::with_backends(octet::gpu::parse_backends(name)?, None)?,
        None => octet::Context::new_default()?,
    };
    let device = DeviceInfo::of(&ctx);
    let leads = World::leads(world);
    let data_dir = data::data_dir(args);
    let data = data::load(args, &data_dir)?;
    if let Some(w) = world {
        let ranks = w.comm.size() as u32;
        if !args.batch_size.is_multiple_of(ranks) {
            return Err(format!(
                "--batch-size {} does not split into {ranks} equal shards; pick a multiple of \
                 the ranks",
                args.batch_size
            )
            .into());
        }
        eprintln!(
            "rank {}/{ranks}: batch {} of {}, {} exchange",
            w.comm.rank(),
            args.batch_size / ranks,
            args.batch_size,
            w.exchange.name()
        );
    }
    if leads {
        eprintln!(
            "octet {} on {} ({}, {}); data {}: {} train, {} val, {} test, {}x{}x{}",
            env!("CARGO_PKG_VERSION"),
            device.adapter,
            device.backend,
            device.driver,
            data_dir.display(),
            data.train.len(),
            data.val_len(),
            data.test.len(),
            data.train.shape[0],
            data.train.shape[1],
            data.train.shape[2],
        );
    }
    if let Some(path) = &args.eval {
        return inference::evaluate(&ctx, path, &data, args.export.as_deref());
    }
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    // A distributed run's ranks cannot stop at one step without agreeing on it: there Ctrl-C
    // ends the job, and the last epoch's checkpoint is where to resume.
    if world.is_none() {
        ctrlc::set_handler(move || {
            if flag.swap(true, Ordering::SeqCst) {
                // A second Ctrl-C: the user really wants out.
                std::process::exit(130);
            }
            eprintln!(
                "\ninterrupted: finishing this step and saving a checkpoint (Ctrl-C again to quit now)"
            );
        })?;
    }
    let mut reports = Vec::new();
    // Seeds outermost, so that the policies take turns on a machine whose speed drifts.
    'runs: for seed in args.seed_list() {
        let args = &Args {
            seed,
            ..args.clone()
        };
        for quant in args.quants() {
            let mut report = train_one(args, &ctx, &data, quant, &stop, world)?;
            // Only now: the reports inside checkpoints leave the device and data set blank.
            report.set_origin(&device, &data_dir);
            if !leads {
                // Rank 0 reports for the run.
                return Ok(());
            }
            report::summarize(&report);
            let interrupted = report.interrupted;
            reports.push(report);
            if interrupted {
                break 'runs;
            }
        }
    }
    if args.several_runs() {
        report::print_table(&reports);
    }
    if let Some(path) = &args.report {
        report::write_json(path, &reports)?;
        eprintln!("report: {}", path.display());
    }
    if let Some(path) = &args.plot {
        plot::plot(path, &reports)?;
        eprintln!("plot: {}", path.display());
    }
    if reports.iter().any(|r| r.interrupted) {
        return Err("interrupted; continue with --resume <checkpoint-dir>/last.safetensors".into());
    }
    Ok(())
}

/// Fails when `path`'s directory is missing, so a long run does not end without its output.
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

/// The running sums of one epoch's step metrics.
#[derive(Default)]
struct EpochTally {
    loss_sum: f64,
    correct: u64,
    rows: u64,
    seen: u64,
}

impl EpochTally {
    /// The whole run's tally from every rank's: the mean of the ranks' step losses (equal
    /// shards), their correct rows and rows summed.
    fn combine(&mut self, comm: &dyn octet::dist::Collective) -> AnyResult<()> {
        let mine = [self.loss_sum, self.correct as f64, self.rows as f64];
        let mut all = [0f64; 3];
        comm.all_reduce_sum(&mine, &mut all)?;
        self.loss_sum = all[0] / comm.size() as f64;
        self.correct = all[1] as u64;
        self.rows = all[2] as u64;
        Ok(())
    }

    /// Counts `metrics` in, and keeps each step's loss for the curves.
    fn add(&mut self, metrics: Vec<StepMetrics>, step_losses: &mut Vec<f32>) {
        for m in metrics {
            step_losses.push(m.loss);
            self.loss_sum += m.loss as f64;
            self.correct += m.correct as u64;
            self.rows += m.rows as u64;
            self.seen += 1;
        }
    }
}

/// Trains one policy for the epochs left (all of them, unless resuming), saving a checkpoint
/// after each and on Ctrl-C.
fn train_one(
    args: &Args,
    ctx: &octet::Context,
    data: &Data,
    quant: Quant,
    stop: &AtomicBool,
    world: Option<&World>,
) -> AnyResult<RunReport> {
    // The global batch: each rank of a distributed run takes its shard of it.
    let batch = args.batch_size as usize;
    let (rank, ranks) = world.map_or((0, 1), |w| (w.comm.rank(), w.comm.size()));
    let leads = rank == 0;
    let shard = batch / ranks;
    let steps_per_epoch = (data.train.len() / batch) as u64;
    let spec = args.model.spec(data.train.shape, data.train.classes);
    let cfg = args.train_config(steps_per_epoch, ranks as u32, data.train.shape[1]);
    let mut trainer = Trainer::new(ctx, &spec, quant.policy(), cfg)?;
    if let Some(path) = &args.init {
        inference::init(ctx, &trainer, &spec, path)?;
    }
    let mut report = RunReport::new(args, data, quant, trainer.dispatches_per_step());
    if let Some(path) = &args.resume {
        let ckpt = Checkpoint::load(path)?;
        // Each rank's batch is the global one over the ranks: only as many ranks fit.
        let saved_ranks = ckpt.extra.get("ranks").map_or("1", String::as_str);
        if saved_ranks != ranks.to_string() {
            return Err(format!(
                "{}: written by a run of {saved_ranks} ranks; resume it with as many",
                path.display()
            )
            .into());
        }
        trainer.restore(&ckpt).map_err(|e| {
            format!(
                "{}: {e} (resume with the options of the run that wrote it)",
                path.display()
            )
        })?;
        if let Some(previous) = ckpt.extra.get("report") {
            // Keep the curves of the epochs before the interruption.
            if let Ok(old) = serde_json::from_str::<serde_json::Value>(previous) {
                report.restore_history(&old);
            }
        }
        if leads {
            eprintln!("resumed {} at step {}", path.display(), ckpt.step);
        }
    }
    if let Some(w) = world {
        trainer.broadcast_from_root(w.comm.as_ref())?;
        report.distributed = Some(report::DistReport::new(ranks, w.exchange));
    }
    // Sets loaded from 8-bit images live on a GPU; others, and the shards of a distributed
    // run (one step per submit, exchanged in between), are uploaded batch by batch. On a CPU
    // adapter an upload is a memcpy and a gather on the "device" an emulated one
    // (0.6 ms per MLP step on lavapipe): there the host gathers unless told otherwise.
    let cpu_adapter = ctx
        .adapter_info()
        .is_some_and(|a| a.device_type == wgpu::DeviceType::Cpu);
    let steps_per_submit = match args.steps_per_submit {
        Some(k) => Some(k as u64),
        None => (!cpu_adapter).then_some(16),
    };
    let on_device = data.train.pixels.is_some() && world.is_none() && steps_per_submit.is_some();
    let mut on_device = on_device;
    if on_device {
        match trainer.upload_training_set(&data.train) {
            Ok(()) => {}
            Err(e @ octet::Error::LimitExceeded { .. }) => {
                eprintln!("the training split stays on the host ({e})");
                on_device = false;
            }
            Err(e) => return Err(e.into()),
        }
    }
    let started = Instant::now();
    let mut images = 0u64;
    let (mut xb, mut yb) = (Vec::new(), Vec::new());
    let first_epoch = (trainer.step() / steps_per_epoch) as u32;
    for epoch in first_epoch..args.epochs {
        let epoch_started = Instant::now();
        let order = permutation(data.train.len(), args.seed, epoch as u64);
        let bar = progress_bar(steps_per_epoch, epoch, args.epochs, quant);
        if !leads {
            bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
        }
        let skip = trainer.step() - epoch as u64 * steps_per_epoch;
        bar.set_position(skip);
        let mut tally = EpochTally::default();
        let mut s = skip;
        // A distributed run's next shard, gathered during the step before.
        let (mut next, mut prefetched) = ((Vec::new(), Vec::new()), false);
        while s < steps_per_epoch {
            // Ranks stop together or not at all: mpiexec ends them all on Ctrl-C.
            if world.is_none() && stop.load(Ordering::SeqCst) {
                report.interrupted = true;
                break;
            }
            let k = if let Some(w) = world {
                let shard_of = |s: u64| {
                    let first = s as usize * batch + rank * shard;
                    &order[first..first + shard]
                };
                if prefetched {
                    std::mem::swap(&mut xb, &mut next.0);
                    std::mem::swap(&mut yb, &mut next.1);
                } else {
                    data.train.gather(shard_of(s), &mut xb, &mut yb);
                }
                let started = Instant::now();
                trainer.begin_step_exchanged(w.comm.as_ref(), &xb, &yb)?;
                // The next shard is gathered while the GPU runs this step's backward.
                prefetched = s + 1 < steps_per_epoch;
                if prefetched {
                    data.train.gather(shard_of(s + 1), &mut next.0, &mut next.1);
                }
                let cost = trainer.finish_step_exchanged(w.comm.as_ref(), w.exchange)?;
                if let Some(d) = &mut report.distributed {
                    d.add_step(cost, started.elapsed().as_secs_f64());
                }
                1
            } else if on_device {
                let k = steps_per_submit.unwrap_or(16).min(steps_per_epoch - s);
                trainer.train_steps(k as usize)?;
                k
            } else {
                let rows = &order[s as usize * batch..(s as usize + 1) * batch];
                data.train.gather(rows, &mut xb, &mut yb);
                if let Some(a) = &trainer.config().augment {
                    // The draws the device's gather would make for this step.
                    let (t, seed) = (trainer.step(), trainer.config().seed);
                    let keys: Vec<u32> = (0..batch as u32)
                        .map(|i| Augment::key(seed, t, i))
                        .collect();
                    data.train.augment_batch(&mut xb, a, &keys);
                }
                trainer.train_step(&xb, &yb)?;
                1
            };
            s += k;
            images += k * batch as u64;
            tally.add(trainer.poll_metrics(false)?, &mut report.step_losses);
            let rate = images as f64 / started.elapsed().as_secs_f64();
            if tally.seen > 0 {
                bar.set_message(format!(
                    "loss {:.3}  acc {:.1}%  {rate:.0} img/s",
                    tally.loss_sum / tally.seen as f64,
                    100.0 * tally.correct as f64 / tally.rows.max(1) as f64
                ));
            }
            bar.inc(k);
        }
        tally.add(trainer.poll_metrics(true)?, &mut report.step_losses);
        if let Some(w) = world {
            tally.combine(w.comm.as_ref())?;
        }
        bar.finish_and_clear();
        if report.interrupted {
            save(args, &mut trainer, data, &report, epoch, world)?;
            break;
        }
        let (test_loss, test_accuracy) = trainer.evaluate(&data.test.x, &data.test.y)?;
        let val_accuracy = match &data.val {
            Some(v) => Some(trainer.evaluate(&v.x, &v.y)?.1),
            None => None,
        };
        let record = EpochRecord {
            epoch: epoch + 1,
            train_loss: (tally.loss_sum / tally.seen.max(1) as f64) as f32,
            train_accuracy: tally.correct as f32 / tally.rows.max(1) as f32,
            test_loss,
            test_accuracy,
            val_accuracy,
            seconds: epoch_started.elapsed().as_secs_f64(),
            quant_state: trainer
                .quant_state()?
                .iter()
                .map(LayerReport::from)
                .collect(),
        };
        if leads {
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
        }
        report.per_epoch.push(record);
        save(args, &mut trainer, data, &report, epoch + 1, world)?;
    }
    // Rank 0 exports for a distributed run.
    if let (Some(dir), false, true) = (&args.export, report.interrupted, leads) {
        let dir = match (args.compare, args.seeds.len() > 1) {
            (_, true) => dir.join(format!("{}-seed{}", quant.name(), args.seed)),
            (true, false) => dir.join(quant.name()),
            (false, false) => dir.clone(),
        };
        inference::export(&trainer.checkpoint()?, data.normalization.clone(), &dir)?;
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

/// Writes `last.safetensors` (with the report so far, for the curves of a resumed run, and the
/// input normalization, for `--eval` and `--export`). Only rank 0 of a distributed run writes,
/// recording the ranks a resumed run must match.
fn save(
    args: &Args,
    trainer: &mut Trainer,
    data: &Data,
    report: &RunReport,
    epoch: u32,
    world: Option<&World>,
) -> AnyResult<()> {
    let Some(dir) = &args.checkpoint_dir else {
        return Ok(());
    };
    if !World::leads(world) {
        return Ok(());
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut ckpt = trainer.checkpoint()?;
    ckpt.extra.extend([
        ("epoch".to_string(), epoch.to_string()),
        ("report".to_string(), serde_json::to_string(report)?),
        (
            "ranks".to_string(),
            world.map_or(1, |w| w.comm.size()).to_string(),
        ),
        inference::normalization_entry(&data.normalization),
    ]);
    let path = dir.join("last.safetensors");
    ckpt.save(&path)?;
    eprintln!("checkpoint: {} (step {})", path.display(), ckpt.step);
    Ok(())
}

/// The bar of one epoch, named by its policy and epoch.
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
