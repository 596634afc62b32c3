//! The depthwise convolutions, `depthwise_i8` and `depthwise_f32`: every pass against its twin,
//! with and without split-K, channel counts that do and do not fill whole words.

use super::check::Check;
use super::{CaseResult, Extent, HostEpilogue};
use crate::abi::{GEMM_I8_BK, GemmShape};
use crate::cpu::{self, CpuEpilogue};
use crate::error::Result;
use crate::gpu::{Context, Recording};
use crate::ops::depthwise::depthwise_k_chunk;
use crate::ops::{self, ConvGeometry, DepthwisePass, Epilogue, GemmBuffers, Precision, Scale};
use crate::rng::{Gen, rng_u32};

/// The kernels the suite exercises.
pub(super) const KERNELS: &[&str] = &[
    "depthwise_i8_fwd",
    "depthwise_i8_dgrad",
    "depthwise_i8_wgrad",
    "depthwise_f32_fwd",
    "depthwise_f32_dgrad",
    "depthwise_f32_wgrad",
];

/// `(n, h, w, c, k, stride, pad)`.
type Geom = (u32, u32, u32, u32, u32, u32, u32);

/// MobileNetV2's 3×3 with stride 1 and 2, channels not a multiple of 4, a 5×5 filter, an
/// unpadded one; the full extent adds a layer of the zoo's size.
pub(super) async fn cases(ctx: &Context, extent: Extent, out: &mut Vec<CaseResult>) -> Result<()> {
    let mut geoms: Vec<Geom> = vec![
        (2, 7, 7, 5, 3, 1, 1),
        (2, 9, 8, 8, 3, 2, 1),
        (1, 6, 6, 3, 5, 1, 2),
        (3, 5, 6, 4, 3, 1, 0),
    ];
    if extent == Extent::Full {
        geoms.push((8, 14, 14, 36, 3, 2, 1));
    }
    let mut g = Gen::new(91);
    for (n, h, w, c, k, stride, pad) in geoms {
        let geom = ConvGeometry {
            n,
            h,
            w,
            c,
            kh: k,
            kw: k,
            stride,
            pad,
        };
        for pass in DepthwisePass::ALL {
            // The default chunk, and for the weight gradient a short one: split-K through
            // gemm_reduce.
            let mut chunks = vec![None];
            if pass == DepthwisePass::WeightGrad {
                chunks.push(Some(GEMM_I8_BK));
            }
            for k_chunk in chunks {
                let int8 = (&geom, pass, Precision::Int8);
                case(ctx, int8, k_chunk, &mut g, out).await?;
                let fp32 = (&geom, pass, Precision::Fp32);
                case(ctx, fp32, k_chunk.map(|k| k + 8), &mut g, out).await?;
            }
        }
    }
    Ok(())
}

/// Words of A and B for `pass`: of x, W and dY, packed int8 or f32.
fn operand_words(g: &ConvGeometry, pass: DepthwisePass, precision: Precision) -> (usize, usize) {
    let taps = g.kh * g.kw;
    let (x, w, dy) = match precision {
        Precision::Int8 => (
            g.quantized_input_layout().packed_words(),
            GemmShape::packed_words(g.c, taps, false) as usize,
            GemmShape::packed_words(g.rows(), g.c, false) as usize,
        ),
        Precision::Fp32 => (
            g.input_len() as usize,
            (g.c * taps) as usize,
            (g.rows() * g.c) as usize,
        ),
    };
    match pass {
        DepthwisePass::Forward => (x, w),
        DepthwisePass::InputGrad => (dy, w),
        DepthwisePass::WeightGrad => (dy, x),
    }
}

fn describe(g: &ConvGeometry, pass: DepthwisePass, k_chunk: u32) -> String {
    let chunk = match pass.shape(g).chunks(k_chunk) {
        1 => String::new(),
        n => format!(", split-K: {n} chunks of {k_chunk}"),
    };
    format!(
        "{} n={} {}x{}x{} k={} stride {} pad {}{chunk}",
        pass.suffix(),
        g.n,
        g.h,
        g.w,
        g.c,
        g.kh,
        g.stride,
        g.pad
    )
}

/// Random operands through one pass on the GPU and on the twin: packed int8 words with random
/// scales (dY's per channel for the weight gradient, DAI8's), or floats; the forward with bias
/// and ReLU. Int8 within 1e-6 of |acc·sa·sb| + |bias| (the epilogue's multiply-adds may fuse
/// differently), f32 within 1e-5 of Σ|a||b| + |bias| (the twin run on the magnitudes).
async fn case(
    ctx: &Context,
    (geom, pass, precision): (&ConvGeometry, DepthwisePass, Precision),
    k_chunk: Option<u32>,
    g: &mut Gen,
    out: &mut Vec<CaseResult>,
) -> Result<()> {
    let int8 = precision.is_int8();
    let (na, nb) = operand_words(geom, pass, precision);
    let seed = (g.uniform() * 1e9) as u32;
    let (a, b): (Vec<u32>, Vec<u32>) = if int8 {
        let words = |n: usize, salt: u32| (0..n as u32).map(|i| rng_u32(seed ^ salt, i)).collect();
        (words(na, 0), words(nb, 0x5bd1))
    } else {
        let floats = |n, g: &mut Gen| g.normal_vec(n, 1.0).iter().map(|v| v.to_bits()).collect();
        (floats(na, g), floats(nb, g))
    };
    let per_channel = pass == DepthwisePass::WeightGrad;
    let mut scales = |n: u32, base: f32| -> Vec<f32> {
        match int8 {
            true => (0..n).map(|_| base * (1.0 + g.uniform())).collect(),
            false => Vec::new(),
        }
    };
    let sa = scales(if per_channel { geom.c } else { 1 }, 1e-3);
    let sb = scales(1, 2e-3);
    let forward = pass == DepthwisePass::Forward;
    let bias = g.normal_vec(geom.c as usize, 1.0);
    let host = HostEpilogue {
        scale_a: &sa,
        scale_b: &sb,
        bias: forward.then_some(&bias[..]),
        relu: forward,
        gate: None,
    };
    let k_chunk = k_chunk.unwrap_or_else(|| depthwise_k_chunk(ctx, geom, pass, precision));
    let gpu = gpu_depthwise(ctx, (geom, pass, precision), k_chunk, (&a, &b), &host).await?;
    let shape = pass.shape(geom);
    let cells = shape.m as usize * shape.n as usize;
    let (mut twin, mut scale) = (vec![0f32; cells], vec![0f32; cells]);
    let mut check = Check::new();
    if int8 {
        cpu::depthwise_i8(geom, pass, k_chunk, &a, &b, &host.cpu(), &mut twin);
        for (s, t) in scale.iter_mut().zip(&twin) {
            *s = t.abs();
        }
    } else {
        let (fa, fb): (&[f32], &[f32]) = (bytemuck::cast_slice(&a), bytemuck::cast_slice(&b));
        cpu::depthwise_f32(geom, pass, k_chunk, fa, fb, &host.cpu(), &mut twin);
        let abs = |v: &[f32]| v.iter().map(|x| x.abs()).collect::<Vec<_>>();
        let none = CpuEpilogue::NONE;
        cpu::depthwise_f32(geom, pass, k_chunk, &abs(fa), &abs(fb), &none, &mut scale);
    }
    for (i, s) in scale.iter_mut().enumerate() {
        *s += if forward {
            bias[i % geom.c as usize].abs()
        } else {
            0.0
        } + 1e-30;
    }
    check.close("out", &gpu, &twin, &scale, if int8 { 1e-6 } else { 1e-5 });
    let kernel = if int8 {
        "depthwise_i8"
    } else {
        "depthwise_f32"
    };
    check.finish(kernel, describe(geom, pass, k_chunk), out);
    Ok(())
}

/// Runs one depthwise pass on the GPU.
async fn gpu_depthwise(
    ctx: &Context,
    (geom, pass, precision): (&ConvGeometry, DepthwisePass, Precision),
    k_chunk: u32,
    (a, b): (&[u32], &[u32]),
    host: &HostEpilogue<'_>,
) -> Result<Vec<f32>> {
    let [ab, bb, sab, sbb] = [
        ctx.upload("test.a", a),
        ctx.upload("test.b", b),
        ctx.upload("test.scale_a", host.scale_a),
        ctx.upload("test.scale_b", host.scale_b),
    ];
    let bias = host.bias.map(|v| ctx.upload("test.bias", v));
    let shape = pass.shape(geom);
    let cells = shape.m as usize * shape.n as usize;
    let outb = ctx.storage_buffer("test.out", cells as u64 * 4);
    let scale = |v: &[f32], buf| match v.len() {
        0 => Scale::None,
        1 => Scale::Tensor(buf),
        _ => Scale::PerIndex(buf),
    };
    let epi = Epilogue {
        scale_a: scale(host.scale_a, &sab),
        scale_b: scale(host.scale_b, &sbb),
        bias: bias.as_ref().map(Into::into),
        bias_offset: 0,
        relu: host.relu,
        gate: None,
    };
    let mut rec = Recording::new();
    let bufs = GemmBuffers::new(&ab, &bb, &outb);
    let how = (precision, pass);
    ops::depthwise(ctx, &mut rec, how, geom, Some(k_chunk), bufs, &epi)?;
    ctx.run(&rec)?;
    let mut gpu: Vec<f32> = ctx.read_buffer_async(&outb).await?;
    gpu.truncate(cells);
    Ok(gpu)
}
