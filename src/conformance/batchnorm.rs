//! Batch normalization: the training forward, the backward with its gradient preparation, and
//! the evaluation forward with a ReLU folded in.

use super::check::Check;
use super::{CaseResult, Extent};
use crate::cpu;
use crate::error::Result;
use crate::gpu::{Context, Recording};
use crate::ops::{self, ChannelStat};
use crate::rng::Gen;

/// The kernels the suite exercises.
pub(super) const KERNELS: &[&str] = &["batchnorm", "batchnorm_grad_prep", "batchnorm_backward"];

/// Each pass against its twin fed the GPU's batch statistics, and Σdx = 0 per channel.
pub(super) async fn cases(ctx: &Context, _: Extent, out: &mut Vec<CaseResult>) -> Result<()> {
    use crate::ops::{BatchNormBuffers, BatchNormConfig};
    let mut g = Gen::new(131);
    let cfg = BatchNormConfig::default();
    for (rows, c) in [(2u32, 1u32), (50, 3), (3136, 16), (8, 64)] {
        let cells = (rows * c) as usize;
        let x: Vec<f32> = (0..cells).map(|_| g.normal() * 2.0 + 3.0).collect();
        let dy = g.normal_vec(cells, 1.0);
        let affine: Vec<f32> = (0..2 * c).map(|_| g.normal()).collect();
        let running: Vec<f32> = (0..2 * c).map(|i| if i < c { 0.0 } else { 1.0 }).collect();
        let stats = ctx.storage_buffer("test.stats", c as u64 * size_of::<ChannelStat>() as u64);
        let (ab, rb) = (
            ctx.upload("test.affine", &affine),
            ctx.upload("test.running", &running),
        );
        let xhat = ctx.storage_buffer("test.xhat", cells as u64 * 4);
        let bufs = BatchNormBuffers {
            stats: &stats,
            affine: (&ab).into(),
            running: &rb,
            xhat: &xhat,
        };
        let (xb, dyb) = (ctx.upload("test.x", &x), ctx.upload("test.dy", &dy));
        let (yb, eb) = (
            ctx.storage_buffer("test.y", cells as u64 * 4),
            ctx.storage_buffer("test.eval", cells as u64 * 4),
        );
        let scratch = ctx.storage_buffer("test.scratch", 2 * cells as u64 * 4);
        let sums = ctx.storage_buffer("test.sums", 2 * c as u64 * 4);
        let dxb = ctx.storage_buffer("test.dx", cells as u64 * 4);
        let mut rec = Recording::new();
        ops::batchnorm_forward(ctx, &mut rec, (rows, c), true, cfg, &xb, bufs, (&yb, false))?;
        ops::batchnorm_backward(
            ctx,
            &mut rec,
            (rows, c),
            cfg,
            &dyb,
            bufs,
            &scratch,
            ((&sums).into(), &dxb),
        )?;
        // Evaluation, with the ReLU after it folded in.
        ops::batchnorm_forward(ctx, &mut rec, (rows, c), false, cfg, &xb, bufs, (&eb, true))?;
        ctx.run(&rec)?;
        let gs: Vec<ChannelStat> = ctx.read_buffer_async(&stats).await?;
        let (gy, gxh, gr): (Vec<f32>, Vec<f32>, Vec<f32>) = (
            ctx.read_buffer_async(&yb).await?,
            ctx.read_buffer_async(&xhat).await?,
            ctx.read_buffer_async(&rb).await?,
        );
        let (gsum, gdx, ge): (Vec<f32>, Vec<f32>, Vec<f32>) = (
            ctx.read_buffer_async(&sums).await?,
            ctx.read_buffer_async(&dxb).await?,
            ctx.read_buffer_async(&eb).await?,
        );
        let (cu, n2) = (c as usize, 2 * c as usize);
        // The twins read the GPU's batch statistics (checked by the channel_stats suite).
        let (mut ty, mut txh, mut tr) = (vec![0f32; cells], vec![0f32; cells], running.clone());
        cpu::batchnorm(
            cu,
            true,
            cfg,
            &x,
            &gs[..cu],
            &affine,
            &mut tr,
            &mut txh,
            (&mut ty, false),
        );
        let mut check = Check::new();
        let unit = vec![1f32; cells];
        check.close(
            "y",
            &gy[..cells],
            &ty,
            &affine
                .iter()
                .cycle()
                .take(cells)
                .map(|v| v.abs() * 10.0 + 1.0)
                .collect::<Vec<_>>(),
            1e-5,
        );
        check.close("xhat", &gxh[..cells], &txh, &vec![10.0; cells], 1e-5);
        check.close("running", &gr[..n2], &tr, &vec![10.0; n2], 1e-5);
        // [dγ | dβ] against f64 sums of the twin's preparation.
        let mut prep = vec![0f32; 2 * cells];
        cpu::batchnorm_grad_prep(cu, &dy, &gxh[..cells], &mut prep);
        let exact: Vec<f32> = (0..n2)
            .map(|j| {
                (0..rows as usize)
                    .map(|r| prep[r * n2 + j] as f64)
                    .sum::<f64>() as f32
            })
            .collect();
        let mag: Vec<f32> = (0..n2)
            .map(|j| {
                (0..rows as usize)
                    .map(|r| prep[r * n2 + j].abs())
                    .sum::<f32>()
                    + 1.0
            })
            .collect();
        check.close("dgamma, dbeta", &gsum[..n2], &exact, &mag, 1e-5);
        let mut tdx = vec![0f32; cells];
        cpu::batchnorm_backward(
            cu,
            cfg,
            &dy,
            &gxh[..cells],
            &gs[..cu],
            &affine,
            &gsum[..n2],
            &mut tdx,
        );
        check.close("dx", &gdx[..cells], &tdx, &unit, 1e-5);
        // The math: the input gradient of a normalization sums to zero per channel (relative
        // to the size of its terms, γ·dy/σ).
        for ch in 0..cu {
            let sd = gs[ch].std_dev as f64;
            let inv = 1.0 / (sd * sd + cfg.eps as f64).sqrt();
            let (s, a) = (0..rows as usize).fold((0f64, 0f64), |(s, a), r| {
                let term = (affine[ch] as f64 * dy[r * cu + ch] as f64 * inv).abs();
                (s + gdx[r * cu + ch] as f64, a + term)
            });
            if s.abs() > 1e-4 * a.max(1e-12) {
                check.fail(format!(
                    "channel {ch}: Σdx = {s} against terms of total {a}"
                ));
            }
        }
        let mut te = vec![0f32; cells];
        cpu::batchnorm(
            cu,
            false,
            cfg,
            &x,
            &gs[..cu],
            &affine,
            &mut gr[..n2].to_vec(),
            &mut vec![0f32; cells],
            (&mut te, true),
        );
        check.close("eval y", &ge[..cells], &te, &vec![100.0; cells], 1e-5);
        let negative = ge[..cells].iter().filter(|v| v.is_sign_negative()).count();
        if negative > 0 {
            check.fail(format!("{negative} rectified outputs are negative"));
        }
        check.finish("batchnorm", format!("{rows}x{c}"), out);
    }
    Ok(())
}
