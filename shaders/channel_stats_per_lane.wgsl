// channel_stats_per_lane: both statistics passes without candidate clips for channels short
// enough for one lane (a gradient's columns: one value per batch row), one lane per channel
// where channel_stats_tail spends a workgroup on each. CPU drivers pay for every workgroup they
// start, and the barriers of its folds, far more than for the few dozen values each holds (on
// lavapipe 256 such workgroups took 2.4 ms for 16,384 values). The same bits as
// channel_stats_tail with WITH_PASS1: the lane takes, in turn, the share each of a workgroup's
// WG_SIZE lanes would (lane_partial) and folds them in fold_shared.wgsl's order; the count of
// |x| > std is an integer, the same in any order. CPU twin: src/cpu/channel_stats_per_lane.rs.

@group(0) @binding(0) var<uniform> params: StatsParams;
@group(0) @binding(1) var<storage> input: array<f32>;
@group(0) @binding(2) var<storage, read_write> stats: array<ChannelStat>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let ch = flat_index(gid, nwg, WG_SIZE);
    if ch >= channel_count() {
        return;
    }
    let range = vec3<u32>(ch, 0u, channel_len());
    var total: StatsPartial;
    for (var g = 0u; g < GROUPS; g++) {
        let b = g * 8u;
        let w0 = combine(lane_partial(b, range), lane_partial(b + 4u, range));
        let w1 = combine(lane_partial(b + 1u, range), lane_partial(b + 5u, range));
        let w2 = combine(lane_partial(b + 2u, range), lane_partial(b + 6u, range));
        let w3 = combine(lane_partial(b + 3u, range), lane_partial(b + 7u, range));
        let t = combine(combine(w0, w2), combine(w1, w3));
        if g == 0u {
            total = t;
        } else {
            total = combine(total, t);
        }
    }
    var s = finalize(ch, total);
    var above = 0u;
    for (var i = 0u; i < range.z; i++) {
        let x = input[element_index(ch, i)];
        above += select(0u, 1u, is_finite_f32(x) && abs(x) > s.std_dev);
    }
    s.above_sigma = above;
    stats[ch] = s;
}
