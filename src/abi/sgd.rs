//! The optimizer's parameter block and learning-rate scale.

/// Where an update's learning-rate factor comes from (UI8's DCLRS), read on the GPU from a
/// buffer of f32 words.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LrScale {
    /// The word at this index (per layer: the layer's φ in a summary table).
    Word(u32),
    /// `max(exp(−α·d̄), β)`, `d̄` the mean cosine distance over the first `layers` entries of a
    /// table of [`ClipSummary`](super::ClipSummary).
    MeanDistance {
        /// Entries in the table.
        layers: u32,
        /// α.
        alpha: f32,
        /// β.
        beta: f32,
    },
    /// The smallest φ over the first `layers` entries of a table of clip summaries.
    MinPhi {
        /// Entries in the table.
        layers: u32,
    },
}

/// `SgdParams` of `shaders/sgd.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct SgdParams {
    /// Parameters to update.
    pub n: u32,
    /// Bit 0 Nesterov; bits 1–2 the factor: 0 none, 1 word, 2 mean distance, 3 min φ; bit 3
    /// guard (skip when the health record counts a non-finite value).
    pub flags: u32,
    /// Index of the factor's word ([`LrScale::Word`]).
    pub scale_index: u32,
    /// Table entries (global factors).
    pub layers: u32,
    /// Learning rate.
    pub lr: f32,
    /// Momentum.
    pub momentum: f32,
    /// Weight decay.
    pub weight_decay: f32,
    /// α of [`LrScale::MeanDistance`].
    pub alpha: f32,
    /// β of [`LrScale::MeanDistance`].
    pub beta: f32,
    /// Parameters each lane updates ([`flat_per_lane`](super::flat_per_lane)).
    pub per_lane: u32,
    /// Padding to 16-byte alignment.
    pub _pad: [u32; 2],
}

/// [`SgdParams::flags`] bit: skip the update when the health record counts a bad value.
pub const GUARD: u32 = 8;

impl SgdParams {
    /// Parameters for `n` values, `step` and an optional factor, `per_lane` values a lane
    /// ([`flat_per_lane`](super::flat_per_lane) of the device).
    pub fn new(n: u32, step: SgdStep, scale: Option<LrScale>, per_lane: u32) -> Self {
        let mut p = SgdParams {
            n,
            flags: step.nesterov as u32,
            scale_index: 0,
            layers: 0,
            lr: step.lr,
            momentum: step.momentum,
            weight_decay: step.weight_decay,
            alpha: 0.0,
            beta: 0.0,
            per_lane,
            _pad: [0; 2],
        };
        let mode = match scale {
            None => 0,
            Some(LrScale::Word(i)) => {
                p.scale_index = i;
                1
            }
            Some(LrScale::MeanDistance {
                layers,
                alpha,
                beta,
            }) => {
                (p.layers, p.alpha, p.beta) = (layers, alpha, beta);
                2
            }
            Some(LrScale::MinPhi { layers }) => {
                p.layers = layers;
                3
            }
        };
        p.flags |= mode << 1;
        p
    }

    /// The factor these parameters select.
    pub fn lr_scale(&self) -> Option<LrScale> {
        match (self.flags >> 1) & 3 {
            0 => None,
            1 => Some(LrScale::Word(self.scale_index)),
            2 => Some(LrScale::MeanDistance {
                layers: self.layers,
                alpha: self.alpha,
                beta: self.beta,
            }),
            _ => Some(LrScale::MinPhi {
                layers: self.layers,
            }),
        }
    }
}

/// Hyperparameters of one SGD step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SgdStep {
    /// Learning rate of this step (the schedule's value).
    pub lr: f32,
    /// Momentum μ.
    pub momentum: f32,
    /// L2 weight decay.
    pub weight_decay: f32,
    /// Nesterov momentum.
    pub nesterov: bool,
}
