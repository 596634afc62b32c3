//! Parameter blocks of `quantize` and `dequantize`.

use super::{Layout, Rounding};

/// `QuantizeParams` of `shaders/quantize.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct QuantizeParams {
    /// Rows of the matrix.
    pub rows: u32,
    /// Columns of the matrix.
    pub cols: u32,
    /// Packed words per row.
    pub cols4: u32,
    /// [`super::ChannelAxis`] code.
    pub axis: u32,
    /// 0 nearest, 1 stochastic.
    pub rounding: u32,
    /// Stochastic-rounding seed.
    pub seed: u32,
    /// Index of channel 0's clip in the clips buffer.
    pub clip_offset: u32,
    /// `quantize_fold`: the number of `StatsPartial` records (8 words each, from `clip_offset`)
    /// whose largest max|x| is the tensor's clip; 0 in the other variants.
    pub clip_parts: u32,
}

impl QuantizeParams {
    /// Parameters for `layout` and `rounding`.
    pub fn new(layout: &Layout, rounding: Rounding) -> Self {
        let (rounding, seed) = rounding.code();
        QuantizeParams {
            rows: layout.rows,
            cols: layout.cols,
            cols4: layout.cols4(),
            axis: layout.axis.code(),
            rounding,
            seed,
            clip_offset: 0,
            clip_parts: 0,
        }
    }
}

/// `QuantizePairParams` of `shaders/quantize_pair.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct QuantizePairParams {
    /// Rows of the matrix.
    pub rows: u32,
    /// Columns of the matrix (its channels in the per-column copy).
    pub cols: u32,
    /// Packed words per row.
    pub cols4: u32,
    /// 0 nearest, 1 stochastic.
    pub rounding: u32,
    /// Stochastic-rounding seed of the per-tensor copy.
    pub seed: u32,
    /// Stochastic-rounding seed of the per-column copy.
    pub seed_channels: u32,
    /// Packed words each lane takes ([`QuantizePairParams::lane_words`]).
    pub lane_words: u32,
    /// Padding to 16 bytes.
    pub _pad: u32,
}

impl QuantizePairParams {
    /// Parameters for a `rows × cols` matrix; `rounding`'s seed goes to both copies until the
    /// trainer sets each copy's own.
    pub fn new(rows: u32, cols: u32, rounding: Rounding) -> Self {
        let (rounding, seed) = rounding.code();
        QuantizePairParams {
            rows,
            cols,
            cols4: cols.div_ceil(4),
            rounding,
            seed,
            seed_channels: seed,
            lane_words: Self::lane_words(cols.div_ceil(4)),
            _pad: 0,
        }
    }

    /// Packed words per lane for rows of `cols4` words: 4 where a workgroup's reciprocals of
    /// the column steps (one slot per word-column, 256 slots) cover every row's words, so that
    /// a quarter of the workgroups each take them once; else 1, a workgroup's 256 consecutive
    /// words spanning at most 256 word-columns.
    pub fn lane_words(cols4: u32) -> u32 {
        if cols4 <= 256 { 4 } else { 1 }
    }
}

/// `DequantizeParams` of `shaders/dequantize.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct DequantizeParams {
    /// Rows of the matrix.
    pub rows: u32,
    /// Columns of the matrix.
    pub cols: u32,
    /// Packed words per row.
    pub cols4: u32,
    /// [`super::ChannelAxis`] code.
    pub axis: u32,
}

impl DequantizeParams {
    /// Parameters for `layout`.
    pub fn new(layout: &Layout) -> Self {
        DequantizeParams {
            rows: layout.rows,
            cols: layout.cols,
            cols4: layout.cols4(),
            axis: layout.axis.code(),
        }
    }
}
