//! Twin of `shaders/gemm_f32.wgsl`.

use crate::cpu::gemm_i8::{CpuEpilogue, store_result};
use crate::cpu::gemm_reduce::split_k;
use crate::ops::GemmShape;
use crate::ops::gemm::{GEMM_F32_SMALL, GEMM_TILE, SMALL_TILE, f32_plan};

/// `out[M, N]` with f32 accumulation in ascending K within each split-K chunk, then the epilogue
/// (one chunk) or [`gemm_reduce`](crate::cpu::gemm_reduce()).
pub fn gemm_f32(
    shape: &GemmShape,
    a: &[f32],
    b: &[f32],
    epilogue: &CpuEpilogue<'_>,
    out: &mut [f32],
) {
    let (def, _, k_chunk) = f32_plan(shape);
    let pass = if def.name == GEMM_F32_SMALL.name {
        gemm_f32_small_pass
    } else {
        gemm_f32_pass
    };
    split_k(shape, shape.chunks(k_chunk), epilogue, out, |raw, dst| {
        pass(shape, k_chunk, a, b, epilogue, raw, dst)
    });
}

/// One `gemm_f32_small` dispatch: 16×16 tiles, one cell per lane.
pub fn gemm_f32_small_pass(
    shape: &GemmShape,
    k_chunk: u32,
    a: &[f32],
    b: &[f32],
    epilogue: &CpuEpilogue<'_>,
    raw: bool,
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
    for z in 0..shape.chunks(k_chunk) {
        let (k0, k1) = (z * k_chunk, ((z + 1) * k_chunk).min(k));
        for wy in 0..m.div_ceil(SMALL_TILE) {
            for wx in 0..n.div_ceil(SMALL_TILE) {
                for ly in 0..16 {
                    for lx in 0..16 {
                        let (gm, gn) = (wy * SMALL_TILE + ly, wx * SMALL_TILE + lx);
                        if gm >= m || gn >= n {
                            continue;
                        }
                        let mut acc = 0f32;
                        for kk in k0..k1 {
                            acc +=
                                at(a, m, shape.trans_a, gm, kk) * at(b, n, shape.trans_b, gn, kk);
                        }
                        store_result(epilogue, raw, out, (m, n), acc, (gm, gn), z);
                    }
                }
            }
        }
    }
}

/// One `gemm_f32` dispatch, as [`gemm_i8_pass`](crate::cpu::gemm_i8::gemm_i8_pass).
pub fn gemm_f32_pass(
    shape: &GemmShape,
    k_chunk: u32,
    a: &[f32],
    b: &[f32],
    epilogue: &CpuEpilogue<'_>,
    raw: bool,
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
    let chunks = shape.chunks(k_chunk);
    for z in 0..chunks {
        let (k0, k1) = (z * k_chunk, ((z + 1) * k_chunk).min(k));
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
                                for kk in k0..k1 {
                                    acc += at(a, m, shape.trans_a, gm, kk)
                                        * at(b, n, shape.trans_b, gn, kk);
                                }
                                store_result(epilogue, raw, out, (m, n), acc, (gm, gn), z);
                            }
                        }
                    }
                }
            }
        }
    }
}
