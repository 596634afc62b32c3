// depthwise_f32: the FP32 depthwise convolution, the same three passes as depthwise_i8.wgsl
// (by the prepended constant DW_PASS) on f32 operands, one fma per K value in ascending K:
//   0 forward:  out[pixels, c] = sum over taps t of x(window(pixel) + t, c) * W[c, t]
//   1 dgrad:    out[input pixels, c] = sum over t of dY(the output pixel reading it at t, c)
//               * W[c, t]
//   2 wgrad:    out[c, taps] = sum over output pixels p of dY[p, c] * x(window(p) + t, c)
// CPU twin: src/cpu/depthwise.rs (depthwise_f32_pass).

@group(0) @binding(0) var<uniform> params: ConvGemmParams;
// Forward: x. Input and weight gradients: dY [pixels, c].
@group(0) @binding(1) var<storage> a: array<f32>;
// Forward and input gradient: W [c, taps]. Weight gradient: x.
@group(0) @binding(2) var<storage> b: array<f32>;
@group(0) @binding(3) var<storage> scale_a: array<f32>;
@group(0) @binding(4) var<storage> scale_b: array<f32>;
@group(0) @binding(5) var<storage> bias: array<u32>;
@group(0) @binding(6) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) groups: vec3<u32>) {
    let cell = regs_block_of(lid, wid, groups, 1u, 1u);
    if cell.w == 0u || cell.x >= params.m || cell.y >= params.n {
        return;
    }
    let k0 = cell.z * params.k_chunk;
    let k1 = min(k0 + params.k_chunk, params.k);
    var acc = 0.0;
    if DW_PASS == 2u {
        let c = cell.x;
        let tap = vec3<u32>(cell.y / params.kw, cell.y % params.kw, c);
        var win = window_of(k0);
        var o = vec2<u32>(k0 % params.ow, (k0 / params.ow) % params.oh);
        for (var p = k0; p < k1; p++) {
            let s = im2col_source(win, tap);
            if s >= 0 {
                acc = fma(a[p * params.c + c], b[u32(s)], acc);
            }
            win = next_window(win, &o);
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
        var tap = vec2<u32>(k0 / params.kw, k0 % params.kw);
        for (var t = k0; t < k1; t++) {
            let w = b[c * params.k + t];
            if DW_PASS == 0u {
                let s = im2col_source(win, vec3<u32>(tap, c));
                if s >= 0 {
                    acc = fma(a[u32(s)], w, acc);
                }
            } else {
                let p = depthwise_grad_source(q, tap.x, tap.y);
                if p >= 0 {
                    acc = fma(a[u32(p) * params.c + c], w, acc);
                }
            }
            tap = next_filter_tap(tap);
        }
    }
    store_result(acc, cell.x, cell.y, cell.z);
}
