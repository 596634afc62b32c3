//! Twin of `shaders/gemm_reduce.wgsl`.

use crate::abi::{GemmParams, GemmShape};
use crate::cpu::gemm_i8::CpuEpilogue;
use crate::cpu::{
    self,
    replay::{Replay, Words, bad_bindings, epilogue, f32s, f32s_mut, read},
};

/// `out[m, n] = epilogue(Σ_z partials[z][m][n])`, summed in ascending `z`.
pub fn gemm_reduce(
    shape: &GemmShape,
    chunks: u32,
    partials: &[f32],
    epilogue: &CpuEpilogue<'_>,
    out: &mut [f32],
) {
    let cells = (shape.m * shape.n) as usize;
    for idx in 0..cells {
        let mut v = 0f32;
        for z in 0..chunks as usize {
            v += partials[z * cells + idx];
        }
        let n = shape.n as usize;
        out[idx] = epilogue.apply(v, (idx / n) as u32, (idx % n) as u32);
    }
}

/// A whole split-K GEMM on the CPU: `pass(raw, out)` runs one GEMM dispatch — into `out`
/// directly when K fits one chunk, else into raw partials that [`gemm_reduce`] then sums.
pub(crate) fn split_k(
    shape: &GemmShape,
    chunks: u32,
    epilogue: &CpuEpilogue<'_>,
    out: &mut [f32],
    pass: impl FnOnce(bool, &mut [f32]),
) {
    if chunks > 1 {
        let mut partials = vec![0f32; (chunks * shape.m * shape.n) as usize];
        pass(true, &mut partials);
        gemm_reduce(shape, chunks, &partials, epilogue, out);
    } else {
        pass(false, out);
    }
}

/// Replays dispatches of `gemm_reduce` on this twin.
pub(crate) const REPLAY: Replay = Replay {
    kernels: &["gemm_reduce"],
    run: replay,
    words: |_, _, _| Words::Float,
};

fn replay(kernel: &str, params: &[u8], bufs: &mut [Vec<u32>]) -> Result<(), String> {
    let bad = || bad_bindings(kernel);
    let p: GemmParams = read(params);
    let [partials, sa, sb, bias, out] = bufs else {
        return Err(bad());
    };
    let ep = epilogue(&p, sa, sb, bias);
    let (cells, at) = (p.m as usize * p.n as usize, p.out_offset as usize);
    let out = &mut f32s_mut(out)[at..at + cells];
    cpu::gemm_reduce(&p.shape(), p.chunks, f32s(partials), &ep, out);
    Ok(())
}
