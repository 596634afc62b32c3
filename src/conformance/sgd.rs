//! `sgd`: three steps of each update rule, the learning-rate factors read on the GPU included.

use super::check::Check;
use super::{CaseResult, Extent};
use crate::cpu;
use crate::error::Result;
use crate::gpu::{Context, Recording};
use crate::ops::sgd::SgdParams;
use crate::ops::{self, LrScale, SgdBuffers, SgdStep};
use crate::rng::Gen;

/// The kernels the suite exercises.
pub(super) const KERNELS: &[&str] = &["sgd", "sgd_vec4"];

/// Momentum, Nesterov and plain steps, with and without a factor from a clip summary.
pub(super) async fn cases(ctx: &Context, _: Extent, out: &mut Vec<CaseResult>) -> Result<()> {
    let mut g = Gen::new(91);
    let variants = [
        (
            "momentum 0.9, wd 5e-4",
            SgdStep {
                lr: 0.1,
                momentum: 0.9,
                weight_decay: 5e-4,
                nesterov: false,
            },
            None,
        ),
        (
            "nesterov",
            SgdStep {
                lr: 0.05,
                momentum: 0.9,
                weight_decay: 0.0,
                nesterov: true,
            },
            None,
        ),
        (
            "plain, lr × GPU factor",
            SgdStep {
                lr: 0.2,
                momentum: 0.0,
                weight_decay: 1e-4,
                nesterov: false,
            },
            Some(LrScale::Word(2)),
        ),
        (
            "global φ of the mean distance",
            SgdStep {
                lr: 0.2,
                momentum: 0.9,
                weight_decay: 0.0,
                nesterov: false,
            },
            Some(LrScale::MeanDistance {
                layers: 3,
                alpha: 20.0,
                beta: 0.1,
            }),
        ),
        (
            "global min φ",
            SgdStep {
                lr: 0.2,
                momentum: 0.9,
                weight_decay: 0.0,
                nesterov: false,
            },
            Some(LrScale::MinPhi { layers: 3 }),
        ),
    ];
    // A table of three clip summaries: (tensor clip, distance, φ, …) each.
    let table: Vec<f32> = [[2.0f32, 0.02, 0.67], [1.0, 0.05, 0.37], [3.0, 0.01, 0.82]]
        .iter()
        .flat_map(|s| [s[0], s[1], s[2], 0.0, 0.0, 0.0, 0.0, 0.0])
        .collect();
    // 1 and 1003 run sgd, the multiples of 4 sgd_vec4.
    for n in [1u32, 1003, 1000, 70_000] {
        let kernel = ops::sgd::kernel_for(n).0.name;
        for (name, step, scale) in variants {
            let mut w = g.normal_vec(n as usize, 1.0);
            let mut v = vec![0f32; n as usize];
            let wb = ctx.upload("test.w", &w);
            let vb = ctx.upload("test.v", &v);
            let fb = ctx.upload("test.factors", &table);
            let mut check = Check::new();
            // Three steps with the state carried on both sides.
            for _ in 0..3 {
                let grad = g.normal_vec(n as usize, 1.0);
                let gb = ctx.upload("test.grad", &grad);
                let mut rec = Recording::new();
                let bufs = SgdBuffers {
                    grad: (&gb).into(),
                    weights: (&wb).into(),
                    velocity: (&vb).into(),
                    lr_scale: scale.map(|s| (&fb, s)),
                    guard: None,
                };
                ops::sgd(ctx, &mut rec, n, step, bufs)?;
                ctx.run(&rec)?;
                let per_lane = crate::abi::flat_per_lane(ctx.spread());
                let params = SgdParams::new(n, step, scale, per_lane);
                cpu::sgd::twin(kernel)(&params, &table, &[0], &grad, &mut w, &mut v);
            }
            let gw: Vec<f32> = ctx.read_buffer_async(&wb).await?;
            let gv: Vec<f32> = ctx.read_buffer_async(&vb).await?;
            let scale = |t: &[f32]| -> Vec<f32> { t.iter().map(|x| x.abs() + 1.0).collect() };
            check.close("weights", &gw[..n as usize], &w, &scale(&w), 1e-6);
            check.close("velocity", &gv[..n as usize], &v, &scale(&v), 1e-6);
            check.finish(kernel, format!("n={n} {name}, 3 steps"), out);
        }
    }
    Ok(())
}
