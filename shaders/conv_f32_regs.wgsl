// conv_f32_regs: an FP32 convolution as an implicit GEMM. gemm_f32_regs reads its column-matrix
// operand from memory; this kernel computes each column-matrix element from the NHWC input where it
// needs it (conv_common.wgsl's window and tap walk), so no column matrix is written, read or kept.
// Two kernels from this file, by the prepended constant CONV_WGRAD:
//   forward (false): out[pixels, c_out] = cols(x) [pixels, taps] x W [c_out, taps]^T (+ bias, ReLU)
//   wgrad (true):    out[c_out, taps] = dY [pixels, c_out]^T x cols(x) [pixels, taps], split-K over
//                    pixels (raw partials, then gemm_reduce)
// A lane computes a BM x BN block (prepended: 4 x 8 for the forward, 8 x 4 for the weight
// gradient), the wide side along the convolution's output channels: each gathered column-matrix
// element then serves 8 channels, and the gathers, not the multiply-adds, are what these kernels
// cost a CPU driver (4 x 4 blocks made LeNet-5's first convolution 35% slower on lavapipe). The
// block is two 4 x 4 halves (acc_lo, acc_hi) in loops of four, each half stored by a loop of its
// own: so written, llvmpipe unrolls them and keeps the accumulators in registers; one 32-cell
// array, or one store loop for both halves with computed offsets, cost 50% more.
// Every output cell takes the same fused multiply-adds in the same order as gemm_f32_regs on the
// column matrix im2col writes (padding reads as 0.0, like im2col's zeros), so the two agree bit for
// bit; the conformance suite checks it. CPU twin: src/cpu/gemm_f32.rs (conv_f32_regs_pass).

@group(0) @binding(0) var<uniform> params: ConvGemmParams;
// Forward: x (NHWC). Weight gradient: dY [pixels, c_out].
@group(0) @binding(1) var<storage> a: array<f32>;
// Forward: W [c_out, taps]. Weight gradient: x (NHWC).
@group(0) @binding(2) var<storage> b: array<f32>;
@group(0) @binding(3) var<storage> scale_a: array<f32>;
@group(0) @binding(4) var<storage> scale_b: array<f32>;
@group(0) @binding(5) var<storage> bias: array<u32>;
@group(0) @binding(6) var<storage, read_write> out: array<f32>;

// Column-matrix element (window `win`, tap `t`) of input `src`: the pixel, or 0.0 in the padding.
fn sample_a(win: vec3<i32>, t: vec3<u32>) -> f32 {
    let s = im2col_source(win, t);
    return select(0.0, a[max(s, 0)], s >= 0);
}

fn sample_b(win: vec3<i32>, t: vec3<u32>) -> f32 {
    let s = im2col_source(win, t);
    return select(0.0, b[max(s, 0)], s >= 0);
}

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) groups: vec3<u32>) {
    let block = regs_block_of(lid, wid, groups, BM, BN);
    if block.w == 0u {
        return;
    }
    let m0 = block.x;
    let n0 = block.y;
    let k0 = block.z * params.k_chunk;
    let k1 = min(k0 + params.k_chunk, params.k);
    var acc_lo: array<f32, 16>;
    var acc_hi: array<f32, 16>;
    // Rows past the edge repeat the last row, as in gemm_f32_regs; their cells are dropped.
    if CONV_WGRAD {
        // K runs over output pixels: A's column and B's window advance together. The halves
        // are output channels m0 .. m0 + 3 and m0 + 4 .. m0 + 7.
        var a_col: array<u32, 8>;
        var taps: array<vec3<u32>, 4>;
        for (var i = 0u; i < 4u; i++) {
            a_col[i] = min(m0 + i, params.m - 1u);
            a_col[i + 4u] = min(m0 + i + 4u, params.m - 1u);
            taps[i] = tap_of(min(n0 + i, params.n - 1u));
        }
        var win = window_of(k0);
        var o = vec2<u32>(k0 % params.ow, (k0 / params.ow) % params.oh);
        for (var p = k0; p < k1; p++) {
            var av_lo: array<f32, 4>;
            var av_hi: array<f32, 4>;
            var bv: array<f32, 4>;
            for (var i = 0u; i < 4u; i++) {
                av_lo[i] = a[p * params.m + a_col[i]];
                av_hi[i] = a[p * params.m + a_col[i + 4u]];
                bv[i] = sample_b(win, taps[i]);
            }
            for (var i = 0u; i < 4u; i++) {
                for (var j = 0u; j < 4u; j++) {
                    acc_lo[i * 4u + j] = fma(av_lo[i], bv[j], acc_lo[i * 4u + j]);
                    acc_hi[i * 4u + j] = fma(av_hi[i], bv[j], acc_hi[i * 4u + j]);
                }
            }
            win = next_window(win, &o);
        }
    } else {
        // K runs over taps: each A row is an output pixel's window. The halves are output
        // channels n0 .. n0 + 3 and n0 + 4 .. n0 + 7.
        var wins: array<vec3<i32>, 4>;
        var b_row: array<u32, 8>;
        for (var i = 0u; i < 4u; i++) {
            wins[i] = window_of(min(m0 + i, params.m - 1u));
        }
        for (var i = 0u; i < 8u; i++) {
            b_row[i] = min(n0 + i, params.n - 1u) * params.k;
        }
        var t = tap_of(k0);
        for (var k = k0; k < k1; k++) {
            var av: array<f32, 4>;
            var bv: array<f32, 8>;
            for (var i = 0u; i < 4u; i++) {
                av[i] = sample_a(wins[i], t);
            }
            for (var i = 0u; i < 8u; i++) {
                bv[i] = b[b_row[i] + k];
            }
            for (var i = 0u; i < 4u; i++) {
                for (var j = 0u; j < 4u; j++) {
                    acc_lo[i * 4u + j] = fma(av[i], bv[j], acc_lo[i * 4u + j]);
                    acc_hi[i * 4u + j] = fma(av[i], bv[j + 4u], acc_hi[i * 4u + j]);
                }
            }
            t = next_tap(t);
        }
    }
    for (var j = 0u; j < 4u; j++) {
        let sb = block_scale_b(n0, j);
        let bj = block_bias(n0, j);
        for (var i = 0u; i < 4u; i++) {
            let sa = block_scale_a(m0, i);
            store_block_cell(acc_lo[i * 4u + j], m0, n0, i, j, block.z, sa, sb, bj, true);
        }
    }
    // The high half: 4 rows (weight gradient) or 4 columns (forward) further on.
    if CONV_WGRAD {
        for (var j = 0u; j < 4u; j++) {
            let sb = block_scale_b(n0, j);
            let bj = block_bias(n0, j);
            for (var i = 4u; i < 8u; i++) {
                let sa = block_scale_a(m0, i);
                store_block_cell(acc_hi[(i - 4u) * 4u + j], m0, n0, i, j, block.z, sa, sb, bj, true);
            }
        }
    } else {
        for (var j = 4u; j < 8u; j++) {
            let sb = block_scale_b(n0, j);
            let bj = block_bias(n0, j);
            for (var i = 0u; i < 4u; i++) {
                let sa = block_scale_a(m0, i);
                store_block_cell(acc_hi[i * 4u + j - 4u], m0, n0, i, j, block.z, sa, sb, bj, true);
            }
        }
    }
}
