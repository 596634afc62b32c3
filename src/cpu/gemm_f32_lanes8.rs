//! Twin of `shaders/gemm_f32_lanes8.wgsl`.

use crate::abi::{GemmParams, GemmShape, GemmVariant, Lanes8Tile};
use crate::cpu::gemm_f32_wide::blocked_pass;
use crate::cpu::gemm_i8::CpuEpilogue;
use crate::cpu::replay::{Replay, Words, bad_bindings, f32s, gemm_call, read};

/// One `gemm_f32_lanes8_<tile>` dispatch: workgroups of the tile's outputs, lane `(ly, lx)` the
/// contiguous block rows `32·ly ..`, columns `16·lx ..`, one fused multiply-add per K value in
/// ascending K within chunk `z`. The subgroup broadcasts move values without changing them,
/// so the arithmetic is the wide kernels' on 32 × 16 blocks.
#[allow(clippy::too_many_arguments)]
pub fn gemm_f32_lanes8_pass(
    shape: &GemmShape,
    k_chunk: u32,
    tile: Lanes8Tile,
    a: &[f32],
    b: &[f32],
    epilogue: &CpuEpilogue<'_>,
    raw: bool,
    out: &mut [f32],
) {
    blocked_pass(shape, k_chunk, tile.dims(), a, b, epilogue, raw, out);
}

/// Replays dispatches of `gemm_f32_lanes8` on its twin.
pub(crate) const REPLAY: Replay = Replay {
    kernels: &["gemm_f32_lanes8_128x128", "gemm_f32_lanes8_64x128"],
    run: replay,
    words: |_, _, _| Words::Float,
};

fn replay(kernel: &str, params: &[u8], bufs: &mut [Vec<u32>]) -> Result<(), String> {
    let [a, b, sa, sb, bias, out] = bufs else {
        return Err(bad_bindings(kernel));
    };
    let Some((GemmVariant::Lanes8(tile), _)) = GemmVariant::of_kernel(kernel) else {
        return Err(format!("{kernel}: not a gemm_f32_lanes8 kernel"));
    };
    let p: GemmParams = read(params);
    let c = gemm_call(&p, sa, sb, bias, out);
    let (a, b) = (f32s(a), f32s(b));
    gemm_f32_lanes8_pass(&c.shape, p.k_chunk, tile, a, b, &c.epilogue, c.raw, c.out);
    Ok(())
}
