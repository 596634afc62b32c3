//! GEMM shapes, split-K constants, the parameter block and its flag bits.

use crate::error::{Error, Result};

use super::{ConvParams, Precision};

/// Largest number of products one int32 partial sum may cover: `131072 · 127² < 2³¹`.
pub const MAX_K_CHUNK: u32 = 131_072;

/// K values per tile step of `gemm_i8`; `k_chunk` must be a multiple of it.
pub const GEMM_I8_BK: u32 = 32;

/// Output rows and columns per workgroup of both GEMMs.
pub const GEMM_TILE: u32 = 64;

/// K values per split-K chunk of `gemm_f32` (bounds its loops; f32 cannot overflow).
pub const F32_K_CHUNK: u32 = 16_384;

/// `ConvGemmParams` of `shaders/conv_common.wgsl`: the GEMM's, then the convolution's.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct ConvGemmParams {
    /// The GEMM over the column matrix.
    pub gemm: GemmParams,
    /// The convolution that defines the column matrix.
    pub conv: ConvParams,
}

/// How far [`GemmShape::auto_k_chunk`] splits a GEMM's K to keep the device busy. The chunk
/// decides the order of the f32 sums, so a GEMM gives the same bits on two devices of the same
/// spread, and on every variant of one device.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Spread {
    /// A GPU: at least about 64 workgroups of 64×64 tiles and 32,768 lanes of 4×4 blocks (a 6×25
    /// weight gradient over 50,176 pixels in 64 chunks kept 896 lanes of an H100 busy for
    /// 2.7 ms; with 8,192 lanes a 16×144 one over 200,704 pixels took 0.38 ms of an H200, which
    /// holds 270,336). Not more: each chunk writes and rereads its partial outputs, which on a
    /// small GPU's memory costs what the spread gains.
    #[default]
    Gpu,
    /// A CPU driver (lavapipe, llvmpipe, SwiftShader), whose workgroups run on a few cores:
    /// about 64 tiles' worth, but chunks of at least 1,024 K values, since a shorter chunk only
    /// adds partials to write and sum (splitting a 784-long K into 13 chunks cost an MLP step
    /// on lavapipe a quarter of its time).
    Cpu,
}

/// Output rows and columns per lane of the register-blocked GEMMs
/// ([`GEMM_F32_REGS`](crate::ops::gemm::GEMM_F32_REGS),
/// [`GEMM_I8_REGS`](crate::ops::gemm::GEMM_I8_REGS)).
pub const REGS_BLOCK: u32 = 4;

/// Output rows and columns per lane of `gemm_f32_regs`: 4 × 8, so that each A element loaded
/// serves 8 columns.
pub const GEMM_F32_REGS_BLOCK: (u32, u32) = (4, 8);

/// Output rows and columns per lane of `gemm_i8_regs`: 4 × 8, so that each A word loaded
/// serves 8 columns.
pub const GEMM_I8_REGS_BLOCK: (u32, u32) = (4, 8);

/// Output rows and columns per lane of `conv_f32_regs`'s forward: 4 output pixels × 8 output
/// channels, so that one gather of a pixel's window serves 8 channels (a first layer's 6).
pub const CONV_F32_FWD_BLOCK: (u32, u32) = (4, 8);

/// Output rows and columns per lane of `conv_f32_regs`'s weight gradient: 8 output channels ×
/// 4 taps, so that one gather of a tap serves 8 channels.
pub const CONV_F32_WGRAD_BLOCK: (u32, u32) = (8, 4);

/// One way to run a GEMM: the same product in another tiling. For `gemm_i8` every variant
/// computes the same int32 sums; for `gemm_f32` the same fused multiply-adds per output cell in
/// the same order (K ascending within a split-K chunk), so on one adapter the variants agree
/// bit for bit (the conformance suites check it) and choosing one changes only the speed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GemmVariant {
    /// 64×64 outputs per workgroup of 16×16 lanes, 4×4 per lane, operands staged through
    /// workgroup memory: for large outputs.
    Tiled,
    /// A 4×4 block per lane from registers, no workgroup memory and no barriers: for skinny
    /// products with short K, and for drivers where barriers are expensive (CPU drivers).
    Regs,
    /// Large workgroup tiles staged through workgroup memory, each lane computing a large block
    /// of contiguous outputs from registers (up to 16×8): the class of kernel fast GEMMs use,
    /// for large products. Offered only where the device's limits fit the tile.
    Wide(WideTile),
    /// f32 only, for CPU drivers: 32×16 outputs per lane, the 8 lanes of a subgroup sharing
    /// their rows of A through subgroup broadcasts, operands read as vec4s
    /// (`shaders/gemm_f32_lanes8.wgsl`), workgroups of one [`Lanes8Tile`]. Offered where
    /// subgroups are exactly 8 lanes wide and both operands hold a multiple of 4 values
    /// ([`GemmVariant::takes`]).
    Lanes8(Lanes8Tile),
}

/// A tile shape of [`GemmVariant::Lanes8`]: `rows × 128` outputs per workgroup, one subgroup of
/// 8 lanes per 32 rows (each lane 32 × 16 outputs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lanes8Tile {
    /// 128×128 outputs, 32 lanes: for large products.
    T128x128,
    /// 64×128 outputs, 16 lanes: for products of 64 rows (a batch of 64), which the 128-row
    /// tile computes twice over and stages value by value past its edge.
    T64x128,
}

impl Lanes8Tile {
    /// Every tile shape.
    pub const ALL: [Lanes8Tile; 2] = [Lanes8Tile::T128x128, Lanes8Tile::T64x128];

    /// `[tm, tn, rm, rn]`: outputs per workgroup, outputs per lane (as [`WideTile::dims`]).
    pub const fn dims(self) -> [u32; 4] {
        match self {
            Lanes8Tile::T128x128 => [128, 128, 32, 16],
            Lanes8Tile::T64x128 => [64, 128, 32, 16],
        }
    }

    /// Lanes per workgroup.
    pub const fn lanes(self) -> u32 {
        let [tm, tn, rm, rn] = self.dims();
        (tm / rm) * (tn / rn)
    }

    /// Bytes of workgroup memory the kernel declares: both operands' rows of 16 K values.
    pub const fn workgroup_bytes(self) -> u32 {
        let [tm, tn, _, _] = self.dims();
        (tm + tn) * 16 * 4
    }

    /// The kernel name's suffix, e.g. `64x128`.
    pub const fn suffix(self) -> &'static str {
        match self {
            Lanes8Tile::T128x128 => "128x128",
            Lanes8Tile::T64x128 => "64x128",
        }
    }
}

/// A tile shape of [`GemmVariant::Wide`]: `tm × tn` outputs per workgroup of
/// `(tm / rm) × (tn / rn)` lanes, each computing `rm × rn` contiguous outputs, K staged `bk`
/// values at a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WideTile {
    /// 128×64 outputs, 64 lanes of 16×8: the shape CPU drivers run fastest (8 KiB of
    /// workgroup memory for int8, 12 KiB for f32).
    T128x64,
    /// 64×64 outputs, 64 lanes of 8×8: fits octet's required 8 KiB of workgroup memory in f32.
    T64x64,
    /// 128×128 outputs, 256 lanes of 8×8: for GPUs (16 KiB in f32, 8 KiB in int8).
    T128x128,
}

impl WideTile {
    /// Every tile shape.
    pub const ALL: [WideTile; 3] = [WideTile::T128x64, WideTile::T64x64, WideTile::T128x128];

    /// `[tm, tn, rm, rn]`: outputs per workgroup, outputs per lane.
    pub const fn dims(self) -> [u32; 4] {
        match self {
            WideTile::T128x64 => [128, 64, 16, 8],
            WideTile::T64x64 => [64, 64, 8, 8],
            WideTile::T128x128 => [128, 128, 8, 8],
        }
    }

    /// Lanes per workgroup.
    pub const fn lanes(self) -> u32 {
        let [tm, tn, rm, rn] = self.dims();
        (tm / rm) * (tn / rn)
    }

    /// K values staged per step: 16 for f32, 32 (eight packed words) for int8.
    pub const fn bk(self, precision: Precision) -> u32 {
        match precision {
            Precision::Fp32 => 16,
            Precision::Int8 => 32,
        }
    }

    /// Bytes of workgroup memory the kernel declares.
    pub const fn workgroup_bytes(self, precision: Precision) -> u32 {
        let [tm, tn, _, _] = self.dims();
        match precision {
            Precision::Fp32 => (tm + tn) * self.bk(precision) * 4,
            Precision::Int8 => (tm + tn) * self.bk(precision),
        }
    }

    /// The longest split-K chunk the kernel may take: llvmpipe ends an invocation's loops after
    /// 65,535 iterations in total, and the 128×64 int8 kernel's staging and block loops are not
    /// all unrolled there (measured: about 55 iterations per 32 K values, so at most 1,024
    /// steps); the others unroll to under 16 and take any chunk.
    pub const fn max_k_chunk(self, precision: Precision) -> u32 {
        match (self, precision) {
            (WideTile::T128x64, Precision::Int8) => 32_768,
            _ => u32::MAX,
        }
    }

    /// The kernel name's suffix, e.g. `128x64`.
    pub const fn suffix(self) -> &'static str {
        match self {
            WideTile::T128x64 => "128x64",
            WideTile::T64x64 => "64x64",
            WideTile::T128x128 => "128x128",
        }
    }
}

/// Problem shape and operand layouts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GemmShape {
    /// Rows of the output (and of A).
    pub m: u32,
    /// Columns of the output (rows of B).
    pub n: u32,
    /// Reduction length.
    pub k: u32,
    /// A is stored `[K, M]` instead of `[M, K]`.
    pub trans_a: bool,
    /// B is stored `[K, N]` instead of `[N, K]`.
    pub trans_b: bool,
}

impl GemmShape {
    /// A plain `[M, K] × [N, K]ᵀ` shape.
    pub fn new(m: u32, n: u32, k: u32) -> Self {
        GemmShape {
            m,
            n,
            k,
            trans_a: false,
            trans_b: false,
        }
    }

    /// The same shape with the given operand layouts.
    pub fn with_trans(self, trans_a: bool, trans_b: bool) -> Self {
        GemmShape {
            trans_a,
            trans_b,
            ..self
        }
    }

    /// u32 words of packed int8 operand A (B with `n`, `trans_b`).
    pub fn packed_words(rows: u32, k: u32, trans: bool) -> u64 {
        if trans {
            k as u64 * rows.div_ceil(4) as u64
        } else {
            rows as u64 * k.div_ceil(4) as u64
        }
    }

    /// A split-K chunk (a multiple of 32, at most `max`) that spreads a GEMM with few outputs
    /// and a long K — the weight gradients, reducing over batch·H·W — over the workgroups
    /// `spread` asks for, so that it neither runs on one core nor leaves a GPU idle.
    /// The chunk depends on the shape and the spread only, not on the [`GemmVariant`], so that
    /// every variant sums the same partials.
    pub fn auto_k_chunk(&self, max: u32, spread: Spread) -> u32 {
        let tiles = (self.m.div_ceil(GEMM_TILE) * self.n.div_ceil(GEMM_TILE)).max(1);
        let blocks = (self.m.div_ceil(REGS_BLOCK) * self.n.div_ceil(REGS_BLOCK)).max(1);
        let chunks = match spread {
            Spread::Gpu => (64 / tiles).max(32_768 / blocks),
            Spread::Cpu => (64 / tiles).min(self.k / 1024),
        }
        .max(1);
        self.k
            .div_ceil(chunks)
            .next_multiple_of(GEMM_I8_BK)
            .min(max)
    }

    /// Split-K chunks for `k_chunk`: `ceil(K / k_chunk)`.
    pub fn chunks(&self, k_chunk: u32) -> u32 {
        self.k.div_ceil(k_chunk)
    }

    /// Bytes of the partials scratch a split GEMM needs (0 when K fits one chunk).
    pub fn partials_bytes(&self, k_chunk: u32) -> u64 {
        match self.chunks(k_chunk) {
            1 => 0,
            z => z as u64 * self.m as u64 * self.n as u64 * 4,
        }
    }

    /// Multiply-adds of the product, `M·N·K`.
    pub fn macs(&self) -> u64 {
        self.m as u64 * self.n as u64 * self.k as u64
    }

    pub(crate) fn validate(&self, op: &'static str) -> Result<()> {
        if self.m == 0 || self.n == 0 || self.k == 0 {
            return Err(Error::invalid(
                op,
                format!(
                    "empty GEMM {}x{}x{}: M, N and K must be >= 1",
                    self.m, self.n, self.k
                ),
            ));
        }
        let max = 65535 * GEMM_TILE as u64;
        if self.m as u64 > max || self.n as u64 > max {
            return Err(Error::invalid(
                op,
                format!(
                    "M = {} or N = {} exceeds {max}; split the GEMM",
                    self.m, self.n
                ),
            ));
        }
        let cells = [
            self.m as u64 * self.n as u64,
            self.m as u64 * self.k.next_multiple_of(4) as u64,
            self.n as u64 * self.k.next_multiple_of(4) as u64,
        ];
        if cells.iter().any(|&c| c > u32::MAX as u64) {
            return Err(Error::invalid(
                op,
                "an operand or the output has more than 2^32 elements; split the GEMM",
            ));
        }
        Ok(())
    }
}

/// `GemmParams` of `shaders/gemm_common.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct GemmParams {
    /// M.
    pub m: u32,
    /// N.
    pub n: u32,
    /// K.
    pub k: u32,
    /// Products per int32 partial (gemm_i8 only).
    pub k_chunk: u32,
    /// Bit 0 trans_a, bit 1 trans_b, bits 2–3 scale_a mode, bits 4–5 scale_b mode, bit 6 bias,
    /// bit 7 raw partials (split-K: no epilogue, store to `out[z]`), bit 8 ReLU after the bias.
    pub flags: u32,
    /// Split-K chunks.
    pub chunks: u32,
    /// Index of the bias of column 0 in the bias binding (a layer keeps its bias after its
    /// weights, in one buffer).
    pub bias_offset: u32,
    /// Index of output cell (0, 0) in `gemm_reduce`'s output (the GEMM kernels themselves write
    /// from 0).
    pub out_offset: u32,
}

/// The split-K chunk of an f32 GEMM: spreads few output tiles as `spread` asks and bounds every
/// invocation's loops by [`F32_K_CHUNK`].
pub fn f32_k_chunk(shape: &GemmShape, spread: Spread) -> u32 {
    shape.auto_k_chunk(F32_K_CHUNK, spread)
}

/// How the epilogue scales one side of the product (`GemmParams::flags` bits 2–3 for A, 4–5
/// for B; `scale_of()` in `shaders/gemm_common.wgsl`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ScaleMode {
    /// Multiply by 1.
    #[default]
    None,
    /// One scale for every element.
    Tensor,
    /// One scale per output row (A side) or column (B side).
    PerIndex,
}

impl ScaleMode {
    fn code(self) -> u32 {
        match self {
            ScaleMode::None => 0,
            ScaleMode::Tensor => 1,
            ScaleMode::PerIndex => 2,
        }
    }

    fn from_code(code: u32) -> Self {
        match code {
            0 => ScaleMode::None,
            1 => ScaleMode::Tensor,
            _ => ScaleMode::PerIndex,
        }
    }
}

/// The bits of `GemmParams::flags`, named; [`GemmFlags::encode`] and [`GemmFlags::decode`] are
/// the only places that know the bit positions (the constants of `shaders/gemm_common.wgsl`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GemmFlags {
    /// A is stored `[K, M]` (bit 0).
    pub trans_a: bool,
    /// B is stored `[K, N]` (bit 1).
    pub trans_b: bool,
    /// Scale of A (bits 2–3).
    pub scale_a: ScaleMode,
    /// Scale of B (bits 4–5).
    pub scale_b: ScaleMode,
    /// Add a bias per output column (bit 6).
    pub bias: bool,
    /// Split-K: store raw partials to `out[chunk]`, no epilogue (bit 7).
    pub raw_partials: bool,
    /// Rectify after the bias (bit 8).
    pub relu: bool,
    /// The backward of the ReLU before the layer, read from the bias binding (bits 9–10).
    pub gate: GateMode,
}

/// How a GEMM's epilogue does the backward of the ReLU before its layer (an input gradient's
/// GEMM, which has no bias: the gate takes the bias binding): a cell whose element the ReLU
/// zeroed becomes 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum GateMode {
    /// No gate.
    #[default]
    None,
    /// The ReLU's bit mask: bit `e % 32` of word `e / 32` set where its output was positive.
    Mask,
    /// The ReLU's f32 output: positive where it passed its input.
    Values,
}

impl GateMode {
    fn code(self) -> u32 {
        match self {
            GateMode::None => 0,
            GateMode::Mask => 1,
            GateMode::Values => 2,
        }
    }

    fn from_code(code: u32) -> Self {
        match code {
            1 => GateMode::Mask,
            2 => GateMode::Values,
            _ => GateMode::None,
        }
    }
}

impl GemmFlags {
    /// The flags word.
    pub fn encode(&self) -> u32 {
        self.trans_a as u32
            | (self.trans_b as u32) << 1
            | self.scale_a.code() << 2
            | self.scale_b.code() << 4
            | (self.bias as u32) << 6
            | (self.raw_partials as u32) << 7
            | (self.relu as u32) << 8
            | self.gate.code() << 9
    }

    /// The flags of a word written by [`GemmFlags::encode`].
    pub fn decode(word: u32) -> Self {
        GemmFlags {
            trans_a: word & 1 != 0,
            trans_b: word & 2 != 0,
            scale_a: ScaleMode::from_code((word >> 2) & 3),
            scale_b: ScaleMode::from_code((word >> 4) & 3),
            bias: word & (1 << 6) != 0,
            raw_partials: word & (1 << 7) != 0,
            relu: word & (1 << 8) != 0,
            gate: GateMode::from_code((word >> 9) & 3),
        }
    }
}

impl GemmParams {
    /// Parameters for `shape` cut into `k_chunk` split-K chunks, with the epilogue of `flags`
    /// (its layout and raw-partials bits are taken from `shape` and the chunk count).
    pub fn with_flags(shape: &GemmShape, k_chunk: u32, flags: GemmFlags) -> Self {
        let chunks = shape.chunks(k_chunk);
        let flags = GemmFlags {
            trans_a: shape.trans_a,
            trans_b: shape.trans_b,
            raw_partials: chunks > 1,
            ..flags
        };
        GemmParams {
            m: shape.m,
            n: shape.n,
            k: shape.k,
            k_chunk,
            flags: flags.encode(),
            chunks,
            bias_offset: 0,
            out_offset: 0,
        }
    }

    /// The decoded flags word.
    pub fn flags(&self) -> GemmFlags {
        GemmFlags::decode(self.flags)
    }

    /// The shape these parameters describe.
    pub fn shape(&self) -> GemmShape {
        let f = self.flags();
        GemmShape::new(self.m, self.n, self.k).with_trans(f.trans_a, f.trans_b)
    }
}

impl GemmVariant {
    /// Whether this variant runs a split-K chunk of `k_chunk` K values.
    pub fn accepts_k_chunk(self, k_chunk: u32, precision: Precision) -> bool {
        match self {
            GemmVariant::Wide(tile) => k_chunk <= tile.max_k_chunk(precision),
            // llvmpipe's 65,535 loop iterations per invocation, at about 40 per 16 K values.
            GemmVariant::Lanes8(_) => k_chunk <= 16_384,
            _ => true,
        }
    }

    /// Whether this variant computes `shape`: [`GemmVariant::Lanes8`] only operands of a
    /// multiple of 4 values each, for it binds them as vec4s (that it is f32-only, the
    /// variants a device offers say: `GemmVariant::available`).
    pub fn takes(self, shape: &GemmShape) -> bool {
        match self {
            GemmVariant::Lanes8(_) => {
                let whole = |rows: u32| (rows as u64 * shape.k as u64).is_multiple_of(4);
                whole(shape.m) && whole(shape.n)
            }
            _ => true,
        }
    }

    /// The variant of a GEMM kernel's name (`gemm_i8_regs_nt` → `(Regs, true)`; the int8
    /// register-blocked kernels are one per operand layout), for replaying dispatches.
    pub fn of_kernel(name: &str) -> Option<(GemmVariant, bool)> {
        let int8 = name.starts_with("gemm_i8");
        let variant = match name {
            "gemm_i8" | "gemm_f32" => GemmVariant::Tiled,
            "gemm_f32_regs"
            | "gemm_i8_regs_nn"
            | "gemm_i8_regs_nt"
            | "gemm_i8_regs_tn"
            | "gemm_i8_regs_tt"
            | "gemm_f32_regs_gated"
            | "gemm_i8_regs_nt_gated" => GemmVariant::Regs,
            _ => {
                if let Some(suffix) = name.strip_prefix("gemm_f32_lanes8_") {
                    let tile = Lanes8Tile::ALL.into_iter().find(|t| t.suffix() == suffix)?;
                    return Some((GemmVariant::Lanes8(tile), false));
                }
                let suffix = name
                    .strip_prefix("gemm_i8_wide_")
                    .or_else(|| name.strip_prefix("gemm_f32_wide_"))?;
                let tile = WideTile::ALL.into_iter().find(|t| t.suffix() == suffix)?;
                GemmVariant::Wide(tile)
            }
        };
        Some((variant, int8))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_round_trip() {
        for word in 0..(1u32 << 9) {
            // Mode 3 is unused and decodes as per-index.
            if (word >> 2) & 3 == 3 || (word >> 4) & 3 == 3 {
                continue;
            }
            assert_eq!(GemmFlags::decode(word).encode(), word);
        }
    }
}
