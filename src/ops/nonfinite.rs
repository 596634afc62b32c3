//! `nonfinite_count`: NaN/Inf detection on the GPU, inside the step that produced them.

use crate::error::{Error, Result};
use crate::gpu::kernel::{BindType, Dispatch, KernelDef, Recording, grid_1d, wgsl};
use crate::ops::check_buffer;

pub use crate::abi::{NONFINITE_PER_LANE, NonFiniteParams};

/// The kernel declaration of `shaders/nonfinite_count.wgsl`.
pub static NONFINITE_COUNT: KernelDef = KernelDef {
    name: "nonfinite_count",
    sources: &[
        wgsl::COMMON,
        include_str!("../../shaders/nonfinite_count.wgsl"),
    ],
    workgroup_size: [256, 1, 1],
    bindings: &[
        ("params", BindType::Uniform),
        ("x", BindType::ReadOnly),
        ("health", BindType::ReadWrite),
    ],
    params_size: std::mem::size_of::<NonFiniteParams>(),
    uniform_params: true,
};

/// Records `health[slot] += #non-finite(x[..n])` and the same into `health[0]`.
pub fn nonfinite_count(
    rec: &mut Recording,
    n: u32,
    x: &wgpu::Buffer,
    (health, slot): (&wgpu::Buffer, u32),
) -> Result<()> {
    const OP: &str = "nonfinite_count";
    if n == 0 || slot == 0 {
        return Err(Error::invalid(
            OP,
            "needs elements and a slot above 0 (0 is the total)",
        ));
    }
    check_buffer(OP, "x", x, n as u64 * 4)?;
    check_buffer(OP, "health", health, (slot as u64 + 1) * 4)?;
    let params = NonFiniteParams {
        n,
        slot,
        _pad: [0; 2],
    };
    rec.push(Dispatch::new(
        &NONFINITE_COUNT,
        &params,
        &[x, health],
        grid_1d(n.div_ceil(NONFINITE_PER_LANE) as u64, 256),
    ));
    Ok(())
}

/// This family's kernels, for [`ALL_KERNELS`](crate::ops::ALL_KERNELS).
pub(crate) const KERNELS: &[&KernelDef] = &[&NONFINITE_COUNT];
