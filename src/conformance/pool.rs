//! `global_avg_pool` forward and backward, and `add` (plain and rectified): a residual block's
//! other kernels.

use super::check::Check;
use super::{CaseResult, Extent};
use crate::cpu;
use crate::error::Result;
use crate::gpu::{Context, Recording};
use crate::ops;
use crate::rng::Gen;

/// The kernels the suite exercises.
pub(super) const KERNELS: &[&str] = &["global_avg_pool", "add"];

/// Shapes from one element to a batch of 64, each pass against its twin.
pub(super) async fn cases(ctx: &Context, _: Extent, out: &mut Vec<CaseResult>) -> Result<()> {
    let mut g = Gen::new(121);
    for (n, hw, c) in [(1u32, 1u32, 1u32), (2, 49, 64), (3, 16, 5), (64, 64, 10)] {
        let (small, big) = ((n * c) as usize, (n * hw * c) as usize);
        let x = g.normal_vec(big, 1.0);
        let b = g.normal_vec(big, 1.0);
        let dy = g.normal_vec(small, 1.0);
        let (xb, bb, dyb) = (
            ctx.upload("test.x", &x),
            ctx.upload("test.b", &b),
            ctx.upload("test.dy", &dy),
        );
        let yb = ctx.storage_buffer("test.y", small as u64 * 4);
        let dxb = ctx.storage_buffer("test.dx", big as u64 * 4);
        let sb = ctx.storage_buffer("test.sum", big as u64 * 4);
        let rb = ctx.storage_buffer("test.relu_sum", big as u64 * 4);
        let mut rec = Recording::new();
        ops::global_avg_pool(ctx, &mut rec, (n, hw, c), &xb, None, &yb)?;
        ops::global_avg_pool(ctx, &mut rec, (n, hw, c), &xb, Some(&dyb), &dxb)?;
        ops::add(&mut rec, big as u32, &xb, &bb, (&sb, false))?;
        ops::add(&mut rec, big as u32, &xb, &bb, (&rb, true))?;
        ctx.run(&rec)?;
        let (y, dx, sum): (Vec<f32>, Vec<f32>, Vec<f32>) = (
            ctx.read_buffer_async(&yb).await?,
            ctx.read_buffer_async(&dxb).await?,
            ctx.read_buffer_async(&sb).await?,
        );
        let relu_sum: Vec<f32> = ctx.read_buffer_async(&rb).await?;
        let shape = (n as usize, hw as usize, c as usize);
        let (mut ty, mut tdx, mut tsum) = (vec![0f32; small], vec![0f32; big], vec![0f32; big]);
        cpu::global_avg_pool_forward(shape, &x, &mut ty);
        cpu::global_avg_pool_backward(shape, &dy, &mut tdx);
        cpu::add(&x, &b, (&mut tsum, false));
        let mut trelu = vec![0f32; big];
        cpu::add(&x, &b, (&mut trelu, true));
        let mut check = Check::new();
        // 1/hw is a division, which a driver may round differently: 1e-6 for the pooling.
        check.close(
            "gap forward",
            &y[..small],
            &ty,
            &vec![1.0 + ty.iter().fold(0f32, |m, v| m.max(v.abs())); small],
            1e-6,
        );
        check.close("gap backward", &dx[..big], &tdx, &vec![1.0; big], 1e-6);
        check.exact_f32("add", &sum[..big], &tsum);
        check.exact_f32("add, rectified", &relu_sum[..big], &trelu);
        if trelu.iter().zip(&tsum).any(|(r, s)| *r != s.max(0.0)) {
            check.fail("rectified sums are not relu(a + b)".into());
        }
        check.finish("pool", format!("n={n} hw={hw} c={c}"), out);
    }
    Ok(())
}
