// relu: forward: rectify() (common.wgsl: NaN passes, -0 becomes +0). Backward: out = x > 0 ? dy : 0
// (PyTorch's convention at 0), where x may be the forward's input or its output: both have the
// same positive elements. One invocation per element.
// CPU twin: src/cpu/relu.rs.

const WG_SIZE: u32 = 256u;

// Mirrors `ReluParams` in src/ops/relu.rs.
struct ReluParams {
    n: u32,
    backward: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> params: ReluParams;
@group(0) @binding(1) var<storage> x: array<f32>;
@group(0) @binding(2) var<storage> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG_SIZE;
    if i >= params.n {
        return;
    }
    let v = x[i];
    if params.backward == 0u {
        out[i] = rectify(v);
    } else {
        out[i] = select(0.0, dy[i], v > 0.0);
    }
}
