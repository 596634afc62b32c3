//! `softmax_xent`: loss, gradient and the correct count, out-of-range labels included.

use super::check::Check;
use super::{CaseResult, Extent};
use crate::cpu;
use crate::error::Result;
use crate::gpu::{Context, Recording};
use crate::ops::{self, XentBuffers};
use crate::rng::Gen;
use crate::rng::rng_u32;

/// The kernels the suite exercises.
pub(super) const KERNELS: &[&str] = &["softmax_xent"];

/// Normal, saturated and offset logits over shapes from 1×1 to 5×1000.
pub(super) async fn cases(ctx: &Context, _: Extent, out: &mut Vec<CaseResult>) -> Result<()> {
    let mut g = Gen::new(81);
    for &(batch, classes) in &[(1u32, 1u32), (3, 10), (64, 10), (17, 129), (5, 1000)] {
        for (name, scale, offset) in [
            ("normal", 1.0, 0.0),
            ("saturated ×30", 30.0, 0.0),
            ("offset 1e4", 1.0, 1e4),
        ] {
            let n = (batch * classes) as usize;
            let logits: Vec<f32> = (0..n).map(|_| g.normal() * scale + offset).collect();
            let mut labels: Vec<u32> = (0..batch).map(|i| rng_u32(82, i) % classes).collect();
            if batch > 2 {
                labels[1] = classes + 3; // out of range: contributes nothing
            }
            let lb = ctx.upload("test.logits", &logits);
            let lab = ctx.upload("test.labels", &labels);
            let db = ctx.storage_buffer("test.dlogits", n as u64 * 4);
            let rb = ctx.storage_buffer("test.row_loss", batch as u64 * 4);
            let cb = ctx.storage_buffer("test.correct", batch as u64 * 4);
            let mut rec = Recording::new();
            let bufs = XentBuffers {
                logits: &lb,
                labels: &lab,
                dlogits: &db,
                row_loss: &rb,
                correct: &cb,
            };
            ops::softmax_xent(&mut rec, batch, classes, bufs)?;
            ctx.run(&rec)?;
            let gd: Vec<f32> = ctx.read_buffer_async(&db).await?;
            let gr: Vec<f32> = ctx.read_buffer_async(&rb).await?;
            let gc: Vec<u32> = ctx.read_buffer_async(&cb).await?;
            let (mut td, mut tr, mut tc) = (
                vec![0f32; n],
                vec![0f32; batch as usize],
                vec![0u32; batch as usize],
            );
            cpu::softmax_xent(
                classes as usize,
                &logits,
                &labels,
                &mut td,
                &mut tr,
                &mut tc,
            );
            let mut check = Check::new();
            check.exact("correct", &gc[..batch as usize], &tc);
            let loss_scale: Vec<f32> = tr.iter().map(|l| l.abs().max(1.0)).collect();
            check.close("loss", &gr[..batch as usize], &tr, &loss_scale, 1e-5);
            check.close("dlogits", &gd[..n], &td, &vec![1.0 / batch as f32; n], 1e-5);
            check.finish("softmax_xent", format!("{batch}x{classes} {name}"), out);
        }
    }
    Ok(())
}
