//! Twin of `shaders/gemm_f32.wgsl`.

use crate::cpu::gemm_i8::CpuEpilogue;
use crate::ops::GemmShape;
use crate::ops::gemm::GEMM_TILE;

/// `out[M, N]` with f32 accumulation in ascending K, then the epilogue.
pub fn gemm_f32(
    shape: &GemmShape,
    a: &[f32],
    b: &[f32],
    epilogue: &CpuEpilogue<'_>,
    out: &mut [f32],
) {
    let (m, n, k) = (shape.m, shape.n, shape.k);
    let at = |src: &[f32], rows: u32, trans: bool, r: u32, kk: u32| -> f32 {
        if trans {
            src[(kk * rows + r) as usize]
        } else {
            src[(r * k + kk) as usize]
        }
    };
    for wy in 0..m.div_ceil(GEMM_TILE) {
        for wx in 0..n.div_ceil(GEMM_TILE) {
            for ly in 0..16 {
                for lx in 0..16 {
                    for i in 0..4 {
                        let gm = wy * GEMM_TILE + ly + 16 * i;
                        for j in 0..4 {
                            let gn = wx * GEMM_TILE + lx + 16 * j;
                            if gm >= m || gn >= n {
                                continue;
                            }
                            let mut acc = 0f32;
                            for kk in 0..k {
                                acc += at(a, m, shape.trans_a, gm, kk) * at(b, n, shape.trans_b, gn, kk);
                            }
                            out[(gm * n + gn) as usize] = epilogue.apply(acc, gm, gn);
                        }
                    }
                }
            }
        }
    }
}
