//! A built layer: the GPU object each [`LayerSpec`](crate::nn::LayerSpec) becomes.

use crate::gpu::Region;
use crate::nn::tensors::Slot;
use crate::nn::{BasicBlock, BatchNorm, Conv2d, DepthwiseConv2d, InvertedResidual, Linear};
use crate::ops::{self, SgdBuffers};

/// A layer's trainable values with their gradients and momentum, one buffer each laid out alike
/// (a GEMM layer's `[W | b]`, a batch norm's `[γ | β]`): what one SGD dispatch updates and one
/// health-check slot counts.
pub(crate) struct Trainable<'a> {
    /// The layer's name, the health record's name for the slot.
    pub name: &'a str,
    /// Values in each buffer.
    pub len: u32,
    /// The buffers and the learning-rate factor; no guard (the model's health record is).
    pub sgd: SgdBuffers<'a>,
}

/// One layer of a [`Model`](crate::nn::Model), with the buffers it owns.
#[derive(Debug)]
pub(crate) enum Layer {
    Linear(Box<Linear>),
    Conv(Box<Conv2d>),
    Depthwise(Box<DepthwiseConv2d>),
    /// With the window positions (argmax) its backward reads.
    MaxPool(ops::PoolGeometry, wgpu::Buffer),
    BatchNorm(Box<BatchNorm>),
    GlobalAvgPool(AvgPoolShape),
    Block(Box<BasicBlock>),
    Inverted(Box<InvertedResidual>),
    Flatten,
    /// With the bit mask its backward reads, when no later layer keeps its output as f32 (see
    /// [`needs_relu_mask`](crate::nn::plan::needs_relu_mask)).
    Relu(Option<wgpu::Buffer>),
    /// With the bit mask its backward reads (no layer fuses a ReLU6).
    Relu6(wgpu::Buffer),
}

/// What a global average pooling averages: `pixels` values per channel of each input.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AvgPoolShape {
    pub(crate) batch: u32,
    pub(crate) pixels: u32,
    pub(crate) channels: u32,
}

impl AvgPoolShape {
    /// The `(batch, pixels, channels)` the op takes.
    pub(crate) fn dims(self) -> (u32, u32, u32) {
        (self.batch, self.pixels, self.channels)
    }
}

impl Layer {
    /// The GEMM layer, if the layer is a Linear or a convolution itself.
    pub(crate) fn gemm(&self) -> Option<&Linear> {
        match self {
            Layer::Linear(l) => Some(l),
            Layer::Conv(c) => Some(&c.gemm),
            Layer::Depthwise(d) => Some(&d.gemm),
            _ => None,
        }
    }

    /// Every GEMM layer inside, blocks included.
    pub(crate) fn gemms(&self) -> Vec<&Linear> {
        match self {
            Layer::Block(b) => b.convs().into_iter().map(|c| &c.gemm).collect(),
            Layer::Inverted(b) => b.gemms(),
            other => other.gemm().into_iter().collect(),
        }
    }

    /// Every trainable inside, blocks included: GEMM layers, then batch norms.
    pub(crate) fn trainables(&self) -> Vec<Trainable<'_>> {
        let gemms = self.gemms().into_iter().map(Linear::trainable);
        gemms
            .chain(self.batchnorms().into_iter().map(BatchNorm::trainable))
            .collect()
    }

    /// Every trainable's value, gradient and momentum ranges, mutable, in the order of
    /// [`Layer::trainables`].
    pub(crate) fn trainables_mut(&mut self) -> Vec<[&mut Region; 3]> {
        match self {
            Layer::Linear(l) => vec![l.regions_mut()],
            Layer::Conv(c) => vec![c.gemm.regions_mut()],
            Layer::Depthwise(d) => vec![d.gemm.regions_mut()],
            Layer::BatchNorm(b) => vec![b.regions_mut()],
            Layer::Block(b) => b.trainables_mut(),
            Layer::Inverted(b) => b.trainables_mut(),
            Layer::MaxPool(..)
            | Layer::GlobalAvgPool(_)
            | Layer::Flatten
            | Layer::Relu(_)
            | Layer::Relu6(_) => Vec::new(),
        }
    }

    /// The layer's named tensors.
    pub(crate) fn slots(&self) -> Vec<Slot<'_>> {
        match self {
            Layer::Linear(l) => l.slots(vec![l.outputs as usize, l.inputs as usize]),
            Layer::Conv(c) => c.slots(),
            Layer::BatchNorm(b) => b.slots().into(),
            Layer::Depthwise(d) => d.slots(),
            Layer::Block(b) => b.slots(),
            Layer::Inverted(b) => b.slots(),
            _ => Vec::new(),
        }
    }

    /// Every convolution inside, blocks included.
    pub(crate) fn convs(&self) -> Vec<&Conv2d> {
        match self {
            Layer::Conv(c) => vec![c],
            Layer::Block(b) => b.convs(),
            Layer::Inverted(b) => b.convs(),
            _ => Vec::new(),
        }
    }

    /// Every batch norm inside.
    pub(crate) fn batchnorms(&self) -> Vec<&BatchNorm> {
        match self {
            Layer::BatchNorm(b) => vec![b],
            Layer::Block(b) => b.batchnorms(),
            Layer::Inverted(b) => b.batchnorms(),
            _ => Vec::new(),
        }
    }

    /// Bytes the forward keeps for the backward (see [`Model::saved_activation_bytes`]).
    ///
    /// [`Model::saved_activation_bytes`]: crate::nn::Model::saved_activation_bytes
    pub(crate) fn saved_bytes(&self) -> u64 {
        match self {
            Layer::Linear(l) => l.saved_input_bytes(),
            Layer::Conv(c) => c.saved_input_bytes(),
            Layer::MaxPool(g, _) => g.argmax_bytes(),
            Layer::BatchNorm(b) => b.saved_bytes(),
            Layer::Depthwise(d) => d.saved_input_bytes(),
            Layer::Block(b) => b.saved_bytes(),
            Layer::Inverted(b) => b.saved_bytes(),
            Layer::Relu6(mask) => mask.size(),
            Layer::GlobalAvgPool(..) => 0,
            Layer::Relu(mask) => mask.as_ref().map_or(0, wgpu::Buffer::size),
            Layer::Flatten => 0,
        }
    }
}
