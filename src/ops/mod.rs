//! GPU ops: one module per kernel family. Each declares its kernels ([`KernelDef`]), checks
//! shapes and buffer sizes, and appends its dispatches to a [`Recording`]. The
//! CPU twin of each kernel lives under [`crate::cpu`] with the same name.

use crate::error::{Error, Result};
use crate::gpu::Context;
use crate::gpu::kernel::{KernelDef, Recording};

pub mod batchnorm;
pub mod channel_stats;
pub mod clip_select;
pub mod column_sum;
pub mod conv;
pub mod dequantize;
pub mod gemm;
pub mod maxpool;
pub mod nonfinite;
pub mod pool;
pub mod quantize;
pub mod relu;
pub mod sgd;
pub mod softmax_xent;
mod tune;

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

/// Which elements share a clip (and so a scale or a statistic).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChannelAxis {
    /// One for the whole tensor.
    Tensor,
    /// One per row.
    Rows,
    /// One per column.
    Cols,
}

impl ChannelAxis {
    pub(crate) fn code(self) -> u32 {
        match self {
            ChannelAxis::Tensor => 0,
            ChannelAxis::Rows => 1,
            ChannelAxis::Cols => 2,
        }
    }
}

/// How a value between two integers is rounded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Rounding {
    /// Round to nearest, ties to even.
    Nearest,
    /// Round up with probability equal to the fractional part, drawn from a counter-based hash
    /// of `(seed, element index)`: unbiased, reproducible, independent of dispatch order.
    Stochastic {
        /// Key of the random stream; change it every step.
        seed: u32,
    },
}

impl Rounding {
    pub(crate) fn code(self) -> (u32, u32) {
        match self {
            Rounding::Nearest => (0, 0),
            Rounding::Stochastic { seed } => (1, seed),
        }
    }
}

/// A row-major f32 matrix `[rows, cols]` and how its elements group into channels. In packed
/// int8 form each row holds [`Layout::cols4`] words, four values per word along `cols`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Layout {
    /// Rows (at least 1).
    pub rows: u32,
    /// Columns (at least 1); the packing axis.
    pub cols: u32,
    /// The channel axis.
    pub axis: ChannelAxis,
}

impl Layout {
    /// A layout, unchecked; ops validate it.
    pub fn new(rows: u32, cols: u32, axis: ChannelAxis) -> Self {
        Layout { rows, cols, axis }
    }

    /// Words per packed row: `ceil(cols / 4)`.
    pub fn cols4(&self) -> u32 {
        self.cols.div_ceil(4)
    }

    /// Elements of the f32 matrix.
    pub fn len(&self) -> usize {
        self.rows as usize * self.cols as usize
    }

    /// Whether the matrix has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Words of the packed int8 matrix.
    pub fn packed_words(&self) -> usize {
        self.rows as usize * self.cols4() as usize
    }

    /// Number of channels: 1, `rows` or `cols`.
    pub fn channels(&self) -> usize {
        match self.axis {
            ChannelAxis::Tensor => 1,
            ChannelAxis::Rows => self.rows as usize,
            ChannelAxis::Cols => self.cols as usize,
        }
    }

    /// Elements in one channel.
    pub fn channel_len(&self) -> usize {
        self.len() / self.channels()
    }

    pub(crate) fn validate(&self, op: &'static str) -> Result<()> {
        if self.rows == 0 || self.cols == 0 {
            return Err(Error::invalid(
                op,
                format!(
                    "empty matrix {}x{}: both sides must be >= 1",
                    self.rows, self.cols
                ),
            ));
        }
        // Kernels index elements and packed words with u32.
        if (self.rows as u64) * (self.cols4() as u64 * 4) > u32::MAX as u64 {
            return Err(Error::invalid(
                op,
                format!(
                    "{}x{} has more than 2^32 elements; split the tensor",
                    self.rows, self.cols
                ),
            ));
        }
        Ok(())
    }
}

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
