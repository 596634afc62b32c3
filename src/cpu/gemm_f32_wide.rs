//! Twin of `shaders/gemm_f32_wide.wgsl`.

use crate::abi::{GemmParams, GemmShape, WideTile};
use crate::cpu::gemm_f32::element;
use crate::cpu::gemm_i8::{CpuEpilogue, store_result};
use crate::cpu::replay::{Replay, Words, bad_bindings, f32s, gemm_call, read};

/// One `gemm_f32_wide_<tile>` dispatch: workgroups of `tm × tn` outputs, lane `(ly, lx)` the
/// contiguous block rows `ly·rm ..`, columns `lx·rn ..`, one fused multiply-add per K value in
/// ascending K within chunk `z` (the zero padding the shader stages past the edges adds
/// nothing and is left out).
#[allow(clippy::too_many_arguments)]
pub fn gemm_f32_wide_pass(
    shape: &GemmShape,
    k_chunk: u32,
    tile: WideTile,
    a: &[f32],
    b: &[f32],
    epilogue: &CpuEpilogue<'_>,
    raw: bool,
    out: &mut [f32],
) {
    blocked_pass(shape, k_chunk, tile.dims(), a, b, epilogue, raw, out);
}

/// The wide kernels' arithmetic on blocks of `dims` (`[tm, tn, rm, rn]`, as
/// [`WideTile::dims`]), shared with `gemm_f32_lanes8`'s twin.
#[allow(clippy::too_many_arguments)]
pub(crate) fn blocked_pass(
    shape: &GemmShape,
    k_chunk: u32,
    dims: [u32; 4],
    a: &[f32],
    b: &[f32],
    epilogue: &CpuEpilogue<'_>,
    raw: bool,
    out: &mut [f32],
) {
    let (m, n, k) = (shape.m, shape.n, shape.k);
    let at = |src, rows, trans, r, kk| element(src, (rows, k), trans, r, kk);
    for z in 0..shape.chunks(k_chunk) {
        let (k0, k1) = (z * k_chunk, ((z + 1) * k_chunk).min(k));
        wide_cells((m, n), dims, |gm, gn| {
            let mut acc = 0f32;
            for kk in k0..k1 {
                let av = at(a, m, shape.trans_a, gm, kk);
                acc = av.mul_add(at(b, n, shape.trans_b, gn, kk), acc);
            }
            store_result(epilogue, raw, out, (m, n), acc, (gm, gn), z);
        });
    }
}

/// The cells of an `m × n` output in the order the wide kernels' lanes hold them (all their
/// twins), for blocks of `dims` (`[tm, tn, rm, rn]`):
/// workgroup by workgroup, lane `(ly, lx)` by lane, each lane's contiguous `rm × rn` block
/// row by row; cells past the edges are skipped.
pub(crate) fn wide_cells((m, n): (u32, u32), dims: [u32; 4], mut cell: impl FnMut(u32, u32)) {
    let [tm, tn, rm, rn] = dims;
    for wy in 0..m.div_ceil(tm) {
        for wx in 0..n.div_ceil(tn) {
            for ly in 0..tm / rm {
                for lx in 0..tn / rn {
                    for i in 0..rm {
                        let gm = wy * tm + ly * rm + i;
                        for j in 0..rn {
                            let gn = wx * tn + lx * rn + j;
                            if gm < m && gn < n {
                                cell(gm, gn);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Replays dispatches of the wide f32 GEMMs on their twin.
pub(crate) const REPLAY: Replay = Replay {
    kernels: &[
        "gemm_f32_wide_128x64",
        "gemm_f32_wide_64x64",
        "gemm_f32_wide_128x128",
    ],
    run: replay,
    words: |_, _, _| Words::Float,
};

fn replay(kernel: &str, params: &[u8], bufs: &mut [Vec<u32>]) -> Result<(), String> {
    let [a, b, sa, sb, bias, out] = bufs else {
        return Err(bad_bindings(kernel));
    };
    let Some((crate::abi::GemmVariant::Wide(tile), false)) =
        crate::abi::GemmVariant::of_kernel(kernel)
    else {
        return Err(bad_bindings(kernel));
    };
    let p: GemmParams = read(params);
    let c = gemm_call(&p, sa, sb, bias, out);
    let (a, b) = (f32s(a), f32s(b));
    gemm_f32_wide_pass(&c.shape, p.k_chunk, tile, a, b, &c.epilogue, c.raw, c.out);
    Ok(())
}
