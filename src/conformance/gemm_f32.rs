//! `gemm_f32` in every variant, transpose and epilogue, within Σ|a||b| of the twin.

use super::check::Check;
use super::grids::{GEMM_SHAPES, TRANSPOSES};
use super::harness::{HostEpilogue, gpu_gemm_f32};
use super::{CaseResult, Extent};
use crate::abi::{F32_K_CHUNK, Precision, f32_k_chunk};
use crate::cpu::{self, CpuGate};
use crate::error::Result;
use crate::gpu::Context;
use crate::ops::GemmShape;
use crate::ops::gemm::{GateMode, GemmVariant};
use crate::rng::{Gen, rng_u32};

/// The kernels the suite exercises.
pub(super) const KERNELS: &[&str] = &[
    "gemm_f32",
    "gemm_f32_regs",
    "gemm_f32_regs_gated",
    "gemm_f32_wide_128x64",
    "gemm_f32_wide_64x64",
    "gemm_f32_wide_128x128",
    "gemm_f32_lanes8_128x128",
    "gemm_f32_lanes8_64x128",
    "gemm_reduce",
];

/// Every shape × transpose × epilogue × variant; all variants give the same bits.
pub(super) async fn cases(ctx: &Context, _: Extent, out: &mut Vec<CaseResult>) -> Result<()> {
    let mut g = Gen::new(51);
    for &(m, n, k) in GEMM_SHAPES {
        for (ta, tb) in TRANSPOSES {
            let shape = GemmShape::new(m, n, k).with_trans(ta, tb);
            let a = g.normal_vec((m * k) as usize, 1.0);
            let b = g.normal_vec((n * k) as usize, 1.0);
            let sa: Vec<f32> = (0..m).map(|_| g.uniform()).collect();
            let bias = g.normal_vec(n as usize, 1.0);
            // gemm_f32 picks its own k_chunk for the device's spread.
            let k_chunk = f32_k_chunk(&shape, ctx.spread());
            let mut firsts = std::collections::HashMap::new();
            let scaled = HostEpilogue {
                scale_a: &sa,
                scale_b: &sa[..1],
                bias: Some(&bias),
                relu: false,
                gate: None,
            };
            let (mask, values) = gate_words(m * n, &mut g);
            let gated = |mode, words| HostEpilogue {
                gate: Some(CpuGate {
                    mode,
                    words,
                    cols: n,
                }),
                ..HostEpilogue::default()
            };
            let variants: [(&str, HostEpilogue); 5] = [
                ("plain", HostEpilogue::default()),
                ("row scales + tensor scale + bias", scaled),
                (
                    "row scales + tensor scale + bias + relu",
                    HostEpilogue {
                        relu: true,
                        ..scaled
                    },
                ),
                ("relu mask gate", gated(GateMode::Mask, &mask)),
                ("relu output gate", gated(GateMode::Values, &values)),
            ];
            // The gate is compiled into the register-blocked kernel only, and reads output cells
            // only: the layouts of A an input gradient's GEMM has (not transposed) cover it.
            let variants = variants
                .into_iter()
                .filter(|(_, host)| host.gate.is_none() || (!ta && k <= F32_K_CHUNK));
            for ((name, host), variant) in variants.flat_map(|e| {
                GemmVariant::available(ctx, Precision::Fp32)
                    .into_iter()
                    .filter(|v| v.takes(&shape))
                    .filter(move |v| e.1.gate.is_none() || *v == GemmVariant::Regs)
                    .map(move |v| (e, v))
            }) {
                let gpu = gpu_gemm_f32(ctx, variant, &shape, &a, &b, &host).await?;
                // A gated GEMM takes K in one chunk.
                let k_chunk = if host.gate.is_some() {
                    F32_K_CHUNK
                } else {
                    k_chunk
                };
                let mut twin = vec![0f32; (m * n) as usize];
                cpu::gemm_f32(variant, &shape, k_chunk, &a, &b, &host.cpu(), &mut twin);
                // Σ|a||b| (scaled) bounds the rounding error of any summation order.
                let abs = |v: &[f32]| -> Vec<f32> { v.iter().map(|x| x.abs()).collect() };
                let abs_bias = host.bias.map(abs);
                let abs_epi = HostEpilogue {
                    bias: abs_bias.as_deref(),
                    relu: false,
                    ..host
                };
                let mut mag = vec![0f32; twin.len()];
                cpu::gemm_f32(
                    variant,
                    &shape,
                    k_chunk,
                    &abs(&a),
                    &abs(&b),
                    &abs_epi.cpu(),
                    &mut mag,
                );
                let mut check = Check::new();
                check.close("out", &gpu, &twin, &mag, 1e-5);
                if host.relu && gpu.iter().any(|v| v.is_sign_negative()) {
                    check.fail("a rectified output is negative (or -0)".to_string());
                }
                check_gated(&mut check, &host, &gpu);
                // Every variant must give the first one's bits, so autotuning changes no result.
                let first = &*firsts.entry(name).or_insert_with(|| gpu.clone());
                check.exact_f32("out vs the Tiled variant", &gpu, first);
                check.finish(
                    "gemm_f32",
                    format!("{m}x{n}x{k} trans=({ta},{tb}) {name} {variant:?}"),
                    out,
                );
            }
        }
    }
    Ok(())
}

/// Gate words for an output of `cells`: random mask bits, and a ReLU output with positives,
/// zeros, -0 and NaN (which no gate passes).
pub(super) fn gate_words(cells: u32, g: &mut Gen) -> (Vec<u32>, Vec<u32>) {
    let mask = (0..cells.div_ceil(32)).map(|i| rng_u32(77, i)).collect();
    let values = (0..cells)
        .map(|i| match i % 5 {
            0 => 0.0f32,
            1 => -0.0,
            2 if i % 3 == 0 => f32::NAN,
            _ => g.normal(),
        })
        .map(f32::to_bits)
        .collect();
    (mask, values)
}

/// A gated output is +0 exactly where the gate holds its cell back.
pub(super) fn check_gated(check: &mut Check, host: &HostEpilogue<'_>, gpu: &[f32]) {
    let Some(gate) = host.gate else { return };
    let cells = gpu.len() as u32;
    let closed = (0..cells).filter(|&e| {
        let (gm, gn) = (e / gate.cols, e % gate.cols);
        gate.apply(1.0, gm, gn) == 0.0
    });
    if closed.clone().any(|e| gpu[e as usize].to_bits() != 0) {
        check.fail("a cell the gate closes is not +0".to_string());
    }
    if closed.count() as u32 == cells && cells > 8 {
        check.fail("test too weak: the gate closes every cell".to_string());
    }
}
