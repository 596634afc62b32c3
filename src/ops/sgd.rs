//! `sgd`: SGD with momentum, weight decay and optional Nesterov on FP32 master weights, with an
//! optional learning-rate factor read from the GPU (UI8's per-layer φ from
//! [`clip_select`](super::clip_select())'s summary).

use crate::error::{Error, Result};
use crate::gpu::Context;
use crate::gpu::kernel::{BindType, Dispatch, KernelDef, Recording, grid_1d, wgsl};
use crate::ops::check_buffer;

/// The kernel declaration of `shaders/sgd.wgsl`.
pub static SGD: KernelDef = KernelDef {
    name: "sgd",
    sources: &[wgsl::SGD],
    workgroup_size: [256, 1, 1],
    bindings: &[
        ("params", BindType::Uniform),
        ("grad", BindType::ReadOnly),
        ("lr_scale", BindType::ReadOnly),
        ("weights", BindType::ReadWrite),
        ("velocity", BindType::ReadWrite),
    ],
    params_size: std::mem::size_of::<SgdParams>(),
};

/// Hyperparameters of one SGD step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SgdStep {
    /// Learning rate of this step (the schedule's value).
    pub lr: f32,
    /// Momentum μ.
    pub momentum: f32,
    /// L2 weight decay.
    pub weight_decay: f32,
    /// Nesterov momentum.
    pub nesterov: bool,
}

/// `SgdParams` of `shaders/sgd.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct SgdParams {
    /// Elements.
    pub n: u32,
    /// Bit 0 Nesterov, bit 1 multiply lr by `lr_scale[scale_index]`.
    pub flags: u32,
    /// f32 index of the factor in the `lr_scale` buffer.
    pub scale_index: u32,
    /// Padding.
    pub _pad0: u32,
    /// Learning rate.
    pub lr: f32,
    /// Momentum.
    pub momentum: f32,
    /// Weight decay.
    pub weight_decay: f32,
    /// Padding.
    pub _pad1: u32,
}

impl SgdParams {
    /// Parameters for `n` elements, `step`, and the factor at f32 index `scale_index` if any.
    pub fn new(n: u32, step: SgdStep, scale_index: Option<u32>) -> Self {
        SgdParams {
            n,
            flags: step.nesterov as u32 | (scale_index.is_some() as u32) << 1,
            scale_index: scale_index.unwrap_or(0),
            _pad0: 0,
            lr: step.lr,
            momentum: step.momentum,
            weight_decay: step.weight_decay,
            _pad1: 0,
        }
    }
}

/// The buffers of one [`sgd`] step.
#[derive(Clone, Copy, Debug)]
pub struct SgdBuffers<'a> {
    /// `n` f32 gradients.
    pub grad: &'a wgpu::Buffer,
    /// `n` f32 master weights, updated in place.
    pub weights: &'a wgpu::Buffer,
    /// `n` f32 momentum buffer, zero before the first step.
    pub velocity: &'a wgpu::Buffer,
    /// Optional learning-rate factor: `(buffer, f32 index)`, e.g. a [`ClipSummary`]'s φ at
    /// index 2.
    ///
    /// [`ClipSummary`]: super::ClipSummary
    pub lr_scale: Option<(&'a wgpu::Buffer, u32)>,
}

/// Records one step over `n` parameters.
pub fn sgd(
    ctx: &Context,
    rec: &mut Recording,
    n: u32,
    step: SgdStep,
    bufs: SgdBuffers<'_>,
) -> Result<()> {
    const OP: &str = "sgd";
    if n == 0 {
        return Err(Error::invalid(OP, "no parameters"));
    }
    let bytes = n as u64 * 4;
    check_buffer(OP, "grad", bufs.grad, bytes)?;
    check_buffer(OP, "weights", bufs.weights, bytes)?;
    check_buffer(OP, "velocity", bufs.velocity, bytes)?;
    let (scale, index) = match bufs.lr_scale {
        Some((b, i)) => {
            check_buffer(OP, "lr_scale", b, (i as u64 + 1) * 4)?;
            (b, Some(i))
        }
        None => (ctx.unused_binding(0), None),
    };
    let params = SgdParams::new(n, step, index);
    let b = [bufs.grad, scale, bufs.weights, bufs.velocity];
    rec.push(Dispatch::new(&SGD, &params, &b, grid_1d(n as u64, 256)));
    Ok(())
}
