//! Twin of `shaders/quantize.wgsl`.

use crate::abi::{ChannelAxis, Layout, QuantizeParams, Rounding, STATS_RECORD_WORDS};
use crate::cpu::common::{
    channel_of, clip_is_valid, inv_step, is_finite_f32, pack4x_i8, quantize_one, rng_u32, step_of,
};
use crate::cpu::{
    self,
    replay::{Replay, Words, bad_bindings, f32s, f32s_mut, read},
};

/// Quantizes `input` (`layout.len()`) with `clips` (`layout.channels()`) into `packed`
/// (`layout.packed_words()`) and `scales` (`layout.channels()`), as the GPU kernel does; with
/// `relu_mask` (`layout.cols` a multiple of 4) also the bits of `input > 0`, whole words.
pub fn quantize(
    layout: &Layout,
    rounding: Rounding,
    input: &[f32],
    clips: &[f32],
    packed: &mut [u32],
    scales: &mut [f32],
    mut relu_mask: Option<&mut [u32]>,
) {
    let (rows, cols, cols4) = (layout.rows, layout.cols, layout.cols4());
    let (stochastic, seed) = begin(layout, rounding, relu_mask.as_deref_mut());
    // One iteration per GPU invocation.
    for idx in 0..rows * cols4 {
        let r = idx / cols4;
        let c4 = idx % cols4;
        let mut q = [0i32; 4];
        for j in 0..4 {
            let c = c4 * 4 + j;
            if c >= cols {
                break;
            }
            let ch = channel_of(layout.axis, r, c) as usize;
            let clip = clips[ch];
            let valid = clip_is_valid(clip);
            let first = match layout.axis {
                ChannelAxis::Tensor => r == 0 && c == 0,
                ChannelAxis::Rows => c == 0,
                ChannelAxis::Cols => r == 0,
            };
            if first {
                scales[ch] = if valid { step_of(clip) } else { 0.0 };
            }
            let e = r * cols + c;
            if let Some(mask) = relu_mask.as_deref_mut()
                && input[e as usize] > 0.0
            {
                mask[(e / 32) as usize] |= 1 << (e % 32);
            }
            if valid {
                let rnd = if stochastic { rng_u32(seed, e) } else { 0 };
                q[j as usize] =
                    quantize_one(input[e as usize], clip, inv_step(clip), stochastic, rnd);
            }
        }
        packed[idx as usize] = pack4x_i8(q);
    }
}

/// `rounding` as the kernels take it (stochastic, seed), once the mask words the pass gathers
/// bit by bit are cleared.
fn begin(layout: &Layout, rounding: Rounding, relu_mask: Option<&mut [u32]>) -> (bool, u32) {
    if let Some(mask) = relu_mask {
        mask[..layout.len().div_ceil(32)].fill(0);
    }
    match rounding {
        Rounding::Nearest => (false, 0),
        Rounding::Stochastic { seed } => (true, seed),
    }
}

/// `quantize_fold`: a per-tensor `layout` whose clip is the largest max|x| of the `parts`
/// partial records (8 words each) at the start of `clips`, which is also written as the first
/// word of record `parts`; then the same bits as [`quantize`] with that clip.
#[allow(clippy::too_many_arguments)]
pub fn quantize_fold(
    layout: &Layout,
    rounding: Rounding,
    input: &[f32],
    clips: &mut [f32],
    parts: u32,
    packed: &mut [u32],
    scales: &mut [f32],
    relu_mask: Option<&mut [u32]>,
) {
    // The GPU's lane 0 of each workgroup, in the same order.
    let mut clip = 0.0f32;
    for p in 0..parts {
        clip = clip.max(clips[(p * STATS_RECORD_WORDS) as usize]);
    }
    clips[(parts * STATS_RECORD_WORDS) as usize] = clip;
    quantize_tensor(layout, rounding, input, clip, packed, scales, relu_mask);
}

/// The words of the `_fold` and `_scan` variants, whose one clip every lane knows before it
/// quantizes (`quantize_word_tensor`): [`quantize`] with that clip, the scale written once.
fn quantize_tensor(
    layout: &Layout,
    rounding: Rounding,
    input: &[f32],
    clip: f32,
    packed: &mut [u32],
    scales: &mut [f32],
    mut relu_mask: Option<&mut [u32]>,
) {
    let (rows, cols, cols4) = (layout.rows, layout.cols, layout.cols4());
    let (stochastic, seed) = begin(layout, rounding, relu_mask.as_deref_mut());
    let valid = clip_is_valid(clip);
    let inv = inv_step(clip);
    scales[0] = if valid { step_of(clip) } else { 0.0 };
    // One iteration per GPU word.
    for idx in 0..rows * cols4 {
        let c = idx % cols4 * 4;
        // The index of the word's first element; past the last column its values stay 0.
        let e = idx / cols4 * cols + c;
        let mut word = [0f32; 4];
        let values = (cols - c).min(4) as usize;
        word[..values].copy_from_slice(&input[e as usize..e as usize + values]);
        let mut q = [0i32; 4];
        if valid {
            for (j, (q, &x)) in q.iter_mut().zip(&word).enumerate() {
                let rnd = if stochastic {
                    rng_u32(seed, e + j as u32)
                } else {
                    0
                };
                *q = quantize_one(x, clip, inv, stochastic, rnd);
            }
        }
        packed[idx as usize] = pack4x_i8(q);
        if let Some(mask) = relu_mask.as_deref_mut() {
            for (j, &x) in word.iter().enumerate() {
                let bit = e + j as u32;
                if x > 0.0 {
                    mask[(bit / 32) as usize] |= 1 << (bit % 32);
                }
            }
        }
    }
}

/// `quantize_scan`: a per-tensor `layout` whose clip is max|x| over the finite elements of
/// `input`, taken as each GPU workgroup takes it (lane `l` over vec4s `l`, `l + 256`, ..., then
/// over the elements past the last whole vec4, then a tree) and written to `clips[0]`; then the
/// same bits as [`quantize`] with that clip.
pub fn quantize_scan(
    layout: &Layout,
    rounding: Rounding,
    input: &[f32],
    clips: &mut [f32],
    packed: &mut [u32],
    scales: &mut [f32],
    relu_mask: Option<&mut [u32]>,
) {
    const LANES: usize = 256;
    let finite_abs = |x: f32| if is_finite_f32(x) { x.abs() } else { 0.0 };
    let n = layout.len();
    let (vec4s, tail) = input[..n].split_at(n - n % 4);
    let mut lanes = [0f32; LANES];
    for (l, m) in lanes.iter_mut().enumerate() {
        for v in vec4s.chunks_exact(4).skip(l).step_by(LANES) {
            let [a, b, c, d] = [v[0], v[1], v[2], v[3]].map(finite_abs);
            *m = m.max(a.max(b).max(c.max(d)));
        }
        for &x in tail.iter().skip(l).step_by(LANES) {
            *m = m.max(finite_abs(x));
        }
    }
    let mut stride = LANES / 2;
    while stride > 0 {
        for l in 0..stride {
            lanes[l] = lanes[l].max(lanes[l + stride]);
        }
        stride /= 2;
    }
    clips[0] = lanes[0];
    quantize_tensor(layout, rounding, input, lanes[0], packed, scales, relu_mask);
}

/// Replays dispatches of `quantize`, `quantize_relu_mask` and their `_fold` and `_scan`
/// variants on this twin.
pub(crate) const REPLAY: Replay = Replay {
    kernels: &[
        "quantize",
        "quantize_relu_mask",
        "quantize_fold",
        "quantize_relu_mask_fold",
        "quantize_scan",
        "quantize_relu_mask_scan",
    ],
    run: replay,
    words: |_, _, _| Words::Exact,
};

fn replay(kernel: &str, params: &[u8], bufs: &mut [Vec<u32>]) -> Result<(), String> {
    let bad = || bad_bindings(kernel);
    let p: QuantizeParams = read(params);
    // input4 is input's whole vec4s again.
    let [input, clips, packed, scales, mask, _input4] = bufs else {
        return Err(bad());
    };
    let layout = Layout::new(p.rows, p.cols, ChannelAxis::from_code(p.axis));
    let marks = kernel.starts_with("quantize_relu_mask");
    let rounding = match p.rounding {
        0 => Rounding::Nearest,
        _ => Rounding::Stochastic { seed: p.seed },
    };
    let n = (p.rows * p.cols) as usize;
    let (nw, nc) = (layout.packed_words(), layout.channels());
    let mask = marks.then_some(&mut mask[..]);
    let (packed, scales) = (&mut packed[..nw], &mut f32s_mut(scales)[..nc]);
    if kernel.ends_with("_fold") {
        let clips = &mut f32s_mut(clips)[p.clip_offset as usize..];
        cpu::quantize_fold(
            &layout,
            rounding,
            &f32s(input)[..n],
            clips,
            p.clip_parts,
            packed,
            scales,
            mask,
        );
    } else if kernel.ends_with("_scan") {
        let clips = &mut f32s_mut(clips)[p.clip_offset as usize..];
        cpu::quantize_scan(
            &layout,
            rounding,
            &f32s(input)[..n],
            clips,
            packed,
            scales,
            mask,
        );
    } else {
        let clips = &f32s(clips)[p.clip_offset as usize..];
        cpu::quantize(
            &layout,
            rounding,
            &f32s(input)[..n],
            clips,
            packed,
            scales,
            mask,
        );
    }
    Ok(())
}
