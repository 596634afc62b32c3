// channel_stats: first pass of the per-channel statistics of a row-major f32 matrix [rows, cols],
// channels being the whole tensor, its rows or its columns. One workgroup per channel; each lane
// strides over the channel and the lanes are folded by a fixed tree, so the bits never depend on
// timing. Writes max|x|, mean, std (population) and sum x^2 over the finite values, and counts the
// finite and non-finite ones. CPU twin: src/cpu/channel_stats.rs.

const WG_SIZE: u32 = 256u;

@group(0) @binding(0) var<uniform> params: StatsParams;
@group(0) @binding(1) var<storage> input: array<f32>;
@group(0) @binding(2) var<storage, read_write> stats: array<ChannelStat>;

var<workgroup> sh_max: array<f32, WG_SIZE>;
var<workgroup> sh_sum: array<f32, WG_SIZE>;
var<workgroup> sh_sq: array<f32, WG_SIZE>;
var<workgroup> sh_zsq: array<f32, WG_SIZE>;
var<workgroup> sh_n: array<u32, WG_SIZE>;
var<workgroup> sh_bad: array<u32, WG_SIZE>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
    let ch = wid.x + wid.y * nwg.x;
    // Whole workgroups past the last channel (grid folded into y) leave together.
    if ch >= channel_count() {
        return;
    }
    let n = channel_len();
    // Moments are taken about the channel's first element (0 if it is not finite): the shift
    // keeps sum (x - k)^2 - (sum (x - k))^2 / n from cancelling when |mean| >> std.
    var shift = input[element_index(ch, 0u)];
    if !is_finite_f32(shift) {
        shift = 0.0;
    }
    var mx = 0.0;
    var s = 0.0;
    var sq = 0.0;
    var zsq = 0.0;
    var cnt = 0u;
    var bad = 0u;
    for (var i = lid; i < n; i += WG_SIZE) {
        let x = input[element_index(ch, i)];
        if is_finite_f32(x) {
            let d = x - shift;
            mx = max(mx, abs(x));
            s += d;
            sq += d * d;
            zsq += x * x;
            cnt += 1u;
        } else {
            bad += 1u;
        }
    }
    sh_max[lid] = mx;
    sh_sum[lid] = s;
    sh_sq[lid] = sq;
    sh_zsq[lid] = zsq;
    sh_n[lid] = cnt;
    sh_bad[lid] = bad;
    for (var stride = WG_SIZE / 2u; stride > 0u; stride = stride / 2u) {
        workgroupBarrier();
        if lid < stride {
            sh_max[lid] = max(sh_max[lid], sh_max[lid + stride]);
            sh_sum[lid] = sh_sum[lid] + sh_sum[lid + stride];
            sh_sq[lid] = sh_sq[lid] + sh_sq[lid + stride];
            sh_zsq[lid] = sh_zsq[lid] + sh_zsq[lid + stride];
            sh_n[lid] = sh_n[lid] + sh_n[lid + stride];
            sh_bad[lid] = sh_bad[lid] + sh_bad[lid + stride];
        }
    }
    if lid == 0u {
        let count = sh_n[0];
        var st: ChannelStat;
        st.max_abs = sh_max[0];
        st.count = count;
        st.nonfinite = sh_bad[0];
        st.sum_sq = sh_zsq[0];
        st.above_sigma = 0u;
        st._pad = 0u;
        if count > 0u {
            let nf = f32(count);
            let m = sh_sum[0] / nf;
            st.mean = shift + m;
            st.std_dev = sqrt(max(sh_sq[0] / nf - m * m, 0.0));
        } else {
            st.mean = 0.0;
            st.std_dev = 0.0;
        }
        stats[ch] = st;
    }
}
