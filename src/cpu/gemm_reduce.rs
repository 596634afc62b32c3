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
