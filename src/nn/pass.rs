//! The named choices a recording is made under, in place of bare flags: which arithmetic a GEMM
//! layer runs, whether a step selects new clips, trains or evaluates, and fuses layers.

pub use crate::abi::Precision;

/// Whether a step's quantized layers select their clips (X and W at max|·|, dY per the
/// policy) from this step's tensors, or quantize with the clips of the last refresh (UI8
/// between refreshes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Clips {
    /// Measure and select the clips anew.
    Refresh,
    /// Keep the last refresh's clips.
    Reuse,
    /// Measure the inputs' clips anew and leave the weights as a refresh last quantized them
    /// (inference with fixed weights: [`Predictor::int8`](crate::nn::Predictor::int8)).
    Inputs,
}

/// Whether batch norms normalize with the batch's statistics (advancing the running ones) or
/// with the running statistics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// A training step.
    Train,
    /// An evaluation step.
    Eval,
}

impl Phase {
    /// Whether this is a training step.
    pub(crate) fn is_train(self) -> bool {
        self == Phase::Train
    }
}

/// What a forward is recorded for: a step's [`Clips`] and [`Phase`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Pass {
    /// Whether quantized layers select new clips.
    pub(crate) clips: Clips,
    /// Training or evaluation.
    pub(crate) phase: Phase,
}

impl Pass {
    /// A training step that refreshes its clips (every policy's step but UI8's in between).
    pub(crate) const TRAIN: Pass = Pass {
        clips: Clips::Refresh,
        phase: Phase::Train,
    };
}

/// Whether a recording fuses layers as the model's [`LayerPlan`](crate::nn::plan::LayerPlan)s
/// say (training and evaluation steps), or records every layer on its own, each writing its own
/// output (probes, which read every layer's output).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fusion {
    /// As planned.
    Fused,
    /// Every layer on its own.
    Unfused,
}

/// A dispatch that rounds stochastically, whose seeds change every step: where its seed fields
/// lie in its parameters, one per seed, in the order the step draws its seeds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Seeded {
    /// The dispatch's index in its recording.
    pub(crate) dispatch: usize,
    /// Byte offsets of its `u32` seed fields.
    pub(crate) seed_fields: &'static [usize],
}

impl Seeded {
    /// A `quantize` dispatch: one seed.
    pub(crate) fn quantize(dispatch: usize) -> Self {
        Seeded {
            dispatch,
            seed_fields: &[std::mem::offset_of!(crate::abi::QuantizeParams, seed)],
        }
    }

    /// A `quantize_pair` dispatch: the per-tensor copy's seed, then the per-column copy's.
    pub(crate) fn quantize_pair(dispatch: usize) -> Self {
        use crate::abi::QuantizePairParams as P;
        Seeded {
            dispatch,
            seed_fields: &[
                std::mem::offset_of!(P, seed),
                std::mem::offset_of!(P, seed_channels),
            ],
        }
    }

    /// Writes `seed(n)` into seed field `n` of `params`, counting `n` from `first`; returns the
    /// count after this dispatch's seeds.
    pub(crate) fn write_seeds(
        &self,
        params: &mut [u8],
        first: u32,
        seed: impl Fn(u32) -> u32,
    ) -> u32 {
        let mut n = first;
        for &at in self.seed_fields {
            params[at..at + 4].copy_from_slice(&seed(n).to_ne_bytes());
            n = n.wrapping_add(1);
        }
        n
    }
}
