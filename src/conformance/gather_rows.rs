//! `gather_rows` against its twin: rows of every byte value, row lengths that do and do not
//! fill whole words, repeated rows and an order offset.

use super::check::Check;
use super::{CaseResult, Extent};
use crate::cpu;
use crate::error::Result;
use crate::gpu::{Context, Recording};
use crate::ops::{self, DeviceSet, GatherParams};
use crate::rng::{Gen, rng_u32};

/// The kernels the suite exercises.
pub(super) const KERNELS: &[&str] = &["gather_rows"];

/// A table lookup: the same bits as the twin, labels exact.
pub(super) async fn cases(ctx: &Context, _: Extent, out: &mut Vec<CaseResult>) -> Result<()> {
    // (set rows, batch rows, features, channels, order offset)
    for &(set_rows, rows, features, channels, offset) in &[
        (5u32, 3u32, 4u32, 1u32, 0u32),
        (37, 16, 75, 3, 5),
        (9, 64, 3, 3, 2),
        (100, 7, 784, 1, 11),
    ] {
        let bytes = set_rows * features;
        let pixels: Vec<u32> = (0..bytes.div_ceil(4)).map(|i| rng_u32(31, i)).collect();
        let mut g = Gen::new(32);
        let table = g.normal_vec(channels as usize * 256, 1.0);
        let labels: Vec<u32> = (0..set_rows).map(|i| rng_u32(33, i) % 10).collect();
        // Rows drawn with repeats; the words before `offset` belong to another batch.
        let order: Vec<u32> = (0..offset + rows)
            .map(|i| rng_u32(34, i) % set_rows)
            .collect();
        let p = GatherParams::new(rows, features, channels, offset);
        let buf_pixels = ctx.upload("test.pixels", &pixels);
        let buf_table = ctx.upload("test.table", &table);
        let buf_labels = ctx.upload("test.labels", &labels);
        let buf_order = ctx.upload("test.order", &order);
        let buf_x = ctx.storage_buffer("test.x", rows as u64 * features as u64 * 4);
        let buf_y = ctx.storage_buffer("test.y", rows as u64 * 4);
        let set = DeviceSet {
            pixels: &buf_pixels,
            table: &buf_table,
            labels: &buf_labels,
            rows: set_rows,
        };
        let mut rec = Recording::new();
        ops::gather_rows(&mut rec, &p, set, &buf_order, &buf_x, &buf_y)?;
        ctx.run(&rec)?;
        let gpu_x: Vec<f32> = ctx.read_buffer_async(&buf_x).await?;
        let gpu_y: Vec<u32> = ctx.read_buffer_async(&buf_y).await?;
        let mut x = vec![0f32; (rows * features) as usize];
        let mut y = vec![0u32; rows as usize];
        cpu::gather_rows(&p, &pixels, &table, &order, &labels, &mut x, &mut y);
        let mut check = Check::new();
        check.exact_f32("x", &gpu_x[..x.len()], &x);
        check.exact("y", &gpu_y[..y.len()], &y);
        check.finish(
            "gather_rows",
            format!("{rows} of {set_rows} rows x {features} values, {channels} channels, offset {offset}"),
            out,
        );
    }
    Ok(())
}
