//! Twin of `shaders/column_sum.wgsl`.

use crate::abi::ColumnSumParams;
use crate::cpu::{
    self,
    replay::{Replay, Words, bad_bindings, f32s, f32s_mut, read},
};
const COLS_PER_WG: usize = 64;
const LANES: usize = 4;

/// Each segment's column sums of `x` (`rows × cols`) into `out[segment · cols + c]` (`out`
/// starting at the kernel's `out_offset`).
pub fn column_sum(rows: usize, cols: usize, segment_rows: usize, x: &[f32], out: &mut [f32]) {
    let segments = rows.div_ceil(segment_rows);
    for seg in 0..segments {
        for block in 0..cols.div_ceil(COLS_PER_WG) {
            for col in 0..COLS_PER_WG {
                let c = block * COLS_PER_WG + col;
                if c >= cols {
                    continue;
                }
                let (start, end) = (seg * segment_rows, ((seg + 1) * segment_rows).min(rows));
                let mut lanes = [0f32; LANES];
                for (lane, s) in lanes.iter_mut().enumerate() {
                    let mut r = start + lane;
                    while r < end {
                        *s += x[r * cols + c];
                        r += LANES;
                    }
                }
                out[seg * cols + c] = (lanes[0] + lanes[2]) + (lanes[1] + lanes[3]);
            }
        }
    }
}

/// Replays dispatches of `column_sum` on this twin.
pub(crate) const REPLAY: Replay = Replay {
    kernels: &["column_sum"],
    run: replay,
    words: |_, _, _| Words::Float,
};

fn replay(kernel: &str, params: &[u8], bufs: &mut [Vec<u32>]) -> Result<(), String> {
    let bad = || bad_bindings(kernel);
    let p: ColumnSumParams = read(params);
    let [x, out] = bufs else {
        return Err(bad());
    };
    let (rows, cols, at) = (p.rows as usize, p.cols as usize, p.out_offset as usize);
    let out = &mut f32s_mut(out)[at..at + p.segments as usize * cols];
    cpu::column_sum(rows, cols, p.segment_rows as usize, f32s(x), out);
    Ok(())
}
