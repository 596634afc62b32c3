//! Layers and models on the GPU. A [`Model`] owns every buffer a training step touches,
//! allocated once for a fixed batch size, and records its forward, loss, backward and update
//! passes into a [`Recording`](crate::gpu::Recording) that the trainer prepares once and
//! replays every step.
//!
//! Layers: Linear, Conv2d, DepthwiseConv2d, ReLU, ReLU6, MaxPool2d, Flatten, BatchNorm2d,
//! global average pooling, the residual basic block and the inverted-residual block — enough
//! for the zoo's MLP, LeNet-5, small ResNet and MobileNetV2.
//!
//! - `spec`: the architecture as data ([`ModelSpec`], [`LayerSpec`], the builder); `zoo`:
//!   the zoo's specs.
//! - `model`: [`Model::new`], which builds the layers (`layer`), the shared `scratch`
//!   buffers and the fusion `plan`, decided once; `record` reads that plan to record the
//!   passes; `probe` and `io` read and write what a model holds; `predict` is the forward
//!   alone ([`Predictor`]), for inference.
//! - The layers: `linear` (and its `int8` state), `conv`, `depthwise`, `batchnorm`, `block`,
//!   `inverted`.

mod batchnorm;
mod block;
mod conv;
mod depthwise;
mod int8;
mod inverted;
mod io;
mod layer;
mod linear;
mod model;
pub(crate) mod params;
mod pass;
pub(crate) mod plan;
mod predict;
mod probe;
mod record;
mod scratch;
mod spec;
mod tensors;
mod zoo;

#[cfg(test)]
mod fusion_tests;

pub use batchnorm::BatchNorm;
pub use block::BasicBlock;
pub use conv::Conv2d;
pub use depthwise::DepthwiseConv2d;
pub use inverted::InvertedResidual;
pub use io::LayerQuantState;
pub use linear::Linear;
pub use model::Model;
pub use pass::Precision;
pub(crate) use pass::{Clips, Fusion, Pass, Phase, Seeded};
pub use predict::{Predictor, argmax_rows, softmax_rows};
pub use probe::LayerProbe;
pub use spec::{LayerSpec, ModelSpec, ModelSpecBuilder};
pub(crate) use tensors::is_running_stat;
pub use tensors::{NamedTensor, TensorRole};
