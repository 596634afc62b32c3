//! The declarations of `shaders/gemm_f32_wide.wgsl` and `shaders/gemm_i8_wide.wgsl`: one kernel
//! per [`WideTile`], the tile's dimensions prepended as constants. Recorded through
//! [`gemm_f32`](super::gemm_f32()) and [`gemm_i8`](super::gemm_i8()) when the autotuner picks
//! [`GemmVariant::Wide`](crate::abi::GemmVariant::Wide).

use crate::abi::{GemmParams, Lanes8Tile, Precision, WideTile};
use crate::gpu::kernel::{KernelDef, wgsl};
use crate::ops::gemm::GEMM_BINDINGS;

/// A wide kernel's constants: the tile (`TM × TN` per workgroup, `RM × RN` per lane) and the
/// workgroup size.
const fn constants(tile: WideTile) -> &'static str {
    match tile {
        WideTile::T128x64 => {
            "const TM: u32 = 128u;\nconst TN: u32 = 64u;\nconst RM: u32 = 16u;\nconst RN: u32 = 8u;\nconst LANES: u32 = 64u;\n"
        }
        WideTile::T64x64 => {
            "const TM: u32 = 64u;\nconst TN: u32 = 64u;\nconst RM: u32 = 8u;\nconst RN: u32 = 8u;\nconst LANES: u32 = 64u;\n"
        }
        WideTile::T128x128 => {
            "const TM: u32 = 128u;\nconst TN: u32 = 128u;\nconst RM: u32 = 8u;\nconst RN: u32 = 8u;\nconst LANES: u32 = 256u;\n"
        }
    }
}

/// A wide or Lanes8 kernel's declaration, `lanes` per workgroup. `uniform_params`: see [`KernelDef::uniform_params`]; the int8
/// kernels take their parameters from storage, since lavapipe reloading one at every dispatch
/// (to specialise it on its uniforms) cost 40 ms of a 10 ms product; the f32 ones reload fast.
const fn wide_kernel(
    name: &'static str,
    lanes: u32,
    sources: &'static [&'static str],
    uniform_params: bool,
) -> KernelDef {
    KernelDef {
        name,
        sources,
        workgroup_size: [lanes, 1, 1],
        bindings: GEMM_BINDINGS,
        params_size: std::mem::size_of::<GemmParams>(),
        uniform_params,
    }
}

const F32: &str = include_str!("../../shaders/gemm_f32_wide.wgsl");
const I8: &str = include_str!("../../shaders/gemm_i8_wide.wgsl");

/// `gemm_f32_wide_<tile>`, in [`WideTile::ALL`]'s order.
pub static GEMM_F32_WIDE: [KernelDef; 3] = [
    wide_kernel(
        "gemm_f32_wide_128x64",
        WideTile::T128x64.lanes(),
        &[
            wgsl::COMMON,
            wgsl::GEMM_COMMON,
            constants(WideTile::T128x64),
            F32,
        ],
        true,
    ),
    wide_kernel(
        "gemm_f32_wide_64x64",
        WideTile::T64x64.lanes(),
        &[
            wgsl::COMMON,
            wgsl::GEMM_COMMON,
            constants(WideTile::T64x64),
            F32,
        ],
        true,
    ),
    wide_kernel(
        "gemm_f32_wide_128x128",
        WideTile::T128x128.lanes(),
        &[
            wgsl::COMMON,
            wgsl::GEMM_COMMON,
            constants(WideTile::T128x128),
            F32,
        ],
        true,
    ),
];

/// `gemm_i8_wide_<tile>`, in [`WideTile::ALL`]'s order.
pub static GEMM_I8_WIDE: [KernelDef; 3] = [
    wide_kernel(
        "gemm_i8_wide_128x64",
        WideTile::T128x64.lanes(),
        &[
            wgsl::COMMON,
            wgsl::GEMM_COMMON,
            wgsl::GEMM_I8_COMMON,
            constants(WideTile::T128x64),
            I8,
        ],
        false,
    ),
    wide_kernel(
        "gemm_i8_wide_64x64",
        WideTile::T64x64.lanes(),
        &[
            wgsl::COMMON,
            wgsl::GEMM_COMMON,
            wgsl::GEMM_I8_COMMON,
            constants(WideTile::T64x64),
            I8,
        ],
        false,
    ),
    wide_kernel(
        "gemm_i8_wide_128x128",
        WideTile::T128x128.lanes(),
        &[
            wgsl::COMMON,
            wgsl::GEMM_COMMON,
            wgsl::GEMM_I8_COMMON,
            constants(WideTile::T128x128),
            I8,
        ],
        false,
    ),
];

/// The `gemm_f32_lanes8` kernels ([`GemmVariant::Lanes8`](crate::abi::GemmVariant::Lanes8)),
/// one per [`Lanes8Tile`] in [`Lanes8Tile::ALL`]'s order: workgroups of subgroups of 8 lanes
/// that share their rows, the tile's rows and lanes prepended as constants.
pub static GEMM_F32_LANES8: [KernelDef; 2] = [
    wide_kernel(
        "gemm_f32_lanes8_128x128",
        Lanes8Tile::T128x128.lanes(),
        &[
            wgsl::COMMON,
            wgsl::GEMM_COMMON,
            "const TM: u32 = 128u;\nconst LANES: u32 = 32u;\n",
            LANES8,
        ],
        true,
    ),
    wide_kernel(
        "gemm_f32_lanes8_64x128",
        Lanes8Tile::T64x128.lanes(),
        &[
            wgsl::COMMON,
            wgsl::GEMM_COMMON,
            "const TM: u32 = 64u;\nconst LANES: u32 = 16u;\n",
            LANES8,
        ],
        true,
    ),
];

const LANES8: &str = include_str!("../../shaders/gemm_f32_lanes8.wgsl");

/// The `gemm_f32_lanes8` kernel of `tile`.
pub fn lanes8_kernel_of(tile: Lanes8Tile) -> &'static KernelDef {
    let i = Lanes8Tile::ALL.iter().position(|t| *t == tile).unwrap_or(0);
    &GEMM_F32_LANES8[i]
}

/// Whether `tile`'s `gemm_f32_lanes8` runs on `ctx`'s device: subgroups of exactly 8 lanes
/// (its broadcasts pass rows within groups of 8), its lanes and its workgroup memory.
pub fn lanes8_fits(ctx: &crate::gpu::Context, tile: Lanes8Tile) -> bool {
    let limits = ctx.device().limits();
    ctx.subgroups_of_8()
        && tile.lanes() <= limits.max_compute_invocations_per_workgroup
        && tile.lanes() <= limits.max_compute_workgroup_size_x
        && tile.workgroup_bytes() <= limits.max_compute_workgroup_storage_size
}

/// The kernel of `tile` on `precision` operands.
pub fn kernel(tile: WideTile, precision: Precision) -> &'static KernelDef {
    let i = WideTile::ALL.iter().position(|t| *t == tile).unwrap_or(0);
    match precision {
        Precision::Fp32 => &GEMM_F32_WIDE[i],
        Precision::Int8 => &GEMM_I8_WIDE[i],
    }
}

/// Whether `tile` runs on a device with `limits`: its lanes and its workgroup memory.
pub fn fits(tile: WideTile, precision: Precision, limits: &wgpu::Limits) -> bool {
    tile.lanes() <= limits.max_compute_invocations_per_workgroup
        && tile.lanes() <= limits.max_compute_workgroup_size_x
        && tile.workgroup_bytes(precision) <= limits.max_compute_workgroup_storage_size
}

/// This family's kernels, for [`ALL_KERNELS`](crate::ops::ALL_KERNELS).
pub(crate) const KERNELS: &[&KernelDef] = &[
    &GEMM_F32_WIDE[0],
    &GEMM_F32_WIDE[1],
    &GEMM_F32_WIDE[2],
    &GEMM_I8_WIDE[0],
    &GEMM_I8_WIDE[1],
    &GEMM_I8_WIDE[2],
    &GEMM_F32_LANES8[0],
    &GEMM_F32_LANES8[1],
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_tiles_agree() {
        for (i, tile) in WideTile::ALL.into_iter().enumerate() {
            for (defs, precision) in [
                (&GEMM_F32_WIDE, Precision::Fp32),
                (&GEMM_I8_WIDE, Precision::Int8),
            ] {
                let def = &defs[i];
                assert!(def.name.ends_with(tile.suffix()));
                assert!(std::ptr::eq(kernel(tile, precision), def));
                let parsed = crate::abi::GemmVariant::of_kernel(def.name);
                assert_eq!(
                    parsed,
                    Some((crate::abi::GemmVariant::Wide(tile), precision.is_int8()))
                );
            }
        }
    }
}
