//! Checkpoints: a trainer's whole state in one [safetensors](https://huggingface.co/docs/safetensors)
//! file, written atomically (temporary file in the same directory, fsync, rename, fsync of the
//! directory), so a crash at any moment leaves either the old checkpoint or the new one.
//!
//! Tensor names inside the file, readable by any safetensors reader (e.g. Python's
//! `safetensors.numpy.load_file`):
//!
//! - the parameters under their plain names ([`NamedTensor`]: `layer0.conv.weight`, …) and the
//!   batch-norm running statistics (`layer1.bn.running_mean`, …), F32;
//! - SGD momentum as `momentum.<parameter name>`, F32;
//! - quantization state as `quant.<name>` ([`TensorRole::QuantState`]), U32 raw words.
//!
//! The metadata (`__metadata__`) holds `format`, `octet_version`, the model, policy and
//! training configuration as JSON, the `step`, and any extra entries the caller adds (the
//! trainer example stores the epoch and the data set there).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use safetensors::tensor::{Dtype, TensorView};

use crate::error::{Error, Result};
use crate::fsio::write_atomically;
use crate::nn::{ModelSpec, NamedTensor, TensorRole, is_running_stat};
use crate::quant::Policy;
use crate::train::TrainConfig;

/// The value of the `format` metadata entry.
pub const FORMAT: &str = "octet-checkpoint-1";

/// A trainer's state: enough to continue training exactly where it stopped.
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoint {
    /// The architecture.
    pub model: ModelSpec,
    /// The quantization policy and its settings.
    pub policy: Policy,
    /// The training configuration (batch, optimizer, schedule, seed).
    pub config: TrainConfig,
    /// Steps taken.
    pub step: u64,
    /// Free-form entries stored in the metadata (e.g. the epoch).
    pub extra: BTreeMap<String, String>,
    /// Parameters, momentum, running statistics and quantization state, ordered by role and
    /// name.
    pub tensors: Vec<(TensorRole, NamedTensor)>,
}

/// Orders tensors by role and name, the order [`Checkpoint::tensors`] keeps.
pub(crate) fn sort(tensors: &mut [(TensorRole, NamedTensor)]) {
    tensors.sort_by(|(ra, a), (rb, b)| (ra, &a.name).cmp(&(rb, &b.name)));
}

fn file_name(role: TensorRole, name: &str) -> Option<String> {
    match role {
        TensorRole::Parameter | TensorRole::RunningStat => Some(name.to_string()),
        TensorRole::Velocity => Some(format!("momentum.{name}")),
        TensorRole::QuantState => Some(format!("quant.{name}")),
        TensorRole::Gradient => None,
    }
}

impl Checkpoint {
    /// The tensors of one role.
    pub fn tensors_of(&self, role: TensorRole) -> Vec<NamedTensor> {
        self.tensors
            .iter()
            .filter(|(r, _)| *r == role)
            .map(|(_, t)| t.clone())
            .collect()
    }

    /// CRC-32 of the bits of every tensor of `role`, in name order, each name included: two
    /// checkpoints (or two platforms' initial weights) hold the same tensors exactly when
    /// these agree, barring a collision.
    pub fn fingerprint(&self, role: TensorRole) -> u32 {
        let mut crc = crc32fast::Hasher::new();
        for t in self.tensors_of(role) {
            crc.update(t.name.as_bytes());
            for v in &t.data {
                crc.update(&v.to_bits().to_le_bytes());
            }
        }
        crc.finalize()
    }

    /// Serializes to safetensors bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut meta = HashMap::from([
            ("format".to_string(), FORMAT.to_string()),
            (
                "octet_version".to_string(),
                env!("CARGO_PKG_VERSION").to_string(),
            ),
            ("model".to_string(), json(&self.model)?),
            ("policy".to_string(), json(&self.policy)?),
            ("config".to_string(), json(&self.config)?),
            ("step".to_string(), self.step.to_string()),
        ]);
        for (k, v) in &self.extra {
            meta.entry(k.clone()).or_insert_with(|| v.clone());
        }
        let mut bytes: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
        for (role, t) in &self.tensors {
            let Some(name) = file_name(*role, &t.name) else {
                continue;
            };
            let dtype = if *role == TensorRole::QuantState {
                Dtype::U32
            } else {
                Dtype::F32
            };
            let data = t
                .data
                .iter()
                .flat_map(|v| v.to_bits().to_le_bytes())
                .collect();
            bytes.push((name, dtype, t.shape.clone(), data));
        }
        let views = bytes
            .iter()
            .map(|(name, dtype, shape, data)| {
                let view = TensorView::new(*dtype, shape.clone(), data)
                    .map_err(|e| Error::invalid("checkpoint", format!("tensor {name}: {e}")))?;
                Ok((name.clone(), view))
            })
            .collect::<Result<Vec<_>>>()?;
        safetensors::serialize(views, Some(meta))
            .map_err(|e| Error::invalid("checkpoint", e.to_string()))
    }

    /// Parses safetensors bytes written by [`Checkpoint::to_bytes`]; `file` names the source
    /// in errors.
    pub fn from_bytes(file: &Path, bytes: &[u8]) -> Result<Self> {
        let bad = |problem: String| Error::Checkpoint {
            file: file.to_path_buf(),
            problem,
        };
        let (_, header) = safetensors::SafeTensors::read_metadata(bytes)
            .map_err(|e| bad(format!("not a safetensors file: {e}")))?;
        let meta = header.metadata().clone().unwrap_or_default();
        let get = |key: &str| {
            meta.get(key).ok_or_else(|| {
                bad(format!(
                    "metadata entry `{key}` is missing: not an octet checkpoint"
                ))
            })
        };
        if get("format")? != FORMAT {
            return Err(bad(format!(
                "format {:?}, this octet reads {FORMAT:?}",
                get("format")?
            )));
        }
        let parse = |key: &str| -> Result<serde_json::Value> {
            serde_json::from_str(get(key)?).map_err(|e| bad(format!("metadata `{key}`: {e}")))
        };
        let model: ModelSpec = serde_json::from_value(parse("model")?)
            .map_err(|e| bad(format!("metadata `model`: {e}")))?;
        let policy: Policy = serde_json::from_value(parse("policy")?)
            .map_err(|e| bad(format!("metadata `policy`: {e}")))?;
        let config: TrainConfig = serde_json::from_value(parse("config")?)
            .map_err(|e| bad(format!("metadata `config`: {e}")))?;
        let step = get("step")?
            .parse()
            .map_err(|e| bad(format!("metadata `step`: {e}")))?;
        let known = [
            "format",
            "octet_version",
            "model",
            "policy",
            "config",
            "step",
        ];
        let extra = meta
            .iter()
            .filter(|(k, _)| !known.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let st = safetensors::SafeTensors::deserialize(bytes)
            .map_err(|e| bad(format!("corrupt tensor data: {e}")))?;
        let mut tensors = Vec::new();
        for name in st.names() {
            let view = st.tensor(name).map_err(|e| bad(e.to_string()))?;
            let (role, plain) = if let Some(p) = name.strip_prefix("momentum.") {
                (TensorRole::Velocity, p)
            } else if let Some(p) = name.strip_prefix("quant.") {
                (TensorRole::QuantState, p)
            } else if is_running_stat(name) {
                (TensorRole::RunningStat, name)
            } else {
                (TensorRole::Parameter, name)
            };
            let want = if role == TensorRole::QuantState {
                Dtype::U32
            } else {
                Dtype::F32
            };
            if view.dtype() != want {
                return Err(bad(format!(
                    "tensor `{name}` is {:?}, expected {want:?}",
                    view.dtype()
                )));
            }
            let data = view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_bits(u32::from_le_bytes([b[0], b[1], b[2], b[3]])))
                .collect();
            tensors.push((
                role,
                NamedTensor {
                    name: plain.to_string(),
                    shape: view.shape().to_vec(),
                    data,
                },
            ));
        }
        sort(&mut tensors);
        Ok(Checkpoint {
            model,
            policy,
            config,
            step,
            extra,
            tensors,
        })
    }

    /// Writes the checkpoint to `path` atomically: a crash leaves the previous file or the
    /// new one, never a torn one.
    pub fn save(&self, path: &Path) -> Result<()> {
        write_atomically(path, &self.to_bytes()?)
    }

    /// Reads a checkpoint written by [`Checkpoint::save`].
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Self::from_bytes(path, &bytes)
    }
}

fn json<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::invalid("checkpoint", e.to_string()))
}
