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
    /// drawn with unit spread, points with spread `noise`), scaled to unit variance, from `seed`.
    pub fn synthetic(rows: usize, features: usize, classes: u32, noise: f32, seed: u32) -> Self {
        let mut g = Gen::new(seed);
        let centres: Vec<f32> = g.normal_vec(classes as usize * features, 1.0);
        let mut x = Vec::with_capacity(rows * features);
        let mut y = Vec::with_capacity(rows);
        for r in 0..rows {
            let c = (crate::cpu::common::rng_u32(seed ^ 0xa5a5, r as u32) % classes) as usize;
            y.push(c as u32);
            let scale = (1.0 + noise * noise).sqrt().recip();
            x.extend(
                (0..features).map(|f| (centres[c * features + f] + noise * g.normal()) * scale),
            );
        }
        Dataset {
            features,
            classes,
            x,
            y,
        }
    }

    /// Learnable synthetic images `[h, w, c]` (NHWC): each class is a prototype of three
    /// Gaussian bumps at class-specific places, each with a class-specific sign per channel; a
    /// sample is its prototype shifted by up to one pixel, scaled by 0.8–1.2, plus Gaussian
    /// pixel noise of spread `noise`; normalized to mean 0, variance ≈ 1.
    pub fn synthetic_images(
        rows: usize,
        [h, w, c]: [usize; 3],
        classes: u32,
        noise: f32,
        seed: u32,
    ) -> Self {
        let mut g = Gen::new(seed);
        let sign = |g: &mut Gen| if g.uniform() < 0.5 { 1.0 } else { -1.0 };
        // Per bump: centre y, centre x, then one sign per channel.
        let bumps: Vec<Vec<f32>> = (0..classes as usize * 3)
            .map(|_| {
                let mut b = vec![g.uniform() * h as f32, g.uniform() * w as f32];
                b.extend((0..c).map(|_| sign(&mut g)));
                b
            })
            .collect();
        let mut x = Vec::with_capacity(rows * h * w * c);
        let mut y = Vec::with_capacity(rows);
        for r in 0..rows {
            let class = (crate::cpu::common::rng_u32(seed ^ 0x5a5a, r as u32) % classes) as usize;
            y.push(class as u32);
            let (dy, dx) = (
                (g.uniform() * 3.0).floor() - 1.0,
                (g.uniform() * 3.0).floor() - 1.0,
            );
            let amp = 0.8 + 0.4 * g.uniform();
            for py in 0..h {
                for px in 0..w {
                    for ch in 0..c {
                        let v: f32 = bumps[class * 3..class * 3 + 3]
                            .iter()
                            .map(|b| {
                                let d2 = (py as f32 - b[0] - dy).powi(2)
                                    + (px as f32 - b[1] - dx).powi(2);
                                b[2 + ch] * (-d2 / 8.0).exp()
                            })
                            .sum();
                        x.push(amp * v * 2.0 + noise * g.normal());
                    }
                }
            }
        }
        Dataset {
            features: h * w * c,
            classes,
            x,
            y,
        }
    }
}
