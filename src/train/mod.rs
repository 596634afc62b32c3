//! Training: the step schedule, the optimizer settings, learning-rate schedules, metrics and
//! checkpoints.
//!
//! One [`Trainer::train_step`] uploads the batch (`queue.write_buffer`), records nothing new —
//! the step's recording (forward, loss, backward, SGD) was prepared once when the trainer was
//! built — updates the few parameters that change per step (learning rate, stochastic-rounding
//! seeds), encodes it and submits it: **one submit per step, no GPU allocation after the first
//! step**. Loss and accuracy are copied into a ring of mapped staging buffers and collected
//! later with [`Trainer::poll_metrics`], so the CPU never waits for the GPU in the loop.
//! [`Trainer::train_steps`] goes further: with the training split on the device
//! ([`Trainer::upload_training_set`]) it gathers each batch there and records k steps into one
//! submit, with the same results.
//!
//! - `config`: [`TrainConfig`], [`LrSchedule`], [`NonFinitePolicy`];
//! - `trainer`: [`Trainer`], its prepared steps and the per-step parameters;
//! - `device_set`: the training split kept on the device as bytes, batches gathered there, and
//!   [`Trainer::train_steps`], several steps per submit;
//! - `distributed`: data-parallel steps, one trainer per rank, gradients exchanged
//!   ([`Trainer::train_step_exchanged`]);
//! - `metrics`: [`StepMetrics`], the readback ring, and the non-finite policy applied when a
//!   step's metrics arrive;
//! - `checked`: a step run in lockstep with the CPU twins ([`DispatchCheck`]);
//! - `profile`: [`DispatchTiming`] per dispatch and [`time_steps`];
//! - `inference`: [`Trainer::predictor`], the trained model's forward alone;
//! - [`checkpoint`]: a trainer's state in a safetensors file.

mod checked;
pub mod checkpoint;
mod config;
mod device_set;
mod distributed;
mod inference;
mod metrics;
mod profile;
mod trainer;

pub use checked::DispatchCheck;
pub use config::{LrSchedule, NonFinitePolicy, TrainConfig};
pub use device_set::MAX_STEPS_PER_SUBMIT;
pub use metrics::StepMetrics;
pub use profile::{DispatchTiming, time_steps};
pub use trainer::Trainer;
