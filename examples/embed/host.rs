//! The host side of the embedding example: an application that owns its wgpu device and queue,
//! renders a frame off-screen every iteration — the live loss curve and the first layer's
//! weights — and lets octet train on the same device within a per-frame time budget, never
//! waiting on the GPU inside octet calls (metrics and weights come back asynchronously).
//! Shared by `examples/embed/main.rs` and `tests/embed.rs`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use octet::data::Dataset;
use octet::gpu::Readback;
use octet::nn::{ModelSpec, TensorRole};
use octet::quant::Policy;
use octet::train::{TrainConfig, Trainer};

/// Size of the rendered frame.
pub const WIDTH: u32 = 640;
/// Size of the rendered frame.
pub const HEIGHT: u32 = 320;
const FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Rgba8Unorm;
/// The weights shown: the first layer's first 16 units, as 28×28 images.
const SHOWN: usize = 16;

/// The host's own shader: coloured 2-D vertices.
const SHADER: &str = r#"
struct V { @builtin(position) pos: vec4<f32>, @location(0) color: vec3<f32> }
@vertex fn vs(@location(0) p: vec2<f32>, @location(1) c: vec3<f32>) -> V {
    return V(vec4<f32>(p, 0.0, 1.0), c);
}
@fragment fn fs(v: V) -> @location(0) vec4<f32> { return vec4<f32>(v.color, 1.0); }
"#;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Vertex {
    pos: [f32; 2],
    color: [f32; 3],
}

/// Settings of a run.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Frames rendered before training starts (the baseline).
    pub frames_without: usize,
    /// Frames rendered while training.
    pub frames_with: usize,
    /// GPU time per frame octet may use, in milliseconds.
    pub budget_ms: f64,
    /// Training batch size.
    pub batch: u32,
}

/// What a run measured.
#[derive(Debug)]
pub struct Outcome {
    /// Frame times without training, in milliseconds.
    pub without: Vec<f64>,
    /// Frame times while training.
    pub with: Vec<f64>,
    /// Training steps taken.
    pub steps: u64,
    /// Losses of the steps, in order.
    pub losses: Vec<f32>,
    /// Whether the first layer's weights were read back and drawn at least once.
    pub drew_weights: bool,
    /// The last frame, RGBA8, `WIDTH × HEIGHT`.
    pub last_frame: Vec<u8>,
}

/// The application: its device, queue, render target and pipelines.
pub struct Host {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    target: wgpu::Texture,
    lines: wgpu::RenderPipeline,
    triangles: wgpu::RenderPipeline,
    vertices: wgpu::Buffer,
}

/// Most vertices a frame draws.
const MAX_VERTICES: u64 = 6 * 28 * 28 * SHOWN as u64 + 4096;

impl Host {
    /// The host creates its device itself, with everything the adapter offers — at least
    /// `octet::gpu::required_limits()` on any adapter octet runs on (`Context::new` checks).
    pub fn new(adapter: &wgpu::Adapter) -> Result<Self, Box<dyn std::error::Error>> {
        let limits = adapter.limits();
        let (device, queue) =
            pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
                label: Some("host.device"),
                required_limits: limits,
                ..Default::default()
            }))?;
        let target = device.create_texture(&wgpu::TextureDescriptor {
            label: Some("host.frame"),
            size: wgpu::Extent3d {
                width: WIDTH,
                height: HEIGHT,
                depth_or_array_layers: 1,
            },
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: FORMAT,
            usage: wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::COPY_SRC,
            view_formats: &[],
        });
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("host.shader"),
            source: wgpu::ShaderSource::Wgsl(SHADER.into()),
        });
        let pipeline = |topology| {
            device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
                label: Some("host.pipeline"),
                layout: None,
                vertex: wgpu::VertexState {
                    module: &module,
                    entry_point: Some("vs"),
                    compilation_options: Default::default(),
                    buffers: &[Some(wgpu::VertexBufferLayout {
                        array_stride: size_of::<Vertex>() as u64,
                        step_mode: wgpu::VertexStepMode::Vertex,
                        attributes: &wgpu::vertex_attr_array![0 => Float32x2, 1 => Float32x3],
                    })],
                },
                fragment: Some(wgpu::FragmentState {
                    module: &module,
                    entry_point: Some("fs"),
                    compilation_options: Default::default(),
                    targets: &[Some(FORMAT.into())],
                }),
                primitive: wgpu::PrimitiveState {
                    topology,
                    ..Default::default()
                },
                depth_stencil: None,
                multisample: Default::default(),
                multiview_mask: None,
                cache: None,
            })
        };
        let lines = pipeline(wgpu::PrimitiveTopology::LineStrip);
        let triangles = pipeline(wgpu::PrimitiveTopology::TriangleList);
        let vertices = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("host.vertices"),
            size: MAX_VERTICES * size_of::<Vertex>() as u64,
            usage: wgpu::BufferUsages::VERTEX | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        Ok(Host {
            device,
            queue,
            target,
            lines,
            triangles,
            vertices,
        })
    }

    /// Renders one frame: the weights as coloured cells, then the loss curve.
    fn render(&self, losses: &[f32], weights: Option<&[f32]>) {
        let mut tris = Vec::new();
        if let Some(w) = weights {
            let max = w.iter().fold(1e-6f32, |m, v| m.max(v.abs()));
            for unit in 0..SHOWN {
                let (gx, gy) = ((unit % 4) as f32, (unit / 4) as f32);
                for py in 0..28 {
                    for px in 0..28 {
                        let v = w[unit * 784 + py * 28 + px] / max;
                        // Blue for negative, red for positive weights.
                        let color = if v < 0.0 {
                            [1.0 + v, 1.0 + v, 1.0]
                        } else {
                            [1.0, 1.0 - v, 1.0 - v]
                        };
                        let cell = 0.95 / (4.0 * 28.0);
                        let x0 = 0.02 + gx * 0.245 + px as f32 * cell;
                        let y0 = 0.95 - gy * 0.245 - py as f32 * cell * 2.0;
                        quad(&mut tris, [x0, y0], [cell, cell * 2.0], color);
                    }
                }
            }
        }
        let mut curve = Vec::new();
        // The loss, as a 10-step moving mean.
        let smooth: Vec<f32> = losses
            .windows(10.min(losses.len().max(1)))
            .map(|w| w.iter().sum::<f32>() / w.len() as f32)
            .collect();
        if smooth.len() > 1 {
            let top = smooth.iter().fold(1e-6f32, |m, v| m.max(*v));
            let n = smooth.len() - 1;
            for (i, l) in smooth.iter().enumerate() {
                let x = -0.95 + 0.9 * i as f32 / n as f32;
                let y = -0.9 + 1.8 * (l / top);
                curve.push(Vertex {
                    pos: [x, y],
                    color: [0.1, 0.1, 0.1],
                });
            }
        }
        let all: Vec<Vertex> = tris.iter().chain(&curve).copied().collect();
        let all = &all[..all.len().min(MAX_VERTICES as usize)];
        self.queue
            .write_buffer(&self.vertices, 0, bytemuck::cast_slice(all));
        let view = self.target.create_view(&Default::default());
        let mut encoder = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("host.frame"),
            });
        {
            let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
                label: Some("host.draw"),
                color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                    view: &view,
                    depth_slice: None,
                    resolve_target: None,
                    ops: wgpu::Operations {
                        load: wgpu::LoadOp::Clear(wgpu::Color {
                            r: 0.93,
                            g: 0.93,
                            b: 0.9,
                            a: 1.0,
                        }),
                        store: wgpu::StoreOp::Store,
                    },
                })],
                ..Default::default()
            });
            pass.set_vertex_buffer(0, self.vertices.slice(..));
            let t = tris.len().min(all.len()) as u32;
            if t > 0 {
                pass.set_pipeline(&self.triangles);
                pass.draw(0..t, 0..1);
            }
            if all.len() as u32 > t {
                pass.set_pipeline(&self.lines);
                pass.draw(t..all.len() as u32, 0..1);
            }
        }
        self.queue.submit(Some(encoder.finish()));
    }

    /// Waits for everything submitted so far by polling without blocking in between: how a
    /// frame loop paced by its own work (or a swapchain) sees the GPU.
    fn finish_frame(&self) -> Result<(), Box<dyn std::error::Error>> {
        let done = Arc::new(AtomicBool::new(false));
        let flag = done.clone();
        self.queue
            .on_submitted_work_done(move || flag.store(true, Ordering::SeqCst));
        while !done.load(Ordering::SeqCst) {
            self.device.poll(wgpu::PollType::Poll)?;
            std::thread::sleep(Duration::from_micros(100));
        }
        Ok(())
    }

    /// The frame as RGBA8 rows (a blocking read: after the loop, not inside a frame).
    pub fn read_frame(&self) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
        let row = (WIDTH * 4).next_multiple_of(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT);
        let buffer = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("host.frame_readback"),
            size: (row * HEIGHT) as u64,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut encoder = self.device.create_command_encoder(&Default::default());
        encoder.copy_texture_to_buffer(
            self.target.as_image_copy(),
            wgpu::TexelCopyBufferInfo {
                buffer: &buffer,
                layout: wgpu::TexelCopyBufferLayout {
                    offset: 0,
                    bytes_per_row: Some(row),
                    rows_per_image: None,
                },
            },
            self.target.size(),
        );
        self.queue.submit(Some(encoder.finish()));
        buffer.slice(..).map_async(wgpu::MapMode::Read, |_| {});
        self.device.poll(wgpu::PollType::wait_indefinitely())?;
        let data = buffer.slice(..).get_mapped_range()?;
        let mut out = Vec::with_capacity((WIDTH * HEIGHT * 4) as usize);
        for y in 0..HEIGHT {
            let start = (y * row) as usize;
            out.extend_from_slice(&data[start..start + (WIDTH * 4) as usize]);
        }
        Ok(out)
    }
}

fn quad(out: &mut Vec<Vertex>, [x, y]: [f32; 2], [w, h]: [f32; 2], color: [f32; 3]) {
    let v = |px: f32, py: f32| Vertex {
        pos: [px, py],
        color,
    };
    out.extend([
        v(x, y),
        v(x + w, y),
        v(x, y - h),
        v(x + w, y),
        v(x + w, y - h),
        v(x, y - h),
    ]);
}

/// Runs the frame loop: `frames_without` frames of rendering alone, then `frames_with` frames
/// with octet training on the host's device inside the budget.
pub fn run(
    host: &Host,
    data: &Dataset,
    settings: &Settings,
) -> Result<Outcome, Box<dyn std::error::Error>> {
    // octet borrows the host's device and queue; it creates none.
    let ctx = octet::Context::new(&host.device, &host.queue)?;
    let spec = ModelSpec {
        input: [28, 28, 1],
        ..ModelSpec::mlp(784, &[256, 128], 10)
    };
    let cfg = TrainConfig {
        batch: settings.batch,
        lr: 0.05,
        warmup_steps: 20,
        ..Default::default()
    };
    let mut trainer = Trainer::new(&ctx, &spec, Policy::dai8(), cfg)?;
    let batch = settings.batch as usize;
    let mut outcome = Outcome {
        without: Vec::new(),
        with: Vec::new(),
        steps: 0,
        losses: Vec::new(),
        drew_weights: false,
        last_frame: Vec::new(),
    };
    let mut weights: Option<Vec<f32>> = None;
    let mut pending: Option<Readback<f32>> = None;
    // Estimated GPU time of one step (from submit to its metrics), and the step in flight.
    let mut step_ms = 0.0f64;
    let mut in_flight: Option<Instant> = None;
    let mut warned = false;
    for frame in 0..settings.frames_without + settings.frames_with {
        let started = Instant::now();
        let training = frame >= settings.frames_without;
        if training {
            for m in trainer.poll_metrics(false)? {
                outcome.losses.push(m.loss);
                if let Some(t) = in_flight.take() {
                    // The first step pays for the driver compiling the kernels: not counted.
                    let ms = t.elapsed().as_secs_f64() * 1e3;
                    if outcome.steps > 1 {
                        step_ms = if step_ms == 0.0 {
                            ms
                        } else {
                            0.8 * step_ms + 0.2 * ms
                        };
                    }
                }
            }
            // One step at a time, and only when it fits the budget (always try the first).
            if in_flight.is_none() && step_ms <= settings.budget_ms {
                let s = outcome.steps as usize % (data.len() / batch);
                let (x, y) = data.batch(s * batch, batch);
                trainer.train_step(x, y)?;
                outcome.steps += 1;
                in_flight = Some(Instant::now());
            } else if in_flight.is_none() && !warned {
                eprintln!(
                    "a training step takes {step_ms:.1} ms, over the {:.1} ms budget: training \
                     pauses (raise --budget-ms or lower --batch-size)",
                    settings.budget_ms
                );
                warned = true;
            }
        }
        // The first layer's weights, refreshed asynchronously in both phases, so the frames
        // compare the same scene with and without training.
        match &pending {
            Some(r) => {
                if let Some(w) = r.try_take(&ctx)? {
                    weights = Some(w);
                    pending = None;
                }
            }
            None if frame % 10 == 0 => {
                let model = trainer.model();
                pending = Some(model.read_tensor_async(
                    &ctx,
                    TensorRole::Parameter,
                    "layer0.linear.weight",
                )?);
            }
            None => {}
        }
        host.render(&outcome.losses, weights.as_deref());
        outcome.drew_weights |= weights.is_some();
        host.finish_frame()?;
        let ms = started.elapsed().as_secs_f64() * 1e3;
        if training {
            outcome.with.push(ms);
        } else {
            outcome.without.push(ms);
        }
    }
    for m in trainer.poll_metrics(true)? {
        outcome.losses.push(m.loss);
    }
    outcome.last_frame = host.read_frame()?;
    Ok(outcome)
}

/// `p`-th percentile (0–100) of `v`.
pub fn percentile(v: &[f64], p: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s[((p / 100.0) * (s.len() - 1) as f64).round() as usize]
}
