//! Conv2d over NHWC activations: `im2col`, then the very GEMM layer a Linear is (rows = output
//! pixels, inputs = kernel taps), then `col2im` for the input gradient. In a quantized layer
//! `im2col_quantize` writes the packed int8 column matrix straight from the input (no f32 column
//! matrix exists), read by the forward and the weight-gradient GEMMs, and the input-gradient
//! GEMM runs on int8 too; only col2im's data movement is FP32.

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
        let gemm = Linear::new(
            ctx,
            name,
            (rows, taps, channels),
            weight,
            &bias,
            policy,
            quantized,
        );
        let bytes = rows as u64 * taps as u64 * 4;
        let no_cols = Self::fused(&gemm, &geom) || Self::implicit(&gemm);
        let cols_bytes = if no_cols { 4 } else { bytes };
        Conv2d {
            geom,
            gemm,
            cols: ctx.storage_buffer(&format!("{name}.cols"), cols_bytes),
            dcols: ctx.storage_buffer(&format!("{name}.dcols"), bytes),
        }
    }

    /// Whether the forward quantizes straight from the input (`im2col_quantize`): a quantized
    /// layer whose windows cover every input pixel, so that X's clip, max|x|, is the column
    /// matrix's. Others (a strided 1×1 shortcut) take the column matrix's statistics.
    fn fused(gemm: &Linear, geom: &ConvGeometry) -> bool {
        gemm.int8.is_some() && geom.covers_input()
    }

    /// Whether the FP32 GEMMs that read the column matrix (forward, weight gradient) are
    /// implicit (`conv_f32_regs`): they compute it from the input as they go, so it is never
    /// written, read back or kept for the backward.
    fn implicit(gemm: &Linear) -> bool {
        gemm.int8.is_none()
    }

    /// Bytes kept from the forward for the backward: the input (implicit GEMM), or what the
    /// GEMM layer keeps of the column matrix.
    pub fn saved_input_bytes(&self) -> u64 {
        if Self::implicit(&self.gemm) {
            self.geom.input_len() * 4
        } else {
            self.gemm.saved_input_bytes()
        }
    }

    /// The GEMM layer's input: the NHWC input for an implicit GEMM, else the column matrix.
    fn input<'a>(&'a self, x: &'a wgpu::Buffer) -> Input<'a> {
        if Self::implicit(&self.gemm) {
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
        if Self::fused(&self.gemm, &self.geom) {
            return self
                .gemm
                .record_forward_conv(ctx, rec, &self.geom, x, out, refresh);
        }
        if !Self::implicit(&self.gemm) {
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
