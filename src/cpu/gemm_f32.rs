//! Twins of `shaders/gemm_f32.wgsl`, `shaders/gemm_f32_regs.wgsl` and
//! `shaders/conv_f32_regs.wgsl`.

use crate::abi::{
    CONV_F32_FWD_BLOCK, CONV_F32_WGRAD_BLOCK, ConvGemmParams, ConvGeometry, GEMM_F32_REGS_BLOCK,
    GEMM_TILE, GemmParams, GemmShape, GemmVariant,
};
use crate::cpu::conv::column_element;
use crate::cpu::gemm_i8::{CpuEpilogue, store_result};
use crate::cpu::gemm_reduce::split_k;
use crate::cpu::{
    self,
    replay::{Replay, Words, bad_bindings, f32s, gemm_call, read},
};

/// `out[M, N]` as `variant` computes it: one fused multiply-add per K value in ascending K within
/// each split-K chunk of `k_chunk` K values ([`f32_k_chunk`](crate::abi::f32_k_chunk) for the device's spread), then the epilogue (one chunk) or
/// [`gemm_reduce`](crate::cpu::gemm_reduce()). Every variant gives the same result; each has its
/// own pass so that each kernel has a twin of its loop shape.
pub fn gemm_f32(
    variant: GemmVariant,
    shape: &GemmShape,
    k_chunk: u32,
    a: &[f32],
    b: &[f32],
    epilogue: &CpuEpilogue<'_>,
    out: &mut [f32],
) {
    split_k(
        shape,
        shape.chunks(k_chunk),
        epilogue,
        out,
        |raw, dst| match variant {
            GemmVariant::Tiled => gemm_f32_pass(shape, k_chunk, a, b, epilogue, raw, dst),
            GemmVariant::Regs => gemm_f32_regs_pass(shape, k_chunk, a, b, epilogue, raw, dst),
            GemmVariant::Wide(tile) => cpu::gemm_f32_wide::gemm_f32_wide_pass(
                shape, k_chunk, tile, a, b, epilogue, raw, dst,
            ),
            GemmVariant::Lanes8(tile) => cpu::gemm_f32_lanes8::gemm_f32_lanes8_pass(
                shape, k_chunk, tile, a, b, epilogue, raw, dst,
            ),
        },
    );
}

/// Element (row `r`, K index `kk`) of an operand with `rows` rows, stored `[rows, K]` or, with
/// `trans`, `[K, rows]`.
pub(crate) fn element(src: &[f32], (rows, k): (u32, u32), trans: bool, r: u32, kk: u32) -> f32 {
    if trans {
        src[(kk * rows + r) as usize]
    } else {
        src[(r * k + kk) as usize]
    }
}

/// One `gemm_f32_regs` dispatch: a 4×8 block per lane, K ascending.
pub fn gemm_f32_regs_pass(
    shape: &GemmShape,
    k_chunk: u32,
    a: &[f32],
    b: &[f32],
    epilogue: &CpuEpilogue<'_>,
    raw: bool,
    out: &mut [f32],
) {
    let (m, n, k) = (shape.m, shape.n, shape.k);
    let a_at = |r, kk| element(a, (m, k), shape.trans_a, r, kk);
    let b_at = |c, kk| element(b, (n, k), shape.trans_b, c, kk);
    const B: (usize, usize) = (
        GEMM_F32_REGS_BLOCK.0 as usize,
        GEMM_F32_REGS_BLOCK.1 as usize,
    );
    regs_pass::<{ B.0 }, { B.1 }>(shape, k_chunk, (a_at, b_at), epilogue, raw, out);
}

/// The register-blocked loop of `gemm_f32_regs` (4×4 blocks) and `conv_f32_regs` (4×8 forward,
/// 8×4 weight gradient): a `BM × BN` block per lane, one fused multiply-add per K value in
/// ascending K within each chunk; `a_at(row, k)` and `b_at(column, k)` read the operands (rows
/// past the edge are clamped to the last, as on the GPU; their cells are dropped).
fn regs_pass<const BM: usize, const BN: usize>(
    shape: &GemmShape,
    k_chunk: u32,
    (a_at, b_at): (impl Fn(u32, u32) -> f32, impl Fn(u32, u32) -> f32),
    epilogue: &CpuEpilogue<'_>,
    raw: bool,
    out: &mut [f32],
) {
    let (m, n, k) = (shape.m, shape.n, shape.k);
    for z in 0..shape.chunks(k_chunk) {
        let (k0, k1) = (z * k_chunk, ((z + 1) * k_chunk).min(k));
        for m0 in (0..m).step_by(BM) {
            for n0 in (0..n).step_by(BN) {
                let rows: [u32; BM] = std::array::from_fn(|i| (m0 + i as u32).min(m - 1));
                let cols: [u32; BN] = std::array::from_fn(|j| (n0 + j as u32).min(n - 1));
                let mut acc = [[0f32; BN]; BM];
                for kk in k0..k1 {
                    let av = rows.map(|r| a_at(r, kk));
                    let bv = cols.map(|c| b_at(c, kk));
                    for i in 0..BM {
                        for j in 0..BN {
                            acc[i][j] = av[i].mul_add(bv[j], acc[i][j]);
                        }
                    }
                }
                for (i, row) in acc.iter().enumerate() {
                    for (j, &v) in row.iter().enumerate() {
                        let (gm, gn) = (m0 + i as u32, n0 + j as u32);
                        if gm < m && gn < n {
                            store_result(epilogue, raw, out, (m, n), v, (gm, gn), z);
                        }
                    }
                }
            }
        }
    }
}

/// An FP32 convolution's forward (`wgrad` false: `a` = x NHWC, `b` = W) or weight gradient
/// (`wgrad`: `a` = dY `[rows, channels]`, `b` = x) as `conv_f32_regs` computes it: `shape` is
/// [`conv_forward_shape`](crate::ops::conv_gemm::conv_forward_shape) or
/// [`conv_wgrad_shape`](crate::ops::conv_gemm::conv_wgrad_shape), split-K as [`gemm_f32`].
#[allow(clippy::too_many_arguments)]
pub fn conv_f32(
    g: &ConvGeometry,
    wgrad: bool,
    shape: &GemmShape,
    k_chunk: u32,
    a: &[f32],
    b: &[f32],
    epilogue: &CpuEpilogue<'_>,
    out: &mut [f32],
) {
    split_k(shape, shape.chunks(k_chunk), epilogue, out, |raw, dst| {
        conv_f32_regs_pass(g, wgrad, shape, k_chunk, a, b, epilogue, raw, dst)
    });
}

/// One `conv_f32_regs` dispatch: the loop of [`gemm_f32_regs_pass`] with the column-matrix
/// operand (A of the forward, B of the weight gradient) read from the input where it is needed.
#[allow(clippy::too_many_arguments)]
pub fn conv_f32_regs_pass(
    g: &ConvGeometry,
    wgrad: bool,
    shape: &GemmShape,
    k_chunk: u32,
    a: &[f32],
    b: &[f32],
    epilogue: &CpuEpilogue<'_>,
    raw: bool,
    out: &mut [f32],
) {
    let (m, k) = (shape.m, shape.k);
    if wgrad {
        let a_at = |r, p| a[(p * m + r) as usize];
        let b_at = |c, p| column_element(g, b, p, c);
        const B: (usize, usize) = (
            CONV_F32_WGRAD_BLOCK.0 as usize,
            CONV_F32_WGRAD_BLOCK.1 as usize,
        );
        regs_pass::<{ B.0 }, { B.1 }>(shape, k_chunk, (a_at, b_at), epilogue, raw, out);
    } else {
        let a_at = |r, t| column_element(g, a, r, t);
        let b_at = |c, t| b[(c * k + t) as usize];
        const B: (usize, usize) = (CONV_F32_FWD_BLOCK.0 as usize, CONV_F32_FWD_BLOCK.1 as usize);
        regs_pass::<{ B.0 }, { B.1 }>(shape, k_chunk, (a_at, b_at), epilogue, raw, out);
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
    let at = |src, rows, trans, r, kk| element(src, (rows, k), trans, r, kk);
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
                                    let av = at(a, m, shape.trans_a, gm, kk);
                                    acc = av.mul_add(at(b, n, shape.trans_b, gn, kk), acc);
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

/// Replays dispatches of the f32 GEMMs and implicit f32 convolutions on their twins.
pub(crate) const REPLAY: Replay = Replay {
    kernels: &[
        "gemm_f32",
        "gemm_f32_regs",
        "gemm_f32_regs_gated",
        "conv_f32_regs_fwd",
        "conv_f32_regs_wgrad",
    ],
    run: replay,
    words: |_, _, _| Words::Float,
};

fn replay(kernel: &str, params: &[u8], bufs: &mut [Vec<u32>]) -> Result<(), String> {
    let [a, b, sa, sb, bias, out] = bufs else {
        return Err(bad_bindings(kernel));
    };
    let (a32, b32) = (f32s(a), f32s(b));
    if kernel.starts_with("conv_f32_regs") {
        let p: ConvGemmParams = read(params);
        let c = gemm_call(&p.gemm, sa, sb, bias, out);
        let (g, wgrad) = (p.conv.geometry(), kernel.contains("wgrad"));
        let k_chunk = p.gemm.k_chunk;
        conv_f32_regs_pass(
            &g,
            wgrad,
            &c.shape,
            k_chunk,
            a32,
            b32,
            &c.epilogue,
            c.raw,
            c.out,
        );
    } else {
        let p: GemmParams = read(params);
        let c = gemm_call(&p, sa, sb, bias, out);
        let pass = match kernel {
            "gemm_f32" => gemm_f32_pass,
            _ => gemm_f32_regs_pass,
        };
        pass(&c.shape, p.k_chunk, a32, b32, &c.epilogue, c.raw, c.out);
    }
    Ok(())
}
