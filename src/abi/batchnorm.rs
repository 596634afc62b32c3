//! BatchNorm2d's configuration and parameter block.

/// `BatchNormParams` of `shaders/batchnorm_common.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct BatchNormParams {
    /// Rows m (batch × pixels).
    pub rows: u32,
    /// Channels c.
    pub channels: u32,
    /// 0 training, 1 evaluation.
    pub mode: u32,
    /// `batchnorm` (the forward): [`BATCHNORM_RECTIFY`] or 0.
    pub flags: u32,
    /// ε added to the variance.
    pub eps: f32,
    /// Running-statistics momentum (PyTorch's: the weight of the new batch).
    pub momentum: f32,
    /// Padding.
    pub _pad1: [u32; 2],
}

/// `BatchNormParams.flags` of the forward: rectify the output (the ReLU after the batch norm).
pub const BATCHNORM_RECTIFY: u32 = 1;

/// Settings of a BatchNorm2d.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchNormConfig {
    /// ε (PyTorch: 1e-5).
    pub eps: f32,
    /// Momentum of the running statistics (PyTorch: 0.1).
    pub momentum: f32,
}

impl Default for BatchNormConfig {
    fn default() -> Self {
        BatchNormConfig {
            eps: 1e-5,
            momentum: 0.1,
        }
    }
}

impl BatchNormParams {
    /// Parameters for `rows × channels`, training or evaluation.
    pub fn new(rows: u32, channels: u32, train: bool, cfg: BatchNormConfig) -> Self {
        BatchNormParams {
            rows,
            channels,
            mode: (!train) as u32,
            flags: 0,
            eps: cfg.eps,
            momentum: cfg.momentum,
            _pad1: [0; 2],
        }
    }
}
