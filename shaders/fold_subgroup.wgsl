// The fold of each group of 8 lanes (8g .. 8g + 7) for the statistics kernels, with subgroup
// shuffles and no barrier: a butterfly over lane distances 4, 2, 1, after which every lane of the
// group holds its total. Compiled instead of fold_shared.wgsl (the same bits) where the device's
// subgroups hold 8 lanes or more, so that a group of 8 lanes lies inside one subgroup (lane l of
// a one-dimensional workgroup is lane l % size of its subgroup on the drivers octet runs on).
// combine() and + commute bit for bit, so a lane and its partner compute the same value. The
// masks are constants, written out: with a loop variable as the mask lavapipe shuffles lane by
// lane, and the folds cost a DAI8 MLP step's statistics kernel twice as much.
// CPU twin: src/cpu/channel_stats.rs (fold_lanes).

// v combined with the record of the lane whose index differs from this one's by mask m.
fn xor_partial(v: StatsPartial, m: u32) -> StatsPartial {
    return combine(v, StatsPartial(subgroupShuffleXor(v.max_abs, m), subgroupShuffleXor(v.sum, m),
        subgroupShuffleXor(v.sum_sq_shifted, m), subgroupShuffleXor(v.sum_sq, m),
        subgroupShuffleXor(v.count, m), subgroupShuffleXor(v.nonfinite, m), 0u, 0u));
}

fn fold8_partial(lid: u32, p: StatsPartial) -> StatsPartial {
    return xor_partial(xor_partial(xor_partial(p, 4u), 2u), 1u);
}

fn fold8_count(lid: u32, v: u32) -> u32 {
    let a = v + subgroupShuffleXor(v, 4u);
    let b = a + subgroupShuffleXor(a, 2u);
    return b + subgroupShuffleXor(b, 1u);
}

fn fold8_pair(lid: u32, v: vec2<f32>) -> vec2<f32> {
    let a = v + subgroupShuffleXor(v, 4u);
    let b = a + subgroupShuffleXor(a, 2u);
    return b + subgroupShuffleXor(b, 1u);
}
