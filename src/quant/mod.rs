//! Quantization policies: which tensors of a layer are quantized, how their clips are chosen,
//! how they are rounded, and how the learning rate follows. Pure decisions — the GPU plumbing
//! that carries them out is in [`crate::nn`].
//!
//! Defaults follow ALGORITHMS.md, including its proposed readings where the papers are silent:
//! forward W and X per tensor at max|·| with nearest rounding; UI8's clip search over 20 ratios
//! of max|dY|, refreshed every 100 steps and every step during the first 200, stochastic rounding
//! of dY, φ per layer; DAI8's per-channel dY for the dW GEMM and the max of the channel clips for
//! the dX GEMM, nearest rounding, state updated on inverted-T channels only.

use crate::ops::ClipRule;

/// How one model quantizes its layers.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Policy {
    /// Everything in FP32 (the baseline).
    Fp32,
    /// Per-tensor max-abs clips and nearest rounding for W, X and dY.
    NaiveInt8,
    /// Unified INT8 training (Zhu et al., CVPR 2020).
    Ui8(Ui8),
    /// Distribution-adaptive INT8 (Zhao et al., AAAI 2021).
    Dai8(Dai8),
}

impl Policy {
    /// UI8 with the paper's hyperparameters.
    pub fn ui8() -> Self {
        Policy::Ui8(Ui8::default())
    }

    /// DAI8 with the paper's hyperparameters.
    pub fn dai8() -> Self {
        Policy::Dai8(Dai8::default())
    }

    /// Short name: `fp32`, `naive`, `ui8`, `dai8`.
    pub fn name(&self) -> &'static str {
        match self {
            Policy::Fp32 => "fp32",
            Policy::NaiveInt8 => "naive",
            Policy::Ui8(_) => "ui8",
            Policy::Dai8(_) => "dai8",
        }
    }

    /// Parses a short name into the policy with default settings.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "fp32" => Some(Policy::Fp32),
            "naive" => Some(Policy::NaiveInt8),
            "ui8" => Some(Policy::ui8()),
            "dai8" => Some(Policy::dai8()),
            _ => None,
        }
    }

    /// Whether any tensor is quantized.
    pub fn is_int8(&self) -> bool {
        !matches!(self, Policy::Fp32)
    }

    /// Whether dY's clip is recomputed at `step`: always, except for UI8 between refreshes.
    pub fn refreshes_at(&self, step: u64) -> bool {
        match self {
            Policy::Ui8(u) => step < u.warmup || step.is_multiple_of(u.period.max(1)),
            _ => true,
        }
    }

    /// The rule that turns dY's statistics into clips.
    pub fn gradient_rule(&self) -> ClipRule {
        match self {
            Policy::Ui8(u) => ClipRule::Dsgc {
                alpha: u.alpha,
                beta: u.beta,
            },
            Policy::Dai8(d) => ClipRule::Mcs {
                lambda: d.lambda,
                k: d.k,
                a: d.a,
                update_always: d.update_always,
            },
            _ => ClipRule::Max,
        }
    }
}

/// UI8's settings.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Ui8 {
    /// DCLRS decay strength α.
    pub alpha: f32,
    /// DCLRS floor β.
    pub beta: f32,
    /// Candidate clips as fractions of max|dY| (at most 32).
    pub ratios: Vec<f32>,
    /// Clip refresh period P, in steps.
    pub period: u64,
    /// Steps at the start during which clips are refreshed every step.
    pub warmup: u64,
    /// Stochastic rounding of dY (the paper's choice).
    pub stochastic: bool,
    /// Which φ scales a layer's learning rate.
    pub dclrs: Dclrs,
}

/// How UI8's deviation-counteractive learning-rate scaling applies φ = max(e^(−α·d), β). The
/// paper leaves its granularity open; ALGORITHMS.md proposes per layer (the default), with the
/// global forms as the alternative setting.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Dclrs {
    /// Each quantized layer's learning rate by its own φ(d_l).
    #[default]
    PerLayer,
    /// Every quantized layer by φ(mean_l d_l).
    GlobalMeanDistance,
    /// Every quantized layer by min_l φ(d_l).
    GlobalMinPhi,
}

impl Default for Ui8 {
    fn default() -> Self {
        Ui8 {
            alpha: 20.0,
            beta: 0.1,
            ratios: (0..20).map(|i| 1.0 - 0.05 * i as f32).collect(),
            period: 100,
            warmup: 200,
            stochastic: true,
            dclrs: Dclrs::PerLayer,
        }
    }
}

/// DAI8's settings.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Dai8 {
    /// Classifier threshold λ on P(|g| > σ).
    pub lambda: f32,
    /// k of the magnitude-aware update.
    pub k: f32,
    /// A of the magnitude-aware update.
    pub a: f32,
    /// Update the clip state on Gaussian channels too.
    pub update_always: bool,
    /// Stochastic instead of nearest rounding of dY.
    pub stochastic: bool,
}

impl Default for Dai8 {
    fn default() -> Self {
        Dai8 {
            lambda: 0.3,
            k: 1.0,
            a: 0.8,
            update_always: false,
            stochastic: false,
        }
    }
}
