// maxpool: k x k max pooling with stride k over NHWC activations (floor mode: trailing rows and
// columns that do not fill a window are dropped). Forward writes the maximum (the first one on
// ties; NaN never wins unless it comes first) and where in its window it is, ky * k + kx, one
// byte per window (four windows to a word, one invocation per word: 4x less than an index
// kept for the backward); backward routes each output gradient there and zeros to the rest of
// the window, one invocation per window (the last window of a row or column also zeros the
// trailing inputs no window covers), so each input element is written once and no index is
// divided per element. After a ReLU (mode bit 1) the forward gives a window whose maximum is not
// positive NO_WINNER, so the backward routes it nothing: the ReLU's own backward is not needed.
// Two kernels from this file, by the prepended constant BACKWARD_PASS: maxpool (forward) and
// maxpool_backward. CPU twin: src/cpu/maxpool.rs.

const WG_SIZE: u32 = 256u;
const BACKWARD: u32 = 1u;
const AFTER_RELU: u32 = 2u;
const NO_WINNER: u32 = 255u;

// Mirrors `PoolParams` in src/ops/maxpool.rs.
struct PoolParams {
    n: u32,
    h: u32,
    w: u32,
    c: u32,
    k: u32,
    oh: u32,
    ow: u32,
    mode: u32,
}

@group(0) @binding(0) var<uniform> params: PoolParams;
@group(0) @binding(1) var<storage> x: array<f32>;
@group(0) @binding(2) var<storage> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> argmax: array<u32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

// The window after p = (channel, column, row, image) in NHWC order.
fn next_window(p: vec4<u32>) -> vec4<u32> {
    let wrap_c = p.x + 1u == params.c;
    let ox = select(p.y, p.y + 1u, wrap_c);
    let wrap_x = ox == params.ow;
    let oy = select(p.z, p.z + 1u, wrap_x);
    let wrap_y = oy == params.oh;
    return vec4<u32>(select(p.x + 1u, 0u, wrap_c), select(ox, 0u, wrap_x),
        select(oy, 0u, wrap_y), select(p.w, p.w + 1u, wrap_y));
}

// Window w as (channel, column, row, image).
fn window_at(w: u32) -> vec4<u32> {
    let ci = w % params.c;
    let ox = (w / params.c) % params.ow;
    let oy = (w / (params.c * params.ow)) % params.oh;
    return vec4<u32>(ci, ox, oy, w / (params.c * params.ow * params.oh));
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = gid.x + gid.y * nwg.x * WG_SIZE;
    let windows = params.n * params.oh * params.ow * params.c;
    // The direction is a constant of the kernel (maxpool, maxpool_backward): CPU drivers would
    // run both sides of a branch on a parameter.
    if !BACKWARD_PASS {
        if 4u * idx >= windows {
            return;
        }
        var word = 0u;
        // The word's windows follow each other: one set of divisions for the first, then steps.
        var p = window_at(4u * idx);
        for (var j = 0u; j < 4u && 4u * idx + j < windows; j++) {
            let base = ((p.w * params.h + p.z * params.k) * params.w + p.y * params.k) * params.c
                + p.x;
            var best = 0.0;
            var at = 0u;
            for (var ky = 0u; ky < params.k; ky++) {
                for (var kx = 0u; kx < params.k; kx++) {
                    let v = x[base + (ky * params.w + kx) * params.c];
                    let wins = (ky == 0u && kx == 0u) || v > best;
                    best = select(best, v, wins);
                    at = select(at, ky * params.k + kx, wins);
                }
            }
            out[4u * idx + j] = best;
            let routed = (params.mode & AFTER_RELU) == 0u || best > 0.0;
            word |= select(NO_WINNER, at, routed) << (8u * j);
            p = next_window(p);
        }
        argmax[idx] = word;
    } else {
        if idx >= windows {
            return;
        }
        let p = window_at(idx);
        let won = (argmax[idx / 4u] >> (8u * (idx % 4u))) & 0xffu;
        // The winner's input row and column (none for NO_WINNER: k <= 15, so ky < 15).
        let wy = select(p.z * params.k + won / params.k, 0xffffffffu, won == NO_WINNER);
        let wx = p.y * params.k + won % params.k;
        let g = dy[idx];
        let y1 = select(p.z * params.k + params.k, params.h, p.z == params.oh - 1u);
        let x1 = select(p.y * params.k + params.k, params.w, p.y == params.ow - 1u);
        for (var iy = p.z * params.k; iy < y1; iy++) {
            for (var ix = p.y * params.k; ix < x1; ix++) {
                let i = ((p.w * params.h + iy) * params.w + ix) * params.c + p.x;
                out[i] = select(0.0, g, iy == wy && ix == wx);
            }
        }
    }
}
