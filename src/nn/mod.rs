//! Layers and models on the GPU. A [`Model`] owns every buffer a training step touches,
//! allocated once for a fixed batch size, and records its forward, loss, backward and update
//! passes into a [`Recording`] that the trainer prepares once and replays every step.
//!
//! Layers: Linear, Conv2d, ReLU, MaxPool2d, Flatten, BatchNorm2d, global average pooling and
//! the residual basic block — enough for the zoo's MLP, LeNet-5 and small ResNet.

mod block;
mod conv;
mod linear;
mod tensors;

#[cfg(test)]
mod fusion_tests;

pub use block::{BasicBlock, BatchNorm};
pub use conv::Conv2d;
pub use linear::Linear;
use linear::{Output, SummarySlot};
pub use tensors::{NamedTensor, TensorRole};

use crate::conformance::Gen;
use crate::error::{Error, Result};
use crate::gpu::{Context, Recording};
use crate::ops::relu::relu_mask_bytes;
use crate::ops::{self, ClipSummary, ReluPass, ReluSaved, SgdStep, XentBuffers};
use crate::quant::Policy;

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
    /// A multilayer perceptron: Linear + ReLU for each hidden size, then Linear to `classes`.
    /// The zoo's MLP is `ModelSpec::mlp(784, &[256, 256], 10)`.
    pub fn mlp(inputs: u32, hidden: &[u32], classes: u32) -> Self {
        let mut layers = Vec::new();
        for &h in hidden {
            layers.push(LayerSpec::Linear { outputs: h });
            layers.push(LayerSpec::Relu);
        }
        layers.push(LayerSpec::Linear { outputs: classes });
        ModelSpec {
            input: [1, 1, inputs],
            layers,
        }
    }

    /// LeNet-5 for `h × w × c` images: conv 6@5×5 (padded to keep 28×28 inputs at 28×28), ReLU,
    /// max-pool 2, conv 16@5×5, ReLU, max-pool 2, then 120-84-`classes` fully connected.
    pub fn lenet5(h: u32, w: u32, c: u32, classes: u32) -> Self {
        let pad = if h < 32 { 2 } else { 0 };
        let conv = |channels, pad| LayerSpec::Conv2d {
            channels,
            kernel: 5,
            stride: 1,
            pad,
        };
        ModelSpec {
            input: [h, w, c],
            layers: vec![
                conv(6, pad),
                LayerSpec::Relu,
                LayerSpec::MaxPool2d { k: 2 },
                conv(16, 0),
                LayerSpec::Relu,
                LayerSpec::MaxPool2d { k: 2 },
                LayerSpec::Flatten,
                LayerSpec::Linear { outputs: 120 },
                LayerSpec::Relu,
                LayerSpec::Linear { outputs: 84 },
                LayerSpec::Relu,
                LayerSpec::Linear { outputs: classes },
            ],
        }
    }

    /// A small ResNet for `h × w × c` images: conv3×3(16) → BN → ReLU, basic blocks of 16, 32
    /// (stride 2) and 64 (stride 2) channels, global average pooling, Linear to `classes`.
    pub fn resnet(h: u32, w: u32, c: u32, classes: u32) -> Self {
        ModelSpec {
            input: [h, w, c],
            layers: vec![
                LayerSpec::Conv2d {
                    channels: 16,
                    kernel: 3,
                    stride: 1,
                    pad: 1,
                },
                LayerSpec::BatchNorm2d,
                LayerSpec::Relu,
                LayerSpec::BasicBlock {
                    channels: 16,
                    stride: 1,
                },
                LayerSpec::BasicBlock {
                    channels: 32,
                    stride: 2,
                },
                LayerSpec::BasicBlock {
                    channels: 64,
                    stride: 2,
                },
                LayerSpec::GlobalAvgPool,
                LayerSpec::Linear { outputs: classes },
            ],
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
                LayerSpec::Relu | LayerSpec::BatchNorm2d => [h, w, c],
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

/// What [`Model::probe`] reads back for one layer.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerProbe {
    /// The layer's output (`[batch, features]`, or NHWC).
    pub output: Vec<f32>,
    /// Gradient with respect to the layer's input (`None` for the first layer, whose input
    /// gradient is never computed).
    pub grad_input: Option<Vec<f32>>,
}

/// The quantization state of one weighted layer, as a trainer reports it.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerQuantState {
    /// Position of the layer in the model's layer list.
    pub layer: usize,
    /// Whether its GEMMs run on int8 (false: FP32, and the other fields are defaults).
    pub quantized: bool,
    /// Clip of the forward input X (max|X| at the last refresh).
    pub clip_x: f32,
    /// Clip of the weights W.
    pub clip_w: f32,
    /// dY's clip and summary from the last refresh ([`ops::ClipSummary`]): tensor clip, cosine
    /// distance and φ (UI8), Gaussian / inverted-T channel counts (DAI8).
    pub dy: ops::ClipSummary,
}

#[derive(Debug)]
pub(crate) enum Layer {
    Linear(Box<Linear>),
    Conv(Box<Conv2d>),
    MaxPool(ops::PoolGeometry, wgpu::Buffer),
    BatchNorm(Box<BatchNorm>),
    /// `(batch, pixels, channels)`.
    GlobalAvgPool(u32, u32, u32),
    Block(Box<BasicBlock>),
    Flatten,
    /// With the bit mask its backward reads, when no later layer keeps its output as f32 (see
    /// [`Layer::needs_relu_mask`]).
    Relu(Option<wgpu::Buffer>),
}

impl Layer {
    /// Whether a ReLU followed by `after` keeps a bit mask for its backward: not when the next
    /// layer is a max-pooling, which does that backward, or keeps the ReLU's output as its own
    /// f32 input (an FP32 Linear, or FP32 convolution with implicit GEMMs), which the backward
    /// then reads. A quantized layer keeps int8, which cannot tell small positives from 0.
    fn needs_relu_mask(after: &[Layer]) -> bool {
        match after.iter().find(|l| !matches!(l, Layer::Flatten)) {
            Some(Layer::MaxPool(..)) => false,
            Some(Layer::Linear(l)) => l.is_quantized(),
            Some(Layer::Conv(c)) => !c.keeps_f32_input(),
            _ => true,
        }
    }

    /// The GEMM layer, if the layer is a Linear or a convolution itself.
    fn gemm(&self) -> Option<&Linear> {
        match self {
            Layer::Linear(l) => Some(l),
            Layer::Conv(c) => Some(&c.gemm),
            _ => None,
        }
    }

    /// Every GEMM layer inside, blocks included.
    fn gemms(&self) -> Vec<&Linear> {
        match self {
            Layer::Block(b) => b.convs().into_iter().map(|c| &c.gemm).collect(),
            other => other.gemm().into_iter().collect(),
        }
    }

    /// The layer's named tensors.
    fn slots(&self) -> Vec<tensors::Slot<'_>> {
        match self {
            Layer::Linear(l) => l.slots(vec![l.outputs as usize, l.inputs as usize]),
            Layer::Conv(c) => c.slots(),
            Layer::BatchNorm(b) => b.slots().into(),
            Layer::Block(b) => b.slots(),
            _ => Vec::new(),
        }
    }

    /// Every convolution inside, blocks included.
    fn convs(&self) -> Vec<&Conv2d> {
        match self {
            Layer::Conv(c) => vec![c],
            Layer::Block(b) => b.convs(),
            _ => Vec::new(),
        }
    }

    /// Every batch norm inside.
    fn batchnorms(&self) -> Vec<&BatchNorm> {
        match self {
            Layer::BatchNorm(b) => vec![b],
            Layer::Block(b) => b.batchnorms(),
            _ => Vec::new(),
        }
    }
}

/// A model with all its GPU buffers, for a fixed batch size.
#[derive(Debug)]
pub struct Model {
    pub(crate) spec: ModelSpec,
    pub(crate) batch: u32,
    pub(crate) layers: Vec<Layer>,
    shapes: Vec<[u32; 3]>,
    /// `acts[0]` is the input batch, `acts[i + 1]` the output of layer `i` (the same buffer as
    /// `acts[i]` after a Flatten).
    pub(crate) acts: Vec<wgpu::Buffer>,
    /// `grads[i]` is the gradient of the loss with respect to `acts[i]` (`grads[0]` unused),
    /// three buffers in turn: each is dead by the time the backward writes it again.
    pub(crate) grads: Vec<wgpu::Buffer>,
    pub(crate) labels: wgpu::Buffer,
    pub(crate) row_loss: wgpu::Buffer,
    pub(crate) correct: wgpu::Buffer,
    /// The dY clip summaries of the quantized layers.
    summaries: wgpu::Buffer,
    /// The step's health record: word 0 counts every non-finite value found, word 1 those of
    /// the loss, word `k` those of the gradients named `health_names[k]`.
    pub(crate) health: wgpu::Buffer,
    pub(crate) health_names: Vec<String>,
    scratch: Scratch,
}

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
    /// The activations and gradients inside a basic block.
    pub(crate) block: BlockScratch,
}

/// The activations and gradients inside a [`BasicBlock`] that its backward does not read (a
/// batch norm keeps x̂, a ReLU its mask), and the gradients inside its backward.
#[derive(Debug)]
pub(crate) struct BlockScratch {
    /// A convolution's output (conv1's, then conv2's, the shortcut's), then the sum.
    pub(crate) conv_out: wgpu::Buffer,
    /// bn1's output, then bn2's.
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
    fn new(ctx: &Context, layers: &[Layer]) -> Self {
        let largest = |bytes: &mut dyn Iterator<Item = u64>| bytes.max().unwrap_or(0);
        let convs = layers.iter().flat_map(Layer::convs);
        let dcols = largest(&mut convs.clone().map(Conv2d::dcols_bytes));
        let packed_cols = largest(&mut convs.map(Conv2d::packed_cols_bytes));
        let batchnorms = layers.iter().flat_map(Layer::batchnorms);
        let batchnorm = largest(&mut batchnorms.map(BatchNorm::scratch_bytes));
        let blocks = || {
            layers.iter().filter_map(|l| match l {
                Layer::Block(b) => Some(b),
                _ => None,
            })
        };
        let out = largest(&mut blocks().map(|b| b.out_cells as u64 * 4));
        let input = largest(&mut blocks().map(|b| b.in_cells as u64 * 4));
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

impl Model {
    /// Builds `spec` for `batch` inputs with weights drawn from `seed` as PyTorch initializes
    /// them (uniform in ±1/√fan_in) and zero biases. Linear and Conv2d layers run on int8 under `policy`, except the first and the last
    /// of them unless `quantize_first_last`.
    pub fn new(
        ctx: &Context,
        spec: &ModelSpec,
        batch: u32,
        policy: &Policy,
        quantize_first_last: bool,
        seed: u32,
    ) -> Result<Self> {
        if batch == 0 {
            return Err(Error::invalid("model", "batch size must be at least 1"));
        }
        if spec.classes() == 0 {
            return Err(Error::invalid(
                "model",
                "the last layer must be Linear (the logits)",
            ));
        }
        let shapes = spec.shapes()?;
        if matches!(spec.layers.first(), Some(LayerSpec::BatchNorm2d)) {
            return Err(Error::invalid(
                "model",
                "BatchNorm2d cannot be the first layer; normalize the data instead",
            ));
        }
        let weighted: usize = spec
            .layers
            .iter()
            .enumerate()
            .map(|(i, l)| match l {
                LayerSpec::Linear { .. } | LayerSpec::Conv2d { .. } => 1,
                LayerSpec::BasicBlock { channels, stride } => {
                    2 + (*stride != 1 || shapes[i][2] != *channels) as usize
                }
                _ => 0,
            })
            .sum();
        let mut rng = Gen::new(seed);
        let mut init = |fan_in: u32, n: u32| -> Vec<f32> {
            // PyTorch's default (Kaiming-uniform with a = √5): U(−1/√fan_in, 1/√fan_in).
            let bound = (fan_in as f32).sqrt().recip();
            (0..n)
                .map(|_| (rng.uniform() * 2.0 - 1.0) * bound)
                .collect()
        };
        let is_quantized = |index: usize| {
            let edge = index == 0 || index + 1 == weighted;
            policy.is_int8() && (quantize_first_last || !edge)
        };
        let count = (0..weighted).filter(|&k| is_quantized(k)).count() as u32;
        // One dY clip summary per quantized layer; φ starts at 1 (no scaling before a refresh).
        let initial = ClipSummary {
            phi: 1.0,
            ..Default::default()
        };
        let summaries = ctx.upload("dy_summaries", &vec![initial; count.max(1) as usize]);
        let mut layers = Vec::new();
        let mut weighted_index = 0;
        let mut slot = 0;
        for (i, l) in spec.layers.iter().enumerate() {
            let [h, w, c] = shapes[i];
            let mut quantized = || {
                let q = is_quantized(weighted_index);
                weighted_index += 1;
                q.then(|| {
                    slot += 1;
                    SummarySlot {
                        table: summaries.clone(),
                        index: slot - 1,
                        count,
                    }
                })
            };
            layers.push(match *l {
                LayerSpec::Linear { outputs } => {
                    let fan_in = h * w * c;
                    let q = quantized();
                    let weights = init(fan_in, fan_in * outputs);
                    let bias = vec![0.0; outputs as usize];
                    let name = format!("layer{i}.linear");
                    let shape = (batch, fan_in, outputs);
                    Layer::Linear(Box::new(Linear::new(
                        ctx, &name, shape, &weights, &bias, policy, q, None,
                    )))
                }
                LayerSpec::Conv2d {
                    channels,
                    kernel,
                    stride,
                    pad,
                } => {
                    let geom = ops::ConvGeometry {
                        n: batch,
                        h,
                        w,
                        c,
                        kh: kernel,
                        kw: kernel,
                        stride,
                        pad,
                    };
                    geom.validate("model")?;
                    let q = quantized();
                    let weights = init(geom.taps(), geom.taps() * channels);
                    let name = format!("layer{i}.conv");
                    // The first layer's input needs no gradient.
                    let conv = (geom, channels);
                    Layer::Conv(Box::new(Conv2d::new(
                        ctx,
                        &name,
                        conv,
                        &weights,
                        policy,
                        q,
                        i > 0,
                    )?))
                }
                LayerSpec::MaxPool2d { k } => {
                    let geom = ops::PoolGeometry {
                        n: batch,
                        h,
                        w,
                        c,
                        k,
                    };
                    let argmax =
                        ctx.storage_buffer(&format!("layer{i}.argmax"), geom.argmax_bytes());
                    Layer::MaxPool(geom, argmax)
                }
                LayerSpec::Flatten => Layer::Flatten,
                LayerSpec::Relu => Layer::Relu(None),
                LayerSpec::BatchNorm2d => {
                    let bn = BatchNorm::new(ctx, &format!("layer{i}.bn"), batch * h * w, c);
                    Layer::BatchNorm(Box::new(bn))
                }
                LayerSpec::GlobalAvgPool => Layer::GlobalAvgPool(batch, h * w, c),
                LayerSpec::BasicBlock { channels, stride } => {
                    let name = format!("layer{i}.block");
                    let block = BasicBlock::new(
                        ctx,
                        &name,
                        (batch, h, w, c),
                        channels,
                        stride,
                        policy,
                        &mut quantized,
                        &mut init,
                    )?;
                    Layer::Block(Box::new(block))
                }
            });
        }
        for i in 0..layers.len() {
            if matches!(layers[i], Layer::Relu(_)) && Layer::needs_relu_mask(&layers[i + 1..]) {
                let n = batch * shapes[i].iter().product::<u32>();
                let mask = ctx.storage_buffer(&format!("layer{i}.relu_mask"), relu_mask_bytes(n));
                layers[i] = Layer::Relu(Some(mask));
            }
        }
        let mut acts: Vec<wgpu::Buffer> = Vec::new();
        // A gradient lives from the backward that writes it to the one that reads it, one layer
        // on (two past a ReLU whose backward a pooling does): three buffers taken in turn
        // hold them all. `grad_slot[i]`: the buffer of `grads[i]`.
        let mut grad_slot = Vec::new();
        let mut grad_bytes = [0u64; 3];
        for (i, shape) in shapes.iter().enumerate() {
            if i > 0 && matches!(layers[i - 1], Layer::Flatten) {
                acts.push(acts[i - 1].clone());
                grad_slot.push(grad_slot[i - 1]);
                continue;
            }
            let bytes = batch as u64 * shape.iter().map(|&d| d as u64).product::<u64>() * 4;
            acts.push(ctx.storage_buffer(&format!("act{i}.value"), bytes));
            let slot = grad_slot.last().map_or(0, |s| (s + 1) % 3);
            grad_bytes[slot] = grad_bytes[slot].max(bytes);
            grad_slot.push(slot);
        }
        let grad_bufs = grad_bytes.map(|bytes| ctx.storage_buffer("act.grad", bytes));
        let grads = grad_slot.iter().map(|&s| grad_bufs[s].clone()).collect();
        // Slot 0: everything; 1: the loss; then one per weighted layer and batch norm.
        let mut health_names = vec!["any".to_string(), "loss".to_string()];
        for layer in &layers {
            health_names.extend(layer.gemms().iter().map(|l| l.name.clone()));
            health_names.extend(layer.batchnorms().iter().map(|b| b.name.clone()));
        }
        let scratch = Scratch::new(ctx, &layers);
        ctx.check_allocations()?;
        Ok(Model {
            spec: spec.clone(),
            batch,
            scratch,
            layers,
            shapes,
            acts,
            grads,
            labels: ctx.storage_buffer("labels", batch as u64 * 4),
            row_loss: ctx.storage_buffer("row_loss", batch as u64 * 4),
            health: ctx.storage_buffer("health", health_names.len() as u64 * 4),
            health_names,
            correct: ctx.storage_buffer("correct", batch as u64 * 4),
            summaries,
        })
    }

    /// The architecture.
    pub fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    /// The batch size the buffers were made for.
    pub fn batch(&self) -> u32 {
        self.batch
    }

    /// The weighted layers' GEMMs (Linear layers and convolutions), in order.
    pub fn gemm_layers(&self) -> impl Iterator<Item = &Linear> {
        self.layers.iter().flat_map(Layer::gemms)
    }

    fn len_of(&self, i: usize) -> u32 {
        self.batch * self.shapes[i].iter().product::<u32>()
    }

    /// Bytes of GPU memory a training step's forward keeps for the backward: each weighted
    /// layer's input as f32 (for a convolution its column matrix, or its input with implicit
    /// GEMMs), or int8 plus its scale when quantized; a bit per ReLU output, except before a
    /// max-pooling, whose window positions (a byte each) then carry the ReLU's mask too, or
    /// before an FP32 layer that keeps the output as its input. A buffer is counted once.
    /// Forward temporaries no backward reads (a ReLU's f32 output that the next layer
    /// quantizes, say) are not counted.
    pub fn saved_activation_bytes(&self) -> u64 {
        self.layers
            .iter()
            .map(|layer| match layer {
                Layer::Linear(l) => l.saved_input_bytes(),
                Layer::Conv(c) => c.saved_input_bytes(),
                Layer::MaxPool(g, _) => g.argmax_bytes(),
                Layer::BatchNorm(b) => b.saved_bytes(),
                Layer::Block(b) => b.saved_bytes(),
                Layer::GlobalAvgPool(..) => 0,
                Layer::Relu(mask) => mask.as_ref().map_or(0, wgpu::Buffer::size),
                Layer::Flatten => 0,
            })
            .sum()
    }

    /// Runs forward (training mode) on `x` and backward from `dlogits` (the gradient of the
    /// loss with respect to the logits) without updating the parameters, and reads back every
    /// layer's output and input gradient; the parameters' gradients are then readable with
    /// [`Model::read_tensors`]. For checking layers against references and inspecting
    /// quantization error. Batch-norm running statistics advance by one step. Blocks.
    pub fn probe(
        &self,
        ctx: &Context,
        x: &[f32],
        dlogits: &[f32],
        seed: u32,
    ) -> Result<Vec<LayerProbe>> {
        let last = self.shapes.len() - 1;
        if x.len() != self.len_of(0) as usize || dlogits.len() != self.len_of(last) as usize {
            return Err(Error::invalid(
                "probe",
                "x or dlogits does not match the batch and model",
            ));
        }
        let read = |buf: &wgpu::Buffer, n: u32| -> Result<Vec<f32>> {
            let mut v: Vec<f32> = ctx.read_buffer(buf)?;
            v.truncate(n as usize);
            Ok(v)
        };
        // Unfused, so that every layer's own output is there to read.
        let mut rec = Recording::new();
        self.record_forward(ctx, &mut rec, true, true, false)?;
        ctx.queue()
            .write_buffer(&self.acts[0], 0, bytemuck::cast_slice(x));
        ctx.run(&rec)?;
        let mut probes = (0..self.layers.len())
            .map(|i| {
                Ok(LayerProbe {
                    output: read(&self.acts[i + 1], self.len_of(i + 1))?,
                    grad_input: None,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        // A layer at a time: gradient buffers are reused two layers on.
        ctx.queue()
            .write_buffer(&self.grads[last], 0, bytemuck::cast_slice(dlogits));
        let mut seeds = seed;
        for i in (0..self.layers.len()).rev() {
            let mut rec = Recording::new();
            for idx in self.record_layer_backward(ctx, &mut rec, i, true, false)? {
                let d = &mut rec.dispatches[idx];
                let params = ops::quantize::QuantizeParams {
                    seed: seeds,
                    ..bytemuck::pod_read_unaligned(&d.params)
                };
                d.params = bytemuck::bytes_of(&params).to_vec();
                seeds = seeds.wrapping_add(1);
            }
            ctx.run(&rec)?;
            if i > 0 {
                probes[i].grad_input = Some(read(&self.grads[i], self.len_of(i))?);
            }
        }
        Ok(probes)
    }

    /// Reads back the model's tensors of one role, named as [`NamedTensor`] documents (e.g.
    /// `layer0.conv.weight`). Blocks.
    pub fn read_tensors(&self, ctx: &Context, role: TensorRole) -> Result<Vec<NamedTensor>> {
        tensors::read(ctx, &self.slots(), role)
    }

    /// Starts reading one tensor back without waiting (see [`Readback`](crate::gpu::Readback)):
    /// for a host that shows weights while training, frame after frame.
    pub fn read_tensor_async(
        &self,
        ctx: &Context,
        role: TensorRole,
        name: &str,
    ) -> Result<crate::gpu::Readback<f32>> {
        let slots = self.slots();
        let place = slots
            .iter()
            .filter(|s| s.name == name)
            .find_map(|s| s.places.iter().find(|(r, _)| *r == role))
            .ok_or_else(|| {
                Error::invalid("read_tensor_async", format!("no {role:?} tensor `{name}`"))
            })?;
        let s = place.1;
        ctx.read_async(s.buffer, s.offset as u64 * 4, s.len as usize)
    }

    /// Overwrites the model's tensors of one role, e.g. from a checkpoint. Every tensor of the
    /// role must be given once with the model's shape, else nothing is written and the error
    /// names the tensor.
    pub fn write_tensors(
        &self,
        ctx: &Context,
        role: TensorRole,
        tensors: &[NamedTensor],
    ) -> Result<()> {
        tensors::write(ctx, &self.slots(), role, tensors)
    }

    fn slots(&self) -> Vec<tensors::Slot<'_>> {
        let mut slots: Vec<_> = self.layers.iter().flat_map(Layer::slots).collect();
        let words = (self.summaries.size() / 4) as u32;
        slots.push(tensors::Slot {
            name: "dy_summaries".into(),
            shape: vec![words as usize],
            places: vec![(
                TensorRole::QuantState,
                tensors::Slice::whole(&self.summaries, words),
            )],
        });
        slots
    }

    /// Reads back the quantization state of each weighted layer. Blocks; meant for reports
    /// between epochs, not for every step.
    pub fn quant_state(&self, ctx: &Context) -> Result<Vec<LayerQuantState>> {
        let mut out = Vec::new();
        for (i, l) in self
            .layers
            .iter()
            .enumerate()
            .flat_map(|(i, layer)| layer.gemms().into_iter().map(move |l| (i, l)))
        {
            let mut state = LayerQuantState {
                layer: i,
                quantized: false,
                clip_x: 0.0,
                clip_w: 0.0,
                dy: ops::ClipSummary::default(),
            };
            if let Some(q) = &l.int8 {
                let first = |b: &wgpu::Buffer| -> Result<ops::ChannelStat> {
                    Ok(ctx.read_buffer::<ops::ChannelStat>(b)?[0])
                };
                state.quantized = true;
                state.clip_x = first(&q.x.stats)?.max_abs;
                state.clip_w = first(&q.w.stats)?.max_abs;
                let table = ctx.read_buffer::<ClipSummary>(&q.summary.table)?;
                state.dy = table[q.summary.index as usize];
            }
            out.push(state);
        }
        Ok(out)
    }

    /// Whether layer `i` is a ReLU that the layer before it can apply to its output (a GEMM
    /// layer in its epilogue, a batch norm): one without a mask to write, or whose mask the layer
    /// after it writes as it quantizes.
    fn relu_in_producer(&self, i: usize) -> bool {
        let relu = match self.layers.get(i) {
            Some(Layer::Relu(None)) => true,
            Some(Layer::Relu(Some(_))) => self.mask_written_after(i).is_some(),
            _ => false,
        };
        relu && i > 0
            && matches!(
                self.layers[i - 1],
                Layer::Linear(_) | Layer::Conv(_) | Layer::BatchNorm(_)
            )
    }

    /// The mask of ReLU `i`, when the next layer (past a Flatten) can write it as it quantizes
    /// the ReLU's output ([`Linear::marks_relu`], [`Conv2d::marks_relu`],
    /// [`BasicBlock::marks_relu`]).
    fn mask_written_after(&self, i: usize) -> Option<&wgpu::Buffer> {
        let Some(Layer::Relu(Some(mask))) = self.layers.get(i) else {
            return None;
        };
        let marks = match self.layers[i + 1..]
            .iter()
            .find(|l| !matches!(l, Layer::Flatten))
        {
            Some(Layer::Linear(l)) => l.marks_relu(),
            Some(Layer::Conv(c)) => c.marks_relu(),
            Some(Layer::Block(b)) => b.marks_relu(),
            _ => false,
        };
        marks.then_some(mask)
    }

    /// Whether block `i`'s last ReLU runs in its residual add, its mask written by the next
    /// layer: a block that can ([`BasicBlock::marks_relu`]).
    fn block_masked_by_next(&self, i: usize) -> bool {
        matches!(self.layers.get(i), Some(Layer::Block(_)))
            && matches!(self.layers.get(i + 1), Some(Layer::Block(b)) if b.marks_relu())
    }

    /// The mask layer `i` (a GEMM layer or a block) writes as it quantizes its input: that of the
    /// ReLU before it (past a Flatten) when the ReLU ran in the layer before that, or the last
    /// ReLU's of the block before it.
    fn mask_written_by(&self, i: usize) -> Option<&wgpu::Buffer> {
        let r = (0..i)
            .rev()
            .find(|&k| !matches!(self.layers[k], Layer::Flatten))?;
        match &self.layers[r] {
            Layer::Block(b) => self.block_masked_by_next(r).then(|| b.out_mask()),
            _ => self
                .relu_in_producer(r)
                .then(|| self.mask_written_after(r))
                .flatten(),
        }
    }

    /// Whether layer `i` is a ReLU whose backward the max-pooling after it can do: the pool's
    /// forward marks windows whose maximum is not positive, and its backward routes them no
    /// gradient — exactly what the ReLU's backward would have zeroed.
    fn relu_in_pool(&self, i: usize) -> bool {
        matches!(self.layers.get(i), Some(Layer::Relu(_)))
            && matches!(self.layers.get(i + 1), Some(Layer::MaxPool(..)))
    }

    /// Records the forward. With `fuse` (training and evaluation steps) a ReLU after a GEMM
    /// layer or a batch norm runs in that layer (a GEMM's epilogue), which writes straight to the
    /// ReLU's output (its mask, if it keeps one, written by the next layer's quantization), and
    /// a ReLU before a max-pooling leaves its backward to the pooling; without it (probes) every
    /// layer writes its own output.
    pub(crate) fn record_forward(
        &self,
        ctx: &Context,
        rec: &mut Recording,
        refresh: bool,
        train: bool,
        fuse: bool,
    ) -> Result<()> {
        for (i, layer) in self.layers.iter().enumerate() {
            let (x, y) = (&self.acts[i], &self.acts[i + 1]);
            let out = if fuse && self.relu_in_producer(i + 1) {
                Output {
                    y: &self.acts[i + 2],
                    relu: true,
                }
            } else {
                Output::plain(y)
            };
            let relu_mask = if fuse { self.mask_written_by(i) } else { None };
            match layer {
                Layer::Linear(l) => {
                    let input = (linear::Input::Matrix(x), relu_mask);
                    l.record_forward(ctx, rec, input, out, refresh)?
                }
                Layer::Conv(c) => {
                    let x = (x, relu_mask);
                    c.record_forward(ctx, rec, x, out, refresh, &self.scratch)?
                }
                Layer::MaxPool(g, argmax) => {
                    let after_relu = fuse && i > 0 && self.relu_in_pool(i - 1);
                    let pass = ops::PoolPass::Forward { after_relu };
                    ops::maxpool(ctx, rec, g, x, pass, argmax, y)?
                }
                Layer::BatchNorm(b) => b.record_forward(ctx, rec, (x, out.y), train, out.relu)?,
                Layer::GlobalAvgPool(n, hw, c) => {
                    ops::global_avg_pool(ctx, rec, (*n, *hw, *c), x, None, y)?
                }
                Layer::Block(b) => {
                    let out = (y, fuse && self.block_masked_by_next(i));
                    let modes = (refresh, train);
                    b.record_forward(ctx, rec, (x, relu_mask), out, modes, &self.scratch)?
                }
                Layer::Relu(_) if fuse && self.relu_in_producer(i) => {}
                Layer::Relu(mask) => {
                    let pass = ReluPass::Forward {
                        x,
                        mask: mask.as_ref(),
                    };
                    ops::relu(ctx, rec, self.len_of(i), pass, y)?
                }
                Layer::Flatten => {}
            }
        }
        Ok(())
    }

    pub(crate) fn record_loss(&self, rec: &mut Recording) -> Result<()> {
        let last = self.acts.len() - 1;
        let bufs = XentBuffers {
            logits: &self.acts[last],
            labels: &self.labels,
            dlogits: &self.grads[last],
            row_loss: &self.row_loss,
            correct: &self.correct,
        };
        ops::softmax_xent(rec, self.batch, self.spec.classes(), bufs)
    }

    /// Records the backward pass; returns the dispatch indices (and layouts) of the stochastic
    /// quantizations whose seeds change every step.
    pub(crate) fn record_backward(
        &self,
        ctx: &Context,
        rec: &mut Recording,
        refresh: bool,
        fuse: bool,
    ) -> Result<Vec<usize>> {
        let mut seeded = Vec::new();
        for i in (0..self.layers.len()).rev() {
            seeded.extend(self.record_layer_backward(ctx, rec, i, refresh, fuse)?);
        }
        Ok(seeded)
    }

    /// Records layer `i`'s backward; returns what [`Model::record_backward`] does.
    fn record_layer_backward(
        &self,
        ctx: &Context,
        rec: &mut Recording,
        i: usize,
        refresh: bool,
        fuse: bool,
    ) -> Result<Vec<usize>> {
        let mut seeded = Vec::new();
        let layer = &self.layers[i];
        // Past a ReLU whose backward the pooling did, the pooling's dx is this layer's dy.
        let dy_at = if fuse && self.relu_in_pool(i + 1) {
            i + 2
        } else {
            i + 1
        };
        let (x, dy) = (&self.acts[i], &self.grads[dy_at]);
        // The input's gradient is never needed.
        let dx = (i > 0).then_some(&self.grads[i]);
        match layer {
            Layer::Linear(l) => {
                let x = linear::Input::Matrix(x);
                seeded.extend(l.record_backward(ctx, rec, x, dy, dx, refresh)?);
            }
            Layer::Conv(c) => {
                let scratch = &self.scratch;
                seeded.extend(c.record_backward(ctx, rec, (x, dy), dx, refresh, scratch)?);
            }
            Layer::MaxPool(g, argmax) => {
                if let Some(dx) = dx {
                    let pass = ops::PoolPass::Backward { dy };
                    ops::maxpool(ctx, rec, g, x, pass, argmax, dx)?;
                }
            }
            Layer::BatchNorm(b) => {
                // Never the first layer (refused in `new`), so there is a dx to write.
                if let Some(dx) = dx {
                    b.record_backward(ctx, rec, (dy, dx), &self.scratch)?;
                }
            }
            Layer::GlobalAvgPool(n, hw, c) => {
                if let Some(dx) = dx {
                    ops::global_avg_pool(ctx, rec, (*n, *hw, *c), x, Some(dy), dx)?;
                }
            }
            Layer::Block(b) => {
                let scratch = &self.scratch;
                seeded.extend(b.record_backward(ctx, rec, (x, dy), dx, refresh, scratch)?);
            }
            Layer::Relu(_) if fuse && self.relu_in_pool(i) => {}
            Layer::Relu(mask) => {
                // Without a mask: the output, which has the input's positive elements and
                // is there also when the ReLU ran in a GEMM's epilogue.
                let saved = match mask {
                    Some(m) => ReluSaved::Mask(m),
                    None => ReluSaved::Values(&self.acts[i + 1]),
                };
                if let Some(dx) = dx {
                    let pass = ReluPass::Backward { dy, saved };
                    ops::relu(ctx, rec, self.len_of(i), pass, dx)?;
                }
            }
            Layer::Flatten => {}
        }
        Ok(seeded)
    }

    /// Records the step's health checks — non-finite values in the loss and in every parameter
    /// gradient, counted on the GPU before the optimizer runs — in the slot order of
    /// `health_names`.
    pub(crate) fn record_checks(&self, rec: &mut Recording) -> Result<()> {
        let mut slot = 1;
        let check = |rec: &mut Recording, buf: &wgpu::Buffer, n: u32, slot: u32| {
            ops::nonfinite::nonfinite_count(rec, n, buf, (&self.health, slot))
        };
        check(rec, &self.row_loss, self.batch, slot)?;
        for layer in &self.layers {
            for l in layer.gemms() {
                slot += 1;
                check(rec, &l.grad_weight, l.inputs * l.outputs, slot)?;
                check(rec, &l.grad_bias, l.outputs, slot)?;
            }
            for b in layer.batchnorms() {
                slot += 1;
                let (grads, n) = b.grads();
                check(rec, grads, n, slot)?;
            }
        }
        Ok(())
    }

    /// Records the optimizer step, guarded by the health record; returns the dispatch index of
    /// each update, whose learning rate the trainer sets every step.
    pub(crate) fn record_update(
        &self,
        ctx: &Context,
        rec: &mut Recording,
        step: SgdStep,
    ) -> Result<Vec<usize>> {
        let mut updates = Vec::new();
        for l in self.gemm_layers() {
            updates.extend(l.record_update(ctx, rec, step, &self.health)?);
        }
        for bn in self.layers.iter().flat_map(Layer::batchnorms) {
            updates.push(bn.record_update(ctx, rec, step, &self.health)?);
        }
        Ok(updates)
    }
}
