//! Training: the step schedule, the optimizer settings, learning-rate schedules and metrics.
//!
//! One [`Trainer::train_step`] uploads the batch (`queue.write_buffer`), records nothing new —
//! the step's recording (forward, loss, backward, SGD) was prepared once when the trainer was
//! built — updates the few parameters that change per step (learning rate, stochastic-rounding
//! seeds), encodes it and submits it: **one submit per step, no GPU allocation after the first
//! step**. Loss and accuracy are copied into a ring of mapped staging buffers and collected
//! later with [`Trainer::poll_metrics`], so the CPU never waits for the GPU in the loop.

mod checked;

use std::sync::mpsc;

use crate::cpu::common::hash_u32;
use crate::error::{Error, Result};
use crate::gpu::{Context, Prepared, Recording};
use crate::nn::{Model, ModelSpec};
use crate::ops::SgdStep;
use crate::ops::quantize::QuantizeParams;
use crate::ops::sgd::SgdParams;
use crate::quant::Policy;

pub use checked::DispatchCheck;

use crate::checkpoint::Checkpoint;
use crate::nn::TensorRole;

/// The tensor roles a checkpoint holds (gradients are recomputed every step).
const CHECKPOINTED: [TensorRole; 4] = [
    TensorRole::Parameter,
    TensorRole::Velocity,
    TensorRole::RunningStat,
    TensorRole::QuantState,
];

/// Learning rate over steps.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum LrSchedule {
    /// The base rate throughout.
    Constant,
    /// Multiply by `gamma` every `every` steps.
    Step {
        /// Steps between decays.
        every: u64,
        /// Decay factor.
        gamma: f32,
    },
    /// Cosine decay from the base rate to 0 over `total` steps.
    Cosine {
        /// Steps of the whole run.
        total: u64,
    },
}

/// Optimizer and schedule settings.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrainConfig {
    /// Rows per step.
    pub batch: u32,
    /// Base learning rate.
    pub lr: f32,
    /// SGD momentum.
    pub momentum: f32,
    /// L2 weight decay.
    pub weight_decay: f32,
    /// Nesterov momentum.
    pub nesterov: bool,
    /// Learning-rate schedule after warm-up.
    pub schedule: LrSchedule,
    /// Steps of linear warm-up from 0 to the base rate.
    pub warmup_steps: u64,
    /// Seed of the initial weights and of stochastic rounding.
    pub seed: u32,
    /// Quantize the first and last layers too (default: they stay FP32).
    pub quantize_first_last: bool,
    /// What a step whose loss or gradients hold NaN or Inf does (its update is skipped on the
    /// GPU either way).
    pub on_nonfinite: NonFinitePolicy,
}

/// What happens after a step produced a NaN or an infinity in its loss or in a gradient. The
/// GPU finds it within the step (before the optimizer runs) and skips that step's update, so
/// the weights stay those of the step before; the policy decides what comes next, when the
/// step's metrics arrive ([`Trainer::poll_metrics`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum NonFinitePolicy {
    /// Stop: [`Error::NonFinite`] names the step and the tensor.
    #[default]
    Stop,
    /// Go on, multiplying the learning rate by `lr_backoff` after each skipped step.
    SkipStep {
        /// Factor applied to the learning rate after a skipped step (e.g. 0.5).
        lr_backoff: f32,
    },
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            batch: 64,
            lr: 0.05,
            momentum: 0.9,
            weight_decay: 5e-4,
            nesterov: false,
            schedule: LrSchedule::Constant,
            warmup_steps: 0,
            seed: 1,
            quantize_first_last: false,
            on_nonfinite: NonFinitePolicy::Stop,
        }
    }
}

impl TrainConfig {
    /// The learning rate at `step`.
    pub fn lr_at(&self, step: u64) -> f32 {
        if step < self.warmup_steps {
            return self.lr * (step + 1) as f32 / self.warmup_steps as f32;
        }
        let t = step - self.warmup_steps;
        match self.schedule {
            LrSchedule::Constant => self.lr,
            LrSchedule::Step { every, gamma } => self.lr * gamma.powi((t / every.max(1)) as i32),
            LrSchedule::Cosine { total } => {
                let frac = (t as f32 / total.max(1) as f32).min(1.0);
                self.lr * 0.5 * (1.0 + (std::f32::consts::PI * frac).cos())
            }
        }
    }

    fn sgd_step(&self, lr: f32) -> SgdStep {
        SgdStep {
            lr,
            momentum: self.momentum,
            weight_decay: self.weight_decay,
            nesterov: self.nesterov,
        }
    }
}

/// How long one dispatch of a profiled step took (see [`Trainer::profile_step`]).
#[derive(Clone, Debug, PartialEq)]
pub struct DispatchTiming {
    /// The kernel.
    pub kernel: &'static str,
    /// Its workgroup grid.
    pub grid: [u32; 3],
    /// Wall time from submit to completion.
    pub seconds: f64,
}

/// Loss and accuracy of one training step, read back asynchronously.
#[derive(Clone, Debug, PartialEq)]
pub struct StepMetrics {
    /// Step number (0-based).
    pub step: u64,
    /// Mean loss over the batch.
    pub loss: f32,
    /// Rows whose prediction was right.
    pub correct: u32,
    /// The first tensor in which the step found NaN or Inf (`"loss"` or a layer name), whose
    /// update was therefore skipped; `None` for a healthy step.
    pub nonfinite: Option<String>,
    /// Rows in the batch.
    pub rows: u32,
}

/// One prepared step: its dispatches and the ones whose parameters change per step.
struct PreparedStep {
    /// What `dispatches` were prepared from, with the same parameters (for checked steps).
    recording: Recording,
    dispatches: Vec<Prepared>,
    seeded: Vec<usize>,
    /// The optimizer's dispatches, whose learning rate changes per step.
    updates: Vec<usize>,
}

impl PreparedStep {
    /// With `after`, the step shares its scratch (its steps never run at the same time).
    fn build(
        ctx: &Context,
        model: &Model,
        cfg: &TrainConfig,
        (refresh, train): (bool, bool),
        after: Option<&PreparedStep>,
    ) -> Result<Self> {
        let mut rec =
            after.map_or_else(Recording::new, |p| Recording::sharing_scratch(&p.recording));
        model.record_forward(ctx, &mut rec, refresh, train, true)?;
        model.record_loss(&mut rec)?;
        let (mut seeded, mut updates) = (Vec::new(), Vec::new());
        if train {
            seeded = model.record_backward(ctx, &mut rec, refresh, true)?;
            model.record_checks(&mut rec)?;
            updates = model.record_update(ctx, &mut rec, cfg.sgd_step(cfg.lr))?;
        }
        let dispatches = rec
            .dispatches
            .iter()
            .map(|d| ctx.prepare(d))
            .collect::<Result<Vec<_>>>()?;
        Ok(PreparedStep {
            recording: rec,
            dispatches,
            seeded,
            updates,
        })
    }

    fn set_params<P: bytemuck::Pod>(&mut self, queue: &wgpu::Queue, index: usize, params: &P) {
        self.dispatches[index].set_params(queue, params);
        self.recording.dispatches[index].params = bytemuck::bytes_of(params).to_vec();
    }
}

/// A submitted step whose metrics are being mapped: step, rows, map completion.
type InFlight = (
    u64,
    u32,
    mpsc::Receiver<std::result::Result<(), wgpu::BufferAsyncError>>,
);

struct MetricsSlot {
    buffer: wgpu::Buffer,
    pending: Option<InFlight>,
}

const METRIC_SLOTS: usize = 4;

/// Trains a [`Model`] under a [`Policy`].
pub struct Trainer {
    ctx: Context,
    model: Model,
    policy: Policy,
    cfg: TrainConfig,
    step: u64,
    refresh: PreparedStep,
    plain: Option<PreparedStep>,
    eval: PreparedStep,
    slots: Vec<MetricsSlot>,
    next_slot: usize,
    /// Metrics collected while making room in the ring, not yet handed out.
    ready: Vec<StepMetrics>,
    /// Learning-rate factor from skipped steps ([`NonFinitePolicy::SkipStep`]).
    lr_backoff: f32,
    /// Zeros for a fresh health record each step.
    zeros: Vec<u8>,
}

impl std::fmt::Debug for Trainer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trainer")
            .field("policy", &self.policy)
            .field("step", &self.step)
            .finish_non_exhaustive()
    }
}

impl Trainer {
    /// Builds the model and prepares its step once (compiling kernels on first use).
    pub fn new(ctx: &Context, spec: &ModelSpec, policy: Policy, cfg: TrainConfig) -> Result<Self> {
        ctx.check_device()?;
        let model = Model::new(
            ctx,
            spec,
            cfg.batch,
            &policy,
            cfg.quantize_first_last,
            cfg.seed,
        )?;
        // The refreshing step first: it has the largest partial results, which the others share.
        let refresh = PreparedStep::build(ctx, &model, &cfg, (true, true), None)?;
        // UI8 reuses its clips between refreshes; the other policies refresh every step.
        let plain = match policy {
            Policy::Ui8(_) => {
                let step = (false, true);
                Some(PreparedStep::build(
                    ctx,
                    &model,
                    &cfg,
                    step,
                    Some(&refresh),
                )?)
            }
            _ => None,
        };
        let eval = PreparedStep::build(ctx, &model, &cfg, (true, false), Some(&refresh))?;
        ctx.count_created(METRIC_SLOTS as u64);
        let slots = (0..METRIC_SLOTS)
            .map(|i| MetricsSlot {
                buffer: ctx.device().create_buffer(&wgpu::BufferDescriptor {
                    label: Some(&format!("octet.metrics{i}")),
                    size: cfg.batch as u64 * 8 + model.health_names.len() as u64 * 4,
                    usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                }),
                pending: None,
            })
            .collect();
        // Split-K scratch is allocated while the steps are prepared.
        ctx.check_allocations()?;
        let model_health_bytes = model.health_names.len() * 4;
        Ok(Trainer {
            ctx: ctx.clone(),
            model,
            policy,
            cfg,
            step: 0,
            refresh,
            plain,
            eval,
            slots,
            next_slot: 0,
            ready: Vec::new(),
            lr_backoff: 1.0,
            zeros: vec![0; model_health_bytes],
        })
    }

    /// The model.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Dispatches in one training step (a refresh step, for UI8; see
    /// [`Trainer::dispatches_per_kept_step`]).
    pub fn dispatches_per_step(&self) -> usize {
        self.refresh.dispatches.len()
    }

    /// Dispatches in a UI8 step between clip refreshes, which skips the statistics and clip
    /// search; for other policies the same as [`Trainer::dispatches_per_step`].
    pub fn dispatches_per_kept_step(&self) -> usize {
        self.plain
            .as_ref()
            .unwrap_or(&self.refresh)
            .dispatches
            .len()
    }

    /// Each weighted layer's quantization state (clips, cosine distance, φ, channel classes).
    /// Waits for the submitted steps; call it between epochs.
    pub fn quant_state(&self) -> Result<Vec<crate::nn::LayerQuantState>> {
        self.model.quant_state(&self.ctx)
    }

    /// Steps taken so far.
    pub fn step(&self) -> u64 {
        self.step
    }

    fn check_batch(&self, x: &[f32], y: &[u32]) -> Result<()> {
        let (b, f) = (
            self.cfg.batch as usize,
            self.model.spec().input_len() as usize,
        );
        if x.len() != b * f || y.len() != b {
            return Err(Error::invalid(
                "train_step",
                format!(
                    "expected {b} rows of {f} features and {b} labels, got {} values and {} labels",
                    x.len(),
                    y.len()
                ),
            ));
        }
        Ok(())
    }

    /// Runs one training step on a full batch (`batch × inputs` features, `batch` labels):
    /// one submit; its metrics arrive through [`Trainer::poll_metrics`].
    pub fn train_step(&mut self, x: &[f32], y: &[u32]) -> Result<()> {
        self.ctx.check_device()?;
        self.check_batch(x, y)?;
        let ctx = self.ctx.clone();
        let t = self.step;
        // Make room in the metrics ring first: its oldest slot may still be in flight.
        let slot = self.next_slot;
        if let Some(m) = self.collect_slot(slot, true)? {
            self.ready.push(m);
        }
        let prepared = self.begin_step(x, y);
        let mut encoder = ctx.encoder("train_step");
        Prepared::encode_all(&prepared.dispatches, &mut encoder);
        let rows = self.cfg.batch as u64 * 4;
        let staging = &self.slots[slot].buffer;
        encoder.copy_buffer_to_buffer(&self.model.row_loss, 0, staging, 0, rows);
        encoder.copy_buffer_to_buffer(&self.model.correct, 0, staging, rows, rows);
        let health = self.model.health_names.len() as u64 * 4;
        encoder.copy_buffer_to_buffer(&self.model.health, 0, staging, 2 * rows, health);
        ctx.submit(encoder)?;
        let (tx, rx) = mpsc::channel();
        staging.slice(..).map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        self.slots[slot].pending = Some((t, self.cfg.batch, rx));
        self.next_slot = (slot + 1) % METRIC_SLOTS;
        self.step += 1;
        Ok(())
    }

    /// The same step as [`Trainer::train_step`], but one submit per dispatch, each replayed on
    /// its CPU twin from the GPU's state just before it (see [`DispatchCheck`]). Slow: for
    /// tests and conformance runs. The step counts like any other; its metrics are not
    /// reported through [`Trainer::poll_metrics`].
    pub fn train_step_checked(&mut self, x: &[f32], y: &[u32]) -> Result<Vec<DispatchCheck>> {
        self.check_batch(x, y)?;
        self.poll_metrics(true).map(|m| self.ready.extend(m))?;
        let ctx = self.ctx.clone();
        let prepared = self.begin_step(x, y);
        let checks = checked::run(&ctx, &prepared.recording, &prepared.dispatches)?;
        self.step += 1;
        Ok(checks)
    }

    /// The same step as [`Trainer::train_step`], one submit per dispatch, each waited for and
    /// timed on the CPU: where a step's time goes, kernel by kernel (on a software driver the
    /// wall time of a dispatch is its cost; on a GPU it includes the submit latency). Slow.
    pub fn profile_step(&mut self, x: &[f32], y: &[u32]) -> Result<Vec<DispatchTiming>> {
        self.check_batch(x, y)?;
        self.poll_metrics(true).map(|m| self.ready.extend(m))?;
        let ctx = self.ctx.clone();
        let prepared = self.begin_step(x, y);
        ctx.wait_idle()?;
        let mut timings = Vec::new();
        for (d, p) in prepared
            .recording
            .dispatches
            .iter()
            .zip(&prepared.dispatches)
        {
            let started = std::time::Instant::now();
            let mut encoder = ctx.encoder("profile_step");
            p.encode(&mut encoder);
            ctx.submit(encoder)?;
            ctx.wait_idle()?;
            timings.push(DispatchTiming {
                kernel: d.def.name,
                grid: d.grid,
                seconds: started.elapsed().as_secs_f64(),
            });
        }
        self.step += 1;
        Ok(timings)
    }

    /// Uploads the batch and sets the step's learning rates and stochastic-rounding seeds;
    /// returns the step to encode.
    fn begin_step(&mut self, x: &[f32], y: &[u32]) -> &PreparedStep {
        let queue = self.ctx.queue();
        queue.write_buffer(&self.model.acts[0], 0, bytemuck::cast_slice(x));
        queue.write_buffer(&self.model.labels, 0, bytemuck::cast_slice(y));
        let t = self.step;
        let prepared = match &mut self.plain {
            Some(plain) if !self.policy.refreshes_at(t) => plain,
            _ => &mut self.refresh,
        };
        for n in 0..prepared.seeded.len() {
            let idx = prepared.seeded[n];
            let params = QuantizeParams {
                seed: hash_u32(self.cfg.seed ^ hash_u32(t as u32 ^ hash_u32(n as u32))),
                ..bytemuck::pod_read_unaligned(&prepared.recording.dispatches[idx].params)
            };
            prepared.set_params(queue, idx, &params);
        }
        let lr = self.cfg.lr_at(t) * self.lr_backoff;
        for n in 0..prepared.updates.len() {
            let idx = prepared.updates[n];
            let params = SgdParams {
                lr,
                ..bytemuck::pod_read_unaligned(&prepared.recording.dispatches[idx].params)
            };
            prepared.set_params(queue, idx, &params);
        }
        // A fresh health record for the step.
        queue.write_buffer(&self.model.health, 0, &self.zeros);
        prepared
    }

    /// The trainer's whole state, for [`Checkpoint::save`]: waits for submitted steps (their
    /// metrics stay queued for [`Trainer::poll_metrics`]) and reads every tensor back.
    pub fn checkpoint(&mut self) -> Result<Checkpoint> {
        let done = self.poll_metrics(true)?;
        self.ready.extend(done);
        let mut tensors = Vec::new();
        for role in CHECKPOINTED {
            let read = self.model.read_tensors(&self.ctx, role)?;
            tensors.extend(read.into_iter().map(|t| (role, t)));
        }
        crate::checkpoint::sort(&mut tensors);
        Ok(Checkpoint {
            model: self.model.spec().clone(),
            policy: self.policy.clone(),
            config: self.cfg.clone(),
            step: self.step,
            // The learning-rate factor left by skipped steps, so a resumed run keeps it.
            extra: [("lr_backoff".to_string(), self.lr_backoff.to_string())].into(),
            tensors,
        })
    }

    /// Continues from `checkpoint`, which must come from the same model, policy and
    /// configuration: the next step is the one the checkpointed run would have taken, with
    /// the same result on the same backend.
    pub fn restore(&mut self, checkpoint: &Checkpoint) -> Result<()> {
        let mismatch = |what: &str, theirs: String, ours: String| {
            Err(Error::invalid(
                "restore",
                format!("the checkpoint's {what} is {theirs}, this trainer's is {ours}"),
            ))
        };
        if checkpoint.model != *self.model.spec() {
            return mismatch(
                "model",
                format!("{:?}", checkpoint.model),
                format!("{:?}", self.model.spec()),
            );
        }
        if checkpoint.policy != self.policy {
            return mismatch(
                "policy",
                format!("{:?}", checkpoint.policy),
                format!("{:?}", self.policy),
            );
        }
        if checkpoint.config != self.cfg {
            return mismatch(
                "training configuration",
                format!("{:?}", checkpoint.config),
                format!("{:?}", self.cfg),
            );
        }
        self.poll_metrics(true)?;
        for role in CHECKPOINTED {
            let tensors = checkpoint.tensors_of(role);
            self.model.write_tensors(&self.ctx, role, &tensors)?;
        }
        self.step = checkpoint.step;
        self.lr_backoff = match checkpoint.extra.get("lr_backoff") {
            Some(v) => v.parse().map_err(|_| {
                Error::invalid("restore", format!("lr_backoff {v:?} is not a number"))
            })?,
            None => 1.0,
        };
        Ok(())
    }

    /// The training configuration.
    pub fn config(&self) -> &TrainConfig {
        &self.cfg
    }

    /// Metrics of finished steps, oldest first. With `wait`, blocks until every submitted step
    /// has finished.
    pub fn poll_metrics(&mut self, wait: bool) -> Result<Vec<StepMetrics>> {
        self.ctx.check_device()?;
        let poll = if wait {
            wgpu::PollType::wait_indefinitely()
        } else {
            wgpu::PollType::Poll
        };
        self.ctx.device().poll(poll)?;
        let mut out = std::mem::take(&mut self.ready);
        for k in 0..METRIC_SLOTS {
            let slot = (self.next_slot + k) % METRIC_SLOTS;
            if let Some(m) = self.collect_slot(slot, wait)? {
                out.push(m);
            }
        }
        Ok(out)
    }

    /// Reads slot `slot` if its map has completed (or, with `wait`, after waiting for it).
    fn collect_slot(&mut self, slot: usize, wait: bool) -> Result<Option<StepMetrics>> {
        let Some((step, rows, rx)) = &self.slots[slot].pending else {
            return Ok(None);
        };
        let result = if wait {
            self.ctx
                .device()
                .poll(wgpu::PollType::wait_indefinitely())?;
            rx.recv().map_err(|_| Error::Gpu {
                during: "metrics readback",
                message: "the map callback was dropped (device lost?)".into(),
            })?
        } else {
            match rx.try_recv() {
                Ok(r) => r,
                Err(_) => return Ok(None),
            }
        };
        result?;
        let (step, rows) = (*step, *rows);
        let buffer = &self.slots[slot].buffer;
        let metrics = {
            let view = buffer
                .slice(..)
                .get_mapped_range()
                .map_err(|e| Error::Gpu {
                    during: "metrics readback",
                    message: e.to_string(),
                })?;
            let words: Vec<u32> = bytemuck::pod_collect_to_vec(&view[..]);
            let n = rows as usize;
            let loss: f32 =
                words[..n].iter().map(|w| f32::from_bits(*w)).sum::<f32>() / rows as f32;
            let correct = words[n..2 * n].iter().sum();
            let health = &words[2 * n..];
            let bad = (health[0] > 0).then(|| {
                let k = (1..health.len()).find(|&k| health[k] > 0).unwrap_or(0);
                (self.model.health_names[k].clone(), health[k])
            });
            (
                StepMetrics {
                    step,
                    loss,
                    correct,
                    nonfinite: bad.as_ref().map(|(name, _)| name.clone()),
                    rows,
                },
                bad,
            )
        };
        buffer.unmap();
        self.slots[slot].pending = None;
        let (metrics, bad) = metrics;
        if let Some((tensor, count)) = bad {
            match self.cfg.on_nonfinite {
                NonFinitePolicy::Stop => {
                    let place = if tensor == "loss" {
                        "the loss".to_string()
                    } else {
                        format!("the gradients of {tensor}")
                    };
                    return Err(Error::NonFinite {
                        step: metrics.step,
                        tensor,
                        place,
                        count,
                    });
                }
                NonFinitePolicy::SkipStep { lr_backoff } => self.lr_backoff *= lr_backoff,
            }
        }
        Ok(Some(metrics))
    }

    /// Mean loss and accuracy over `x` (`n × inputs`) and `y` (`n` labels), in batches; the
    /// last partial batch is padded with rows that count for nothing. Blocks until done.
    pub fn evaluate(&mut self, x: &[f32], y: &[u32]) -> Result<(f32, f32)> {
        let (b, f) = (
            self.cfg.batch as usize,
            self.model.spec().input_len() as usize,
        );
        if x.len() != y.len() * f || y.is_empty() {
            return Err(Error::invalid(
                "evaluate",
                format!(
                    "{} labels need {} feature values, got {}",
                    y.len(),
                    y.len() * f,
                    x.len()
                ),
            ));
        }
        let (mut loss, mut correct) = (0f64, 0u64);
        let ctx = self.ctx.clone();
        for start in (0..y.len()).step_by(b) {
            let n = b.min(y.len() - start);
            let mut xb = x[start * f..(start + n) * f].to_vec();
            xb.resize(b * f, 0.0);
            let mut yb = y[start..start + n].to_vec();
            // Labels past the classes contribute nothing (see softmax_xent).
            yb.resize(b, u32::MAX);
            ctx.queue()
                .write_buffer(&self.model.acts[0], 0, bytemuck::cast_slice(&xb));
            ctx.queue()
                .write_buffer(&self.model.labels, 0, bytemuck::cast_slice(&yb));
            let mut encoder = ctx.encoder("evaluate");
            Prepared::encode_all(&self.eval.dispatches, &mut encoder);
            ctx.submit(encoder)?;
            let l: Vec<f32> = ctx.read_buffer(&self.model.row_loss)?;
            let c: Vec<u32> = ctx.read_buffer(&self.model.correct)?;
            loss += l[..n].iter().map(|v| *v as f64).sum::<f64>();
            correct += c[..n].iter().map(|v| *v as u64).sum::<u64>();
        }
        Ok((
            (loss / y.len() as f64) as f32,
            correct as f32 / y.len() as f32,
        ))
    }
}

/// Milliseconds per training step of `trainer` on consecutive batches of `data`: `warm` steps
/// first (kernels compile on first use), then `timed` steps, each group waited for. For the
/// benchmark and conformance reports.
pub fn time_steps(
    trainer: &mut Trainer,
    data: &crate::data::Dataset,
    warm: usize,
    timed: usize,
) -> Result<f64> {
    let batch = trainer.config().batch as usize;
    let mut run = |range: std::ops::Range<usize>| -> Result<()> {
        for s in range {
            let (x, y) = data.batch(s * batch, batch);
            trainer.train_step(x, y)?;
        }
        trainer.poll_metrics(true).map(|_| ())
    };
    run(0..warm)?;
    let started = std::time::Instant::now();
    run(warm..warm + timed)?;
    Ok(started.elapsed().as_secs_f64() * 1e3 / timed.max(1) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learning_rate_schedules() {
        let cfg = |schedule, warmup_steps| TrainConfig {
            lr: 0.1,
            schedule,
            warmup_steps,
            ..Default::default()
        };
        let c = cfg(LrSchedule::Constant, 4);
        let warm: Vec<f32> = (0..5).map(|t| c.lr_at(t)).collect();
        assert_eq!(warm, [0.025, 0.05, 0.075, 0.1, 0.1]);
        let s = cfg(
            LrSchedule::Step {
                every: 10,
                gamma: 0.5,
            },
            0,
        );
        assert_eq!([s.lr_at(9), s.lr_at(10), s.lr_at(25)], [0.1, 0.05, 0.025]);
        let k = cfg(LrSchedule::Cosine { total: 100 }, 0);
        assert_eq!(k.lr_at(0), 0.1);
        assert!((k.lr_at(50) - 0.05).abs() < 1e-6);
        assert!(k.lr_at(100).abs() < 1e-6 && k.lr_at(500).abs() < 1e-6);
    }
}
