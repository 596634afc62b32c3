//! Checkpoints: a run stopped, saved, loaded into a new trainer and continued ends with the very
//! weights of an uninterrupted run; damaged or foreign checkpoints are refused with typed errors.

mod common;

use common::{Needs, for_each_adapter};
use octet::checkpoint::Checkpoint;
use octet::data::Dataset;
use octet::nn::{LayerSpec, ModelSpec, TensorRole};
use octet::quant::{Policy, Ui8};
use octet::train::{TrainConfig, Trainer};

fn spec() -> ModelSpec {
    ModelSpec {
        input: [8, 8, 1],
        layers: vec![
            LayerSpec::Conv2d {
                channels: 4,
                kernel: 3,
                stride: 1,
                pad: 1,
            },
            LayerSpec::BatchNorm2d,
            LayerSpec::Relu,
            LayerSpec::MaxPool2d { k: 2 },
            LayerSpec::Flatten,
            LayerSpec::Linear { outputs: 12 },
            LayerSpec::Relu,
            LayerSpec::Linear { outputs: 3 },
        ],
    }
}

fn config() -> TrainConfig {
    TrainConfig {
        batch: 8,
        lr: 0.05,
        quantize_first_last: true,
        ..Default::default()
    }
}

fn run(trainer: &mut Trainer, data: &Dataset, steps: std::ops::Range<usize>) {
    for s in steps {
        let (x, y) = data.batch(s * 8, 8);
        trainer.train_step(x, y).unwrap();
    }
}

#[test]
fn resuming_from_a_checkpoint_reaches_the_uninterrupted_weights() {
    let data = Dataset::synthetic_images(8 * 8, [8, 8, 1], 3, 0.5, 2);
    let dir = tempfile::tempdir().unwrap();
    // UI8 with refreshes at steps 0, 1 and every third step, so the resumed run starts on kept
    // clips; DAI8 carries its magnitude-aware state across the cut.
    let policies = [
        Policy::Ui8(Ui8 {
            warmup: 2,
            period: 3,
            ..Ui8::default()
        }),
        Policy::from_name("dai8").unwrap(),
        Policy::Fp32,
    ];
    let test = "resuming_from_a_checkpoint_reaches_the_uninterrupted_weights";
    for_each_adapter(test, Needs::EveryAdapter, |gpu| {
        let ctx = gpu.context();
        for policy in &policies {
            let mut whole = Trainer::new(&ctx, &spec(), policy.clone(), config()).unwrap();
            run(&mut whole, &data, 0..8);
            let expected = whole.checkpoint().unwrap();

            let mut first = Trainer::new(&ctx, &spec(), policy.clone(), config()).unwrap();
            run(&mut first, &data, 0..4);
            let path = dir.path().join("run.safetensors");
            let mut saved = first.checkpoint().unwrap();
            saved.extra.insert("epoch".into(), "0".into());
            saved.save(&path).unwrap();
            drop(first);

            let loaded = Checkpoint::load(&path).unwrap();
            // (Not assert_eq: the debug dump of a checkpoint is pages long.)
            assert!(loaded == saved, "a checkpoint round-trips through its file");
            let mut resumed = Trainer::new(&ctx, &spec(), policy.clone(), config()).unwrap();
            resumed.restore(&loaded).unwrap();
            assert_eq!(resumed.step(), 4);
            run(&mut resumed, &data, 4..8);
            let got = resumed.checkpoint().unwrap();
            for role in [
                TensorRole::Parameter,
                TensorRole::Velocity,
                TensorRole::RunningStat,
                TensorRole::QuantState,
            ] {
                let (a, b) = (expected.tensors_of(role), got.tensors_of(role));
                assert!(!a.is_empty() || role == TensorRole::QuantState);
                for (a, b) in a.iter().zip(&b) {
                    assert_eq!(
                        common::bits(&a.data),
                        common::bits(&b.data),
                        "{:?} {policy:?}: {role:?} {} differs after resuming",
                        gpu.backend(),
                        a.name
                    );
                }
            }
        }
    });
}

#[test]
fn damaged_and_foreign_checkpoints_are_refused() {
    let test = "damaged_and_foreign_checkpoints_are_refused";
    for_each_adapter(test, Needs::PreferredAdapter, |gpu| {
        let ctx = gpu.context();
        let dir = tempfile::tempdir().unwrap();
        let mut trainer =
            Trainer::new(&ctx, &spec(), Policy::from_name("dai8").unwrap(), config()).unwrap();
        let ckpt = trainer.checkpoint().unwrap();
        let bytes = ckpt.to_bytes().unwrap();
        let path = dir.path().join("c.safetensors");
        for (what, damaged) in [
            ("truncated", bytes[..bytes.len() / 2].to_vec()),
            ("empty", Vec::new()),
            ("not safetensors", b"hello world, not a checkpoint".to_vec()),
        ] {
            std::fs::write(&path, &damaged).unwrap();
            match Checkpoint::load(&path) {
                Err(octet::Error::Checkpoint { file, problem }) => {
                    assert_eq!(file, path, "{what}");
                    eprintln!("{what}: {problem}");
                }
                other => panic!("{what}: {other:?}"),
            }
        }
        match Checkpoint::load(&dir.path().join("missing.safetensors")) {
            Err(octet::Error::Io { .. }) => {}
            other => panic!("missing file: {other:?}"),
        }
        // A checkpoint of another policy or model is refused, naming what differs.
        let mut fp32 = Trainer::new(&ctx, &spec(), Policy::Fp32, config()).unwrap();
        let err = fp32.restore(&ckpt).unwrap_err().to_string();
        assert!(err.contains("policy"), "{err}");
        let mut other = ckpt.clone();
        other.model.layers.pop();
        other.model.layers.push(LayerSpec::Linear { outputs: 4 });
        let err = trainer.restore(&other).unwrap_err().to_string();
        assert!(err.contains("model"), "{err}");
        // A tensor with the wrong shape is refused before anything is written.
        let mut bad = ckpt.clone();
        bad.tensors[0].1.shape = vec![1];
        bad.tensors[0].1.data = vec![0.0];
        let err = trainer.restore(&bad).unwrap_err().to_string();
        assert!(err.contains("shape"), "{err}");
    });
}

#[test]
fn writes_are_atomic_replacements() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    octet::fsio::write_atomically(&path, b"first").unwrap();
    octet::fsio::write_atomically(&path, b"second").unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"second");
    // No temporary file is left behind.
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(names.len(), 1);
}

/// LeNet-5's initial weights (seed 1) have the fingerprint in
/// tests/reference/lenet5-init-fingerprint.txt; the browser test (web/test.sh) checks its own
/// against the same file, so both builds start from the same bits. A change that changes the
/// initial weights on purpose rewrites the file.
#[test]
fn initial_weights_have_the_recorded_fingerprint() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/reference/lenet5-init-fingerprint.txt"
    );
    let recorded = std::fs::read_to_string(path).expect("the reference file");
    let recorded = recorded.split_whitespace().next().expect("a fingerprint");
    for_each_adapter("init fingerprint", Needs::PreferredAdapter, |gpu| {
        let cfg = TrainConfig {
            batch: 32,
            seed: 1,
            ..Default::default()
        };
        let spec = ModelSpec::lenet5(28, 28, 1, 10);
        let mut trainer = Trainer::new(&gpu.context(), &spec, Policy::dai8(), cfg).unwrap();
        let crc = trainer
            .checkpoint()
            .unwrap()
            .fingerprint(TensorRole::Parameter);
        assert_eq!(
            format!("{crc:08x}"),
            recorded,
            "LeNet-5's initial weights changed; if on purpose, write the new value to {path}"
        );
    });
}
