//! Criterion benches of octet's kernels on the default adapter (`WGPU_BACKEND`,
//! `WGPU_ADAPTER_NAME` choose another): int8 vs f32 GEMM at 256/512/1024 and quantize
//! throughput. Each iteration records, submits and waits for one dispatch, so the figures
//! include submission overhead, as a training step would.
//!
//! ```text
//! cargo bench --bench kernels            # everything
//! cargo bench --bench kernels -- gemm    # GEMMs only
//! ```
//! Throughput is reported in "elements" per second: for GEMMs these are operations (2·M·N·K).

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use octet::Recording;
use octet::conformance::Gen;
use octet::cpu::common::rng_u32;
use octet::ops::{
    self, ChannelAxis, Epilogue, GemmBuffers, GemmShape, Layout, MAX_K_CHUNK, QuantizeBuffers,
    Rounding,
};

fn context() -> octet::Context {
    let ctx = octet::Context::new_default().expect("a GPU adapter (see README: prerequisites)");
    if let Some(info) = ctx.adapter_info() {
        eprintln!(
            "benchmarking on {} ({:?}, {} {})",
            info.name, info.backend, info.driver, info.driver_info
        );
    }
    ctx
}

fn gemm(c: &mut Criterion) {
    let ctx = context();
    let mut group = c.benchmark_group("gemm");
    group.sample_size(10);
    for size in [256u32, 512, 1024] {
        let shape = GemmShape::new(size, size, size);
        group.throughput(Throughput::Elements(2 * shape.macs()));
        let words = GemmShape::packed_words(size, size, false) as u32;
        let a_q = ctx.upload(
            "bench.a_q",
            &(0..words).map(|i| rng_u32(1, i)).collect::<Vec<_>>(),
        );
        let b_q = ctx.upload(
            "bench.b_q",
            &(0..words).map(|i| rng_u32(2, i)).collect::<Vec<_>>(),
        );
        let mut g = Gen::new(3);
        let elems = (size * size) as usize;
        let a_f = ctx.upload("bench.a_f", &g.normal_vec(elems, 1.0));
        let b_f = ctx.upload("bench.b_f", &g.normal_vec(elems, 1.0));
        let out = ctx.storage_buffer("bench.out", elems as u64 * 4);
        group.bench_function(BenchmarkId::new("i8", size), |bench| {
            bench.iter(|| {
                let mut rec = Recording::new();
                let bufs = GemmBuffers::new(&a_q, &b_q, &out);
                ops::gemm_i8(&ctx, &mut rec, &shape, MAX_K_CHUNK, bufs, &Epilogue::NONE).unwrap();
                ctx.run(&rec).unwrap();
                ctx.wait_idle().unwrap();
            })
        });
        group.bench_function(BenchmarkId::new("f32", size), |bench| {
            bench.iter(|| {
                let mut rec = Recording::new();
                let bufs = GemmBuffers::new(&a_f, &b_f, &out);
                ops::gemm_f32(&ctx, &mut rec, &shape, bufs, &Epilogue::NONE).unwrap();
                ctx.run(&rec).unwrap();
                ctx.wait_idle().unwrap();
            })
        });
    }
    group.finish();
}

fn quantize(c: &mut Criterion) {
    let ctx = context();
    let mut group = c.benchmark_group("quantize");
    group.sample_size(10);
    let (rows, cols) = (1024u32, 1024u32);
    let x = ctx.upload(
        "bench.x",
        &Gen::new(4).normal_vec((rows * cols) as usize, 1.0),
    );
    let clips = ctx.upload("bench.clips", &vec![3.0f32; cols as usize]);
    let packed = ctx.storage_buffer(
        "bench.q",
        Layout::new(rows, cols, ChannelAxis::Tensor).packed_words() as u64 * 4,
    );
    let scales = ctx.storage_buffer("bench.s", cols as u64 * 4);
    group.throughput(Throughput::Elements((rows * cols) as u64));
    let cases = [
        ("tensor_nearest", ChannelAxis::Tensor, Rounding::Nearest),
        (
            "tensor_stochastic",
            ChannelAxis::Tensor,
            Rounding::Stochastic { seed: 7 },
        ),
        ("per_column_nearest", ChannelAxis::Cols, Rounding::Nearest),
    ];
    for (name, axis, rounding) in cases {
        let layout = Layout::new(rows, cols, axis);
        group.bench_function(BenchmarkId::new(name, rows * cols), |bench| {
            bench.iter(|| {
                let mut rec = Recording::new();
                let bufs = QuantizeBuffers {
                    input: &x,
                    clips: &clips,
                    packed: &packed,
                    scales: &scales,
                };
                ops::quantize(&mut rec, &layout, rounding, bufs).unwrap();
                ctx.run(&rec).unwrap();
                ctx.wait_idle().unwrap();
            })
        });
    }
    group.finish();
}

criterion_group!(benches, gemm, quantize);
criterion_main!(benches);
