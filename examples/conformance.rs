//! Conformance tool: for each adapter (or the one chosen) reports how the driver lowers
//! `dot4I8Packed`, runs every kernel's conformance cases and whole training steps under each
//! policy against the CPU twins, and measures i8 vs f32 GEMM and a LeNet-5 training step per
//! policy. Prints a table, optionally writes JSON and Markdown (to paste into a bug report).
//! Exits non-zero on any failure.
//!
//! ```text
//! cargo run --release --example conformance -- [--backend vulkan|gl|metal|dx12] [--json FILE]
//!     [--markdown FILE] [--quick]
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use octet::conformance::{self, CaseResult, Extent, SUITES, Suite};
use serde_json::json;

#[derive(Parser)]
#[command(about = "Check that octet's int8 kernels compute exactly what their CPU twins do")]
struct Args {
    /// Only test adapters of this backend: vulkan, gl, metal or dx12 (default: those
    /// `WGPU_BACKEND` names, else all present).
    #[arg(long)]
    backend: Option<String>,
    /// Write the full results, every case included, as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write a Markdown report (adapters, lowering, results, throughput) to this file.
    #[arg(long)]
    markdown: Option<PathBuf>,
    /// Skip the largest cases (a run well under a minute on a software driver).
    #[arg(long)]
    quick: bool,
    /// Only run these suites (comma-separated).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Print every failing case, not only the first per kernel.
    #[arg(long)]
    verbose: bool,
}

fn main() -> ExitCode {
    env_logger::init();
    let args = Args::parse();
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &Args) -> Result<bool, Box<dyn std::error::Error>> {
    let backends = match &args.backend {
        Some(name) => octet::gpu::parse_backends(name)?,
        None => wgpu::Backends::from_env().unwrap_or(wgpu::Backends::all()),
    };
    let adapters = octet::gpu::adapters(backends);
    if adapters.is_empty() {
        return Err(octet::Error::NoAdapter {
            backends: format!("{backends:?}"),
        }
        .into());
    }
    for name in &args.only {
        if conformance::suite(name).is_none() {
            let names = conformance::suite_names();
            return Err(format!("unknown suite {name:?} in --only; suites: {names:?}").into());
        }
    }
    let suites: Vec<&Suite> = SUITES
        .iter()
        .filter(|s| args.only.is_empty() || args.only.iter().any(|o| o == s.name))
        .collect();

    let mut all_ok = true;
    let mut report = Vec::new();
    let mut md = String::from("# octet conformance report\n\n");
    md += &format!("octet {}\n\n", env!("CARGO_PKG_VERSION"));
    println!(
        "{:<28} {:<8} {:<28} {:<14} {:>6} {:>6} {:>10} {:>9}",
        "adapter", "backend", "driver", "kernel", "cases", "passed", "max error", "GOP/s"
    );
    for adapter in &adapters {
        let info = adapter.get_info();
        let driver = format!("{} {}", info.driver, info.driver_info);
        // An adapter that is listed but cannot give a device fails the run, and the report
        // still covers the others.
        let ctx = match octet::Context::from_adapter(adapter) {
            Ok(ctx) => ctx,
            Err(e) => {
                all_ok = false;
                println!("== {} ({:?}, {driver}): FAIL: {e}", info.name, info.backend);
                md += &format!(
                    "## {} ({:?})\n\n- driver: {driver}\n- **FAILURE**: {e}\n\n",
                    info.name, info.backend
                );
                report.push(json!({
                    "adapter": info.name,
                    "backend": format!("{:?}", info.backend),
                    "driver": info.driver,
                    "driver_info": info.driver_info,
                    "error": e.to_string(),
                }));
                continue;
            }
        };
        let lowering = octet::gpu::dot4_lowering(adapter);
        println!(
            "== {} ({:?}, {driver}): dot4I8Packed {lowering}",
            info.name, info.backend
        );
        md += &format!(
            "## {} ({:?})\n\n- driver: {driver}\n- `dot4I8Packed`: **{}** — {}\n\n\
             | suite | cases | passed | max error | GOP/s |\n|---|---|---|---|---|\n",
            info.name, info.backend, lowering.kind, lowering.evidence
        );
        let mut adapter_ok = true;
        for suite in &suites {
            let started = Instant::now();
            let cases = pollster::block_on(suite.cases(&ctx, Extent::quick_if(args.quick)))?;
            let gops = match suite.throughput {
                Some(probe) => Some(probe(&ctx, if args.quick { 128 } else { 256 })?),
                None => None,
            };
            let passed = cases.iter().filter(|c| c.passed).count();
            let max_err = cases.iter().map(|c| c.max_error).fold(0.0, f64::max);
            all_ok &= passed == cases.len();
            adapter_ok &= passed == cases.len();
            md += &format!(
                "| {} | {} | {passed} | {max_err:.3e} | {} |\n",
                suite.name,
                cases.len(),
                gops.map_or("–".into(), |g| format!("{g:.2}"))
            );
            println!(
                "{:<28} {:<8} {:<28} {:<14} {:>6} {:>6} {:>10.3e} {:>9}",
                truncate(&info.name, 28),
                format!("{:?}", info.backend),
                truncate(&driver, 28),
                suite.name,
                cases.len(),
                passed,
                max_err,
                gops.map_or("-".into(), |g| format!("{g:.2}")),
            );
            let failures: Vec<&CaseResult> = cases.iter().filter(|c| !c.passed).collect();
            for f in failures
                .iter()
                .take(if args.verbose { usize::MAX } else { 1 })
            {
                println!("    FAIL {}: {}", f.case, f.detail);
                md += &format!("|  ↳ FAIL | {} | {} | | |\n", f.case, f.detail);
            }
            report.push(json!({
                "adapter": info.name,
                "backend": format!("{:?}", info.backend),
                "dot4_lowering": lowering,
                "driver": info.driver,
                "driver_info": info.driver_info,
                "kernel": suite.name,
                "kernels_exercised": suite.kernels,
                "cases": cases.len(),
                "passed": passed,
                "max_error": max_err,
                "gops": gops,
                "seconds": started.elapsed().as_secs_f64(),
                "results": cases.iter().map(|c| json!({
                    "case": c.case,
                    "passed": c.passed,
                    "max_error": c.max_error,
                    "detail": c.detail,
                })).collect::<Vec<_>>(),
            }));
        }
        let steps = step_times(&ctx, args.quick)?;
        md += "\n| LeNet-5 step, batch 64 | ms |\n|---|---|\n";
        for (policy, ms) in &steps {
            println!(
                "{:<28} LeNet-5 training step, batch 64, {policy:<6} {ms:>8.1} ms",
                ""
            );
            md += &format!("| {policy} | {ms:.1} |\n");
        }
        md += &format!(
            "\n{}\n\n",
            if adapter_ok {
                "All cases passed."
            } else {
                "**FAILURES.**"
            }
        );
        report.push(json!({
            "adapter": info.name,
            "backend": format!("{:?}", info.backend),
            "lenet5_step_ms": steps.iter().map(|(p, ms)| json!({"policy": p, "ms": ms})).collect::<Vec<_>>(),
        }));
    }
    if let Some(path) = &args.markdown {
        md += "Max error: the largest deviation from the CPU twin relative to each case's \
               tolerance (0 = bit-exact; a case fails above 1).\n";
        std::fs::write(path, md).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        println!("wrote {}", path.display());
    }
    if let Some(path) = &args.json {
        let doc = json!({
            "octet_version": env!("CARGO_PKG_VERSION"),
            "all_passed": all_ok,
            "kernels": report,
        });
        let text = serde_json::to_string_pretty(&doc).expect("JSON of plain values");
        std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        println!("wrote {}", path.display());
    }
    println!(
        "max error: the largest deviation from the CPU twin relative to each case's tolerance \
         (0 = bit-exact; a case fails above 1)"
    );
    println!(
        "{}",
        if all_ok {
            "all cases passed"
        } else {
            "FAILURES (see above)"
        }
    );
    Ok(all_ok)
}

/// Milliseconds per LeNet-5 training step at batch 64 under each policy (after warm-up steps
/// that compile the kernels).
fn step_times(ctx: &octet::Context, quick: bool) -> Result<Vec<(&'static str, f64)>, octet::Error> {
    use octet::nn::ModelSpec;
    use octet::quant::Policy;
    use octet::train::{TrainConfig, Trainer, time_steps};
    let (warm, timed) = if quick { (1, 1) } else { (2, 3) };
    let data = octet::data::Dataset::synthetic_images(64 * (warm + timed), [28, 28, 1], 10, 0.5, 1);
    let spec = ModelSpec::lenet5(28, 28, 1, 10);
    let mut out = Vec::new();
    for policy in [
        Policy::Fp32,
        Policy::NaiveInt8,
        Policy::ui8(),
        Policy::dai8(),
    ] {
        let name = policy.name();
        let cfg = TrainConfig {
            batch: 64,
            ..Default::default()
        };
        let mut trainer = Trainer::new(ctx, &spec, policy, cfg)?;
        out.push((name, time_steps(&mut trainer, &data, warm, timed)?));
    }
    Ok(out)
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n - 1).chain(Some('…')).collect()
    }
}
