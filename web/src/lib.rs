//! octet in a browser: the library built for `wasm32-unknown-unknown` on wgpu's WebGPU backend,
//! behind the calls the demo page (`web/index.html`) and its test (`web/test.sh`) make.
//!
//! Every call that waits for the GPU returns a promise: in a browser a readback resolves only
//! through the event loop, so this crate drives octet's `*_async` methods. An [`Octet`] holds
//! the device, the data and the run behind an async lock: the calls that return promises and
//! touch the run take it in the order they were made; a synchronous call made while one of them
//! holds it is refused. (The conformance suites and the fingerprint use their own buffers and
//! take only the device.)

use std::path::Path;
use std::rc::Rc;

use futures::FutureExt;
use futures::lock::{Mutex, MutexGuard};
use octet::Context;
use octet::conformance::{CaseResult, Extent, STEP_FLOAT_TOLERANCE, SUITES};
use octet::data::{Augment, Dataset, parse_idx_pair, permutation};
use octet::nn::{ModelSpec, TensorRole};
use octet::quant::Policy;
use octet::train::{LrSchedule, StepMetrics, TrainConfig, Trainer, checkpoint::Checkpoint};
use serde::Serialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

/// The model the page trains: LeNet-5 on 28×28 grey images, ten classes.
fn lenet5() -> ModelSpec {
    ModelSpec::lenet5(28, 28, 1, 10)
}

/// The trainer example's defaults (`cargo run --example train`), with the schedule over
/// `total` steps.
fn train_config(batch: u32, lr: f32, seed: u32, total: u64) -> TrainConfig {
    let warmup = 50.min(total / 4);
    TrainConfig {
        batch,
        lr,
        momentum: 0.9,
        weight_decay: 5e-4,
        schedule: LrSchedule::Cosine {
            total: (total - warmup).max(1),
        },
        warmup_steps: warmup,
        seed,
        ..Default::default()
    }
}

fn js_error(e: impl std::fmt::Display) -> JsValue {
    JsError::new(&e.to_string()).into()
}

fn json<T: Serialize>(value: &T) -> Result<JsValue, JsValue> {
    serde_json::to_string(value)
        .map(|s| JsValue::from_str(&s))
        .map_err(js_error)
}

/// The training and test splits of the embedded Fashion-MNIST subset, normalized with the
/// training split's statistics.
struct Data {
    train: Dataset,
    test: Dataset,
}

/// A training run in progress.
struct Run {
    trainer: Trainer,
    /// The training rows this run uses: the first `rows` of the split.
    rows: usize,
    /// Epochs the run was started for.
    epochs: u32,
    steps_per_epoch: u64,
    /// The current epoch's order of training rows.
    order: Vec<usize>,
    epoch: u64,
    x: Vec<f32>,
    y: Vec<u32>,
}

struct State {
    ctx: Context,
    data: Option<Data>,
    run: Option<Run>,
}

impl State {
    fn data(&self) -> Result<&Data, JsValue> {
        self.data
            .as_ref()
            .ok_or_else(|| js_error("no data: call load_data first"))
    }

    fn run(&mut self) -> Result<&mut Run, JsValue> {
        self.run
            .as_mut()
            .ok_or_else(|| js_error("no training run: call start first"))
    }
}

/// What the page shows about the adapter.
#[derive(Serialize)]
struct AdapterReport {
    name: String,
    backend: String,
    driver: String,
    device_type: String,
    features: String,
    /// Whether the device offers subgroups at all.
    subgroups: bool,
    /// Whether octet's statistics folds use them (they need subgroups of 8 lanes or more).
    subgroup_folds: bool,
    max_workgroup_storage: u32,
    max_invocations: u32,
}

/// One conformance case, as the page lists it.
#[derive(Serialize)]
struct CaseReport {
    suite: &'static str,
    kernel: &'static str,
    case: String,
    passed: bool,
    max_error: f64,
    detail: String,
}

impl CaseReport {
    fn new(suite: &'static str, c: CaseResult) -> Self {
        CaseReport {
            suite,
            kernel: c.kernel,
            case: c.case,
            passed: c.passed,
            max_error: c.max_error,
            detail: c.detail,
        }
    }
}

/// The verdict of one training step replayed dispatch by dispatch on the CPU twins.
#[derive(Serialize)]
struct LockstepReport {
    policy: &'static str,
    dispatches: usize,
    exact_words: usize,
    exact_mismatches: usize,
    float_values: usize,
    max_float_error: f64,
    tolerance: f64,
    /// The dispatches that failed, with their kernel.
    failures: Vec<String>,
    passed: bool,
}

#[derive(Serialize)]
struct StepReport {
    step: u64,
    loss: f32,
    accuracy: f32,
    nonfinite: Option<String>,
}

impl From<StepMetrics> for StepReport {
    fn from(m: StepMetrics) -> Self {
        StepReport {
            step: m.step,
            loss: m.loss,
            accuracy: m.correct as f32 / m.rows as f32,
            nonfinite: m.nonfinite,
        }
    }
}

/// octet on the page's WebGPU device. Methods that wait for the GPU return promises.
#[wasm_bindgen]
pub struct Octet(Rc<Mutex<State>>);

/// Runs `f` on the the state as a promise, after the calls made before it.
fn with_state<F, Fut>(state: &Rc<Mutex<State>>, f: F) -> js_sys::Promise
where
    F: FnOnce(Rc<Mutex<State>>) -> Fut,
    Fut: std::future::Future<Output = Result<JsValue, JsValue>> + 'static,
{
    future_to_promise(f(state.clone()))
}

impl Octet {
    /// The state for a synchronous call, unless a call that returned a promise is pending.
    fn now(&self) -> Result<MutexGuard<'_, State>, JsValue> {
        self.0
            .try_lock()
            .ok_or_else(|| js_error("octet is busy with an earlier call: await it first"))
    }
}

#[wasm_bindgen]
impl Octet {
    /// Asks the browser for a WebGPU adapter and creates octet's device on it.
    pub async fn create() -> Result<Octet, JsValue> {
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
            backends: wgpu::Backends::BROWSER_WEBGPU,
            ..wgpu::InstanceDescriptor::new_without_display_handle()
        });
        let ask = |fallback| wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::HighPerformance,
            force_fallback_adapter: fallback,
            ..Default::default()
        };
        // A browser may offer a software adapter (a CPU driver) only when asked for a fallback.
        let adapter = match instance.request_adapter(&ask(false)).await {
            Ok(a) => a,
            Err(_) => instance
                .request_adapter(&ask(true))
                .await
                .map_err(|e| js_error(format!("no WebGPU adapter: {e}")))?,
        };
        let ctx = Context::request(&adapter).await.map_err(js_error)?;
        Ok(Octet(Rc::new(Mutex::new(State {
            ctx,
            data: None,
            run: None,
        }))))
    }

    /// The adapter as JSON: name, backend, driver, type, features, a few limits.
    pub fn adapter(&self) -> Result<JsValue, JsValue> {
        let state = self.now()?;
        let device = state.ctx.device();
        let info = device.adapter_info();
        let limits = device.limits();
        json(&AdapterReport {
            name: info.name,
            backend: format!("{:?}", info.backend),
            driver: format!("{} {}", info.driver, info.driver_info),
            device_type: format!("{:?}", info.device_type),
            features: format!("{:?}", device.features()),
            subgroups: device.features().contains(wgpu::Features::SUBGROUP),
            subgroup_folds: state.ctx.subgroup_folds(),
            max_workgroup_storage: limits.max_compute_workgroup_storage_size,
            max_invocations: limits.max_compute_invocations_per_workgroup,
        })
    }

    /// The names of the conformance suites, in the order they run.
    pub fn suites() -> Vec<String> {
        SUITES.iter().map(|s| s.name.to_string()).collect()
    }

    /// Runs one conformance suite's quick cases, each kernel against its CPU twin compiled to
    /// wasm; resolves to a JSON array of cases.
    pub fn conformance(&self, suite: String) -> js_sys::Promise {
        with_state(&self.0, |state| async move {
            let s = SUITES
                .iter()
                .find(|s| s.name == suite)
                .ok_or_else(|| js_error(format!("no suite {suite:?}")))?;
            let ctx = state.lock().await.ctx.clone();
            let cases = s.cases(&ctx, Extent::Quick).await.map_err(js_error)?;
            let report: Vec<_> = cases
                .into_iter()
                .map(|c| CaseReport::new(s.name, c))
                .collect();
            json(&report)
        })
    }

    /// Parses the four IDX files of the embedded subset (gzip or raw) and normalizes both
    /// splits with the training split's statistics.
    pub fn load_data(
        &self,
        train_images: &[u8],
        train_labels: &[u8],
        test_images: &[u8],
        test_labels: &[u8],
    ) -> Result<(), JsValue> {
        let load = |images: &str, ib: &[u8], labels: &str, lb: &[u8]| {
            parse_idx_pair(Path::new(images), ib, Path::new(labels), lb).map_err(js_error)
        };
        let mut train = load("train-images", train_images, "train-labels", train_labels)?;
        let mut test = load("t10k-images", test_images, "t10k-labels", test_labels)?;
        let (mean, std) = train.channel_moments();
        train.normalize(&mean, &std);
        test.normalize(&mean, &std);
        let mut state = self.now()?;
        // A run's row order belongs to the data it started on.
        state.run = None;
        state.data = Some(Data { train, test });
        Ok(())
    }

    /// Images in the training and test splits, as `[train, test]`.
    pub fn data_sizes(&self) -> Result<Vec<u32>, JsValue> {
        let state = self.now()?;
        let d = state.data()?;
        Ok(vec![d.train.len() as u32, d.test.len() as u32])
    }

    /// Starts a run of LeNet-5 under `policy` (`fp32`, `naive`, `ui8` or `dai8`) for `epochs`
    /// passes over the first `train_limit` training images (all if 0).
    pub fn start(
        &self,
        policy: &str,
        batch: u32,
        lr: f32,
        seed: u32,
        epochs: u32,
        train_limit: u32,
    ) -> Result<(), JsValue> {
        let mut state = self.now()?;
        let policy = Policy::from_name(policy).ok_or_else(|| {
            js_error(format!(
                "unknown policy {policy:?}: fp32, naive, ui8 or dai8"
            ))
        })?;
        let data = state.data()?;
        let all = data.train.len() as u64;
        let rows = if train_limit == 0 {
            all
        } else {
            all.min(train_limit as u64)
        };
        if batch == 0 || rows < batch as u64 {
            return Err(js_error(format!(
                "a batch of {batch} needs 1 to {rows} images"
            )));
        }
        let steps_per_epoch = rows / batch as u64;
        let cfg = train_config(batch, lr, seed, steps_per_epoch * epochs.max(1) as u64);
        let trainer = Trainer::new(&state.ctx, &lenet5(), policy, cfg).map_err(js_error)?;
        state.run = Some(Run {
            trainer,
            rows: rows as usize,
            epochs: epochs.max(1),
            steps_per_epoch,
            order: permutation(rows as usize, seed, 0),
            epoch: 0,
            x: Vec::new(),
            y: Vec::new(),
        });
        Ok(())
    }

    /// Submits the next training step; resolves to `true` when it was the last of an epoch.
    /// Waits only when the steps in flight fill the metrics ring.
    pub fn step(&self) -> js_sys::Promise {
        with_state(&self.0, |state| async move {
            let mut guard = state.lock().await;
            let State { data, run, .. } = &mut *guard;
            let data = data.as_ref().ok_or_else(|| js_error("no data"))?;
            let run = run.as_mut().ok_or_else(|| js_error("no training run"))?;
            let b = run.trainer.config().batch as usize;
            let t = run.trainer.step();
            let (epoch, s) = (t / run.steps_per_epoch, (t % run.steps_per_epoch) as usize);
            let seed = run.trainer.config().seed;
            if epoch != run.epoch {
                run.order = permutation(run.rows, seed, epoch);
                run.epoch = epoch;
            }
            data.train
                .gather(&run.order[s * b..(s + 1) * b], &mut run.x, &mut run.y);
            if let Some(a) = &run.trainer.config().augment {
                // As the native trainer does (a checkpoint may come from a run with --augment).
                let keys: Vec<u32> = (0..b as u32).map(|i| Augment::key(seed, t, i)).collect();
                data.train.augment_batch(&mut run.x, a, &keys);
            }
            run.trainer
                .train_step_async(&run.x, &run.y)
                .await
                .map_err(js_error)?;
            Ok(JsValue::from_bool(s as u64 + 1 == run.steps_per_epoch))
        })
    }

    /// The run's progress as `[steps taken, steps per epoch, epochs it was started for]`.
    pub fn progress(&self) -> Result<Vec<f64>, JsValue> {
        let mut state = self.now()?;
        let run = state.run()?;
        Ok(vec![
            run.trainer.step() as f64,
            run.steps_per_epoch as f64,
            run.epochs as f64,
        ])
    }

    /// The run's policy (`fp32`, `naive`, `ui8` or `dai8`).
    pub fn policy(&self) -> Result<String, JsValue> {
        let mut state = self.now()?;
        Ok(state.run()?.trainer.policy().name().to_string())
    }

    /// Metrics of the steps that have finished since the last call, as JSON, without waiting.
    pub fn metrics(&self) -> Result<JsValue, JsValue> {
        let mut state = self.now()?;
        // Without waiting the future is ready at once; a browser could not block on it.
        let metrics = state
            .run()?
            .trainer
            .poll_metrics_async(false)
            .now_or_never()
            .ok_or_else(|| js_error("collecting metrics would have waited"))?
            .map_err(js_error)?;
        json(
            &metrics
                .into_iter()
                .map(StepReport::from)
                .collect::<Vec<_>>(),
        )
    }

    /// Waits for the submitted steps; resolves to their metrics as JSON.
    pub fn finish(&self) -> js_sys::Promise {
        with_state(&self.0, |state| async move {
            let mut guard = state.lock().await;
            let run = guard.run()?;
            let m = run
                .trainer
                .poll_metrics_async(true)
                .await
                .map_err(js_error)?;
            json(&m.into_iter().map(StepReport::from).collect::<Vec<_>>())
        })
    }

    /// Loss and accuracy on the test split, as `[loss, accuracy]`.
    pub fn evaluate(&self) -> js_sys::Promise {
        with_state(&self.0, |state| async move {
            let mut guard = state.lock().await;
            let State { data, run, .. } = &mut *guard;
            let data = data.as_ref().ok_or_else(|| js_error("no data"))?;
            let run = run.as_mut().ok_or_else(|| js_error("no training run"))?;
            let (loss, accuracy) = run
                .trainer
                .evaluate_async(&data.test.x, &data.test.y)
                .await
                .map_err(js_error)?;
            Ok(js_sys::Float32Array::from(&[loss, accuracy][..]).into())
        })
    }

    /// The first convolution's filters, `[out, kh, kw, in]` = `[6, 5, 5, 1]`, as a
    /// `Float32Array`.
    pub fn filters(&self) -> js_sys::Promise {
        with_state(&self.0, |state| async move {
            let mut guard = state.lock().await;
            let ctx = guard.ctx.clone();
            let run = guard.run()?;
            let tensors = run
                .trainer
                .model()
                .read_tensors_async(&ctx, TensorRole::Parameter)
                .await
                .map_err(js_error)?;
            let first = tensors
                .into_iter()
                .find(|t| t.name == "layer0.conv.weight")
                .ok_or_else(|| js_error("LeNet-5 has no layer0.conv.weight"))?;
            Ok(js_sys::Float32Array::from(&first.data[..]).into())
        })
    }

    /// The run's checkpoint as safetensors bytes, the same format as native checkpoints.
    pub fn checkpoint(&self) -> js_sys::Promise {
        with_state(&self.0, |state| async move {
            let mut guard = state.lock().await;
            let run = guard.run()?;
            let checkpoint = run.trainer.checkpoint_async().await.map_err(js_error)?;
            let bytes = checkpoint.to_bytes().map_err(js_error)?;
            Ok(js_sys::Uint8Array::from(&bytes[..]).into())
        })
    }

    /// Continues from a checkpoint's bytes: the run takes the checkpoint's policy,
    /// configuration and step. Resolves to the step it continues from.
    pub fn restore(&self, bytes: Vec<u8>) -> js_sys::Promise {
        with_state(&self.0, |state| async move {
            let checkpoint =
                Checkpoint::from_bytes(Path::new("checkpoint"), &bytes).map_err(js_error)?;
            let mut guard = state.lock().await;
            let rows = guard.data()?.train.len() as u64;
            let batch = checkpoint.config.batch as u64;
            if batch == 0 || batch > rows {
                return Err(js_error(format!(
                    "the checkpoint's batch of {batch} does not fit {rows} training images"
                )));
            }
            let mut trainer = Trainer::new(
                &guard.ctx,
                &checkpoint.model,
                checkpoint.policy.clone(),
                checkpoint.config.clone(),
            )
            .map_err(js_error)?;
            trainer.restore_async(&checkpoint).await.map_err(js_error)?;
            let steps_per_epoch = rows / batch;
            let epoch = checkpoint.step / steps_per_epoch;
            let seed = checkpoint.config.seed;
            guard.run = Some(Run {
                trainer,
                rows: rows as usize,
                epochs: (checkpoint.step / steps_per_epoch + 1) as u32,
                steps_per_epoch,
                order: permutation(rows as usize, seed, epoch),
                epoch,
                x: Vec::new(),
                y: Vec::new(),
            });
            Ok(JsValue::from_f64(checkpoint.step as f64))
        })
    }

    /// CRC-32 of LeNet-5's initial parameters for `seed` ([`Checkpoint::fingerprint`]), as
    /// hex: equal to the native build's exactly when the browser starts from the same weights.
    pub fn init_fingerprint(&self, seed: u32) -> js_sys::Promise {
        with_state(&self.0, |state| async move {
            let ctx = state.lock().await.ctx.clone();
            let cfg = train_config(32, 0.04, seed, 1);
            let mut trainer =
                Trainer::new(&ctx, &lenet5(), Policy::dai8(), cfg).map_err(js_error)?;
            let checkpoint = trainer.checkpoint_async().await.map_err(js_error)?;
            let crc = checkpoint.fingerprint(TensorRole::Parameter);
            Ok(JsValue::from_str(&format!("{crc:08x}")))
        })
    }

    /// One LeNet-5 training step under `policy` on the first `batch` training images, run one
    /// dispatch at a time and replayed on the CPU twins from the GPU's state before each
    /// (`Trainer::train_step_checked`); resolves to a JSON verdict.
    pub fn lockstep(&self, policy: String, batch: u32) -> js_sys::Promise {
        with_state(&self.0, |state| async move {
            let p = Policy::from_name(&policy)
                .ok_or_else(|| js_error(format!("unknown policy {policy:?}")))?;
            let guard = state.lock().await;
            let data = guard.data()?;
            if batch == 0 || batch as usize > data.train.len() {
                return Err(js_error(format!(
                    "a batch of {batch} needs 1 to {} images",
                    data.train.len()
                )));
            }
            let cfg = train_config(batch, 0.04, 1, 1);
            let mut trainer =
                Trainer::new(&guard.ctx, &lenet5(), p.clone(), cfg).map_err(js_error)?;
            let (x, y) = data.train.batch(0, batch as usize);
            let checks = trainer
                .train_step_checked_async(x, y)
                .await
                .map_err(js_error)?;
            let failures: Vec<String> = checks
                .iter()
                .filter(|c| {
                    c.exact_mismatches > 0
                        || c.max_float_error.is_nan()
                        || c.max_float_error > STEP_FLOAT_TOLERANCE
                })
                .map(|c| {
                    format!(
                        "dispatch {} ({}): {} of {} integer words differ, float error {:e}",
                        c.index, c.kernel, c.exact_mismatches, c.exact_words, c.max_float_error
                    )
                })
                .collect();
            json(&LockstepReport {
                policy: p.name(),
                dispatches: checks.len(),
                exact_words: checks.iter().map(|c| c.exact_words).sum(),
                exact_mismatches: checks.iter().map(|c| c.exact_mismatches).sum(),
                float_values: checks.iter().map(|c| c.float_values).sum(),
                max_float_error: checks.iter().map(|c| c.max_float_error).fold(0.0, f64::max),
                tolerance: STEP_FLOAT_TOLERANCE,
                passed: failures.is_empty() && !checks.is_empty(),
                failures,
            })
        })
    }
}
