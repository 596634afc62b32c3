// gemm_f32_small: gemm_f32 for skinny outputs (a conv's 6 channels, a weight gradient of 6 x 25
// reduced over 25,088 rows), where a 64x64 tile would compute mostly cells that are dropped.
// Same interface and split-K as gemm_f32, and per output cell the same arithmetic (one f32
// accumulator, K ascending within a chunk); only the tiling differs.
// CPU twin: src/cpu/gemm_f32.rs (gemm_f32_small_pass).
//
// Tiling: 16x16 outputs per workgroup of 16x16 lanes, one per lane, K in steps of 16 staged
// through workgroup memory.

const BK: u32 = 16u;
const SMALL: u32 = 16u;

@group(0) @binding(0) var<uniform> params: GemmParams;
@group(0) @binding(1) var<storage> a: array<f32>;
@group(0) @binding(2) var<storage> b: array<f32>;
@group(0) @binding(3) var<storage> scale_a: array<f32>;
@group(0) @binding(4) var<storage> scale_b: array<f32>;
@group(0) @binding(5) var<storage> bias: array<f32>;
@group(0) @binding(6) var<storage, read_write> out: array<f32>;

// [kk][row]
var<workgroup> sh_a: array<f32, 256>;
var<workgroup> sh_b: array<f32, 256>;

// One element per lane: lanes walk the contiguous axis of the stored matrix.
fn load(src_is_a: bool, trans: bool, row0: u32, rows: u32, k0: u32, lid: u32) {
    var r = lid / BK;
    var kk = lid % BK;
    if trans {
        r = lid % SMALL;
        kk = lid / SMALL;
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
        sh_a[kk * SMALL + r] = v;
    } else {
        sh_b[kk * SMALL + r] = v;
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
    var acc = 0.0;
    for (var step = step0; step < step1; step++) {
        let k0 = step * BK;
        load(true, (flags & TRANS_A) != 0u, m0, params.m, k0, lid);
        load(false, (flags & TRANS_B) != 0u, n0, params.n, k0, lid);
        workgroupBarrier();
        for (var kk = 0u; kk < BK; kk++) {
            acc = fma(sh_a[kk * SMALL + lid3.y], sh_b[kk * SMALL + lid3.x], acc);
        }
        workgroupBarrier();
    }
    let gm = m0 + lid3.y;
    let gn = n0 + lid3.x;
    if gm < params.m && gn < params.n {
        store_result(acc, gm, gn, wid.z);
    }
}
