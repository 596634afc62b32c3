//! Twins of `shaders/depthwise_i8.wgsl` and `shaders/depthwise_f32.wgsl`.

use crate::abi::{ConvGemmParams, ConvGeometry, DepthwisePass, GemmShape};
use crate::cpu::conv::{im2col_source, window_of};
use crate::cpu::gemm_i8::{CpuEpilogue, dot4_i8_packed, store_result};
use crate::cpu::gemm_reduce::split_k;
use crate::cpu::replay::{Replay, Words, bad_bindings, f32s, gemm_call, read};

/// `depthwise_grad_source()` of `shaders/conv_common.wgsl`: the output pixel whose window
/// reads input pixel `q` at tap `t`, if one does.
fn depthwise_grad_source(g: &ConvGeometry, q: usize, t: usize) -> Option<usize> {
    let (h, w, s) = (g.h as usize, g.w as usize, g.stride as usize);
    let (iy, ix, img) = ((q / w) % h, q % w, q / (w * h));
    let ny = (iy + g.pad as usize).checked_sub(t / g.kw as usize)?;
    let nx = (ix + g.pad as usize).checked_sub(t % g.kw as usize)?;
    let (oy, ox) = (ny / s, nx / s);
    let (oh, ow) = (g.oh() as usize, g.ow() as usize);
    (ny % s == 0 && nx % s == 0 && oy < oh && ox < ow).then_some((img * oh + oy) * ow + ox)
}

/// The input element that output pixel `row` reads at tap `t` of channel `c`, if not padding.
fn forward_source(g: &ConvGeometry, row: usize, t: usize, c: usize) -> Option<usize> {
    let kw = g.kw as usize;
    im2col_source(g, window_of(g, row), [t / kw, t % kw, c])
}

/// For cell (`gm`, `gn`) of `pass` and K index `k`, the elements multiplied: (index into A,
/// index into B) in elements of the NHWC input, dY (`dy_row` per pixel) and W (`taps` per
/// channel), or `None` where the product is a padding zero.
fn operands(
    g: &ConvGeometry,
    pass: DepthwisePass,
    dy_row: usize,
    (gm, gn, k): (usize, usize, usize),
) -> Option<(usize, usize)> {
    let taps = (g.kh * g.kw) as usize;
    match pass {
        DepthwisePass::Forward => forward_source(g, gm, k, gn).map(|s| (s, gn * taps + k)),
        DepthwisePass::InputGrad => {
            depthwise_grad_source(g, gm, k).map(|p| (p * dy_row + gn, gn * taps + k))
        }
        DepthwisePass::WeightGrad => forward_source(g, k, gn, gm).map(|s| (k * dy_row + gm, s)),
    }
}

/// The lanes of one dispatch of `pass`: per split-K chunk `z`, every output cell, its sum from
/// `cell(z, gm, gn)`, stored as the epilogue or a raw partial.
fn for_each_cell(
    g: &ConvGeometry,
    pass: DepthwisePass,
    k_chunk: u32,
    (epilogue, raw, out): (&CpuEpilogue<'_>, bool, &mut [f32]),
    cell: impl Fn(usize, usize, usize) -> f32,
) {
    let shape = pass.shape(g);
    for z in 0..shape.chunks(k_chunk) {
        for gm in 0..shape.m {
            for gn in 0..shape.n {
                let acc = cell(z as usize, gm as usize, gn as usize);
                store_result(epilogue, raw, out, (shape.m, shape.n), acc, (gm, gn), z);
            }
        }
    }
}

/// One `depthwise_i8` dispatch: per cell and split-K chunk, four K values at a time gathered
/// byte by byte into one word of each operand (zero in the padding and past K), summed with
/// `dot4I8Packed` in int32. `a`, `b` as the kernel binds them (W's rows in whole words).
#[allow(clippy::too_many_arguments)]
pub fn depthwise_i8_pass(
    g: &ConvGeometry,
    pass: DepthwisePass,
    k_chunk: u32,
    a: &[u32],
    b: &[u32],
    epilogue: &CpuEpilogue<'_>,
    raw: bool,
    out: &mut [f32],
) {
    let k = pass.shape(g).k as usize;
    let dy_row = g.c.next_multiple_of(4) as usize;
    let k4_total = k.div_ceil(4);
    let byte = |src: &[u32], e: usize| (src[e / 4] >> (8 * (e % 4))) & 0xff;
    let chunk4 = k_chunk as usize / 4;
    for_each_cell(g, pass, k_chunk, (epilogue, raw, out), |z, gm, gn| {
        let mut acc = 0i32;
        for k4 in z * chunk4..((z + 1) * chunk4).min(k4_total) {
            let (mut aw, mut bw) = (0u32, 0u32);
            for j in 0..4 {
                let kk = 4 * k4 + j;
                let Some((ea, eb)) = (kk < k)
                    .then(|| operands(g, pass, dy_row, (gm, gn, kk)))
                    .flatten()
                else {
                    continue;
                };
                aw |= byte(a, ea) << (8 * j);
                // W's bytes sit in rows of whole words.
                let eb = match pass {
                    DepthwisePass::WeightGrad => eb,
                    _ => gn * k4_total * 4 + kk,
                };
                bw |= byte(b, eb) << (8 * j);
            }
            acc = acc.wrapping_add(dot4_i8_packed(aw, bw));
        }
        acc as f32
    });
}

/// One `depthwise_f32` dispatch: per cell and split-K chunk, one fused multiply-add per K
/// value in ascending K, padding skipped.
#[allow(clippy::too_many_arguments)]
pub fn depthwise_f32_pass(
    g: &ConvGeometry,
    pass: DepthwisePass,
    k_chunk: u32,
    a: &[f32],
    b: &[f32],
    epilogue: &CpuEpilogue<'_>,
    raw: bool,
    out: &mut [f32],
) {
    let k = pass.shape(g).k as usize;
    let chunk = k_chunk as usize;
    for_each_cell(g, pass, k_chunk, (epilogue, raw, out), |z, gm, gn| {
        let mut acc = 0f32;
        for kk in z * chunk..((z + 1) * chunk).min(k) {
            if let Some((ea, eb)) = operands(g, pass, g.c as usize, (gm, gn, kk)) {
                acc = a[ea].mul_add(b[eb], acc);
            }
        }
        acc
    });
}

/// A whole int8 depthwise pass as the GPU computes it: [`depthwise_i8_pass`], then, when K
/// takes several chunks, [`gemm_reduce`](crate::cpu::gemm_reduce()).
#[allow(clippy::too_many_arguments)]
pub fn depthwise_i8(
    g: &ConvGeometry,
    pass: DepthwisePass,
    k_chunk: u32,
    a: &[u32],
    b: &[u32],
    epilogue: &CpuEpilogue<'_>,
    out: &mut [f32],
) {
    let shape: GemmShape = pass.shape(g);
    split_k(&shape, shape.chunks(k_chunk), epilogue, out, |raw, dst| {
        depthwise_i8_pass(g, pass, k_chunk, a, b, epilogue, raw, dst)
    });
}

/// A whole FP32 depthwise pass as the GPU computes it (see [`depthwise_i8`]).
#[allow(clippy::too_many_arguments)]
pub fn depthwise_f32(
    g: &ConvGeometry,
    pass: DepthwisePass,
    k_chunk: u32,
    a: &[f32],
    b: &[f32],
    epilogue: &CpuEpilogue<'_>,
    out: &mut [f32],
) {
    let shape = pass.shape(g);
    split_k(&shape, shape.chunks(k_chunk), epilogue, out, |raw, dst| {
        depthwise_f32_pass(g, pass, k_chunk, a, b, epilogue, raw, dst)
    });
}

/// Replays dispatches of the depthwise kernels on their twins.
pub(crate) const REPLAY: Replay = Replay {
    kernels: &[
        "depthwise_i8_fwd",
        "depthwise_i8_dgrad",
        "depthwise_i8_wgrad",
        "depthwise_f32_fwd",
        "depthwise_f32_dgrad",
        "depthwise_f32_wgrad",
    ],
    run: replay,
    // Split-K partials of the int8 kernels are int32 sums, held exactly in f32.
    words: |kernel, binding, params| {
        let raw = read::<ConvGemmParams>(params).gemm.flags().raw_partials;
        if binding == "out" && raw && kernel.starts_with("depthwise_i8") {
            Words::Exact
        } else {
            Words::Float
        }
    },
};

fn replay(kernel: &str, params: &[u8], bufs: &mut [Vec<u32>]) -> Result<(), String> {
    let bad = || bad_bindings(kernel);
    let [a, b, sa, sb, bias, out] = bufs else {
        return Err(bad());
    };
    let p: ConvGemmParams = read(params);
    let pass = DepthwisePass::of_kernel(kernel).ok_or_else(bad)?;
    let g = p.conv.geometry();
    let c = gemm_call(&p.gemm, sa, sb, bias, out);
    let k_chunk = p.gemm.k_chunk;
    if kernel.starts_with("depthwise_i8") {
        depthwise_i8_pass(&g, pass, k_chunk, a, b, &c.epilogue, c.raw, c.out);
    } else {
        let (a, b) = (f32s(a), f32s(b));
        depthwise_f32_pass(&g, pass, k_chunk, a, b, &c.epilogue, c.raw, c.out);
    }
    Ok(())
}
