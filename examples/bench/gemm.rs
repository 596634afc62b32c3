//! GEMM throughput: square products and the convolution layers' three GEMMs, f32 and int8, each
//! in the variant the autotuner picks for it on this adapter.

use octet::conformance::gemm_throughput;
use octet::ops::{ConvGeometry, GemmShape, GemmVariant, Precision};
use serde::Serialize;

use crate::AnyResult;

/// One GEMM in one precision.
#[derive(Serialize)]
pub struct GemmRow {
    pub what: String,
    pub m: u32,
    pub n: u32,
    pub k: u32,
    /// `f32` or `i8`.
    pub dtype: &'static str,
    /// Operations (2·M·N·K per product) per second.
    pub ops_per_s: f64,
    /// The kernel variant the autotuner picked.
    pub variant: GemmVariant,
}

/// The shapes: `sizes`³ squares, then (unless `squares_only`) the LeNet-5 and ResNet
/// convolutions at batch 64 as octet lowers them (rows = output pixels).
pub fn shapes(sizes: &[u32], convs: usize) -> Vec<(String, GemmShape)> {
    let mut shapes: Vec<(String, GemmShape)> = sizes
        .iter()
        .map(|&s| (format!("square {s}"), GemmShape::new(s, s, s)))
        .collect();
    let layers = [
        ("lenet5 conv1 5x5 1->6", conv(28, 1, 6, 5, 2)),
        ("lenet5 conv2 5x5 6->16", conv(14, 6, 16, 5, 0)),
        ("resnet 3x3 16->16 @28", conv(28, 16, 16, 3, 1)),
        ("resnet 3x3 32->32 @14", conv(14, 32, 32, 3, 1)),
        ("resnet 3x3 64->64 @7", conv(7, 64, 64, 3, 1)),
    ];
    for (name, (g, out)) in layers.iter().take(convs) {
        let (rows, taps) = (g.rows(), g.taps());
        shapes.push((format!("{name} fwd"), GemmShape::new(rows, *out, taps)));
        shapes.push((
            format!("{name} dgrad"),
            GemmShape::new(rows, taps, *out).with_trans(false, true),
        ));
        shapes.push((
            format!("{name} wgrad"),
            GemmShape::new(*out, taps, rows).with_trans(true, true),
        ));
    }
    shapes
}

/// Both precisions of every shape.
pub fn rows(ctx: &octet::Context, shapes: &[(String, GemmShape)]) -> AnyResult<Vec<GemmRow>> {
    let mut rows = Vec::new();
    for (what, shape) in shapes {
        for (dtype, precision) in [("f32", Precision::Fp32), ("i8", Precision::Int8)] {
            let row = GemmRow {
                what: what.clone(),
                m: shape.m,
                n: shape.n,
                k: shape.k,
                dtype,
                ops_per_s: gemm_throughput(ctx, shape, precision)? * 1e9,
                variant: ctx.gemm_variant(shape, precision)?,
            };
            // Progress, and the figures so far should a long run be cut off.
            eprintln!(
                "gemm {what} {dtype}: {:.2} G/s, {:?}",
                row.ops_per_s / 1e9,
                row.variant
            );
            rows.push(row);
        }
    }
    Ok(rows)
}

pub fn print(rows: &[GemmRow]) {
    println!(
        "{:<34} {:>6} {:>6} {:>7} {:>10} {:>10} {:>7}  kernels (f32, i8)",
        "GEMM", "M", "N", "K", "f32 GF/s", "i8 GOP/s", "i8/f32"
    );
    for pair in rows.chunks(2) {
        let [f, i] = pair else { continue };
        println!(
            "{:<34} {:>6} {:>6} {:>7} {:>10.2} {:>10.2} {:>6.2}x  {:?}, {:?}",
            f.what,
            f.m,
            f.n,
            f.k,
            f.ops_per_s / 1e9,
            i.ops_per_s / 1e9,
            i.ops_per_s / f.ops_per_s,
            f.variant,
            i.variant
        );
    }
}

/// A square convolution at batch 64: `(geometry, output channels)`.
fn conv(hw: u32, c: u32, out: u32, k: u32, pad: u32) -> (ConvGeometry, u32) {
    let g = ConvGeometry {
        n: 64,
        h: hw,
        w: hw,
        c,
        kh: k,
        kw: k,
        stride: 1,
        pad,
    };
    (g, out)
}
