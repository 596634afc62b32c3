//! Twins of `shaders/im2col.wgsl` and `shaders/col2im.wgsl`.

use crate::ops::conv::ConvGeometry;

/// `cols = im2col(x)`.
pub fn im2col(g: &ConvGeometry, x: &[f32], cols: &mut [f32]) {
    let (k, oh, ow) = (g.taps() as usize, g.oh() as usize, g.ow() as usize);
    let (h, w, c, kw) = (g.h as usize, g.w as usize, g.c as usize, g.kw as usize);
    for idx in 0..g.rows() as usize * k {
        let (row, col) = (idx / k, idx % k);
        let (ox, oy, ni) = (row % ow, (row / ow) % oh, row / (ow * oh));
        let (ci, kx, ky) = (col % c, (col / c) % kw, col / (c * kw));
        let iy = (oy * g.stride as usize + ky) as i64 - g.pad as i64;
        let ix = (ox * g.stride as usize + kx) as i64 - g.pad as i64;
        cols[idx] = if iy >= 0 && ix >= 0 && iy < h as i64 && ix < w as i64 {
            x[((ni * h + iy as usize) * w + ix as usize) * c + ci]
        } else {
            0.0
        };
    }
}

/// `dx = col2im(dcols)`, summing taps in ascending (ky, kx) order.
pub fn col2im(g: &ConvGeometry, dcols: &[f32], dx: &mut [f32]) {
    let (k, oh, ow) = (g.taps() as usize, g.oh() as i64, g.ow() as i64);
    let (h, w, c) = (g.h as usize, g.w as usize, g.c as usize);
    let (stride, pad) = (g.stride as i64, g.pad as i64);
    for idx in 0..g.input_len() as usize {
        let (ci, ix, iy, ni) = (
            idx % c,
            (idx / c) % w,
            (idx / (c * w)) % h,
            idx / (c * w * h),
        );
        let mut v = 0f32;
        for ky in 0..g.kh as i64 {
            let ty = iy as i64 + pad - ky;
            if ty < 0 || ty % stride != 0 || ty / stride >= oh {
                continue;
            }
            for kx in 0..g.kw as i64 {
                let tx = ix as i64 + pad - kx;
                if tx < 0 || tx % stride != 0 || tx / stride >= ow {
                    continue;
                }
                let row = ((ni as i64 * oh + ty / stride) * ow + tx / stride) as usize;
                v += dcols[row * k + (ky as usize * g.kw as usize + kx as usize) * c + ci];
            }
        }
        dx[idx] = v;
    }
}
