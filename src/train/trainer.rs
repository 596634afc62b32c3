//! The trainer: a model, its prepared steps, and what changes from one step to the next (the
//! batch, the learning rate, the stochastic-rounding seeds).

use crate::error::{Error, Result};
use crate::gpu::{Context, Prepared, Recording, View};
use crate::nn::{Clips, Fusion, Model, ModelSpec, Pass, Phase, Seeded, TensorRole};
use crate::ops::sgd::SgdParams;
use crate::quant::Policy;
use crate::rng::hash_u32;
use crate::train::checkpoint::{self, Checkpoint};

use super::checked::{self, DispatchCheck};
use super::config::TrainConfig;
use super::metrics::{MetricsRing, Readback};

/// The tensor roles a checkpoint holds (gradients are recomputed every step).
const CHECKPOINTED: [TensorRole; 4] = [
    TensorRole::Parameter,
    TensorRole::Velocity,
    TensorRole::RunningStat,
    TensorRole::QuantState,
];

/// Which of a trainer's prepared steps: they differ in whether the clips are refreshed and
/// whether the step trains at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StepKind {
    /// A training step that refreshes the clips: every step, except UI8's steps in between.
    Refreshing,
    /// A UI8 training step between refreshes, reusing the clips (no statistics or search).
    KeptClips,
    /// Evaluation: forward and loss with fresh clips, no backward pass or update.
    Evaluation,
}

impl StepKind {
    /// What the model records for this kind of step.
    fn pass(self) -> Pass {
        Pass {
            clips: match self {
                StepKind::KeptClips => Clips::Reuse,
                _ => Clips::Refresh,
            },
            phase: match self {
                StepKind::Evaluation => Phase::Eval,
                _ => Phase::Train,
            },
        }
    }
}

/// One prepared step: its dispatches and the ones whose parameters change per step.
pub(super) struct PreparedStep {
    /// What `dispatches` were prepared from, with the same parameters (for checked steps).
    pub(super) recording: Recording,
    pub(super) dispatches: Vec<Prepared>,
    /// The dispatches that round stochastically, whose seeds change per step.
    seeded: Vec<Seeded>,
    /// The optimizer's dispatches, whose learning rate changes per step.
    updates: Vec<usize>,
    /// For the second and later steps of one submit ([`Trainer::train_steps`]): their own
    /// copies of the dispatches in `seeded` and `updates` (in that order), since every step of
    /// a submit needs its own seeds and learning rate while the rest of the step is shared.
    more_slots: Vec<Vec<Prepared>>,
}

impl PreparedStep {
    /// With `after`, the step shares its scratch (its steps never run at the same time).
    fn build(
        ctx: &Context,
        model: &Model,
        cfg: &TrainConfig,
        kind: StepKind,
        after: Option<&PreparedStep>,
    ) -> Result<Self> {
        let pass = kind.pass();
        let mut rec =
            after.map_or_else(Recording::new, |p| Recording::sharing_scratch(&p.recording));
        model.record_forward_pass(ctx, &mut rec, pass, Fusion::Fused)?;
        model.record_loss(&mut rec)?;
        let (mut seeded, mut updates) = (Vec::new(), Vec::new());
        if pass.phase == Phase::Train {
            seeded = model.record_backward_pass(ctx, &mut rec, pass.clips, Fusion::Fused)?;
            model.record_checks(ctx, &mut rec)?;
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
            more_slots: Vec::new(),
        })
    }

    /// The dispatches whose parameters change from step to step, in slot order.
    fn varying(&self) -> impl Iterator<Item = usize> + '_ {
        let seeded = self.seeded.iter().map(|s| s.dispatch);
        seeded.chain(self.updates.iter().copied())
    }

    /// Prepares the per-step copies for `slots` steps in one submit.
    pub(super) fn ensure_slots(&mut self, ctx: &Context, slots: usize) -> Result<()> {
        while self.more_slots.len() + 1 < slots {
            let copies = self
                .varying()
                .map(|i| ctx.prepare(&self.recording.dispatches[i]))
                .collect::<Result<Vec<_>>>()?;
            self.more_slots.push(copies);
        }
        Ok(())
    }

    /// Sets the parameters of dispatch `index` for the step in `slot` of a submit (slot 0 also
    /// keeps the recording's copy, which checked steps replay).
    fn set_params(&mut self, queue: &wgpu::Queue, slot: usize, index: usize, params: &[u8]) {
        if slot == 0 {
            self.dispatches[index].set_params(queue, params);
            self.recording.dispatches[index].params = params.to_vec();
        } else {
            let at = self.varying().position(|i| i == index);
            let at = at.expect("only seeded and update dispatches change per step");
            self.more_slots[slot - 1][at].set_params(queue, params);
        }
    }

    /// Where the optimizer's dispatches start: a data-parallel step exchanges gradients there.
    pub(super) fn first_update(&self) -> usize {
        self.updates
            .first()
            .copied()
            .unwrap_or(self.dispatches.len())
    }

    /// Records the step of `slot` into one compute pass, after `input` (a batch gather).
    pub(super) fn encode(
        &self,
        slot: usize,
        input: Option<&Prepared>,
        encoder: &mut wgpu::CommandEncoder,
    ) {
        let mut step: Vec<&Prepared> = input.into_iter().chain(&self.dispatches).collect();
        let first = usize::from(input.is_some());
        if let Some(own) = slot.checked_sub(1).map(|s| &self.more_slots[s]) {
            for (i, copy) in self.varying().zip(own) {
                step[first + i] = copy;
            }
        }
        Prepared::encode_all(step, encoder);
    }
}

/// Trains a [`Model`] under a [`Policy`].
pub struct Trainer {
    pub(super) ctx: Context,
    pub(super) model: Model,
    policy: Policy,
    pub(super) cfg: TrainConfig,
    pub(super) step: u64,
    pub(super) refresh: PreparedStep,
    pub(super) plain: Option<PreparedStep>,
    eval: PreparedStep,
    /// Where the steps' metrics come back.
    pub(super) metrics: MetricsRing,
    /// Learning-rate factor from skipped steps
    /// ([`NonFinitePolicy::SkipStep`](super::NonFinitePolicy::SkipStep)).
    pub(super) lr_backoff: f32,
    /// Zeros for a fresh health record each step.
    zeros: Vec<u8>,
    /// The training split on the device, once [`Trainer::upload_training_set`] put it there.
    pub(super) device_set: Option<super::device_set::DeviceTrainingSet>,
    /// Mixed into the stochastic-rounding seeds: 0, or a data-parallel rank's own stream.
    pub(super) seed_salt: u32,
    /// A data-parallel step begun and not finished: its readback and where its update starts.
    pub(super) exchanged: Option<(crate::gpu::PendingRead, usize)>,
    /// Where a data-parallel step's readback lands, allocated at its first step.
    pub(super) exchange_staging: Option<wgpu::Buffer>,
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
        let refresh = PreparedStep::build(ctx, &model, &cfg, StepKind::Refreshing, None)?;
        // UI8 reuses its clips between refreshes; the other policies refresh every step.
        let plain = match policy {
            Policy::Ui8(_) => Some(PreparedStep::build(
                ctx,
                &model,
                &cfg,
                StepKind::KeptClips,
                Some(&refresh),
            )?),
            _ => None,
        };
        let eval = PreparedStep::build(ctx, &model, &cfg, StepKind::Evaluation, Some(&refresh))?;
        let metrics = MetricsRing::new(ctx, cfg.batch, model.health_names.len());
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
            metrics,
            lr_backoff: 1.0,
            zeros: vec![0; model_health_bytes],
            device_set: None,
            seed_salt: 0,
            exchanged: None,
            exchange_staging: None,
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

    /// The training configuration.
    pub fn config(&self) -> &TrainConfig {
        &self.cfg
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

    pub(super) fn check_batch(&self, x: &[f32], y: &[u32]) -> Result<()> {
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
        pollster::block_on(self.train_step_async(x, y))
    }

    /// [`Trainer::train_step`] as a future, for a browser: where the metrics ring is full it
    /// waits for the oldest step without blocking the page.
    pub async fn train_step_async(&mut self, x: &[f32], y: &[u32]) -> Result<()> {
        self.ctx.check_device()?;
        self.check_batch(x, y)?;
        // A distributed step may have left its rank's rounding stream set.
        self.seed_salt = 0;
        let ctx = self.ctx.clone();
        let t = self.step;
        // Make room in the metrics ring first: its oldest slot may still be in flight.
        let slot = self.metrics.next_slot();
        if let Some(m) = self.collect_slot(slot, Readback::Wait).await? {
            self.metrics.ready.push(m);
        }
        let prepared = self.begin_step(x, y);
        let mut encoder = ctx.encoder("train_step");
        prepared.encode(0, None, &mut encoder);
        self.copy_metrics(&mut encoder, slot);
        ctx.submit(encoder)?;
        self.metrics.start_readback(slot, t, self.cfg.batch);
        self.step += 1;
        Ok(())
    }

    /// Copies the step's per-row losses, correct counts and health record into the staging
    /// buffer of metrics slot `slot`.
    pub(super) fn copy_metrics(&self, encoder: &mut wgpu::CommandEncoder, slot: usize) {
        let rows = self.cfg.batch as u64 * 4;
        let staging = self.metrics.staging(slot);
        encoder.copy_buffer_to_buffer(&self.model.row_loss, 0, staging, 0, rows);
        encoder.copy_buffer_to_buffer(&self.model.correct, 0, staging, rows, rows);
        let health = self.model.health_names.len() as u64 * 4;
        encoder.copy_buffer_to_buffer(&self.model.health, 0, staging, 2 * rows, health);
    }

    /// The same step as [`Trainer::train_step`], but one submit per dispatch, each replayed on
    /// its CPU twin from the GPU's state just before it (see [`DispatchCheck`]). Slow: for
    /// tests and conformance runs. The step counts like any other; its metrics are not
    /// reported through [`Trainer::poll_metrics`].
    pub fn train_step_checked(&mut self, x: &[f32], y: &[u32]) -> Result<Vec<DispatchCheck>> {
        pollster::block_on(self.train_step_checked_async(x, y))
    }

    /// [`Trainer::train_step_checked`] as a future, for a browser.
    pub async fn train_step_checked_async(
        &mut self,
        x: &[f32],
        y: &[u32],
    ) -> Result<Vec<DispatchCheck>> {
        self.check_batch(x, y)?;
        self.drain_in_flight_async().await?;
        let ctx = self.ctx.clone();
        let prepared = self.begin_step(x, y);
        let checks = checked::run(&ctx, &prepared.recording, &prepared.dispatches).await?;
        self.step += 1;
        Ok(checks)
    }

    /// Uploads the batch and sets the step's learning rates and stochastic-rounding seeds;
    /// returns the step to encode. The caller counts the step once it is submitted.
    pub(super) fn begin_step(&mut self, x: &[f32], y: &[u32]) -> &PreparedStep {
        let queue = self.ctx.queue();
        queue.write_buffer(&self.model.acts[0], 0, bytemuck::cast_slice(x));
        queue.write_buffer(&self.model.labels, 0, bytemuck::cast_slice(y));
        // A fresh health record for the step.
        queue.write_buffer(&self.model.health, 0, &self.zeros);
        self.step_params(self.step, 0)
    }

    /// Sets the learning rates and stochastic-rounding seeds of step `t`, to run in `slot` of
    /// its submit; returns the step to encode.
    pub(super) fn step_params(&mut self, t: u64, slot: usize) -> &PreparedStep {
        let queue = self.ctx.queue();
        let prepared = match &mut self.plain {
            Some(plain) if !self.policy.refreshes_at(t) => plain,
            _ => &mut self.refresh,
        };
        let (base, salt) = (self.cfg.seed, self.seed_salt);
        let seed = |n: u32| hash_u32(base ^ hash_u32(t as u32 ^ hash_u32(n))) ^ salt;
        let mut n = 0;
        for i in 0..prepared.seeded.len() {
            let s = prepared.seeded[i];
            let mut params = prepared.recording.dispatches[s.dispatch].params.clone();
            n = s.write_seeds(&mut params, n, seed);
            prepared.set_params(queue, slot, s.dispatch, &params);
        }
        let lr = self.cfg.lr_at(t) * self.lr_backoff;
        for n in 0..prepared.updates.len() {
            let idx = prepared.updates[n];
            let params = SgdParams {
                lr,
                ..bytemuck::pod_read_unaligned(&prepared.recording.dispatches[idx].params)
            };
            prepared.set_params(queue, slot, idx, bytemuck::bytes_of(&params));
        }
        prepared
    }

    /// Counts a step taken outside [`Trainer::train_step`] (checked or profiled).
    pub(super) fn end_step(&mut self) {
        self.step += 1;
    }

    /// The trainer's whole state, for [`Checkpoint::save`]: waits for submitted steps (their
    /// metrics stay queued for [`Trainer::poll_metrics`]) and reads every tensor back.
    pub fn checkpoint(&mut self) -> Result<Checkpoint> {
        pollster::block_on(self.checkpoint_async())
    }

    /// [`Trainer::checkpoint`] as a future, for a browser ([`Checkpoint::to_bytes`] then gives
    /// the file to download).
    pub async fn checkpoint_async(&mut self) -> Result<Checkpoint> {
        self.drain_in_flight_async().await?;
        let mut tensors = Vec::new();
        for role in CHECKPOINTED {
            let read = self.model.read_tensors_async(&self.ctx, role).await?;
            tensors.extend(read.into_iter().map(|t| (role, t)));
        }
        checkpoint::sort(&mut tensors);
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
        pollster::block_on(self.restore_async(checkpoint))
    }

    /// [`Trainer::restore`] as a future, for a browser.
    pub async fn restore_async(&mut self, checkpoint: &Checkpoint) -> Result<()> {
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
        self.poll_metrics_async(true).await?;
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

    /// Mean loss and accuracy over `x` (`n × inputs`) and `y` (`n` labels), in batches; the
    /// last partial batch is padded with rows that count for nothing. Blocks until done.
    pub fn evaluate(&mut self, x: &[f32], y: &[u32]) -> Result<(f32, f32)> {
        pollster::block_on(self.evaluate_async(x, y))
    }

    /// [`Trainer::evaluate`] as a future, for a browser.
    pub async fn evaluate_async(&mut self, x: &[f32], y: &[u32]) -> Result<(f32, f32)> {
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
            // Both results in one round trip (in a browser, each one waits for the event loop).
            let rows = n as u64 * 4;
            let read = ctx.start_read_after(
                encoder,
                &[
                    View {
                        size: rows,
                        ..(&self.model.row_loss).into()
                    },
                    View {
                        size: rows,
                        ..(&self.model.correct).into()
                    },
                ],
            )?;
            let bytes = read.finish(&ctx).await?;
            let l: Vec<f32> = bytemuck::pod_collect_to_vec(&bytes[0]);
            let c: Vec<u32> = bytemuck::pod_collect_to_vec(&bytes[1]);
            loss += l.iter().map(|v| *v as f64).sum::<f64>();
            correct += c.iter().map(|v| *v as u64).sum::<u64>();
        }
        Ok((
            (loss / y.len() as f64) as f32,
            correct as f32 / y.len() as f32,
        ))
    }
}
