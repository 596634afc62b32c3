//! `dequantize` against its twin: every byte value on every channel axis.

use super::check::Check;
use super::grids::AXES;
use super::{CaseResult, Extent};
use crate::cpu;
use crate::error::Result;
use crate::gpu::{Context, Recording};
use crate::ops::{self, Layout};
use crate::rng::Gen;
use crate::rng::rng_u32;

/// The kernels the suite exercises.
pub(super) const KERNELS: &[&str] = &["dequantize"];

/// Dequantization is exact: the same bits as the twin.
pub(super) async fn cases(ctx: &Context, _: Extent, out: &mut Vec<CaseResult>) -> Result<()> {
    for &(rows, cols) in &[(1u32, 1u32), (3, 5), (17, 129), (129, 3)] {
        for axis in AXES {
            let layout = Layout::new(rows, cols, axis);
            // Every byte value, −128 included, with pad bytes left as garbage.
            let packed: Vec<u32> = (0..layout.packed_words() as u32)
                .map(|i| rng_u32(21, i))
                .collect();
            let mut g = Gen::new(22);
            let scales: Vec<f32> = (0..layout.channels()).map(|_| g.uniform() * 0.1).collect();
            let buf_p = ctx.upload("test.packed", &packed);
            let buf_s = ctx.upload("test.scales", &scales);
            let buf_o = ctx.storage_buffer("test.out", layout.len() as u64 * 4);
            let mut rec = Recording::new();
            ops::dequantize(&mut rec, &layout, &buf_p, &buf_s, &buf_o)?;
            ctx.run(&rec)?;
            let gpu: Vec<f32> = ctx.read_buffer_async(&buf_o).await?;
            let mut twin = vec![0f32; layout.len()];
            cpu::dequantize(&layout, &packed, &scales, &mut twin);
            let mut check = Check::new();
            check.exact_f32("output", &gpu[..layout.len()], &twin);
            check.finish(
                "dequantize",
                format!("{rows}x{cols} {axis:?} all bytes"),
                out,
            );
        }
    }
    Ok(())
}
