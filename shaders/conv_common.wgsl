// Shared by im2col and col2im (prepended by src/gpu/kernel.rs): the convolution geometry.
// Activations are NHWC, row-major: element (n, y, x, c) at ((n * h + y) * w + x) * c_in + c.
// The column matrix has one row per output pixel (n, oy, ox) and one column per kernel tap
// (ky, kx, c), so a convolution is the GEMM cols [M, K] x weights [c_out, K]^T with
// M = n * oh * ow and K = kh * kw * c_in, and its output is NHWC again.

// Mirrors `ConvParams` in src/ops/conv.rs.
struct ConvParams {
    n: u32,
    h: u32,
    w: u32,
    c: u32,
    kh: u32,
    kw: u32,
    stride: u32,
    pad: u32,
    oh: u32,
    ow: u32,
    _pad0: u32,
    _pad1: u32,
}

const WG_SIZE: u32 = 256u;

fn taps() -> u32 {
    return params.kh * params.kw * params.c;
}
