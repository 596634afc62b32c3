//! What a run reports: the JSON report, the summary after each run and the `--compare` table.

use std::path::Path;

use octet::nn::LayerQuantState;
use serde::Serialize;

use crate::AnyResult;
use crate::args::{Args, Model, Quant};
use crate::data::Data;

/// The adapter a run trained on, as the report and the first printed line name it.
pub struct DeviceInfo {
    pub backend: String,
    pub adapter: String,
    pub driver: String,
}

impl DeviceInfo {
    /// Names the context's adapter, or the host device where it has none.
    pub fn of(ctx: &octet::Context) -> Self {
        match ctx.adapter_info() {
            Some(i) => DeviceInfo {
                backend: format!("{:?}", i.backend),
                adapter: i.name.clone(),
                driver: format!("{} {}", i.driver, i.driver_info),
            },
            None => DeviceInfo {
                backend: "host".into(),
                adapter: "host device".into(),
                driver: String::new(),
            },
        }
    }
}

/// One epoch's figures.
#[derive(Clone, Debug, Serialize)]
pub struct EpochRecord {
    pub epoch: u32,
    pub train_loss: f32,
    pub train_accuracy: f32,
    pub test_loss: f32,
    pub test_accuracy: f32,
    pub val_accuracy: Option<f32>,
    pub seconds: f64,
}

/// A layer's quantization state, briefly.
#[derive(Clone, Debug, Serialize)]
pub struct LayerReport {
    layer: usize,
    quantized: bool,
    clip_x: f32,
    clip_w: f32,
    clip_dy: f32,
    cosine_distance: f32,
    phi: f32,
    gaussian_channels: u32,
    inverted_t_channels: u32,
}

impl From<&LayerQuantState> for LayerReport {
    fn from(s: &LayerQuantState) -> Self {
        LayerReport {
            layer: s.layer,
            quantized: s.quantized,
            clip_x: s.clip_x,
            clip_w: s.clip_w,
            clip_dy: s.dy.tensor_clip,
            cosine_distance: s.dy.distance,
            phi: s.dy.phi,
            gaussian_channels: s.dy.gaussian,
            inverted_t_channels: s.dy.inverted_t,
        }
    }
}

/// Everything one run reports.
#[derive(Clone, Debug, Serialize)]
pub struct RunReport {
    pub octet_version: &'static str,
    pub backend: String,
    pub adapter: String,
    pub driver: String,
    pub model: Model,
    pub quant: &'static str,
    pub dataset: String,
    pub train_size: usize,
    pub val_size: usize,
    pub test_size: usize,
    pub epochs: u32,
    pub batch_size: u32,
    pub lr: f32,
    pub seed: u32,
    pub quantize_first_last: bool,
    pub per_epoch: Vec<EpochRecord>,
    /// Mean training loss of each step, for the plot.
    pub step_losses: Vec<f32>,
    pub final_test_accuracy: f32,
    pub wall_seconds: f64,
    pub images_per_second: f64,
    pub dispatches_per_step: usize,
    pub quant_state: Vec<LayerReport>,
    pub interrupted: bool,
    /// A data-parallel run's ranks and exchange (`--distributed`), as top-level fields.
    #[serde(flatten)]
    pub distributed: Option<DistReport>,
}

/// What a data-parallel run exchanged, per rank.
#[derive(Clone, Debug, Serialize)]
pub struct DistReport {
    pub ranks: usize,
    pub exchange: &'static str,
    /// Bytes this rank sent per step.
    pub bytes_exchanged_per_step: u64,
    /// Seconds in the exchange, over the run.
    pub exchange_seconds: f64,
    /// Seconds in the rest of the steps: GPU work, its readback and write-back, and the host's
    /// gather of the next shard. (`step_losses` are rank 0's shard's; the epochs' train loss
    /// and accuracy the whole batch's.)
    pub compute_seconds: f64,
}

impl DistReport {
    pub fn new(ranks: usize, exchange: octet::dist::Exchange) -> Self {
        DistReport {
            ranks,
            exchange: exchange.name(),
            bytes_exchanged_per_step: 0,
            exchange_seconds: 0.0,
            compute_seconds: 0.0,
        }
    }

    /// Counts one step of `seconds` whose exchange cost `cost`.
    pub fn add_step(&mut self, cost: octet::dist::ExchangeStats, seconds: f64) {
        self.bytes_exchanged_per_step = cost.bytes_sent;
        self.exchange_seconds += cost.seconds;
        self.compute_seconds += seconds - cost.seconds;
    }
}

impl RunReport {
    /// The report of a run not yet started: its settings, no figures, and the device and data
    /// set left blank until the run is done.
    pub fn new(args: &Args, data: &Data, quant: Quant, dispatches_per_step: usize) -> Self {
        RunReport {
            octet_version: env!("CARGO_PKG_VERSION"),
            backend: String::new(),
            adapter: String::new(),
            driver: String::new(),
            model: args.model,
            quant: quant.name(),
            dataset: String::new(),
            train_size: data.train.len(),
            val_size: data.val_len(),
            test_size: data.test.len(),
            epochs: args.epochs,
            batch_size: args.batch_size,
            lr: args.lr,
            seed: args.seed,
            quantize_first_last: args.quantize_first_last,
            per_epoch: Vec::new(),
            step_losses: Vec::new(),
            final_test_accuracy: 0.0,
            wall_seconds: 0.0,
            images_per_second: 0.0,
            dispatches_per_step,
            quant_state: Vec::new(),
            interrupted: false,
            distributed: None,
        }
    }

    /// Fills in the adapter and the data set's directory.
    pub fn set_origin(&mut self, device: &DeviceInfo, dataset: &Path) {
        self.backend = device.backend.clone();
        self.adapter = device.adapter.clone();
        self.driver = device.driver.clone();
        self.dataset = dataset.display().to_string();
    }

    /// Takes over the step losses and epochs of `old`, the report a checkpoint carries, so a
    /// resumed run's curves start where the interrupted run's stopped.
    pub fn restore_history(&mut self, old: &serde_json::Value) {
        if let Some(losses) = old["step_losses"].as_array() {
            self.step_losses = losses
                .iter()
                .filter_map(|v| v.as_f64())
                .map(|v| v as f32)
                .collect();
        }
        if let Some(epochs) = old["per_epoch"].as_array() {
            for e in epochs {
                let f = |k: &str| e[k].as_f64().unwrap_or(0.0);
                self.per_epoch.push(EpochRecord {
                    epoch: f("epoch") as u32,
                    train_loss: f("train_loss") as f32,
                    train_accuracy: f("train_accuracy") as f32,
                    test_loss: f("test_loss") as f32,
                    test_accuracy: f("test_accuracy") as f32,
                    val_accuracy: e["val_accuracy"].as_f64().map(|v| v as f32),
                    seconds: f("seconds"),
                });
            }
        }
    }
}

/// Writes `{"runs": [...]}` to `path`, replacing it whole or not at all.
pub fn write_json(path: &Path, reports: &[RunReport]) -> AnyResult<()> {
    let json = serde_json::to_vec_pretty(&serde_json::json!({ "runs": reports }))?;
    octet::fsio::write_atomically(path, &json)?;
    Ok(())
}

/// Prints one run's outcome and the clips of its quantized layers.
pub fn summarize(r: &RunReport) {
    eprintln!(
        "{} {:?}: final test accuracy {:.2}% in {:.1} s ({:.0} images/s, {} dispatches per step)",
        r.quant,
        r.model,
        100.0 * r.final_test_accuracy,
        r.wall_seconds,
        r.images_per_second,
        r.dispatches_per_step
    );
    for l in r.quant_state.iter().filter(|l| l.quantized) {
        eprintln!(
            "  layer {:>2}: clip X {:.3}  W {:.3}  dY {:.2e}  cos dist {:.2e}  φ {:.3}  \
             classes {} Gaussian / {} inverted-T",
            l.layer,
            l.clip_x,
            l.clip_w,
            l.clip_dy,
            l.cosine_distance,
            l.phi,
            l.gaussian_channels,
            l.inverted_t_channels
        );
    }
}

/// Prints the `--compare` table: each policy's accuracy against FP32's.
pub fn print_table(reports: &[RunReport]) {
    let fp32 = reports
        .iter()
        .find(|r| r.quant == "fp32")
        .map(|r| r.final_test_accuracy);
    println!("\n| policy | test accuracy | gap to FP32 | wall time | images/s |");
    println!("|---|---|---|---|---|");
    for r in reports {
        let gap = fp32.map_or("–".into(), |f| {
            format!("{:+.2} pts", 100.0 * (r.final_test_accuracy - f))
        });
        println!(
            "| {} | {:.2}% | {gap} | {:.1} s | {:.0} |",
            r.quant,
            100.0 * r.final_test_accuracy,
            r.wall_seconds,
            r.images_per_second
        );
    }
}
