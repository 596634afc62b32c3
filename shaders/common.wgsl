// Shared helpers, prepended to every kernel that quantizes (see src/gpu/kernel.rs).
// Each function has a CPU twin of the same name in src/cpu/common.rs; both must agree bit for bit,
// so everything that decides an integer is done in integer arithmetic or in one correctly rounded
// f32 multiply (WGSL only guarantees correct rounding for +, -, *; `/` may be off by 2.5 ulp and
// drivers may fuse a*b+c, either of which would flip a rounding decision on some GPU).

// Clips below this (or non-finite) are "degenerate": the tensor quantizes to zeros, scale 0.
const MIN_CLIP: f32 = 1e-30;
// Channel axes: one clip per tensor, per row, per column (ChannelAxis in src/ops/mod.rs).
const AXIS_TENSOR: u32 = 0u;
const AXIS_ROWS: u32 = 1u;
const AXIS_COLS: u32 = 2u;
const ROUND_NEAREST: u32 = 0u;
const ROUND_STOCHASTIC: u32 = 1u;

// Statistics of one channel, written by channel_stats*, read by clip_select.
// Mirrors `ChannelStat` in src/ops/channel_stats.rs.
struct ChannelStat {
    max_abs: f32,
    mean: f32,
    std_dev: f32,
    sum_sq: f32,
    count: u32,
    nonfinite: u32,
    above_sigma: u32,
    _pad: u32,
}

// The rectifier: negative values (-0 and -Inf included) become +0, everything else, NaN included,
// passes through, so a blow-up stays visible. Decided on the sign bit: written as x < 0 ? 0 : x,
// GL compilers turn it into max(x, 0), which drops NaN. Used by relu, the GEMM epilogue and
// batchnorm.
fn rectify(v: f32) -> f32 {
    let bits = bitcast<u32>(v);
    let negative = (bits >> 31u) == 1u && (bits & 0x7fffffffu) <= 0x7f800000u;
    return select(v, 0.0, negative);
}

// Wellons' lowbias32 integer hash: a full-avalanche bijection of u32.
fn hash_u32(x: u32) -> u32 {
    var v = x;
    v ^= v >> 16u;
    v *= 0x7feb352du;
    v ^= v >> 15u;
    v *= 0x846ca68bu;
    v ^= v >> 16u;
    return v;
}

// Counter-based random stream keyed by (seed, element index): no state, any order of evaluation.
fn rng_u32(seed: u32, index: u32) -> u32 {
    return hash_u32(hash_u32(index ^ (seed * 0x9e3779b9u)) ^ seed);
}

// The channel of element (r, c) under `axis`.
fn channel_of(axis: u32, r: u32, c: u32) -> u32 {
    if axis == AXIS_TENSOR {
        return 0u;
    }
    if axis == AXIS_ROWS {
        return r;
    }
    return c;
}

fn clip_is_valid(c: f32) -> bool {
    let bits = bitcast<u32>(c);
    // Positive, finite (exponent not all ones) and not below MIN_CLIP; NaN fails the exponent test.
    return (bits >> 31u) == 0u && (bits & 0x7f800000u) != 0x7f800000u && c >= MIN_CLIP;
}

// Correctly rounded a / b for positive normal a, b whose quotient is normal, by restoring long
// division of the 24-bit significands (25 quotient bits: 24 + guard; the remainder is sticky).
fn div_rn(a: f32, b: f32) -> f32 {
    let ba = bitcast<u32>(a);
    let bb = bitcast<u32>(b);
    var ma = (ba & 0x7fffffu) | 0x800000u;
    let mb = (bb & 0x7fffffu) | 0x800000u;
    var e = i32((ba >> 23u) & 0xffu) - i32((bb >> 23u) & 0xffu) + 127;
    if ma < mb {
        ma = ma << 1u;
        e = e - 1;
    }
    var q = 0u;
    var r = ma;
    for (var i = 0u; i < 25u; i++) {
        q = q << 1u;
        if r >= mb {
            r = r - mb;
            q = q | 1u;
        }
        r = r << 1u;
    }
    var m = q >> 1u;
    if (q & 1u) == 1u && (r != 0u || (m & 1u) == 1u) {
        m = m + 1u;
    }
    if m == 0x1000000u {
        m = m >> 1u;
        e = e + 1;
    }
    return bitcast<f32>((u32(e) << 23u) | (m & 0x7fffffu));
}

// 127 / c: the multiplier that maps [-c, c] onto [-127, 127].
fn inv_step(c: f32) -> f32 {
    return div_rn(127.0, c);
}

// c / 127: the quantization step written out as the scale (dequantize: x = q * scale).
fn step_of(c: f32) -> f32 {
    return div_rn(c, 127.0);
}

// floor(v * 2^24) for 0 <= v < 128 given as f32 bits; low bits of tiny v are truncated.
fn to_fixed24(v: u32) -> u32 {
    let e = (v >> 23u) & 0xffu;
    if e == 0u {
        return 0u;
    }
    let m = (v & 0x7fffffu) | 0x800000u;
    let sh = i32(e) - 126;
    if sh >= 0 {
        return m << u32(sh);
    }
    if sh <= -32 {
        return 0u;
    }
    return m >> u32(-sh);
}

// clip -> scale -> round of one value, for a valid clip c with inv = inv_step(c).
// NaN and subnormal inputs give 0, +-Inf saturates to +-127. `rnd` is only read when stochastic.
fn quantize_one(x: f32, c: f32, inv: f32, rounding: u32, rnd: u32) -> i32 {
    let bits = bitcast<u32>(x);
    let mag = bits & 0x7fffffffu;
    if mag > 0x7f800000u || mag < 0x00800000u {
        return 0;
    }
    let a = min(bitcast<f32>(mag), c);
    var q: u32;
    if rounding == ROUND_STOCHASTIC {
        // The bitcast pins the product to its rounded f32 value before any integer decision
        // (a float subtraction of floor() could be fused with the product).
        let fixed = to_fixed24(bitcast<u32>(a * inv));
        q = (fixed >> 24u) + select(0u, 1u, (rnd & 0xffffffu) < (fixed & 0xffffffu));
    } else {
        // round() is exact and rounds half to even, on every backend (roundEven, rint, round).
        q = u32(round(a * inv));
    }
    q = min(q, 127u);
    return select(i32(q), -i32(q), (bits >> 31u) == 1u);
}

fn is_finite_f32(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u;
}

// Flat invocation index for 1-D work laid out on a 2-D grid (x is capped at 65535 workgroups).
fn flat_index(gid: vec3<u32>, nwg: vec3<u32>, wg_size: u32) -> u32 {
    return gid.x + gid.y * nwg.x * wg_size;
}

// The first element of lane `lid` where each lane takes `per_lane` elements `wg_size` apart
// (a workgroup's loads contiguous), on the same folded grid.
fn strided_first(gid: vec3<u32>, nwg: vec3<u32>, lid: u32, wg_size: u32, per_lane: u32) -> u32 {
    let workgroup = (flat_index(gid, nwg, wg_size) - lid) / wg_size;
    return workgroup * wg_size * per_lane + lid;
}
