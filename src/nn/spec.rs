//! A model's architecture as data: [`LayerSpec`] and [`ModelSpec`], what checkpoints store and
//! [`Model::new`](crate::nn::Model::new) builds, with a builder that writes one in a line.

use crate::error::{Error, Result};
use crate::nn::{BasicBlock, InvertedResidual};

/// One layer of a [`ModelSpec`]. Activations are NHWC.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum LayerSpec {
    /// Fully connected layer to `outputs` features (a spatial input is read flattened).
    Linear {
        /// Output features.
        outputs: u32,
    },
    /// 2-D convolution with a square kernel.
    Conv2d {
        /// Output channels.
        channels: u32,
        /// Kernel size.
        kernel: u32,
        /// Stride.
        stride: u32,
        /// Zero padding on each side.
        pad: u32,
    },
    /// Max pooling with a `k × k` window and stride `k`.
    MaxPool2d {
        /// Window and stride.
        k: u32,
    },
    /// `[h, w, c]` → `[1, 1, h·w·c]` (free: NHWC is already row-major).
    Flatten,
    /// Batch normalization over the channels (FP32).
    BatchNorm2d,
    /// Mean over the pixels: `[h, w, c]` → `[1, 1, c]`.
    GlobalAvgPool,
    /// ResNet basic block to `channels` with the first convolution's `stride`.
    BasicBlock {
        /// Output channels.
        channels: u32,
        /// Stride of the first convolution (and of the projection shortcut).
        stride: u32,
    },
    /// Rectifier.
    Relu,
    /// Depthwise 2-D convolution: one square `kernel` filter per channel, channels unchanged.
    DepthwiseConv2d {
        /// Kernel size.
        kernel: u32,
        /// Stride.
        stride: u32,
        /// Zero padding on each side.
        pad: u32,
    },
    /// `min(max(x, 0), 6)`, MobileNetV2's rectifier.
    Relu6,
    /// MobileNetV2's inverted-residual block to `channels`: expansion to `expand` times the
    /// input channels (none when 1), 3×3 depthwise convolution with `stride`, projection.
    InvertedResidual {
        /// Expansion factor of the hidden width.
        expand: u32,
        /// Output channels.
        channels: u32,
        /// Stride of the depthwise convolution.
        stride: u32,
    },
}

/// A model's architecture: the input shape `[h, w, c]` and the layers, the last one producing
/// the class logits.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ModelSpec {
    /// Height, width and channels of one input (`[1, 1, features]` for flat data).
    pub input: [u32; 3],
    /// Layers in order.
    pub layers: Vec<LayerSpec>,
}

impl ModelSpec {
    /// Starts a spec for `h × w × c` inputs (`1, 1, features` for flat data), e.g.
    /// `ModelSpec::builder(28, 28, 1).conv(6, 5).relu().maxpool(2).flatten().linear(10).build()`.
    pub fn builder(h: u32, w: u32, c: u32) -> ModelSpecBuilder {
        ModelSpecBuilder {
            spec: ModelSpec {
                input: [h, w, c],
                layers: Vec::new(),
            },
        }
    }

    /// Values in one input: `h·w·c`.
    pub fn input_len(&self) -> u32 {
        self.input.iter().product()
    }

    /// The shape `[h, w, c]` after each layer (index 0: the input); fails on a layer that does
    /// not fit its input.
    pub fn shapes(&self) -> Result<Vec<[u32; 3]>> {
        let mut shapes = vec![self.input];
        for (i, l) in self.layers.iter().enumerate() {
            let [h, w, c] = shapes[i];
            let bad = |why: String| Error::invalid("model", format!("layer {i} ({l:?}): {why}"));
            shapes.push(match *l {
                LayerSpec::Linear { outputs } if outputs > 0 => [1, 1, outputs],
                LayerSpec::Conv2d {
                    channels,
                    kernel,
                    stride,
                    pad,
                } if channels > 0 && kernel > 0 && stride > 0 => {
                    if kernel > h + 2 * pad || kernel > w + 2 * pad {
                        return Err(bad(format!(
                            "kernel {kernel} exceeds the padded {h}x{w} input"
                        )));
                    }
                    let o = |s: u32| (s + 2 * pad - kernel) / stride + 1;
                    [o(h), o(w), channels]
                }
                LayerSpec::MaxPool2d { k } if k > 0 => {
                    if h < k || w < k {
                        return Err(bad(format!("window {k} exceeds the {h}x{w} input")));
                    }
                    [h / k, w / k, c]
                }
                LayerSpec::Flatten => [1, 1, h * w * c],
                LayerSpec::DepthwiseConv2d {
                    kernel,
                    stride,
                    pad,
                } if kernel > 0 && stride > 0 => {
                    if kernel > h + 2 * pad || kernel > w + 2 * pad {
                        return Err(bad(format!(
                            "kernel {kernel} exceeds the padded {h}x{w} input"
                        )));
                    }
                    let o = |s: u32| (s + 2 * pad - kernel) / stride + 1;
                    [o(h), o(w), c]
                }
                LayerSpec::InvertedResidual {
                    expand,
                    channels,
                    stride,
                } if expand > 0 && channels > 0 && stride > 0 => {
                    InvertedResidual::output_shape(h, w, channels, stride)
                }
                LayerSpec::Relu | LayerSpec::Relu6 | LayerSpec::BatchNorm2d => [h, w, c],
                LayerSpec::GlobalAvgPool => [1, 1, c],
                LayerSpec::BasicBlock { channels, stride } if channels > 0 && stride > 0 => {
                    BasicBlock::output_shape(h, w, channels, stride)
                }
                _ => return Err(bad("zero size".into())),
            });
        }
        Ok(shapes)
    }

    /// Number of classes: the last layer's outputs.
    pub fn classes(&self) -> u32 {
        match self.layers.last() {
            Some(LayerSpec::Linear { outputs }) => *outputs,
            _ => 0,
        }
    }
}

/// Appends layers to a [`ModelSpec`], one call per [`LayerSpec`]; see [`ModelSpec::builder`].
/// It checks nothing: [`ModelSpec::shapes`] and [`Model::new`](crate::nn::Model::new) do.
#[derive(Clone, Debug)]
#[must_use = "call build() to get the spec"]
pub struct ModelSpecBuilder {
    spec: ModelSpec,
}

impl ModelSpecBuilder {
    /// Appends any layer.
    pub fn layer(mut self, layer: LayerSpec) -> Self {
        self.spec.layers.push(layer);
        self
    }

    /// [`LayerSpec::Linear`] to `outputs` features.
    pub fn linear(self, outputs: u32) -> Self {
        self.layer(LayerSpec::Linear { outputs })
    }

    /// [`LayerSpec::Conv2d`] with stride 1 and no padding.
    pub fn conv(self, channels: u32, kernel: u32) -> Self {
        self.conv2d(channels, kernel, 1, 0)
    }

    /// [`LayerSpec::Conv2d`] with every field given.
    pub fn conv2d(self, channels: u32, kernel: u32, stride: u32, pad: u32) -> Self {
        self.layer(LayerSpec::Conv2d {
            channels,
            kernel,
            stride,
            pad,
        })
    }

    /// [`LayerSpec::MaxPool2d`] with a `k × k` window.
    pub fn maxpool(self, k: u32) -> Self {
        self.layer(LayerSpec::MaxPool2d { k })
    }

    /// [`LayerSpec::Flatten`].
    pub fn flatten(self) -> Self {
        self.layer(LayerSpec::Flatten)
    }

    /// [`LayerSpec::BatchNorm2d`].
    pub fn batchnorm(self) -> Self {
        self.layer(LayerSpec::BatchNorm2d)
    }

    /// [`LayerSpec::GlobalAvgPool`].
    pub fn global_avg_pool(self) -> Self {
        self.layer(LayerSpec::GlobalAvgPool)
    }

    /// [`LayerSpec::BasicBlock`] to `channels`, its first convolution strided by `stride`.
    pub fn basic_block(self, channels: u32, stride: u32) -> Self {
        self.layer(LayerSpec::BasicBlock { channels, stride })
    }

    /// [`LayerSpec::Relu`].
    pub fn relu(self) -> Self {
        self.layer(LayerSpec::Relu)
    }

    /// [`LayerSpec::DepthwiseConv2d`] with every field given.
    pub fn depthwise(self, kernel: u32, stride: u32, pad: u32) -> Self {
        self.layer(LayerSpec::DepthwiseConv2d {
            kernel,
            stride,
            pad,
        })
    }

    /// [`LayerSpec::Relu6`].
    pub fn relu6(self) -> Self {
        self.layer(LayerSpec::Relu6)
    }

    /// [`LayerSpec::InvertedResidual`] expanding by `expand` to `channels` with `stride`.
    pub fn inverted_residual(self, expand: u32, channels: u32, stride: u32) -> Self {
        self.layer(LayerSpec::InvertedResidual {
            expand,
            channels,
            stride,
        })
    }

    /// The spec.
    pub fn build(self) -> ModelSpec {
        self.spec
    }
}
