//! A trainer's model handed to inference: [`Trainer::predictor`].

use crate::error::Result;
use crate::nn::{Predictor, TensorRole};
use crate::train::Trainer;

impl Trainer {
    /// A [`Predictor`] of the model as trained so far, for up to `capacity` inputs per call:
    /// waits for the submitted steps (their metrics stay queued for
    /// [`Trainer::poll_metrics`]), reads the parameters and running statistics back and builds
    /// the forward beside the trainer on the same context. Later steps do not change it.
    pub fn predictor(&mut self, capacity: u32) -> Result<Predictor> {
        self.drain_in_flight()?;
        let mut tensors = self.model.read_tensors(&self.ctx, TensorRole::Parameter)?;
        tensors.extend(
            self.model
                .read_tensors(&self.ctx, TensorRole::RunningStat)?,
        );
        Predictor::new(&self.ctx, self.model.spec(), capacity, &tensors)
    }
}
