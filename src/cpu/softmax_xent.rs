//! Twin of `shaders/softmax_xent.wgsl`.

use crate::abi::XentParams;
use crate::cpu::{
    self,
    replay::{Replay, Words, bad_bindings, f32s, f32s_mut, read},
};
/// Loss, gradient of the batch mean and correctness per row.
pub fn softmax_xent(
    classes: usize,
    logits: &[f32],
    labels: &[u32],
    dlogits: &mut [f32],
    row_loss: &mut [f32],
    correct: &mut [u32],
) {
    let batch = labels.len();
    for row in 0..batch {
        let base = row * classes;
        let label = labels[row] as usize;
        let mut m = logits[base];
        let mut arg = 0;
        for c in 1..classes {
            if logits[base + c] > m {
                m = logits[base + c];
                arg = c;
            }
        }
        let mut s = 0f32;
        for c in 0..classes {
            s += (logits[base + c] - m).exp();
        }
        let valid = label < classes;
        let inv_batch = 1.0 / batch as f32;
        for c in 0..classes {
            let p = (logits[base + c] - m).exp() / s;
            let target = if c == label { 1.0 } else { 0.0 };
            dlogits[base + c] = if valid { (p - target) * inv_batch } else { 0.0 };
        }
        if valid {
            row_loss[row] = s.ln() - (logits[base + label] - m);
            correct[row] = (arg == label) as u32;
        } else {
            row_loss[row] = 0.0;
            correct[row] = 0;
        }
    }
}

/// Replays dispatches of `softmax_xent` on this twin.
pub(crate) const REPLAY: Replay = Replay {
    kernels: &["softmax_xent"],
    run: replay,
    words: |_, binding, _| match binding {
        "correct" => Words::Exact,
        _ => Words::Float,
    },
};

fn replay(kernel: &str, params: &[u8], bufs: &mut [Vec<u32>]) -> Result<(), String> {
    let bad = || bad_bindings(kernel);
    let p: XentParams = read(params);
    let [logits, labels, dlogits, row_loss, correct] = bufs else {
        return Err(bad());
    };
    let (b, c) = (p.batch as usize, p.classes as usize);
    cpu::softmax_xent(
        c,
        &f32s(logits)[..b * c],
        &labels[..b],
        &mut f32s_mut(dlogits)[..b * c],
        &mut f32s_mut(row_loss)[..b],
        &mut correct[..b],
    );
    Ok(())
}
