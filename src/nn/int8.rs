//! The int8 state of a quantized GEMM layer: its quantized tensors, dY's statistics and clips,
//! and its entry in the model's table of dY clip summaries.

use crate::abi::STATS_RECORD_WORDS;
use crate::error::Result;
use crate::gpu::{Context, Recording, View};
use crate::nn::linear::{Input, LinearShape};
use crate::ops::clip_select::ClipSummary;
use crate::ops::{self, ChannelAxis, ChannelStat, ConvGeometry, Layout, QuantizeBuffers, Rounding};
use crate::quant::Policy;

/// Buffers of one int8 tensor: its statistics, packed values and scales.
#[derive(Debug)]
pub(crate) struct QuantTensor {
    pub layout: Layout,
    /// Per channel: the statistics. Per tensor: [`QuantTensor::parts`] partial records of
    /// `channel_stats`, then the record whose first field, max|x|, is the clip (`own_clip`;
    /// only that field is written).
    pub stats: wgpu::Buffer,
    pub packed: wgpu::Buffer,
    pub scales: wgpu::Buffer,
    /// The statistics' segment length on this adapter ([`ops::channel_stats::seg_len`]).
    seg_len: usize,
}

impl QuantTensor {
    pub(crate) fn new(ctx: &Context, name: &str, layout: Layout) -> Self {
        let seg_len = ops::channel_stats::seg_len(ctx, &layout);
        let records = match layout.axis {
            ChannelAxis::Tensor => Self::tensor_parts(&layout, seg_len) as usize + 1,
            _ => layout.channels(),
        };
        QuantTensor {
            layout,
            stats: ctx.storage_buffer(
                &format!("{name}.stats"),
                (records * size_of::<ChannelStat>()) as u64,
            ),
            packed: ctx.storage_buffer(&format!("{name}.q"), layout.packed_words() as u64 * 4),
            scales: ctx.storage_buffer(&format!("{name}.scales"), layout.channels() as u64 * 4),
            seg_len,
        }
    }

    /// Max-abs per tensor, nearest rounding: the forward's rule for X and W. With `relu_mask`
    /// the quantization also writes the mask of the ReLU whose output `input` is. A small
    /// tensor's quantization measures max|x| itself (one dispatch); over more elements it folds
    /// the segments' max|x| that `channel_stats` leaves (two dispatches, not three).
    pub(crate) fn record_max_abs<'a>(
        &self,
        ctx: &Context,
        rec: &mut Recording,
        input: impl Into<View<'a>>,
        relu_mask: Option<&wgpu::Buffer>,
    ) -> Result<()> {
        let input = input.into();
        let nearest = Rounding::Nearest;
        if self.layout.axis == ChannelAxis::Tensor && self.parts() == 0 {
            let bufs = self.buffers(input, relu_mask, &self.stats);
            let at = self.own_clip().offset;
            return ops::quantize::quantize_scan(ctx, rec, &self.layout, nearest, bufs, at);
        }
        if self.layout.axis == ChannelAxis::Tensor {
            let parts = ops::channel_stats_partials(ctx, rec, &self.layout, input, &self.stats)?;
            debug_assert_eq!(parts, self.parts());
            if parts > 0 {
                let bufs = self.buffers(input, relu_mask, &self.stats);
                return ops::quantize::quantize_fold(ctx, rec, &self.layout, nearest, bufs, parts);
            }
        } else {
            ops::channel_stats(ctx, rec, &self.layout, input, &self.stats, None)?;
        }
        self.record_quantize(ctx, rec, input, relu_mask, self.own_clip(), nearest)
    }

    /// The clip in the tensor's own statistics: ChannelStat's first field is max|x|, so a
    /// one-channel stats buffer is also a clip buffer (at its record `parts`).
    pub(crate) fn own_clip(&self) -> ClipsAt<'_> {
        ClipsAt {
            buffer: &self.stats,
            offset: self.parts() * STATS_RECORD_WORDS,
        }
    }

    /// Partial records before the clip's record in `stats`: 0 per channel.
    pub(crate) fn parts(&self) -> u32 {
        match self.layout.axis {
            ChannelAxis::Tensor => Self::tensor_parts(&self.layout, self.seg_len),
            _ => 0,
        }
    }

    /// A per-tensor `layout`'s partial records: none where its quantization measures the clip
    /// itself ([`SCAN_MAX_LEN`](ops::quantize::SCAN_MAX_LEN) elements or fewer), else those
    /// `channel_stats` leaves, one per segment of `seg_len`.
    fn tensor_parts(layout: &Layout, seg_len: usize) -> u32 {
        if layout.len() <= ops::quantize::SCAN_MAX_LEN {
            0
        } else {
            ops::channel_stats::partials_records(layout, seg_len) as u32 - 1
        }
    }

    fn buffers<'a>(
        &'a self,
        input: View<'a>,
        relu_mask: Option<&'a wgpu::Buffer>,
        clips: &'a wgpu::Buffer,
    ) -> QuantizeBuffers<'a> {
        QuantizeBuffers {
            input,
            clips,
            packed: &self.packed,
            scales: &self.scales,
            relu_mask,
        }
    }

    /// Quantizes `input` with the clips at `clips` (and writes the ReLU mask, if given).
    pub(crate) fn record_quantize<'a>(
        &self,
        ctx: &Context,
        rec: &mut Recording,
        input: impl Into<View<'a>>,
        relu_mask: Option<&wgpu::Buffer>,
        clips: ClipsAt<'_>,
        rounding: Rounding,
    ) -> Result<()> {
        let bufs = self.buffers(input.into(), relu_mask, clips.buffer);
        ops::quantize::quantize_at(ctx, rec, &self.layout, rounding, bufs, clips.offset)
    }
}

/// Where a quantization reads its clips: f32 index `offset` of `buffer` on, one per channel.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ClipsAt<'a> {
    pub buffer: &'a wgpu::Buffer,
    pub offset: u32,
}

/// UI8's candidate clips for dY: `count` ratios of max|dY| and the cosine terms measured for
/// each.
#[derive(Debug)]
pub(crate) struct DyCandidates {
    pub cosine_terms: wgpu::Buffer,
    pub ratios: wgpu::Buffer,
    pub count: usize,
}

/// The int8 state of a quantized Linear.
#[derive(Debug)]
pub(crate) struct Int8State {
    pub x: QuantTensor,
    pub w: QuantTensor,
    /// dY quantized per tensor (the dX GEMM's, and for UI8 and naive also the dW GEMM's).
    pub dy: QuantTensor,
    /// DAI8: dY quantized per output channel for the dW GEMM.
    pub dy_channels: Option<QuantTensor>,
    /// UI8's candidate clips.
    pub candidates: Option<DyCandidates>,
    /// Statistics of dY: one channel, or one per output channel for DAI8.
    pub dy_stats: wgpu::Buffer,
    /// MCS state (DAI8).
    pub mcs_state: wgpu::Buffer,
    /// The clips of dY per channel of `dy_stats_layout`.
    pub clips: wgpu::Buffer,
    /// Where the layer's [`ClipSummary`] of dY goes: tensor clip (word 0), distance, φ (word 2),
    /// classes.
    pub summary: SummarySlot,
}

/// A quantized layer's entry in its model's table of dY clip summaries: one table, so that
/// UI8's global learning-rate factor can read every layer's distance in one place.
#[derive(Clone, Debug)]
pub(crate) struct SummarySlot {
    /// The table: `count` [`ClipSummary`].
    pub table: wgpu::Buffer,
    /// This layer's entry.
    pub index: u32,
    /// Entries in the table (the model's quantized GEMM layers).
    pub count: u32,
}

impl SummarySlot {
    /// f32 index of the entry's first word.
    pub(crate) fn word(&self) -> u32 {
        self.index * (size_of::<ClipSummary>() / 4) as u32
    }
}

impl Int8State {
    /// The state of a layer of `shape` under `policy`, named after `name`; `conv_input`: X is
    /// a convolution's input quantized in place.
    pub(crate) fn new(
        ctx: &Context,
        name: &str,
        LinearShape {
            batch,
            inputs,
            outputs,
        }: LinearShape,
        policy: &Policy,
        summary: SummarySlot,
        conv_input: Option<&ConvGeometry>,
    ) -> Self {
        let f32s = |n: u32| n as u64 * 4;
        let dy_tensor = Layout::new(batch, outputs, ChannelAxis::Tensor);
        let dai8 = matches!(policy, Policy::Dai8(_));
        let stat_channels = if dai8 { outputs } else { 1 };
        let candidates = match policy {
            Policy::Ui8(u) => {
                let n = u.ratios.len();
                Some(DyCandidates {
                    cosine_terms: ctx
                        .storage_buffer(&format!("{name}.dy.cosine_terms"), (n * 8) as u64),
                    ratios: ctx.upload(&format!("{name}.dy.ratios"), &u.ratios),
                    count: n,
                })
            }
            _ => None,
        };
        Int8State {
            x: QuantTensor::new(
                ctx,
                &format!("{name}.x"),
                conv_input.map_or(
                    Layout::new(batch, inputs, ChannelAxis::Tensor),
                    ConvGeometry::quantized_input_layout,
                ),
            ),
            w: QuantTensor::new(
                ctx,
                &format!("{name}.w"),
                Layout::new(outputs, inputs, ChannelAxis::Tensor),
            ),
            dy: QuantTensor::new(ctx, &format!("{name}.dy"), dy_tensor),
            dy_channels: dai8.then(|| {
                QuantTensor::new(
                    ctx,
                    &format!("{name}.dy_ch"),
                    Layout::new(batch, outputs, ChannelAxis::Cols),
                )
            }),
            candidates,
            dy_stats: ctx.storage_buffer(
                &format!("{name}.dy.channel_stats"),
                stat_channels as u64 * size_of::<ChannelStat>() as u64,
            ),
            mcs_state: ctx.storage_buffer(&format!("{name}.dy.mcs_state"), f32s(stat_channels)),
            clips: ctx.storage_buffer(&format!("{name}.dy.clips"), f32s(stat_channels)),
            summary,
        }
    }

    /// X as an int8 GEMM operand: the packed matrix, or, for [`Input::Columns`], the column
    /// matrix gathered from the input quantized in place into the scratch buffer.
    pub(crate) fn x_operand<'b>(
        &'b self,
        rec: &mut Recording,
        input: &Input<'b>,
    ) -> Result<&'b wgpu::Buffer> {
        match *input {
            Input::Columns(g, _, cols) => {
                ops::im2col_i8(rec, g, &self.x.packed, cols)?;
                Ok(cols)
            }
            _ => Ok(&self.x.packed),
        }
    }
}
