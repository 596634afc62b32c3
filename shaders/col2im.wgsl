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
    var v = 0.0;
    for (var ky = 0u; ky < params.kh; ky++) {
        let ty = i32(iy + params.pad) - i32(ky);
        if ty < 0 || ty % i32(params.stride) != 0 || u32(ty) / params.stride >= params.oh {
            continue;
        }
        let oy = u32(ty) / params.stride;
        for (var kx = 0u; kx < params.kw; kx++) {
            let tx = i32(ix + params.pad) - i32(kx);
            if tx < 0 || tx % i32(params.stride) != 0 || u32(tx) / params.stride >= params.ow {
                continue;
            }
            let ox = u32(tx) / params.stride;
            let row = (ni * params.oh + oy) * params.ow + ox;
            v += dcols[row * k + (ky * params.kw + kx) * params.c + ci];
        }
    }
    dx[idx] = v;
}
