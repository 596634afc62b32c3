//! `quantize`: fused clip → scale → round → pack of f32 into int8 in [−127, 127].
//!
//! Element `x` of channel `ch` with clip `c = clips[ch]` becomes
//! `q = round(clamp(x, −c, c) · 127 / c)` packed four per `u32` along the columns, and
//! `scales[ch] = c / 127` is written for the GEMM epilogue and [`dequantize`](super::dequantize()).
//!
//! Defined results for awkward input: NaN and subnormal elements quantize to 0; ±Inf saturates
//! to ±127; a clip that is not finite, not positive or below 1e−30 quantizes its whole channel
//! to 0 and writes scale 0. The GPU kernel and [`crate::cpu::quantize()`] agree bit for bit on
//! every driver: the only float step that decides an integer is one correctly rounded multiply.
//!
//! When the input is a ReLU's output (the ReLU ran in its producer's epilogue), the same pass can
//! write the ReLU's bit mask for its backward ([`QuantizeBuffers::relu_mask`]): the int8 copy a
//! quantized layer keeps cannot tell small positives from 0, and a separate ReLU pass only to
//! write the mask would read the whole tensor once more.

use crate::abi::{ChannelAxis, StatsPartial};
use crate::error::{Error, Result};
use crate::gpu::Context;
use crate::gpu::kernel::{BindType, Dispatch, KernelDef, Recording, View, grid_1d, wgsl};
use crate::ops::relu::relu_mask_bytes;
use crate::ops::{Layout, Rounding, check_buffer};

pub use crate::abi::{QuantizePairParams, QuantizeParams};

/// The kernel declarations of `shaders/quantize.wgsl`: `quantize`, `quantize_relu_mask`, which
/// also writes the mask of a ReLU ([`QuantizeBuffers::relu_mask`]), their `_fold` variants,
/// which take a per-tensor clip from `channel_stats`' partial records ([`quantize_fold`]), and
/// their `_scan` variants, which measure a small tensor's clip themselves ([`quantize_scan`]).
/// Indexed by `relu_mask + 2 · source`, `source` 0 given clips, 1 fold, 2 scan.
pub static QUANTIZE: [KernelDef; 6] = [
    QUANTIZE_INTERFACE,
    QUANTIZE_INTERFACE.variant("quantize_relu_mask", &QUANTIZE_SOURCES[1]),
    QUANTIZE_INTERFACE.variant("quantize_fold", &QUANTIZE_SOURCES[2]),
    QUANTIZE_INTERFACE.variant("quantize_relu_mask_fold", &QUANTIZE_SOURCES[3]),
    QUANTIZE_INTERFACE.variant("quantize_scan", &QUANTIZE_SOURCES[4]),
    QUANTIZE_INTERFACE.variant("quantize_relu_mask_scan", &QUANTIZE_SOURCES[5]),
];

const QUANTIZE_SOURCES: [[&str; 3]; 6] = {
    const fn variant(constants: &'static str) -> [&'static str; 3] {
        [
            wgsl::COMMON,
            constants,
            include_str!("../../shaders/quantize.wgsl"),
        ]
    }
    [
        variant("const MARKS = false;\nconst FOLD = false;\nconst SCAN = false;\n"),
        variant("const MARKS = true;\nconst FOLD = false;\nconst SCAN = false;\n"),
        variant("const MARKS = false;\nconst FOLD = true;\nconst SCAN = false;\n"),
        variant("const MARKS = true;\nconst FOLD = true;\nconst SCAN = false;\n"),
        variant("const MARKS = false;\nconst FOLD = false;\nconst SCAN = true;\n"),
        variant("const MARKS = true;\nconst FOLD = false;\nconst SCAN = true;\n"),
    ]
};

/// The largest per-tensor layout [`quantize_scan`] takes: each of its workgroups rereads the
/// whole tensor (⌈len / 4096⌉ workgroups, each loading len / 4 vec4s), which at 32,768
/// elements still costs less than a `channel_stats` dispatch on CPU drivers.
pub const SCAN_MAX_LEN: usize = 32768;

/// `quantize`, whose interface every variant shares.
const QUANTIZE_INTERFACE: KernelDef = KernelDef {
    name: "quantize",
    sources: &QUANTIZE_SOURCES[0],
    workgroup_size: [256, 1, 1],
    bindings: &[
        ("params", BindType::Uniform),
        ("input", BindType::ReadOnly),
        // Read-write for the fold and scan variants, which write the clip they take.
        ("clips", BindType::ReadWrite),
        ("packed", BindType::ReadWrite),
        ("scales", BindType::ReadWrite),
        ("mask", BindType::ReadWrite),
        ("input4", BindType::ReadOnly),
    ],
    params_size: std::mem::size_of::<QuantizeParams>(),
    uniform_params: true,
};

/// The buffers of one quantization.
#[derive(Clone, Copy, Debug)]
pub struct QuantizeBuffers<'a> {
    /// `layout.len()` f32, row-major.
    pub input: View<'a>,
    /// `layout.channels()` f32 clips.
    pub clips: &'a wgpu::Buffer,
    /// Out: `layout.packed_words()` u32.
    pub packed: &'a wgpu::Buffer,
    /// Out: `layout.channels()` f32 scales (`clip / 127`).
    pub scales: &'a wgpu::Buffer,
    /// Out, optional: bit `e % 32` of word `e / 32` set where `input[e] > 0` — the mask of the
    /// ReLU whose output `input` is, laid out as [`crate::ops::relu()`] writes it
    /// ([`relu_mask_bytes`]`(layout.len())`). Needs `layout.cols` to be a multiple of 4.
    pub relu_mask: Option<&'a wgpu::Buffer>,
}

/// Records the quantization of `bufs.input` with one clip per channel.
pub fn quantize(
    ctx: &Context,
    rec: &mut Recording,
    layout: &Layout,
    rounding: Rounding,
    bufs: QuantizeBuffers<'_>,
) -> Result<()> {
    quantize_at(ctx, rec, layout, rounding, bufs, 0)
}

/// [`quantize`] with the clips read from f32 index `clip_offset` of `bufs.clips` on.
pub fn quantize_at(
    ctx: &Context,
    rec: &mut Recording,
    layout: &Layout,
    rounding: Rounding,
    bufs: QuantizeBuffers<'_>,
    clip_offset: u32,
) -> Result<()> {
    record(
        ctx,
        rec,
        layout,
        rounding,
        bufs,
        ClipSource::At(clip_offset),
    )
}

/// [`quantize`] of a per-tensor layout whose clip is not reduced yet: `bufs.clips` holds the
/// `parts` partial records [`channel_stats_partials`](crate::ops::channel_stats_partials) wrote
/// (8 words each, max|x| first). The clip is their largest max|x| — what
/// `channel_stats_reduce` would give, bit for bit — and the pass also writes it as the first
/// word of record `parts`, where a later [`quantize_at`] with offset `8 · parts` finds it. One
/// dispatch fewer than reducing first.
pub fn quantize_fold(
    ctx: &Context,
    rec: &mut Recording,
    layout: &Layout,
    rounding: Rounding,
    bufs: QuantizeBuffers<'_>,
    parts: u32,
) -> Result<()> {
    const OP: &str = "quantize_fold";
    if layout.axis != ChannelAxis::Tensor || parts == 0 {
        return Err(Error::invalid(
            OP,
            format!(
                "folding partial records needs a per-tensor layout and at least one record \
                 (got axis {:?}, {parts} records); quantize a per-channel layout with quantize",
                layout.axis
            ),
        ));
    }
    self::record(ctx, rec, layout, rounding, bufs, ClipSource::Fold(parts))
}

/// [`quantize`] of a per-tensor layout of at most [`SCAN_MAX_LEN`] elements whose clip is not
/// measured yet: the pass takes max|x| over the finite elements itself — what `channel_stats`
/// would give, bit for bit — and writes it to f32 index `clip_offset` of `bufs.clips`, where a
/// later [`quantize_at`] finds it. One dispatch instead of two.
pub fn quantize_scan(
    ctx: &Context,
    rec: &mut Recording,
    layout: &Layout,
    rounding: Rounding,
    bufs: QuantizeBuffers<'_>,
    clip_offset: u32,
) -> Result<()> {
    const OP: &str = "quantize_scan";
    if layout.axis != ChannelAxis::Tensor || layout.len() > SCAN_MAX_LEN {
        return Err(Error::invalid(
            OP,
            format!(
                "measuring the clip in the pass needs a per-tensor layout of at most \
                 {SCAN_MAX_LEN} elements (got axis {:?}, {} elements); measure it with \
                 channel_stats and quantize with quantize",
                layout.axis,
                layout.len()
            ),
        ));
    }
    self::record(
        ctx,
        rec,
        layout,
        rounding,
        bufs,
        ClipSource::Scan(clip_offset),
    )
}

/// Packed words each lane of the quantize kernels takes, but in the variants that write a ReLU
/// mask (`LANE_WORDS` in `shaders/quantize.wgsl`).
const QUANTIZE_LANE_WORDS: u64 = 4;

/// `input`'s whole vec4s, for the kernels' `input4`; a placeholder where it holds none.
fn input_vec4s<'a>(ctx: &'a Context, input: View<'a>) -> View<'a> {
    match input.size - input.size % 16 {
        0 => ctx.unused_binding(0).into(),
        size => View { size, ..input },
    }
}

/// Where a quantization's clips come from.
#[derive(Clone, Copy)]
enum ClipSource {
    /// Given, one per channel from this f32 index on.
    At(u32),
    /// The largest max|x| of this many partial records.
    Fold(u32),
    /// Measured in the pass, written to this f32 index.
    Scan(u32),
}

/// Checks the buffers and records one dispatch.
fn record(
    ctx: &Context,
    rec: &mut Recording,
    layout: &Layout,
    rounding: Rounding,
    bufs: QuantizeBuffers<'_>,
    source: ClipSource,
) -> Result<()> {
    const OP: &str = "quantize";
    let QuantizeBuffers {
        input,
        clips,
        packed,
        scales,
        relu_mask,
    } = bufs;
    layout.validate(OP)?;
    let ch = layout.channels() as u64 * 4;
    check_buffer(OP, "input", input, layout.len() as u64 * 4)?;
    let clip_bytes = match source {
        ClipSource::At(offset) => (offset as u64 + layout.channels() as u64) * 4,
        ClipSource::Fold(parts) => (parts as u64 + 1) * size_of::<StatsPartial>() as u64,
        ClipSource::Scan(offset) => (offset as u64 + 1) * 4,
    };
    check_buffer(OP, "clips", clips, clip_bytes)?;
    check_buffer(OP, "packed", packed, layout.packed_words() as u64 * 4)?;
    check_buffer(OP, "scales", scales, ch)?;
    if let Some(mask) = relu_mask {
        if !layout.cols.is_multiple_of(4) {
            return Err(Error::invalid(
                OP,
                format!(
                    "a ReLU mask needs a multiple of 4 columns (got {}); write it with ops::relu",
                    layout.cols
                ),
            ));
        }
        check_buffer(OP, "relu_mask", mask, relu_mask_bytes(layout.len() as u32))?;
    }
    let (clip_offset, clip_parts, variant) = match source {
        ClipSource::At(offset) => (offset, 0, 0),
        ClipSource::Fold(parts) => (0, parts, 1),
        ClipSource::Scan(offset) => (offset, 0, 2),
    };
    let params = QuantizeParams {
        clip_offset,
        clip_parts,
        ..QuantizeParams::new(layout, rounding)
    };
    let variant = relu_mask.is_some() as usize + 2 * variant;
    rec.push(Dispatch::new(
        &QUANTIZE[variant],
        &params,
        &[
            input,
            clips.into(),
            packed.into(),
            scales.into(),
            relu_mask.unwrap_or(ctx.unused_binding(1)).into(),
            input_vec4s(ctx, input),
        ],
        grid_1d(
            (layout.packed_words() as u64).div_ceil(QUANTIZE_LANE_WORDS),
            256,
        ),
    ));
    Ok(())
}

/// The kernel declaration of `shaders/quantize_pair.wgsl`: [`quantize_pair`].
pub static QUANTIZE_PAIR: KernelDef = KernelDef {
    name: "quantize_pair",
    sources: &[
        wgsl::COMMON,
        include_str!("../../shaders/quantize_pair.wgsl"),
    ],
    workgroup_size: [256, 1, 1],
    bindings: &[
        ("params", BindType::Uniform),
        ("input", BindType::ReadOnly),
        ("clips", BindType::ReadOnly),
        ("packed", BindType::ReadWrite),
        ("scales", BindType::ReadWrite),
        ("packed_channels", BindType::ReadWrite),
        ("scales_channels", BindType::ReadWrite),
    ],
    params_size: std::mem::size_of::<QuantizePairParams>(),
    uniform_params: true,
};

/// The buffers of [`quantize_pair`].
#[derive(Clone, Copy, Debug)]
pub struct QuantizePairBuffers<'a> {
    /// `rows · cols` f32, row-major.
    pub input: View<'a>,
    /// `cols` f32: the clip of each column.
    pub clips: &'a wgpu::Buffer,
    /// Out: the copy with one clip per tensor, the largest of `clips`: the packed words
    /// (`rows · ⌈cols / 4⌉` u32) and its scale (one f32).
    pub tensor: (&'a wgpu::Buffer, &'a wgpu::Buffer),
    /// Out: the copy with a clip per column: the packed words and `cols` scales.
    pub channels: (&'a wgpu::Buffer, &'a wgpu::Buffer),
}

/// Records DAI8's two int8 copies of a gradient `rows × cols` in one pass: one per tensor, its
/// clip the largest of the column clips, and one per column, each rounded with its own seed
/// (`rounding`'s seed for both until the trainer sets them). The same bits as [`quantize`] of a
/// per-tensor and of a per-column [`Layout`].
pub fn quantize_pair(
    rec: &mut Recording,
    (rows, cols): (u32, u32),
    rounding: Rounding,
    bufs: QuantizePairBuffers<'_>,
) -> Result<()> {
    const OP: &str = "quantize_pair";
    let layout = Layout::new(rows, cols, ChannelAxis::Cols);
    layout.validate(OP)?;
    let QuantizePairBuffers {
        input,
        clips,
        tensor: (packed, scale),
        channels: (packed_ch, scales_ch),
    } = bufs;
    let words = layout.packed_words() as u64 * 4;
    check_buffer(OP, "input", input, layout.len() as u64 * 4)?;
    check_buffer(OP, "clips", clips, cols as u64 * 4)?;
    check_buffer(OP, "packed", packed, words)?;
    check_buffer(OP, "scales", scale, 4)?;
    check_buffer(OP, "packed_channels", packed_ch, words)?;
    check_buffer(OP, "scales_channels", scales_ch, cols as u64 * 4)?;
    let params = QuantizePairParams::new(rows, cols, rounding);
    rec.push(Dispatch::new(
        &QUANTIZE_PAIR,
        &params,
        &[
            input,
            clips.into(),
            packed.into(),
            scale.into(),
            packed_ch.into(),
            scales_ch.into(),
        ],
        grid_1d(
            (layout.packed_words() as u64).div_ceil(params.lane_words as u64),
            256,
        ),
    ));
    Ok(())
}

/// This family's kernels, for [`ALL_KERNELS`](crate::ops::ALL_KERNELS).
pub(crate) const KERNELS: &[&KernelDef] = &[
    &QUANTIZE[0],
    &QUANTIZE[1],
    &QUANTIZE[2],
    &QUANTIZE[3],
    &QUANTIZE[4],
    &QUANTIZE[5],
    &QUANTIZE_PAIR,
];
