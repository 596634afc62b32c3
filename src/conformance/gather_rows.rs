//! `gather_rows` and `gather_rows_augment` against their twins: rows of every byte value, row
//! lengths that do and do not fill whole words, repeated rows and an order offset; crops and
//! flips also against the host's augmentation of the same batch.

use super::check::Check;
use super::{CaseResult, Extent};
use crate::cpu;
use crate::data::{Augment, Dataset};
use crate::error::Result;
use crate::gpu::{Context, Recording};
use crate::ops::{self, DeviceSet, GatherParams};
use crate::rng::{Gen, rng_u32};

/// The kernels the suite exercises.
pub(super) const KERNELS: &[&str] = &["gather_rows", "gather_rows_augment"];

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
        ops::gather_rows(&mut rec, &p, set, &buf_order, &buf_x, &buf_y, false)?;
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
    augmented_cases(ctx, out).await
}

/// Crops and flips: the kernel against its twin, and against [`Dataset::augment_batch`] on
/// the host's gather of the same rows.
async fn augmented_cases(ctx: &Context, out: &mut Vec<CaseResult>) -> Result<()> {
    // (set rows, batch rows, [h, w, c], order offset, padding, flips)
    for &(set_rows, rows, shape, offset, pad, flip) in &[
        (37u32, 16u32, [5u32, 5, 3], 5u32, 1u32, true),
        (100, 7, [28, 28, 1], 11, 3, true),
        (9, 12, [4, 6, 1], 2, 2, false),
        (20, 5, [3, 3, 2], 0, 4, true),
    ] {
        let [h, w, c] = shape;
        let features = h * w * c;
        let bytes: Vec<u8> = (0..set_rows * features)
            .map(|i| rng_u32(35, i) as u8)
            .collect();
        let labels: Vec<u32> = (0..set_rows).map(|i| rng_u32(36, i) % 10).collect();
        let mut set = Dataset::from_bytes([h as usize, w as usize, c as usize], 10, bytes, labels);
        let mean: Vec<f32> = (0..c).map(|k| 0.3 + 0.1 * k as f32).collect();
        set.normalize(&mean, &vec![0.7; c as usize]);
        let (px, table) = set
            .pixels
            .as_ref()
            .map(|p| (&p.bytes, &p.table))
            .expect("bytes");
        let mut words = px.clone();
        words.resize(px.len().next_multiple_of(4), 0);
        let pixels: Vec<u32> = bytemuck::pod_collect_to_vec(&words);
        // (row, draw) pairs; the pairs before `offset` belong to another batch.
        let order: Vec<u32> = (0..offset + rows)
            .flat_map(|i| [rng_u32(37, i) % set_rows, rng_u32(38, i)])
            .collect();
        let p = GatherParams::new(rows, features, c, offset).augmented(h, w, pad, flip);
        let buf_pixels = ctx.upload("test.pixels", &pixels);
        let buf_table = ctx.upload("test.table", table);
        let buf_labels = ctx.upload("test.labels", &set.y);
        let buf_order = ctx.upload("test.order", &order);
        let buf_x = ctx.storage_buffer("test.x", rows as u64 * features as u64 * 4);
        let buf_y = ctx.storage_buffer("test.y", rows as u64 * 4);
        let device = DeviceSet {
            pixels: &buf_pixels,
            table: &buf_table,
            labels: &buf_labels,
            rows: set_rows,
        };
        let mut rec = Recording::new();
        ops::gather_rows(&mut rec, &p, device, &buf_order, &buf_x, &buf_y, true)?;
        ctx.run(&rec)?;
        let gpu_x: Vec<f32> = ctx.read_buffer_async(&buf_x).await?;
        let gpu_y: Vec<u32> = ctx.read_buffer_async(&buf_y).await?;
        let mut x = vec![0f32; (rows * features) as usize];
        let mut y = vec![0u32; rows as usize];
        cpu::gather_rows_augment(&p, &pixels, table, &order, &set.y, &mut x, &mut y);
        let pairs = &order[2 * offset as usize..];
        let rows_of: Vec<usize> = pairs.iter().step_by(2).map(|&r| r as usize).collect();
        let keys: Vec<u32> = pairs.iter().skip(1).step_by(2).copied().collect();
        let (mut host_x, mut host_y) = (Vec::new(), Vec::new());
        set.gather(&rows_of, &mut host_x, &mut host_y);
        set.augment_batch(&mut host_x, &Augment { pad, flip }, &keys);
        let mut check = Check::new();
        check.exact_f32("x", &gpu_x[..x.len()], &x);
        check.exact("y", &gpu_y[..y.len()], &y);
        check.exact_f32("x against the host's augmentation", &x, &host_x);
        check.exact("y against the host's gather", &y, &host_y);
        check.finish(
            "gather_rows_augment",
            format!(
                "{rows} of {set_rows} images {h}x{w}x{c}, offset {offset}, padding {pad}, \
                 flips {flip}"
            ),
            out,
        );
    }
    Ok(())
}
