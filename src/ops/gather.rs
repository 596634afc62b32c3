//! `gather_rows`: a batch gathered on the device from a data set uploaded once as bytes,
//! normalized through a per-channel table of 256 values, so the batch equals the host's
//! normalized rows bit for bit.

use crate::error::{Error, Result};
use crate::gpu::kernel::{BindType, Dispatch, KernelDef, Recording, grid_1d, wgsl};
use crate::ops::check_buffer;

pub use crate::abi::GatherParams;

const SOURCE: &str = include_str!("../../shaders/gather_rows.wgsl");

/// The kernel declaration of `shaders/gather_rows.wgsl`.
pub static GATHER_ROWS: KernelDef = KernelDef {
    name: "gather_rows",
    sources: &[wgsl::COMMON, "const GATHER_AUGMENT = false;\n", SOURCE],
    workgroup_size: [256, 1, 1],
    bindings: &[
        ("params", BindType::Uniform),
        ("pixels", BindType::ReadOnly),
        ("table", BindType::ReadOnly),
        ("order", BindType::ReadOnly),
        ("labels", BindType::ReadOnly),
        ("x", BindType::ReadWrite),
        ("y", BindType::ReadWrite),
    ],
    params_size: std::mem::size_of::<GatherParams>(),
    // Six storage bindings already: the most octet asks of a device.
    uniform_params: true,
};

/// `gather_rows` with each image cropped and flipped ([`crate::data::Augment`]): the order
/// buffer holds (row, draw) pairs.
pub static GATHER_ROWS_AUGMENT: KernelDef = KernelDef {
    name: "gather_rows_augment",
    sources: &[wgsl::COMMON, "const GATHER_AUGMENT = true;\n", SOURCE],
    ..GATHER_ROWS
};

/// The buffers of a data set kept on the device.
#[derive(Clone, Copy, Debug)]
pub struct DeviceSet<'a> {
    /// Every row's bytes, packed four to a word.
    pub pixels: &'a wgpu::Buffer,
    /// 256 values per channel.
    pub table: &'a wgpu::Buffer,
    /// One label per row.
    pub labels: &'a wgpu::Buffer,
    /// Rows in the set.
    pub rows: u32,
}

/// Records `x[r, f] = table[c(f)·256 + byte(order[offset + r], f)]` and
/// `y[r] = labels[order[offset + r]]` for the `p.rows` rows of a batch. The row indices in
/// `order` must be below `set.rows` (the caller checks them when it writes them). With
/// `augment`, `order` holds (row, draw) pairs and each image `p.height × p.width` is cropped
/// and flipped as its draw says (`gather_rows_augment`).
pub fn gather_rows(
    rec: &mut Recording,
    p: &GatherParams,
    set: DeviceSet<'_>,
    order: &wgpu::Buffer,
    x: &wgpu::Buffer,
    y: &wgpu::Buffer,
    augment: bool,
) -> Result<()> {
    const OP: &str = "gather_rows";
    if p.rows == 0 || p.features == 0 || p.channels == 0 || !p.features.is_multiple_of(p.channels) {
        return Err(Error::invalid(
            OP,
            format!(
                "{} rows of {} values on {} channels: need at least one row and value, and \
                 values a multiple of the channels",
                p.rows, p.features, p.channels
            ),
        ));
    }
    if augment && p.height as u64 * p.width as u64 * p.channels as u64 != p.features as u64 {
        return Err(Error::invalid(
            OP,
            format!(
                "{}×{} images of {} channels do not hold {} values",
                p.height, p.width, p.channels, p.features
            ),
        ));
    }
    let bytes = set.rows as u64 * p.features as u64;
    check_buffer(OP, "pixels", set.pixels, bytes.div_ceil(4) * 4)?;
    check_buffer(OP, "table", set.table, p.channels as u64 * 256 * 4)?;
    check_buffer(OP, "labels", set.labels, set.rows as u64 * 4)?;
    let per_row = 1 + augment as u64;
    check_buffer(
        OP,
        "order",
        order,
        (p.offset as u64 + p.rows as u64) * per_row * 4,
    )?;
    check_buffer(OP, "x", x, p.rows as u64 * p.features as u64 * 4)?;
    check_buffer(OP, "y", y, p.rows as u64 * 4)?;
    rec.push(Dispatch::new(
        if augment {
            &GATHER_ROWS_AUGMENT
        } else {
            &GATHER_ROWS
        },
        p,
        &[set.pixels, set.table, order, set.labels, x, y],
        grid_1d(p.rows as u64 * p.features4 as u64, 256),
    ));
    Ok(())
}

/// This family's kernels, for [`ALL_KERNELS`](crate::ops::ALL_KERNELS).
pub(crate) const KERNELS: &[&KernelDef] = &[&GATHER_ROWS, &GATHER_ROWS_AUGMENT];
