//! Twins of `shaders/im2col.wgsl`, `shaders/im2col_i8.wgsl` and `shaders/col2im.wgsl`.

use crate::abi::{ConvGeometry, ConvParams, PoolGeometry};
use crate::cpu::maxpool::route_to_winner;
use crate::cpu::{
    self,
    replay::{Replay, Words, bad_bindings, f32s, f32s_mut, no_twin, read},
};

/// `window_of()` of `shaders/conv_common.wgsl`: output pixel `row`'s top-left input pixel
/// (y, x), possibly in the padding, and its image.
pub(crate) fn window_of(g: &ConvGeometry, row: usize) -> (i64, i64, usize) {
    let (oh, ow) = (g.oh() as usize, g.ow() as usize);
    let (ox, oy, ni) = (row % ow, (row / ow) % oh, row / (ow * oh));
    let at = |o: usize| (o * g.stride as usize) as i64 - g.pad as i64;
    (at(oy), at(ox), ni)
}

/// `tap_of()`: column `col` as (ky, kx, ci).
fn tap_of(g: &ConvGeometry, col: usize) -> [usize; 3] {
    let (c, kw) = (g.c as usize, g.kw as usize);
    [col / (c * kw), (col / c) % kw, col % c]
}

/// `next_tap()`: the tap of the next column.
fn next_tap(g: &ConvGeometry, [ky, kx, ci]: [usize; 3]) -> [usize; 3] {
    match (ci + 1 == g.c as usize, kx + 1 == g.kw as usize) {
        (false, _) => [ky, kx, ci + 1],
        (true, false) => [ky, kx + 1, 0],
        (true, true) => [ky + 1, 0, 0],
    }
}

/// `im2col_source()`: the index in x that window `win` reads at tap `t`, or `None` in the
/// padding.
pub(crate) fn im2col_source(
    g: &ConvGeometry,
    (y, x, ni): (i64, i64, usize),
    t: [usize; 3],
) -> Option<usize> {
    let (h, w, c) = (g.h as usize, g.w as usize, g.c as usize);
    let (iy, ix) = (y + t[0] as i64, x + t[1] as i64);
    (iy >= 0 && ix >= 0 && iy < h as i64 && ix < w as i64)
        .then(|| ((ni * h + iy as usize) * w + ix as usize) * c + t[2])
}

/// Element (`row`, `col`) of the column matrix of `x`: what `im2col` writes there.
pub fn column_element(g: &ConvGeometry, x: &[f32], row: u32, col: u32) -> f32 {
    im2col_source(g, window_of(g, row as usize), tap_of(g, col as usize)).map_or(0.0, |s| x[s])
}

/// Byte (`row`, `col`) of the column matrix of `x_q` (one int8 per NHWC element, four to a
/// word): what `im2col_i8` writes there.
pub fn column_byte(g: &ConvGeometry, x_q: &[u32], row: u32, col: u32) -> u32 {
    im2col_source(g, window_of(g, row as usize), tap_of(g, col as usize))
        .map_or(0, |e| (x_q[e / 4] >> (8 * (e % 4))) & 0xff)
}

/// `cols = im2col(x)`.
pub fn im2col(g: &ConvGeometry, x: &[f32], cols: &mut [f32]) {
    let k = g.taps() as usize;
    let k4 = k.div_ceil(4);
    // One iteration per GPU invocation: four consecutive elements of a row.
    for idx in 0..g.rows() as usize * k4 {
        let (row, col0) = (idx / k4, (idx % k4) * 4);
        let win = window_of(g, row);
        let mut tap = tap_of(g, col0);
        for col in col0..(col0 + 4).min(k) {
            cols[row * k + col] = im2col_source(g, win, tap).map_or(0.0, |s| x[s]);
            tap = next_tap(g, tap);
        }
    }
}

/// `packed = im2col(x_q)`, `x_q` one int8 per NHWC element, four to a word.
pub fn im2col_i8(g: &ConvGeometry, x_q: &[u32], packed: &mut [u32]) {
    let k = g.taps() as usize;
    let k4 = k.div_ceil(4);
    // One iteration per GPU invocation: a row.
    for row in 0..g.rows() as usize {
        let win = window_of(g, row);
        let mut tap = [0, 0, 0];
        for w in 0..k4 {
            let mut word = 0u32;
            for j in 0..(k - w * 4).min(4) {
                if let Some(e) = im2col_source(g, win, tap) {
                    word |= ((x_q[e / 4] >> ((e % 4) * 8)) & 0xff) << (j * 8);
                }
                tap = next_tap(g, tap);
            }
            packed[row * k4 + w] = word;
        }
    }
}

/// `dx = col2im(dcols)`, summing the taps that read each pixel in ascending (ky, kx) order.
pub fn col2im(g: &ConvGeometry, dcols: &[f32], dx: &mut [f32]) {
    for idx in 0..g.input_len() as usize {
        dx[idx] = col2im_at(g, dcols, idx);
    }
}

/// `col2im_maxpool`: [`col2im`] into the backward of the max pooling `pool` whose output the
/// convolution's input is, element by element as the GPU kernel does it: `dx` is the pooling's
/// input gradient, `argmax` the winners of its forward.
pub fn col2im_maxpool(
    g: &ConvGeometry,
    pool: &PoolGeometry,
    dcols: &[f32],
    argmax: &[u32],
    dx: &mut [f32],
) {
    for idx in 0..g.input_len() as usize {
        route_to_winner(pool, idx, col2im_at(g, dcols, idx), argmax, dx);
    }
}

/// Element `idx` of `col2im(dcols)`: the taps that read it, in ascending (ky, kx) order.
fn col2im_at(g: &ConvGeometry, dcols: &[f32], idx: usize) -> f32 {
    let (k, oh, ow) = (g.taps() as usize, g.oh() as i64, g.ow() as i64);
    let (h, w, c) = (g.h as usize, g.w as usize, g.c as usize);
    let (stride, pad) = (g.stride as i64, g.pad as i64);
    let (ci, ix, iy, ni) = (
        idx % c,
        (idx / c) % w,
        (idx / (c * w)) % h,
        idx / (c * w * h),
    );
    let (ty, tx, s) = (iy as i64 + pad, ix as i64 + pad, stride);
    let mut v = 0f32;
    let (mut ky, mut oy) = (ty % s, ty / s);
    while ky < g.kh as i64 && oy >= 0 {
        if oy < oh {
            let (mut kx, mut ox) = (tx % s, tx / s);
            while kx < g.kw as i64 && ox >= 0 {
                if ox < ow {
                    let row = ((ni as i64 * oh + oy) * ow + ox) as usize;
                    v += dcols[row * k + (ky as usize * g.kw as usize + kx as usize) * c + ci];
                }
                (kx, ox) = (kx + s, ox - 1);
            }
        }
        (ky, oy) = (ky + s, oy - 1);
    }
    v
}

/// Replays dispatches of `im2col`, `im2col_i8`, `col2im` on this twin.
pub(crate) const REPLAY: Replay = Replay {
    kernels: &["im2col", "im2col_i8", "col2im", "col2im_maxpool"],
    run: replay,
    words: |kernel, _, _| match kernel {
        "im2col_i8" => Words::Exact,
        _ => Words::Float,
    },
};

fn replay(kernel: &str, params: &[u8], bufs: &mut [Vec<u32>]) -> Result<(), String> {
    let bad = || bad_bindings(kernel);
    match kernel {
        "im2col" => {
            let g = read::<ConvParams>(params).geometry();
            let [x, cols] = bufs else {
                return Err(bad());
            };
            let n = g.rows() as usize * g.taps() as usize;
            cpu::im2col(&g, f32s(x), &mut f32s_mut(cols)[..n]);
        }
        "im2col_i8" => {
            let g = read::<ConvParams>(params).geometry();
            let [x_q, packed] = bufs else {
                return Err(bad());
            };
            let words = g.rows() as usize * g.taps().div_ceil(4) as usize;
            cpu::im2col_i8(&g, x_q, &mut packed[..words]);
        }
        "col2im" => {
            let g = read::<ConvParams>(params).geometry();
            let [dcols, dx, _] = bufs else {
                return Err(bad());
            };
            let n = g.input_len() as usize;
            cpu::col2im(&g, f32s(dcols), &mut f32s_mut(dx)[..n]);
        }
        "col2im_maxpool" => {
            let p = read::<ConvParams>(params);
            let (g, pool) = (p.geometry(), p.pool());
            let [dcols, dx, argmax] = bufs else {
                return Err(bad());
            };
            let n = pool.input_len() as usize;
            cpu::col2im_maxpool(&g, &pool, f32s(dcols), argmax, &mut f32s_mut(dx)[..n]);
        }
        _ => return Err(no_twin(kernel)),
    }
    Ok(())
}
