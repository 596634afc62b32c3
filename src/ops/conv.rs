//! `im2col` and `col2im`: the data movement that turns a convolution into the GEMMs of
//! [`gemm`](super::gemm), over NHWC activations. Forward: `Y = im2col(X) · Wᵀ`; input gradient:
//! `dX = col2im(dY · W)`; weight gradient: `dW = dYᵀ · im2col(X)` — in a quantized layer all
//! three GEMMs on int8, the column matrix quantized once and read by two of them.

use crate::error::{Error, Result};
use crate::gpu::kernel::{BindType, Dispatch, KernelDef, Recording, grid_1d, wgsl};
use crate::ops::{ChannelAxis, Layout, check_buffer};

/// The kernel declaration of `shaders/im2col.wgsl`.
pub static IM2COL: KernelDef = KernelDef {
    name: "im2col",
    sources: &[wgsl::CONV_COMMON, wgsl::IM2COL],
    workgroup_size: [256, 1, 1],
    bindings: &[
        ("params", BindType::Uniform),
        ("x", BindType::ReadOnly),
        ("cols", BindType::ReadWrite),
    ],
    params_size: std::mem::size_of::<ConvParams>(),
};

/// The kernel declaration of `shaders/im2col_i8.wgsl`: [`im2col`] of an input quantized in place.
pub static IM2COL_I8: KernelDef = KernelDef {
    name: "im2col_i8",
    sources: &[wgsl::COMMON, wgsl::CONV_COMMON, wgsl::IM2COL_I8],
    workgroup_size: [256, 1, 1],
    bindings: &[
        ("params", BindType::Uniform),
        ("x_q", BindType::ReadOnly),
        ("packed", BindType::ReadWrite),
    ],
    params_size: std::mem::size_of::<ConvParams>(),
};

/// The kernel declaration of `shaders/col2im.wgsl`.
pub static COL2IM: KernelDef = KernelDef {
    name: "col2im",
    sources: &[wgsl::CONV_COMMON, wgsl::COL2IM],
    workgroup_size: [256, 1, 1],
    bindings: &[
        ("params", BindType::Uniform),
        ("dcols", BindType::ReadOnly),
        ("dx", BindType::ReadWrite),
    ],
    params_size: std::mem::size_of::<ConvParams>(),
};

/// Geometry of a 2-D convolution over NHWC input `[n, h, w, c]` with a `kh × kw` kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConvGeometry {
    /// Batch.
    pub n: u32,
    /// Input height.
    pub h: u32,
    /// Input width.
    pub w: u32,
    /// Input channels.
    pub c: u32,
    /// Kernel height.
    pub kh: u32,
    /// Kernel width.
    pub kw: u32,
    /// Stride (both axes).
    pub stride: u32,
    /// Zero padding (both axes, both sides).
    pub pad: u32,
}

impl ConvGeometry {
    /// Output height: `(h + 2·pad − kh) / stride + 1`.
    pub fn oh(&self) -> u32 {
        (self.h + 2 * self.pad - self.kh) / self.stride + 1
    }

    /// Output width.
    pub fn ow(&self) -> u32 {
        (self.w + 2 * self.pad - self.kw) / self.stride + 1
    }

    /// Rows of the column matrix: output pixels `n·oh·ow`.
    pub fn rows(&self) -> u32 {
        self.n * self.oh() * self.ow()
    }

    /// Columns of the column matrix: kernel taps `kh·kw·c`.
    pub fn taps(&self) -> u32 {
        self.kh * self.kw * self.c
    }

    /// Whether every input pixel lies in some window (then max|x| over the input is max|·| of
    /// the column matrix). False for a strided 1×1 shortcut, or a stride past the kernel.
    pub fn covers_input(&self) -> bool {
        // The first window starts inside, no gap between windows, the last one reaches the end.
        let covers = |size: u32, k: u32, out: u32| {
            self.pad < k
                && (out == 1 || self.stride <= k)
                && (out - 1) * self.stride + k >= size + self.pad
        };
        covers(self.h, self.kh, self.oh()) && covers(self.w, self.kw, self.ow())
    }

    /// The layout of the input quantized in place for the implicit int8 GEMMs: one byte per
    /// element in NHWC order, four to a word (rows of one word each, or one row when the length
    /// is not a multiple of 4).
    pub fn quantized_input_layout(&self) -> Layout {
        let len = self.input_len() as u32;
        if len.is_multiple_of(4) {
            Layout::new(len / 4, 4, ChannelAxis::Tensor)
        } else {
            Layout::new(1, len, ChannelAxis::Tensor)
        }
    }

    /// Elements of the input.
    pub fn input_len(&self) -> u64 {
        self.n as u64 * self.h as u64 * self.w as u64 * self.c as u64
    }

    /// Checks the geometry: positive sizes, the kernel fits the padded input, sizes fit u32.
    pub fn validate(&self, op: &'static str) -> Result<()> {
        if [
            self.n,
            self.h,
            self.w,
            self.c,
            self.kh,
            self.kw,
            self.stride,
        ]
        .contains(&0)
        {
            return Err(Error::invalid(op, format!("zero-sized geometry {self:?}")));
        }
        if self.kh > self.h + 2 * self.pad || self.kw > self.w + 2 * self.pad {
            return Err(Error::invalid(
                op,
                format!("the kernel is larger than the padded input: {self:?}"),
            ));
        }
        if self.rows() as u64 * self.taps() as u64 > u32::MAX as u64 {
            return Err(Error::invalid(
                op,
                "the column matrix has more than 2^32 elements; use a smaller batch",
            ));
        }
        Ok(())
    }
}

/// How a convolution's forward and weight-gradient GEMMs get their column matrix. Both give the
/// same bits (the conformance suite checks it); they differ in speed and, in FP32, memory, so
/// the choice is measured per adapter ([`Context::conv_lowering`](crate::Context::conv_lowering)),
/// the column matrix being taken only when it is faster by
/// [`ConvLowering::columns_speedup_needed`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConvLowering {
    /// `im2col` writes the column matrix, the GEMMs read it, and an FP32 layer keeps it for the
    /// weight gradient: `taps` times the input's size. An int8 layer keeps its input quantized
    /// in place and gathers the packed column matrix from it (`im2col_i8`) into scratch, once
    /// for the forward GEMM and again for the weight gradient's.
    Columns,
    /// The implicit-GEMM kernels (`conv_f32_regs`, `conv_i8_regs`) gather the column matrix from
    /// the input (quantized in place for int8) where they need it; the layer keeps the input.
    Implicit,
}

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
    pub fn heuristic(g: &ConvGeometry, int8: bool, device: wgpu::DeviceType) -> ConvLowering {
        if int8 || device != wgpu::DeviceType::Cpu || g.c < 4 {
            ConvLowering::Implicit
        } else {
            ConvLowering::Columns
        }
    }
}

/// `ConvParams` of `shaders/conv_common.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct ConvParams {
    /// n, h, w, c, kh, kw, stride, pad, oh, ow, padding.
    pub v: [u32; 12],
}

impl ConvParams {
    /// Parameters of `g`.
    pub fn new(g: &ConvGeometry) -> Self {
        ConvParams {
            v: [
                g.n,
                g.h,
                g.w,
                g.c,
                g.kh,
                g.kw,
                g.stride,
                g.pad,
                g.oh(),
                g.ow(),
                0,
                0,
            ],
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
        grid_1d(words, 256),
    ));
    Ok(())
}

/// Records `dx = col2im(dcols)`, the adjoint of [`im2col`].
pub fn col2im(
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
        &[dcols, dx],
        grid_1d(g.input_len(), 256),
    ));
    Ok(())
}

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
