//! `maxpool`: k×k max pooling with stride k over NHWC activations, forward and backward.

use crate::error::{Error, Result};
use crate::gpu::Context;
use crate::gpu::kernel::{BindType, Dispatch, KernelDef, Recording, grid_1d, wgsl};
use crate::ops::check_buffer;

/// The kernel declaration of `shaders/maxpool.wgsl`.
pub static MAXPOOL: KernelDef = KernelDef {
    name: "maxpool",
    sources: &[wgsl::MAXPOOL],
    workgroup_size: [256, 1, 1],
    bindings: &[
        ("params", BindType::Uniform),
        ("x", BindType::ReadOnly),
        ("dy", BindType::ReadOnly),
        ("argmax", BindType::ReadWrite),
        ("out", BindType::ReadWrite),
    ],
    params_size: std::mem::size_of::<PoolParams>(),
};

/// Pooling geometry over NHWC input `[n, h, w, c]` with a `k × k` window and stride `k`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PoolGeometry {
    /// Batch.
    pub n: u32,
    /// Input height.
    pub h: u32,
    /// Input width.
    pub w: u32,
    /// Channels.
    pub c: u32,
    /// Window and stride.
    pub k: u32,
}

impl PoolGeometry {
    /// Output height `h / k` (floor).
    pub fn oh(&self) -> u32 {
        self.h / self.k
    }

    /// Output width `w / k` (floor).
    pub fn ow(&self) -> u32 {
        self.w / self.k
    }

    /// Elements of the input.
    pub fn input_len(&self) -> u64 {
        self.n as u64 * self.h as u64 * self.w as u64 * self.c as u64
    }

    /// Elements of the output.
    pub fn output_len(&self) -> u64 {
        self.n as u64 * self.oh() as u64 * self.ow() as u64 * self.c as u64
    }

    /// Bytes of the window positions the forward keeps for the backward: one per output element,
    /// in whole words.
    pub fn argmax_bytes(&self) -> u64 {
        self.output_len().div_ceil(4) * 4
    }
}

/// `PoolParams` of `shaders/maxpool.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct PoolParams {
    /// n, h, w, c, k, oh, ow, mode (bit 0 backward, bit 1 after a ReLU).
    pub v: [u32; 8],
}

/// The `argmax` byte of a window that routes no gradient: one whose maximum is not positive, in
/// a forward after a ReLU.
pub const NO_WINNER: u32 = 255;

/// Largest window: its `k²` positions and [`NO_WINNER`] fit a byte.
pub const MAX_WINDOW: u32 = 15;

/// Which direction a [`maxpool`] dispatch runs.
#[derive(Clone, Copy, Debug)]
pub enum PoolPass<'a> {
    /// `out` = pooled values, `argmax` = where each lies in its window (`ky·k + kx`, a byte per
    /// window). `after_relu`: the input is a ReLU's output whose backward this pooling does:
    /// windows whose maximum is not positive (0, or NaN) get [`NO_WINNER`], so the backward
    /// gives their inputs the zeros the ReLU's backward would have.
    Forward {
        /// The input is the output of a ReLU layer whose backward is left to this pooling.
        after_relu: bool,
    },
    /// `out` = gradient of the input, from `dy` and the forward's `argmax`.
    Backward {
        /// The gradient of the pooled output.
        dy: &'a wgpu::Buffer,
    },
}

/// Records one direction of max-pooling.
pub fn maxpool(
    ctx: &Context,
    rec: &mut Recording,
    g: &PoolGeometry,
    x: &wgpu::Buffer,
    pass: PoolPass<'_>,
    argmax: &wgpu::Buffer,
    out: &wgpu::Buffer,
) -> Result<()> {
    const OP: &str = "maxpool";
    if [g.n, g.c, g.k].contains(&0) || g.oh() == 0 || g.ow() == 0 {
        return Err(Error::invalid(OP, format!("{g:?} has no output")));
    }
    if g.k > MAX_WINDOW {
        return Err(Error::invalid(
            OP,
            format!(
                "a {0}x{0} window is larger than {MAX_WINDOW}x{MAX_WINDOW}",
                g.k
            ),
        ));
    }
    if g.input_len() > u32::MAX as u64 {
        return Err(Error::invalid(
            OP,
            "more than 2^32 elements; use a smaller batch",
        ));
    }
    check_buffer(OP, "x", x, g.input_len() * 4)?;
    check_buffer(OP, "argmax", argmax, g.argmax_bytes())?;
    let (dy, mode) = match pass {
        PoolPass::Forward { after_relu } => (None, (after_relu as u32) << 1),
        PoolPass::Backward { dy } => (Some(dy), 1),
    };
    let backward = dy.is_some();
    if let Some(d) = dy {
        check_buffer(OP, "dy", d, g.output_len() * 4)?;
    }
    let out_len = if backward {
        g.input_len()
    } else {
        g.output_len()
    };
    check_buffer(OP, "out", out, out_len * 4)?;
    let params = PoolParams {
        v: [g.n, g.h, g.w, g.c, g.k, g.oh(), g.ow(), mode],
    };
    let dy = dy.unwrap_or(ctx.unused_binding(0));
    // Forward: one invocation per four windows (a word of positions); backward: per window.
    let lanes = if backward {
        g.output_len()
    } else {
        g.output_len().div_ceil(4)
    };
    rec.push(Dispatch::new(
        &MAXPOOL,
        &params,
        &[x, dy, argmax, out],
        grid_1d(lanes, 256),
    ));
    Ok(())
}
