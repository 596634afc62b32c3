//! `maxpool` forward and backward, plain and fused with the ReLU before it.

use super::check::Check;
use super::{CaseResult, Extent};
use crate::cpu;
use crate::error::Result;
use crate::gpu::{Context, Recording};
use crate::ops;
use crate::rng::Gen;

/// The kernels the suite exercises.
pub(super) const KERNELS: &[&str] = &["maxpool", "maxpool_backward"];

/// Ties, odd sizes and windows of zeros after a ReLU, exact against the twin.
pub(super) async fn cases(ctx: &Context, _: Extent, out: &mut Vec<CaseResult>) -> Result<()> {
    let mut g = Gen::new(111);
    let shapes = [
        (2u32, 28u32, 28u32, 6u32, 2u32),
        (3, 10, 10, 16, 2),
        (1, 7, 5, 3, 2),
        (2, 9, 9, 1, 3),
    ];
    for ((n, h, w, c, k), after_relu) in shapes.into_iter().flat_map(|s| [(s, false), (s, true)]) {
        let geom = ops::PoolGeometry { n, h, w, c, k };
        let mut x = g.normal_vec(geom.input_len() as usize, 1.0);
        // Ties: the first maximum wins.
        x[1] = x[0];
        if after_relu {
            // A ReLU's output: windows of zeros, whose gradient the ReLU would have dropped.
            x.iter_mut().for_each(|v| *v = cpu::common::rectify(*v));
        }
        let dy = g.normal_vec(geom.output_len() as usize, 1.0);
        let xb = ctx.upload("test.x", &x);
        let dyb = ctx.upload("test.dy", &dy);
        let ab = ctx.storage_buffer("test.argmax", geom.argmax_bytes());
        let yb = ctx.storage_buffer("test.y", geom.output_len() * 4);
        let dxb = ctx.storage_buffer("test.dx", geom.input_len() * 4);
        let mut rec = Recording::new();
        let forward = ops::PoolPass::Forward { after_relu };
        ops::maxpool(ctx, &mut rec, &geom, &xb, forward, &ab, &yb)?;
        let backward = ops::PoolPass::Backward { dy: &dyb };
        ops::maxpool(ctx, &mut rec, &geom, &xb, backward, &ab, &dxb)?;
        ctx.run(&rec)?;
        let (no, ni) = (geom.output_len() as usize, geom.input_len() as usize);
        let y: Vec<f32> = ctx.read_buffer_async(&yb).await?;
        let a: Vec<u32> = ctx.read_buffer_async(&ab).await?;
        let dx: Vec<f32> = ctx.read_buffer_async(&dxb).await?;
        let words = no.div_ceil(4);
        let (mut ty, mut ta, mut tdx) = (vec![0f32; no], vec![0u32; words], vec![0f32; ni]);
        cpu::maxpool_forward(&geom, &x, after_relu, &mut ta, &mut ty);
        cpu::maxpool_backward(&geom, &dy, &ta, &mut tdx);
        let mut check = Check::new();
        check.exact_f32("y", &y[..no], &ty);
        check.exact("argmax", &a[..words], &ta);
        check.exact_f32("dx", &dx[..ni], &tdx);
        if after_relu {
            // The fused backward is the plain pooling's backward followed by the ReLU's.
            let (mut plain_a, mut plain_dx) = (vec![0u32; words], vec![0f32; ni]);
            cpu::maxpool_forward(&geom, &x, false, &mut plain_a, &mut ty);
            cpu::maxpool_backward(&geom, &dy, &plain_a, &mut plain_dx);
            let mut unfused = vec![0f32; ni];
            cpu::relu_backward(cpu::ReluSaved::Values(&x), false, &plain_dx, &mut unfused);
            check.exact_f32("dx vs pooling then ReLU backward", &dx[..ni], &unfused);
        }
        let relu = if after_relu { " after relu" } else { "" };
        check.finish("maxpool", format!("{n}x{h}x{w}x{c} k{k}{relu}"), out);
    }
    Ok(())
}
