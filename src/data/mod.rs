//! Data sets: loaders for IDX files (MNIST and Fashion-MNIST, raw or gzip), CIFAR-10's
//! binary batches and folders of PNG/JPEG images (`images`), the Fashion-MNIST subset embedded in the repository, normalization,
//! seeded shuffling and held-out splits, and the synthetic sets the tests train on.
//!
//! Images are stored NHWC as f32 (raw pixel values scaled to [0, 1] until
//! [`Dataset::normalize`]); every loader checks its files and reports a problem as
//! [`Error::Data`](crate::Error::Data) naming the file, never by panicking.

mod augment;
mod files;
mod images;

pub use augment::Augment;
pub use files::{
    Idx, Splits, append_cifar10, load_cifar10, load_dir, load_idx, parse_idx, parse_idx_pair,
    read_idx,
};
pub use images::{ImageFolders, ImageOptions, is_image_folder, load_image_folders};

use crate::rng::{Gen, hash_u32, rng_u32};

/// A labelled data set in memory: `rows × features` f32 values, row-major, and `rows` labels.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// Shape of one row `[h, w, c]` (`[1, 1, features]` for flat data).
    pub shape: [usize; 3],
    /// Features per row: `h·w·c`.
    pub features: usize,
    /// Number of classes.
    pub classes: u32,
    /// `rows × features` values.
    pub x: Vec<f32>,
    /// One label per row, below `classes`.
    pub y: Vec<u32>,
    /// The 8-bit pixels `x` was decoded from, when the set came from 8-bit images; lets a
    /// trainer keep the set on the device as bytes ([`Trainer::upload_training_set`]).
    ///
    /// [`Trainer::upload_training_set`]: crate::train::Trainer::upload_training_set
    pub pixels: Option<Pixels>,
}

/// A data set's values as bytes and a per-channel table: `x[i] = table[c·256 + bytes[i]]`
/// for `i` on channel `c`, bit for bit, through every [`Dataset::normalize`].
#[derive(Clone, Debug, PartialEq)]
pub struct Pixels {
    /// One byte per value of [`Dataset::x`], in its order.
    pub bytes: Vec<u8>,
    /// 256 values per channel: what each byte stands for.
    pub table: Vec<f32>,
}

impl Dataset {
    /// A set of 8-bit images `[h, w, c]` (NHWC, `bytes` holding `rows × h·w·c` pixels) with
    /// values `byte / 255`, keeping the bytes (see [`Dataset::pixels`]).
    pub fn from_bytes(shape: [usize; 3], classes: u32, bytes: Vec<u8>, y: Vec<u32>) -> Self {
        let table: Vec<f32> = (0..shape[2])
            .flat_map(|_| (0..=255u8).map(|b| b as f32 / 255.0))
            .collect();
        Dataset {
            shape,
            features: shape[0] * shape[1] * shape[2],
            classes,
            x: bytes.iter().map(|&b| b as f32 / 255.0).collect(),
            y,
            pixels: Some(Pixels { bytes, table }),
        }
    }

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

    /// Per-channel mean and standard deviation over every row and pixel (for
    /// [`Dataset::normalize`]; take them from the training split and apply them to all).
    pub fn channel_moments(&self) -> (Vec<f32>, Vec<f32>) {
        let c = self.shape[2];
        let mut sum = vec![0f64; c];
        let mut sq = vec![0f64; c];
        for (i, v) in self.x.iter().enumerate() {
            sum[i % c] += *v as f64;
            sq[i % c] += (*v as f64).powi(2);
        }
        let n = (self.x.len() / c).max(1) as f64;
        let mean: Vec<f64> = sum.iter().map(|s| s / n).collect();
        let std = sq
            .iter()
            .zip(&mean)
            .map(|(q, m)| ((q / n - m * m).max(0.0).sqrt().max(1e-6)) as f32)
            .collect();
        (mean.iter().map(|m| *m as f32).collect(), std)
    }

    /// `x ← (x − mean[c]) / std[c]` per channel.
    pub fn normalize(&mut self, mean: &[f32], std: &[f32]) {
        let c = self.shape[2];
        for (i, v) in self.x.iter_mut().enumerate() {
            *v = (*v - mean[i % c]) / std[i % c];
        }
        // The same arithmetic on the table keeps `x[i] = table[c·256 + bytes[i]]` exact.
        if let Some(p) = &mut self.pixels {
            for (i, v) in p.table.iter_mut().enumerate() {
                *v = (*v - mean[i / 256]) / std[i / 256];
            }
        }
    }

    /// Moves the last `n` rows into a new set (a held-out split).
    pub fn split_off(&mut self, n: usize) -> Dataset {
        let keep = self.len().saturating_sub(n);
        Dataset {
            shape: self.shape,
            features: self.features,
            classes: self.classes,
            x: self.x.split_off(keep * self.features),
            y: self.y.split_off(keep),
            pixels: self.pixels.as_mut().map(|p| Pixels {
                bytes: p.bytes.split_off(keep * self.features),
                table: p.table.clone(),
            }),
        }
    }

    /// The first `n` rows (all when fewer).
    pub fn truncate(&mut self, n: usize) {
        let n = n.min(self.len());
        self.x.truncate(n * self.features);
        self.y.truncate(n);
        if let Some(p) = &mut self.pixels {
            p.bytes.truncate(n * self.features);
        }
    }

    /// Copies rows `order[..]` into `x` and `y` (cleared first): one shuffled batch.
    pub fn gather(&self, order: &[usize], x: &mut Vec<f32>, y: &mut Vec<u32>) {
        x.clear();
        y.clear();
        for &r in order {
            x.extend_from_slice(&self.x[r * self.features..(r + 1) * self.features]);
            y.push(self.y[r]);
        }
    }

    /// A learnable synthetic set: `classes` Gaussian clusters in `features` dimensions (centres
    /// drawn with unit spread, points with spread `noise`), scaled to unit variance, from `seed`.
    pub fn synthetic(rows: usize, features: usize, classes: u32, noise: f32, seed: u32) -> Self {
        let mut g = Gen::new(seed);
        let centres: Vec<f32> = g.normal_vec(classes as usize * features, 1.0);
        let mut x = Vec::with_capacity(rows * features);
        let mut y = Vec::with_capacity(rows);
        for r in 0..rows {
            let c = (rng_u32(seed ^ 0xa5a5, r as u32) % classes) as usize;
            y.push(c as u32);
            let scale = (1.0 + noise * noise).sqrt().recip();
            x.extend(
                (0..features).map(|f| (centres[c * features + f] + noise * g.normal()) * scale),
            );
        }
        Dataset {
            shape: [1, 1, features],
            features,
            classes,
            x,
            y,
            pixels: None,
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
            let class = (rng_u32(seed ^ 0x5a5a, r as u32) % classes) as usize;
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
            shape: [h, w, c],
            features: h * w * c,
            classes,
            x,
            y,
            pixels: None,
        }
    }
}

/// A permutation of `0..n` drawn from `(seed, epoch)` (Fisher–Yates), so an epoch's order is
/// reproducible from the seed alone: a resumed run sees the batches an uninterrupted one does.
pub fn permutation(n: usize, seed: u32, epoch: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    let stream = seed ^ hash_u32(epoch as u32 ^ 0x0c7e_7000);
    for i in (1..n).rev() {
        let j = rng_u32(stream, i as u32) as usize % (i + 1);
        order.swap(i, j);
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permutations_are_permutations_and_depend_on_the_epoch() {
        let a = permutation(1000, 7, 0);
        let mut sorted = a.clone();
        sorted.sort();
        assert_eq!(sorted, (0..1000).collect::<Vec<_>>());
        assert_eq!(a, permutation(1000, 7, 0));
        assert_ne!(a, permutation(1000, 7, 1));
        assert_ne!(a, permutation(1000, 8, 0));
    }

    #[test]
    fn normalization_gives_zero_mean_unit_variance() {
        let mut d = Dataset::synthetic_images(50, [6, 5, 3], 4, 0.5, 1);
        let (mean, std) = d.channel_moments();
        d.normalize(&mean, &std);
        let (m2, s2) = d.channel_moments();
        for c in 0..3 {
            assert!(
                m2[c].abs() < 1e-4 && (s2[c] - 1.0).abs() < 1e-3,
                "{m2:?} {s2:?}"
            );
        }
        let held = d.split_off(10);
        assert_eq!((d.len(), held.len()), (40, 10));
        assert_eq!(held.x.len(), 10 * 90);
    }

    #[test]
    fn pixel_tables_follow_the_values_bit_for_bit() {
        let bytes: Vec<u8> = (0..40 * 12).map(|i| rng_u32(3, i) as u8).collect();
        let mut d = Dataset::from_bytes([2, 2, 3], 10, bytes, vec![1; 40]);
        let (mean, std) = d.channel_moments();
        let mut held = d.split_off(7);
        d.truncate(30);
        for set in [&mut d, &mut held] {
            set.normalize(&mean, &std);
            let p = set.pixels.as_ref().expect("pixels kept");
            assert_eq!(p.bytes.len(), set.x.len());
            for (i, (&b, &v)) in p.bytes.iter().zip(&set.x).enumerate() {
                let c = i % 3;
                assert_eq!(
                    p.table[c * 256 + b as usize].to_bits(),
                    v.to_bits(),
                    "value {i}"
                );
            }
        }
    }
}
