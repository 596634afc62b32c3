//! The named tensors of a model — parameters, their gradients and momentum, batch-norm running
//! statistics — and where each lives on the GPU. Checkpoints, probes and reports all go through
//! these names (listed on [`NamedTensor`]), so they are stable and documented.

use crate::error::{Error, Result};
use crate::gpu::Context;
use crate::gpu::Region;

/// What a tensor of a model holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TensorRole {
    /// Trainable parameters (FP32 master weights).
    Parameter,
    /// Gradients of the parameters from the last backward.
    Gradient,
    /// SGD momentum buffers of the parameters.
    Velocity,
    /// Batch-norm running statistics (`running_mean`, `running_var`).
    RunningStat,
    /// What a quantized layer keeps between steps: the clips of X and W between UI8
    /// refreshes (`{layer}.x_stats`, `.w_stats`: a statistics record whose first field, max|x|,
    /// is the clip; its other fields are not written), the dY
    /// clips and DAI8's magnitude-aware state (`.dy_clips`, `.dy_mcs_state`) and the model's
    /// table of dY clip summaries
    /// (`dy_summaries`). Raw 32-bit words (statistics structs mix f32 and u32), carried in
    /// [`NamedTensor::data`] bit for bit.
    QuantState,
}

/// A model tensor read back from (or to be written to) the GPU.
///
/// Names, with `i` the layer's index in [`ModelSpec::layers`](crate::nn::ModelSpec):
///
/// - `layer{i}.linear.weight` `[outputs, inputs]`, `layer{i}.linear.bias` `[outputs]`;
/// - `layer{i}.conv.weight` `[out, kh, kw, in]` (NHWC taps; PyTorch's order is
///   `[out, in, kh, kw]`), `layer{i}.conv.bias` `[out]`;
/// - `layer{i}.bn.weight` (γ), `.bias` (β), `.running_mean`, `.running_var`, each `[channels]`;
/// - inside a basic block, `layer{i}.block.` followed by `conv1`, `bn1`, `conv2`, `bn2` and,
///   with a projection shortcut, `shortcut` (a 1×1 conv) and `shortcut_bn`, named as above.
///
/// A gradient or velocity carries the name of its parameter; the [`TensorRole`] tells them
/// apart.
#[derive(Clone, Debug, PartialEq)]
pub struct NamedTensor {
    /// Its name (see the module docs).
    pub name: String,
    /// Its shape, outermost first.
    pub shape: Vec<usize>,
    /// Row-major values.
    pub data: Vec<f32>,
}

impl NamedTensor {
    /// Whether it is a batch norm's running statistic (`….running_mean`, `….running_var`),
    /// not a parameter.
    pub fn is_running_stat(&self) -> bool {
        is_running_stat(&self.name)
    }
}

/// Whether `name` is a batch norm's running statistic's.
pub(crate) fn is_running_stat(name: &str) -> bool {
    name.ends_with(".running_mean") || name.ends_with(".running_var")
}

/// `len` f32s from element `offset` of a buffer.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Slice<'a> {
    pub buffer: &'a wgpu::Buffer,
    pub offset: u32,
    pub len: u32,
}

impl<'a> Slice<'a> {
    pub fn whole(buffer: &'a wgpu::Buffer, len: u32) -> Self {
        Slice {
            buffer,
            offset: 0,
            len,
        }
    }

    /// `len` f32s from element `offset` of `region`.
    pub fn within(region: &'a Region, offset: u32, len: u32) -> Self {
        Slice {
            buffer: &region.buffer,
            offset: (region.offset / 4) as u32 + offset,
            len,
        }
    }
}

/// One named tensor and where each of its roles lives.
#[derive(Debug)]
pub(crate) struct Slot<'a> {
    pub name: String,
    pub shape: Vec<usize>,
    pub places: Vec<(TensorRole, Slice<'a>)>,
}

impl<'a> Slot<'a> {
    /// A trainable tensor: value, gradient and velocity.
    pub fn trainable(
        name: String,
        shape: Vec<usize>,
        [value, grad, velocity]: [Slice<'a>; 3],
    ) -> Self {
        Slot {
            name,
            shape,
            places: vec![
                (TensorRole::Parameter, value),
                (TensorRole::Gradient, grad),
                (TensorRole::Velocity, velocity),
            ],
        }
    }

    fn place(&self, role: TensorRole) -> Option<Slice<'a>> {
        self.places
            .iter()
            .find(|(r, _)| *r == role)
            .map(|(_, s)| *s)
    }
}

/// Reads the tensors of `role` among `slots`. Blocks.
pub(crate) async fn read(
    ctx: &Context,
    slots: &[Slot<'_>],
    role: TensorRole,
) -> Result<Vec<NamedTensor>> {
    let mut out = Vec::new();
    for slot in slots {
        if let Some(s) = slot.place(role) {
            let all: Vec<f32> = ctx.read_buffer_async(s.buffer).await?;
            let data = all[s.offset as usize..(s.offset + s.len) as usize].to_vec();
            out.push(NamedTensor {
                name: slot.name.clone(),
                shape: slot.shape.clone(),
                data,
            });
        }
    }
    Ok(out)
}

/// Writes `tensors` into the slots of `role`; every such slot must be given exactly once, with
/// its shape. Nothing is written unless all match.
pub(crate) fn write(
    ctx: &Context,
    slots: &[Slot<'_>],
    role: TensorRole,
    tensors: &[NamedTensor],
) -> Result<()> {
    let mut writes = Vec::new();
    for slot in slots {
        let Some(place) = slot.place(role) else {
            continue;
        };
        let found = tensors
            .iter()
            .find(|t| t.name == slot.name)
            .ok_or_else(|| {
                Error::invalid(
                    "tensors",
                    format!("{:?} tensor `{}` is missing", role, slot.name),
                )
            })?;
        if found.shape != slot.shape || found.data.len() != place.len as usize {
            return Err(Error::invalid(
                "tensors",
                format!(
                    "{:?} tensor `{}` has shape {:?} ({} values); the model needs {:?}",
                    role,
                    slot.name,
                    found.shape,
                    found.data.len(),
                    slot.shape
                ),
            ));
        }
        writes.push((place, &found.data));
    }
    if let Some(extra) = tensors.iter().find(|t| {
        !slots
            .iter()
            .any(|s| s.name == t.name && s.place(role).is_some())
    }) {
        return Err(Error::invalid(
            "tensors",
            format!(
                "{:?} tensor `{}` is not part of this model",
                role, extra.name
            ),
        ));
    }
    for (place, data) in writes {
        ctx.queue().write_buffer(
            place.buffer,
            place.offset as u64 * 4,
            bytemuck::cast_slice(data),
        );
    }
    Ok(())
}
