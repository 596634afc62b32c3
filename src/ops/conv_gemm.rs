//! A convolution's forward and weight-gradient GEMMs as implicit GEMMs: the register-blocked
//! GEMM kernels with a loader that gathers column-matrix elements from the NHWC input (for int8:
//! from the input quantized in place, one byte per element) where it reads them, so no column
//! matrix is written or kept. The same bits as [`im2col`](super::im2col()) (or
//! [`im2col_i8`](super::im2col_i8())) followed by the GEMM in [`GemmVariant::Regs`].

use crate::abi::{
    CONV_F32_FWD_BLOCK, CONV_F32_WGRAD_BLOCK, ConvGemmParams, ConvGeometry, GemmShape, GemmVariant,
    Precision, REGS_BLOCK, f32_k_chunk,
};
use crate::error::Result;
use crate::gpu::Context;
use crate::gpu::kernel::{KernelDef, Recording, wgsl};
use crate::ops::gemm::{
    Epilogue, GemmBuffers, GemmKernel, check_i8_chunk, record_kernel, regs_kernel,
};

/// Which of a convolution's GEMMs an implicit kernel computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ConvGemm {
    /// `y = cols(x)·Wᵀ`.
    Forward,
    /// `dW = dYᵀ·cols(x)`.
    WeightGrad,
}

/// The kernel declarations of `shaders/conv_f32_regs.wgsl`: an FP32 convolution as an implicit
/// GEMM, `[forward, weight gradient]`. Same tiling and arithmetic as [`GEMM_F32_REGS`](super::gemm::GEMM_F32_REGS) on the
/// column matrix, which they never write (see [`conv_f32_forward`], [`conv_f32_wgrad`]).
pub static CONV_F32_REGS: [KernelDef; 2] = {
    const P: usize = std::mem::size_of::<ConvGemmParams>();
    [
        regs_kernel("conv_f32_regs_fwd", &CONV_F32_REGS_SOURCES[0], P),
        regs_kernel("conv_f32_regs_wgrad", &CONV_F32_REGS_SOURCES[1], P),
    ]
};

const fn conv_f32_sources(constants: &'static str) -> [&'static str; 5] {
    [
        wgsl::COMMON,
        wgsl::GEMM_COMMON,
        wgsl::CONV_COMMON,
        constants,
        include_str!("../../shaders/conv_f32_regs.wgsl"),
    ]
}

// BM x BN: CONV_F32_FWD_BLOCK and CONV_F32_WGRAD_BLOCK (src/abi/gemm.rs).
static CONV_F32_REGS_SOURCES: [[&str; 5]; 2] = [
    conv_f32_sources("const CONV_WGRAD = false;\nconst BM = 4u;\nconst BN = 8u;\n"),
    conv_f32_sources("const CONV_WGRAD = true;\nconst BM = 8u;\nconst BN = 4u;\n"),
];

/// The kernel declarations of `shaders/conv_i8_regs.wgsl`: an int8 convolution as an implicit
/// GEMM on the input quantized in place (one byte per NHWC element), `[forward, weight
/// gradient]` for any channel count, then the same for channel counts that are multiples of 4
/// (`_c4`: a word of four taps is one aligned word of the input). The same integers as
/// [`GEMM_I8_REGS`](super::gemm::GEMM_I8_REGS) on the packed column matrix `im2col_i8` gathers (see
/// [`conv_i8_forward`], [`conv_i8_wgrad`]).
pub static CONV_I8_REGS: [KernelDef; 4] = {
    const P: usize = std::mem::size_of::<ConvGemmParams>();
    [
        regs_kernel("conv_i8_regs_fwd", &CONV_I8_REGS_SOURCES[0], P),
        regs_kernel("conv_i8_regs_wgrad", &CONV_I8_REGS_SOURCES[1], P),
        regs_kernel("conv_i8_regs_fwd_c4", &CONV_I8_REGS_SOURCES[2], P),
        regs_kernel("conv_i8_regs_wgrad_c4", &CONV_I8_REGS_SOURCES[3], P),
    ]
};

const fn conv_i8_sources(constants: &'static str) -> [&'static str; 6] {
    [
        wgsl::COMMON,
        wgsl::GEMM_COMMON,
        wgsl::GEMM_I8_COMMON,
        wgsl::CONV_COMMON,
        constants,
        include_str!("../../shaders/conv_i8_regs.wgsl"),
    ]
}

static CONV_I8_REGS_SOURCES: [[&str; 6]; 4] = [
    conv_i8_sources("const CONV_WGRAD = false;\nconst CONV_C4 = false;\n"),
    conv_i8_sources("const CONV_WGRAD = true;\nconst CONV_C4 = false;\n"),
    conv_i8_sources("const CONV_WGRAD = false;\nconst CONV_C4 = true;\n"),
    conv_i8_sources("const CONV_WGRAD = true;\nconst CONV_C4 = true;\n"),
];

/// The forward GEMM shape of a convolution: output pixels × output channels, reducing over taps.
pub fn conv_forward_shape(g: &ConvGeometry, channels: u32) -> GemmShape {
    GemmShape::new(g.rows(), channels, g.taps())
}

/// The weight-gradient GEMM shape of a convolution: output channels × taps, reducing over output
/// pixels, both operands stored pixel-major.
pub fn conv_wgrad_shape(g: &ConvGeometry, channels: u32) -> GemmShape {
    GemmShape::new(channels, g.taps(), g.rows()).with_trans(true, true)
}

/// Records one of the implicit-GEMM kernels: a convolution's forward (`wgrad` false: A = the
/// input, B = W) or weight gradient (A = dY transposed, B = the input), on f32 or on int8 (the
/// input quantized in place). `k_chunk`: the int8 split-K chunk; f32 takes [`f32_k_chunk`].
#[allow(clippy::too_many_arguments)]
fn record_conv(
    ctx: &Context,
    rec: &mut Recording,
    (precision, pass): (Precision, ConvGemm),
    (g, channels): (&ConvGeometry, u32),
    k_chunk: Option<u32>,
    bufs: GemmBuffers<'_>,
    epilogue: &Epilogue<'_>,
) -> Result<()> {
    let (int8, wgrad) = (precision.is_int8(), pass == ConvGemm::WeightGrad);
    let def = match int8 {
        true => &CONV_I8_REGS[wgrad as usize + 2 * g.c.is_multiple_of(4) as usize],
        false => &CONV_F32_REGS[wgrad as usize],
    };
    g.validate(def.name)?;
    let shape = if wgrad {
        conv_wgrad_shape(g, channels)
    } else {
        conv_forward_shape(g, channels)
    };
    let k_chunk = match k_chunk {
        Some(k) => {
            check_i8_chunk(k)?;
            k
        }
        None => f32_k_chunk(&shape, ctx.spread()),
    };
    // The input, and the other operand: W [channels, taps] or dY [rows, channels].
    let rows = if wgrad { shape.m } else { shape.n };
    let (input, other) = if int8 {
        let x_q = g.quantized_input_layout().packed_words() as u64 * 4;
        (x_q, GemmShape::packed_words(rows, shape.k, wgrad) * 4)
    } else {
        (g.input_len() * 4, rows as u64 * shape.k as u64 * 4)
    };
    let bytes = if wgrad {
        (other, input)
    } else {
        (input, other)
    };
    let block = match (int8, wgrad) {
        (true, _) => (REGS_BLOCK, REGS_BLOCK),
        (false, false) => CONV_F32_FWD_BLOCK,
        (false, true) => CONV_F32_WGRAD_BLOCK,
    };
    let kernel = GemmKernel {
        def,
        variant: GemmVariant::Regs,
        conv: Some(g),
        block,
    };
    record_kernel(ctx, rec, kernel, &shape, k_chunk, bytes, bufs, epilogue)
}

/// Records an FP32 convolution's forward `y = cols(x)·Wᵀ` with `epilogue` (bias, ReLU) as an
/// implicit GEMM (`conv_f32_regs_fwd`): `bufs` = (x NHWC, W `[channels, taps]`, y NHWC). The
/// same bits as [`gemm_f32`](super::gemm_f32()) in [`GemmVariant::Regs`] on the column matrix
/// [`im2col`](super::im2col()) writes, without writing it.
pub fn conv_f32_forward(
    ctx: &Context,
    rec: &mut Recording,
    conv: (&ConvGeometry, u32),
    bufs: GemmBuffers<'_>,
    epilogue: &Epilogue<'_>,
) -> Result<()> {
    record_conv(
        ctx,
        rec,
        (Precision::Fp32, ConvGemm::Forward),
        conv,
        None,
        bufs,
        epilogue,
    )
}

/// Records an FP32 convolution's weight gradient `dW = dYᵀ·cols(x)` as an implicit GEMM
/// (`conv_f32_regs_wgrad`): `bufs` = (dY `[rows, channels]`, x NHWC, dW `[channels, taps]`).
/// Split-K over the output pixels as [`gemm_f32`](super::gemm_f32()); the same bits as it in
/// [`GemmVariant::Regs`] on the column matrix.
pub fn conv_f32_wgrad(
    ctx: &Context,
    rec: &mut Recording,
    conv: (&ConvGeometry, u32),
    bufs: GemmBuffers<'_>,
) -> Result<()> {
    record_conv(
        ctx,
        rec,
        (Precision::Fp32, ConvGemm::WeightGrad),
        conv,
        None,
        bufs,
        &Epilogue::NONE,
    )
}

/// Records an int8 convolution's forward `y = cols(x_q)·W_qᵀ` with `epilogue` (scales, bias,
/// ReLU) as an implicit GEMM (`conv_i8_regs_fwd`): `bufs` = (x_q, one byte per NHWC element
/// as [`ConvGeometry::quantized_input_layout`] packs it; W_q packed `[channels, taps/4 words]`;
/// y). The same bits as [`gemm_i8`](super::gemm_i8()) in [`GemmVariant::Regs`] on the packed column matrix,
/// without writing it.
pub fn conv_i8_forward(
    ctx: &Context,
    rec: &mut Recording,
    conv: (&ConvGeometry, u32),
    k_chunk: u32,
    bufs: GemmBuffers<'_>,
    epilogue: &Epilogue<'_>,
) -> Result<()> {
    record_conv(
        ctx,
        rec,
        (Precision::Int8, ConvGemm::Forward),
        conv,
        Some(k_chunk),
        bufs,
        epilogue,
    )
}

/// Records an int8 convolution's weight gradient `dW = dY_qᵀ·cols(x_q)` as an implicit GEMM
/// (`conv_i8_regs_wgrad`): `bufs` = (dY_q packed transposed, `[rows, channels/4 words]`;
/// x_q; dW). Split-K over the output pixels by `k_chunk`.
pub fn conv_i8_wgrad(
    ctx: &Context,
    rec: &mut Recording,
    conv: (&ConvGeometry, u32),
    k_chunk: u32,
    bufs: GemmBuffers<'_>,
    epilogue: &Epilogue<'_>,
) -> Result<()> {
    record_conv(
        ctx,
        rec,
        (Precision::Int8, ConvGemm::WeightGrad),
        conv,
        Some(k_chunk),
        bufs,
        epilogue,
    )
}

/// This family's kernels, for [`ALL_KERNELS`](crate::ops::ALL_KERNELS).
pub(crate) const KERNELS: &[&KernelDef] = &[
    &CONV_F32_REGS[0],
    &CONV_F32_REGS[1],
    &CONV_I8_REGS[0],
    &CONV_I8_REGS[1],
    &CONV_I8_REGS[2],
    &CONV_I8_REGS[3],
];
