// col2im: the adjoint of im2col, a gather: dx[n, y, x, c] = sum over the taps (ky, kx) that read
// (y, x) of dcols[(n, oy, ox), (ky, kx, c)], in ascending (ky, kx) order, so no atomics and the
// same bits every time. One invocation per element of dx. CPU twin: src/cpu/conv.rs.

@group(0) @binding(0) var<uniform> params: ConvParams;
@group(0) @binding(1) var<storage> dcols: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;

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
    dx[idx] = v;
}
