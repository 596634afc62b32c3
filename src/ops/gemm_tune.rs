//! The autotuner's candidates for a GEMM: every [`GemmVariant`], timed on scratch operands.

use std::sync::OnceLock;

use crate::abi::{GemmShape, GemmVariant, MAX_K_CHUNK, Precision};
use crate::error::Result;
use crate::gpu::{Context, Recording};
use crate::measure::{fastest, fits, scratch};
use crate::ops::gemm::{self, Epilogue, GemmBuffers};
use crate::ops::gemm_wide;
use crate::tune::{self, TuneKey};

impl Context {
    /// The kernel variant [`gemm::gemm_i8`] (`Precision::Int8`) or [`gemm::gemm_f32`] runs for `shape`:
    /// measured at first use on this adapter unless [`Context::autotune`] is
    /// [`Autotune::Off`](crate::gpu::Autotune::Off), which gives [`GemmVariant::heuristic`]. Blocks while measuring (up
    /// to about a dozen runs of the GEMM).
    pub fn gemm_variant(&self, shape: &GemmShape, precision: Precision) -> Result<GemmVariant> {
        // Before measuring: an empty shape would otherwise divide by zero in the scratch sizing.
        shape.validate("gemm_variant")?;
        let device = self.device().adapter_info().device_type;
        let key = TuneKey::Gemm {
            shape: *shape,
            precision,
        };
        tune::choose(
            self,
            &key,
            sources(),
            || GemmVariant::heuristic(shape, device),
            || measure(self, shape, precision),
        )
    }
}

/// The [`tune::fingerprint`] of every GEMM kernel.
fn sources() -> u32 {
    static SOURCES: OnceLock<u32> = OnceLock::new();
    *SOURCES.get_or_init(|| tune::fingerprint(&[gemm::KERNELS, gemm_wide::KERNELS]))
}

/// Times every variant of `shape` on zero operands; `None` when the shape cannot run (its error
/// then comes from the GEMM call itself) or fits no buffer.
fn measure(ctx: &Context, shape: &GemmShape, precision: Precision) -> Result<Option<GemmVariant>> {
    let int8 = precision.is_int8();
    let (a_bytes, b_bytes, k_chunk) = if int8 {
        let words = |rows, trans| GemmShape::packed_words(rows, shape.k, trans) * 4;
        let k_chunk = shape.auto_k_chunk(MAX_K_CHUNK, ctx.spread());
        (
            words(shape.m, shape.trans_a),
            words(shape.n, shape.trans_b),
            k_chunk,
        )
    } else {
        let bytes = |rows: u32| rows as u64 * shape.k as u64 * 4;
        (
            bytes(shape.m),
            bytes(shape.n),
            gemm::f32_k_chunk(shape, ctx.spread()),
        )
    };
    let out_bytes = shape.m as u64 * shape.n as u64 * 4;
    let sizes = [a_bytes, b_bytes, out_bytes, shape.partials_bytes(k_chunk)];
    if !fits(ctx, &sizes) {
        return Ok(None);
    }
    let [a, b, out, partials] = ["a", "b", "out", "partials"]
        .into_iter()
        .zip(sizes)
        .map(|(label, bytes)| scratch(ctx, label, bytes))
        .collect::<Vec<_>>()
        .try_into()
        .expect("four buffers");
    let bufs = GemmBuffers {
        partials: Some(&partials),
        ..GemmBuffers::new(&a, &b, &out)
    };
    let mut candidates = Vec::new();
    for variant in GemmVariant::candidates(ctx, shape, k_chunk, precision) {
        let mut rec = Recording::new();
        let recorded = if int8 {
            let none = &Epilogue::NONE;
            gemm::gemm_i8_variant(ctx, &mut rec, variant, shape, k_chunk, bufs, none)
        } else {
            gemm::gemm_f32_variant(ctx, &mut rec, variant, shape, bufs, &Epilogue::NONE)
        };
        if recorded.is_err() {
            return Ok(None);
        }
        candidates.push((variant, rec, 1.0));
    }
    let what = TuneKey::Gemm {
        shape: *shape,
        precision: Precision::from_int8(int8),
    };
    fastest(ctx, &what.to_string(), candidates)
}
