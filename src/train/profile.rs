//! Where a step's time goes: a step profiled dispatch by dispatch, and the mean time of
//! consecutive steps that the benchmark and conformance reports print.

use crate::data::Dataset;
use crate::error::Result;
use crate::gpu::{Context, Prepared};
use crate::measure;

use super::Trainer;

/// How long one dispatch of a profiled step took (see [`Trainer::profile_step`]).
#[derive(Clone, Debug, PartialEq)]
pub struct DispatchTiming {
    /// The kernel.
    pub kernel: &'static str,
    /// Its workgroup grid.
    pub grid: [u32; 3],
    /// GPU time between timestamps before and after it inside one pass, where the device has
    /// `TIMESTAMP_QUERY_INSIDE_PASSES`; else wall time from submit to completion.
    pub seconds: f64,
}

impl Trainer {
    /// The same step as [`Trainer::train_step`], timed dispatch by dispatch: where a step's time
    /// goes, kernel by kernel. Where the device has `TIMESTAMP_QUERY_INSIDE_PASSES` (octet asks
    /// for it on devices it creates), from GPU timestamps around each dispatch of the step's one
    /// pass; elsewhere one submit per dispatch, each waited for and timed on the CPU (on a GPU
    /// that includes the submit latency). Slow.
    pub fn profile_step(&mut self, x: &[f32], y: &[u32]) -> Result<Vec<DispatchTiming>> {
        self.check_batch(x, y)?;
        self.drain_in_flight()?;
        let ctx = self.ctx.clone();
        let prepared = self.begin_step(x, y);
        ctx.wait_idle()?;
        let timing =
            wgpu::Features::TIMESTAMP_QUERY | wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES;
        if ctx.device().features().contains(timing) {
            let seconds = gpu_times(&ctx, &prepared.dispatches)?;
            let timings = prepared
                .recording
                .dispatches
                .iter()
                .zip(seconds)
                .map(|(d, seconds)| DispatchTiming {
                    kernel: d.def.name,
                    grid: d.grid,
                    seconds,
                })
                .collect();
            self.end_step();
            return Ok(timings);
        }
        let mut timings = Vec::new();
        for (d, p) in prepared
            .recording
            .dispatches
            .iter()
            .zip(&prepared.dispatches)
        {
            timings.push(DispatchTiming {
                kernel: d.def.name,
                grid: d.grid,
                seconds: measure::time_prepared(&ctx, std::slice::from_ref(p))?,
            });
        }
        self.end_step();
        Ok(timings)
    }
}

/// Seconds of each of `dispatches` from GPU timestamps inside one pass, in one submit.
fn gpu_times(ctx: &Context, dispatches: &[Prepared]) -> Result<Vec<f64>> {
    let count = dispatches.len() as u32 + 1;
    let device = ctx.device();
    let queries = device.create_query_set(&wgpu::QuerySetDescriptor {
        label: Some("octet.profile"),
        ty: wgpu::QueryType::Timestamp,
        count,
    });
    let resolved = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("octet.profile.resolved"),
        size: count as u64 * 8,
        usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
        mapped_at_creation: false,
    });
    let mut encoder = ctx.encoder("profile_step");
    Prepared::encode_timed(dispatches, &mut encoder, &queries);
    encoder.resolve_query_set(&queries, 0..count, &resolved, 0);
    ctx.submit(encoder)?;
    let ticks: Vec<u64> = ctx.read_buffer(&resolved)?;
    let period = ctx.queue().get_timestamp_period() as f64 * 1e-9;
    Ok(ticks
        .windows(2)
        .map(|w| w[1].saturating_sub(w[0]) as f64 * period)
        .collect())
}

/// Milliseconds per training step of `trainer` on consecutive batches of `data`: `warm` steps
/// first (kernels compile on first use), then `timed` steps, each group waited for. For the
/// benchmark and conformance reports.
pub fn time_steps(trainer: &mut Trainer, data: &Dataset, warm: usize, timed: usize) -> Result<f64> {
    let batch = trainer.config().batch as usize;
    let mut run = |range: std::ops::Range<usize>| -> Result<()> {
        for s in range {
            let (x, y) = data.batch(s * batch, batch);
            trainer.train_step(x, y)?;
        }
        trainer.poll_metrics(true).map(|_| ())
    };
    run(0..warm)?;
    let started = web_time::Instant::now();
    run(warm..warm + timed)?;
    Ok(started.elapsed().as_secs_f64() * 1e3 / timed.max(1) as f64)
}
