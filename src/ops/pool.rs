//! `global_avg_pool` (forward and backward) and `add`: the FP32 pieces of residual networks.

use crate::error::{Error, Result};
use crate::gpu::Context;
use crate::gpu::kernel::{BindType, Dispatch, KernelDef, Recording, grid_1d, wgsl};
use crate::ops::check_buffer;

pub use crate::abi::{ADD_RECTIFY, ElementwiseParams, GapParams};

/// The kernel declaration of `shaders/global_avg_pool.wgsl`.
pub static GLOBAL_AVG_POOL: KernelDef = KernelDef {
    name: "global_avg_pool",
    sources: &[include_str!("../../shaders/global_avg_pool.wgsl")],
    workgroup_size: [256, 1, 1],
    bindings: &[
        ("params", BindType::Uniform),
        ("x", BindType::ReadOnly),
        ("dy", BindType::ReadOnly),
        ("out", BindType::ReadWrite),
    ],
    params_size: std::mem::size_of::<GapParams>(),
    uniform_params: true,
};

/// The kernel declaration of `shaders/add.wgsl`.
pub static ADD: KernelDef = KernelDef {
    name: "add",
    sources: &[wgsl::COMMON, include_str!("../../shaders/add.wgsl")],
    workgroup_size: [256, 1, 1],
    bindings: &[
        ("params", BindType::Uniform),
        ("a", BindType::ReadOnly),
        ("b", BindType::ReadOnly),
        ("out", BindType::ReadWrite),
    ],
    params_size: std::mem::size_of::<ElementwiseParams>(),
    uniform_params: true,
};

/// Records the forward (`dy` = `None`: `out[n, c]` = mean of `x[n, ·, ·, c]`) or the backward
/// (`out[n, p, c] = dy[n, c] / hw`) of global average pooling over NHWC `[n, hw, c]`.
pub fn global_avg_pool(
    ctx: &Context,
    rec: &mut Recording,
    (n, hw, c): (u32, u32, u32),
    x: &wgpu::Buffer,
    dy: Option<&wgpu::Buffer>,
    out: &wgpu::Buffer,
) -> Result<()> {
    const OP: &str = "global_avg_pool";
    let (small, big) = (n as u64 * c as u64, n as u64 * hw as u64 * c as u64);
    if small == 0 || hw == 0 || big > u32::MAX as u64 {
        return Err(Error::invalid(
            OP,
            format!("unusable shape n={n} hw={hw} c={c}"),
        ));
    }
    check_buffer(OP, "x", x, big * 4)?;
    if let Some(d) = dy {
        check_buffer(OP, "dy", d, small * 4)?;
    }
    let out_len = if dy.is_some() { big } else { small };
    check_buffer(OP, "out", out, out_len * 4)?;
    let params = GapParams {
        n,
        hw,
        c,
        backward: dy.is_some() as u32,
    };
    let dy = dy.unwrap_or(ctx.unused_binding(0));
    let grid = grid_1d(out_len, 256);
    rec.push(Dispatch::new(
        &GLOBAL_AVG_POOL,
        &params,
        &[x, dy, out],
        grid,
    ));
    Ok(())
}

/// Records `out = a + b` over `n` f32; with `rectify`, `out = relu(a + b)` (as
/// [`crate::ops::relu()`] computes it).
pub fn add(
    rec: &mut Recording,
    n: u32,
    a: &wgpu::Buffer,
    b: &wgpu::Buffer,
    (out, rectify): (&wgpu::Buffer, bool),
) -> Result<()> {
    const OP: &str = "add";
    if n == 0 {
        return Err(Error::invalid(OP, "no elements"));
    }
    for (name, buf) in [("a", a), ("b", b), ("out", out)] {
        check_buffer(OP, name, buf, n as u64 * 4)?;
    }
    let params = ElementwiseParams {
        n,
        flags: if rectify { ADD_RECTIFY } else { 0 },
        _pad: [0; 2],
    };
    rec.push(Dispatch::new(
        &ADD,
        &params,
        &[a, b, out],
        grid_1d(n as u64, 256),
    ));
    Ok(())
}

/// This family's kernels, for [`ALL_KERNELS`](crate::ops::ALL_KERNELS).
pub(crate) const KERNELS: &[&KernelDef] = &[&GLOBAL_AVG_POOL, &ADD];
