// channel_stats_reduce: folds channel_stats's per-segment partials, one workgroup per channel
// (lane l takes segments l, l + 64, ..., then the fixed tree), and writes the channel's max|x|,
// mean, population std, sum x^2 and counts. CPU twin: src/cpu/channel_stats_reduce.rs.

@group(0) @binding(0) var<uniform> params: StatsParams;
@group(0) @binding(1) var<storage> input: array<f32>;
@group(0) @binding(2) var<storage> partials: array<StatsPartial>;
@group(0) @binding(3) var<storage, read_write> stats: array<ChannelStat>;

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
    let ch = wid.x + wid.y * nwg.x;
    if ch >= channel_count() {
        return;
    }
    var p = StatsPartial(0.0, 0.0, 0.0, 0.0, 0u, 0u, 0u, 0u);
    for (var seg = lid; seg < params.segments; seg += WG_SIZE) {
        p = combine(p, partials[ch * params.segments + seg]);
    }
    let t = fold_lanes(lid, p);
    if lid == 0u {
        stats[ch] = finalize(ch, t);
    }
}
