//! GPU ops: one module per kernel family. Each declares its kernels ([`KernelDef`]), checks
//! shapes and buffer sizes, and appends its dispatches to a [`Recording`]. The
//! CPU twin of each kernel lives under [`crate::cpu`] with the same name.

use crate::error::{Error, Result};
use crate::gpu::Context;
use crate::gpu::kernel::{KernelDef, Recording};

pub use crate::abi::{ChannelAxis, Layout, Rounding};

pub mod batchnorm;
pub mod channel_stats;
pub mod clip_select;
pub mod column_sum;
pub mod conv;
mod conv_tune;
pub mod dequantize;
pub mod gemm;
mod gemm_tune;
pub mod maxpool;
pub mod nonfinite;
pub mod pool;
pub mod quantize;
pub mod relu;
pub mod sgd;
pub mod softmax_xent;

pub use batchnorm::{
    BatchNormBuffers, BatchNormConfig, batchnorm_backward, batchnorm_forward,
    batchnorm_scratch_bytes,
};
pub use channel_stats::{
    Candidates, ChannelStat, MAX_CANDIDATES, StatsPartial, channel_stats, channel_stats_both,
    channel_stats_tail,
};
pub use clip_select::{ClipBuffers, ClipRule, ClipSummary, clip_select};
pub use conv::{ConvGeometry, ConvLowering, col2im, im2col, im2col_i8};
pub use dequantize::dequantize;
pub use gemm::{
    Epilogue, GemmBuffers, GemmShape, GemmVariant, MAX_K_CHUNK, Scale, gemm_f32, gemm_i8,
};
pub use maxpool::{PoolGeometry, PoolPass, maxpool};
pub use pool::{add, global_avg_pool};
pub use quantize::{QuantizeBuffers, quantize};
pub use relu::{ReluPass, ReluSaved, relu};
pub use sgd::{LrScale, SgdBuffers, SgdStep, sgd};
pub use softmax_xent::{XentBuffers, softmax_xent};

/// Every kernel octet ships, for warm-up, translation tests and the conformance tool.
pub static ALL_KERNELS: &[&KernelDef] = &[
    &quantize::QUANTIZE[0],
    &quantize::QUANTIZE[1],
    &dequantize::DEQUANTIZE,
    &channel_stats::CHANNEL_STATS,
    &channel_stats::CHANNEL_STATS_REDUCE,
    &channel_stats::CHANNEL_STATS_TAIL,
    &channel_stats::CHANNEL_STATS_TAIL_REDUCE,
    &gemm::GEMM_I8,
    &gemm::GEMM_F32,
    &gemm::GEMM_I8_REGS[0],
    &gemm::GEMM_I8_REGS[1],
    &gemm::GEMM_I8_REGS[2],
    &gemm::GEMM_I8_REGS[3],
    &gemm::GEMM_F32_REGS,
    &gemm::CONV_F32_REGS[0],
    &gemm::CONV_F32_REGS[1],
    &gemm::CONV_I8_REGS[0],
    &gemm::CONV_I8_REGS[1],
    &gemm::CONV_I8_REGS[2],
    &gemm::CONV_I8_REGS[3],
    &gemm::GEMM_REDUCE,
    &clip_select::CLIP_SELECT,
    &relu::RELU,
    &column_sum::COLUMN_SUM,
    &nonfinite::NONFINITE_COUNT,
    &softmax_xent::SOFTMAX_XENT,
    &sgd::SGD,
    &conv::IM2COL,
    &conv::IM2COL_I8,
    &conv::COL2IM,
    &maxpool::MAXPOOL,
    &pool::GLOBAL_AVG_POOL,
    &pool::ADD,
    &batchnorm::BATCHNORM,
    &batchnorm::BATCHNORM_GRAD_PREP,
    &batchnorm::BATCHNORM_BACKWARD,
];

/// Fails with [`Error::BufferTooSmall`] unless `buffer` holds at least `needed` bytes.
pub(crate) fn check_buffer(
    op: &'static str,
    binding: &'static str,
    buffer: &wgpu::Buffer,
    needed: u64,
) -> Result<()> {
    if buffer.size() < needed {
        return Err(Error::BufferTooSmall {
            op,
            binding,
            needed,
            actual: buffer.size(),
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
    /// Compiles every kernel now rather than on first use (compilation can take seconds on
    /// software drivers); returns the first failure.
    pub fn warm_up(&self) -> Result<()> {
        for def in ALL_KERNELS {
            self.pipeline(def)?;
        }
        Ok(())
    }
}
