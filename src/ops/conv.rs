//! `im2col` and `col2im`: the data movement that turns a convolution into the GEMMs of
//! [`gemm`](super::gemm), over NHWC activations. Forward: `Y = im2col(X) · Wᵀ`; input gradient:
//! `dX = col2im(dY · W)`; weight gradient: `dW = dYᵀ · im2col(X)` — in a quantized layer all
//! three GEMMs on int8, the column matrix quantized once and read by two of them.

use crate::abi::{PoolGeometry, Precision};
use crate::error::{Error, Result};
use crate::gpu::Context;
use crate::gpu::kernel::{BindType, Dispatch, KernelDef, Recording, grid_1d, wgsl};
use crate::ops::check_buffer;

pub use crate::abi::{ConvGeometry, ConvLowering, ConvParams};

/// The kernel declaration of `shaders/im2col.wgsl`.
pub static IM2COL: KernelDef = KernelDef {
    name: "im2col",
    sources: &[wgsl::CONV_COMMON, include_str!("../../shaders/im2col.wgsl")],
    workgroup_size: [256, 1, 1],
    bindings: &[
        ("params", BindType::Uniform),
        ("x", BindType::ReadOnly),
        ("cols", BindType::ReadWrite),
    ],
    params_size: std::mem::size_of::<ConvParams>(),
    uniform_params: true,
};

/// The kernel declaration of `shaders/im2col_i8.wgsl`: [`im2col`] of an input quantized in place.
pub static IM2COL_I8: KernelDef = KernelDef {
    name: "im2col_i8",
    sources: &[
        wgsl::COMMON,
        wgsl::CONV_COMMON,
        include_str!("../../shaders/im2col_i8.wgsl"),
    ],
    workgroup_size: [64, 1, 1],
    bindings: &[
        ("params", BindType::Uniform),
        ("x_q", BindType::ReadOnly),
        ("packed", BindType::ReadWrite),
    ],
    params_size: std::mem::size_of::<ConvParams>(),
    uniform_params: true,
};

/// The kernel declaration of `shaders/col2im.wgsl`.
pub static COL2IM: KernelDef = KernelDef {
    name: "col2im",
    sources: &[
        wgsl::CONV_COMMON,
        "const POOLED = false;\n",
        include_str!("../../shaders/col2im.wgsl"),
    ],
    workgroup_size: [256, 1, 1],
    bindings: &[
        ("params", BindType::Uniform),
        ("dcols", BindType::ReadOnly),
        ("dx", BindType::ReadWrite),
        ("argmax", BindType::ReadOnly),
    ],
    params_size: std::mem::size_of::<ConvParams>(),
    uniform_params: true,
};

/// `col2im_maxpool`: [`col2im`] that also does the backward of the max pooling whose output
/// the convolution's input is ([`col2im_maxpool`]).
pub static COL2IM_MAXPOOL: KernelDef = COL2IM.variant(
    "col2im_maxpool",
    &[
        wgsl::CONV_COMMON,
        "const POOLED = true;\n",
        include_str!("../../shaders/col2im.wgsl"),
    ],
);

impl ConvLowering {
    /// Both, in the order the autotuner tries them.
    pub const ALL: [ConvLowering; 2] = [ConvLowering::Columns, ConvLowering::Implicit];

    /// How much faster than the implicit GEMMs the column matrix must be to be chosen, for its
    /// memory: 10%. An FP32 layer keeps it (`taps` times its input; it is the FP32 baseline's
    /// fastest form that counts); an int8 one keeps its input quantized in place either way,
    /// the column matrix costing one scratch buffer shared by the model's layers.
    pub fn columns_speedup_needed() -> f64 {
        1.1
    }

    /// The choice without measuring, on an adapter of type `device`: implicit for int8 layers
    /// and on GPUs (gathers hit the cache); for FP32 layers on CPU adapters, implicit for
    /// inputs of fewer than 4 channels, where the column matrix is the input repeated `kh·kw`
    /// times and writing it costs more than gathering (measured on lavapipe: LeNet-5's
    /// 1-channel first convolution is faster implicit, its 6-channel second one about even).
    pub fn heuristic(
        g: &ConvGeometry,
        precision: Precision,
        device: wgpu::DeviceType,
    ) -> ConvLowering {
        if precision.is_int8() || device != wgpu::DeviceType::Cpu || g.c < 4 {
            ConvLowering::Implicit
        } else {
            ConvLowering::Columns
        }
    }
}

/// Records `cols = im2col(x)`: `x` holds `input_len()` f32, `cols` `rows() × taps()` f32.
pub fn im2col(
    rec: &mut Recording,
    g: &ConvGeometry,
    x: &wgpu::Buffer,
    cols: &wgpu::Buffer,
) -> Result<()> {
    const OP: &str = "im2col";
    g.validate(OP)?;
    let cells = g.rows() as u64 * g.taps() as u64;
    check_buffer(OP, "x", x, g.input_len() * 4)?;
    check_buffer(OP, "cols", cols, cells * 4)?;
    let quads = g.rows() as u64 * g.taps().div_ceil(4) as u64;
    rec.push(Dispatch::new(
        &IM2COL,
        &ConvParams::new(g),
        &[x, cols],
        grid_1d(quads, 256),
    ));
    Ok(())
}

/// Records `packed = im2col(x_q)` for an input quantized in place (`x_q`: one int8 per NHWC
/// element, four to a word, [`ConvGeometry::quantized_input_layout`]): `packed` holds `rows() ×
/// ceil(taps()/4)` words, the layout [`quantize`](super::quantize()) gives
/// `Layout::new(rows, taps, Tensor)`, and the same bits as quantizing `im2col(x)` with `x_q`'s
/// clip.
pub fn im2col_i8(
    rec: &mut Recording,
    g: &ConvGeometry,
    x_q: &wgpu::Buffer,
    packed: &wgpu::Buffer,
) -> Result<()> {
    const OP: &str = "im2col_i8";
    g.validate(OP)?;
    let words = g.rows() as u64 * g.taps().div_ceil(4) as u64;
    let x_words = g.quantized_input_layout().packed_words() as u64;
    check_buffer(OP, "x_q", x_q, x_words * 4)?;
    check_buffer(OP, "packed", packed, words * 4)?;
    rec.push(Dispatch::new(
        &IM2COL_I8,
        &ConvParams::new(g),
        &[x_q, packed],
        grid_1d(g.rows() as u64, 64),
    ));
    Ok(())
}

/// Records `dx = col2im(dcols)`, the adjoint of [`im2col`].
pub fn col2im(
    ctx: &Context,
    rec: &mut Recording,
    g: &ConvGeometry,
    dcols: &wgpu::Buffer,
    dx: &wgpu::Buffer,
) -> Result<()> {
    const OP: &str = "col2im";
    g.validate(OP)?;
    check_buffer(OP, "dcols", dcols, g.rows() as u64 * g.taps() as u64 * 4)?;
    check_buffer(OP, "dx", dx, g.input_len() * 4)?;
    rec.push(Dispatch::new(
        &COL2IM,
        &ConvParams::new(g),
        &[dcols, dx, ctx.unused_binding(0)],
        grid_1d(g.input_len(), 256),
    ));
    Ok(())
}

/// Records `col2im` of `dcols` and the backward of the max pooling `pool` whose output is the
/// convolution's input, in one pass: `dx` is the pooling's input gradient, `argmax` the winners
/// its forward wrote. The same bits as [`col2im`] then the pooling's backward.
pub fn col2im_maxpool(
    rec: &mut Recording,
    g: &ConvGeometry,
    pool: &PoolGeometry,
    dcols: &wgpu::Buffer,
    argmax: &wgpu::Buffer,
    dx: &wgpu::Buffer,
) -> Result<()> {
    const OP: &str = "col2im_maxpool";
    g.validate(OP)?;
    if (pool.n, pool.oh(), pool.ow(), pool.c) != (g.n, g.h, g.w, g.c) || pool.k == 0 {
        return Err(Error::invalid(
            OP,
            format!(
                "the pooling's output ({}x{}x{}x{}, window {}) is not the convolution's input \
                 ({}x{}x{}x{}); run col2im and maxpool apart",
                pool.n,
                pool.oh(),
                pool.ow(),
                pool.c,
                pool.k,
                g.n,
                g.h,
                g.w,
                g.c
            ),
        ));
    }
    check_buffer(OP, "dcols", dcols, g.rows() as u64 * g.taps() as u64 * 4)?;
    check_buffer(OP, "dx", dx, pool.input_len() * 4)?;
    check_buffer(OP, "argmax", argmax, pool.output_len().div_ceil(4) * 4)?;
    rec.push(Dispatch::new(
        &COL2IM_MAXPOOL,
        &ConvParams::new(g).with_pool(pool),
        &[dcols, dx, argmax],
        grid_1d(g.input_len(), 256),
    ));
    Ok(())
}

/// This family's kernels, for [`ALL_KERNELS`](crate::ops::ALL_KERNELS).
pub(crate) const KERNELS: &[&KernelDef] = &[&IM2COL, &IM2COL_I8, &COL2IM, &COL2IM_MAXPOOL];

#[cfg(test)]
mod tests {
    use super::ConvGeometry;

    fn geom(hw: u32, k: u32, stride: u32, pad: u32) -> ConvGeometry {
        ConvGeometry {
            n: 1,
            h: hw,
            w: hw,
            c: 1,
            kh: k,
            kw: k,
            stride,
            pad,
        }
    }

    /// Brute force: mark every pixel some window reads.
    fn covered(g: &ConvGeometry) -> bool {
        let mut seen = vec![false; (g.h * g.w) as usize];
        for oy in 0..g.oh() as i64 {
            for ox in 0..g.ow() as i64 {
                for ky in 0..g.kh as i64 {
                    for kx in 0..g.kw as i64 {
                        let y = oy * g.stride as i64 + ky - g.pad as i64;
                        let x = ox * g.stride as i64 + kx - g.pad as i64;
                        if y >= 0 && x >= 0 && y < g.h as i64 && x < g.w as i64 {
                            seen[(y * g.w as i64 + x) as usize] = true;
                        }
                    }
                }
            }
        }
        seen.iter().all(|&s| s)
    }

    #[test]
    fn covers_input_agrees_with_brute_force() {
        for hw in 1..12 {
            for k in 1..6 {
                for stride in 1..4 {
                    for pad in 0..k {
                        let g = geom(hw, k, stride, pad);
                        if k > hw + 2 * pad {
                            continue;
                        }
                        assert_eq!(g.covers_input(), covered(&g), "{g:?}");
                    }
                }
            }
        }
    }
}
