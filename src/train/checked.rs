//! A training step run one dispatch at a time, each replayed on its CPU twin from the GPU's own
//! state before it: integer outputs must agree bit for bit, float outputs within a tolerance.
//! Lockstep (rather than a free-running CPU step) keeps float rounding differences from
//! compounding, so any integer mismatch is the kernel's and not an echo of an earlier one.

use std::collections::HashMap;

use crate::cpu::replay::{Words, output_words, replay};
use crate::error::{Error, Result};
use crate::gpu::kernel::BindType;
use crate::gpu::{Context, Prepared, Recording};

/// What replaying one dispatch of a checked step on its CPU twin found.
#[derive(Clone, Debug, PartialEq)]
pub struct DispatchCheck {
    /// Position of the dispatch in the step.
    pub index: usize,
    /// The kernel.
    pub kernel: &'static str,
    /// Words compared bit for bit: packed int8, integer counts and indices, int32 split-K
    /// partials, exactly computed scales.
    pub exact_words: usize,
    /// How many of them differed.
    pub exact_mismatches: usize,
    /// f32 values compared.
    pub float_values: usize,
    /// Largest difference between GPU and twin, relative to the largest magnitude in the same
    /// output buffer (infinite where only one side is NaN).
    pub max_float_error: f64,
}

/// Runs `dispatches` (prepared from `recording`) one per submit and replays each on its twin.
pub(crate) async fn run(
    ctx: &Context,
    recording: &Recording,
    dispatches: &[Prepared],
) -> Result<Vec<DispatchCheck>> {
    // wgpu::Buffer hashes by its id, which never changes; its interior mutability is the
    // mapping state, irrelevant here.
    #[allow(clippy::mutable_key_type)]
    let mut mirror: HashMap<wgpu::Buffer, Vec<u32>> = HashMap::new();
    let mut checks = Vec::new();
    for (index, (d, prepared)) in recording.dispatches.iter().zip(dispatches).enumerate() {
        let mut bufs = Vec::with_capacity(d.buffers.len());
        for b in &d.buffers {
            if !mirror.contains_key(&b.buffer) {
                mirror.insert(b.buffer.clone(), ctx.read_buffer_async(&b.buffer).await?);
            }
            bufs.push(mirror[&b.buffer][b.words()].to_vec());
        }
        replay(d.def.name, &d.params, &mut bufs).map_err(|reason| Error::InvalidArgument {
            op: "train_step_checked",
            reason,
        })?;
        let mut encoder = ctx.encoder("checked_step");
        prepared.encode(&mut encoder);
        ctx.submit(encoder)?;
        let mut check = DispatchCheck {
            index,
            kernel: d.def.name,
            exact_words: 0,
            exact_mismatches: 0,
            float_values: 0,
            max_float_error: 0.0,
        };
        for (j, b) in d.buffers.iter().enumerate() {
            let (name, kind) = d.def.bindings[j + 1];
            if kind != BindType::ReadWrite {
                continue;
            }
            let gpu: Vec<u32> = ctx.read_buffer_async(&b.buffer).await?;
            compare(
                output_words(d.def.name, name, &d.params),
                &gpu[b.words()],
                &bufs[j],
                &mut check,
            );
            mirror.insert(b.buffer.clone(), gpu);
        }
        checks.push(check);
    }
    Ok(checks)
}

fn compare(words: Words, gpu: &[u32], cpu: &[u32], check: &mut DispatchCheck) {
    let exact_at = |i: usize| match words {
        Words::Exact => true,
        Words::Float => false,
        Words::Struct(pattern) => pattern[i % pattern.len()],
    };
    let scale = (0..cpu.len())
        .filter(|&i| !exact_at(i))
        .map(|i| f32::from_bits(cpu[i]).abs() as f64)
        .filter(|v| v.is_finite())
        .fold(f64::MIN_POSITIVE, f64::max);
    for (i, (&g, &c)) in gpu.iter().zip(cpu).enumerate() {
        if exact_at(i) {
            check.exact_words += 1;
            check.exact_mismatches += (g != c) as usize;
            continue;
        }
        check.float_values += 1;
        let (g, c) = (f32::from_bits(g) as f64, f32::from_bits(c) as f64);
        let err = match (g.is_nan(), c.is_nan()) {
            (true, true) => 0.0,
            (false, false) if g == c => 0.0,
            (false, false) => (g - c).abs() / scale,
            _ => f64::INFINITY,
        };
        check.max_float_error = check.max_float_error.max(err);
    }
}
