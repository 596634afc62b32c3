//! Convolution data movement — `im2col`, `col2im`, `im2col_i8` — and, on the same shapes, the
//! implicit-GEMM convolutions (`conv_implicit`).

use super::check::Check;
use super::conv_implicit::{self, ColumnInput};
use super::harness::{Quantized, ReluMaskOutput, gpu_quantize};
use super::{CaseResult, Extent};
use crate::cpu;
use crate::error::Result;
use crate::gpu::{Context, Recording};
use crate::ops::{self, ChannelAxis, Layout, Rounding};
use crate::rng::Gen;

/// The kernels the suite exercises.
pub(super) const KERNELS: &[&str] = &[
    "im2col",
    "im2col_i8",
    "col2im",
    "col2im_maxpool",
    "conv_f32_regs_fwd",
    "conv_f32_regs_wgrad",
    "conv_i8_regs_fwd",
    "conv_i8_regs_wgrad",
    "conv_i8_regs_fwd_c4",
    "conv_i8_regs_wgrad_c4",
    "gemm_reduce",
];

/// `col2im_maxpool` against `col2im` then the pooling's backward on the GPU, bit for bit, and
/// against its twin: the convolution's input pooled from a k×k max pooling (k = 2 and 3, with
/// rows and columns no window covers), after a ReLU (windows with no winner) and not.
/// `dx` holds `col2im(dcols)`, already run.
async fn pooled_col2im_case(
    ctx: &Context,
    geom: &ops::ConvGeometry,
    (dcols, dcols_host): (&wgpu::Buffer, &[f32]),
    dx: &wgpu::Buffer,
    g: &mut Gen,
    out: &mut Vec<CaseResult>,
) -> Result<()> {
    for (k, extra, after_relu) in [(2, 1, true), (3, 2, false)] {
        let pool = ops::PoolGeometry {
            n: geom.n,
            h: geom.h * k + extra,
            w: geom.w * k,
            c: geom.c,
            k,
        };
        let xp = g.normal_vec(pool.input_len() as usize, 1.0);
        let xb = ctx.upload("test.pool_x", &xp);
        let pooled = ctx.storage_buffer("test.pooled", pool.output_len() * 4);
        let argmax = ctx.storage_buffer("test.argmax", pool.output_len().div_ceil(4) * 4);
        let [fused, apart] =
            ["test.fused", "test.apart"].map(|n| ctx.storage_buffer(n, pool.input_len() * 4));
        let mut rec = Recording::new();
        let forward = ops::PoolPass::Forward { after_relu };
        ops::maxpool(ctx, &mut rec, &pool, &xb, forward, &argmax, &pooled)?;
        ops::col2im_maxpool(&mut rec, geom, &pool, dcols, &argmax, &fused)?;
        let backward = ops::PoolPass::Backward { dy: dx };
        ops::maxpool(ctx, &mut rec, &pool, &xb, backward, &argmax, &apart)?;
        ctx.run(&rec)?;
        let n = pool.input_len() as usize;
        let got = ctx.read_buffer_async::<f32>(&fused).await?[..n].to_vec();
        let want = ctx.read_buffer_async::<f32>(&apart).await?[..n].to_vec();
        let winners: Vec<u32> = ctx.read_buffer_async(&argmax).await?;
        let mut twin = vec![f32::NAN; n];
        cpu::col2im_maxpool(geom, &pool, dcols_host, &winners, &mut twin);
        let mut check = Check::new();
        check.exact_f32("dx vs col2im + maxpool", &got, &want);
        check.exact_f32("dx vs twin", &got, &twin);
        let relu = if after_relu { " after ReLU" } else { "" };
        let case = format!(
            "col2im_maxpool {:?} pool k{k}{relu}",
            (pool.n, pool.h, pool.w, pool.c)
        );
        check.finish("conv", case, out);
    }
    Ok(())
}

/// LeNet's shapes, odd sizes, strides and paddings, through every convolution kernel.
pub(super) async fn cases(ctx: &Context, _: Extent, out: &mut Vec<CaseResult>) -> Result<()> {
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
        ops::col2im(ctx, &mut rec, &geom, &db, &dxb)?;
        ctx.run(&rec)?;
        let cols: Vec<f32> = ctx.read_buffer_async(&cb).await?;
        let dx: Vec<f32> = ctx.read_buffer_async(&dxb).await?;
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
        pooled_col2im_case(ctx, &geom, (&db, &dcols), &dxb, &mut g, out).await?;
        let input = ColumnInput {
            x: &x,
            x_buf: &xb,
            cols: &cb,
        };
        conv_implicit::f32_cases(ctx, &geom, input, &mut g, out).await?;
        conv_implicit::i8_cases(ctx, &geom, &mut g, out).await?;
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
            let nearest = Rounding::Nearest;
            let Quantized { packed: x_q, .. } =
                gpu_quantize(ctx, &in_place, nearest, &xq, &[clip], ReluMaskOutput::Skip).await?;
            let layout = Layout::new(geom.rows(), geom.taps(), ChannelAxis::Tensor);
            let x_qb = ctx.upload("test.x_q", &x_q);
            let packed = ctx.storage_buffer("test.packed", layout.packed_words() as u64 * 4);
            let mut rec = Recording::new();
            ops::im2col_i8(&mut rec, &geom, &x_qb, &packed)?;
            ctx.run(&rec)?;
            let gpu: Vec<u32> = ctx.read_buffer_async(&packed).await?;
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
