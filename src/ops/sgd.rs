//! `sgd`: SGD with momentum, weight decay and optional Nesterov on FP32 master weights, with an
//! optional learning-rate factor read from the GPU (UI8's per-layer φ from
//! [`clip_select`](super::clip_select())'s summary).

use crate::error::{Error, Result};
use crate::gpu::Context;
use crate::gpu::kernel::{BindType, Dispatch, KernelDef, Recording, View, grid_1d, wgsl};
use crate::ops::check_buffer;

use crate::abi::flat_per_lane;
pub use crate::abi::{GUARD, LrScale, SgdParams, SgdStep};

/// The kernel declaration of `shaders/sgd.wgsl`, one f32 per element.
pub static SGD: KernelDef = KernelDef {
    name: "sgd",
    sources: &SGD_SOURCES[0],
    workgroup_size: [256, 1, 1],
    bindings: &[
        ("params", BindType::Uniform),
        ("grad", BindType::ReadOnly),
        ("lr_scale", BindType::ReadOnly),
        ("weights", BindType::ReadWrite),
        ("velocity", BindType::ReadWrite),
        ("health", BindType::ReadOnly),
    ],
    params_size: std::mem::size_of::<SgdParams>(),
    uniform_params: true,
};

/// `sgd` on vec4 elements, for `n` a multiple of 4 (what [`sgd`] runs then): the same arithmetic
/// per value.
pub static SGD_VEC4: KernelDef = SGD.variant("sgd_vec4", &SGD_SOURCES[1]);

static SGD_SOURCES: [[&str; 3]; 2] = [
    sgd_sources("alias Elem = f32;\nconst ELEM_VALUES: u32 = 1u;\n"),
    sgd_sources("alias Elem = vec4<f32>;\nconst ELEM_VALUES: u32 = 4u;\n"),
];

const fn sgd_sources(elem: &'static str) -> [&'static str; 3] {
    [wgsl::COMMON, elem, include_str!("../../shaders/sgd.wgsl")]
}

/// The buffers of one [`sgd`] step.
#[derive(Clone, Copy, Debug)]
pub struct SgdBuffers<'a> {
    /// `n` f32 gradients.
    pub grad: View<'a>,
    /// `n` f32 master weights, updated in place.
    pub weights: View<'a>,
    /// `n` f32 momentum buffer, zero before the first step.
    pub velocity: View<'a>,
    /// Optional learning-rate factor: the buffer it is read from (e.g. a table of
    /// [`ClipSummary`](super::ClipSummary)) and how.
    pub lr_scale: Option<(&'a wgpu::Buffer, LrScale)>,
    /// Optional health record ([`nonfinite_count`](super::nonfinite::nonfinite_count())): the
    /// update is skipped when its word 0 is not zero.
    pub guard: Option<&'a wgpu::Buffer>,
}

/// The kernel [`sgd`] runs for `n` parameters and the parameters in each of its elements:
/// [`SGD_VEC4`] when `n` is a multiple of 4.
pub fn kernel_for(n: u32) -> (&'static KernelDef, u32) {
    match n % 4 {
        0 => (&SGD_VEC4, 4),
        _ => (&SGD, 1),
    }
}

/// Records one step over `n` parameters (in [`SGD_VEC4`] when `n` is a multiple of 4).
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
    let (buffer, scale) = match bufs.lr_scale {
        Some((b, scale)) => {
            let words = match scale {
                LrScale::Word(i) => i as u64 + 1,
                LrScale::MeanDistance { layers, .. } | LrScale::MinPhi { layers } => {
                    if layers == 0 {
                        return Err(Error::invalid(OP, "a global factor needs a table entry"));
                    }
                    layers as u64 * 8
                }
            };
            check_buffer(OP, "lr_scale", b, words * 4)?;
            (b, Some(scale))
        }
        None => (ctx.unused_binding(0), None),
    };
    let mut params = SgdParams::new(n, step, scale, flat_per_lane(ctx.spread()));
    let health = match bufs.guard {
        Some(h) => {
            check_buffer(OP, "health", h, 4)?;
            params.flags |= GUARD;
            h
        }
        None => ctx.unused_binding(0),
    };
    let b = [
        bufs.grad,
        buffer.into(),
        bufs.weights,
        bufs.velocity,
        health.into(),
    ];
    let (kernel, values) = kernel_for(n);
    let lanes = (n / values).div_ceil(params.per_lane);
    rec.push(Dispatch::new(
        kernel,
        &params,
        &b,
        grid_1d(lanes as u64, 256),
    ));
    Ok(())
}

/// This family's kernels, for [`ALL_KERNELS`](crate::ops::ALL_KERNELS).
pub(crate) const KERNELS: &[&KernelDef] = &[&SGD, &SGD_VEC4];
