//! The autotuner's candidates for a convolution: each [`ConvLowering`], its forward and
//! weight-gradient GEMMs timed on scratch operands.

use std::sync::OnceLock;

use crate::abi::{ConvGeometry, ConvLowering, MAX_K_CHUNK, Precision};
use crate::error::Result;
use crate::gpu::{Context, Recording};
use crate::measure::{fastest, fits, scratch};
use crate::ops::gemm::{self, Epilogue, GemmBuffers};
use crate::ops::{conv, conv_gemm, gemm_wide};
use crate::tune::{self, TuneKey};

impl Context {
    /// How a convolution of `g` into `channels` outputs (int8 or FP32) gets its column matrix:
    /// as [`Context::set_conv_lowering`] forces, else measured at first use on this adapter
    /// (the forward and weight-gradient GEMMs each way) unless [`Context::autotune`] is
    /// [`Autotune::Off`](crate::gpu::Autotune::Off), which gives [`ConvLowering::heuristic`]. Blocks while measuring.
    pub fn conv_lowering(
        &self,
        g: &ConvGeometry,
        channels: u32,
        precision: Precision,
    ) -> Result<ConvLowering> {
        if let Some(forced) = self.forced_conv_lowering() {
            return Ok(forced);
        }
        let device = self.device().adapter_info().device_type;
        let key = TuneKey::Conv {
            geometry: *g,
            channels,
            precision,
        };
        tune::choose(
            self,
            &key,
            sources(),
            || ConvLowering::heuristic(g, precision, device),
            || measure_conv(self, g, channels, precision),
        )
    }
}

/// The [`tune::fingerprint`] of every kernel a lowering may run.
fn sources() -> u32 {
    static SOURCES: OnceLock<u32> = OnceLock::new();
    *SOURCES.get_or_init(|| {
        tune::fingerprint(&[
            conv::KERNELS,
            conv_gemm::KERNELS,
            gemm::KERNELS,
            gemm_wide::KERNELS,
        ])
    })
}

/// Times a convolution's forward and weight-gradient GEMMs under each [`ConvLowering`]
/// (int8: with X's quantization, which differs between them); `None` when they cannot run.
fn measure_conv(
    ctx: &Context,
    g: &ConvGeometry,
    channels: u32,
    precision: Precision,
) -> Result<Option<ConvLowering>> {
    let int8 = precision.is_int8();
    use crate::ops::{self, QuantizeBuffers, Rounding};
    let fwd = conv_gemm::conv_forward_shape(g, channels);
    let wgrad = conv_gemm::conv_wgrad_shape(g, channels);
    let el = if int8 { 1 } else { 4 };
    let k_chunk = if int8 {
        wgrad.auto_k_chunk(MAX_K_CHUNK, ctx.spread())
    } else {
        gemm::f32_k_chunk(&wgrad, ctx.spread())
    };
    let padded = |rows: u32, k: u32| rows as u64 * k.next_multiple_of(4) as u64 * el;
    let sizes = [
        g.input_len() * 4,
        g.quantized_input_layout().packed_words() as u64 * 4,
        padded(fwd.m, fwd.k),
        padded(fwd.n, fwd.k),
        padded(fwd.m, fwd.n),
        (fwd.m as u64 * fwd.n as u64).max(wgrad.m as u64 * wgrad.n as u64) * 4,
        wgrad.partials_bytes(k_chunk),
    ];
    if !fits(ctx, &sizes) {
        return Ok(None);
    }
    let [x, x_q, cols, w, dy, out, partials] = ["x", "x_q", "cols", "w", "dy", "out", "partials"]
        .into_iter()
        .zip(sizes)
        .map(|(label, bytes)| scratch(ctx, label, bytes))
        .collect::<Vec<_>>()
        .try_into()
        .expect("seven buffers");
    let (clip, scales) = (scratch(ctx, "clip", 4), scratch(ctx, "scales", 4));
    ctx.queue()
        .write_buffer(&clip, 0, bytemuck::bytes_of(&1f32));
    let bufs = |a, b| GemmBuffers {
        partials: Some(&partials),
        ..GemmBuffers::new(a, b, &out)
    };
    let none = &Epilogue::NONE;
    // X quantized in place: what an int8 layer does under either lowering.
    let quantize_x = |r: &mut Recording| {
        let q = QuantizeBuffers {
            input: (&x).into(),
            clips: &clip,
            packed: &x_q,
            scales: &scales,
            relu_mask: None,
        };
        ops::quantize(ctx, r, &g.quantized_input_layout(), Rounding::Nearest, q)
    };
    let mut candidates = Vec::new();
    for lowering in ConvLowering::ALL {
        let mut rec = Recording::new();
        let r = &mut rec;
        let recorded = match (lowering, int8) {
            (ConvLowering::Columns, false) => ops::im2col(r, g, &x, &cols)
                .and_then(|_| gemm::gemm_f32(ctx, r, &fwd, bufs(&cols, &w), none))
                .and_then(|_| gemm::gemm_f32(ctx, r, &wgrad, bufs(&dy, &cols), none)),
            (ConvLowering::Implicit, false) => {
                let conv = (g, channels);
                conv_gemm::conv_f32_forward(ctx, r, conv, bufs(&x, &w), none)
                    .and_then(|_| conv_gemm::conv_f32_wgrad(ctx, r, conv, bufs(&dy, &x)))
            }
            // The column matrix gathered twice, as the layer does: once per GEMM.
            (ConvLowering::Columns, true) => quantize_x(r)
                .and_then(|_| ops::im2col_i8(r, g, &x_q, &cols))
                .and_then(|_| gemm::gemm_i8(ctx, r, &fwd, MAX_K_CHUNK, bufs(&cols, &w), none))
                .and_then(|_| ops::im2col_i8(r, g, &x_q, &cols))
                .and_then(|_| gemm::gemm_i8(ctx, r, &wgrad, k_chunk, bufs(&dy, &cols), none)),
            (ConvLowering::Implicit, true) => {
                let conv = (g, channels);
                quantize_x(r)
                    .and_then(|_| {
                        conv_gemm::conv_i8_forward(ctx, r, conv, MAX_K_CHUNK, bufs(&x_q, &w), none)
                    })
                    .and_then(|_| {
                        conv_gemm::conv_i8_wgrad(ctx, r, conv, k_chunk, bufs(&dy, &x_q), none)
                    })
            }
        };
        if recorded.is_err() {
            return Ok(None);
        }
        let weight = match lowering {
            ConvLowering::Columns => ConvLowering::columns_speedup_needed(),
            ConvLowering::Implicit => 1.0,
        };
        candidates.push((lowering, rec, weight));
    }
    let what = format!("conv {g:?} -> {channels} int8={int8}");
    fastest(ctx, &what, candidates)
}
