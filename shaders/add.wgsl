// add: out = a + b elementwise (residual connections and gradient fan-in); with RECTIFY, out is
// passed through rectify(): the ReLU after a residual sum, run here instead of in a pass of its
// own. CPU twin: src/cpu/pool.rs.

const WG_SIZE: u32 = 256u;
const RECTIFY: u32 = 1u;

// Mirrors `ElementwiseParams` in src/ops/pool.rs.
struct ElementwiseParams {
    n: u32,
    flags: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> params: ElementwiseParams;
@group(0) @binding(1) var<storage> a: array<f32>;
@group(0) @binding(2) var<storage> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG_SIZE;
    if i < params.n {
        let s = a[i] + b[i];
        out[i] = select(s, rectify(s), (params.flags & RECTIFY) != 0u);
    }
}
