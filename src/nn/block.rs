//! The residual basic block of the ResNet.

use crate::error::Result;
use crate::gpu::{Context, Recording, Region};
use crate::nn::conv::MaskedInput;
use crate::nn::int8::SummarySlot;
use crate::nn::linear::{Gradients, Output};
use crate::nn::pass::{Clips, Pass, Seeded};
use crate::nn::scratch::{BlockScratch, Scratch};
use crate::nn::tensors::Slot;
use crate::nn::{BatchNorm, Conv2d};
use crate::ops::{self, ConvGeometry, ReluPass, ReluSaved};
use crate::quant::Policy;

/// A block's NHWC input shape `[batch, h, w, c]`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BlockInput {
    pub(crate) batch: u32,
    pub(crate) h: u32,
    pub(crate) w: u32,
    pub(crate) c: u32,
}

/// Where a block's forward writes `y`, and whether its last ReLU runs in the residual add
/// because the next layer writes [`BasicBlock::out_mask`] as it quantizes `y`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BlockOutput<'a> {
    pub(crate) y: &'a wgpu::Buffer,
    pub(crate) relu_in_add: bool,
}

/// The projection shortcut of a block whose shape changes: conv1×1(stride) → BN.
#[derive(Debug)]
pub(crate) struct Shortcut {
    pub(crate) conv: Conv2d,
    pub(crate) bn: BatchNorm,
}

/// The ResNet basic block: conv3×3(stride) → BN → ReLU → conv3×3 → BN, plus the shortcut
/// (identity, or conv1×1(stride) → BN when the shape changes), added, then ReLU.
#[derive(Debug)]
pub struct BasicBlock {
    pub(crate) conv1: Conv2d,
    pub(crate) bn1: BatchNorm,
    pub(crate) conv2: Conv2d,
    pub(crate) bn2: BatchNorm,
    pub(crate) shortcut: Option<Shortcut>,
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
        BlockInput {
            batch,
            h,
            w,
            c: c_in,
        }: BlockInput,
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
            Conv2d::new(ctx, name, g, channels, &weights, policy, q, true)
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
            let conv = conv(&format!("{name}.shortcut"), gs, quantized(), init)?;
            let bn = BatchNorm::new(ctx, &format!("{name}.shortcut_bn"), rows, channels);
            Some(Shortcut { conv, bn })
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

    /// Records the forward from `x` into `out.y`. `x.relu_mask`: `x` is the output of a ReLU
    /// whose mask the first convolution writes ([`BasicBlock::marks_relu`]).
    pub(crate) fn record_forward(
        &self,
        ctx: &Context,
        rec: &mut Recording,
        MaskedInput { x, relu_mask }: MaskedInput<'_>,
        BlockOutput { y, relu_in_add }: BlockOutput<'_>,
        pass: Pass,
        scratch: &Scratch,
    ) -> Result<()> {
        let BlockScratch {
            conv_out,
            bn_out,
            short_out,
            ..
        } = &scratch.block;
        let conv = |c: &Conv2d, rec: &mut Recording, x, relu_mask| {
            let x = MaskedInput { x, relu_mask };
            c.record_forward(ctx, rec, x, Output::plain(conv_out), pass.clips, scratch)
        };
        let phase = pass.phase;
        let relu = |x, mask| ReluPass::Forward {
            x,
            mask: Some(mask),
        };
        let [mask1, mask2] = &self.relu_masks;
        conv(&self.conv1, rec, x, relu_mask)?;
        // The first ReLU runs in bn1, its mask written by conv2's quantization where conv2 can
        // write it; else in a pass of its own.
        if self.conv2.marks_relu() {
            let r1 = Output {
                y: &self.r1,
                relu: true,
            };
            self.bn1.record_forward(ctx, rec, conv_out, r1, phase)?;
            conv(&self.conv2, rec, &self.r1, Some(mask1))?;
        } else {
            let bn1_out = Output::plain(bn_out);
            self.bn1
                .record_forward(ctx, rec, conv_out, bn1_out, phase)?;
            ops::relu(ctx, rec, self.out_cells, relu(bn_out, mask1), &self.r1)?;
            conv(&self.conv2, rec, &self.r1, None)?;
        }
        let bn2_out = Output::plain(bn_out);
        self.bn2
            .record_forward(ctx, rec, conv_out, bn2_out, phase)?;
        let short = match &self.shortcut {
            Some(Shortcut { conv: c, bn }) => {
                conv(c, rec, x, None)?;
                bn.record_forward(ctx, rec, conv_out, Output::plain(short_out), phase)?;
                short_out
            }
            None => x,
        };
        if relu_in_add {
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
        x: &wgpu::Buffer,
        Gradients { dy, dx }: Gradients<'_>,
        clips: Clips,
        scratch: &Scratch,
    ) -> Result<Vec<Seeded>> {
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
        self.bn2.record_backward(ctx, rec, g_sum, g_a, scratch)?;
        let conv2 = Gradients {
            dy: g_a,
            dx: Some(g_b),
        };
        seeded.extend(
            self.conv2
                .record_backward(ctx, rec, &self.r1, conv2, clips, scratch)?,
        );
        ops::relu(ctx, rec, n, relu(g_b, mask1), g_a)?;
        self.bn1.record_backward(ctx, rec, g_a, g_b, scratch)?;
        let conv1 = Gradients {
            dy: g_b,
            dx: dx.map(|_| dx_main),
        };
        seeded.extend(
            self.conv1
                .record_backward(ctx, rec, x, conv1, clips, scratch)?,
        );
        // Shortcut.
        let short_dx = match &self.shortcut {
            Some(Shortcut { conv, bn }) => {
                bn.record_backward(ctx, rec, g_sum, g_a, scratch)?;
                let grads = Gradients {
                    dy: g_a,
                    dx: dx.map(|_| dx_short),
                };
                seeded.extend(conv.record_backward(ctx, rec, x, grads, clips, scratch)?);
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
        v.extend(self.shortcut.as_ref().map(|s| &s.conv));
        v
    }

    /// Every trainable's ranges, mutable, in the order of the convolutions then the batch norms.
    pub(crate) fn trainables_mut(&mut self) -> Vec<[&mut Region; 3]> {
        let BasicBlock {
            conv1,
            conv2,
            bn1,
            bn2,
            shortcut,
            ..
        } = self;
        let (sc_conv, sc_bn) = match shortcut {
            Some(Shortcut { conv, bn }) => (Some(conv), Some(bn)),
            None => (None, None),
        };
        let mut v = vec![conv1.gemm.regions_mut(), conv2.gemm.regions_mut()];
        v.extend(sc_conv.map(|c| c.gemm.regions_mut()));
        v.extend([bn1.regions_mut(), bn2.regions_mut()]);
        v.extend(sc_bn.map(BatchNorm::regions_mut));
        v
    }

    /// The block's batch norms, in order.
    pub(crate) fn batchnorms(&self) -> Vec<&BatchNorm> {
        let mut v = vec![&self.bn1, &self.bn2];
        v.extend(self.shortcut.as_ref().map(|s| &s.bn));
        v
    }

    /// conv1, bn1, conv2, bn2, then the shortcut's conv and bn.
    pub(crate) fn slots(&self) -> Vec<Slot<'_>> {
        let mut v = Vec::new();
        v.extend(self.conv1.slots());
        v.extend(self.bn1.slots());
        v.extend(self.conv2.slots());
        v.extend(self.bn2.slots());
        if let Some(Shortcut { conv, bn }) = &self.shortcut {
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
