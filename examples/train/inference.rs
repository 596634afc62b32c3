//! The trained model out of the trainer and back in: `--eval` (a checkpoint's predictions on
//! the test split, per class and as a confusion matrix), `--export` and `--init`.

use std::path::Path;

use octet::checkpoint::Checkpoint;
use octet::interop::{self, ExportSource, Normalization};
use octet::nn::{ModelSpec, Predictor, TensorRole, argmax_rows, softmax_rows};
use octet::train::Trainer;

use crate::AnyResult;
use crate::data::Data;

/// `--eval`: the checkpoint's test loss and accuracy, each class's accuracy and the confusion
/// matrix, from the model's forward alone ([`Predictor`]: int8 layers, with each image's own
/// clips, where the policy trained them on int8); with `--export`, the export too.
pub fn evaluate(
    ctx: &octet::Context,
    path: &Path,
    data: &Data,
    export_dir: Option<&Path>,
) -> AnyResult<()> {
    let ckpt = Checkpoint::load(path)?;
    if ckpt.model.input != data.test.shape.map(|d| d as u32) {
        return Err(format!(
            "{}: the model takes {:?} inputs, the data set has {:?}; pass the --data it was \
             trained on",
            path.display(),
            ckpt.model.input,
            data.test.shape
        )
        .into());
    }
    if data.test.classes > ckpt.model.classes() {
        return Err(format!(
            "{}: the model tells {} classes apart, the data set has {}; pass the --data it was \
             trained on",
            path.display(),
            ckpt.model.classes(),
            data.test.classes
        )
        .into());
    }
    let norm = normalization_of(&ckpt, data);
    let mut test = data.test.clone();
    renormalize(&mut test.x, &data.normalization, &norm);
    let mut tensors = ckpt.tensors_of(TensorRole::Parameter);
    tensors.extend(ckpt.tensors_of(TensorRole::RunningStat));
    // The forward as the model was trained: int8 layers under an int8 policy.
    let (cap, first_last) = (ckpt.config.batch, ckpt.config.quantize_first_last);
    let predictor = if ckpt.policy.is_int8() {
        Predictor::int8(ctx, &ckpt.model, cap, &tensors, first_last)?
    } else {
        Predictor::new(ctx, &ckpt.model, cap, &tensors)?
    };
    let classes = ckpt.model.classes() as usize;
    let test = &test;
    let rows = predictor.capacity() as usize;
    // confusion[truth][predicted]
    let mut confusion = vec![vec![0u64; classes]; classes];
    let mut loss = 0f64;
    for start in (0..test.len()).step_by(rows) {
        let n = rows.min(test.len() - start);
        let (x, y) = test.batch(start, n);
        let logits = predictor.logits(x)?;
        let probs = softmax_rows(&logits, classes);
        for ((row, &truth), predicted) in probs
            .chunks(classes)
            .zip(y)
            .zip(argmax_rows(&logits, classes))
        {
            loss -= (row[truth as usize].max(f32::MIN_POSITIVE) as f64).ln();
            confusion[truth as usize][predicted as usize] += 1;
        }
    }
    let correct: u64 = (0..classes).map(|c| confusion[c][c]).sum();
    println!(
        "{}: step {}, {} forward, test loss {:.4}, test accuracy {:.2}% ({} images)",
        path.display(),
        ckpt.step,
        if predictor.is_int8() {
            "int8 (per-image clips)"
        } else {
            "fp32"
        },
        loss / test.len() as f64,
        100.0 * correct as f64 / test.len() as f64,
        test.len()
    );
    print_per_class(&confusion, data.class_names.as_deref());
    if let Some(dir) = export_dir {
        export(&ckpt, norm, dir)?;
    }
    Ok(())
}

/// The checkpoint entry that records the normalization its run's inputs had.
pub fn normalization_entry(norm: &Normalization) -> (String, String) {
    let value = serde_json::json!({ "mean": norm.mean, "std": norm.std });
    ("normalization".to_string(), value.to_string())
}

/// The normalization a checkpoint recorded, else (checkpoints of older runs) the one of the
/// data loaded now.
fn normalization_of(ckpt: &Checkpoint, data: &Data) -> Normalization {
    let recorded = ckpt
        .extra
        .get("normalization")
        .and_then(|v| serde_json::from_str::<serde_json::Value>(v).ok())
        .and_then(|v| {
            let list = |key: &str| -> Option<Vec<f32>> {
                v.get(key)?
                    .as_array()?
                    .iter()
                    .map(|x| x.as_f64().map(|x| x as f32))
                    .collect()
            };
            Some(Normalization {
                mean: list("mean")?,
                std: list("std")?,
            })
        });
    recorded
        .filter(|n| {
            let c = data.normalization.mean.len();
            n.mean.len() == c && n.std.len() == c && n.std.iter().all(|s| *s > 0.0)
        })
        .unwrap_or_else(|| data.normalization.clone())
}

/// Values normalized with `from` re-normalized with `to` (a no-op when they are the same).
fn renormalize(x: &mut [f32], from: &Normalization, to: &Normalization) {
    if from == to {
        return;
    }
    let c = from.mean.len();
    for (i, v) in x.iter_mut().enumerate() {
        let k = i % c;
        *v = (*v * from.std[k] + from.mean[k] - to.mean[k]) / to.std[k];
    }
}

/// Each class's accuracy, then the confusion matrix (rows: true class, columns: predicted).
fn print_per_class(confusion: &[Vec<u64>], names: Option<&[String]>) {
    let name = |c: usize| {
        names
            .and_then(|n| n.get(c).cloned())
            .unwrap_or_else(|| c.to_string())
    };
    let width = (0..confusion.len())
        .map(|c| name(c).len())
        .max()
        .unwrap_or(1)
        .max(5);
    println!("per class:");
    for (c, row) in confusion.iter().enumerate() {
        let total: u64 = row.iter().sum();
        let acc = 100.0 * row[c] as f64 / total.max(1) as f64;
        println!("  {:>width$}  {acc:6.2}%  ({} of {total})", name(c), row[c]);
    }
    println!("confusion matrix (rows: true class, columns: predicted):");
    let header: String = (0..confusion.len()).map(|c| format!(" {:>5}", c)).collect();
    println!("  {:>width$} {header}", "");
    for (c, row) in confusion.iter().enumerate() {
        let cells: String = row.iter().map(|v| format!(" {v:>5}")).collect();
        println!("  {:>width$} {cells}", name(c));
    }
}

/// `--export DIR`: `model.safetensors` and `model-int8.safetensors` of a checkpoint, with the
/// normalization of the data it was trained on.
pub fn export(ckpt: &Checkpoint, norm: Normalization, dir: &Path) -> AnyResult<()> {
    let source = ExportSource::from_checkpoint(ckpt, norm);
    let files = interop::export(dir, &source)?;
    eprintln!(
        "export: {} and {} (load them with python/octet_models.py)",
        files.model.display(),
        files.int8.display()
    );
    Ok(())
}

/// `--init FILE`: the trainer's parameters and batch-norm running statistics from a PyTorch
/// `state_dict` of the same zoo model.
pub fn init(
    ctx: &octet::Context,
    trainer: &Trainer,
    spec: &ModelSpec,
    path: &Path,
) -> AnyResult<()> {
    let tensors = interop::import(path, spec)?;
    let (stats, params): (Vec<_>, Vec<_>) = tensors.into_iter().partition(|t| t.is_running_stat());
    trainer
        .model()
        .write_tensors(ctx, TensorRole::Parameter, &params)?;
    trainer
        .model()
        .write_tensors(ctx, TensorRole::RunningStat, &stats)?;
    eprintln!("initialized from {}", path.display());
    Ok(())
}
