// conv_i8_regs: an int8 convolution as an implicit GEMM, the int8 twin of conv_f32_regs. The
// input is kept quantized as it is, one byte per element in NHWC order (x_q: element e is byte
// e % 4 of word e / 4), and each packed column-matrix word is gathered from it where it is needed,
// so the packed column matrix (taps times larger) is never written or kept. Where the channels
// come four to a word (the constant CONV_C4: c % 4 == 0), a word of four taps is one aligned word
// of x_q; else it is gathered byte by byte (a runtime branch between the two would cost both on
// CPU drivers). Two kernels per case from this file, by the prepended constant CONV_WGRAD:
//   forward (false): out[pixels, c_out] = cols(x_q) [pixels, taps] x W_q [c_out, taps/4 words]^T
//   wgrad (true):    out[c_out, taps] = dY_q [pixels, c_out/4 words]^T x cols(x_q), split-K over
//                    pixels (int32 partials of at most 131,072 products, then gemm_reduce)
// The words are those im2col_i8 gathers from the same x_q (padding and bytes past K are 0),
// summed in int32 in the same order as gemm_i8_regs (nn, tt layouts), so the results are the same
// bits; the conformance suite checks it. CPU twin: src/cpu/gemm_i8.rs (conv_i8_regs_pass).

@group(0) @binding(0) var<uniform> params: ConvGemmParams;
// Forward: x_q. Weight gradient: dY_q, transposed.
@group(0) @binding(1) var<storage> a: array<u32>;
// Forward: W_q. Weight gradient: x_q.
@group(0) @binding(2) var<storage> b: array<u32>;
@group(0) @binding(3) var<storage> scale_a: array<f32>;
@group(0) @binding(4) var<storage> scale_b: array<f32>;
@group(0) @binding(5) var<storage> bias: array<u32>;
@group(0) @binding(6) var<storage, read_write> out: array<f32>;

// Column-matrix byte (window `win`, tap `t`) of x_q in `a` or `b`: the element's byte, or 0 in the
// padding.
fn column_byte(x_in_a: bool, win: vec3<i32>, t: vec3<u32>) -> u32 {
    let s = im2col_source(win, t);
    let e = u32(max(s, 0));
    var word: u32;
    if x_in_a {
        word = a[e >> 2u];
    } else {
        word = b[e >> 2u];
    }
    return select(0u, (word >> (8u * (e & 3u))) & 0xffu, s >= 0);
}

// With CONV_C4, four taps from a multiple of 4 are one pixel's channels c .. c + 3: one aligned
// word of x_q, or 0 in the padding.
fn column_word(x_in_a: bool, win: vec3<i32>, t: vec3<u32>) -> u32 {
    let s = im2col_source(win, t);
    let e = u32(max(s, 0));
    var word: u32;
    if x_in_a {
        word = a[e >> 2u];
    } else {
        word = b[e >> 2u];
    }
    return select(0u, word, s >= 0);
}

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) groups: vec3<u32>) {
    let block = regs_block(lid, wid, groups);
    if block.w == 0u {
        return;
    }
    let m0 = block.x;
    let n0 = block.y;
    let k4_total = (params.k + 3u) / 4u;
    let k40 = block.z * (params.k_chunk / 4u);
    let k41 = min(k40 + params.k_chunk / 4u, k4_total);
    var acc: array<i32, 16>;
    // Rows past the edge repeat the last row, as in gemm_i8_regs; their cells are dropped.
    if CONV_WGRAD {
        // K runs over output pixels, four per word: A's words are transposed dY_q words, B's
        // are gathered for four consecutive pixels' windows.
        let a_col = m0 / 4u;
        let a_rows4 = (params.m + 3u) / 4u;
        var taps: array<vec3<u32>, 4>;
        for (var j = 0u; j < 4u; j++) {
            taps[j] = tap_of(min(n0 + j, params.n - 1u));
        }
        var win = window_of(4u * k40);
        var o = vec2<u32>((4u * k40) % params.ow, ((4u * k40) / params.ow) % params.oh);
        for (var k4 = k40; k4 < k41; k4++) {
            var ta: array<u32, 4>;
            // Zeroed by hand each trip: the bytes are OR-ed in below, and Chrome's Tint on
            // SwiftShader kept the words of the previous trip where the declaration alone
            // should have zeroed them.
            var bv = array<u32, 4>(0u, 0u, 0u, 0u);
            // CONV_C4: the lane's four taps are one word per pixel, transposed like dY's.
            var tb: array<u32, 4>;
            for (var t = 0u; t < 4u; t++) {
                let p = 4u * k4 + t;
                let inside = p < params.k;
                ta[t] = select(0u, a[min(p, params.k - 1u) * a_rows4 + a_col], inside);
                if CONV_C4 {
                    tb[t] = select(0u, column_word(false, win, taps[0]), inside);
                } else {
                    for (var j = 0u; j < 4u; j++) {
                        let v = select(0u, column_byte(false, win, taps[j]), inside);
                        bv[j] |= v << (8u * t);
                    }
                }
                win = next_window(win, &o);
            }
            if CONV_C4 {
                for (var j = 0u; j < 4u; j++) {
                    bv[j] = byte_column(tb[0], tb[1], tb[2], tb[3], j);
                }
            }
            for (var i = 0u; i < 4u; i++) {
                let ai = byte_column(ta[0], ta[1], ta[2], ta[3], i);
                for (var j = 0u; j < 4u; j++) {
                    acc[i * 4u + j] += dot4I8Packed(ai, bv[j]);
                }
            }
        }
    } else {
        // K runs over taps, four per word: each A row is an output pixel's window.
        var wins: array<vec3<i32>, 4>;
        var b_row: array<u32, 4>;
        for (var i = 0u; i < 4u; i++) {
            wins[i] = window_of(min(m0 + i, params.m - 1u));
            b_row[i] = min(n0 + i, params.n - 1u) * k4_total;
        }
        var tap = tap_of(4u * k40);
        for (var k4 = k40; k4 < k41; k4++) {
            // Zeroed by hand each trip, as `bv` above.
            var av = array<u32, 4>(0u, 0u, 0u, 0u);
            var bv: array<u32, 4>;
            if CONV_C4 {
                // K = taps is a multiple of 4: no tail.
                for (var i = 0u; i < 4u; i++) {
                    av[i] = column_word(true, wins[i], tap);
                }
            }
            for (var t = 0u; t < 4u; t++) {
                if !CONV_C4 {
                    let inside = 4u * k4 + t < params.k;
                    for (var i = 0u; i < 4u; i++) {
                        av[i] |= select(0u, column_byte(true, wins[i], tap), inside) << (8u * t);
                    }
                }
                tap = next_tap(tap);
            }
            for (var j = 0u; j < 4u; j++) {
                bv[j] = b[b_row[j] + k4];
            }
            for (var i = 0u; i < 4u; i++) {
                for (var j = 0u; j < 4u; j++) {
                    acc[i * 4u + j] += dot4I8Packed(av[i], bv[j]);
                }
            }
        }
    }
    for (var j = 0u; j < 4u; j++) {
        let sb = block_scale_b(n0, j);
        let bj = block_bias(n0, j);
        for (var i = 0u; i < 4u; i++) {
            let sa = block_scale_a(m0, i);
            store_block_cell(f32(acc[i * 4u + j]), m0, n0, i, j, block.z, sa, sb, bj, true);
        }
    }
}
