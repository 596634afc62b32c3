//! DepthwiseConv2d over NHWC activations: one `k × k` filter per channel, each channel a GEMM
//! layer of its own in the terms of [`Linear`] (`inputs` = the filter's taps, `outputs` = the
//! channels), so that the quantization state, policies, updates and checkpoints are a Linear's.
//! The `depthwise` kernels run its three passes, on int8 (the input quantized in place, W per
//! tensor, dY per tensor or, for DAI8's weight gradient, per channel: a channel is a group) or
//! in FP32.

use crate::error::Result;
use crate::gpu::{Context, Recording};
use crate::nn::Linear;
use crate::nn::int8::SummarySlot;
use crate::nn::linear::{Gradients, Input, LinearShape, Output};
use crate::nn::pass::{Clips, Seeded};
use crate::nn::tensors::Slot;
use crate::ops::ConvGeometry;
use crate::quant::Policy;

/// One depthwise convolution layer on the GPU.
#[derive(Debug)]
pub struct DepthwiseConv2d {
    pub(crate) geom: ConvGeometry,
    /// The per-channel GEMMs: `batch` = output pixels, `inputs` = taps, `outputs` = channels.
    pub(crate) gemm: Linear,
    /// Whether the backward computes dx (not for a model's first layer).
    input_grad: bool,
}

impl DepthwiseConv2d {
    /// A layer over `geom` (`geom.c` channels in and out) with `weight` `[c, kh, kw]`; with a
    /// summary slot its passes run on int8 under `policy`.
    pub(crate) fn new(
        ctx: &Context,
        name: &str,
        geom: ConvGeometry,
        weight: &[f32],
        policy: &Policy,
        quantized: Option<SummarySlot>,
        input_grad: bool,
    ) -> Result<Self> {
        geom.validate("model")?;
        let shape = LinearShape {
            batch: geom.rows(),
            inputs: geom.kh * geom.kw,
            outputs: geom.c,
        };
        let bias = vec![0.0; geom.c as usize];
        let gemm = Linear::new(
            ctx,
            name,
            shape,
            weight,
            &bias,
            policy,
            quantized,
            Some(&geom),
        );
        Ok(DepthwiseConv2d {
            geom,
            gemm,
            input_grad,
        })
    }

    /// Bytes kept from the forward for the backward: the f32 input, or the input quantized in
    /// place and its scale.
    pub fn saved_input_bytes(&self) -> u64 {
        match self.gemm.is_quantized() {
            true => self.gemm.saved_input_bytes(),
            false => self.geom.input_len() * 4,
        }
    }

    /// The weight `[c, kh, kw, 1]` (a convolution's `[out, kh, kw, in]` with one input channel
    /// per group) and bias.
    pub(crate) fn slots(&self) -> Vec<Slot<'_>> {
        let g = &self.geom;
        self.gemm
            .slots([g.c, g.kh, g.kw, 1].map(|d| d as usize).to_vec())
    }

    /// Records the forward from the NHWC input `x`.
    pub(crate) fn record_forward(
        &self,
        ctx: &Context,
        rec: &mut Recording,
        x: &wgpu::Buffer,
        out: Output<'_>,
        clips: Clips,
    ) -> Result<()> {
        let input = Input::Depthwise(&self.geom, x);
        self.gemm.record_forward(ctx, rec, input, None, out, clips)
    }

    /// Records the backward from `dy`; `x` is the forward's input, `dx` written only for a
    /// layer made with `input_grad`.
    pub(crate) fn record_backward(
        &self,
        ctx: &Context,
        rec: &mut Recording,
        x: &wgpu::Buffer,
        Gradients { dy, dx }: Gradients<'_>,
        clips: Clips,
    ) -> Result<Vec<Seeded>> {
        let grads = Gradients {
            dy,
            dx: dx.filter(|_| self.input_grad),
        };
        let input = Input::Depthwise(&self.geom, x);
        self.gemm.record_backward(ctx, rec, input, grads, clips)
    }
}
