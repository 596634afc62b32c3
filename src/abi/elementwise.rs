//! Parameter blocks and flags of the element-wise and reduction kernels: `column_sum`,
//! `nonfinite_count`, `relu`, `softmax_xent`.

use super::Spread;

/// Rows one workgroup sums (a segment) on a CPU adapter: 1,024 iterations per invocation, far
/// below llvmpipe's loop cap, and few workgroups (each costs there).
pub const SEGMENT_ROWS: u32 = 4096;

/// Rows one workgroup sums on a GPU: a batch norm over 256 maps of 28×28 makes 392 workgroups
/// instead of 49, enough to fill a GPU of a hundred multiprocessors.
pub const GPU_SEGMENT_ROWS: u32 = 512;

/// `ColumnSumParams` of `shaders/column_sum.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct ColumnSumParams {
    /// Rows.
    pub rows: u32,
    /// Columns.
    pub cols: u32,
    /// Rows per segment.
    pub segment_rows: u32,
    /// Segments.
    pub segments: u32,
    /// Index in `out` of column 0's sum (a layer's bias gradient sits behind its weight
    /// gradient); 0 when the segments' partials go to scratch.
    pub out_offset: u32,
    /// Padding to 16-byte alignment.
    pub _pad: [u32; 3],
}

/// Elements each lane of the passes over a model's flat buffers (`shaders/sgd.wgsl`,
/// `shaders/nonfinite_count.wgsl`) takes on a device of `spread`: 8 on a GPU; 32 on a CPU
/// driver, which pays for every workgroup it starts (an MLP's update and health check
/// 1.05–1.76 → 0.87–1.0 ms on lavapipe).
pub const fn flat_per_lane(spread: Spread) -> u32 {
    match spread {
        Spread::Gpu => 8,
        Spread::Cpu => 32,
    }
}

/// Tensors one dispatch of `shaders/nonfinite_count.wgsl` checks.
pub const NONFINITE_TENSORS: usize = 4;

/// `NonFiniteParams.segmented` when no tensor of the dispatch is segmented.
pub const NONFINITE_UNSEGMENTED: u32 = NONFINITE_TENSORS as u32;

/// `NonFiniteParams` of `shaders/nonfinite_count.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct NonFiniteParams {
    /// Elements of each tensor (0: the binding is a placeholder).
    pub n: [u32; NONFINITE_TENSORS],
    /// The health slot each tensor's count is added to (slot 0 also receives every count); a
    /// segmented tensor's segment `s` counts into slot `slot + s`.
    pub slot: [u32; NONFINITE_TENSORS],
    /// The tensor split into segments (a model's gradients in its flat buffer, one segment per
    /// trainable), or [`NONFINITE_UNSEGMENTED`].
    pub segmented: u32,
    /// Its segments, whose ends (exclusive, in elements, ascending, the last its `n`) the
    /// `ends` binding holds.
    pub segments: u32,
    /// Elements each lane checks ([`flat_per_lane`]).
    pub per_lane: u32,
    /// Padding to 16-byte alignment.
    pub _pad: u32,
}

impl NonFiniteParams {
    /// No tensor, none segmented, `per_lane` elements a lane.
    pub fn empty(per_lane: u32) -> Self {
        NonFiniteParams {
            segmented: NONFINITE_UNSEGMENTED,
            per_lane,
            ..bytemuck::Zeroable::zeroed()
        }
    }
}

/// `ReluParams.flags`: the backward.
pub const RELU_BACKWARD: u32 = 1;

/// `ReluParams.flags`: the forward writes the mask, the backward reads it instead of `x`.
pub const RELU_MASKED: u32 = 2;

/// `ReluParams.flags`: ReLU6, `min(max(x, 0), 6)`; its mask and backward pass where
/// `0 < x < 6`.
pub const RELU_CAP6: u32 = 4;

/// `ReluParams` of `shaders/relu.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct ReluParams {
    /// Elements.
    pub n: u32,
    /// [`RELU_BACKWARD`] | [`RELU_MASKED`] | [`RELU_CAP6`].
    pub flags: u32,
    /// Padding.
    pub _pad: [u32; 2],
}

/// `XentParams` of `shaders/softmax_xent.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct XentParams {
    /// Rows.
    pub batch: u32,
    /// Classes per row.
    pub classes: u32,
    /// Padding.
    pub _pad: [u32; 2],
}
