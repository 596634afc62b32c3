//! Twin of `shaders/dequantize.wgsl`.

use crate::cpu::common::{channel_of, unpack4x_i8};
use crate::ops::Layout;

/// `output[r, c] = q[r, c] · scales[channel(r, c)]`.
pub fn dequantize(layout: &Layout, packed: &[u32], scales: &[f32], output: &mut [f32]) {
    let (rows, cols, cols4) = (layout.rows, layout.cols, layout.cols4());
    for idx in 0..rows * cols4 {
        let r = idx / cols4;
        let c4 = idx % cols4;
        let q = unpack4x_i8(packed[idx as usize]);
        for j in 0..4 {
            let c = c4 * 4 + j;
            if c >= cols {
                break;
            }
            let s = scales[channel_of(layout.axis, r, c) as usize];
            output[(r * cols + c) as usize] = q[j as usize] as f32 * s;
        }
    }
}
