// Shared by channel_stats and channel_stats_tail (prepended by src/gpu/kernel.rs): the
// parameter block, the per-channel record and how a channel maps onto the matrix. The kernel file
// declares `params`.

// Mirrors `StatsParams` in src/ops/channel_stats.rs.
struct StatsParams {
    rows: u32,
    cols: u32,
    axis: u32,
    n_candidates: u32,
}

// Mirrors `ChannelStat` in src/ops/channel_stats.rs.
struct ChannelStat {
    max_abs: f32,
    mean: f32,
    std_dev: f32,
    sum_sq: f32,
    count: u32,
    nonfinite: u32,
    above_sigma: u32,
    _pad: u32,
}

fn channel_len() -> u32 {
    if params.axis == AXIS_TENSOR {
        return params.rows * params.cols;
    }
    if params.axis == AXIS_ROWS {
        return params.cols;
    }
    return params.rows;
}

fn channel_count() -> u32 {
    if params.axis == AXIS_TENSOR {
        return 1u;
    }
    if params.axis == AXIS_ROWS {
        return params.rows;
    }
    return params.cols;
}

fn element_index(ch: u32, i: u32) -> u32 {
    if params.axis == AXIS_TENSOR {
        return i;
    }
    if params.axis == AXIS_ROWS {
        return ch * params.cols + i;
    }
    return i * params.cols + ch;
}
