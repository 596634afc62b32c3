//! The command line, and what its choices mean to the library: a model spec, a policy and a
//! training configuration.

use std::path::PathBuf;

use clap::{Parser, ValueEnum};
use octet::data::Augment;
use octet::nn::ModelSpec;
use octet::quant::Policy;
use octet::train::{LrSchedule, NonFinitePolicy, TrainConfig};
use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Model {
    /// 784-256-256-10 perceptron (any input, flattened).
    Mlp,
    /// LeNet-5: two 5×5 convolutions with max-pooling, then 120-84-10.
    Lenet5,
    /// A small ResNet: 3 basic blocks (16, 32, 64 channels) with batch norm.
    Resnet,
    /// A small MobileNetV2: 7 inverted-residual blocks (depthwise 3×3, ReLU6) to 64 channels.
    Mobilenetv2,
}

impl Model {
    /// The zoo model for images of shape `[h, w, c]` in `classes` classes.
    pub fn spec(self, [h, w, c]: [usize; 3], classes: u32) -> ModelSpec {
        let (h, w, c) = (h as u32, w as u32, c as u32);
        match self {
            Model::Mlp => ModelSpec {
                input: [h, w, c],
                ..ModelSpec::mlp(h * w * c, &[256, 256], classes)
            },
            Model::Lenet5 => ModelSpec::lenet5(h, w, c, classes),
            Model::Resnet => ModelSpec::resnet(h, w, c, classes),
            Model::Mobilenetv2 => ModelSpec::mobilenetv2(h, w, c, classes),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Quant {
    /// Everything in FP32: the baseline.
    Fp32,
    /// Max-abs per tensor, nearest rounding, no gradient clipping.
    Naive,
    /// Unified INT8 training (direction-sensitive clipping, DCLRS, stochastic rounding).
    Ui8,
    /// Distribution-adaptive INT8 (per-channel dY for dW, magnitude-aware clipping).
    Dai8,
}

impl Quant {
    /// Every policy, in the order `--compare` trains them.
    pub const ALL: [Quant; 4] = [Quant::Fp32, Quant::Naive, Quant::Ui8, Quant::Dai8];

    /// The name on the command line, in the report and in `Policy::from_name`.
    pub fn name(self) -> &'static str {
        match self {
            Quant::Fp32 => "fp32",
            Quant::Naive => "naive",
            Quant::Ui8 => "ui8",
            Quant::Dai8 => "dai8",
        }
    }

    /// The library's policy of that name, with its default settings.
    pub fn policy(self) -> Policy {
        Policy::from_name(self.name()).expect("every Quant names a policy")
    }
}

/// `--exchange`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ExchangeArg {
    F32,
    Int8,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OnNonFinite {
    /// Stop with an error.
    Stop,
    /// Skip the step and halve the learning rate.
    Skip,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Schedule {
    /// The same learning rate throughout.
    Constant,
    /// Multiplied by 0.1 at 50% and 75% of the steps.
    Step,
    /// Cosine decay to zero over the run.
    Cosine,
}

#[derive(Parser, Debug, Clone)]
#[command(
    about = "Train a network with INT8 GEMMs on wgpu (octet's example trainer)",
    long_about = "Trains a zoo model under an FP32 or INT8 policy. With no arguments: LeNet-5 \
                  with DAI8 on the Fashion-MNIST subset embedded in the repository (10,000 \
                  training and 2,000 test images), two epochs."
)]
pub struct Args {
    /// Model from the zoo.
    #[arg(long, value_enum, default_value = "lenet5")]
    pub model: Model,
    /// Quantization policy.
    #[arg(long, value_enum, default_value = "dai8")]
    pub quant: Quant,
    /// Passes over the training split.
    #[arg(long, default_value_t = 2)]
    pub epochs: u32,
    /// Images per step (a last partial batch of each epoch is skipped).
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..))]
    pub batch_size: u32,
    /// Peak learning rate.
    #[arg(long, default_value_t = 0.04)]
    pub lr: f32,
    /// SGD momentum.
    #[arg(long, default_value_t = 0.9)]
    pub momentum: f32,
    /// L2 weight decay.
    #[arg(long, default_value_t = 5e-4)]
    pub weight_decay: f32,
    /// Nesterov momentum.
    #[arg(long)]
    pub nesterov: bool,
    /// Learning-rate schedule over the whole run.
    #[arg(long, value_enum, default_value = "cosine")]
    pub schedule: Schedule,
    /// Steps of linear learning-rate warm-up.
    #[arg(long, default_value_t = 50)]
    pub warmup_steps: u64,
    /// Seed of the weights, the data order and stochastic rounding.
    #[arg(long, default_value_t = 1)]
    pub seed: u32,
    /// Repeat the run (every policy, with --compare) for each of these seeds, e.g. `1,2,3`:
    /// the table and the report give each policy's mean ± standard deviation and its gap to
    /// FP32 (seed by seed) with that gap's spread.
    #[arg(long, value_delimiter = ',', num_args = 1.., conflicts_with_all = ["seed", "resume", "eval", "distributed"])]
    pub seeds: Vec<u32>,
    /// Augment the training images: each shifted by up to an eighth of its width (zero padding)
    /// and half of them mirrored, drawn per step and image, so a resumed run stays exact.
    #[arg(long, conflicts_with = "distributed")]
    pub augment: bool,
    /// Quantize the first and last layers too (by default they stay FP32).
    #[arg(long)]
    pub quantize_first_last: bool,
    /// When a step's loss or gradients hold NaN/Inf (its update is skipped either way): stop
    /// with an error naming the step and layer, or skip it and halve the learning rate.
    #[arg(long, value_enum, default_value = "stop")]
    pub on_nonfinite: OnNonFinite,
    /// Directory with IDX files (train-images-idx3-ubyte[.gz], …), CIFAR-10 binary batches, or
    /// image folders train/<class>/ and test/<class>/ of PNG/JPEG files [default: the
    /// embedded Fashion-MNIST subset].
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Image folders: resize and centre-crop every image to N×N [default: the first training
    /// image's size].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub image_size: Option<u32>,
    /// Image folders: 1 (grayscale) or 3 (RGB) channels [default: as the first training image].
    #[arg(long, value_name = "C")]
    pub image_channels: Option<u32>,
    /// Hold out this many training images as a validation split, reported each epoch.
    #[arg(long, default_value_t = 0)]
    pub val: usize,
    /// Use only the first N training images.
    #[arg(long)]
    pub train_limit: Option<usize>,
    /// Training steps recorded into one GPU submit, the training split kept on the device
    /// [default: 16 on a GPU; on a CPU adapter the host gathers the batches, one step per
    /// submit, unless this is given]. The results are the same bits either way.
    #[arg(
        long,
        value_parser = clap::value_parser!(u32).range(1..=256),
        conflicts_with = "distributed"
    )]
    pub steps_per_submit: Option<u32>,
    /// Train data-parallel as one rank of an MPI job (`mpiexec -n N …`; needs `--features
    /// mpi`): --batch-size is the global batch, each rank takes batch-size / N of it.
    #[arg(long, conflicts_with_all = ["compare", "eval"])]
    pub distributed: bool,
    /// How ranks exchange gradients: f32, or int8 with a scale per 256 values (a quarter of the
    /// bytes).
    #[arg(long, value_enum, default_value = "f32", requires = "distributed")]
    pub exchange: ExchangeArg,
    /// GPU backend: vulkan, metal, dx12 or gl [default: the best adapter present].
    #[arg(long)]
    pub backend: Option<String>,
    /// Write `last.safetensors` here at every epoch end and on Ctrl-C.
    #[arg(long)]
    pub checkpoint_dir: Option<PathBuf>,
    /// Continue the run saved in this checkpoint (same options as the run that wrote it).
    #[arg(long)]
    pub resume: Option<PathBuf>,
    /// Only evaluate this checkpoint on the test split.
    #[arg(long, conflicts_with_all = ["resume", "compare"])]
    pub eval: Option<PathBuf>,
    /// Write the trained model (or with --eval the checkpoint's) here: model.safetensors, a
    /// PyTorch state_dict of python/octet_models.py, and model-int8.safetensors.
    #[arg(long, value_name = "DIR")]
    pub export: Option<PathBuf>,
    /// Start from the weights of this PyTorch-named safetensors file (an export, or a
    /// state_dict of python/octet_models.py's model) instead of random ones.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["resume", "eval"])]
    pub init: Option<PathBuf>,
    /// Write a JSON report here.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Plot loss and accuracy curves here (.png or .svg).
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Train FP32, naive, UI8 and DAI8 back to back with the same seed and print one table.
    #[arg(long, conflicts_with = "resume")]
    pub compare: bool,
}

impl Args {
    /// The seeds this run trains with, one after the other.
    pub fn seed_list(&self) -> Vec<u32> {
        if self.seeds.is_empty() {
            vec![self.seed]
        } else {
            self.seeds.clone()
        }
    }

    /// Whether runs of several policies or seeds share this invocation (and so its outputs).
    pub fn several_runs(&self) -> bool {
        self.compare || self.seeds.len() > 1
    }

    /// The policies this run trains, one after the other.
    pub fn quants(&self) -> Vec<Quant> {
        if self.compare {
            Quant::ALL.to_vec()
        } else {
            vec![self.quant]
        }
    }

    /// The training configuration for `steps_per_epoch` steps in each epoch; the schedule
    /// spans the steps after the warm-up.
    pub fn train_config(
        &self,
        steps_per_epoch: u64,
        ranks: u32,
        image_width: usize,
    ) -> TrainConfig {
        let total = steps_per_epoch * self.epochs as u64;
        let after_warmup = total.saturating_sub(self.warmup_steps).max(1);
        TrainConfig {
            batch: self.batch_size / ranks,
            lr: self.lr,
            momentum: self.momentum,
            weight_decay: self.weight_decay,
            nesterov: self.nesterov,
            schedule: match self.schedule {
                Schedule::Constant => LrSchedule::Constant,
                Schedule::Step => LrSchedule::Step {
                    every: after_warmup / 4,
                    gamma: 0.1,
                },
                Schedule::Cosine => LrSchedule::Cosine {
                    total: after_warmup,
                },
            },
            warmup_steps: self.warmup_steps,
            seed: self.seed,
            quantize_first_last: self.quantize_first_last,
            on_nonfinite: match self.on_nonfinite {
                OnNonFinite::Stop => NonFinitePolicy::Stop,
                OnNonFinite::Skip => NonFinitePolicy::SkipStep { lr_backoff: 0.5 },
            },
            augment: self.augment.then(|| Augment::for_width(image_width)),
        }
    }
}
