//! Twin of `shaders/gemm_i8.wgsl`.

use crate::abi::{
    ConvGemmParams, ConvGeometry, GEMM_I8_REGS_BLOCK, GEMM_TILE, GateMode, GemmParams, GemmShape,
    GemmVariant, REGS_BLOCK,
};
use crate::cpu::conv::column_byte;
use crate::cpu::gemm_reduce::split_k;
use crate::cpu::{
    self,
    replay::{Replay, Words, bad_bindings, gemm_call, no_twin, read},
};

/// K values per tile step.
const BK: u32 = 32;
const BK4: u32 = BK / 4;

/// WGSL's `dot4I8Packed`: the dot product of two packed 4×int8 vectors.
pub fn dot4_i8_packed(a: u32, b: u32) -> i32 {
    (0..4)
        .map(|j| ((a >> (8 * j)) as u8 as i8 as i32) * ((b >> (8 * j)) as u8 as i8 as i32))
        .sum()
}

/// Host-side twin of [`crate::ops::Scale`].
#[derive(Clone, Copy, Debug)]
pub enum CpuScale<'a> {
    /// 1.
    None,
    /// One value.
    Tensor(f32),
    /// One per row (A) or column (B).
    PerIndex(&'a [f32]),
}

impl CpuScale<'_> {
    fn at(&self, i: u32) -> f32 {
        match self {
            CpuScale::None => 1.0,
            CpuScale::Tensor(s) => *s,
            CpuScale::PerIndex(v) => v[i as usize],
        }
    }
}

/// Host-side twin of [`crate::ops::Epilogue`].
#[derive(Clone, Copy, Debug)]
pub struct CpuEpilogue<'a> {
    /// Scale of A.
    pub scale_a: CpuScale<'a>,
    /// Scale of B.
    pub scale_b: CpuScale<'a>,
    /// Bias per output column.
    pub bias: Option<&'a [f32]>,
    /// The rectifier after the bias.
    pub relu: bool,
    /// The backward of the ReLU before the layer.
    pub gate: Option<CpuGate<'a>>,
}

/// Host-side twin of [`crate::ops::gemm::ReluGate`]: the ReLU's mask or output as words, and
/// the output's columns (a cell's element is `gm · cols + gn`).
#[derive(Clone, Copy, Debug)]
pub struct CpuGate<'a> {
    /// [`GateMode::Mask`] or [`GateMode::Values`].
    pub mode: GateMode,
    /// Mask words, or the output's f32 bits.
    pub words: &'a [u32],
    /// Columns of the GEMM's output.
    pub cols: u32,
}

impl CpuGate<'_> {
    /// `gate()` of `shaders/gemm_common.wgsl`.
    pub fn apply(&self, v: f32, gm: u32, gn: u32) -> f32 {
        let e = gm * self.cols + gn;
        let kept = match self.mode {
            GateMode::None => true,
            GateMode::Mask => (self.words[(e / 32) as usize] >> (e % 32)) & 1 != 0,
            GateMode::Values => f32::from_bits(self.words[e as usize]) > 0.0,
        };
        if kept { v } else { 0.0 }
    }
}

impl CpuEpilogue<'_> {
    /// No scales, no bias.
    pub const NONE: CpuEpilogue<'static> = CpuEpilogue {
        scale_a: CpuScale::None,
        scale_b: CpuScale::None,
        bias: None,
        relu: false,
        gate: None,
    };

    /// `epilogue()` of `shaders/gemm_common.wgsl`.
    pub fn apply(&self, acc: f32, gm: u32, gn: u32) -> f32 {
        let mut v = acc * self.scale_a.at(gm) * self.scale_b.at(gn);
        if let Some(bias) = self.bias {
            v += bias[gn as usize];
        }
        if self.relu {
            v = crate::cpu::common::rectify(v);
        }
        match &self.gate {
            Some(g) => g.apply(v, gm, gn),
            None => v,
        }
    }
}

/// The packed word holding K values `4·k4 .. 4·k4+3` of operand row `row`, as the shader's tile
/// loaders produce it (zero outside the matrix; K tail bytes masked; transposed storage gathered
/// by a 4×4 byte transpose).
pub(crate) fn operand_word(src: &[u32], rows: u32, k: u32, trans: bool, row: u32, k4: u32) -> u32 {
    let k4_total = k.div_ceil(4);
    if !trans {
        if row >= rows || k4 >= k4_total {
            return 0;
        }
        let rem = k % 4;
        let mask = if k4 == k4_total - 1 && rem != 0 {
            (1u32 << (8 * rem)) - 1
        } else {
            u32::MAX
        };
        return src[(row * k4_total + k4) as usize] & mask;
    }
    let rows4 = rows.div_ceil(4);
    let (col, j) = (row / 4, row % 4);
    let mut out = 0u32;
    for t in 0..4 {
        let kk = 4 * k4 + t;
        if kk < k && col < rows4 {
            let w = src[(kk * rows4 + col) as usize];
            out |= ((w >> (8 * j)) & 0xff) << (8 * t);
        }
    }
    out
}

/// `out[M, N]` as the GPU computes it in `variant`: each chunk of `k_chunk` K values summed in
/// int32 and converted to f32, then either the epilogue (one chunk) or
/// [`gemm_reduce`](crate::cpu::gemm_reduce()) over the chunks. Every variant gives the same
/// result; each has its own pass so that each kernel has a twin of its loop shape.
pub fn gemm_i8(
    variant: GemmVariant,
    shape: &GemmShape,
    k_chunk: u32,
    a: &[u32],
    b: &[u32],
    epilogue: &CpuEpilogue<'_>,
    out: &mut [f32],
) {
    split_k(
        shape,
        shape.chunks(k_chunk),
        epilogue,
        out,
        |raw, dst| match variant {
            // Lanes8 has no int8 kernel; any tiling gives these integers.
            GemmVariant::Tiled | GemmVariant::Lanes8(_) => {
                gemm_i8_pass(shape, k_chunk, a, b, epilogue, raw, dst)
            }
            GemmVariant::Regs => gemm_i8_regs_pass(shape, k_chunk, a, b, epilogue, raw, dst),
            GemmVariant::Wide(tile) => {
                cpu::gemm_i8_wide::gemm_i8_wide_pass(shape, k_chunk, tile, a, b, epilogue, raw, dst)
            }
        },
    );
}

/// An int8 convolution's forward (`wgrad` false: `a` = x_q, one byte per NHWC element; `b` =
/// W_q) or weight gradient (`wgrad`: `a` = dY_q packed transposed, `b` = x_q) as
/// `conv_i8_regs` computes it; `shape` as for [`conv_f32`](crate::cpu::conv_f32).
#[allow(clippy::too_many_arguments)]
pub fn conv_i8(
    g: &ConvGeometry,
    wgrad: bool,
    shape: &GemmShape,
    k_chunk: u32,
    a: &[u32],
    b: &[u32],
    epilogue: &CpuEpilogue<'_>,
    out: &mut [f32],
) {
    split_k(shape, shape.chunks(k_chunk), epilogue, out, |raw, dst| {
        conv_i8_regs_pass(g, wgrad, shape, k_chunk, a, b, epilogue, raw, dst)
    });
}

/// One `conv_i8_regs` dispatch: the loop of [`gemm_i8_regs_pass`] with the column-matrix
/// operand's words (A of the forward, B of the weight gradient) gathered from x_q where they
/// are needed.
#[allow(clippy::too_many_arguments)]
pub fn conv_i8_regs_pass(
    g: &ConvGeometry,
    wgrad: bool,
    shape: &GemmShape,
    k_chunk: u32,
    a: &[u32],
    b: &[u32],
    epilogue: &CpuEpilogue<'_>,
    raw: bool,
    out: &mut [f32],
) {
    let (m, k) = (shape.m, shape.k);
    let k4_total = k.div_ceil(4);
    const B: usize = REGS_BLOCK as usize;
    // The packed word of K values 4·k4 .. 4·k4 + 3, zero past K.
    let gather = |byte: &dyn Fn(u32) -> u32, k4: u32| -> u32 {
        (0..4)
            .filter(|t| 4 * k4 + t < k)
            .map(|t| byte(4 * k4 + t) << (8 * t))
            .sum()
    };
    if wgrad {
        let dy_byte =
            |r: u32, p: u32| (a[(p * m.div_ceil(4) + r / 4) as usize] >> (8 * (r % 4))) & 0xff;
        let a_word = |r, k4| gather(&|p| dy_byte(r, p), k4);
        let b_word = |c, k4| gather(&|p| column_byte(g, b, p, c), k4);
        regs_pass::<B, B>(shape, k_chunk, (a_word, b_word), epilogue, raw, out);
    } else {
        let a_word = |r, k4| gather(&|t| column_byte(g, a, r, t), k4);
        let b_word = |c, k4| b[(c * k4_total + k4) as usize];
        regs_pass::<B, B>(shape, k_chunk, (a_word, b_word), epilogue, raw, out);
    }
}

/// One `gemm_i8_regs` dispatch: a 4×4 block per lane, one packed word of each of its rows per
/// step.
pub fn gemm_i8_regs_pass(
    shape: &GemmShape,
    k_chunk: u32,
    a: &[u32],
    b: &[u32],
    epilogue: &CpuEpilogue<'_>,
    raw: bool,
    out: &mut [f32],
) {
    let (m, n, k) = (shape.m, shape.n, shape.k);
    let a_word = |r, k4| operand_word(a, m, k, shape.trans_a, r, k4);
    let b_word = |c, k4| operand_word(b, n, k, shape.trans_b, c, k4);
    const B: (usize, usize) = (GEMM_I8_REGS_BLOCK.0 as usize, GEMM_I8_REGS_BLOCK.1 as usize);
    regs_pass::<{ B.0 }, { B.1 }>(shape, k_chunk, (a_word, b_word), epilogue, raw, out);
}

/// The register-blocked loop of `gemm_i8_regs` (4×8 blocks) and `conv_i8_regs` (4×4): a
/// `BM × BN` block per lane, one packed word (four K values) of each row per step, int32 sums;
/// `a_word(row, k4)` and `b_word(column, k4)` read the operands' words (rows past the edge are
/// clamped to the last, as on the GPU; their cells are dropped).
fn regs_pass<const BM: usize, const BN: usize>(
    shape: &GemmShape,
    k_chunk: u32,
    (a_word, b_word): (impl Fn(u32, u32) -> u32, impl Fn(u32, u32) -> u32),
    epilogue: &CpuEpilogue<'_>,
    raw: bool,
    out: &mut [f32],
) {
    let (m, n) = (shape.m, shape.n);
    let k4_total = shape.k.div_ceil(4);
    let chunk4 = k_chunk / 4;
    for z in 0..shape.chunks(k_chunk) {
        let (k40, k41) = (z * chunk4, ((z + 1) * chunk4).min(k4_total));
        for m0 in (0..m).step_by(BM) {
            for n0 in (0..n).step_by(BN) {
                let rows: [u32; BM] = std::array::from_fn(|i| (m0 + i as u32).min(m - 1));
                let cols: [u32; BN] = std::array::from_fn(|j| (n0 + j as u32).min(n - 1));
                let mut acc = [[0i32; BN]; BM];
                for k4 in k40..k41 {
                    let av = rows.map(|r| a_word(r, k4));
                    let bv = cols.map(|c| b_word(c, k4));
                    for i in 0..BM {
                        for j in 0..BN {
                            acc[i][j] = acc[i][j].wrapping_add(dot4_i8_packed(av[i], bv[j]));
                        }
                    }
                }
                for (i, row) in acc.iter().enumerate() {
                    for (j, &v) in row.iter().enumerate() {
                        let (gm, gn) = (m0 + i as u32, n0 + j as u32);
                        if gm < m && gn < n {
                            store_result(epilogue, raw, out, (m, n), v as f32, (gm, gn), z);
                        }
                    }
                }
            }
        }
    }
}

/// One `gemm_i8` dispatch: with `raw`, each chunk's int32 sums go to `out[z]` (the split-K
/// partials `gemm_reduce` then sums), else the finished values to `out`.
pub fn gemm_i8_pass(
    shape: &GemmShape,
    k_chunk: u32,
    a: &[u32],
    b: &[u32],
    epilogue: &CpuEpilogue<'_>,
    raw: bool,
    out: &mut [f32],
) {
    let (m, n) = (shape.m, shape.n);
    let steps = shape.k.div_ceil(BK);
    let steps_per_chunk = k_chunk / BK;
    let chunks = shape.chunks(k_chunk);
    for z in 0..chunks {
        let (step0, step1) = (z * steps_per_chunk, ((z + 1) * steps_per_chunk).min(steps));
        for wy in 0..m.div_ceil(GEMM_TILE) {
            for wx in 0..n.div_ceil(GEMM_TILE) {
                for ly in 0..16 {
                    for lx in 0..16 {
                        let mut acc = [0i32; 16];
                        for step in step0..step1 {
                            for kk in 0..BK4 {
                                let k4 = step * BK4 + kk;
                                for i in 0..4 {
                                    let gm = wy * GEMM_TILE + ly + 16 * i;
                                    for j in 0..4 {
                                        let gn = wx * GEMM_TILE + lx + 16 * j;
                                        // Cells outside the output are computed and dropped on
                                        // the GPU; skipping them here changes no kept value.
                                        if gm >= m || gn >= n {
                                            continue;
                                        }
                                        let av = operand_word(a, m, shape.k, shape.trans_a, gm, k4);
                                        let bv = operand_word(b, n, shape.k, shape.trans_b, gn, k4);
                                        let cell = (i * 4 + j) as usize;
                                        acc[cell] = acc[cell].wrapping_add(dot4_i8_packed(av, bv));
                                    }
                                }
                            }
                        }
                        let (row0, col0) = (wy * GEMM_TILE + ly, wx * GEMM_TILE + lx);
                        let acc = acc.map(|v| v as f32);
                        store_block(epilogue, raw, out, (m, n), &acc, (row0, col0), 16, z);
                    }
                }
            }
        }
    }
}

/// `store_block()` of `shaders/gemm_common.wgsl`: a 4×4 block, rows `row0 + step·i`, columns
/// `col0 + step·j`, inside the output only.
#[allow(clippy::too_many_arguments)]
pub(crate) fn store_block(
    epilogue: &CpuEpilogue<'_>,
    raw: bool,
    out: &mut [f32],
    (m, n): (u32, u32),
    acc: &[f32; 16],
    (row0, col0): (u32, u32),
    step: u32,
    z: u32,
) {
    for i in 0..4 {
        for j in 0..4 {
            let (gm, gn) = (row0 + step * i, col0 + step * j);
            if gm < m && gn < n {
                let v = acc[(i * 4 + j) as usize];
                store_result(epilogue, raw, out, (m, n), v, (gm, gn), z);
            }
        }
    }
}

/// `store_result()` of `shaders/gemm_common.wgsl`: chunk `z`'s raw partial, or the finished
/// value.
pub(crate) fn store_result(
    epilogue: &CpuEpilogue<'_>,
    raw: bool,
    out: &mut [f32],
    (m, n): (u32, u32),
    acc: f32,
    (gm, gn): (u32, u32),
    z: u32,
) {
    if raw {
        out[((z * m + gm) * n + gn) as usize] = acc;
    } else {
        out[(gm * n + gn) as usize] = epilogue.apply(acc, gm, gn);
    }
}

/// Replays dispatches of the int8 GEMMs and implicit int8 convolutions on their twins.
pub(crate) const REPLAY: Replay = Replay {
    kernels: &[
        "gemm_i8",
        "gemm_i8_regs_nn",
        "gemm_i8_regs_nt",
        "gemm_i8_regs_tn",
        "gemm_i8_regs_tt",
        "gemm_i8_regs_nt_gated",
        "conv_i8_regs_fwd",
        "conv_i8_regs_wgrad",
        "conv_i8_regs_fwd_c4",
        "conv_i8_regs_wgrad_c4",
    ],
    run: replay,
    // Split-K partials of the int8 GEMM are its int32 accumulators, held exactly in f32.
    words: |kernel, binding, params| {
        let p = if kernel.starts_with("conv") {
            read::<ConvGemmParams>(params).gemm
        } else {
            read::<GemmParams>(params)
        };
        if binding == "out" && p.flags().raw_partials {
            Words::Exact
        } else {
            Words::Float
        }
    },
};

fn replay(kernel: &str, params: &[u8], bufs: &mut [Vec<u32>]) -> Result<(), String> {
    let bad = || bad_bindings(kernel);
    let [a, b, sa, sb, bias, out] = bufs else {
        return Err(bad());
    };
    if kernel.starts_with("conv_i8_regs") {
        let p: ConvGemmParams = read(params);
        let c = gemm_call(&p.gemm, sa, sb, bias, out);
        let (g, wgrad) = (p.conv.geometry(), kernel.contains("wgrad"));
        let k_chunk = p.gemm.k_chunk;
        conv_i8_regs_pass(
            &g,
            wgrad,
            &c.shape,
            k_chunk,
            a,
            b,
            &c.epilogue,
            c.raw,
            c.out,
        );
    } else {
        let p: GemmParams = read(params);
        let pass = match GemmVariant::of_kernel(kernel).ok_or_else(bad)?.0 {
            GemmVariant::Tiled => gemm_i8_pass,
            GemmVariant::Regs => gemm_i8_regs_pass,
            GemmVariant::Wide(_) | GemmVariant::Lanes8(_) => return Err(no_twin(kernel)),
        };
        let c = gemm_call(&p, sa, sb, bias, out);
        pass(&c.shape, p.k_chunk, a, b, &c.epilogue, c.raw, c.out);
    }
    Ok(())
}
