//! Criterion benches of octet's kernels on the default adapter (`WGPU_BACKEND`,
//! `WGPU_ADAPTER_NAME` choose another), for regression tracking of what `examples/bench.rs`
//! reports: int8 vs f32 GEMM at 256/512/1024 (as autotuned, and each variant at 512), the three
//! GEMMs of LeNet-5's second convolution, its forward and weight-gradient GEMMs on the column
//! matrix vs implicit, im2col vs the fused im2col + quantize, quantize
//! throughput, and a LeNet-5 training step at batch 64 per policy. Each iteration records,
//! submits and waits, so the figures include submission overhead, as a training step would.
//!
//! ```text
//! cargo bench --bench kernels            # everything
//! cargo bench --bench kernels -- gemm    # GEMMs only
//! ```
//! Throughput is reported in "elements" per second: for GEMMs these are operations (2·M·N·K).

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use octet::Recording;
use octet::cpu::common::rng_u32;
use octet::data::Dataset;
use octet::nn::ModelSpec;
use octet::ops::conv_gemm;
use octet::ops::gemm::{self, GemmVariant};
use octet::ops::{
    self, ChannelAxis, ConvGeometry, Epilogue, GemmBuffers, GemmShape, Layout, MAX_K_CHUNK,
    QuantizeBuffers, Rounding,
};
use octet::quant::Policy;
use octet::rng::Gen;
use octet::train::{TrainConfig, Trainer};

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

/// Random packed int8 operands and normal f32 ones for `shape`.
struct Operands {
    a_q: wgpu::Buffer,
    b_q: wgpu::Buffer,
    a_f: wgpu::Buffer,
    b_f: wgpu::Buffer,
    out: wgpu::Buffer,
}

impl Operands {
    fn new(ctx: &octet::Context, shape: &GemmShape) -> Self {
        let words = |rows, trans, seed| -> Vec<u32> {
            let n = GemmShape::packed_words(rows, shape.k, trans) as u32;
            (0..n).map(|i| rng_u32(seed, i)).collect()
        };
        let mut g = Gen::new(3);
        let floats = |g: &mut Gen, rows: u32| g.normal_vec((rows * shape.k) as usize, 1.0);
        Operands {
            a_q: ctx.upload("bench.a_q", &words(shape.m, shape.trans_a, 1)),
            b_q: ctx.upload("bench.b_q", &words(shape.n, shape.trans_b, 2)),
            a_f: ctx.upload("bench.a_f", &floats(&mut g, shape.m)),
            b_f: ctx.upload("bench.b_f", &floats(&mut g, shape.n)),
            out: ctx.storage_buffer("bench.out", shape.m as u64 * shape.n as u64 * 4),
        }
    }

    /// One GEMM, recorded, submitted and waited for: in `variant`, or as autotuned.
    fn run(
        &self,
        ctx: &octet::Context,
        shape: &GemmShape,
        int8: bool,
        variant: Option<GemmVariant>,
    ) {
        let mut rec = Recording::new();
        let k_chunk = shape.auto_k_chunk(MAX_K_CHUNK, ctx.spread());
        let epi = &Epilogue::NONE;
        let (i8_bufs, f32_bufs) = (
            GemmBuffers::new(&self.a_q, &self.b_q, &self.out),
            GemmBuffers::new(&self.a_f, &self.b_f, &self.out),
        );
        match (int8, variant) {
            (true, None) => ops::gemm_i8(ctx, &mut rec, shape, k_chunk, i8_bufs, epi),
            (true, Some(v)) => {
                gemm::gemm_i8_variant(ctx, &mut rec, v, shape, k_chunk, i8_bufs, epi)
            }
            (false, None) => ops::gemm_f32(ctx, &mut rec, shape, f32_bufs, epi),
            (false, Some(v)) => gemm::gemm_f32_variant(ctx, &mut rec, v, shape, f32_bufs, epi),
        }
        .unwrap();
        ctx.run(&rec).unwrap();
        ctx.wait_idle().unwrap();
    }
}

fn gemm(c: &mut Criterion) {
    let ctx = context();
    let mut group = c.benchmark_group("gemm");
    group.sample_size(10);
    for size in [256u32, 512, 1024] {
        let shape = GemmShape::new(size, size, size);
        group.throughput(Throughput::Elements(2 * shape.macs()));
        let ops = Operands::new(&ctx, &shape);
        for (name, int8) in [("i8", true), ("f32", false)] {
            group.bench_function(BenchmarkId::new(name, size), |bench| {
                bench.iter(|| ops.run(&ctx, &shape, int8, None))
            });
            if size == 512 {
                for v in GemmVariant::ALL {
                    group
                        .bench_function(BenchmarkId::new(format!("{name}_{v:?}"), size), |bench| {
                            bench.iter(|| ops.run(&ctx, &shape, int8, Some(v)))
                        });
                }
            }
        }
    }
    // LeNet-5's second convolution at batch 64: 6400 output pixels, 150 taps, 16 channels.
    let (rows, taps, out) = (6400, 150, 16);
    for (what, shape) in [
        ("conv_fwd", GemmShape::new(rows, out, taps)),
        (
            "conv_dgrad",
            GemmShape::new(rows, taps, out).with_trans(false, true),
        ),
        (
            "conv_wgrad",
            GemmShape::new(out, taps, rows).with_trans(true, true),
        ),
    ] {
        group.throughput(Throughput::Elements(2 * shape.macs()));
        let ops = Operands::new(&ctx, &shape);
        for (name, int8) in [("i8", true), ("f32", false)] {
            group.bench_function(
                BenchmarkId::new(format!("{what}_{name}"), "lenet5"),
                |bench| bench.iter(|| ops.run(&ctx, &shape, int8, None)),
            );
        }
    }
    group.finish();
}

/// The f32 column matrix against the int8 one gathered from the input quantized in place, on
/// LeNet-5's second convolution.
fn im2col(c: &mut Criterion) {
    let ctx = context();
    let mut group = c.benchmark_group("im2col");
    group.sample_size(10);
    let geom = lenet5_conv2();
    let cells = geom.rows() as u64 * geom.taps() as u64;
    group.throughput(Throughput::Elements(cells));
    let x = ctx.upload(
        "bench.x",
        &Gen::new(5).normal_vec(geom.input_len() as usize, 1.0),
    );
    let cols = ctx.storage_buffer("bench.cols", cells * 4);
    let x_q = ctx.storage_buffer(
        "bench.x_q",
        geom.quantized_input_layout().packed_words() as u64 * 4,
    );
    let packed = ctx.storage_buffer(
        "bench.packed",
        geom.rows() as u64 * geom.taps().div_ceil(4) as u64 * 4,
    );
    let run = |int8: bool| {
        let mut rec = Recording::new();
        if int8 {
            ops::im2col_i8(&mut rec, &geom, &x_q, &packed).unwrap();
        } else {
            ops::im2col(&mut rec, &geom, &x, &cols).unwrap();
        }
        ctx.run(&rec).unwrap();
        ctx.wait_idle().unwrap();
    };
    group.bench_function("im2col_f32", |bench| bench.iter(|| run(false)));
    group.bench_function("im2col_i8", |bench| bench.iter(|| run(true)));
    group.finish();
}

/// LeNet-5's second convolution at batch 64: 14×14×6 in, 5×5 kernel.
fn lenet5_conv2() -> ConvGeometry {
    ConvGeometry {
        n: 64,
        h: 14,
        w: 14,
        c: 6,
        kh: 5,
        kw: 5,
        stride: 1,
        pad: 0,
    }
}

/// LeNet-5's second convolution: the forward and weight-gradient GEMMs on the column matrix
/// (`explicit`: what im2col / im2col_i8 wrote) against the implicit-GEMM kernels, which
/// gather it from the input (FP32) or the input quantized in place (int8).
fn conv(c: &mut Criterion) {
    let ctx = context();
    let mut group = c.benchmark_group("conv");
    group.sample_size(10);
    let geom = lenet5_conv2();
    let channels = 16;
    let fwd = conv_gemm::conv_forward_shape(&geom, channels);
    let wgrad = conv_gemm::conv_wgrad_shape(&geom, channels);
    group.throughput(Throughput::Elements(2 * fwd.macs()));
    let mut g = Gen::new(9);
    let mut f32s = |n: u64| ctx.upload("bench.f32", &g.normal_vec(n as usize, 1.0));
    let (x, cols) = (f32s(geom.input_len()), f32s(fwd.m as u64 * fwd.k as u64));
    let (w, dy) = (
        f32s(fwd.n as u64 * fwd.k as u64),
        f32s(fwd.m as u64 * fwd.n as u64),
    );
    let words = |n: u64| -> Vec<u32> { (0..n as u32).map(|i| rng_u32(11, i)).collect() };
    let x_q = ctx.upload(
        "bench.x_q",
        &words(geom.quantized_input_layout().packed_words() as u64),
    );
    let cols_q = ctx.upload(
        "bench.cols_q",
        &words(GemmShape::packed_words(fwd.m, fwd.k, false)),
    );
    let w_q = ctx.upload(
        "bench.w_q",
        &words(GemmShape::packed_words(fwd.n, fwd.k, false)),
    );
    let dy_q = ctx.upload(
        "bench.dy_q",
        &words(GemmShape::packed_words(fwd.n, fwd.m, true)),
    );
    let out = ctx.storage_buffer("bench.out", fwd.m as u64 * fwd.n as u64 * 4);
    let partials = ctx.storage_buffer("bench.partials", 64 << 20);
    let kc = wgrad.auto_k_chunk(MAX_K_CHUNK, ctx.spread());
    let none = Epilogue::NONE;
    let conv = (&geom, channels);
    let bufs = |a, b| GemmBuffers {
        partials: Some(&partials),
        ..GemmBuffers::new(a, b, &out)
    };
    type Record<'a> = Box<dyn Fn(&mut Recording) -> octet::Result<()> + 'a>;
    let regs = GemmVariant::Regs;
    let cases: Vec<(&str, Record)> = vec![
        (
            "f32_forward_explicit",
            Box::new(|r| gemm::gemm_f32_variant(&ctx, r, regs, &fwd, bufs(&cols, &w), &none)),
        ),
        (
            "f32_forward_implicit",
            Box::new(|r| conv_gemm::conv_f32_forward(&ctx, r, conv, bufs(&x, &w), &none)),
        ),
        (
            "f32_wgrad_explicit",
            Box::new(|r| gemm::gemm_f32_variant(&ctx, r, regs, &wgrad, bufs(&dy, &cols), &none)),
        ),
        (
            "f32_wgrad_implicit",
            Box::new(|r| conv_gemm::conv_f32_wgrad(&ctx, r, conv, bufs(&dy, &x))),
        ),
        (
            "i8_forward_explicit",
            Box::new(|r| {
                gemm::gemm_i8_variant(&ctx, r, regs, &fwd, MAX_K_CHUNK, bufs(&cols_q, &w_q), &none)
            }),
        ),
        (
            "i8_forward_implicit",
            Box::new(|r| {
                conv_gemm::conv_i8_forward(&ctx, r, conv, MAX_K_CHUNK, bufs(&x_q, &w_q), &none)
            }),
        ),
        (
            "i8_wgrad_explicit",
            Box::new(|r| {
                gemm::gemm_i8_variant(&ctx, r, regs, &wgrad, kc, bufs(&dy_q, &cols_q), &none)
            }),
        ),
        (
            "i8_wgrad_implicit",
            Box::new(|r| conv_gemm::conv_i8_wgrad(&ctx, r, conv, kc, bufs(&dy_q, &x_q), &none)),
        ),
    ];
    for (name, record) in &cases {
        group.bench_function(*name, |bench| {
            bench.iter(|| {
                let mut rec = Recording::new();
                record(&mut rec).unwrap();
                ctx.run(&rec).unwrap();
                ctx.wait_idle().unwrap();
            })
        });
    }
    group.finish();
}

/// One LeNet-5 training step at batch 64 per policy (warmed up, clips refreshed every step).
fn step(c: &mut Criterion) {
    let ctx = context();
    let mut group = c.benchmark_group("step");
    group.sample_size(10);
    let batch = 64usize;
    let data = Dataset::synthetic_images(batch, [28, 28, 1], 10, 0.5, 1);
    let (x, y) = data.batch(0, batch);
    let spec = ModelSpec::lenet5(28, 28, 1, 10);
    for policy in [
        Policy::Fp32,
        Policy::NaiveInt8,
        Policy::ui8(),
        Policy::dai8(),
    ] {
        let cfg = TrainConfig {
            batch: batch as u32,
            ..Default::default()
        };
        let mut trainer = Trainer::new(&ctx, &spec, policy.clone(), cfg).unwrap();
        trainer.train_step(x, y).unwrap();
        group.bench_function(BenchmarkId::new("lenet5", policy.name()), |bench| {
            bench.iter(|| {
                trainer.train_step(x, y).unwrap();
                trainer.poll_metrics(true).unwrap();
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
                    input: (&x).into(),
                    clips: &clips,
                    packed: &packed,
                    scales: &scales,
                    relu_mask: None,
                };
                ops::quantize(&ctx, &mut rec, &layout, rounding, bufs).unwrap();
                ctx.run(&rec).unwrap();
                ctx.wait_idle().unwrap();
            })
        });
    }
    group.finish();
}

criterion_group!(benches, gemm, conv, im2col, quantize, step);
criterion_main!(benches);
