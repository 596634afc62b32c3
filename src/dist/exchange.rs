//! Gradient exchanges: every rank's gradient in, their mean out, the same bits on every rank.
//!
//! Both exchanges cut the gradient into one shard per rank. All-to-all hands each rank its
//! shard of every rank's gradient; that rank sums them in rank order and divides by the ranks;
//! all-gather hands every rank every mean shard. Each sum is taken by one rank, so no two ranks
//! can round differently (an MPI all-reduce may sum in a different order on each rank). Each
//! rank sends `2 · (ranks − 1) / ranks` of the gradient, as a ring all-reduce does.
//!
//! - [`Exchange::F32`]: the values as they are. With one rank the mean is the gradient itself.
//! - [`Exchange::Int8`]: each rank quantizes its gradient in chunks of [`INT8_CHUNK`] values with
//!   a symmetric scale per chunk (`max|g| / 127`, nearest rounding) before the all-to-all, and
//!   each mean shard again before the all-gather: a quarter of the bytes (plus a scale per
//!   chunk), at the cost of two roundings of at most half a step of each chunk's scale.

use web_time::Instant;

use super::Collective;
use crate::error::Result;

/// Values per int8 chunk, one f32 scale each.
pub const INT8_CHUNK: usize = 256;

/// How gradients travel between ranks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Exchange {
    /// f32 values.
    #[default]
    F32,
    /// int8 values with a scale per [`INT8_CHUNK`] values.
    Int8,
}

impl Exchange {
    /// `"f32"` or `"int8"`.
    pub fn name(self) -> &'static str {
        match self {
            Exchange::F32 => "f32",
            Exchange::Int8 => "int8",
        }
    }
}

/// What one exchange cost this rank.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ExchangeStats {
    /// Bytes this rank sent to other ranks.
    pub bytes_sent: u64,
    /// Wall time in the exchange (quantization and sums included).
    pub seconds: f64,
}

/// Replaces `grad` (this rank's gradient; every rank passes one of the same length) with the
/// mean over ranks, identical on every rank.
pub fn mean(comm: &dyn Collective, how: Exchange, grad: &mut [f32]) -> Result<ExchangeStats> {
    let started = Instant::now();
    let ranks = comm.size();
    let chunk = match how {
        Exchange::F32 => 1,
        Exchange::Int8 => INT8_CHUNK,
    };
    let shard = grad.len().div_ceil(ranks * chunk).max(1) * chunk;
    let mut send = grad.to_vec();
    send.resize(shard * ranks, 0.0);
    let bytes_per_value = match how {
        Exchange::F32 => 4,
        Exchange::Int8 => 1,
    };
    let scales_per_shard = match how {
        Exchange::F32 => 0,
        Exchange::Int8 => shard / chunk,
    };
    let means = match how {
        Exchange::F32 => {
            let mut recv = vec![0f32; send.len()];
            comm.all_to_all(
                bytemuck::cast_slice(&send),
                bytemuck::cast_slice_mut(&mut recv),
            )?;
            let mine = rank_order_mean(ranks, shard, &recv);
            let mut all = vec![0f32; send.len()];
            comm.all_gather(
                bytemuck::cast_slice(&mine),
                bytemuck::cast_slice_mut(&mut all),
            )?;
            all
        }
        Exchange::Int8 => {
            let (q, s) = quantize_chunks(&send, chunk);
            let (mut rq, mut rs) = (vec![0i8; q.len()], vec![0f32; s.len()]);
            comm.all_to_all(bytemuck::cast_slice(&q), bytemuck::cast_slice_mut(&mut rq))?;
            comm.all_to_all(bytemuck::cast_slice(&s), bytemuck::cast_slice_mut(&mut rs))?;
            let mine = rank_order_mean(ranks, shard, &dequantize(&rq, &rs, chunk));
            let (mq, ms) = quantize_chunks(&mine, chunk);
            let (mut aq, mut as_) = (vec![0i8; q.len()], vec![0f32; s.len()]);
            comm.all_gather(bytemuck::cast_slice(&mq), bytemuck::cast_slice_mut(&mut aq))?;
            comm.all_gather(
                bytemuck::cast_slice(&ms),
                bytemuck::cast_slice_mut(&mut as_),
            )?;
            dequantize(&aq, &as_, chunk)
        }
    };
    grad.copy_from_slice(&means[..grad.len()]);
    let per_shard = (shard * bytes_per_value + scales_per_shard * 4) as u64;
    Ok(ExchangeStats {
        // All-to-all and all-gather each send a shard to every other rank.
        bytes_sent: 2 * (ranks as u64 - 1) * per_shard,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The mean of `ranks` blocks of `shard` values (`v`: block `r` is rank `r`'s), each element
/// summed left to right in rank order, then divided by the ranks.
fn rank_order_mean(ranks: usize, shard: usize, v: &[f32]) -> Vec<f32> {
    let mut sum = v[..shard].to_vec();
    for block in v[shard..].chunks(shard) {
        for (s, x) in sum.iter_mut().zip(block) {
            *s += x;
        }
    }
    let n = ranks as f32;
    sum.iter_mut().for_each(|s| *s /= n);
    sum
}

/// `q · s` for each chunk of `chunk` values and its scale.
fn dequantize(q: &[i8], scales: &[f32], chunk: usize) -> Vec<f32> {
    q.chunks(chunk)
        .zip(scales)
        .flat_map(|(c, &s)| c.iter().map(move |&v| v as f32 * s))
        .collect()
}

/// Symmetric int8 per chunk of `chunk` values: `q = round(x / s)`, `s = max|x| / 127` (0 for an
/// all-zero chunk, whose values stay 0).
pub fn quantize_chunks(x: &[f32], chunk: usize) -> (Vec<i8>, Vec<f32>) {
    let mut q = Vec::with_capacity(x.len());
    let mut scales = Vec::with_capacity(x.len().div_ceil(chunk));
    for c in x.chunks(chunk) {
        let max = c.iter().fold(0f32, |m, v| m.max(v.abs()));
        let s = max / 127.0;
        scales.push(s);
        q.extend(c.iter().map(|v| {
            if s > 0.0 {
                // Adding and taking away 1.5 · 2²³ rounds |x| ≤ 127 to the nearest integer, ties
                // to even, as `round_ties_even` does — without the library call it becomes on
                // x86-64's baseline (≈ 10 ns a value).
                const ROUND: f32 = 12_582_912.0;
                ((v / s + ROUND) - ROUND).clamp(-127.0, 127.0) as i8
            } else {
                0
            }
        }));
    }
    (q, scales)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dist::Local;

    #[test]
    fn one_rank_keeps_f32_gradients_exactly() {
        let mut g: Vec<f32> = (0..1000).map(|i| (i as f32 * 0.37).sin() * 1e-3).collect();
        let want = g.clone();
        let stats = mean(&Local, Exchange::F32, &mut g).unwrap();
        assert_eq!(g, want);
        assert_eq!(stats.bytes_sent, 0);
    }

    #[test]
    fn int8_chunks_round_to_within_half_a_step() {
        let g: Vec<f32> = (0..1000).map(|i| (i as f32 * 0.37).sin() * 1e-3).collect();
        let mut once = g.clone();
        mean(&Local, Exchange::Int8, &mut once).unwrap();
        for (c, b) in g.chunks(INT8_CHUNK).zip(once.chunks(INT8_CHUNK)) {
            let step = c.iter().fold(0f32, |m, v| m.max(v.abs())) / 127.0;
            for (x, y) in c.iter().zip(b) {
                // Quantized twice (before the all-to-all, and the mean before the all-gather).
                assert!((x - y).abs() <= step * 1.01, "{x} vs {y}, step {step}");
            }
        }
        let (q, s) = quantize_chunks(&[0.0; 10], 4);
        assert!(q.iter().all(|v| *v == 0) && s.iter().all(|v| *v == 0.0));
        // Ties go to even, as round_ties_even would: 0.5 → 0, 1.5 → 2, −2.5 → −2.
        let (q, _) = quantize_chunks(&[127.0, 0.5, 1.5, -2.5, 126.5, -127.0], 6);
        assert_eq!(q, [127, 0, 2, -2, 126, -127]);
    }
}
