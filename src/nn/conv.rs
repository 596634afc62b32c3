//! Conv2d over NHWC activations: `im2col`, then the very GEMM layer a Linear is (rows = output
//! pixels, inputs = kernel taps), then `col2im` for the input gradient. In a quantized layer the
//! column matrix is quantized once and read by the forward and the weight-gradient GEMMs, and
//! the input-gradient GEMM runs on int8 too; only the data movement is FP32.

use crate::error::Result;
use crate::gpu::{Context, Recording};
use crate::nn::Linear;
use crate::nn::linear::SummarySlot;
use crate::nn::tensors::Slot;
use crate::ops::{self, ConvGeometry};
use crate::quant::Policy;

/// One convolution layer on the GPU.
#[derive(Debug)]
pub struct Conv2d {
    pub(crate) geom: ConvGeometry,
    /// The GEMM: `batch` = output pixels, `inputs` = kernel taps, `outputs` = channels.
    pub(crate) gemm: Linear,
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
        Conv2d {
            geom,
            gemm,
            cols: ctx.storage_buffer(&format!("{name}.cols"), bytes),
            dcols: ctx.storage_buffer(&format!("{name}.dcols"), bytes),
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
        y: &wgpu::Buffer,
        refresh: bool,
    ) -> Result<()> {
        ops::im2col(rec, &self.geom, x, &self.cols)?;
        self.gemm.record_forward(ctx, rec, &self.cols, y, refresh)
    }

    pub(crate) fn record_backward(
        &self,
        ctx: &Context,
        rec: &mut Recording,
        dy: &wgpu::Buffer,
        dx: Option<&wgpu::Buffer>,
        refresh: bool,
    ) -> Result<Vec<usize>> {
        let dcols = dx.map(|_| &self.dcols);
        let seeded = self
            .gemm
            .record_backward(ctx, rec, &self.cols, dy, dcols, refresh)?;
        if let Some(dx) = dx {
            ops::col2im(rec, &self.geom, &self.dcols, dx)?;
        }
        Ok(seeded)
    }
}
