//! CPU twins of the GPU kernels: same names, same loop shapes, same arithmetic.
//!
//! They exist to test the kernels (every conformance case compares against them) and to debug
//! them, not as a fallback. Integer outputs must equal the GPU's bit for bit; float outputs agree
//! within the tolerances the conformance suite states. Loops index like the shaders do, on
//! purpose, so a twin reads side by side with its `.wgsl`.
#![allow(clippy::needless_range_loop)]

pub mod common;
pub mod reference;
pub mod replay;

/// Declares each twin module and the replay table built from the `REPLAY` adapter each one
/// declares beside its twin: adding a twin is one line here.
macro_rules! twins {
    ($($twin:ident),* $(,)?) => {
        $(pub mod $twin;)*
        /// Every twin's replay adapter.
        pub static REPLAYS: &[&replay::Replay] = &[$(&$twin::REPLAY),*];
    };
}

twins!(
    batchnorm,
    channel_stats,
    channel_stats_reduce,
    channel_stats_tail,
    channel_stats_tail_reduce,
    clip_select,
    column_sum,
    conv,
    dequantize,
    gemm_f32,
    gemm_f32_wide,
    gemm_i8,
    gemm_i8_wide,
    gemm_reduce,
    maxpool,
    nonfinite_count,
    pool,
    quantize,
    relu,
    sgd,
    softmax_xent,
);

pub use batchnorm::{batchnorm, batchnorm_backward, batchnorm_grad_prep};
pub use channel_stats::channel_stats;
pub use channel_stats_reduce::channel_stats_reduce;
pub use channel_stats_tail::channel_stats_tail;
pub use channel_stats_tail_reduce::channel_stats_tail_reduce;
pub use clip_select::clip_select;
pub use column_sum::column_sum;
pub use conv::{col2im, im2col, im2col_i8};
pub use dequantize::dequantize;
pub use gemm_f32::{conv_f32, gemm_f32};
pub use gemm_i8::conv_i8;
pub use gemm_i8::{CpuEpilogue, CpuScale, dot4_i8_packed, gemm_i8};
pub use gemm_reduce::gemm_reduce;
pub use maxpool::{maxpool_backward, maxpool_forward};
pub use nonfinite_count::nonfinite_count;
pub use pool::{add, global_avg_pool_backward, global_avg_pool_forward};
pub use quantize::quantize;
pub use relu::{ReluSaved, relu_backward, relu_forward};
pub use sgd::sgd;
pub use softmax_xent::softmax_xent;
