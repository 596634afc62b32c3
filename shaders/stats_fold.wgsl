// Shared by channel_stats, channel_stats_reduce and channel_stats_tail: the fixed-order fold of
// StatsPartial records over a workgroup's lanes (fold_shared.wgsl's groups, then the groups in
// order).

var<workgroup> sh_group_part: array<StatsPartial, GROUPS>;

// Folds every lane's record in the fixed order of fold_shared.wgsl. Valid in every lane.
fn fold_lanes(lid: u32, p: StatsPartial) -> StatsPartial {
    let g = fold8_partial(lid, p);
    if lid % 8u == 0u {
        sh_group_part[lid / 8u] = g;
    }
    workgroupBarrier();
    var t = sh_group_part[0];
    for (var i = 1u; i < GROUPS; i++) {
        t = combine(t, sh_group_part[i]);
    }
    return t;
}
