//! Runs a recorded dispatch on its CPU twin: the kernel's name selects the twin's replay
//! adapter (declared beside the twin, `REPLAY` in each twin's file), its parameter bytes are
//! decoded back into the twin's arguments, and its bindings are CPU copies of the GPU buffers.
//! The trainer's lockstep check (`Trainer::train_step_checked`) replays a whole training step
//! this way, dispatch by dispatch.

use bytemuck::Pod;

use crate::abi::{
    BatchNormConfig, BatchNormParams, GateMode, GemmParams, GemmShape, Layout, ScaleMode,
    StatsParams,
};
use crate::cpu::gemm_i8::{CpuEpilogue, CpuGate, CpuScale};

/// How the words of a kernel's output compare between GPU and twin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Words {
    /// Every word bit for bit: integers, packed int8, exactly computed scales.
    Exact,
    /// f32 values, within a tolerance.
    Float,
    /// A repeated struct: `true` marks a word compared bit for bit, `false` an f32.
    Struct(&'static [bool]),
}

/// A [`crate::abi::ChannelStat`]: four f32, then four counts.
pub(crate) const CHANNEL_STAT: Words =
    Words::Struct(&[false, false, false, false, true, true, true, true]);
/// A [`crate::abi::StatsPartial`]: four f32, then two counts and padding.
pub(crate) const STATS_PARTIAL: Words =
    Words::Struct(&[false, false, false, false, true, true, true, true]);
/// A [`crate::abi::ClipSummary`]: three computed f32, two counts, the max|g| (a maximum of the
/// inputs: exact), padding.
pub(crate) const CLIP_SUMMARY: Words =
    Words::Struct(&[false, false, false, true, true, true, true, true]);

/// Runs one dispatch on a twin: kernel name, parameter bytes, bindings 1.. as words.
pub type ReplayFn = fn(&str, &[u8], &mut [Vec<u32>]) -> Result<(), String>;

/// How the statistics kernels' outputs compare: their partial and final records.
pub(crate) fn stats_words(_kernel: &str, binding: &str, _params: &[u8]) -> Words {
    match binding {
        "partials" => STATS_PARTIAL,
        "stats" => CHANNEL_STAT,
        _ => Words::Float,
    }
}

/// One twin's replay adapter.
pub struct Replay {
    /// The kernels (`KernelDef::name`) it replays.
    pub kernels: &'static [&'static str],
    /// Runs one dispatch: kernel name, parameter bytes, bindings 1.. as words.
    pub run: ReplayFn,
    /// How an output binding (by name) compares, given the kernel and parameter bytes.
    pub words: fn(&str, &str, &[u8]) -> Words,
}

/// The adapter that replays `kernel`, if a twin declares one.
pub fn adapter(kernel: &str) -> Option<&'static Replay> {
    crate::cpu::REPLAYS
        .iter()
        .copied()
        .find(|r| r.kernels.contains(&kernel))
}

/// Runs one dispatch of `kernel` with parameter bytes `params` on its twin. `bufs` are the
/// contents of bindings 1.. as words, in declaration order; the twin overwrites the outputs.
/// Fails on a kernel without a twin or bindings that do not fit the parameters.
pub fn replay(kernel: &str, params: &[u8], bufs: &mut [Vec<u32>]) -> Result<(), String> {
    let replay = adapter(kernel).ok_or_else(|| no_twin(kernel))?;
    (replay.run)(kernel, params, bufs)
}

/// How output `binding` (its name in the kernel declaration) of `kernel` compares; `params` are
/// the dispatch's parameter bytes.
pub fn output_words(kernel: &str, binding: &str, params: &[u8]) -> Words {
    adapter(kernel).map_or(Words::Float, |r| (r.words)(kernel, binding, params))
}

pub(crate) fn no_twin(kernel: &str) -> String {
    format!("no twin is wired for replaying kernel {kernel}")
}

pub(crate) fn bad_bindings(kernel: &str) -> String {
    format!("replay of {kernel}: bindings do not match the kernel")
}

pub(crate) fn read<P: Pod>(params: &[u8]) -> P {
    bytemuck::pod_read_unaligned(&params[..size_of::<P>()])
}

pub(crate) fn f32s(words: &[u32]) -> &[f32] {
    bytemuck::cast_slice(words)
}

pub(crate) fn f32s_mut(words: &mut [u32]) -> &mut [f32] {
    bytemuck::cast_slice_mut(words)
}

/// The whole `T`s at the start of `words`.
pub(crate) fn structs<T: Pod>(words: &[u32]) -> &[T] {
    let n = size_of::<T>() / 4;
    bytemuck::cast_slice(&words[..words.len() / n * n])
}

pub(crate) fn structs_mut<T: Pod>(words: &mut [u32]) -> &mut [T] {
    let n = size_of::<T>() / 4;
    let len = words.len() / n * n;
    bytemuck::cast_slice_mut(&mut words[..len])
}

fn scale(mode: ScaleMode, words: &[u32]) -> CpuScale<'_> {
    match mode {
        ScaleMode::None => CpuScale::None,
        ScaleMode::Tensor => CpuScale::Tensor(f32s(words)[0]),
        ScaleMode::PerIndex => CpuScale::PerIndex(f32s(words)),
    }
}

pub(crate) fn epilogue<'a>(
    p: &GemmParams,
    sa: &'a [u32],
    sb: &'a [u32],
    bias: &'a [u32],
) -> CpuEpilogue<'a> {
    let f = p.flags();
    CpuEpilogue {
        scale_a: scale(f.scale_a, sa),
        scale_b: scale(f.scale_b, sb),
        bias: f.bias.then(|| &f32s(bias)[p.bias_offset as usize..]),
        relu: f.relu,
        gate: (f.gate != GateMode::None).then_some(CpuGate {
            mode: f.gate,
            words: bias,
            cols: p.n,
        }),
    }
}

/// A GEMM dispatch as its twin takes it, read from its parameters and bindings.
pub(crate) struct GemmCall<'a> {
    pub shape: GemmShape,
    pub epilogue: CpuEpilogue<'a>,
    /// The dispatch stores raw split-K partials (`out[z][M][N]`) rather than finished cells.
    pub raw: bool,
    /// The output cells: `M·N`, times the chunks when `raw`.
    pub out: &'a mut [f32],
}

pub(crate) fn gemm_call<'a>(
    p: &GemmParams,
    sa: &'a [u32],
    sb: &'a [u32],
    bias: &'a [u32],
    out: &'a mut [u32],
) -> GemmCall<'a> {
    let raw = p.flags().raw_partials;
    let chunks = if raw { p.chunks } else { 1 };
    GemmCall {
        shape: p.shape(),
        epilogue: epilogue(p, sa, sb, bias),
        raw,
        out: &mut f32s_mut(out)[..p.m as usize * p.n as usize * chunks as usize],
    }
}

pub(crate) fn stats_layout(p: &StatsParams) -> Layout {
    Layout::new(p.rows, p.cols, crate::abi::ChannelAxis::from_code(p.axis))
}

pub(crate) fn bn_config(p: &BatchNormParams) -> BatchNormConfig {
    BatchNormConfig {
        eps: p.eps,
        momentum: p.momentum,
    }
}
