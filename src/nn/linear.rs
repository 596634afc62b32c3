//! The Linear layer: `Y = X·Wᵀ + b`, its two gradients and its update, under any [`Policy`].
//!
//! A quantized Linear runs all three GEMMs on int8 (see ARCHITECTURE.md for the data flow):
//! X and W are quantized once per step (per tensor, at max|·|, nearest) and each feeds two GEMMs;
//! dY is quantized per the policy. The bias and its gradient stay FP32.

use crate::abi::STATS_RECORD_WORDS;
use crate::error::{Error, Result};
use crate::gpu::Region;
use crate::gpu::{Context, Recording};
use crate::nn::int8::{ClipsAt, Int8State, QuantTensor, SummarySlot};
use crate::nn::layer::Trainable;
use crate::nn::pass::{Clips, Precision, Seeded};
use crate::nn::tensors::{Slice, Slot, TensorRole};
use crate::ops::clip_select::ClipBuffers;
use crate::ops::gemm::{Epilogue, GemmBuffers, GemmShape, MAX_K_CHUNK, ReluGate, Scale};
use crate::ops::quantize::QuantizePairBuffers;
use crate::ops::{
    self, Candidates, ClipRule, ConvGeometry, DepthwisePass, LrScale, Rounding, SgdBuffers,
};
use crate::quant::{Dclrs, Policy};

/// A GEMM layer's sizes: `batch` rows of `inputs` features to `outputs` (for a convolution,
/// output pixels, kernel taps and channels).
#[derive(Clone, Copy, Debug)]
pub(crate) struct LinearShape {
    pub(crate) batch: u32,
    pub(crate) inputs: u32,
    pub(crate) outputs: u32,
}

/// The gradient a layer's backward reads, `dy`, and the one it writes, `dx` (none for a
/// model's first layer, whose input gradient is never needed).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Gradients<'a> {
    pub(crate) dy: &'a wgpu::Buffer,
    pub(crate) dx: Option<&'a wgpu::Buffer>,
}

/// Where a GEMM layer's forward writes, and whether the ReLU layer after it runs in the GEMM's
/// epilogue (then `y` is that ReLU's output).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Output<'a> {
    pub(crate) y: &'a wgpu::Buffer,
    pub(crate) relu: bool,
}

impl<'a> Output<'a> {
    /// The layer's own output, no ReLU.
    pub(crate) fn plain(y: &'a wgpu::Buffer) -> Self {
        Output { y, relu: false }
    }
}

/// A GEMM layer's input, by how its GEMMs read it.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Input<'a> {
    /// A matrix `[batch, inputs]` (a convolution's column matrix, written by `im2col`).
    Matrix(&'a wgpu::Buffer),
    /// A convolution's NHWC input that a quantized layer quantizes in place
    /// ([`ConvGeometry::quantized_input_layout`]; X's clip is max|x|, so the windows must cover
    /// every pixel, [`ConvGeometry::covers_input`]) and gathers its packed column matrix from
    /// (`im2col_i8`) into the scratch buffer given, for each of the two GEMMs that read it.
    Columns(&'a ConvGeometry, &'a wgpu::Buffer, &'a wgpu::Buffer),
    /// A convolution's NHWC input whose column matrix the implicit-GEMM kernels gather as they
    /// go; a quantized layer quantizes it in place
    /// ([`ConvGeometry::quantized_input_layout`]).
    Implicit(&'a ConvGeometry, &'a wgpu::Buffer),
    /// A depthwise convolution's NHWC input (`inputs` = the `kh·kw` taps of one channel,
    /// `outputs` = the channels): the `depthwise` kernels gather what they read from it, and a
    /// quantized layer quantizes it in place as for [`Input::Implicit`].
    Depthwise(&'a ConvGeometry, &'a wgpu::Buffer),
}

impl<'a> Input<'a> {
    /// The buffer the layer was given: the matrix, or the convolution's NHWC input.
    pub(crate) fn source(&self) -> &'a wgpu::Buffer {
        match *self {
            Input::Matrix(x)
            | Input::Columns(_, x, _)
            | Input::Implicit(_, x)
            | Input::Depthwise(_, x) => x,
        }
    }
}

/// One Linear layer on the GPU.
#[derive(Debug)]
pub struct Linear {
    pub(crate) name: String,
    pub(crate) inputs: u32,
    pub(crate) outputs: u32,
    pub(crate) batch: u32,
    /// The weight (`outputs × inputs`, row-major) and then the bias, in one buffer, so that one
    /// SGD dispatch and one health check cover both: the bias starts at [`Linear::bias_at`].
    /// A range of the model's flat parameter buffer once the model is built
    /// ([`nn::params`](crate::nn::params)).
    pub(crate) params: Region,
    /// The gradients of `params`, laid out alike.
    pub(crate) grads: Region,
    /// SGD's momentum for `params`, laid out alike.
    pub(crate) velocity: Region,
    pub(crate) int8: Option<Int8State>,
    pub(crate) policy: Policy,
}

impl Linear {
    /// Allocates the layer for `shape`; `weight` (`outputs × inputs`, row-major) and `bias`
    /// are the initial values. With a summary slot the GEMMs run on int8 under `policy`, else in
    /// FP32; `conv_input`: keep a convolution's input quantized in place (one byte per element;
    /// see [`Input::Implicit`], [`Input::Columns`]).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        ctx: &Context,
        name: &str,
        shape: LinearShape,
        weight: &[f32],
        bias: &[f32],
        policy: &Policy,
        quantized: Option<SummarySlot>,
        conv_input: Option<&ConvGeometry>,
    ) -> Self {
        let LinearShape {
            batch,
            inputs,
            outputs,
        } = shape;
        let bytes = (outputs * inputs + outputs) as u64 * 4;
        let int8 =
            quantized.map(|summary| Int8State::new(ctx, name, shape, policy, summary, conv_input));
        Linear {
            name: name.to_string(),
            inputs,
            outputs,
            batch,
            params: Region::whole(ctx.upload(&format!("{name}.params"), &[weight, bias].concat())),
            grads: Region::whole(ctx.storage_buffer(&format!("{name}.grads"), bytes)),
            velocity: Region::whole(ctx.storage_buffer(&format!("{name}.velocity"), bytes)),
            int8,
            policy: policy.clone(),
        }
    }

    /// Bytes kept from the forward for the backward: the input as f32, or packed int8 and its
    /// scale when quantized.
    pub fn saved_input_bytes(&self) -> u64 {
        match &self.int8 {
            Some(q) => q.x.layout.packed_words() as u64 * 4 + 4,
            None => self.batch as u64 * self.inputs as u64 * 4,
        }
    }

    /// `params`, `grads` and `velocity`, to move them into the model's flat buffers.
    pub(crate) fn regions_mut(&mut self) -> [&mut Region; 3] {
        [&mut self.params, &mut self.grads, &mut self.velocity]
    }

    /// Index of the bias in `params` (and of its gradient in `grads`): after the weight.
    pub(crate) fn bias_at(&self) -> u32 {
        self.inputs * self.outputs
    }

    /// Values in `params`: weight and bias.
    pub(crate) fn param_count(&self) -> u32 {
        self.bias_at() + self.outputs
    }

    /// The weight and bias, named `{name}.weight` (shaped `weight_shape`) and `{name}.bias`,
    /// then the quantization state kept between steps.
    pub(crate) fn slots(&self, weight_shape: Vec<usize>) -> Vec<Slot<'_>> {
        let (n, o) = (self.bias_at(), self.outputs);
        let roles = [&self.params, &self.grads, &self.velocity];
        let mut slots = vec![
            Slot::trainable(
                format!("{}.weight", self.name),
                weight_shape,
                roles.map(|r| Slice::within(r, 0, n)),
            ),
            Slot::trainable(
                format!("{}.bias", self.name),
                vec![o as usize],
                roles.map(|r| Slice::within(r, n, o)),
            ),
        ];
        if let Some(q) = &self.int8 {
            let channels = (q.mcs_state.size() / 4) as u32;
            // X's and W's clips: the record after their partial records.
            fn clip_record(t: &QuantTensor, len: u32) -> Slice<'_> {
                Slice {
                    offset: t.own_clip().offset,
                    ..Slice::whole(&t.stats, len)
                }
            }
            for (what, slice) in [
                ("x_stats", clip_record(&q.x, STATS_RECORD_WORDS)),
                ("w_stats", clip_record(&q.w, STATS_RECORD_WORDS)),
                ("dy_clips", Slice::whole(&q.clips, channels)),
                ("dy_mcs_state", Slice::whole(&q.mcs_state, channels)),
            ] {
                slots.push(Slot {
                    name: format!("{}.{what}", self.name),
                    shape: vec![slice.len as usize],
                    places: vec![(TensorRole::QuantState, slice)],
                });
            }
        }
        slots
    }

    /// Whether the GEMMs run on int8.
    pub fn is_quantized(&self) -> bool {
        self.int8.is_some()
    }

    /// The GEMMs' arithmetic.
    pub fn precision(&self) -> Precision {
        if self.is_quantized() {
            Precision::Int8
        } else {
            Precision::Fp32
        }
    }

    /// Whether the forward can write the bit mask of a ReLU whose output is its input, as it
    /// quantizes that input (quantized, a multiple of 4 columns). A convolution adds its own
    /// condition: that the input it quantizes is `x` itself, not an f32 column matrix
    /// ([`Conv2d::marks_relu`]).
    ///
    /// [`Conv2d::marks_relu`]: crate::nn::Conv2d::marks_relu
    pub(crate) fn marks_relu(&self) -> bool {
        self.int8
            .as_ref()
            .is_some_and(|q| q.x.layout.cols.is_multiple_of(4))
    }

    /// Records `y = x·Wᵀ + b`, rectified if `out.relu`, reading `input` as its kind says. With
    /// [`Clips::Reuse`] (UI8 between refreshes) the forward clips of the last refresh are kept;
    /// with [`Clips::Inputs`] the weights' int8 copy too, untouched.
    /// `relu_mask`: `input` is the output of a ReLU that ran in its producer's epilogue, whose
    /// mask this layer's quantization writes ([`Linear::marks_relu`]).
    pub(crate) fn record_forward(
        &self,
        ctx: &Context,
        rec: &mut Recording,
        input: Input<'_>,
        relu_mask: Option<&wgpu::Buffer>,
        out: Output<'_>,
        clips: Clips,
    ) -> Result<()> {
        if relu_mask.is_some() && !self.marks_relu() {
            let why = format!("{} cannot write the ReLU mask of its input", self.name);
            return Err(crate::Error::invalid("linear forward", why));
        }
        let shape = GemmShape::new(self.batch, self.outputs, self.inputs);
        let Some(q) = &self.int8 else {
            let epi = Epilogue {
                scale_a: Scale::None,
                scale_b: Scale::None,
                bias: Some(self.params.view()),
                bias_offset: self.bias_at(),
                relu: out.relu,
                gate: None,
            };
            return match input {
                Input::Matrix(x) | Input::Columns(_, x, _) => {
                    let bufs = GemmBuffers::new(x, self.params.view(), out.y);
                    ops::gemm_f32(ctx, rec, &shape, bufs, &epi)
                }
                Input::Implicit(g, x) => {
                    let bufs = GemmBuffers::new(x, self.params.view(), out.y);
                    ops::conv_gemm::conv_f32_forward(ctx, rec, (g, self.outputs), bufs, &epi)
                }
                Input::Depthwise(g, x) => {
                    let bufs = GemmBuffers::new(x, self.params.view(), out.y);
                    let pass = (Precision::Fp32, DepthwisePass::Forward);
                    ops::depthwise(ctx, rec, pass, g, None, bufs, &epi)
                }
            };
        };
        let nearest = Rounding::Nearest;
        let x = input.source();
        if clips == Clips::Reuse {
            q.x.record_quantize(ctx, rec, x, relu_mask, q.x.own_clip(), nearest)?;
        } else {
            q.x.record_max_abs(ctx, rec, x, relu_mask)?;
        }
        match clips {
            Clips::Refresh => q.w.record_max_abs(ctx, rec, self.params.view(), None)?,
            Clips::Reuse => {
                let w = self.params.view();
                q.w.record_quantize(ctx, rec, w, None, q.w.own_clip(), nearest)?;
            }
            Clips::Inputs => {}
        }
        let epi = Epilogue {
            scale_a: Scale::Tensor(&q.x.scales),
            scale_b: Scale::Tensor(&q.w.scales),
            bias: Some(self.params.view()),
            bias_offset: self.bias_at(),
            relu: out.relu,
            gate: None,
        };
        let bufs = GemmBuffers::new(q.x_operand(rec, &input)?, &q.w.packed, out.y);
        match input {
            Input::Matrix(_) | Input::Columns(..) => {
                ops::gemm_i8(ctx, rec, &shape, MAX_K_CHUNK, bufs, &epi)
            }
            Input::Implicit(g, _) => {
                let conv = (g, self.outputs);
                ops::conv_gemm::conv_i8_forward(ctx, rec, conv, MAX_K_CHUNK, bufs, &epi)
            }
            Input::Depthwise(g, _) => {
                let pass = (Precision::Int8, DepthwisePass::Forward);
                ops::depthwise(ctx, rec, pass, g, None, bufs, &epi)
            }
        }
    }

    /// Records the gradients from `dy`: the weight's and the bias's in `grads` and, when `dx` is given,
    /// `dx = dy·W`. `x` is the forward's input. Returns the indices in
    /// `rec` of the dY quantizations whose stochastic-rounding seeds change every step.
    pub(crate) fn record_backward(
        &self,
        ctx: &Context,
        rec: &mut Recording,
        x: Input<'_>,
        grads: Gradients<'_>,
        clips: Clips,
    ) -> Result<Vec<Seeded>> {
        self.record_backward_gated(ctx, rec, x, grads, clips, None)
    }

    /// [`Linear::record_backward`], whose `dx` GEMM also does the backward of the ReLU before
    /// the layer (`gate`), so that `dx` is that ReLU's input gradient.
    pub(crate) fn record_backward_gated(
        &self,
        ctx: &Context,
        rec: &mut Recording,
        x: Input<'_>,
        Gradients { dy, dx }: Gradients<'_>,
        clips: Clips,
        gate: Option<ReluGate<'_>>,
    ) -> Result<Vec<Seeded>> {
        if gate.is_some() && !matches!(x, Input::Matrix(_)) {
            return Err(Error::invalid(
                "linear backward",
                "a ReLU gate needs a matrix input (its dx GEMM's cells are the ReLU's elements)",
            ));
        }
        let (b, i, o) = (self.batch, self.inputs, self.outputs);
        // db = 1ᵀ·dY, FP32 in every policy.
        let bias_grad = (self.grads.view(), self.bias_at());
        ops::column_sum::column_sum(ctx, rec, (b, o), dy, bias_grad, None)?;
        let dx_shape = GemmShape::new(b, i, o).with_trans(false, true);
        let dw_shape = GemmShape::new(o, i, b).with_trans(true, true);
        let Some(q) = &self.int8 else {
            let fp32 = |pass| (Precision::Fp32, pass);
            let none = &Epilogue::NONE;
            if let Some(dx) = dx {
                let bufs = GemmBuffers::new(dy, self.params.view(), dx);
                match x {
                    Input::Depthwise(g, _) => {
                        let pass = fp32(DepthwisePass::InputGrad);
                        ops::depthwise(ctx, rec, pass, g, None, bufs, none)?
                    }
                    _ => {
                        let epi = Epilogue {
                            gate,
                            ..Epilogue::NONE
                        };
                        ops::gemm_f32(ctx, rec, &dx_shape, bufs, &epi)?
                    }
                }
            }
            match x {
                Input::Matrix(x) | Input::Columns(_, x, _) => {
                    let bufs = GemmBuffers::new(dy, x, self.grads.view());
                    ops::gemm_f32(ctx, rec, &dw_shape, bufs, none)?;
                }
                Input::Implicit(g, x) => {
                    let bufs = GemmBuffers::new(dy, x, self.grads.view());
                    ops::conv_gemm::conv_f32_wgrad(ctx, rec, (g, self.outputs), bufs)?;
                }
                Input::Depthwise(g, x) => {
                    let bufs = GemmBuffers::new(dy, x, self.grads.view());
                    let pass = fp32(DepthwisePass::WeightGrad);
                    ops::depthwise(ctx, rec, pass, g, None, bufs, none)?;
                }
            }
            return Ok(Vec::new());
        };
        let rule = self.policy.gradient_rule();
        let stochastic = match &self.policy {
            Policy::Ui8(u) => u.stochastic,
            Policy::Dai8(d) => d.stochastic,
            _ => false,
        };
        let dy_stats_layout = match &q.dy_channels {
            Some(ch) => ch.layout,
            None => q.dy.layout,
        };
        if clips == Clips::Refresh {
            let candidates = q.candidates.as_ref().map(|c| Candidates {
                count: c.count,
                ratios: &c.ratios,
                cosine_terms: &c.cosine_terms,
            });
            let (layout, stats) = (&dy_stats_layout, &q.dy_stats);
            if rule == ClipRule::Max {
                ops::channel_stats(ctx, rec, layout, dy, stats, None)?;
            } else {
                ops::channel_stats_both(ctx, rec, layout, dy, stats, candidates, None)?;
            }
            let bufs = ClipBuffers {
                stats: &q.dy_stats,
                candidates: q.candidates.as_ref().map(|c| (&c.cosine_terms, &c.ratios)),
                state: Some(&q.mcs_state),
                clips: &q.clips,
                summary: (&q.summary.table, q.summary.index),
            };
            let n = q.candidates.as_ref().map_or(0, |c| c.count);
            ops::clip_select(ctx, rec, dy_stats_layout.channels() as u32, n, rule, bufs)?;
        }
        let rounding = if stochastic {
            Rounding::Stochastic { seed: 0 }
        } else {
            Rounding::Nearest
        };
        // DAI8 quantizes dY per tensor (for dX) and per output channel (for dW) in one pass,
        // its tensor clip the largest channel clip; the others one copy, whose clip is word 0 of
        // the layer's summary (for one channel, that channel's clip).
        let mut seeded = Vec::new();
        let (dy_for_dw, dw_scale) = match &q.dy_channels {
            Some(ch) => {
                if stochastic {
                    seeded.push(Seeded::quantize_pair(rec.dispatches.len()));
                }
                let bufs = QuantizePairBuffers {
                    input: dy.into(),
                    clips: &q.clips,
                    tensor: (&q.dy.packed, &q.dy.scales),
                    channels: (&ch.packed, &ch.scales),
                };
                ops::quantize::quantize_pair(rec, (b, o), rounding, bufs)?;
                (&ch.packed, Scale::PerIndex(&ch.scales))
            }
            None => {
                if stochastic {
                    seeded.push(Seeded::quantize(rec.dispatches.len()));
                }
                let tensor_clip = ClipsAt {
                    buffer: &q.summary.table,
                    offset: q.summary.word(),
                };
                q.dy.record_quantize(ctx, rec, dy, None, tensor_clip, rounding)?;
                (&q.dy.packed, Scale::Tensor(&q.dy.scales))
            }
        };
        if let Some(dx) = dx {
            let epi = Epilogue {
                scale_a: Scale::Tensor(&q.dy.scales),
                scale_b: Scale::Tensor(&q.w.scales),
                bias: None,
                bias_offset: 0,
                relu: false,
                gate,
            };
            let bufs = GemmBuffers::new(&q.dy.packed, &q.w.packed, dx);
            if let Input::Depthwise(g, _) = x {
                let pass = (Precision::Int8, DepthwisePass::InputGrad);
                ops::depthwise(ctx, rec, pass, g, None, bufs, &epi)?;
            } else {
                ops::gemm_i8(ctx, rec, &dx_shape, MAX_K_CHUNK, bufs, &epi)?;
            }
        }
        let epi = Epilogue {
            scale_a: dw_scale,
            scale_b: Scale::Tensor(&q.x.scales),
            bias: None,
            bias_offset: 0,
            relu: false,
            gate: None,
        };
        let bufs = GemmBuffers::new(dy_for_dw, q.x_operand(rec, &x)?, self.grads.view());
        let k_chunk = dw_shape.auto_k_chunk(MAX_K_CHUNK, ctx.spread());
        match x {
            Input::Matrix(_) | Input::Columns(..) => {
                ops::gemm_i8(ctx, rec, &dw_shape, k_chunk, bufs, &epi)?
            }
            Input::Implicit(g, _) => {
                ops::conv_gemm::conv_i8_wgrad(ctx, rec, (g, self.outputs), k_chunk, bufs, &epi)?
            }
            Input::Depthwise(g, _) => {
                let pass = (Precision::Int8, DepthwisePass::WeightGrad);
                ops::depthwise(ctx, rec, pass, g, None, bufs, &epi)?
            }
        }
        Ok(seeded)
    }

    /// Weight and bias as one SGD dispatch updates them (`params`, `grads`, `velocity`); UI8
    /// scales the learning rate by φ (DCLRS).
    pub(crate) fn trainable(&self) -> Trainable<'_> {
        Trainable {
            name: &self.name,
            len: self.param_count(),
            sgd: SgdBuffers {
                grad: self.grads.view(),
                weights: self.params.view(),
                velocity: self.velocity.view(),
                lr_scale: self.lr_scale(),
                guard: None,
            },
        }
    }

    /// UI8's learning-rate factor (DCLRS) for the layer's weight and bias, read from the
    /// summary table: the layer's own φ (word 2 of its entry) or a global one.
    fn lr_scale(&self) -> Option<(&wgpu::Buffer, LrScale)> {
        let (Policy::Ui8(u), Some(q)) = (&self.policy, &self.int8) else {
            return None;
        };
        let slot = &q.summary;
        let scale = match u.dclrs {
            Dclrs::PerLayer => LrScale::Word(slot.word() + 2),
            Dclrs::GlobalMeanDistance => LrScale::MeanDistance {
                layers: slot.count,
                alpha: u.alpha,
                beta: u.beta,
            },
            Dclrs::GlobalMinPhi => LrScale::MinPhi { layers: slot.count },
        };
        Some((&slot.table, scale))
    }
}
