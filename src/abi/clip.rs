//! Clip selection: the rules (max, UI8's DSGC, DAI8's MCS), their parameter block and the
//! per-layer summary the kernel writes.

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

/// What [`clip_select`](crate::ops::clip_select()) reports about a tensor (32 bytes, `ClipSummary` in WGSL).
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
    /// The tensor's max|g| (over channels): `tensor_clip / max_abs` is the clip ratio chosen.
    pub max_abs: f32,
    /// Padding.
    pub _pad: [u32; 2],
}
