// gemm_f32: the FP32 baseline with gemm_i8's interface and tiling:
// out[M, N] = (sum_k A[m, k] * B[n, k]) * scale_a * scale_b (+ bias[n]).
// Operands are row-major f32: plain [rows, K], or with TRANS_A / TRANS_B stored [K, rows].
// Split-K as in gemm_i8 (here only to bound each invocation's loops). CPU twin:
// src/cpu/gemm_f32.rs.
//
// Tiling: 64x64 outputs per workgroup of 16x16 lanes, 4x4 per lane (rows ly + 16i, cols lx + 16j),
// K in steps of 16 staged through workgroup memory.

const BK: u32 = 16u;

@group(0) @binding(0) var<uniform> params: GemmParams;
@group(0) @binding(1) var<storage> a: array<f32>;
@group(0) @binding(2) var<storage> b: array<f32>;
@group(0) @binding(3) var<storage> scale_a: array<f32>;
@group(0) @binding(4) var<storage> scale_b: array<f32>;
@group(0) @binding(5) var<storage> bias: array<u32>;
@group(0) @binding(6) var<storage, read_write> out: array<f32>;

// [kk][row], as in gemm_i8.
var<workgroup> sh_a: array<f32, 1024>;
var<workgroup> sh_b: array<f32, 1024>;

fn load_tile(src_is_a: bool, trans: bool, row0: u32, rows: u32, k0: u32, lid: u32) {
    for (var s = 0u; s < 4u; s++) {
        let e = lid + 256u * s;
        // Consecutive lanes walk the contiguous axis of the stored matrix.
        var r = e / BK;
        var kk = e % BK;
        if trans {
            r = e % TILE;
            kk = e / TILE;
        }
        let gr = row0 + r;
        let gk = k0 + kk;
        var v = 0.0;
        if gr < rows && gk < params.k {
            var idx = gr * params.k + gk;
            if trans {
                idx = gk * rows + gr;
            }
            if src_is_a {
                v = a[idx];
            } else {
                v = b[idx];
            }
        }
        if src_is_a {
            sh_a[kk * TILE + r] = v;
        } else {
            sh_b[kk * TILE + r] = v;
        }
    }
}

@compute @workgroup_size(16, 16)
fn main(@builtin(local_invocation_id) lid3: vec3<u32>, @builtin(local_invocation_index) lid: u32,
        @builtin(workgroup_id) wid: vec3<u32>) {
    let m0 = wid.y * TILE;
    let n0 = wid.x * TILE;
    let lx = lid3.x;
    let ly = lid3.y;
    let flags = params.flags;
    let steps = (params.k + BK - 1u) / BK;
    let steps_per_chunk = params.k_chunk / BK;
    let step0 = wid.z * steps_per_chunk;
    let step1 = min(step0 + steps_per_chunk, steps);

    var acc: array<f32, 16>;
    for (var i = 0u; i < 16u; i++) {
        acc[i] = 0.0;
    }
    for (var step = step0; step < step1; step++) {
        let k0 = step * BK;
        load_tile(true, (flags & TRANS_A) != 0u, m0, params.m, k0, lid);
        load_tile(false, (flags & TRANS_B) != 0u, n0, params.n, k0, lid);
        workgroupBarrier();
        for (var kk = 0u; kk < BK; kk++) {
            var av: array<f32, 4>;
            var bv: array<f32, 4>;
            for (var i = 0u; i < 4u; i++) {
                av[i] = sh_a[kk * TILE + ly + 16u * i];
                bv[i] = sh_b[kk * TILE + lx + 16u * i];
            }
            for (var i = 0u; i < 4u; i++) {
                for (var j = 0u; j < 4u; j++) {
                    acc[i * 4u + j] = fma(av[i], bv[j], acc[i * 4u + j]);
                }
            }
        }
        workgroupBarrier();
    }

    store_block(acc, m0 + ly, n0 + lx, 16u, wid.z);
}
