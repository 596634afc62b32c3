//! Float64 reference implementations of the layers, the ground truth that the GPU layers are
//! checked against (and that is itself checked by finite differences). Not twins: twins mirror
//! a kernel's arithmetic; references compute the mathematical result as exactly as f64 allows.

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
    use crate::conformance::Gen;

    /// The reference backward agrees with central differences of the reference forward for
    /// the loss L = Σ y·r.
    #[test]
    fn linear_backward_matches_finite_differences() {
        let (batch, inputs, outputs) = (3, 5, 4);
        let mut g = Gen::new(5);
        let mut v = |n: usize| -> Vec<f64> { (0..n).map(|_| g.normal() as f64).collect() };
        let (x, w, bias, r) = (
            v(batch * inputs),
            v(outputs * inputs),
            v(outputs),
            v(batch * outputs),
        );
        let loss = |x: &[f64], w: &[f64], bias: &[f64]| -> f64 {
            linear_forward(inputs, x, w, bias)
                .iter()
                .zip(&r)
                .map(|(y, r)| y * r)
                .sum()
        };
        let (dx, dw, db) = linear_backward(inputs, &x, &w, &r);
        let h = 1e-6;
        let numeric = |f: &dyn Fn(&mut Vec<f64>) -> f64, base: &[f64], i: usize| {
            let mut p = base.to_vec();
            p[i] += h;
            let up = f(&mut p);
            p[i] -= 2.0 * h;
            (up - f(&mut p)) / (2.0 * h)
        };
        for i in 0..w.len() {
            let d = numeric(&|p| loss(&x, p, &bias), &w, i);
            assert!((d - dw[i]).abs() < 1e-6, "dw[{i}]: {d} vs {}", dw[i]);
        }
        for i in 0..x.len() {
            let d = numeric(&|p| loss(p, &w, &bias), &x, i);
            assert!((d - dx[i]).abs() < 1e-6, "dx[{i}]: {d} vs {}", dx[i]);
        }
        for i in 0..bias.len() {
            let d = numeric(&|p| loss(&x, &w, p), &bias, i);
            assert!((d - db[i]).abs() < 1e-6, "db[{i}]: {d} vs {}", db[i]);
        }
    }
}
