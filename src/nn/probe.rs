//! [`Model::probe`]: one training step's forward and backward, every layer on its own, with
//! each layer's output and input gradient read back.

use crate::error::{Error, Result};
use crate::gpu::{Context, Recording};
use crate::nn::Model;
use crate::nn::pass::{Clips, Fusion, Pass};

/// What [`Model::probe`] reads back for one layer.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerProbe {
    /// The layer's output (`[batch, features]`, or NHWC).
    pub output: Vec<f32>,
    /// Gradient with respect to the layer's input (`None` for the first layer, whose input
    /// gradient is never computed).
    pub grad_input: Option<Vec<f32>>,
}

impl Model {
    /// Runs forward (training mode) on `x` and backward from `dlogits` (the gradient of the
    /// loss with respect to the logits) without updating the parameters, and reads back every
    /// layer's output and input gradient; the parameters' gradients are then readable with
    /// [`Model::read_tensors`]. For checking layers against references and inspecting
    /// quantization error. Batch-norm running statistics advance by one step. Blocks.
    pub fn probe(
        &self,
        ctx: &Context,
        x: &[f32],
        dlogits: &[f32],
        seed: u32,
    ) -> Result<Vec<LayerProbe>> {
        let last = self.shapes.len() - 1;
        if x.len() != self.len_of(0) as usize || dlogits.len() != self.len_of(last) as usize {
            return Err(Error::invalid(
                "probe",
                "x or dlogits does not match the batch and model",
            ));
        }
        let read = |buf: &wgpu::Buffer, n: u32| -> Result<Vec<f32>> {
            let mut v: Vec<f32> = ctx.read_buffer(buf)?;
            v.truncate(n as usize);
            Ok(v)
        };
        // Unfused, so that every layer's own output is there to read.
        let mut rec = Recording::new();
        self.record_forward_pass(ctx, &mut rec, Pass::TRAIN, Fusion::Unfused)?;
        ctx.queue()
            .write_buffer(&self.acts[0], 0, bytemuck::cast_slice(x));
        ctx.run(&rec)?;
        let mut probes = (0..self.layers.len())
            .map(|i| {
                Ok(LayerProbe {
                    output: read(&self.acts[i + 1], self.len_of(i + 1))?,
                    grad_input: None,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        // A layer at a time: gradient buffers are reused two layers on.
        ctx.queue()
            .write_buffer(&self.grads[last], 0, bytemuck::cast_slice(dlogits));
        let mut seeds = seed;
        for i in (0..self.layers.len()).rev() {
            let mut rec = Recording::new();
            for s in
                self.record_layer_backward(ctx, &mut rec, i, Clips::Refresh, Fusion::Unfused)?
            {
                let params = &mut rec.dispatches[s.dispatch].params;
                seeds = s.write_seeds(params, seeds, |n| n);
            }
            ctx.run(&rec)?;
            if i > 0 {
                probes[i].grad_input = Some(read(&self.grads[i], self.len_of(i))?);
            }
        }
        Ok(probes)
    }
}
