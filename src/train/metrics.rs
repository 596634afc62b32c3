//! Step metrics: each step copies its per-row losses, correct counts and health record (NaN and
//! Inf counts) into one of a ring of staging buffers and maps it; [`Trainer::poll_metrics`]
//! collects the finished ones, so the CPU never waits for the GPU in the training loop. A step
//! that found NaN or Inf is handled here, when its metrics arrive, as the configuration's
//! [`NonFinitePolicy`] says.

use futures::channel::oneshot;

use crate::error::{Error, Result};
use crate::gpu::Context;

use super::Trainer;
use super::config::NonFinitePolicy;

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

/// Staging buffers in the ring at first: steps that may be in flight before a step waits for
/// one. [`Trainer::train_steps`] grows the ring to hold twice its steps per submit.
const METRIC_SLOTS: usize = 4;

/// Whether collecting a slot waits for its map to complete.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Readback {
    /// Block until the step has finished and its metrics are mapped.
    Wait,
    /// Take the metrics only if they are mapped already.
    IfReady,
}

/// A submitted step whose metrics are being mapped.
struct InFlight {
    step: u64,
    rows: u32,
    /// Completion of the buffer's map.
    mapped: oneshot::Receiver<std::result::Result<(), wgpu::BufferAsyncError>>,
}

struct MetricsSlot {
    buffer: wgpu::Buffer,
    pending: Option<InFlight>,
}

/// The first tensor in which a step found NaN or Inf, and how many values were.
struct NonFiniteFound {
    tensor: String,
    count: u32,
}

/// The ring of staging buffers the steps' metrics come back through.
pub(super) struct MetricsRing {
    slots: Vec<MetricsSlot>,
    /// The slot the next step copies its metrics into (the oldest one).
    next: usize,
    /// Metrics collected while making room in the ring, not yet handed out.
    pub(super) ready: Vec<StepMetrics>,
    /// Bytes of one staging buffer.
    slot_bytes: u64,
}

impl MetricsRing {
    /// Allocates the staging buffers for steps of `batch` rows and `health_tensors` health
    /// counters.
    pub(super) fn new(ctx: &Context, batch: u32, health_tensors: usize) -> Self {
        let mut ring = MetricsRing {
            slots: Vec::new(),
            next: 0,
            ready: Vec::new(),
            slot_bytes: batch as u64 * 8 + health_tensors as u64 * 4,
        };
        ring.grow(ctx, METRIC_SLOTS);
        ring
    }

    /// Slots in the ring.
    pub(super) fn len(&self) -> usize {
        self.slots.len()
    }

    /// Adds staging buffers up to `slots`; only while none is in flight, so that the ring's
    /// order (oldest at `next`) stays what it was.
    pub(super) fn grow(&mut self, ctx: &Context, slots: usize) {
        debug_assert!(self.slots.iter().all(|s| s.pending.is_none()));
        let more = slots.saturating_sub(self.slots.len());
        ctx.count_created(more as u64);
        for _ in 0..more {
            let i = self.slots.len();
            self.slots.push(MetricsSlot {
                buffer: ctx.device().create_buffer(&wgpu::BufferDescriptor {
                    label: Some(&format!("octet.metrics{i}")),
                    size: self.slot_bytes,
                    usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                }),
                pending: None,
            });
        }
        self.next = 0;
    }

    /// The slot the next step's metrics go to.
    pub(super) fn next_slot(&self) -> usize {
        self.next
    }

    /// The staging buffer of `slot`: per-row losses, then per-row correct counts, then the
    /// health record.
    pub(super) fn staging(&self, slot: usize) -> &wgpu::Buffer {
        &self.slots[slot].buffer
    }

    /// Maps `slot` once the submitted `step` (of `rows` rows) has copied its metrics there,
    /// and moves on to the next slot.
    pub(super) fn start_readback(&mut self, slot: usize, step: u64, rows: u32) {
        let (tx, rx) = oneshot::channel();
        self.slots[slot]
            .buffer
            .slice(..)
            .map_async(wgpu::MapMode::Read, move |r| {
                let _ = tx.send(r);
            });
        self.slots[slot].pending = Some(InFlight {
            step,
            rows,
            mapped: rx,
        });
        self.next = (slot + 1) % self.slots.len();
    }

    /// Reads `slot` if its map has completed (or, with [`Readback::Wait`], after waiting for
    /// it); `health_names` names the health record's counters.
    async fn collect(
        &mut self,
        ctx: &Context,
        slot: usize,
        readback: Readback,
        health_names: &[String],
    ) -> Result<Option<(StepMetrics, Option<NonFiniteFound>)>> {
        let Some(InFlight { step, rows, mapped }) = &mut self.slots[slot].pending else {
            return Ok(None);
        };
        let dropped = |_| Error::Gpu {
            during: "metrics readback",
            message: "the map callback was dropped (device lost?)".into(),
        };
        let result = match readback {
            Readback::Wait => {
                // A no-op in a browser, which maps by itself while the future waits.
                ctx.device().poll(wgpu::PollType::wait_indefinitely())?;
                mapped.await.map_err(dropped)?
            }
            Readback::IfReady => match mapped.try_recv().map_err(dropped)? {
                Some(r) => r,
                None => return Ok(None),
            },
        };
        result?;
        let (step, rows) = (*step, *rows);
        let buffer = &self.slots[slot].buffer;
        let collected = {
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
                NonFiniteFound {
                    tensor: health_names[k].clone(),
                    count: health[k],
                }
            });
            (
                StepMetrics {
                    step,
                    loss,
                    correct,
                    nonfinite: bad.as_ref().map(|b| b.tensor.clone()),
                    rows,
                },
                bad,
            )
        };
        buffer.unmap();
        self.slots[slot].pending = None;
        Ok(Some(collected))
    }
}

impl Trainer {
    /// Metrics of finished steps, oldest first. With `wait`, blocks until every submitted step
    /// has finished.
    pub fn poll_metrics(&mut self, wait: bool) -> Result<Vec<StepMetrics>> {
        pollster::block_on(self.poll_metrics_async(wait))
    }

    /// [`Trainer::poll_metrics`] as a future, for a browser: with `wait` it resolves once every
    /// submitted step has finished, without blocking the page.
    pub async fn poll_metrics_async(&mut self, wait: bool) -> Result<Vec<StepMetrics>> {
        self.ctx.check_device()?;
        let (poll, readback) = if wait {
            (wgpu::PollType::wait_indefinitely(), Readback::Wait)
        } else {
            (wgpu::PollType::Poll, Readback::IfReady)
        };
        self.ctx.device().poll(poll)?;
        let mut out = std::mem::take(&mut self.metrics.ready);
        let n = self.metrics.len();
        for k in 0..n {
            let slot = (self.metrics.next + k) % n;
            if let Some(m) = self.collect_slot(slot, readback).await? {
                out.push(m);
            }
        }
        Ok(out)
    }

    /// Waits for every submitted step, keeping their metrics for [`Trainer::poll_metrics`]:
    /// for work that needs the GPU idle or the ring free.
    pub(super) fn drain_in_flight(&mut self) -> Result<()> {
        pollster::block_on(self.drain_in_flight_async())
    }

    /// [`Trainer::drain_in_flight`] as a future.
    pub(super) async fn drain_in_flight_async(&mut self) -> Result<()> {
        let done = self.poll_metrics_async(true).await?;
        self.metrics.ready.extend(done);
        Ok(())
    }

    /// Reads slot `slot` (see [`MetricsRing::collect`]) and applies the configuration's
    /// [`NonFinitePolicy`] to a step that found NaN or Inf.
    pub(super) async fn collect_slot(
        &mut self,
        slot: usize,
        readback: Readback,
    ) -> Result<Option<StepMetrics>> {
        let collected = self
            .metrics
            .collect(&self.ctx, slot, readback, &self.model.health_names)
            .await?;
        let Some((metrics, bad)) = collected else {
            return Ok(None);
        };
        if let Some(NonFiniteFound { tensor, count }) = bad {
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
}
