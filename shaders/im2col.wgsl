// im2col: NHWC activations [n, h, w, c] -> column matrix [n * oh * ow, kh * kw * c], zeros
// where a tap falls in the padding. One invocation per four consecutive elements of a row, so the
// window and the first tap are divided out once and the rest found by counting.
// CPU twin: src/cpu/conv.rs.

@group(0) @binding(0) var<uniform> params: ConvParams;
@group(0) @binding(1) var<storage> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> cols: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = gid.x + gid.y * nwg.x * WG_SIZE;
    let k = taps();
    let k4 = (k + 3u) / 4u;
    if idx >= params.n * params.oh * params.ow * k4 {
        return;
    }
    let row = idx / k4;
    let win = window_of(row);
    let col0 = (idx % k4) * 4u;
    var tap = tap_of(col0);
    for (var j = 0u; j < 4u && col0 + j < k; j++) {
        let src = im2col_source(win, tap);
        var v = 0.0;
        if src >= 0 {
            v = x[u32(src)];
        }
        cols[row * k + col0 + j] = v;
        tap = next_tap(tap);
    }
}
