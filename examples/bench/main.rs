//! octet's benchmark report: INT8 against FP32 on one adapter, in one run.
//!
//! ```text
//! cargo run --release --example bench -- [--json FILE] [--quick] [--backend vulkan|gl|…]
//!     [--sizes 256,512,1024] [--models mlp,lenet5,resnet] [--policies fp32,dai8,…]
//!     [--batches 64] [--ceiling] [--profile] [--dispatches]
//! ```
//!
//! Prints tables and optionally writes JSON (`adapter`, `ceiling`, `gemm`, `steps`): the
//! arithmetic ceilings of the adapter (`--ceiling`), GEMM f32 vs i8 on squares and on the
//! convolution layers of LeNet-5 and the ResNet (forward, dgrad, wgrad), and ms per training
//! step under each policy (one protocol, see `steps.rs`), with dispatches and submits per step
//! and the GPU memory each model holds. `--profile` adds the per-kernel time breakdown of one
//! step per model and policy.

mod ceiling;
mod gemm;
mod steps;
mod summary;

use std::process::ExitCode;

use clap::Parser;

#[derive(Parser)]
#[command(about = "Benchmark octet's INT8 kernels and training steps against FP32")]
struct Args {
    /// Write the results as JSON to this file.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
    /// Fewer sizes, models, policies and steps (a few minutes on a software driver).
    #[arg(long)]
    quick: bool,
    /// GPU backend: vulkan, metal, dx12 or gl [default: the best adapter present].
    #[arg(long)]
    backend: Option<String>,
    /// Square GEMM sizes [default: 256,512,1024; --quick: 512,1024].
    #[arg(long, value_delimiter = ',')]
    sizes: Option<Vec<u32>>,
    /// Convolution layers whose GEMMs are timed (0..=5) [default: 5; --quick: 3].
    #[arg(long)]
    convs: Option<usize>,
    /// Models whose steps are timed: mlp, lenet5, resnet [default: all; --quick: mlp,lenet5].
    #[arg(long, value_delimiter = ',')]
    models: Option<Vec<String>>,
    /// Policies: fp32, naive, ui8, ui8-kept, dai8, dai8-all [default: all; --quick: fp32,
    /// naive, ui8-kept, dai8].
    #[arg(long, value_delimiter = ',')]
    policies: Option<Vec<String>>,
    /// Batch sizes of the steps.
    #[arg(long, value_delimiter = ',', default_value = "64")]
    batches: Vec<u32>,
    /// Steps recorded into one submit, each timed separately (the training set on the device).
    #[arg(long, value_delimiter = ',', default_value = "1,16")]
    steps_per_submit: Vec<u32>,
    /// Timed steps per model, policy and batch (at least 20; taken in three rounds).
    #[arg(long, default_value_t = 21)]
    steps: usize,
    /// Also measure the adapter's f32 fma and int8 dot4I8Packed ceilings.
    #[arg(long)]
    ceiling: bool,
    /// Also print where one step's time goes, kernel by kernel, per model and policy.
    #[arg(long)]
    profile: bool,
    /// Profile as --profile does and also list every dispatch of the step in order.
    #[arg(long)]
    dispatches: bool,
    /// Write a Markdown summary to this file.
    #[arg(long)]
    markdown: Option<std::path::PathBuf>,
    /// The Burn peer's output (its RESULT lines), put beside octet's figures in the summary.
    #[arg(long)]
    peer: Option<std::path::PathBuf>,
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

type AnyResult<T> = Result<T, Box<dyn std::error::Error>>;

fn run(args: &Args) -> AnyResult<()> {
    let ctx = match &args.backend {
        Some(name) => octet::Context::with_backends(octet::gpu::parse_backends(name)?, None)?,
        None => octet::Context::new_default()?,
    };
    let adapter = match ctx.adapter_info() {
        Some(i) => serde_json::json!({
            "name": i.name,
            "backend": format!("{:?}", i.backend),
            "device_type": format!("{:?}", i.device_type),
            "driver": i.driver,
            "driver_info": i.driver_info,
            "kernel_checks": format!("{:?}", ctx.kernel_checks()),
            "params_in_storage": ctx.params_in_storage(),
        }),
        None => serde_json::json!({ "name": "host device" }),
    };
    println!(
        "octet {} bench on {} ({} {} {})\n",
        env!("CARGO_PKG_VERSION"),
        adapter["name"].as_str().unwrap_or("?"),
        adapter["backend"].as_str().unwrap_or(""),
        adapter["driver"].as_str().unwrap_or(""),
        adapter["driver_info"].as_str().unwrap_or("")
    );

    let ceiling = if args.ceiling {
        let c = ceiling::measure(&ctx)?;
        println!(
            "ceilings: f32 fma {:.2} GFLOP/s, int8 dot4I8Packed {:.2} GOP/s ({:.2}x)\n",
            2.0 * c.f32_macs_per_s / 1e9,
            2.0 * c.i8_macs_per_s / 1e9,
            c.i8_macs_per_s / c.f32_macs_per_s
        );
        Some(c)
    } else {
        None
    };

    let quick = args.quick;
    let sizes = args.sizes.clone().unwrap_or(if quick {
        vec![512, 1024]
    } else {
        vec![256, 512, 1024]
    });
    let convs = args.convs.unwrap_or(if quick { 3 } else { 5 });
    let gemms = gemm::rows(&ctx, &gemm::shapes(&sizes, convs))?;
    gemm::print(&gemms);

    let list = |given: &Option<Vec<String>>, all: &[&str], few: &[&str]| -> Vec<String> {
        given.clone().unwrap_or_else(|| {
            (if quick { few } else { all })
                .iter()
                .map(|s| s.to_string())
                .collect()
        })
    };
    let models = list(
        &args.models,
        &["mlp", "lenet5", "resnet"],
        &["mlp", "lenet5"],
    );
    let policies = list(
        &args.policies,
        &["fp32", "naive", "ui8", "ui8-kept", "dai8", "dai8-all"],
        &["fp32", "naive", "ui8-kept", "dai8"],
    );
    let plan = steps::Plan {
        models: &models,
        policies: &policies,
        batches: &args.batches,
        submits: &args.steps_per_submit,
        warm: 5,
        timed: args.steps.max(20),
        rounds: 3,
        profile: args.profile || args.dispatches,
        dispatches: args.dispatches,
    };
    let step_rows = steps::rows(&ctx, &plan)?;
    steps::print(&step_rows);

    if let Some(path) = &args.markdown {
        let peer = match &args.peer {
            Some(p) => summary::parse_peer(
                &std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?,
            ),
            None => Vec::new(),
        };
        let md = summary::markdown(&adapter, ceiling.as_ref(), &gemms, &step_rows, &peer);
        std::fs::write(path, md).map_err(|e| format!("{}: {e}", path.display()))?;
        println!("wrote {}", path.display());
    }
    if let Some(path) = &args.json {
        let json = serde_json::json!({
            "octet_version": env!("CARGO_PKG_VERSION"),
            "adapter": adapter,
            "ceiling": ceiling,
            "gemm": gemms,
            "steps": step_rows,
        });
        std::fs::write(path, serde_json::to_vec_pretty(&json)?)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
