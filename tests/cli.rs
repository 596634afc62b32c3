//! The trainer handed bad input: it exits non-zero with a message naming the file and the
//! problem, and never panics. (`cargo test` builds the examples; this drives the real binary.)

mod common;

use std::path::Path;

use common::{idx, run_trainer};

/// Runs the trainer; returns (exit code, stderr).
fn run(args: &[&str]) -> (i32, String) {
    let (code, _, stderr) = run_trainer(args);
    (code, stderr)
}

fn data_dir(dir: &Path, images: Vec<u8>, labels: Vec<u8>) {
    std::fs::write(dir.join("train-images-idx3-ubyte"), &images).unwrap();
    std::fs::write(dir.join("train-labels-idx1-ubyte"), &labels).unwrap();
    std::fs::write(
        dir.join("t10k-images-idx3-ubyte"),
        idx(&[2, 28, 28], &[0; 2 * 784]),
    )
    .unwrap();
    std::fs::write(dir.join("t10k-labels-idx1-ubyte"), idx(&[2], &[1, 2])).unwrap();
}

#[test]
fn bad_files_and_options_are_refused_without_panicking() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    // (case, train images, train labels, file to be named, problem to be named)
    type Case = (&'static str, Vec<u8>, Vec<u8>, &'static str, &'static str);
    let cases: Vec<Case> = vec![
        (
            "magic",
            b"GIF89a, not IDX".to_vec(),
            idx(&[2], &[0, 1]),
            "train-images-idx3-ubyte",
            "not an IDX file",
        ),
        (
            "truncated",
            idx(&[2, 28, 28], &[0; 700]),
            idx(&[2], &[0, 1]),
            "train-images-idx3-ubyte",
            "truncated",
        ),
        (
            "count",
            idx(&[2, 28, 28], &[0; 2 * 784]),
            idx(&[3], &[0, 1, 2]),
            "train-labels-idx1-ubyte",
            "holds 3 labels",
        ),
        (
            "label",
            idx(&[2, 28, 28], &[0; 2 * 784]),
            idx(&[2], &[0, 12]),
            "train-labels-idx1-ubyte",
            "label 12 of row 1",
        ),
    ];
    for (name, images, labels, file, problem) in cases {
        let dir = d.join(name);
        std::fs::create_dir(&dir).unwrap();
        data_dir(&dir, images, labels);
        let (code, err) = run(&["--data", dir.to_str().unwrap(), "--epochs", "1"]);
        assert_ne!(code, 0, "{name}: {err}");
        assert!(err.contains(file) && err.contains(problem), "{name}: {err}");
    }
    // A checkpoint that is not one, for --eval and --resume.
    let bogus = d.join("bogus.safetensors");
    std::fs::write(&bogus, b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}").unwrap();
    for flag in ["--eval", "--resume"] {
        let (code, err) = run(&[flag, bogus.to_str().unwrap(), "--train-limit", "64"]);
        assert_ne!(code, 0, "{flag}: {err}");
        assert!(err.contains("bogus.safetensors"), "{flag}: {err}");
    }
    // Unknown option values and a plot format it cannot write.
    for args in [
        &["--model", "transformer"][..],
        &["--quant", "int4"],
        &["--plot", "curves.gif"],
        &["--data", "/nonexistent/dir"],
    ] {
        let (code, err) = run(args);
        assert_ne!(code, 0, "{args:?}: {err}");
        assert!(!err.is_empty(), "{args:?}: no message");
    }
}

/// The trainer's batches gathered on the device, one or several steps per submit (chunks of 7
/// cut at each epoch's end), train to the bits of the host's batches.
#[test]
fn device_batches_and_host_batches_give_the_same_run() {
    let tmp = tempfile::tempdir().unwrap();
    let run = |extra: &[&str], name: &str| -> serde_json::Value {
        let report = tmp.path().join(name);
        let mut args = vec![
            "--model",
            "mlp",
            "--epochs",
            "2",
            "--train-limit",
            "640",
            "--report",
            report.to_str().unwrap(),
        ];
        args.extend(extra);
        let (code, stderr) = run(&args);
        assert_eq!(code, 0, "{stderr}");
        serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap()
    };
    // On this machine's CPU adapters the default is the host's batches; the option puts the
    // set on the device. With --augment the host crops and flips, or the device's gather does.
    let losses = |r: &serde_json::Value| r["runs"][0]["step_losses"].clone();
    let mut plain = None;
    for augment in [&[][..], &["--augment"][..]] {
        let host = run(augment, &format!("host{}.json", augment.len()));
        assert_eq!(losses(&host).as_array().unwrap().len(), 40);
        for k in ["1", "7"] {
            let mut args = vec!["--steps-per-submit", k];
            args.extend(augment);
            let device = run(&args, &format!("device-{k}-{}.json", augment.len()));
            assert_eq!(
                losses(&host),
                losses(&device),
                "{k} steps per submit, {augment:?}"
            );
            assert_eq!(
                host["runs"][0]["final_test_accuracy"],
                device["runs"][0]["final_test_accuracy"]
            );
        }
        match &plain {
            None => plain = Some(losses(&host)),
            Some(p) => assert_ne!(p, &losses(&host), "--augment changed nothing"),
        }
    }
}

/// `--compare --seeds`: every policy once per seed, a summary per policy whose spread comes
/// from its runs, gaps taken seed by seed, and what the methods chose at every epoch's end.
#[test]
fn seeds_give_each_policy_a_spread_and_the_methods_their_record() {
    let tmp = tempfile::tempdir().unwrap();
    let report = tmp.path().join("seeds.json");
    let plot = tmp.path().join("seeds.png");
    let (code, stderr) = run(&[
        "--compare",
        "--seeds",
        "3,4",
        "--model",
        "mlp",
        "--epochs",
        "2",
        "--train-limit",
        "320",
        "--report",
        report.to_str().unwrap(),
        "--plot",
        plot.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(std::fs::metadata(&plot).unwrap().len() > 0);
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let runs = r["runs"].as_array().unwrap();
    let order: Vec<(String, u64)> = runs
        .iter()
        .map(|run| {
            (
                run["quant"].as_str().unwrap().to_string(),
                run["seed"].as_u64().unwrap(),
            )
        })
        .collect();
    let policies = ["fp32", "naive", "ui8", "dai8"];
    let expected: Vec<(String, u64)> = [3, 4]
        .iter()
        .flat_map(|&s| policies.iter().map(move |p| (p.to_string(), s)))
        .collect();
    assert_eq!(order, expected, "seeds outermost, the policies in turn");
    let accuracy = |quant: &str, seed: u64| {
        runs.iter()
            .find(|run| run["quant"] == quant && run["seed"] == seed)
            .unwrap()["final_test_accuracy"]
            .as_f64()
            .unwrap()
    };
    let summary = r["summary"].as_array().unwrap();
    assert_eq!(summary.len(), 4);
    for s in summary {
        let quant = s["quant"].as_str().unwrap();
        let (a3, a4) = (100.0 * accuracy(quant, 3), 100.0 * accuracy(quant, 4));
        let spread = &s["test_accuracy_spread"];
        assert!((spread["mean"].as_f64().unwrap() - (a3 + a4) / 2.0).abs() < 1e-4);
        // The sample standard deviation of two values is |a − b| / √2.
        let std = (a3 - a4).abs() / 2f64.sqrt();
        assert!(
            (spread["std"].as_f64().unwrap() - std).abs() < 1e-4,
            "{quant}"
        );
        let gap = &s["gap_to_fp32"];
        let g3 = a3 - 100.0 * accuracy("fp32", 3);
        let g4 = a4 - 100.0 * accuracy("fp32", 4);
        assert!(
            (gap["mean"].as_f64().unwrap() - (g3 + g4) / 2.0).abs() < 1e-4,
            "{quant}"
        );
        assert_eq!(gap["n"], 2);
    }
    for run in runs {
        let int8 = run["quant"] != "fp32";
        for epoch in run["per_epoch"].as_array().unwrap() {
            let layers = epoch["quant_state"].as_array().unwrap();
            assert_eq!(layers.len(), 3, "one record per weighted layer");
            // The MLP's middle layer is the quantized one under an INT8 policy.
            assert_eq!(layers[1]["quantized"], int8);
            if int8 {
                let ratio = layers[1]["clip_ratio_dy"].as_f64().unwrap();
                assert!(ratio > 0.0 && ratio <= 1.5, "{ratio}");
            }
        }
    }
}
