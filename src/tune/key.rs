//! What a choice is keyed by. The key's text is what the cache file stores, so its format is
//! kept stable: a changed format only costs a re-measurement.

use std::fmt;

use crate::abi::{ConvGeometry, GemmShape, Precision};

/// One autotuned decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TuneKey {
    /// Which GEMM kernel variant runs `shape`.
    Gemm {
        /// The product.
        shape: GemmShape,
        /// Operand precision.
        precision: Precision,
    },
    /// How a convolution of `geometry` into `channels` outputs gets its column matrix.
    Conv {
        /// The convolution.
        geometry: ConvGeometry,
        /// Output channels.
        channels: u32,
        /// Precision of its GEMMs.
        precision: Precision,
    },
}

impl fmt::Display for TuneKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TuneKey::Gemm { shape, precision } => write!(
                f,
                "{} {}x{}x{} trans=({},{})",
                match precision {
                    Precision::Int8 => "i8",
                    Precision::Fp32 => "f32",
                },
                shape.m,
                shape.n,
                shape.k,
                shape.trans_a as u8,
                shape.trans_b as u8
            ),
            // "kept-x": int8 layers keep their input quantized under both lowerings (entries
            // measured before, when an int8 layer kept its column matrix, are not reused).
            TuneKey::Conv {
                geometry: g,
                channels,
                precision,
            } => write!(
                f,
                "conv {} {}x{}x{}x{} k{}x{} s{} p{} -> {channels}",
                match precision {
                    Precision::Int8 => "i8 kept-x",
                    Precision::Fp32 => "f32",
                },
                g.n,
                g.h,
                g.w,
                g.c,
                g.kh,
                g.kw,
                g.stride,
                g.pad
            ),
        }
    }
}
