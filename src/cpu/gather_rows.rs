//! Twins of `shaders/gather_rows.wgsl`: `gather_rows` and `gather_rows_augment`.

use crate::abi::GatherParams;
use crate::cpu::replay::{Replay, Words, bad_bindings, f32s, f32s_mut, read};

/// `x[r, f] = table[c(f)·256 + byte(order[offset + r], f)]`, `y[r] = labels[order[offset + r]]`.
pub fn gather_rows(
    p: &GatherParams,
    pixels: &[u32],
    table: &[f32],
    order: &[u32],
    labels: &[u32],
    x: &mut [f32],
    y: &mut [u32],
) {
    for idx in 0..p.rows * p.features4 {
        let r = idx / p.features4;
        let f4 = idx % p.features4;
        let src = order[(p.offset + r) as usize];
        if f4 == 0 {
            y[r as usize] = labels[src as usize];
        }
        let b0 = src * p.features + f4 * 4;
        let lo = pixels[(b0 / 4) as usize];
        let hi = pixels[((b0 / 4 + 1) as usize).min(pixels.len() - 1)];
        let shift = (b0 % 4) * 8;
        for j in 0..4 {
            let f = f4 * 4 + j;
            if f >= p.features {
                break;
            }
            let s = shift + j * 8;
            let byte = if s < 32 {
                (lo >> s) & 0xff
            } else {
                (hi >> (s - 32)) & 0xff
            };
            x[(r * p.features + f) as usize] = table[((f % p.channels) * 256 + byte) as usize];
        }
    }
}

/// `gather_rows_augment`: as [`gather_rows`] with `order` holding (row, draw) pairs and each
/// image shifted and flipped as its draw says (`data::Augment::source`).
pub fn gather_rows_augment(
    p: &GatherParams,
    pixels: &[u32],
    table: &[f32],
    order: &[u32],
    labels: &[u32],
    x: &mut [f32],
    y: &mut [u32],
) {
    for idx in 0..p.rows * p.features4 {
        let r = idx / p.features4;
        let f4 = idx % p.features4;
        let src = order[(2 * (p.offset + r)) as usize];
        let key = order[(2 * (p.offset + r) + 1) as usize];
        if f4 == 0 {
            y[r as usize] = labels[src as usize];
        }
        let span = 2 * p.pad + 1;
        let dy = (key % span) as i32 - p.pad as i32;
        let dx = ((key / span) % span) as i32 - p.pad as i32;
        let flip = p.flip != 0 && key >> 31 != 0;
        for j in 0..4 {
            let f = f4 * 4 + j;
            if f >= p.features {
                break;
            }
            let c = f % p.channels;
            let px = f / p.channels;
            let mut ox = px % p.width;
            if flip {
                ox = p.width - 1 - ox;
            }
            let sy = (px / p.width) as i32 + dy;
            let sx = ox as i32 + dx;
            let mut byte = 0;
            if sy >= 0 && sx >= 0 && sy < p.height as i32 && sx < p.width as i32 {
                let b = src * p.features + (sy as u32 * p.width + sx as u32) * p.channels + c;
                byte = (pixels[(b / 4) as usize] >> ((b % 4) * 8)) & 0xff;
            }
            x[(r * p.features + f) as usize] = table[(c * 256 + byte) as usize];
        }
    }
}

/// Replays dispatches of `gather_rows` and `gather_rows_augment` on these twins.
pub(crate) const REPLAY: Replay = Replay {
    kernels: &["gather_rows", "gather_rows_augment"],
    run: replay,
    // Table lookups: the same bits.
    words: |_, _, _| Words::Exact,
};

fn replay(kernel: &str, params: &[u8], bufs: &mut [Vec<u32>]) -> Result<(), String> {
    let p: GatherParams = read(params);
    let [pixels, table, order, labels, x, y] = bufs else {
        return Err(bad_bindings(kernel));
    };
    let twin = if kernel == "gather_rows_augment" {
        gather_rows_augment
    } else {
        gather_rows
    };
    twin(&p, pixels, f32s(table), order, labels, f32s_mut(x), y);
    Ok(())
}
