// maxpool: k x k max pooling with stride k over NHWC activations (floor mode: trailing rows and
// columns that do not fill a window are dropped). Forward writes the maximum (the first one on
// ties; NaN never wins unless it comes first) and where in its window it is, ky * k + kx, one
// byte per window (four windows to a word, one invocation per word: 4x less than an index
// kept for the backward); backward routes each output gradient there and zeros to the rest of
// the window, one invocation per window (the last window of a row or column also zeros the
// trailing inputs no window covers), so each input element is written once and no index is
// divided per element. After a ReLU (mode bit 1) the forward gives a window whose maximum is not
// positive NO_WINNER, so the backward routes it nothing: the ReLU's own backward is not needed.
// CPU twin: src/cpu/maxpool.rs.

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

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = gid.x + gid.y * nwg.x * WG_SIZE;
    let windows = params.n * params.oh * params.ow * params.c;
    if (params.mode & BACKWARD) == 0u {
        if 4u * idx >= windows {
            return;
        }
        var word = 0u;
        for (var j = 0u; j < 4u; j++) {
            let w = 4u * idx + j;
            if w >= windows {
                break;
            }
            let ci = w % params.c;
            let ox = (w / params.c) % params.ow;
            let oy = (w / (params.c * params.ow)) % params.oh;
            let ni = w / (params.c * params.ow * params.oh);
            var best = 0.0;
            var at = 0u;
            for (var ky = 0u; ky < params.k; ky++) {
                for (var kx = 0u; kx < params.k; kx++) {
                    let i = ((ni * params.h + oy * params.k + ky) * params.w + ox * params.k + kx)
                        * params.c + ci;
                    let v = x[i];
                    if (ky == 0u && kx == 0u) || v > best {
                        best = v;
                        at = ky * params.k + kx;
                    }
                }
            }
            out[w] = best;
            let routed = (params.mode & AFTER_RELU) == 0u || best > 0.0;
            word |= select(NO_WINNER, at, routed) << (8u * j);
        }
        argmax[idx] = word;
    } else {
        if idx >= windows {
            return;
        }
        let ci = idx % params.c;
        let ox = (idx / params.c) % params.ow;
        let oy = (idx / (params.c * params.ow)) % params.oh;
        let ni = idx / (params.c * params.ow * params.oh);
        let won = (argmax[idx / 4u] >> (8u * (idx % 4u))) & 0xffu;
        // The winner's input row and column (none for NO_WINNER: k <= 15, so ky < 15).
        let wy = select(oy * params.k + won / params.k, 0xffffffffu, won == NO_WINNER);
        let wx = ox * params.k + won % params.k;
        let g = dy[idx];
        let y1 = select(oy * params.k + params.k, params.h, oy == params.oh - 1u);
        let x1 = select(ox * params.k + params.k, params.w, ox == params.ow - 1u);
        for (var iy = oy * params.k; iy < y1; iy++) {
            for (var ix = ox * params.k; ix < x1; ix++) {
                let i = ((ni * params.h + iy) * params.w + ix) * params.c + ci;
                out[i] = select(0.0, g, iy == wy && ix == wx);
            }
        }
    }
}
