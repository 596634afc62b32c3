//! Twins of `shaders/batchnorm*.wgsl`.

use crate::abi::{BATCHNORM_RECTIFY, BatchNormConfig, BatchNormParams, ChannelStat};
use crate::cpu::{
    self,
    replay::{Replay, Words, bad_bindings, bn_config, f32s, f32s_mut, no_twin, read, structs},
};

/// Forward over rows `[m, c]`: training (batch `stats`, running statistics updated, `xhat`
/// written) or evaluation (`running` statistics); with `rectify`, `out` is rectified.
#[allow(clippy::too_many_arguments)]
pub fn batchnorm(
    channels: usize,
    train: bool,
    cfg: BatchNormConfig,
    x: &[f32],
    stats: &[ChannelStat],
    affine: &[f32],
    running: &mut [f32],
    xhat: &mut [f32],
    (out, rectify): (&mut [f32], bool),
) {
    let c = channels;
    let rows = x.len() / c;
    let old = running.to_vec();
    for idx in 0..x.len() {
        let ci = idx % c;
        let (mu, var) = if train {
            (stats[ci].mean, stats[ci].std_dev * stats[ci].std_dev)
        } else {
            (old[ci], old[c + ci])
        };
        let xh = (x[idx] - mu) / (var + cfg.eps).sqrt();
        if train {
            xhat[idx] = xh;
            if idx < c {
                let m = cfg.momentum;
                let unbiased = var * rows as f32 / (rows.max(2) - 1) as f32;
                running[ci] = (1.0 - m) * old[ci] + m * mu;
                running[c + ci] = (1.0 - m) * old[c + ci] + m * unbiased;
            }
        }
        let y = affine[ci] * xh + affine[c + ci];
        out[idx] = if rectify {
            crate::cpu::common::rectify(y)
        } else {
            y
        };
    }
}

/// `[dy·xhat | dy]` as rows `[m, 2c]`.
pub fn batchnorm_grad_prep(channels: usize, dy: &[f32], xhat: &[f32], out: &mut [f32]) {
    let c = channels;
    for idx in 0..dy.len() {
        let (row, ci) = (idx / c, idx % c);
        out[row * 2 * c + ci] = dy[idx] * xhat[idx];
        out[row * 2 * c + c + ci] = dy[idx];
    }
}

/// `dx = γ / √(var + ε) · (dy − dβ/m − xhat·dγ/m)` with `sums = [dγ | dβ]`.
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_backward(
    channels: usize,
    cfg: BatchNormConfig,
    dy: &[f32],
    xhat: &[f32],
    stats: &[ChannelStat],
    affine: &[f32],
    sums: &[f32],
    dx: &mut [f32],
) {
    let c = channels;
    let m = (dy.len() / c) as f32;
    for idx in 0..dy.len() {
        let ci = idx % c;
        let sd = stats[ci].std_dev;
        let inv = 1.0 / (sd * sd + cfg.eps).sqrt();
        dx[idx] = affine[ci] * inv * (dy[idx] - sums[c + ci] / m - xhat[idx] * sums[ci] / m);
    }
}

/// Replays dispatches of `batchnorm`, `batchnorm_grad_prep`, `batchnorm_backward` on this twin.
pub(crate) const REPLAY: Replay = Replay {
    kernels: &["batchnorm", "batchnorm_grad_prep", "batchnorm_backward"],
    run: replay,
    words: |_, _, _| Words::Float,
};

fn replay(kernel: &str, params: &[u8], bufs: &mut [Vec<u32>]) -> Result<(), String> {
    let bad = || bad_bindings(kernel);
    match kernel {
        "batchnorm" => {
            let p: BatchNormParams = read(params);
            let [x, stats, affine, running, xhat, out] = bufs else {
                return Err(bad());
            };
            let (c, n) = (p.channels as usize, (p.rows * p.channels) as usize);
            cpu::batchnorm(
                c,
                p.mode == 0,
                bn_config(&p),
                &f32s(x)[..n],
                structs(stats),
                f32s(affine),
                &mut f32s_mut(running)[..2 * c],
                &mut f32s_mut(xhat)[..n],
                (&mut f32s_mut(out)[..n], p.flags & BATCHNORM_RECTIFY != 0),
            );
        }
        "batchnorm_grad_prep" => {
            let p: BatchNormParams = read(params);
            let [dy, xhat, out] = bufs else {
                return Err(bad());
            };
            let n = (p.rows * p.channels) as usize;
            let (c, out) = (p.channels as usize, &mut f32s_mut(out)[..2 * n]);
            cpu::batchnorm_grad_prep(c, &f32s(dy)[..n], f32s(xhat), out);
        }
        "batchnorm_backward" => {
            let p: BatchNormParams = read(params);
            let [dy, xhat, stats, affine, sums, dx] = bufs else {
                return Err(bad());
            };
            let n = (p.rows * p.channels) as usize;
            cpu::batchnorm_backward(
                p.channels as usize,
                bn_config(&p),
                &f32s(dy)[..n],
                f32s(xhat),
                structs(stats),
                f32s(affine),
                f32s(sums),
                &mut f32s_mut(dx)[..n],
            );
        }
        _ => return Err(no_twin(kernel)),
    }
    Ok(())
}
