// channel_stats: pass 1 of the channel statistics, one workgroup per (channel, segment): max|x|,
// sum and sum of squares (shifted and plain) and counts of finite and non-finite values of the
// segment. channel_stats_reduce folds the segments; when a channel is one segment (a gradient
// column, a small weight) this kernel writes the channel's statistics itself and the reduce is
// not dispatched. CPU twin: src/cpu/channel_stats.rs.

@group(0) @binding(0) var<uniform> params: StatsParams;
@group(0) @binding(1) var<storage> input: array<f32>;
@group(0) @binding(2) var<storage, read_write> partials: array<StatsPartial>;
@group(0) @binding(3) var<storage, read_write> stats: array<ChannelStat>;

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
    let w = wid.x + wid.y * nwg.x;
    let range = segment_of(w);
    let ch = range.x;
    // Whole workgroups past the last channel (grid folded into y) leave together.
    if ch >= channel_count() {
        return;
    }
    let total = fold_lanes(lid, lane_partial(lid, range));
    if lid == 0u {
        if params.segments == 1u {
            stats[ch] = finalize(ch, total);
        } else {
            partials[w] = total;
        }
    }
}
