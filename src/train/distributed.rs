//! Data-parallel training: one [`Trainer`] per rank, each on its shard of every global batch,
//! gradients exchanged after the backward ([`crate::dist::exchange`]) so that every rank applies
//! the same update and holds the same weights after every step.
//!
//! A step is two submits: forward, loss, backward and health checks; then, after the exchange,
//! the update. Between them the host reads every gradient, the health record and the
//! learning-rate tables back in one round trip, exchanges the gradients (their mean), sums the
//! health counts (a NaN on any rank skips the update on all) and takes rank 0's learning-rate
//! factors (UI8's φ, which each rank derives from its own statistics). Each rank quantizes with
//! its own clips and batch-norm statistics and draws its own stochastic-rounding stream, so N
//! ranks at batch B/N are not one device at batch B: the gradients differ by what those
//! per-rank statistics change, besides the summation order.

use crate::dist::{Collective, Exchange, ExchangeStats, exchange};
use crate::error::{Error, Result};
use crate::gpu::View;
use crate::nn::TensorRole;
use crate::rng::hash_u32;

use super::Trainer;

impl Trainer {
    /// Makes every rank start from rank 0's weights (and momentum): call once, after
    /// [`Trainer::new`] or [`Trainer::restore`], on every rank.
    pub fn broadcast_from_root(&mut self, comm: &dyn Collective) -> Result<()> {
        self.drain_in_flight()?;
        for role in [TensorRole::Parameter, TensorRole::Velocity] {
            let mut tensors = self.model.read_tensors(&self.ctx, role)?;
            for t in &mut tensors {
                comm.broadcast(0, bytemuck::cast_slice_mut(&mut t.data))?;
            }
            self.model.write_tensors(&self.ctx, role, &tensors)?;
        }
        Ok(())
    }

    /// One data-parallel training step on this rank's shard of the global batch (`batch ×
    /// inputs` features and `batch` labels, `batch` from this trainer's configuration): blocks
    /// until the step is done (its metrics arrive through [`Trainer::poll_metrics`]) and
    /// returns what the exchange cost. [`Trainer::begin_step_exchanged`] and
    /// [`Trainer::finish_step_exchanged`] are its two halves, for a caller with work to do while
    /// the GPU runs the forward and backward (the next batch to gather, say).
    pub fn train_step_exchanged(
        &mut self,
        comm: &dyn Collective,
        how: Exchange,
        x: &[f32],
        y: &[u32],
    ) -> Result<ExchangeStats> {
        self.begin_step_exchanged(comm, x, y)?;
        self.finish_step_exchanged(comm, how)
    }

    /// Uploads the shard and submits the step up to the update — forward, loss, backward,
    /// health checks — with the readback of what the ranks exchange; returns without waiting.
    pub fn begin_step_exchanged(
        &mut self,
        comm: &dyn Collective,
        x: &[f32],
        y: &[u32],
    ) -> Result<()> {
        self.ctx.check_device()?;
        self.check_batch(x, y)?;
        if self.exchanged.is_some() {
            return Err(Error::invalid(
                "begin_step_exchanged",
                "the previous step is not finished: call finish_step_exchanged first",
            ));
        }
        // Rank 0 draws the stream a single process would; the others their own.
        self.seed_salt = match comm.rank() {
            0 => 0,
            r => hash_u32(0x0d15_7000 ^ r as u32),
        };
        // Steps are synchronous: every slot of the ring is free after this.
        self.drain_in_flight()?;
        let ctx = self.ctx.clone();
        let prepared = self.begin_step(x, y);
        let split = prepared.first_update();
        let mut encoder = ctx.encoder("train_step_exchanged");
        crate::gpu::Prepared::encode_all(&prepared.dispatches[..split], &mut encoder);
        let (grads, tables) = self.model.exchanged();
        let health = &self.model.health;
        let mut sources: Vec<View> = grads
            .iter()
            .map(|&(v, n)| View {
                size: n as u64 * 4,
                ..v
            })
            .collect();
        sources.push(health.into());
        sources.extend(tables.iter().map(|&b| View::from(b)));
        // One staging buffer for every step: the same buffers are read each time.
        let bytes: u64 = sources.iter().map(|v| v.size).sum();
        let staging = match &self.exchange_staging {
            Some(b) if b.size() == bytes.max(4) => b.clone(),
            _ => {
                let b = ctx.staging_buffer(bytes);
                self.exchange_staging = Some(b.clone());
                b
            }
        };
        let read = ctx.start_read_into(encoder, &sources, staging)?;
        self.exchanged = Some((read, split));
        Ok(())
    }

    /// Waits for the step [`Trainer::begin_step_exchanged`] submitted, exchanges its gradients
    /// (their mean over the ranks), the health counts (summed) and the learning-rate tables
    /// (rank 0's), and submits the update.
    pub fn finish_step_exchanged(
        &mut self,
        comm: &dyn Collective,
        how: Exchange,
    ) -> Result<ExchangeStats> {
        let Some((pending, split)) = self.exchanged.take() else {
            return Err(Error::invalid(
                "finish_step_exchanged",
                "no step to finish: call begin_step_exchanged first",
            ));
        };
        let ctx = self.ctx.clone();
        let read = pending.wait(&ctx)?;
        let (grads, tables) = self.model.exchanged();
        // The gradients as one vector, exchanged at once.
        let mut flat: Vec<f32> = read[..grads.len()]
            .iter()
            .flat_map(|b| bytemuck::cast_slice::<u8, f32>(b).iter().copied())
            .collect();
        let stats = exchange::mean(comm, how, &mut flat)?;
        let queue = ctx.queue();
        let mut at = 0;
        for (view, n) in &grads {
            let n = *n as usize;
            let words = bytemuck::cast_slice(&flat[at..at + n]);
            queue.write_buffer(view.buffer, view.offset, words);
            at += n;
        }
        let counts: Vec<f64> = bytemuck::cast_slice::<u8, u32>(&read[grads.len()])
            .iter()
            .map(|&c| c as f64)
            .collect();
        let mut total = vec![0f64; counts.len()];
        comm.all_reduce_sum(&counts, &mut total)?;
        let total: Vec<u32> = total
            .iter()
            .map(|&c| c.min(u32::MAX as f64) as u32)
            .collect();
        let health = &self.model.health;
        queue.write_buffer(health, 0, bytemuck::cast_slice(&total));
        for (k, table) in tables.iter().enumerate() {
            let mut bytes = read[grads.len() + 1 + k].clone();
            comm.broadcast(0, &mut bytes)?;
            queue.write_buffer(table, 0, &bytes);
        }
        let t = self.step;
        let prepared = match &self.plain {
            Some(plain) if !self.policy().refreshes_at(t) => plain,
            _ => &self.refresh,
        };
        let slot = self.metrics.next_slot();
        let mut encoder = ctx.encoder("train_step_update");
        crate::gpu::Prepared::encode_all(&prepared.dispatches[split..], &mut encoder);
        self.copy_metrics(&mut encoder, slot);
        ctx.submit(encoder)?;
        self.metrics.start_readback(slot, t, self.cfg.batch);
        self.step += 1;
        Ok(stats)
    }
}
