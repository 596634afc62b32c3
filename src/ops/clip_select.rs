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

/// The kernel declaration of `shaders/clip_select.wgsl`.
pub static CLIP_SELECT: KernelDef = KernelDef {
    name: "clip_select",
    sources: &[wgsl::COMMON, wgsl::CLIP_SELECT],
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
};

/// How a clip is chosen from a channel's statistics.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ClipRule {
    /// max|g|: no clipping.
    Max,
    /// UI8's direction-sensitive gradient clipping, with the DCLRS factor φ = max(e^(−α·d), β).
    Dsgc {
        /// Decay strength α (paper: 20).
        alpha: f32,
        /// Floor β (paper: 0.1).
        beta: f32,
    },
    /// DAI8's classifier and magnitude-aware clipping.
    Mcs {
        /// Classifier threshold λ on P(|g| > σ) (paper: 0.3).
        lambda: f32,
        /// k of the update (paper: 1).
        k: f32,
        /// A of the update (paper: 0.8).
        a: f32,
        /// Update the state on Gaussian channels too (default: inverted-T channels only).
        update_always: bool,
    },
}

impl ClipRule {
    /// UI8 with the paper's α = 20, β = 0.1.
    pub const UI8: ClipRule = ClipRule::Dsgc {
        alpha: 20.0,
        beta: 0.1,
    };
    /// DAI8 with the paper's λ = 0.3, k = 1, A = 0.8.
    pub const DAI8: ClipRule = ClipRule::Mcs {
        lambda: 0.3,
        k: 1.0,
        a: 0.8,
        update_always: false,
    };
}

/// `ClipParams` of `shaders/clip_select.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct ClipParams {
    /// Channels.
    pub channels: u32,
    /// 0 max, 1 DSGC, 2 MCS.
    pub mode: u32,
    /// Candidate clips (DSGC).
    pub n_candidates: u32,
    /// Bit 0: MCS updates its state on Gaussian channels too.
    pub flags: u32,
    /// λ.
    pub lambda: f32,
    /// k.
    pub k: f32,
    /// A.
    pub a: f32,
    /// α.
    pub alpha: f32,
    /// β.
    pub beta: f32,
    /// Entry of the summary table written.
    pub slot: u32,
    /// Padding to 16-byte alignment.
    pub _pad: [u32; 2],
}

impl ClipParams {
    /// Parameters for `channels` channels, `n_candidates` candidates and `rule`.
    pub fn new(channels: u32, n_candidates: usize, rule: ClipRule) -> Self {
        let mut p = ClipParams {
            channels,
            mode: 0,
            n_candidates: n_candidates as u32,
            flags: 0,
            lambda: 0.0,
            k: 0.0,
            a: 0.0,
            alpha: 0.0,
            beta: 0.0,
            slot: 0,
            _pad: [0; 2],
        };
        match rule {
            ClipRule::Max => {}
            ClipRule::Dsgc { alpha, beta } => {
                (p.mode, p.alpha, p.beta) = (1, alpha, beta);
            }
            ClipRule::Mcs {
                lambda,
                k,
                a,
                update_always,
            } => {
                (p.mode, p.lambda, p.k, p.a) = (2, lambda, k, a);
                p.flags = update_always as u32;
            }
        }
        p
    }
}

/// What [`clip_select`] reports about a tensor (32 bytes, `ClipSummary` in WGSL).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct ClipSummary {
    /// max over channels of the chosen clips.
    pub tensor_clip: f32,
    /// Largest cosine distance of the chosen clips (DSGC; 0 otherwise).
    pub distance: f32,
    /// UI8's learning-rate factor (DSGC; 1 otherwise).
    pub phi: f32,
    /// Channels classified Gaussian (MCS).
    pub gaussian: u32,
    /// Channels classified inverted-T (MCS).
    pub inverted_t: u32,
    /// Padding.
    pub _pad: [u32; 3],
}

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
