// The fold of each group of 8 lanes (8g .. 8g + 7) for the statistics kernels, through
// workgroup memory: the butterfly over lane distances 4, 2, 1 that fold_subgroup.wgsl computes
// with subgroup shuffles, written out. A device whose subgroups hold 8 lanes or more compiles that
// file instead (src/gpu/kernel.rs); both give the same bits, valid in every lane of the group.
// The order, in every fold of a workgroup's 64 lanes: each group as
// ((v0 + v4) + (v2 + v6)) + ((v1 + v5) + (v3 + v7)), then the 8 groups' totals in group order.
// CPU twin: src/cpu/channel_stats.rs (fold_lanes).

var<workgroup> sh8_part: array<StatsPartial, WG_SIZE>;
var<workgroup> sh8_count: array<u32, WG_SIZE>;
var<workgroup> sh8_pair: array<vec2<f32>, WG_SIZE>;

fn fold8_partial(lid: u32, p: StatsPartial) -> StatsPartial {
    sh8_part[lid] = p;
    workgroupBarrier();
    let b = lid - lid % 8u;
    let w0 = combine(sh8_part[b], sh8_part[b + 4u]);
    let w1 = combine(sh8_part[b + 1u], sh8_part[b + 5u]);
    let w2 = combine(sh8_part[b + 2u], sh8_part[b + 6u]);
    let w3 = combine(sh8_part[b + 3u], sh8_part[b + 7u]);
    return combine(combine(w0, w2), combine(w1, w3));
}

fn fold8_count(lid: u32, v: u32) -> u32 {
    sh8_count[lid] = v;
    workgroupBarrier();
    let b = lid - lid % 8u;
    var t = 0u;
    for (var i = 0u; i < 8u; i++) {
        t += sh8_count[b + i];
    }
    return t;
}

fn fold8_pair(lid: u32, v: vec2<f32>) -> vec2<f32> {
    sh8_pair[lid] = v;
    workgroupBarrier();
    let b = lid - lid % 8u;
    let w0 = sh8_pair[b] + sh8_pair[b + 4u];
    let w1 = sh8_pair[b + 1u] + sh8_pair[b + 5u];
    let w2 = sh8_pair[b + 2u] + sh8_pair[b + 6u];
    let w3 = sh8_pair[b + 3u] + sh8_pair[b + 7u];
    return (w0 + w2) + (w1 + w3);
}
