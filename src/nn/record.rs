//! The passes of a step, recorded into a [`Recording`] that the trainer prepares once and
//! replays: forward, loss, backward, health checks and update. A fused step follows the
//! model's [`LayerPlan`]s; an unfused one records every layer on its own.

use crate::error::Result;
use crate::gpu::{Context, Recording, View};
use crate::nn::Model;
use crate::nn::block::BlockOutput;
use crate::nn::conv::MaskedInput;
use crate::nn::layer::{Layer, Trainable};
use crate::nn::linear::{self, Output};
use crate::nn::pass::{Clips, Fusion, Pass, Seeded};
use crate::nn::plan::{LayerPlan, ReluBackward, ReluForward};
use crate::ops::gemm::ReluGate;
use crate::ops::nonfinite::Checked;
use crate::ops::{self, LrScale, ReluPass, ReluSaved, SgdBuffers, SgdStep, XentBuffers};

impl Model {
    /// How layer `i` is recorded under `fusion` (unfused past the last layer).
    fn plan_of(&self, i: usize, fusion: Fusion) -> LayerPlan {
        match fusion {
            Fusion::Fused => self.plan.get(i).copied().unwrap_or(LayerPlan::UNFUSED),
            Fusion::Unfused => LayerPlan::UNFUSED,
        }
    }
    /// Records the forward. Fused (training and evaluation steps), a ReLU after a GEMM layer or
    /// a batch norm runs in that layer (a GEMM's epilogue), which writes straight to the ReLU's
    /// output (its mask, if it keeps one, written by the next layer's quantization), and a ReLU
    /// before a max-pooling leaves its backward to the pooling; unfused (probes) every layer
    /// writes its own output.
    pub(crate) fn record_forward_pass(
        &self,
        ctx: &Context,
        rec: &mut Recording,
        pass: Pass,
        fusion: Fusion,
    ) -> Result<()> {
        for (i, layer) in self.layers.iter().enumerate() {
            let plan = self.plan_of(i, fusion);
            let (x, y) = (&self.acts[i], &self.acts[i + 1]);
            let out = if plan.runs_next_relu {
                Output {
                    y: &self.acts[i + 2],
                    relu: true,
                }
            } else {
                Output::plain(y)
            };
            let relu_mask = plan.writes_mask_of.and_then(|k| self.relu_mask_of(k));
            match layer {
                Layer::Linear(l) => {
                    let input = linear::Input::Matrix(x);
                    l.record_forward(ctx, rec, input, relu_mask, out, pass.clips)?
                }
                Layer::Conv(c) => {
                    let x = MaskedInput { x, relu_mask };
                    c.record_forward(ctx, rec, x, out, pass.clips, &self.scratch)?
                }
                Layer::MaxPool(g, argmax) => {
                    let after_relu = plan.pool_after_relu;
                    let op = ops::PoolPass::Forward { after_relu };
                    ops::maxpool(ctx, rec, g, x, op, argmax, y)?
                }
                Layer::BatchNorm(b) => b.record_forward(ctx, rec, x, out, pass.phase)?,
                Layer::GlobalAvgPool(shape) => {
                    ops::global_avg_pool(ctx, rec, shape.dims(), x, None, y)?
                }
                Layer::Block(b) => {
                    let out = BlockOutput {
                        y,
                        relu_in_add: plan.block_relu_in_add,
                    };
                    let x = MaskedInput { x, relu_mask };
                    b.record_forward(ctx, rec, x, out, pass, &self.scratch)?
                }
                Layer::Depthwise(d) => d.record_forward(ctx, rec, x, out, pass.clips)?,
                Layer::Inverted(b) => b.record_forward(ctx, rec, x, y, pass, &self.scratch)?,
                Layer::Relu(_) if plan.relu_forward == ReluForward::InProducer => {}
                Layer::Relu(mask) => {
                    let op = ReluPass::Forward {
                        x,
                        mask: mask.as_ref(),
                    };
                    ops::relu(ctx, rec, self.len_of(i), op, y)?
                }
                Layer::Relu6(mask) => {
                    let op = ReluPass::Forward {
                        x,
                        mask: Some(mask),
                    };
                    ops::relu6(ctx, rec, self.len_of(i), op, y)?
                }
                Layer::Flatten => {}
            }
        }
        Ok(())
    }

    /// Records the loss: softmax cross-entropy of the logits against the labels, with the
    /// logits' gradient, each row's loss and whether it was classified correctly.
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
    /// Records the backward pass; returns the dispatch indices of the stochastic quantizations
    /// whose seeds change every step.
    pub(crate) fn record_backward_pass(
        &self,
        ctx: &Context,
        rec: &mut Recording,
        clips: Clips,
        fusion: Fusion,
    ) -> Result<Vec<Seeded>> {
        let mut seeded = Vec::new();
        for i in (0..self.layers.len()).rev() {
            seeded.extend(self.record_layer_backward(ctx, rec, i, clips, fusion)?);
        }
        Ok(seeded)
    }

    /// Records layer `i`'s backward; returns what [`Model::record_backward_pass`] does.
    pub(crate) fn record_layer_backward(
        &self,
        ctx: &Context,
        rec: &mut Recording,
        i: usize,
        clips: Clips,
        fusion: Fusion,
    ) -> Result<Vec<Seeded>> {
        let mut seeded = Vec::new();
        let plan = self.plan_of(i, fusion);
        let layer = &self.layers[i];
        // Past a ReLU whose backward the pooling did, the pooling's dx is this layer's dy.
        let dy_at = if plan.grad_past_relu { i + 2 } else { i + 1 };
        let (x, dy) = (&self.acts[i], &self.grads[dy_at]);
        // The input's gradient is never needed.
        let dx = (i > 0).then_some(&self.grads[i]);
        let grads = linear::Gradients { dy, dx };
        match layer {
            Layer::Linear(l) if plan.gates_prev_relu => {
                // The ReLU before writes no gradient of its own: this dx GEMM writes its input
                // gradient, gated by what the ReLU kept.
                let gate = match &self.layers[i - 1] {
                    Layer::Relu(Some(mask)) => ReluGate::Mask(mask.into()),
                    _ => ReluGate::Values((&self.acts[i]).into()),
                };
                let grads = linear::Gradients {
                    dy,
                    dx: Some(&self.grads[i - 1]),
                };
                let x = linear::Input::Matrix(x);
                let gated = l.record_backward_gated(ctx, rec, x, grads, clips, Some(gate))?;
                seeded.extend(gated);
            }
            Layer::Linear(l) => {
                let x = linear::Input::Matrix(x);
                seeded.extend(l.record_backward(ctx, rec, x, grads, clips)?);
            }
            Layer::Conv(c) if plan.col2im_into_pool => {
                // The pooling before writes no gradient of its own: this col2im writes its
                // input gradient.
                let Layer::MaxPool(pool, argmax) = &self.layers[i - 1] else {
                    unreachable!("the plan puts a max pooling before")
                };
                let grads = linear::Gradients {
                    dy,
                    dx: Some(&self.grads[i - 1]),
                };
                let (scratch, pool) = (&self.scratch, (pool, argmax));
                let s = c.record_backward_into_pool(ctx, rec, x, grads, clips, scratch, pool)?;
                seeded.extend(s);
            }
            Layer::Conv(c) => {
                seeded.extend(c.record_backward(ctx, rec, x, grads, clips, &self.scratch)?);
            }
            Layer::MaxPool(..) if plan.pool_in_next_col2im => {}
            Layer::MaxPool(g, argmax) => {
                if let Some(dx) = dx {
                    let op = ops::PoolPass::Backward { dy };
                    ops::maxpool(ctx, rec, g, x, op, argmax, dx)?;
                }
            }
            Layer::BatchNorm(b) => {
                // Never the first layer (refused in `new`), so there is a dx to write.
                if let Some(dx) = dx {
                    b.record_backward(ctx, rec, dy, dx, &self.scratch)?;
                }
            }
            Layer::GlobalAvgPool(shape) => {
                if let Some(dx) = dx {
                    ops::global_avg_pool(ctx, rec, shape.dims(), x, Some(dy), dx)?;
                }
            }
            Layer::Block(b) => {
                seeded.extend(b.record_backward(ctx, rec, x, grads, clips, &self.scratch)?);
            }
            Layer::Depthwise(d) => {
                seeded.extend(d.record_backward(ctx, rec, x, grads, clips)?);
            }
            Layer::Inverted(b) => {
                seeded.extend(b.record_backward(ctx, rec, x, grads, clips, &self.scratch)?);
            }
            Layer::Relu6(mask) => {
                if let Some(dx) = dx {
                    let op = ReluPass::Backward {
                        dy,
                        saved: ReluSaved::Mask(mask),
                    };
                    ops::relu6(ctx, rec, self.len_of(i), op, dx)?;
                }
            }
            Layer::Relu(_)
                if matches!(
                    plan.relu_backward,
                    ReluBackward::InPool | ReluBackward::InNextGemm
                ) => {}
            Layer::Relu(mask) => {
                // Without a mask: the output, which has the input's positive elements and
                // is there also when the ReLU ran in a GEMM's epilogue.
                let saved = match mask {
                    Some(m) => ReluSaved::Mask(m),
                    None => ReluSaved::Values(&self.acts[i + 1]),
                };
                if let Some(dx) = dx {
                    let op = ReluPass::Backward { dy, saved };
                    ops::relu(ctx, rec, self.len_of(i), op, dx)?;
                }
            }
            Layer::Flatten => {}
        }
        Ok(seeded)
    }

    /// Records the step's health checks — non-finite values in the loss and in every parameter
    /// gradient, counted on the GPU before the optimizer runs — in the slot order of
    /// `health_names`: the gradients in the flat buffer as one tensor of segments, a slot per
    /// trainable, so that the loss and all of them take one dispatch.
    pub(crate) fn record_checks(&self, ctx: &Context, rec: &mut Recording) -> Result<()> {
        // Spans of trainables whose gradients follow each other in one buffer: (view, ends).
        let align = ctx.device().limits().min_storage_buffer_offset_alignment as u64;
        let mut spans: Vec<(View, Vec<u32>)> = Vec::new();
        for t in self.trainables() {
            let g = t.sgd.grad;
            let end = g.offset + g.size;
            match spans.last_mut() {
                Some((span, ends)) if follows(*span, g, align) => {
                    // The padding before this trainable counts with the one before it.
                    *ends.last_mut().expect("a span has a segment") =
                        ((g.offset - span.offset) / 4) as u32;
                    ends.push(((end - span.offset) / 4) as u32);
                    span.size = end - span.offset;
                }
                _ => spans.push((
                    View {
                        size: end - g.offset,
                        ..g
                    },
                    vec![(g.size / 4) as u32],
                )),
            }
        }
        let loss = Checked {
            x: (&self.row_loss).into(),
            n: self.batch,
            slot: 1,
            ends: &[],
        };
        let mut slot = 2;
        let mut tensors = vec![loss];
        for (view, ends) in &spans {
            let n = *ends.last().expect("a span has a segment");
            tensors.push(Checked {
                x: *view,
                n,
                slot,
                ends,
            });
            slot += ends.len() as u32;
        }
        ops::nonfinite::nonfinite_count(ctx, rec, &tensors, &self.health)
    }

    /// Records the optimizer step guarded by the health record: one SGD dispatch per run of
    /// trainables that lie next to each other in the flat buffers and share a learning-rate
    /// factor (one run for the whole model unless UI8 scales each layer by its own φ); returns
    /// the dispatch index of each update, whose learning rate the trainer sets every step.
    pub(crate) fn record_update(
        &self,
        ctx: &Context,
        rec: &mut Recording,
        step: SgdStep,
    ) -> Result<Vec<usize>> {
        let mut updates = Vec::new();
        for run in sgd_runs(ctx, self.trainables()) {
            updates.push(rec.dispatches.len());
            let bufs = SgdBuffers {
                guard: Some(&self.health),
                ..whole_vec4s(run)
            };
            ops::sgd(ctx, rec, (bufs.weights.size / 4) as u32, step, bufs)?;
        }
        Ok(updates)
    }

    /// What a data-parallel step exchanges between ranks: every trainable's gradient buffer
    /// with its length, in the slot order of `health_names`, and the tables the optimizer
    /// reads its learning-rate factors from.
    pub(crate) fn exchanged(&self) -> (Vec<(View<'_>, u32)>, Vec<&wgpu::Buffer>) {
        let trainables = self.trainables();
        let grads = trainables.iter().map(|t| (t.sgd.grad, t.len)).collect();
        let mut tables: Vec<&wgpu::Buffer> = Vec::new();
        for (table, _) in trainables.iter().filter_map(|t| t.sgd.lr_scale) {
            if !tables.contains(&table) {
                tables.push(table);
            }
        }
        (grads, tables)
    }

    /// Every layer's trainables, in the slot order of `health_names`.
    fn trainables(&self) -> Vec<Trainable<'_>> {
        self.layers.iter().flat_map(Layer::trainables).collect()
    }
}

/// `run` extended to a multiple of four parameters where its buffers hold them, so that it
/// runs as `sgd_vec4`: past a trainable's end lies the storage-offset padding of the flat
/// buffers, zeros that SGD leaves zero.
fn whole_vec4s<'a>(run: SgdBuffers<'a>) -> SgdBuffers<'a> {
    match (
        run.grad.grown_to_vec4s(),
        run.weights.grown_to_vec4s(),
        run.velocity.grown_to_vec4s(),
    ) {
        (Some(grad), Some(weights), Some(velocity)) => SgdBuffers {
            grad,
            weights,
            velocity,
            ..run
        },
        _ => run,
    }
}

/// The trainables' SGD buffers merged into runs: a trainable joins the run before it when its
/// ranges follow that run's in the same buffers (at most the alignment padding between them,
/// which holds zeros) and its learning-rate factor is the same.
fn sgd_runs<'a>(ctx: &Context, trainables: Vec<Trainable<'a>>) -> Vec<SgdBuffers<'a>> {
    let align = ctx.device().limits().min_storage_buffer_offset_alignment as u64;
    let same_scale =
        |a: Option<(&wgpu::Buffer, LrScale)>, b: Option<(&wgpu::Buffer, LrScale)>| match (a, b) {
            (None, None) => true,
            (Some((ba, sa)), Some((bb, sb))) => ba == bb && sa == sb,
            _ => false,
        };
    let mut runs: Vec<SgdBuffers<'a>> = Vec::new();
    for t in trainables {
        let s = t.sgd;
        if let Some(run) = runs.last_mut()
            && same_scale(run.lr_scale, s.lr_scale)
            && follows(run.grad, s.grad, align)
            && follows(run.weights, s.weights, align)
            && follows(run.velocity, s.velocity, align)
        {
            let grow = |r: View<'a>, next: View<'a>| View {
                size: next.offset + next.size - r.offset,
                ..r
            };
            run.grad = grow(run.grad, s.grad);
            run.weights = grow(run.weights, s.weights);
            run.velocity = grow(run.velocity, s.velocity);
            continue;
        }
        runs.push(s);
    }
    runs
}

/// Whether `next` starts in `run`'s buffer after its end, with at most the alignment padding
/// between them: the layout `nn::params::flatten` gives consecutive trainables.
fn follows(run: View<'_>, next: View<'_>, align: u64) -> bool {
    let end = run.offset + run.size;
    run.buffer == next.buffer && next.offset >= end && next.offset - end < align
}
