//! Twin of `shaders/clip_select.wgsl`.

use crate::abi::{ChannelStat, ClipParams, ClipRule, ClipSummary};
use crate::cpu::channel_stats::{WG_SIZE, fold_lanes};
use crate::cpu::{
    self,
    replay::{
        CLIP_SUMMARY, Replay, Words, bad_bindings, f32s, f32s_mut, read, structs, structs_mut,
    },
};

pub use crate::abi::cosine_distance;

/// Chooses `clips` from `stats` under `rule`, updating the MCS `state`; returns the summary.
pub fn clip_select(
    rule: ClipRule,
    stats: &[ChannelStat],
    terms: &[[f32; 2]],
    ratios: &[f32],
    state: &mut [f32],
    clips: &mut [f32],
) -> ClipSummary {
    let nc = ratios.len();
    let mut top = [0f32; WG_SIZE];
    let mut top_abs = [0f32; WG_SIZE];
    let mut worst = [0f32; WG_SIZE];
    let mut gauss = [0u32; WG_SIZE];
    let mut inv_t = [0u32; WG_SIZE];
    for lid in 0..WG_SIZE {
        let mut ch = lid;
        while ch < stats.len() {
            let st = stats[ch];
            let mut clip = st.max_abs;
            match rule {
                ClipRule::Dsgc { .. } if nc > 0 => {
                    let mut best = 0;
                    let mut best_d = cosine_distance(st.sum_sq, terms[ch * nc]);
                    for r in 1..nc {
                        let d = cosine_distance(st.sum_sq, terms[ch * nc + r]);
                        if d < best_d {
                            best = r;
                            best_d = d;
                        }
                    }
                    clip = ratios[best] * st.max_abs;
                    worst[lid] = worst[lid].max(best_d);
                }
                ClipRule::Mcs {
                    lambda,
                    k,
                    a,
                    update_always,
                } => {
                    let is_gauss = st.above_sigma as f32 > lambda * st.count as f32;
                    let mut prev = state[ch];
                    // Not > 0 (zero, negative or NaN) means the state was never set.
                    if prev.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
                        prev = st.max_abs;
                    }
                    let s_t = (1.0 - k * a) * prev + a * st.max_abs;
                    if is_gauss {
                        gauss[lid] += 1;
                        state[ch] = if update_always { s_t } else { prev };
                    } else {
                        inv_t[lid] += 1;
                        clip = s_t;
                        state[ch] = s_t;
                    }
                }
                _ => {}
            }
            clips[ch] = clip;
            top[lid] = top[lid].max(clip);
            top_abs[lid] = top_abs[lid].max(st.max_abs);
            ch += WG_SIZE;
        }
    }
    let distance = fold_lanes(&worst, f32::max);
    let phi = match rule {
        ClipRule::Dsgc { alpha, beta } => (-alpha * distance).exp().max(beta),
        _ => 1.0,
    };
    ClipSummary {
        tensor_clip: fold_lanes(&top, f32::max),
        distance,
        phi,
        gaussian: fold_lanes(&gauss, |a, b| a + b),
        inverted_t: fold_lanes(&inv_t, |a, b| a + b),
        max_abs: fold_lanes(&top_abs, f32::max),
        _pad: [0; 2],
    }
}

/// Replays dispatches of `clip_select` on this twin.
pub(crate) const REPLAY: Replay = Replay {
    kernels: &["clip_select"],
    run: replay,
    words: |_, binding, _| match binding {
        "summary" => CLIP_SUMMARY,
        _ => Words::Float,
    },
};

fn replay(kernel: &str, params: &[u8], bufs: &mut [Vec<u32>]) -> Result<(), String> {
    let bad = || bad_bindings(kernel);
    let p: ClipParams = read(params);
    let [stats, terms, ratios, state, clips, summary] = bufs else {
        return Err(bad());
    };
    let rule = match p.mode {
        0 => ClipRule::Max,
        1 => ClipRule::Dsgc {
            alpha: p.alpha,
            beta: p.beta,
        },
        _ => ClipRule::Mcs {
            lambda: p.lambda,
            k: p.k,
            a: p.a,
            update_always: p.flags & 1 != 0,
        },
    };
    let (c, nc) = (p.channels as usize, p.n_candidates as usize);
    let result = cpu::clip_select(
        rule,
        &structs::<ChannelStat>(stats)[..c],
        &structs::<[f32; 2]>(terms)[..c * nc],
        &f32s(ratios)[..nc],
        &mut f32s_mut(state)[..c],
        &mut f32s_mut(clips)[..c],
    );
    structs_mut(summary)[p.slot as usize] = result;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ALGORITHMS.md §2.5: the DCLRS table.
    #[test]
    fn dclrs_factor_matches_the_table() {
        let table = [
            (0.001, 0.980),
            (0.005, 0.905),
            (0.01, 0.819),
            (0.02, 0.670),
            (0.05, 0.368),
            (0.10, 0.135),
            (0.1151, 0.100),
            (0.5, 0.100),
        ];
        for (d, phi) in table {
            // One channel whose only candidate has cosine distance d.
            let stat = ChannelStat {
                max_abs: 1.0,
                sum_sq: 1.0,
                count: 1,
                ..Default::default()
            };
            let terms = [[1.0 - d, 1.0]];
            let mut clips = [0.0];
            let s = clip_select(
                ClipRule::UI8,
                &[stat],
                &terms,
                &[1.0],
                &mut [0.0],
                &mut clips,
            );
            assert!((s.distance - d).abs() < 1e-6, "{d}");
            assert!(
                (s.phi - phi).abs() < 5e-4,
                "d = {d}: φ = {} (table {phi})",
                s.phi
            );
        }
    }

    #[test]
    fn mcs_follows_the_update_rule() {
        let inverted = ChannelStat {
            max_abs: 10.0,
            count: 100,
            above_sigma: 20,
            ..Default::default()
        };
        let gaussian = ChannelStat {
            above_sigma: 40,
            ..inverted
        };
        let mut state = [0.0, 0.0];
        let mut clips = [0.0, 0.0];
        // First step: s_0 = max, so both clips are max.
        let s = clip_select(
            ClipRule::DAI8,
            &[inverted, gaussian],
            &[],
            &[],
            &mut state,
            &mut clips,
        );
        assert_eq!(clips, [10.0, 10.0]);
        assert_eq!((s.gaussian, s.inverted_t), (1, 1));
        // The max drops to 5: inverted-T smooths, 0.2·10 + 0.8·5 = 6; Gaussian follows the max.
        let lower = |s: ChannelStat| ChannelStat { max_abs: 5.0, ..s };
        let s = clip_select(
            ClipRule::DAI8,
            &[lower(inverted), lower(gaussian)],
            &[],
            &[],
            &mut state,
            &mut clips,
        );
        assert!(
            (clips[0] - 6.0).abs() < 1e-6 && clips[1] == 5.0,
            "{clips:?}"
        );
        assert!((s.tensor_clip - 6.0).abs() < 1e-6);
        assert_eq!(state[1], 10.0, "a Gaussian channel leaves its state alone");
    }
}
