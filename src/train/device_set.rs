//! Training on a data set kept on the device: the set is uploaded once as bytes with its
//! per-channel table ([`Pixels`]), each batch is gathered on the GPU (`gather_rows`) from the
//! epoch's permutation, and [`Trainer::train_steps`] records several steps into one submit.
//! Per step the host writes only the batch's row indices (with each image's crop and flip
//! draw, under [`TrainConfig::augment`](super::TrainConfig::augment)), seeds and learning rate.

use crate::data::{Augment, Dataset, permutation};
use crate::error::{Error, Result};
use crate::gpu::{Prepared, Recording};
use crate::ops::{self, DeviceSet, GatherParams};

use super::Trainer;
use super::metrics::Readback;

/// The most steps [`Trainer::train_steps`] records into one submit.
pub const MAX_STEPS_PER_SUBMIT: usize = 256;

/// A training split on the device, and the gathers that read it.
pub(super) struct DeviceTrainingSet {
    pixels: wgpu::Buffer,
    table: wgpu::Buffer,
    labels: wgpu::Buffer,
    rows: u32,
    channels: u32,
    /// The row indices of one submit's batches, `batch` per step; with augmentation (row,
    /// draw) pairs.
    order: wgpu::Buffer,
    /// One gather per step of a submit; the one of slot `j` reads `order` from `j · batch`.
    gathers: Vec<Prepared>,
    /// The last epoch's permutation, which the next submit most likely continues.
    epoch_order: Option<(u64, Vec<usize>)>,
}

impl DeviceTrainingSet {
    /// Steps in an epoch: every whole batch of the set (the rest waits for a later epoch's
    /// order).
    fn steps_per_epoch(&self, batch: u32) -> u64 {
        (self.rows / batch) as u64
    }
}

impl Trainer {
    /// Uploads the training split for [`Trainer::train_steps`], replacing any earlier one.
    /// The set must hold its bytes ([`Dataset::pixels`]: the IDX and CIFAR-10 loaders keep
    /// them), at least one batch of rows shaped like the model's input, and labels below the
    /// model's classes.
    pub fn upload_training_set(&mut self, set: &Dataset) -> Result<()> {
        const OP: &str = "upload_training_set";
        let spec = self.model.spec();
        let Some(pixels) = &set.pixels else {
            return Err(Error::invalid(
                OP,
                "the set has no bytes (it was not loaded from 8-bit images); train it with \
                 train_step on batches of its values instead",
            ));
        };
        let input = spec.input.map(|d| d as usize);
        if set.shape != input {
            return Err(Error::invalid(
                OP,
                format!(
                    "the set's rows are {:?}, the model takes {input:?}",
                    set.shape
                ),
            ));
        }
        if set.len() < self.cfg.batch as usize || set.len() > u32::MAX as usize {
            return Err(Error::invalid(
                OP,
                format!(
                    "the set has {} rows; it needs at least one batch of {} (and fewer than 2³²)",
                    set.len(),
                    self.cfg.batch
                ),
            ));
        }
        if let Some(l) = set.y.iter().find(|l| **l >= spec.classes()) {
            return Err(Error::invalid(
                OP,
                format!(
                    "label {l} is not below the model's {} classes",
                    spec.classes()
                ),
            ));
        }
        if pixels.bytes.len() != set.x.len() || pixels.table.len() != set.shape[2] * 256 {
            return Err(Error::invalid(
                OP,
                "the set's bytes or table do not match its values (edited by hand?)",
            ));
        }
        let ctx = self.ctx.clone();
        let mut words = vec![0u32; pixels.bytes.len().div_ceil(4)];
        bytemuck::cast_slice_mut::<u32, u8>(&mut words)[..pixels.bytes.len()]
            .copy_from_slice(&pixels.bytes);
        let set = DeviceTrainingSet {
            pixels: ctx.upload("train.pixels", &words),
            table: ctx.upload("train.table", &pixels.table),
            labels: ctx.upload("train.labels", &set.y),
            rows: set.len() as u32,
            channels: set.shape[2] as u32,
            order: ctx.storage_buffer("train.order", 4),
            gathers: Vec::new(),
            epoch_order: None,
        };
        // Beyond the device's buffer limits: an error naming the limit, and no set kept.
        ctx.check_allocations()?;
        self.device_set = Some(set);
        Ok(())
    }

    /// Runs the next `k` training steps on the uploaded set ([`Trainer::upload_training_set`])
    /// in one submit: step `t` trains on rows `permutation(rows, seed, epoch)[s·batch..]` of
    /// epoch `t / steps_per_epoch`, `s = t mod steps_per_epoch` ([`permutation`]), exactly the
    /// batches, and so the results, of [`Trainer::train_step`] fed the same rows. Metrics
    /// arrive through [`Trainer::poll_metrics`], one per step.
    pub fn train_steps(&mut self, k: usize) -> Result<()> {
        self.ctx.check_device()?;
        if k == 0 {
            return Ok(());
        }
        let batch = self.cfg.batch;
        if k > MAX_STEPS_PER_SUBMIT || (k as u64) * batch as u64 > u32::MAX as u64 {
            return Err(Error::invalid(
                "train_steps",
                format!("{k} steps in one submit: at most {MAX_STEPS_PER_SUBMIT}"),
            ));
        }
        // A distributed step may have left its rank's rounding stream set.
        self.seed_salt = 0;
        let steps_per_epoch = match &self.device_set {
            Some(set) => set.steps_per_epoch(batch),
            None => {
                return Err(Error::invalid(
                    "train_steps",
                    "no training set on the device: call upload_training_set first",
                ));
            }
        };
        self.prepare_slots(k)?;
        let ctx = self.ctx.clone();
        // The rows of the k batches, written once for the submit.
        let first = self.step;
        let augment = self.cfg.augment.is_some();
        let seed = self.cfg.seed;
        let mut rows = Vec::with_capacity(k * batch as usize * (1 + augment as usize));
        for t in first..first + k as u64 {
            let (epoch, s) = (t / steps_per_epoch, (t % steps_per_epoch) as usize);
            let order = self.epoch_order(epoch);
            let b = batch as usize;
            for (i, &r) in order[s * b..(s + 1) * b].iter().enumerate() {
                rows.push(r as u32);
                if augment {
                    rows.push(Augment::key(seed, t, i as u32));
                }
            }
        }
        let set = self.device_set.as_ref().expect("checked above");
        ctx.queue()
            .write_buffer(&set.order, 0, bytemuck::cast_slice(&rows));
        // Room in the ring: its oldest k slots may hold steps still in flight.
        let mut slots = Vec::with_capacity(k);
        for j in 0..k {
            let slot = (self.metrics.next_slot() + j) % self.metrics.len();
            if let Some(m) = pollster::block_on(self.collect_slot(slot, Readback::Wait))? {
                self.metrics.ready.push(m);
            }
            slots.push(slot);
        }
        let mut encoder = ctx.encoder("train_steps");
        for (j, &slot) in slots.iter().enumerate() {
            let t = first + j as u64;
            encoder.clear_buffer(&self.model.health, 0, None);
            let set = self.device_set.take().expect("checked above");
            let prepared = self.step_params(t, j);
            prepared.encode(j, Some(&set.gathers[j]), &mut encoder);
            self.device_set = Some(set);
            self.copy_metrics(&mut encoder, slot);
        }
        ctx.submit(encoder)?;
        for (j, &slot) in slots.iter().enumerate() {
            self.metrics
                .start_readback(slot, first + j as u64, self.cfg.batch);
        }
        self.step += k as u64;
        Ok(())
    }

    /// Steps in an epoch of the uploaded set ([`Trainer::train_steps`]), if there is one.
    pub fn steps_per_epoch(&self) -> Option<u64> {
        self.device_set
            .as_ref()
            .map(|s| s.steps_per_epoch(self.cfg.batch))
    }

    /// Makes room for `k` steps in one submit: their gathers, their copies of the per-step
    /// dispatches, and twice as many metrics slots (so one submit can fill while the previous
    /// one's metrics are read).
    fn prepare_slots(&mut self, k: usize) -> Result<()> {
        let ctx = self.ctx.clone();
        let batch = self.cfg.batch;
        let features = self.model.spec().input_len();
        let set = self.device_set.as_mut().expect("checked by the caller");
        if set.gathers.len() < k {
            let augment = self.cfg.augment;
            let per_row = 1 + augment.is_some() as u64;
            set.order = ctx.storage_buffer("train.order", k as u64 * batch as u64 * per_row * 4);
            let [h, w, _] = self.model.spec().input;
            let mut rec = Recording::new();
            for j in 0..k as u32 {
                let device = DeviceSet {
                    pixels: &set.pixels,
                    table: &set.table,
                    labels: &set.labels,
                    rows: set.rows,
                };
                let mut p = GatherParams::new(batch, features, set.channels, j * batch);
                if let Some(a) = augment {
                    p = p.augmented(h, w, a.pad, a.flip);
                }
                let (x, y) = (&self.model.acts[0], &self.model.labels);
                ops::gather_rows(&mut rec, &p, device, &set.order, x, y, augment.is_some())?;
            }
            set.gathers = rec
                .dispatches
                .iter()
                .map(|d| ctx.prepare(d))
                .collect::<Result<_>>()?;
        }
        for step in [Some(&mut self.refresh), self.plain.as_mut()]
            .into_iter()
            .flatten()
        {
            step.ensure_slots(&ctx, k)?;
        }
        if self.metrics.len() < 2 * k {
            self.drain_in_flight()?;
            self.metrics.grow(&ctx, 2 * k);
        }
        ctx.check_allocations()
    }

    /// Epoch `epoch`'s permutation of the uploaded set's rows.
    fn epoch_order(&mut self, epoch: u64) -> &[usize] {
        let seed = self.cfg.seed;
        let set = self.device_set.as_mut().expect("checked by the caller");
        if set.epoch_order.as_ref().is_none_or(|(e, _)| *e != epoch) {
            set.epoch_order = Some((epoch, permutation(set.rows as usize, seed, epoch)));
        }
        &set.epoch_order.as_ref().expect("just set").1
    }
}
