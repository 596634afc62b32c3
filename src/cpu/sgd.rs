//! Twins of `shaders/sgd.wgsl`: `sgd` and `sgd_vec4`.

use crate::abi::{GUARD, LrScale, SgdParams};
use crate::cpu::replay::{Replay, Words, bad_bindings, f32s, f32s_mut, read};

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
    step(p, 1, lr_scale, health, grad, weights, velocity);
}

/// [`sgd`] as `sgd_vec4` walks it: four parameters per element (`p.n` a multiple of 4).
pub fn sgd_vec4(
    p: &SgdParams,
    lr_scale: &[f32],
    health: &[u32],
    grad: &[f32],
    weights: &mut [f32],
    velocity: &mut [f32],
) {
    step(p, 4, lr_scale, health, grad, weights, velocity);
}

/// `main` with `values` parameters per element.
fn step(
    p: &SgdParams,
    values: usize,
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
    let elems = p.n as usize / values;
    // One iteration of the outer two loops per GPU invocation.
    let (lanes, per_lane) = (WG_SIZE as usize, p.per_lane as usize);
    // A block of at least one element, so that `per_lane` 0 updates nothing, as on the GPU.
    for block in (0..elems).step_by((lanes * per_lane).max(1)) {
        for lane in 0..lanes {
            for k in 0..per_lane {
                let e = block + lane + k * lanes;
                if e < elems {
                    for i in e * values..(e + 1) * values {
                        update(p, lr, i, grad, weights, velocity);
                    }
                }
            }
        }
    }
}

/// `main`'s loop body for parameter `i`.
fn update(
    p: &SgdParams,
    lr: f32,
    i: usize,
    grad: &[f32],
    weights: &mut [f32],
    velocity: &mut [f32],
) {
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

/// An SGD twin: params, learning-rate factors, health, gradients, weights, momentum.
pub type SgdTwin = fn(&SgdParams, &[f32], &[u32], &[f32], &mut [f32], &mut [f32]);

/// The twin of kernel `kernel` (`sgd` or `sgd_vec4`).
pub fn twin(kernel: &str) -> SgdTwin {
    match kernel {
        "sgd_vec4" => sgd_vec4,
        _ => sgd,
    }
}

/// Lanes per workgroup of `shaders/sgd.wgsl`.
const WG_SIZE: u32 = 256;

/// Replays dispatches of `sgd` on this twin.
pub(crate) const REPLAY: Replay = Replay {
    kernels: &["sgd", "sgd_vec4"],
    run: replay,
    words: |_, _, _| Words::Float,
};

fn replay(kernel: &str, params: &[u8], bufs: &mut [Vec<u32>]) -> Result<(), String> {
    let bad = || bad_bindings(kernel);
    let p: SgdParams = read(params);
    let [grad, lr_scale, weights, velocity, health] = bufs else {
        return Err(bad());
    };
    let (w, v) = (f32s_mut(weights), f32s_mut(velocity));
    twin(kernel)(&p, f32s(lr_scale), health, f32s(grad), w, v);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::SgdStep;

    #[test]
    fn no_elements_per_lane_updates_nothing() {
        let step = SgdStep {
            lr: 0.5,
            momentum: 0.9,
            weight_decay: 0.0,
            nesterov: false,
        };
        let grad = [1.0f32; 8];
        let (mut w, mut v) = ([2.0f32; 8], [0.0f32; 8]);
        sgd_vec4(
            &SgdParams::new(8, step, None, 0),
            &[],
            &[0],
            &grad,
            &mut w,
            &mut v,
        );
        assert_eq!((w, v), ([2.0; 8], [0.0; 8]));
        sgd(
            &SgdParams::new(8, step, None, 1),
            &[],
            &[0],
            &grad,
            &mut w,
            &mut v,
        );
        assert_eq!((w, v), ([1.5; 8], [1.0; 8]));
    }
}
