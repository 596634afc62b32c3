// gemm_i8_regs: gemm_i8 without workgroup memory or barriers. Each lane computes a 4x4 block of
// outputs in int32 registers, one packed word (four K values) of each of its four A and four B
// rows per step, loaded straight from storage. For the skinny GEMMs of small convolutions the
// staging of the tiled kernels costs more than it saves, above all on CPU drivers, where every
// barrier suspends and resumes the whole workgroup. Same interface, operand layouts, split-K and
// int32 accumulation as gemm_i8, so the same exact integers. CPU twin: src/cpu/gemm_i8.rs
// (gemm_i8_regs_pass).
//
// Lanes are numbered across the grid's x and y; lane g takes block g, blocks running along N
// first. Workgroup z is split-K chunk z. A block's four rows of a transposed operand are the four
// bytes of one stored word per K value, so four words give all four rows' packed words after a
// 4x4 byte transpose.

const REGS: u32 = 4u;

@group(0) @binding(0) var<uniform> params: GemmParams;
@group(0) @binding(1) var<storage> a: array<u32>;
@group(0) @binding(2) var<storage> b: array<u32>;
@group(0) @binding(3) var<storage> scale_a: array<f32>;
@group(0) @binding(4) var<storage> scale_b: array<f32>;
@group(0) @binding(5) var<storage> bias: array<f32>;
@group(0) @binding(6) var<storage, read_write> out: array<f32>;

fn load_a(trans: bool, row0: u32, k4: u32) -> array<u32, 4> {
    var w: array<u32, 4>;
    if trans {
        let rows4 = (params.m + 3u) / 4u;
        var t: array<u32, 4>;
        for (var i = 0u; i < 4u; i++) {
            let k = 4u * k4 + i;
            t[i] = select(0u, a[min(k, params.k - 1u) * rows4 + row0 / 4u], k < params.k);
        }
        for (var j = 0u; j < 4u; j++) {
            w[j] = byte_column(t[0], t[1], t[2], t[3], j);
        }
    } else {
        let k4_total = (params.k + 3u) / 4u;
        // Only A's K tail is masked: a zero byte there zeroes the product whatever B holds.
        let mask = k_tail_mask(k4);
        for (var i = 0u; i < 4u; i++) {
            w[i] = a[min(row0 + i, params.m - 1u) * k4_total + k4] & mask;
        }
    }
    return w;
}

fn load_b(trans: bool, row0: u32, k4: u32) -> array<u32, 4> {
    var w: array<u32, 4>;
    if trans {
        let rows4 = (params.n + 3u) / 4u;
        var t: array<u32, 4>;
        for (var i = 0u; i < 4u; i++) {
            t[i] = b[min(4u * k4 + i, params.k - 1u) * rows4 + row0 / 4u];
        }
        for (var j = 0u; j < 4u; j++) {
            w[j] = byte_column(t[0], t[1], t[2], t[3], j);
        }
    } else {
        let k4_total = (params.k + 3u) / 4u;
        for (var i = 0u; i < 4u; i++) {
            w[i] = b[min(row0 + i, params.n - 1u) * k4_total + k4];
        }
    }
    return w;
}

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) groups: vec3<u32>) {
    let blocks_n = (params.n + REGS - 1u) / REGS;
    let blocks = ((params.m + REGS - 1u) / REGS) * blocks_n;
    let lane = (wid.y * groups.x + wid.x) * 64u + lid;
    if lane >= blocks {
        return;
    }
    let m0 = (lane / blocks_n) * REGS;
    let n0 = (lane % blocks_n) * REGS;
    let trans_a = (params.flags & TRANS_A) != 0u;
    let trans_b = (params.flags & TRANS_B) != 0u;
    let k4_total = (params.k + 3u) / 4u;
    let k40 = wid.z * (params.k_chunk / 4u);
    let k41 = min(k40 + params.k_chunk / 4u, k4_total);
    var acc: array<i32, 16>;
    for (var k4 = k40; k4 < k41; k4++) {
        let av = load_a(trans_a, m0, k4);
        let bv = load_b(trans_b, n0, k4);
        for (var i = 0u; i < REGS; i++) {
            for (var j = 0u; j < REGS; j++) {
                acc[i * REGS + j] += dot4I8Packed(av[i], bv[j]);
            }
        }
    }
    for (var i = 0u; i < REGS; i++) {
        for (var j = 0u; j < REGS; j++) {
            let gm = m0 + i;
            let gn = n0 + j;
            if gm < params.m && gn < params.n {
                store_result(f32(acc[i * REGS + j]), gm, gn, wid.z);
            }
        }
    }
}
