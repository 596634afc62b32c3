//! The arithmetic ceilings of an adapter: f32 fused multiply-adds and packed int8 dot products
//! per second with operands in registers (`ceiling.wgsl`), the bounds the GEMMs are judged
//! against. Built directly with wgpu: these measuring kernels are the bench's, not octet's.

use serde::Serialize;
use wgpu::util::DeviceExt;

/// Multiply-adds per second: f32 (one per `fma`) and int8 (four per `dot4I8Packed`).
#[derive(Serialize)]
pub struct Ceiling {
    /// f32 fused multiply-adds per second.
    pub f32_macs_per_s: f64,
    /// int8 multiply-adds per second (4 per dot4I8Packed).
    pub i8_macs_per_s: f64,
}

/// Lanes on a CPU driver: a few times its SIMD lanes, and a run of a fraction of a second.
const CPU_LANES: u32 = 64 * 512;
/// Lanes on a GPU: enough to fill a large one (an H200 holds 132 × 2,048 resident lanes) twice.
const GPU_LANES: u32 = 64 * 8192;
/// Loop trips per lane: on a GPU long enough that a submit's own cost is a few percent.
const CPU_ITERS: u32 = 4096;
const GPU_ITERS: u32 = 16384;

pub fn measure(ctx: &octet::Context) -> Result<Ceiling, Box<dyn std::error::Error>> {
    let device = ctx.device();
    let (lanes, iters) = match ctx.spread() {
        octet::abi::Spread::Cpu => (CPU_LANES, CPU_ITERS),
        octet::abi::Spread::Gpu => (GPU_LANES, GPU_ITERS),
    };
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some("bench.ceiling"),
        source: wgpu::ShaderSource::Wgsl(include_str!("ceiling.wgsl").into()),
    });
    // 64 floats about 0.5 for the fma chains, then 64 words of int8 operands.
    let words: Vec<u32> = (0..64u32)
        .map(|i| (0.5f32 + i as f32 * 1e-3).to_bits())
        .chain((0..64u32).map(|i| i.wrapping_mul(0x9e37_79b9)))
        .collect();
    let src = ctx.upload("bench.ceiling.src", &words);
    let dst = ctx.storage_buffer("bench.ceiling.dst", lanes as u64 * 4);
    let params = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some("bench.ceiling.params"),
        contents: bytemuck::cast_slice(&[iters, 0, 0, 0]),
        usage: wgpu::BufferUsages::UNIFORM,
    });
    let time = |entry: &str| -> Result<f64, Box<dyn std::error::Error>> {
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(entry),
            layout: None,
            module: &module,
            entry_point: Some(entry),
            compilation_options: Default::default(),
            cache: None,
        });
        let group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(entry),
            layout: &pipeline.get_bind_group_layout(0),
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 0,
                    resource: params.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: src.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 2,
                    resource: dst.as_entire_binding(),
                },
            ],
        });
        let run = || -> octet::Result<()> {
            let mut e = device.create_command_encoder(&Default::default());
            {
                let mut pass = e.begin_compute_pass(&Default::default());
                pass.set_pipeline(&pipeline);
                pass.set_bind_group(0, &group, &[]);
                pass.dispatch_workgroups(lanes / 64, 1, 1);
            }
            ctx.queue().submit([e.finish()]);
            ctx.wait_idle()
        };
        run()?;
        Ok(octet::measure::best_of(3, run)?)
    };
    let chains = lanes as f64 * iters as f64 * 8.0;
    let f32_secs = time("fma_f32")?;
    let i8_secs = time("dot_i8")?;
    Ok(Ceiling {
        f32_macs_per_s: chains / f32_secs,
        i8_macs_per_s: 4.0 * chains / i8_secs,
    })
}
