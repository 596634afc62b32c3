// im2col_quantize: im2col and quantize in one pass, for the GEMMs of a quantized convolution. It
// reads the NHWC input and writes the packed int8 column matrix [rows, ceil(taps/4)] words
// directly, so the f32 column matrix is never written nor read back: one pass over memory instead
// of three. One clip for the tensor (clips[clip_offset]), round to nearest: how both methods
// quantize X. The same bits as im2col followed by quantize. CPU twin: src/cpu/conv.rs
// (im2col_quantize).

@group(0) @binding(0) var<uniform> params: ConvParams;
@group(0) @binding(1) var<storage> x: array<f32>;
@group(0) @binding(2) var<storage> clips: array<f32>;
@group(0) @binding(3) var<storage, read_write> packed: array<u32>;
@group(0) @binding(4) var<storage, read_write> scales: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = flat_index(gid, nwg, WG_SIZE);
    let k = taps();
    let k4 = (k + 3u) / 4u;
    if idx >= params.n * params.oh * params.ow * k4 {
        return;
    }
    let clip = clips[params.clip_offset];
    let valid = clip_is_valid(clip);
    if idx == 0u {
        scales[0] = select(0.0, step_of(clip), valid);
    }
    var q = vec4<i32>(0);
    if valid {
        let win = window_of(idx / k4);
        let inv = inv_step(clip);
        let col0 = (idx % k4) * 4u;
        var tap = tap_of(col0);
        for (var j = 0u; j < 4u && col0 + j < k; j++) {
            let src = im2col_source(win, tap);
            if src >= 0 {
                q[j] = quantize_one(x[u32(src)], clip, inv, ROUND_NEAREST, 0u);
            }
            tap = next_tap(tap);
        }
    }
    packed[idx] = pack4xI8(q);
}
