//! Embedding octet in a host application: the host owns its wgpu device and queue, renders a
//! frame off-screen every iteration (the live loss curve and the first layer's weights), and
//! octet trains an MLP with DAI8 on the same device within a per-frame GPU time budget, with
//! asynchronous readback only. Saves the last frame as a PNG and prints frame-time percentiles
//! with and without training.
//!
//! ```text
//! cargo run --release --example embed -- [--budget-ms 8] [--frames 240] [--png embed.png]
//! ```

mod host;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use host::{HEIGHT, Host, Settings, WIDTH, percentile};

#[derive(Parser)]
#[command(about = "Train with octet beside a host's own rendering, on the host's device")]
struct Args {
    /// GPU time per frame that training may use, in milliseconds [default: 8 on a GPU, 150 on
    /// a CPU (software) driver, where one step of the small MLP takes about 100 ms].
    #[arg(long)]
    budget_ms: Option<f64>,
    /// Frames rendered while training (after 60 frames without).
    #[arg(long, default_value_t = 240)]
    frames: usize,
    /// Training batch size.
    #[arg(long, default_value_t = 16)]
    batch_size: u32,
    /// Where to save the last frame.
    #[arg(long, default_value = "embed.png")]
    png: PathBuf,
    /// GPU backend: vulkan, metal, dx12 or gl [default: the best adapter present].
    #[arg(long)]
    backend: Option<String>,
}

fn main() -> ExitCode {
    env_logger::init();
    match run(&Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let backends = match &args.backend {
        Some(b) => octet::gpu::parse_backends(b)?,
        None => wgpu::Backends::from_env().unwrap_or(wgpu::Backends::all()),
    };
    let adapter = octet::gpu::adapters(backends)
        .into_iter()
        .next()
        .ok_or_else(|| octet::Error::NoAdapter {
            backends: format!("{backends:?}"),
        })?;
    let info = adapter.get_info();
    println!("host on {} ({:?})", info.name, info.backend);
    let host = Host::new(&adapter)?;
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/data/fashion-mnist"));
    let mut data = octet::data::load_dir(&dir)?.train;
    let (mean, std) = data.channel_moments();
    data.normalize(&mean, &std);
    let budget_ms = args.budget_ms.unwrap_or(match info.device_type {
        wgpu::DeviceType::Cpu => 150.0,
        _ => 8.0,
    });
    let settings = Settings {
        frames_without: 60,
        frames_with: args.frames,
        budget_ms,
        batch: args.batch_size,
    };
    let out = host::run(&host, &data, &settings)?;
    let stats = |v: &[f64]| {
        format!(
            "p50 {:.1} ms  p95 {:.1} ms  max {:.1} ms",
            percentile(v, 50.0),
            percentile(v, 95.0),
            percentile(v, 100.0)
        )
    };
    println!(
        "frames without training ({}): {}",
        out.without.len(),
        stats(&out.without)
    );
    println!(
        "frames with training    ({}): {}",
        out.with.len(),
        stats(&out.with)
    );
    let first = out.losses.iter().take(10).sum::<f32>() / out.losses.len().clamp(1, 10) as f32;
    let last = out.losses.iter().rev().take(10).sum::<f32>() / out.losses.len().clamp(1, 10) as f32;
    println!(
        "{} training steps in {} frames (budget {:.1} ms); loss {first:.3} -> {last:.3}",
        out.steps,
        out.with.len(),
        budget_ms
    );
    let file =
        std::fs::File::create(&args.png).map_err(|e| format!("{}: {e}", args.png.display()))?;
    let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), WIDTH, HEIGHT);
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.write_header()?.write_image_data(&out.last_frame)?;
    println!("last frame: {}", args.png.display());
    Ok(())
}
