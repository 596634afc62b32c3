//! Reading a PyTorch `state_dict` (a safetensors file named as [`export`](super::export)
//! writes it) into octet's tensors: the inverse of the export, for starting a model from
//! weights trained elsewhere.

use std::path::Path;

use safetensors::tensor::Dtype;

use crate::error::{Error, Result};
use crate::interop::names;
use crate::nn::{ModelSpec, NamedTensor};

/// Reads the safetensors file at `path` as the PyTorch `state_dict` of `spec` and returns its
/// parameters and batch-norm running statistics under octet's names and layouts, ready for
/// [`Model::write_tensors`](crate::nn::Model::write_tensors) (by role) or
/// [`Predictor::new`](crate::nn::Predictor::new).
///
/// Every tensor the model needs must be there, F32 (F64 is narrowed), with PyTorch's shape;
/// `num_batches_tracked` may be there or not (octet does not use it). Anything else is
/// refused with [`Error::WeightsMismatch`], which lists every missing, extra and mis-shaped
/// tensor at once.
pub fn import(path: &Path, spec: &ModelSpec) -> Result<Vec<NamedTensor>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    import_bytes(path, &bytes, spec)
}

/// [`import`] of bytes already in memory; `path` names them in errors.
pub fn import_bytes(path: &Path, bytes: &[u8], spec: &ModelSpec) -> Result<Vec<NamedTensor>> {
    let st = safetensors::SafeTensors::deserialize(bytes)
        .map_err(|e| Error::data(path, format!("not a safetensors file: {e}")))?;
    let table = names::table(spec)?;
    let bns = names::batchnorms(&table);
    let (mut missing, mut misshaped) = (Vec::new(), Vec::new());
    let mut out = Vec::new();
    for entry in &table {
        let Ok(view) = st.tensor(&entry.torch) else {
            missing.push(entry.torch.clone());
            continue;
        };
        let values: Option<Vec<f32>> = match view.dtype() {
            Dtype::F32 => Some(
                view.data()
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect(),
            ),
            Dtype::F64 => Some(
                view.data()
                    .chunks_exact(8)
                    .map(|b| f64::from_le_bytes(b.try_into().unwrap_or([0; 8])) as f32)
                    .collect(),
            ),
            _ => None,
        };
        match values {
            Some(v) if view.shape() == entry.torch_shape.as_slice() => out.push(NamedTensor {
                name: entry.octet.clone(),
                shape: entry.octet_shape.clone(),
                data: entry.layout.to_octet(&v),
            }),
            _ => misshaped.push(format!(
                "{} {:?} {:?}, the model needs F32 {:?}",
                entry.torch,
                view.dtype(),
                view.shape(),
                entry.torch_shape
            )),
        }
    }
    let known = |name: &str| {
        table.iter().any(|e| e.torch == name)
            || name
                .strip_suffix(".num_batches_tracked")
                .is_some_and(|bn| bns.iter().any(|b| b == bn))
    };
    let mut extra: Vec<String> = st
        .names()
        .into_iter()
        .filter(|n| !known(n))
        .map(str::to_string)
        .collect();
    extra.sort();
    if !missing.is_empty() || !extra.is_empty() || !misshaped.is_empty() {
        return Err(Error::WeightsMismatch {
            file: path.to_path_buf(),
            missing,
            extra,
            misshaped,
        });
    }
    Ok(out)
}
