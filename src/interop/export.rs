//! Writing a trained model for other tools: `model.safetensors` as a PyTorch `state_dict` and
//! `model-int8.safetensors` with int8 weights named as compressed-tensors names them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype, TensorView};

use crate::cpu::common::{clip_is_valid, inv_step, quantize_one, step_of};
use crate::error::{Error, Result};
use crate::fsio::write_atomically;
use crate::interop::names::{self, Entry, Role};
use crate::nn::{LayerSpec, ModelSpec, NamedTensor, TensorRole};
use crate::train::checkpoint::Checkpoint;

/// The value of the `format` metadata entry of both exports: what PyTorch's own
/// `save_file` writes, so tools that check it accept the files.
pub const FORMAT: &str = "pt";

/// The int8 scheme, recorded as `quantization_config` in `model-int8.safetensors`: the
/// compressed-tensors description of symmetric int8 weights with one scale per output channel.
const INT8_SCHEME: &str = r#"{"quant_method":"compressed-tensors","format":"int-quantized","config_groups":{"group_0":{"targets":["Linear","Conv2d"],"weights":{"num_bits":8,"type":"int","symmetric":true,"strategy":"channel","dynamic":false},"input_activations":null}},"ignore":[]}"#;

/// The per-channel normalization the model's inputs had in training, `x ← (x − mean) / std`
/// on pixels in [0, 1]: another tool must apply it too.
#[derive(Clone, Debug, PartialEq)]
pub struct Normalization {
    /// Mean of each input channel.
    pub mean: Vec<f32>,
    /// Standard deviation of each input channel.
    pub std: Vec<f32>,
}

/// What an export is made of.
#[derive(Clone, Debug)]
pub struct ExportSource<'a> {
    /// The architecture.
    pub spec: &'a ModelSpec,
    /// Its parameters and batch-norm running statistics under octet's names
    /// ([`NamedTensor`]); momentum and quantization state never go into an export.
    pub tensors: Vec<NamedTensor>,
    /// The input normalization.
    pub normalization: Normalization,
    /// Training steps taken (each batch norm's `num_batches_tracked`).
    pub steps: u64,
    /// Whether the int8 export quantizes the first and last GEMM layers too (by default they
    /// stay F32, as octet trains them).
    pub quantize_first_last: bool,
}

impl<'a> ExportSource<'a> {
    /// A checkpoint's parameters and running statistics, with the normalization its data had.
    pub fn from_checkpoint(checkpoint: &'a Checkpoint, normalization: Normalization) -> Self {
        let mut tensors = checkpoint.tensors_of(TensorRole::Parameter);
        tensors.extend(checkpoint.tensors_of(TensorRole::RunningStat));
        ExportSource {
            spec: &checkpoint.model,
            tensors,
            normalization,
            steps: checkpoint.step,
            quantize_first_last: checkpoint.config.quantize_first_last,
        }
    }
}

/// The files [`export`] wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exported {
    /// `model.safetensors`: the PyTorch `state_dict`, F32.
    pub model: PathBuf,
    /// `model-int8.safetensors`: the same with int8 weights and their scales.
    pub int8: PathBuf,
}

/// A tensor as it goes into a file.
struct Out {
    name: String,
    dtype: Dtype,
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

impl Out {
    fn f32(name: String, shape: Vec<usize>, values: &[f32]) -> Self {
        let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        Out {
            name,
            dtype: Dtype::F32,
            shape,
            bytes,
        }
    }
}

/// Writes `model.safetensors` and `model-int8.safetensors` into `dir` (created if missing),
/// each atomically.
///
/// `model.safetensors` is a PyTorch `state_dict` of the definitions in
/// `python/octet_models.py`: convolutions `[out, in, kh, kw]`, Linear `[out, in]` (a Linear
/// reading a flattened image takes its columns in PyTorch's NCHW flatten order), batch norms
/// with `num_batches_tracked` (I64). Its `__metadata__`: `format` (`pt`), `architecture`
/// (`mlp`, `lenet5`, `resnet` or `custom`), `arguments` (the zoo function's, JSON), `input`
/// (`[c, h, w]`), `classes`, `mean` and `std` (per input channel, JSON), `octet_model` (the
/// spec, JSON) and `octet_version`.
///
/// `model-int8.safetensors` holds the same tensors, except that each quantized layer's weight
/// is `<module>.weight` as I8 with `<module>.weight_scale` (F32 `[out, 1]`): symmetric, one
/// scale per output channel (max |w| / 127, octet's round-to-nearest-even quantizer), the
/// scheme as compressed-tensors describes it in the `quantization_config` metadata entry.
/// Quantized are the layers octet trains on int8: every Linear and convolution but the first
/// and the last, unless [`ExportSource::quantize_first_last`].
pub fn export(dir: &Path, source: &ExportSource<'_>) -> Result<Exported> {
    let table = names::table(source.spec)?;
    let c = source.spec.input[2] as usize;
    let norm = &source.normalization;
    if norm.mean.len() != c || norm.std.len() != c {
        return Err(Error::invalid(
            "export",
            format!(
                "the normalization has {} means and {} deviations; the model's input has {c} \
                 channels",
                norm.mean.len(),
                norm.std.len()
            ),
        ));
    }
    let values = ordered_values(&table, &source.tensors)?;
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let meta = metadata(source)?;

    let mut plain = Vec::new();
    let mut int8 = Vec::new();
    // The GEMM layers' weights in model order; the first and last stay F32 by default.
    let weights: Vec<&str> = table
        .iter()
        .filter(|e| e.role == Role::Weight)
        .map(|e| e.octet.as_str())
        .collect();
    let quantized = |entry: &Entry| {
        weights
            .iter()
            .position(|w| *w == entry.octet)
            .is_some_and(|k| source.quantize_first_last || (k != 0 && k + 1 != weights.len()))
    };
    for (entry, octet) in table.iter().zip(&values) {
        let torch = entry.layout.to_torch(octet);
        plain.push(Out::f32(
            entry.torch.clone(),
            entry.torch_shape.clone(),
            &torch,
        ));
        if quantized(entry) {
            int8.extend(quantize_weight(entry, &torch));
        } else {
            int8.push(Out::f32(
                entry.torch.clone(),
                entry.torch_shape.clone(),
                &torch,
            ));
        }
    }
    for bn in names::batchnorms(&table) {
        for out in [&mut plain, &mut int8] {
            out.push(Out {
                name: format!("{bn}.num_batches_tracked"),
                dtype: Dtype::I64,
                shape: Vec::new(),
                bytes: (source.steps as i64).to_le_bytes().to_vec(),
            });
        }
    }
    let model = dir.join("model.safetensors");
    write(&model, &plain, meta.clone())?;
    let mut meta8 = meta;
    meta8.insert("quantization_config".into(), INT8_SCHEME.into());
    let int8_path = dir.join("model-int8.safetensors");
    write(&int8_path, &int8, meta8)?;
    Ok(Exported {
        model,
        int8: int8_path,
    })
}

/// The values of each table entry from `tensors`, which must hold every one with its shape.
fn ordered_values<'t>(table: &[Entry], tensors: &'t [NamedTensor]) -> Result<Vec<&'t [f32]>> {
    table
        .iter()
        .map(|e| {
            let t = tensors.iter().find(|t| t.name == e.octet).ok_or_else(|| {
                Error::invalid("export", format!("tensor `{}` is missing", e.octet))
            })?;
            if t.shape != e.octet_shape || t.data.len() != e.octet_shape.iter().product::<usize>() {
                return Err(Error::invalid(
                    "export",
                    format!(
                        "tensor `{}` has shape {:?}, the model's is {:?}",
                        e.octet, t.shape, e.octet_shape
                    ),
                ));
            }
            Ok(&t.data[..])
        })
        .collect()
}

/// A weight (PyTorch layout, output channels outermost) as I8 and its per-channel scales.
fn quantize_weight(entry: &Entry, torch: &[f32]) -> [Out; 2] {
    let out = entry.torch_shape[0];
    let per = torch.len() / out.max(1);
    let mut q = Vec::with_capacity(torch.len());
    let mut scales = Vec::with_capacity(out);
    for row in torch.chunks(per.max(1)) {
        let clip = row
            .iter()
            .filter(|v| v.is_finite())
            .fold(0f32, |m, v| m.max(v.abs()));
        if clip_is_valid(clip) {
            let inv = inv_step(clip);
            q.extend(
                row.iter()
                    .map(|&v| quantize_one(v, clip, inv, false, 0) as i8 as u8),
            );
            scales.push(step_of(clip));
        } else {
            // An all-zero (or unusable) channel: zeros with scale 0, as octet's quantizer does.
            q.extend(std::iter::repeat_n(0u8, row.len()));
            scales.push(0.0);
        }
    }
    let module = entry.torch.trim_end_matches(".weight");
    [
        Out {
            name: entry.torch.clone(),
            dtype: Dtype::I8,
            shape: entry.torch_shape.clone(),
            bytes: q,
        },
        Out::f32(format!("{module}.weight_scale"), vec![out, 1], &scales),
    ]
}

/// The metadata both files share.
fn metadata(source: &ExportSource<'_>) -> Result<HashMap<String, String>> {
    let spec = source.spec;
    let [h, w, c] = spec.input;
    let json = |v: serde_json::Value| v.to_string();
    let (architecture, arguments) = zoo_arguments(spec);
    let octet_model =
        serde_json::to_string(spec).map_err(|e| Error::invalid("export", e.to_string()))?;
    Ok(HashMap::from([
        ("format".into(), FORMAT.into()),
        ("architecture".into(), architecture.into()),
        ("arguments".into(), json(arguments)),
        ("input".into(), json(serde_json::json!([c, h, w]))),
        ("classes".into(), spec.classes().to_string()),
        (
            "mean".into(),
            json(serde_json::json!(source.normalization.mean)),
        ),
        (
            "std".into(),
            json(serde_json::json!(source.normalization.std)),
        ),
        ("octet_model".into(), octet_model),
        ("octet_version".into(), env!("CARGO_PKG_VERSION").into()),
    ]))
}

/// Which zoo function of `python/octet_models.py` builds `spec`, and its arguments.
fn zoo_arguments(spec: &ModelSpec) -> (&'static str, serde_json::Value) {
    let [h, w, c] = spec.input;
    let classes = spec.classes();
    let image = serde_json::json!({ "h": h, "w": w, "c": c, "classes": classes });
    if *spec == ModelSpec::lenet5(h, w, c, classes) {
        return ("lenet5", image);
    }
    if *spec == ModelSpec::resnet(h, w, c, classes) {
        return ("resnet", image);
    }
    if *spec == ModelSpec::mobilenetv2(h, w, c, classes) {
        return ("mobilenetv2", image);
    }
    let hidden: Vec<u32> = spec
        .layers
        .iter()
        .filter_map(|l| match l {
            LayerSpec::Linear { outputs } => Some(*outputs),
            _ => None,
        })
        .collect();
    let hidden = &hidden[..hidden.len().saturating_sub(1)];
    if spec.layers == ModelSpec::mlp(h * w * c, hidden, classes).layers {
        let args =
            serde_json::json!({ "h": h, "w": w, "c": c, "hidden": hidden, "classes": classes });
        return ("mlp", args);
    }
    ("custom", serde_json::Value::Null)
}

fn write(path: &Path, tensors: &[Out], meta: HashMap<String, String>) -> Result<()> {
    let views = tensors
        .iter()
        .map(|t| {
            let view = TensorView::new(t.dtype, t.shape.clone(), &t.bytes)
                .map_err(|e| Error::invalid("export", format!("tensor {}: {e}", t.name)))?;
            Ok((t.name.clone(), view))
        })
        .collect::<Result<Vec<_>>>()?;
    let bytes = safetensors::serialize(views, Some(meta))
        .map_err(|e| Error::invalid("export", e.to_string()))?;
    write_atomically(path, &bytes)
}
