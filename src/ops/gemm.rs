//! `gemm_i8` and `gemm_f32`: `out[M, N] = (Σ_k A[m, k]·B[n, k]) · scale_a · scale_b (+ bias[n])`.
//!
//! Both take operands "K-major" (`[rows, K]`) or, with `trans_a` / `trans_b`, stored `[K, rows]`.
//! That covers the three training GEMMs of a layer with `X [batch, in]`, `W [out, in]` and
//! `dY [batch, out]`, each quantized once:
//!
//! | GEMM | A | B | M × N, reduction K |
//! |---|---|---|---|
//! | forward `Y = X·Wᵀ` | X | W | batch × out, in |
//! | input grad `dX = dY·W` | dY | W, `trans_b` | batch × in, out |
//! | weight grad `dW = dYᵀ·X` | dY, `trans_a` | X, `trans_b` | out × in, batch |
//!
//! For `gemm_i8` an operand is int8 packed four per `u32` along its contiguous axis (what
//! [`quantize`](super::quantize()) writes): K-major operands are `[rows, ceil(K/4)]` words,
//! transposed ones `[K, ceil(rows/4)]` words.
//!
//! **Split-K.** K is cut into chunks of `k_chunk` values, one workgroup layer each. For
//! `gemm_i8`, `k_chunk` ≤ [`MAX_K_CHUNK`] so an int32 sum never covers more than 131,072
//! products and `K·127²` cannot overflow (ALGORITHMS.md §1.1: dW reduces over batch·H·W, which
//! reaches millions). With more than one chunk the GEMM writes raw f32 partials to a scratch
//! buffer ([`GemmBuffers::partials`]) and `gemm_reduce` sums them in chunk order and applies the
//! epilogue. The chunking also bounds every invocation's loop trip count, which matters on
//! llvmpipe: it silently ends an invocation's loops after 65,535 iterations in total.

use crate::abi::{Lanes8Tile, Precision, WideTile};
use crate::error::{Error, Result};
use crate::gpu::Context;
use crate::gpu::kernel::{BindType, Dispatch, KernelDef, Recording, View, grid_1d, wgsl};
use crate::ops::conv::ConvParams;
use crate::ops::gemm_wide;
use crate::ops::{ConvGeometry, check_buffer, partials_scratch};

pub use crate::abi::{
    ConvGemmParams, F32_K_CHUNK, GEMM_F32_REGS_BLOCK, GEMM_I8_BK, GEMM_I8_REGS_BLOCK, GEMM_TILE,
    GateMode, GemmFlags, GemmParams, GemmShape, GemmVariant, MAX_K_CHUNK, REGS_BLOCK, ScaleMode,
    Spread, f32_k_chunk,
};

/// The bindings every GEMM kernel declares, in binding order.
pub(crate) const GEMM_BINDINGS: &[(&str, BindType)] = &[
    ("params", BindType::Uniform),
    ("a", BindType::ReadOnly),
    ("b", BindType::ReadOnly),
    ("scale_a", BindType::ReadOnly),
    ("scale_b", BindType::ReadOnly),
    ("bias", BindType::ReadOnly),
    ("out", BindType::ReadWrite),
];

/// The kernel declaration of `shaders/gemm_i8.wgsl`.
pub static GEMM_I8: KernelDef = KernelDef {
    name: "gemm_i8",
    sources: &[
        wgsl::COMMON,
        wgsl::GEMM_COMMON,
        wgsl::GEMM_I8_COMMON,
        include_str!("../../shaders/gemm_i8.wgsl"),
    ],
    workgroup_size: [16, 16, 1],
    bindings: GEMM_BINDINGS,
    params_size: std::mem::size_of::<GemmParams>(),
    uniform_params: true,
};

/// The kernel declaration of `shaders/gemm_reduce.wgsl`: sums split-K partials, then the
/// epilogue.
pub static GEMM_REDUCE: KernelDef = KernelDef {
    name: "gemm_reduce",
    sources: &[
        wgsl::COMMON,
        wgsl::GEMM_COMMON,
        include_str!("../../shaders/gemm_reduce.wgsl"),
    ],
    workgroup_size: [256, 1, 1],
    bindings: &[
        ("params", BindType::Uniform),
        ("partials", BindType::ReadOnly),
        ("scale_a", BindType::ReadOnly),
        ("scale_b", BindType::ReadOnly),
        ("bias", BindType::ReadOnly),
        ("out", BindType::ReadWrite),
    ],
    params_size: std::mem::size_of::<GemmParams>(),
    uniform_params: true,
};

/// The kernel declaration of `shaders/gemm_f32.wgsl`.
pub static GEMM_F32: KernelDef = KernelDef {
    name: "gemm_f32",
    sources: &[
        wgsl::COMMON,
        wgsl::GEMM_COMMON,
        include_str!("../../shaders/gemm_f32.wgsl"),
    ],
    workgroup_size: [16, 16, 1],
    bindings: GEMM_BINDINGS,
    params_size: std::mem::size_of::<GemmParams>(),
    uniform_params: true,
};

/// A register-blocked kernel (64 lanes, the GEMM bindings) whose `sources` end with constants
/// that select its case and the shader itself; `params_size`: its parameter struct's.
pub(crate) const fn regs_kernel(
    name: &'static str,
    sources: &'static [&'static str],
    params_size: usize,
) -> KernelDef {
    KernelDef {
        name,
        sources,
        workgroup_size: [REGS_LANES, 1, 1],
        bindings: GEMM_BINDINGS,
        params_size,
        uniform_params: true,
    }
}

/// The kernel declarations of `shaders/gemm_i8_regs.wgsl`: `gemm_i8` with a 4×8 block per lane
/// in registers and no workgroup memory (the same integers, another tiling), one kernel per
/// operand layout, indexed by `trans_a as usize * 2 + trans_b as usize`.
pub static GEMM_I8_REGS: [KernelDef; 4] = {
    const P: usize = std::mem::size_of::<GemmParams>();
    [
        regs_kernel("gemm_i8_regs_nn", &I8_REGS_SOURCES[0], P),
        regs_kernel("gemm_i8_regs_nt", &I8_REGS_SOURCES[1], P),
        regs_kernel("gemm_i8_regs_tn", &I8_REGS_SOURCES[2], P),
        regs_kernel("gemm_i8_regs_tt", &I8_REGS_SOURCES[3], P),
    ]
};

/// `gemm_i8_regs_nt` compiled with the ReLU gate ([`Epilogue::gate`]): an input gradient's
/// GEMM, `dY · W` with W stored `[out, in]`.
pub static GEMM_I8_REGS_NT_GATED: KernelDef = regs_kernel(
    "gemm_i8_regs_nt_gated",
    &I8_REGS_SOURCES[4],
    std::mem::size_of::<GemmParams>(),
);

const fn i8_regs_sources(layout: &'static str) -> [&'static str; 6] {
    [
        wgsl::COMMON,
        wgsl::GEMM_COMMON,
        wgsl::GEMM_I8_COMMON,
        layout,
        wgsl::GEMM_GATE,
        include_str!("../../shaders/gemm_i8_regs.wgsl"),
    ]
}

static I8_REGS_SOURCES: [[&str; 6]; 5] = [
    i8_regs_sources(
        "const REGS_TRANS_A = false;\nconst REGS_TRANS_B = false;\nconst GATED = false;\n",
    ),
    i8_regs_sources(
        "const REGS_TRANS_A = false;\nconst REGS_TRANS_B = true;\nconst GATED = false;\n",
    ),
    i8_regs_sources(
        "const REGS_TRANS_A = true;\nconst REGS_TRANS_B = false;\nconst GATED = false;\n",
    ),
    i8_regs_sources(
        "const REGS_TRANS_A = true;\nconst REGS_TRANS_B = true;\nconst GATED = false;\n",
    ),
    i8_regs_sources(
        "const REGS_TRANS_A = false;\nconst REGS_TRANS_B = true;\nconst GATED = true;\n",
    ),
];

/// The kernel declaration of `shaders/gemm_f32_regs.wgsl`: `gemm_f32` with a 4×8 block per
/// lane ([`GEMM_F32_REGS_BLOCK`]) in registers and no workgroup memory.
pub static GEMM_F32_REGS: KernelDef = regs_kernel(
    "gemm_f32_regs",
    &F32_REGS_SOURCES[0],
    std::mem::size_of::<GemmParams>(),
);

/// `gemm_f32_regs` compiled with the ReLU gate ([`Epilogue::gate`]).
pub static GEMM_F32_REGS_GATED: KernelDef = regs_kernel(
    "gemm_f32_regs_gated",
    &F32_REGS_SOURCES[1],
    std::mem::size_of::<GemmParams>(),
);

const fn f32_regs_sources(gated: &'static str) -> [&'static str; 5] {
    [
        wgsl::COMMON,
        wgsl::GEMM_COMMON,
        gated,
        wgsl::GEMM_GATE,
        include_str!("../../shaders/gemm_f32_regs.wgsl"),
    ]
}

static F32_REGS_SOURCES: [[&str; 5]; 2] = [
    f32_regs_sources("const GATED = false;\n"),
    f32_regs_sources("const GATED = true;\n"),
];

/// Lanes per workgroup of the register-blocked kernels.
const REGS_LANES: u32 = 64;

impl GemmVariant {
    /// Every variant, in the order the autotuner tries them.
    pub const ALL: [GemmVariant; 7] = [
        GemmVariant::Tiled,
        GemmVariant::Regs,
        GemmVariant::Wide(WideTile::T128x64),
        GemmVariant::Wide(WideTile::T64x64),
        GemmVariant::Wide(WideTile::T128x128),
        GemmVariant::Lanes8(Lanes8Tile::T128x128),
        GemmVariant::Lanes8(Lanes8Tile::T64x128),
    ];

    /// The variants that run on `ctx`'s device for `precision` operands (a wide tile needs the
    /// lanes and the workgroup memory it declares, [`GemmVariant::Lanes8`] f32 and subgroups of
    /// 8 too; the others fit octet's required limits).
    pub fn available(ctx: &Context, precision: Precision) -> Vec<GemmVariant> {
        let limits = ctx.device().limits();
        GemmVariant::ALL
            .into_iter()
            .filter(|v| match v {
                GemmVariant::Wide(tile) => gemm_wide::fits(*tile, precision, &limits),
                GemmVariant::Lanes8(tile) => {
                    precision == Precision::Fp32 && gemm_wide::lanes8_fits(ctx, *tile)
                }
                _ => true,
            })
            .collect()
    }

    /// The variants worth timing for `shape` at split-K chunk `k_chunk`: a wide tile only where
    /// it takes the chunk and computes at most twice the cells that are kept (a shape smaller
    /// than the tile wastes the rest).
    pub fn candidates(
        ctx: &Context,
        shape: &GemmShape,
        k_chunk: u32,
        precision: Precision,
    ) -> Vec<GemmVariant> {
        GemmVariant::available(ctx, precision)
            .into_iter()
            .filter(|v| v.accepts_k_chunk(k_chunk, precision) && v.takes(shape))
            .filter(|v| {
                let [tm, tn, _, _] = match v {
                    GemmVariant::Wide(tile) => tile.dims(),
                    GemmVariant::Lanes8(tile) => tile.dims(),
                    _ => return true,
                };
                let cells =
                    shape.m.next_multiple_of(tm) as u64 * shape.n.next_multiple_of(tn) as u64;
                cells <= 2 * shape.m as u64 * shape.n as u64
            })
            .collect()
    }

    /// The kernel of this variant for `shape`, on int8 or f32 operands; `None` for
    /// [`GemmVariant::Lanes8`] on int8 operands, which has none.
    pub fn kernel(self, precision: Precision, shape: &GemmShape) -> Option<&'static KernelDef> {
        let layout = shape.trans_a as usize * 2 + shape.trans_b as usize;
        Some(match (self, precision) {
            (GemmVariant::Tiled, Precision::Int8) => &GEMM_I8,
            (GemmVariant::Regs, Precision::Int8) => &GEMM_I8_REGS[layout],
            (GemmVariant::Tiled, Precision::Fp32) => &GEMM_F32,
            (GemmVariant::Regs, Precision::Fp32) => &GEMM_F32_REGS,
            (GemmVariant::Wide(tile), precision) => gemm_wide::kernel(tile, precision),
            (GemmVariant::Lanes8(tile), Precision::Fp32) => gemm_wide::lanes8_kernel_of(tile),
            (GemmVariant::Lanes8(_), Precision::Int8) => return None,
        })
    }

    /// The choice without measuring, for an adapter of type `device`: `Regs` on a CPU adapter
    /// (where barriers are dear, it won every shape measured), or when 64×64 tiles would compute
    /// more than twice the cells that are kept (a convolution's few channels, the weight
    /// gradient of one) or the output is at most 16 wide or tall; else `Tiled`. What
    /// [`gemm_i8`] and [`gemm_f32`] run when autotuning is off ([`crate::gpu::Autotune::Off`]).
    pub fn heuristic(shape: &GemmShape, device: wgpu::DeviceType) -> GemmVariant {
        let tiled_cells =
            shape.m.next_multiple_of(GEMM_TILE) as u64 * shape.n.next_multiple_of(GEMM_TILE) as u64;
        if device == wgpu::DeviceType::Cpu
            || shape.m.min(shape.n) <= 16
            || tiled_cells > 2 * shape.m as u64 * shape.n as u64
        {
            GemmVariant::Regs
        } else {
            GemmVariant::Tiled
        }
    }

    /// Workgroups for `shape` cut into `chunks` split-K chunks; `block`: the rows and columns
    /// per lane of a register-blocked kernel.
    fn grid(self, shape: &GemmShape, chunks: u32, (bm, bn): (u32, u32)) -> [u32; 3] {
        match self {
            GemmVariant::Tiled => [
                shape.n.div_ceil(GEMM_TILE),
                shape.m.div_ceil(GEMM_TILE),
                chunks,
            ],
            GemmVariant::Wide(tile) => {
                let [tm, tn, _, _] = tile.dims();
                [shape.n.div_ceil(tn), shape.m.div_ceil(tm), chunks]
            }
            GemmVariant::Lanes8(tile) => {
                let [tm, tn, _, _] = tile.dims();
                [shape.n.div_ceil(tn), shape.m.div_ceil(tm), chunks]
            }
            // One lane per (block, chunk), chunks packed into workgroups (regs_block()).
            GemmVariant::Regs => {
                let blocks = shape.m.div_ceil(bm) as u64 * shape.n.div_ceil(bn) as u64;
                grid_1d(blocks * chunks as u64, REGS_LANES)
            }
        }
    }
}

/// One side's dequantization scale in the epilogue.
#[derive(Clone, Copy, Debug)]
pub enum Scale<'a> {
    /// Multiply by 1.
    None,
    /// `buffer[0]` for every element.
    Tensor(&'a wgpu::Buffer),
    /// `buffer[m]` for row m (A side) or `buffer[n]` for column n (B side).
    PerIndex(&'a wgpu::Buffer),
}

impl<'a> Scale<'a> {
    fn mode(&self) -> ScaleMode {
        match self {
            Scale::None => ScaleMode::None,
            Scale::Tensor(_) => ScaleMode::Tensor,
            Scale::PerIndex(_) => ScaleMode::PerIndex,
        }
    }

    fn buffer(&self, ctx: &'a Context) -> &'a wgpu::Buffer {
        match self {
            Scale::None => ctx.unused_binding(0),
            Scale::Tensor(b) | Scale::PerIndex(b) => b,
        }
    }

    fn check(&self, op: &'static str, binding: &'static str, len: u32) -> Result<()> {
        match self {
            Scale::None => Ok(()),
            Scale::Tensor(b) => check_buffer(op, binding, *b, 4),
            Scale::PerIndex(b) => check_buffer(op, binding, *b, len as u64 * 4),
        }
    }
}

/// The fused epilogue: `(acc · scale_a) · scale_b + bias`, then optionally the rectifier.
#[derive(Clone, Copy, Debug)]
pub struct Epilogue<'a> {
    /// Scale of A: per tensor or per row of the output.
    pub scale_a: Scale<'a>,
    /// Scale of B: per tensor or per column of the output.
    pub scale_b: Scale<'a>,
    /// Optional bias, one per output column, from index `bias_offset` of its buffer on.
    pub bias: Option<View<'a>>,
    /// Index of column 0's bias in `bias`.
    pub bias_offset: u32,
    /// Apply a following ReLU layer's forward (`relu`'s rectifier, NaN kept) to every output,
    /// so that layer needs no pass of its own.
    pub relu: bool,
    /// Do the backward of the ReLU before the layer (an input gradient's GEMM): outputs whose
    /// element that ReLU zeroed become 0, as its own backward pass would write them. Bound in
    /// the bias's place, so not with a bias.
    pub gate: Option<ReluGate<'a>>,
}

/// What a GEMM's [`Epilogue::gate`] reads of the ReLU before the layer, one element per output
/// cell (row-major `[M, N]`).
#[derive(Clone, Copy, Debug)]
pub enum ReluGate<'a> {
    /// Its bit mask, as [`crate::ops::relu()`] or `quantize_relu_mask` write it.
    Mask(View<'a>),
    /// Its f32 output.
    Values(View<'a>),
}

impl Epilogue<'_> {
    /// The epilogue's bits of a GEMM's flags word.
    pub fn flags(&self) -> GemmFlags {
        GemmFlags {
            scale_a: self.scale_a.mode(),
            scale_b: self.scale_b.mode(),
            bias: self.bias.is_some(),
            relu: self.relu,
            gate: match self.gate {
                None => GateMode::None,
                Some(ReluGate::Mask(_)) => GateMode::Mask,
                Some(ReluGate::Values(_)) => GateMode::Values,
            },
            ..GemmFlags::default()
        }
    }

    /// No scaling, no bias: the raw accumulator (exact integers for `gemm_i8` while they fit f32).
    pub const NONE: Epilogue<'static> = Epilogue {
        scale_a: Scale::None,
        scale_b: Scale::None,
        bias: None,
        bias_offset: 0,
        relu: false,
        gate: None,
    };
}

impl GemmParams {
    /// Parameters for `shape`, `k_chunk` and `epilogue`.
    pub fn new(shape: &GemmShape, k_chunk: u32, epilogue: &Epilogue<'_>) -> Self {
        GemmParams {
            bias_offset: epilogue.bias_offset,
            ..GemmParams::with_flags(shape, k_chunk, epilogue.flags())
        }
    }
}

/// The operands and output of one GEMM.
#[derive(Clone, Copy, Debug)]
pub struct GemmBuffers<'a> {
    /// Operand A.
    pub a: View<'a>,
    /// Operand B.
    pub b: View<'a>,
    /// Out: `M·N` f32, row-major.
    pub out: View<'a>,
    /// Scratch for split-K partials ([`GemmShape::partials_bytes`]); when `None` and K needs
    /// more than one chunk, the recording's scratch (one buffer for all its dispatches).
    pub partials: Option<&'a wgpu::Buffer>,
}

impl<'a> GemmBuffers<'a> {
    /// Operands and output, split-K partials in the recording's scratch.
    pub fn new(a: impl Into<View<'a>>, b: impl Into<View<'a>>, out: impl Into<View<'a>>) -> Self {
        GemmBuffers {
            a: a.into(),
            b: b.into(),
            out: out.into(),
            partials: None,
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn record(
    ctx: &Context,
    rec: &mut Recording,
    (variant, precision): (GemmVariant, Precision),
    shape: &GemmShape,
    k_chunk: u32,
    operand_bytes: (u64, u64),
    bufs: GemmBuffers<'_>,
    epilogue: &Epilogue<'_>,
) -> Result<()> {
    let unsupported = |why: &str| {
        Error::invalid(
            "gemm",
            format!("variant {variant:?} {why}; choose another (GemmVariant::available)"),
        )
    };
    let Some(mut def) = variant.kernel(precision, shape) else {
        return Err(unsupported("has no int8 kernel"));
    };
    if epilogue.gate.is_some() {
        // The gate is compiled into kernels of its own (gemm_gate.wgsl says why): the
        // register-blocked ones, int8 in an input gradient's layout, in one K chunk (the
        // reduce of split-K partials has no gate).
        def = match (variant, precision, shape.trans_a, shape.trans_b) {
            (GemmVariant::Regs, Precision::Fp32, ..) => &GEMM_F32_REGS_GATED,
            (GemmVariant::Regs, Precision::Int8, false, true) => &GEMM_I8_REGS_NT_GATED,
            _ => {
                return Err(unsupported(
                    "has no ReLU gate (Regs has one; for int8 in an input gradient's layout \
                     only: A not transposed, B transposed)",
                ));
            }
        };
        if shape.chunks(k_chunk) > 1 {
            return Err(Error::invalid(
                "gemm",
                format!(
                    "a ReLU gate needs K in one chunk (K = {}, chunk {k_chunk})",
                    shape.k
                ),
            ));
        }
    }
    if !variant.takes(shape) {
        return Err(unsupported(&format!(
            "needs operands of a multiple of 4 values each, not {}x{}x{}",
            shape.m, shape.n, shape.k
        )));
    }
    if let GemmVariant::Lanes8(tile) = variant
        && !gemm_wide::lanes8_fits(ctx, tile)
    {
        return Err(unsupported("needs subgroups of exactly 8 lanes"));
    }
    let kernel = GemmKernel {
        def,
        variant,
        conv: None,
        block: match precision {
            Precision::Int8 => GEMM_I8_REGS_BLOCK,
            Precision::Fp32 => GEMM_F32_REGS_BLOCK,
        },
    };
    record_kernel(
        ctx,
        rec,
        kernel,
        shape,
        k_chunk,
        operand_bytes,
        bufs,
        epilogue,
    )
}

/// The kernel a GEMM dispatch runs: a GEMM kernel in its tiling, or with a geometry a
/// convolution's implicit GEMM.
pub(crate) struct GemmKernel<'a> {
    pub def: &'static KernelDef,
    pub variant: GemmVariant,
    pub conv: Option<&'a ConvGeometry>,
    /// Rows and columns per lane of a register-blocked kernel.
    pub block: (u32, u32),
}

/// Records `def` (a GEMM kernel, or with a geometry a convolution's implicit GEMM) on the grid of
/// `variant`'s tiling and, when K takes several chunks, the `gemm_reduce` after it.
#[allow(clippy::too_many_arguments)]
pub(crate) fn record_kernel(
    ctx: &Context,
    rec: &mut Recording,
    GemmKernel {
        def,
        variant,
        conv,
        block,
    }: GemmKernel<'_>,
    shape: &GemmShape,
    k_chunk: u32,
    operand_bytes: (u64, u64),
    bufs: GemmBuffers<'_>,
    epilogue: &Epilogue<'_>,
) -> Result<()> {
    let op = def.name;
    shape.validate(op)?;
    check_buffer(op, "a", bufs.a, operand_bytes.0)?;
    check_buffer(op, "b", bufs.b, operand_bytes.1)?;
    check_buffer(op, "out", bufs.out, shape.m as u64 * shape.n as u64 * 4)?;
    epilogue.scale_a.check(op, "scale_a", shape.m)?;
    epilogue.scale_b.check(op, "scale_b", shape.n)?;
    let cells = shape.m as u64 * shape.n as u64;
    let bias = match (epilogue.bias, epilogue.gate) {
        (Some(_), Some(_)) => {
            return Err(Error::invalid(
                op,
                "an epilogue takes a bias or a ReLU gate, not both (the gate is bound in the \
                 bias's place; an input gradient's GEMM has no bias)",
            ));
        }
        (Some(b), None) => {
            check_buffer(
                op,
                "bias",
                b,
                (epilogue.bias_offset as u64 + shape.n as u64) * 4,
            )?;
            b
        }
        (None, Some(ReluGate::Mask(m))) => {
            check_buffer(op, "gate", m, cells.div_ceil(32) * 4)?;
            m
        }
        (None, Some(ReluGate::Values(v))) => {
            check_buffer(op, "gate", v, cells * 4)?;
            v
        }
        (None, None) => ctx.unused_binding(0).into(),
    };
    let params = GemmParams::new(shape, k_chunk, epilogue);
    let (scale_a, scale_b) = (epilogue.scale_a.buffer(ctx), epilogue.scale_b.buffer(ctx));
    let lanes =
        shape.m.div_ceil(block.0) as u64 * shape.n.div_ceil(block.1) as u64 * params.chunks as u64;
    if variant == GemmVariant::Regs && lanes > u32::MAX as u64 {
        return Err(Error::invalid(
            op,
            format!("{lanes} lanes (blocks times split-K chunks) exceed 2^32; split the GEMM"),
        ));
    }
    let grid = variant.grid(shape, params.chunks, block);
    let (scale_a, scale_b) = (View::from(scale_a), View::from(scale_b));
    let dispatch = |out: View<'_>| {
        let bindings = [bufs.a, bufs.b, scale_a, scale_b, bias, out];
        match conv {
            None => Dispatch::new(def, &params, &bindings, grid),
            Some(g) => {
                let conv = ConvParams::new(g);
                Dispatch::new(def, &ConvGemmParams { gemm: params, conv }, &bindings, grid)
            }
        }
    };
    if params.chunks == 1 {
        rec.push(dispatch(bufs.out));
        return Ok(());
    }
    if params.chunks > 65535 {
        return Err(Error::invalid(
            op,
            format!(
                "K = {} needs {} chunks of {k_chunk}; at most 65535",
                shape.k, params.chunks
            ),
        ));
    }
    let needed = shape.partials_bytes(k_chunk);
    let partials = partials_scratch(ctx, rec, op, bufs.partials, needed)?;
    rec.push(dispatch((&partials).into()));
    rec.push(Dispatch::new(
        &GEMM_REDUCE,
        &params,
        &[(&partials).into(), scale_a, scale_b, bias, bufs.out],
        grid_1d(cells, 256),
    ));
    Ok(())
}

/// Records an int8 GEMM on packed operands in the variant [`Context::gemm_variant`] picks
/// (autotuned for this adapter, or the heuristic). `k_chunk` (a multiple of 32, at most
/// [`MAX_K_CHUNK`]) bounds the products per int32 partial: [`GemmShape::auto_k_chunk`], or
/// smaller to test split-K.
pub fn gemm_i8(
    ctx: &Context,
    rec: &mut Recording,
    shape: &GemmShape,
    k_chunk: u32,
    bufs: GemmBuffers<'_>,
    epilogue: &Epilogue<'_>,
) -> Result<()> {
    let mut variant = variant_for(ctx, shape, Precision::Int8, epilogue)?;
    // Tuned at the shape's own chunk; a caller's longer chunk falls back to a variant that
    // takes it (every variant computes the same bits).
    if !variant.accepts_k_chunk(k_chunk, Precision::Int8) {
        variant = GemmVariant::Regs;
    }
    gemm_i8_variant(ctx, rec, variant, shape, k_chunk, bufs, epilogue)
}

/// [`gemm_i8`] in a given variant.
pub fn gemm_i8_variant(
    ctx: &Context,
    rec: &mut Recording,
    variant: GemmVariant,
    shape: &GemmShape,
    k_chunk: u32,
    bufs: GemmBuffers<'_>,
    epilogue: &Epilogue<'_>,
) -> Result<()> {
    check_i8_chunk(k_chunk)?;
    if !variant.accepts_k_chunk(k_chunk, Precision::Int8) {
        return Err(Error::invalid(
            "gemm_i8",
            format!(
                "{variant:?} cannot take split-K chunks of {k_chunk} K values; use another variant"
            ),
        ));
    }
    let bytes = (
        GemmShape::packed_words(shape.m, shape.k, shape.trans_a) * 4,
        GemmShape::packed_words(shape.n, shape.k, shape.trans_b) * 4,
    );
    record(
        ctx,
        rec,
        (variant, Precision::Int8),
        shape,
        k_chunk,
        bytes,
        bufs,
        epilogue,
    )
}

/// Records an f32 GEMM with the same interface as [`gemm_i8`] (the split-K chunk is
/// [`f32_k_chunk`] for this device's [`Context::spread`]).
pub fn gemm_f32(
    ctx: &Context,
    rec: &mut Recording,
    shape: &GemmShape,
    bufs: GemmBuffers<'_>,
    epilogue: &Epilogue<'_>,
) -> Result<()> {
    let variant = variant_for(ctx, shape, Precision::Fp32, epilogue)?;
    gemm_f32_variant(ctx, rec, variant, shape, bufs, epilogue)
}

/// The variant [`gemm_i8`] and [`gemm_f32`] run: the autotuner's, or for a gated epilogue the
/// register-blocked one, the only kernels compiled with the gate.
fn variant_for(
    ctx: &Context,
    shape: &GemmShape,
    precision: Precision,
    epilogue: &Epilogue<'_>,
) -> Result<GemmVariant> {
    match epilogue.gate {
        Some(_) => Ok(GemmVariant::Regs),
        None => ctx.gemm_variant(shape, precision),
    }
}

/// [`gemm_f32`] in a given variant.
pub fn gemm_f32_variant(
    ctx: &Context,
    rec: &mut Recording,
    variant: GemmVariant,
    shape: &GemmShape,
    bufs: GemmBuffers<'_>,
    epilogue: &Epilogue<'_>,
) -> Result<()> {
    let bytes = (
        shape.m as u64 * shape.k as u64 * 4,
        shape.n as u64 * shape.k as u64 * 4,
    );
    // A gated GEMM takes K in one chunk (gemm_reduce has no gate): up to F32_K_CHUNK.
    let k_chunk = match epilogue.gate {
        Some(_) => F32_K_CHUNK,
        None => f32_k_chunk(shape, ctx.spread()),
    };
    record(
        ctx,
        rec,
        (variant, Precision::Fp32),
        shape,
        k_chunk,
        bytes,
        bufs,
        epilogue,
    )
}

/// The split-K chunk of an int8 GEMM, as [`gemm_i8_variant`] requires it.
pub(crate) fn check_i8_chunk(k_chunk: u32) -> Result<()> {
    if k_chunk == 0 || k_chunk > MAX_K_CHUNK || !k_chunk.is_multiple_of(GEMM_I8_BK) {
        return Err(Error::invalid(
            "gemm_i8",
            format!(
                "k_chunk {k_chunk} must be a multiple of {GEMM_I8_BK} in {GEMM_I8_BK}..={MAX_K_CHUNK}"
            ),
        ));
    }
    Ok(())
}

/// This family's kernels, for [`ALL_KERNELS`](crate::ops::ALL_KERNELS).
pub(crate) const KERNELS: &[&KernelDef] = &[
    &GEMM_I8,
    &GEMM_F32,
    &GEMM_I8_REGS[0],
    &GEMM_I8_REGS[1],
    &GEMM_I8_REGS[2],
    &GEMM_I8_REGS[3],
    &GEMM_F32_REGS,
    &GEMM_I8_REGS_NT_GATED,
    &GEMM_F32_REGS_GATED,
    &GEMM_REDUCE,
];
