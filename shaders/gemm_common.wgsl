// Shared by gemm_i8, gemm_f32 and gemm_reduce (prepended by src/gpu/kernel.rs, after common.wgsl): the parameter
// block, the flag bits, the epilogue and the store. The kernel file declares `params`, `scale_a`,
// `scale_b`, `bias` and `out`. `bias` is bound as u32 words: a bias (f32 bits) or, in the gated
// register-blocked kernels (gemm_gate.wgsl), the gate of the ReLU before the layer. u32, not
// f32, so that mask words reach the gate as they were written, whatever a driver does with f32
// NaN payloads or subnormals.
//
// Split-K: workgroup z of a GEMM reduces K values [z * k_chunk, (z + 1) * k_chunk). With one chunk
// it applies the epilogue itself; with several (RAW_PARTIALS) it stores its raw f32 partial to
// out[z][M][N] and gemm_reduce sums the chunks in order and applies the epilogue. Besides bounding
// int32 partial sums, this bounds every invocation's loop trip count: llvmpipe silently ends any
// invocation's loops after 65535 iterations in total.

const TILE: u32 = 64u;
const TRANS_A: u32 = 1u;
const TRANS_B: u32 = 2u;
const SCALE_A_SHIFT: u32 = 2u;
const SCALE_B_SHIFT: u32 = 4u;
const HAS_BIAS: u32 = 64u;
const RAW_PARTIALS: u32 = 128u;
const RELU: u32 = 256u;
const GATE_MASK: u32 = 512u;
const GATE_VALUES: u32 = 1024u;
const SCALE_NONE: u32 = 0u;
const SCALE_TENSOR: u32 = 1u;

// Mirrors `GemmParams` in src/ops/gemm.rs.
struct GemmParams {
    m: u32,
    n: u32,
    k: u32,
    k_chunk: u32,
    flags: u32,
    chunks: u32,
    bias_offset: u32,
    out_offset: u32,
}

fn scale_of(mode: u32, is_a: bool, i: u32) -> f32 {
    if mode == SCALE_NONE {
        return 1.0;
    }
    let idx = select(i, 0u, mode == SCALE_TENSOR);
    if is_a {
        return scale_a[idx];
    }
    return scale_b[idx];
}

// Leaves the accumulator domain exactly once: (acc * scale_a) * scale_b (+ bias), in that order,
// then the rectifier of a following ReLU layer, if fused.
fn epilogue(acc: f32, gm: u32, gn: u32) -> f32 {
    let flags = params.flags;
    var v = acc * scale_of((flags >> SCALE_A_SHIFT) & 3u, true, gm)
        * scale_of((flags >> SCALE_B_SHIFT) & 3u, false, gn);
    if (flags & HAS_BIAS) != 0u {
        v += bitcast<f32>(bias[params.bias_offset + gn]);
    }
    if (flags & RELU) != 0u {
        v = rectify(v);
    }
    return v;
}

// The epilogue's factors of a register block's row i (A's scale) or column j (B's scale, bias):
// loaded once per block instead of once per cell. Indices are clamped: cells outside the output
// are not stored.
fn block_scale_a(m0: u32, i: u32) -> f32 {
    return scale_of((params.flags >> SCALE_A_SHIFT) & 3u, true, min(m0 + i, params.m - 1u));
}

fn block_scale_b(n0: u32, j: u32) -> f32 {
    return scale_of((params.flags >> SCALE_B_SHIFT) & 3u, false, min(n0 + j, params.n - 1u));
}

fn block_bias(n0: u32, j: u32) -> f32 {
    if (params.flags & HAS_BIAS) != 0u {
        return bitcast<f32>(bias[params.bias_offset + min(n0 + j, params.n - 1u)]);
    }
    return 0.0;
}

// Stores cell (m0 + i, n0 + j) of a register block: chunk z's raw partial, or the epilogue with
// the block's factors, in epilogue()'s order, then 0 unless `keep` (gemm_gate.wgsl's gate; a
// constant true in kernels without one).
fn store_block_cell(acc: f32, m0: u32, n0: u32, i: u32, j: u32, z: u32, sa: f32, sb: f32,
                    b: f32, keep: bool) {
    let gm = m0 + i;
    let gn = n0 + j;
    if gm >= params.m || gn >= params.n {
        return;
    }
    // One store, its place and value chosen by select: CPU drivers run a branch's store under a
    // mask even where no lane takes it (as store_row4).
    let partial = (params.flags & RAW_PARTIALS) != 0u;
    var v = acc * sa * sb;
    if (params.flags & HAS_BIAS) != 0u {
        v += b;
    }
    if (params.flags & RELU) != 0u {
        v = rectify(v);
    }
    let at = select(gm, z * params.m + gm, partial) * params.n + gn;
    out[at] = select(select(0.0, v, keep), acc, partial);
}

// Writes one output cell: the finished value, or chunk z's raw partial.
fn store_result(acc: f32, gm: u32, gn: u32, z: u32) {
    if (params.flags & RAW_PARTIALS) != 0u {
        out[(z * params.m + gm) * params.n + gn] = acc;
    } else {
        out[gm * params.n + gn] = epilogue(acc, gm, gn);
    }
}

// The epilogue's B-side factors of four output columns gn .. gn + 3 (B's scale, bias): a wide
// kernel's lane loads them once for all its rows rather than once per cell.
struct Cols4 {
    scale: vec4<f32>,
    bias: vec4<f32>,
}

fn cols4(gn: u32) -> Cols4 {
    return Cols4(
        vec4<f32>(block_scale_b(gn, 0u), block_scale_b(gn, 1u), block_scale_b(gn, 2u),
            block_scale_b(gn, 3u)),
        vec4<f32>(block_bias(gn, 0u), block_bias(gn, 1u), block_bias(gn, 2u), block_bias(gn, 3u)));
}

// Stores four outputs of row gm, columns gn .. gn + 3 (factors `cols`), those inside the output
// (the wide kernels' rows of four): chunk z's raw partials or epilogue()'s values, the same bits.
// Flags are chosen by select and four cells stored without a branch apiece, for CPU drivers run
// both sides of every branch lane-masked: with a branch per cell and per flag, storing a
// 256 x 784 weight gradient took twice as long as computing it (K = 64, lavapipe).
fn store_row4(v: vec4<f32>, gm: u32, gn: u32, z: u32, cols: Cols4) {
    if gm >= params.m {
        return;
    }
    let flags = params.flags;
    let raw = (flags & RAW_PARTIALS) != 0u;
    var e = v * block_scale_a(gm, 0u) * cols.scale;
    e = select(e, e + cols.bias, (flags & HAS_BIAS) != 0u);
    let rectified = vec4<f32>(rectify(e.x), rectify(e.y), rectify(e.z), rectify(e.w));
    e = select(e, rectified, (flags & RELU) != 0u);
    let r = select(e, v, raw);
    let base = select(gm, z * params.m + gm, raw) * params.n + gn;
    if gn + 3u < params.n {
        out[base] = r.x;
        out[base + 1u] = r.y;
        out[base + 2u] = r.z;
        out[base + 3u] = r.w;
        return;
    }
    for (var j = 0u; j < 4u; j++) {
        if gn + j < params.n {
            out[base + j] = r[j];
        }
    }
}

// Stores a lane's 4x4 block: rows row0 + step * i, columns col0 + step * j, inside the output
// only (the tiled kernels interleave lanes with step 16, the register-blocked ones use step 1).
fn store_block(acc: array<f32, 16>, row0: u32, col0: u32, step: u32, z: u32) {
    for (var i = 0u; i < 4u; i++) {
        let gm = row0 + step * i;
        for (var j = 0u; j < 4u; j++) {
            let gn = col0 + step * j;
            if gm < params.m && gn < params.n {
                store_result(acc[i * 4u + j], gm, gn, z);
            }
        }
    }
}

// The register-blocked kernels' lane -> (output block, split-K chunk): lanes are numbered across
// the grid (64 per workgroup); lane g takes chunk g / blocks and in it block g % blocks, blocks of
// bm x bn cells running along N first. Packing chunks into workgroups keeps every lane busy where
// an output has few blocks and K many chunks (a weight gradient: 14 blocks per chunk would leave
// 50 of a workgroup's 64 lanes idle). Returns the block's first row and column, its chunk, and in
// w 0 for lanes past the last chunk.
fn regs_block_of(lid: u32, wid: vec3<u32>, groups: vec3<u32>, bm: u32, bn: u32) -> vec4<u32> {
    let blocks_n = (params.n + bn - 1u) / bn;
    let blocks = ((params.m + bm - 1u) / bm) * blocks_n;
    let lane = (wid.y * groups.x + wid.x) * 64u + lid;
    let z = lane / blocks;
    let b = lane % blocks;
    return vec4<u32>((b / blocks_n) * bm, (b % blocks_n) * bn, z, u32(z < params.chunks));
}

// regs_block_of for the 4x4 blocks of gemm_f32_regs, gemm_i8_regs and conv_i8_regs.
fn regs_block(lid: u32, wid: vec3<u32>, groups: vec3<u32>) -> vec4<u32> {
    return regs_block_of(lid, wid, groups, 4u, 4u);
}
