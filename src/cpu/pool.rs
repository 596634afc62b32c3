//! Twins of `shaders/global_avg_pool.wgsl` and `shaders/add.wgsl`.

use crate::abi::{ADD_RECTIFY, ElementwiseParams, GapParams};
use crate::cpu::{
    self,
    replay::{Replay, Words, bad_bindings, f32s, f32s_mut, no_twin, read},
};
/// Forward: `out[n, c]` = mean over the `hw` pixels, summed in ascending pixel order.
pub fn global_avg_pool_forward((n, hw, c): (usize, usize, usize), x: &[f32], out: &mut [f32]) {
    let inv = 1.0 / hw as f32;
    for idx in 0..n * c {
        let (ni, ci) = (idx / c, idx % c);
        let mut s = 0f32;
        for p in 0..hw {
            s += x[(ni * hw + p) * c + ci];
        }
        out[idx] = s * inv;
    }
}

/// Backward: `dx[n, p, c] = dy[n, c] / hw`.
pub fn global_avg_pool_backward((_, hw, c): (usize, usize, usize), dy: &[f32], dx: &mut [f32]) {
    let inv = 1.0 / hw as f32;
    for (idx, v) in dx.iter_mut().enumerate() {
        *v = dy[idx / (hw * c) * c + idx % c] * inv;
    }
}

/// `out = a + b`, rectified with `rectify`.
pub fn add(a: &[f32], b: &[f32], (out, rectify): (&mut [f32], bool)) {
    for i in 0..out.len() {
        let s = a[i] + b[i];
        out[i] = if rectify {
            crate::cpu::common::rectify(s)
        } else {
            s
        };
    }
}

/// Replays dispatches of `global_avg_pool`, `add` on this twin.
pub(crate) const REPLAY: Replay = Replay {
    kernels: &["global_avg_pool", "add"],
    run: replay,
    words: |_, _, _| Words::Float,
};

fn replay(kernel: &str, params: &[u8], bufs: &mut [Vec<u32>]) -> Result<(), String> {
    let bad = || bad_bindings(kernel);
    match kernel {
        "global_avg_pool" => {
            let p: GapParams = read(params);
            let [x, dy, out] = bufs else {
                return Err(bad());
            };
            let shape = (p.n as usize, p.hw as usize, p.c as usize);
            if p.backward != 0 {
                let n = shape.0 * shape.1 * shape.2;
                cpu::global_avg_pool_backward(shape, f32s(dy), &mut f32s_mut(out)[..n]);
            } else {
                let n = shape.0 * shape.2;
                cpu::global_avg_pool_forward(shape, f32s(x), &mut f32s_mut(out)[..n]);
            }
        }
        "add" => {
            let p: ElementwiseParams = read(params);
            let [a, b, out] = bufs else {
                return Err(bad());
            };
            let rectify = p.flags & ADD_RECTIFY != 0;
            cpu::add(
                f32s(a),
                f32s(b),
                (&mut f32s_mut(out)[..p.n as usize], rectify),
            );
        }
        _ => return Err(no_twin(kernel)),
    }
    Ok(())
}
