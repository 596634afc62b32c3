// nonfinite_count: counts the NaN and infinite values of up to four f32 tensors into a step's
// health record: health[slot[t]] += count of tensor t and health[0] += every count, so a training
// step knows on the GPU — before its optimizer runs — whether any gradient or the loss went bad,
// and which. Four tensors per dispatch, because a step checks a dozen and on a GPU every
// dependent dispatch costs its launch. A value is non-finite when its exponent bits are all ones
// (decided on the bits: drivers may fold isnan/isinf away). PER_LANE elements of each tensor per
// lane, WG_SIZE apart so that a workgroup's loads are contiguous; a lane that found any in a
// tensor adds its count atomically. No barrier and no workgroup reduction: healthy tensors, the
// common case, cost one read of each element. One tensor may be split into segments, each
// counted into a slot of its own (a model's gradients in one flat buffer, a slot per trainable):
// which segment a bad value lies in is looked up only when one is found. The segments' ends are a
// binding, not parameters, so a tensor may have as many segments as a model has trainables.
// CPU twin: src/cpu/nonfinite_count.rs.

const WG_SIZE: u32 = 256u;
// Mirrors `NONFINITE_PER_LANE` in src/abi/elementwise.rs.
const PER_LANE: u32 = 8u;

// Mirrors `NonFiniteParams` in src/abi/elementwise.rs.
struct NonFiniteParams {
    n: vec4<u32>,
    slot: vec4<u32>,
    segmented: u32,
    segments: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> params: NonFiniteParams;
@group(0) @binding(1) var<storage> x0: array<f32>;
@group(0) @binding(2) var<storage> x1: array<f32>;
@group(0) @binding(3) var<storage> x2: array<f32>;
@group(0) @binding(4) var<storage> x3: array<f32>;
// Where each segment of the segmented tensor ends (exclusive, ascending).
@group(0) @binding(5) var<storage> ends: array<u32>;
@group(0) @binding(6) var<storage, read_write> health: array<atomic<u32>>;

// 1 if v is NaN or infinite, else 0.
fn nonfinite(v: f32) -> u32 {
    return select(0u, 1u, (bitcast<u32>(v) & 0x7f800000u) == 0x7f800000u);
}

// Whether element i of tensor t (below its length) is NaN or infinite.
fn is_bad(t: u32, i: u32) -> bool {
    if i >= params.n[t] {
        return false;
    }
    switch t {
        case 0u: {
            return nonfinite(x0[i]) == 1u;
        }
        case 1u: {
            return nonfinite(x1[i]) == 1u;
        }
        case 2u: {
            return nonfinite(x2[i]) == 1u;
        }
        default: {
            return nonfinite(x3[i]) == 1u;
        }
    }
}

// The segment of the segmented tensor element i belongs to.
fn segment_of(i: u32) -> u32 {
    var s = 0u;
    while s + 1u < params.segments && i >= ends[s] {
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
    let first = strided_first(gid, nwg, lid, WG_SIZE, PER_LANE);
    // Counting first, a loop per tensor that ends at its length, not an if per element: CPU
    // drivers run an if's body for every lane under a mask (loads included) but skip a loop no
    // lane enters, so the tensors a dispatch does not fill, and the short ones past their end,
    // cost nothing.
    let lane_end = first + PER_LANE * WG_SIZE;
    var bad = vec4<u32>(0u);
    for (var i = first; i < min(params.n[0], lane_end); i += WG_SIZE) {
        bad[0] += nonfinite(x0[i]);
    }
    for (var i = first; i < min(params.n[1], lane_end); i += WG_SIZE) {
        bad[1] += nonfinite(x1[i]);
    }
    for (var i = first; i < min(params.n[2], lane_end); i += WG_SIZE) {
        bad[2] += nonfinite(x2[i]);
    }
    for (var i = first; i < min(params.n[3], lane_end); i += WG_SIZE) {
        bad[3] += nonfinite(x3[i]);
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
                if is_bad(t, i) {
                    atomicAdd(&health[params.slot[t] + segment_of(i)], 1u);
                }
            }
        }
    }
}
