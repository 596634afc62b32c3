//! What a run reports: the JSON report, the summary after each run and the `--compare` table.

use std::path::Path;

use octet::nn::LayerQuantState;
use serde::{Deserialize, Serialize};

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
    /// What the policy's methods chose by the epoch's end (UI8's clip ratio, distance and φ,
    /// DAI8's channel classes), per weighted layer.
    pub quant_state: Vec<LayerReport>,
}

/// A layer's quantization state, briefly.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LayerReport {
    pub layer: usize,
    pub quantized: bool,
    clip_x: f32,
    clip_w: f32,
    clip_dy: f32,
    /// The dY clip over the tensor's max|dY|: the ratio UI8's search chose (1 for a max clip).
    pub clip_ratio_dy: f32,
    pub cosine_distance: f32,
    pub phi: f32,
    pub gaussian_channels: u32,
    pub inverted_t_channels: u32,
}

impl From<&LayerQuantState> for LayerReport {
    fn from(s: &LayerQuantState) -> Self {
        LayerReport {
            layer: s.layer,
            quantized: s.quantized,
            clip_x: s.clip_x,
            clip_w: s.clip_w,
            clip_dy: s.dy.tensor_clip,
            clip_ratio_dy: if s.dy.max_abs > 0.0 {
                s.dy.tensor_clip / s.dy.max_abs
            } else {
                1.0
            },
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
                    quant_state: serde_json::from_value(e["quant_state"].clone())
                        .unwrap_or_default(),
                });
            }
        }
    }
}

/// Writes `{"runs": [...], "summary": [...]}` to `path`, replacing it whole or not at all.
pub fn write_json(path: &Path, reports: &[RunReport]) -> AnyResult<()> {
    let json = serde_json::to_vec_pretty(&serde_json::json!({
        "runs": reports,
        "summary": summarize_policies(reports),
    }))?;
    octet::fsio::write_atomically(path, &json)?;
    Ok(())
}

/// Mean and sample standard deviation of a few values (0 for one value).
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Spread {
    pub mean: f64,
    pub std: f64,
    pub n: usize,
}

impl Spread {
    fn of(values: &[f64]) -> Option<Spread> {
        let n = values.len();
        if n == 0 {
            return None;
        }
        let mean = values.iter().sum::<f64>() / n as f64;
        let var = if n > 1 {
            values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64
        } else {
            0.0
        };
        Some(Spread {
            mean,
            std: var.sqrt(),
            n,
        })
    }
}

/// One policy over the seeds of an invocation.
#[derive(Clone, Debug, Serialize)]
pub struct PolicySummary {
    pub quant: &'static str,
    pub seeds: Vec<u32>,
    /// Final test accuracy per seed, in percent.
    pub test_accuracy: Vec<f64>,
    pub test_accuracy_spread: Spread,
    /// Accuracy minus FP32's of the same seed, in points, over the seeds that have both.
    pub gap_to_fp32: Option<Spread>,
    pub wall_seconds: Spread,
}

/// Each policy's accuracy and gap to FP32 over the seeds, in the order the policies first ran.
pub fn summarize_policies(reports: &[RunReport]) -> Vec<PolicySummary> {
    let mut quants: Vec<&'static str> = Vec::new();
    for r in reports.iter().filter(|r| !r.interrupted) {
        if !quants.contains(&r.quant) {
            quants.push(r.quant);
        }
    }
    let fp32 = |seed: u32| {
        reports
            .iter()
            .find(|r| r.quant == "fp32" && r.seed == seed && !r.interrupted)
            .map(|r| r.final_test_accuracy as f64)
    };
    quants
        .into_iter()
        .filter_map(|quant| {
            let runs: Vec<&RunReport> = reports
                .iter()
                .filter(|r| r.quant == quant && !r.interrupted)
                .collect();
            let acc: Vec<f64> = runs
                .iter()
                .map(|r| 100.0 * r.final_test_accuracy as f64)
                .collect();
            let gaps: Vec<f64> = runs
                .iter()
                .filter_map(|r| fp32(r.seed).map(|f| 100.0 * (r.final_test_accuracy as f64 - f)))
                .collect();
            let wall: Vec<f64> = runs.iter().map(|r| r.wall_seconds).collect();
            Some(PolicySummary {
                quant,
                seeds: runs.iter().map(|r| r.seed).collect(),
                test_accuracy_spread: Spread::of(&acc)?,
                test_accuracy: acc,
                gap_to_fp32: Spread::of(&gaps),
                wall_seconds: Spread::of(&wall)?,
            })
        })
        .collect()
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

/// Prints the table of an invocation with several runs (`--compare`, `--seeds`): each policy's
/// accuracy (mean ± standard deviation over the seeds) and its gap to FP32 with that gap's spread.
pub fn print_table(reports: &[RunReport]) {
    let pm = |s: &Spread| {
        if s.n > 1 {
            format!("{:.2} ± {:.2}", s.mean, s.std)
        } else {
            format!("{:.2}", s.mean)
        }
    };
    println!("\n| policy | seeds | test accuracy % | gap to FP32 (points) | wall time s |");
    println!("|---|---|---|---|---|");
    for p in summarize_policies(reports) {
        let seeds: Vec<String> = p.seeds.iter().map(u32::to_string).collect();
        let gap = p.gap_to_fp32.as_ref().map_or("–".into(), |g| {
            if g.n > 1 {
                format!("{:+.2} ± {:.2}", g.mean, g.std)
            } else {
                format!("{:+.2}", g.mean)
            }
        });
        println!(
            "| {} | {} | {} | {gap} | {:.1} |",
            p.quant,
            seeds.join(","),
            pm(&p.test_accuracy_spread),
            p.wall_seconds.mean
        );
    }
}
