//! Conformance tool: runs every kernel's conformance cases against its CPU twin on each adapter
//! (or the one chosen), prints a table and optionally writes JSON. Exits non-zero on any failure.
//!
//! ```text
//! cargo run --release --example conformance -- [--backend vulkan|gl|metal|dx12] [--json FILE]
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use octet::conformance::{self, CaseResult, SUITES};
use serde_json::json;

#[derive(Parser)]
#[command(about = "Check that octet's int8 kernels compute exactly what their CPU twins do")]
struct Args {
    /// Only test adapters of this backend: vulkan, gl, metal or dx12 (default: all present).
    #[arg(long)]
    backend: Option<String>,
    /// Write the full results, every case included, as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
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
        None => wgpu::Backends::all(),
    };
    let adapters = octet::gpu::adapters(backends);
    if adapters.is_empty() {
        return Err(octet::Error::NoAdapter {
            backends: format!("{backends:?}"),
        }
        .into());
    }
    for name in &args.only {
        if !SUITES.contains(&name.as_str()) {
            return Err(format!("unknown suite {name:?} in --only; suites: {SUITES:?}").into());
        }
    }
    let suites: Vec<&str> = SUITES
        .iter()
        .copied()
        .filter(|s| args.only.is_empty() || args.only.iter().any(|o| o == s))
        .collect();

    let mut all_ok = true;
    let mut report = Vec::new();
    println!(
        "{:<28} {:<8} {:<28} {:<14} {:>6} {:>6} {:>10} {:>9}",
        "adapter", "backend", "driver", "kernel", "cases", "passed", "max error", "GOP/s"
    );
    for adapter in &adapters {
        let info = adapter.get_info();
        let ctx = octet::Context::from_adapter(adapter)?;
        let driver = format!("{} {}", info.driver, info.driver_info);
        for suite in &suites {
            let started = Instant::now();
            let cases = conformance::run_suite(&ctx, suite, args.quick)?;
            let gops = conformance::throughput(&ctx, suite, if args.quick { 128 } else { 256 })?;
            let passed = cases.iter().filter(|c| c.passed).count();
            let max_err = cases.iter().map(|c| c.max_error).fold(0.0, f64::max);
            all_ok &= passed == cases.len();
            println!(
                "{:<28} {:<8} {:<28} {:<14} {:>6} {:>6} {:>10.3e} {:>9}",
                truncate(&info.name, 28),
                format!("{:?}", info.backend),
                truncate(&driver, 28),
                suite,
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
            }
            report.push(json!({
                "adapter": info.name,
                "backend": format!("{:?}", info.backend),
                "driver": info.driver,
                "driver_info": info.driver_info,
                "kernel": suite,
                "kernels_exercised": conformance::suite_kernels(suite),
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

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n - 1).chain(Some('…')).collect()
    }
}
