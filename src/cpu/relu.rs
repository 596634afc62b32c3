//! Twin of `shaders/relu.wgsl`.

use crate::abi::{RELU_BACKWARD, RELU_CAP6, RELU_MASKED, ReluParams};
use crate::cpu::{
    self,
    replay::{Replay, Words, bad_bindings, f32s, f32s_mut, read},
};
/// What the backward reads to know which elements were positive (see
/// [`crate::ops::relu::ReluSaved`]).
#[derive(Clone, Copy, Debug)]
pub enum ReluSaved<'a> {
    /// The forward's input or output.
    Values(&'a [f32]),
    /// The mask the forward wrote: bit `i % 32` of word `i / 32`.
    Mask(&'a [u32]),
}

/// Whether the gradient passes at `x`: `x > 0`, and for ReLU6 (`cap6`) also `x < 6`.
fn passes(x: f32, cap6: bool) -> bool {
    x > 0.0 && !(cap6 && x >= 6.0)
}

/// Forward of the rectifier (ReLU6 with `cap6`); with `mask`, also a bit per element set where
/// the gradient passes. The kernel's workgroups write whole words, so the last word's bits
/// past `out.len()` are 0.
pub fn relu_forward(x: &[f32], cap6: bool, mask: Option<&mut [u32]>, out: &mut [f32]) {
    for i in 0..out.len() {
        let r = crate::cpu::common::rectify(x[i]);
        out[i] = if cap6 && r > 6.0 { 6.0 } else { r };
    }
    if let Some(mask) = mask {
        for (w, word) in mask.iter_mut().enumerate().take(out.len().div_ceil(32)) {
            *word = 0;
            for b in 0..32 {
                let i = w * 32 + b;
                if i < out.len() && passes(x[i], cap6) {
                    *word |= 1 << b;
                }
            }
        }
    }
}

/// Backward of the rectifier (ReLU6 with `cap6`): `out = passes ? dy : 0`.
pub fn relu_backward(saved: ReluSaved<'_>, cap6: bool, dy: &[f32], out: &mut [f32]) {
    for i in 0..out.len() {
        let keep = match saved {
            ReluSaved::Values(x) => passes(x[i], cap6),
            ReluSaved::Mask(m) => (m[i / 32] >> (i % 32)) & 1 != 0,
        };
        out[i] = if keep { dy[i] } else { 0.0 };
    }
}

/// Replays dispatches of `relu` on this twin.
pub(crate) const REPLAY: Replay = Replay {
    kernels: &["relu"],
    run: replay,
    words: |_, binding, _| match binding {
        "mask" => Words::Exact,
        _ => Words::Float,
    },
};

fn replay(kernel: &str, params: &[u8], bufs: &mut [Vec<u32>]) -> Result<(), String> {
    let bad = || bad_bindings(kernel);
    let p: ReluParams = read(params);
    let [x, dy, mask, out] = bufs else {
        return Err(bad());
    };
    let out = &mut f32s_mut(out)[..p.n as usize];
    let masked = p.flags & RELU_MASKED != 0;
    let cap6 = p.flags & RELU_CAP6 != 0;
    if p.flags & RELU_BACKWARD != 0 {
        let saved = if masked {
            cpu::ReluSaved::Mask(mask)
        } else {
            cpu::ReluSaved::Values(f32s(x))
        };
        cpu::relu_backward(saved, cap6, f32s(dy), out);
    } else {
        cpu::relu_forward(f32s(x), cap6, masked.then_some(&mut mask[..]), out);
    }
    Ok(())
}
