// Shared by channel_stats, channel_stats_reduce and channel_stats_tail (all declare `input`): the
// moments' shift, the fixed-order fold of StatsPartial records over a workgroup's lanes, and the
// channel's final statistics from its total.

var<workgroup> sh_group_part: array<StatsPartial, GROUPS>;

// The shift of a channel's moments: its first element, or 0 if that is not finite. Keeps
// sum (x - k)^2 - (sum (x - k))^2 / n from cancelling when |mean| >> std.
fn channel_shift(ch: u32) -> f32 {
    let x = input[element_index(ch, 0u)];
    return select(0.0, x, is_finite_f32(x));
}

// One lane's share of pass 1 over a segment (range as segment_of gives it): elements
// range.y + lid, + WG_SIZE, ... below range.z.
fn lane_partial(lid: u32, range: vec3<u32>) -> StatsPartial {
    let ch = range.x;
    let shift = channel_shift(ch);
    var p = StatsPartial(0.0, 0.0, 0.0, 0.0, 0u, 0u, 0u, 0u);
    for (var i = range.y + lid; i < range.z; i += WG_SIZE) {
        let x = input[element_index(ch, i)];
        if is_finite_f32(x) {
            let d = x - shift;
            p.max_abs = max(p.max_abs, abs(x));
            p.sum += d;
            p.sum_sq_shifted += d * d;
            p.sum_sq += x * x;
            p.count += 1u;
        } else {
            p.nonfinite += 1u;
        }
    }
    return p;
}


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

// A channel's statistics from the fold of all its elements: max|x|, mean, population std (from
// moments about the shift), sum x^2 and counts.
fn finalize(ch: u32, t: StatsPartial) -> ChannelStat {
    var mean = 0.0;
    var std_dev = 0.0;
    if t.count > 0u {
        let nf = f32(t.count);
        let m = t.sum / nf;
        mean = channel_shift(ch) + m;
        std_dev = sqrt(max(t.sum_sq_shifted / nf - m * m, 0.0));
    }
    return ChannelStat(t.max_abs, mean, std_dev, t.sum_sq, t.count, t.nonfinite, 0u, 0u);
}
