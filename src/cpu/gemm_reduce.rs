//! Twin of `shaders/gemm_reduce.wgsl`.

use crate::cpu::gemm_i8::CpuEpilogue;
use crate::ops::GemmShape;

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
