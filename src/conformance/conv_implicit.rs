//! The implicit-GEMM convolutions, FP32 and int8, against their twins and against the explicit
//! GEMM on the column matrix they replace. Part of the `conv` suite.

use super::CaseResult;
use super::check::Check;
use super::harness::HostEpilogue;
use crate::cpu;
use crate::error::Result;
use crate::gpu::{Context, Recording};
use crate::ops::conv_gemm;
use crate::ops::gemm::{self, GemmVariant, f32_k_chunk};
use crate::ops::{self, Epilogue, GemmBuffers, GemmShape, MAX_K_CHUNK, Scale};
use crate::rng::Gen;
use crate::rng::rng_u32;

/// Which product of a convolution a case computes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pass {
    /// `y = x ∗ w`.
    Forward,
    /// `dw` from `dy` and `x`.
    WeightGradient,
}

/// A convolution's input on the host and the GPU, and its column matrix (on the GPU).
#[derive(Clone, Copy)]
pub(super) struct ColumnInput<'a> {
    /// The input, NHWC.
    pub(super) x: &'a [f32],
    /// The same on the GPU.
    pub(super) x_buf: &'a wgpu::Buffer,
    /// `im2col(x)` on the GPU.
    pub(super) cols: &'a wgpu::Buffer,
}

/// The FP32 implicit-GEMM convolution (`conv_f32_regs`), forward with bias and ReLU and weight
/// gradient, against its twin and, bit for bit, against `gemm_f32_regs` on the column matrix
/// `cols` (on the GPU) it replaces.
pub(super) async fn f32_cases(
    ctx: &Context,
    geom: &ops::ConvGeometry,
    input: ColumnInput<'_>,
    g: &mut Gen,
    out: &mut Vec<CaseResult>,
) -> Result<()> {
    // 6 channels: one block of 8 along them, two cells dropped; 13: two blocks, the second
    // partial.
    for channels in [6, 13] {
        f32_channel_cases(ctx, geom, input, channels, g, out).await?;
    }
    Ok(())
}

async fn f32_channel_cases(
    ctx: &Context,
    geom: &ops::ConvGeometry,
    input: ColumnInput<'_>,
    channels: u32,
    g: &mut Gen,
    out: &mut Vec<CaseResult>,
) -> Result<()> {
    let ColumnInput { x, x_buf: xb, cols } = input;
    use crate::ops::conv_gemm::{conv_forward_shape, conv_wgrad_shape};
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
        bias: Some((&bb).into()),
        bias_offset: 0,
        relu: true,
        gate: None,
    };
    let regs = GemmVariant::Regs;
    let mut rec = Recording::new();
    let conv = (geom, channels);
    conv_gemm::conv_f32_forward(ctx, &mut rec, conv, GemmBuffers::new(xb, &wb, &y), &epi)?;
    gemm::gemm_f32_variant(
        ctx,
        &mut rec,
        regs,
        &fwd,
        GemmBuffers::new(cols, &wb, &y_ref),
        &epi,
    )?;
    conv_gemm::conv_f32_wgrad(ctx, &mut rec, conv, GemmBuffers::new(&dyb, xb, &dw))?;
    let bufs = GemmBuffers::new(&dyb, cols, &dw_ref);
    gemm::gemm_f32_variant(ctx, &mut rec, regs, &wgrad, bufs, &Epilogue::NONE)?;
    ctx.run(&rec)?;
    let read = async |b: &wgpu::Buffer, s: &GemmShape| -> Result<Vec<f32>> {
        let mut v: Vec<f32> = ctx.read_buffer_async(b).await?;
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
            gate: None,
            ..HostEpilogue::default()
        };
        let (gpu, reference) = (read(gpu, shape).await?, read(reference, shape).await?);
        let mut twin = vec![0f32; gpu.len()];
        let k_chunk = f32_k_chunk(shape, ctx.spread());
        cpu::conv_f32(geom, is_wgrad, shape, k_chunk, a, b, &host.cpu(), &mut twin);
        let abs_host = HostEpilogue {
            bias: (!is_wgrad).then_some(&abs_bias[..]),
            ..HostEpilogue::default()
        };
        let mut mag = vec![0f32; gpu.len()];
        cpu::conv_f32(
            geom,
            is_wgrad,
            shape,
            k_chunk,
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
            format!("conv_f32_regs {name} {n}x{h}x{w}x{c} k{k} s{s} p{p} -> {channels}"),
            out,
        );
    }
    Ok(())
}

/// The int8 implicit-GEMM convolution (`conv_i8_regs`) on an input quantized in place, exact
/// against its twin and, through the twins, against `gemm_i8_regs` on the packed column matrix
/// it replaces.
pub(super) async fn i8_cases(
    ctx: &Context,
    geom: &ops::ConvGeometry,
    g: &mut Gen,
    out: &mut Vec<CaseResult>,
) -> Result<()> {
    use crate::ops::conv_gemm::{conv_forward_shape, conv_wgrad_shape};
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
        gate: None,
    };
    let cases = [
        ("forward", Pass::Forward, HostEpilogue::default()),
        ("forward + scales + bias + relu", Pass::Forward, scaled),
        (
            "weight gradient",
            Pass::WeightGradient,
            HostEpilogue::default(),
        ),
    ];
    for (name, pass, host) in cases {
        let is_wgrad = pass == Pass::WeightGradient;
        let (shape, k_chunk, a, b) = if is_wgrad {
            (
                &wgrad,
                wgrad.auto_k_chunk(MAX_K_CHUNK, ctx.spread()),
                &dy_q,
                &x_q,
            )
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
            bias: host.bias.map(|_| (&bias_buf).into()),
            bias_offset: 0,
            relu: host.relu,
            gate: None,
        };
        let mut rec = Recording::new();
        let bufs = GemmBuffers::new(&ab, &bb, &y);
        let conv = (geom, channels);
        if is_wgrad {
            conv_gemm::conv_i8_wgrad(ctx, &mut rec, conv, k_chunk, bufs, &epi)?;
        } else {
            conv_gemm::conv_i8_forward(ctx, &mut rec, conv, k_chunk, bufs, &epi)?;
        }
        ctx.run(&rec)?;
        let mut gpu: Vec<f32> = ctx.read_buffer_async(&y).await?;
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
                gate: None,
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
