// quantize: fused clip -> scale -> round -> pack of a row-major f32 matrix [rows, cols] into int8
// in [-127, 127], four per u32 along cols (the GEMM reduction axis), rows padded to cols4 words
// with zero bytes. One clip per tensor, per row or per column; the matching scales (clip / 127)
// are written out for the GEMM epilogue. In the variant compiled with MARKS (quantize_relu_mask)
// the input is a ReLU's output (the ReLU ran in its producer's epilogue) and the pass also writes
// that ReLU's bit mask, bit e set where input[e] > 0, so no ReLU pass runs just to write it; it
// needs cols % 4 == 0, so that a word's four elements are elements 4 * idx .. 4 * idx + 3. A
// constant, not a parameter: on CPU drivers a branch on a parameter costs the plain quantize 10%.
// In the variants compiled with FOLD (quantize_fold, quantize_relu_mask_fold) the clip is per
// tensor and not yet reduced: `clips` holds channel_stats' `clip_parts` partial records (8 words
// each, max|x| first) and the clip is their largest max|x| (max is exact in any order, so this is
// the bits channel_stats_reduce would give), which the first workgroup also writes after them,
// as the first field of a record there, for steps that reuse the clip: one dispatch fewer.
// In the variants compiled with SCAN (quantize_scan, quantize_relu_mask_scan) the clip is per
// tensor and not measured yet: every workgroup takes max|x| over the finite elements of the
// whole (small) tensor itself — rereading a few thousand values costs less than a dispatch of
// channel_stats, and max is exact in any order, so the clip has channel_stats' bits — and the
// first workgroup writes it to clips[clip_offset] for steps that reuse it.
// The FOLD and SCAN variants, whose one clip every lane knows before it quantizes, take their
// words through quantize_word_tensor: no channel arithmetic, no division per word where cols %
// 4 == 0, and the scale written once by the first lane (the pass 0.61 -> 0.37 ms for a 256 x 256
// weight on lavapipe).
// CPU twin: src/cpu/quantize.rs.

const WG_SIZE: u32 = 256u;
// Words per lane, WG_SIZE apart: a quarter of the workgroups, each of which a SCAN variant has
// reread the whole tensor for (LeNet-5's scans 1.6 → 1.2 ms on lavapipe; with MARKS too, the
// MLP's 0.44 -> 0.26 ms). A workgroup's 1024 words are 128 whole mask words. Mirrors
// `QUANTIZE_LANE_WORDS` in src/ops/quantize.rs.
const LANE_WORDS: u32 = 4u;

struct QuantizeParams {
    rows: u32,
    cols: u32,
    cols4: u32,
    axis: u32,
    rounding: u32,
    seed: u32,
    // Index of channel 0's clip in `clips` (a layer's entry in a table of clip summaries).
    clip_offset: u32,
    // FOLD: partial records in `clips` from clip_offset on.
    clip_parts: u32,
}

// Words per StatsPartial record.
const PART_WORDS: u32 = 8u;

@group(0) @binding(0) var<uniform> params: QuantizeParams;
@group(0) @binding(1) var<storage> input: array<f32>;
@group(0) @binding(2) var<storage, read_write> clips: array<f32>;
@group(0) @binding(3) var<storage, read_write> packed: array<u32>;
@group(0) @binding(4) var<storage, read_write> scales: array<f32>;
@group(0) @binding(5) var<storage, read_write> mask: array<u32>;
// `input` again, its whole vec4s: CPU drivers load a vector for the cost of one value (SCAN's
// rereading, and the words where cols % 4 == 0 makes each word one vec4).
@group(0) @binding(6) var<storage> input4: array<vec4<f32>>;

// A workgroup's LANE_WORDS * WG_SIZE words: their mask words, gathered here and stored whole.
const MASK_WORDS: u32 = LANE_WORDS * WG_SIZE / 8u;
var<workgroup> positive: array<atomic<u32>, MASK_WORDS>;
// FOLD, SCAN: the tensor's clip, folded by lane 0 and read by all, and its inv_step (a long
// division, taken once per workgroup instead of once per lane).
var<workgroup> folded: f32;
var<workgroup> folded_inv: f32;
// SCAN: each lane's max|x|, folded as a tree.
var<workgroup> lane_max: array<f32, WG_SIZE>;

@compute @workgroup_size(256)
fn main(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let idx = flat_index(gid, nwg, WG_SIZE);
    if FOLD {
        if lid == 0u {
            var c = 0.0;
            for (var p = 0u; p < params.clip_parts; p++) {
                c = max(c, clips[params.clip_offset + p * PART_WORDS]);
            }
            folded = c;
            folded_inv = inv_step(c);
            if idx == 0u {
                clips[params.clip_offset + params.clip_parts * PART_WORDS] = c;
                scales[0] = select(0.0, step_of(c), clip_is_valid(c));
            }
        }
        workgroupBarrier();
    }
    if SCAN {
        let n = params.rows * params.cols;
        var m = 0.0;
        for (var e = lid; e < n / 4u; e += WG_SIZE) {
            let v = input4[e];
            m = max(m, max(max(finite_abs(v.x), finite_abs(v.y)), max(finite_abs(v.z), finite_abs(v.w))));
        }
        for (var e = n - n % 4u + lid; e < n; e += WG_SIZE) {
            m = max(m, finite_abs(input[e]));
        }
        lane_max[lid] = m;
        for (var stride = WG_SIZE / 2u; stride > 0u; stride = stride / 2u) {
            workgroupBarrier();
            if lid < stride {
                lane_max[lid] = max(lane_max[lid], lane_max[lid + stride]);
            }
        }
        workgroupBarrier();
        if lid == 0u {
            folded = lane_max[0];
            folded_inv = inv_step(folded);
            if idx == 0u {
                clips[params.clip_offset] = folded;
                scales[0] = select(0.0, step_of(folded), clip_is_valid(folded));
            }
        }
        workgroupBarrier();
    }
    if MARKS {
        if lid < MASK_WORDS {
            atomicStore(&positive[lid], 0u);
        }
        workgroupBarrier();
    }
    let words = params.rows * params.cols4;
    let first = strided_first(gid, nwg, lid, WG_SIZE, LANE_WORDS);
    // The workgroup's first word, a multiple of 1024.
    let start = first - lid;
    for (var w = first; w < min(words, start + LANE_WORDS * WG_SIZE); w += WG_SIZE) {
        if FOLD || SCAN {
            quantize_word_tensor(w, w - start);
        } else {
            quantize_word(w, w - start);
        }
    }
    if MARKS {
        workgroupBarrier();
        let word = start / 8u + lid;
        if lid < MASK_WORDS && word < (params.rows * params.cols + 31u) / 32u {
            mask[word] = atomicLoad(&positive[lid]);
        }
    }
}

// |x|, or 0 where x is NaN or infinite (max|x| is over the finite values).
fn finite_abs(x: f32) -> f32 {
    return select(0.0, abs(x), is_finite_f32(x));
}

// Word idx, the workgroup's word `local`, with the clip of each of its values' channel.
fn quantize_word(idx: u32, local: u32) {
    let r = idx / params.cols4;
    let c4 = idx % params.cols4;
    // The channel and "first element of its channel" without branching on the axis per element.
    let by_col = params.axis == AXIS_COLS;
    let row_ch = select(0u, r, params.axis == AXIS_ROWS);
    let first_row = r == 0u || params.axis == AXIS_ROWS;
    var q = vec4<i32>(0);
    // The word's values: one vec4 where cols % 4 == 0 (always with MARKS), else up to four
    // values. Loops, not ifs: CPU drivers skip a loop that no lane enters but run both sides of
    // an if under masks, loads included.
    let whole = MARKS || params.cols % 4u == 0u;
    var word = vec4<f32>(0.0);
    for (var once = whole; once; once = false) {
        word = input4[idx];
    }
    for (var j = 0u; j < 4u && !whole && c4 * 4u + j < params.cols; j++) {
        word[j] = input[r * params.cols + c4 * 4u + j];
    }
    var clip = 0.0;
    var valid = false;
    var inv = 0.0;
    var nibble = 0u;
    for (var j = 0u; j < 4u; j++) {
        let c = c4 * 4u + j;
        if c >= params.cols {
            break;
        }
        let ch = select(row_ch, c, by_col);
        // A word's four values share a clip unless channels are columns: inv_step (a long
        // division) once per clip, not per value.
        if j == 0u || by_col {
            if FOLD || SCAN {
                clip = folded;
                inv = folded_inv;
            } else {
                clip = clips[params.clip_offset + ch];
                inv = inv_step(clip);
            }
            valid = clip_is_valid(clip);
        }
        // Exactly one word writes each channel's scale: the one holding its first element.
        if first_row && (c == 0u || by_col) {
            scales[ch] = select(0.0, step_of(clip), valid);
        }
        let e = r * params.cols + c;
        let x = word[j];
        if MARKS {
            nibble |= select(0u, 1u << j, x > 0.0);
        }
        if valid {
            var rnd = 0u;
            if params.rounding == ROUND_STOCHASTIC {
                rnd = rng_u32(params.seed, e);
            }
            q[j] = quantize_one(x, clip, inv, params.rounding, rnd);
        }
    }
    packed[idx] = pack4xI8(q);
    if MARKS && nibble != 0u {
        atomicOr(&positive[local / 8u], nibble << ((local % 8u) * 4u));
    }
}

// Word idx, the workgroup's word `local`, with the tensor clip `folded`. Stochastic rounding
// keys each value by its element index, 4 * idx + j where words are whole.
fn quantize_word_tensor(idx: u32, local: u32) {
    let whole = MARKS || params.cols % 4u == 0u;
    var word = vec4<f32>(0.0);
    var e = 4u * idx;
    for (var once = whole; once; once = false) {
        word = input4[idx];
    }
    for (var once = !whole; once; once = false) {
        let c = idx % params.cols4 * 4u;
        e = idx / params.cols4 * params.cols + c;
        for (var j = 0u; j < 4u && c + j < params.cols; j++) {
            word[j] = input[e + j];
        }
    }
    // Past the last column a word's values stay 0, which quantize to 0.
    var q = vec4<i32>(0);
    for (var valid = clip_is_valid(folded); valid; valid = false) {
        let rounding = params.rounding;
        var rnd = vec4<u32>(0u);
        for (var s = rounding == ROUND_STOCHASTIC; s; s = false) {
            let seed = params.seed;
            rnd = vec4<u32>(rng_u32(seed, e), rng_u32(seed, e + 1u), rng_u32(seed, e + 2u),
                rng_u32(seed, e + 3u));
        }
        q = vec4<i32>(quantize_one(word.x, folded, folded_inv, rounding, rnd.x),
            quantize_one(word.y, folded, folded_inv, rounding, rnd.y),
            quantize_one(word.z, folded, folded_inv, rounding, rnd.z),
            quantize_one(word.w, folded, folded_inv, rounding, rnd.w));
    }
    packed[idx] = pack4xI8(q);
    if MARKS {
        let nibble = select(0u, 1u, word.x > 0.0) | select(0u, 2u, word.y > 0.0)
            | select(0u, 4u, word.z > 0.0) | select(0u, 8u, word.w > 0.0);
        if nibble != 0u {
            atomicOr(&positive[local / 8u], nibble << ((local % 8u) * 4u));
        }
    }
}
