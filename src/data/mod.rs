//! Data sets. This release has the synthetic one the tests train on; the IDX (MNIST,
//! Fashion-MNIST) and CIFAR-10 loaders follow.

use crate::conformance::Gen;

/// A labelled data set in memory: `rows × features` f32 values, row-major, and `rows` labels.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// Features per row.
    pub features: usize,
    /// Number of classes.
    pub classes: u32,
    /// `rows × features` values.
    pub x: Vec<f32>,
    /// One label per row, below `classes`.
    pub y: Vec<u32>,
}

impl Dataset {
    /// Rows in the set.
    pub fn len(&self) -> usize {
        self.y.len()
    }

    /// Whether the set has no rows.
    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }

    /// Rows `start..start + n` as `(features, labels)`.
    pub fn batch(&self, start: usize, n: usize) -> (&[f32], &[u32]) {
        (
            &self.x[start * self.features..(start + n) * self.features],
            &self.y[start..start + n],
        )
    }

    /// A learnable synthetic set: `classes` Gaussian clusters in `features` dimensions (centres
    /// drawn with unit spread, points with spread `noise`), from `seed`.
    pub fn synthetic(rows: usize, features: usize, classes: u32, noise: f32, seed: u32) -> Self {
        let mut g = Gen::new(seed);
        let centres: Vec<f32> = g.normal_vec(classes as usize * features, 1.0);
        let mut x = Vec::with_capacity(rows * features);
        let mut y = Vec::with_capacity(rows);
        for r in 0..rows {
            let c = (crate::cpu::common::rng_u32(seed ^ 0xa5a5, r as u32) % classes) as usize;
            y.push(c as u32);
            x.extend((0..features).map(|f| centres[c * features + f] + noise * g.normal()));
        }
        Dataset {
            features,
            classes,
            x,
            y,
        }
    }
}
