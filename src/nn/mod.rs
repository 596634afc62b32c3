//! Layers and models on the GPU. A [`Model`] owns every buffer a training step touches,
//! allocated once for a fixed batch size, and records its forward, loss, backward and update
//! passes into a [`Recording`] that the trainer prepares once and replays every step.
//!
//! This release has the layers of the MLP (Linear, ReLU); convolution, pooling, batch norm and
//! residual blocks follow.

mod linear;

pub use linear::Linear;

use crate::conformance::Gen;
use crate::error::{Error, Result};
use crate::gpu::{Context, Recording};
use crate::ops::{self, SgdStep, XentBuffers};
use crate::quant::Policy;

/// One layer of a [`ModelSpec`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LayerSpec {
    /// Fully connected layer to `outputs` features.
    Linear {
        /// Output features.
        outputs: u32,
    },
    /// Rectifier.
    Relu,
}

/// A model's architecture: input features and layers, the last producing the class logits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelSpec {
    /// Features of one input row.
    pub inputs: u32,
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
        ModelSpec { inputs, layers }
    }

    /// Features after each layer (index 0: the input).
    pub fn features(&self) -> Vec<u32> {
        let mut f = vec![self.inputs];
        for l in &self.layers {
            let last = *f.last().unwrap_or(&self.inputs);
            f.push(match l {
                LayerSpec::Linear { outputs } => *outputs,
                LayerSpec::Relu => last,
            });
        }
        f
    }

    /// Number of classes: the last layer's features.
    pub fn classes(&self) -> u32 {
        *self.features().last().unwrap_or(&self.inputs)
    }
}

/// What [`Model::probe`] reads back for one Linear layer.
#[derive(Clone, Debug, PartialEq)]
pub struct LinearProbe {
    /// The layer's output `[batch, outputs]`.
    pub output: Vec<f32>,
    /// Gradient with respect to the layer's input (`None` for the first layer, whose input
    /// gradient is never computed).
    pub grad_input: Option<Vec<f32>>,
    /// Gradient of the weights `[outputs, inputs]`.
    pub grad_weight: Vec<f32>,
    /// Gradient of the bias.
    pub grad_bias: Vec<f32>,
}

#[derive(Debug)]
pub(crate) enum Layer {
    Linear(Box<Linear>),
    Relu,
}

/// A model with all its GPU buffers, for a fixed batch size.
#[derive(Debug)]
pub struct Model {
    pub(crate) spec: ModelSpec,
    pub(crate) batch: u32,
    pub(crate) layers: Vec<Layer>,
    /// `acts[0]` is the input batch, `acts[i + 1]` the output of layer `i`.
    pub(crate) acts: Vec<wgpu::Buffer>,
    /// `grads[i]` is the gradient of the loss with respect to `acts[i]` (`grads[0]` unused).
    pub(crate) grads: Vec<wgpu::Buffer>,
    pub(crate) labels: wgpu::Buffer,
    pub(crate) row_loss: wgpu::Buffer,
    pub(crate) correct: wgpu::Buffer,
    ones: wgpu::Buffer,
}

impl Model {
    /// Builds `spec` for `batch` rows with He-uniform weights and zero biases drawn from `seed`.
    /// Linear layers run on int8 under `policy`, except the first and the last unless
    /// `quantize_first_last`.
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
        if spec.layers.is_empty() || !matches!(spec.layers.last(), Some(LayerSpec::Linear { .. })) {
            return Err(Error::invalid(
                "model",
                "the last layer must be Linear (the logits)",
            ));
        }
        let features = spec.features();
        let linear_count = spec
            .layers
            .iter()
            .filter(|l| matches!(l, LayerSpec::Linear { .. }))
            .count();
        let mut rng = Gen::new(seed);
        let mut layers = Vec::new();
        let mut linear_index = 0;
        for (i, l) in spec.layers.iter().enumerate() {
            layers.push(match l {
                LayerSpec::Linear { outputs } => {
                    let (fan_in, outputs) = (features[i], *outputs);
                    if fan_in == 0 || outputs == 0 {
                        return Err(Error::invalid(
                            "model",
                            format!("layer {i} has no features"),
                        ));
                    }
                    let bound = (6.0 / fan_in as f32).sqrt();
                    let w: Vec<f32> = (0..fan_in * outputs)
                        .map(|_| (rng.uniform() * 2.0 - 1.0) * bound)
                        .collect();
                    let edge = linear_index == 0 || linear_index + 1 == linear_count;
                    let quantized = policy.is_int8() && (quantize_first_last || !edge);
                    linear_index += 1;
                    let name = format!("layer{i}.linear");
                    let b = vec![0.0; outputs as usize];
                    let layer = Linear::new(
                        ctx, &name, batch, fan_in, outputs, &w, &b, policy, quantized,
                    );
                    Layer::Linear(Box::new(layer))
                }
                LayerSpec::Relu => Layer::Relu,
            });
        }
        let act = |i: usize, what: &str| {
            ctx.storage_buffer(
                &format!("act{i}.{what}"),
                batch as u64 * features[i] as u64 * 4,
            )
        };
        let acts = (0..features.len()).map(|i| act(i, "value")).collect();
        let grads = (0..features.len()).map(|i| act(i, "grad")).collect();
        Ok(Model {
            spec: spec.clone(),
            batch,
            layers,
            acts,
            grads,
            labels: ctx.storage_buffer("labels", batch as u64 * 4),
            row_loss: ctx.storage_buffer("row_loss", batch as u64 * 4),
            correct: ctx.storage_buffer("correct", batch as u64 * 4),
            ones: ctx.upload("ones", &vec![1.0f32; batch as usize]),
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

    /// The Linear layers, in order.
    pub fn linear_layers(&self) -> impl Iterator<Item = &Linear> {
        self.layers.iter().filter_map(|l| match l {
            Layer::Linear(lin) => Some(&**lin),
            Layer::Relu => None,
        })
    }

    /// Runs forward on `x` and backward from `dlogits` (the gradient of the loss with respect to
    /// the logits) without updating anything, and reads back each Linear layer's output and
    /// gradients: for checking layers against references and inspecting quantization error.
    /// Blocks until done.
    pub fn probe(
        &self,
        ctx: &Context,
        x: &[f32],
        dlogits: &[f32],
        seed: u32,
    ) -> Result<Vec<LinearProbe>> {
        let features = self.spec.features();
        let (b, last) = (self.batch as usize, features.len() - 1);
        if x.len() != b * features[0] as usize || dlogits.len() != b * features[last] as usize {
            return Err(Error::invalid(
                "probe",
                "x or dlogits does not match the batch and model",
            ));
        }
        let mut rec = Recording::new();
        self.record_forward(ctx, &mut rec, true)?;
        let seeded = self.record_backward(ctx, &mut rec, true)?;
        for (n, (idx, layout)) in seeded.iter().enumerate() {
            let rounding = ops::Rounding::Stochastic {
                seed: seed.wrapping_add(n as u32),
            };
            rec.dispatches[*idx].params =
                bytemuck::bytes_of(&ops::quantize::QuantizeParams::new(layout, rounding)).to_vec();
        }
        ctx.queue()
            .write_buffer(&self.acts[0], 0, bytemuck::cast_slice(x));
        ctx.queue()
            .write_buffer(&self.grads[last], 0, bytemuck::cast_slice(dlogits));
        ctx.run(&rec)?;
        let read = |buf: &wgpu::Buffer, n: usize| -> Result<Vec<f32>> {
            let mut v: Vec<f32> = ctx.read_buffer(buf)?;
            v.truncate(n);
            Ok(v)
        };
        let mut out = Vec::new();
        for (i, layer) in self.layers.iter().enumerate() {
            if let Layer::Linear(l) = layer {
                let (fi, fo) = (l.inputs as usize, l.outputs as usize);
                out.push(LinearProbe {
                    output: read(&self.acts[i + 1], b * fo)?,
                    grad_input: if i > 0 {
                        Some(read(&self.grads[i], b * fi)?)
                    } else {
                        None
                    },
                    grad_weight: read(&l.grad_weight, fi * fo)?,
                    grad_bias: read(&l.grad_bias, fo)?,
                });
            }
        }
        Ok(out)
    }

    /// Reads back each Linear layer's weights (`[outputs, inputs]`) and bias. Blocks.
    pub fn parameters(&self, ctx: &Context) -> Result<Vec<(Vec<f32>, Vec<f32>)>> {
        self.linear_layers()
            .map(|l| {
                let mut w: Vec<f32> = ctx.read_buffer(&l.weight)?;
                let mut b: Vec<f32> = ctx.read_buffer(&l.bias)?;
                w.truncate((l.inputs * l.outputs) as usize);
                b.truncate(l.outputs as usize);
                Ok((w, b))
            })
            .collect()
    }

    pub(crate) fn record_forward(
        &self,
        ctx: &Context,
        rec: &mut Recording,
        refresh: bool,
    ) -> Result<()> {
        let features = self.spec.features();
        for (i, layer) in self.layers.iter().enumerate() {
            let (x, y) = (&self.acts[i], &self.acts[i + 1]);
            match layer {
                Layer::Linear(l) => l.record_forward(ctx, rec, x, y, refresh)?,
                Layer::Relu => ops::relu(ctx, rec, self.batch * features[i], x, None, y)?,
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
    ) -> Result<Vec<(usize, ops::Layout)>> {
        let features = self.spec.features();
        let mut seeded = Vec::new();
        for (i, layer) in self.layers.iter().enumerate().rev() {
            let (x, dy) = (&self.acts[i], &self.grads[i + 1]);
            // The input's gradient is never needed.
            let dx = (i > 0).then_some(&self.grads[i]);
            match layer {
                Layer::Linear(l) => {
                    seeded.extend(l.record_backward(ctx, rec, x, dy, dx, &self.ones, refresh)?);
                }
                Layer::Relu => {
                    if let Some(dx) = dx {
                        ops::relu(ctx, rec, self.batch * features[i], x, Some(dy), dx)?;
                    }
                }
            }
        }
        Ok(seeded)
    }

    /// Records the optimizer step; returns `(dispatch index, parameter count, φ index)` of each
    /// update, whose learning rate the trainer sets every step.
    pub(crate) fn record_update(
        &self,
        ctx: &Context,
        rec: &mut Recording,
        step: SgdStep,
    ) -> Result<Vec<(usize, u32, Option<u32>)>> {
        let mut updates = Vec::new();
        for l in self.linear_layers() {
            let [w, b] = l.record_update(ctx, rec, step)?;
            updates.push((w, l.outputs * l.inputs, l.lr_scale_index()));
            updates.push((b, l.outputs, None));
        }
        Ok(updates)
    }
}
