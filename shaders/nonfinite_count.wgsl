// nonfinite_count: counts the NaN and infinite values of an f32 tensor into a step's health
// record: health[slot] += count and health[0] += count, so a training step knows on the GPU —
// before its optimizer runs — whether any gradient or the loss went bad, and which. A value is
// non-finite when its exponent bits are all ones (decided on the bits: drivers may fold
// isnan/isinf away). PER_LANE elements per lane, WG_SIZE apart so that a workgroup's loads are
// contiguous; a lane that found any adds its count atomically. No barrier and no workgroup
// reduction: healthy tensors, the common case, cost one read of each element.
// CPU twin: src/cpu/nonfinite_count.rs.

const WG_SIZE: u32 = 256u;
// Mirrors `NONFINITE_PER_LANE` in src/ops/nonfinite.rs.
const PER_LANE: u32 = 8u;

// Mirrors `NonFiniteParams` in src/ops/nonfinite.rs.
struct NonFiniteParams {
    n: u32,
    slot: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> params: NonFiniteParams;
@group(0) @binding(1) var<storage> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> health: array<atomic<u32>>;

@compute @workgroup_size(256)
fn main(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let workgroup = (flat_index(gid, nwg, WG_SIZE) - lid) / WG_SIZE;
    let first = workgroup * WG_SIZE * PER_LANE + lid;
    var bad = 0u;
    for (var k = 0u; k < PER_LANE; k++) {
        let i = first + k * WG_SIZE;
        if i < params.n && (bitcast<u32>(x[i]) & 0x7f800000u) == 0x7f800000u {
            bad += 1u;
        }
    }
    if bad > 0u {
        atomicAdd(&health[params.slot], bad);
        atomicAdd(&health[0], bad);
    }
}
