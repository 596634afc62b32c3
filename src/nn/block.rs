//! BatchNorm2d and the residual basic block of the ResNet.

use crate::error::Result;
use crate::gpu::{Context, Recording};
use crate::nn::linear::{Output, SummarySlot};
use crate::nn::tensors::{Slice, Slot, TensorRole};
use crate::nn::{BlockScratch, Conv2d, Scratch};
use crate::ops::{
    self, BatchNormBuffers, BatchNormConfig, ConvGeometry, ReluPass, ReluSaved, SgdBuffers, SgdStep,
};
use crate::quant::Policy;

/// BatchNorm2d over NHWC activations (`rows` = batch × pixels), FP32 in every policy.
#[derive(Debug)]
pub struct BatchNorm {
    pub(crate) name: String,
    rows: u32,
    channels: u32,
    cfg: BatchNormConfig,
    stats: wgpu::Buffer,
    /// γ then β.
    pub(crate) affine: wgpu::Buffer,
    running: wgpu::Buffer,
    xhat: wgpu::Buffer,
    /// dγ then dβ: the same layout as `affine`, so one SGD step updates both.
    grads: wgpu::Buffer,
    velocity: wgpu::Buffer,
}

impl BatchNorm {
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
            affine: ctx.upload(&format!("{name}.affine"), &affine),
            running: ctx.upload(&format!("{name}.running"), &running),
            xhat: ctx.storage_buffer(&format!("{name}.xhat"), cells * 4),
            grads: ctx.storage_buffer(&format!("{name}.grads"), 2 * channels as u64 * 4),
            velocity: ctx.storage_buffer(&format!("{name}.velocity"), 2 * channels as u64 * 4),
        }
    }

    fn bufs(&self) -> BatchNormBuffers<'_> {
        BatchNormBuffers {
            stats: &self.stats,
            affine: &self.affine,
            running: &self.running,
            xhat: &self.xhat,
        }
    }

    /// Records the forward; with `rectify` `y` is the output of the ReLU after it.
    pub(crate) fn record_forward(
        &self,
        ctx: &Context,
        rec: &mut Recording,
        (x, y): (&wgpu::Buffer, &wgpu::Buffer),
        train: bool,
        rectify: bool,
    ) -> Result<()> {
        let shape = (self.rows, self.channels);
        let out = (y, rectify);
        ops::batchnorm_forward(ctx, rec, shape, train, self.cfg, x, self.bufs(), out)
    }

    pub(crate) fn record_backward(
        &self,
        ctx: &Context,
        rec: &mut Recording,
        (dy, dx): (&wgpu::Buffer, &wgpu::Buffer),
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
            (&self.grads, dx),
        )
    }

    /// Bytes of the per-element terms the backward writes to scratch.
    pub(crate) fn scratch_bytes(&self) -> u64 {
        ops::batchnorm_scratch_bytes(self.rows, self.channels)
    }

    /// Records the SGD step of γ and β; returns its index in `rec`.
    pub(crate) fn record_update(
        &self,
        ctx: &Context,
        rec: &mut Recording,
        step: SgdStep,
        guard: &wgpu::Buffer,
    ) -> Result<usize> {
        let index = rec.dispatches.len();
        let bufs = SgdBuffers {
            grad: &self.grads,
            weights: &self.affine,
            velocity: &self.velocity,
            lr_scale: None,
            guard: Some(guard),
        };
        ops::sgd(ctx, rec, 2 * self.channels, step, bufs)?;
        Ok(index)
    }

    /// Bytes the forward keeps for the backward (the normalized input).
    /// The gradient `[dγ | dβ]` and its length, for the step's health check.
    pub(crate) fn grads(&self) -> (&wgpu::Buffer, u32) {
        (&self.grads, 2 * self.channels)
    }

    /// γ and β (trainable), then the running mean and variance.
    pub(crate) fn slots(&self) -> [Slot<'_>; 4] {
        let c = self.channels;
        let half = |buffer, i: u32| Slice {
            buffer,
            offset: i * c,
            len: c,
        };
        let bufs = [&self.affine, &self.grads, &self.velocity];
        let running = |what: &str, i| Slot {
            name: format!("{}.{what}", self.name),
            shape: vec![c as usize],
            places: vec![(TensorRole::RunningStat, half(&self.running, i))],
        };
        [
            Slot::trainable(
                format!("{}.weight", self.name),
                vec![c as usize],
                bufs.map(|b| half(b, 0)),
            ),
            Slot::trainable(
                format!("{}.bias", self.name),
                vec![c as usize],
                bufs.map(|b| half(b, 1)),
            ),
            running("running_mean", 0),
            running("running_var", 1),
        ]
    }

    pub(crate) fn saved_bytes(&self) -> u64 {
        self.rows as u64 * self.channels as u64 * 4
    }
}

/// The ResNet basic block: conv3×3(stride) → BN → ReLU → conv3×3 → BN, plus the shortcut
/// (identity, or conv1×1(stride) → BN when the shape changes), added, then ReLU.
#[derive(Debug)]
pub struct BasicBlock {
    pub(crate) conv1: Conv2d,
    pub(crate) bn1: BatchNorm,
    pub(crate) conv2: Conv2d,
    pub(crate) bn2: BatchNorm,
    pub(crate) shortcut: Option<(Conv2d, BatchNorm)>,
    /// The first ReLU's output, conv2's input (an FP32 conv2 keeps it for its backward; the
    /// block's other activations are in [`Scratch::block`]).
    r1: wgpu::Buffer,
    /// The two ReLUs' masks (after bn1, after the sum): all their backwards read.
    relu_masks: [wgpu::Buffer; 2],
    pub(crate) out_cells: u32,
    pub(crate) in_cells: u32,
}

impl BasicBlock {
    /// A block on NHWC input `[batch, h, w, c_in]` to `channels`; `quantized()`, called for
    /// conv1, conv2 and the shortcut in turn, gives each its summary slot when it runs on int8.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        ctx: &Context,
        name: &str,
        (batch, h, w, c_in): (u32, u32, u32, u32),
        channels: u32,
        stride: u32,
        policy: &Policy,
        quantized: &mut dyn FnMut() -> Option<SummarySlot>,
        init: &mut dyn FnMut(u32, u32) -> Vec<f32>,
    ) -> Result<Self> {
        let g1 = ConvGeometry {
            n: batch,
            h,
            w,
            c: c_in,
            kh: 3,
            kw: 3,
            stride,
            pad: 1,
        };
        g1.validate("model")?;
        let (oh, ow) = (g1.oh(), g1.ow());
        let g2 = ConvGeometry {
            n: batch,
            h: oh,
            w: ow,
            c: channels,
            kh: 3,
            kw: 3,
            stride: 1,
            pad: 1,
        };
        let rows = batch * oh * ow;
        let conv = |name: &str, g: ConvGeometry, q, init: &mut dyn FnMut(u32, u32) -> Vec<f32>| {
            let weights = init(g.taps(), g.taps() * channels);
            Conv2d::new(ctx, name, (g, channels), &weights, policy, q, true)
        };
        let conv1 = conv(&format!("{name}.conv1"), g1, quantized(), init)?;
        let conv2 = conv(&format!("{name}.conv2"), g2, quantized(), init)?;
        let shortcut = if stride != 1 || c_in != channels {
            let gs = ConvGeometry {
                n: batch,
                h,
                w,
                c: c_in,
                kh: 1,
                kw: 1,
                stride,
                pad: 0,
            };
            let c = conv(&format!("{name}.shortcut"), gs, quantized(), init)?;
            let bn = BatchNorm::new(ctx, &format!("{name}.shortcut_bn"), rows, channels);
            Some((c, bn))
        } else {
            None
        };
        let out_cells = rows * channels;
        let in_cells = batch * h * w * c_in;
        Ok(BasicBlock {
            bn1: BatchNorm::new(ctx, &format!("{name}.bn1"), rows, channels),
            bn2: BatchNorm::new(ctx, &format!("{name}.bn2"), rows, channels),
            conv1,
            conv2,
            shortcut,
            r1: ctx.storage_buffer(&format!("{name}.r1"), out_cells as u64 * 4),
            relu_masks: ["relu1_mask", "relu2_mask"].map(|what| {
                ctx.storage_buffer(
                    &format!("{name}.{what}"),
                    ops::relu::relu_mask_bytes(out_cells),
                )
            }),
            out_cells,
            in_cells,
        })
    }

    /// Output `[h, w, channels]` of a block with `stride` on `[h, w, _]`.
    pub(crate) fn output_shape(h: u32, w: u32, channels: u32, stride: u32) -> [u32; 3] {
        [(h + 2 - 3) / stride + 1, (w + 2 - 3) / stride + 1, channels]
    }

    /// Whether the forward can write the mask of a ReLU whose output is the block's input (its
    /// first convolution quantizes the input itself, [`Conv2d::marks_relu`]).
    pub(crate) fn marks_relu(&self) -> bool {
        self.conv1.marks_relu()
    }

    /// The bit mask of the block's last ReLU (its output's).
    pub(crate) fn out_mask(&self) -> &wgpu::Buffer {
        &self.relu_masks[1]
    }

    /// Records the forward from `x` into `y`. `relu_mask`: `x` is the output of a ReLU whose
    /// mask the first convolution writes ([`BasicBlock::marks_relu`]). `masked_by_next`: the
    /// next layer writes [`BasicBlock::out_mask`], so the last ReLU runs in the residual add.
    pub(crate) fn record_forward(
        &self,
        ctx: &Context,
        rec: &mut Recording,
        (x, relu_mask): (&wgpu::Buffer, Option<&wgpu::Buffer>),
        (y, masked_by_next): (&wgpu::Buffer, bool),
        (refresh, train): (bool, bool),
        scratch: &Scratch,
    ) -> Result<()> {
        let BlockScratch {
            conv_out,
            bn_out,
            short_out,
            ..
        } = &scratch.block;
        let conv = |c: &Conv2d, rec: &mut Recording, x| {
            c.record_forward(ctx, rec, x, Output::plain(conv_out), refresh, scratch)
        };
        let relu = |x, mask| ReluPass::Forward {
            x,
            mask: Some(mask),
        };
        let [mask1, mask2] = &self.relu_masks;
        conv(&self.conv1, rec, (x, relu_mask))?;
        // The first ReLU runs in bn1, its mask written by conv2's quantization where conv2 can
        // write it; else in a pass of its own.
        if self.conv2.marks_relu() {
            self.bn1
                .record_forward(ctx, rec, (conv_out, &self.r1), train, true)?;
            conv(&self.conv2, rec, (&self.r1, Some(mask1)))?;
        } else {
            self.bn1
                .record_forward(ctx, rec, (conv_out, bn_out), train, false)?;
            ops::relu(ctx, rec, self.out_cells, relu(bn_out, mask1), &self.r1)?;
            conv(&self.conv2, rec, (&self.r1, None))?;
        }
        self.bn2
            .record_forward(ctx, rec, (conv_out, bn_out), train, false)?;
        let short = match &self.shortcut {
            Some((c, bn)) => {
                conv(c, rec, (x, None))?;
                bn.record_forward(ctx, rec, (conv_out, short_out), train, false)?;
                short_out
            }
            None => x,
        };
        if masked_by_next {
            return ops::add(rec, self.out_cells, bn_out, short, (y, true));
        }
        let sum = conv_out;
        ops::add(rec, self.out_cells, bn_out, short, (sum, false))?;
        ops::relu(ctx, rec, self.out_cells, relu(sum, mask2), y)
    }

    /// The backward from `dy`; `x` is the forward's input.
    pub(crate) fn record_backward(
        &self,
        ctx: &Context,
        rec: &mut Recording,
        (x, dy): (&wgpu::Buffer, &wgpu::Buffer),
        dx: Option<&wgpu::Buffer>,
        refresh: bool,
        scratch: &Scratch,
    ) -> Result<Vec<usize>> {
        let mut seeded = Vec::new();
        let n = self.out_cells;
        let BlockScratch {
            g_sum,
            g_a,
            g_b,
            dx_main,
            dx_short,
            ..
        } = &scratch.block;
        let relu = |dy, mask| ReluPass::Backward {
            dy,
            saved: ReluSaved::Mask(mask),
        };
        let [mask1, mask2] = &self.relu_masks;
        ops::relu(ctx, rec, n, relu(dy, mask2), g_sum)?;
        // Main path, back to front.
        self.bn2.record_backward(ctx, rec, (g_sum, g_a), scratch)?;
        seeded.extend(self.conv2.record_backward(
            ctx,
            rec,
            (&self.r1, g_a),
            Some(g_b),
            refresh,
            scratch,
        )?);
        ops::relu(ctx, rec, n, relu(g_b, mask1), g_a)?;
        self.bn1.record_backward(ctx, rec, (g_a, g_b), scratch)?;
        let main_dx = dx.map(|_| dx_main);
        seeded.extend(
            self.conv1
                .record_backward(ctx, rec, (x, g_b), main_dx, refresh, scratch)?,
        );
        // Shortcut.
        let short_dx = match &self.shortcut {
            Some((conv, bn)) => {
                bn.record_backward(ctx, rec, (g_sum, g_a), scratch)?;
                seeded.extend(conv.record_backward(
                    ctx,
                    rec,
                    (x, g_a),
                    dx.map(|_| dx_short),
                    refresh,
                    scratch,
                )?);
                dx_short
            }
            None => g_sum,
        };
        if let Some(dx) = dx {
            ops::add(rec, self.in_cells, dx_main, short_dx, (dx, false))?;
        }
        Ok(seeded)
    }

    /// The block's convolutions, in order.
    pub(crate) fn convs(&self) -> Vec<&Conv2d> {
        let mut v = vec![&self.conv1, &self.conv2];
        v.extend(self.shortcut.as_ref().map(|(c, _)| c));
        v
    }

    /// The block's batch norms, in order.
    pub(crate) fn batchnorms(&self) -> Vec<&BatchNorm> {
        let mut v = vec![&self.bn1, &self.bn2];
        v.extend(self.shortcut.as_ref().map(|(_, b)| b));
        v
    }

    /// conv1, bn1, conv2, bn2, then the shortcut's conv and bn.
    pub(crate) fn slots(&self) -> Vec<Slot<'_>> {
        let mut v = Vec::new();
        v.extend(self.conv1.slots());
        v.extend(self.bn1.slots());
        v.extend(self.conv2.slots());
        v.extend(self.bn2.slots());
        if let Some((conv, bn)) = &self.shortcut {
            v.extend(conv.slots());
            v.extend(bn.slots());
        }
        v
    }

    /// Bytes kept from the forward for the backward.
    pub(crate) fn saved_bytes(&self) -> u64 {
        let convs: u64 = self.convs().iter().map(|c| c.saved_input_bytes()).sum();
        let bns: u64 = self.batchnorms().iter().map(|b| b.saved_bytes()).sum();
        let masks: u64 = self.relu_masks.iter().map(|m| m.size()).sum();
        convs + bns + masks
    }
}
