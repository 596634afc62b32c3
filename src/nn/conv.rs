//! Conv2d over NHWC activations: the very GEMM layer a Linear is over the column matrix (rows =
//! output pixels, inputs = kernel taps), then `col2im` for the input gradient. The forward and
//! weight-gradient GEMMs are implicit (`conv_f32_regs`, `conv_i8_regs`): they gather the column
//! matrix from the input where they need it, so it never exists in memory; a quantized layer
//! quantizes its input in place (one byte per element) and keeps that for the backward. The
//! input-gradient GEMM writes the column matrix's gradient, which `col2im` folds back. Only a
//! quantized layer whose windows skip input pixels (a strided 1×1 shortcut) takes `im2col`.

use crate::error::Result;
use crate::gpu::{Context, Recording};
use crate::nn::Linear;
use crate::nn::linear::{Input, Output, SummarySlot};
use crate::nn::tensors::Slot;
use crate::ops::{self, ConvGeometry};
use crate::quant::Policy;

/// One convolution layer on the GPU.
#[derive(Debug)]
pub struct Conv2d {
    pub(crate) geom: ConvGeometry,
    /// The GEMM: `batch` = output pixels, `inputs` = kernel taps, `outputs` = channels.
    pub(crate) gemm: Linear,
    /// The f32 column matrix (4 bytes where the forward is fused or implicit and needs none).
    cols: wgpu::Buffer,
    dcols: wgpu::Buffer,
}

impl Conv2d {
    pub(crate) fn new(
        ctx: &Context,
        name: &str,
        geom: ConvGeometry,
        channels: u32,
        weight: &[f32],
        policy: &Policy,
        quantized: Option<SummarySlot>,
    ) -> Self {
        let (rows, taps) = (geom.rows(), geom.taps());
        let bias = vec![0.0; channels as usize];
        let mut gemm = Linear::new(
            ctx,
            name,
            (rows, taps, channels),
            weight,
            &bias,
            policy,
            quantized,
        );
        if Self::implicit(&gemm, &geom) {
            gemm.quantize_conv_input_in_place(ctx, &geom);
        }
        let bytes = rows as u64 * taps as u64 * 4;
        let cols_bytes = if Self::implicit(&gemm, &geom) {
            4
        } else {
            bytes
        };
        Conv2d {
            geom,
            gemm,
            cols: ctx.storage_buffer(&format!("{name}.cols"), cols_bytes),
            dcols: ctx.storage_buffer(&format!("{name}.dcols"), bytes),
        }
    }

    /// Whether the GEMMs that read the column matrix (forward, weight gradient) are implicit
    /// (`conv_f32_regs`, `conv_i8_regs`): they gather it from the input as they go, so it is
    /// never written, read back or kept for the backward; a quantized layer keeps its input
    /// quantized in place instead. All FP32 layers; quantized ones whose windows cover every
    /// input pixel ([`ConvGeometry::covers_input`]), so that X's clip, max|x|, is the column
    /// matrix's. Others (a strided 1×1 shortcut) take im2col and the column matrix's statistics.
    fn implicit(gemm: &Linear, geom: &ConvGeometry) -> bool {
        gemm.int8.is_none() || geom.covers_input()
    }

    /// Bytes kept from the forward for the backward: the input, f32 or quantized (implicit
    /// GEMMs), or what the GEMM layer keeps of the column matrix.
    pub fn saved_input_bytes(&self) -> u64 {
        if self.gemm.int8.is_none() && Self::implicit(&self.gemm, &self.geom) {
            self.geom.input_len() * 4
        } else {
            self.gemm.saved_input_bytes()
        }
    }

    /// The GEMM layer's input: the NHWC input for implicit GEMMs, else the column matrix.
    fn input<'a>(&'a self, x: &'a wgpu::Buffer) -> Input<'a> {
        if Self::implicit(&self.gemm, &self.geom) {
            Input::Conv(&self.geom, x)
        } else {
            Input::Matrix(&self.cols)
        }
    }

    /// The weight `[out, kh, kw, in]` and bias.
    pub(crate) fn slots(&self) -> Vec<Slot<'_>> {
        let g = &self.geom;
        let shape = [self.gemm.outputs, g.kh, g.kw, g.c].map(|d| d as usize);
        self.gemm.slots(shape.to_vec())
    }

    pub(crate) fn record_forward(
        &self,
        ctx: &Context,
        rec: &mut Recording,
        x: &wgpu::Buffer,
        out: Output<'_>,
        refresh: bool,
    ) -> Result<()> {
        if !Self::implicit(&self.gemm, &self.geom) {
            ops::im2col(rec, &self.geom, x, &self.cols)?;
        }
        self.gemm
            .record_forward(ctx, rec, self.input(x), out, refresh)
    }

    /// The backward from `dy`; `x` is the forward's input.
    pub(crate) fn record_backward(
        &self,
        ctx: &Context,
        rec: &mut Recording,
        (x, dy): (&wgpu::Buffer, &wgpu::Buffer),
        dx: Option<&wgpu::Buffer>,
        refresh: bool,
    ) -> Result<Vec<usize>> {
        let dcols = dx.map(|_| &self.dcols);
        // A quantized layer's backward reads the packed column matrix, not `cols`.
        let seeded = self
            .gemm
            .record_backward(ctx, rec, self.input(x), dy, dcols, refresh)?;
        if let Some(dx) = dx {
            ops::col2im(rec, &self.geom, &self.dcols, dx)?;
        }
        Ok(seeded)
    }
}
