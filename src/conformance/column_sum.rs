//! `column_sum`, with `gemm_reduce` when a column spans several segments.

use super::check::Check;
use super::{CaseResult, Extent};
use crate::cpu::{self, CpuEpilogue};
use crate::error::Result;
use crate::gpu::{Context, Recording};
use crate::ops::{self, GemmShape};
use crate::rng::Gen;

/// The kernels the suite exercises.
pub(super) const KERNELS: &[&str] = &["column_sum", "gemm_reduce"];

/// Column sums, in one segment and in several (then through `gemm_reduce`): the same sums in
/// the same order as the twin, so bit-exact unless a driver reassociates f32 additions.
pub(super) async fn cases(ctx: &Context, _: Extent, out: &mut Vec<CaseResult>) -> Result<()> {
    // The segment length of this adapter (the cases span several on every kind).
    let segment_rows = ops::column_sum::segment_rows(ctx);
    let mut g = Gen::new(131);
    for (rows, cols) in [(1u32, 1u32), (3, 6), (4097, 65), (9000, 130), (25_088, 6)] {
        let x = g.normal_vec((rows * cols) as usize, 1.0);
        let xb = ctx.upload("test.x", &x);
        // The sums land behind three NaNs, as a bias gradient behind its weight gradient, which
        // must stay untouched.
        const AT: usize = 3;
        let sums = ctx.upload("test.sums", &vec![f32::NAN; AT + cols as usize]);
        let mut rec = Recording::new();
        let out_at = ((&sums).into(), AT as u32);
        ops::column_sum::column_sum(ctx, &mut rec, (rows, cols), &xb, out_at, None)?;
        ctx.run(&rec)?;
        let all: Vec<f32> = ctx.read_buffer_async(&sums).await?;
        let (before, gpu) = all.split_at(AT);
        let segments = rows.div_ceil(segment_rows) as usize;
        let mut partials = vec![0f32; segments * cols as usize];
        let (r, c) = (rows as usize, cols as usize);
        cpu::column_sum(r, c, segment_rows as usize, &x, &mut partials);
        let twin = if segments > 1 {
            let mut t = vec![0f32; c];
            let shape = GemmShape::new(1, cols, rows);
            cpu::gemm_reduce(
                &shape,
                segments as u32,
                &partials,
                &CpuEpilogue::NONE,
                &mut t,
            );
            t
        } else {
            partials
        };
        let mut check = Check::new();
        let scale: Vec<f32> = (0..c)
            .map(|j| (0..r).map(|i| x[i * c + j].abs()).sum::<f32>().max(1.0))
            .collect();
        check.close("sums", &gpu[..c], &twin, &scale, 1e-6);
        let untouched = before.iter().filter(|v| v.is_nan()).count();
        check.exact("values before the offset", &[untouched], &[AT]);
        check.finish("column_sum", format!("{rows}x{cols}"), out);
    }
    Ok(())
}
