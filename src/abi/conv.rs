//! Convolution geometry (NHWC input, `[out, kh, kw, in]` weights) and its parameter block.

use crate::error::{Error, Result};

use super::{ChannelAxis, GemmShape, Layout, PoolGeometry};

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

/// `ConvParams` of `shaders/conv_common.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct ConvParams {
    /// Images.
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
    /// Stride.
    pub stride: u32,
    /// Zero padding on every side.
    pub pad: u32,
    /// Output height.
    pub oh: u32,
    /// Output width.
    pub ow: u32,
    /// `col2im_maxpool`: the max pooling whose output the convolution's input is, as
    /// [`ConvParams::with_pool`] packs it; 0 in the other kernels.
    pub pool: u32,
    /// Padding to 16-byte alignment.
    pub _pad: u32,
}

impl ConvParams {
    /// Parameters of `g`.
    pub fn new(g: &ConvGeometry) -> Self {
        ConvParams {
            n: g.n,
            h: g.h,
            w: g.w,
            c: g.c,
            kh: g.kh,
            kw: g.kw,
            stride: g.stride,
            pad: g.pad,
            oh: g.oh(),
            ow: g.ow(),
            pool: 0,
            _pad: 0,
        }
    }

    /// With the pooling `p` (whose output is the convolution's input) packed into `pool`: `k`,
    /// then the rows and columns of `p`'s input no window covers, a byte each.
    pub fn with_pool(self, p: &PoolGeometry) -> Self {
        let (rows, cols) = (p.h - p.oh() * p.k, p.w - p.ow() * p.k);
        ConvParams {
            pool: p.k | rows << 8 | cols << 16,
            ..self
        }
    }

    /// The pooling packed into `pool` by [`ConvParams::with_pool`].
    pub fn pool(&self) -> PoolGeometry {
        let k = self.pool & 0xff;
        PoolGeometry {
            n: self.n,
            h: self.h * k + (self.pool >> 8 & 0xff),
            w: self.w * k + (self.pool >> 16),
            c: self.c,
            k,
        }
    }

    /// The geometry these parameters describe.
    pub fn geometry(&self) -> ConvGeometry {
        ConvGeometry {
            n: self.n,
            h: self.h,
            w: self.w,
            c: self.c,
            kh: self.kh,
            kw: self.kw,
            stride: self.stride,
            pad: self.pad,
        }
    }
}

/// Which pass of a depthwise convolution (one `kh × kw` filter per channel, weights
/// `[c, kh, kw]`) a `depthwise_*` kernel computes: its `DW_PASS` constant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DepthwisePass {
    /// `y = x ⊛ W`.
    Forward = 0,
    /// `dx` from `dY` and `W`.
    InputGrad = 1,
    /// `dW` from `dY` and `x`.
    WeightGrad = 2,
}

impl DepthwisePass {
    /// The three passes, in `DW_PASS` order.
    pub const ALL: [DepthwisePass; 3] = [
        DepthwisePass::Forward,
        DepthwisePass::InputGrad,
        DepthwisePass::WeightGrad,
    ];

    /// The kernel-name suffix of the pass.
    pub fn suffix(self) -> &'static str {
        ["fwd", "dgrad", "wgrad"][self as usize]
    }

    /// The pass of a `depthwise_*` kernel, from its name.
    pub fn of_kernel(kernel: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| kernel.ends_with(p.suffix()))
    }

    /// The pass as a GEMM per channel (the output cells, and K summed into each): forward
    /// `[output pixels, c]` over the `kh·kw` taps, input gradient `[input pixels, c]` over the
    /// taps, weight gradient `[c, taps]` over the output pixels.
    pub fn shape(self, g: &ConvGeometry) -> GemmShape {
        let taps = g.kh * g.kw;
        match self {
            DepthwisePass::Forward => GemmShape::new(g.rows(), g.c, taps),
            DepthwisePass::InputGrad => GemmShape::new(g.n * g.h * g.w, g.c, taps),
            DepthwisePass::WeightGrad => GemmShape::new(g.c, taps, g.rows()),
        }
    }
}
