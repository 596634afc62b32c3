//! A training step fuses what it can — a ReLU into the GEMM epilogue or batch norm before it,
//! its mask into the next layer's quantization, its backward into a max-pooling or the next
//! Linear's input-gradient GEMM — while a probe runs every layer on its own. Both must compute
//! the same bits: the logits and every parameter gradient, under every policy and convolution
//! lowering, on every adapter.

use crate::gpu::{Context, Recording};
use crate::nn::pass::{Clips, Fusion, Pass};
use crate::nn::{Model, ModelSpec, TensorRole};
use crate::ops::ConvLowering;
use crate::quant::Policy;

/// Forward and backward from `x` and `dlogits`, fused or not, with the stochastic roundings
/// seeded in recording order from `seed`; returns the logits and the gradients' bits.
fn step(model: &Model, ctx: &Context, x: &[f32], dlogits: &[f32], fusion: Fusion) -> Vec<u32> {
    let last = model.acts.len() - 1;
    ctx.queue()
        .write_buffer(&model.acts[0], 0, bytemuck::cast_slice(x));
    let mut rec = Recording::new();
    model
        .record_forward_pass(ctx, &mut rec, Pass::TRAIN, fusion)
        .unwrap();
    ctx.run(&rec).unwrap();
    let mut bits: Vec<u32> = ctx.read_buffer(&model.acts[last]).unwrap();
    bits.truncate(dlogits.len());
    ctx.queue()
        .write_buffer(&model.grads[last], 0, bytemuck::cast_slice(dlogits));
    let mut seed = 7u32;
    // Unfused, a layer at a time, as a probe does; fused, in one recording.
    let layers: Vec<Vec<usize>> = if fusion == Fusion::Fused {
        vec![(0..model.layers.len()).collect()]
    } else {
        (0..model.layers.len()).rev().map(|i| vec![i]).collect()
    };
    for group in layers {
        let mut rec = Recording::new();
        let seeded = match fusion {
            Fusion::Fused => model.record_backward_pass(ctx, &mut rec, Clips::Refresh, fusion),
            Fusion::Unfused => {
                model.record_layer_backward(ctx, &mut rec, group[0], Clips::Refresh, fusion)
            }
        }
        .unwrap();
        for s in seeded {
            seed = s.write_seeds(&mut rec.dispatches[s.dispatch].params, seed, |n| n);
        }
        ctx.run(&rec).unwrap();
    }
    for t in model.read_tensors(ctx, TensorRole::Gradient).unwrap() {
        bits.extend(t.data.iter().map(|v| v.to_bits()));
    }
    bits
}

#[test]
fn fused_steps_compute_what_unfused_layers_do() {
    let spec = ModelSpec::builder(8, 8, 4)
        // ReLU in the epilogue, its backward in the pooling.
        .conv2d(8, 3, 1, 1)
        .relu()
        .maxpool(2)
        // The pooling's backward in this convolution's col2im; ReLU in the epilogue, its mask
        // written by the next convolution.
        .conv2d(8, 3, 1, 1)
        .relu()
        // ReLU in the batch norm, its mask written by the block's first convolution (and
        // inside the block, by its second); the block's last ReLU in its residual add, its
        // mask written by the next block's first convolution.
        .conv2d(8, 3, 1, 1)
        .batchnorm()
        .relu()
        .basic_block(8, 1)
        .basic_block(8, 2)
        .flatten()
        // ReLU in the epilogue, its mask written by the next Linear (int8 under a quantized
        // policy), whose input-gradient GEMM does the ReLU's backward from the mask; then the
        // last Linear's (FP32) does the next ReLU's from that ReLU's output.
        .linear(12)
        .relu()
        .linear(10)
        .relu()
        .linear(3)
        .build();
    let batch = 4;
    let mut g = crate::rng::Gen::new(3);
    let x = g.normal_vec((batch * spec.input_len()) as usize, 1.0);
    let dlogits = g.normal_vec(batch as usize * 3, 0.1);
    let adapters = crate::gpu::adapters(wgpu::Backends::all());
    assert!(!adapters.is_empty(), "no GPU adapter (see README)");
    for adapter in adapters {
        let ctx = Context::from_adapter(&adapter).unwrap();
        let backend = format!("{:?}", adapter.get_info().backend);
        for lowering in ConvLowering::ALL {
            ctx.set_conv_lowering(Some(lowering));
            for name in ["fp32", "naive", "ui8", "dai8"] {
                let policy = Policy::from_name(name).unwrap();
                let run = |fusion| {
                    let model = Model::new(&ctx, &spec, batch, &policy, true, 5).unwrap();
                    step(&model, &ctx, &x, &dlogits, fusion)
                };
                let (fused, unfused) = (run(Fusion::Fused), run(Fusion::Unfused));
                assert_eq!(fused.len(), unfused.len());
                let differ = fused.iter().zip(&unfused).filter(|(a, b)| a != b).count();
                assert_eq!(
                    differ, 0,
                    "{backend} {lowering:?} {name}: {differ} words differ"
                );
            }
        }
    }
}
