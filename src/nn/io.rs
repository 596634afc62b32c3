//! A model's tensors by name ([`NamedTensor`]) and its quantization state, read back from and
//! written to the GPU.

use crate::error::{Error, Result};
use crate::gpu::Context;
use crate::nn::Model;
use crate::nn::int8::QuantTensor;
use crate::nn::layer::Layer;
use crate::nn::tensors::{self, NamedTensor, TensorRole};
use crate::ops::{self, ClipSummary};

/// The quantization state of one weighted layer, as a trainer reports it.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerQuantState {
    /// Position of the layer in the model's layer list.
    pub layer: usize,
    /// Whether its GEMMs run on int8 (false: FP32, and the other fields are defaults).
    pub quantized: bool,
    /// Clip of the forward input X (max|X| at the last refresh).
    pub clip_x: f32,
    /// Clip of the weights W.
    pub clip_w: f32,
    /// dY's clip and summary from the last refresh ([`ops::ClipSummary`]): tensor clip, cosine
    /// distance and φ (UI8), Gaussian / inverted-T channel counts (DAI8).
    pub dy: ops::ClipSummary,
}

impl Model {
    /// Reads back the model's tensors of one role, named as [`NamedTensor`] documents (e.g.
    /// `layer0.conv.weight`). Blocks.
    pub fn read_tensors(&self, ctx: &Context, role: TensorRole) -> Result<Vec<NamedTensor>> {
        pollster::block_on(self.read_tensors_async(ctx, role))
    }

    /// [`Model::read_tensors`] as a future, for a browser (see
    /// [`Context::read_buffer_async`]).
    pub async fn read_tensors_async(
        &self,
        ctx: &Context,
        role: TensorRole,
    ) -> Result<Vec<NamedTensor>> {
        tensors::read(ctx, &self.slots(), role).await
    }

    /// Starts reading one tensor back without waiting (see [`Readback`](crate::gpu::Readback)):
    /// for a host that shows weights while training, frame after frame.
    pub fn read_tensor_async(
        &self,
        ctx: &Context,
        role: TensorRole,
        name: &str,
    ) -> Result<crate::gpu::Readback<f32>> {
        let slots = self.slots();
        let place = slots
            .iter()
            .filter(|s| s.name == name)
            .find_map(|s| s.places.iter().find(|(r, _)| *r == role))
            .ok_or_else(|| {
                Error::invalid("read_tensor_async", format!("no {role:?} tensor `{name}`"))
            })?;
        let s = place.1;
        ctx.read_async(s.buffer, s.offset as u64 * 4, s.len as usize)
    }

    /// Overwrites the model's tensors of one role, e.g. from a checkpoint. Every tensor of the
    /// role must be given once with the model's shape, else nothing is written and the error
    /// names the tensor.
    pub fn write_tensors(
        &self,
        ctx: &Context,
        role: TensorRole,
        tensors: &[NamedTensor],
    ) -> Result<()> {
        tensors::write(ctx, &self.slots(), role, tensors)
    }

    /// Every named tensor of the model, the table of dY clip summaries last.
    fn slots(&self) -> Vec<tensors::Slot<'_>> {
        let mut slots: Vec<_> = self.layers.iter().flat_map(Layer::slots).collect();
        let words = (self.summaries.size() / 4) as u32;
        slots.push(tensors::Slot {
            name: "dy_summaries".into(),
            shape: vec![words as usize],
            places: vec![(
                TensorRole::QuantState,
                tensors::Slice::whole(&self.summaries, words),
            )],
        });
        slots
    }

    /// Reads back the quantization state of each weighted layer. Blocks; meant for reports
    /// between epochs, not for every step.
    pub fn quant_state(&self, ctx: &Context) -> Result<Vec<LayerQuantState>> {
        let mut out = Vec::new();
        for (i, l) in self
            .layers
            .iter()
            .enumerate()
            .flat_map(|(i, layer)| layer.gemms().into_iter().map(move |l| (i, l)))
        {
            let mut state = LayerQuantState {
                layer: i,
                quantized: false,
                clip_x: 0.0,
                clip_w: 0.0,
                dy: ops::ClipSummary::default(),
            };
            if let Some(q) = &l.int8 {
                let clip = |t: &QuantTensor| -> Result<f32> {
                    Ok(ctx.read_buffer::<ops::ChannelStat>(&t.stats)?[t.parts() as usize].max_abs)
                };
                state.quantized = true;
                state.clip_x = clip(&q.x)?;
                state.clip_w = clip(&q.w)?;
                let table = ctx.read_buffer::<ClipSummary>(&q.summary.table)?;
                state.dy = table[q.summary.index as usize];
            }
            out.push(state);
        }
        Ok(out)
    }
}
