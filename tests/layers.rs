//! Every layer on the GPU against the f64 references of `octet::cpu::reference` (themselves
//! checked by finite differences), on every adapter and under every policy. Each layer is fed
//! the GPU's own input and output gradient, so a layer's error is its own: FP32 layers agree
//! within a tolerance, quantized GEMM layers by the cosine similarity of their outputs and
//! gradients to the exact ones.

mod common;

use common::{Needs, for_each_adapter};
use octet::cpu::reference as r;
use octet::nn::{LayerSpec, Model, ModelSpec, NamedTensor, TensorRole};
use octet::ops::{BatchNormConfig, ConvGeometry, PoolGeometry};
use octet::quant::Policy;
use octet::rng::Gen;

/// Smallest cosine similarity to the exact result that the INT8 policies must reach on Gaussian
/// data (measured on lavapipe and llvmpipe: see the per-tensor values the test prints).
const INT8_COSINE_BOUND: f64 = 0.999;

/// The same for a residual block, whose input and inner weight gradients pass through two int8
/// GEMMs and two batch-norm backwards: each batch norm removes the gradient's per-channel mean
/// and its projection on the normalized input, so what is left is smaller than the int8 error
/// it carries. Measured 0.9769 at the test's 12 rows per channel, 0.9889 at 64 rows.
const BLOCK_COSINE_BOUND: f64 = 0.97;

/// Relative tolerance (of the largest reference magnitude) for FP32 results.
const FP32_TOLERANCE: f64 = 1e-4;

fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|x| *x as f64).collect()
}

/// Checks one GPU tensor against its reference: within [`FP32_TOLERANCE`], or for a quantized
/// GEMM by cosine similarity;
/// `bound` is the least cosine similarity for a quantized result, `None` for an FP32 one.
fn check(label: &str, gpu: &[f32], reference: &[f64], bound: Option<f64>) {
    assert_eq!(gpu.len(), reference.len(), "{label}: length");
    if let Some(bound) = bound {
        let exact: Vec<f32> = reference.iter().map(|x| *x as f32).collect();
        let cos = r::cosine_similarity(gpu, &exact);
        eprintln!("{label}: cosine {cos:.6}");
        assert!(cos >= bound, "{label}: cosine {cos} < {bound}");
    } else {
        let err = gpu
            .iter()
            .zip(reference)
            .map(|(g, r)| (*g as f64 - r).abs())
            .fold(0.0, f64::max);
        // The floor covers gradients that are zero in exact arithmetic (a conv bias before a
        // batch norm) but a sum of hundreds of cancelling f32 terms on the GPU.
        let scale = reference.iter().map(|r| r.abs()).fold(1e-2, f64::max);
        assert!(
            err <= FP32_TOLERANCE * scale,
            "{label}: max error {err} of {scale}"
        );
    }
}

/// How a parameter gradient is checked.
#[derive(Clone, Copy)]
enum Kind {
    /// FP32 arithmetic on FP32 inputs in every policy: within [`FP32_TOLERANCE`].
    Exact,
    /// Through an int8 GEMM under an INT8 policy: by cosine similarity.
    Quantized,
    /// Nearly zero in exact arithmetic, so that under an INT8 policy its int8 error is all
    /// there is: checked against `scale`, the RMS of a healthy gradient of the same block
    /// (see [`NEAR_ZERO_BOUND`]).
    NearZero(f64),
}

/// An expansion's batch norm feeds a depthwise convolution, linear per channel, and then a
/// batch norm that normalizes each channel again: the loss hardly depends on the expansion's
/// γ and β (through the padded borders and ReLU6's caps only; the exact gradient's RMS is a
/// thousandth of the depthwise batch norm's). Under INT8 their error must stay below this
/// fraction of that batch norm's gradient RMS (measured: at most 5% on lavapipe and llvmpipe).
const NEAR_ZERO_BOUND: f64 = 0.1;

fn rms(v: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = v.fold((0.0, 0usize), |(s, n), x| (s + x * x, n + 1));
    (sum / n.max(1) as f64).sqrt()
}

/// Checks a [`Kind::NearZero`] gradient.
fn near_zero(label: &str, gpu: &[f32], reference: &[f64], scale: f64) {
    let err = rms(gpu.iter().zip(reference).map(|(g, r)| *g as f64 - r));
    eprintln!("{label}: RMS error {:.4} of the block's scale", err / scale);
    assert!(
        err <= NEAR_ZERO_BOUND * scale,
        "{label}: RMS error {err} > {NEAR_ZERO_BOUND} × {scale}"
    );
}

fn tensor(tensors: &[NamedTensor], name: &str) -> Vec<f64> {
    let t = tensors.iter().find(|t| t.name == name);
    f64s(&t.unwrap_or_else(|| panic!("no tensor {name}")).data)
}

/// Runs `spec` under each policy on every adapter and checks each layer against its reference;
/// `test` names the test in what is printed.
fn check_layers(test: &str, spec: &ModelSpec, batch: u32) {
    let shapes = spec.shapes().unwrap();
    let last = spec.layers.len() - 1;
    let mut g = Gen::new(17);
    let x = g.normal_vec((batch * spec.input_len()) as usize, 1.0);
    let logits = batch as usize * spec.classes() as usize;
    let dlogits = g.normal_vec(logits, 0.1);
    let eps = BatchNormConfig::default().eps as f64;
    let momentum = BatchNormConfig::default().momentum as f64;
    for_each_adapter(test, Needs::EveryAdapter, |gpu| {
        let backend = format!("{:?}", gpu.backend());
        let ctx = gpu.context();
        for name in ["fp32", "naive", "ui8", "dai8"] {
            let policy = Policy::from_name(name).unwrap();
            let q = policy.is_int8();
            let model = Model::new(&ctx, spec, batch, &policy, true, 5).unwrap();
            let probe = model.probe(&ctx, &x, &dlogits, 99).unwrap();
            let params = model.read_tensors(&ctx, TensorRole::Parameter).unwrap();
            let grads = model.read_tensors(&ctx, TensorRole::Gradient).unwrap();
            let running = model.read_tensors(&ctx, TensorRole::RunningStat).unwrap();
            for (i, layer) in spec.layers.iter().enumerate() {
                let input = f64s(if i == 0 { &x } else { &probe[i - 1].output });
                let dy = f64s(if i == last {
                    &dlogits
                } else {
                    probe[i + 1].grad_input.as_ref().unwrap()
                });
                let [h, w, c] = shapes[i];
                let label = |what: &str| format!("{backend} {name} layer{i} {layer:?} {what}");
                // (reference output, reference dx, [(tensor, reference gradient, kind)], GEMM?).
                type Grads = Vec<(String, Vec<f64>, Kind)>;
                let (y, dx, param_grads, gemm): (_, _, Grads, _) = match *layer {
                    LayerSpec::Linear { .. } => {
                        let p = |t: &str| tensor(&params, &format!("layer{i}.linear.{t}"));
                        let inputs = (h * w * c) as usize;
                        let y = r::linear_forward(inputs, &input, &p("weight"), &p("bias"));
                        let (dx, dw, db) = r::linear_backward(inputs, &input, &p("weight"), &dy);
                        let named = vec![
                            (format!("layer{i}.linear.weight"), dw, Kind::Quantized),
                            (format!("layer{i}.linear.bias"), db, Kind::Exact),
                        ];
                        (y, dx, named, true)
                    }
                    LayerSpec::Conv2d {
                        kernel,
                        stride,
                        pad,
                        ..
                    }
                    | LayerSpec::DepthwiseConv2d {
                        kernel,
                        stride,
                        pad,
                    } => {
                        let geom = ConvGeometry {
                            n: batch,
                            h,
                            w,
                            c,
                            kh: kernel,
                            kw: kernel,
                            stride,
                            pad,
                        };
                        let depthwise = matches!(layer, LayerSpec::DepthwiseConv2d { .. });
                        let kind = if depthwise { "depthwise" } else { "conv" };
                        let p = |t: &str| tensor(&params, &format!("layer{i}.{kind}.{t}"));
                        let (w, b) = (p("weight"), p("bias"));
                        let (y, (dx, dw, db)) = if depthwise {
                            let y = r::depthwise_forward(&geom, &input, &w, &b);
                            (y, r::depthwise_backward(&geom, &input, &w, &dy))
                        } else {
                            let y = r::conv2d_forward(&geom, &input, &w, &b);
                            (y, r::conv2d_backward(&geom, &input, &w, &dy))
                        };
                        let named = vec![
                            (format!("layer{i}.{kind}.weight"), dw, Kind::Quantized),
                            (format!("layer{i}.{kind}.bias"), db, Kind::Exact),
                        ];
                        (y, dx, named, true)
                    }
                    LayerSpec::BatchNorm2d => {
                        let c = c as usize;
                        let p = |t: &str| tensor(&params, &format!("layer{i}.bn.{t}"));
                        let affine = [p("weight"), p("bias")].concat();
                        let y = r::batchnorm2d_forward(c, eps, &input, &affine);
                        let (dx, da) = r::batchnorm2d_backward(c, eps, &input, &affine, &dy);
                        // Running statistics start at mean 0, variance 1 and advanced once.
                        let start = [vec![0.0; c], vec![1.0; c]].concat();
                        let run = r::batchnorm2d_running(c, momentum, &input, &start);
                        let gpu_run = [
                            tensor(&running, &format!("layer{i}.bn.running_mean")),
                            tensor(&running, &format!("layer{i}.bn.running_var")),
                        ]
                        .concat();
                        let gpu_run: Vec<f32> = gpu_run.iter().map(|v| *v as f32).collect();
                        check(&label("running statistics"), &gpu_run, &run, None);
                        let named = vec![
                            (format!("layer{i}.bn.weight"), da[..c].to_vec(), Kind::Exact),
                            (format!("layer{i}.bn.bias"), da[c..].to_vec(), Kind::Exact),
                        ];
                        (y, dx, named, false)
                    }
                    LayerSpec::Relu => (
                        r::relu_forward(&input),
                        r::relu_backward(&input, &dy),
                        vec![],
                        false,
                    ),
                    LayerSpec::Relu6 => (
                        r::relu6_forward(&input),
                        r::relu6_backward(&input, &dy),
                        vec![],
                        false,
                    ),
                    LayerSpec::InvertedResidual {
                        expand,
                        channels,
                        stride,
                    } => {
                        let prefix = format!("layer{i}.block");
                        let part = |name: &str| {
                            let p = |t: &str| tensor(&params, &format!("{prefix}.{name}{t}"));
                            [
                                p(".weight"),
                                p(".bias"),
                                [p("_bn.weight"), p("_bn.bias")].concat(),
                            ]
                        };
                        let ip = r::InvertedParams {
                            expand: (expand != 1).then(|| part("expand")),
                            depthwise: part("depthwise"),
                            project: part("project"),
                        };
                        let (input_shape, shape) = ((batch, h, w, c), (expand, channels, stride));
                        let y = r::inverted_residual_forward(input_shape, shape, &ip, eps, &input);
                        let (dx, gp) = r::inverted_residual_backward(
                            input_shape,
                            shape,
                            &ip,
                            eps,
                            &input,
                            &dy,
                        );
                        let mut named = Vec::new();
                        let scale = rms(gp.depthwise[2].iter().copied());
                        let mut parts = vec![];
                        parts.extend(gp.expand.map(|e| ("expand", e)));
                        parts.extend([("depthwise", gp.depthwise), ("project", gp.project)]);
                        for (name, [dw, db, da]) in parts {
                            let ch = db.len();
                            // A bias before a batch norm has a zero gradient in exact
                            // arithmetic, whatever the int8 error upstream.
                            named.push((format!("{prefix}.{name}.weight"), dw, Kind::Quantized));
                            named.push((format!("{prefix}.{name}.bias"), db, Kind::Exact));
                            let bn = match name {
                                "expand" => Kind::NearZero(scale),
                                _ => Kind::Quantized,
                            };
                            let (g, b) = (da[..ch].to_vec(), da[ch..].to_vec());
                            named.push((format!("{prefix}.{name}_bn.weight"), g, bn));
                            named.push((format!("{prefix}.{name}_bn.bias"), b, bn));
                        }
                        (y, dx, named, true)
                    }
                    LayerSpec::MaxPool2d { k } => {
                        let geom = PoolGeometry {
                            n: batch,
                            h,
                            w,
                            c,
                            k,
                        };
                        let y = r::maxpool2d_forward(&geom, &input);
                        (y, r::maxpool2d_backward(&geom, &input, &dy), vec![], false)
                    }
                    LayerSpec::GlobalAvgPool => {
                        let shape = (batch as usize, (h * w) as usize, c as usize);
                        let y = r::global_avg_pool_forward(shape, &input);
                        (y, r::global_avg_pool_backward(shape, &dy), vec![], false)
                    }
                    LayerSpec::Flatten => (input.clone(), dy.clone(), vec![], false),
                    LayerSpec::BasicBlock { channels, stride } => {
                        let prefix = format!("layer{i}.block");
                        let conv = |conv: &str, bn: &str| {
                            let p = |t: &str| tensor(&params, &format!("{prefix}.{t}"));
                            [
                                p(&format!("{conv}.weight")),
                                p(&format!("{conv}.bias")),
                                [p(&format!("{bn}.weight")), p(&format!("{bn}.bias"))].concat(),
                            ]
                        };
                        let bp = r::BlockParams {
                            conv1: conv("conv1", "bn1"),
                            conv2: conv("conv2", "bn2"),
                            shortcut: (stride != 1 || c != channels)
                                .then(|| conv("shortcut", "shortcut_bn")),
                        };
                        let shape = (batch, h, w, c);
                        let y = r::basic_block_forward(shape, channels, stride, &bp, eps, &input);
                        let (dx, gp) =
                            r::basic_block_backward(shape, channels, stride, &bp, eps, &input, &dy);
                        let mut named = Vec::new();
                        let mut parts =
                            vec![("conv1", "bn1", gp.conv1), ("conv2", "bn2", gp.conv2)];
                        parts.extend(gp.shortcut.map(|s| ("shortcut", "shortcut_bn", s)));
                        for (conv, bn, [dw, db, da]) in parts {
                            let ch = channels as usize;
                            // A conv bias before a batch norm has a zero gradient in exact
                            // arithmetic, whatever the int8 error upstream.
                            named.push((format!("{prefix}.{conv}.weight"), dw, Kind::Quantized));
                            named.push((format!("{prefix}.{conv}.bias"), db, Kind::Exact));
                            named.push((
                                format!("{prefix}.{bn}.weight"),
                                da[..ch].to_vec(),
                                Kind::Quantized,
                            ));
                            named.push((
                                format!("{prefix}.{bn}.bias"),
                                da[ch..].to_vec(),
                                Kind::Quantized,
                            ));
                        }
                        (y, dx, named, true)
                    }
                };
                let bound = match layer {
                    LayerSpec::BasicBlock { .. } | LayerSpec::InvertedResidual { .. } => {
                        BLOCK_COSINE_BOUND
                    }
                    _ => INT8_COSINE_BOUND,
                };
                let bound = (q && gemm).then_some(bound);
                check(&label("output"), &probe[i].output, &y, bound);
                if let Some(gpu_dx) = &probe[i].grad_input {
                    check(&label("dx"), gpu_dx, &dx, bound);
                }
                for (tensor_name, reference, kind) in param_grads {
                    let gpu = grads.iter().find(|t| t.name == tensor_name).unwrap();
                    match kind {
                        Kind::Exact => check(&label(&tensor_name), &gpu.data, &reference, None),
                        Kind::Quantized => {
                            check(&label(&tensor_name), &gpu.data, &reference, bound)
                        }
                        Kind::NearZero(scale) if q => {
                            near_zero(&label(&tensor_name), &gpu.data, &reference, scale)
                        }
                        Kind::NearZero(_) => {
                            check(&label(&tensor_name), &gpu.data, &reference, None)
                        }
                    }
                }
            }
        }
    });
}

#[test]
fn linear_layers_match_the_reference_under_every_policy() {
    // Odd shapes: 9 rows, 37 → 29 → 13 features.
    let spec = ModelSpec {
        input: [1, 1, 37],
        layers: vec![
            LayerSpec::Linear { outputs: 29 },
            LayerSpec::Relu,
            LayerSpec::Linear { outputs: 13 },
        ],
    };
    check_layers(
        "linear_layers_match_the_reference_under_every_policy",
        &spec,
        9,
    );
}

#[test]
fn convolutional_layers_match_the_reference_under_every_policy() {
    // A 9×7×3 input through every layer kind: a padded conv, BN, ReLU, max-pool, a strided
    // block with a projection shortcut, a block with an identity one, pooling and the logits.
    let spec = ModelSpec {
        input: [9, 7, 3],
        layers: vec![
            LayerSpec::Conv2d {
                channels: 5,
                kernel: 3,
                stride: 1,
                pad: 1,
            },
            LayerSpec::BatchNorm2d,
            LayerSpec::Relu,
            LayerSpec::MaxPool2d { k: 2 },
            LayerSpec::BasicBlock {
                channels: 6,
                stride: 2,
            },
            LayerSpec::BasicBlock {
                channels: 6,
                stride: 1,
            },
            LayerSpec::Conv2d {
                channels: 7,
                kernel: 2,
                stride: 1,
                pad: 0,
            },
            LayerSpec::Flatten,
            LayerSpec::Linear { outputs: 5 },
        ],
    };
    check_layers(
        "convolutional_layers_match_the_reference_under_every_policy",
        &spec,
        3,
    );
}

#[test]
fn pooled_head_matches_the_reference() {
    let spec = ModelSpec {
        input: [5, 3, 4],
        layers: vec![
            LayerSpec::Conv2d {
                channels: 6,
                kernel: 3,
                stride: 2,
                pad: 1,
            },
            LayerSpec::Relu,
            LayerSpec::GlobalAvgPool,
            LayerSpec::Linear { outputs: 3 },
        ],
    };
    check_layers("pooled_head_matches_the_reference", &spec, 4);
}

#[test]
fn mobilenet_layers_match_the_reference_under_every_policy() {
    // A 7×6×3 input: BN and ReLU6 after a conv, a strided depthwise convolution, an
    // inverted-residual block without expansion (identity shortcut), a strided one with
    // expansion 3, one with expansion and an identity shortcut, pooling and the logits.
    let ir = |expand, channels, stride| LayerSpec::InvertedResidual {
        expand,
        channels,
        stride,
    };
    let spec = ModelSpec {
        input: [7, 6, 3],
        layers: vec![
            LayerSpec::Conv2d {
                channels: 8,
                kernel: 3,
                stride: 1,
                pad: 1,
            },
            LayerSpec::BatchNorm2d,
            LayerSpec::Relu6,
            LayerSpec::DepthwiseConv2d {
                kernel: 3,
                stride: 2,
                pad: 1,
            },
            ir(1, 8, 1),
            ir(3, 5, 2),
            ir(3, 5, 1),
            LayerSpec::GlobalAvgPool,
            LayerSpec::Linear { outputs: 4 },
        ],
    };
    check_layers(
        "mobilenet_layers_match_the_reference_under_every_policy",
        &spec,
        3,
    );
}
