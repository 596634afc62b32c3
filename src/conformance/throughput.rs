//! Throughput probes: the GEMMs and quantize timed on a fixed problem, best of a few runs after
//! a warm-up, each run one submit and wait.

use crate::abi::Precision;
use crate::error::Result;
use crate::gpu::{Context, Recording};
use crate::measure;
use crate::ops::{
    self, ChannelAxis, Epilogue, GemmBuffers, GemmShape, Layout, MAX_K_CHUNK, QuantizeBuffers,
    Rounding,
};
use crate::rng::Gen;
use crate::rng::rng_u32;

/// Throughput of one GEMM of `shape` (int8 on packed operands, or f32) in G operations per
/// second (2·M·N·K per product), as the best of a few timed runs after a warm-up, each one
/// submit and wait.
pub fn gemm_throughput(ctx: &Context, shape: &GemmShape, precision: Precision) -> Result<f64> {
    let int8 = precision.is_int8();
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
        let k_chunk = shape.auto_k_chunk(MAX_K_CHUNK, ctx.spread());
        ops::gemm_i8(ctx, &mut rec, shape, k_chunk, bufs, &Epilogue::NONE)?;
    } else {
        ops::gemm_f32(ctx, &mut rec, shape, bufs, &Epilogue::NONE)?;
    }
    let prepared = measure::prepare(ctx, &rec)?;
    let run = || measure::time_prepared(ctx, &prepared).map(|_| ());
    run()?; // compile and warm up
    Ok(2.0 * shape.macs() as f64 / measure::best_of(3, run)? / 1e9)
}

/// [`gemm_throughput`] of the int8 GEMM on square `size`³ operands.
pub(super) fn gemm_i8_square(ctx: &Context, size: u32) -> Result<f64> {
    gemm_throughput(ctx, &GemmShape::new(size, size, size), Precision::Int8)
}

/// [`gemm_throughput`] of the f32 GEMM on square `size`³ operands.
pub(super) fn gemm_f32_square(ctx: &Context, size: u32) -> Result<f64> {
    gemm_throughput(ctx, &GemmShape::new(size, size, size), Precision::Fp32)
}

/// Stochastic quantization of a `size`² tensor against one clip, in G elements per second.
pub(super) fn quantize(ctx: &Context, size: u32) -> Result<f64> {
    let layout = Layout::new(size, size, ChannelAxis::Tensor);
    let x = ctx.upload("bench.x", &Gen::new(4).normal_vec(layout.len(), 1.0));
    let clips = ctx.upload("bench.clip", &[3.0f32]);
    let packed = ctx.storage_buffer("bench.q", layout.packed_words() as u64 * 4);
    let scales = ctx.storage_buffer("bench.s", 4);
    let run = || -> Result<()> {
        let mut rec = Recording::new();
        let bufs = QuantizeBuffers {
            input: (&x).into(),
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
    Ok(layout.len() as f64 / measure::best_of(3, run)? / 1e9)
}
