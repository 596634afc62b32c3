//! Data augmentation: a random crop with zero padding and a random horizontal flip per image,
//! drawn from the counter-based generator by (seed, step, row), so that a resumed run draws
//! what the uninterrupted one would have. The same rule runs on the host
//! ([`Dataset::augment_batch`]) and in the device's gather (`gather_rows_augment`), with the
//! same bits.

use crate::data::Dataset;
use crate::rng::hash_u32;

/// Crop and flip settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Augment {
    /// Pixels of zero padding on each side before an image-sized window is cropped: each image
    /// is shifted by −pad..=pad pixels in each direction.
    pub pad: u32,
    /// Mirror half of the images left to right.
    pub flip: bool,
}

/// Keeps the augmentation draws apart from the other users of a run's seed.
const SALT: u32 = 0x6175_6731;

impl Augment {
    /// The usual setting for images `width` pixels wide: shifts of up to an eighth of the width
    /// (at least one pixel), and flips.
    pub fn for_width(width: usize) -> Self {
        Augment {
            pad: (width as u32 / 8).max(1),
            flip: true,
        }
    }

    /// The draw for row `row` of step `step`'s batch.
    pub fn key(seed: u32, step: u64, row: u32) -> u32 {
        hash_u32(seed ^ SALT ^ hash_u32(step as u32 ^ hash_u32(row ^ (step >> 32) as u32)))
    }

    /// Where output pixel (`oy`, `ox`) of an `h × w` image drawn with `key` reads from, or
    /// `None` in the padding. `shaders/gather_rows.wgsl` computes the same.
    pub fn source(&self, key: u32, h: u32, w: u32, oy: u32, ox: u32) -> Option<(u32, u32)> {
        let span = 2 * self.pad + 1;
        let dy = (key % span) as i64 - self.pad as i64;
        let dx = ((key / span) % span) as i64 - self.pad as i64;
        let ox = if self.flip && key >> 31 != 0 {
            w - 1 - ox
        } else {
            ox
        };
        let (sy, sx) = (oy as i64 + dy, ox as i64 + dx);
        (sy >= 0 && sx >= 0 && sy < h as i64 && sx < w as i64).then_some((sy as u32, sx as u32))
    }
}

impl Dataset {
    /// The value a pixel of the padding takes on each channel: a black pixel's (byte 0) for a
    /// set of 8-bit images, else 0.
    pub fn pad_values(&self) -> Vec<f32> {
        (0..self.shape[2])
            .map(|c| self.pixels.as_ref().map_or(0.0, |p| p.table[c * 256]))
            .collect()
    }

    /// Crops and flips a batch gathered from this set (`keys.len()` rows of its shape) in
    /// place, row `b` as [`Augment::key`]`(seed, step, b)` says.
    pub fn augment_batch(&self, x: &mut [f32], augment: &Augment, keys: &[u32]) {
        let [h, w, c] = self.shape;
        let pad = self.pad_values();
        let mut row = vec![0f32; self.features];
        for (b, &key) in keys.iter().enumerate() {
            let out = &mut x[b * self.features..(b + 1) * self.features];
            row.copy_from_slice(out);
            for oy in 0..h {
                for ox in 0..w {
                    let source = augment.source(key, h as u32, w as u32, oy as u32, ox as u32);
                    for ch in 0..c {
                        out[(oy * w + ox) * c + ch] = match source {
                            Some((sy, sx)) => row[(sy as usize * w + sx as usize) * c + ch],
                            None => pad[ch],
                        };
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_shift_and_no_flip_is_the_identity_and_shifts_stay_within_the_padding() {
        let none = Augment {
            pad: 0,
            flip: false,
        };
        for key in [0, 1, 7, u32::MAX] {
            assert_eq!(none.source(key, 4, 5, 2, 3), Some((2, 3)));
        }
        let a = Augment { pad: 2, flip: true };
        let mut flips = 0;
        for row in 0..200 {
            let key = Augment::key(1, 5, row);
            // The centre of a 9-pixel image always lands inside it.
            let (sy, sx) = a.source(key, 9, 9, 4, 4).unwrap();
            assert!((2..=6).contains(&sy) && (2..=6).contains(&sx));
            flips += key >> 31;
        }
        assert!((70..130).contains(&flips), "{flips} of 200 flipped");
    }
}
