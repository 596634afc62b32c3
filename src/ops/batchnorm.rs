//! BatchNorm2d over NHWC activations viewed as rows `[m, c]` (channels last), all FP32:
//! training forward (batch statistics from [`channel_stats`](super::channel_stats()), running
//! statistics updated), evaluation forward (running statistics), and backward.

use crate::error::{Error, Result};
use crate::gpu::Context;
use crate::gpu::kernel::{BindType, Dispatch, KernelDef, Recording, View, grid_1d, wgsl};
use crate::ops::{ChannelAxis, ChannelStat, Layout, check_buffer};

pub use crate::abi::{BATCHNORM_RECTIFY, BatchNormConfig, BatchNormParams};

const SOURCES_FWD: &[&str] = &[
    wgsl::COMMON,
    wgsl::BATCHNORM_COMMON,
    include_str!("../../shaders/batchnorm.wgsl"),
];

/// The kernel declaration of `shaders/batchnorm.wgsl`.
pub static BATCHNORM: KernelDef = KernelDef {
    name: "batchnorm",
    sources: SOURCES_FWD,
    workgroup_size: [256, 1, 1],
    bindings: &[
        ("params", BindType::Uniform),
        ("x", BindType::ReadOnly),
        ("stats", BindType::ReadOnly),
        ("affine", BindType::ReadOnly),
        ("running", BindType::ReadWrite),
        ("xhat", BindType::ReadWrite),
        ("out", BindType::ReadWrite),
    ],
    params_size: std::mem::size_of::<BatchNormParams>(),
    uniform_params: true,
};

/// The kernel declaration of `shaders/batchnorm_grad_prep.wgsl`.
pub static BATCHNORM_GRAD_PREP: KernelDef = KernelDef {
    name: "batchnorm_grad_prep",
    sources: &[
        wgsl::COMMON,
        wgsl::BATCHNORM_COMMON,
        include_str!("../../shaders/batchnorm_grad_prep.wgsl"),
    ],
    workgroup_size: [256, 1, 1],
    bindings: &[
        ("params", BindType::Uniform),
        ("dy", BindType::ReadOnly),
        ("xhat", BindType::ReadOnly),
        ("out", BindType::ReadWrite),
    ],
    params_size: std::mem::size_of::<BatchNormParams>(),
    uniform_params: true,
};

/// The kernel declaration of `shaders/batchnorm_backward.wgsl`.
pub static BATCHNORM_BACKWARD: KernelDef = KernelDef {
    name: "batchnorm_backward",
    sources: &[
        wgsl::COMMON,
        wgsl::BATCHNORM_COMMON,
        include_str!("../../shaders/batchnorm_backward.wgsl"),
    ],
    workgroup_size: [256, 1, 1],
    bindings: &[
        ("params", BindType::Uniform),
        ("dy", BindType::ReadOnly),
        ("xhat", BindType::ReadOnly),
        ("stats", BindType::ReadOnly),
        ("affine", BindType::ReadOnly),
        ("sums", BindType::ReadOnly),
        ("dx", BindType::ReadWrite),
    ],
    params_size: std::mem::size_of::<BatchNormParams>(),
    uniform_params: true,
};

/// The buffers of a BatchNorm2d layer.
#[derive(Clone, Copy, Debug)]
pub struct BatchNormBuffers<'a> {
    /// `channels` [`ChannelStat`] of the batch (written by the training forward).
    pub stats: &'a wgpu::Buffer,
    /// γ then β, `2 × channels` f32.
    pub affine: View<'a>,
    /// Running mean then running variance, `2 × channels` f32 (start: 0 and 1).
    pub running: &'a wgpu::Buffer,
    /// `rows × channels` f32, the normalized input saved for the backward.
    pub xhat: &'a wgpu::Buffer,
}

fn check(op: &'static str, rows: u32, channels: u32, bufs: &BatchNormBuffers<'_>) -> Result<()> {
    let cells = rows as u64 * channels as u64;
    if cells == 0 || cells > u32::MAX as u64 / 2 {
        return Err(Error::invalid(
            op,
            format!("unusable shape {rows} x {channels}"),
        ));
    }
    let c = channels as u64;
    check_buffer(op, "stats", bufs.stats, c * size_of::<ChannelStat>() as u64)?;
    check_buffer(op, "affine", bufs.affine, 2 * c * 4)?;
    check_buffer(op, "running", bufs.running, 2 * c * 4)?;
    check_buffer(op, "xhat", bufs.xhat, cells * 4)
}

/// Records the forward of `x` into `out` (`rows × channels` f32 each); in training, the batch
/// statistics first. With `rectify`, `out` is the output of the ReLU after the batch norm
/// (NaN passes, −0 becomes +0, as [`crate::ops::relu()`] does), which then needs no pass of its
/// own.
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_forward(
    ctx: &Context,
    rec: &mut Recording,
    (rows, channels): (u32, u32),
    train: bool,
    cfg: BatchNormConfig,
    x: &wgpu::Buffer,
    bufs: BatchNormBuffers<'_>,
    (out, rectify): (&wgpu::Buffer, bool),
) -> Result<()> {
    const OP: &str = "batchnorm";
    check(OP, rows, channels, &bufs)?;
    let cells = rows as u64 * channels as u64;
    check_buffer(OP, "x", x, cells * 4)?;
    check_buffer(OP, "out", out, cells * 4)?;
    if train {
        let layout = Layout::new(rows, channels, ChannelAxis::Cols);
        super::channel_stats(ctx, rec, &layout, x, bufs.stats, None)?;
    }
    let params = BatchNormParams {
        flags: if rectify { BATCHNORM_RECTIFY } else { 0 },
        ..BatchNormParams::new(rows, channels, train, cfg)
    };
    let b = [
        x.into(),
        bufs.stats.into(),
        bufs.affine,
        bufs.running.into(),
        bufs.xhat.into(),
        out.into(),
    ];
    rec.push(Dispatch::new(&BATCHNORM, &params, &b, grid_1d(cells, 256)));
    Ok(())
}

/// Bytes of the scratch [`batchnorm_backward`] needs: `rows × 2·channels` f32.
pub fn batchnorm_scratch_bytes(rows: u32, channels: u32) -> u64 {
    2 * rows as u64 * channels as u64 * 4
}

/// Records the backward: `sums` receives `[dγ | dβ]` (the parameter gradients, `2 × channels`
/// f32) and `dx` the input gradient. `scratch`: [`batchnorm_scratch_bytes`], free again when
/// the backward is done.
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_backward(
    ctx: &Context,
    rec: &mut Recording,
    (rows, channels): (u32, u32),
    cfg: BatchNormConfig,
    dy: &wgpu::Buffer,
    bufs: BatchNormBuffers<'_>,
    scratch: &wgpu::Buffer,
    (sums, dx): (View<'_>, &wgpu::Buffer),
) -> Result<()> {
    const OP: &str = "batchnorm_backward";
    check(OP, rows, channels, &bufs)?;
    let cells = rows as u64 * channels as u64;
    check_buffer(OP, "dy", dy, cells * 4)?;
    check_buffer(OP, "dx", dx, cells * 4)?;
    check_buffer(
        OP,
        "scratch",
        scratch,
        batchnorm_scratch_bytes(rows, channels),
    )?;
    let params = BatchNormParams::new(rows, channels, true, cfg);
    let grid = grid_1d(cells, 256);
    rec.push(Dispatch::new(
        &BATCHNORM_GRAD_PREP,
        &params,
        &[dy, bufs.xhat, scratch],
        grid,
    ));
    super::column_sum::column_sum(ctx, rec, (rows, 2 * channels), scratch, (sums, 0), None)?;
    let b = [
        dy.into(),
        bufs.xhat.into(),
        bufs.stats.into(),
        bufs.affine,
        sums,
        dx.into(),
    ];
    rec.push(Dispatch::new(&BATCHNORM_BACKWARD, &params, &b, grid));
    Ok(())
}

/// This family's kernels, for [`ALL_KERNELS`](crate::ops::ALL_KERNELS).
pub(crate) const KERNELS: &[&KernelDef] = &[&BATCHNORM, &BATCHNORM_GRAD_PREP, &BATCHNORM_BACKWARD];
