//! Layers on the GPU against the f64 references of `octet::cpu::reference` (themselves checked
//! by finite differences), on every adapter: FP32 within a tolerance, INT8 policies by the
//! cosine similarity of their outputs and gradients to the exact ones.

mod common;

use octet::conformance::Gen;
use octet::cpu::reference::{cosine_similarity, linear_backward, linear_forward};
use octet::nn::{LayerSpec, Model, ModelSpec};
use octet::quant::Policy;

/// Smallest cosine similarity to the exact result that the INT8 policies must reach on Gaussian
/// data (measured on lavapipe and llvmpipe: 0.99992 to 0.99997).
const INT8_COSINE_BOUND: f64 = 0.999;

fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|x| *x as f64).collect()
}

fn f32s(v: &[f64]) -> Vec<f32> {
    v.iter().map(|x| *x as f32).collect()
}

fn max_abs_error(gpu: &[f32], reference: &[f64]) -> (f64, f64) {
    let err = gpu
        .iter()
        .zip(reference)
        .map(|(g, r)| (*g as f64 - r).abs())
        .fold(0.0, f64::max);
    let scale = reference.iter().map(|r| r.abs()).fold(0.0, f64::max);
    (err, scale)
}

#[test]
fn linear_layers_match_the_reference_under_every_policy() {
    let adapters = common::adapters();
    // Odd shapes: 9 rows, 37 → 29 → 13 features.
    let (batch, i0, h, o) = (9u32, 37u32, 29u32, 13u32);
    let spec = ModelSpec {
        input: [1, 1, i0],
        layers: vec![
            LayerSpec::Linear { outputs: h },
            LayerSpec::Linear { outputs: o },
        ],
    };
    let mut g = Gen::new(17);
    let x = g.normal_vec((batch * i0) as usize, 1.0);
    let dlogits = g.normal_vec((batch * o) as usize, 0.1);
    for adapter in &adapters {
        let label = format!("{:?}", adapter.get_info().backend);
        let ctx = octet::Context::from_adapter(adapter).unwrap();
        for name in ["fp32", "naive", "ui8", "dai8"] {
            let policy = Policy::from_name(name).unwrap();
            let model = Model::new(&ctx, &spec, batch, &policy, true, 5).unwrap();
            let probe = model.probe(&ctx, &x, &dlogits, 99).unwrap();
            let params = model.parameters(&ctx).unwrap();
            let (w0, b0) = (f64s(&params[0].0), f64s(&params[0].1));
            let (w1, b1) = (f64s(&params[1].0), f64s(&params[1].1));
            // Layer 1 sees layer 0's actual output; layer 0 sees layer 1's actual dX.
            let x1 = f64s(&probe[0].output);
            let y0 = linear_forward(i0 as usize, &f64s(&x), &w0, &b0);
            let y1 = linear_forward(h as usize, &x1, &w1, &b1);
            let (dx1, dw1, db1) = linear_backward(h as usize, &x1, &w1, &f64s(&dlogits));
            let dy0 = f64s(probe[1].grad_input.as_ref().unwrap());
            let (_, dw0, db0) = linear_backward(i0 as usize, &f64s(&x), &w0, &dy0);
            let gpu_dx1 = probe[1].grad_input.as_ref().unwrap();
            let pairs: [(&str, &[f32], &[f64]); 5] = [
                ("y0", &probe[0].output, &y0),
                ("y1", &probe[1].output, &y1),
                ("dx1", gpu_dx1, &dx1),
                ("dw1", &probe[1].grad_weight, &dw1),
                ("dw0", &probe[0].grad_weight, &dw0),
            ];
            for (what, gpu, reference) in pairs {
                if policy.is_int8() {
                    let cos = cosine_similarity(gpu, &f32s(reference));
                    eprintln!("{label} {name} {what}: cosine {cos:.6}");
                    assert!(
                        cos >= INT8_COSINE_BOUND,
                        "{label} {name} {what}: cosine {cos}"
                    );
                } else {
                    let (err, scale) = max_abs_error(gpu, reference);
                    assert!(
                        err <= 1e-4 * scale.max(1e-6),
                        "{label} fp32 {what}: {err} of {scale}"
                    );
                }
            }
            // Biases stay FP32 in every policy.
            for (what, gpu, reference) in [
                ("db1", &probe[1].grad_bias, &db1),
                ("db0", &probe[0].grad_bias, &db0),
            ] {
                let (err, scale) = max_abs_error(gpu, reference);
                assert!(
                    err <= 1e-4 * scale.max(1e-6),
                    "{label} {name} {what}: {err} of {scale}"
                );
            }
        }
    }
}
