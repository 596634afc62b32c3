//! BatchNorm2d over NHWC activations, FP32 in every policy.

use crate::error::Result;
use crate::gpu::Region;
use crate::gpu::{Context, Recording};
use crate::nn::layer::Trainable;
use crate::nn::linear::Output;
use crate::nn::pass::Phase;
use crate::nn::scratch::Scratch;
use crate::nn::tensors::{Slice, Slot, TensorRole};
use crate::ops::{self, BatchNormBuffers, BatchNormConfig, SgdBuffers};

/// BatchNorm2d over NHWC activations (`rows` = batch × pixels), FP32 in every policy.
#[derive(Debug)]
pub struct BatchNorm {
    pub(crate) name: String,
    rows: u32,
    channels: u32,
    cfg: BatchNormConfig,
    stats: wgpu::Buffer,
    /// γ then β.
    pub(crate) affine: Region,
    running: wgpu::Buffer,
    xhat: wgpu::Buffer,
    /// dγ then dβ: the same layout as `affine`, so one SGD step updates both.
    pub(crate) grads: Region,
    pub(crate) velocity: Region,
}

impl BatchNorm {
    /// A layer over `rows` × `channels` values, γ = 1 and β = 0, running mean 0 and variance 1.
    pub(crate) fn new(ctx: &Context, name: &str, rows: u32, channels: u32) -> Self {
        let c = channels as usize;
        let affine: Vec<f32> = (0..2 * c).map(|i| if i < c { 1.0 } else { 0.0 }).collect();
        let running: Vec<f32> = (0..2 * c).map(|i| if i < c { 0.0 } else { 1.0 }).collect();
        let cells = rows as u64 * channels as u64;
        BatchNorm {
            name: name.to_string(),
            rows,
            channels,
            cfg: BatchNormConfig::default(),
            stats: ctx.storage_buffer(
                &format!("{name}.stats"),
                channels as u64 * size_of::<ops::ChannelStat>() as u64,
            ),
            affine: Region::whole(ctx.upload(&format!("{name}.affine"), &affine)),
            running: ctx.upload(&format!("{name}.running"), &running),
            xhat: ctx.storage_buffer(&format!("{name}.xhat"), cells * 4),
            grads: Region::whole(
                ctx.storage_buffer(&format!("{name}.grads"), 2 * channels as u64 * 4),
            ),
            velocity: Region::whole(
                ctx.storage_buffer(&format!("{name}.velocity"), 2 * channels as u64 * 4),
            ),
        }
    }

    /// The buffers the ops read and write.
    fn bufs(&self) -> BatchNormBuffers<'_> {
        BatchNormBuffers {
            stats: &self.stats,
            affine: self.affine.view(),
            running: &self.running,
            xhat: &self.xhat,
        }
    }

    /// Records the forward from `x`; with `out.relu` it writes the output of the ReLU after it.
    /// Training normalizes with the batch's statistics and advances the running ones.
    pub(crate) fn record_forward(
        &self,
        ctx: &Context,
        rec: &mut Recording,
        x: &wgpu::Buffer,
        out: Output<'_>,
        phase: Phase,
    ) -> Result<()> {
        let shape = (self.rows, self.channels);
        let train = phase.is_train();
        let y = (out.y, out.relu);
        ops::batchnorm_forward(ctx, rec, shape, train, self.cfg, x, self.bufs(), y)
    }

    /// Records the backward from `dy` into `dx`, and the gradients of γ and β.
    pub(crate) fn record_backward(
        &self,
        ctx: &Context,
        rec: &mut Recording,
        dy: &wgpu::Buffer,
        dx: &wgpu::Buffer,
        scratch: &Scratch,
    ) -> Result<()> {
        let shape = (self.rows, self.channels);
        ops::batchnorm_backward(
            ctx,
            rec,
            shape,
            self.cfg,
            dy,
            self.bufs(),
            &scratch.batchnorm,
            (self.grads.view(), dx),
        )
    }

    /// Bytes of the per-element terms the backward writes to scratch.
    pub(crate) fn scratch_bytes(&self) -> u64 {
        ops::batchnorm_scratch_bytes(self.rows, self.channels)
    }

    /// γ and β, their gradients and momentum, to move them into the model's flat buffers.
    pub(crate) fn regions_mut(&mut self) -> [&mut Region; 3] {
        [&mut self.affine, &mut self.grads, &mut self.velocity]
    }

    /// γ and β as one SGD dispatch updates them.
    pub(crate) fn trainable(&self) -> Trainable<'_> {
        Trainable {
            name: &self.name,
            len: 2 * self.channels,
            sgd: SgdBuffers {
                grad: self.grads.view(),
                weights: self.affine.view(),
                velocity: self.velocity.view(),
                lr_scale: None,
                guard: None,
            },
        }
    }

    /// γ and β (trainable), then the running mean and variance.
    pub(crate) fn slots(&self) -> [Slot<'_>; 4] {
        let c = self.channels;
        let bufs = [&self.affine, &self.grads, &self.velocity];
        let running = |what: &str, i| Slot {
            name: format!("{}.{what}", self.name),
            shape: vec![c as usize],
            places: vec![(
                TensorRole::RunningStat,
                Slice {
                    buffer: &self.running,
                    offset: i * c,
                    len: c,
                },
            )],
        };
        [
            Slot::trainable(
                format!("{}.weight", self.name),
                vec![c as usize],
                bufs.map(|r| Slice::within(r, 0, c)),
            ),
            Slot::trainable(
                format!("{}.bias", self.name),
                vec![c as usize],
                bufs.map(|r| Slice::within(r, c, c)),
            ),
            running("running_mean", 0),
            running("running_var", 1),
        ]
    }

    /// Bytes the forward keeps for the backward (the normalized input).
    pub(crate) fn saved_bytes(&self) -> u64 {
        self.rows as u64 * self.channels as u64 * 4
    }
}
