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

pub mod batchnorm;
pub mod channel_stats;
pub mod channel_stats_per_lane;
pub mod channel_stats_reduce;
pub mod channel_stats_tail;
pub mod channel_stats_tail_reduce;
pub mod clip_select;
pub mod column_sum;
pub mod conv;
pub mod depthwise;
pub mod dequantize;
pub mod gather_rows;
pub mod gemm_f32;
pub mod gemm_f32_lanes8;
pub mod gemm_f32_wide;
pub mod gemm_i8;
pub mod gemm_i8_wide;
pub mod gemm_reduce;
pub mod maxpool;
pub mod nonfinite_count;
pub mod pool;
pub mod quantize;
pub mod quantize_pair;
pub mod relu;
pub mod sgd;
pub mod softmax_xent;

/// Every twin's replay adapter (a test checks that each kernel has exactly one).
pub static REPLAYS: &[&replay::Replay] = &[
    &batchnorm::REPLAY,
    &channel_stats::REPLAY,
    &channel_stats_per_lane::REPLAY,
    &channel_stats_reduce::REPLAY,
    &channel_stats_tail::REPLAY,
    &channel_stats_tail_reduce::REPLAY,
    &clip_select::REPLAY,
    &column_sum::REPLAY,
    &conv::REPLAY,
    &depthwise::REPLAY,
    &dequantize::REPLAY,
    &gather_rows::REPLAY,
    &gemm_f32::REPLAY,
    &gemm_f32_lanes8::REPLAY,
    &gemm_f32_wide::REPLAY,
    &gemm_i8::REPLAY,
    &gemm_i8_wide::REPLAY,
    &gemm_reduce::REPLAY,
    &maxpool::REPLAY,
    &nonfinite_count::REPLAY,
    &pool::REPLAY,
    &quantize::REPLAY,
    &quantize_pair::REPLAY,
    &relu::REPLAY,
    &sgd::REPLAY,
    &softmax_xent::REPLAY,
];

pub use batchnorm::{batchnorm, batchnorm_backward, batchnorm_grad_prep};
pub use channel_stats::channel_stats;
pub use channel_stats_per_lane::channel_stats_per_lane;
pub use channel_stats_reduce::channel_stats_reduce;
pub use channel_stats_tail::channel_stats_tail;
pub use channel_stats_tail_reduce::channel_stats_tail_reduce;
pub use clip_select::clip_select;
pub use column_sum::column_sum;
pub use conv::{col2im, col2im_maxpool, im2col, im2col_i8};
pub use depthwise::{depthwise_f32, depthwise_i8};
pub use dequantize::dequantize;
pub use gather_rows::{gather_rows, gather_rows_augment};
pub use gemm_f32::{conv_f32, gemm_f32};
pub use gemm_i8::conv_i8;
pub use gemm_i8::{CpuEpilogue, CpuGate, CpuScale, dot4_i8_packed, gemm_i8};
pub use gemm_reduce::gemm_reduce;
pub use maxpool::{maxpool_backward, maxpool_forward};
pub use nonfinite_count::{nonfinite_count, nonfinite_count_vec4};
pub use pool::{add, global_avg_pool_backward, global_avg_pool_forward};
pub use quantize::{quantize, quantize_fold, quantize_scan};
pub use quantize_pair::quantize_pair;
pub use relu::{ReluSaved, relu_backward, relu_forward};
pub use sgd::{sgd, sgd_vec4};
pub use softmax_xent::softmax_xent;
