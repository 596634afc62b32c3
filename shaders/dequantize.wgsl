// dequantize: packed int8 [rows, cols4 words] -> f32 [rows, cols], x = q * scale with one scale
// per tensor, row or column (the layout quantize writes). CPU twin: src/cpu/dequantize.rs.

const WG_SIZE: u32 = 256u;

struct DequantizeParams {
    rows: u32,
    cols: u32,
    cols4: u32,
    axis: u32,
}

@group(0) @binding(0) var<uniform> params: DequantizeParams;
@group(0) @binding(1) var<storage> packed: array<u32>;
@group(0) @binding(2) var<storage> scales: array<f32>;
@group(0) @binding(3) var<storage, read_write> output: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = flat_index(gid, nwg, WG_SIZE);
    if idx >= params.rows * params.cols4 {
        return;
    }
    let r = idx / params.cols4;
    let c4 = idx % params.cols4;
    let q = unpack4xI8(packed[idx]);
    for (var j = 0u; j < 4u; j++) {
        let c = c4 * 4u + j;
        if c >= params.cols {
            break;
        }
        output[r * params.cols + c] = f32(q[j]) * scales[channel_of(params.axis, r, c)];
    }
}
