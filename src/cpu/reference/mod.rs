//! Float64 reference implementations of the layers, the ground truth that the GPU layers are
//! checked against (and that is itself checked by finite differences). Not twins: twins mirror
//! a kernel's arithmetic; references compute the mathematical result as exactly as f64 allows.

use crate::abi::{ConvGeometry, PoolGeometry};

mod block;
mod inverted;

#[cfg(test)]
use block::block_geometry;
pub use block::{BlockParams, basic_block_backward, basic_block_forward};
pub use inverted::{InvertedParams, inverted_residual_backward, inverted_residual_forward};

/// `y[b, o] = Σ_i x[b, i]·w[o, i] + bias[o]`.
pub fn linear_forward(inputs: usize, x: &[f64], w: &[f64], bias: &[f64]) -> Vec<f64> {
    let outputs = bias.len();
    let batch = x.len() / inputs;
    let mut y = vec![0.0; batch * outputs];
    for b in 0..batch {
        for o in 0..outputs {
            let dot: f64 = (0..inputs)
                .map(|i| x[b * inputs + i] * w[o * inputs + i])
                .sum();
            y[b * outputs + o] = dot + bias[o];
        }
    }
    y
}

/// Gradients of a Linear: `(dx, dw, dbias)` from the forward's `x`, the weights and `dy`.
pub fn linear_backward(
    inputs: usize,
    x: &[f64],
    w: &[f64],
    dy: &[f64],
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let outputs = w.len() / inputs;
    let batch = x.len() / inputs;
    let mut dx = vec![0.0; batch * inputs];
    let mut dw = vec![0.0; outputs * inputs];
    let mut db = vec![0.0; outputs];
    for b in 0..batch {
        for o in 0..outputs {
            let g = dy[b * outputs + o];
            db[o] += g;
            for i in 0..inputs {
                dx[b * inputs + i] += g * w[o * inputs + i];
                dw[o * inputs + i] += g * x[b * inputs + i];
            }
        }
    }
    (dx, dw, db)
}

/// 2-D convolution over NHWC `x` (`g.n × g.h × g.w × g.c`) with weights `[out, kh, kw, c]`:
/// `y` is NHWC `[n, oh, ow, out]`. Computed directly, not through im2col.
pub fn conv2d_forward(g: &ConvGeometry, x: &[f64], w: &[f64], bias: &[f64]) -> Vec<f64> {
    let out = bias.len();
    let mut y = vec![0.0; g.rows() as usize * out];
    for_each_tap(g, |row, xi, tap| {
        for o in 0..out {
            y[row * out + o] += x[xi] * w[o * g.taps() as usize + tap];
        }
    });
    for (i, v) in y.iter_mut().enumerate() {
        *v += bias[i % out];
    }
    y
}

/// Gradients of [`conv2d_forward`]: `(dx, dw, dbias)`.
pub fn conv2d_backward(
    g: &ConvGeometry,
    x: &[f64],
    w: &[f64],
    dy: &[f64],
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let taps = g.taps() as usize;
    let out = w.len() / taps;
    let (mut dx, mut dw, mut db) = (vec![0.0; x.len()], vec![0.0; w.len()], vec![0.0; out]);
    for_each_tap(g, |row, xi, tap| {
        for o in 0..out {
            dx[xi] += dy[row * out + o] * w[o * taps + tap];
            dw[o * taps + tap] += dy[row * out + o] * x[xi];
        }
    });
    for (i, v) in dy.iter().enumerate() {
        db[i % out] += v;
    }
    (dx, dw, db)
}

/// Calls `f(output pixel, input index, tap)` for every kernel tap that lands inside the input.
fn for_each_tap(g: &ConvGeometry, mut f: impl FnMut(usize, usize, usize)) {
    let (h, w, c) = (g.h as i64, g.w as i64, g.c as usize);
    let (oh, ow) = (g.oh() as usize, g.ow() as usize);
    for n in 0..g.n as usize {
        for oy in 0..oh {
            for ox in 0..ow {
                let row = (n * oh + oy) * ow + ox;
                for ky in 0..g.kh as usize {
                    for kx in 0..g.kw as usize {
                        let iy = (oy * g.stride as usize + ky) as i64 - g.pad as i64;
                        let ix = (ox * g.stride as usize + kx) as i64 - g.pad as i64;
                        if iy < 0 || ix < 0 || iy >= h || ix >= w {
                            continue;
                        }
                        let base = ((n as i64 * h + iy) * w + ix) as usize * c;
                        for ci in 0..c {
                            f(row, base + ci, (ky * g.kw as usize + kx) * c + ci);
                        }
                    }
                }
            }
        }
    }
}

/// Depthwise 2-D convolution over NHWC `x` with weights `[c, kh, kw]` (one filter per
/// channel): `y` is NHWC `[n, oh, ow, c]`. Computed directly.
pub fn depthwise_forward(g: &ConvGeometry, x: &[f64], w: &[f64], bias: &[f64]) -> Vec<f64> {
    let c = g.c as usize;
    let mut y: Vec<f64> = (0..g.rows() as usize * c).map(|i| bias[i % c]).collect();
    for_each_depthwise_tap(g, |yi, xi, wi| y[yi] += x[xi] * w[wi]);
    y
}

/// Gradients of [`depthwise_forward`]: `(dx, dw, dbias)`.
pub fn depthwise_backward(
    g: &ConvGeometry,
    x: &[f64],
    w: &[f64],
    dy: &[f64],
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let c = g.c as usize;
    let (mut dx, mut dw, mut db) = (vec![0.0; x.len()], vec![0.0; w.len()], vec![0.0; c]);
    for_each_depthwise_tap(g, |yi, xi, wi| {
        dx[xi] += dy[yi] * w[wi];
        dw[wi] += dy[yi] * x[xi];
    });
    for (i, v) in dy.iter().enumerate() {
        db[i % c] += v;
    }
    (dx, dw, db)
}

/// Calls `f(output index, input index, weight index)` for every tap of every channel's filter
/// that lands inside the input.
fn for_each_depthwise_tap(g: &ConvGeometry, mut f: impl FnMut(usize, usize, usize)) {
    let (kh, kw, c) = (g.kh as usize, g.kw as usize, g.c as usize);
    // A depthwise filter is a convolution's with one input channel: walk that geometry.
    let one = ConvGeometry { c: 1, ..*g };
    for ci in 0..c {
        for_each_tap(&one, |row, pixel, tap| {
            f(row * c + ci, pixel * c + ci, ci * kh * kw + tap);
        });
    }
}

/// `min(max(x, 0), 6)`.
pub fn relu6_forward(x: &[f64]) -> Vec<f64> {
    x.iter().map(|v| v.clamp(0.0, 6.0)).collect()
}

/// Gradient of [`relu6_forward`] (0 at `x = 0` and `x = 6`).
pub fn relu6_backward(x: &[f64], dy: &[f64]) -> Vec<f64> {
    x.iter()
        .zip(dy)
        .map(|(x, d)| if *x > 0.0 && *x < 6.0 { *d } else { 0.0 })
        .collect()
}

/// `max(x, 0)`.
pub fn relu_forward(x: &[f64]) -> Vec<f64> {
    x.iter().map(|v| v.max(0.0)).collect()
}

/// Gradient of [`relu_forward`] (0 at `x = 0`).
pub fn relu_backward(x: &[f64], dy: &[f64]) -> Vec<f64> {
    x.iter()
        .zip(dy)
        .map(|(x, d)| if *x > 0.0 { *d } else { 0.0 })
        .collect()
}

/// The input index of each `k × k` window's maximum (the first one on ties).
fn maxpool_winners(g: &PoolGeometry, x: &[f64]) -> Vec<usize> {
    let (h, w, c, k) = (g.h as usize, g.w as usize, g.c as usize, g.k as usize);
    let (oh, ow) = (g.oh() as usize, g.ow() as usize);
    let mut winners = Vec::with_capacity(g.output_len() as usize);
    for n in 0..g.n as usize {
        for oy in 0..oh {
            for ox in 0..ow {
                for ci in 0..c {
                    let at =
                        |ky: usize, kx: usize| ((n * h + oy * k + ky) * w + ox * k + kx) * c + ci;
                    let best = (0..k * k)
                        .map(|t| at(t / k, t % k))
                        .fold(at(0, 0), |b, i| if x[i] > x[b] { i } else { b });
                    winners.push(best);
                }
            }
        }
    }
    winners
}

/// Max pooling with a `k × k` window and stride `k` (NHWC).
pub fn maxpool2d_forward(g: &PoolGeometry, x: &[f64]) -> Vec<f64> {
    maxpool_winners(g, x).into_iter().map(|i| x[i]).collect()
}

/// Gradient of [`maxpool2d_forward`]: each window's gradient goes to its maximum.
pub fn maxpool2d_backward(g: &PoolGeometry, x: &[f64], dy: &[f64]) -> Vec<f64> {
    let mut dx = vec![0.0; x.len()];
    for (o, i) in maxpool_winners(g, x).into_iter().enumerate() {
        dx[i] += dy[o];
    }
    dx
}

/// Mean over the `hw` pixels of each of `n` images with `c` channels.
pub fn global_avg_pool_forward((n, hw, c): (usize, usize, usize), x: &[f64]) -> Vec<f64> {
    let mut y = vec![0.0; n * c];
    for (i, v) in x.iter().enumerate() {
        y[(i / (hw * c)) * c + i % c] += v / hw as f64;
    }
    y
}

/// Gradient of [`global_avg_pool_forward`].
pub fn global_avg_pool_backward((_, hw, c): (usize, usize, usize), dy: &[f64]) -> Vec<f64> {
    (0..dy.len() * hw)
        .map(|i| dy[(i / (hw * c)) * c + i % c] / hw as f64)
        .collect()
}

/// Per-channel batch mean and biased variance of rows `[m, c]`.
fn channel_moments(c: usize, x: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let m = (x.len() / c) as f64;
    let mut mean = vec![0.0; c];
    let mut var = vec![0.0; c];
    for (i, v) in x.iter().enumerate() {
        mean[i % c] += v / m;
    }
    for (i, v) in x.iter().enumerate() {
        var[i % c] += (v - mean[i % c]).powi(2) / m;
    }
    (mean, var)
}

/// Batch normalization in training mode over rows `[m, c]`, with `affine = [γ | β]`.
pub fn batchnorm2d_forward(c: usize, eps: f64, x: &[f64], affine: &[f64]) -> Vec<f64> {
    let (mean, var) = channel_moments(c, x);
    x.iter()
        .enumerate()
        .map(|(i, v)| {
            let ci = i % c;
            affine[ci] * (v - mean[ci]) / (var[ci] + eps).sqrt() + affine[c + ci]
        })
        .collect()
}

/// Gradients of [`batchnorm2d_forward`]: `(dx, [dγ | dβ])`.
pub fn batchnorm2d_backward(
    c: usize,
    eps: f64,
    x: &[f64],
    affine: &[f64],
    dy: &[f64],
) -> (Vec<f64>, Vec<f64>) {
    let (mean, var) = channel_moments(c, x);
    let m = (x.len() / c) as f64;
    let xhat: Vec<f64> = (0..x.len())
        .map(|i| (x[i] - mean[i % c]) / (var[i % c] + eps).sqrt())
        .collect();
    let mut grads = vec![0.0; 2 * c];
    for i in 0..x.len() {
        grads[i % c] += dy[i] * xhat[i];
        grads[c + i % c] += dy[i];
    }
    let dx = (0..x.len())
        .map(|i| {
            let ci = i % c;
            affine[ci] / (var[ci] + eps).sqrt()
                * (dy[i] - grads[c + ci] / m - xhat[i] * grads[ci] / m)
        })
        .collect();
    (dx, grads)
}

/// Running statistics `[mean | var]` after one training step from `running` (PyTorch's rule:
/// the variance folded in is the unbiased one).
pub fn batchnorm2d_running(c: usize, momentum: f64, x: &[f64], running: &[f64]) -> Vec<f64> {
    let (mean, var) = channel_moments(c, x);
    let m = (x.len() / c) as f64;
    let unbiased = |v: f64| v * m / (m - 1.0).max(1.0);
    (0..2 * c)
        .map(|i| {
            let batch = if i < c { mean[i] } else { unbiased(var[i - c]) };
            (1.0 - momentum) * running[i] + momentum * batch
        })
        .collect()
}

/// Cosine similarity of two vectors (1 for two zero vectors).
pub fn cosine_similarity(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    let na: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    if na == 0.0 && nb == 0.0 {
        1.0
    } else {
        dot / (na * nb)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Gen;

    fn normal(g: &mut Gen, n: usize) -> Vec<f64> {
        (0..n).map(|_| g.normal() as f64).collect()
    }

    /// `Σ y·r`: a loss whose gradient with respect to `y` is `r`.
    fn dot(y: &[f64], r: &[f64]) -> f64 {
        y.iter().zip(r).map(|(a, b)| a * b).sum()
    }

    /// Asserts that `analytic` is the gradient of `loss` at `base`, by central differences.
    fn check(what: &str, loss: &dyn Fn(&[f64]) -> f64, base: &[f64], analytic: &[f64]) {
        assert_eq!(base.len(), analytic.len(), "{what}: gradient length");
        let h = 1e-6;
        for i in 0..base.len() {
            let mut p = base.to_vec();
            p[i] += h;
            let up = loss(&p);
            p[i] -= 2.0 * h;
            let numeric = (up - loss(&p)) / (2.0 * h);
            let tol = 1e-6 * (1.0 + numeric.abs());
            assert!(
                (numeric - analytic[i]).abs() < tol,
                "{what}[{i}]: finite difference {numeric} vs {}",
                analytic[i]
            );
        }
    }

    #[test]
    fn linear_backward_matches_finite_differences() {
        let (batch, inputs, outputs) = (3, 5, 4);
        let mut g = Gen::new(5);
        let x = normal(&mut g, batch * inputs);
        let w = normal(&mut g, outputs * inputs);
        let bias = normal(&mut g, outputs);
        let r = normal(&mut g, batch * outputs);
        let (dx, dw, db) = linear_backward(inputs, &x, &w, &r);
        check(
            "dx",
            &|p| dot(&linear_forward(inputs, p, &w, &bias), &r),
            &x,
            &dx,
        );
        check(
            "dw",
            &|p| dot(&linear_forward(inputs, &x, p, &bias), &r),
            &w,
            &dw,
        );
        check(
            "db",
            &|p| dot(&linear_forward(inputs, &x, &w, p), &r),
            &bias,
            &db,
        );
    }

    #[test]
    fn conv2d_backward_matches_finite_differences() {
        let g = ConvGeometry {
            n: 2,
            h: 5,
            w: 4,
            c: 3,
            kh: 3,
            kw: 2,
            stride: 2,
            pad: 1,
        };
        let out = 4;
        let mut rng = Gen::new(6);
        let x = normal(&mut rng, g.input_len() as usize);
        let w = normal(&mut rng, out * g.taps() as usize);
        let bias = normal(&mut rng, out);
        let r = normal(&mut rng, g.rows() as usize * out);
        let (dx, dw, db) = conv2d_backward(&g, &x, &w, &r);
        check(
            "dx",
            &|p| dot(&conv2d_forward(&g, p, &w, &bias), &r),
            &x,
            &dx,
        );
        check(
            "dw",
            &|p| dot(&conv2d_forward(&g, &x, p, &bias), &r),
            &w,
            &dw,
        );
        check(
            "db",
            &|p| dot(&conv2d_forward(&g, &x, &w, p), &r),
            &bias,
            &db,
        );
    }

    #[test]
    fn depthwise_and_relu6_backward_match_finite_differences() {
        let mut rng = Gen::new(10);
        for (stride, pad) in [(1, 1), (2, 1), (2, 0)] {
            let g = ConvGeometry {
                n: 2,
                h: 5,
                w: 6,
                c: 3,
                kh: 3,
                kw: 3,
                stride,
                pad,
            };
            let x = normal(&mut rng, g.input_len() as usize);
            let w = normal(&mut rng, 27);
            let bias = normal(&mut rng, 3);
            let r = normal(&mut rng, g.rows() as usize * 3);
            let (dx, dw, db) = depthwise_backward(&g, &x, &w, &r);
            let y = |x: &[f64], w: &[f64], b: &[f64]| dot(&depthwise_forward(&g, x, w, b), &r);
            check("depthwise dx", &|p| y(p, &w, &bias), &x, &dx);
            check("depthwise dw", &|p| y(&x, p, &bias), &w, &dw);
            check("depthwise db", &|p| y(&x, &w, p), &bias, &db);
        }
        // Spread past 6, away from the kinks at 0 and 6 where the derivative jumps.
        let x: Vec<f64> = normal(&mut rng, 40).iter().map(|v| 4.0 * v + 3.1).collect();
        let r = normal(&mut rng, 40);
        let dx = relu6_backward(&x, &r);
        check("relu6 dx", &|p| dot(&relu6_forward(p), &r), &x, &dx);
    }

    #[test]
    fn inverted_residual_backward_matches_finite_differences() {
        let eps = 1e-5;
        let mut rng = Gen::new(11);
        // Identity shortcut without expansion; a strided block with expansion 3.
        for (input, expand, channels, stride) in [((2, 4, 3, 2), 1, 2, 1), ((2, 5, 4, 2), 3, 3, 2)]
        {
            let hidden = input.3 as usize * expand as usize;
            let mut part = |w: usize, c: usize| {
                let affine = (0..2 * c).map(|i| 1.0 + 0.1 * i as f64).collect();
                [normal(&mut rng, w), normal(&mut rng, c), affine]
            };
            let p = InvertedParams {
                expand: (expand != 1).then(|| part(hidden * input.3 as usize, hidden)),
                depthwise: part(9 * hidden, hidden),
                project: part(channels as usize * hidden, channels as usize),
            };
            let shape = (expand, channels, stride);
            let x = normal(&mut rng, (input.0 * input.1 * input.2 * input.3) as usize);
            let y0 = inverted_residual_forward(input, shape, &p, eps, &x);
            let r = normal(&mut rng, y0.len());
            let (dx, grads) = inverted_residual_backward(input, shape, &p, eps, &x, &r);
            let y = |p: &InvertedParams, x: &[f64]| {
                dot(&inverted_residual_forward(input, shape, p, eps, x), &r)
            };
            check("dx", &|v| y(&p, v), &x, &dx);
            for part in 0..3 {
                let get = |p: &InvertedParams| match part {
                    0 => p.expand.clone(),
                    1 => Some(p.depthwise.clone()),
                    _ => Some(p.project.clone()),
                };
                let (Some(base), Some(analytic)) = (get(&p), get(&grads)) else {
                    continue;
                };
                for t in 0..3 {
                    let loss = |v: &[f64]| {
                        let mut q = p.clone();
                        let slot = match part {
                            0 => q.expand.as_mut().unwrap(),
                            1 => &mut q.depthwise,
                            _ => &mut q.project,
                        };
                        slot[t] = v.to_vec();
                        y(&q, &x)
                    };
                    check(
                        &format!("part {part} tensor {t}"),
                        &loss,
                        &base[t],
                        &analytic[t],
                    );
                }
            }
        }
    }

    #[test]
    fn pooling_and_relu_backward_match_finite_differences() {
        let mut rng = Gen::new(7);
        let pg = PoolGeometry {
            n: 2,
            h: 5,
            w: 4,
            c: 3,
            k: 2,
        };
        let x = normal(&mut rng, pg.input_len() as usize);
        let r = normal(&mut rng, pg.output_len() as usize);
        let dx = maxpool2d_backward(&pg, &x, &r);
        check(
            "maxpool dx",
            &|p| dot(&maxpool2d_forward(&pg, p), &r),
            &x,
            &dx,
        );
        let shape = (2, 6, 3);
        let x = normal(&mut rng, 36);
        let r = normal(&mut rng, 6);
        let dx = global_avg_pool_backward(shape, &r);
        check(
            "gap dx",
            &|p| dot(&global_avg_pool_forward(shape, p), &r),
            &x,
            &dx,
        );
        let r = normal(&mut rng, 36);
        let dx = relu_backward(&x, &r);
        check("relu dx", &|p| dot(&relu_forward(p), &r), &x, &dx);
    }

    #[test]
    fn batchnorm_backward_matches_finite_differences() {
        let (c, eps) = (3, 1e-5);
        let mut rng = Gen::new(8);
        let x = normal(&mut rng, 7 * c);
        let affine = normal(&mut rng, 2 * c);
        let r = normal(&mut rng, 7 * c);
        let (dx, da) = batchnorm2d_backward(c, eps, &x, &affine, &r);
        check(
            "dx",
            &|p| dot(&batchnorm2d_forward(c, eps, p, &affine), &r),
            &x,
            &dx,
        );
        check(
            "d affine",
            &|p| dot(&batchnorm2d_forward(c, eps, &x, p), &r),
            &affine,
            &da,
        );
    }

    #[test]
    fn basic_block_backward_matches_finite_differences() {
        let eps = 1e-5;
        let mut rng = Gen::new(9);
        // Identity shortcut (stride 1, same channels), then a projection (stride 2, 2 → 3).
        for (input, channels, stride) in [((2, 4, 3, 2), 2, 1), ((2, 5, 4, 2), 3, 2)] {
            let [g1, g2, gs] = block_geometry(input, channels, stride);
            let c = channels as usize;
            let mut conv = |g: &ConvGeometry| {
                let w = normal(&mut rng, c * g.taps() as usize);
                let affine = (0..2 * c).map(|i| 1.0 + 0.1 * i as f64).collect();
                [w, normal(&mut rng, c), affine]
            };
            let p = BlockParams {
                conv1: conv(&g1),
                conv2: conv(&g2),
                shortcut: (stride != 1 || input.3 != channels).then(|| conv(&gs)),
            };
            let x = normal(&mut rng, g1.input_len() as usize);
            let r = normal(&mut rng, g2.rows() as usize * c);
            let (dx, grads) = basic_block_backward(input, channels, stride, &p, eps, &x, &r);
            let y = |p: &BlockParams, x: &[f64]| {
                dot(&basic_block_forward(input, channels, stride, p, eps, x), &r)
            };
            check("dx", &|v| y(&p, v), &x, &dx);
            let parts = |p: &BlockParams| {
                let mut v = vec![p.conv1.clone(), p.conv2.clone()];
                v.extend(p.shortcut.clone());
                v
            };
            let (base, analytic) = (parts(&p), parts(&grads));
            for (part, tensors) in base.iter().enumerate() {
                for t in 0..3 {
                    let loss = |v: &[f64]| {
                        let mut q = p.clone();
                        let slot = match part {
                            0 => &mut q.conv1,
                            1 => &mut q.conv2,
                            _ => q.shortcut.as_mut().unwrap(),
                        };
                        slot[t] = v.to_vec();
                        y(&q, &x)
                    };
                    check(
                        &format!("part {part} tensor {t}"),
                        &loss,
                        &tensors[t],
                        &analytic[part][t],
                    );
                }
            }
        }
    }
}
