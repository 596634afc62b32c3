// Shared by im2col, im2col_i8, col2im and the implicit-GEMM convolutions (prepended by
// src/gpu/kernel.rs): the convolution geometry.
// Activations are NHWC, row-major: element (n, y, x, c) at ((n * h + y) * w + x) * c_in + c.
// The column matrix has one row per output pixel (n, oy, ox) and one column per kernel tap
// (ky, kx, c), so a convolution is the GEMM cols [M, K] x weights [c_out, K]^T with
// M = n * oh * ow and K = kh * kw * c_in, and its output is NHWC again.

// Mirrors `ConvParams` in src/ops/conv.rs.
struct ConvParams {
    n: u32,
    h: u32,
    w: u32,
    c: u32,
    kh: u32,
    kw: u32,
    stride: u32,
    pad: u32,
    oh: u32,
    ow: u32,
    // col2im_maxpool: the pooling before the convolution, packed (see col2im.wgsl); else 0.
    pool: u32,
    _pad0: u32,
}

// The implicit-GEMM convolutions' parameters (conv_f32_regs, conv_i8_regs): the GEMM's
// (gemm_common.wgsl reads m, n, k, k_chunk, flags) followed by the convolution's (this file's
// functions read h, w, c, kh, kw, stride, pad, oh, ow, never n). Mirrors `ConvGemmParams` in
// src/ops/gemm.rs.
struct ConvGemmParams {
    m: u32,
    n: u32,
    k: u32,
    k_chunk: u32,
    flags: u32,
    chunks: u32,
    bias_offset: u32,
    out_offset: u32,
    batch: u32,
    h: u32,
    w: u32,
    c: u32,
    kh: u32,
    kw: u32,
    stride: u32,
    pad: u32,
    oh: u32,
    ow: u32,
    _pad2: u32,
    _pad3: u32,
}

const WG_SIZE: u32 = 256u;

fn taps() -> u32 {
    return params.kh * params.kw * params.c;
}

// The window of output pixel `row` (column-matrix row): its top-left input pixel (y, x), which
// may lie in the padding, and its image.
fn window_of(row: u32) -> vec3<i32> {
    let ox = row % params.ow;
    let oy = (row / params.ow) % params.oh;
    let ni = row / (params.ow * params.oh);
    return vec3<i32>(i32(oy * params.stride) - i32(params.pad),
                     i32(ox * params.stride) - i32(params.pad), i32(ni));
}

// Kernel tap `col` (column-matrix column) as (ky, kx, ci).
fn tap_of(col: u32) -> vec3<u32> {
    return vec3<u32>(col / (params.c * params.kw), (col / params.c) % params.kw, col % params.c);
}

// The next tap in column order, without dividing (integer division is slow on CPU drivers).
fn next_tap(t: vec3<u32>) -> vec3<u32> {
    var n = vec3<u32>(t.x, t.y, t.z + 1u);
    if n.z == params.c {
        n = vec3<u32>(n.x, n.y + 1u, 0u);
        if n.y == params.kw {
            n = vec3<u32>(n.x + 1u, 0u, 0u);
        }
    }
    return n;
}

// The index in x that window `win` reads at tap `t`, or -1 in the padding.
fn im2col_source(win: vec3<i32>, t: vec3<u32>) -> i32 {
    let iy = win.x + i32(t.x);
    let ix = win.y + i32(t.y);
    if iy < 0 || ix < 0 || iy >= i32(params.h) || ix >= i32(params.w) {
        return -1;
    }
    return ((win.z * i32(params.h) + iy) * i32(params.w) + ix) * i32(params.c) + i32(t.z);
}

// The next output pixel's window, given this one's (`win`) and its output column and row (`o`),
// without dividing. Returns the window; advances `o`.
fn next_window(win: vec3<i32>, o: ptr<function, vec2<u32>>) -> vec3<i32> {
    var next = vec3<i32>(win.x, win.y + i32(params.stride), win.z);
    (*o).x++;
    if (*o).x == params.ow {
        (*o).x = 0u;
        next.y = -i32(params.pad);
        (*o).y++;
        next.x += i32(params.stride);
        if (*o).y == params.oh {
            (*o).y = 0u;
            next.x = -i32(params.pad);
            next.z++;
        }
    }
    return next;
}

// Depthwise convolutions (one kh x kw filter per channel, so a tap is (ky, kx) alone): the
// output pixel whose window reads input pixel `q` = (iy, ix, image) at tap (ky, kx), or -1 if
// none does (the stride skips it, or the window would start past the output).
fn depthwise_grad_source(q: vec3<u32>, ky: u32, kx: u32) -> i32 {
    let ny = i32(q.x + params.pad) - i32(ky);
    let nx = i32(q.y + params.pad) - i32(kx);
    if ny < 0 || nx < 0 {
        return -1;
    }
    var oy = u32(ny);
    var ox = u32(nx);
    // Integer division is slow on CPU drivers: none at stride 1.
    if params.stride != 1u {
        if oy % params.stride != 0u || ox % params.stride != 0u {
            return -1;
        }
        oy /= params.stride;
        ox /= params.stride;
    }
    if oy >= params.oh || ox >= params.ow {
        return -1;
    }
    return i32((q.z * params.oh + oy) * params.ow + ox);
}

// Input pixel `q` (an NHWC pixel index) as (iy, ix, image).
fn pixel_of(q: u32) -> vec3<u32> {
    return vec3<u32>((q / params.w) % params.h, q % params.w, q / (params.w * params.h));
}

// The tap after (ky, kx) in row-major order, without dividing.
fn next_filter_tap(t: vec2<u32>) -> vec2<u32> {
    if t.y + 1u == params.kw {
        return vec2<u32>(t.x + 1u, 0u);
    }
    return vec2<u32>(t.x, t.y + 1u);
}
