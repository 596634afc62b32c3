//! The conformance suite on every adapter present: each kernel against its CPU twin (see
//! `octet::conformance` for the cases and tolerances). With no adapter at all these tests fail,
//! saying what to install. `OCTET_REQUIRE_BACKENDS=vulkan,gl` (set by `.ci/run`) also fails them
//! when one of the named backends has no adapter, so a missing driver cannot pass silently.

mod common;

use common::{Needs, for_each_adapter};
use octet::conformance;
use octet::ops::{ChannelAxis, Layout};
use octet::rng::Gen;

fn run_suite(suite: &str) {
    let mut failures = Vec::new();
    for_each_adapter(suite, Needs::EveryAdapter, |gpu| {
        let (label, ctx) = (gpu.label(), gpu.context());
        let cases = conformance::run_suite(&ctx, suite, false).expect("suite ran");
        assert!(!cases.is_empty(), "{suite} has no cases");
        let failed: Vec<_> = cases.iter().filter(|c| !c.passed).collect();
        eprintln!(
            "{suite} on {label}: {}/{} passed",
            cases.len() - failed.len(),
            cases.len()
        );
        failures.extend(
            failed
                .iter()
                .map(|c| format!("{label}: {}: {}", c.case, c.detail)),
        );
    });
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn quantize_matches_twin_and_stochastic_rounding_is_unbiased() {
    run_suite("quantize");
}

#[test]
fn dequantize_matches_twin() {
    run_suite("dequantize");
}

#[test]
fn gather_rows_matches_twin() {
    run_suite("gather_rows");
}

#[test]
fn channel_stats_match_twin_and_are_deterministic() {
    run_suite("channel_stats");
}

#[test]
fn clip_select_matches_twin() {
    run_suite("clip_select");
}

#[test]
fn relu_matches_twin() {
    run_suite("relu");
}

#[test]
fn softmax_xent_matches_twin() {
    run_suite("softmax_xent");
}

#[test]
fn sgd_matches_twin() {
    run_suite("sgd");
}

#[test]
fn conv_data_movement_matches_twin() {
    run_suite("conv");
}

#[test]
fn depthwise_convolutions_match_twin() {
    run_suite("depthwise");
}

#[test]
fn maxpool_matches_twin() {
    run_suite("maxpool");
}

#[test]
fn global_avg_pool_and_add_match_twin() {
    run_suite("pool");
}

#[test]
fn batchnorm_matches_twin() {
    run_suite("batchnorm");
}

#[test]
fn gemm_i8_matches_twin_including_split_k_overflow_cases() {
    run_suite("gemm_i8");
}

#[test]
fn gemm_f32_matches_twin() {
    run_suite("gemm_f32");
}

#[test]
fn column_sum_matches_twin() {
    run_suite("column_sum");
}

#[test]
fn nonfinite_count_matches_twin() {
    run_suite("nonfinite");
}

/// Whole training steps under every policy, replayed dispatch by dispatch on the twins.
#[test]
fn training_steps_match_twins_in_lockstep() {
    run_suite("train_step");
}

/// Every suite of the conformance table runs in a test of this file.
#[test]
fn every_suite_has_a_test() {
    let source = include_str!("conformance.rs");
    for name in conformance::suite_names() {
        assert!(
            source.contains(&format!("run_suite(\"{name}\")")),
            "no test runs conformance suite {name}"
        );
    }
}

/// DAI8's classifier statistic P(|g| > σ) on the GPU matches the theoretical values of
/// ALGORITHMS.md §3.3, channel by channel.
#[test]
fn classifier_fraction_matches_theory() {
    let rows = 100_000u32;
    let mut g = Gen::new(77);
    let mut student_t = || {
        let z = g.normal();
        let v: f32 = (0..3).map(|_| g.normal().powi(2)).sum();
        z / (v / 3.0).sqrt()
    };
    let t_col: Vec<f32> = (0..rows).map(|_| student_t()).collect();
    let mut g = Gen::new(78);
    let mut input = Vec::with_capacity(rows as usize * 4);
    for t in t_col {
        input.push(g.uniform() * 2.0 - 1.0);
        input.push(g.normal());
        input.push(g.laplace());
        input.push(t);
    }
    // (theory, Gaussian?, tolerance): a Student-t(3) sample's σ converges slowly (its fourth
    // moment is infinite), so its fraction gets a wider band.
    let expected = [
        (0.4226, true, 0.01),
        (0.3173, true, 0.01),
        (0.2431, false, 0.01),
        (0.1817, false, 0.03),
    ];
    let layout = Layout::new(rows, 4, ChannelAxis::Cols);
    let test = "classifier_fraction_matches_theory";
    for_each_adapter(test, Needs::EveryAdapter, |gpu| {
        let (label, ctx) = (gpu.label(), gpu.context());
        let stats = pollster::block_on(conformance::gpu_channel_stats(
            &ctx,
            &layout,
            &input,
            &[],
            false,
        ))
        .unwrap()
        .pass2;
        for (ch, (p, gaussian, tol)) in expected.iter().enumerate() {
            let f = stats[ch].fraction_above_sigma();
            assert!(
                (f - p).abs() < *tol,
                "{label}: channel {ch}: P(|g|>σ) = {f}, theory {p}"
            );
            assert_eq!(
                f > 0.3,
                *gaussian,
                "{label}: channel {ch} misclassified ({f})"
            );
        }
    });
}

/// UI8's clip search ingredients: on heavy-tailed data the best candidate clip is below max|g|,
/// on uniform data it is max|g|, and the chosen distance never exceeds max|g|'s (§4 test 6).
#[test]
fn cosine_terms_prefer_clipping_heavy_tails_only() {
    let rows = 65_536u32;
    let mut g = Gen::new(91);
    let mut input = Vec::with_capacity(rows as usize * 2);
    for _ in 0..rows {
        input.push(g.uniform() * 2.0 - 1.0);
        input.push(g.laplace().powi(3)); // very heavy tails
    }
    let layout = Layout::new(rows, 2, ChannelAxis::Cols);
    let ratios = conformance::default_ratios();
    let test = "cosine_terms_prefer_clipping_heavy_tails_only";
    for_each_adapter(test, Needs::EveryAdapter, |gpu| {
        let (label, ctx) = (gpu.label(), gpu.context());
        let run = pollster::block_on(conformance::gpu_channel_stats(
            &ctx, &layout, &input, &ratios, true,
        ))
        .unwrap();
        let (stats, terms) = (run.pass2, run.terms);
        for ch in 0..2 {
            let d: Vec<f32> = (0..ratios.len())
                .map(|r| stats[ch].cosine_distance(terms[ch * ratios.len() + r]))
                .collect();
            let best = (0..d.len()).min_by(|&a, &b| d[a].total_cmp(&d[b])).unwrap();
            assert!(d[best] <= d[0], "{label}: {d:?}");
            if ch == 0 {
                assert_eq!(
                    ratios[best], 1.0,
                    "{label}: uniform data should not clip: {d:?}"
                );
            } else {
                assert!(
                    ratios[best] < 1.0,
                    "{label}: heavy tails should clip: {d:?}"
                );
            }
        }
    });
}

/// The lowering column: GL always expands `dot4I8Packed`; Vulkan reports from the driver's
/// integer-dot-product feature (lavapipe: Vulkan 1.3, native `OpSDot`, not accelerated).
#[test]
fn dot4_lowering_is_read_from_the_driver() {
    let test = "dot4_lowering_is_read_from_the_driver";
    for_each_adapter(test, Needs::EveryAdapter, |gpu| {
        let info = &gpu.info;
        let lowering = octet::gpu::dot4_lowering(gpu.adapter);
        eprintln!("{} {:?}: {lowering}", info.name, info.backend);
        match info.backend {
            wgpu::Backend::Gl => assert_eq!(lowering.kind, "polyfill"),
            wgpu::Backend::Vulkan => {
                assert!(lowering.evidence.starts_with("Vulkan 1."), "{lowering}");
                assert!(
                    ["native", "polyfill"].contains(&lowering.kind),
                    "{lowering}"
                );
                if info.driver.contains("llvmpipe") {
                    assert_eq!(
                        lowering.kind, "native",
                        "lavapipe has shaderIntegerDotProduct"
                    );
                }
            }
            _ => {}
        }
    });
}

/// On a device with only the six storage bindings octet requires, parameter blocks stay in
/// uniform buffers (elsewhere they move to storage buffers): the GEMMs and the quantizer compute
/// what their twins do there too.
#[test]
fn uniform_parameter_blocks_match_twins() {
    let test = "uniform_parameter_blocks_match_twins";
    for_each_adapter(test, Needs::EveryAdapter, |gpu| {
        let limits = wgpu::Limits {
            max_storage_buffers_per_shader_stage: 6,
            ..gpu.adapter.limits()
        };
        let (device, queue) =
            pollster::block_on(gpu.adapter.request_device(&wgpu::DeviceDescriptor {
                required_limits: limits,
                ..Default::default()
            }))
            .unwrap();
        let ctx = octet::Context::new(&device, &queue).unwrap();
        assert!(!ctx.params_in_storage());
        for suite in ["quantize", "gemm_i8", "gemm_f32"] {
            let cases = conformance::run_suite(&ctx, suite, true).unwrap();
            let failed: Vec<_> = cases.iter().filter(|c| !c.passed).collect();
            assert!(
                failed.is_empty(),
                "{suite} on {} with uniform parameters: {failed:?}",
                gpu.label()
            );
        }
    });
}
