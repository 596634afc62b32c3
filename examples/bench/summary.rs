//! The Markdown summary of a bench run, with the Burn peer's figures beside octet's when its
//! `RESULT` lines are given (the `burn-bench` peer program's `scripts/run.sh`, run beforehand on
//! the same machine).

use std::fmt::Write;

use crate::ceiling::Ceiling;
use crate::gemm::GemmRow;
use crate::steps::StepRow;

/// One `RESULT` line of the peer: case (`matmul1024`, `mlp-train`, …) and median.
pub struct PeerResult {
    pub case: String,
    pub metric: String,
    pub median: f64,
}

/// The `RESULT` lines of a peer log; other lines are skipped.
pub fn parse_peer(text: &str) -> Vec<PeerResult> {
    let field = |line: &str, key: &str| -> Option<String> {
        let start = line.find(&format!("{key}="))? + key.len() + 1;
        Some(
            line[start..]
                .split_whitespace()
                .next()?
                .trim_matches('"')
                .to_string(),
        )
    };
    text.lines()
        .filter(|l| l.starts_with("RESULT "))
        .filter_map(|l| {
            Some(PeerResult {
                case: field(l, "case")?,
                metric: field(l, "metric")?,
                median: field(l, "median")?.parse().ok()?,
            })
        })
        .collect()
}

pub fn markdown(
    adapter: &serde_json::Value,
    ceiling: Option<&Ceiling>,
    gemms: &[GemmRow],
    steps: &[StepRow],
    peer: &[PeerResult],
) -> String {
    let mut md = String::new();
    let s = |v: &serde_json::Value| v.as_str().unwrap_or("").to_string();
    let _ = writeln!(
        md,
        "# octet bench\n\n{} ({}, {} {}), octet {}, kernels {}\n",
        s(&adapter["name"]),
        s(&adapter["backend"]),
        s(&adapter["driver"]),
        s(&adapter["driver_info"]),
        env!("CARGO_PKG_VERSION"),
        s(&adapter["kernel_checks"])
    );
    if let Some(c) = ceiling {
        let _ = writeln!(
            md,
            "Ceilings (operands in registers): f32 fma {:.1} GFLOP/s, int8 dot4I8Packed {:.1} GOP/s ({:.2}x).\n",
            2.0 * c.f32_macs_per_s / 1e9,
            2.0 * c.i8_macs_per_s / 1e9,
            c.i8_macs_per_s / c.f32_macs_per_s
        );
    }
    let peer_of = |case: &str| peer.iter().find(|p| p.case == case);
    let _ = writeln!(
        md,
        "| GEMM | M×N×K | f32 GFLOP/s | i8 GOP/s | i8/f32 | kernels | Burn f32 GFLOP/s |\n|---|---|---|---|---|---|---|"
    );
    for pair in gemms.chunks(2) {
        let [f, i] = pair else { continue };
        let burn = (f.m == f.n && f.n == f.k)
            .then(|| peer_of(&format!("matmul{}", f.m)))
            .flatten()
            .map_or("—".to_string(), |p| format!("{:.2}", p.median));
        let _ = writeln!(
            md,
            "| {} | {}×{}×{} | {:.2} | {:.2} | {:.2}x | {:?}, {:?} | {burn} |",
            f.what,
            f.m,
            f.n,
            f.k,
            f.ops_per_s / 1e9,
            i.ops_per_s / 1e9,
            i.ops_per_s / f.ops_per_s,
            f.variant,
            i.variant
        );
    }
    let _ = writeln!(
        md,
        "\n| model | policy | batch | steps/submit | ms/step | vs fp32 | dispatches | submits/step | Burn FP32 ms/step |\n|---|---|---|---|---|---|---|---|---|"
    );
    for r in steps {
        let case = match r.model {
            "mlp" => "mlp-train",
            "lenet5" => "lenet-train",
            _ => "",
        };
        let burn = peer_of(case)
            .filter(|p| r.batch == 64 && p.metric == "ms/step")
            .map_or("—".to_string(), |p| format!("{:.2}", p.median));
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {:.2} | {:.2}x | {} | {:.2} | {burn} |",
            r.model,
            r.policy,
            r.batch,
            r.steps_per_submit,
            r.ms_per_step,
            r.ratio_to_fp32,
            r.dispatches_per_step,
            r.submits_per_step
        );
    }
    md
}
