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
    /// Where this batch's row indices start in the order buffer (for `gather_rows_augment`,
    /// in (row, draw) pairs).
    pub offset: u32,
    /// Image height (`gather_rows_augment`).
    pub height: u32,
    /// Image width (`gather_rows_augment`).
    pub width: u32,
    /// Crop padding in pixels (`gather_rows_augment`, see `data::Augment`).
    pub pad: u32,
    /// 1: flip the images whose draw has its top bit set (`gather_rows_augment`).
    pub flip: u32,
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
            height: 1,
            width: features / channels.max(1),
            pad: 0,
            flip: 0,
            _pad: [0; 3],
        }
    }

    /// The same gather of `height × width` images, each cropped and flipped as its draw
    /// says: `pad` pixels of padding, flips if `flip` (`gather_rows_augment`).
    pub fn augmented(self, height: u32, width: u32, pad: u32, flip: bool) -> Self {
        GatherParams {
            height,
            width,
            pad,
            flip: flip as u32,
            ..self
        }
    }
}
