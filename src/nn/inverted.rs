//! MobileNetV2's inverted-residual block: 1×1 expand → BN → ReLU6 → 3×3 depthwise (stride) →
//! BN → ReLU6 → 1×1 project → BN, plus the input when the shapes match (stride 1, same
//! channels). With an expansion factor of 1 there is no expansion: the depthwise convolution
//! reads the block's input.

use crate::error::Result;
use crate::gpu::{Context, Recording, Region};
use crate::nn::block::BlockInput;
use crate::nn::conv::MaskedInput;
use crate::nn::depthwise::DepthwiseConv2d;
use crate::nn::int8::SummarySlot;
use crate::nn::linear::{Gradients, Output};
use crate::nn::pass::{Clips, Pass, Seeded};
use crate::nn::scratch::{BlockScratch, Scratch};
use crate::nn::tensors::Slot;
use crate::nn::{BatchNorm, Conv2d};
use crate::ops::{self, ConvGeometry, ReluPass, ReluSaved};
use crate::quant::Policy;

/// The expansion: conv1×1 to the hidden width, its batch norm, and the ReLU6 after them.
#[derive(Debug)]
pub(crate) struct Expansion {
    pub(crate) conv: Conv2d,
    pub(crate) bn: BatchNorm,
    /// The ReLU6's output (the depthwise convolution's input) and its mask.
    relu: wgpu::Buffer,
    mask: wgpu::Buffer,
}

/// The inverted-residual block of MobileNetV2. It keeps what its backward reads (the ReLU6
/// outputs the convolutions after them take as input, their masks); the convolutions' and batch
/// norms' outputs and the gradients inside its backward are `Scratch::block`'s.
#[derive(Debug)]
pub struct InvertedResidual {
    pub(crate) expand: Option<Expansion>,
    pub(crate) depthwise: DepthwiseConv2d,
    pub(crate) bn_dw: BatchNorm,
    pub(crate) project: Conv2d,
    pub(crate) bn_project: BatchNorm,
    /// The second ReLU6's output (the projection's input) and its mask.
    relu: wgpu::Buffer,
    mask: wgpu::Buffer,
    /// Whether the input is added to the output (stride 1, same channels).
    residual: bool,
    hidden_in: u32,
    hidden_out: u32,
    pub(crate) out_cells: u32,
    pub(crate) in_cells: u32,
}

impl InvertedResidual {
    /// A block on NHWC input `[batch, h, w, c_in]` to `channels`, expanding to `expand · c_in`
    /// channels; `quantized()`, called for the expansion (if any), the depthwise and the
    /// projection in turn, gives each its summary slot when it runs on int8.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        ctx: &Context,
        name: &str,
        BlockInput { batch, h, w, c }: BlockInput,
        (expand, channels, stride): (u32, u32, u32),
        policy: &Policy,
        quantized: &mut dyn FnMut() -> Option<SummarySlot>,
        init: &mut dyn FnMut(u32, u32) -> Vec<f32>,
    ) -> Result<Self> {
        let hidden = c * expand;
        let geom = |h, w, c, k, stride, pad| ConvGeometry {
            n: batch,
            h,
            w,
            c,
            kh: k,
            kw: k,
            stride,
            pad,
        };
        let buf = |what: &str, cells: u32| {
            ctx.storage_buffer(&format!("{name}.{what}"), cells as u64 * 4)
        };
        let mask = |what: &str, cells: u32| {
            let bytes = ops::relu::relu_mask_bytes(cells);
            ctx.storage_buffer(&format!("{name}.{what}"), bytes)
        };
        let pointwise = |name: &str,
                         g: ConvGeometry,
                         out: u32,
                         q,
                         init: &mut dyn FnMut(u32, u32) -> Vec<f32>| {
            let weights = init(g.taps(), g.taps() * out);
            Conv2d::new(ctx, name, g, out, &weights, policy, q, true)
        };
        let hidden_in = batch * h * w * hidden;
        let expand = if expand == 1 {
            None
        } else {
            let g = geom(h, w, c, 1, 1, 0);
            let conv = pointwise(&format!("{name}.expand"), g, hidden, quantized(), init)?;
            Some(Expansion {
                conv,
                bn: BatchNorm::new(ctx, &format!("{name}.expand_bn"), batch * h * w, hidden),
                relu: buf("relu1", hidden_in),
                mask: mask("relu1_mask", hidden_in),
            })
        };
        let gd = geom(h, w, hidden, 3, stride, 1);
        gd.validate("model")?;
        let (oh, ow) = (gd.oh(), gd.ow());
        let rows = batch * oh * ow;
        let weights = init(9, 9 * hidden);
        let q = quantized();
        let depthwise = DepthwiseConv2d::new(
            ctx,
            &format!("{name}.depthwise"),
            gd,
            &weights,
            policy,
            q,
            true,
        )?;
        let gp = geom(oh, ow, hidden, 1, 1, 0);
        let project = pointwise(&format!("{name}.project"), gp, channels, quantized(), init)?;
        let hidden_out = rows * hidden;
        let out_cells = rows * channels;
        let in_cells = batch * h * w * c;
        Ok(InvertedResidual {
            expand,
            depthwise,
            bn_dw: BatchNorm::new(ctx, &format!("{name}.depthwise_bn"), rows, hidden),
            project,
            bn_project: BatchNorm::new(ctx, &format!("{name}.project_bn"), rows, channels),
            relu: buf("relu2", hidden_out),
            mask: mask("relu2_mask", hidden_out),
            residual: stride == 1 && c == channels,
            hidden_in,
            hidden_out,
            out_cells,
            in_cells,
        })
    }

    /// Values of the largest tensor inside the block: what each of [`Scratch::block`]'s
    /// activation and gradient buffers must hold for it.
    pub(crate) fn largest_cells(&self) -> u32 {
        self.hidden_in.max(self.hidden_out).max(self.out_cells)
    }

    /// Output `[h, w, channels]` of a block with `stride` on `[h, w, _]` (a 3×3 depthwise
    /// convolution padded by 1).
    pub(crate) fn output_shape(h: u32, w: u32, channels: u32, stride: u32) -> [u32; 3] {
        [(h - 1) / stride + 1, (w - 1) / stride + 1, channels]
    }

    /// Records the forward from `x` into `y`.
    pub(crate) fn record_forward(
        &self,
        ctx: &Context,
        rec: &mut Recording,
        x: &wgpu::Buffer,
        y: &wgpu::Buffer,
        pass: Pass,
        scratch: &Scratch,
    ) -> Result<()> {
        let (clips, phase) = (pass.clips, pass.phase);
        let BlockScratch {
            conv_out, bn_out, ..
        } = &scratch.block;
        let relu6 = |rec: &mut Recording, n, x, mask, out| {
            let op = ReluPass::Forward {
                x,
                mask: Some(mask),
            };
            ops::relu6(ctx, rec, n, op, out)
        };
        let dw_in = match &self.expand {
            Some(e) => {
                let input = MaskedInput { x, relu_mask: None };
                e.conv
                    .record_forward(ctx, rec, input, Output::plain(conv_out), clips, scratch)?;
                e.bn.record_forward(ctx, rec, conv_out, Output::plain(bn_out), phase)?;
                relu6(rec, self.hidden_in, bn_out, &e.mask, &e.relu)?;
                &e.relu
            }
            None => x,
        };
        self.depthwise
            .record_forward(ctx, rec, dw_in, Output::plain(conv_out), clips)?;
        self.bn_dw
            .record_forward(ctx, rec, conv_out, Output::plain(bn_out), phase)?;
        relu6(rec, self.hidden_out, bn_out, &self.mask, &self.relu)?;
        let input = MaskedInput {
            x: &self.relu,
            relu_mask: None,
        };
        self.project
            .record_forward(ctx, rec, input, Output::plain(conv_out), clips, scratch)?;
        if !self.residual {
            return self
                .bn_project
                .record_forward(ctx, rec, conv_out, Output::plain(y), phase);
        }
        self.bn_project
            .record_forward(ctx, rec, conv_out, Output::plain(bn_out), phase)?;
        ops::add(rec, self.out_cells, bn_out, x, (y, false))
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
        let BlockScratch {
            g_a, g_b, dx_main, ..
        } = &scratch.block;
        let relu6 = |rec: &mut Recording, n, dy, mask, out| {
            let op = ReluPass::Backward {
                dy,
                saved: ReluSaved::Mask(mask),
            };
            ops::relu6(ctx, rec, n, op, out)
        };
        // The main path writes the block's dx itself unless the shortcut's is added after.
        let dx_path = dx.map(|dx| if self.residual { dx_main } else { dx });
        self.bn_project
            .record_backward(ctx, rec, dy, g_a, scratch)?;
        let grads = Gradients {
            dy: g_a,
            dx: Some(g_b),
        };
        seeded.extend(
            self.project
                .record_backward(ctx, rec, &self.relu, grads, clips, scratch)?,
        );
        relu6(rec, self.hidden_out, g_b, &self.mask, g_a)?;
        self.bn_dw.record_backward(ctx, rec, g_a, g_b, scratch)?;
        let (dw_in, dw_dx) = match &self.expand {
            Some(e) => (&e.relu, Some(g_a)),
            None => (x, dx_path),
        };
        let grads = Gradients { dy: g_b, dx: dw_dx };
        seeded.extend(
            self.depthwise
                .record_backward(ctx, rec, dw_in, grads, clips)?,
        );
        if let Some(e) = &self.expand {
            relu6(rec, self.hidden_in, g_a, &e.mask, g_b)?;
            e.bn.record_backward(ctx, rec, g_b, g_a, scratch)?;
            let grads = Gradients {
                dy: g_a,
                dx: dx_path,
            };
            seeded.extend(e.conv.record_backward(ctx, rec, x, grads, clips, scratch)?);
        }
        if let (Some(dx), true) = (dx, self.residual) {
            ops::add(rec, self.in_cells, dx_main, dy, (dx, false))?;
        }
        Ok(seeded)
    }

    /// The block's convolutions (expansion, projection), in order.
    pub(crate) fn convs(&self) -> Vec<&Conv2d> {
        let mut v: Vec<&Conv2d> = self.expand.iter().map(|e| &e.conv).collect();
        v.push(&self.project);
        v
    }

    /// The block's GEMM layers in model order: expansion, depthwise, projection.
    pub(crate) fn gemms(&self) -> Vec<&crate::nn::Linear> {
        let mut v: Vec<_> = self.expand.iter().map(|e| &e.conv.gemm).collect();
        v.push(&self.depthwise.gemm);
        v.push(&self.project.gemm);
        v
    }

    /// Every trainable's ranges, mutable, in the order of [`InvertedResidual::gemms`] then
    /// [`InvertedResidual::batchnorms`].
    pub(crate) fn trainables_mut(&mut self) -> Vec<[&mut Region; 3]> {
        let InvertedResidual {
            expand,
            depthwise,
            project,
            bn_dw,
            bn_project,
            ..
        } = self;
        let (e_conv, e_bn) = match expand {
            Some(e) => (Some(&mut e.conv), Some(&mut e.bn)),
            None => (None, None),
        };
        let mut v: Vec<[&mut Region; 3]> =
            e_conv.map(|c| c.gemm.regions_mut()).into_iter().collect();
        v.extend([depthwise.gemm.regions_mut(), project.gemm.regions_mut()]);
        v.extend(e_bn.map(BatchNorm::regions_mut));
        v.extend([bn_dw.regions_mut(), bn_project.regions_mut()]);
        v
    }

    /// The block's batch norms, in order.
    pub(crate) fn batchnorms(&self) -> Vec<&BatchNorm> {
        let mut v: Vec<_> = self.expand.iter().map(|e| &e.bn).collect();
        v.extend([&self.bn_dw, &self.bn_project]);
        v
    }

    /// Each part's tensors, in model order.
    pub(crate) fn slots(&self) -> Vec<Slot<'_>> {
        let mut v = Vec::new();
        if let Some(e) = &self.expand {
            v.extend(e.conv.slots());
            v.extend(e.bn.slots());
        }
        v.extend(self.depthwise.slots());
        v.extend(self.bn_dw.slots());
        v.extend(self.project.slots());
        v.extend(self.bn_project.slots());
        v
    }

    /// Bytes kept from the forward for the backward: the layers' inputs and the two masks.
    pub(crate) fn saved_bytes(&self) -> u64 {
        let convs: u64 = self.convs().iter().map(|c| c.saved_input_bytes()).sum();
        let bns: u64 = self.batchnorms().iter().map(|b| b.saved_bytes()).sum();
        let masks = self.mask.size() + self.expand.as_ref().map_or(0, |e| e.mask.size());
        convs + self.depthwise.saved_input_bytes() + bns + masks
    }
}
