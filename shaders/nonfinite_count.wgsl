// nonfinite_count: counts the NaN and infinite values of up to four f32 tensors into a step's
// health record: health[slot[t]] += count of tensor t and health[0] += every count, so a training
// step knows on the GPU — before its optimizer runs — whether any gradient or the loss went bad,
// and which. Four tensors per dispatch, because a step checks a dozen and on a GPU every
// dependent dispatch costs its launch. A value is non-finite when its exponent bits are all ones
// (decided on the bits: drivers may fold isnan/isinf away). `per_lane` elements of each tensor per
// lane, WG_SIZE apart so that a workgroup's loads are contiguous; a lane that found any in a
// tensor adds its count atomically. An element is an `Elem`, prepended per kernel
// (src/ops/nonfinite.rs): one f32 in `nonfinite_count`, four in `nonfinite_count_vec4` (every
// binding whole vec4s; values past a tensor's length not counted), whose loads CPU drivers make
// once per vector. No barrier and no workgroup reduction: healthy tensors, the
// common case, cost one read of each element. One tensor may be split into segments, each
// counted into a slot of its own (a model's gradients in one flat buffer, a slot per trainable):
// which segment a bad value lies in is looked up only when one is found. The segments' ends are a
// binding, not parameters, so a tensor may have as many segments as a model has trainables.
// CPU twins: src/cpu/nonfinite_count.rs (nonfinite_count, nonfinite_count_vec4).

const WG_SIZE: u32 = 256u;

// Mirrors `NonFiniteParams` in src/abi/elementwise.rs.
struct NonFiniteParams {
    n: vec4<u32>,
    slot: vec4<u32>,
    segmented: u32,
    segments: u32,
    // Elements each lane checks: `flat_per_lane` in src/abi/elementwise.rs.
    per_lane: u32,
    _pad0: u32,
}

@group(0) @binding(0) var<uniform> params: NonFiniteParams;
@group(0) @binding(1) var<storage> x0: array<Elem>;
@group(0) @binding(2) var<storage> x1: array<Elem>;
@group(0) @binding(3) var<storage> x2: array<Elem>;
@group(0) @binding(4) var<storage> x3: array<Elem>;
// Where each segment of the segmented tensor ends (exclusive, ascending).
@group(0) @binding(5) var<storage> ends: array<u32>;
@group(0) @binding(6) var<storage, read_write> health: array<atomic<u32>>;

// 1 if v is NaN or infinite, else 0.
fn nonfinite(v: f32) -> u32 {
    return select(0u, 1u, (bitcast<u32>(v) & 0x7f800000u) == 0x7f800000u);
}

// Elements (Elem) holding n values.
fn elems(n: u32) -> u32 {
    return (n + ELEM_VALUES - 1u) / ELEM_VALUES;
}

// The non-finite values of element i of a tensor of n values (those past n are not counted).
fn bad_in(v: Elem, i: u32, n: u32) -> u32 {
    var b = 0u;
    for (var c = 0u; c < ELEM_VALUES; c++) {
        b += select(0u, nonfinite(value_of(v, c)), i * ELEM_VALUES + c < n);
    }
    return b;
}

// Whether value v of tensor t (below its length) is NaN or infinite.
fn is_bad(t: u32, v: u32) -> bool {
    if v >= params.n[t] {
        return false;
    }
    let i = v / ELEM_VALUES;
    let c = v % ELEM_VALUES;
    switch t {
        case 0u: {
            return nonfinite(value_of(x0[i], c)) == 1u;
        }
        case 1u: {
            return nonfinite(value_of(x1[i], c)) == 1u;
        }
        case 2u: {
            return nonfinite(value_of(x2[i], c)) == 1u;
        }
        default: {
            return nonfinite(value_of(x3[i], c)) == 1u;
        }
    }
}

// The segment of the segmented tensor value v belongs to.
fn segment_of(v: u32) -> u32 {
    var s = 0u;
    while s + 1u < params.segments && v >= ends[s] {
        s++;
    }
    return s;
}

@compute @workgroup_size(256)
fn main(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let first = strided_first(gid, nwg, lid, WG_SIZE, params.per_lane);
    // Counting first, a loop per tensor that ends at its length, not an if per element: CPU
    // drivers run an if's body for every lane under a mask (loads included) but skip a loop no
    // lane enters, so the tensors a dispatch does not fill, and the short ones past their end,
    // cost nothing.
    let lane_end = first + params.per_lane * WG_SIZE;
    var bad = vec4<u32>(0u);
    for (var i = first; i < min(elems(params.n[0]), lane_end); i += WG_SIZE) {
        bad[0] += bad_in(x0[i], i, params.n[0]);
    }
    for (var i = first; i < min(elems(params.n[1]), lane_end); i += WG_SIZE) {
        bad[1] += bad_in(x1[i], i, params.n[1]);
    }
    for (var i = first; i < min(elems(params.n[2]), lane_end); i += WG_SIZE) {
        bad[2] += bad_in(x2[i], i, params.n[2]);
    }
    for (var i = first; i < min(elems(params.n[3]), lane_end); i += WG_SIZE) {
        bad[3] += bad_in(x3[i], i, params.n[3]);
    }
    // Reporting, in a loop that no lane enters while all is well (see above). Each segmented
    // value into its segment's slot: which segment is looked up only for a bad one.
    let total = bad[0] + bad[1] + bad[2] + bad[3];
    for (var found = total; found > 0u; found = 0u) {
        atomicAdd(&health[0], total);
        for (var t = 0u; t < 4u; t++) {
            if bad[t] > 0u && t != params.segmented {
                atomicAdd(&health[params.slot[t]], bad[t]);
            }
        }
        let t = params.segmented;
        if t < 4u {
            for (var i = first; i < lane_end; i += WG_SIZE) {
                for (var v = i * ELEM_VALUES; v < (i + 1u) * ELEM_VALUES; v++) {
                    if is_bad(t, v) {
                        atomicAdd(&health[params.slot[t] + segment_of(v)], 1u);
                    }
                }
            }
        }
    }
}
