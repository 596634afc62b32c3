//! `relu`: forward and backward of the rectifier, elementwise in FP32.

use crate::error::{Error, Result};
use crate::gpu::Context;
use crate::gpu::kernel::{BindType, Dispatch, KernelDef, Recording, grid_1d, wgsl};
use crate::ops::check_buffer;

/// The kernel declaration of `shaders/relu.wgsl`.
pub static RELU: KernelDef = KernelDef {
    name: "relu",
    sources: &[wgsl::COMMON, wgsl::RELU],
    workgroup_size: [256, 1, 1],
    bindings: &[
        ("params", BindType::Uniform),
        ("x", BindType::ReadOnly),
        ("dy", BindType::ReadOnly),
        ("out", BindType::ReadWrite),
    ],
    params_size: std::mem::size_of::<ReluParams>(),
};

/// `ReluParams` of `shaders/relu.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct ReluParams {
    /// Elements.
    pub n: u32,
    /// 0 forward, 1 backward.
    pub backward: u32,
    /// Padding.
    pub _pad: [u32; 2],
}

/// Records `out = relu(x)` (`dy` = `None`) or the backward `out = x > 0 ? dy : 0`, over `n`
/// f32 elements.
pub fn relu(
    ctx: &Context,
    rec: &mut Recording,
    n: u32,
    x: &wgpu::Buffer,
    dy: Option<&wgpu::Buffer>,
    out: &wgpu::Buffer,
) -> Result<()> {
    const OP: &str = "relu";
    if n == 0 {
        return Err(Error::invalid(OP, "no elements"));
    }
    let bytes = n as u64 * 4;
    check_buffer(OP, "x", x, bytes)?;
    check_buffer(OP, "out", out, bytes)?;
    if let Some(d) = dy {
        check_buffer(OP, "dy", d, bytes)?;
    }
    let params = ReluParams {
        n,
        backward: dy.is_some() as u32,
        _pad: [0; 2],
    };
    let dy = dy.unwrap_or(ctx.unused_binding(0));
    rec.push(Dispatch::new(
        &RELU,
        &params,
        &[x, dy, out],
        grid_1d(n as u64, 256),
    ));
    Ok(())
}
