//! `clip_select`: channel statistics → clips, on the GPU, so that choosing a clip never needs a
//! readback in the middle of a training step.
//!
//! | rule | clip of channel c | source |
//! |---|---|---|
//! | [`ClipRule::Max`] | max\|g\| | naive INT8; forward W and X |
//! | [`ClipRule::Dsgc`] | `ratio_r* · max|g|`, r* = argmin_r d_c(r) (first on ties) | UI8 §2.4 |
//! | [`ClipRule::Mcs`] | Gaussian (P(\|g\|>σ) > λ): max\|g\|; inverted-T: `s_t = (1 − kA)·s_{t−1} + A·max|g|` | DAI8 §3.5 |
//!
//! The [`ClipSummary`] holds the tensor clip `max_c clip_c` (DAI8's clip for the per-tensor dX
//! copy), the largest cosine distance over channels with UI8's learning-rate factor
//! `φ = max(e^(−α·d), β)` (1 for the other rules), and the number of Gaussian and inverted-T
//! channels. The MCS state `s_{t−1}` lives in a per-channel buffer; a value that is not > 0 means
//! "not set", and the first step starts from `s_0 = max|g|`.

use crate::error::{Error, Result};
use crate::gpu::Context;
use crate::gpu::kernel::{BindType, Dispatch, KernelDef, Recording, wgsl};
use crate::ops::{ChannelStat, check_buffer};

pub use crate::abi::{ClipParams, ClipRule, ClipSummary};

/// The kernel declaration of `shaders/clip_select.wgsl`.
pub static CLIP_SELECT: KernelDef = KernelDef {
    name: "clip_select",
    sources: &[wgsl::COMMON, include_str!("../../shaders/clip_select.wgsl")],
    workgroup_size: [256, 1, 1],
    bindings: &[
        ("params", BindType::Uniform),
        ("stats", BindType::ReadOnly),
        ("cosine_terms", BindType::ReadOnly),
        ("ratios", BindType::ReadOnly),
        ("state", BindType::ReadWrite),
        ("clips", BindType::ReadWrite),
        ("summary", BindType::ReadWrite),
    ],
    params_size: std::mem::size_of::<ClipParams>(),
    uniform_params: true,
};

/// The buffers of one [`clip_select`].
#[derive(Clone, Copy, Debug)]
pub struct ClipBuffers<'a> {
    /// `channels` [`ChannelStat`] (both statistics passes done for MCS; pass 1 for max).
    pub stats: &'a wgpu::Buffer,
    /// DSGC: `channels × n_candidates` cosine terms and `n_candidates` ratios, as given to
    /// [`channel_stats_tail`](super::channel_stats_tail()).
    pub candidates: Option<(&'a wgpu::Buffer, &'a wgpu::Buffer)>,
    /// MCS: `channels` f32 of state, zero-filled before the first step.
    pub state: Option<&'a wgpu::Buffer>,
    /// Out: `channels` f32 clips.
    pub clips: &'a wgpu::Buffer,
    /// Out: a table of [`ClipSummary`] (one per quantized layer of a model) and the entry to
    /// write.
    pub summary: (&'a wgpu::Buffer, u32),
}

/// Records the clip choice for `channels` channels under `rule`.
pub fn clip_select(
    ctx: &Context,
    rec: &mut Recording,
    channels: u32,
    n_candidates: usize,
    rule: ClipRule,
    bufs: ClipBuffers<'_>,
) -> Result<()> {
    const OP: &str = "clip_select";
    if channels == 0 {
        return Err(Error::invalid(OP, "no channels"));
    }
    let ch = channels as u64;
    check_buffer(
        OP,
        "stats",
        bufs.stats,
        ch * size_of::<ChannelStat>() as u64,
    )?;
    check_buffer(OP, "clips", bufs.clips, ch * 4)?;
    let (summary, slot) = bufs.summary;
    let summary_bytes = (slot as u64 + 1) * size_of::<ClipSummary>() as u64;
    check_buffer(OP, "summary", summary, summary_bytes)?;
    let (terms, ratios) = match (rule, bufs.candidates) {
        (ClipRule::Dsgc { .. }, Some((terms, ratios))) if n_candidates > 0 => {
            check_buffer(OP, "cosine_terms", terms, ch * n_candidates as u64 * 8)?;
            check_buffer(OP, "ratios", ratios, n_candidates as u64 * 4)?;
            (terms, ratios)
        }
        (ClipRule::Dsgc { .. }, _) => {
            return Err(Error::invalid(
                OP,
                "DSGC needs candidate clips: pass their cosine terms and ratios",
            ));
        }
        _ => (ctx.unused_binding(0), ctx.unused_binding(0)),
    };
    let state = match (rule, bufs.state) {
        (ClipRule::Mcs { .. }, Some(s)) => {
            check_buffer(OP, "state", s, ch * 4)?;
            s
        }
        (ClipRule::Mcs { .. }, None) => {
            return Err(Error::invalid(OP, "MCS needs its per-channel state buffer"));
        }
        _ => ctx.unused_binding(1),
    };
    let params = ClipParams {
        slot,
        ..ClipParams::new(channels, n_candidates, rule)
    };
    rec.push(Dispatch::new(
        &CLIP_SELECT,
        &params,
        &[bufs.stats, terms, ratios, state, bufs.clips, summary],
        [1, 1, 1],
    ));
    Ok(())
}

/// This family's kernels, for [`ALL_KERNELS`](crate::ops::ALL_KERNELS).
pub(crate) const KERNELS: &[&KernelDef] = &[&CLIP_SELECT];
