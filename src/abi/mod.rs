//! The kernels' interface, free of any GPU type: tensor layouts, axis and rounding codes,
//! parameter blocks with named fields (each the mirror of a WGSL struct; `tests/translation.rs`
//! checks sizes against naga's layout), the records kernels write (`ChannelStat`,
//! `StatsPartial`, `ClipSummary`), constants and flag bits. This is the one place where Rust and
//! WGSL agree: the GPU ops ([`crate::ops`]) encode these, the CPU twins ([`crate::cpu`]) decode
//! them, and neither imports the other.

mod batchnorm;
mod clip;
mod conv;
mod elementwise;
mod gather;
mod gemm;
mod layout;
mod pool;
mod quantize;
mod sgd;
mod stats;

pub use batchnorm::*;
pub use clip::*;
pub use conv::*;
pub use elementwise::*;
pub use gather::*;
pub use gemm::*;
pub use layout::*;
pub use pool::*;
pub use quantize::*;
pub use sgd::*;
pub use stats::*;
