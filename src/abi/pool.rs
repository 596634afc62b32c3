//! Pooling geometry and the parameter blocks of `maxpool`, `global_avg_pool` and `add`.

/// Pooling geometry over NHWC input `[n, h, w, c]` with a `k × k` window and stride `k`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PoolGeometry {
    /// Batch.
    pub n: u32,
    /// Input height.
    pub h: u32,
    /// Input width.
    pub w: u32,
    /// Channels.
    pub c: u32,
    /// Window and stride.
    pub k: u32,
}

impl PoolGeometry {
    /// Output height `h / k` (floor).
    pub fn oh(&self) -> u32 {
        self.h / self.k
    }

    /// Output width `w / k` (floor).
    pub fn ow(&self) -> u32 {
        self.w / self.k
    }

    /// Elements of the input.
    pub fn input_len(&self) -> u64 {
        self.n as u64 * self.h as u64 * self.w as u64 * self.c as u64
    }

    /// Elements of the output.
    pub fn output_len(&self) -> u64 {
        self.n as u64 * self.oh() as u64 * self.ow() as u64 * self.c as u64
    }

    /// Bytes of the window positions the forward keeps for the backward: one per output element,
    /// in whole words.
    pub fn argmax_bytes(&self) -> u64 {
        self.output_len().div_ceil(4) * 4
    }
}

/// `PoolParams` of `shaders/maxpool.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct PoolParams {
    /// Images.
    pub n: u32,
    /// Input height.
    pub h: u32,
    /// Input width.
    pub w: u32,
    /// Channels.
    pub c: u32,
    /// Window side (and stride).
    pub k: u32,
    /// Output height.
    pub oh: u32,
    /// Output width.
    pub ow: u32,
    /// [`POOL_BACKWARD`] | [`POOL_AFTER_RELU`].
    pub mode: u32,
}

/// `PoolParams::mode` bit: the backward pass.
pub const POOL_BACKWARD: u32 = 1;
/// `PoolParams::mode` bit: the input is a ReLU's output (windows whose maximum is not positive
/// route no gradient).
pub const POOL_AFTER_RELU: u32 = 2;

impl PoolParams {
    /// The geometry these parameters describe.
    pub fn geometry(&self) -> PoolGeometry {
        PoolGeometry {
            n: self.n,
            h: self.h,
            w: self.w,
            c: self.c,
            k: self.k,
        }
    }
}

/// The `argmax` byte of a window that routes no gradient: one whose maximum is not positive, in
/// a forward after a ReLU.
pub const NO_WINNER: u32 = 255;

/// Largest window: its `k²` positions and [`NO_WINNER`] fit a byte.
pub const MAX_WINDOW: u32 = 15;

/// `GapParams` of `shaders/global_avg_pool.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct GapParams {
    /// Batch.
    pub n: u32,
    /// Pixels per image, h·w.
    pub hw: u32,
    /// Channels.
    pub c: u32,
    /// 0 forward, 1 backward.
    pub backward: u32,
}

/// `ElementwiseParams` of `shaders/add.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct ElementwiseParams {
    /// Elements.
    pub n: u32,
    /// [`ADD_RECTIFY`] or 0.
    pub flags: u32,
    /// Padding.
    pub _pad: [u32; 2],
}

/// `ElementwiseParams.flags`: rectify the sum (the ReLU after a residual add).
pub const ADD_RECTIFY: u32 = 1;
