//! Tensor layouts: which elements share a clip, how a matrix packs into int8 words, rounding.

use crate::error::{Error, Result};

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

    /// The axis of a code as the kernels read it (0 tensor, 1 rows, 2 columns).
    pub fn from_code(code: u32) -> Self {
        match code {
            0 => ChannelAxis::Tensor,
            1 => ChannelAxis::Rows,
            _ => ChannelAxis::Cols,
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

    /// The rounding of a `(code, seed)` pair as the kernels read it (0 nearest, 1 stochastic).
    pub fn from_code(code: u32, seed: u32) -> Self {
        match code {
            0 => Rounding::Nearest,
            _ => Rounding::Stochastic { seed },
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

/// The number format of a GEMM's operands or of a layer's three GEMMs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Precision {
    /// f32 operands, f32 accumulation.
    Fp32,
    /// int8 operands packed four per word, int32 accumulation.
    Int8,
}

impl Precision {
    /// `Int8` when `int8`.
    pub fn from_int8(int8: bool) -> Self {
        if int8 {
            Precision::Int8
        } else {
            Precision::Fp32
        }
    }

    /// Whether this is [`Precision::Int8`].
    pub fn is_int8(self) -> bool {
        self == Precision::Int8
    }
}
