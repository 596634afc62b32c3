//! Twin of `shaders/quantize_pair.wgsl`.

use crate::abi::QuantizePairParams;
use crate::cpu::common::{clip_is_valid, inv_step, pack4x_i8, quantize_one, rng_u32, step_of};
use crate::cpu::{
    self,
    replay::{Replay, Words, bad_bindings, f32s, f32s_mut, read},
};

/// `quantize_pair`: two copies of a `rows × cols` `input` in one loop, as the GPU kernel makes
/// them — `packed`/`scale` with one clip, the largest of `clips`, rounded with `seeds.0`, and
/// `packed_channels`/`scales_channels` with `clips[c]` for column `c`, rounded with `seeds.1`.
#[allow(clippy::too_many_arguments)]
pub fn quantize_pair(
    (rows, cols): (u32, u32),
    stochastic: bool,
    seeds: (u32, u32),
    input: &[f32],
    clips: &[f32],
    (packed, scale): (&mut [u32], &mut [f32]),
    (packed_channels, scales_channels): (&mut [u32], &mut [f32]),
) {
    let cols4 = cols.div_ceil(4);
    let tensor_clip = fold_column_clips(&clips[..cols as usize]);
    // One iteration per GPU word; the kernel takes each step's reciprocal once per workgroup,
    // the same values as here per value.
    for idx in 0..rows * cols4 {
        let r = idx / cols4;
        let c4 = idx % cols4;
        let valid = clip_is_valid(tensor_clip);
        let inv = inv_step(tensor_clip);
        if idx == 0 {
            scale[0] = if valid { step_of(tensor_clip) } else { 0.0 };
        }
        let (mut q, mut qc) = ([0i32; 4], [0i32; 4]);
        for j in 0..4 {
            let c = c4 * 4 + j;
            if c >= cols {
                break;
            }
            let clip_c = clips[c as usize];
            let valid_c = clip_is_valid(clip_c);
            if r == 0 {
                scales_channels[c as usize] = if valid_c { step_of(clip_c) } else { 0.0 };
            }
            let e = r * cols + c;
            let x = input[e as usize];
            if valid {
                let rnd = if stochastic { rng_u32(seeds.0, e) } else { 0 };
                q[j as usize] = quantize_one(x, tensor_clip, inv, stochastic, rnd);
            }
            if valid_c {
                let rnd = if stochastic { rng_u32(seeds.1, e) } else { 0 };
                qc[j as usize] = quantize_one(x, clip_c, inv_step(clip_c), stochastic, rnd);
            }
        }
        packed[idx as usize] = pack4x_i8(q);
        packed_channels[idx as usize] = pack4x_i8(qc);
    }
}

/// The largest of `clips` in a workgroup's order: lane 0 over every column where there are at
/// most 256, else lane `l` over columns `l`, `l + 256`, ..., then a tree over the lanes.
fn fold_column_clips(clips: &[f32]) -> f32 {
    const LANES: usize = 256;
    if clips.len() <= LANES {
        return clips.iter().fold(0.0, |m, &c| m.max(c));
    }
    let mut lanes = [0f32; LANES];
    for (l, m) in lanes.iter_mut().enumerate() {
        for &c in clips.iter().skip(l).step_by(LANES) {
            *m = m.max(c);
        }
    }
    let mut stride = LANES / 2;
    while stride > 0 {
        for l in 0..stride {
            lanes[l] = lanes[l].max(lanes[l + stride]);
        }
        stride /= 2;
    }
    lanes[0]
}

/// Replays dispatches of `quantize_pair` on its twin.
pub(crate) const REPLAY: Replay = Replay {
    kernels: &["quantize_pair"],
    run: replay_pair,
    words: |_, _, _| Words::Exact,
};

fn replay_pair(kernel: &str, params: &[u8], bufs: &mut [Vec<u32>]) -> Result<(), String> {
    let p: QuantizePairParams = read(params);
    let [input, clips, packed, scale, packed_ch, scales_ch] = bufs else {
        return Err(bad_bindings(kernel));
    };
    let (n, nw, nc) = (
        (p.rows * p.cols) as usize,
        (p.rows * p.cols4) as usize,
        p.cols as usize,
    );
    cpu::quantize_pair(
        (p.rows, p.cols),
        p.rounding != 0,
        (p.seed, p.seed_channels),
        &f32s(input)[..n],
        f32s(clips),
        (&mut packed[..nw], &mut f32s_mut(scale)[..1]),
        (&mut packed_ch[..nw], &mut f32s_mut(scales_ch)[..nc]),
    );
    Ok(())
}
