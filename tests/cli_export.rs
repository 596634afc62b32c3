//! The trainer's way in and out: trained on an image folder, `--export` writes the PyTorch
//! form, `--eval` prints each class's accuracy and the confusion matrix with the folder's class
//! names, `--init` starts from an export, and a file that does not fit is refused naming it.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use common::run_trainer as run;
use safetensors::SafeTensors;

/// Two classes of 12×12 grayscale PNGs: a bright left half (`left`) or right half (`right`).
fn image_folder(dir: &Path) {
    for (split, rows) in [("train", 32), ("test", 8)] {
        for row in 0..rows {
            let class = ["left", "right"][row % 2];
            let folder = dir.join(split).join(class);
            std::fs::create_dir_all(&folder).unwrap();
            let image = image::GrayImage::from_fn(12, 12, |x, y| {
                let lit = (x < 6) == (class == "left");
                image::Luma([if lit {
                    200 + (row as u8 + y as u8) % 50
                } else {
                    20
                }])
            });
            image.save(folder.join(format!("{row:03}.png"))).unwrap();
        }
    }
}

#[test]
fn train_export_evaluate_and_start_from_an_export() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let data = d.join("images");
    image_folder(&data);
    let (data, export, ckpt) = (
        data.to_str().unwrap().to_string(),
        d.join("export"),
        d.join("ckpt"),
    );
    let common = [
        "--data",
        &data,
        "--model",
        "lenet5",
        "--quant",
        "dai8",
        "--epochs",
        "1",
        "--batch-size",
        "8",
        "--warmup-steps",
        "0",
    ];
    let mut args = common.to_vec();
    args.extend(["--export", export.to_str().unwrap()]);
    args.extend(["--checkpoint-dir", ckpt.to_str().unwrap()]);
    let (code, _, err) = run(&args);
    assert_eq!(code, 0, "{err}");
    for file in ["model.safetensors", "model-int8.safetensors"] {
        assert!(export.join(file).is_file(), "{file} missing: {err}");
    }
    let last = ckpt.join("last.safetensors");
    let again = d.join("again");
    let (code, out, err) = run(&[
        "--data",
        &data,
        "--eval",
        last.to_str().unwrap(),
        "--export",
        again.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    for part in [
        "test accuracy",
        "per class:",
        "confusion matrix",
        "left",
        "right",
    ] {
        assert!(out.contains(part), "`{part}` not in:\n{out}");
    }
    // The checkpoint's export is the training run's: the same tensors and metadata (whose
    // order in the header safetensors does not fix).
    for file in ["model.safetensors", "model-int8.safetensors"] {
        let (a, b) = (read(&export.join(file)), read(&again.join(file)));
        assert!(a == b, "{file} differs between the two exports");
    }
    // Started from the export.
    let model = export.join("model.safetensors");
    let mut args = common.to_vec();
    args.extend(["--init", model.to_str().unwrap()]);
    let (code, _, err) = run(&args);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("initialized from"), "{err}");
    // The export of another architecture does not fit: refused, naming file and tensors.
    let mut args = common.to_vec();
    args[3] = "mlp";
    args.extend(["--init", model.to_str().unwrap()]);
    let (code, _, err) = run(&args);
    assert_ne!(code, 0);
    for part in [
        "model.safetensors",
        "not part of the model: conv1.bias",
        "wrong shape: fc1.weight",
    ] {
        assert!(err.contains(part), "`{part}` not in: {err}");
    }
    // An unreadable image stops the run, naming it.
    std::fs::write(Path::new(&data).join("train/left/bad.png"), b"no").unwrap();
    let (code, _, err) = run(&common);
    assert_ne!(code, 0);
    assert!(err.contains("bad.png"), "{err}");
}

/// A safetensors file's metadata and tensors (dtype, shape, bytes), by name.
type Contents = (
    Option<HashMap<String, String>>,
    BTreeMap<String, (String, Vec<usize>, Vec<u8>)>,
);

fn read(path: &Path) -> Contents {
    let bytes = std::fs::read(path).unwrap();
    let meta = SafeTensors::read_metadata(&bytes)
        .unwrap()
        .1
        .metadata()
        .clone();
    let tensors = SafeTensors::deserialize(&bytes)
        .unwrap()
        .tensors()
        .into_iter()
        .map(|(name, t)| {
            let value = (
                format!("{:?}", t.dtype()),
                t.shape().to_vec(),
                t.data().to_vec(),
            );
            (name, value)
        })
        .collect();
    (meta, tensors)
}
