// quantize_pair: DAI8's two int8 copies of a gradient dY [rows, cols] from one read of it — one
// with a clip per tensor (for the input-gradient GEMM), one with a clip per column, that is per
// output channel (for the weight-gradient GEMM) — each packed four per u32 along cols as quantize
// packs them, rows padded to cols4 words with zero bytes. The per-column clips are read from
// `clips`; the tensor clip is their largest (clip_select's tensor clip, bit for bit: max is exact
// in any order), folded by every workgroup. Each copy rounds with its own seed, so the pair gives
// the bits of two quantize passes. One dispatch and one read of dY fewer per quantized layer.
// CPU twin: src/cpu/quantize.rs (quantize_pair).

const WG_SIZE: u32 = 256u;

// Mirrors `QuantizePairParams` in src/abi/quantize.rs.
struct QuantizePairParams {
    rows: u32,
    cols: u32,
    cols4: u32,
    rounding: u32,
    // Stochastic-rounding seeds of the per-tensor and the per-column copy.
    seed: u32,
    seed_channels: u32,
    // Packed words per lane, WG_SIZE apart: 4, or 1 where rows are over 256 words long (see
    // column_inv).
    lane_words: u32,
    _pad0: u32,
}

@group(0) @binding(0) var<uniform> params: QuantizePairParams;
@group(0) @binding(1) var<storage> input: array<f32>;
@group(0) @binding(2) var<storage> clips: array<f32>;
@group(0) @binding(3) var<storage, read_write> packed: array<u32>;
@group(0) @binding(4) var<storage, read_write> scales: array<f32>;
@group(0) @binding(5) var<storage, read_write> packed_channels: array<u32>;
@group(0) @binding(6) var<storage, read_write> scales_channels: array<f32>;

var<workgroup> sh_max: array<f32, WG_SIZE>;
// The steps' reciprocals (inv_step, a long division) once per workgroup rather than once per
// value (LeNet-5's conv2 dY, 100k values on lavapipe: about 15% of the pass). `tensor_inv` for
// the tensor clip; slot s of `column_inv` for the four columns of word-column (first + s) %
// cols4, where `first` is the word-column of the workgroup's first word: rows of at most 256
// words have at most 256 word-columns, and a workgroup's 256 consecutive words (one per lane
// where rows are longer) fall in at most 256 consecutive ones (mod cols4), so every word finds
// its columns there.
var<workgroup> tensor_inv: f32;
var<workgroup> column_inv: array<vec4<f32>, WG_SIZE>;

@compute @workgroup_size(256)
fn main(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    // The tensor clip, left in sh_max[0] by lane 0: where there are at most 256 columns lane 0
    // takes them all, else lane l takes columns l, l + 256, ..., then a tree over the lanes. On
    // a CPU driver every barrier switches each group of lanes in turn, which cost more than
    // lane 0's loop (LeNet-5's conv2 dY on lavapipe: this pass 2.3 -> 1.3 ms).
    let tree = params.cols > WG_SIZE;
    var m = 0.0;
    let end = select(select(0u, params.cols, lid == 0u), params.cols, tree);
    let step = select(1u, WG_SIZE, tree);
    for (var c = select(0u, lid, tree); c < end; c += step) {
        m = max(m, clips[c]);
    }
    sh_max[lid] = m;
    for (var stride = select(0u, WG_SIZE / 2u, tree); stride > 0u; stride = stride / 2u) {
        workgroupBarrier();
        if lid < stride {
            sh_max[lid] = max(sh_max[lid], sh_max[lid + stride]);
        }
    }
    // The workgroup's first word and its word-column.
    let start = strided_first(gid, nwg, lid, WG_SIZE, params.lane_words) - lid;
    let first = start % params.cols4;
    if lid < params.cols4 {
        let c4 = (first + lid) % params.cols4;
        var inv = vec4<f32>(0.0);
        for (var j = 0u; j < 4u && c4 * 4u + j < params.cols; j++) {
            inv[j] = inv_step(clips[c4 * 4u + j]);
        }
        column_inv[lid] = inv;
    }
    // Lane 0 wrote sh_max[0] last: it reads it before the barrier that shows it to the rest.
    if lid == 0u {
        tensor_inv = inv_step(sh_max[0]);
    }
    // The scales, by the first workgroup: the words holding a column's first element would
    // each write one, but a CPU driver runs that branch's division under a mask in every lane.
    for (var c = lid; start == 0u && c < params.cols; c += WG_SIZE) {
        scales_channels[c] = select(0.0, step_of(clips[c]), clip_is_valid(clips[c]));
        if c == 0u {
            scales[0] = select(0.0, step_of(sh_max[0]), clip_is_valid(sh_max[0]));
        }
    }
    workgroupBarrier();
    let end_word = min(params.rows * params.cols4, start + params.lane_words * WG_SIZE);
    for (var w = start + lid; w < end_word; w += WG_SIZE) {
        let slot = (w % params.cols4 + params.cols4 - first) % params.cols4;
        quantize_word_pair(w, sh_max[0], tensor_inv, column_inv[slot]);
    }
}

fn quantize_word_pair(idx: u32, tensor_clip: f32, inv: f32, inv_c: vec4<f32>) {
    let r = idx / params.cols4;
    let c4 = idx % params.cols4;
    let valid = clip_is_valid(tensor_clip);
    var q = vec4<i32>(0);
    var qc = vec4<i32>(0);
    for (var j = 0u; j < 4u; j++) {
        let c = c4 * 4u + j;
        if c >= params.cols {
            break;
        }
        let clip_c = clips[c];
        let valid_c = clip_is_valid(clip_c);
        let e = r * params.cols + c;
        let x = input[e];
        if valid {
            var rnd = 0u;
            if params.rounding == ROUND_STOCHASTIC {
                rnd = rng_u32(params.seed, e);
            }
            q[j] = quantize_one(x, tensor_clip, inv, params.rounding, rnd);
        }
        if valid_c {
            var rnd = 0u;
            if params.rounding == ROUND_STOCHASTIC {
                rnd = rng_u32(params.seed_channels, e);
            }
            qc[j] = quantize_one(x, clip_c, inv_c[j], params.rounding, rnd);
        }
    }
    packed[idx] = pack4xI8(q);
    packed_channels[idx] = pack4xI8(qc);
}

