//! `relu`: forward and backward of the rectifier, elementwise in FP32; the forward can keep a
//! bit per element instead of an f32 tensor for the backward.

use crate::error::{Error, Result};
use crate::gpu::Context;
use crate::gpu::kernel::{BindType, Dispatch, KernelDef, Recording, grid_1d, wgsl};
use crate::ops::check_buffer;

pub use crate::abi::{RELU_BACKWARD, RELU_CAP6, RELU_MASKED, ReluParams};

/// The kernel declaration of `shaders/relu.wgsl`.
pub static RELU: KernelDef = KernelDef {
    name: "relu",
    sources: &[wgsl::COMMON, include_str!("../../shaders/relu.wgsl")],
    workgroup_size: [256, 1, 1],
    bindings: &[
        ("params", BindType::Uniform),
        ("x", BindType::ReadOnly),
        ("dy", BindType::ReadOnly),
        ("mask", BindType::ReadWrite),
        ("out", BindType::ReadWrite),
    ],
    params_size: std::mem::size_of::<ReluParams>(),
    uniform_params: true,
};

/// Bytes of the mask of `n` elements: a bit each, bit `i % 32` of word `i / 32`.
pub fn relu_mask_bytes(n: u32) -> u64 {
    n.div_ceil(32) as u64 * 4
}

/// What a ReLU's backward reads to know which elements were positive.
#[derive(Clone, Copy, Debug)]
pub enum ReluSaved<'a> {
    /// The forward's input or output (f32, `n` elements).
    Values(&'a wgpu::Buffer),
    /// The mask the forward wrote.
    Mask(&'a wgpu::Buffer),
}

/// Which direction a [`relu`] dispatch runs.
#[derive(Clone, Copy, Debug)]
pub enum ReluPass<'a> {
    /// `out = relu(x)`; with `mask`, also its bits (`x > 0`).
    Forward {
        /// The input.
        x: &'a wgpu::Buffer,
        /// Where to write the mask ([`relu_mask_bytes`]).
        mask: Option<&'a wgpu::Buffer>,
    },
    /// `out = positive ? dy : 0`.
    Backward {
        /// The gradient of the output.
        dy: &'a wgpu::Buffer,
        /// Which elements were positive.
        saved: ReluSaved<'a>,
    },
}

/// Records the forward or backward of the rectifier over `n` f32 elements into `out`.
pub fn relu(
    ctx: &Context,
    rec: &mut Recording,
    n: u32,
    pass: ReluPass<'_>,
    out: &wgpu::Buffer,
) -> Result<()> {
    record(ctx, rec, n, pass, 0, out)
}

/// Records the forward or backward of ReLU6, `min(max(x, 0), 6)`, over `n` f32 elements into
/// `out`: as [`relu`], with the gradient passing (and the mask's bit set) where `0 < x < 6`.
pub fn relu6(
    ctx: &Context,
    rec: &mut Recording,
    n: u32,
    pass: ReluPass<'_>,
    out: &wgpu::Buffer,
) -> Result<()> {
    record(ctx, rec, n, pass, RELU_CAP6, out)
}

fn record(
    ctx: &Context,
    rec: &mut Recording,
    n: u32,
    pass: ReluPass<'_>,
    cap: u32,
    out: &wgpu::Buffer,
) -> Result<()> {
    const OP: &str = "relu";
    if n == 0 {
        return Err(Error::invalid(OP, "no elements"));
    }
    let bytes = n as u64 * 4;
    check_buffer(OP, "out", out, bytes)?;
    let (flags, x, dy, mask) = match pass {
        ReluPass::Forward { x, mask } => (mask.is_some() as u32 * RELU_MASKED, Some(x), None, mask),
        ReluPass::Backward { dy, saved } => match saved {
            ReluSaved::Values(x) => (RELU_BACKWARD, Some(x), Some(dy), None),
            ReluSaved::Mask(m) => (RELU_BACKWARD | RELU_MASKED, None, Some(dy), Some(m)),
        },
    };
    if let Some(x) = x {
        check_buffer(OP, "x", x, bytes)?;
    }
    if let Some(d) = dy {
        check_buffer(OP, "dy", d, bytes)?;
    }
    if let Some(m) = mask {
        check_buffer(OP, "mask", m, relu_mask_bytes(n))?;
    }
    let params = ReluParams {
        n,
        flags: flags | cap,
        _pad: [0; 2],
    };
    rec.push(Dispatch::new(
        &RELU,
        &params,
        &[
            x.unwrap_or(ctx.unused_binding(0)),
            dy.unwrap_or(ctx.unused_binding(0)),
            mask.unwrap_or(ctx.unused_binding(1)),
            out,
        ],
        grid_1d(n as u64, 256),
    ));
    Ok(())
}

/// This family's kernels, for [`ALL_KERNELS`](crate::ops::ALL_KERNELS).
pub(crate) const KERNELS: &[&KernelDef] = &[&RELU];
