//! The depthwise convolutions, `depthwise_i8` and `depthwise_f32`: every pass against its twin,
//! with and without split-K, channel counts that do and do not fill whole words.

use super::check::Check;
use super::{CaseResult, Extent};
use crate::abi::{GEMM_I8_BK, GemmShape};
use crate::cpu::{self, CpuEpilogue, CpuScale};
use crate::error::Result;
use crate::gpu::{Context, Recording};
use crate::ops::{self, ConvGeometry, DepthwisePass, Epilogue, GemmBuffers, Precision, Scale};
use crate::rng::{Gen, rng_u32};

/// The kernels the suite exercises.
pub(super) const KERNELS: &[&str] = &[
    "depthwise_i8_fwd",
    "depthwise_i8_dgrad",
    "depthwise_i8_wgrad",
    "depthwise_f32_fwd",
    "depthwise_f32_dgrad",
    "depthwise_f32_wgrad",
];

/// `(n, h, w, c, k, stride, pad)`.
type Geom = (u32, u32, u32, u32, u32, u32, u32);

/// MobileNetV2's 3×3 with stride 1 and 2, channels not a multiple of 4, a 5×5 filter, an
/// unpadded one; the full extent adds a layer of the zoo's size.
pub(super) async fn cases(ctx: &Context, extent: Extent, out: &mut Vec<CaseResult>) -> Result<()> {
    let mut geoms: Vec<Geom> = vec![
        (2, 7, 7, 5, 3, 1, 1),
        (2, 9, 8, 8, 3, 2, 1),
        (1, 6, 6, 3, 5, 1, 2),
        (3, 5, 6, 4, 3, 1, 0),
    ];
    if extent == Extent::Full {
        geoms.push((8, 14, 14, 36, 3, 2, 1));
    }
    let mut g = Gen::new(91);
    for (n, h, w, c, k, stride, pad) in geoms {
        let geom = ConvGeometry {
            n,
            h,
            w,
            c,
            kh: k,
            kw: k,
            stride,
            pad,
        };
        for pass in DepthwisePass::ALL {
            // The default chunk, and for the weight gradient a short one: split-K through
            // gemm_reduce.
            let mut chunks = vec![None];
            if pass == DepthwisePass::WeightGrad {
                chunks.push(Some(GEMM_I8_BK));
            }
            for k_chunk in chunks {
                i8_case(ctx, &geom, pass, k_chunk, &mut g, out).await?;
                f32_case(ctx, &geom, pass, k_chunk.map(|k| k + 8), &mut g, out).await?;
            }
        }
    }
    Ok(())
}

/// Words of A and B and the output's length for `pass` on int8: (x_q, W_q, dY_q) words.
fn i8_words(g: &ConvGeometry, pass: DepthwisePass) -> (usize, usize) {
    let x = g.quantized_input_layout().packed_words();
    let w = GemmShape::packed_words(g.c, g.kh * g.kw, false) as usize;
    let dy = GemmShape::packed_words(g.rows(), g.c, false) as usize;
    match pass {
        DepthwisePass::Forward => (x, w),
        DepthwisePass::InputGrad => (dy, w),
        DepthwisePass::WeightGrad => (dy, x),
    }
}

fn describe(g: &ConvGeometry, pass: DepthwisePass, k_chunk: Option<u32>) -> String {
    let chunk = k_chunk.map_or(String::new(), |k| format!(", split-K by {k}"));
    format!(
        "{} n={} {}x{}x{} k={} stride {} pad {}{chunk}",
        pass.suffix(),
        g.n,
        g.h,
        g.w,
        g.c,
        g.kh,
        g.stride,
        g.pad
    )
}

/// Random packed int8 operands and scales through one pass, against the twin: the forward with
/// bias and ReLU, the weight gradient with dY's scale per channel (DAI8's).
async fn i8_case(
    ctx: &Context,
    geom: &ConvGeometry,
    pass: DepthwisePass,
    k_chunk: Option<u32>,
    g: &mut Gen,
    out: &mut Vec<CaseResult>,
) -> Result<()> {
    let (na, nb) = i8_words(geom, pass);
    let seed = (g.uniform() * 1e9) as u32;
    let a: Vec<u32> = (0..na as u32).map(|i| rng_u32(seed, i)).collect();
    let b: Vec<u32> = (0..nb as u32).map(|i| rng_u32(seed ^ 0x5bd1, i)).collect();
    let shape = pass.shape(geom);
    let per_channel = pass == DepthwisePass::WeightGrad;
    let sa: Vec<f32> = (0..if per_channel { geom.c } else { 1 })
        .map(|_| 1e-3 * (1.0 + g.uniform()))
        .collect();
    let sb = vec![2e-3 * (1.0 + g.uniform())];
    let forward = pass == DepthwisePass::Forward;
    let bias = g.normal_vec(geom.c as usize, 1.0);
    let [ab, bb, sab, sbb, biasb] = [
        ctx.upload("test.a", &a),
        ctx.upload("test.b", &b),
        ctx.upload("test.scale_a", &sa),
        ctx.upload("test.scale_b", &sb),
        ctx.upload("test.bias", &bias),
    ];
    let cells = shape.m as usize * shape.n as usize;
    let outb = ctx.storage_buffer("test.out", cells as u64 * 4);
    let epi = Epilogue {
        scale_a: if per_channel {
            Scale::PerIndex(&sab)
        } else {
            Scale::Tensor(&sab)
        },
        scale_b: Scale::Tensor(&sbb),
        bias: forward.then_some(&biasb),
        bias_offset: 0,
        relu: forward,
    };
    let mut rec = Recording::new();
    let bufs = GemmBuffers::new(&ab, &bb, &outb);
    ops::depthwise(
        ctx,
        &mut rec,
        (Precision::Int8, pass),
        geom,
        k_chunk,
        bufs,
        &epi,
    )?;
    ctx.run(&rec)?;
    let gpu: Vec<f32> = ctx.read_buffer_async(&outb).await?;
    let k_chunk = k_chunk
        .unwrap_or_else(|| ops::depthwise::depthwise_k_chunk(ctx, geom, pass, Precision::Int8));
    let cpu_epi = CpuEpilogue {
        scale_a: if per_channel {
            CpuScale::PerIndex(&sa)
        } else {
            CpuScale::Tensor(sa[0])
        },
        scale_b: CpuScale::Tensor(sb[0]),
        bias: forward.then_some(&bias[..]),
        relu: forward,
    };
    let mut twin = vec![0f32; cells];
    cpu::depthwise_i8(geom, pass, k_chunk, &a, &b, &cpu_epi, &mut twin);
    // The epilogue's multiply-adds may fuse differently: 1e-6 of |acc·sa·sb| + |bias|.
    let scale: Vec<f32> = (0..cells)
        .map(|i| {
            twin[i].abs()
                + if forward {
                    bias[i % geom.c as usize].abs()
                } else {
                    0.0
                }
                + 1e-30
        })
        .collect();
    let mut check = Check::new();
    check.close("out", &gpu[..cells], &twin, &scale, 1e-6);
    check.finish("depthwise_i8", describe(geom, pass, Some(k_chunk)), out);
    Ok(())
}

/// Random f32 operands through one pass, against the twin within 1e-5 of Σ|a||b| (the twin run
/// on the operands' magnitudes); the forward with bias and ReLU.
async fn f32_case(
    ctx: &Context,
    geom: &ConvGeometry,
    pass: DepthwisePass,
    k_chunk: Option<u32>,
    g: &mut Gen,
    out: &mut Vec<CaseResult>,
) -> Result<()> {
    let taps = (geom.kh * geom.kw * geom.c) as usize;
    let (x, dy) = (geom.input_len() as usize, (geom.rows() * geom.c) as usize);
    let (na, nb) = match pass {
        DepthwisePass::Forward => (x, taps),
        DepthwisePass::InputGrad => (dy, taps),
        DepthwisePass::WeightGrad => (dy, x),
    };
    let a = g.normal_vec(na, 1.0);
    let b = g.normal_vec(nb, 1.0);
    let forward = pass == DepthwisePass::Forward;
    let bias = g.normal_vec(geom.c as usize, 1.0);
    let [ab, bb, biasb] = [
        ctx.upload("test.a", &a),
        ctx.upload("test.b", &b),
        ctx.upload("test.bias", &bias),
    ];
    let shape = pass.shape(geom);
    let cells = shape.m as usize * shape.n as usize;
    let outb = ctx.storage_buffer("test.out", cells as u64 * 4);
    let epi = Epilogue {
        scale_a: Scale::None,
        scale_b: Scale::None,
        bias: forward.then_some(&biasb),
        bias_offset: 0,
        relu: forward,
    };
    let mut rec = Recording::new();
    let bufs = GemmBuffers::new(&ab, &bb, &outb);
    ops::depthwise(
        ctx,
        &mut rec,
        (Precision::Fp32, pass),
        geom,
        k_chunk,
        bufs,
        &epi,
    )?;
    ctx.run(&rec)?;
    let gpu: Vec<f32> = ctx.read_buffer_async(&outb).await?;
    let k_chunk = k_chunk
        .unwrap_or_else(|| ops::depthwise::depthwise_k_chunk(ctx, geom, pass, Precision::Fp32));
    let cpu_epi = CpuEpilogue {
        bias: forward.then_some(&bias[..]),
        relu: forward,
        ..CpuEpilogue::NONE
    };
    let mut twin = vec![0f32; cells];
    cpu::depthwise_f32(geom, pass, k_chunk, &a, &b, &cpu_epi, &mut twin);
    let abs = |v: &[f32]| v.iter().map(|x| x.abs()).collect::<Vec<_>>();
    let mut scale = vec![0f32; cells];
    cpu::depthwise_f32(
        geom,
        pass,
        k_chunk,
        &abs(&a),
        &abs(&b),
        &CpuEpilogue::NONE,
        &mut scale,
    );
    for (i, s) in scale.iter_mut().enumerate() {
        *s += if forward {
            bias[i % geom.c as usize].abs()
        } else {
            0.0
        } + 1e-30;
    }
    let mut check = Check::new();
    check.close("out", &gpu[..cells], &twin, &scale, 1e-5);
    check.finish("depthwise_f32", describe(geom, pass, Some(k_chunk)), out);
    Ok(())
}
