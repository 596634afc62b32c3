// gemm_i8_wide: gemm_i8 on large workgroup tiles, the class of kernel fast GEMMs use. A
// workgroup computes TM x TN outputs; lane (ly, lx) a contiguous RM x RN block of them, rows
// m0 + ly * RM + i, columns n0 + lx * RN + j, in int32 registers. K advances 32 values (eight
// packed words) at a time, both operands' slices staged through workgroup memory as [kk][row],
// transposed operands turned K-major by 4x4 byte transposes as in gemm_i8. The same int32 sums
// as every gemm_i8 variant. CPU twin: src/cpu/gemm_i8_wide.rs.
//
// TM, TN, RM, RN and LANES (= TM / RM * TN / RN) are prepended per variant (src/ops/gemm_wide.rs);
// RN is 8 and RM 8 or 16 in every variant. The accumulators are named variables, one vec4 per
// row and half block (cR_0: columns 0-3 of the block's row R, cR_1: columns 4-7), and the
// block's rows are written out: llvmpipe moves a local array indexed through a loop it does not
// unroll to memory, which made these kernels 2.5x slower there. Loops have constant trip counts:
// llvmpipe also ends an invocation's loops after 65,535 iterations in total, and a chunk of 131,072 K values is 4,096 steps.

const BK4: u32 = 8u;
const LN: u32 = TN / RN;
const RM4: u32 = RM / 4u;

@group(0) @binding(0) var<uniform> params: GemmParams;
@group(0) @binding(1) var<storage> a: array<u32>;
@group(0) @binding(2) var<storage> b: array<u32>;
@group(0) @binding(3) var<storage> scale_a: array<f32>;
@group(0) @binding(4) var<storage> scale_b: array<f32>;
@group(0) @binding(5) var<storage> bias: array<u32>;
@group(0) @binding(6) var<storage, read_write> out: array<f32>;

var<workgroup> sh_a: array<vec4<u32>, BK4 * TM / 4u>;
var<workgroup> sh_b: array<vec4<u32>, BK4 * TN / 4u>;

fn read(is_a: bool, i: u32) -> u32 {
    if is_a {
        return a[i];
    }
    return b[i];
}

fn put(is_a: bool, s: u32, v: u32) {
    if is_a {
        sh_a[s / 4u][s % 4u] = v;
    } else {
        sh_b[s / 4u][s % 4u] = v;
    }
}

// Words k40 .. k40 + BK4 of rows row0 .. row0 + tile of a K-major operand; zero past the edges
// and past K (k_tail_mask), so padded products are 0.
fn stage_plain(is_a: bool, tile: u32, row0: u32, rows: u32, k40: u32, lid: u32) {
    let k4_total = (params.k + 3u) / 4u;
    for (var s = 0u; s < tile * BK4 / LANES; s++) {
        let e = lid + s * LANES;
        let r = e / BK4;
        let kk = e % BK4;
        let gr = row0 + r;
        let gk4 = k40 + kk;
        var v = 0u;
        if gr < rows && gk4 < k4_total {
            v = read(is_a, gr * k4_total + gk4) & k_tail_mask(gk4);
        }
        put(is_a, kk * tile + r, v);
    }
}

// The same slice of a transposed operand ([K, rows/4] words packed along rows): four words
// (four K values of four rows) per 4x4 byte transpose.
fn stage_trans(is_a: bool, tile: u32, row0: u32, rows: u32, k40: u32, lid: u32) {
    let rows4 = (rows + 3u) / 4u;
    for (var s = 0u; s < (tile / 4u * BK4 + LANES - 1u) / LANES; s++) {
        let e = lid + s * LANES;
        if e >= tile / 4u * BK4 {
            break;
        }
        let r4 = e / BK4;
        let kk = e % BK4;
        let col = row0 / 4u + r4;
        var w = array<u32, 4>(0u, 0u, 0u, 0u);
        for (var t = 0u; t < 4u; t++) {
            let k = 4u * (k40 + kk) + t;
            if k < params.k && col < rows4 {
                w[t] = read(is_a, k * rows4 + col);
            }
        }
        for (var j = 0u; j < 4u; j++) {
            put(is_a, kk * tile + 4u * r4 + j, byte_column(w[0], w[1], w[2], w[3], j));
        }
    }
}

// One A word against four B words.
fn dots(a: u32, b: vec4<u32>) -> vec4<i32> {
    return vec4<i32>(dot4I8Packed(a, b.x), dot4I8Packed(a, b.y), dot4I8Packed(a, b.z),
        dot4I8Packed(a, b.w));
}

// Stores four int32 sums of row gm, columns gn .. gn + 3, those inside the output.
fn store4(v: vec4<i32>, gm: u32, gn: u32, z: u32, cols: Cols4) {
    store_row4(vec4<f32>(v), gm, gn, z, cols);
}

@compute @workgroup_size(LANES)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let m0 = wid.y * TM;
    let n0 = wid.x * TN;
    let ly = lid / LN;
    let lx = lid % LN;
    let steps = (params.k + 4u * BK4 - 1u) / (4u * BK4);
    let steps_per_chunk = params.k_chunk / (4u * BK4);
    let step0 = wid.z * steps_per_chunk;
    let step1 = min(step0 + steps_per_chunk, steps);

    var c0_0: vec4<i32>;
    var c0_1: vec4<i32>;
    var c1_0: vec4<i32>;
    var c1_1: vec4<i32>;
    var c2_0: vec4<i32>;
    var c2_1: vec4<i32>;
    var c3_0: vec4<i32>;
    var c3_1: vec4<i32>;
    var c4_0: vec4<i32>;
    var c4_1: vec4<i32>;
    var c5_0: vec4<i32>;
    var c5_1: vec4<i32>;
    var c6_0: vec4<i32>;
    var c6_1: vec4<i32>;
    var c7_0: vec4<i32>;
    var c7_1: vec4<i32>;
    var c8_0: vec4<i32>;
    var c8_1: vec4<i32>;
    var c9_0: vec4<i32>;
    var c9_1: vec4<i32>;
    var c10_0: vec4<i32>;
    var c10_1: vec4<i32>;
    var c11_0: vec4<i32>;
    var c11_1: vec4<i32>;
    var c12_0: vec4<i32>;
    var c12_1: vec4<i32>;
    var c13_0: vec4<i32>;
    var c13_1: vec4<i32>;
    var c14_0: vec4<i32>;
    var c14_1: vec4<i32>;
    var c15_0: vec4<i32>;
    var c15_1: vec4<i32>;
    for (var step = step0; step < step1; step++) {
        let k40 = step * BK4;
        if (params.flags & TRANS_A) != 0u {
            stage_trans(true, TM, m0, params.m, k40, lid);
        } else {
            stage_plain(true, TM, m0, params.m, k40, lid);
        }
        if (params.flags & TRANS_B) != 0u {
            stage_trans(false, TN, n0, params.n, k40, lid);
        } else {
            stage_plain(false, TN, n0, params.n, k40, lid);
        }
        workgroupBarrier();
        for (var kk = 0u; kk < BK4; kk++) {
            // This lane's rows (RM4 vec4s of A) and columns (two vec4s of B) at kk.
            let ab = (kk * TM) / 4u + ly * RM4;
            let bb = (kk * TN) / 4u + lx * 2u;
            let b0 = sh_b[bb];
            let b1 = sh_b[bb + 1u];
            let a0 = sh_a[ab + 0u];
            c0_0 += dots(a0.x, b0);
            c0_1 += dots(a0.x, b1);
            c1_0 += dots(a0.y, b0);
            c1_1 += dots(a0.y, b1);
            c2_0 += dots(a0.z, b0);
            c2_1 += dots(a0.z, b1);
            c3_0 += dots(a0.w, b0);
            c3_1 += dots(a0.w, b1);
            let a1 = sh_a[ab + 1u];
            c4_0 += dots(a1.x, b0);
            c4_1 += dots(a1.x, b1);
            c5_0 += dots(a1.y, b0);
            c5_1 += dots(a1.y, b1);
            c6_0 += dots(a1.z, b0);
            c6_1 += dots(a1.z, b1);
            c7_0 += dots(a1.w, b0);
            c7_1 += dots(a1.w, b1);
            if RM4 > 2u {
                let a2 = sh_a[ab + 2u];
                c8_0 += dots(a2.x, b0);
                c8_1 += dots(a2.x, b1);
                c9_0 += dots(a2.y, b0);
                c9_1 += dots(a2.y, b1);
                c10_0 += dots(a2.z, b0);
                c10_1 += dots(a2.z, b1);
                c11_0 += dots(a2.w, b0);
                c11_1 += dots(a2.w, b1);
                let a3 = sh_a[ab + 3u];
                c12_0 += dots(a3.x, b0);
                c12_1 += dots(a3.x, b1);
                c13_0 += dots(a3.y, b0);
                c13_1 += dots(a3.y, b1);
                c14_0 += dots(a3.z, b0);
                c14_1 += dots(a3.z, b1);
                c15_0 += dots(a3.w, b0);
                c15_1 += dots(a3.w, b1);
            }
        }
        workgroupBarrier();
    }

    let row = m0 + ly * RM;
    let col = n0 + lx * RN;
    let e0 = cols4(col);
    let e1 = cols4(col + 4u);
    store4(c0_0, row + 0u, col, wid.z, e0);
    store4(c0_1, row + 0u, col + 4u, wid.z, e1);
    store4(c1_0, row + 1u, col, wid.z, e0);
    store4(c1_1, row + 1u, col + 4u, wid.z, e1);
    store4(c2_0, row + 2u, col, wid.z, e0);
    store4(c2_1, row + 2u, col + 4u, wid.z, e1);
    store4(c3_0, row + 3u, col, wid.z, e0);
    store4(c3_1, row + 3u, col + 4u, wid.z, e1);
    store4(c4_0, row + 4u, col, wid.z, e0);
    store4(c4_1, row + 4u, col + 4u, wid.z, e1);
    store4(c5_0, row + 5u, col, wid.z, e0);
    store4(c5_1, row + 5u, col + 4u, wid.z, e1);
    store4(c6_0, row + 6u, col, wid.z, e0);
    store4(c6_1, row + 6u, col + 4u, wid.z, e1);
    store4(c7_0, row + 7u, col, wid.z, e0);
    store4(c7_1, row + 7u, col + 4u, wid.z, e1);
    if RM4 > 2u {
        store4(c8_0, row + 8u, col, wid.z, e0);
        store4(c8_1, row + 8u, col + 4u, wid.z, e1);
        store4(c9_0, row + 9u, col, wid.z, e0);
        store4(c9_1, row + 9u, col + 4u, wid.z, e1);
        store4(c10_0, row + 10u, col, wid.z, e0);
        store4(c10_1, row + 10u, col + 4u, wid.z, e1);
        store4(c11_0, row + 11u, col, wid.z, e0);
        store4(c11_1, row + 11u, col + 4u, wid.z, e1);
        store4(c12_0, row + 12u, col, wid.z, e0);
        store4(c12_1, row + 12u, col + 4u, wid.z, e1);
        store4(c13_0, row + 13u, col, wid.z, e0);
        store4(c13_1, row + 13u, col + 4u, wid.z, e1);
        store4(c14_0, row + 14u, col, wid.z, e0);
        store4(c14_1, row + 14u, col + 4u, wid.z, e1);
        store4(c15_0, row + 15u, col, wid.z, e0);
        store4(c15_1, row + 15u, col + 4u, wid.z, e1);
    }
}
