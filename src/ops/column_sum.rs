//! `column_sum`: the sums of the columns of a row-major f32 matrix, in FP32 — bias gradients and
//! batch norm's parameter gradients.

use crate::error::{Error, Result};
use crate::gpu::Context;
use crate::gpu::kernel::{BindType, Dispatch, KernelDef, Recording, View, grid_1d};
use crate::ops::gemm::{GEMM_REDUCE, GemmParams, GemmShape};
use crate::ops::{Epilogue, check_buffer, partials_scratch};

use crate::abi::Spread;
pub use crate::abi::{ColumnSumParams, GPU_SEGMENT_ROWS, SEGMENT_ROWS};

/// The kernel declaration of `shaders/column_sum.wgsl`.
pub static COLUMN_SUM: KernelDef = KernelDef {
    name: "column_sum",
    sources: &[include_str!("../../shaders/column_sum.wgsl")],
    workgroup_size: [256, 1, 1],
    bindings: &[
        ("params", BindType::Uniform),
        ("x", BindType::ReadOnly),
        ("out", BindType::ReadWrite),
    ],
    params_size: std::mem::size_of::<ColumnSumParams>(),
    uniform_params: true,
};

/// The rows a workgroup sums on `ctx`'s adapter: [`SEGMENT_ROWS`] on a CPU driver,
/// [`GPU_SEGMENT_ROWS`] elsewhere.
pub fn segment_rows(ctx: &Context) -> u32 {
    match ctx.spread() {
        Spread::Cpu => SEGMENT_ROWS,
        Spread::Gpu => GPU_SEGMENT_ROWS,
    }
}

/// Bytes of the partial sums [`column_sum`] needs as scratch for `rows × cols` in segments of
/// `segment_rows` (0: none).
fn partials_bytes(rows: u32, cols: u32, segment_rows: u32) -> u64 {
    match rows.div_ceil(segment_rows) {
        0 | 1 => 0,
        s => s as u64 * cols as u64 * 4,
    }
}

/// Records `out[at + c] = Σ_r x[r, c]` over `rows × cols` f32 (`out`: `(buffer, at)`).
/// `partials` is scratch of `partials_bytes` (the recording's scratch when `None`).
pub fn column_sum(
    ctx: &Context,
    rec: &mut Recording,
    (rows, cols): (u32, u32),
    x: &wgpu::Buffer,
    (out, at): (View<'_>, u32),
    partials: Option<&wgpu::Buffer>,
) -> Result<()> {
    const OP: &str = "column_sum";
    if rows == 0 || cols == 0 {
        return Err(Error::invalid(OP, format!("empty matrix {rows}x{cols}")));
    }
    check_buffer(OP, "x", x, rows as u64 * cols as u64 * 4)?;
    check_buffer(OP, "out", out, (at as u64 + cols as u64) * 4)?;
    let segment_rows = segment_rows(ctx);
    let segments = rows.div_ceil(segment_rows);
    if segments > 65535 {
        return Err(Error::invalid(
            OP,
            format!("{rows} rows: at most 65535 segments"),
        ));
    }
    let params = ColumnSumParams {
        rows,
        cols,
        segment_rows,
        segments,
        out_offset: at,
        _pad: [0; 3],
    };
    let grid = [cols.div_ceil(64), segments, 1];
    if segments == 1 {
        rec.push(Dispatch::new(&COLUMN_SUM, &params, &[x.into(), out], grid));
        return Ok(());
    }
    let scratch = partials_scratch(
        ctx,
        rec,
        OP,
        partials,
        partials_bytes(rows, cols, segment_rows),
    )?;
    let to_scratch = ColumnSumParams {
        out_offset: 0,
        ..params
    };
    rec.push(Dispatch::new(
        &COLUMN_SUM,
        &to_scratch,
        &[x, &scratch],
        grid,
    ));
    // The segments' sums are a split-K GEMM's partials of shape 1 × cols.
    let shape = GemmShape::new(1, cols, rows);
    let reduce = GemmParams {
        chunks: segments,
        out_offset: at,
        ..GemmParams::new(&shape, segment_rows, &Epilogue::NONE)
    };
    let none = ctx.unused_binding(0);
    rec.push(Dispatch::new(
        &GEMM_REDUCE,
        &reduce,
        &[
            (&scratch).into(),
            none.into(),
            none.into(),
            none.into(),
            out,
        ],
        grid_1d(cols as u64, 256),
    ));
    Ok(())
}

/// This family's kernels, for [`ALL_KERNELS`](crate::ops::ALL_KERNELS).
pub(crate) const KERNELS: &[&KernelDef] = &[&COLUMN_SUM];
