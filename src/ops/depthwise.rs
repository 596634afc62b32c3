//! Depthwise convolutions (one `kh × kw` filter per channel, weights `[c, kh, kw]`), every pass
//! a GEMM per channel in the terms of [`GemmShape`] ([`DepthwisePass::shape`]): on int8 with
//! `dot4I8Packed` and int32 sums (`depthwise_i8`) and in FP32 (`depthwise_f32`). The
//! column matrices are never written: each lane gathers the words it reads from the NHWC input
//! (for int8: quantized in place, [`ConvGeometry::quantized_input_layout`]) or from dY.

use crate::abi::{
    ConvGemmParams, ConvGeometry, DepthwisePass, F32_K_CHUNK, GEMM_I8_BK, GemmShape, GemmVariant,
    MAX_K_CHUNK, Precision,
};
use crate::error::Result;
use crate::gpu::Context;
use crate::gpu::kernel::{KernelDef, Recording, wgsl};
use crate::ops::gemm::{
    Epilogue, GemmBuffers, GemmKernel, check_i8_chunk, record_kernel, regs_kernel,
};

const P: usize = std::mem::size_of::<ConvGemmParams>();

/// The kernel declarations of `shaders/depthwise_i8.wgsl`, in [`DepthwisePass`] order.
pub static DEPTHWISE_I8: [KernelDef; 3] = [
    regs_kernel("depthwise_i8_fwd", &I8_SOURCES[0], P),
    regs_kernel("depthwise_i8_dgrad", &I8_SOURCES[1], P),
    regs_kernel("depthwise_i8_wgrad", &I8_SOURCES[2], P),
];

/// The kernel declarations of `shaders/depthwise_f32.wgsl`, in [`DepthwisePass`] order.
pub static DEPTHWISE_F32: [KernelDef; 3] = [
    regs_kernel("depthwise_f32_fwd", &F32_SOURCES[0], P),
    regs_kernel("depthwise_f32_dgrad", &F32_SOURCES[1], P),
    regs_kernel("depthwise_f32_wgrad", &F32_SOURCES[2], P),
];

const fn sources(constants: &'static str, kernel: &'static str) -> [&'static str; 5] {
    [
        wgsl::COMMON,
        wgsl::GEMM_COMMON,
        wgsl::CONV_COMMON,
        constants,
        kernel,
    ]
}

const I8: &str = include_str!("../../shaders/depthwise_i8.wgsl");
const F32: &str = include_str!("../../shaders/depthwise_f32.wgsl");

static I8_SOURCES: [[&str; 5]; 3] = [
    sources("const DW_PASS = 0u;\n", I8),
    sources("const DW_PASS = 1u;\n", I8),
    sources("const DW_PASS = 2u;\n", I8),
];

static F32_SOURCES: [[&str; 5]; 3] = [
    sources("const DW_PASS = 0u;\n", F32),
    sources("const DW_PASS = 1u;\n", F32),
    sources("const DW_PASS = 2u;\n", F32),
];

/// The split-K chunk a pass takes by default: the whole K for the forward and the input
/// gradient (a filter's taps), for the weight gradient (all output pixels) the chunk that
/// spreads the work as [`Context::spread`] asks within the bounds of int32 sums and of
/// llvmpipe's loop limit.
pub fn depthwise_k_chunk(
    ctx: &Context,
    g: &ConvGeometry,
    pass: DepthwisePass,
    precision: Precision,
) -> u32 {
    let shape = pass.shape(g);
    match (pass, precision) {
        (DepthwisePass::WeightGrad, Precision::Int8) => {
            shape.auto_k_chunk(MAX_K_CHUNK, ctx.spread())
        }
        (DepthwisePass::WeightGrad, Precision::Fp32) => {
            shape.auto_k_chunk(F32_K_CHUNK, ctx.spread())
        }
        _ => shape.k.next_multiple_of(GEMM_I8_BK),
    }
}

/// Records one pass of a depthwise convolution over NHWC input of geometry `g` (`g.c` the
/// channels, in and out): `bufs` = (forward: x, W; input gradient: dY `[output pixels, c]`, W;
/// weight gradient: dY, x) and the output of [`DepthwisePass::shape`]. On int8, x is quantized
/// in place, dY packed along its channels and W `[c, taps]` in rows of whole words; the
/// epilogue scales A (x or dY: per tensor, or for the weight gradient per channel) and B.
/// `k_chunk`: the split-K chunk, [`depthwise_k_chunk`] unless a test asks for another (int8: a
/// multiple of 32 up to [`MAX_K_CHUNK`]).
#[allow(clippy::too_many_arguments)]
pub fn depthwise(
    ctx: &Context,
    rec: &mut Recording,
    (precision, pass): (Precision, DepthwisePass),
    g: &ConvGeometry,
    k_chunk: Option<u32>,
    bufs: GemmBuffers<'_>,
    epilogue: &Epilogue<'_>,
) -> Result<()> {
    let int8 = precision.is_int8();
    let def = match int8 {
        true => &DEPTHWISE_I8[pass as usize],
        false => &DEPTHWISE_F32[pass as usize],
    };
    g.validate(def.name)?;
    let shape = pass.shape(g);
    let k_chunk = k_chunk.unwrap_or_else(|| depthwise_k_chunk(ctx, g, pass, precision));
    if int8 {
        check_i8_chunk(k_chunk)?;
    }
    let (x, w, dy) = if int8 {
        let w = GemmShape::packed_words(g.c, g.kh * g.kw, false);
        let dy = GemmShape::packed_words(g.rows(), g.c, false);
        (g.quantized_input_layout().packed_words() as u64, w, dy)
    } else {
        let dy = g.rows() as u64 * g.c as u64;
        (g.input_len(), (g.c * g.kh * g.kw) as u64, dy)
    };
    let bytes = match pass {
        DepthwisePass::Forward => (x, w),
        DepthwisePass::InputGrad => (dy, w),
        DepthwisePass::WeightGrad => (dy, x),
    };
    let kernel = GemmKernel {
        def,
        variant: GemmVariant::Regs,
        conv: Some(g),
        block: (1, 1),
    };
    let bytes = (bytes.0 * 4, bytes.1 * 4);
    record_kernel(ctx, rec, kernel, &shape, k_chunk, bytes, bufs, epilogue)
}

/// This family's kernels, for [`ALL_KERNELS`](crate::ops::ALL_KERNELS).
pub(crate) const KERNELS: &[&KernelDef] = &[
    &DEPTHWISE_I8[0],
    &DEPTHWISE_I8[1],
    &DEPTHWISE_I8[2],
    &DEPTHWISE_F32[0],
    &DEPTHWISE_F32[1],
    &DEPTHWISE_F32[2],
];
