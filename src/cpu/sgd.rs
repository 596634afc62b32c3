//! Twin of `shaders/sgd.wgsl`.

use crate::ops::sgd::SgdStep;

/// One step; `scale` is the learning-rate factor (1 when none is used).
pub fn sgd(step: SgdStep, scale: f32, grad: &[f32], weights: &mut [f32], velocity: &mut [f32]) {
    let lr = step.lr * scale;
    for i in 0..weights.len() {
        let w = weights[i];
        let g = grad[i] + step.weight_decay * w;
        let v = step.momentum * velocity[i] + g;
        velocity[i] = v;
        let s = if step.nesterov {
            g + step.momentum * v
        } else {
            v
        };
        weights[i] = w - lr * s;
    }
}
