//! The training configuration: batch size, SGD settings, the learning-rate schedule and what a
//! step with NaN or Inf does. Serializable, because a checkpoint stores it and a resumed run
//! must match it exactly.

use crate::ops::SgdStep;

/// Learning rate over steps.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum LrSchedule {
    /// The base rate throughout.
    Constant,
    /// Multiply by `gamma` every `every` steps.
    Step {
        /// Steps between decays.
        every: u64,
        /// Decay factor.
        gamma: f32,
    },
    /// Cosine decay from the base rate to 0 over `total` steps.
    Cosine {
        /// Steps of the whole run.
        total: u64,
    },
}

/// Optimizer and schedule settings.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrainConfig {
    /// Rows per step.
    pub batch: u32,
    /// Base learning rate.
    pub lr: f32,
    /// SGD momentum.
    pub momentum: f32,
    /// L2 weight decay.
    pub weight_decay: f32,
    /// Nesterov momentum.
    pub nesterov: bool,
    /// Learning-rate schedule after warm-up.
    pub schedule: LrSchedule,
    /// Steps of linear warm-up from 0 to the base rate.
    pub warmup_steps: u64,
    /// Seed of the initial weights and of stochastic rounding.
    pub seed: u32,
    /// Quantize the first and last layers too (default: they stay FP32).
    pub quantize_first_last: bool,
    /// What a step whose loss or gradients hold NaN or Inf does (its update is skipped on the
    /// GPU either way).
    pub on_nonfinite: NonFinitePolicy,
    /// Crop and flip each training image ([`crate::data::Augment`]): in the device's gather for
    /// [`Trainer::train_steps`](super::Trainer::train_steps); a caller of
    /// [`Trainer::train_step`](super::Trainer::train_step) applies
    /// [`Dataset::augment_batch`](crate::data::Dataset::augment_batch) itself, with the same
    /// result. Off by default.
    #[serde(default)]
    pub augment: Option<crate::data::Augment>,
}

/// What happens after a step produced a NaN or an infinity in its loss or in a gradient. The
/// GPU finds it within the step (before the optimizer runs) and skips that step's update, so
/// the weights stay those of the step before; the policy decides what comes next, when the
/// step's metrics arrive ([`Trainer::poll_metrics`](super::Trainer::poll_metrics)).
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum NonFinitePolicy {
    /// Stop: [`Error::NonFinite`](crate::Error::NonFinite) names the step and the tensor.
    #[default]
    Stop,
    /// Go on, multiplying the learning rate by `lr_backoff` after each skipped step.
    SkipStep {
        /// Factor applied to the learning rate after a skipped step (e.g. 0.5).
        lr_backoff: f32,
    },
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            batch: 64,
            lr: 0.05,
            momentum: 0.9,
            weight_decay: 5e-4,
            nesterov: false,
            schedule: LrSchedule::Constant,
            warmup_steps: 0,
            seed: 1,
            quantize_first_last: false,
            on_nonfinite: NonFinitePolicy::Stop,
            augment: None,
        }
    }
}

impl TrainConfig {
    /// The learning rate at `step`.
    pub fn lr_at(&self, step: u64) -> f32 {
        if step < self.warmup_steps {
            return self.lr * (step + 1) as f32 / self.warmup_steps as f32;
        }
        let t = step - self.warmup_steps;
        match self.schedule {
            LrSchedule::Constant => self.lr,
            LrSchedule::Step { every, gamma } => self.lr * gamma.powi((t / every.max(1)) as i32),
            LrSchedule::Cosine { total } => {
                let frac = (t as f32 / total.max(1) as f32).min(1.0);
                self.lr * 0.5 * (1.0 + (std::f32::consts::PI * frac).cos())
            }
        }
    }

    /// The optimizer's settings at learning rate `lr`.
    pub(super) fn sgd_step(&self, lr: f32) -> SgdStep {
        SgdStep {
            lr,
            momentum: self.momentum,
            weight_decay: self.weight_decay,
            nesterov: self.nesterov,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learning_rate_schedules() {
        let cfg = |schedule, warmup_steps| TrainConfig {
            lr: 0.1,
            schedule,
            warmup_steps,
            ..Default::default()
        };
        let c = cfg(LrSchedule::Constant, 4);
        let warm: Vec<f32> = (0..5).map(|t| c.lr_at(t)).collect();
        assert_eq!(warm, [0.025, 0.05, 0.075, 0.1, 0.1]);
        let s = cfg(
            LrSchedule::Step {
                every: 10,
                gamma: 0.5,
            },
            0,
        );
        assert_eq!([s.lr_at(9), s.lr_at(10), s.lr_at(25)], [0.1, 0.05, 0.025]);
        let k = cfg(LrSchedule::Cosine { total: 100 }, 0);
        assert_eq!(k.lr_at(0), 0.1);
        assert!((k.lr_at(50) - 0.05).abs() < 1e-6);
        assert!(k.lr_at(100).abs() < 1e-6 && k.lr_at(500).abs() < 1e-6);
    }
}
