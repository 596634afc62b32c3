//! [`Model`]: a [`ModelSpec`] built on the GPU for a fixed batch size, with every buffer a
//! step touches and the fusion plan its recordings follow.

use crate::error::{Error, Result};
use crate::gpu::Context;
use crate::nn::int8::SummarySlot;
use crate::nn::layer::{AvgPoolShape, Layer};
use crate::nn::linear::LinearShape;
use crate::nn::plan::{self, LayerPlan};
use crate::nn::scratch::Scratch;
use crate::nn::{
    BasicBlock, BatchNorm, Conv2d, DepthwiseConv2d, InvertedResidual, LayerSpec, Linear, ModelSpec,
};
use crate::ops::relu::relu_mask_bytes;
use crate::ops::{self, ClipSummary};
use crate::quant::Policy;
use crate::rng::Gen;

/// A model with all its GPU buffers, for a fixed batch size.
#[derive(Debug)]
pub struct Model {
    pub(crate) spec: ModelSpec,
    pub(crate) batch: u32,
    pub(crate) layers: Vec<Layer>,
    /// How each layer is recorded in a fused step.
    pub(crate) plan: Vec<LayerPlan>,
    pub(crate) shapes: Vec<[u32; 3]>,
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
    pub(crate) summaries: wgpu::Buffer,
    /// The step's health record: word 0 counts every non-finite value found, word 1 those of
    /// the loss, word `k` those of the gradients named `health_names[k]`.
    pub(crate) health: wgpu::Buffer,
    pub(crate) health_names: Vec<String>,
    pub(crate) scratch: Scratch,
}

impl Model {
    /// Builds `spec` for `batch` inputs with weights drawn from `seed` as PyTorch initializes
    /// them (uniform in ±1/√fan_in) and zero biases. Linear and Conv2d layers run on int8 under
    /// `policy`, except the first and the last of them unless `quantize_first_last`.
    pub fn new(
        ctx: &Context,
        spec: &ModelSpec,
        batch: u32,
        policy: &Policy,
        quantize_first_last: bool,
        seed: u32,
    ) -> Result<Self> {
        let shapes = validate(spec, batch)?;
        let mut slots = SlotDealer::new(ctx, spec, &shapes, policy, quantize_first_last);
        let mut init = Init(Gen::new(seed));
        let mut layers = Vec::new();
        for (i, l) in spec.layers.iter().enumerate() {
            let built = LayerBuild {
                ctx,
                index: i,
                input: shapes[i],
                batch,
                policy,
            };
            layers.push(built.layer(l, &mut slots, &mut init)?);
        }
        add_relu_masks(ctx, &mut layers, &shapes, batch);
        crate::nn::params::flatten(ctx, &mut layers)?;
        let plan = plan::plan(&layers);
        let (acts, grads) = activations(ctx, &layers, &shapes, batch);
        let health_names = health_names(&layers);
        let scratch = Scratch::new(ctx, &layers);
        ctx.check_allocations()?;
        Ok(Model {
            spec: spec.clone(),
            batch,
            scratch,
            layers,
            plan,
            shapes,
            acts,
            grads,
            labels: ctx.storage_buffer("labels", batch as u64 * 4),
            row_loss: ctx.storage_buffer("row_loss", batch as u64 * 4),
            health: ctx.storage_buffer("health", health_names.len() as u64 * 4),
            health_names,
            correct: ctx.storage_buffer("correct", batch as u64 * 4),
            summaries: slots.summaries,
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

    /// Values in a batch of `acts[i]`.
    pub(crate) fn len_of(&self, i: usize) -> u32 {
        self.batch * self.shapes[i].iter().product::<u32>()
    }

    /// The bit mask of layer `k`'s ReLU: a ReLU layer's own, or a block's last ReLU's.
    pub(crate) fn relu_mask_of(&self, k: usize) -> Option<&wgpu::Buffer> {
        match &self.layers[k] {
            Layer::Relu(mask) => mask.as_ref(),
            Layer::Block(b) => Some(b.out_mask()),
            _ => None,
        }
    }

    /// Bytes of GPU memory a training step's forward keeps for the backward: each weighted
    /// layer's input as f32 (for a convolution its column matrix, or its input with implicit
    /// GEMMs), or int8 plus its scale when quantized; a bit per ReLU output, except before a
    /// max-pooling, whose window positions (a byte each) then carry the ReLU's mask too, or
    /// before an FP32 layer that keeps the output as its input. A buffer is counted once.
    /// Forward temporaries no backward reads (a ReLU's f32 output that the next layer
    /// quantizes, say) are not counted.
    pub fn saved_activation_bytes(&self) -> u64 {
        self.layers.iter().map(Layer::saved_bytes).sum()
    }
}

/// The shapes after each layer, once the spec and batch size are known to make a model.
fn validate(spec: &ModelSpec, batch: u32) -> Result<Vec<[u32; 3]>> {
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
    Ok(shapes)
}

/// Initial weights, drawn in layer order from one generator.
struct Init(Gen);

impl Init {
    /// `n` weights of fan-in `fan_in`: PyTorch's default (Kaiming-uniform with a = √5),
    /// U(−1/√fan_in, 1/√fan_in).
    fn draw(&mut self, fan_in: u32, n: u32) -> Vec<f32> {
        let bound = (fan_in as f32).sqrt().recip();
        (0..n)
            .map(|_| (self.0.uniform() * 2.0 - 1.0) * bound)
            .collect()
    }
}

/// Hands each GEMM layer, in model order, its entry in the table of dY clip summaries when it
/// runs on int8.
struct SlotDealer<'a> {
    policy: &'a Policy,
    quantize_first_last: bool,
    /// GEMM layers in the model (a block's two or three convolutions count each).
    weighted: usize,
    /// GEMM layers dealt so far.
    dealt: usize,
    /// Quantized layers dealt so far.
    next_slot: u32,
    /// Quantized layers in the model.
    count: u32,
    summaries: wgpu::Buffer,
}

impl<'a> SlotDealer<'a> {
    fn new(
        ctx: &Context,
        spec: &ModelSpec,
        shapes: &[[u32; 3]],
        policy: &'a Policy,
        quantize_first_last: bool,
    ) -> Self {
        let weighted: usize = spec
            .layers
            .iter()
            .enumerate()
            .map(|(i, l)| match l {
                LayerSpec::Linear { .. }
                | LayerSpec::Conv2d { .. }
                | LayerSpec::DepthwiseConv2d { .. } => 1,
                LayerSpec::InvertedResidual { expand, .. } => 2 + (*expand != 1) as usize,
                LayerSpec::BasicBlock { channels, stride } => {
                    2 + (*stride != 1 || shapes[i][2] != *channels) as usize
                }
                _ => 0,
            })
            .sum();
        let is_quantized = |k| quantized_at(policy, quantize_first_last, weighted, k);
        let count = (0..weighted).filter(|&k| is_quantized(k)).count() as u32;
        // One dY clip summary per quantized layer; φ starts at 1 (no scaling before a refresh).
        let initial = ClipSummary {
            phi: 1.0,
            ..Default::default()
        };
        let summaries = ctx.upload("dy_summaries", &vec![initial; count.max(1) as usize]);
        SlotDealer {
            policy,
            quantize_first_last,
            weighted,
            dealt: 0,
            next_slot: 0,
            count,
            summaries,
        }
    }

    /// The next GEMM layer's summary slot, if it runs on int8.
    fn deal(&mut self) -> Option<SummarySlot> {
        let q = quantized_at(
            self.policy,
            self.quantize_first_last,
            self.weighted,
            self.dealt,
        );
        self.dealt += 1;
        q.then(|| {
            self.next_slot += 1;
            SummarySlot {
                table: self.summaries.clone(),
                index: self.next_slot - 1,
                count: self.count,
            }
        })
    }
}

/// Whether GEMM layer `index` of `weighted` (in model order) runs on int8: all under an int8
/// policy but the first and the last, unless `quantize_first_last`.
fn quantized_at(policy: &Policy, quantize_first_last: bool, weighted: usize, index: usize) -> bool {
    let edge = index == 0 || index + 1 == weighted;
    policy.is_int8() && (quantize_first_last || !edge)
}

/// What building layer `index` of a model needs besides its spec.
struct LayerBuild<'a> {
    ctx: &'a Context,
    index: usize,
    /// The layer's input shape `[h, w, c]`.
    input: [u32; 3],
    batch: u32,
    policy: &'a Policy,
}

impl LayerBuild<'_> {
    fn layer(&self, spec: &LayerSpec, slots: &mut SlotDealer, init: &mut Init) -> Result<Layer> {
        let (ctx, i, batch) = (self.ctx, self.index, self.batch);
        let [h, w, c] = self.input;
        Ok(match *spec {
            LayerSpec::Linear { outputs } => {
                Layer::Linear(Box::new(self.linear(outputs, slots, init)))
            }
            LayerSpec::Conv2d {
                channels,
                kernel,
                stride,
                pad,
            } => Layer::Conv(Box::new(
                self.conv(channels, kernel, stride, pad, slots, init)?,
            )),
            LayerSpec::MaxPool2d { k } => {
                let geom = ops::PoolGeometry {
                    n: batch,
                    h,
                    w,
                    c,
                    k,
                };
                let argmax = ctx.storage_buffer(&format!("layer{i}.argmax"), geom.argmax_bytes());
                Layer::MaxPool(geom, argmax)
            }
            LayerSpec::Flatten => Layer::Flatten,
            LayerSpec::Relu => Layer::Relu(None),
            LayerSpec::Relu6 => {
                let n = batch * h * w * c;
                let mask = ctx.storage_buffer(&format!("layer{i}.relu6_mask"), relu_mask_bytes(n));
                Layer::Relu6(mask)
            }
            LayerSpec::DepthwiseConv2d {
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
                let q = slots.deal();
                let taps = kernel * kernel;
                let weights = init.draw(taps, taps * c);
                let name = format!("layer{i}.depthwise");
                let policy = self.policy;
                let layer = DepthwiseConv2d::new(ctx, &name, geom, &weights, policy, q, i > 0)?;
                Layer::Depthwise(Box::new(layer))
            }
            LayerSpec::InvertedResidual {
                expand,
                channels,
                stride,
            } => {
                let name = format!("layer{i}.block");
                let input = crate::nn::block::BlockInput { batch, h, w, c };
                let block = InvertedResidual::new(
                    ctx,
                    &name,
                    input,
                    (expand, channels, stride),
                    self.policy,
                    &mut || slots.deal(),
                    &mut |fan_in, n| init.draw(fan_in, n),
                )?;
                Layer::Inverted(Box::new(block))
            }
            LayerSpec::BatchNorm2d => {
                let bn = BatchNorm::new(ctx, &format!("layer{i}.bn"), batch * h * w, c);
                Layer::BatchNorm(Box::new(bn))
            }
            LayerSpec::GlobalAvgPool => Layer::GlobalAvgPool(AvgPoolShape {
                batch,
                pixels: h * w,
                channels: c,
            }),
            LayerSpec::BasicBlock { channels, stride } => {
                let name = format!("layer{i}.block");
                let input = crate::nn::block::BlockInput { batch, h, w, c };
                let block = BasicBlock::new(
                    ctx,
                    &name,
                    input,
                    channels,
                    stride,
                    self.policy,
                    &mut || slots.deal(),
                    &mut |fan_in, n| init.draw(fan_in, n),
                )?;
                Layer::Block(Box::new(block))
            }
        })
    }

    fn conv(
        &self,
        channels: u32,
        kernel: u32,
        stride: u32,
        pad: u32,
        slots: &mut SlotDealer,
        init: &mut Init,
    ) -> Result<Conv2d> {
        let [h, w, c] = self.input;
        let geom = ops::ConvGeometry {
            n: self.batch,
            h,
            w,
            c,
            kh: kernel,
            kw: kernel,
            stride,
            pad,
        };
        geom.validate("model")?;
        let q = slots.deal();
        let weights = init.draw(geom.taps(), geom.taps() * channels);
        let i = self.index;
        let name = format!("layer{i}.conv");
        // The first layer's input needs no gradient.
        Conv2d::new(
            self.ctx,
            &name,
            geom,
            channels,
            &weights,
            self.policy,
            q,
            i > 0,
        )
    }

    fn linear(&self, outputs: u32, slots: &mut SlotDealer, init: &mut Init) -> Linear {
        let [h, w, c] = self.input;
        let fan_in = h * w * c;
        let q = slots.deal();
        let weights = init.draw(fan_in, fan_in * outputs);
        let bias = vec![0.0; outputs as usize];
        let name = format!("layer{}.linear", self.index);
        let shape = LinearShape {
            batch: self.batch,
            inputs: fan_in,
            outputs,
        };
        Linear::new(
            self.ctx,
            &name,
            shape,
            &weights,
            &bias,
            self.policy,
            q,
            None,
        )
    }
}

/// Gives each ReLU that needs one ([`plan::needs_relu_mask`]) its bit mask.
fn add_relu_masks(ctx: &Context, layers: &mut [Layer], shapes: &[[u32; 3]], batch: u32) {
    for i in 0..layers.len() {
        if matches!(layers[i], Layer::Relu(_)) && plan::needs_relu_mask(&layers[i + 1..]) {
            let n = batch * shapes[i].iter().product::<u32>();
            let mask = ctx.storage_buffer(&format!("layer{i}.relu_mask"), relu_mask_bytes(n));
            layers[i] = Layer::Relu(Some(mask));
        }
    }
}

/// The activation buffers and the gradient buffers, indexed as [`Model::acts`] and
/// [`Model::grads`].
fn activations(
    ctx: &Context,
    layers: &[Layer],
    shapes: &[[u32; 3]],
    batch: u32,
) -> (Vec<wgpu::Buffer>, Vec<wgpu::Buffer>) {
    let mut acts: Vec<wgpu::Buffer> = Vec::new();
    // A gradient lives from the backward that writes it to the one that reads it, one layer
    // on (two past a ReLU whose backward a pooling does): three buffers taken in turn
    // hold them all. (A convolution whose col2im does the pooling before it writes grads[i - 1],
    // which may share its dy's buffer: as its last dispatch, after the last read of dy.)
    // `grad_slot[i]`: the buffer of `grads[i]`.
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
    (acts, grads)
}

/// The health record's slot names. Slot 0: everything; 1: the loss; then one per weighted
/// layer and batch norm.
fn health_names(layers: &[Layer]) -> Vec<String> {
    let mut names = vec!["any".to_string(), "loss".to_string()];
    for layer in layers {
        names.extend(layer.trainables().iter().map(|t| t.name.to_string()));
    }
    names
}
