// Shared by channel_stats_tail and channel_stats_tail_reduce: fixed-order trees over a
// workgroup's lanes for a count and for a (sum g*g^, sum g^*g^) pair. Results are valid in lane 0.

var<workgroup> sh_red: array<vec2<f32>, WG_SIZE>;
var<workgroup> sh_cnt: array<u32, WG_SIZE>;

fn fold_count(lid: u32, v: u32) -> u32 {
    workgroupBarrier();
    sh_cnt[lid] = v;
    for (var stride = WG_SIZE / 2u; stride > 0u; stride = stride / 2u) {
        workgroupBarrier();
        if lid < stride {
            sh_cnt[lid] = sh_cnt[lid] + sh_cnt[lid + stride];
        }
    }
    return sh_cnt[0];
}

fn fold_pair(lid: u32, v: vec2<f32>) -> vec2<f32> {
    // The leading barrier lets a caller fold several values in a row through the same array.
    workgroupBarrier();
    sh_red[lid] = v;
    for (var stride = WG_SIZE / 2u; stride > 0u; stride = stride / 2u) {
        workgroupBarrier();
        if lid < stride {
            sh_red[lid] = sh_red[lid] + sh_red[lid + stride];
        }
    }
    return sh_red[0];
}
