//! `gemm_f32` in every variant, transpose and epilogue, within Σ|a||b| of the twin.

use super::check::Check;
use super::grids::{GEMM_SHAPES, TRANSPOSES};
use super::harness::{HostEpilogue, gpu_gemm_f32};
use super::{CaseResult, Extent};
use crate::abi::{Precision, f32_k_chunk};
use crate::cpu;
use crate::error::Result;
use crate::gpu::Context;
use crate::ops::GemmShape;
use crate::ops::gemm::GemmVariant;
use crate::rng::Gen;

/// The kernels the suite exercises.
pub(super) const KERNELS: &[&str] = &[
    "gemm_f32",
    "gemm_f32_regs",
    "gemm_f32_wide_128x64",
    "gemm_f32_wide_64x64",
    "gemm_f32_wide_128x128",
    "gemm_f32_lanes8",
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
            };
            let variants: [(&str, HostEpilogue); 3] = [
                ("plain", HostEpilogue::default()),
                ("row scales + tensor scale + bias", scaled),
                (
                    "row scales + tensor scale + bias + relu",
                    HostEpilogue {
                        relu: true,
                        ..scaled
                    },
                ),
            ];
            for ((name, host), variant) in variants.into_iter().flat_map(|e| {
                GemmVariant::available(ctx, Precision::Fp32)
                    .into_iter()
                    .filter(|v| v.takes(&shape))
                    .map(move |v| (e, v))
            }) {
                let gpu = gpu_gemm_f32(ctx, variant, &shape, &a, &b, &host).await?;
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
