//! The model out of octet and back: the PyTorch-form export checked in NumPy against octet's
//! own logits (by `python/check_export.py`, with the Python that `OCTET_PYTHON` names), its
//! import giving back the very tensors, a weights file that does not fit refused naming every
//! tensor at fault, and predictions that do not depend on the rest of the batch.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Needs, bits, for_each_adapter};
use octet::Error;
use octet::data::Dataset;
use octet::interop::{self, ExportSource, Normalization};
use octet::nn::{ModelSpec, NamedTensor, Predictor, TensorRole};
use octet::quant::Policy;
use octet::train::{TrainConfig, Trainer};
use safetensors::tensor::{Dtype, TensorView};

const BATCH: u32 = 8;

/// The Python with numpy and safetensors that `OCTET_PYTHON` names. Without it the round trip
/// is skipped with a note, unless `OCTET_REQUIRE_PYTHON=1` (set by `.ci/run`) makes that a
/// failure, so CI cannot pass by checking less.
fn python() -> Option<PathBuf> {
    match std::env::var_os("OCTET_PYTHON") {
        Some(p) => Some(PathBuf::from(p)),
        None if std::env::var("OCTET_REQUIRE_PYTHON").is_ok_and(|v| v == "1") => panic!(
            "OCTET_REQUIRE_PYTHON=1 but OCTET_PYTHON is not set: point it at a Python with numpy \
             and safetensors (`python3 -m venv v && v/bin/pip install numpy safetensors`)"
        ),
        None => {
            eprintln!(
                "skipping the NumPy round trip: set OCTET_PYTHON to a Python with numpy and \
                 safetensors to run it"
            );
            None
        }
    }
}

/// `spec` trained a few steps under DAI8 (batch norms then have running statistics), with the
/// data it trained on.
fn trained(ctx: &octet::Context, spec: &ModelSpec) -> (Trainer, Dataset) {
    let [h, w, c] = spec.input.map(|d| d as usize);
    let data = Dataset::synthetic_images(4 * BATCH as usize, [h, w, c], spec.classes(), 0.5, 7);
    let cfg = TrainConfig {
        batch: BATCH,
        lr: 0.02,
        ..Default::default()
    };
    let mut trainer = Trainer::new(ctx, spec, Policy::dai8(), cfg).unwrap();
    for s in 0..3 {
        let (x, y) = data.batch(s * BATCH as usize, BATCH as usize);
        trainer.train_step(x, y).unwrap();
    }
    (trainer, data)
}

fn norm(c: u32) -> Normalization {
    Normalization {
        mean: (0..c).map(|i| 0.25 + 0.125 * i as f32).collect(),
        std: (0..c).map(|i| 0.5 - 0.0625 * i as f32).collect(),
    }
}

/// The parameters and running statistics of a trainer's model.
fn weights(trainer: &mut Trainer) -> Vec<NamedTensor> {
    let ckpt = trainer.checkpoint().unwrap();
    let mut t = ckpt.tensors_of(TensorRole::Parameter);
    t.extend(ckpt.tensors_of(TensorRole::RunningStat));
    t
}

/// A safetensors file of F32 tensors.
fn write_f32(path: &Path, tensors: &[(&str, Vec<usize>, &[f32])]) {
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, _, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect())
        .collect();
    let views = tensors.iter().zip(&bytes).map(|((name, shape, _), b)| {
        (
            name.to_string(),
            TensorView::new(Dtype::F32, shape.clone(), b).unwrap(),
        )
    });
    std::fs::write(path, safetensors::serialize(views, None).unwrap()).unwrap();
}

/// The zoo architectures at small inputs: an MLP on a 3-channel image (its first Linear is
/// re-ordered to PyTorch's flatten), LeNet-5 at 28×28×1, the ResNet at 16×16×3 and MobileNetV2
/// at 16×16×3 (depthwise weights `[c, 1, 3, 3]` in PyTorch).
fn zoo() -> Vec<ModelSpec> {
    vec![
        ModelSpec {
            input: [6, 5, 3],
            ..ModelSpec::mlp(90, &[16, 12], 4)
        },
        ModelSpec::lenet5(28, 28, 1, 10),
        ModelSpec::resnet(16, 16, 3, 5),
        ModelSpec::mobilenetv2(16, 16, 3, 5),
    ]
}

#[test]
fn the_export_gives_octets_logits_in_numpy() {
    let python = python();
    for_each_adapter("export round trip", Needs::PreferredAdapter, |gpu| {
        let ctx = gpu.context();
        for spec in zoo() {
            let (mut trainer, data) = trained(&ctx, &spec);
            let ckpt = trainer.checkpoint().unwrap();
            let dir = tempfile::tempdir().unwrap();
            let source = ExportSource::from_checkpoint(&ckpt, norm(spec.input[2]));
            let files = interop::export(dir.path(), &source).unwrap();
            assert!(files.model.is_file() && files.int8.is_file());
            // Five rows: a short batch, padded inside the predictor.
            let predictor = Predictor::new(&ctx, &spec, BATCH, &source.tensors).unwrap();
            let (x, _) = data.batch(0, 5);
            let logits = predictor.logits(x).unwrap();
            assert_eq!(logits.len(), 5 * spec.classes() as usize);
            // octet's own int8 forward (per-sample clips, every GEMM layer quantized) is
            // within int8 error of it too.
            let int8 = Predictor::int8(&ctx, &spec, BATCH, &source.tensors, true).unwrap();
            let q = int8.logits(x).unwrap();
            let scale = logits.iter().fold(0f32, |m, v| m.max(v.abs()));
            let diff = logits
                .iter()
                .zip(&q)
                .fold(0f32, |m, (u, v)| m.max((u - v).abs()));
            assert!(diff <= 0.1 * scale, "int8 forward: {diff} of {scale}");
            let batch_file = dir.path().join("batch.safetensors");
            let f = spec.input_len() as usize;
            let c = spec.classes() as usize;
            write_f32(
                &batch_file,
                &[("x", vec![5, f], x), ("logits", vec![5, c], &logits)],
            );
            let Some(python) = &python else { continue };
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/check_export.py");
            // No __pycache__ in the source tree.
            let out = Command::new(python)
                .env("PYTHONDONTWRITEBYTECODE", "1")
                .arg(&script)
                .arg(dir.path())
                .arg(&batch_file)
                .output()
                .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "{:?}: {}{stdout}",
                spec.layers.first(),
                String::from_utf8_lossy(&out.stderr)
            );
            eprintln!("{}", stdout.trim());
        }
    });
}

#[test]
fn import_reads_back_the_exported_tensors_bit_for_bit() {
    for_each_adapter("import", Needs::PreferredAdapter, |gpu| {
        let ctx = gpu.context();
        for spec in zoo() {
            let (mut trainer, data) = trained(&ctx, &spec);
            let ckpt = trainer.checkpoint().unwrap();
            let dir = tempfile::tempdir().unwrap();
            let source = ExportSource::from_checkpoint(&ckpt, norm(spec.input[2]));
            let files = interop::export(dir.path(), &source).unwrap();
            let mut imported = interop::import(&files.model, &spec).unwrap();
            let mut exported = source.tensors.clone();
            imported.sort_by(|a, b| a.name.cmp(&b.name));
            exported.sort_by(|a, b| a.name.cmp(&b.name));
            assert_eq!(imported.len(), exported.len());
            for (a, b) in imported.iter().zip(&exported) {
                assert_eq!((&a.name, &a.shape), (&b.name, &b.shape));
                assert_eq!(bits(&a.data), bits(&b.data), "{}", a.name);
            }
            // A fresh trainer started from the file predicts as the trained one.
            let cfg = trainer.config().clone();
            let fresh = Trainer::new(&ctx, &spec, Policy::dai8(), cfg).unwrap();
            let (params, stats): (Vec<_>, Vec<_>) = imported
                .into_iter()
                .partition(|t| !t.name.contains(".running_"));
            fresh
                .model()
                .write_tensors(&ctx, TensorRole::Parameter, &params)
                .unwrap();
            fresh
                .model()
                .write_tensors(&ctx, TensorRole::RunningStat, &stats)
                .unwrap();
            let mut fresh = fresh;
            let (x, _) = data.batch(0, BATCH as usize);
            let a = Predictor::new(&ctx, &spec, BATCH, &weights(&mut trainer)).unwrap();
            let b = Predictor::new(&ctx, &spec, BATCH, &weights(&mut fresh)).unwrap();
            assert_eq!(bits(&a.logits(x).unwrap()), bits(&b.logits(x).unwrap()));
        }
    });
}

#[test]
fn a_file_that_does_not_fit_is_refused_naming_each_tensor() {
    let spec = ModelSpec::lenet5(28, 28, 1, 10);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.safetensors");
    let w = vec![0.0f32; 6 * 25];
    let b = vec![0.0f32; 6];
    // conv1's weight with octet's [out, kh, kw, in] instead of PyTorch's, fc1 absent, an
    // unknown head.
    write_f32(
        &path,
        &[
            ("conv1.weight", vec![6, 5, 5, 1], &w),
            ("conv1.bias", vec![6], &b),
            ("head.weight", vec![6], &b),
        ],
    );
    let err = interop::import(&path, &spec).unwrap_err();
    let Error::WeightsMismatch {
        file,
        missing,
        extra,
        misshaped,
    } = &err
    else {
        panic!("expected WeightsMismatch, got {err}");
    };
    assert_eq!(file, &path);
    assert!(missing.contains(&"fc1.weight".to_string()), "{missing:?}");
    assert!(!missing.contains(&"conv1.bias".to_string()));
    assert_eq!(extra, &["head.weight".to_string()]);
    assert_eq!(misshaped.len(), 1);
    assert!(misshaped[0].starts_with("conv1.weight"), "{misshaped:?}");
    let message = err.to_string();
    for part in ["fc1.weight", "head.weight", "conv1.weight", "[6, 1, 5, 5]"] {
        assert!(message.contains(part), "{message}");
    }
    // Not a safetensors file at all: a data error naming the file.
    std::fs::write(&path, b"not weights").unwrap();
    let err = interop::import(&path, &spec).unwrap_err();
    assert!(err.to_string().contains("bad.safetensors"), "{err}");
}

#[test]
fn a_prediction_does_not_depend_on_the_rest_of_the_batch() {
    for_each_adapter("predictor", Needs::PreferredAdapter, |gpu| {
        let ctx = gpu.context();
        let spec = ModelSpec::resnet(16, 16, 3, 5);
        let (mut trainer, data) = trained(&ctx, &spec);
        let fp32 = trainer.predictor(BATCH).unwrap();
        let int8 = Predictor::int8(&ctx, &spec, BATCH, &weights(&mut trainer), false).unwrap();
        assert!(!fp32.is_int8() && int8.is_int8());
        let c = spec.classes() as usize;
        let (x, _) = data.batch(0, BATCH as usize);
        for p in [&fp32, &int8] {
            independent_of_the_batch(&ctx, p, &data);
        }
        // The int8 forward is close to the FP32 one: within 10% of the largest logit.
        let (a, b) = (fp32.logits(x).unwrap(), int8.logits(x).unwrap());
        let scale = a.iter().fold(0f32, |m, v| m.max(v.abs()));
        let diff = a
            .iter()
            .zip(&b)
            .fold(0f32, |m, (u, v)| m.max((u - v).abs()));
        assert!(diff > 0.0 && diff <= 0.1 * scale, "int8 {diff} of {scale}");
        eprintln!("int8 forward: max |Δ logit| {diff:.2e} of max |logit| {scale:.2e}");
        let probs = fp32.probabilities(x).unwrap();
        for row in probs.chunks(c) {
            assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        }
    });
}

/// A row's logits have the same bits alone, among other rows at another place, and taken
/// asynchronously; too many rows or a ragged row are typed errors.
fn independent_of_the_batch(ctx: &octet::Context, p: &Predictor, data: &Dataset) {
    let spec = p.spec();
    let f = spec.input_len() as usize;
    let c = spec.classes() as usize;
    let (x, _) = data.batch(0, BATCH as usize);
    let all = p.logits(x).unwrap();
    let (other, _) = data.batch(BATCH as usize, BATCH as usize);
    for row in [0, 3, 7] {
        let alone = p.logits(&x[row * f..(row + 1) * f]).unwrap();
        assert_eq!(
            bits(&alone),
            bits(&all[row * c..(row + 1) * c]),
            "row {row}"
        );
        let mut mixed = other.to_vec();
        mixed[f..2 * f].copy_from_slice(&x[row * f..(row + 1) * f]);
        let among = p.logits(&mixed).unwrap();
        assert_eq!(
            bits(&among[c..2 * c]),
            bits(&alone),
            "row {row} among others"
        );
    }
    let pending = p.logits_async(x).unwrap();
    let got = loop {
        if let Some(v) = pending.try_take(ctx).unwrap() {
            break v;
        }
        std::thread::yield_now();
    };
    assert_eq!(bits(&got), bits(&all));
    let mut big = x.to_vec();
    big.extend_from_slice(&x[..f]);
    assert!(matches!(p.logits(&big), Err(Error::InvalidArgument { .. })));
    assert!(matches!(
        p.logits(&x[..f - 1]),
        Err(Error::InvalidArgument { .. })
    ));
}
