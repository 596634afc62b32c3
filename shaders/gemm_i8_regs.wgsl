// gemm_i8_regs: gemm_i8 without workgroup memory or barriers. Each lane computes a 4x8 block of
// outputs in int32 registers (two 4x4 halves, as conv_f32_regs.wgsl explains), one packed word
// (four K values) of each of its four A and eight B rows per step, loaded straight from
// storage: each A word serves 8 columns. For the skinny GEMMs of small convolutions the
// staging of the tiled kernels costs more than it saves, above all on CPU drivers, where every
// barrier suspends and resumes the whole workgroup. Same interface, operand layouts, split-K and
// int32 accumulation as gemm_i8, so the same exact integers. Compiled with GATED in the layout
// of an input gradient's GEMM (gemm_i8_regs_nt_gated) it also does the backward of the ReLU
// before the layer (gemm_gate.wgsl). CPU twin: src/cpu/gemm_i8.rs (gemm_i8_regs_pass).
//
// Lanes map to blocks and split-K chunks as regs_block_of() (gemm_common.wgsl) says. Four rows
// of a transposed operand are the four bytes of one stored word per K value, so four words give
// four rows' packed words after a 4x4 byte transpose (B's eight rows: two such groups). The operand layouts
// are the constants REGS_TRANS_A and REGS_TRANS_B, set per kernel (src/ops/gemm.rs declares one
// kernel per layout), not read from the parameters: on CPU drivers a branch on a parameter
// costs the code of both sides.

@group(0) @binding(0) var<uniform> params: GemmParams;
@group(0) @binding(1) var<storage> a: array<u32>;
@group(0) @binding(2) var<storage> b: array<u32>;
@group(0) @binding(3) var<storage> scale_a: array<f32>;
@group(0) @binding(4) var<storage> scale_b: array<f32>;
@group(0) @binding(5) var<storage> bias: array<u32>;
@group(0) @binding(6) var<storage, read_write> out: array<f32>;

fn read(is_a: bool, i: u32) -> u32 {
    if is_a {
        return a[i];
    }
    return b[i];
}

// Packed words K 4*k4 .. 4*k4+3 of rows row0 .. row0+3 of operand A or B. Only A's bytes past K
// are zeroed (masked, or skipped): a zero byte there zeroes the product whatever B holds.
fn load(is_a: bool, trans: bool, rows: u32, row0: u32, k4: u32) -> array<u32, 4> {
    var w: array<u32, 4>;
    if trans {
        let rows4 = (rows + 3u) / 4u;
        // A group past the last row (B's high half at the edge) reads the last: its cells are
        // dropped.
        let col = min(row0 / 4u, rows4 - 1u);
        var t: array<u32, 4>;
        for (var i = 0u; i < 4u; i++) {
            let k = 4u * k4 + i;
            let v = read(is_a, min(k, params.k - 1u) * rows4 + col);
            t[i] = select(v, 0u, is_a && k >= params.k);
        }
        for (var j = 0u; j < 4u; j++) {
            w[j] = byte_column(t[0], t[1], t[2], t[3], j);
        }
    } else {
        let k4_total = (params.k + 3u) / 4u;
        let mask = select(0xffffffffu, k_tail_mask(k4), is_a);
        for (var i = 0u; i < 4u; i++) {
            w[i] = read(is_a, min(row0 + i, rows - 1u) * k4_total + k4) & mask;
        }
    }
    return w;
}

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) groups: vec3<u32>) {
    let block = regs_block_of(lid, wid, groups, 4u, 8u);
    if block.w == 0u {
        return;
    }
    let m0 = block.x;
    let n0 = block.y;
    // Constants of the kernel (one per layout), so that only one layout's code is compiled.
    let trans_a = REGS_TRANS_A;
    let trans_b = REGS_TRANS_B;
    let k4_total = (params.k + 3u) / 4u;
    let k40 = block.z * (params.k_chunk / 4u);
    let k41 = min(k40 + params.k_chunk / 4u, k4_total);
    // Columns n0 .. n0 + 3 and n0 + 4 .. n0 + 7.
    var acc_lo: array<i32, 16>;
    var acc_hi: array<i32, 16>;
    // Words wholly inside K need no mask or clamp: for the layouts of the forward, the input
    // gradient and the weight gradient a loop over them with the addressing set up once and no
    // operand array returned from a function (on lavapipe the forward runs ~20% faster); the
    // general step takes the K tail and the remaining layout.
    let whole = min(k41, params.k / 4u);
    var k4 = k40;
    var a_row: array<u32, 4>;
    var b_row: array<u32, 8>;
    for (var i = 0u; i < 4u; i++) {
        a_row[i] = min(m0 + i, params.m - 1u) * k4_total;
    }
    for (var j = 0u; j < 8u; j++) {
        b_row[j] = min(n0 + j, params.n - 1u) * k4_total;
    }
    let a_col = m0 / 4u;
    let a_rows4 = (params.m + 3u) / 4u;
    let b_rows4 = (params.n + 3u) / 4u;
    let b_col_lo = n0 / 4u;
    // Past the last row group (its cells are dropped) the high half reads the last.
    let b_col_hi = min(n0 / 4u + 1u, b_rows4 - 1u);
    if !trans_a && !trans_b {
        // Forward: both K-major.
        for (; k4 < whole; k4++) {
            var av: array<u32, 4>;
            var bv: array<u32, 8>;
            for (var i = 0u; i < 4u; i++) {
                av[i] = a[a_row[i] + k4];
                bv[i] = b[b_row[i] + k4];
                bv[i + 4u] = b[b_row[i + 4u] + k4];
            }
            for (var i = 0u; i < 4u; i++) {
                for (var j = 0u; j < 4u; j++) {
                    acc_lo[i * 4u + j] += dot4I8Packed(av[i], bv[j]);
                    acc_hi[i * 4u + j] += dot4I8Packed(av[i], bv[j + 4u]);
                }
            }
        }
    } else if !trans_a && trans_b {
        // Input gradient: A K-major, B transposed.
        for (; k4 < whole; k4++) {
            var av: array<u32, 4>;
            var tb_lo: array<u32, 4>;
            var tb_hi: array<u32, 4>;
            for (var i = 0u; i < 4u; i++) {
                av[i] = a[a_row[i] + k4];
                tb_lo[i] = b[(4u * k4 + i) * b_rows4 + b_col_lo];
                tb_hi[i] = b[(4u * k4 + i) * b_rows4 + b_col_hi];
            }
            for (var j = 0u; j < 4u; j++) {
                let bj_lo = byte_column(tb_lo[0], tb_lo[1], tb_lo[2], tb_lo[3], j);
                let bj_hi = byte_column(tb_hi[0], tb_hi[1], tb_hi[2], tb_hi[3], j);
                for (var i = 0u; i < 4u; i++) {
                    acc_lo[i * 4u + j] += dot4I8Packed(av[i], bj_lo);
                    acc_hi[i * 4u + j] += dot4I8Packed(av[i], bj_hi);
                }
            }
        }
    } else if trans_a && trans_b {
        // Weight gradient: both transposed. Each half in loops of the 4x4 kernel's size: with
        // bounds checks compiled in (a host's device), larger loop bodies are not unrolled, and
        // llvmpipe ends an invocation's loops after 65,535 iterations in total.
        for (; k4 < whole; k4++) {
            var ta: array<u32, 4>;
            var tb_lo: array<u32, 4>;
            var tb_hi: array<u32, 4>;
            for (var i = 0u; i < 4u; i++) {
                ta[i] = a[(4u * k4 + i) * a_rows4 + a_col];
                tb_lo[i] = b[(4u * k4 + i) * b_rows4 + b_col_lo];
            }
            for (var i = 0u; i < 4u; i++) {
                tb_hi[i] = b[(4u * k4 + i) * b_rows4 + b_col_hi];
            }
            var bv_lo: array<u32, 4>;
            var bv_hi: array<u32, 4>;
            for (var j = 0u; j < 4u; j++) {
                bv_lo[j] = byte_column(tb_lo[0], tb_lo[1], tb_lo[2], tb_lo[3], j);
            }
            for (var j = 0u; j < 4u; j++) {
                bv_hi[j] = byte_column(tb_hi[0], tb_hi[1], tb_hi[2], tb_hi[3], j);
            }
            for (var i = 0u; i < 4u; i++) {
                let ai = byte_column(ta[0], ta[1], ta[2], ta[3], i);
                for (var j = 0u; j < 4u; j++) {
                    acc_lo[i * 4u + j] += dot4I8Packed(ai, bv_lo[j]);
                }
            }
            for (var i = 0u; i < 4u; i++) {
                let ai = byte_column(ta[0], ta[1], ta[2], ta[3], i);
                for (var j = 0u; j < 4u; j++) {
                    acc_hi[i * 4u + j] += dot4I8Packed(ai, bv_hi[j]);
                }
            }
        }
    }
    for (; k4 < k41; k4++) {
        let av = load(true, trans_a, params.m, m0, k4);
        let bv_lo = load(false, trans_b, params.n, n0, k4);
        let bv_hi = load(false, trans_b, params.n, n0 + 4u, k4);
        for (var i = 0u; i < 4u; i++) {
            for (var j = 0u; j < 4u; j++) {
                acc_lo[i * 4u + j] += dot4I8Packed(av[i], bv_lo[j]);
                acc_hi[i * 4u + j] += dot4I8Packed(av[i], bv_hi[j]);
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
            store_block_cell(f32(acc_lo[i * 4u + j]), m0, n0, i, j, block.z, sa, sb, b,
                gate_keeps(m0 + i, n0 + j));
        }
    }
    for (var j = 4u; j < 8u; j++) {
        let sb = block_scale_b(n0, j);
        let b = block_bias(n0, j);
        for (var i = 0u; i < 4u; i++) {
            let sa = block_scale_a(m0, i);
            store_block_cell(f32(acc_hi[i * 4u + j - 4u]), m0, n0, i, j, block.z, sa, sb, b,
                gate_keeps(m0 + i, n0 + j));
        }
    }
}
