//! Channel statistics: per-channel (or whole-tensor) reductions in the two passes the math needs.
//!
//! Pass 1 ([`channel_stats`]) gives max|x|, mean, std (population, about the mean), Σx² and the
//! counts of finite and non-finite values. Pass 2 ([`channel_stats_tail`]) needs pass 1's std and
//! max|x|: it counts |x| > σ (DAI8's classifier: Gaussian if the fraction exceeds λ) and, for a
//! batch of candidate clips `c_r = ratio_r · max|x|`, the terms of UI8's cosine distance between
//! `g` and its nearest-rounded quantize-dequantize copy `ĝ(c_r)`.
//!
//! Each pass is two kernels: one workgroup per (channel, segment of [`seg_len`] elements) writes
//! a partial record, then one workgroup per channel folds the segments. Segments spread a large
//! channel over many cores and keep each invocation's loops short (llvmpipe ends an invocation's
//! loops after 65,535 iterations in total). Non-finite values are left out of every statistic and
//! counted in `nonfinite`. Every fold runs in a fixed order, so the same input gives the same bits.
//! Where a channel is one segment no partials are needed, and [`channel_stats_both`] runs both
//! passes in one dispatch.

use crate::abi::{ChannelAxis, Layout, Spread};
use crate::error::{Error, Result};
use crate::gpu::Context;
use crate::gpu::kernel::{BindType, Dispatch, KernelDef, Recording, View, grid_groups, wgsl};
use crate::ops::{check_buffer, partials_scratch};

pub use crate::abi::{
    ChannelStat, GPU_SEG_LEN, MAX_CANDIDATES, SEG_LEN, StatsParams, StatsPartial, TAIL_WITH_PASS1,
    segments,
};

/// Elements per segment of `layout`'s channels on `ctx`'s adapter: [`GPU_SEG_LEN`] for channels
/// that are a GPU's strided columns, else [`SEG_LEN`] (a CPU driver's, and contiguous channels,
/// whose loads a GPU coalesces).
pub fn seg_len(ctx: &Context, layout: &Layout) -> usize {
    match (ctx.spread(), layout.axis) {
        (Spread::Gpu, ChannelAxis::Cols) => GPU_SEG_LEN,
        _ => SEG_LEN,
    }
}

/// Lanes per workgroup: [`crate::abi::STATS_WG_SIZE`].
const WG_LANES: u32 = crate::abi::STATS_WG_SIZE as u32;

/// The kernel declaration of `shaders/channel_stats.wgsl` (pass 1, per segment).
pub static CHANNEL_STATS: KernelDef = KernelDef {
    name: "channel_stats",
    sources: &[
        wgsl::COMMON,
        wgsl::STATS_COMMON,
        wgsl::FOLD_SHARED,
        wgsl::STATS_MOMENTS,
        wgsl::STATS_FOLD,
        include_str!("../../shaders/channel_stats.wgsl"),
    ],
    workgroup_size: [WG_LANES, 1, 1],
    bindings: &[
        ("params", BindType::Uniform),
        ("input", BindType::ReadOnly),
        ("partials", BindType::ReadWrite),
        ("stats", BindType::ReadWrite),
    ],
    params_size: std::mem::size_of::<StatsParams>(),
    uniform_params: true,
};

/// The kernel declaration of `shaders/channel_stats_reduce.wgsl` (pass 1, per channel).
pub static CHANNEL_STATS_REDUCE: KernelDef = KernelDef {
    name: "channel_stats_reduce",
    sources: &[
        wgsl::COMMON,
        wgsl::STATS_COMMON,
        wgsl::FOLD_SHARED,
        wgsl::STATS_MOMENTS,
        wgsl::STATS_FOLD,
        include_str!("../../shaders/channel_stats_reduce.wgsl"),
    ],
    workgroup_size: [WG_LANES, 1, 1],
    bindings: &[
        ("params", BindType::Uniform),
        ("input", BindType::ReadOnly),
        ("partials", BindType::ReadOnly),
        ("stats", BindType::ReadWrite),
    ],
    params_size: std::mem::size_of::<StatsParams>(),
    uniform_params: true,
};

/// The kernel declaration of `shaders/channel_stats_tail.wgsl` (pass 2, per segment).
pub static CHANNEL_STATS_TAIL: KernelDef = KernelDef {
    name: "channel_stats_tail",
    sources: &[
        wgsl::COMMON,
        wgsl::STATS_COMMON,
        wgsl::FOLD_SHARED,
        wgsl::STATS_MOMENTS,
        wgsl::STATS_FOLD,
        wgsl::TAIL_FOLD,
        include_str!("../../shaders/channel_stats_tail.wgsl"),
    ],
    workgroup_size: [WG_LANES, 1, 1],
    bindings: &[
        ("params", BindType::Uniform),
        ("input", BindType::ReadOnly),
        ("ratios", BindType::ReadOnly),
        ("stats", BindType::ReadWrite),
        ("partials", BindType::ReadWrite),
        ("cosine_terms", BindType::ReadWrite),
    ],
    params_size: std::mem::size_of::<StatsParams>(),
    uniform_params: true,
};

/// The kernel declaration of `shaders/channel_stats_tail_reduce.wgsl` (pass 2, per channel).
pub static CHANNEL_STATS_TAIL_REDUCE: KernelDef = KernelDef {
    name: "channel_stats_tail_reduce",
    sources: &[
        wgsl::COMMON,
        wgsl::STATS_COMMON,
        wgsl::FOLD_SHARED,
        wgsl::TAIL_FOLD,
        include_str!("../../shaders/channel_stats_tail_reduce.wgsl"),
    ],
    workgroup_size: [WG_LANES, 1, 1],
    bindings: &[
        ("params", BindType::Uniform),
        ("partials", BindType::ReadOnly),
        ("stats", BindType::ReadWrite),
        ("cosine_terms", BindType::ReadWrite),
    ],
    params_size: std::mem::size_of::<StatsParams>(),
    uniform_params: true,
};

/// The kernel declaration of `shaders/channel_stats_per_lane.wgsl` (both passes, a lane per
/// channel).
pub static CHANNEL_STATS_PER_LANE: KernelDef = KernelDef {
    name: "channel_stats_per_lane",
    sources: &[
        wgsl::COMMON,
        wgsl::STATS_COMMON,
        wgsl::STATS_MOMENTS,
        include_str!("../../shaders/channel_stats_per_lane.wgsl"),
    ],
    workgroup_size: [WG_LANES, 1, 1],
    bindings: &[
        ("params", BindType::Uniform),
        ("input", BindType::ReadOnly),
        ("stats", BindType::ReadWrite),
    ],
    params_size: std::mem::size_of::<StatsParams>(),
    uniform_params: true,
};

/// The longest channel [`channel_stats_both`] gives a lane of its own on a GPU when no candidate
/// clips are asked for ([`CHANNEL_STATS_PER_LANE`]): a batch's gradient column up to batch 1024.
/// Longer channels are fewer, and a workgroup each spreads them over more cores.
pub const PER_LANE_MAX_LEN: usize = 1024;

/// The longest channel of `layout` that [`channel_stats_both`] gives a lane of its own on
/// `ctx`'s adapter: [`PER_LANE_MAX_LEN`], but on a CPU driver any column channel (a gradient's,
/// whose lanes then load neighbouring values) of one segment. There a workgroup per channel,
/// its barriers and its strided loads cost more than one lane's loop over the column:
/// LeNet-5's conv2 dY at batch 64, 16 channels of 6,400, took 0.9–1.6 ms in 16 workgroups on
/// lavapipe.
pub fn per_lane_max_len(ctx: &Context, layout: &Layout) -> usize {
    match (ctx.spread(), layout.axis) {
        (Spread::Cpu, ChannelAxis::Cols) => seg_len(ctx, layout),
        _ => PER_LANE_MAX_LEN,
    }
}

/// Scratch bytes for pass 1's partials in segments of `seg_len`.
pub fn partials_bytes(layout: &Layout, seg_len: usize) -> u64 {
    (layout.channels() * segments(layout, seg_len) * std::mem::size_of::<StatsPartial>()) as u64
}

/// Scratch bytes for pass 2's partials in segments of `seg_len` with `n_candidates` candidate
/// clips.
pub fn tail_partials_bytes(layout: &Layout, seg_len: usize, n_candidates: usize) -> u64 {
    (layout.channels() * segments(layout, seg_len) * (1 + n_candidates) * 8) as u64
}

/// Records pass 1 over `input` (`layout.len()` f32) into `stats` (`layout.channels()` entries).
/// `scratch` holds [`partials_bytes`] (of [`seg_len`]); when `None`, the recording's scratch.
pub fn channel_stats<'a>(
    ctx: &Context,
    rec: &mut Recording,
    layout: &Layout,
    input: impl Into<View<'a>>,
    stats: &wgpu::Buffer,
    scratch: Option<&wgpu::Buffer>,
) -> Result<()> {
    const OP: &str = "channel_stats";
    let input = input.into();
    layout.validate(OP)?;
    check_buffer(OP, "input", input, layout.len() as u64 * 4)?;
    check_buffer(OP, "stats", stats, stat_bytes(layout))?;
    let seg_len = seg_len(ctx, layout);
    let params = StatsParams::new(layout, seg_len, 0);
    let groups = (layout.channels() * segments(layout, seg_len)) as u64;
    // One segment per channel: the pass writes the statistics and needs no partials.
    if segments(layout, seg_len) == 1 {
        let unused = ctx.unused_binding(0);
        let grid = grid_groups(groups);
        rec.push(Dispatch::new(
            &CHANNEL_STATS,
            &params,
            &[input, unused.into(), stats.into()],
            grid,
        ));
        return Ok(());
    }
    let partials = partials_scratch(ctx, rec, OP, scratch, partials_bytes(layout, seg_len))?;
    rec.push(Dispatch::new(
        &CHANNEL_STATS,
        &params,
        &[input, (&partials).into(), ctx.unused_binding(0).into()],
        grid_groups(groups),
    ));
    rec.push(Dispatch::new(
        &CHANNEL_STATS_REDUCE,
        &params,
        &[input, (&partials).into(), stats.into()],
        grid_groups(layout.channels() as u64),
    ));
    Ok(())
}

/// Pass 1 of a per-tensor layout without its reduce, for a consumer that needs only max|x| and
/// folds the segments itself ([`quantize_fold`](crate::ops::quantize::quantize_fold)): writes
/// one record per segment to the start of `out` and returns their number, or, where the tensor
/// is one segment, its whole statistics to record 0 (as [`channel_stats`] does) and returns 0.
/// `out` holds [`partials_records`]`(layout, seg_len(ctx, layout))` records of 32 bytes.
pub fn channel_stats_partials<'a>(
    ctx: &Context,
    rec: &mut Recording,
    layout: &Layout,
    input: impl Into<View<'a>>,
    out: &wgpu::Buffer,
) -> Result<u32> {
    const OP: &str = "channel_stats_partials";
    let input = input.into();
    layout.validate(OP)?;
    if layout.axis != crate::abi::ChannelAxis::Tensor {
        return Err(Error::invalid(
            OP,
            format!(
                "partial records are per tensor (got axis {:?}); use channel_stats",
                layout.axis
            ),
        ));
    }
    let seg_len = seg_len(ctx, layout);
    let parts = segments(layout, seg_len);
    if parts == 1 {
        channel_stats(ctx, rec, layout, input, out, None)?;
        return Ok(0);
    }
    check_buffer(OP, "input", input, layout.len() as u64 * 4)?;
    check_buffer(
        OP,
        "out",
        out,
        partials_records(layout, seg_len) as u64 * 32,
    )?;
    rec.push(Dispatch::new(
        &CHANNEL_STATS,
        &StatsParams::new(layout, seg_len, 0),
        &[input, out.into(), ctx.unused_binding(0).into()],
        grid_groups(parts as u64),
    ));
    Ok(parts as u32)
}

/// Records a buffer for [`channel_stats_partials`] (and the folded clip after them) holds: one
/// per segment (of `seg_len`) plus one, or one where the tensor is one segment.
pub fn partials_records(layout: &Layout, seg_len: usize) -> usize {
    match segments(layout, seg_len) {
        1 => 1,
        n => n + 1,
    }
}

/// Candidate clips for [`channel_stats_tail`]: `ratios` holds `count` f32, each a fraction of the
/// channel's max|x|; `cosine_terms` receives `channels × count` pairs `[g·ĝ, ĝ·ĝ]`.
#[derive(Clone, Copy, Debug)]
pub struct Candidates<'a> {
    /// Number of candidates (1..=[`MAX_CANDIDATES`]).
    pub count: usize,
    /// `count` f32 ratios.
    pub ratios: &'a wgpu::Buffer,
    /// Out: `channels × count × 2` f32.
    pub cosine_terms: &'a wgpu::Buffer,
}

/// Records pass 2: fills `above_sigma` of `stats` (which must hold pass 1's result) and, if
/// `candidates` is given, the cosine-distance terms of each candidate clip. `scratch` holds
/// [`tail_partials_bytes`] (of [`seg_len`]); when `None`, the recording's scratch.
pub fn channel_stats_tail(
    ctx: &Context,
    rec: &mut Recording,
    layout: &Layout,
    input: &wgpu::Buffer,
    stats: &wgpu::Buffer,
    candidates: Option<Candidates<'_>>,
    scratch: Option<&wgpu::Buffer>,
) -> Result<()> {
    record_tail(ctx, rec, (layout, input, stats), candidates, scratch, false)
}

/// Records both passes, [`channel_stats`] then [`channel_stats_tail`]. Where every channel is one
/// segment (a gradient's columns, a tensor of up to [`seg_len`] elements) that is one dispatch:
/// each workgroup takes pass 1 over its channel, then pass 2, so the tensor is read by a single
/// pass for all its statistics, with the same bits as the two passes; without candidates and
/// with channels of up to [`per_lane_max_len`] elements, each lane takes a channel.
pub fn channel_stats_both(
    ctx: &Context,
    rec: &mut Recording,
    layout: &Layout,
    input: &wgpu::Buffer,
    stats: &wgpu::Buffer,
    candidates: Option<Candidates<'_>>,
    scratch: Option<&wgpu::Buffer>,
) -> Result<()> {
    layout.validate("channel_stats")?;
    let seg_len = seg_len(ctx, layout);
    let one_pass = segments(layout, seg_len) == 1;
    if one_pass && candidates.is_none() && layout.channel_len() <= per_lane_max_len(ctx, layout) {
        const OP: &str = "channel_stats_per_lane";
        check_buffer(OP, "input", input, layout.len() as u64 * 4)?;
        check_buffer(OP, "stats", stats, stat_bytes(layout))?;
        let lanes = layout.channels() as u64;
        rec.push(Dispatch::new(
            &CHANNEL_STATS_PER_LANE,
            &StatsParams::new(layout, seg_len, 0),
            &[input, stats],
            grid_groups(lanes.div_ceil(WG_LANES as u64)),
        ));
        return Ok(());
    }
    if !one_pass {
        channel_stats(ctx, rec, layout, input, stats, scratch)?;
    }
    record_tail(
        ctx,
        rec,
        (layout, input, stats),
        candidates,
        scratch,
        one_pass,
    )
}

/// [`channel_stats_tail`], taking pass 1 first when `with_pass1` (one segment per channel).
fn record_tail(
    ctx: &Context,
    rec: &mut Recording,
    (layout, input, stats): (&Layout, &wgpu::Buffer, &wgpu::Buffer),
    candidates: Option<Candidates<'_>>,
    scratch: Option<&wgpu::Buffer>,
    with_pass1: bool,
) -> Result<()> {
    const OP: &str = "channel_stats_tail";
    layout.validate(OP)?;
    check_buffer(OP, "input", input, layout.len() as u64 * 4)?;
    check_buffer(OP, "stats", stats, stat_bytes(layout))?;
    let (n, ratios, terms) = match candidates {
        Some(c) => {
            if c.count == 0 || c.count > MAX_CANDIDATES {
                return Err(Error::invalid(
                    OP,
                    format!(
                        "{} candidate clips; one pass takes 1..={MAX_CANDIDATES}",
                        c.count
                    ),
                ));
            }
            check_buffer(OP, "ratios", c.ratios, c.count as u64 * 4)?;
            let needed = (layout.channels() * c.count * 8) as u64;
            check_buffer(OP, "cosine_terms", c.cosine_terms, needed)?;
            (c.count, c.ratios, c.cosine_terms)
        }
        None => (0, ctx.unused_binding(0), ctx.unused_binding(1)),
    };
    let seg_len = seg_len(ctx, layout);
    let params = StatsParams {
        flags: if with_pass1 { TAIL_WITH_PASS1 } else { 0 },
        ..StatsParams::new(layout, seg_len, n)
    };
    let segs = segments(layout, seg_len);
    let groups = (layout.channels() * segs) as u64;
    // One segment per channel: the pass writes the results and needs no partials.
    if segs == 1 {
        let bindings = [input, ratios, stats, ctx.unused_binding(2), terms];
        rec.push(Dispatch::new(
            &CHANNEL_STATS_TAIL,
            &params,
            &bindings,
            grid_groups(groups),
        ));
        return Ok(());
    }
    let bytes = tail_partials_bytes(layout, seg_len, n);
    let partials = partials_scratch(ctx, rec, OP, scratch, bytes)?;
    rec.push(Dispatch::new(
        &CHANNEL_STATS_TAIL,
        &params,
        &[input, ratios, stats, &partials, terms],
        grid_groups(groups),
    ));
    rec.push(Dispatch::new(
        &CHANNEL_STATS_TAIL_REDUCE,
        &params,
        &[&partials, stats, terms],
        grid_groups(layout.channels() as u64),
    ));
    Ok(())
}

fn stat_bytes(layout: &Layout) -> u64 {
    (layout.channels() * std::mem::size_of::<ChannelStat>()) as u64
}

/// This family's kernels, for [`ALL_KERNELS`](crate::ops::ALL_KERNELS).
pub(crate) const KERNELS: &[&KernelDef] = &[
    &CHANNEL_STATS,
    &CHANNEL_STATS_REDUCE,
    &CHANNEL_STATS_TAIL,
    &CHANNEL_STATS_TAIL_REDUCE,
    &CHANNEL_STATS_PER_LANE,
];
