//! `maxpool`: k×k max pooling with stride k over NHWC activations, forward and backward.

use crate::error::{Error, Result};
use crate::gpu::Context;
use crate::gpu::kernel::{BindType, Dispatch, KernelDef, Recording, grid_1d};
use crate::ops::check_buffer;

pub use crate::abi::{
    MAX_WINDOW, NO_WINNER, POOL_AFTER_RELU, POOL_BACKWARD, PoolGeometry, PoolParams,
};

/// The kernel declaration of `shaders/maxpool.wgsl`'s forward.
pub static MAXPOOL: KernelDef = KernelDef {
    name: "maxpool",
    sources: &SOURCES[0],
    workgroup_size: [256, 1, 1],
    bindings: &[
        ("params", BindType::Uniform),
        ("x", BindType::ReadOnly),
        ("dy", BindType::ReadOnly),
        ("argmax", BindType::ReadWrite),
        ("out", BindType::ReadWrite),
    ],
    params_size: std::mem::size_of::<PoolParams>(),
    uniform_params: true,
};

/// The kernel declaration of `shaders/maxpool.wgsl`'s backward.
pub static MAXPOOL_BACKWARD: KernelDef = MAXPOOL.variant("maxpool_backward", &SOURCES[1]);

static SOURCES: [[&str; 2]; 2] = [
    [
        "const BACKWARD_PASS = false;\n",
        include_str!("../../shaders/maxpool.wgsl"),
    ],
    [
        "const BACKWARD_PASS = true;\n",
        include_str!("../../shaders/maxpool.wgsl"),
    ],
];

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
        PoolPass::Forward { after_relu } => (None, if after_relu { POOL_AFTER_RELU } else { 0 }),
        PoolPass::Backward { dy } => (Some(dy), POOL_BACKWARD),
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
        n: g.n,
        h: g.h,
        w: g.w,
        c: g.c,
        k: g.k,
        oh: g.oh(),
        ow: g.ow(),
        mode,
    };
    let dy = dy.unwrap_or(ctx.unused_binding(0));
    // Forward: one invocation per four windows (a word of positions); backward: per window.
    let lanes = if backward {
        g.output_len()
    } else {
        g.output_len().div_ceil(4)
    };
    let kernel = if backward {
        &MAXPOOL_BACKWARD
    } else {
        &MAXPOOL
    };
    rec.push(Dispatch::new(
        kernel,
        &params,
        &[x, dy, argmax, out],
        grid_1d(lanes, 256),
    ));
    Ok(())
}

/// This family's kernels, for [`ALL_KERNELS`](crate::ops::ALL_KERNELS).
pub(crate) const KERNELS: &[&KernelDef] = &[&MAXPOOL, &MAXPOOL_BACKWARD];
