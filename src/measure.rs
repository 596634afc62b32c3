//! Timing on the GPU by the wall clock, shared by the autotuner, the conformance tool's
//! throughput probes and the bench: a prepared recording is encoded, submitted and waited for,
//! and candidates take turns so that a slow spell of the machine hits all alike.

use web_time::Instant;

use crate::error::Result;
use crate::gpu::{Context, Prepared, Recording};

/// Seconds to encode, submit and finish `prepared` once (one command encoder, one submit).
pub fn time_prepared(ctx: &Context, prepared: &[Prepared]) -> Result<f64> {
    let t = Instant::now();
    let mut encoder = ctx.encoder("measure");
    Prepared::encode_all(prepared, &mut encoder);
    ctx.submit(encoder)?;
    ctx.wait_idle()?;
    Ok(t.elapsed().as_secs_f64())
}

/// Seconds of the fastest of `runs` calls of `run`.
pub fn best_of(runs: usize, mut run: impl FnMut() -> Result<()>) -> Result<f64> {
    let mut best = f64::INFINITY;
    for _ in 0..runs {
        let t = Instant::now();
        run()?;
        best = best.min(t.elapsed().as_secs_f64());
    }
    Ok(best)
}

/// Prepares every dispatch of `rec` (bind groups and parameter buffers built once).
pub fn prepare(ctx: &Context, rec: &Recording) -> Result<Vec<Prepared>> {
    rec.dispatches.iter().map(|d| ctx.prepare(d)).collect()
}

/// Uncounted scratch for measuring: dropped at once, not memory octet holds.
pub fn scratch(ctx: &Context, label: &str, bytes: u64) -> wgpu::Buffer {
    ctx.device().create_buffer(&wgpu::BufferDescriptor {
        label: Some(&format!("octet.measure.{label}")),
        size: bytes.max(4).next_multiple_of(4),
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    })
}

/// Whether buffers of these sizes fit the device's limits.
pub fn fits(ctx: &Context, sizes: &[u64]) -> bool {
    let limits = ctx.device().limits();
    let max = limits
        .max_storage_buffer_binding_size
        .min(limits.max_buffer_size);
    sizes.iter().all(|&s| s <= max)
}

/// Runs each candidate's recording once to compile and warm up, then times them in turns
/// (three rounds, each candidate once per round, so that a slow spell of the machine hits all
/// alike; one already twice as slow as the best is dropped after its first round) and keeps
/// each one's best; returns the candidate whose time times its weight is least.
pub fn fastest<T: Copy + std::fmt::Debug>(
    ctx: &Context,
    what: &str,
    candidates: Vec<(T, Recording, f64)>,
) -> Result<Option<T>> {
    let run = |prepared: &[Prepared]| time_prepared(ctx, prepared);
    let mut timed = Vec::new();
    for (choice, rec, weight) in candidates {
        let prepared = prepare(ctx, &rec)?;
        run(&prepared)?;
        timed.push((choice, prepared, weight, f64::INFINITY));
    }
    for round in 0..3 {
        let best = timed.iter().map(|c| c.3).fold(f64::INFINITY, f64::min);
        for (_, prepared, weight, time) in &mut timed {
            if round > 0 && *time > 2.0 * best {
                continue;
            }
            *time = time.min(run(prepared)? * *weight);
        }
    }
    for (choice, _, weight, time) in &timed {
        log::debug!(
            "octet autotune: {what} {choice:?}: {:.3} ms",
            time / weight * 1e3
        );
    }
    let best = timed.iter().min_by(|a, b| a.3.total_cmp(&b.3));
    Ok(best.map(|c| c.0))
}
