// column_sum: out[c] = sum over rows r of x[r, c] for a row-major f32 matrix [rows, cols] — the
// bias gradient 1^T dY and batch norm's [sum dy*xhat | sum dy] without a GEMM whose 64x64 tiles
// would compute 64 rows for the one that is kept. A workgroup sums 64 columns over one segment of
// `segment_rows` rows, 4 row lanes per column (lane l takes rows l, l+4, ...), then adds the
// lanes as (l0 + l2) + (l1 + l3). With several segments each writes its partial to
// out[segment * cols + c] and gemm_reduce adds them in segment order. With one segment the sums
// go to out[out_offset + c].
// CPU twin: src/cpu/column_sum.rs.

const WG_SIZE: u32 = 256u;
const COLS_PER_WG: u32 = 64u;
const LANES: u32 = 4u;

// Mirrors `ColumnSumParams` in src/ops/column_sum.rs.
struct ColumnSumParams {
    rows: u32,
    cols: u32,
    segment_rows: u32,
    segments: u32,
    out_offset: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> params: ColumnSumParams;
@group(0) @binding(1) var<storage> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

var<workgroup> sh: array<f32, WG_SIZE>;

@compute @workgroup_size(256)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let c = wid.x * COLS_PER_WG + lid % COLS_PER_WG;
    let lane = lid / COLS_PER_WG;
    let seg = wid.y;
    let start = seg * params.segment_rows;
    let end = min(start + params.segment_rows, params.rows);
    var s = 0.0;
    if c < params.cols {
        for (var r = start + lane; r < end; r += LANES) {
            s += x[r * params.cols + c];
        }
    }
    sh[lid] = s;
    workgroupBarrier();
    if lid < 2u * COLS_PER_WG {
        sh[lid] = sh[lid] + sh[lid + 2u * COLS_PER_WG];
    }
    workgroupBarrier();
    if lid < COLS_PER_WG && c < params.cols {
        out[params.out_offset + seg * params.cols + c] = sh[lid] + sh[lid + COLS_PER_WG];
    }
}
