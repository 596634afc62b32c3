//! `im2col` and `col2im`: the data movement that turns a convolution into the GEMMs of
//! [`gemm`](super::gemm), over NHWC activations. Forward: `Y = im2col(X) · Wᵀ`; input gradient:
//! `dX = col2im(dY · W)`; weight gradient: `dW = dYᵀ · im2col(X)` — in a quantized layer all
//! three GEMMs on int8, the column matrix quantized once and read by two of them.

use crate::error::{Error, Result};
use crate::gpu::kernel::{BindType, Dispatch, KernelDef, Recording, grid_1d, wgsl};
use crate::ops::check_buffer;

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

/// `ConvParams` of `shaders/conv_common.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct ConvParams {
    /// n, h, w, c, kh, kw, stride, pad, oh, ow, then padding.
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
    rec.push(Dispatch::new(
        &IM2COL,
        &ConvParams::new(g),
        &[x, cols],
        grid_1d(cells, 256),
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
