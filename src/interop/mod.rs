//! A trained model in and out of octet, in the forms other tools read: a PyTorch `state_dict`
//! ([`export`], [`import`]) and int8 weights named as compressed-tensors (vLLM, Hugging Face)
//! names them. `python/octet_models.py` holds the PyTorch definitions of the zoo models whose
//! `state_dict` these are, and a NumPy forward of them.
//!
//! - `names`: the one table, derived from a [`ModelSpec`](crate::nn::ModelSpec), of each octet
//!   tensor beside its PyTorch name, shape and layout;
//! - `export`: [`export`] writes `model.safetensors` and `model-int8.safetensors`;
//! - `import`: [`import`] reads a `state_dict` back into octet's tensors.
//!
//! ```no_run
//! # fn demo(trainer: &mut octet::train::Trainer) -> octet::Result<()> {
//! use octet::interop::{ExportSource, Normalization, export};
//!
//! let checkpoint = trainer.checkpoint()?;
//! let norm = Normalization { mean: vec![0.286], std: vec![0.353] };
//! let files = export("runs/export".as_ref(), &ExportSource::from_checkpoint(&checkpoint, norm))?;
//! # Ok(()) }
//! ```

mod export;
mod import;
mod names;

pub use export::{ExportSource, Exported, FORMAT, Normalization, export};
pub use import::{import, import_bytes};
