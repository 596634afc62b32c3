//! The embedding example's core loop, headless, for a few frames on each adapter: the host owns
//! the device, octet trains on it beside the host's rendering, and weights and metrics come
//! back asynchronously into the frame.

mod common;

use common::{Needs, for_each_adapter};

#[path = "../examples/embed/host.rs"]
#[allow(dead_code)]
mod host;

use octet::data::Dataset;

#[test]
fn training_runs_inside_a_hosts_frame_loop() {
    let data = Dataset::synthetic_images(64, [28, 28, 1], 10, 0.5, 4);
    let test = "training_runs_inside_a_hosts_frame_loop";
    for_each_adapter(test, Needs::EveryAdapter, |gpu| {
        let backend = gpu.backend();
        let host = host::Host::new(gpu.adapter).unwrap();
        let settings = host::Settings {
            frames_without: 2,
            frames_with: 6,
            // No limit: the test checks the mechanics, not the pacing.
            budget_ms: f64::INFINITY,
            batch: 16,
        };
        let out = host::run(&host, &data, &settings).unwrap();
        assert_eq!((out.without.len(), out.with.len()), (2, 6), "{backend:?}");
        assert!(out.steps >= 3, "{backend:?}: {} steps", out.steps);
        assert_eq!(
            out.losses.len() as u64,
            out.steps,
            "{backend:?}: every step reported"
        );
        assert!(out.losses.iter().all(|l| l.is_finite()), "{backend:?}");
        assert!(out.drew_weights, "{backend:?}: weights never arrived");
        // The frame shows more than the background: weights (red/blue cells) and the curve.
        let pixels = out.last_frame.chunks(4);
        let coloured = pixels.filter(|p| p[0].abs_diff(p[2]) > 20).count();
        assert!(coloured > 1000, "{backend:?}: {coloured} coloured pixels");
    });
}
