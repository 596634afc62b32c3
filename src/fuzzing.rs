//! Entry points for the fuzz targets (`fuzz/`) and their regression seeds
//! (`tests/fuzz_seeds.rs`): each takes arbitrary bytes and must return, never panic, loop or
//! allocate without bound.

use std::path::Path;

use crate::data::{Dataset, append_cifar10, parse_idx};
use crate::interop::import_bytes;
use crate::nn::ModelSpec;
use crate::quant::Policy;
use crate::train::TrainConfig;
use crate::train::checkpoint::Checkpoint;

/// IDX parsing, raw or gzip.
pub fn idx(data: &[u8]) {
    let _ = parse_idx(Path::new("fuzz.idx"), data);
}

/// CIFAR-10 batch parsing.
pub fn cifar(data: &[u8]) {
    let mut set = Dataset::from_bytes([32, 32, 3], 10, Vec::new(), Vec::new());
    let _ = append_cifar10(&mut set, Path::new("fuzz.bin"), data);
}

/// Checkpoint parsing; a parsed checkpoint's model is also validated.
pub fn checkpoint(data: &[u8]) {
    if let Ok(c) = Checkpoint::from_bytes(Path::new("fuzz.safetensors"), data) {
        let _ = c.model.shapes();
    }
}

/// A training configuration as JSON `[model, policy, config]`: parsed, the model's shapes
/// computed, the schedule evaluated at a few steps.
pub fn config(data: &[u8]) {
    let Ok((model, policy, config)) =
        serde_json::from_slice::<(ModelSpec, Policy, TrainConfig)>(data)
    else {
        return;
    };
    let _ = model.shapes();
    let _ = model.classes();
    let _ = policy.refreshes_at(config.warmup_steps);
    for step in [0, 1, config.warmup_steps, u64::MAX / 2, u64::MAX] {
        let _ = config.lr_at(step);
    }
}

/// A PyTorch `state_dict` (safetensors) imported into two small models: an MLP, and a
/// convolution, batch norm and residual block with a projection shortcut (every layout change
/// and name kind of the import).
pub fn weights(data: &[u8]) {
    let conv = ModelSpec::builder(5, 5, 2)
        .conv2d(3, 3, 1, 1)
        .batchnorm()
        .relu()
        .basic_block(4, 2)
        .global_avg_pool()
        .linear(2)
        .build();
    for spec in [ModelSpec::mlp(4, &[3], 2), conv] {
        let _ = import_bytes(Path::new("fuzz.safetensors"), data, &spec);
    }
}
