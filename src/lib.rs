//! # octet — INT8 training on wgpu
//!
//! octet trains neural networks with all three GEMMs of every quantized layer — forward
//! `Y = X·Wᵀ`, input gradient `dX = dY·W`, weight gradient `dW = dYᵀ·X` — on packed int8
//! operands (`dot4I8Packed`) with int32 accumulation, on any GPU wgpu reaches: Vulkan, Metal,
//! DX12 and GL. It implements UI8 (Zhu et al., CVPR 2020) and DAI8 (Zhao et al., AAAI 2021).
//!
//! - [`ops`]: the kernels — quantize, dequantize, channel statistics, clip selection, int8 and
//!   f32 GEMMs (with a fused ReLU), implicit-GEMM and im2col/col2im convolution, pooling, ReLU,
//!   softmax cross-entropy, SGD — each with a CPU twin
//!   in [`cpu`] and a conformance suite in [`conformance`];
//! - [`quant`]: the policies (FP32, naive INT8, UI8, DAI8);
//! - [`nn`]: layers and models (the zoo: MLP, LeNet-5, a small ResNet), and
//!   [`nn::Predictor`] for inference; [`train`]: the trainer;
//! - [`interop`]: export to a PyTorch `state_dict` and int8 safetensors, import from one.
//!
//! ## Training
//!
//! ```no_run
//! # fn main() -> octet::Result<()> {
//! use octet::{data::Dataset, nn::ModelSpec, quant::Policy, train::{TrainConfig, Trainer}};
//!
//! let ctx = octet::Context::new_default()?;
//! let data = Dataset::synthetic_images(1024, [28, 28, 1], 10, 0.5, 3);
//! let spec = ModelSpec::lenet5(28, 28, 1, 10);
//! let cfg = TrainConfig { batch: 64, lr: 0.02, ..Default::default() };
//! let mut trainer = Trainer::new(&ctx, &spec, Policy::dai8(), cfg)?;
//! for step in 0..16 {
//!     let (x, y) = data.batch(step * 64, 64);
//!     trainer.train_step(x, y)?; // one submit; metrics arrive asynchronously
//! }
//! for m in trainer.poll_metrics(true)? {
//!     println!("step {} loss {:.3} accuracy {:.2}", m.step, m.loss, m.correct as f32 / m.rows as f32);
//! }
//! let (loss, accuracy) = trainer.evaluate(&data.x, &data.y)?;
//! # Ok(()) }
//! ```
//!
//! ## Using a host's device
//!
//! octet borrows a `wgpu::Device` and `Queue`; it never needs to own them:
//!
//! ```no_run
//! # fn demo(device: &wgpu::Device, queue: &wgpu::Queue) -> octet::Result<()> {
//! use octet::ops::{self, ChannelAxis, Layout, Rounding};
//!
//! let ctx = octet::Context::new(device, queue)?; // checks octet's limits up front
//! let layout = Layout::new(2, 8, ChannelAxis::Rows); // 2 rows, a clip per row
//! let x = ctx.upload("x", &[0.5f32; 16]);
//! let clips = ctx.upload("clips", &[1.0f32, 0.25]);
//! let packed = ctx.storage_buffer("x_q", layout.packed_words() as u64 * 4);
//! let scales = ctx.storage_buffer("x_scales", layout.channels() as u64 * 4);
//!
//! // Ops append dispatches to a recording ...
//! let mut rec = octet::Recording::new();
//! ops::quantize(&ctx, &mut rec, &layout, Rounding::Nearest, ops::QuantizeBuffers {
//!     input: (&x).into(), clips: &clips, packed: &packed, scales: &scales, relu_mask: None,
//! })?;
//! // ... which goes into your own command encoder, beside your other work,
//! let mut encoder = device.create_command_encoder(&Default::default());
//! rec.encode(&ctx, &mut encoder)?;
//! queue.submit([encoder.finish()]);
//! // or is submitted by octet: `ctx.run(&rec)?`. A recording replayed every step is prepared
//! // once with `ctx.prepare` (bind groups and parameter buffers built a single time).
//! let words: Vec<u32> = ctx.read_buffer(&packed)?; // 0x40404040 (64) and 0x7f7f7f7f (127)
//! # Ok(()) }
//! ```
//!
//! Without a host application, [`Context::new_default`] picks an adapter itself, honouring
//! `WGPU_BACKEND` and `WGPU_ADAPTER_NAME`.
//!
//! ## Embedding
//!
//! For a host that trains beside its own rendering on its own device (the complete program is
//! `examples/embed/`: a frame loop that renders the live loss curve and the first layer's
//! weights while octet trains within a per-frame time budget):
//!
//! - **Features and limits.** No optional wgpu features. Create the device with at least
//!   [`gpu::required_limits`] (six storage buffers per stage, 256-lane workgroups, 8 KiB of
//!   workgroup memory) — simplest, with `adapter.limits()`; [`Context::new`] checks them and
//!   names the one that falls short. A model's largest buffer (activations and im2col columns,
//!   growing with the batch) must also fit `max_storage_buffer_binding_size` and
//!   `max_buffer_size`; if not, `Trainer::new` returns [`Error::LimitExceeded`] naming it. On
//!   GL, compute shaders (GLES 3.1 / GL 4.3).
//! - **Borrowing.** [`Context::new`] clones the host's `Device` and `Queue` handles; octet never
//!   creates a device in this path. Everything octet submits goes through that queue, in order
//!   with the host's own submissions.
//! - **What is allocated, and when.** [`train::Trainer::new`] allocates every buffer a step needs
//!   — weights, gradients, momentum, activations, quantized copies, scratch — and prepares the
//!   step (pipelines are compiled on first use per context and cached). After that a step
//!   allocates nothing and submits once. Metrics come back through a ring of four small mapped
//!   buffers; [`nn::Model::read_tensor_async`] and [`Context::read_async`] create one staging
//!   buffer per request and never wait. Blocking calls (`evaluate`, `checkpoint`,
//!   `read_tensors`, `read_buffer`) are for between frames.
//! - **Autotuning.** The first time a GEMM shape is recorded on an adapter (in
//!   [`train::Trainer::new`]), [`Context::gemm_variant`] times its kernel variants, and for
//!   each convolution shape [`Context::conv_lowering`] times column matrix against implicit
//!   GEMM: a dozen submits and waits on the host's queue each, with short-lived scratch
//!   buffers, and a write to `~/.cache/octet/gemm-tune.json`. Later processes read the choices
//!   back. To keep construction free of that, pass [`gpu::Autotune::Off`] (fixed rules) to
//!   [`Context::set_autotune`], or build the trainer once at load time; the choices compute
//!   the same bits either way (a convolution's lowering changes the memory it holds).
//! - **Capping memory.** A model's memory is fixed by its architecture and batch size:
//!   [`Context::storage_bytes`] before and after [`train::Trainer::new`] tells what it holds
//!   (`examples/bench.rs` reports it by category); lower the batch size to hold less.
//! - **Pacing.** A step is one submit; [`train::Trainer::poll_metrics`]`(false)` tells, without
//!   waiting, which steps have finished, so a host can keep one step in flight and submit the
//!   next only when its measured GPU time fits the frame's budget.
//! - **Threads.** [`Context`] is `Send + Sync` (cloning it shares the device and the pipeline
//!   cache); [`train::Trainer`] and [`nn::Model`] are `Send`: a trainer can live on another
//!   thread than the renderer. Calls on one trainer are sequential (`&mut self`).
//! - **Two models on one device.** Create two trainers from clones of one [`Context`]; they share
//!   compiled pipelines and the queue, nothing else, and their steps interleave in submission
//!   order.
//! - **In a browser** (`wasm32-unknown-unknown`, cargo feature `webgpu`; `web/` is a complete
//!   page): nothing may block, so await the async forms — [`Context::request`],
//!   [`Context::read_buffer_async`], [`train::Trainer::train_step_async`],
//!   [`train::Trainer::poll_metrics_async`], `evaluate_async`, `checkpoint_async`,
//!   `restore_async`, `train_step_checked_async` and [`conformance::Suite::cases`]. The blocking
//!   calls are these futures waited on, natively only. There the autotuner is off, checkpoints
//!   are bytes ([`checkpoint::Checkpoint::to_bytes`]), and a GPU error is reported by the next
//!   call on a device octet created (error scopes would have to wait).

#![warn(missing_docs)]

pub mod abi;
pub mod conformance;
pub mod cpu;
pub mod data;
pub mod dist;
mod error;
pub mod fsio;
pub mod fuzzing;
pub mod gpu;
pub mod interop;
pub mod measure;
pub mod nn;
pub mod ops;
pub mod quant;
pub mod rng;
pub mod train;
pub mod tune;

pub use error::{Error, Result};
pub use gpu::{Context, Recording};
/// Checkpoints belong to the training layer; this path is kept for users of `octet::checkpoint`.
pub use train::checkpoint;
