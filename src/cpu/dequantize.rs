//! Twin of `shaders/dequantize.wgsl`.

use crate::abi::{ChannelAxis, DequantizeParams, Layout};
use crate::cpu::common::{channel_of, unpack4x_i8};
use crate::cpu::{
    self,
    replay::{Replay, Words, bad_bindings, f32s, f32s_mut, read},
};

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

/// Replays dispatches of `dequantize` on this twin.
pub(crate) const REPLAY: Replay = Replay {
    kernels: &["dequantize"],
    run: replay,
    words: |_, _, _| Words::Float,
};

fn replay(kernel: &str, params: &[u8], bufs: &mut [Vec<u32>]) -> Result<(), String> {
    let bad = || bad_bindings(kernel);
    let p: DequantizeParams = read(params);
    let [packed, scales, output] = bufs else {
        return Err(bad());
    };
    let layout = Layout::new(p.rows, p.cols, ChannelAxis::from_code(p.axis));
    let n = (p.rows * p.cols) as usize;
    cpu::dequantize(&layout, packed, f32s(scales), &mut f32s_mut(output)[..n]);
    Ok(())
}
