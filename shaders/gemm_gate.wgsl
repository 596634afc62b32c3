// Shared by the register-blocked GEMMs (prepended by src/gpu/kernel.rs, after gemm_common.wgsl
// and the kernel's GATED constant): the backward of the ReLU before a layer, done by that
// layer's input-gradient GEMM (gemm_f32_regs_gated, gemm_i8_regs_nt_gated). Its mask
// (GATE_MASK: bit e % 32 of word e / 32) or its output (GATE_VALUES: f32 bits) is bound in the
// bias's place; a cell whose element the ReLU zeroed is stored as 0, what the ReLU's own
// backward pass would write. A constant, not a flag test alone: CPU drivers run tests on uniform
// flags per cell predicated, loads included, and every GEMM paid 10-20% for them.

// Whether cell (gm, gn) keeps its value: always without GATED, and outside the output (not
// stored; its element would lie past the gate's buffer).
fn gate_keeps(gm: u32, gn: u32) -> bool {
    if !GATED || gm >= params.m || gn >= params.n {
        return true;
    }
    let e = gm * params.n + gn;
    if (params.flags & GATE_MASK) != 0u {
        return ((bias[e / 32u] >> (e % 32u)) & 1u) != 0u;
    }
    return bitcast<f32>(bias[e]) > 0.0;
}
