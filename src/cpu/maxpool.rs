//! Twin of `shaders/maxpool.wgsl`.

use crate::abi::{NO_WINNER, POOL_AFTER_RELU, POOL_BACKWARD, PoolGeometry, PoolParams};
use crate::cpu::{
    self,
    replay::{Replay, Words, bad_bindings, f32s, f32s_mut, read},
};

/// Forward: pooled values and where each maximum lies in its window, `ky·k + kx`, one byte per
/// window, four to a word ([`NO_WINNER`] for windows whose maximum is not positive, when
/// `after_relu`). One iteration per word, as on the GPU.
pub fn maxpool_forward(
    g: &PoolGeometry,
    x: &[f32],
    after_relu: bool,
    argmax: &mut [u32],
    out: &mut [f32],
) {
    let (h, w, c, k) = (g.h as usize, g.w as usize, g.c as usize, g.k as usize);
    let (oh, ow) = (g.oh() as usize, g.ow() as usize);
    let windows = g.output_len() as usize;
    for (q, word) in argmax.iter_mut().enumerate().take(windows.div_ceil(4)) {
        *word = 0;
        for j in 0..4 {
            let idx = 4 * q + j;
            if idx >= windows {
                break;
            }
            let (ci, ox, oy, ni) = (
                idx % c,
                (idx / c) % ow,
                (idx / (c * ow)) % oh,
                idx / (c * ow * oh),
            );
            let (mut best, mut at) = (0f32, 0u32);
            for ky in 0..k {
                for kx in 0..k {
                    let i = ((ni * h + oy * k + ky) * w + ox * k + kx) * c + ci;
                    if (ky == 0 && kx == 0) || x[i] > best {
                        best = x[i];
                        at = (ky * k + kx) as u32;
                    }
                }
            }
            out[idx] = best;
            let won = if !after_relu || best > 0.0 {
                at
            } else {
                NO_WINNER
            };
            *word |= won << (8 * j);
        }
    }
}

/// Backward: each input element receives the gradient of the window it won, if any. One
/// iteration per window, as on the GPU; the last window of a row or column also zeros the
/// trailing inputs no window covers.
pub fn maxpool_backward(g: &PoolGeometry, dy: &[f32], argmax: &[u32], dx: &mut [f32]) {
    for idx in 0..g.output_len() as usize {
        route_to_winner(g, idx, dy[idx], argmax, dx);
    }
}

/// The backward of window `idx` (an index of the pooling's output) with gradient `dy`: `dy` to
/// the window's winner, zeros to the rest of it (and, for the last window of a row or column,
/// to the inputs no window covers).
pub(crate) fn route_to_winner(
    g: &PoolGeometry,
    idx: usize,
    dy: f32,
    argmax: &[u32],
    dx: &mut [f32],
) {
    let (h, w, c, k) = (g.h as usize, g.w as usize, g.c as usize, g.k as usize);
    let (oh, ow) = (g.oh() as usize, g.ow() as usize);
    let (ci, ox, oy, ni) = (
        idx % c,
        (idx / c) % ow,
        (idx / (c * ow)) % oh,
        idx / (c * ow * oh),
    );
    let won = (argmax[idx / 4] >> (8 * (idx % 4))) & 0xff;
    let winner = (won != NO_WINNER).then(|| (oy * k + won as usize / k, ox * k + won as usize % k));
    let y1 = if oy == oh - 1 { h } else { oy * k + k };
    let x1 = if ox == ow - 1 { w } else { ox * k + k };
    for iy in oy * k..y1 {
        for ix in ox * k..x1 {
            let i = ((ni * h + iy) * w + ix) * c + ci;
            dx[i] = if winner == Some((iy, ix)) { dy } else { 0.0 };
        }
    }
}

/// Replays dispatches of `maxpool` and `maxpool_backward` on these twins.
pub(crate) const REPLAY: Replay = Replay {
    kernels: &["maxpool", "maxpool_backward"],
    run: replay,
    words: |_, binding, _| match binding {
        "argmax" => Words::Exact,
        _ => Words::Float,
    },
};

fn replay(kernel: &str, params: &[u8], bufs: &mut [Vec<u32>]) -> Result<(), String> {
    let bad = || bad_bindings(kernel);
    let p: PoolParams = read(params);
    let [x, dy, argmax, out] = bufs else {
        return Err(bad());
    };
    let (g, mode) = (p.geometry(), p.mode);
    if mode & POOL_BACKWARD != 0 {
        let out = &mut f32s_mut(out)[..g.input_len() as usize];
        cpu::maxpool_backward(&g, f32s(dy), argmax, out);
    } else {
        let m = g.output_len() as usize;
        let out = &mut f32s_mut(out)[..m];
        let words = &mut argmax[..m.div_ceil(4)];
        cpu::maxpool_forward(&g, f32s(x), mode & POOL_AFTER_RELU != 0, words, out);
    }
    Ok(())
}
