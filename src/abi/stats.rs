//! Channel statistics: the records the statistics kernels write and their parameter block.

use super::Layout;

/// Lanes per workgroup of the statistics kernels (`WG_SIZE` in `shaders/stats_common.wgsl`).
/// Many channels are short — a gradient column holds one value per batch row — and a
/// workgroup's tree folds cost a barrier per level for every lane, so 64 lanes rather than 256
/// (on lavapipe a DAI8 LeNet-5 step's statistics took 4× less time); a full segment still gives
/// a lane only 128 elements.
pub const STATS_WG_SIZE: usize = 64;

/// Elements per segment (one workgroup of a pass kernel) on a CPU driver: 128 per lane, few
/// workgroups (each costs there).
pub const SEG_LEN: usize = 8192;

/// Elements per segment on a GPU where a channel is a column: 32 per lane, so that a long strided
/// channel is many workgroups of short loops (a gradient column of 200,704 values read 64 bytes
/// apart took 42 µs of an H200 in 8,192-element segments, each lane waiting on 128 loads in turn).
pub const GPU_SEG_LEN: usize = 2048;

/// Most candidate clips one tail pass evaluates.
pub const MAX_CANDIDATES: usize = 32;

/// 32-bit words in one statistics record, [`ChannelStat`] and [`StatsPartial`] alike (max|x|
/// first in both, so that either is a clip record).
pub const STATS_RECORD_WORDS: u32 = (size_of::<ChannelStat>() / 4) as u32;
const _: () = assert!(size_of::<StatsPartial>() == size_of::<ChannelStat>());

/// `StatsParams` of both stats kernels.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct StatsParams {
    /// Rows of the matrix.
    pub rows: u32,
    /// Columns of the matrix.
    pub cols: u32,
    /// [`super::ChannelAxis`] code.
    pub axis: u32,
    /// Candidate clips in the tail pass.
    pub n_candidates: u32,
    /// Segments per channel.
    pub segments: u32,
    /// `channel_stats_tail`: [`TAIL_WITH_PASS1`] or 0.
    pub flags: u32,
    /// Elements per segment ([`SEG_LEN`] or [`GPU_SEG_LEN`]).
    pub seg_len: u32,
    /// Padding to 16-byte alignment.
    pub _pad: u32,
}

/// `StatsParams.flags` of `channel_stats_tail`: take pass 1 first, in the same workgroup (one
/// segment per channel only).
pub const TAIL_WITH_PASS1: u32 = 1;

impl StatsParams {
    /// Parameters for `layout` in segments of `seg_len` with `n_candidates` candidate clips.
    pub fn new(layout: &Layout, seg_len: usize, n_candidates: usize) -> Self {
        StatsParams {
            rows: layout.rows,
            cols: layout.cols,
            axis: layout.axis.code(),
            n_candidates: n_candidates as u32,
            segments: segments(layout, seg_len) as u32,
            flags: 0,
            seg_len: seg_len as u32,
            _pad: 0,
        }
    }
}

/// Segments per channel: `ceil(channel_len / seg_len)`.
pub fn segments(layout: &Layout, seg_len: usize) -> usize {
    layout.channel_len().div_ceil(seg_len)
}

/// One segment's sums (32 bytes, `StatsPartial` in WGSL); moments are taken about the channel's
/// first element.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct StatsPartial {
    /// max|x|.
    pub max_abs: f32,
    /// Σ(x − shift).
    pub sum: f32,
    /// Σ(x − shift)².
    pub sum_sq_shifted: f32,
    /// Σx².
    pub sum_sq: f32,
    /// Finite values.
    pub count: u32,
    /// Non-finite values.
    pub nonfinite: u32,
    /// Padding.
    pub _pad: [u32; 2],
}

/// Statistics of one channel, as the kernels write them (32 bytes, `ChannelStat` in WGSL).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct ChannelStat {
    /// max|x| over finite values (0 if none).
    pub max_abs: f32,
    /// Mean of the finite values.
    pub mean: f32,
    /// Population standard deviation of the finite values.
    pub std_dev: f32,
    /// Σx² of the finite values (‖g‖² of the cosine distance).
    pub sum_sq: f32,
    /// Number of finite values.
    pub count: u32,
    /// Number of NaN and ±Inf values.
    pub nonfinite: u32,
    /// Number of finite values with |x| > std (written by the tail pass).
    pub above_sigma: u32,
    /// Padding.
    pub _pad: u32,
}

impl ChannelStat {
    /// P(|x| > σ): DAI8 calls a channel Gaussian when this exceeds λ = 0.3, else inverted-T.
    pub fn fraction_above_sigma(&self) -> f32 {
        if self.count == 0 {
            0.0
        } else {
            self.above_sigma as f32 / self.count as f32
        }
    }

    /// UI8's cosine distance `1 − g·ĝ / (‖g‖‖ĝ‖)` from one candidate's `[g·ĝ, ĝ·ĝ]`: 0 for an
    /// all-zero channel (nothing is lost), 1 when ĝ vanishes (no direction is kept).
    pub fn cosine_distance(&self, terms: [f32; 2]) -> f32 {
        cosine_distance(self.sum_sq, terms)
    }
}

/// `cosine_distance()` of `shaders/clip_select.wgsl`: `1 − g·ĝ / (‖g‖‖ĝ‖)` from `‖g‖²` and
/// `[g·ĝ, ĝ·ĝ]`; 0 for an all-zero g, 1 when ĝ vanishes.
pub fn cosine_distance(sum_sq: f32, terms: [f32; 2]) -> f32 {
    if sum_sq <= 0.0 {
        return 0.0;
    }
    let denom = sum_sq.sqrt() * terms[1].sqrt();
    if denom <= 0.0 {
        return 1.0;
    }
    1.0 - terms[0] / denom
}
