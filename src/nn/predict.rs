//! [`Predictor`]: a trained model's forward alone, for applications that only infer. It is
//! built from a spec and its parameters (a checkpoint's, an import's, a trainer's), prepares
//! its forward once like a trainer's step, and answers a batch of any size up to the one it
//! was made for, in FP32 or on int8 with per-sample activation clips.

use crate::error::{Error, Result};
use crate::gpu::{Context, Prepared, Readback, Recording};
use crate::nn::{Clips, Fusion, Model, ModelSpec, NamedTensor, Pass, Phase, TensorRole};
use crate::quant::Policy;

/// The forward of an evaluation step: batch norms with their running statistics, clips
/// measured on the batch (for a quantized layer: max |x| and max |w|, nearest rounding).
const INFERENCE: Pass = Pass {
    clips: Clips::Refresh,
    phase: Phase::Eval,
};

/// A model's forward, prepared once for batches of up to [`Predictor::capacity`] inputs, in
/// FP32 ([`Predictor::new`]) or with octet's int8 layers ([`Predictor::int8`]).
///
/// An input's logits never depend on what else is in the batch, nor on the batch's size:
/// every FP32 layer works row by row at inference (batch norms normalize with their running
/// statistics), unused rows of a short batch are zero and their outputs dropped, and the int8
/// forward quantizes each input's activations with that input's own clip.
///
/// Its model is built as a trainer's is, so it holds what a training model of its capacity
/// holds (gradient and momentum buffers included), though it records only the forward.
#[derive(Debug)]
pub struct Predictor {
    ctx: Context,
    model: Model,
    forward: Vec<Prepared>,
    capacity: u32,
    /// For the int8 forward, which runs one input at a time.
    per_sample: Option<PerSample>,
}

/// The buffers of a forward run one input at a time: all inputs, and all logits.
#[derive(Debug)]
struct PerSample {
    inputs: wgpu::Buffer,
    logits: wgpu::Buffer,
}

impl Predictor {
    /// Builds `spec` in FP32 for up to `capacity` inputs per call and loads its parameters and
    /// batch-norm running statistics from `tensors` (named as [`NamedTensor`] says; every one
    /// the model has, no others). Compiles and autotunes on first use, like
    /// [`Trainer::new`](crate::train::Trainer::new).
    pub fn new(
        ctx: &Context,
        spec: &ModelSpec,
        capacity: u32,
        tensors: &[NamedTensor],
    ) -> Result<Self> {
        let model = Model::new(ctx, spec, capacity, &Policy::Fp32, false, 0)?;
        Self::build(ctx, model, capacity, tensors, None)
    }

    /// As [`Predictor::new`], but the Linear and convolution layers run octet's int8 forward —
    /// input and weights quantized at max |·| with nearest rounding, int8 GEMMs with int32
    /// sums — on every such layer but the first and the last unless `quantize_first_last`, as
    /// octet trains them.
    ///
    /// An activation's clip covers the tensor it quantizes, so to give each input its own
    /// clip the forward runs one input at a time: a batch of `n` is `n` forwards of one,
    /// encoded into one submit. The weights are quantized once, here (their clips are per
    /// tensor, from weights that do not change); each forward quantizes only its input's
    /// activations.
    pub fn int8(
        ctx: &Context,
        spec: &ModelSpec,
        capacity: u32,
        tensors: &[NamedTensor],
        quantize_first_last: bool,
    ) -> Result<Self> {
        let model = Model::new(ctx, spec, 1, &Policy::NaiveInt8, quantize_first_last, 0)?;
        let f = spec.input_len() as u64;
        let per_sample = PerSample {
            inputs: ctx.storage_buffer("predict_inputs", capacity as u64 * f * 4),
            logits: ctx.storage_buffer(
                "predict_logits",
                capacity as u64 * spec.classes() as u64 * 4,
            ),
        };
        Self::build(ctx, model, capacity, tensors, Some(per_sample))
    }

    fn build(
        ctx: &Context,
        model: Model,
        capacity: u32,
        tensors: &[NamedTensor],
        per_sample: Option<PerSample>,
    ) -> Result<Self> {
        ctx.check_device()?;
        if capacity == 0 {
            return Err(Error::invalid(
                "Predictor",
                "capacity must be at least 1 input",
            ));
        }
        // Running statistics are named `<bn>.running_mean` / `.running_var` (NamedTensor).
        let (stats, params): (Vec<NamedTensor>, Vec<NamedTensor>) =
            tensors.iter().cloned().partition(|t| t.is_running_stat());
        model.write_tensors(ctx, TensorRole::Parameter, &params)?;
        model.write_tensors(ctx, TensorRole::RunningStat, &stats)?;
        // The int8 forward quantizes the weights once: a forward that refreshes every clip
        // (on an input of zeros) leaves them quantized; the prepared one measures only inputs.
        let pass = if per_sample.is_some() {
            let mut once = Recording::new();
            model.record_forward_pass(ctx, &mut once, INFERENCE, Fusion::Fused)?;
            ctx.run(&once)?;
            Pass {
                clips: Clips::Inputs,
                ..INFERENCE
            }
        } else {
            INFERENCE
        };
        let mut rec = Recording::new();
        model.record_forward_pass(ctx, &mut rec, pass, Fusion::Fused)?;
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
            capacity,
            per_sample,
        })
    }

    /// The architecture.
    pub fn spec(&self) -> &ModelSpec {
        self.model.spec()
    }

    /// The most inputs one call takes.
    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    /// Whether the forward runs octet's int8 layers ([`Predictor::int8`]).
    pub fn is_int8(&self) -> bool {
        self.per_sample.is_some()
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
    /// waiting: the `n × classes` logits, `n` the rows of `x`, arrive through
    /// [`Readback::try_take`], for a host's frame loop. Submit the next batch only after
    /// taking this one's: both use the same buffers.
    pub fn logits_async(&self, x: &[f32]) -> Result<Readback<f32>> {
        let n = self.submit(x)?;
        self.ctx
            .read_async(self.logits_buffer(), 0, n * self.classes())
    }

    fn classes(&self) -> usize {
        self.model.spec().classes() as usize
    }

    fn logits_buffer(&self) -> &wgpu::Buffer {
        match &self.per_sample {
            Some(p) => &p.logits,
            None => &self.model.acts[self.model.acts.len() - 1],
        }
    }

    /// Uploads `x` and submits the forward; returns the rows of `x`.
    fn submit(&self, x: &[f32]) -> Result<usize> {
        self.ctx.check_device()?;
        let f = self.model.spec().input_len() as usize;
        let cap = self.capacity as usize;
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
        let n = x.len() / f;
        let queue = self.ctx.queue();
        let mut encoder = self.ctx.encoder("predict");
        match &self.per_sample {
            None => {
                // Zero rows after the batch: every call runs the same dispatches.
                let mut padded = x.to_vec();
                padded.resize(cap * f, 0.0);
                queue.write_buffer(&self.model.acts[0], 0, bytemuck::cast_slice(&padded));
                Prepared::encode_all(&self.forward, &mut encoder);
            }
            Some(p) => {
                queue.write_buffer(&p.inputs, 0, bytemuck::cast_slice(x));
                let (row, out) = ((f * 4) as u64, (self.classes() * 4) as u64);
                let last = &self.model.acts[self.model.acts.len() - 1];
                for r in 0..n as u64 {
                    encoder.copy_buffer_to_buffer(&p.inputs, r * row, &self.model.acts[0], 0, row);
                    Prepared::encode_all(&self.forward, &mut encoder);
                    encoder.copy_buffer_to_buffer(last, 0, &p.logits, r * out, out);
                }
            }
        }
        self.ctx.submit(encoder)?;
        Ok(n)
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
