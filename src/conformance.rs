//! The conformance suite: every kernel against its CPU twin on one [`Context`].
//!
//! Used by `tests/conformance.rs` (on every adapter present) and by the `conformance` example,
//! the tool to attach to a bug report. Integer outputs — packed bytes, counts, int8 GEMM
//! accumulators — must equal the twin exactly. Float outputs have stated tolerances:
//!
//! | output | tolerance |
//! |---|---|
//! | quantize scales, dequantize, relu, add, im2col, col2im, maxpool | exact |
//! | global_avg_pool | 1e−6 (it divides) |
//! | softmax_xent loss, dlogits·batch | 1e−5 relative; `correct` exact |
//! | sgd weights and velocity | 1e−6 relative to 1 + \|value\| |
//! | clip_select clips, state, φ | 1e−6 (φ 1e−5); DSGC picks a best candidate; classes exact |
//! | channel_stats max\|x\|, counts | exact |
//! | channel_stats mean, std, Σx²; cosine terms | 1e−4 relative to the channel's scale |
//! | gemm_i8 with scales / bias | 1e−6 relative to \|acc·sa·sb\| + \|bias\| (fused multiply-add) |
//! | gemm_f32 | 1e−5 relative to Σ\|a\|\|b\| |

use std::time::Instant;

use crate::cpu::common::rng_u32;
use crate::cpu::{self, CpuEpilogue, CpuScale};
use crate::error::Result;
use crate::gpu::{Context, Recording};
use crate::ops::channel_stats::Candidates;
use crate::ops::gemm::{self, GemmVariant};
use crate::ops::relu::relu_mask_bytes;
use crate::ops::sgd::SgdParams;
use crate::ops::{
    self, ChannelAxis, ChannelStat, ClipBuffers, ClipRule, ClipSummary, Epilogue, GemmBuffers,
    GemmShape, Layout, LrScale, MAX_K_CHUNK, QuantizeBuffers, ReluPass, ReluSaved, Rounding, Scale,
    SgdBuffers, SgdStep, XentBuffers,
};
pub use crate::rng::Gen;

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

/// The kernel suites, in the order they run.
pub const SUITES: &[&str] = &[
    "quantize",
    "dequantize",
    "channel_stats",
    "clip_select",
    "relu",
    "softmax_xent",
    "sgd",
    "conv",
    "maxpool",
    "pool",
    "column_sum",
    "nonfinite",
    "batchnorm",
    "gemm_i8",
    "gemm_f32",
    "train_step",
];

/// The kernels a suite exercises (reduce kernels run inside their parent's cases).
pub fn suite_kernels(suite: &str) -> &'static [&'static str] {
    match suite {
        "quantize" => &["quantize", "quantize_relu_mask"],
        "dequantize" => &["dequantize"],
        "channel_stats" => &[
            "channel_stats",
            "channel_stats_reduce",
            "channel_stats_tail",
            "channel_stats_tail_reduce",
        ],
        "clip_select" => &["clip_select"],
        "relu" => &["relu"],
        "softmax_xent" => &["softmax_xent"],
        "sgd" => &["sgd"],
        "conv" => &[
            "im2col",
            "im2col_i8",
            "col2im",
            "conv_f32_regs_fwd",
            "conv_f32_regs_wgrad",
            "conv_i8_regs_fwd",
            "conv_i8_regs_wgrad",
            "conv_i8_regs_fwd_c4",
            "conv_i8_regs_wgrad_c4",
            "gemm_reduce",
        ],
        "maxpool" => &["maxpool"],
        "pool" => &["global_avg_pool", "add"],
        "column_sum" => &["column_sum", "gemm_reduce"],
        "nonfinite" => &["nonfinite_count"],
        "batchnorm" => &["batchnorm", "batchnorm_grad_prep", "batchnorm_backward"],
        "gemm_i8" => &[
            "gemm_i8",
            "gemm_i8_regs_nn",
            "gemm_i8_regs_nt",
            "gemm_i8_regs_tn",
            "gemm_i8_regs_tt",
            "gemm_reduce",
        ],
        "gemm_f32" => &["gemm_f32", "gemm_f32_regs", "gemm_reduce"],
        // Every kernel a training step dispatches, in its real context.
        "train_step" => &[
            "im2col",
            "im2col_i8",
            "col2im",
            "gemm_i8",
            "gemm_i8_regs_nn",
            "gemm_i8_regs_nt",
            "gemm_i8_regs_tt",
            "gemm_f32",
            "gemm_f32_regs",
            "gemm_reduce",
            "quantize",
            "quantize_relu_mask",
            "channel_stats",
            "channel_stats_reduce",
            "channel_stats_tail",
            "channel_stats_tail_reduce",
            "clip_select",
            "column_sum",
            "batchnorm",
            "batchnorm_grad_prep",
            "batchnorm_backward",
            "relu",
            "maxpool",
            "global_avg_pool",
            "add",
            "softmax_xent",
            "nonfinite_count",
            "sgd",
        ],
        _ => &[],
    }
}

/// Runs every case of `suite` (one of [`SUITES`]). `quick` skips the largest cases.
pub fn run_suite(ctx: &Context, suite: &str, quick: bool) -> Result<Vec<CaseResult>> {
    let mut out = Vec::new();
    match suite {
        "quantize" => quantize_cases(ctx, quick, &mut out)?,
        "dequantize" => dequantize_cases(ctx, &mut out)?,
        "channel_stats" => channel_stats_cases(ctx, quick, &mut out)?,
        "clip_select" => clip_select_cases(ctx, &mut out)?,
        "relu" => relu_cases(ctx, &mut out)?,
        "softmax_xent" => softmax_xent_cases(ctx, &mut out)?,
        "sgd" => sgd_cases(ctx, &mut out)?,
        "conv" => conv_cases(ctx, &mut out)?,
        "maxpool" => maxpool_cases(ctx, &mut out)?,
        "pool" => pool_cases(ctx, &mut out)?,
        "column_sum" => column_sum_cases(ctx, &mut out)?,
        "nonfinite" => nonfinite_cases(ctx, &mut out)?,
        "batchnorm" => batchnorm_cases(ctx, &mut out)?,
        "gemm_i8" => gemm_i8_cases(ctx, quick, &mut out)?,
        "gemm_f32" => gemm_f32_cases(ctx, &mut out)?,
        "train_step" => train_step_cases(ctx, &mut out)?,
        other => {
            return Err(crate::Error::invalid(
                "conformance",
                format!("unknown suite {other:?}; suites: {SUITES:?}"),
            ));
        }
    }
    Ok(out)
}

/// Throughput of one GEMM of `shape` (int8 on packed operands, or f32) in G operations per
/// second (2·M·N·K per product), as the best of a few timed runs after a warm-up, each one
/// submit and wait.
pub fn gemm_throughput(ctx: &Context, shape: &GemmShape, int8: bool) -> Result<f64> {
    let words = |rows, trans| GemmShape::packed_words(rows, shape.k, trans) as usize;
    let (a, b) = if int8 {
        let gen_words =
            |seed, n: usize| (0..n as u32).map(|i| rng_u32(seed, i)).collect::<Vec<_>>();
        (
            ctx.upload("bench.a", &gen_words(1, words(shape.m, shape.trans_a))),
            ctx.upload("bench.b", &gen_words(2, words(shape.n, shape.trans_b))),
        )
    } else {
        let mut g = Gen::new(3);
        (
            ctx.upload("bench.a", &g.normal_vec((shape.m * shape.k) as usize, 1.0)),
            ctx.upload("bench.b", &g.normal_vec((shape.n * shape.k) as usize, 1.0)),
        )
    };
    let out = ctx.storage_buffer("bench.out", shape.m as u64 * shape.n as u64 * 4);
    let bufs = GemmBuffers::new(&a, &b, &out);
    let mut rec = Recording::new();
    if int8 {
        let k_chunk = shape.auto_k_chunk(MAX_K_CHUNK);
        ops::gemm_i8(ctx, &mut rec, shape, k_chunk, bufs, &Epilogue::NONE)?;
    } else {
        ops::gemm_f32(ctx, &mut rec, shape, bufs, &Epilogue::NONE)?;
    }
    let prepared = rec
        .dispatches
        .iter()
        .map(|d| ctx.prepare(d))
        .collect::<Result<Vec<_>>>()?;
    let run = || -> Result<()> {
        let mut encoder = ctx.encoder("bench");
        crate::gpu::Prepared::encode_all(&prepared, &mut encoder);
        ctx.submit(encoder)?;
        ctx.wait_idle()
    };
    run()?; // compile and warm up
    Ok(2.0 * shape.macs() as f64 / time_best(run)? / 1e9)
}

/// Throughput of `suite`'s kernel on a fixed problem, in G operations per second (GEMMs: 2·M·N·K
/// per product; quantize: elements). `None` for suites without a throughput figure.
pub fn throughput(ctx: &Context, suite: &str, size: u32) -> Result<Option<f64>> {
    let (ops, secs) = match suite {
        "gemm_i8" | "gemm_f32" => {
            let shape = GemmShape::new(size, size, size);
            return Ok(Some(gemm_throughput(ctx, &shape, suite == "gemm_i8")?));
        }
        "quantize" => {
            let layout = Layout::new(size, size, ChannelAxis::Tensor);
            let x = ctx.upload("bench.x", &Gen::new(4).normal_vec(layout.len(), 1.0));
            let clips = ctx.upload("bench.clip", &[3.0f32]);
            let packed = ctx.storage_buffer("bench.q", layout.packed_words() as u64 * 4);
            let scales = ctx.storage_buffer("bench.s", 4);
            let run = || -> Result<()> {
                let mut rec = Recording::new();
                let bufs = QuantizeBuffers {
                    input: &x,
                    clips: &clips,
                    packed: &packed,
                    scales: &scales,
                    relu_mask: None,
                };
                let rounding = Rounding::Stochastic { seed: 1 };
                ops::quantize(ctx, &mut rec, &layout, rounding, bufs)?;
                ctx.run(&rec)?;
                ctx.wait_idle()
            };
            run()?;
            (layout.len() as f64, time_best(run)?)
        }
        _ => return Ok(None),
    };
    Ok(Some(ops / secs / 1e9))
}

fn time_best(mut run: impl FnMut() -> Result<()>) -> Result<f64> {
    let mut best = f64::INFINITY;
    for _ in 0..3 {
        let t = Instant::now();
        run()?;
        best = best.min(t.elapsed().as_secs_f64());
    }
    Ok(best)
}

// ---------------------------------------------------------------------------------------------
// Comparison helpers

struct Check {
    max_error: f64,
    detail: String,
}

impl Check {
    fn new() -> Self {
        Check {
            max_error: 0.0,
            detail: String::new(),
        }
    }

    fn fail(&mut self, what: String) {
        if self.detail.is_empty() {
            self.detail = what;
        }
    }

    fn exact<T: PartialEq + std::fmt::Debug>(&mut self, name: &str, gpu: &[T], twin: &[T]) {
        if let Some(i) = (0..gpu.len().min(twin.len())).find(|&i| gpu[i] != twin[i]) {
            self.fail(format!(
                "{name}[{i}]: gpu {:?} != twin {:?}",
                gpu[i], twin[i]
            ));
        }
    }

    fn exact_f32(&mut self, name: &str, gpu: &[f32], twin: &[f32]) {
        let g: Vec<u32> = gpu.iter().map(|v| v.to_bits()).collect();
        let t: Vec<u32> = twin.iter().map(|v| v.to_bits()).collect();
        if let Some(i) = (0..g.len().min(t.len())).find(|&i| g[i] != t[i]) {
            self.fail(format!(
                "{name}[{i}]: gpu {:e} != twin {:e} (bits)",
                gpu[i], twin[i]
            ));
        }
    }

    /// |gpu − twin| ≤ tol · scale[i] for every i; records the worst |gpu − twin| / (tol · scale).
    fn close(&mut self, name: &str, gpu: &[f32], twin: &[f32], scale: &[f32], tol: f64) {
        for i in 0..gpu.len().min(twin.len()) {
            let (g, t) = (gpu[i] as f64, twin[i] as f64);
            let s = (scale[i] as f64).max(f64::MIN_POSITIVE);
            let err = if g.to_bits() == t.to_bits() {
                0.0
            } else {
                (g - t).abs() / s
            };
            if err.is_nan() || err > tol {
                self.fail(format!(
                    "{name}[{i}]: gpu {g:e} vs twin {t:e} (tolerance {tol:e} × {s:e})"
                ));
            } else {
                self.max_error = self.max_error.max(err / tol);
            }
        }
    }

    fn finish(self, kernel: &'static str, case: String, out: &mut Vec<CaseResult>) {
        out.push(CaseResult {
            kernel,
            case,
            passed: self.detail.is_empty(),
            max_error: self.max_error,
            detail: self.detail,
        });
    }
}

// ---------------------------------------------------------------------------------------------
// quantize

/// What [`gpu_quantize`] read back: packed words, scales and, if asked for, the ReLU mask.
pub type Quantized = (Vec<u32>, Vec<f32>, Option<Vec<u32>>);

/// Runs `quantize` on the GPU — with `relu_mask`, also writing the mask of `input > 0` — and
/// reads back what it wrote.
pub fn gpu_quantize(
    ctx: &Context,
    layout: &Layout,
    rounding: Rounding,
    (input, clips): (&[f32], &[f32]),
    relu_mask: bool,
) -> Result<Quantized> {
    let x = ctx.upload("test.x", input);
    let c = ctx.upload("test.clips", clips);
    let packed = ctx.storage_buffer("test.packed", layout.packed_words() as u64 * 4);
    let scales = ctx.storage_buffer("test.scales", layout.channels() as u64 * 4);
    let mask_bytes = relu_mask_bytes(layout.len() as u32);
    let mask = relu_mask.then(|| ctx.storage_buffer("test.relu_mask", mask_bytes));
    let mut rec = Recording::new();
    let bufs = QuantizeBuffers {
        input: &x,
        clips: &c,
        packed: &packed,
        scales: &scales,
        relu_mask: mask.as_ref(),
    };
    ops::quantize(ctx, &mut rec, layout, rounding, bufs)?;
    ctx.run(&rec)?;
    let mut p: Vec<u32> = ctx.read_buffer(&packed)?;
    let mut s: Vec<f32> = ctx.read_buffer(&scales)?;
    p.truncate(layout.packed_words());
    s.truncate(layout.channels());
    let m = match &mask {
        Some(m) => {
            let mut words: Vec<u32> = ctx.read_buffer(m)?;
            words.truncate(mask_bytes as usize / 4);
            Some(words)
        }
        None => None,
    };
    Ok((p, s, m))
}

/// Per-channel max|x| over finite values, the usual clip.
pub fn max_abs_clips(layout: &Layout, input: &[f32]) -> Vec<f32> {
    let mut clips = vec![0f32; layout.channels()];
    for r in 0..layout.rows {
        for c in 0..layout.cols {
            let x = input[(r * layout.cols + c) as usize];
            let ch = cpu::common::channel_of(layout.axis, r, c) as usize;
            if x.is_finite() {
                clips[ch] = clips[ch].max(x.abs());
            }
        }
    }
    clips
}

const AXES: [ChannelAxis; 3] = [ChannelAxis::Tensor, ChannelAxis::Rows, ChannelAxis::Cols];

fn quantize_inputs(rows: u32, cols: u32, g: &mut Gen) -> Vec<(&'static str, Vec<f32>)> {
    let n = (rows * cols) as usize;
    let mut nonfinite = g.normal_vec(n, 2.0);
    for (i, v) in nonfinite.iter_mut().enumerate() {
        match i % 7 {
            1 => *v = f32::NAN,
            3 => *v = f32::INFINITY,
            5 => *v = f32::NEG_INFINITY,
            _ => {}
        }
    }
    vec![
        ("normal", g.normal_vec(n, 1.0)),
        ("laplace", (0..n).map(|_| g.laplace()).collect()),
        ("zeros", vec![0.0; n]),
        (
            "extremes ±127",
            (0..n)
                .map(|i| if i % 2 == 0 { 127.0 } else { -127.0 })
                .collect(),
        ),
        (
            "ties k+0.5",
            (0..n).map(|i| (i % 255) as f32 - 127.0 + 0.5).collect(),
        ),
        ("huge 1e30", g.normal_vec(n, 1e30)),
        ("tiny 1e-25", g.normal_vec(n, 1e-25)),
        ("nan/inf", nonfinite),
    ]
}

fn quantize_cases(ctx: &Context, quick: bool, out: &mut Vec<CaseResult>) -> Result<()> {
    // A ReLU mask needs a multiple of 4 columns: (3, 8), (300, 4) (two workgroups, a last word
    // half full) and (64, 1000) also write one.
    let mut shapes = vec![
        (1, 1),
        (3, 5),
        (3, 8),
        (5, 17),
        (17, 129),
        (129, 3),
        (300, 4),
    ];
    if !quick {
        shapes.push((64, 1000));
    }
    let mut g = Gen::new(11);
    for &(rows, cols) in &shapes {
        for (data_name, input) in quantize_inputs(rows, cols, &mut g) {
            for axis in AXES {
                let layout = Layout::new(rows, cols, axis);
                let max_clips = max_abs_clips(&layout, &input);
                let mut clip_sets = vec![("max", max_clips.clone())];
                if data_name == "normal" {
                    clip_sets.push(("0.4·max", max_clips.iter().map(|c| c * 0.4).collect()));
                    let degenerate = [0.0, f32::NAN, f32::INFINITY, -1.0, 1e-31];
                    clip_sets.push((
                        "degenerate",
                        (0..layout.channels()).map(|i| degenerate[i % 5]).collect(),
                    ));
                }
                for (clip_name, clips) in clip_sets {
                    for rounding in [Rounding::Nearest, Rounding::Stochastic { seed: 0x5eed }] {
                        let marks = cols % 4 == 0;
                        let data = (&input[..], &clips[..]);
                        let (p, s, m) = gpu_quantize(ctx, &layout, rounding, data, marks)?;
                        let mut tp = vec![0u32; layout.packed_words()];
                        let mut ts = vec![0f32; layout.channels()];
                        let mut tm = vec![0u32; relu_mask_bytes(layout.len() as u32) as usize / 4];
                        let twin_mask = marks.then_some(&mut tm[..]);
                        cpu::quantize(
                            &layout, rounding, &input, &clips, &mut tp, &mut ts, twin_mask,
                        );
                        let mut check = Check::new();
                        check.exact("packed", &p, &tp);
                        check.exact_f32("scales", &s, &ts);
                        if let Some(m) = m {
                            check.exact("relu_mask", &m, &tm);
                            // The very bits the ReLU pass writes.
                            let mut rm = vec![0u32; tm.len()];
                            let mut y = vec![0f32; input.len()];
                            cpu::relu_forward(&input, Some(&mut rm), &mut y);
                            check.exact("relu_mask vs relu", &m, &rm);
                        }
                        let r = if rounding == Rounding::Nearest {
                            "nearest"
                        } else {
                            "stochastic"
                        };
                        let case =
                            format!("{rows}x{cols} {axis:?} {data_name} clip={clip_name} {r}");
                        check.finish("quantize", case, out);
                    }
                }
            }
        }
    }
    stochastic_unbiased_case(ctx, if quick { 16 } else { 64 }, out)
}

/// Stochastic rounding is unbiased: for each of 64 values between grid points, the mean of its
/// dequantized copies over `seeds` seeds × 64 rows must lie within 5 standard errors of it, while
/// nearest rounding is off by up to half a step.
fn stochastic_unbiased_case(ctx: &Context, seeds: u32, out: &mut Vec<CaseResult>) -> Result<()> {
    let (rows, cols) = (64u32, 64u32);
    let layout = Layout::new(rows, cols, ChannelAxis::Tensor);
    let clip = 127.0f32;
    // Column c holds the same value in every row: fractions spread over (0, 1), both signs.
    let values: Vec<f32> = (0..cols)
        .map(|c| (c as f32 - 32.0) * 1.37 + (c as f32 * 0.618).fract() * 0.98 + 0.01)
        .collect();
    let input: Vec<f32> = (0..rows * cols)
        .map(|i| values[(i % cols) as usize])
        .collect();
    let mut sums = vec![0f64; cols as usize];
    let mut check = Check::new();
    for seed in 0..seeds {
        let rounding = Rounding::Stochastic {
            seed: seed.wrapping_mul(0x9e37) + 1,
        };
        let (p, s, _) = gpu_quantize(ctx, &layout, rounding, (&input, &[clip]), false)?;
        let mut tp = vec![0u32; layout.packed_words()];
        let mut ts = vec![0f32; 1];
        cpu::quantize(&layout, rounding, &input, &[clip], &mut tp, &mut ts, None);
        check.exact("packed", &p, &tp);
        let mut deq = vec![0f32; layout.len()];
        cpu::dequantize(&layout, &p, &s, &mut deq);
        for (i, v) in deq.iter().enumerate() {
            sums[i % cols as usize] += *v as f64;
        }
    }
    let draws = (seeds * rows) as f64;
    let step = (clip / 127.0) as f64;
    let bound = 5.0 * 0.5 * step / draws.sqrt();
    let mut worst_nearest = 0f64;
    for c in 0..cols as usize {
        let mean = sums[c] / draws;
        let err = (mean - values[c] as f64).abs();
        check.max_error = check.max_error.max(err / bound);
        if err > bound {
            check.fail(format!(
                "value {}: mean of {draws} draws {mean} (bound {bound:e})",
                values[c]
            ));
        }
        worst_nearest = worst_nearest.max((values[c] as f64 - values[c].round() as f64).abs());
    }
    if worst_nearest < 3.0 * bound {
        check.fail(format!(
            "test too weak: nearest's bias {worst_nearest} is within {bound}"
        ));
    }
    check.finish(
        "quantize",
        format!("stochastic rounding unbiased ({seeds} seeds × {rows} rows)"),
        out,
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// dequantize

fn dequantize_cases(ctx: &Context, out: &mut Vec<CaseResult>) -> Result<()> {
    for &(rows, cols) in &[(1u32, 1u32), (3, 5), (17, 129), (129, 3)] {
        for axis in AXES {
            let layout = Layout::new(rows, cols, axis);
            // Every byte value, −128 included, with pad bytes left as garbage.
            let packed: Vec<u32> = (0..layout.packed_words() as u32)
                .map(|i| rng_u32(21, i))
                .collect();
            let mut g = Gen::new(22);
            let scales: Vec<f32> = (0..layout.channels()).map(|_| g.uniform() * 0.1).collect();
            let buf_p = ctx.upload("test.packed", &packed);
            let buf_s = ctx.upload("test.scales", &scales);
            let buf_o = ctx.storage_buffer("test.out", layout.len() as u64 * 4);
            let mut rec = Recording::new();
            ops::dequantize(&mut rec, &layout, &buf_p, &buf_s, &buf_o)?;
            ctx.run(&rec)?;
            let gpu: Vec<f32> = ctx.read_buffer(&buf_o)?;
            let mut twin = vec![0f32; layout.len()];
            cpu::dequantize(&layout, &packed, &scales, &mut twin);
            let mut check = Check::new();
            check.exact_f32("output", &gpu[..layout.len()], &twin);
            check.finish(
                "dequantize",
                format!("{rows}x{cols} {axis:?} all bytes"),
                out,
            );
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// channel_stats (both passes)

/// Default candidate ratios for UI8's clip search: 1.00, 0.95, …, 0.05 of max|g|.
pub fn default_ratios() -> Vec<f32> {
    (0..20).map(|i| 1.0 - 0.05 * i as f32).collect()
}

/// What both statistics passes produce.
#[derive(Clone, Debug)]
pub struct StatsRun {
    /// Stats after pass 1 (`above_sigma` still 0).
    pub pass1: Vec<ChannelStat>,
    /// Stats after pass 2.
    pub pass2: Vec<ChannelStat>,
    /// `[g·ĝ, ĝ·ĝ]` per channel and candidate.
    pub terms: Vec<[f32; 2]>,
}

/// Runs both stats passes on the GPU: one after the other, reading back pass 1's result, or with
/// `both` as [`ops::channel_stats_both`] records them (then `pass1` is the result without
/// `above_sigma`).
pub fn gpu_channel_stats(
    ctx: &Context,
    layout: &Layout,
    input: &[f32],
    ratios: &[f32],
    both: bool,
) -> Result<StatsRun> {
    let x = ctx.upload("test.x", input);
    let bytes = (layout.channels() * std::mem::size_of::<ChannelStat>()) as u64;
    let stats = ctx.storage_buffer("test.stats", bytes);
    let ratio_buf = ctx.upload("test.ratios", ratios);
    let terms = ctx.storage_buffer("test.terms", (layout.channels() * ratios.len() * 8) as u64);
    let candidates = (!ratios.is_empty()).then_some(Candidates {
        count: ratios.len(),
        ratios: &ratio_buf,
        cosine_terms: &terms,
    });
    let mut rec = Recording::new();
    let pass1 = if both {
        ops::channel_stats_both(ctx, &mut rec, layout, &x, &stats, candidates, None)?;
        None
    } else {
        ops::channel_stats(ctx, &mut rec, layout, &x, &stats, None)?;
        ctx.run(&rec)?;
        rec = Recording::new();
        let pass1: Vec<ChannelStat> = ctx.read_buffer(&stats)?;
        ops::channel_stats_tail(ctx, &mut rec, layout, &x, &stats, candidates, None)?;
        Some(pass1)
    };
    ctx.run(&rec)?;
    let pass2: Vec<ChannelStat> = ctx.read_buffer(&stats)?;
    let pass1 = pass1.unwrap_or_else(|| {
        let without_tail = |s: &ChannelStat| ChannelStat {
            above_sigma: 0,
            ..*s
        };
        pass2.iter().map(without_tail).collect()
    });
    let t: Vec<[f32; 2]> = ctx.read_buffer(&terms)?;
    let ch = layout.channels();
    Ok(StatsRun {
        pass1: pass1[..ch].to_vec(),
        pass2: pass2[..ch].to_vec(),
        terms: t[..ch * ratios.len()].to_vec(),
    })
}

/// Both passes on the CPU twins; pass 2 reads `pass1` (the GPU's, in the suite) so that the
/// comparison |x| > σ is decided on the same σ and its count must match exactly.
pub fn twin_channel_stats(
    layout: &Layout,
    input: &[f32],
    ratios: &[f32],
    pass1: Option<&[ChannelStat]>,
) -> StatsRun {
    use crate::ops::channel_stats::segments;
    let (ch, segs) = (layout.channels(), segments(layout));
    let mut partials = vec![ops::StatsPartial::default(); ch * segs];
    let mut p1 = vec![ChannelStat::default(); ch];
    cpu::channel_stats(layout, input, &mut partials, &mut p1);
    if segs > 1 {
        cpu::channel_stats_reduce(layout, input, &partials, &mut p1);
    }
    let mut p2 = pass1.map_or_else(|| p1.clone(), <[ChannelStat]>::to_vec);
    let mut tail = vec![[0u32; 2]; ch * segs * (1 + ratios.len())];
    let mut terms = vec![[0f32; 2]; ch * ratios.len()];
    cpu::channel_stats_tail(
        layout,
        input,
        ratios,
        &mut p2,
        (&mut tail, &mut terms),
        false,
    );
    if segs > 1 {
        cpu::channel_stats_tail_reduce(layout, ratios.len(), &tail, &mut p2, &mut terms);
    }
    StatsRun {
        pass1: p1,
        pass2: p2,
        terms,
    }
}

/// (name, field, tolerance scale) of one float statistic.
type Moment<'a> = (&'a str, fn(&ChannelStat) -> f32, &'a [f32]);

fn channel_stats_cases(ctx: &Context, quick: bool, out: &mut Vec<CaseResult>) -> Result<()> {
    // (9000, 2) and (2, 9000) span several segments per channel.
    let mut shapes = vec![
        (1u32, 1u32),
        (3, 5),
        (17, 129),
        (129, 3),
        (300, 7),
        (9000, 2),
        (2, 9000),
    ];
    if !quick {
        shapes.push((1000, 33));
    }
    let ratios = default_ratios();
    let mut g = Gen::new(31);
    for &(rows, cols) in &shapes {
        let n = (rows * cols) as usize;
        let mut nonfinite = g.normal_vec(n, 1.0);
        for v in nonfinite.iter_mut().step_by(5) {
            *v = f32::NAN;
        }
        if n > 2 {
            nonfinite[2] = f32::NEG_INFINITY;
        }
        let datasets: Vec<(&str, Vec<f32>)> = vec![
            ("normal", g.normal_vec(n, 1.0)),
            ("laplace", (0..n).map(|_| g.laplace() * 3.0).collect()),
            (
                "mean 1000 std 1",
                (0..n).map(|_| 1000.0 + g.normal()).collect(),
            ),
            ("zeros", vec![0.0; n]),
            ("huge 1e18", g.normal_vec(n, 1e18)),
            ("tiny 1e-18", g.normal_vec(n, 1e-18)),
            ("nan/inf", nonfinite),
        ];
        for (data_name, input) in &datasets {
            for axis in AXES {
                let layout = Layout::new(rows, cols, axis);
                // Thousands of two-element channels, a workgroup each, take seconds on a CPU
                // driver and test nothing the smaller shapes do not.
                if layout.channels() > 1000 {
                    continue;
                }
                let StatsRun {
                    pass1: p1,
                    pass2: p2,
                    terms,
                } = gpu_channel_stats(ctx, &layout, input, &ratios, false)?;
                // Again, in one dispatch where a channel is one segment: the same bits.
                let again = gpu_channel_stats(ctx, &layout, input, &ratios, true)?;
                let twin = twin_channel_stats(&layout, input, &ratios, Some(&p1));
                let (twin1, twin2, twin_terms) = (twin.pass1, twin.pass2, twin.terms);
                let mut check = Check::new();
                let field = |v: &[ChannelStat], f: fn(&ChannelStat) -> f32| -> Vec<f32> {
                    v.iter().map(f).collect()
                };
                let counts = |v: &[ChannelStat]| -> Vec<[u32; 3]> {
                    v.iter()
                        .map(|s| [s.count, s.nonfinite, s.above_sigma])
                        .collect()
                };
                check.exact_f32(
                    "max_abs",
                    &field(&p1, |s| s.max_abs),
                    &field(&twin1, |s| s.max_abs),
                );
                check.exact("count, nonfinite", &counts(&p1), &counts(&twin1));
                // Vulkan lets a driver flush subnormal results to zero (NVIDIA's do, llvmpipe's
                // do not): a square or product below f32::MIN_POSITIVE may vanish. The scales
                // below allow what that can change — per element at most MIN_POSITIVE in a sum
                // of squares, about √MIN_POSITIVE in a standard deviation — which only matters
                // for data near 1e-19 and below.
                const TOL: f32 = 1e-4;
                let flush = |count: u32| count as f32 * f32::MIN_POSITIVE / TOL;
                let std_flush = f32::MIN_POSITIVE.sqrt() / TOL;
                let scale: Vec<f32> = twin1
                    .iter()
                    .map(|s| s.mean.abs() + s.std_dev + std_flush)
                    .collect();
                let sq_scale: Vec<f32> = twin1
                    .iter()
                    .map(|s| s.sum_sq + flush(s.count.max(1)))
                    .collect();
                let moments: [Moment; 3] = [
                    ("mean", |s| s.mean, &scale),
                    ("std", |s| s.std_dev, &scale),
                    ("sum_sq", |s| s.sum_sq, &sq_scale),
                ];
                for (name, get, tol_scale) in moments {
                    check.close(
                        name,
                        &field(&p1, get),
                        &field(&twin1, get),
                        tol_scale,
                        TOL as f64,
                    );
                }
                check.exact("above_sigma", &counts(&p2), &counts(&twin2));
                let flat = |t: &[[f32; 2]]| -> Vec<f32> { t.iter().flatten().copied().collect() };
                let term_scale: Vec<f32> = (0..terms.len() * 2)
                    .map(|i| {
                        let s = &twin1[i / (2 * ratios.len())];
                        s.sum_sq + flush(s.count.max(1))
                    })
                    .collect();
                check.close(
                    "cosine terms",
                    &flat(&terms),
                    &flat(&twin_terms),
                    &term_scale,
                    1e-4,
                );
                // Determinism, and one dispatch = two passes: the same input gives the same bits.
                let bits = |v: &[ChannelStat]| -> Vec<u8> { bytemuck::cast_slice(v).to_vec() };
                check.exact("rerun stats bits", &bits(&again.pass2), &bits(&p2));
                check.exact("rerun pass-1 bits", &bits(&again.pass1), &bits(&p1));
                check.exact_f32("rerun cosine terms", &flat(&again.terms), &flat(&terms));
                check.finish(
                    "channel_stats",
                    format!("{rows}x{cols} {axis:?} {data_name}"),
                    out,
                );
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// clip_select

/// Runs `clip_select` on the GPU from host-side statistics; returns `(clips, state, summary)`.
pub fn gpu_clip_select(
    ctx: &Context,
    rule: ClipRule,
    stats: &[ChannelStat],
    terms: &[[f32; 2]],
    ratios: &[f32],
    state: &[f32],
) -> Result<(Vec<f32>, Vec<f32>, ClipSummary)> {
    let ch = stats.len();
    let stats_buf = ctx.upload("test.stats", stats);
    let terms_buf = ctx.upload("test.terms", terms);
    let ratios_buf = ctx.upload("test.ratios", ratios);
    let state_buf = ctx.upload("test.state", state);
    let clips = ctx.storage_buffer("test.clips", ch as u64 * 4);
    let summary = ctx.storage_buffer("test.summary", std::mem::size_of::<ClipSummary>() as u64);
    let mut rec = Recording::new();
    let bufs = ClipBuffers {
        stats: &stats_buf,
        candidates: Some((&terms_buf, &ratios_buf)),
        state: Some(&state_buf),
        clips: &clips,
        summary: (&summary, 0),
    };
    ops::clip_select(ctx, &mut rec, ch as u32, ratios.len(), rule, bufs)?;
    ctx.run(&rec)?;
    let c: Vec<f32> = ctx.read_buffer(&clips)?;
    let st: Vec<f32> = ctx.read_buffer(&state_buf)?;
    let sm: Vec<ClipSummary> = ctx.read_buffer(&summary)?;
    Ok((c[..ch].to_vec(), st[..ch].to_vec(), sm[0]))
}

fn clip_select_cases(ctx: &Context, out: &mut Vec<CaseResult>) -> Result<()> {
    let ratios = default_ratios();
    let mut g = Gen::new(61);
    // Columns of mixed families, so MCS sees both classes; 300 columns exercise lane striding.
    for &(rows, cols) in &[(2000u32, 7u32), (64, 300), (1, 1)] {
        let n = (rows * cols) as usize;
        for step in 0..3 {
            let scale = [1.0, 0.3, 2.0][step];
            let input: Vec<f32> = (0..n)
                .map(|i| match i % cols as usize % 3 {
                    0 => g.normal() * scale,
                    1 => g.laplace().powi(3) * scale,
                    _ => (g.uniform() - 0.5) * scale,
                })
                .collect();
            for axis in [ChannelAxis::Tensor, ChannelAxis::Cols] {
                let layout = Layout::new(rows, cols, axis);
                let run = gpu_channel_stats(ctx, &layout, &input, &ratios, true)?;
                let ch = layout.channels();
                // MCS state carried over from an earlier step (zeros = unset at step 0).
                let state: Vec<f32> = (0..ch)
                    .map(|i| {
                        if step == 0 {
                            0.0
                        } else {
                            1.0 + i as f32 * 0.01
                        }
                    })
                    .collect();
                let rules = [
                    ("max", ClipRule::Max),
                    ("ui8", ClipRule::UI8),
                    ("dai8", ClipRule::DAI8),
                    (
                        "dai8 update-always",
                        ClipRule::Mcs {
                            lambda: 0.3,
                            k: 1.0,
                            a: 0.8,
                            update_always: true,
                        },
                    ),
                ];
                for (name, rule) in rules {
                    let (clips, new_state, summary) =
                        gpu_clip_select(ctx, rule, &run.pass2, &run.terms, &ratios, &state)?;
                    let mut twin_state = state.clone();
                    let mut twin_clips = vec![0f32; ch];
                    let twin = cpu::clip_select(
                        rule,
                        &run.pass2,
                        &run.terms,
                        &ratios,
                        &mut twin_state,
                        &mut twin_clips,
                    );
                    let mut check = Check::new();
                    let scale: Vec<f32> = run
                        .pass2
                        .iter()
                        .map(|s| s.max_abs + f32::MIN_POSITIVE)
                        .collect();
                    if let ClipRule::Dsgc { .. } = rule {
                        // The GPU's choice must be a candidate whose twin distance ties the best.
                        for (c, clip) in clips.iter().enumerate() {
                            let d: Vec<f32> = (0..ratios.len())
                                .map(|r| {
                                    run.pass2[c].cosine_distance(run.terms[c * ratios.len() + r])
                                })
                                .collect();
                            let best = d.iter().copied().fold(f32::INFINITY, f32::min);
                            let ok = (0..ratios.len()).any(|r| {
                                (ratios[r] * run.pass2[c].max_abs).to_bits() == clip.to_bits()
                                    && d[r] - best <= 1e-6
                            });
                            if !ok {
                                check.fail(format!(
                                    "channel {c}: clip {} is not a best candidate",
                                    clips[c]
                                ));
                            }
                        }
                        check.close(
                            "distance",
                            &[summary.distance],
                            &[twin.distance],
                            &[1.0],
                            1e-6,
                        );
                    } else {
                        check.close("clips", &clips, &twin_clips, &scale, 1e-6);
                        check.close("state", &new_state, &twin_state, &scale, 1e-6);
                    }
                    check.close("phi", &[summary.phi], &[twin.phi], &[1.0], 1e-5);
                    // Under DSGC candidates can tie (a one-element channel loses nothing at any
                    // clip), and a driver's sqrt may break the tie differently from the twin:
                    // the tensor clip must then be the largest of the GPU's own choices.
                    let tensor_twin = match rule {
                        ClipRule::Dsgc { .. } => clips.iter().copied().fold(0f32, f32::max),
                        _ => twin.tensor_clip,
                    };
                    check.close(
                        "tensor clip",
                        &[summary.tensor_clip],
                        &[tensor_twin],
                        &[tensor_twin.max(f32::MIN_POSITIVE)],
                        1e-6,
                    );
                    check.exact(
                        "classes",
                        &[summary.gaussian, summary.inverted_t],
                        &[twin.gaussian, twin.inverted_t],
                    );
                    check.finish(
                        "clip_select",
                        format!("{rows}x{cols} {axis:?} step {step} {name}"),
                        out,
                    );
                }
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// relu, softmax_xent, sgd: the FP32 parts of a training step

fn relu_cases(ctx: &Context, out: &mut Vec<CaseResult>) -> Result<()> {
    let mut g = Gen::new(71);
    for n in [1u32, 5, 1000, 70_000] {
        let len = n as usize;
        let mut x = g.normal_vec(len, 1.0);
        let specials = [0.0, -0.0, f32::NAN, f32::INFINITY, f32::NEG_INFINITY];
        for (i, v) in specials.iter().enumerate().take(len) {
            x[i * 7 % len] = *v;
        }
        let dy = g.normal_vec(len, 1.0);
        let xb = ctx.upload("test.x", &x);
        let dyb = ctx.upload("test.dy", &dy);
        let words = len.div_ceil(32);
        let (yb, y_plain, maskb) = (
            ctx.storage_buffer("test.y", n as u64 * 4),
            ctx.storage_buffer("test.y_plain", n as u64 * 4),
            ctx.storage_buffer("test.mask", relu_mask_bytes(n)),
        );
        let (dx_values, dx_mask) = (
            ctx.storage_buffer("test.dx_values", n as u64 * 4),
            ctx.storage_buffer("test.dx_mask", n as u64 * 4),
        );
        let mut rec = Recording::new();
        let forward = |mask| ReluPass::Forward { x: &xb, mask };
        ops::relu(ctx, &mut rec, n, forward(Some(&maskb)), &yb)?;
        ops::relu(ctx, &mut rec, n, forward(None), &y_plain)?;
        let backward = |saved| ReluPass::Backward { dy: &dyb, saved };
        let from_y = ReluSaved::Values(&yb);
        ops::relu(ctx, &mut rec, n, backward(from_y), &dx_values)?;
        ops::relu(
            ctx,
            &mut rec,
            n,
            backward(ReluSaved::Mask(&maskb)),
            &dx_mask,
        )?;
        ctx.run(&rec)?;
        let read = |b: &wgpu::Buffer| -> Result<Vec<f32>> {
            let mut v: Vec<f32> = ctx.read_buffer(b)?;
            v.truncate(len);
            Ok(v)
        };
        let (y, dxv, dxm) = (read(&yb)?, read(&dx_values)?, read(&dx_mask)?);
        let y_plain = read(&y_plain)?;
        let mask: Vec<u32> = ctx.read_buffer(&maskb)?;
        let (mut ty, mut tmask, mut tdx) = (vec![0f32; len], vec![0u32; words], vec![0f32; len]);
        cpu::relu_forward(&x, Some(&mut tmask), &mut ty);
        let mut check = Check::new();
        check.exact_f32("y", &y, &ty);
        check.exact_f32("y without a mask", &y_plain, &ty);
        check.exact("mask", &mask[..words], &tmask);
        cpu::relu_backward(cpu::ReluSaved::Values(&ty), &dy, &mut tdx);
        check.exact_f32("dx from y", &dxv, &tdx);
        // Every route to the backward gives the same bits: from the input, the output, the mask.
        cpu::relu_backward(cpu::ReluSaved::Mask(&tmask), &dy, &mut tdx);
        check.exact_f32("dx from the mask", &dxm, &tdx);
        cpu::relu_backward(cpu::ReluSaved::Values(&x), &dy, &mut tdx);
        check.exact_f32("dx from the mask vs from x", &dxm, &tdx);
        check.finish("relu", format!("n={n} with ±0, NaN, ±Inf"), out);
    }
    Ok(())
}

fn softmax_xent_cases(ctx: &Context, out: &mut Vec<CaseResult>) -> Result<()> {
    let mut g = Gen::new(81);
    for &(batch, classes) in &[(1u32, 1u32), (3, 10), (64, 10), (17, 129), (5, 1000)] {
        for (name, scale, offset) in [
            ("normal", 1.0, 0.0),
            ("saturated ×30", 30.0, 0.0),
            ("offset 1e4", 1.0, 1e4),
        ] {
            let n = (batch * classes) as usize;
            let logits: Vec<f32> = (0..n).map(|_| g.normal() * scale + offset).collect();
            let mut labels: Vec<u32> = (0..batch).map(|i| rng_u32(82, i) % classes).collect();
            if batch > 2 {
                labels[1] = classes + 3; // out of range: contributes nothing
            }
            let lb = ctx.upload("test.logits", &logits);
            let lab = ctx.upload("test.labels", &labels);
            let db = ctx.storage_buffer("test.dlogits", n as u64 * 4);
            let rb = ctx.storage_buffer("test.row_loss", batch as u64 * 4);
            let cb = ctx.storage_buffer("test.correct", batch as u64 * 4);
            let mut rec = Recording::new();
            let bufs = XentBuffers {
                logits: &lb,
                labels: &lab,
                dlogits: &db,
                row_loss: &rb,
                correct: &cb,
            };
            ops::softmax_xent(&mut rec, batch, classes, bufs)?;
            ctx.run(&rec)?;
            let gd: Vec<f32> = ctx.read_buffer(&db)?;
            let gr: Vec<f32> = ctx.read_buffer(&rb)?;
            let gc: Vec<u32> = ctx.read_buffer(&cb)?;
            let (mut td, mut tr, mut tc) = (
                vec![0f32; n],
                vec![0f32; batch as usize],
                vec![0u32; batch as usize],
            );
            cpu::softmax_xent(
                classes as usize,
                &logits,
                &labels,
                &mut td,
                &mut tr,
                &mut tc,
            );
            let mut check = Check::new();
            check.exact("correct", &gc[..batch as usize], &tc);
            let loss_scale: Vec<f32> = tr.iter().map(|l| l.abs().max(1.0)).collect();
            check.close("loss", &gr[..batch as usize], &tr, &loss_scale, 1e-5);
            check.close("dlogits", &gd[..n], &td, &vec![1.0 / batch as f32; n], 1e-5);
            check.finish("softmax_xent", format!("{batch}x{classes} {name}"), out);
        }
    }
    Ok(())
}

fn sgd_cases(ctx: &Context, out: &mut Vec<CaseResult>) -> Result<()> {
    let mut g = Gen::new(91);
    let variants = [
        (
            "momentum 0.9, wd 5e-4",
            SgdStep {
                lr: 0.1,
                momentum: 0.9,
                weight_decay: 5e-4,
                nesterov: false,
            },
            None,
        ),
        (
            "nesterov",
            SgdStep {
                lr: 0.05,
                momentum: 0.9,
                weight_decay: 0.0,
                nesterov: true,
            },
            None,
        ),
        (
            "plain, lr × GPU factor",
            SgdStep {
                lr: 0.2,
                momentum: 0.0,
                weight_decay: 1e-4,
                nesterov: false,
            },
            Some(LrScale::Word(2)),
        ),
        (
            "global φ of the mean distance",
            SgdStep {
                lr: 0.2,
                momentum: 0.9,
                weight_decay: 0.0,
                nesterov: false,
            },
            Some(LrScale::MeanDistance {
                layers: 3,
                alpha: 20.0,
                beta: 0.1,
            }),
        ),
        (
            "global min φ",
            SgdStep {
                lr: 0.2,
                momentum: 0.9,
                weight_decay: 0.0,
                nesterov: false,
            },
            Some(LrScale::MinPhi { layers: 3 }),
        ),
    ];
    // A table of three clip summaries: (tensor clip, distance, φ, …) each.
    let table: Vec<f32> = [[2.0f32, 0.02, 0.67], [1.0, 0.05, 0.37], [3.0, 0.01, 0.82]]
        .iter()
        .flat_map(|s| [s[0], s[1], s[2], 0.0, 0.0, 0.0, 0.0, 0.0])
        .collect();
    for n in [1u32, 1000, 70_000] {
        for (name, step, scale) in variants {
            let mut w = g.normal_vec(n as usize, 1.0);
            let mut v = vec![0f32; n as usize];
            let wb = ctx.upload("test.w", &w);
            let vb = ctx.upload("test.v", &v);
            let fb = ctx.upload("test.factors", &table);
            let mut check = Check::new();
            // Three steps with the state carried on both sides.
            for _ in 0..3 {
                let grad = g.normal_vec(n as usize, 1.0);
                let gb = ctx.upload("test.grad", &grad);
                let mut rec = Recording::new();
                let bufs = SgdBuffers {
                    grad: &gb,
                    weights: &wb,
                    velocity: &vb,
                    lr_scale: scale.map(|s| (&fb, s)),
                    guard: None,
                };
                ops::sgd(ctx, &mut rec, n, step, bufs)?;
                ctx.run(&rec)?;
                let params = SgdParams::new(n, step, scale);
                cpu::sgd(&params, &table, &[0], &grad, &mut w, &mut v);
            }
            let gw: Vec<f32> = ctx.read_buffer(&wb)?;
            let gv: Vec<f32> = ctx.read_buffer(&vb)?;
            let scale = |t: &[f32]| -> Vec<f32> { t.iter().map(|x| x.abs() + 1.0).collect() };
            check.close("weights", &gw[..n as usize], &w, &scale(&w), 1e-6);
            check.close("velocity", &gv[..n as usize], &v, &scale(&v), 1e-6);
            check.finish("sgd", format!("n={n} {name}, 3 steps"), out);
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// convolution data movement and pooling

fn conv_cases(ctx: &Context, out: &mut Vec<CaseResult>) -> Result<()> {
    let mut g = Gen::new(101);
    // (n, h, w, c, kh, kw, stride, pad): LeNet's shapes, odd sizes, strides and paddings.
    let shapes = [
        (2u32, 28u32, 28u32, 1u32, 5u32, 5u32, 1u32, 2u32),
        (3, 14, 14, 6, 5, 5, 1, 0),
        (1, 7, 5, 3, 3, 3, 2, 1),
        (2, 9, 9, 4, 3, 3, 1, 1),
        (1, 1, 1, 1, 1, 1, 1, 0),
        (2, 8, 6, 5, 1, 1, 2, 0),
        // Channels four to a word (conv_i8_regs_*_c4), strided and padded.
        (2, 6, 5, 8, 3, 3, 2, 1),
    ];
    for (n, h, w, c, kh, kw, stride, pad) in shapes {
        let geom = ops::ConvGeometry {
            n,
            h,
            w,
            c,
            kh,
            kw,
            stride,
            pad,
        };
        let x = g.normal_vec(geom.input_len() as usize, 1.0);
        let cells = (geom.rows() * geom.taps()) as usize;
        let dcols = g.normal_vec(cells, 1.0);
        let xb = ctx.upload("test.x", &x);
        let cb = ctx.storage_buffer("test.cols", cells as u64 * 4);
        let db = ctx.upload("test.dcols", &dcols);
        let dxb = ctx.storage_buffer("test.dx", geom.input_len() * 4);
        let mut rec = Recording::new();
        ops::im2col(&mut rec, &geom, &xb, &cb)?;
        ops::col2im(&mut rec, &geom, &db, &dxb)?;
        ctx.run(&rec)?;
        let cols: Vec<f32> = ctx.read_buffer(&cb)?;
        let dx: Vec<f32> = ctx.read_buffer(&dxb)?;
        let mut twin_cols = vec![0f32; cells];
        let mut twin_dx = vec![0f32; geom.input_len() as usize];
        cpu::im2col(&geom, &x, &mut twin_cols);
        cpu::col2im(&geom, &dcols, &mut twin_dx);
        let mut check = Check::new();
        check.exact_f32("cols", &cols[..cells], &twin_cols);
        // Sums in the same order with no multiply to fuse: the same bits.
        check.exact_f32("dx", &dx[..twin_dx.len()], &twin_dx);
        // col2im is the adjoint of im2col: <im2col(x), d> = <x, col2im(d)>.
        let lhs: f64 = twin_cols
            .iter()
            .zip(&dcols)
            .map(|(a, b)| *a as f64 * *b as f64)
            .sum();
        let rhs: f64 = x
            .iter()
            .zip(&twin_dx)
            .map(|(a, b)| *a as f64 * *b as f64)
            .sum();
        if (lhs - rhs).abs() > 1e-3 * lhs.abs().max(1.0) {
            check.fail(format!("not adjoint: {lhs} vs {rhs}"));
        }
        check.finish(
            "conv",
            format!("{n}x{h}x{w}x{c} k{kh}x{kw} s{stride} p{pad}"),
            out,
        );
        implicit_conv_cases(ctx, &geom, (&x, &xb, &cb), &mut g, out)?;
        implicit_conv_i8_cases(ctx, &geom, &mut g, out)?;
        // The column matrix of the input quantized in place, against quantizing im2col(x): a
        // clip below max|x| (saturation), one above, and one that quantizes everything to zero.
        let xq: Vec<f32> = x
            .iter()
            .enumerate()
            .map(|(i, v)| match i % 97 {
                13 => f32::NAN,
                29 => f32::INFINITY,
                41 => 1e-40, // subnormal
                _ => *v,
            })
            .collect();
        for clip in [1.5f32, 8.0, 0.0] {
            let in_place = geom.quantized_input_layout();
            let (x_q, _, _) =
                gpu_quantize(ctx, &in_place, Rounding::Nearest, (&xq, &[clip]), false)?;
            let layout = Layout::new(geom.rows(), geom.taps(), ChannelAxis::Tensor);
            let x_qb = ctx.upload("test.x_q", &x_q);
            let packed = ctx.storage_buffer("test.packed", layout.packed_words() as u64 * 4);
            let mut rec = Recording::new();
            ops::im2col_i8(&mut rec, &geom, &x_qb, &packed)?;
            ctx.run(&rec)?;
            let gpu: Vec<u32> = ctx.read_buffer(&packed)?;
            let words = layout.packed_words();
            let mut twin = vec![0u32; words];
            cpu::im2col_i8(&geom, &x_q, &mut twin);
            // And what it stands for: im2col, then quantize.
            let mut cols = vec![0f32; cells];
            cpu::im2col(&geom, &xq, &mut cols);
            let (mut two_pass, mut two_pass_scale) = (vec![0u32; words], [0f32]);
            let nearest = Rounding::Nearest;
            cpu::quantize(
                &layout,
                nearest,
                &cols,
                &[clip],
                &mut two_pass,
                &mut two_pass_scale,
                None,
            );
            let mut check = Check::new();
            check.exact("packed", &gpu[..words], &twin);
            check.exact("packed vs im2col + quantize", &twin, &two_pass);
            check.finish(
                "conv",
                format!("im2col_i8 {n}x{h}x{w}x{c} k{kh}x{kw} s{stride} p{pad} clip {clip}"),
                out,
            );
        }
    }
    Ok(())
}

/// The FP32 implicit-GEMM convolution (`conv_f32_regs`), forward with bias and ReLU and weight
/// gradient, against its twin and, bit for bit, against `gemm_f32_regs` on the column matrix
/// `cols` (on the GPU) it replaces.
fn implicit_conv_cases(
    ctx: &Context,
    geom: &ops::ConvGeometry,
    (x, xb, cols): (&[f32], &wgpu::Buffer, &wgpu::Buffer),
    g: &mut Gen,
    out: &mut Vec<CaseResult>,
) -> Result<()> {
    use crate::ops::gemm::{conv_forward_shape, conv_wgrad_shape};
    let channels = 6;
    let (rows, taps) = (geom.rows(), geom.taps());
    let weight = g.normal_vec((channels * taps) as usize, 1.0);
    let bias = g.normal_vec(channels as usize, 1.0);
    let dy = g.normal_vec((rows * channels) as usize, 1.0);
    let (wb, bb, dyb) = (
        ctx.upload("test.w", &weight),
        ctx.upload("test.bias", &bias),
        ctx.upload("test.dy", &dy),
    );
    let fwd = conv_forward_shape(geom, channels);
    let wgrad = conv_wgrad_shape(geom, channels);
    let cells = |s: &GemmShape| s.m as u64 * s.n as u64 * 4;
    let [y, y_ref, dw, dw_ref] =
        [&fwd, &fwd, &wgrad, &wgrad].map(|s| ctx.storage_buffer("test.out", cells(s)));
    let epi = Epilogue {
        scale_a: Scale::None,
        scale_b: Scale::None,
        bias: Some(&bb),
        relu: true,
    };
    let regs = GemmVariant::Regs;
    let mut rec = Recording::new();
    let conv = (geom, channels);
    gemm::conv_f32_forward(ctx, &mut rec, conv, GemmBuffers::new(xb, &wb, &y), &epi)?;
    gemm::gemm_f32_variant(
        ctx,
        &mut rec,
        regs,
        &fwd,
        GemmBuffers::new(cols, &wb, &y_ref),
        &epi,
    )?;
    gemm::conv_f32_wgrad(ctx, &mut rec, conv, GemmBuffers::new(&dyb, xb, &dw))?;
    let bufs = GemmBuffers::new(&dyb, cols, &dw_ref);
    gemm::gemm_f32_variant(ctx, &mut rec, regs, &wgrad, bufs, &Epilogue::NONE)?;
    ctx.run(&rec)?;
    let read = |b: &wgpu::Buffer, s: &GemmShape| -> Result<Vec<f32>> {
        let mut v: Vec<f32> = ctx.read_buffer(b)?;
        v.truncate((s.m * s.n) as usize);
        Ok(v)
    };
    let abs = |v: &[f32]| -> Vec<f32> { v.iter().map(|x| x.abs()).collect() };
    let (abs_x, abs_w, abs_dy, abs_bias) = (abs(x), abs(&weight), abs(&dy), abs(&bias));
    for (name, shape, gpu, reference, (a, b, abs_a, abs_b)) in [
        (
            "forward + bias + relu",
            &fwd,
            &y,
            &y_ref,
            (x, &weight[..], &abs_x[..], &abs_w[..]),
        ),
        (
            "weight gradient",
            &wgrad,
            &dw,
            &dw_ref,
            (&dy[..], x, &abs_dy[..], &abs_x[..]),
        ),
    ] {
        let is_wgrad = std::ptr::eq(shape, &wgrad);
        let host = HostEpilogue {
            bias: (!is_wgrad).then_some(&bias[..]),
            relu: !is_wgrad,
            ..HostEpilogue::default()
        };
        let (gpu, reference) = (read(gpu, shape)?, read(reference, shape)?);
        let mut twin = vec![0f32; gpu.len()];
        cpu::conv_f32(geom, is_wgrad, shape, a, b, &host.cpu(), &mut twin);
        let abs_host = HostEpilogue {
            bias: (!is_wgrad).then_some(&abs_bias[..]),
            ..HostEpilogue::default()
        };
        let mut mag = vec![0f32; gpu.len()];
        cpu::conv_f32(
            geom,
            is_wgrad,
            shape,
            abs_a,
            abs_b,
            &abs_host.cpu(),
            &mut mag,
        );
        let mut check = Check::new();
        check.close("out", &gpu, &twin, &mag, 1e-5);
        check.exact_f32("out vs im2col + gemm_f32_regs", &gpu, &reference);
        let ops::ConvGeometry { n, h, w, c, .. } = *geom;
        let (k, s, p) = (geom.kh, geom.stride, geom.pad);
        check.finish(
            "conv",
            format!("conv_f32_regs {name} {n}x{h}x{w}x{c} k{k} s{s} p{p}"),
            out,
        );
    }
    Ok(())
}

/// The int8 implicit-GEMM convolution (`conv_i8_regs`) on an input quantized in place, exact
/// against its twin and, through the twins, against `gemm_i8_regs` on the packed column matrix
/// it replaces.
fn implicit_conv_i8_cases(
    ctx: &Context,
    geom: &ops::ConvGeometry,
    g: &mut Gen,
    out: &mut Vec<CaseResult>,
) -> Result<()> {
    use crate::ops::gemm::{conv_forward_shape, conv_wgrad_shape};
    let channels = 6;
    let (rows, taps) = (geom.rows(), geom.taps());
    let seed = g.uniform().to_bits();
    let words = |n: u64, salt: u32| -> Vec<u32> {
        (0..n as u32).map(|i| rng_u32(seed ^ salt, i)).collect()
    };
    let x_q = words(geom.quantized_input_layout().packed_words() as u64, 1);
    let w_q = words(GemmShape::packed_words(channels, taps, false), 2);
    let dy_q = words(GemmShape::packed_words(channels, rows, true), 3);
    let scales = [g.uniform() * 0.01, g.uniform() * 0.01];
    let bias = g.normal_vec(channels as usize, 1.0);
    // The packed column matrix im2col_i8 gathers from x_q: `[rows, taps/4 words]`, the
    // forward's A and, read transposed, the weight gradient's B.
    let byte = |r, c| cpu::conv::column_byte(geom, &x_q, r, c);
    let pack = |f: &dyn Fn(u32) -> u32, len: u32, w: u32| -> u32 {
        (0..4)
            .filter(|t| 4 * w + t < len)
            .map(|t| f(4 * w + t) << (8 * t))
            .sum()
    };
    let cols: Vec<u32> = (0..rows)
        .flat_map(|r| (0..taps.div_ceil(4)).map(move |w| (r, w)))
        .map(|(r, w)| pack(&|c| byte(r, c), taps, w))
        .collect();
    let fwd = conv_forward_shape(geom, channels);
    let wgrad = conv_wgrad_shape(geom, channels);
    let scaled = HostEpilogue {
        scale_a: &scales[..1],
        scale_b: &scales[1..],
        bias: Some(&bias),
        relu: true,
    };
    // (name, weight gradient, epilogue)
    let cases = [
        ("forward", false, HostEpilogue::default()),
        ("forward + scales + bias + relu", false, scaled),
        ("weight gradient", true, HostEpilogue::default()),
    ];
    for (name, is_wgrad, host) in cases {
        let (shape, k_chunk, a, b) = if is_wgrad {
            (&wgrad, wgrad.auto_k_chunk(MAX_K_CHUNK), &dy_q, &x_q)
        } else {
            (&fwd, MAX_K_CHUNK, &x_q, &w_q)
        };
        let (ab, bb) = (ctx.upload("test.a", a), ctx.upload("test.b", b));
        let (sa, sb) = (
            ctx.upload("test.scale_a", &scales[..1]),
            ctx.upload("test.scale_b", &scales[1..]),
        );
        let bias_buf = ctx.upload("test.bias", &bias);
        let y = ctx.storage_buffer("test.out", shape.m as u64 * shape.n as u64 * 4);
        let has_scales = !host.scale_a.is_empty();
        let epi = Epilogue {
            scale_a: if has_scales {
                Scale::Tensor(&sa)
            } else {
                Scale::None
            },
            scale_b: if has_scales {
                Scale::Tensor(&sb)
            } else {
                Scale::None
            },
            bias: host.bias.map(|_| &bias_buf),
            relu: host.relu,
        };
        let mut rec = Recording::new();
        let bufs = GemmBuffers::new(&ab, &bb, &y);
        let conv = (geom, channels);
        if is_wgrad {
            gemm::conv_i8_wgrad(ctx, &mut rec, conv, k_chunk, bufs, &epi)?;
        } else {
            gemm::conv_i8_forward(ctx, &mut rec, conv, k_chunk, bufs, &epi)?;
        }
        ctx.run(&rec)?;
        let mut gpu: Vec<f32> = ctx.read_buffer(&y)?;
        gpu.truncate((shape.m * shape.n) as usize);
        let mut twin = vec![0f32; gpu.len()];
        cpu::conv_i8(geom, is_wgrad, shape, k_chunk, a, b, &host.cpu(), &mut twin);
        // The explicit GEMM on the packed column matrix.
        let mut explicit = vec![0f32; gpu.len()];
        let (ea, eb) = if is_wgrad { (a, &cols) } else { (&cols, b) };
        let regs = GemmVariant::Regs;
        cpu::gemm_i8(regs, shape, k_chunk, ea, eb, &host.cpu(), &mut explicit);
        let mut check = Check::new();
        check.exact_f32(
            "twin vs gemm_i8_regs on the column matrix",
            &twin,
            &explicit,
        );
        if has_scales {
            let mut mag = vec![0f32; gpu.len()];
            let raw = HostEpilogue {
                bias: None,
                relu: false,
                ..host
            };
            cpu::conv_i8(geom, is_wgrad, shape, k_chunk, a, b, &raw.cpu(), &mut mag);
            for (i, v) in mag.iter_mut().enumerate() {
                *v = v.abs() + bias[i % channels as usize].abs();
            }
            check.close("out", &gpu, &twin, &mag, 1e-6);
        } else {
            check.exact_f32("out", &gpu, &twin);
        }
        let ops::ConvGeometry { n, h, w, c, .. } = *geom;
        let (k, s, p) = (geom.kh, geom.stride, geom.pad);
        check.finish(
            "conv",
            format!("conv_i8_regs {name} {n}x{h}x{w}x{c} k{k} s{s} p{p}"),
            out,
        );
    }
    Ok(())
}

fn maxpool_cases(ctx: &Context, out: &mut Vec<CaseResult>) -> Result<()> {
    let mut g = Gen::new(111);
    let shapes = [
        (2u32, 28u32, 28u32, 6u32, 2u32),
        (3, 10, 10, 16, 2),
        (1, 7, 5, 3, 2),
        (2, 9, 9, 1, 3),
    ];
    for ((n, h, w, c, k), after_relu) in shapes.into_iter().flat_map(|s| [(s, false), (s, true)]) {
        let geom = ops::PoolGeometry { n, h, w, c, k };
        let mut x = g.normal_vec(geom.input_len() as usize, 1.0);
        // Ties: the first maximum wins.
        x[1] = x[0];
        if after_relu {
            // A ReLU's output: windows of zeros, whose gradient the ReLU would have dropped.
            x.iter_mut().for_each(|v| *v = cpu::common::rectify(*v));
        }
        let dy = g.normal_vec(geom.output_len() as usize, 1.0);
        let xb = ctx.upload("test.x", &x);
        let dyb = ctx.upload("test.dy", &dy);
        let ab = ctx.storage_buffer("test.argmax", geom.argmax_bytes());
        let yb = ctx.storage_buffer("test.y", geom.output_len() * 4);
        let dxb = ctx.storage_buffer("test.dx", geom.input_len() * 4);
        let mut rec = Recording::new();
        let forward = ops::PoolPass::Forward { after_relu };
        ops::maxpool(ctx, &mut rec, &geom, &xb, forward, &ab, &yb)?;
        let backward = ops::PoolPass::Backward { dy: &dyb };
        ops::maxpool(ctx, &mut rec, &geom, &xb, backward, &ab, &dxb)?;
        ctx.run(&rec)?;
        let (no, ni) = (geom.output_len() as usize, geom.input_len() as usize);
        let y: Vec<f32> = ctx.read_buffer(&yb)?;
        let a: Vec<u32> = ctx.read_buffer(&ab)?;
        let dx: Vec<f32> = ctx.read_buffer(&dxb)?;
        let words = no.div_ceil(4);
        let (mut ty, mut ta, mut tdx) = (vec![0f32; no], vec![0u32; words], vec![0f32; ni]);
        cpu::maxpool_forward(&geom, &x, after_relu, &mut ta, &mut ty);
        cpu::maxpool_backward(&geom, &dy, &ta, &mut tdx);
        let mut check = Check::new();
        check.exact_f32("y", &y[..no], &ty);
        check.exact("argmax", &a[..words], &ta);
        check.exact_f32("dx", &dx[..ni], &tdx);
        if after_relu {
            // The fused backward is the plain pooling's backward followed by the ReLU's.
            let (mut plain_a, mut plain_dx) = (vec![0u32; words], vec![0f32; ni]);
            cpu::maxpool_forward(&geom, &x, false, &mut plain_a, &mut ty);
            cpu::maxpool_backward(&geom, &dy, &plain_a, &mut plain_dx);
            let mut unfused = vec![0f32; ni];
            cpu::relu_backward(cpu::ReluSaved::Values(&x), &plain_dx, &mut unfused);
            check.exact_f32("dx vs pooling then ReLU backward", &dx[..ni], &unfused);
        }
        let relu = if after_relu { " after relu" } else { "" };
        check.finish("maxpool", format!("{n}x{h}x{w}x{c} k{k}{relu}"), out);
    }
    Ok(())
}

/// Column sums, in one segment and in several (then through `gemm_reduce`): the same sums in
/// the same order as the twin, so bit-exact unless a driver reassociates f32 additions.
fn column_sum_cases(ctx: &Context, out: &mut Vec<CaseResult>) -> Result<()> {
    use crate::ops::column_sum::SEGMENT_ROWS;
    let mut g = Gen::new(131);
    for (rows, cols) in [(1u32, 1u32), (3, 6), (4097, 65), (9000, 130), (25_088, 6)] {
        let x = g.normal_vec((rows * cols) as usize, 1.0);
        let xb = ctx.upload("test.x", &x);
        let sums = ctx.storage_buffer("test.sums", cols as u64 * 4);
        let mut rec = Recording::new();
        ops::column_sum::column_sum(ctx, &mut rec, (rows, cols), &xb, &sums, None)?;
        ctx.run(&rec)?;
        let gpu: Vec<f32> = ctx.read_buffer(&sums)?;
        let segments = rows.div_ceil(SEGMENT_ROWS) as usize;
        let mut partials = vec![0f32; segments * cols as usize];
        let (r, c) = (rows as usize, cols as usize);
        cpu::column_sum(r, c, SEGMENT_ROWS as usize, &x, &mut partials);
        let twin = if segments > 1 {
            let mut t = vec![0f32; c];
            let shape = GemmShape::new(1, cols, rows);
            cpu::gemm_reduce(
                &shape,
                segments as u32,
                &partials,
                &CpuEpilogue::NONE,
                &mut t,
            );
            t
        } else {
            partials
        };
        let mut check = Check::new();
        let scale: Vec<f32> = (0..c)
            .map(|j| (0..r).map(|i| x[i * c + j].abs()).sum::<f32>().max(1.0))
            .collect();
        check.close("sums", &gpu[..c], &twin, &scale, 1e-6);
        check.finish("column_sum", format!("{rows}x{cols}"), out);
    }
    Ok(())
}

/// NaN and infinity counts into a health record: signalling and quiet NaNs, ±Inf, the largest
/// finite values (not counted), two tensors adding into one record.
fn nonfinite_cases(ctx: &Context, out: &mut Vec<CaseResult>) -> Result<()> {
    let mut g = Gen::new(141);
    for n in [1usize, 255, 257, 70_000] {
        let mut x = g.normal_vec(n, 1.0);
        let specials = [
            f32::NAN,
            f32::from_bits(0x7f80_0001), // a signalling NaN
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::MAX,
            -f32::MAX,
        ];
        if n > 1 {
            for (i, v) in specials.iter().enumerate() {
                x[(i * 97 + n / 2) % n] = *v;
            }
        }
        let y = vec![f32::NAN; 3];
        let (xb, yb) = (ctx.upload("test.x", &x), ctx.upload("test.y", &y));
        let health = ctx.storage_buffer("test.health", 4 * 4);
        let mut rec = Recording::new();
        ops::nonfinite::nonfinite_count(&mut rec, n as u32, &xb, (&health, 2))?;
        ops::nonfinite::nonfinite_count(&mut rec, 3, &yb, (&health, 3))?;
        ctx.run(&rec)?;
        let gpu: Vec<u32> = ctx.read_buffer(&health)?;
        let mut twin = vec![0u32; 4];
        cpu::nonfinite_count(&x, 2, &mut twin);
        cpu::nonfinite_count(&y, 3, &mut twin);
        let mut check = Check::new();
        check.exact("health", &gpu[..4], &twin);
        let expected = if n > 1 { 4 } else { 0 };
        check.exact("count", &[twin[2]], &[expected]);
        check.finish("nonfinite", format!("n={n}"), out);
    }
    // Every value bad: every lane of every workgroup adds.
    let x = vec![f32::NAN; 5000];
    let health = ctx.storage_buffer("test.health", 2 * 4);
    let mut rec = Recording::new();
    ops::nonfinite::nonfinite_count(&mut rec, 5000, &ctx.upload("test.x", &x), (&health, 1))?;
    ctx.run(&rec)?;
    let gpu: Vec<u32> = ctx.read_buffer(&health)?;
    let mut check = Check::new();
    check.exact("health", &gpu[..2], &[5000, 5000]);
    check.finish("nonfinite", "n=5000, all NaN".to_string(), out);
    Ok(())
}

fn pool_cases(ctx: &Context, out: &mut Vec<CaseResult>) -> Result<()> {
    let mut g = Gen::new(121);
    for (n, hw, c) in [(1u32, 1u32, 1u32), (2, 49, 64), (3, 16, 5), (64, 64, 10)] {
        let (small, big) = ((n * c) as usize, (n * hw * c) as usize);
        let x = g.normal_vec(big, 1.0);
        let b = g.normal_vec(big, 1.0);
        let dy = g.normal_vec(small, 1.0);
        let (xb, bb, dyb) = (
            ctx.upload("test.x", &x),
            ctx.upload("test.b", &b),
            ctx.upload("test.dy", &dy),
        );
        let yb = ctx.storage_buffer("test.y", small as u64 * 4);
        let dxb = ctx.storage_buffer("test.dx", big as u64 * 4);
        let sb = ctx.storage_buffer("test.sum", big as u64 * 4);
        let rb = ctx.storage_buffer("test.relu_sum", big as u64 * 4);
        let mut rec = Recording::new();
        ops::global_avg_pool(ctx, &mut rec, (n, hw, c), &xb, None, &yb)?;
        ops::global_avg_pool(ctx, &mut rec, (n, hw, c), &xb, Some(&dyb), &dxb)?;
        ops::add(&mut rec, big as u32, &xb, &bb, (&sb, false))?;
        ops::add(&mut rec, big as u32, &xb, &bb, (&rb, true))?;
        ctx.run(&rec)?;
        let (y, dx, sum): (Vec<f32>, Vec<f32>, Vec<f32>) = (
            ctx.read_buffer(&yb)?,
            ctx.read_buffer(&dxb)?,
            ctx.read_buffer(&sb)?,
        );
        let relu_sum: Vec<f32> = ctx.read_buffer(&rb)?;
        let shape = (n as usize, hw as usize, c as usize);
        let (mut ty, mut tdx, mut tsum) = (vec![0f32; small], vec![0f32; big], vec![0f32; big]);
        cpu::global_avg_pool_forward(shape, &x, &mut ty);
        cpu::global_avg_pool_backward(shape, &dy, &mut tdx);
        cpu::add(&x, &b, (&mut tsum, false));
        let mut trelu = vec![0f32; big];
        cpu::add(&x, &b, (&mut trelu, true));
        let mut check = Check::new();
        // 1/hw is a division, which a driver may round differently: 1e-6 for the pooling.
        check.close(
            "gap forward",
            &y[..small],
            &ty,
            &vec![1.0 + ty.iter().fold(0f32, |m, v| m.max(v.abs())); small],
            1e-6,
        );
        check.close("gap backward", &dx[..big], &tdx, &vec![1.0; big], 1e-6);
        check.exact_f32("add", &sum[..big], &tsum);
        check.exact_f32("add, rectified", &relu_sum[..big], &trelu);
        if trelu.iter().zip(&tsum).any(|(r, s)| *r != s.max(0.0)) {
            check.fail("rectified sums are not relu(a + b)".into());
        }
        check.finish("pool", format!("n={n} hw={hw} c={c}"), out);
    }
    Ok(())
}

fn batchnorm_cases(ctx: &Context, out: &mut Vec<CaseResult>) -> Result<()> {
    use crate::ops::{BatchNormBuffers, BatchNormConfig};
    let mut g = Gen::new(131);
    let cfg = BatchNormConfig::default();
    for (rows, c) in [(2u32, 1u32), (50, 3), (3136, 16), (8, 64)] {
        let cells = (rows * c) as usize;
        let x: Vec<f32> = (0..cells).map(|_| g.normal() * 2.0 + 3.0).collect();
        let dy = g.normal_vec(cells, 1.0);
        let affine: Vec<f32> = (0..2 * c).map(|_| g.normal()).collect();
        let running: Vec<f32> = (0..2 * c).map(|i| if i < c { 0.0 } else { 1.0 }).collect();
        let stats = ctx.storage_buffer("test.stats", c as u64 * size_of::<ChannelStat>() as u64);
        let (ab, rb) = (
            ctx.upload("test.affine", &affine),
            ctx.upload("test.running", &running),
        );
        let xhat = ctx.storage_buffer("test.xhat", cells as u64 * 4);
        let bufs = BatchNormBuffers {
            stats: &stats,
            affine: &ab,
            running: &rb,
            xhat: &xhat,
        };
        let (xb, dyb) = (ctx.upload("test.x", &x), ctx.upload("test.dy", &dy));
        let (yb, eb) = (
            ctx.storage_buffer("test.y", cells as u64 * 4),
            ctx.storage_buffer("test.eval", cells as u64 * 4),
        );
        let scratch = ctx.storage_buffer("test.scratch", 2 * cells as u64 * 4);
        let sums = ctx.storage_buffer("test.sums", 2 * c as u64 * 4);
        let dxb = ctx.storage_buffer("test.dx", cells as u64 * 4);
        let mut rec = Recording::new();
        ops::batchnorm_forward(ctx, &mut rec, (rows, c), true, cfg, &xb, bufs, (&yb, false))?;
        ops::batchnorm_backward(
            ctx,
            &mut rec,
            (rows, c),
            cfg,
            &dyb,
            bufs,
            &scratch,
            (&sums, &dxb),
        )?;
        // Evaluation, with the ReLU after it folded in.
        ops::batchnorm_forward(ctx, &mut rec, (rows, c), false, cfg, &xb, bufs, (&eb, true))?;
        ctx.run(&rec)?;
        let gs: Vec<ChannelStat> = ctx.read_buffer(&stats)?;
        let (gy, gxh, gr): (Vec<f32>, Vec<f32>, Vec<f32>) = (
            ctx.read_buffer(&yb)?,
            ctx.read_buffer(&xhat)?,
            ctx.read_buffer(&rb)?,
        );
        let (gsum, gdx, ge): (Vec<f32>, Vec<f32>, Vec<f32>) = (
            ctx.read_buffer(&sums)?,
            ctx.read_buffer(&dxb)?,
            ctx.read_buffer(&eb)?,
        );
        let (cu, n2) = (c as usize, 2 * c as usize);
        // The twins read the GPU's batch statistics (checked by the channel_stats suite).
        let (mut ty, mut txh, mut tr) = (vec![0f32; cells], vec![0f32; cells], running.clone());
        cpu::batchnorm(
            cu,
            true,
            cfg,
            &x,
            &gs[..cu],
            &affine,
            &mut tr,
            &mut txh,
            (&mut ty, false),
        );
        let mut check = Check::new();
        let unit = vec![1f32; cells];
        check.close(
            "y",
            &gy[..cells],
            &ty,
            &affine
                .iter()
                .cycle()
                .take(cells)
                .map(|v| v.abs() * 10.0 + 1.0)
                .collect::<Vec<_>>(),
            1e-5,
        );
        check.close("xhat", &gxh[..cells], &txh, &vec![10.0; cells], 1e-5);
        check.close("running", &gr[..n2], &tr, &vec![10.0; n2], 1e-5);
        // [dγ | dβ] against f64 sums of the twin's preparation.
        let mut prep = vec![0f32; 2 * cells];
        cpu::batchnorm_grad_prep(cu, &dy, &gxh[..cells], &mut prep);
        let exact: Vec<f32> = (0..n2)
            .map(|j| {
                (0..rows as usize)
                    .map(|r| prep[r * n2 + j] as f64)
                    .sum::<f64>() as f32
            })
            .collect();
        let mag: Vec<f32> = (0..n2)
            .map(|j| {
                (0..rows as usize)
                    .map(|r| prep[r * n2 + j].abs())
                    .sum::<f32>()
                    + 1.0
            })
            .collect();
        check.close("dgamma, dbeta", &gsum[..n2], &exact, &mag, 1e-5);
        let mut tdx = vec![0f32; cells];
        cpu::batchnorm_backward(
            cu,
            cfg,
            &dy,
            &gxh[..cells],
            &gs[..cu],
            &affine,
            &gsum[..n2],
            &mut tdx,
        );
        check.close("dx", &gdx[..cells], &tdx, &unit, 1e-5);
        // The math: the input gradient of a normalization sums to zero per channel (relative
        // to the size of its terms, γ·dy/σ).
        for ch in 0..cu {
            let sd = gs[ch].std_dev as f64;
            let inv = 1.0 / (sd * sd + cfg.eps as f64).sqrt();
            let (s, a) = (0..rows as usize).fold((0f64, 0f64), |(s, a), r| {
                let term = (affine[ch] as f64 * dy[r * cu + ch] as f64 * inv).abs();
                (s + gdx[r * cu + ch] as f64, a + term)
            });
            if s.abs() > 1e-4 * a.max(1e-12) {
                check.fail(format!(
                    "channel {ch}: Σdx = {s} against terms of total {a}"
                ));
            }
        }
        let mut te = vec![0f32; cells];
        cpu::batchnorm(
            cu,
            false,
            cfg,
            &x,
            &gs[..cu],
            &affine,
            &mut gr[..n2].to_vec(),
            &mut vec![0f32; cells],
            (&mut te, true),
        );
        check.close("eval y", &ge[..cells], &te, &vec![100.0; cells], 1e-5);
        let negative = ge[..cells].iter().filter(|v| v.is_sign_negative()).count();
        if negative > 0 {
            check.fail(format!("{negative} rectified outputs are negative"));
        }
        check.finish("batchnorm", format!("{rows}x{c}"), out);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// GEMMs

/// A GEMM epilogue as host data: scales (empty = none, one value = per tensor, else per index),
/// an optional bias, and whether the rectifier follows.
#[derive(Clone, Copy, Debug, Default)]
pub struct HostEpilogue<'a> {
    /// Scale of A.
    pub scale_a: &'a [f32],
    /// Scale of B.
    pub scale_b: &'a [f32],
    /// Bias per output column.
    pub bias: Option<&'a [f32]>,
    /// A fused ReLU.
    pub relu: bool,
}

impl<'a> HostEpilogue<'a> {
    /// The same epilogue for the CPU twins.
    pub fn cpu(&self) -> CpuEpilogue<'a> {
        let scale = |v: &'a [f32]| match v.len() {
            0 => CpuScale::None,
            1 => CpuScale::Tensor(v[0]),
            _ => CpuScale::PerIndex(v),
        };
        CpuEpilogue {
            scale_a: scale(self.scale_a),
            scale_b: scale(self.scale_b),
            bias: self.bias,
            relu: self.relu,
        }
    }
}

/// Runs `gemm_i8` in `variant` on the GPU.
pub fn gpu_gemm_i8(
    ctx: &Context,
    variant: GemmVariant,
    (shape, k_chunk): (&GemmShape, u32),
    a: &[u32],
    b: &[u32],
    epilogue: &HostEpilogue<'_>,
) -> Result<Vec<f32>> {
    let operands = (bytemuck::cast_slice(a), bytemuck::cast_slice(b));
    gpu_gemm(ctx, variant, shape, Some(k_chunk), operands, epilogue)
}

/// Runs `gemm_f32` in `variant` on the GPU.
pub fn gpu_gemm_f32(
    ctx: &Context,
    variant: GemmVariant,
    shape: &GemmShape,
    a: &[f32],
    b: &[f32],
    epilogue: &HostEpilogue<'_>,
) -> Result<Vec<f32>> {
    let operands = (bytemuck::cast_slice(a), bytemuck::cast_slice(b));
    gpu_gemm(ctx, variant, shape, None, operands, epilogue)
}

fn gpu_gemm(
    ctx: &Context,
    variant: GemmVariant,
    shape: &GemmShape,
    k_chunk: Option<u32>,
    (a, b): (&[u8], &[u8]),
    host: &HostEpilogue<'_>,
) -> Result<Vec<f32>> {
    let ba = ctx.upload("test.a", a);
    let bb = ctx.upload("test.b", b);
    let sa = ctx.upload("test.scale_a", host.scale_a);
    let sb = ctx.upload("test.scale_b", host.scale_b);
    let bias_buf = host.bias.map(|v| ctx.upload("test.bias", v));
    let out = ctx.storage_buffer("test.out", shape.m as u64 * shape.n as u64 * 4);
    let scale = |v: &[f32], buf| match v.len() {
        0 => Scale::None,
        1 => Scale::Tensor(buf),
        _ => Scale::PerIndex(buf),
    };
    let epilogue = Epilogue {
        scale_a: scale(host.scale_a, &sa),
        scale_b: scale(host.scale_b, &sb),
        bias: bias_buf.as_ref(),
        relu: host.relu,
    };
    let bufs = GemmBuffers::new(&ba, &bb, &out);
    let mut rec = Recording::new();
    match k_chunk {
        Some(kc) => gemm::gemm_i8_variant(ctx, &mut rec, variant, shape, kc, bufs, &epilogue)?,
        None => gemm::gemm_f32_variant(ctx, &mut rec, variant, shape, bufs, &epilogue)?,
    }
    ctx.run(&rec)?;
    let mut v: Vec<f32> = ctx.read_buffer(&out)?;
    v.truncate((shape.m * shape.n) as usize);
    Ok(v)
}

/// (name, epilogue, k_chunk) of one epilogue variant.
type EpilogueCase<'a> = (&'a str, HostEpilogue<'a>, u32);

const GEMM_SHAPES: &[(u32, u32, u32)] = &[
    (1, 1, 1),
    (3, 5, 7),
    (5, 17, 33),
    (17, 3, 129),
    (129, 65, 5),
    (64, 64, 64),
    (65, 63, 257),
    // Past gemm_f32's split-K chunk (16384): partials and gemm_reduce on both GEMMs.
    (3, 5, 40_000),
];

const TRANSPOSES: [(bool, bool); 4] = [(false, false), (false, true), (true, false), (true, true)];

fn gemm_i8_cases(ctx: &Context, quick: bool, out: &mut Vec<CaseResult>) -> Result<()> {
    let mut g = Gen::new(41);
    for &(m, n, k) in GEMM_SHAPES {
        for (ta, tb) in TRANSPOSES {
            let shape = GemmShape::new(m, n, k).with_trans(ta, tb);
            // Random words: every byte value and garbage in padding, which must be ignored.
            let a: Vec<u32> = (0..GemmShape::packed_words(m, k, ta) as u32)
                .map(|i| rng_u32(42, i))
                .collect();
            let b: Vec<u32> = (0..GemmShape::packed_words(n, k, tb) as u32)
                .map(|i| rng_u32(43, i))
                .collect();
            let sa: Vec<f32> = (0..m).map(|_| g.uniform() * 0.01).collect();
            let sb: Vec<f32> = (0..n).map(|_| g.uniform() * 0.01).collect();
            let bias: Vec<f32> = g.normal_vec(n as usize, 1.0);
            let mut firsts = std::collections::HashMap::new();
            let tensor = HostEpilogue {
                scale_a: &sa[..1],
                scale_b: &sb[..1],
                bias: Some(&bias),
                relu: false,
            };
            let per_index = HostEpilogue {
                scale_a: &sa,
                scale_b: &sb,
                bias: Some(&bias),
                relu: false,
            };
            let variants: [EpilogueCase; 5] = [
                ("raw", HostEpilogue::default(), MAX_K_CHUNK),
                ("raw k_chunk=32", HostEpilogue::default(), 32),
                ("tensor scales + bias", tensor, MAX_K_CHUNK),
                (
                    "tensor scales + bias + relu",
                    HostEpilogue {
                        relu: true,
                        ..tensor
                    },
                    MAX_K_CHUNK,
                ),
                ("row/col scales + bias k_chunk=64", per_index, 64),
            ];
            for ((name, host, k_chunk), variant) in variants
                .into_iter()
                .flat_map(|e| GemmVariant::ALL.map(|v| (e, v)))
            {
                let gpu = gpu_gemm_i8(ctx, variant, (&shape, k_chunk), &a, &b, &host)?;
                let mut twin = vec![0f32; (m * n) as usize];
                cpu::gemm_i8(variant, &shape, k_chunk, &a, &b, &host.cpu(), &mut twin);
                let mut check = Check::new();
                // Every variant must give the first one's bits, so autotuning changes no result.
                let first = &*firsts.entry(name).or_insert_with(|| gpu.clone());
                check.exact_f32("out vs the Tiled variant", &gpu, first);
                if host.scale_a.is_empty() && host.bias.is_none() {
                    check.exact_f32("out", &gpu, &twin);
                } else {
                    let mut mag = vec![0f32; twin.len()];
                    let raw_epi = HostEpilogue {
                        bias: None,
                        relu: false,
                        ..host
                    };
                    cpu::gemm_i8(variant, &shape, k_chunk, &a, &b, &raw_epi.cpu(), &mut mag);
                    for (i, v) in mag.iter_mut().enumerate() {
                        *v = v.abs() + host.bias.map_or(0.0, |b| b[i % n as usize].abs());
                    }
                    check.close("out", &gpu, &twin, &mag, 1e-6);
                    if host.relu && gpu.iter().any(|v| v.is_sign_negative()) {
                        check.fail("a rectified output is negative (or -0)".to_string());
                    }
                }
                check.finish(
                    "gemm_i8",
                    format!("{m}x{n}x{k} trans=({ta},{tb}) {name} {variant:?}"),
                    out,
                );
            }
        }
    }
    // The overflow hazard: all-127 operands at, just past and well past the int32 chunk
    // boundary. Without split-K, 131073·127² wraps int32 negative.
    let mut ks = vec![MAX_K_CHUNK, MAX_K_CHUNK + 4, MAX_K_CHUNK + 32];
    if !quick {
        ks.push(2 * MAX_K_CHUNK + 3);
    }
    for k in ks {
        for (ta, tb) in [(false, false), (true, true)] {
            for (va, vb) in [(127i8, 127i8), (-127, 127)] {
                let (m, n) = (3u32, 5u32);
                let shape = GemmShape::new(m, n, k).with_trans(ta, tb);
                let word = |v: i8| u32::from_ne_bytes([v as u8; 4]);
                let fill = |rows: u32, trans: bool, v: i8| -> Vec<u32> {
                    let words = GemmShape::packed_words(rows, k, trans) as usize;
                    if trans {
                        vec![word(v); words]
                    } else {
                        // Mask the K tail the way quantize leaves it: zero bytes.
                        let k4 = k.div_ceil(4) as usize;
                        let rem = (k % 4) as usize;
                        (0..words)
                            .map(|i| {
                                if rem != 0 && i % k4 == k4 - 1 {
                                    let mut bytes = [0u8; 4];
                                    bytes[..rem].fill(v as u8);
                                    u32::from_ne_bytes(bytes)
                                } else {
                                    word(v)
                                }
                            })
                            .collect()
                    }
                };
                let (a, b) = (fill(m, ta, va), fill(n, tb, vb));
                // The register-blocked variant, whose loops run longest per lane.
                let v = GemmVariant::Regs;
                let none = HostEpilogue::default();
                let gpu = gpu_gemm_i8(ctx, v, (&shape, MAX_K_CHUNK), &a, &b, &none)?;
                let mut twin = vec![0f32; (m * n) as usize];
                cpu::gemm_i8(
                    v,
                    &shape,
                    MAX_K_CHUNK,
                    &a,
                    &b,
                    &CpuEpilogue::NONE,
                    &mut twin,
                );
                let mut check = Check::new();
                check.exact_f32("out", &gpu, &twin);
                // And against exact integer arithmetic: within f32 rounding of the true sum.
                let exact = va as f64 * vb as f64 * k as f64;
                for (i, v) in gpu.iter().enumerate() {
                    let rel = (*v as f64 - exact).abs() / exact.abs();
                    check.max_error = check.max_error.max(rel / f32::EPSILON as f64);
                    if rel > f32::EPSILON as f64 {
                        check.fail(format!("out[{i}] = {v} but Σ = {exact} (int32 overflow?)"));
                    }
                }
                check.finish(
                    "gemm_i8",
                    format!("split-K all {va}·{vb} K={k} trans=({ta},{tb})"),
                    out,
                );
            }
        }
    }
    Ok(())
}

fn gemm_f32_cases(ctx: &Context, out: &mut Vec<CaseResult>) -> Result<()> {
    let mut g = Gen::new(51);
    for &(m, n, k) in GEMM_SHAPES {
        for (ta, tb) in TRANSPOSES {
            let shape = GemmShape::new(m, n, k).with_trans(ta, tb);
            let a = g.normal_vec((m * k) as usize, 1.0);
            let b = g.normal_vec((n * k) as usize, 1.0);
            let sa: Vec<f32> = (0..m).map(|_| g.uniform()).collect();
            let bias = g.normal_vec(n as usize, 1.0);
            // gemm_f32 picks its own k_chunk (ops::gemm::f32_k_chunk); the field is unused.
            let mut firsts = std::collections::HashMap::new();
            let scaled = HostEpilogue {
                scale_a: &sa,
                scale_b: &sa[..1],
                bias: Some(&bias),
                relu: false,
            };
            let variants: [EpilogueCase; 3] = [
                ("plain", HostEpilogue::default(), 0),
                ("row scales + tensor scale + bias", scaled, 0),
                (
                    "row scales + tensor scale + bias + relu",
                    HostEpilogue {
                        relu: true,
                        ..scaled
                    },
                    0,
                ),
            ];
            for ((name, host, _), variant) in variants
                .into_iter()
                .flat_map(|e| GemmVariant::ALL.map(|v| (e, v)))
            {
                let gpu = gpu_gemm_f32(ctx, variant, &shape, &a, &b, &host)?;
                let mut twin = vec![0f32; (m * n) as usize];
                cpu::gemm_f32(variant, &shape, &a, &b, &host.cpu(), &mut twin);
                // Σ|a||b| (scaled) bounds the rounding error of any summation order.
                let abs = |v: &[f32]| -> Vec<f32> { v.iter().map(|x| x.abs()).collect() };
                let abs_bias = host.bias.map(abs);
                let abs_epi = HostEpilogue {
                    bias: abs_bias.as_deref(),
                    relu: false,
                    ..host
                };
                let mut mag = vec![0f32; twin.len()];
                cpu::gemm_f32(
                    variant,
                    &shape,
                    &abs(&a),
                    &abs(&b),
                    &abs_epi.cpu(),
                    &mut mag,
                );
                let mut check = Check::new();
                check.close("out", &gpu, &twin, &mag, 1e-5);
                if host.relu && gpu.iter().any(|v| v.is_sign_negative()) {
                    check.fail("a rectified output is negative (or -0)".to_string());
                }
                // Every variant must give the first one's bits, so autotuning changes no result.
                let first = &*firsts.entry(name).or_insert_with(|| gpu.clone());
                check.exact_f32("out vs the Tiled variant", &gpu, first);
                check.finish(
                    "gemm_f32",
                    format!("{m}x{n}x{k} trans=({ta},{tb}) {name} {variant:?}"),
                    out,
                );
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// train_step

/// Largest relative float difference a checked training step may show (see
/// [`crate::train::DispatchCheck`]).
pub const STEP_FLOAT_TOLERANCE: f64 = 1e-4;

/// Whole training steps of a small network with every layer kind, all quantized, under each
/// policy, replayed dispatch by dispatch on the twins ([`Trainer::train_step_checked`]): every
/// integer word of every dispatch — the forward, dgrad and wgrad GEMMs of Conv2d and Linear,
/// each policy's quantizers and clip choices — must match bit for bit.
///
/// [`Trainer::train_step_checked`]: crate::train::Trainer::train_step_checked
fn train_step_cases(ctx: &Context, out: &mut Vec<CaseResult>) -> Result<()> {
    use crate::nn::{LayerSpec, ModelSpec};
    use crate::quant::{Dclrs, Policy, Ui8};
    use crate::train::{TrainConfig, Trainer};
    let spec = ModelSpec {
        input: [8, 8, 2],
        layers: vec![
            LayerSpec::Conv2d {
                channels: 4,
                kernel: 3,
                stride: 1,
                pad: 1,
            },
            LayerSpec::BatchNorm2d,
            // A ReLU whose backward the pooling does.
            LayerSpec::Relu,
            LayerSpec::MaxPool2d { k: 2 },
            // A ReLU in an int8 GEMM's epilogue, and the pooling's backward.
            LayerSpec::Conv2d {
                channels: 4,
                kernel: 3,
                stride: 1,
                pad: 1,
            },
            LayerSpec::Relu,
            LayerSpec::MaxPool2d { k: 2 },
            LayerSpec::BasicBlock {
                channels: 6,
                stride: 2,
            },
            LayerSpec::GlobalAvgPool,
            // FP32: a ReLU in a GEMM's epilogue, its backward reading the output the next Linear
            // keeps; int8: also in the epilogue, its bit mask written by the next Linear's
            // quantization (8 inputs, a multiple of 4). The block's ReLUs write theirs.
            LayerSpec::Linear { outputs: 8 },
            LayerSpec::Relu,
            LayerSpec::Linear { outputs: 3 },
        ],
    };
    let data = crate::data::Dataset::synthetic_images(8, [8, 8, 2], 3, 0.5, 5);
    // Refresh at step 0 only, so step 1 runs UI8 on kept clips.
    let ui8 = |dclrs| {
        Policy::Ui8(Ui8 {
            warmup: 1,
            dclrs,
            ..Ui8::default()
        })
    };
    let policies = [
        Policy::Fp32,
        Policy::NaiveInt8,
        ui8(Dclrs::PerLayer),
        ui8(Dclrs::GlobalMeanDistance),
        ui8(Dclrs::GlobalMinPhi),
        Policy::dai8(),
    ];
    for policy in policies {
        let label = match &policy {
            Policy::Ui8(u) if u.dclrs == Dclrs::GlobalMeanDistance => "ui8 global φ(mean d)",
            Policy::Ui8(u) if u.dclrs == Dclrs::GlobalMinPhi => "ui8 global min φ",
            p => p.name(),
        };
        let cfg = TrainConfig {
            batch: 4,
            quantize_first_last: true,
            ..Default::default()
        };
        let mut trainer = Trainer::new(ctx, &spec, policy, cfg)?;
        for step in 0..2 {
            let (x, y) = data.batch(step * 4, 4);
            let checks = trainer.train_step_checked(x, y)?;
            let mut check = Check::new();
            for c in &checks {
                if c.exact_mismatches > 0 {
                    check.fail(format!(
                        "dispatch {} ({}): {} of {} integer words differ",
                        c.index, c.kernel, c.exact_mismatches, c.exact_words
                    ));
                }
                let err = c.max_float_error / STEP_FLOAT_TOLERANCE;
                if err.is_nan() || err > 1.0 {
                    check.fail(format!(
                        "dispatch {} ({}): float difference {:e}",
                        c.index, c.kernel, c.max_float_error
                    ));
                } else {
                    check.max_error = check.max_error.max(err);
                }
            }
            let words: usize = checks.iter().map(|c| c.exact_words).sum();
            check.finish(
                "train_step",
                format!(
                    "{label} step {step}: {} dispatches, {words} integer words",
                    checks.len()
                ),
                out,
            );
        }
    }
    Ok(())
}
