// gemm_f32_wide: gemm_f32 on large workgroup tiles, the class of kernel fast GEMMs use. A
// workgroup computes TM x TN outputs; lane (ly, lx) a contiguous RM x RN block of them, rows
// m0 + ly * RM + i, columns n0 + lx * RN + j, from registers. K advances BK values at a time,
// both operands' slices staged through workgroup memory as [kk][row] so that a lane reads its
// rows and columns as vec4s. Per output cell the arithmetic is gemm_f32's: one fma per K value,
// K ascending within a split-K chunk, so every variant gives the same bits. CPU twin:
// src/cpu/gemm_f32_wide.rs.
//
// TM, TN, RM, RN and LANES (= TM / RM * TN / RN) are prepended per variant (src/ops/gemm_wide.rs);
// RN is 8 and RM 8 or 16 in every variant. The accumulators are named variables, one vec4 per
// row and half block (cR_0: columns 0-3 of the block's row R, cR_1: columns 4-7), and the
// block's rows are written out: llvmpipe moves a local array indexed through a loop it does not
// unroll to memory, which made these kernels 2.5x slower there. Loops have constant trip counts:
// llvmpipe also ends an invocation's loops after 65,535 iterations in total.

const BK: u32 = 16u;
const LN: u32 = TN / RN;
const RM4: u32 = RM / 4u;

@group(0) @binding(0) var<uniform> params: GemmParams;
@group(0) @binding(1) var<storage> a: array<f32>;
@group(0) @binding(2) var<storage> b: array<f32>;
@group(0) @binding(3) var<storage> scale_a: array<f32>;
@group(0) @binding(4) var<storage> scale_b: array<f32>;
@group(0) @binding(5) var<storage> bias: array<u32>;
@group(0) @binding(6) var<storage, read_write> out: array<f32>;

var<workgroup> sh_a: array<vec4<f32>, BK * TM / 4u>;
var<workgroup> sh_b: array<vec4<f32>, BK * TN / 4u>;

// Element (row r, K value kk) of a stored operand with `rows` rows: [rows, K], or with `trans`
// [K, rows].
fn at(is_a: bool, trans: bool, rows: u32, r: u32, kk: u32) -> f32 {
    var idx = r * params.k + kk;
    if trans {
        idx = kk * rows + r;
    }
    if is_a {
        return a[idx];
    }
    return b[idx];
}

// Rows r .. r + 3 at K value kk, zero past the edges (padded cells add fma(0, 0, acc) = acc and
// are dropped at the store); `inside`: the whole slice is inside the matrix, no checks needed.
fn quad(is_a: bool, trans: bool, rows: u32, r: u32, kk: u32, inside: bool) -> vec4<f32> {
    if inside {
        return vec4<f32>(at(is_a, trans, rows, r, kk), at(is_a, trans, rows, r + 1u, kk),
            at(is_a, trans, rows, r + 2u, kk), at(is_a, trans, rows, r + 3u, kk));
    }
    var v = vec4<f32>(0.0);
    if kk < params.k {
        for (var i = 0u; i < 4u; i++) {
            if r + i < rows {
                v[i] = at(is_a, trans, rows, r + i, kk);
            }
        }
    }
    return v;
}

// Stages K values k0 .. k0 + BK of the workgroup's TM rows of A and TN rows of B as [kk][row],
// one vec4 of four rows per item.
fn stage(k0: u32, m0: u32, n0: u32, lid: u32) {
    let trans_a = (params.flags & TRANS_A) != 0u;
    let trans_b = (params.flags & TRANS_B) != 0u;
    let k_inside = k0 + BK <= params.k;
    let a_inside = k_inside && m0 + TM <= params.m;
    let b_inside = k_inside && n0 + TN <= params.n;
    for (var s = 0u; s < TM / 4u * BK / LANES; s++) {
        let e = lid + s * LANES;
        // K-major storage: consecutive lanes take consecutive K values of one row quad.
        var r4 = e / BK;
        var kk = e % BK;
        if trans_a {
            r4 = e % (TM / 4u);
            kk = e / (TM / 4u);
        }
        sh_a[kk * TM / 4u + r4] = quad(true, trans_a, params.m, m0 + 4u * r4, k0 + kk, a_inside);
    }
    for (var s = 0u; s < TN / 4u * BK / LANES; s++) {
        let e = lid + s * LANES;
        var r4 = e / BK;
        var kk = e % BK;
        if trans_b {
            r4 = e % (TN / 4u);
            kk = e / (TN / 4u);
        }
        sh_b[kk * TN / 4u + r4] = quad(false, trans_b, params.n, n0 + 4u * r4, k0 + kk, b_inside);
    }
}

@compute @workgroup_size(LANES)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let m0 = wid.y * TM;
    let n0 = wid.x * TN;
    let ly = lid / LN;
    let lx = lid % LN;
    let steps = (params.k + BK - 1u) / BK;
    let steps_per_chunk = params.k_chunk / BK;
    let step0 = wid.z * steps_per_chunk;
    let step1 = min(step0 + steps_per_chunk, steps);

    var c0_0: vec4<f32>;
    var c0_1: vec4<f32>;
    var c1_0: vec4<f32>;
    var c1_1: vec4<f32>;
    var c2_0: vec4<f32>;
    var c2_1: vec4<f32>;
    var c3_0: vec4<f32>;
    var c3_1: vec4<f32>;
    var c4_0: vec4<f32>;
    var c4_1: vec4<f32>;
    var c5_0: vec4<f32>;
    var c5_1: vec4<f32>;
    var c6_0: vec4<f32>;
    var c6_1: vec4<f32>;
    var c7_0: vec4<f32>;
    var c7_1: vec4<f32>;
    var c8_0: vec4<f32>;
    var c8_1: vec4<f32>;
    var c9_0: vec4<f32>;
    var c9_1: vec4<f32>;
    var c10_0: vec4<f32>;
    var c10_1: vec4<f32>;
    var c11_0: vec4<f32>;
    var c11_1: vec4<f32>;
    var c12_0: vec4<f32>;
    var c12_1: vec4<f32>;
    var c13_0: vec4<f32>;
    var c13_1: vec4<f32>;
    var c14_0: vec4<f32>;
    var c14_1: vec4<f32>;
    var c15_0: vec4<f32>;
    var c15_1: vec4<f32>;
    for (var step = step0; step < step1; step++) {
        stage(step * BK, m0, n0, lid);
        workgroupBarrier();
        for (var kk = 0u; kk < BK; kk++) {
            // This lane's rows (RM4 vec4s of A) and columns (two vec4s of B) at kk.
            let ab = (kk * TM) / 4u + ly * RM4;
            let bb = (kk * TN) / 4u + lx * 2u;
            let b0 = sh_b[bb];
            let b1 = sh_b[bb + 1u];
            let a0 = sh_a[ab + 0u];
            c0_0 = fma(vec4<f32>(a0.x), b0, c0_0);
            c0_1 = fma(vec4<f32>(a0.x), b1, c0_1);
            c1_0 = fma(vec4<f32>(a0.y), b0, c1_0);
            c1_1 = fma(vec4<f32>(a0.y), b1, c1_1);
            c2_0 = fma(vec4<f32>(a0.z), b0, c2_0);
            c2_1 = fma(vec4<f32>(a0.z), b1, c2_1);
            c3_0 = fma(vec4<f32>(a0.w), b0, c3_0);
            c3_1 = fma(vec4<f32>(a0.w), b1, c3_1);
            let a1 = sh_a[ab + 1u];
            c4_0 = fma(vec4<f32>(a1.x), b0, c4_0);
            c4_1 = fma(vec4<f32>(a1.x), b1, c4_1);
            c5_0 = fma(vec4<f32>(a1.y), b0, c5_0);
            c5_1 = fma(vec4<f32>(a1.y), b1, c5_1);
            c6_0 = fma(vec4<f32>(a1.z), b0, c6_0);
            c6_1 = fma(vec4<f32>(a1.z), b1, c6_1);
            c7_0 = fma(vec4<f32>(a1.w), b0, c7_0);
            c7_1 = fma(vec4<f32>(a1.w), b1, c7_1);
            if RM4 > 2u {
                let a2 = sh_a[ab + 2u];
                c8_0 = fma(vec4<f32>(a2.x), b0, c8_0);
                c8_1 = fma(vec4<f32>(a2.x), b1, c8_1);
                c9_0 = fma(vec4<f32>(a2.y), b0, c9_0);
                c9_1 = fma(vec4<f32>(a2.y), b1, c9_1);
                c10_0 = fma(vec4<f32>(a2.z), b0, c10_0);
                c10_1 = fma(vec4<f32>(a2.z), b1, c10_1);
                c11_0 = fma(vec4<f32>(a2.w), b0, c11_0);
                c11_1 = fma(vec4<f32>(a2.w), b1, c11_1);
                let a3 = sh_a[ab + 3u];
                c12_0 = fma(vec4<f32>(a3.x), b0, c12_0);
                c12_1 = fma(vec4<f32>(a3.x), b1, c12_1);
                c13_0 = fma(vec4<f32>(a3.y), b0, c13_0);
                c13_1 = fma(vec4<f32>(a3.y), b1, c13_1);
                c14_0 = fma(vec4<f32>(a3.z), b0, c14_0);
                c14_1 = fma(vec4<f32>(a3.z), b1, c14_1);
                c15_0 = fma(vec4<f32>(a3.w), b0, c15_0);
                c15_1 = fma(vec4<f32>(a3.w), b1, c15_1);
            }
        }
        workgroupBarrier();
    }

    let row = m0 + ly * RM;
    let col = n0 + lx * RN;
    let e0 = cols4(col);
    let e1 = cols4(col + 4u);
    store_row4(c0_0, row + 0u, col, wid.z, e0);
    store_row4(c0_1, row + 0u, col + 4u, wid.z, e1);
    store_row4(c1_0, row + 1u, col, wid.z, e0);
    store_row4(c1_1, row + 1u, col + 4u, wid.z, e1);
    store_row4(c2_0, row + 2u, col, wid.z, e0);
    store_row4(c2_1, row + 2u, col + 4u, wid.z, e1);
    store_row4(c3_0, row + 3u, col, wid.z, e0);
    store_row4(c3_1, row + 3u, col + 4u, wid.z, e1);
    store_row4(c4_0, row + 4u, col, wid.z, e0);
    store_row4(c4_1, row + 4u, col + 4u, wid.z, e1);
    store_row4(c5_0, row + 5u, col, wid.z, e0);
    store_row4(c5_1, row + 5u, col + 4u, wid.z, e1);
    store_row4(c6_0, row + 6u, col, wid.z, e0);
    store_row4(c6_1, row + 6u, col + 4u, wid.z, e1);
    store_row4(c7_0, row + 7u, col, wid.z, e0);
    store_row4(c7_1, row + 7u, col + 4u, wid.z, e1);
    if RM4 > 2u {
        store_row4(c8_0, row + 8u, col, wid.z, e0);
        store_row4(c8_1, row + 8u, col + 4u, wid.z, e1);
        store_row4(c9_0, row + 9u, col, wid.z, e0);
        store_row4(c9_1, row + 9u, col + 4u, wid.z, e1);
        store_row4(c10_0, row + 10u, col, wid.z, e0);
        store_row4(c10_1, row + 10u, col + 4u, wid.z, e1);
        store_row4(c11_0, row + 11u, col, wid.z, e0);
        store_row4(c11_1, row + 11u, col + 4u, wid.z, e1);
        store_row4(c12_0, row + 12u, col, wid.z, e0);
        store_row4(c12_1, row + 12u, col + 4u, wid.z, e1);
        store_row4(c13_0, row + 13u, col, wid.z, e0);
        store_row4(c13_1, row + 13u, col + 4u, wid.z, e1);
        store_row4(c14_0, row + 14u, col, wid.z, e0);
        store_row4(c14_1, row + 14u, col + 4u, wid.z, e1);
        store_row4(c15_0, row + 15u, col, wid.z, e0);
        store_row4(c15_1, row + 15u, col + 4u, wid.z, e1);
    }
}
