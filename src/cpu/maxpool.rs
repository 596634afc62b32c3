//! Twin of `shaders/maxpool.wgsl`.

use crate::ops::maxpool::{NO_WINNER, PoolGeometry};

/// Forward: pooled values and their input indices ([`NO_WINNER`] for windows whose maximum
/// is not positive, when `after_relu`).
pub fn maxpool_forward(
    g: &PoolGeometry,
    x: &[f32],
    after_relu: bool,
    argmax: &mut [u32],
    out: &mut [f32],
) {
    let (h, w, c, k) = (g.h as usize, g.w as usize, g.c as usize, g.k as usize);
    let (oh, ow) = (g.oh() as usize, g.ow() as usize);
    for idx in 0..g.output_len() as usize {
        let (ci, ox, oy, ni) = (
            idx % c,
            (idx / c) % ow,
            (idx / (c * ow)) % oh,
            idx / (c * ow * oh),
        );
        let (mut best, mut at) = (0f32, 0usize);
        for ky in 0..k {
            for kx in 0..k {
                let i = ((ni * h + oy * k + ky) * w + ox * k + kx) * c + ci;
                if (ky == 0 && kx == 0) || x[i] > best {
                    best = x[i];
                    at = i;
                }
            }
        }
        out[idx] = best;
        argmax[idx] = if !after_relu || best > 0.0 {
            at as u32
        } else {
            NO_WINNER
        };
    }
}

/// Backward: each input element receives the gradient of the window it won, if any. One
/// iteration per window, as on the GPU; the last window of a row or column also zeros the
/// trailing inputs no window covers.
pub fn maxpool_backward(g: &PoolGeometry, dy: &[f32], argmax: &[u32], dx: &mut [f32]) {
    let (h, w, c, k) = (g.h as usize, g.w as usize, g.c as usize, g.k as usize);
    let (oh, ow) = (g.oh() as usize, g.ow() as usize);
    for idx in 0..g.output_len() as usize {
        let (ci, ox, oy, ni) = (
            idx % c,
            (idx / c) % ow,
            (idx / (c * ow)) % oh,
            idx / (c * ow * oh),
        );
        let y1 = if oy == oh - 1 { h } else { oy * k + k };
        let x1 = if ox == ow - 1 { w } else { ox * k + k };
        for iy in oy * k..y1 {
            for ix in ox * k..x1 {
                let i = ((ni * h + iy) * w + ix) * c + ci;
                dx[i] = if argmax[idx] as usize == i {
                    dy[idx]
                } else {
                    0.0
                };
            }
        }
    }
}
