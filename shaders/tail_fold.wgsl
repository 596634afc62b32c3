// Shared by channel_stats_tail and channel_stats_tail_reduce: the fixed-order folds of
// fold_shared.wgsl for a count and for a (sum g*g^, sum g^*g^) pair. Results are valid in every lane.

var<workgroup> sh_group_count: array<u32, GROUPS>;
var<workgroup> sh_group_pair: array<vec2<f32>, GROUPS>;

fn fold_count(lid: u32, v: u32) -> u32 {
    let g = fold8_count(lid, v);
    if lid % 8u == 0u {
        sh_group_count[lid / 8u] = g;
    }
    workgroupBarrier();
    var t = sh_group_count[0];
    for (var i = 1u; i < GROUPS; i++) {
        t += sh_group_count[i];
    }
    return t;
}

fn fold_pair(lid: u32, v: vec2<f32>) -> vec2<f32> {
    // The leading barrier lets a caller fold several values in a row through the same arrays.
    workgroupBarrier();
    let g = fold8_pair(lid, v);
    if lid % 8u == 0u {
        sh_group_pair[lid / 8u] = g;
    }
    workgroupBarrier();
    var t = sh_group_pair[0];
    for (var i = 1u; i < GROUPS; i++) {
        t += sh_group_pair[i];
    }
    return t;
}
