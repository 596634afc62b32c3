// gemm_i8_small: gemm_i8 for skinny outputs (a conv's 6 or 16 channels, a weight gradient of
// 16 x 150), where 64x64 tiles would compute mostly cells that are dropped. Same interface,
// operand layouts, split-K and int32 accumulation as gemm_i8 — so the same exact integers; only
// the tiling differs. CPU twin: src/cpu/gemm_i8.rs (gemm_i8_small_pass).
//
// Tiling: 16x16 outputs per workgroup of 16x16 lanes, one per lane, K in steps of 32 (8 words)
// staged through workgroup memory.

const BK4: u32 = 8u;
const BK: u32 = 32u;
const SMALL: u32 = 16u;

@group(0) @binding(0) var<uniform> params: GemmParams;
@group(0) @binding(1) var<storage> a: array<u32>;
@group(0) @binding(2) var<storage> b: array<u32>;
@group(0) @binding(3) var<storage> scale_a: array<f32>;
@group(0) @binding(4) var<storage> scale_b: array<f32>;
@group(0) @binding(5) var<storage> bias: array<f32>;
@group(0) @binding(6) var<storage, read_write> out: array<f32>;

// [kk][row]
var<workgroup> sh_a: array<u32, 128>;
var<workgroup> sh_b: array<u32, 128>;

// A SMALL x BK4 tile of a plain operand: one word per lane for the first 128 lanes.
fn load_plain(src_is_a: bool, row0: u32, rows: u32, k40: u32, lid: u32) {
    if lid >= SMALL * BK4 {
        return;
    }
    let k4_total = (params.k + 3u) / 4u;
    let r = lid / BK4;
    let kk = lid % BK4;
    let gr = row0 + r;
    let gk4 = k40 + kk;
    var v = 0u;
    if gr < rows && gk4 < k4_total {
        if src_is_a {
            v = a[gr * k4_total + gk4];
        } else {
            v = b[gr * k4_total + gk4];
        }
        v = v & k_tail_mask(gk4);
    }
    if src_is_a {
        sh_a[kk * SMALL + r] = v;
    } else {
        sh_b[kk * SMALL + r] = v;
    }
}

// A transposed operand: 32 lanes each gather a 4x4 byte block.
fn load_trans(src_is_a: bool, row0: u32, rows: u32, k40: u32, lid: u32) {
    if lid >= SMALL / 4u * BK4 {
        return;
    }
    let rows4 = (rows + 3u) / 4u;
    let r4 = lid / BK4;
    let kk = lid % BK4;
    let col = row0 / 4u + r4;
    var w = array<u32, 4>(0u, 0u, 0u, 0u);
    for (var t = 0u; t < 4u; t++) {
        let k = 4u * (k40 + kk) + t;
        if k < params.k && col < rows4 {
            if src_is_a {
                w[t] = a[k * rows4 + col];
            } else {
                w[t] = b[k * rows4 + col];
            }
        }
    }
    for (var j = 0u; j < 4u; j++) {
        let v = byte_column(w[0], w[1], w[2], w[3], j);
        if src_is_a {
            sh_a[kk * SMALL + 4u * r4 + j] = v;
        } else {
            sh_b[kk * SMALL + 4u * r4 + j] = v;
        }
    }
}

@compute @workgroup_size(16, 16)
fn main(@builtin(local_invocation_id) lid3: vec3<u32>, @builtin(local_invocation_index) lid: u32,
        @builtin(workgroup_id) wid: vec3<u32>) {
    let m0 = wid.y * SMALL;
    let n0 = wid.x * SMALL;
    let flags = params.flags;
    let steps = (params.k + BK - 1u) / BK;
    let steps_per_chunk = params.k_chunk / BK;
    let step0 = wid.z * steps_per_chunk;
    let step1 = min(step0 + steps_per_chunk, steps);
    var acc = 0;
    for (var step = step0; step < step1; step++) {
        let k40 = step * BK4;
        if (flags & TRANS_A) != 0u {
            load_trans(true, m0, params.m, k40, lid);
        } else {
            load_plain(true, m0, params.m, k40, lid);
        }
        if (flags & TRANS_B) != 0u {
            load_trans(false, n0, params.n, k40, lid);
        } else {
            load_plain(false, n0, params.n, k40, lid);
        }
        workgroupBarrier();
        for (var kk = 0u; kk < BK4; kk++) {
            acc += dot4I8Packed(sh_a[kk * SMALL + lid3.y], sh_b[kk * SMALL + lid3.x]);
        }
        workgroupBarrier();
    }
    let gm = m0 + lid3.y;
    let gn = n0 + lid3.x;
    if gm < params.m && gn < params.n {
        store_result(f32(acc), gm, gn, wid.z);
    }
}
