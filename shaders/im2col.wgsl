// im2col: NHWC activations [n, h, w, c] -> column matrix [n * oh * ow, kh * kw * c], zeros
// where a tap falls in the padding. One invocation per column-matrix element.
// CPU twin: src/cpu/conv.rs.

@group(0) @binding(0) var<uniform> params: ConvParams;
@group(0) @binding(1) var<storage> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> cols: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = gid.x + gid.y * nwg.x * WG_SIZE;
    let k = taps();
    if idx >= params.n * params.oh * params.ow * k {
        return;
    }
    let row = idx / k;
    let col = idx % k;
    let ox = row % params.ow;
    let oy = (row / params.ow) % params.oh;
    let ni = row / (params.ow * params.oh);
    let ci = col % params.c;
    let kx = (col / params.c) % params.kw;
    let ky = col / (params.c * params.kw);
    let iy = i32(oy * params.stride + ky) - i32(params.pad);
    let ix = i32(ox * params.stride + kx) - i32(params.pad);
    var v = 0.0;
    if iy >= 0 && ix >= 0 && iy < i32(params.h) && ix < i32(params.w) {
        v = x[((ni * params.h + u32(iy)) * params.w + u32(ix)) * params.c + ci];
    }
    cols[idx] = v;
}
