//! Buffers the layers share because they run one after another: a layer's temporaries live
//! only within its own forward or backward.

use crate::gpu::Context;
use crate::nn::layer::Layer;
use crate::nn::{BatchNorm, Conv2d};

/// Buffers a layer's forward or backward writes and reads back before the next layer's starts:
/// one of each kind per model, as large as the largest layer needs, since layers run one after
/// another. Neither saved state nor per layer.
#[derive(Debug)]
pub(crate) struct Scratch {
    /// A convolution's column-matrix gradient, between its dgrad GEMM and col2im.
    pub(crate) dcols: wgpu::Buffer,
    /// A quantized convolution's packed column matrix, between `im2col_i8` and a GEMM.
    pub(crate) packed_cols: wgpu::Buffer,
    /// A batch norm's per-element terms, before their column sums.
    pub(crate) batchnorm: wgpu::Buffer,
    /// The activations and gradients inside a basic or inverted-residual block.
    pub(crate) block: BlockScratch,
}

/// The activations and gradients inside a [`BasicBlock`](crate::nn::BasicBlock) or an
/// [`InvertedResidual`](crate::nn::InvertedResidual) that its backward does not read (a batch
/// norm keeps x̂, a ReLU its mask), and the gradients inside its backward.
#[derive(Debug)]
pub(crate) struct BlockScratch {
    /// A convolution's output (conv1's, then conv2's, the shortcut's, then the sum; an inverted
    /// block's expansion's, depthwise's, projection's).
    pub(crate) conv_out: wgpu::Buffer,
    /// A batch norm's output (bn1's, then bn2's; each of an inverted block's in turn).
    pub(crate) bn_out: wgpu::Buffer,
    /// The shortcut batch norm's output.
    pub(crate) short_out: wgpu::Buffer,
    /// The gradient of the sum before the last ReLU (the shortcut's gradient too).
    pub(crate) g_sum: wgpu::Buffer,
    /// Of a convolution's output (a batch norm's input).
    pub(crate) g_a: wgpu::Buffer,
    /// Of a batch norm's output.
    pub(crate) g_b: wgpu::Buffer,
    /// Of the block input, through the main path.
    pub(crate) dx_main: wgpu::Buffer,
    /// Of the block input, through the shortcut convolution.
    pub(crate) dx_short: wgpu::Buffer,
}

impl Scratch {
    /// As large as the largest of `layers` needs.
    pub(crate) fn new(ctx: &Context, layers: &[Layer]) -> Self {
        let largest = |bytes: &mut dyn Iterator<Item = u64>| bytes.max().unwrap_or(0);
        let convs = layers.iter().flat_map(Layer::convs);
        let dcols = largest(&mut convs.clone().map(Conv2d::dcols_bytes));
        let packed_cols = largest(&mut convs.map(Conv2d::packed_cols_bytes));
        let batchnorms = layers.iter().flat_map(Layer::batchnorms);
        let batchnorm = largest(&mut batchnorms.map(BatchNorm::scratch_bytes));
        // (largest tensor inside, input) of each block, in values.
        let blocks = || {
            layers.iter().filter_map(|l| match l {
                Layer::Block(b) => Some((b.out_cells, b.in_cells)),
                Layer::Inverted(b) => Some((b.largest_cells(), b.in_cells)),
                _ => None,
            })
        };
        let out = largest(&mut blocks().map(|(out, _)| out as u64 * 4));
        let input = largest(&mut blocks().map(|(_, input)| input as u64 * 4));
        let buf = |what: &str, bytes| ctx.storage_buffer(&format!("scratch.{what}"), bytes);
        Scratch {
            dcols: buf("dcols", dcols),
            packed_cols: buf("packed_cols", packed_cols),
            batchnorm: buf("batchnorm", batchnorm),
            block: BlockScratch {
                conv_out: buf("block.conv_out", out),
                bn_out: buf("block.bn_out", out),
                short_out: buf("block.short_out", out),
                g_sum: buf("block.g_sum", out),
                g_a: buf("block.g_a", out),
                g_b: buf("block.g_b", out),
                dx_main: buf("block.dx_main", input),
                dx_short: buf("block.dx_short", input),
            },
        }
    }
}
