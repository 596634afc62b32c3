//! Runs a recorded [`Dispatch`](crate::gpu::Dispatch) on its CPU twin: the kernel's name selects
//! the twin, its parameter bytes are decoded back into the twin's arguments, and its bindings
//! are CPU copies of the GPU buffers. [`Trainer::train_step_checked`](crate::train::Trainer)
//! uses it to replay a whole training step in lockstep with the GPU.

use bytemuck::Pod;

use crate::cpu;
use crate::cpu::gemm_i8::{CpuEpilogue, CpuScale};
use crate::ops::batchnorm::{BATCHNORM_RECTIFY, BatchNormConfig, BatchNormParams};
use crate::ops::channel_stats::{StatsParams, StatsPartial, TAIL_WITH_PASS1};
use crate::ops::clip_select::ClipParams;
use crate::ops::column_sum::ColumnSumParams;
use crate::ops::conv::ConvParams;
use crate::ops::dequantize::DequantizeParams;
use crate::ops::gemm::{ConvGemmParams, GemmParams, GemmVariant};
use crate::ops::maxpool::PoolParams;
use crate::ops::nonfinite::NonFiniteParams;
use crate::ops::pool::{ADD_RECTIFY, ElementwiseParams, GapParams};
use crate::ops::quantize::QuantizeParams;
use crate::ops::relu::{RELU_BACKWARD, RELU_MASKED, ReluParams};
use crate::ops::sgd::SgdParams;
use crate::ops::softmax_xent::XentParams;
use crate::ops::{
    ChannelAxis, ChannelStat, ClipRule, ConvGeometry, GemmShape, Layout, PoolGeometry, Rounding,
};

/// How the words of a kernel's output compare between GPU and twin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Words {
    /// Every word bit for bit: integers, packed int8, exactly computed scales.
    Exact,
    /// f32 values, within a tolerance.
    Float,
    /// A repeated struct: `true` marks a word compared bit for bit, `false` an f32.
    Struct(&'static [bool]),
}

const CHANNEL_STAT: Words = Words::Struct(&[false, false, false, false, true, true, true, true]);
const STATS_PARTIAL: Words = Words::Struct(&[false, false, false, false, true, true, true, true]);
const CLIP_SUMMARY: Words = Words::Struct(&[false, false, false, true, true, true, true, true]);

/// How output `binding` (its name in the kernel declaration) of `kernel` compares; `params` are
/// the dispatch's parameter bytes.
pub fn output_words(kernel: &str, binding: &str, params: &[u8]) -> Words {
    match (kernel, binding) {
        ("quantize" | "quantize_relu_mask" | "im2col_i8", _)
        | ("maxpool", "argmax")
        | ("relu", "mask")
        | ("softmax_xent", "correct")
        | ("nonfinite_count", _) => Words::Exact,
        ("channel_stats", "partials") => STATS_PARTIAL,
        ("channel_stats" | "channel_stats_tail", "stats") => CHANNEL_STAT,
        ("channel_stats_reduce" | "channel_stats_tail_reduce", "stats") => CHANNEL_STAT,
        ("clip_select", "summary") => CLIP_SUMMARY,
        // Split-K partials of the int8 GEMM are its int32 accumulators, held exactly in f32.
        (k, "out")
            if (GemmVariant::of_kernel(k).is_some_and(|(_, int8)| int8)
                || k.starts_with("conv_i8"))
                && read::<GemmParams>(params).flags & RAW_PARTIALS != 0 =>
        {
            Words::Exact
        }
        _ => Words::Float,
    }
}

/// `GemmParams::flags` bit: store raw split-K partials.
const RAW_PARTIALS: u32 = 1 << 7;

fn read<P: Pod>(params: &[u8]) -> P {
    bytemuck::pod_read_unaligned(&params[..size_of::<P>()])
}

fn f32s(words: &[u32]) -> &[f32] {
    bytemuck::cast_slice(words)
}

fn f32s_mut(words: &mut [u32]) -> &mut [f32] {
    bytemuck::cast_slice_mut(words)
}

/// The whole `T`s at the start of `words`.
fn structs<T: Pod>(words: &[u32]) -> &[T] {
    let n = size_of::<T>() / 4;
    bytemuck::cast_slice(&words[..words.len() / n * n])
}

fn structs_mut<T: Pod>(words: &mut [u32]) -> &mut [T] {
    let n = size_of::<T>() / 4;
    let len = words.len() / n * n;
    bytemuck::cast_slice_mut(&mut words[..len])
}

fn axis(code: u32) -> ChannelAxis {
    match code {
        0 => ChannelAxis::Tensor,
        1 => ChannelAxis::Rows,
        _ => ChannelAxis::Cols,
    }
}

fn scale(mode: u32, words: &[u32]) -> CpuScale<'_> {
    match mode {
        0 => CpuScale::None,
        1 => CpuScale::Tensor(f32s(words)[0]),
        _ => CpuScale::PerIndex(f32s(words)),
    }
}

fn gemm_shape(p: &GemmParams) -> GemmShape {
    GemmShape::new(p.m, p.n, p.k).with_trans(p.flags & 1 != 0, p.flags & 2 != 0)
}

fn epilogue<'a>(p: &GemmParams, sa: &'a [u32], sb: &'a [u32], bias: &'a [u32]) -> CpuEpilogue<'a> {
    CpuEpilogue {
        scale_a: scale((p.flags >> 2) & 3, sa),
        scale_b: scale((p.flags >> 4) & 3, sb),
        bias: (p.flags & (1 << 6) != 0).then(|| f32s(bias)),
        relu: p.flags & (1 << 8) != 0,
    }
}

fn stats_layout(p: &StatsParams) -> Layout {
    Layout::new(p.rows, p.cols, axis(p.axis))
}

fn conv_geometry(p: &ConvParams) -> ConvGeometry {
    let [n, h, w, c, kh, kw, stride, pad, ..] = p.v;
    ConvGeometry {
        n,
        h,
        w,
        c,
        kh,
        kw,
        stride,
        pad,
    }
}

/// Runs one dispatch of `kernel` with parameter bytes `params` on its twin. `bufs` are the
/// contents of bindings 1.. as words, in declaration order; the twin overwrites the outputs.
/// Fails on a kernel without a twin here or bindings that do not fit the parameters.
pub fn replay(kernel: &str, params: &[u8], bufs: &mut [Vec<u32>]) -> Result<(), String> {
    let bad = || format!("replay of {kernel}: bindings do not match the kernel");
    match kernel {
        "quantize" | "quantize_relu_mask" => {
            let p: QuantizeParams = read(params);
            let [input, clips, packed, scales, mask] = bufs else {
                return Err(bad());
            };
            let layout = Layout::new(p.rows, p.cols, axis(p.axis));
            let marks = kernel == "quantize_relu_mask";
            let rounding = match p.rounding {
                0 => Rounding::Nearest,
                _ => Rounding::Stochastic { seed: p.seed },
            };
            let n = (p.rows * p.cols) as usize;
            let (nw, nc) = (layout.packed_words(), layout.channels());
            cpu::quantize(
                &layout,
                rounding,
                &f32s(input)[..n],
                &f32s(clips)[p.clip_offset as usize..],
                &mut packed[..nw],
                &mut f32s_mut(scales)[..nc],
                marks.then_some(&mut mask[..]),
            );
        }
        "dequantize" => {
            let p: DequantizeParams = read(params);
            let [packed, scales, output] = bufs else {
                return Err(bad());
            };
            let layout = Layout::new(p.rows, p.cols, axis(p.axis));
            let n = (p.rows * p.cols) as usize;
            cpu::dequantize(&layout, packed, f32s(scales), &mut f32s_mut(output)[..n]);
        }
        "channel_stats" => {
            let p: StatsParams = read(params);
            let [input, partials, stats] = bufs else {
                return Err(bad());
            };
            let layout = stats_layout(&p);
            let (ch, segs) = (layout.channels(), p.segments as usize);
            // With one segment the partials binding is a placeholder and stats the output.
            let (partials, stats) = if segs == 1 {
                (&mut [][..], &mut structs_mut::<ChannelStat>(stats)[..ch])
            } else {
                (
                    &mut structs_mut::<StatsPartial>(partials)[..ch * segs],
                    &mut [][..],
                )
            };
            cpu::channel_stats(&layout, f32s(input), partials, stats);
        }
        "channel_stats_reduce" => {
            let p: StatsParams = read(params);
            let [input, partials, stats] = bufs else {
                return Err(bad());
            };
            let layout = stats_layout(&p);
            let stats = &mut structs_mut::<ChannelStat>(stats)[..layout.channels()];
            cpu::channel_stats_reduce(&layout, f32s(input), structs(partials), stats);
        }
        "channel_stats_tail" => {
            let p: StatsParams = read(params);
            let [input, ratios, stats, partials, terms] = bufs else {
                return Err(bad());
            };
            let layout = stats_layout(&p);
            let (ch, nc, segs) = (
                layout.channels(),
                p.n_candidates as usize,
                p.segments as usize,
            );
            // With one segment the partials binding is a placeholder, stats and terms outputs.
            let (partials, terms) = if segs == 1 {
                (&mut [][..], &mut structs_mut::<[f32; 2]>(terms)[..ch * nc])
            } else {
                let n = ch * segs * (1 + nc);
                (&mut structs_mut::<[u32; 2]>(partials)[..n], &mut [][..])
            };
            cpu::channel_stats_tail(
                &layout,
                f32s(input),
                &f32s(ratios)[..nc],
                &mut structs_mut::<ChannelStat>(stats)[..ch],
                (partials, terms),
                p.flags & TAIL_WITH_PASS1 != 0,
            );
        }
        "channel_stats_tail_reduce" => {
            let p: StatsParams = read(params);
            let [partials, stats, terms] = bufs else {
                return Err(bad());
            };
            let layout = stats_layout(&p);
            let nc = p.n_candidates as usize;
            let terms = &mut structs_mut::<[f32; 2]>(terms)[..layout.channels() * nc];
            let stats = &mut structs_mut::<ChannelStat>(stats)[..layout.channels()];
            cpu::channel_stats_tail_reduce(&layout, nc, structs(partials), stats, terms);
        }
        "clip_select" => {
            let p: ClipParams = read(params);
            let [stats, terms, ratios, state, clips, summary] = bufs else {
                return Err(bad());
            };
            let rule = match p.mode {
                0 => ClipRule::Max,
                1 => ClipRule::Dsgc {
                    alpha: p.alpha,
                    beta: p.beta,
                },
                _ => ClipRule::Mcs {
                    lambda: p.lambda,
                    k: p.k,
                    a: p.a,
                    update_always: p.flags & 1 != 0,
                },
            };
            let (c, nc) = (p.channels as usize, p.n_candidates as usize);
            let result = cpu::clip_select(
                rule,
                &structs::<ChannelStat>(stats)[..c],
                &structs::<[f32; 2]>(terms)[..c * nc],
                &f32s(ratios)[..nc],
                &mut f32s_mut(state)[..c],
                &mut f32s_mut(clips)[..c],
            );
            structs_mut(summary)[p.slot as usize] = result;
        }
        k if GemmVariant::of_kernel(k).is_some() => {
            let p: GemmParams = read(params);
            let [a, b, sa, sb, bias, out] = bufs else {
                return Err(bad());
            };
            let shape = gemm_shape(&p);
            let ep = epilogue(&p, sa, sb, bias);
            let raw = p.flags & RAW_PARTIALS != 0;
            let cells = p.m as usize * p.n as usize * if raw { p.chunks as usize } else { 1 };
            let out = &mut f32s_mut(out)[..cells];
            let (a32, b32) = (f32s(a), f32s(b));
            use crate::cpu::{gemm_f32 as f, gemm_i8 as i};
            let k_chunk = p.k_chunk;
            match GemmVariant::of_kernel(kernel).ok_or_else(bad)? {
                (GemmVariant::Tiled, true) => i::gemm_i8_pass(&shape, k_chunk, a, b, &ep, raw, out),
                (GemmVariant::Regs, true) => {
                    i::gemm_i8_regs_pass(&shape, k_chunk, a, b, &ep, raw, out)
                }
                (GemmVariant::Tiled, false) => {
                    f::gemm_f32_pass(&shape, k_chunk, a32, b32, &ep, raw, out)
                }
                (GemmVariant::Regs, false) => {
                    f::gemm_f32_regs_pass(&shape, k_chunk, a32, b32, &ep, raw, out)
                }
            }
        }
        k if k.starts_with("conv_f32_regs") || k.starts_with("conv_i8_regs") => {
            let p: ConvGemmParams = read(params);
            let [a, b, sa, sb, bias, out] = bufs else {
                return Err(bad());
            };
            let (shape, g) = (gemm_shape(&p.gemm), conv_geometry(&p.conv));
            let ep = epilogue(&p.gemm, sa, sb, bias);
            let raw = p.gemm.flags & RAW_PARTIALS != 0;
            let chunks = if raw { p.gemm.chunks as usize } else { 1 };
            let out = &mut f32s_mut(out)[..(p.gemm.m * p.gemm.n) as usize * chunks];
            let wgrad = kernel.contains("wgrad");
            let k_chunk = p.gemm.k_chunk;
            if kernel.starts_with("conv_i8") {
                cpu::gemm_i8::conv_i8_regs_pass(&g, wgrad, &shape, k_chunk, a, b, &ep, raw, out);
            } else {
                let (a, b) = (f32s(a), f32s(b));
                cpu::gemm_f32::conv_f32_regs_pass(&g, wgrad, &shape, k_chunk, a, b, &ep, raw, out);
            }
        }
        "gemm_reduce" => {
            let p: GemmParams = read(params);
            let [partials, sa, sb, bias, out] = bufs else {
                return Err(bad());
            };
            let ep = epilogue(&p, sa, sb, bias);
            let cells = p.m as usize * p.n as usize;
            let out = &mut f32s_mut(out)[..cells];
            cpu::gemm_reduce(&gemm_shape(&p), p.chunks, f32s(partials), &ep, out);
        }
        "column_sum" => {
            let p: ColumnSumParams = read(params);
            let [x, out] = bufs else {
                return Err(bad());
            };
            let (rows, cols) = (p.rows as usize, p.cols as usize);
            let out = &mut f32s_mut(out)[..p.segments as usize * cols];
            cpu::column_sum(rows, cols, p.segment_rows as usize, f32s(x), out);
        }
        "nonfinite_count" => {
            let p: NonFiniteParams = read(params);
            let [x, health] = bufs else {
                return Err(bad());
            };
            cpu::nonfinite_count(&f32s(x)[..p.n as usize], p.slot as usize, health);
        }
        "relu" => {
            let p: ReluParams = read(params);
            let [x, dy, mask, out] = bufs else {
                return Err(bad());
            };
            let out = &mut f32s_mut(out)[..p.n as usize];
            let masked = p.flags & RELU_MASKED != 0;
            if p.flags & RELU_BACKWARD != 0 {
                let saved = if masked {
                    cpu::ReluSaved::Mask(mask)
                } else {
                    cpu::ReluSaved::Values(f32s(x))
                };
                cpu::relu_backward(saved, f32s(dy), out);
            } else {
                cpu::relu_forward(f32s(x), masked.then_some(&mut mask[..]), out);
            }
        }
        "softmax_xent" => {
            let p: XentParams = read(params);
            let [logits, labels, dlogits, row_loss, correct] = bufs else {
                return Err(bad());
            };
            let (b, c) = (p.batch as usize, p.classes as usize);
            cpu::softmax_xent(
                c,
                &f32s(logits)[..b * c],
                &labels[..b],
                &mut f32s_mut(dlogits)[..b * c],
                &mut f32s_mut(row_loss)[..b],
                &mut correct[..b],
            );
        }
        "sgd" => {
            let p: SgdParams = read(params);
            let [grad, lr_scale, weights, velocity, health] = bufs else {
                return Err(bad());
            };
            let (w, v) = (f32s_mut(weights), f32s_mut(velocity));
            cpu::sgd(&p, f32s(lr_scale), health, f32s(grad), w, v);
        }
        "im2col" => {
            let g = conv_geometry(&read(params));
            let [x, cols] = bufs else {
                return Err(bad());
            };
            let n = g.rows() as usize * g.taps() as usize;
            cpu::im2col(&g, f32s(x), &mut f32s_mut(cols)[..n]);
        }
        "im2col_i8" => {
            let g = conv_geometry(&read(params));
            let [x_q, packed] = bufs else {
                return Err(bad());
            };
            let words = g.rows() as usize * g.taps().div_ceil(4) as usize;
            cpu::im2col_i8(&g, x_q, &mut packed[..words]);
        }
        "col2im" => {
            let g = conv_geometry(&read(params));
            let [dcols, dx] = bufs else {
                return Err(bad());
            };
            let n = g.input_len() as usize;
            cpu::col2im(&g, f32s(dcols), &mut f32s_mut(dx)[..n]);
        }
        "maxpool" => {
            let p: PoolParams = read(params);
            let [x, dy, argmax, out] = bufs else {
                return Err(bad());
            };
            let [n, h, w, c, k, _, _, mode] = p.v;
            let g = PoolGeometry { n, h, w, c, k };
            if mode & 1 != 0 {
                let out = &mut f32s_mut(out)[..g.input_len() as usize];
                cpu::maxpool_backward(&g, f32s(dy), argmax, out);
            } else {
                let m = g.output_len() as usize;
                let out = &mut f32s_mut(out)[..m];
                let words = &mut argmax[..m.div_ceil(4)];
                cpu::maxpool_forward(&g, f32s(x), mode & 2 != 0, words, out);
            }
        }
        "global_avg_pool" => {
            let p: GapParams = read(params);
            let [x, dy, out] = bufs else {
                return Err(bad());
            };
            let shape = (p.n as usize, p.hw as usize, p.c as usize);
            if p.backward != 0 {
                let n = shape.0 * shape.1 * shape.2;
                cpu::global_avg_pool_backward(shape, f32s(dy), &mut f32s_mut(out)[..n]);
            } else {
                let n = shape.0 * shape.2;
                cpu::global_avg_pool_forward(shape, f32s(x), &mut f32s_mut(out)[..n]);
            }
        }
        "add" => {
            let p: ElementwiseParams = read(params);
            let [a, b, out] = bufs else {
                return Err(bad());
            };
            let rectify = p.flags & ADD_RECTIFY != 0;
            cpu::add(
                f32s(a),
                f32s(b),
                (&mut f32s_mut(out)[..p.n as usize], rectify),
            );
        }
        "batchnorm" => {
            let p: BatchNormParams = read(params);
            let [x, stats, affine, running, xhat, out] = bufs else {
                return Err(bad());
            };
            let (c, n) = (p.channels as usize, (p.rows * p.channels) as usize);
            cpu::batchnorm(
                c,
                p.mode == 0,
                bn_config(&p),
                &f32s(x)[..n],
                structs(stats),
                f32s(affine),
                &mut f32s_mut(running)[..2 * c],
                &mut f32s_mut(xhat)[..n],
                (&mut f32s_mut(out)[..n], p.flags & BATCHNORM_RECTIFY != 0),
            );
        }
        "batchnorm_grad_prep" => {
            let p: BatchNormParams = read(params);
            let [dy, xhat, out] = bufs else {
                return Err(bad());
            };
            let n = (p.rows * p.channels) as usize;
            let (c, out) = (p.channels as usize, &mut f32s_mut(out)[..2 * n]);
            cpu::batchnorm_grad_prep(c, &f32s(dy)[..n], f32s(xhat), out);
        }
        "batchnorm_backward" => {
            let p: BatchNormParams = read(params);
            let [dy, xhat, stats, affine, sums, dx] = bufs else {
                return Err(bad());
            };
            let n = (p.rows * p.channels) as usize;
            cpu::batchnorm_backward(
                p.channels as usize,
                bn_config(&p),
                &f32s(dy)[..n],
                f32s(xhat),
                structs(stats),
                f32s(affine),
                f32s(sums),
                &mut f32s_mut(dx)[..n],
            );
        }
        _ => return Err(format!("no twin is wired for replaying kernel {kernel}")),
    }
    Ok(())
}

fn bn_config(p: &BatchNormParams) -> BatchNormConfig {
    BatchNormConfig {
        eps: p.eps,
        momentum: p.momentum,
    }
}
