// col2im: the adjoint of im2col, a gather: dx[n, y, x, c] = sum over the taps (ky, kx) that read
// (y, x) of dcols[(n, oy, ox), (ky, kx, c)], in ascending (ky, kx) order, so no atomics and the
// same bits every time. One invocation per element of dx. In the variant compiled with POOLED
// (col2im_maxpool) the convolution's input is the output of a k x k max pooling, and the pass
// also does that pooling's backward, as maxpool does it: the element's gradient goes to its
// window's winner in the pooling's input gradient (`dx`, then [n, pool_h, pool_w, c]), zeros to
// the rest of the window (the last window of a row or column also zeros the inputs no window
// covers), so no pass writes the convolution's input gradient only for the pooling to read it.
// params.pool = k | (pool_h - h * k) << 8 | (pool_w - w * k) << 16. CPU twin: src/cpu/conv.rs.

const NO_WINNER: u32 = 255u;

@group(0) @binding(0) var<uniform> params: ConvParams;
@group(0) @binding(1) var<storage> dcols: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;
// POOLED: the pooling's winners, one byte per window (maxpool's forward writes them).
@group(0) @binding(3) var<storage> argmax: array<u32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = gid.x + gid.y * nwg.x * WG_SIZE;
    if idx >= params.n * params.h * params.w * params.c {
        return;
    }
    let ci = idx % params.c;
    let ix = (idx / params.c) % params.w;
    let iy = (idx / (params.c * params.w)) % params.h;
    let ni = idx / (params.c * params.w * params.h);
    let k = taps();
    // Only taps ky ≡ (iy + pad) mod stride read (iy, ix); their output rows count down by one
    // per step, so the loops divide nothing.
    let ty = iy + params.pad;
    let tx = ix + params.pad;
    let s = params.stride;
    var v = 0.0;
    var oy = i32(ty / s);
    for (var ky = ty % s; ky < params.kh && oy >= 0; ky += s) {
        if u32(oy) < params.oh {
            var ox = i32(tx / s);
            for (var kx = tx % s; kx < params.kw && ox >= 0; kx += s) {
                if u32(ox) < params.ow {
                    let row = (ni * params.oh + u32(oy)) * params.ow + u32(ox);
                    v += dcols[row * k + (ky * params.kw + kx) * params.c + ci];
                }
                ox -= 1;
            }
        }
        oy -= 1;
    }
    if POOLED {
        route_to_winner(idx, ni, iy, ix, ci, v);
    } else {
        dx[idx] = v;
    }
}

// maxpool's backward of window (ni, oy, ox, ci), `idx` in the pooling's output, gradient `g`.
fn route_to_winner(idx: u32, ni: u32, oy: u32, ox: u32, ci: u32, g: f32) {
    let k = params.pool & 0xffu;
    let h = params.h * k + ((params.pool >> 8u) & 0xffu);
    let w = params.w * k + (params.pool >> 16u);
    let won = (argmax[idx / 4u] >> (8u * (idx % 4u))) & 0xffu;
    // The winner's input row and column (none for NO_WINNER: k <= 15, so ky < 15).
    let wy = select(oy * k + won / k, 0xffffffffu, won == NO_WINNER);
    let wx = ox * k + won % k;
    let y1 = select(oy * k + k, h, oy == params.h - 1u);
    let x1 = select(ox * k + k, w, ox == params.w - 1u);
    for (var iy = oy * k; iy < y1; iy++) {
        for (var ix = ox * k; ix < x1; ix++) {
            let i = ((ni * h + iy) * w + ix) * params.c + ci;
            dx[i] = select(0.0, g, iy == wy && ix == wx);
        }
    }
}
