// relu: forward: rectify() (common.wgsl: NaN passes, -0 becomes +0), and with MASKED a bit per
// element, set where x > 0, for a backward that keeps no f32 tensor. Backward: out = x > 0 ? dy
// : 0 (PyTorch's convention at 0), where x may be the forward's input or its output (both have
// the same positive elements), or with MASKED the forward's bit. One invocation per element; a
// workgroup's 256 bits gather in workgroup memory and leave as 8 whole words. With CAP6 it is
// ReLU6: the output is also capped at 6 (NaN still passes), and the mask and the backward pass
// the gradient only where 0 < x < 6 (x the input; the output at 6 is capped too).
// CPU twin: src/cpu/relu.rs.

const WG_SIZE: u32 = 256u;
const BACKWARD: u32 = 1u;
const MASKED: u32 = 2u;
const CAP6: u32 = 4u;

// Mirrors `ReluParams` in src/ops/relu.rs.
struct ReluParams {
    n: u32,
    flags: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> params: ReluParams;
@group(0) @binding(1) var<storage> x: array<f32>;
@group(0) @binding(2) var<storage> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> mask: array<u32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

var<workgroup> bits: array<atomic<u32>, 8>;

@compute @workgroup_size(256)
fn main(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let i = flat_index(gid, nwg, WG_SIZE);
    let masked = (params.flags & MASKED) != 0u;
    let cap6 = (params.flags & CAP6) != 0u;
    if (params.flags & BACKWARD) != 0u {
        if i < params.n {
            var keep: bool;
            if masked {
                keep = ((mask[i / 32u] >> (i % 32u)) & 1u) != 0u;
            } else {
                keep = x[i] > 0.0 && !(cap6 && x[i] >= 6.0);
            }
            out[i] = select(0.0, dy[i], keep);
        }
        return;
    }
    if lid < WG_SIZE / 32u {
        atomicStore(&bits[lid], 0u);
    }
    workgroupBarrier();
    if i < params.n {
        let v = x[i];
        let r = rectify(v);
        out[i] = select(r, 6.0, cap6 && r > 6.0);
        if masked && v > 0.0 && !(cap6 && v >= 6.0) {
            atomicOr(&bits[lid / 32u], 1u << (lid % 32u));
        }
    }
    workgroupBarrier();
    // The workgroup's first element is i - lid, a multiple of 256: its words are whole.
    let word = (i - lid) / 32u + lid;
    if masked && lid < WG_SIZE / 32u && word < (params.n + 31u) / 32u {
        mask[word] = atomicLoad(&bits[lid]);
    }
}
