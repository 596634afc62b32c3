// channel_stats_tail_reduce: folds channel_stats_tail's per-segment slots, one workgroup per
// channel (lane l takes segments l, l + 64, ..., then a fixed tree per slot), into the
// channel's above_sigma and its cosine terms [channel][candidate]. CPU twin:
// src/cpu/channel_stats_tail_reduce.rs.

@group(0) @binding(0) var<uniform> params: StatsParams;
@group(0) @binding(1) var<storage> partials: array<vec2<u32>>;
@group(0) @binding(2) var<storage, read_write> stats: array<ChannelStat>;
@group(0) @binding(3) var<storage, read_write> cosine_terms: array<vec2<f32>>;

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
    let ch = wid.x + wid.y * nwg.x;
    if ch >= channel_count() {
        return;
    }
    let nc = min(params.n_candidates, MAX_CANDIDATES);
    let slots = 1u + nc;
    var cnt = 0u;
    for (var seg = lid; seg < params.segments; seg += WG_SIZE) {
        cnt += partials[(ch * params.segments + seg) * slots].x;
    }
    let count = fold_count(lid, cnt);
    if lid == 0u {
        stats[ch].above_sigma = count;
    }
    for (var r = 0u; r < nc; r++) {
        var t = vec2<f32>(0.0);
        for (var seg = lid; seg < params.segments; seg += WG_SIZE) {
            t += bitcast<vec2<f32>>(partials[(ch * params.segments + seg) * slots + 1u + r]);
        }
        let pair = fold_pair(lid, t);
        if lid == 0u {
            cosine_terms[ch * nc + r] = pair;
        }
    }
}
