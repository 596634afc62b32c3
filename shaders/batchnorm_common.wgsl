// Shared by the batchnorm kernels (prepended by src/gpu/kernel.rs after common.wgsl).

const WG_SIZE: u32 = 256u;

// Mirrors `BatchNormParams` in src/ops/batchnorm.rs.
struct BatchNormParams {
    rows: u32,
    channels: u32,
    mode: u32,
    // batchnorm: RECTIFY or 0.
    flags: u32,
    eps: f32,
    momentum: f32,
    _pad1: u32,
    _pad2: u32,
}
