//! Conv2d over NHWC activations: the very GEMM layer a Linear is over the column matrix (rows =
//! output pixels, inputs = kernel taps), then `col2im` for the input gradient. How the forward
//! and weight-gradient GEMMs get the column matrix is a [`ConvLowering`], autotuned per layer
//! shape: `im2col` writes it (an FP32 layer keeps it; a quantized layer keeps its input
//! quantized in place, one byte per element, and `im2col_i8` gathers the packed column matrix
//! from it into scratch for each GEMM), or the implicit-GEMM kernels (`conv_f32_regs`,
//! `conv_i8_regs`) gather it from the input where they need it, so it never exists in memory
//! and the layer keeps its input (quantized in place when int8). The input-gradient GEMM writes
//! the column matrix's gradient, which `col2im` folds back.

use crate::error::Result;
use crate::gpu::{Context, Recording};
use crate::nn::Linear;
use crate::nn::int8::SummarySlot;
use crate::nn::linear::{Gradients, Input, LinearShape, Output};
use crate::nn::pass::{Clips, Precision, Seeded};
use crate::nn::scratch::Scratch;
use crate::nn::tensors::Slot;
use crate::ops::{self, ConvGeometry, ConvLowering, PoolGeometry};
use crate::quant::Policy;

/// A layer's NHWC input `x` and, when `x` is the output of a ReLU whose bit mask the layer
/// writes as it quantizes `x` ([`Conv2d::marks_relu`]), that mask.
#[derive(Clone, Copy, Debug)]
pub(crate) struct MaskedInput<'a> {
    pub(crate) x: &'a wgpu::Buffer,
    pub(crate) relu_mask: Option<&'a wgpu::Buffer>,
}

/// One convolution layer on the GPU.
#[derive(Debug)]
pub struct Conv2d {
    pub(crate) geom: ConvGeometry,
    /// The GEMM: `batch` = output pixels, `inputs` = kernel taps, `outputs` = channels.
    pub(crate) gemm: Linear,
    /// How the forward and weight-gradient GEMMs get the column matrix.
    lowering: ConvLowering,
    /// The f32 column matrix (4 bytes where no f32 one is written).
    cols: wgpu::Buffer,
    /// Whether the backward computes dx (through the column matrix's gradient).
    input_grad: bool,
}

impl Conv2d {
    /// A layer of `channels` outputs; `input_grad`: whether its backward computes dx (not for
    /// a model's first layer), which needs the column matrix's gradient.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        ctx: &Context,
        name: &str,
        geom: ConvGeometry,
        channels: u32,
        weight: &[f32],
        policy: &Policy,
        quantized: Option<SummarySlot>,
        input_grad: bool,
    ) -> Result<Self> {
        let (rows, taps) = (geom.rows(), geom.taps());
        // A quantized layer whose windows skip input pixels (a strided 1×1 shortcut) needs the
        // column matrix's statistics, so its f32 column matrix.
        let precision = if quantized.is_some() {
            Precision::Int8
        } else {
            Precision::Fp32
        };
        let lowering = if precision.is_int8() && !geom.covers_input() {
            ConvLowering::Columns
        } else {
            ctx.conv_lowering(&geom, channels, precision)?
        };
        let shape = LinearShape {
            batch: rows,
            inputs: taps,
            outputs: channels,
        };
        let f32_cols = Self::writes_f32_columns(lowering, precision, &geom);
        let gemm = Linear::new(
            ctx,
            name,
            shape,
            weight,
            &vec![0.0; channels as usize],
            policy,
            quantized,
            (!f32_cols).then_some(&geom),
        );
        let bytes = rows as u64 * taps as u64 * 4;
        Ok(Conv2d {
            geom,
            gemm,
            lowering,
            cols: ctx.storage_buffer(&format!("{name}.cols"), if f32_cols { bytes } else { 4 }),
            input_grad,
        })
    }

    /// Bytes kept from the forward for the backward: the f32 input (FP32, implicit), or what
    /// the GEMM layer keeps (f32 or packed column matrix, or the input quantized in place).
    pub fn saved_input_bytes(&self) -> u64 {
        if self.keeps_f32_input() {
            self.geom.input_len() * 4
        } else {
            self.gemm.saved_input_bytes()
        }
    }

    /// Whether the backward reads the f32 input itself (FP32 with implicit GEMMs).
    pub(crate) fn keeps_f32_input(&self) -> bool {
        !self.gemm.is_quantized() && self.lowering == ConvLowering::Implicit
    }

    /// Whether the forward can write the mask of a ReLU whose output is `x`: a quantized layer
    /// that quantizes `x` itself, not an f32 column matrix of it.
    pub(crate) fn marks_relu(&self) -> bool {
        !self.f32_columns() && self.gemm.marks_relu()
    }

    /// Whether `im2col` writes an f32 column matrix: a column-matrix lowering, except for a
    /// quantized layer whose windows cover the input (it quantizes x in place, and `im2col_i8`
    /// gathers the packed column matrix from that).
    fn writes_f32_columns(
        lowering: ConvLowering,
        precision: Precision,
        geom: &ConvGeometry,
    ) -> bool {
        lowering == ConvLowering::Columns && !(precision.is_int8() && geom.covers_input())
    }

    /// Whether `im2col` writes an f32 column matrix for this layer.
    fn f32_columns(&self) -> bool {
        Self::writes_f32_columns(self.lowering, self.gemm.precision(), &self.geom)
    }

    /// Bytes of the packed column matrix `im2col_i8` gathers into scratch (0 if none).
    pub(crate) fn packed_cols_bytes(&self) -> u64 {
        if self.lowering == ConvLowering::Columns && !self.f32_columns() {
            self.geom.rows() as u64 * self.geom.taps().div_ceil(4) as u64 * 4
        } else {
            0
        }
    }

    /// The GEMM layer's input: the NHWC input for the implicit GEMMs and for a quantized layer
    /// on the column matrix (gathered into `scratch.packed_cols`), else the f32 column matrix.
    fn input<'a>(&'a self, x: &'a wgpu::Buffer, scratch: &'a Scratch) -> Input<'a> {
        match self.lowering {
            ConvLowering::Implicit => Input::Implicit(&self.geom, x),
            _ if self.f32_columns() => Input::Matrix(&self.cols),
            ConvLowering::Columns => Input::Columns(&self.geom, x, &scratch.packed_cols),
        }
    }

    /// The weight `[out, kh, kw, in]` and bias.
    pub(crate) fn slots(&self) -> Vec<Slot<'_>> {
        let g = &self.geom;
        let shape = [self.gemm.outputs, g.kh, g.kw, g.c].map(|d| d as usize);
        self.gemm.slots(shape.to_vec())
    }

    /// Records the forward from the NHWC input `x` (and the mask of the ReLU whose output `x`
    /// is, if given).
    pub(crate) fn record_forward(
        &self,
        ctx: &Context,
        rec: &mut Recording,
        MaskedInput { x, relu_mask }: MaskedInput<'_>,
        out: Output<'_>,
        clips: Clips,
        scratch: &Scratch,
    ) -> Result<()> {
        if relu_mask.is_some() && !self.marks_relu() {
            let why = format!("{} cannot write the ReLU mask of its input", self.gemm.name);
            return Err(crate::Error::invalid("conv forward", why));
        }
        let input = self.input(x, scratch);
        if let Input::Matrix(cols) = input {
            ops::im2col(rec, &self.geom, x, cols)?;
        }
        self.gemm
            .record_forward(ctx, rec, input, relu_mask, out, clips)
    }

    /// Bytes of the column matrix's gradient the backward writes to scratch (0 without dx).
    pub(crate) fn dcols_bytes(&self) -> u64 {
        if self.input_grad {
            self.geom.rows() as u64 * self.geom.taps() as u64 * 4
        } else {
            0
        }
    }

    /// The backward from `dy`; `x` is the forward's input; `dx` only for a layer made with
    /// `input_grad`, through `scratch.dcols`.
    pub(crate) fn record_backward(
        &self,
        ctx: &Context,
        rec: &mut Recording,
        x: &wgpu::Buffer,
        Gradients { dy, dx }: Gradients<'_>,
        clips: Clips,
        scratch: &Scratch,
    ) -> Result<Vec<Seeded>> {
        self.record_backward_via(ctx, rec, x, Gradients { dy, dx }, clips, scratch, None)
    }

    /// [`Conv2d::record_backward`] of a convolution whose input is the output of the max
    /// pooling `pool` (its forward's winners in `argmax`): the col2im also does the pooling's
    /// backward, and `dx` is the pooling's input gradient.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn record_backward_into_pool(
        &self,
        ctx: &Context,
        rec: &mut Recording,
        x: &wgpu::Buffer,
        grads: Gradients<'_>,
        clips: Clips,
        scratch: &Scratch,
        (pool, argmax): (&PoolGeometry, &wgpu::Buffer),
    ) -> Result<Vec<Seeded>> {
        let pool = Some((pool, argmax));
        self.record_backward_via(ctx, rec, x, grads, clips, scratch, pool)
    }

    #[allow(clippy::too_many_arguments)]
    fn record_backward_via(
        &self,
        ctx: &Context,
        rec: &mut Recording,
        x: &wgpu::Buffer,
        Gradients { dy, dx }: Gradients<'_>,
        clips: Clips,
        scratch: &Scratch,
        pool: Option<(&PoolGeometry, &wgpu::Buffer)>,
    ) -> Result<Vec<Seeded>> {
        let grads = Gradients {
            dy,
            dx: dx.map(|_| &scratch.dcols),
        };
        // A quantized layer's backward reads what it quantized (packed column matrix or x_q).
        let seeded = self
            .gemm
            .record_backward(ctx, rec, self.input(x, scratch), grads, clips)?;
        match (dx, pool) {
            (Some(dx), Some((pool, argmax))) => {
                ops::col2im_maxpool(rec, &self.geom, pool, &scratch.dcols, argmax, dx)?
            }
            (Some(dx), None) => ops::col2im(ctx, rec, &self.geom, &scratch.dcols, dx)?,
            (None, _) => {}
        }
        Ok(seeded)
    }
}
