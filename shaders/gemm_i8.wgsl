// gemm_i8: out[M, N] = (sum_k A[m, k] * B[n, k]) * scale_a * scale_b (+ bias[n]) on int8 packed
// four per u32, with dot4I8Packed and int32 accumulation. CPU twin: src/cpu/gemm_i8.rs.
//
// Operand layouts (flag bits TRANS_A / TRANS_B):
//   plain: stored [rows, ceil(K/4)] words, packed along K (what quantize writes for a [rows, K]
//          matrix);
//   trans: stored [K, ceil(rows/4)] words, packed along rows. The tile loader transposes 4x4 byte
//          blocks, so the forward's quantized X [batch, in] serves as the dW GEMM's B operand and
//          the forward's W [out, in] as the dX GEMM's B operand without a second quantization.
//
// Overflow: workgroup z covers K values [z * k_chunk, (z + 1) * k_chunk) with k_chunk <= 131072,
// so its int32 sums never exceed 131072 * 127^2 < 2^31; chunks are summed in f32 (gemm_reduce).
//
// Tiling: 64x64 outputs per workgroup of 16x16 lanes, 4x4 per lane (rows ly + 16i, cols lx + 16j),
// K in steps of 32 (8 words) staged through workgroup memory.

const BK4: u32 = 8u;
const BK: u32 = 32u;

@group(0) @binding(0) var<uniform> params: GemmParams;
@group(0) @binding(1) var<storage> a: array<u32>;
@group(0) @binding(2) var<storage> b: array<u32>;
@group(0) @binding(3) var<storage> scale_a: array<f32>;
@group(0) @binding(4) var<storage> scale_b: array<f32>;
@group(0) @binding(5) var<storage> bias: array<u32>;
@group(0) @binding(6) var<storage, read_write> out: array<f32>;

// [kk][row] so that a lane's four rows for one kk are TILE/4 words apart.
var<workgroup> sh_a: array<u32, 512>;
var<workgroup> sh_b: array<u32, 512>;

// Loads a TILE x BK4 tile of one operand into `dst` as [kk][row].
fn load_plain(src_is_a: bool, row0: u32, rows: u32, k40: u32, lid: u32) {
    let k4_total = (params.k + 3u) / 4u;
    for (var s = 0u; s < 2u; s++) {
        let e = lid + 256u * s;
        let r = e / BK4;
        let kk = e % BK4;
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
            sh_a[kk * TILE + r] = v;
        } else {
            sh_b[kk * TILE + r] = v;
        }
    }
}

fn load_trans(src_is_a: bool, row0: u32, rows: u32, k40: u32, lid: u32) {
    if lid >= TILE / 4u * BK4 {
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
            sh_a[kk * TILE + 4u * r4 + j] = v;
        } else {
            sh_b[kk * TILE + 4u * r4 + j] = v;
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

    var acc: array<i32, 16>;
    for (var i = 0u; i < 16u; i++) {
        acc[i] = 0;
    }
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
            var av: array<u32, 4>;
            var bv: array<u32, 4>;
            for (var i = 0u; i < 4u; i++) {
                av[i] = sh_a[kk * TILE + ly + 16u * i];
                bv[i] = sh_b[kk * TILE + lx + 16u * i];
            }
            for (var i = 0u; i < 4u; i++) {
                for (var j = 0u; j < 4u; j++) {
                    acc[i * 4u + j] += dot4I8Packed(av[i], bv[j]);
                }
            }
        }
        workgroupBarrier();
    }

    var accf: array<f32, 16>;
    for (var i = 0u; i < 16u; i++) {
        accf[i] = f32(acc[i]);
    }
    store_block(accf, m0 + ly, n0 + lx, 16u, wid.z);
}
