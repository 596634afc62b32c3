// Shared by the channel statistics kernels that read a tensor (all declare `input`): the moments'
// shift, one lane's share of pass 1 and a channel's final statistics from its total.

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
