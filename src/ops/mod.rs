//! GPU ops: one module per kernel family. Each declares its kernels ([`KernelDef`]), checks
//! shapes and buffer sizes, and appends its dispatches to a [`Recording`]. The
//! CPU twin of each kernel lives under [`crate::cpu`] with the same name.

use crate::error::{Error, Result};
use crate::gpu::Context;
use crate::gpu::kernel::{KernelDef, Recording, View};

use crate::abi::Lanes8Tile;
pub use crate::abi::{ChannelAxis, DepthwisePass, Layout, Precision, Rounding};

mod conv_tune;
mod gemm_tune;

pub mod batchnorm;
pub mod channel_stats;
pub mod clip_select;
pub mod column_sum;
pub mod conv;
pub mod conv_gemm;
pub mod depthwise;
pub mod dequantize;
pub mod gather;
pub mod gemm;
pub mod gemm_wide;
pub mod maxpool;
pub mod nonfinite;
pub mod pool;
pub mod quantize;
pub mod relu;
pub mod sgd;
pub mod softmax_xent;

/// Every family's `KERNELS`, gathered into [`ALL_KERNELS`].
const FAMILIES: &[&[&KernelDef]] = &[
    batchnorm::KERNELS,
    channel_stats::KERNELS,
    clip_select::KERNELS,
    column_sum::KERNELS,
    conv::KERNELS,
    conv_gemm::KERNELS,
    depthwise::KERNELS,
    dequantize::KERNELS,
    gather::KERNELS,
    gemm::KERNELS,
    gemm_wide::KERNELS,
    maxpool::KERNELS,
    nonfinite::KERNELS,
    pool::KERNELS,
    quantize::KERNELS,
    relu::KERNELS,
    sgd::KERNELS,
    softmax_xent::KERNELS,
];

const KERNEL_COUNT: usize = {
    let (mut n, mut i) = (0, 0);
    while i < FAMILIES.len() {
        n += FAMILIES[i].len();
        i += 1;
    }
    n
};

/// Every kernel octet ships, for warm-up, translation tests and the conformance tool.
pub static ALL_KERNELS: &[&KernelDef] = &{
    let mut all = [FAMILIES[0][0]; KERNEL_COUNT];
    let (mut k, mut i) = (0, 0);
    while i < FAMILIES.len() {
        let mut j = 0;
        while j < FAMILIES[i].len() {
            all[k] = FAMILIES[i][j];
            k += 1;
            j += 1;
        }
        i += 1;
    }
    all
};

pub use batchnorm::{
    BatchNormBuffers, BatchNormConfig, batchnorm_backward, batchnorm_forward,
    batchnorm_scratch_bytes,
};
pub use channel_stats::{
    Candidates, ChannelStat, MAX_CANDIDATES, StatsPartial, channel_stats, channel_stats_both,
    channel_stats_partials, channel_stats_tail,
};
pub use clip_select::{ClipBuffers, ClipRule, ClipSummary, clip_select};
pub use conv::{ConvGeometry, ConvLowering, col2im, col2im_maxpool, im2col, im2col_i8};
pub use depthwise::depthwise;
pub use dequantize::dequantize;
pub use gather::{DeviceSet, GatherParams, gather_rows};
pub use gemm::{
    Epilogue, GemmBuffers, GemmShape, GemmVariant, MAX_K_CHUNK, Scale, gemm_f32, gemm_i8,
};
pub use maxpool::{PoolGeometry, PoolPass, maxpool};
pub use pool::{add, global_avg_pool};
pub use quantize::{QuantizeBuffers, quantize};
pub use relu::{ReluPass, ReluSaved, relu, relu6};
pub use sgd::{LrScale, SgdBuffers, SgdStep, sgd};
pub use softmax_xent::{XentBuffers, softmax_xent};

/// Fails with [`Error::BufferTooSmall`] unless `buffer` holds at least `needed` bytes.
pub(crate) fn check_buffer<'a>(
    op: &'static str,
    binding: &'static str,
    buffer: impl Into<View<'a>>,
    needed: u64,
) -> Result<()> {
    let actual = buffer.into().size;
    if actual < needed {
        return Err(Error::BufferTooSmall {
            op,
            binding,
            needed,
            actual,
        });
    }
    Ok(())
}

/// `scratch` if given (checked to hold `needed` bytes), else the recording's own scratch
/// ([`Recording::scratch`]), which the dispatch that writes it and the next one that reads it
/// have to themselves.
pub(crate) fn partials_scratch(
    ctx: &Context,
    rec: &mut Recording,
    op: &'static str,
    scratch: Option<&wgpu::Buffer>,
    needed: u64,
) -> Result<wgpu::Buffer> {
    match scratch {
        Some(b) => {
            check_buffer(op, "scratch", b, needed)?;
            Ok(b.clone())
        }
        None => Ok(rec.scratch(ctx, needed)),
    }
}

impl Context {
    /// Compiles every kernel the device runs now rather than on first use (compilation can take
    /// seconds on software drivers); returns the first failure.
    pub fn warm_up(&self) -> Result<()> {
        for def in ALL_KERNELS {
            // The kernels not every device runs: they need subgroups of 8 lanes.
            let lanes8 = Lanes8Tile::ALL
                .into_iter()
                .find(|t| std::ptr::eq(*def, gemm_wide::lanes8_kernel_of(*t)));
            if lanes8.is_some_and(|t| !gemm_wide::lanes8_fits(self, t)) {
                continue;
            }
            self.pipeline(def)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::ALL_KERNELS;
    use crate::cpu::REPLAYS;

    /// The replay table and the kernel registry derive from different places (each twin's
    /// `REPLAY`, each family's `KERNELS`); they must name the same kernels, each once.
    #[test]
    fn every_kernel_has_one_replay_adapter() {
        for def in ALL_KERNELS {
            let adapters = REPLAYS
                .iter()
                .filter(|r| r.kernels.contains(&def.name))
                .count();
            assert_eq!(
                adapters, 1,
                "kernel {} has {adapters} replay adapters",
                def.name
            );
        }
        for replay in REPLAYS {
            for name in replay.kernels {
                assert!(
                    ALL_KERNELS.iter().any(|d| d.name == *name),
                    "replay adapter for {name}, which is no kernel"
                );
            }
        }
        let names: std::collections::HashSet<_> = ALL_KERNELS.iter().map(|d| d.name).collect();
        assert_eq!(names.len(), ALL_KERNELS.len(), "two kernels share a name");
    }
}
