//! [`Predictor`]: a trained model's forward alone, for applications that only infer. It is
//! built from a spec and its parameters (a checkpoint's, an import's, a trainer's), prepares
//! its forward once like a trainer's step, and answers a batch of any size up to the one it
//! was made for.

use crate::error::{Error, Result};
use crate::gpu::{Context, Prepared, Readback, Recording};
use crate::nn::{Clips, Fusion, Model, ModelSpec, NamedTensor, Pass, Phase, TensorRole};
use crate::quant::Policy;

/// The forward of an evaluation step: batch norms with their running statistics, clips (none
/// under FP32) measured on the batch.
const INFERENCE: Pass = Pass {
    clips: Clips::Refresh,
    phase: Phase::Eval,
};

/// A model's forward in FP32, prepared once for batches of up to [`Predictor::capacity`]
/// inputs.
///
/// Every layer works row by row at inference (batch norms normalize with their running
/// statistics), so an input's logits never depend on what else is in the batch, nor on its
/// size. Unused rows of a short batch are zero and their outputs are dropped.
///
/// Only FP32: octet's int8 forward quantizes each activation tensor with one clip for the
/// whole batch, which would make a prediction depend on its neighbours; an int8 forward with
/// per-sample clips is not built yet (the export's `model-int8.safetensors` carries the int8
/// weights for runtimes that have one).
#[derive(Debug)]
pub struct Predictor {
    ctx: Context,
    model: Model,
    forward: Vec<Prepared>,
}

impl Predictor {
    /// Builds `spec` for up to `capacity` inputs per call and loads its parameters and
    /// batch-norm running statistics from `tensors` (named as [`NamedTensor`] says; every one
    /// the model has, no others). Compiles and autotunes on first use, like
    /// [`Trainer::new`](crate::train::Trainer::new).
    pub fn new(
        ctx: &Context,
        spec: &ModelSpec,
        capacity: u32,
        tensors: &[NamedTensor],
    ) -> Result<Self> {
        ctx.check_device()?;
        let model = Model::new(ctx, spec, capacity, &Policy::Fp32, false, 0)?;
        // Running statistics are named `<bn>.running_mean` / `.running_var` (NamedTensor).
        let (stats, params): (Vec<NamedTensor>, Vec<NamedTensor>) = tensors
            .iter()
            .cloned()
            .partition(|t| t.name.ends_with(".running_mean") || t.name.ends_with(".running_var"));
        model.write_tensors(ctx, TensorRole::Parameter, &params)?;
        model.write_tensors(ctx, TensorRole::RunningStat, &stats)?;
        let mut rec = Recording::new();
        model.record_forward_pass(ctx, &mut rec, INFERENCE, Fusion::Fused)?;
        let forward = rec
            .dispatches
            .iter()
            .map(|d| ctx.prepare(d))
            .collect::<Result<Vec<_>>>()?;
        ctx.check_allocations()?;
        Ok(Predictor {
            ctx: ctx.clone(),
            model,
            forward,
        })
    }

    /// The architecture.
    pub fn spec(&self) -> &ModelSpec {
        self.model.spec()
    }

    /// The most inputs one call takes.
    pub fn capacity(&self) -> u32 {
        self.model.batch()
    }

    /// Logits of each input: `x` holds `n × h·w·c` normalized NHWC values (`n` up to the
    /// capacity); the result `n × classes`, row by row. Blocks until the GPU is done.
    pub fn logits(&self, x: &[f32]) -> Result<Vec<f32>> {
        let n = self.submit(x)?;
        let all: Vec<f32> = self.ctx.read_buffer(self.logits_buffer())?;
        Ok(all[..n * self.classes()].to_vec())
    }

    /// [`Predictor::logits`] through a softmax: each row sums to 1.
    pub fn probabilities(&self, x: &[f32]) -> Result<Vec<f32>> {
        Ok(softmax_rows(&self.logits(x)?, self.classes()))
    }

    /// The most probable class of each input.
    pub fn classify(&self, x: &[f32]) -> Result<Vec<u32>> {
        let logits = self.logits(x)?;
        Ok(argmax_rows(&logits, self.classes()))
    }

    /// Submits the forward of `x` (as [`Predictor::logits`] takes it) and returns without
    /// waiting: the logits of the first `n × classes` values of the readback, `n` the rows of
    /// `x`, arrive through [`Readback::try_take`], for a host's frame loop. Submit the next
    /// batch only after taking this one's: both use the same buffers.
    pub fn logits_async(&self, x: &[f32]) -> Result<Readback<f32>> {
        let n = self.submit(x)?;
        self.ctx
            .read_async(self.logits_buffer(), 0, n * self.classes())
    }

    fn classes(&self) -> usize {
        self.model.spec().classes() as usize
    }

    fn logits_buffer(&self) -> &wgpu::Buffer {
        &self.model.acts[self.model.acts.len() - 1]
    }

    /// Uploads `x` (zero rows after it) and submits the forward; returns the rows of `x`.
    fn submit(&self, x: &[f32]) -> Result<usize> {
        self.ctx.check_device()?;
        let f = self.model.spec().input_len() as usize;
        let cap = self.capacity() as usize;
        if x.is_empty() || !x.len().is_multiple_of(f) || x.len() / f > cap {
            return Err(Error::invalid(
                "Predictor",
                format!(
                    "expected 1 to {cap} rows of {f} values (NHWC, normalized as in training), \
                     got {} values",
                    x.len()
                ),
            ));
        }
        let mut padded = x.to_vec();
        padded.resize(cap * f, 0.0);
        let queue = self.ctx.queue();
        queue.write_buffer(&self.model.acts[0], 0, bytemuck::cast_slice(&padded));
        let mut encoder = self.ctx.encoder("predict");
        Prepared::encode_all(&self.forward, &mut encoder);
        self.ctx.submit(encoder)?;
        Ok(x.len() / f)
    }
}

/// A softmax of each row of `classes` logits (max-shifted, so large logits do not overflow).
pub fn softmax_rows(logits: &[f32], classes: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(logits.len());
    for row in logits.chunks(classes.max(1)) {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let exp: Vec<f32> = row.iter().map(|v| (v - max).exp()).collect();
        let sum: f32 = exp.iter().sum();
        out.extend(exp.iter().map(|e| e / sum));
    }
    out
}

/// The index of the largest of each row of `classes` values (the first on a tie).
pub fn argmax_rows(values: &[f32], classes: usize) -> Vec<u32> {
    values
        .chunks(classes.max(1))
        .map(|row| {
            let mut best = 0;
            for (i, v) in row.iter().enumerate() {
                if *v > row[best] {
                    best = i;
                }
            }
            best as u32
        })
        .collect()
}
