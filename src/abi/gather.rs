//! The parameter block of the batch gather from a data set kept on the device as bytes.

/// `GatherParams` of `shaders/gather_rows.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct GatherParams {
    /// Rows to gather (the batch).
    pub rows: u32,
    /// Values per row.
    pub features: u32,
    /// Groups of four values per row (one lane each).
    pub features4: u32,
    /// Channels: value `f` of a row is on channel `f mod channels`.
    pub channels: u32,
    /// Where this batch's row indices start in the order buffer.
    pub offset: u32,
    /// Padding to 16 bytes.
    pub _pad: [u32; 3],
}

impl GatherParams {
    /// Gathers `rows` rows of `features` values on `channels` channels, their indices at
    /// `offset` in the order buffer.
    pub fn new(rows: u32, features: u32, channels: u32, offset: u32) -> Self {
        GatherParams {
            rows,
            features,
            features4: features.div_ceil(4),
            channels,
            offset,
            _pad: [0; 3],
        }
    }
}
