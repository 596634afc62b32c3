//! `relu` forward (with and without its bit mask) and backward from each saved form, as ReLU
//! and as ReLU6.

use super::check::Check;
use super::{CaseResult, Extent};
use crate::cpu;
use crate::error::Result;
use crate::gpu::{Context, Recording};
use crate::ops::relu::relu_mask_bytes;
use crate::ops::{self, ReluPass, ReluSaved};
use crate::rng::Gen;

/// The kernels the suite exercises.
pub(super) const KERNELS: &[&str] = &["relu"];

type ReluOp =
    fn(&Context, &mut Recording, u32, ReluPass<'_>, &wgpu::Buffer) -> crate::error::Result<()>;

/// Signed zeros, NaN and infinities among normal values (for ReLU6 spread past 6, and 6
/// itself); every backward route, bit for bit.
pub(super) async fn cases(ctx: &Context, _: Extent, out: &mut Vec<CaseResult>) -> Result<()> {
    let mut g = Gen::new(71);
    for (cap6, n) in [false, true]
        .into_iter()
        .flat_map(|c| [1u32, 5, 1000, 70_000].map(|n| (c, n)))
    {
        let relu: ReluOp = if cap6 { ops::relu6 } else { ops::relu };
        let len = n as usize;
        let mut x = g.normal_vec(len, if cap6 { 5.0 } else { 1.0 });
        let specials = [0.0, -0.0, f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 6.0];
        for (i, v) in specials.iter().enumerate().take(len) {
            x[i * 7 % len] = *v;
        }
        let dy = g.normal_vec(len, 1.0);
        let xb = ctx.upload("test.x", &x);
        let dyb = ctx.upload("test.dy", &dy);
        let words = len.div_ceil(32);
        let (yb, y_plain, maskb) = (
            ctx.storage_buffer("test.y", n as u64 * 4),
            ctx.storage_buffer("test.y_plain", n as u64 * 4),
            ctx.storage_buffer("test.mask", relu_mask_bytes(n)),
        );
        let (dx_values, dx_mask) = (
            ctx.storage_buffer("test.dx_values", n as u64 * 4),
            ctx.storage_buffer("test.dx_mask", n as u64 * 4),
        );
        let mut rec = Recording::new();
        let forward = |mask| ReluPass::Forward { x: &xb, mask };
        relu(ctx, &mut rec, n, forward(Some(&maskb)), &yb)?;
        relu(ctx, &mut rec, n, forward(None), &y_plain)?;
        let backward = |saved| ReluPass::Backward { dy: &dyb, saved };
        let from_y = ReluSaved::Values(&yb);
        relu(ctx, &mut rec, n, backward(from_y), &dx_values)?;
        relu(
            ctx,
            &mut rec,
            n,
            backward(ReluSaved::Mask(&maskb)),
            &dx_mask,
        )?;
        ctx.run(&rec)?;
        let read = async |b: &wgpu::Buffer| -> Result<Vec<f32>> {
            let mut v: Vec<f32> = ctx.read_buffer_async(b).await?;
            v.truncate(len);
            Ok(v)
        };
        let (y, dxv, dxm) = (
            read(&yb).await?,
            read(&dx_values).await?,
            read(&dx_mask).await?,
        );
        let y_plain = read(&y_plain).await?;
        let mask: Vec<u32> = ctx.read_buffer_async(&maskb).await?;
        let (mut ty, mut tmask, mut tdx) = (vec![0f32; len], vec![0u32; words], vec![0f32; len]);
        cpu::relu_forward(&x, cap6, Some(&mut tmask), &mut ty);
        let mut check = Check::new();
        check.exact_f32("y", &y, &ty);
        check.exact_f32("y without a mask", &y_plain, &ty);
        check.exact("mask", &mask[..words], &tmask);
        cpu::relu_backward(cpu::ReluSaved::Values(&ty), cap6, &dy, &mut tdx);
        check.exact_f32("dx from y", &dxv, &tdx);
        // Every route to the backward gives the same bits: from the input, the output, the mask.
        cpu::relu_backward(cpu::ReluSaved::Mask(&tmask), cap6, &dy, &mut tdx);
        check.exact_f32("dx from the mask", &dxm, &tdx);
        cpu::relu_backward(cpu::ReluSaved::Values(&x), cap6, &dy, &mut tdx);
        check.exact_f32("dx from the mask vs from x", &dxm, &tdx);
        let name = if cap6 { "relu6" } else { "relu" };
        check.finish("relu", format!("{name} n={n} with ±0, NaN, ±Inf"), out);
    }
    Ok(())
}
