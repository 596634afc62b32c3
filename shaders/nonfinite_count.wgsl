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

// The bits of element i of tensor t.
fn bits_of(t: u32, i: u32) -> u32 {
    switch t {
        case 0u: {
            return bitcast<u32>(x0[i]);
        }
        case 1u: {
            return bitcast<u32>(x1[i]);
        }
        case 2u: {
            return bitcast<u32>(x2[i]);
        }
        default: {
            return bitcast<u32>(x3[i]);
        }
    }
}

fn is_bad(t: u32, i: u32) -> bool {
    return i < params.n[t] && (bits_of(t, i) & 0x7f800000u) == 0x7f800000u;
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
    // Counting first, in loops small enough for the compiler to unroll (a tensor index known
    // at compile time reads its binding directly; rolled up, every read would switch on it).
    var bad = vec4<u32>(0u);
    for (var t = 0u; t < 4u; t++) {
        for (var k = 0u; k < PER_LANE; k++) {
            if is_bad(t, first + k * WG_SIZE) {
                bad[t] += 1u;
            }
        }
    }
    for (var t = 0u; t < 4u; t++) {
        if bad[t] > 0u {
            atomicAdd(&health[0], bad[t]);
            if t != params.segmented {
                atomicAdd(&health[params.slot[t]], bad[t]);
            }
        }
    }
    if params.segmented >= 4u {
        return;
    }
    // The segmented tensor's values, each into its segment's slot. A loop, not an if: CPU
    // drivers run an if's body for every lane under a mask, but leave a loop no lane enters.
    let t = params.segmented;
    for (var found = bad[t]; found > 0u; found = 0u) {
        for (var k = 0u; k < PER_LANE; k++) {
            let i = first + k * WG_SIZE;
            if is_bad(t, i) {
                atomicAdd(&health[params.slot[t] + segment_of(i)], 1u);
            }
        }
    }
}
