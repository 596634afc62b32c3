// im2col_i8: the packed int8 column matrix [rows, ceil(taps/4)] words of a convolution's input
// that is kept quantized in place (one int8 per NHWC element, four to a word in element order:
// quantize with ConvGeometry::quantized_input_layout). The forward gathers it for its GEMM and the
// backward gathers it again for the weight gradient's, so a quantized layer keeps a byte per
// input element rather than the column matrix (kh·kw times larger), which lives in scratch only
// while a GEMM reads it. Pure data movement: the same bits as quantizing im2col(x) with the clip
// x_q was quantized with (padding is 0 either way). One invocation gathers a whole row, stepping
// through the taps without dividing: on CPU drivers the divisions that locate a window and a tap
// cost more than the gather itself. CPU twin: src/cpu/conv.rs (im2col_i8).

@group(0) @binding(0) var<uniform> params: ConvParams;
@group(0) @binding(1) var<storage> x_q: array<u32>;
@group(0) @binding(2) var<storage, read_write> packed: array<u32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let row = flat_index(gid, nwg, 64u);
    if row >= params.n * params.oh * params.ow {
        return;
    }
    let k = taps();
    let k4 = (k + 3u) / 4u;
    let win = window_of(row);
    var tap = vec3<u32>(0u);
    for (var w = 0u; w < k4; w++) {
        var word = 0u;
        for (var j = 0u; j < 4u && w * 4u + j < k; j++) {
            let src = im2col_source(win, tap);
            if src >= 0 {
                let e = u32(src);
                word |= ((x_q[e / 4u] >> ((e % 4u) * 8u)) & 0xffu) << (j * 8u);
            }
            tap = next_tap(tap);
        }
        packed[row * k4 + w] = word;
    }
}
