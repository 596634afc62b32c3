// gemm_f32_regs: gemm_f32 without workgroup memory or barriers. Each lane computes a 4x8 block of
// outputs from registers (two 4x4 halves, as conv_f32_regs.wgsl explains), loading its four A
// rows and eight B rows straight from storage: each A element loaded serves 8 columns. For the
// skinny GEMMs of small convolutions (6 or 16 output channels, K of 25 or 150) the staging of the
// tiled kernels costs more than it saves, above all on CPU drivers, where every barrier
// suspends and resumes the whole workgroup. Same interface, split-K and per-cell arithmetic
// (one f32 accumulator, K ascending within a chunk) as gemm_f32. Compiled with GATED
// (gemm_f32_regs_gated) it also does the backward of the ReLU before the layer (gemm_gate.wgsl).
// CPU twin: src/cpu/gemm_f32.rs (gemm_f32_regs_pass).
//
// Lanes map to blocks and split-K chunks as regs_block() (gemm_common.wgsl) says.

@group(0) @binding(0) var<uniform> params: GemmParams;
@group(0) @binding(1) var<storage> a: array<f32>;
@group(0) @binding(2) var<storage> b: array<f32>;
@group(0) @binding(3) var<storage> scale_a: array<f32>;
@group(0) @binding(4) var<storage> scale_b: array<f32>;
@group(0) @binding(5) var<storage> bias: array<u32>;
@group(0) @binding(6) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) groups: vec3<u32>) {
    let block = regs_block_of(lid, wid, groups, 4u, 8u);
    if block.w == 0u {
        return;
    }
    let m0 = block.x;
    let n0 = block.y;
    // Element (row, k) of a stored operand sits at row * row_stride + k * k_stride. Rows past the
    // edge read the last row instead of branching: their cells are computed and dropped.
    var a_stride = vec2<u32>(params.k, 1u);
    if (params.flags & TRANS_A) != 0u {
        a_stride = vec2<u32>(1u, params.m);
    }
    var b_stride = vec2<u32>(params.k, 1u);
    if (params.flags & TRANS_B) != 0u {
        b_stride = vec2<u32>(1u, params.n);
    }
    var a_row: array<u32, 4>;
    var b_row: array<u32, 8>;
    for (var i = 0u; i < 4u; i++) {
        a_row[i] = min(m0 + i, params.m - 1u) * a_stride.x;
    }
    for (var j = 0u; j < 8u; j++) {
        b_row[j] = min(n0 + j, params.n - 1u) * b_stride.x;
    }
    let k0 = block.z * params.k_chunk;
    let k1 = min(k0 + params.k_chunk, params.k);
    var acc_lo: array<f32, 16>;
    var acc_hi: array<f32, 16>;
    for (var k = k0; k < k1; k++) {
        var av: array<f32, 4>;
        var bv: array<f32, 8>;
        for (var i = 0u; i < 4u; i++) {
            av[i] = a[a_row[i] + k * a_stride.y];
        }
        for (var j = 0u; j < 8u; j++) {
            bv[j] = b[b_row[j] + k * b_stride.y];
        }
        for (var i = 0u; i < 4u; i++) {
            for (var j = 0u; j < 4u; j++) {
                acc_lo[i * 4u + j] = fma(av[i], bv[j], acc_lo[i * 4u + j]);
                acc_hi[i * 4u + j] = fma(av[i], bv[j + 4u], acc_hi[i * 4u + j]);
            }
        }
    }
    // Cell by cell rather than store_block(): passing the array costs lavapipe a third of this
    // kernel on short-K products; the epilogue's factors are loaded once per row and column.
    for (var j = 0u; j < 4u; j++) {
        let sb = block_scale_b(n0, j);
        let b = block_bias(n0, j);
        for (var i = 0u; i < 4u; i++) {
            let sa = block_scale_a(m0, i);
            store_block_cell(acc_lo[i * 4u + j], m0, n0, i, j, block.z, sa, sb, b,
                gate_keeps(m0 + i, n0 + j));
        }
    }
    for (var j = 4u; j < 8u; j++) {
        let sb = block_scale_b(n0, j);
        let b = block_bias(n0, j);
        for (var i = 0u; i < 4u; i++) {
            let sa = block_scale_a(m0, i);
            store_block_cell(acc_hi[i * 4u + j - 4u], m0, n0, i, j, block.z, sa, sb, b,
                gate_keeps(m0 + i, n0 + j));
        }
    }
}
