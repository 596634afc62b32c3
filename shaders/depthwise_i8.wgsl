// depthwise_i8: a depthwise convolution (channel c of the output reads channel c of the input
// through its own kh x kw filter) on int8 with dot4I8Packed and int32 sums, each pass a GEMM
// per channel whose packed words are gathered where they are read. Three kernels from this
// file, by the prepended constant DW_PASS, in the GEMM terms of gemm_common.wgsl (one output
// cell per lane, split-K by k_chunk, the epilogue or raw partials for gemm_reduce):
//   0 forward:  out[pixels, c] = sum over taps t of x_q(window(pixel) + t, c) * W_q[c, t]
//   1 dgrad:    out[input pixels, c] = sum over t of dY_q(the output pixel reading it at t, c)
//               * W_q[c, t]
//   2 wgrad:    out[c, taps] = sum over output pixels p of dY_q[p, c] * x_q(window(p) + t, c)
// x_q is the input quantized in place (one byte per NHWC element), dY_q is packed along its
// channels (rows of ceil(c / 4) words), W_q [c, taps] in rows of ceil(taps / 4) words. Four
// consecutive K values of one channel are gathered byte by byte into one word (zero in the
// padding and past K), so each dot4I8Packed sums four products of the same channel.
// CPU twin: src/cpu/depthwise.rs (depthwise_i8_pass).

@group(0) @binding(0) var<uniform> params: ConvGemmParams;
// Forward: x_q. Input and weight gradients: dY_q.
@group(0) @binding(1) var<storage> a: array<u32>;
// Forward and input gradient: W_q. Weight gradient: x_q.
@group(0) @binding(2) var<storage> b: array<u32>;
@group(0) @binding(3) var<storage> scale_a: array<f32>;
@group(0) @binding(4) var<storage> scale_b: array<f32>;
@group(0) @binding(5) var<storage> bias: array<u32>;
@group(0) @binding(6) var<storage, read_write> out: array<f32>;

fn byte_a(e: u32) -> u32 {
    return (a[e >> 2u] >> (8u * (e & 3u))) & 0xffu;
}

fn byte_b(e: u32) -> u32 {
    return (b[e >> 2u] >> (8u * (e & 3u))) & 0xffu;
}

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) groups: vec3<u32>) {
    let cell = regs_block_of(lid, wid, groups, 1u, 1u);
    if cell.w == 0u || cell.x >= params.m || cell.y >= params.n {
        return;
    }
    let k4_total = (params.k + 3u) / 4u;
    let k40 = cell.z * (params.k_chunk / 4u);
    let k41 = min(k40 + params.k_chunk / 4u, k4_total);
    // dY_q's bytes per pixel: its rows are padded to whole words.
    let dy_row = ((params.c + 3u) / 4u) * 4u;
    var acc = 0i;
    if DW_PASS == 2u {
        let c = cell.x;
        let tap = vec3<u32>(cell.y / params.kw, cell.y % params.kw, c);
        var win = window_of(4u * k40);
        var o = vec2<u32>((4u * k40) % params.ow, ((4u * k40) / params.ow) % params.oh);
        for (var k4 = k40; k4 < k41; k4++) {
            // Zeroed by hand each trip: the bytes are OR-ed in (see conv_i8_regs.wgsl).
            var aw = 0u;
            var bw = 0u;
            for (var j = 0u; j < 4u; j++) {
                let p = 4u * k4 + j;
                let s = im2col_source(win, tap);
                if p < params.k && s >= 0 {
                    aw |= byte_a(p * dy_row + c) << (8u * j);
                    bw |= byte_b(u32(s)) << (8u * j);
                }
                win = next_window(win, &o);
            }
            acc += dot4I8Packed(aw, bw);
        }
    } else {
        let c = cell.y;
        var win = vec3<i32>(0);
        var q = vec3<u32>(0u);
        if DW_PASS == 0u {
            win = window_of(cell.x);
        } else {
            q = pixel_of(cell.x);
        }
        var tap = vec2<u32>((4u * k40) / params.kw, (4u * k40) % params.kw);
        for (var k4 = k40; k4 < k41; k4++) {
            var aw = 0u;
            for (var j = 0u; j < 4u; j++) {
                if 4u * k4 + j < params.k {
                    if DW_PASS == 0u {
                        let s = im2col_source(win, vec3<u32>(tap, c));
                        if s >= 0 {
                            aw |= byte_a(u32(s)) << (8u * j);
                        }
                    } else {
                        let p = depthwise_grad_source(q, tap.x, tap.y);
                        if p >= 0 {
                            aw |= byte_a(u32(p) * dy_row + c) << (8u * j);
                        }
                    }
                }
                tap = next_filter_tap(tap);
            }
            acc += dot4I8Packed(aw, b[c * k4_total + k4]);
        }
    }
    store_result(f32(acc), cell.x, cell.y, cell.z);
}
