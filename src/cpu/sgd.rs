//! Twin of `shaders/sgd.wgsl`.

use crate::ops::sgd::{GUARD, LrScale, SgdParams};

/// The learning-rate factor: `lr_factor()` of the shader.
pub fn lr_factor(p: &SgdParams, lr_scale: &[f32]) -> f32 {
    const SUMMARY_WORDS: usize = 8;
    match p.lr_scale() {
        None => 1.0,
        Some(LrScale::Word(i)) => lr_scale[i as usize],
        Some(LrScale::MeanDistance {
            layers,
            alpha,
            beta,
        }) => {
            let mut sum = 0f32;
            for l in 0..layers as usize {
                sum += lr_scale[l * SUMMARY_WORDS + 1];
            }
            let d = sum / layers.max(1) as f32;
            (-alpha * d).exp().max(beta)
        }
        Some(LrScale::MinPhi { layers }) => {
            let mut phi = 1f32;
            for l in 0..layers as usize {
                phi = phi.min(lr_scale[l * SUMMARY_WORDS + 2]);
            }
            phi
        }
    }
}

/// One step over `p.n` parameters; none when guarded and `health[0]` counts a bad value.
pub fn sgd(
    p: &SgdParams,
    lr_scale: &[f32],
    health: &[u32],
    grad: &[f32],
    weights: &mut [f32],
    velocity: &mut [f32],
) {
    if p.flags & GUARD != 0 && health[0] != 0 {
        return;
    }
    let lr = p.lr * lr_factor(p, lr_scale);
    for i in 0..p.n as usize {
        let w = weights[i];
        let g = grad[i] + p.weight_decay * w;
        let v = p.momentum * velocity[i] + g;
        velocity[i] = v;
        let s = if p.flags & 1 != 0 {
            g + p.momentum * v
        } else {
            v
        };
        weights[i] = w - lr * s;
    }
}
