//! `dequantize`: packed int8 back to f32, `x = q · scale` with the scales
//! [`quantize`](super::quantize()) wrote. Exact: one correctly rounded multiply per element.

use crate::error::Result;
use crate::gpu::kernel::{BindType, Dispatch, KernelDef, Recording, grid_1d, wgsl};
use crate::ops::{Layout, check_buffer};

pub use crate::abi::DequantizeParams;

/// The kernel declaration of `shaders/dequantize.wgsl`.
pub static DEQUANTIZE: KernelDef = KernelDef {
    name: "dequantize",
    sources: &[wgsl::COMMON, include_str!("../../shaders/dequantize.wgsl")],
    workgroup_size: [256, 1, 1],
    bindings: &[
        ("params", BindType::Uniform),
        ("packed", BindType::ReadOnly),
        ("scales", BindType::ReadOnly),
        ("output", BindType::ReadWrite),
    ],
    params_size: std::mem::size_of::<DequantizeParams>(),
    uniform_params: true,
};

/// Records `output[r, c] = q[r, c] · scales[channel(r, c)]`.
pub fn dequantize(
    rec: &mut Recording,
    layout: &Layout,
    packed: &wgpu::Buffer,
    scales: &wgpu::Buffer,
    output: &wgpu::Buffer,
) -> Result<()> {
    const OP: &str = "dequantize";
    layout.validate(OP)?;
    check_buffer(OP, "packed", packed, layout.packed_words() as u64 * 4)?;
    check_buffer(OP, "scales", scales, layout.channels() as u64 * 4)?;
    check_buffer(OP, "output", output, layout.len() as u64 * 4)?;
    rec.push(Dispatch::new(
        &DEQUANTIZE,
        &DequantizeParams::new(layout),
        &[packed, scales, output],
        grid_1d(layout.packed_words() as u64, 256),
    ));
    Ok(())
}

/// This family's kernels, for [`ALL_KERNELS`](crate::ops::ALL_KERNELS).
pub(crate) const KERNELS: &[&KernelDef] = &[&DEQUANTIZE];
