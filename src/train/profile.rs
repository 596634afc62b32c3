//! Where a step's time goes: a step profiled dispatch by dispatch, and the mean time of
//! consecutive steps that the benchmark and conformance reports print.

use crate::data::Dataset;
use crate::error::Result;
use crate::measure;

use super::Trainer;

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

impl Trainer {
    /// The same step as [`Trainer::train_step`], one submit per dispatch, each waited for and
    /// timed on the CPU: where a step's time goes, kernel by kernel (on a software driver the
    /// wall time of a dispatch is its cost; on a GPU it includes the submit latency). Slow.
    pub fn profile_step(&mut self, x: &[f32], y: &[u32]) -> Result<Vec<DispatchTiming>> {
        self.check_batch(x, y)?;
        self.poll_metrics(true)
            .map(|m| self.metrics.ready.extend(m))?;
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
    let started = std::time::Instant::now();
    run(warm..warm + timed)?;
    Ok(started.elapsed().as_secs_f64() * 1e3 / timed.max(1) as f64)
}
