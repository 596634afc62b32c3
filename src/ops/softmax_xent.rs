//! `softmax_xent`: softmax cross-entropy loss, its gradient and the correct-prediction count, in
//! FP32, per row of logits.

use crate::error::{Error, Result};
use crate::gpu::kernel::{BindType, Dispatch, KernelDef, Recording, grid_1d};
use crate::ops::check_buffer;

pub use crate::abi::XentParams;

/// The kernel declaration of `shaders/softmax_xent.wgsl`.
pub static SOFTMAX_XENT: KernelDef = KernelDef {
    name: "softmax_xent",
    sources: &[include_str!("../../shaders/softmax_xent.wgsl")],
    workgroup_size: [256, 1, 1],
    bindings: &[
        ("params", BindType::Uniform),
        ("logits", BindType::ReadOnly),
        ("labels", BindType::ReadOnly),
        ("dlogits", BindType::ReadWrite),
        ("row_loss", BindType::ReadWrite),
        ("correct", BindType::ReadWrite),
    ],
    params_size: std::mem::size_of::<XentParams>(),
    uniform_params: true,
};

/// The buffers of one [`softmax_xent`].
#[derive(Clone, Copy, Debug)]
pub struct XentBuffers<'a> {
    /// `batch × classes` f32.
    pub logits: &'a wgpu::Buffer,
    /// `batch` u32 labels, each below `classes`.
    pub labels: &'a wgpu::Buffer,
    /// Out: `batch × classes` f32, the gradient of the mean loss.
    pub dlogits: &'a wgpu::Buffer,
    /// Out: `batch` f32 losses.
    pub row_loss: &'a wgpu::Buffer,
    /// Out: `batch` u32, 1 where the first argmax equals the label.
    pub correct: &'a wgpu::Buffer,
}

/// Records the loss and gradient of `batch` rows of `classes` logits.
pub fn softmax_xent(
    rec: &mut Recording,
    batch: u32,
    classes: u32,
    bufs: XentBuffers<'_>,
) -> Result<()> {
    const OP: &str = "softmax_xent";
    if batch == 0 || classes == 0 {
        return Err(Error::invalid(
            OP,
            format!("{batch} rows of {classes} classes"),
        ));
    }
    let cells = batch as u64 * classes as u64;
    check_buffer(OP, "logits", bufs.logits, cells * 4)?;
    check_buffer(OP, "labels", bufs.labels, batch as u64 * 4)?;
    check_buffer(OP, "dlogits", bufs.dlogits, cells * 4)?;
    check_buffer(OP, "row_loss", bufs.row_loss, batch as u64 * 4)?;
    check_buffer(OP, "correct", bufs.correct, batch as u64 * 4)?;
    let params = XentParams {
        batch,
        classes,
        _pad: [0; 2],
    };
    let b = [
        bufs.logits,
        bufs.labels,
        bufs.dlogits,
        bufs.row_loss,
        bufs.correct,
    ];
    rec.push(Dispatch::new(
        &SOFTMAX_XENT,
        &params,
        &b,
        grid_1d(batch as u64, 256),
    ));
    Ok(())
}

/// This family's kernels, for [`ALL_KERNELS`](crate::ops::ALL_KERNELS).
pub(crate) const KERNELS: &[&KernelDef] = &[&SOFTMAX_XENT];
