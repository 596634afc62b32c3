//! GPU round trips the suites share: upload host data, record one kernel, run it, read back
//! what it wrote. Public, so that tests can drive a kernel directly.

use crate::cpu::{self, CpuEpilogue, CpuGate, CpuScale};
use crate::error::Result;
use crate::gpu::{Context, Recording};
use crate::ops::channel_stats::Candidates;
use crate::ops::gemm::{self, GateMode, GemmVariant, ReluGate};
use crate::ops::relu::relu_mask_bytes;
use crate::ops::{
    self, ChannelStat, ClipBuffers, ClipRule, ClipSummary, Epilogue, GemmBuffers, GemmShape,
    Layout, QuantizeBuffers, Rounding, Scale,
};

/// What [`gpu_quantize`] read back.
#[derive(Clone, Debug)]
pub struct Quantized {
    /// The packed int8 words.
    pub packed: Vec<u32>,
    /// One scale per channel.
    pub scales: Vec<f32>,
    /// The ReLU mask, if one was asked for.
    pub relu_mask: Option<Vec<u32>>,
}

/// Whether a quantize also writes the ReLU mask of `input > 0`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReluMaskOutput {
    /// No mask.
    Skip,
    /// The mask too (the layout needs a multiple of 4 columns).
    Write,
}

/// Runs `quantize` of `input` against `clips` on the GPU and reads back what it wrote.
pub async fn gpu_quantize(
    ctx: &Context,
    layout: &Layout,
    rounding: Rounding,
    input: &[f32],
    clips: &[f32],
    relu_mask: ReluMaskOutput,
) -> Result<Quantized> {
    let x = ctx.upload("test.x", input);
    let c = ctx.upload("test.clips", clips);
    let packed = ctx.storage_buffer("test.packed", layout.packed_words() as u64 * 4);
    let scales = ctx.storage_buffer("test.scales", layout.channels() as u64 * 4);
    let mask_bytes = relu_mask_bytes(layout.len() as u32);
    let mask = (relu_mask == ReluMaskOutput::Write)
        .then(|| ctx.storage_buffer("test.relu_mask", mask_bytes));
    let mut rec = Recording::new();
    let bufs = QuantizeBuffers {
        input: (&x).into(),
        clips: &c,
        packed: &packed,
        scales: &scales,
        relu_mask: mask.as_ref(),
    };
    ops::quantize(ctx, &mut rec, layout, rounding, bufs)?;
    ctx.run(&rec)?;
    let mut p: Vec<u32> = ctx.read_buffer_async(&packed).await?;
    let mut s: Vec<f32> = ctx.read_buffer_async(&scales).await?;
    p.truncate(layout.packed_words());
    s.truncate(layout.channels());
    let m = match &mask {
        Some(m) => {
            let mut words: Vec<u32> = ctx.read_buffer_async(m).await?;
            words.truncate(mask_bytes as usize / 4);
            Some(words)
        }
        None => None,
    };
    Ok(Quantized {
        packed: p,
        scales: s,
        relu_mask: m,
    })
}

/// Per-channel max|x| over finite values, the usual clip.
pub fn max_abs_clips(layout: &Layout, input: &[f32]) -> Vec<f32> {
    let mut clips = vec![0f32; layout.channels()];
    for r in 0..layout.rows {
        for c in 0..layout.cols {
            let x = input[(r * layout.cols + c) as usize];
            let ch = cpu::common::channel_of(layout.axis, r, c) as usize;
            if x.is_finite() {
                clips[ch] = clips[ch].max(x.abs());
            }
        }
    }
    clips
}

/// Default candidate ratios for UI8's clip search: 1.00, 0.95, …, 0.05 of max|g|.
pub fn default_ratios() -> Vec<f32> {
    (0..20).map(|i| 1.0 - 0.05 * i as f32).collect()
}

/// What both statistics passes produce.
#[derive(Clone, Debug)]
pub struct StatsRun {
    /// Stats after pass 1 (`above_sigma` still 0).
    pub pass1: Vec<ChannelStat>,
    /// Stats after pass 2.
    pub pass2: Vec<ChannelStat>,
    /// `[g·ĝ, ĝ·ĝ]` per channel and candidate.
    pub terms: Vec<[f32; 2]>,
}

/// Runs both stats passes on the GPU: one after the other, reading back pass 1's result, or with
/// `both` as [`ops::channel_stats_both`] records them (then `pass1` is the result without
/// `above_sigma`).
pub async fn gpu_channel_stats(
    ctx: &Context,
    layout: &Layout,
    input: &[f32],
    ratios: &[f32],
    both: bool,
) -> Result<StatsRun> {
    let x = ctx.upload("test.x", input);
    let bytes = (layout.channels() * std::mem::size_of::<ChannelStat>()) as u64;
    let stats = ctx.storage_buffer("test.stats", bytes);
    let ratio_buf = ctx.upload("test.ratios", ratios);
    // At least one pair, so that a run without candidates still binds a buffer.
    let pairs = layout.channels() * ratios.len().max(1);
    let terms = ctx.storage_buffer("test.terms", pairs as u64 * 8);
    let candidates = (!ratios.is_empty()).then_some(Candidates {
        count: ratios.len(),
        ratios: &ratio_buf,
        cosine_terms: &terms,
    });
    let mut rec = Recording::new();
    let pass1 = if both {
        ops::channel_stats_both(ctx, &mut rec, layout, &x, &stats, candidates, None)?;
        None
    } else {
        ops::channel_stats(ctx, &mut rec, layout, &x, &stats, None)?;
        ctx.run(&rec)?;
        rec = Recording::new();
        let pass1: Vec<ChannelStat> = ctx.read_buffer_async(&stats).await?;
        ops::channel_stats_tail(ctx, &mut rec, layout, &x, &stats, candidates, None)?;
        Some(pass1)
    };
    ctx.run(&rec)?;
    let pass2: Vec<ChannelStat> = ctx.read_buffer_async(&stats).await?;
    let pass1 = pass1.unwrap_or_else(|| {
        let without_tail = |s: &ChannelStat| ChannelStat {
            above_sigma: 0,
            ..*s
        };
        pass2.iter().map(without_tail).collect()
    });
    let t: Vec<[f32; 2]> = ctx.read_buffer_async(&terms).await?;
    let ch = layout.channels();
    Ok(StatsRun {
        pass1: pass1[..ch].to_vec(),
        pass2: pass2[..ch].to_vec(),
        terms: t[..ch * ratios.len()].to_vec(),
    })
}

/// Both passes on the CPU twins in segments of `seg_len`; pass 2 reads `pass1` (the GPU's, in
/// the suite) so that the comparison |x| > σ is decided on the same σ and its count must match
/// exactly.
pub fn twin_channel_stats(
    layout: &Layout,
    seg_len: usize,
    input: &[f32],
    ratios: &[f32],
    pass1: Option<&[ChannelStat]>,
) -> StatsRun {
    use crate::ops::channel_stats::segments;
    let (ch, segs) = (layout.channels(), segments(layout, seg_len));
    let mut partials = vec![ops::StatsPartial::default(); ch * segs];
    let mut p1 = vec![ChannelStat::default(); ch];
    cpu::channel_stats(layout, seg_len, input, &mut partials, &mut p1);
    if segs > 1 {
        cpu::channel_stats_reduce(layout, seg_len, input, &partials, &mut p1);
    }
    let mut p2 = pass1.map_or_else(|| p1.clone(), <[ChannelStat]>::to_vec);
    let mut tail = vec![[0u32; 2]; ch * segs * (1 + ratios.len())];
    let mut terms = vec![[0f32; 2]; ch * ratios.len()];
    cpu::channel_stats_tail(
        layout,
        seg_len,
        input,
        ratios,
        &mut p2,
        (&mut tail, &mut terms),
        false,
    );
    if segs > 1 {
        let nc = ratios.len();
        cpu::channel_stats_tail_reduce(layout, seg_len, nc, &tail, &mut p2, &mut terms);
    }
    StatsRun {
        pass1: p1,
        pass2: p2,
        terms,
    }
}

/// What [`gpu_clip_select`] read back.
#[derive(Clone, Debug)]
pub struct ClipSelection {
    /// One clip per channel.
    pub clips: Vec<f32>,
    /// The per-channel state after the step.
    pub state: Vec<f32>,
    /// The tensor-wide summary.
    pub summary: ClipSummary,
}

/// Runs `clip_select` on the GPU from host-side statistics.
pub async fn gpu_clip_select(
    ctx: &Context,
    rule: ClipRule,
    stats: &[ChannelStat],
    terms: &[[f32; 2]],
    ratios: &[f32],
    state: &[f32],
) -> Result<ClipSelection> {
    let ch = stats.len();
    let stats_buf = ctx.upload("test.stats", stats);
    let terms_buf = ctx.upload("test.terms", terms);
    let ratios_buf = ctx.upload("test.ratios", ratios);
    let state_buf = ctx.upload("test.state", state);
    let clips = ctx.storage_buffer("test.clips", ch as u64 * 4);
    let summary = ctx.storage_buffer("test.summary", std::mem::size_of::<ClipSummary>() as u64);
    let mut rec = Recording::new();
    let bufs = ClipBuffers {
        stats: &stats_buf,
        candidates: Some((&terms_buf, &ratios_buf)),
        state: Some(&state_buf),
        clips: &clips,
        summary: (&summary, 0),
    };
    ops::clip_select(ctx, &mut rec, ch as u32, ratios.len(), rule, bufs)?;
    ctx.run(&rec)?;
    let c: Vec<f32> = ctx.read_buffer_async(&clips).await?;
    let st: Vec<f32> = ctx.read_buffer_async(&state_buf).await?;
    let sm: Vec<ClipSummary> = ctx.read_buffer_async(&summary).await?;
    Ok(ClipSelection {
        clips: c[..ch].to_vec(),
        state: st[..ch].to_vec(),
        summary: sm[0],
    })
}

/// A GEMM epilogue as host data: scales (empty = none, one value = per tensor, else per index),
/// an optional bias, and whether the rectifier follows.
#[derive(Clone, Copy, Debug, Default)]
pub struct HostEpilogue<'a> {
    /// Scale of A.
    pub scale_a: &'a [f32],
    /// Scale of B.
    pub scale_b: &'a [f32],
    /// Bias per output column.
    pub bias: Option<&'a [f32]>,
    /// A fused ReLU.
    pub relu: bool,
    /// The backward of a ReLU before the layer (its mask or output words; the output's columns).
    pub gate: Option<CpuGate<'a>>,
}

impl<'a> HostEpilogue<'a> {
    /// The same epilogue for the CPU twins.
    pub fn cpu(&self) -> CpuEpilogue<'a> {
        let scale = |v: &'a [f32]| match v.len() {
            0 => CpuScale::None,
            1 => CpuScale::Tensor(v[0]),
            _ => CpuScale::PerIndex(v),
        };
        CpuEpilogue {
            scale_a: scale(self.scale_a),
            scale_b: scale(self.scale_b),
            bias: self.bias,
            relu: self.relu,
            gate: self.gate,
        }
    }
}

/// Runs `gemm_i8` in `variant` on the GPU.
pub async fn gpu_gemm_i8(
    ctx: &Context,
    variant: GemmVariant,
    shape: &GemmShape,
    k_chunk: u32,
    a: &[u32],
    b: &[u32],
    epilogue: &HostEpilogue<'_>,
) -> Result<Vec<f32>> {
    let operands = Operands::I8 { a, b, k_chunk };
    gpu_gemm(ctx, variant, shape, operands, epilogue).await
}

/// Runs `gemm_f32` in `variant` on the GPU.
pub async fn gpu_gemm_f32(
    ctx: &Context,
    variant: GemmVariant,
    shape: &GemmShape,
    a: &[f32],
    b: &[f32],
    epilogue: &HostEpilogue<'_>,
) -> Result<Vec<f32>> {
    gpu_gemm(ctx, variant, shape, Operands::F32 { a, b }, epilogue).await
}

/// A GEMM's operands: packed int8 words with the split-K chunk, or floats.
enum Operands<'a> {
    I8 {
        a: &'a [u32],
        b: &'a [u32],
        k_chunk: u32,
    },
    F32 {
        a: &'a [f32],
        b: &'a [f32],
    },
}

impl Operands<'_> {
    /// The operands' bytes, A then B.
    fn bytes(&self) -> (&[u8], &[u8]) {
        match self {
            Operands::I8 { a, b, .. } => (bytemuck::cast_slice(a), bytemuck::cast_slice(b)),
            Operands::F32 { a, b } => (bytemuck::cast_slice(a), bytemuck::cast_slice(b)),
        }
    }
}

async fn gpu_gemm(
    ctx: &Context,
    variant: GemmVariant,
    shape: &GemmShape,
    operands: Operands<'_>,
    host: &HostEpilogue<'_>,
) -> Result<Vec<f32>> {
    let (a, b) = operands.bytes();
    let ba = ctx.upload("test.a", a);
    let bb = ctx.upload("test.b", b);
    let sa = ctx.upload("test.scale_a", host.scale_a);
    let sb = ctx.upload("test.scale_b", host.scale_b);
    // Every bias sits behind a few NaNs, as a layer's bias sits behind its weights: a kernel that
    // ignored the offset would read them.
    const BIAS_OFFSET: usize = 5;
    let bias_buf = host.bias.map(|v| {
        let padded: Vec<f32> = std::iter::repeat_n(f32::NAN, BIAS_OFFSET)
            .chain(v.iter().copied())
            .collect();
        ctx.upload("test.bias", &padded)
    });
    let gate_buf = host.gate.map(|g| ctx.upload("test.gate", g.words));
    let gate = match (host.gate, &gate_buf) {
        (Some(g), Some(buf)) if g.mode == GateMode::Mask => Some(ReluGate::Mask(buf.into())),
        (Some(g), Some(buf)) if g.mode == GateMode::Values => Some(ReluGate::Values(buf.into())),
        _ => None,
    };
    let out = ctx.storage_buffer("test.out", shape.m as u64 * shape.n as u64 * 4);
    let scale = |v: &[f32], buf| match v.len() {
        0 => Scale::None,
        1 => Scale::Tensor(buf),
        _ => Scale::PerIndex(buf),
    };
    let epilogue = Epilogue {
        scale_a: scale(host.scale_a, &sa),
        scale_b: scale(host.scale_b, &sb),
        bias: bias_buf.as_ref().map(Into::into),
        bias_offset: BIAS_OFFSET as u32,
        relu: host.relu,
        gate,
    };
    let bufs = GemmBuffers::new(&ba, &bb, &out);
    let mut rec = Recording::new();
    match operands {
        Operands::I8 { k_chunk, .. } => {
            gemm::gemm_i8_variant(ctx, &mut rec, variant, shape, k_chunk, bufs, &epilogue)?
        }
        Operands::F32 { .. } => {
            gemm::gemm_f32_variant(ctx, &mut rec, variant, shape, bufs, &epilogue)?
        }
    }
    ctx.run(&rec)?;
    let mut v: Vec<f32> = ctx.read_buffer_async(&out).await?;
    v.truncate((shape.m * shape.n) as usize);
    Ok(v)
}
