// nonfinite_count: counts the NaN and infinite values of an f32 tensor into a step's health
// record: health[slot] += count and health[0] += count, so a training step knows on the GPU —
// before its optimizer runs — whether any gradient or the loss went bad, and which. A value is
// non-finite when its exponent bits are all ones (decided on the bits: drivers may fold
// isnan/isinf away). One element per lane, one atomic add per workgroup that found any.
// CPU twin: src/cpu/nonfinite_count.rs.

const WG_SIZE: u32 = 256u;

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

var<workgroup> sh: array<u32, WG_SIZE>;

@compute @workgroup_size(256)
fn main(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = gid.x + gid.y * nwg.x * WG_SIZE;
    var bad = 0u;
    if i < params.n && (bitcast<u32>(x[i]) & 0x7f800000u) == 0x7f800000u {
        bad = 1u;
    }
    sh[lid] = bad;
    for (var stride = WG_SIZE / 2u; stride > 0u; stride = stride / 2u) {
        workgroupBarrier();
        if lid < stride {
            sh[lid] = sh[lid] + sh[lid + stride];
        }
    }
    if lid == 0u && sh[0] > 0u {
        atomicAdd(&health[params.slot], sh[0]);
        atomicAdd(&health[0], sh[0]);
    }
}
