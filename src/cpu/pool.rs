//! Twins of `shaders/global_avg_pool.wgsl` and `shaders/add.wgsl`.

/// Forward: `out[n, c]` = mean over the `hw` pixels, summed in ascending pixel order.
pub fn global_avg_pool_forward((n, hw, c): (usize, usize, usize), x: &[f32], out: &mut [f32]) {
    let inv = 1.0 / hw as f32;
    for idx in 0..n * c {
        let (ni, ci) = (idx / c, idx % c);
        let mut s = 0f32;
        for p in 0..hw {
            s += x[(ni * hw + p) * c + ci];
        }
        out[idx] = s * inv;
    }
}

/// Backward: `dx[n, p, c] = dy[n, c] / hw`.
pub fn global_avg_pool_backward((_, hw, c): (usize, usize, usize), dy: &[f32], dx: &mut [f32]) {
    let inv = 1.0 / hw as f32;
    for (idx, v) in dx.iter_mut().enumerate() {
        *v = dy[idx / (hw * c) * c + idx % c] * inv;
    }
}

/// `out = a + b`, rectified with `rectify`.
pub fn add(a: &[f32], b: &[f32], (out, rectify): (&mut [f32], bool)) {
    for i in 0..out.len() {
        let s = a[i] + b[i];
        out[i] = if rectify {
            crate::cpu::common::rectify(s)
        } else {
            s
        };
    }
}
