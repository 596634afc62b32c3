//! The conformance suite: every kernel against its CPU twin on one [`Context`].
//!
//! Used by `tests/conformance.rs` (on every adapter present) and by the `conformance` example,
//! the tool to attach to a bug report. Integer outputs — packed bytes, counts, int8 GEMM
//! accumulators — must equal the twin exactly. Float outputs have stated tolerances:
//!
//! | output | tolerance |
//! |---|---|
//! | quantize scales, dequantize, gather_rows, relu, add, im2col, col2im, maxpool | exact |
//! | global_avg_pool | 1e−6 (it divides) |
//! | softmax_xent loss, dlogits·batch | 1e−5 relative; `correct` exact |
//! | sgd weights and velocity | 1e−6 relative to 1 + \|value\| |
//! | clip_select clips, state, φ | 1e−6 (φ 1e−5); DSGC picks a best candidate; classes exact |
//! | channel_stats max\|x\|, counts | exact |
//! | channel_stats mean, std, Σx²; cosine terms | 1e−4 relative to the channel's scale |
//! | gemm_i8, depthwise_i8 with scales / bias | 1e−6 relative to \|acc·sa·sb\| + \|bias\| (fused multiply-add) |
//! | gemm_f32, depthwise_f32 | 1e−5 relative to Σ\|a\|\|b\| |
//!
//! [`SUITES`] is the one list of suites: each row names the kernels its cases cover, the
//! function that runs them and, where there is one, its throughput probe. A suite's cases and
//! its `KERNELS` live in a file of their own, so covering a new kernel means editing that file
//! (and, for a new suite, adding its row). The GPU round trips several suites share are in
//! `harness`, the comparisons in `check`, the timing in `throughput`.

mod batchnorm;
mod channel_stats;
mod check;
mod clip_select;
mod column_sum;
mod conv;
mod conv_implicit;
mod depthwise;
mod dequantize;
mod gather_rows;
mod gemm_f32;
mod gemm_i8;
mod grids;
mod harness;
mod maxpool;
mod nonfinite;
mod pool;
mod quantize;
mod relu;
mod sgd;
mod softmax_xent;
mod throughput;
mod train_step;

pub use harness::{
    ClipSelection, HostEpilogue, Quantized, ReluMaskOutput, StatsRun, default_ratios,
    gpu_channel_stats, gpu_clip_select, gpu_gemm_f32, gpu_gemm_i8, gpu_quantize, max_abs_clips,
    twin_channel_stats,
};
pub use throughput::gemm_throughput;
pub use train_step::STEP_FLOAT_TOLERANCE;

use futures::future::LocalBoxFuture;

use crate::error::Result;
use crate::gpu::Context;

/// The outcome of one case.
#[derive(Clone, Debug)]
pub struct CaseResult {
    /// Kernel under test.
    pub kernel: &'static str,
    /// What the case covers.
    pub case: String,
    /// Whether every output matched within its tolerance.
    pub passed: bool,
    /// Largest deviation from the twin as a fraction of the case's tolerance: 0 when bit-exact,
    /// at most 1 when the case passes.
    pub max_error: f64,
    /// The first mismatch, if any.
    pub detail: String,
}

/// How much of a suite to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Extent {
    /// Every case.
    Full,
    /// Without the largest cases: a run well under a minute on a software driver.
    Quick,
}

impl Extent {
    /// [`Extent::Quick`] when `quick`, else [`Extent::Full`].
    pub fn quick_if(quick: bool) -> Self {
        if quick { Extent::Quick } else { Extent::Full }
    }
}

/// Runs a suite's cases, appending one result per case. A future, because in a browser every
/// readback resolves through the event loop; native callers wait on it (see [`run_suite`]).
pub type RunCases =
    for<'a> fn(&'a Context, Extent, &'a mut Vec<CaseResult>) -> LocalBoxFuture<'a, Result<()>>;

/// Measures a suite's kernel on a problem of the given size, in G operations per second.
pub type Probe = fn(&Context, u32) -> Result<f64>;

/// One row of [`SUITES`].
#[derive(Clone, Copy, Debug)]
pub struct Suite {
    /// The suite's name, as `--only` and the reports spell it.
    pub name: &'static str,
    /// The kernels its cases exercise (reduce kernels run inside their parent's cases).
    pub kernels: &'static [&'static str],
    /// Runs its cases.
    pub run: RunCases,
    /// Its throughput probe, for the suites that have a figure.
    pub throughput: Option<Probe>,
}

impl Suite {
    /// A suite without a throughput figure.
    pub const fn new(name: &'static str, kernels: &'static [&'static str], run: RunCases) -> Self {
        Suite {
            name,
            kernels,
            run,
            throughput: None,
        }
    }

    /// The same suite with a throughput probe.
    pub const fn with_throughput(self, probe: Probe) -> Self {
        Suite {
            throughput: Some(probe),
            ..self
        }
    }

    /// Runs every case of the suite to `extent`.
    pub async fn cases(&self, ctx: &Context, extent: Extent) -> Result<Vec<CaseResult>> {
        let mut out = Vec::new();
        (self.run)(ctx, extent, &mut out).await?;
        Ok(out)
    }
}

/// A suite is named by its name wherever a name is asked for (see [`suite_kernels`]).
impl AsRef<str> for Suite {
    fn as_ref(&self) -> &str {
        self.name
    }
}

/// The row of [`SUITES`] for the suite in module `$m`, named after it.
macro_rules! suite {
    ($m:ident) => {
        Suite::new(stringify!($m), $m::KERNELS, |ctx, extent, out| {
            Box::pin($m::cases(ctx, extent, out))
        })
    };
}

/// The kernel suites, in the order they run.
pub static SUITES: &[Suite] = &[
    suite!(quantize).with_throughput(throughput::quantize),
    suite!(dequantize),
    suite!(gather_rows),
    suite!(channel_stats),
    suite!(clip_select),
    suite!(relu),
    suite!(softmax_xent),
    suite!(sgd),
    suite!(conv),
    suite!(depthwise),
    suite!(maxpool),
    suite!(pool),
    suite!(column_sum),
    suite!(nonfinite),
    suite!(batchnorm),
    suite!(gemm_i8).with_throughput(throughput::gemm_i8_square),
    suite!(gemm_f32).with_throughput(throughput::gemm_f32_square),
    suite!(train_step),
];

/// The suite called `name`, if there is one.
pub fn suite(name: &str) -> Option<&'static Suite> {
    SUITES.iter().find(|s| s.name == name)
}

/// The names of [`SUITES`], in order.
pub fn suite_names() -> Vec<&'static str> {
    SUITES.iter().map(|s| s.name).collect()
}

/// The kernels `suite` (a [`Suite`] or its name) exercises; none for an unknown name.
pub fn suite_kernels(suite: impl AsRef<str>) -> &'static [&'static str] {
    self::suite(suite.as_ref()).map_or(&[], |s| s.kernels)
}

/// Whether some suite exercises `kernel`.
pub fn is_covered(kernel: &str) -> bool {
    SUITES.iter().any(|s| s.kernels.contains(&kernel))
}

/// Runs every case of `suite` (one of [`SUITES`]) and waits for them. `quick` skips the largest
/// cases. In a browser, await [`Suite::cases`] instead.
pub fn run_suite(ctx: &Context, suite: &str, quick: bool) -> Result<Vec<CaseResult>> {
    match self::suite(suite) {
        Some(s) => pollster::block_on(s.cases(ctx, Extent::quick_if(quick))),
        None => Err(crate::Error::invalid(
            "conformance",
            format!("unknown suite {suite:?}; suites: {:?}", suite_names()),
        )),
    }
}

/// Throughput of `suite`'s kernel on a fixed problem, in G operations per second (GEMMs: 2·M·N·K
/// per product; quantize: elements). `None` for suites without a throughput figure.
pub fn throughput(ctx: &Context, suite: &str, size: u32) -> Result<Option<f64>> {
    match self::suite(suite).and_then(|s| s.throughput) {
        Some(probe) => probe(ctx, size).map(Some),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kernel_is_in_some_suite() {
        for def in crate::ops::ALL_KERNELS {
            assert!(is_covered(def.name), "kernel {} has no suite", def.name);
        }
    }

    #[test]
    fn suite_names_are_unique() {
        let names = suite_names();
        for (i, name) in names.iter().enumerate() {
            assert!(!names[..i].contains(name), "suite {name} listed twice");
        }
    }
}
