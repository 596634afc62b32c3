// gemm_f32_lanes8: gemm_f32 for CPU drivers, whose subgroups are the 8 lanes of one SIMD vector
// (lavapipe on 256-bit vectors). A workgroup of TM / 4 lanes (TM and LANES prepended per tile,
// src/ops/gemm_wide.rs) computes TM x 128 outputs; lane (ly, lx) = (lid / 8, lid % 8) a
// contiguous 32 x 16 block of them, rows m0 + 32 ly + i, columns n0 + 16 lx + j. The 8 lanes of
// a subgroup share their 32 rows: each reads one vec4 of them from workgroup memory and
// subgroupBroadcast passes it to the others, for the driver reads workgroup memory lane by
// lane, a loop of 8 per load, and those loops were half the time of gemm_f32_wide. Operands are
// bound as vec4s: staging reads four K values (or, transposed, four rows) per load. Per output
// cell the arithmetic is gemm_f32's: one fma per K value, K ascending within a split-K chunk,
// so the variants give the same bits. Offered only where subgroups are exactly 8 lanes and both
// operands hold a multiple of 4 values (the vec4 views cover them). The accumulators are named
// variables, written out, for the reason gemm_f32_wide.wgsl gives. CPU twin:
// src/cpu/gemm_f32_lanes8.rs.

const TN: u32 = 128u;
const BK: u32 = 16u;
// vec4s of a lane's 32 rows; lane l of a subgroup reads the l-th.
const RM4: u32 = 8u;
// vec4s of a lane's 16 columns.
const RN4: u32 = 4u;

@group(0) @binding(0) var<uniform> params: GemmParams;
@group(0) @binding(1) var<storage> a: array<vec4<f32>>;
@group(0) @binding(2) var<storage> b: array<vec4<f32>>;
@group(0) @binding(3) var<storage> scale_a: array<f32>;
@group(0) @binding(4) var<storage> scale_b: array<f32>;
@group(0) @binding(5) var<storage> bias: array<u32>;
@group(0) @binding(6) var<storage, read_write> out: array<f32>;

var<workgroup> sh_a: array<vec4<f32>, BK * TM / 4u>;
var<workgroup> sh_b: array<vec4<f32>, BK * TN / 4u>;

// Value idx of operand A (is_a) or B.
fn at(is_a: bool, idx: u32) -> f32 {
    if is_a {
        return a[idx >> 2u][idx & 3u];
    }
    return b[idx >> 2u][idx & 3u];
}

// The vec4 of values idx .. idx + 3 (idx a multiple of 4).
fn at4(is_a: bool, idx: u32) -> vec4<f32> {
    if is_a {
        return a[idx >> 2u];
    }
    return b[idx >> 2u];
}

// Index of (row r, K value kk) of an operand with `rows` rows, stored [rows, K] or, with
// `trans`, [K, rows].
fn index(trans: bool, rows: u32, r: u32, kk: u32) -> u32 {
    if trans {
        return kk * rows + r;
    }
    return r * params.k + kk;
}

// Stages K values k0 .. k0 + BK of one operand's `tile` rows (TM for A, TN for B) from r0 into sh_a
// (is_a) or sh_b as [kk][row], one vec4 of four rows per item. `inside`: the slice lies inside
// the matrix.
fn stage_one(is_a: bool, trans: bool, rows: u32, r0: u32, k0: u32, inside: bool, lid: u32,
             tile: u32) {
    if inside && trans && rows % 4u == 0u {
        // Four rows at one K value are one vec4 of the operand: copied as they are.
        for (var s = 0u; s < tile / 4u * BK / LANES; s++) {
            let e = lid + s * LANES;
            let r4 = e % (tile / 4u);
            let kk = e / (tile / 4u);
            put(is_a, kk * tile / 4u + r4, at4(is_a, (k0 + kk) * rows + r0 + 4u * r4));
        }
        return;
    }
    if inside && !trans && params.k % 4u == 0u {
        // Four K values of four rows are four vec4s, transposed in registers.
        for (var s = 0u; s < tile / 4u * BK / 4u / LANES; s++) {
            let e = lid + s * LANES;
            let k4 = e % (BK / 4u);
            let r4 = e / (BK / 4u);
            let i0 = (r0 + 4u * r4) * params.k + k0 + 4u * k4;
            let v0 = at4(is_a, i0);
            let v1 = at4(is_a, i0 + params.k);
            let v2 = at4(is_a, i0 + 2u * params.k);
            let v3 = at4(is_a, i0 + 3u * params.k);
            let kb = 4u * k4 * tile / 4u + r4;
            put(is_a, kb, vec4<f32>(v0.x, v1.x, v2.x, v3.x));
            put(is_a, kb + tile / 4u, vec4<f32>(v0.y, v1.y, v2.y, v3.y));
            put(is_a, kb + 2u * tile / 4u, vec4<f32>(v0.z, v1.z, v2.z, v3.z));
            put(is_a, kb + 3u * tile / 4u, vec4<f32>(v0.w, v1.w, v2.w, v3.w));
        }
        return;
    }
    // At the edges value by value, zero past them (padded cells add fma(0, 0, acc) = acc and are
    // dropped at the store).
    for (var s = 0u; s < tile / 4u * BK / LANES; s++) {
        let e = lid + s * LANES;
        let r4 = e % (tile / 4u);
        let kk = e / (tile / 4u);
        var v = vec4<f32>(0.0);
        if k0 + kk < params.k {
            for (var i = 0u; i < 4u; i++) {
                let r = r0 + 4u * r4 + i;
                if r < rows {
                    v[i] = at(is_a, index(trans, rows, r, k0 + kk));
                }
            }
        }
        put(is_a, kk * tile / 4u + r4, v);
    }
}

fn put(is_a: bool, i: u32, v: vec4<f32>) {
    if is_a {
        sh_a[i] = v;
    } else {
        sh_b[i] = v;
    }
}

fn stage(k0: u32, m0: u32, n0: u32, lid: u32) {
    let k_inside = k0 + BK <= params.k;
    stage_one(true, (params.flags & TRANS_A) != 0u, params.m, m0, k0,
        k_inside && m0 + TM <= params.m, lid, TM);
    stage_one(false, (params.flags & TRANS_B) != 0u, params.n, n0, k0,
        k_inside && n0 + TN <= params.n, lid, TN);
}

@compute @workgroup_size(LANES)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let m0 = wid.y * TM;
    let n0 = wid.x * TN;
    let ly = lid / 8u;
    let lx = lid % 8u;
    let steps = (params.k + BK - 1u) / BK;
    let steps_per_chunk = params.k_chunk / BK;
    let step0 = wid.z * steps_per_chunk;
    let step1 = min(step0 + steps_per_chunk, steps);

    var c0_0: vec4<f32>; var c0_1: vec4<f32>; var c0_2: vec4<f32>; var c0_3: vec4<f32>;
    var c1_0: vec4<f32>; var c1_1: vec4<f32>; var c1_2: vec4<f32>; var c1_3: vec4<f32>;
    var c2_0: vec4<f32>; var c2_1: vec4<f32>; var c2_2: vec4<f32>; var c2_3: vec4<f32>;
    var c3_0: vec4<f32>; var c3_1: vec4<f32>; var c3_2: vec4<f32>; var c3_3: vec4<f32>;
    var c4_0: vec4<f32>; var c4_1: vec4<f32>; var c4_2: vec4<f32>; var c4_3: vec4<f32>;
    var c5_0: vec4<f32>; var c5_1: vec4<f32>; var c5_2: vec4<f32>; var c5_3: vec4<f32>;
    var c6_0: vec4<f32>; var c6_1: vec4<f32>; var c6_2: vec4<f32>; var c6_3: vec4<f32>;
    var c7_0: vec4<f32>; var c7_1: vec4<f32>; var c7_2: vec4<f32>; var c7_3: vec4<f32>;
    var c8_0: vec4<f32>; var c8_1: vec4<f32>; var c8_2: vec4<f32>; var c8_3: vec4<f32>;
    var c9_0: vec4<f32>; var c9_1: vec4<f32>; var c9_2: vec4<f32>; var c9_3: vec4<f32>;
    var c10_0: vec4<f32>; var c10_1: vec4<f32>; var c10_2: vec4<f32>; var c10_3: vec4<f32>;
    var c11_0: vec4<f32>; var c11_1: vec4<f32>; var c11_2: vec4<f32>; var c11_3: vec4<f32>;
    var c12_0: vec4<f32>; var c12_1: vec4<f32>; var c12_2: vec4<f32>; var c12_3: vec4<f32>;
    var c13_0: vec4<f32>; var c13_1: vec4<f32>; var c13_2: vec4<f32>; var c13_3: vec4<f32>;
    var c14_0: vec4<f32>; var c14_1: vec4<f32>; var c14_2: vec4<f32>; var c14_3: vec4<f32>;
    var c15_0: vec4<f32>; var c15_1: vec4<f32>; var c15_2: vec4<f32>; var c15_3: vec4<f32>;
    var c16_0: vec4<f32>; var c16_1: vec4<f32>; var c16_2: vec4<f32>; var c16_3: vec4<f32>;
    var c17_0: vec4<f32>; var c17_1: vec4<f32>; var c17_2: vec4<f32>; var c17_3: vec4<f32>;
    var c18_0: vec4<f32>; var c18_1: vec4<f32>; var c18_2: vec4<f32>; var c18_3: vec4<f32>;
    var c19_0: vec4<f32>; var c19_1: vec4<f32>; var c19_2: vec4<f32>; var c19_3: vec4<f32>;
    var c20_0: vec4<f32>; var c20_1: vec4<f32>; var c20_2: vec4<f32>; var c20_3: vec4<f32>;
    var c21_0: vec4<f32>; var c21_1: vec4<f32>; var c21_2: vec4<f32>; var c21_3: vec4<f32>;
    var c22_0: vec4<f32>; var c22_1: vec4<f32>; var c22_2: vec4<f32>; var c22_3: vec4<f32>;
    var c23_0: vec4<f32>; var c23_1: vec4<f32>; var c23_2: vec4<f32>; var c23_3: vec4<f32>;
    var c24_0: vec4<f32>; var c24_1: vec4<f32>; var c24_2: vec4<f32>; var c24_3: vec4<f32>;
    var c25_0: vec4<f32>; var c25_1: vec4<f32>; var c25_2: vec4<f32>; var c25_3: vec4<f32>;
    var c26_0: vec4<f32>; var c26_1: vec4<f32>; var c26_2: vec4<f32>; var c26_3: vec4<f32>;
    var c27_0: vec4<f32>; var c27_1: vec4<f32>; var c27_2: vec4<f32>; var c27_3: vec4<f32>;
    var c28_0: vec4<f32>; var c28_1: vec4<f32>; var c28_2: vec4<f32>; var c28_3: vec4<f32>;
    var c29_0: vec4<f32>; var c29_1: vec4<f32>; var c29_2: vec4<f32>; var c29_3: vec4<f32>;
    var c30_0: vec4<f32>; var c30_1: vec4<f32>; var c30_2: vec4<f32>; var c30_3: vec4<f32>;
    var c31_0: vec4<f32>; var c31_1: vec4<f32>; var c31_2: vec4<f32>; var c31_3: vec4<f32>;
    for (var step = step0; step < step1; step++) {
        stage(step * BK, m0, n0, lid);
        workgroupBarrier();
        for (var kk = 0u; kk < BK; kk++) {
            // Lane lx of the subgroup reads the lx-th vec4 of the shared rows.
            let va = sh_a[(kk * TM) / 4u + ly * RM4 + lx];
            let bb = (kk * TN) / 4u + lx * RN4;
            let b0 = sh_b[bb + 0u];
            let b1 = sh_b[bb + 1u];
            let b2 = sh_b[bb + 2u];
            let b3 = sh_b[bb + 3u];
            let a0 = subgroupBroadcast(va, 0u);
            c0_0 = fma(vec4<f32>(a0.x), b0, c0_0); c0_1 = fma(vec4<f32>(a0.x), b1, c0_1); c0_2 = fma(vec4<f32>(a0.x), b2, c0_2); c0_3 = fma(vec4<f32>(a0.x), b3, c0_3);
            c1_0 = fma(vec4<f32>(a0.y), b0, c1_0); c1_1 = fma(vec4<f32>(a0.y), b1, c1_1); c1_2 = fma(vec4<f32>(a0.y), b2, c1_2); c1_3 = fma(vec4<f32>(a0.y), b3, c1_3);
            c2_0 = fma(vec4<f32>(a0.z), b0, c2_0); c2_1 = fma(vec4<f32>(a0.z), b1, c2_1); c2_2 = fma(vec4<f32>(a0.z), b2, c2_2); c2_3 = fma(vec4<f32>(a0.z), b3, c2_3);
            c3_0 = fma(vec4<f32>(a0.w), b0, c3_0); c3_1 = fma(vec4<f32>(a0.w), b1, c3_1); c3_2 = fma(vec4<f32>(a0.w), b2, c3_2); c3_3 = fma(vec4<f32>(a0.w), b3, c3_3);
            let a1 = subgroupBroadcast(va, 1u);
            c4_0 = fma(vec4<f32>(a1.x), b0, c4_0); c4_1 = fma(vec4<f32>(a1.x), b1, c4_1); c4_2 = fma(vec4<f32>(a1.x), b2, c4_2); c4_3 = fma(vec4<f32>(a1.x), b3, c4_3);
            c5_0 = fma(vec4<f32>(a1.y), b0, c5_0); c5_1 = fma(vec4<f32>(a1.y), b1, c5_1); c5_2 = fma(vec4<f32>(a1.y), b2, c5_2); c5_3 = fma(vec4<f32>(a1.y), b3, c5_3);
            c6_0 = fma(vec4<f32>(a1.z), b0, c6_0); c6_1 = fma(vec4<f32>(a1.z), b1, c6_1); c6_2 = fma(vec4<f32>(a1.z), b2, c6_2); c6_3 = fma(vec4<f32>(a1.z), b3, c6_3);
            c7_0 = fma(vec4<f32>(a1.w), b0, c7_0); c7_1 = fma(vec4<f32>(a1.w), b1, c7_1); c7_2 = fma(vec4<f32>(a1.w), b2, c7_2); c7_3 = fma(vec4<f32>(a1.w), b3, c7_3);
            let a2 = subgroupBroadcast(va, 2u);
            c8_0 = fma(vec4<f32>(a2.x), b0, c8_0); c8_1 = fma(vec4<f32>(a2.x), b1, c8_1); c8_2 = fma(vec4<f32>(a2.x), b2, c8_2); c8_3 = fma(vec4<f32>(a2.x), b3, c8_3);
            c9_0 = fma(vec4<f32>(a2.y), b0, c9_0); c9_1 = fma(vec4<f32>(a2.y), b1, c9_1); c9_2 = fma(vec4<f32>(a2.y), b2, c9_2); c9_3 = fma(vec4<f32>(a2.y), b3, c9_3);
            c10_0 = fma(vec4<f32>(a2.z), b0, c10_0); c10_1 = fma(vec4<f32>(a2.z), b1, c10_1); c10_2 = fma(vec4<f32>(a2.z), b2, c10_2); c10_3 = fma(vec4<f32>(a2.z), b3, c10_3);
            c11_0 = fma(vec4<f32>(a2.w), b0, c11_0); c11_1 = fma(vec4<f32>(a2.w), b1, c11_1); c11_2 = fma(vec4<f32>(a2.w), b2, c11_2); c11_3 = fma(vec4<f32>(a2.w), b3, c11_3);
            let a3 = subgroupBroadcast(va, 3u);
            c12_0 = fma(vec4<f32>(a3.x), b0, c12_0); c12_1 = fma(vec4<f32>(a3.x), b1, c12_1); c12_2 = fma(vec4<f32>(a3.x), b2, c12_2); c12_3 = fma(vec4<f32>(a3.x), b3, c12_3);
            c13_0 = fma(vec4<f32>(a3.y), b0, c13_0); c13_1 = fma(vec4<f32>(a3.y), b1, c13_1); c13_2 = fma(vec4<f32>(a3.y), b2, c13_2); c13_3 = fma(vec4<f32>(a3.y), b3, c13_3);
            c14_0 = fma(vec4<f32>(a3.z), b0, c14_0); c14_1 = fma(vec4<f32>(a3.z), b1, c14_1); c14_2 = fma(vec4<f32>(a3.z), b2, c14_2); c14_3 = fma(vec4<f32>(a3.z), b3, c14_3);
            c15_0 = fma(vec4<f32>(a3.w), b0, c15_0); c15_1 = fma(vec4<f32>(a3.w), b1, c15_1); c15_2 = fma(vec4<f32>(a3.w), b2, c15_2); c15_3 = fma(vec4<f32>(a3.w), b3, c15_3);
            let a4 = subgroupBroadcast(va, 4u);
            c16_0 = fma(vec4<f32>(a4.x), b0, c16_0); c16_1 = fma(vec4<f32>(a4.x), b1, c16_1); c16_2 = fma(vec4<f32>(a4.x), b2, c16_2); c16_3 = fma(vec4<f32>(a4.x), b3, c16_3);
            c17_0 = fma(vec4<f32>(a4.y), b0, c17_0); c17_1 = fma(vec4<f32>(a4.y), b1, c17_1); c17_2 = fma(vec4<f32>(a4.y), b2, c17_2); c17_3 = fma(vec4<f32>(a4.y), b3, c17_3);
            c18_0 = fma(vec4<f32>(a4.z), b0, c18_0); c18_1 = fma(vec4<f32>(a4.z), b1, c18_1); c18_2 = fma(vec4<f32>(a4.z), b2, c18_2); c18_3 = fma(vec4<f32>(a4.z), b3, c18_3);
            c19_0 = fma(vec4<f32>(a4.w), b0, c19_0); c19_1 = fma(vec4<f32>(a4.w), b1, c19_1); c19_2 = fma(vec4<f32>(a4.w), b2, c19_2); c19_3 = fma(vec4<f32>(a4.w), b3, c19_3);
            let a5 = subgroupBroadcast(va, 5u);
            c20_0 = fma(vec4<f32>(a5.x), b0, c20_0); c20_1 = fma(vec4<f32>(a5.x), b1, c20_1); c20_2 = fma(vec4<f32>(a5.x), b2, c20_2); c20_3 = fma(vec4<f32>(a5.x), b3, c20_3);
            c21_0 = fma(vec4<f32>(a5.y), b0, c21_0); c21_1 = fma(vec4<f32>(a5.y), b1, c21_1); c21_2 = fma(vec4<f32>(a5.y), b2, c21_2); c21_3 = fma(vec4<f32>(a5.y), b3, c21_3);
            c22_0 = fma(vec4<f32>(a5.z), b0, c22_0); c22_1 = fma(vec4<f32>(a5.z), b1, c22_1); c22_2 = fma(vec4<f32>(a5.z), b2, c22_2); c22_3 = fma(vec4<f32>(a5.z), b3, c22_3);
            c23_0 = fma(vec4<f32>(a5.w), b0, c23_0); c23_1 = fma(vec4<f32>(a5.w), b1, c23_1); c23_2 = fma(vec4<f32>(a5.w), b2, c23_2); c23_3 = fma(vec4<f32>(a5.w), b3, c23_3);
            let a6 = subgroupBroadcast(va, 6u);
            c24_0 = fma(vec4<f32>(a6.x), b0, c24_0); c24_1 = fma(vec4<f32>(a6.x), b1, c24_1); c24_2 = fma(vec4<f32>(a6.x), b2, c24_2); c24_3 = fma(vec4<f32>(a6.x), b3, c24_3);
            c25_0 = fma(vec4<f32>(a6.y), b0, c25_0); c25_1 = fma(vec4<f32>(a6.y), b1, c25_1); c25_2 = fma(vec4<f32>(a6.y), b2, c25_2); c25_3 = fma(vec4<f32>(a6.y), b3, c25_3);
            c26_0 = fma(vec4<f32>(a6.z), b0, c26_0); c26_1 = fma(vec4<f32>(a6.z), b1, c26_1); c26_2 = fma(vec4<f32>(a6.z), b2, c26_2); c26_3 = fma(vec4<f32>(a6.z), b3, c26_3);
            c27_0 = fma(vec4<f32>(a6.w), b0, c27_0); c27_1 = fma(vec4<f32>(a6.w), b1, c27_1); c27_2 = fma(vec4<f32>(a6.w), b2, c27_2); c27_3 = fma(vec4<f32>(a6.w), b3, c27_3);
            let a7 = subgroupBroadcast(va, 7u);
            c28_0 = fma(vec4<f32>(a7.x), b0, c28_0); c28_1 = fma(vec4<f32>(a7.x), b1, c28_1); c28_2 = fma(vec4<f32>(a7.x), b2, c28_2); c28_3 = fma(vec4<f32>(a7.x), b3, c28_3);
            c29_0 = fma(vec4<f32>(a7.y), b0, c29_0); c29_1 = fma(vec4<f32>(a7.y), b1, c29_1); c29_2 = fma(vec4<f32>(a7.y), b2, c29_2); c29_3 = fma(vec4<f32>(a7.y), b3, c29_3);
            c30_0 = fma(vec4<f32>(a7.z), b0, c30_0); c30_1 = fma(vec4<f32>(a7.z), b1, c30_1); c30_2 = fma(vec4<f32>(a7.z), b2, c30_2); c30_3 = fma(vec4<f32>(a7.z), b3, c30_3);
            c31_0 = fma(vec4<f32>(a7.w), b0, c31_0); c31_1 = fma(vec4<f32>(a7.w), b1, c31_1); c31_2 = fma(vec4<f32>(a7.w), b2, c31_2); c31_3 = fma(vec4<f32>(a7.w), b3, c31_3);
        }
        workgroupBarrier();
    }

    let row = m0 + ly * 32u;
    let col = n0 + lx * 16u;
    let e0 = cols4(col);
    let e1 = cols4(col + 4u);
    let e2 = cols4(col + 8u);
    let e3 = cols4(col + 12u);
    store_row4(c0_0, row + 0u, col + 0u, wid.z, e0); store_row4(c0_1, row + 0u, col + 4u, wid.z, e1); store_row4(c0_2, row + 0u, col + 8u, wid.z, e2); store_row4(c0_3, row + 0u, col + 12u, wid.z, e3);
    store_row4(c1_0, row + 1u, col + 0u, wid.z, e0); store_row4(c1_1, row + 1u, col + 4u, wid.z, e1); store_row4(c1_2, row + 1u, col + 8u, wid.z, e2); store_row4(c1_3, row + 1u, col + 12u, wid.z, e3);
    store_row4(c2_0, row + 2u, col + 0u, wid.z, e0); store_row4(c2_1, row + 2u, col + 4u, wid.z, e1); store_row4(c2_2, row + 2u, col + 8u, wid.z, e2); store_row4(c2_3, row + 2u, col + 12u, wid.z, e3);
    store_row4(c3_0, row + 3u, col + 0u, wid.z, e0); store_row4(c3_1, row + 3u, col + 4u, wid.z, e1); store_row4(c3_2, row + 3u, col + 8u, wid.z, e2); store_row4(c3_3, row + 3u, col + 12u, wid.z, e3);
    store_row4(c4_0, row + 4u, col + 0u, wid.z, e0); store_row4(c4_1, row + 4u, col + 4u, wid.z, e1); store_row4(c4_2, row + 4u, col + 8u, wid.z, e2); store_row4(c4_3, row + 4u, col + 12u, wid.z, e3);
    store_row4(c5_0, row + 5u, col + 0u, wid.z, e0); store_row4(c5_1, row + 5u, col + 4u, wid.z, e1); store_row4(c5_2, row + 5u, col + 8u, wid.z, e2); store_row4(c5_3, row + 5u, col + 12u, wid.z, e3);
    store_row4(c6_0, row + 6u, col + 0u, wid.z, e0); store_row4(c6_1, row + 6u, col + 4u, wid.z, e1); store_row4(c6_2, row + 6u, col + 8u, wid.z, e2); store_row4(c6_3, row + 6u, col + 12u, wid.z, e3);
    store_row4(c7_0, row + 7u, col + 0u, wid.z, e0); store_row4(c7_1, row + 7u, col + 4u, wid.z, e1); store_row4(c7_2, row + 7u, col + 8u, wid.z, e2); store_row4(c7_3, row + 7u, col + 12u, wid.z, e3);
    store_row4(c8_0, row + 8u, col + 0u, wid.z, e0); store_row4(c8_1, row + 8u, col + 4u, wid.z, e1); store_row4(c8_2, row + 8u, col + 8u, wid.z, e2); store_row4(c8_3, row + 8u, col + 12u, wid.z, e3);
    store_row4(c9_0, row + 9u, col + 0u, wid.z, e0); store_row4(c9_1, row + 9u, col + 4u, wid.z, e1); store_row4(c9_2, row + 9u, col + 8u, wid.z, e2); store_row4(c9_3, row + 9u, col + 12u, wid.z, e3);
    store_row4(c10_0, row + 10u, col + 0u, wid.z, e0); store_row4(c10_1, row + 10u, col + 4u, wid.z, e1); store_row4(c10_2, row + 10u, col + 8u, wid.z, e2); store_row4(c10_3, row + 10u, col + 12u, wid.z, e3);
    store_row4(c11_0, row + 11u, col + 0u, wid.z, e0); store_row4(c11_1, row + 11u, col + 4u, wid.z, e1); store_row4(c11_2, row + 11u, col + 8u, wid.z, e2); store_row4(c11_3, row + 11u, col + 12u, wid.z, e3);
    store_row4(c12_0, row + 12u, col + 0u, wid.z, e0); store_row4(c12_1, row + 12u, col + 4u, wid.z, e1); store_row4(c12_2, row + 12u, col + 8u, wid.z, e2); store_row4(c12_3, row + 12u, col + 12u, wid.z, e3);
    store_row4(c13_0, row + 13u, col + 0u, wid.z, e0); store_row4(c13_1, row + 13u, col + 4u, wid.z, e1); store_row4(c13_2, row + 13u, col + 8u, wid.z, e2); store_row4(c13_3, row + 13u, col + 12u, wid.z, e3);
    store_row4(c14_0, row + 14u, col + 0u, wid.z, e0); store_row4(c14_1, row + 14u, col + 4u, wid.z, e1); store_row4(c14_2, row + 14u, col + 8u, wid.z, e2); store_row4(c14_3, row + 14u, col + 12u, wid.z, e3);
    store_row4(c15_0, row + 15u, col + 0u, wid.z, e0); store_row4(c15_1, row + 15u, col + 4u, wid.z, e1); store_row4(c15_2, row + 15u, col + 8u, wid.z, e2); store_row4(c15_3, row + 15u, col + 12u, wid.z, e3);
    store_row4(c16_0, row + 16u, col + 0u, wid.z, e0); store_row4(c16_1, row + 16u, col + 4u, wid.z, e1); store_row4(c16_2, row + 16u, col + 8u, wid.z, e2); store_row4(c16_3, row + 16u, col + 12u, wid.z, e3);
    store_row4(c17_0, row + 17u, col + 0u, wid.z, e0); store_row4(c17_1, row + 17u, col + 4u, wid.z, e1); store_row4(c17_2, row + 17u, col + 8u, wid.z, e2); store_row4(c17_3, row + 17u, col + 12u, wid.z, e3);
    store_row4(c18_0, row + 18u, col + 0u, wid.z, e0); store_row4(c18_1, row + 18u, col + 4u, wid.z, e1); store_row4(c18_2, row + 18u, col + 8u, wid.z, e2); store_row4(c18_3, row + 18u, col + 12u, wid.z, e3);
    store_row4(c19_0, row + 19u, col + 0u, wid.z, e0); store_row4(c19_1, row + 19u, col + 4u, wid.z, e1); store_row4(c19_2, row + 19u, col + 8u, wid.z, e2); store_row4(c19_3, row + 19u, col + 12u, wid.z, e3);
    store_row4(c20_0, row + 20u, col + 0u, wid.z, e0); store_row4(c20_1, row + 20u, col + 4u, wid.z, e1); store_row4(c20_2, row + 20u, col + 8u, wid.z, e2); store_row4(c20_3, row + 20u, col + 12u, wid.z, e3);
    store_row4(c21_0, row + 21u, col + 0u, wid.z, e0); store_row4(c21_1, row + 21u, col + 4u, wid.z, e1); store_row4(c21_2, row + 21u, col + 8u, wid.z, e2); store_row4(c21_3, row + 21u, col + 12u, wid.z, e3);
    store_row4(c22_0, row + 22u, col + 0u, wid.z, e0); store_row4(c22_1, row + 22u, col + 4u, wid.z, e1); store_row4(c22_2, row + 22u, col + 8u, wid.z, e2); store_row4(c22_3, row + 22u, col + 12u, wid.z, e3);
    store_row4(c23_0, row + 23u, col + 0u, wid.z, e0); store_row4(c23_1, row + 23u, col + 4u, wid.z, e1); store_row4(c23_2, row + 23u, col + 8u, wid.z, e2); store_row4(c23_3, row + 23u, col + 12u, wid.z, e3);
    store_row4(c24_0, row + 24u, col + 0u, wid.z, e0); store_row4(c24_1, row + 24u, col + 4u, wid.z, e1); store_row4(c24_2, row + 24u, col + 8u, wid.z, e2); store_row4(c24_3, row + 24u, col + 12u, wid.z, e3);
    store_row4(c25_0, row + 25u, col + 0u, wid.z, e0); store_row4(c25_1, row + 25u, col + 4u, wid.z, e1); store_row4(c25_2, row + 25u, col + 8u, wid.z, e2); store_row4(c25_3, row + 25u, col + 12u, wid.z, e3);
    store_row4(c26_0, row + 26u, col + 0u, wid.z, e0); store_row4(c26_1, row + 26u, col + 4u, wid.z, e1); store_row4(c26_2, row + 26u, col + 8u, wid.z, e2); store_row4(c26_3, row + 26u, col + 12u, wid.z, e3);
    store_row4(c27_0, row + 27u, col + 0u, wid.z, e0); store_row4(c27_1, row + 27u, col + 4u, wid.z, e1); store_row4(c27_2, row + 27u, col + 8u, wid.z, e2); store_row4(c27_3, row + 27u, col + 12u, wid.z, e3);
    store_row4(c28_0, row + 28u, col + 0u, wid.z, e0); store_row4(c28_1, row + 28u, col + 4u, wid.z, e1); store_row4(c28_2, row + 28u, col + 8u, wid.z, e2); store_row4(c28_3, row + 28u, col + 12u, wid.z, e3);
    store_row4(c29_0, row + 29u, col + 0u, wid.z, e0); store_row4(c29_1, row + 29u, col + 4u, wid.z, e1); store_row4(c29_2, row + 29u, col + 8u, wid.z, e2); store_row4(c29_3, row + 29u, col + 12u, wid.z, e3);
    store_row4(c30_0, row + 30u, col + 0u, wid.z, e0); store_row4(c30_1, row + 30u, col + 4u, wid.z, e1); store_row4(c30_2, row + 30u, col + 8u, wid.z, e2); store_row4(c30_3, row + 30u, col + 12u, wid.z, e3);
    store_row4(c31_0, row + 31u, col + 0u, wid.z, e0); store_row4(c31_1, row + 31u, col + 4u, wid.z, e1); store_row4(c31_2, row + 31u, col + 8u, wid.z, e2); store_row4(c31_3, row + 31u, col + 12u, wid.z, e3);
}
