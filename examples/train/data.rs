//! Which data set a run trains on, and its splits, loaded and normalized.

use std::path::{Path, PathBuf};

use octet::data::{Dataset, ImageOptions, Splits, is_image_folder, load_dir, load_image_folders};
use octet::interop::Normalization;

use crate::AnyResult;
use crate::args::Args;

/// The embedded default data set.
const EMBEDDED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/fashion-mnist");

/// The directory `--data` names, or the embedded subset.
pub fn data_dir(args: &Args) -> PathBuf {
    args.data.clone().unwrap_or_else(|| PathBuf::from(EMBEDDED))
}

/// Training, validation and test splits, normalized with the training split's statistics.
pub struct Data {
    pub train: Dataset,
    pub val: Option<Dataset>,
    pub test: Dataset,
    /// The per-channel mean and deviation all splits were normalized with (the training
    /// split's), recorded in exports.
    pub normalization: Normalization,
    /// The class names of image folders (labels otherwise).
    pub class_names: Option<Vec<String>>,
}

impl Data {
    /// Images in the validation split (none without `--val`).
    pub fn val_len(&self) -> usize {
        self.val.as_ref().map_or(0, Dataset::len)
    }
}

/// Loads `dir`, cut to `--train-limit`, with `--val` images split off the training split.
pub fn load(args: &Args, dir: &Path) -> AnyResult<Data> {
    let (
        Splits {
            mut train,
            mut test,
        },
        class_names,
    ) = if is_image_folder(dir) {
        let options = ImageOptions {
            size: args.image_size.map(|s| [s, s]),
            channels: args.image_channels,
        };
        let folders = load_image_folders(dir, &options)?;
        (folders.splits, Some(folders.classes))
    } else {
        (load_dir(dir)?, None)
    };
    if let Some(n) = args.train_limit {
        train.truncate(n);
    }
    let mut val = (args.val > 0).then(|| train.split_off(args.val));
    let (mean, std) = train.channel_moments();
    for d in [Some(&mut train), val.as_mut(), Some(&mut test)]
        .into_iter()
        .flatten()
    {
        d.normalize(&mean, &std);
    }
    if train.len() < args.batch_size as usize {
        return Err(format!(
            "the training split has {} images, fewer than one batch of {}; lower --batch-size",
            train.len(),
            args.batch_size
        )
        .into());
    }
    Ok(Data {
        train,
        val,
        test,
        normalization: Normalization { mean, std },
        class_names,
    })
}
