//! `gemm_i8` in every variant, transpose and epilogue, and the int32 overflow hazard split-K
//! exists for.

use super::check::Check;
use super::gemm_f32::{check_gated, gate_words};
use super::grids::{GEMM_SHAPES, TRANSPOSES};
use super::harness::{HostEpilogue, gpu_gemm_i8};
use super::{CaseResult, Extent};
use crate::abi::Precision;
use crate::cpu::{self, CpuEpilogue, CpuGate};
use crate::error::Result;
use crate::gpu::Context;
use crate::ops::gemm::{GateMode, GemmVariant};
use crate::ops::{GemmShape, MAX_K_CHUNK};
use crate::rng::Gen;
use crate::rng::rng_u32;

/// The kernels the suite exercises.
pub(super) const KERNELS: &[&str] = &[
    "gemm_i8",
    "gemm_i8_regs_nn",
    "gemm_i8_regs_nt",
    "gemm_i8_regs_nt_gated",
    "gemm_i8_regs_tn",
    "gemm_i8_regs_tt",
    "gemm_i8_wide_128x64",
    "gemm_i8_wide_64x64",
    "gemm_i8_wide_128x128",
    "gemm_reduce",
];

/// One epilogue variant of a GEMM case.
#[derive(Clone, Copy)]
struct EpilogueCase<'a> {
    /// How the case is reported.
    name: &'a str,
    /// Scales, bias and rectifier.
    epilogue: HostEpilogue<'a>,
    /// The split-K chunk.
    k_chunk: u32,
}

impl<'a> EpilogueCase<'a> {
    fn new(name: &'a str, epilogue: HostEpilogue<'a>, k_chunk: u32) -> Self {
        EpilogueCase {
            name,
            epilogue,
            k_chunk,
        }
    }
}

/// Every shape × transpose × epilogue × variant, then all-127 operands around the chunk size.
pub(super) async fn cases(ctx: &Context, extent: Extent, out: &mut Vec<CaseResult>) -> Result<()> {
    let mut g = Gen::new(41);
    for &(m, n, k) in GEMM_SHAPES {
        for (ta, tb) in TRANSPOSES {
            let shape = GemmShape::new(m, n, k).with_trans(ta, tb);
            // Random words: every byte value and garbage in padding, which must be ignored.
            let a: Vec<u32> = (0..GemmShape::packed_words(m, k, ta) as u32)
                .map(|i| rng_u32(42, i))
                .collect();
            let b: Vec<u32> = (0..GemmShape::packed_words(n, k, tb) as u32)
                .map(|i| rng_u32(43, i))
                .collect();
            let sa: Vec<f32> = (0..m).map(|_| g.uniform() * 0.01).collect();
            let sb: Vec<f32> = (0..n).map(|_| g.uniform() * 0.01).collect();
            let bias: Vec<f32> = g.normal_vec(n as usize, 1.0);
            let mut firsts = std::collections::HashMap::new();
            let tensor = HostEpilogue {
                scale_a: &sa[..1],
                scale_b: &sb[..1],
                bias: Some(&bias),
                relu: false,
                gate: None,
            };
            let per_index = HostEpilogue {
                scale_a: &sa,
                scale_b: &sb,
                bias: Some(&bias),
                relu: false,
                gate: None,
            };
            let (mask, values) = gate_words(m * n, &mut g);
            let gated = |mode, words| HostEpilogue {
                bias: None,
                gate: Some(CpuGate {
                    mode,
                    words,
                    cols: n,
                }),
                ..tensor
            };
            let variants = [
                EpilogueCase::new("raw", HostEpilogue::default(), MAX_K_CHUNK),
                EpilogueCase::new("raw k_chunk=32", HostEpilogue::default(), 32),
                EpilogueCase::new("tensor scales + bias", tensor, MAX_K_CHUNK),
                EpilogueCase::new(
                    "tensor scales + bias + relu",
                    HostEpilogue {
                        relu: true,
                        ..tensor
                    },
                    MAX_K_CHUNK,
                ),
                EpilogueCase::new("row/col scales + bias k_chunk=64", per_index, 64),
                EpilogueCase::new(
                    "tensor scales + relu mask gate",
                    gated(GateMode::Mask, &mask),
                    MAX_K_CHUNK,
                ),
                EpilogueCase::new(
                    "tensor scales + relu output gate",
                    gated(GateMode::Values, &values),
                    MAX_K_CHUNK,
                ),
            ];
            // The gate is compiled into the register-blocked kernel of an input gradient's
            // layout only (A not transposed, B transposed).
            let variants = variants
                .into_iter()
                .filter(|c| c.epilogue.gate.is_none() || (!ta && tb));
            for (case, variant) in variants.flat_map(|e| {
                GemmVariant::available(ctx, Precision::Int8)
                    .into_iter()
                    .filter(move |v| e.epilogue.gate.is_none() || *v == GemmVariant::Regs)
                    .map(move |v| (e, v))
            }) {
                let EpilogueCase {
                    name,
                    epilogue: host,
                    k_chunk,
                } = case;
                if !variant.accepts_k_chunk(k_chunk, Precision::Int8) {
                    continue;
                }
                let gpu = gpu_gemm_i8(ctx, variant, &shape, k_chunk, &a, &b, &host).await?;
                let mut twin = vec![0f32; (m * n) as usize];
                cpu::gemm_i8(variant, &shape, k_chunk, &a, &b, &host.cpu(), &mut twin);
                let mut check = Check::new();
                // Every variant must give the first one's bits, so autotuning changes no result.
                let first = &*firsts.entry(name).or_insert_with(|| gpu.clone());
                check.exact_f32("out vs the Tiled variant", &gpu, first);
                if host.scale_a.is_empty() && host.bias.is_none() {
                    check.exact_f32("out", &gpu, &twin);
                } else {
                    let mut mag = vec![0f32; twin.len()];
                    let raw_epi = HostEpilogue {
                        bias: None,
                        relu: false,
                        ..host
                    };
                    cpu::gemm_i8(variant, &shape, k_chunk, &a, &b, &raw_epi.cpu(), &mut mag);
                    for (i, v) in mag.iter_mut().enumerate() {
                        *v = v.abs() + host.bias.map_or(0.0, |b| b[i % n as usize].abs());
                    }
                    check.close("out", &gpu, &twin, &mag, 1e-6);
                    if host.relu && gpu.iter().any(|v| v.is_sign_negative()) {
                        check.fail("a rectified output is negative (or -0)".to_string());
                    }
                    check_gated(&mut check, &host, &gpu);
                }
                check.finish(
                    "gemm_i8",
                    format!("{m}x{n}x{k} trans=({ta},{tb}) {name} {variant:?}"),
                    out,
                );
            }
        }
    }
    // The overflow hazard: all-127 operands at, just past and well past the int32 chunk
    // boundary. Without split-K, 131073·127² wraps int32 negative.
    let mut ks = vec![MAX_K_CHUNK, MAX_K_CHUNK + 4, MAX_K_CHUNK + 32];
    if extent == Extent::Full {
        ks.push(2 * MAX_K_CHUNK + 3);
    }
    for k in ks {
        for (ta, tb) in [(false, false), (true, true)] {
            for (va, vb) in [(127i8, 127i8), (-127, 127)] {
                let (m, n) = (3u32, 5u32);
                let shape = GemmShape::new(m, n, k).with_trans(ta, tb);
                let word = |v: i8| u32::from_ne_bytes([v as u8; 4]);
                let fill = |rows: u32, trans: bool, v: i8| -> Vec<u32> {
                    let words = GemmShape::packed_words(rows, k, trans) as usize;
                    if trans {
                        vec![word(v); words]
                    } else {
                        // Mask the K tail the way quantize leaves it: zero bytes.
                        let k4 = k.div_ceil(4) as usize;
                        let rem = (k % 4) as usize;
                        (0..words)
                            .map(|i| {
                                if rem != 0 && i % k4 == k4 - 1 {
                                    let mut bytes = [0u8; 4];
                                    bytes[..rem].fill(v as u8);
                                    u32::from_ne_bytes(bytes)
                                } else {
                                    word(v)
                                }
                            })
                            .collect()
                    }
                };
                let (a, b) = (fill(m, ta, va), fill(n, tb, vb));
                // The register-blocked variant, whose loops run longest per lane.
                let v = GemmVariant::Regs;
                let none = HostEpilogue::default();
                let gpu = gpu_gemm_i8(ctx, v, &shape, MAX_K_CHUNK, &a, &b, &none).await?;
                let mut twin = vec![0f32; (m * n) as usize];
                cpu::gemm_i8(
                    v,
                    &shape,
                    MAX_K_CHUNK,
                    &a,
                    &b,
                    &CpuEpilogue::NONE,
                    &mut twin,
                );
                let mut check = Check::new();
                check.exact_f32("out", &gpu, &twin);
                // And against exact integer arithmetic: within f32 rounding of the true sum.
                let exact = va as f64 * vb as f64 * k as f64;
                for (i, v) in gpu.iter().enumerate() {
                    let rel = (*v as f64 - exact).abs() / exact.abs();
                    check.max_error = check.max_error.max(rel / f32::EPSILON as f64);
                    if rel > f32::EPSILON as f64 {
                        check.fail(format!("out[{i}] = {v} but Σ = {exact} (int32 overflow?)"));
                    }
                }
                check.finish(
                    "gemm_i8",
                    format!("split-K all {va}·{vb} K={k} trans=({ta},{tb})"),
                    out,
                );
            }
        }
    }
    Ok(())
}
