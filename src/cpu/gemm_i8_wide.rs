//! Twin of `shaders/gemm_i8_wide.wgsl`.

use crate::abi::{GemmParams, GemmShape, WideTile};
use crate::cpu::gemm_f32_wide::wide_cells;
use crate::cpu::gemm_i8::{CpuEpilogue, dot4_i8_packed, operand_word, store_result};
use crate::cpu::replay::{Replay, Words, bad_bindings, gemm_call, read};

/// K values a step stages (eight packed words).
const BK: u32 = 32;

/// One `gemm_i8_wide_<tile>` dispatch: workgroups of `tm × tn` outputs, lane `(ly, lx)` the
/// contiguous block rows `ly·rm ..`, columns `lx·rn ..`, each cell the int32 sum of
/// `dot4I8Packed` over the packed words of chunk `z`, staged 32 K values at a time.
#[allow(clippy::too_many_arguments)]
pub fn gemm_i8_wide_pass(
    shape: &GemmShape,
    k_chunk: u32,
    tile: WideTile,
    a: &[u32],
    b: &[u32],
    epilogue: &CpuEpilogue<'_>,
    raw: bool,
    out: &mut [f32],
) {
    let (m, n, k) = (shape.m, shape.n, shape.k);
    let steps = k.div_ceil(BK);
    let steps_per_chunk = k_chunk / BK;
    for z in 0..shape.chunks(k_chunk) {
        let (step0, step1) = (z * steps_per_chunk, ((z + 1) * steps_per_chunk).min(steps));
        wide_cells((m, n), tile.dims(), |gm, gn| {
            let mut acc = 0i32;
            for k4 in step0 * BK / 4..step1 * BK / 4 {
                let av = operand_word(a, m, k, shape.trans_a, gm, k4);
                let bv = operand_word(b, n, k, shape.trans_b, gn, k4);
                acc = acc.wrapping_add(dot4_i8_packed(av, bv));
            }
            store_result(epilogue, raw, out, (m, n), acc as f32, (gm, gn), z);
        });
    }
}

/// Replays dispatches of the wide int8 GEMMs on their twin.
pub(crate) const REPLAY: Replay = Replay {
    kernels: &[
        "gemm_i8_wide_128x64",
        "gemm_i8_wide_64x64",
        "gemm_i8_wide_128x128",
    ],
    run: replay,
    // Split-K partials of the int8 GEMM are its int32 accumulators, held exactly in f32.
    words: |_, binding, params| {
        if binding == "out" && read::<GemmParams>(params).flags().raw_partials {
            Words::Exact
        } else {
            Words::Float
        }
    },
};

fn replay(kernel: &str, params: &[u8], bufs: &mut [Vec<u32>]) -> Result<(), String> {
    let [a, b, sa, sb, bias, out] = bufs else {
        return Err(bad_bindings(kernel));
    };
    let Some((crate::abi::GemmVariant::Wide(tile), true)) =
        crate::abi::GemmVariant::of_kernel(kernel)
    else {
        return Err(bad_bindings(kernel));
    };
    let p: GemmParams = read(params);
    let c = gemm_call(&p, sa, sb, bias, out);
    gemm_i8_wide_pass(&c.shape, p.k_chunk, tile, a, b, &c.epilogue, c.raw, c.out);
    Ok(())
}
