//! The counter-based generator: one hash of `(seed, index)` draws initial weights, each epoch's
//! data order, the stochastic-rounding stream of the kernels (`shaders/common.wgsl` computes the
//! same function) and test data. Being counter-based, a draw depends on its index alone, never
//! on the order in which draws are made, so a GPU lane and its CPU twin agree.

/// Wellons' lowbias32 integer hash.
pub fn hash_u32(x: u32) -> u32 {
    let mut v = x;
    v ^= v >> 16;
    v = v.wrapping_mul(0x7feb352d);
    v ^= v >> 15;
    v = v.wrapping_mul(0x846ca68b);
    v ^= v >> 16;
    v
}

/// Counter-based random stream keyed by `(seed, index)`.
pub fn rng_u32(seed: u32, index: u32) -> u32 {
    hash_u32(hash_u32(index ^ seed.wrapping_mul(0x9e3779b9)) ^ seed)
}

/// Deterministic test data from the same counter-based hash the kernels use.
#[derive(Clone, Debug)]
pub struct Gen {
    seed: u32,
    i: u32,
}

impl Gen {
    /// A stream keyed by `seed`.
    pub fn new(seed: u32) -> Self {
        Gen { seed, i: 0 }
    }

    /// Uniform in (0, 1).
    pub fn uniform(&mut self) -> f32 {
        self.i += 1;
        ((rng_u32(self.seed, self.i) >> 8) as f32 + 0.5) / (1u32 << 24) as f32
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f32 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
    }

    /// Laplace with unit scale: a peaked, heavy-tailed ("inverted-T") distribution.
    pub fn laplace(&mut self) -> f32 {
        let u = self.uniform() - 0.5;
        -u.signum() * (1.0 - 2.0 * u.abs()).ln()
    }

    /// `n` normal values times `scale`.
    pub fn normal_vec(&mut self, n: usize, scale: f32) -> Vec<f32> {
        (0..n).map(|_| self.normal() * scale).collect()
    }
}
