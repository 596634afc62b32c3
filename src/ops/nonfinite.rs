//! `nonfinite_count`: NaN/Inf detection on the GPU, inside the step that produced them.

use crate::error::{Error, Result};
use crate::gpu::Context;
use crate::gpu::kernel::{BindType, Dispatch, KernelDef, Recording, View, grid_1d, wgsl};
use crate::ops::check_buffer;

use crate::abi::flat_per_lane;
pub use crate::abi::{NONFINITE_TENSORS, NONFINITE_UNSEGMENTED, NonFiniteParams};

/// The kernel declaration of `shaders/nonfinite_count.wgsl`, one f32 per element.
pub static NONFINITE_COUNT: KernelDef = KernelDef {
    name: "nonfinite_count",
    sources: &SOURCES[0],
    workgroup_size: [256, 1, 1],
    bindings: &[
        ("params", BindType::Uniform),
        ("x0", BindType::ReadOnly),
        ("x1", BindType::ReadOnly),
        ("x2", BindType::ReadOnly),
        ("x3", BindType::ReadOnly),
        ("ends", BindType::ReadOnly),
        ("health", BindType::ReadWrite),
    ],
    params_size: std::mem::size_of::<NonFiniteParams>(),
    uniform_params: true,
};

/// `nonfinite_count` on vec4 elements, where every tensor's binding can be whole vec4s (what
/// [`nonfinite_count`] runs then): the same counts.
pub static NONFINITE_COUNT_VEC4: KernelDef =
    NONFINITE_COUNT.variant("nonfinite_count_vec4", &SOURCES[1]);

static SOURCES: [[&str; 3]; 2] = [
    sources(
        "alias Elem = f32;\nconst ELEM_VALUES: u32 = 1u;\n\
         fn value_of(v: Elem, c: u32) -> f32 { return v; }\n",
    ),
    sources(
        "alias Elem = vec4<f32>;\nconst ELEM_VALUES: u32 = 4u;\n\
         fn value_of(v: Elem, c: u32) -> f32 { return v[c]; }\n",
    ),
];

const fn sources(elem: &'static str) -> [&'static str; 3] {
    [
        wgsl::COMMON,
        elem,
        include_str!("../../shaders/nonfinite_count.wgsl"),
    ]
}

/// One tensor [`nonfinite_count`] checks: its first `n` values, counted into health slot `slot`.
#[derive(Clone, Copy, Debug)]
pub struct Checked<'a> {
    /// The f32 tensor.
    pub x: View<'a>,
    /// Values to check.
    pub n: u32,
    /// Its slot in the health record (above 0: slot 0 is the total); with `ends`, the first
    /// segment's.
    pub slot: u32,
    /// Empty, or the tensor split into segments counted into slots `slot`, `slot + 1`, …: where
    /// each ends (exclusive, ascending, the last `n`).
    pub ends: &'a [u32],
}

/// Records `health[t.slot] += #non-finite(t.x[..t.n])` for each of `tensors` (for a segmented
/// one, into its segments' slots) and the same into `health[0]`, up to [`NONFINITE_TENSORS`]
/// per dispatch, at most one of them segmented; in [`NONFINITE_COUNT_VEC4`] where the tensors'
/// buffers allow.
pub fn nonfinite_count(
    ctx: &Context,
    rec: &mut Recording,
    tensors: &[Checked<'_>],
    health: &wgpu::Buffer,
) -> Result<()> {
    const OP: &str = "nonfinite_count";
    if tensors.is_empty() {
        return Err(Error::invalid(OP, "no tensor to check"));
    }
    let mut groups: Vec<Vec<&Checked>> = Vec::new();
    for t in tensors {
        let segmented = |g: &Vec<&Checked>| g.iter().any(|u| !u.ends.is_empty());
        match groups.last_mut() {
            Some(g) if g.len() < NONFINITE_TENSORS && (t.ends.is_empty() || !segmented(g)) => {
                g.push(t)
            }
            _ => groups.push(vec![t]),
        }
    }
    for group in groups {
        let mut params = NonFiniteParams::empty(flat_per_lane(ctx.spread()));
        let mut bufs = [View::from(ctx.unused_binding(0)); NONFINITE_TENSORS];
        let mut ends = None;
        for (i, t) in group.iter().enumerate() {
            if t.n == 0 || t.slot == 0 {
                return Err(Error::invalid(
                    OP,
                    "needs elements and a slot above 0 (0 is the total)",
                ));
            }
            let slots = t.ends.len().max(1) as u64;
            check_buffer(OP, "x", t.x, t.n as u64 * 4)?;
            check_buffer(OP, "health", health, (t.slot as u64 + slots) * 4)?;
            if !t.ends.is_empty() {
                let ascending = t.ends.windows(2).all(|w| w[0] < w[1]);
                if !ascending || t.ends.last() != Some(&t.n) {
                    return Err(Error::invalid(
                        OP,
                        format!(
                            "segment ends must ascend to n = {} (got {} ending at {:?})",
                            t.n,
                            t.ends.len(),
                            t.ends.last()
                        ),
                    ));
                }
                params.segmented = i as u32;
                params.segments = t.ends.len() as u32;
                ends = Some(ctx.upload("nonfinite.ends", t.ends));
            }
            (params.n[i], params.slot[i], bufs[i]) = (t.n, t.slot, t.x);
        }
        let vec4s: Option<Vec<View>> = bufs[..group.len()]
            .iter()
            .map(|v| v.grown_to_vec4s())
            .collect();
        let (kernel, values) = match vec4s {
            Some(views) => {
                bufs[..group.len()].copy_from_slice(&views);
                (&NONFINITE_COUNT_VEC4, 4)
            }
            None => (&NONFINITE_COUNT, 1),
        };
        let most = params.n.iter().max().copied().unwrap_or(0).div_ceil(values);
        rec.push(Dispatch::new(
            kernel,
            &params,
            &[
                bufs[0],
                bufs[1],
                bufs[2],
                bufs[3],
                ends.as_ref().unwrap_or(ctx.unused_binding(0)).into(),
                health.into(),
            ],
            grid_1d(most.div_ceil(params.per_lane) as u64, 256),
        ));
    }
    Ok(())
}

/// This family's kernels, for [`ALL_KERNELS`](crate::ops::ALL_KERNELS).
pub(crate) const KERNELS: &[&KernelDef] = &[&NONFINITE_COUNT, &NONFINITE_COUNT_VEC4];
