//! The layer rule (ARCHITECTURE.md): a top-level module of `src/` imports only from layers
//! below its own, and modules of one layer do not import each other. Test code (`#[cfg(test)]`
//! modules and files named `*tests.rs`) may import anything. Comments and doc links are not
//! imports.

use std::collections::BTreeMap;
use std::path::Path;

/// Layers, bottom to top. A module's rank is its layer's index.
const LAYERS: &[&[&str]] = &[
    &["error"],
    &["rng", "fsio"],
    &["abi"],
    &["cpu", "gpu"],
    &["measure"],
    &["tune"],
    &["ops"],
    &["quant"],
    &["nn"],
    // `data` imports only `error` and `rng`; `train` uses it to slice batches for timing.
    // `dist` (collectives) imports only `error`.
    &["data", "dist"],
    &["train"],
    // `interop` reads checkpoints (train) and writes what they hold for other tools.
    &["interop"],
    &["conformance"],
    &["fuzzing"],
];

fn rank(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

/// `src` without comments, string literals and `#[cfg(test)]` items.
fn code_of(src: &str) -> String {
    let mut out = String::new();
    let mut skip_depth: Option<i32> = None;
    let mut depth = 0i32;
    let mut pending_test = false;
    for line in src.lines() {
        let code = line.split("//").next().unwrap_or("");
        let trimmed = code.trim();
        if trimmed.starts_with("#[cfg(test)]") {
            pending_test = true;
            continue;
        }
        let opens = code.matches('{').count() as i32;
        let closes = code.matches('}').count() as i32;
        if pending_test && skip_depth.is_none() {
            // The item after #[cfg(test)]: a `mod x;` line or a block.
            pending_test = false;
            if opens > closes {
                skip_depth = Some(depth);
            }
            depth += opens - closes;
            continue;
        }
        depth += opens - closes;
        if let Some(d) = skip_depth {
            if depth <= d {
                skip_depth = None;
            }
            continue;
        }
        // Drop string literals (paths in messages are not imports).
        let mut in_str = false;
        for ch in code.chars() {
            if ch == '"' {
                in_str = !in_str;
            } else if !in_str {
                out.push(ch);
            }
        }
        out.push('\n');
    }
    out
}

/// The top-level modules a file's code names as `crate::<module>`, with `use crate::{a, b}`
/// groups expanded.
fn imports(code: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        let after = &rest[i + 7..];
        if let Some(group) = after.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for part in group[..end].split(',') {
                let name: String = part
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    found.push(name);
                }
            }
        } else {
            let name: String = after
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            found.push(name);
        }
        rest = after;
    }
    found
}

fn visit(dir: &Path, files: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            visit(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

#[test]
fn every_import_points_down_a_layer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    visit(&src, &mut files);
    let mut violations = BTreeMap::new();
    let mut modules_seen = 0;
    for file in &files {
        let rel = file.strip_prefix(&src).unwrap();
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let top = top.trim_end_matches(".rs").to_string();
        if top == "lib" || rel.to_string_lossy().ends_with("tests.rs") {
            continue;
        }
        let Some(own) = rank(&top) else {
            panic!(
                "src/{} is in no layer: add its module to LAYERS here and to ARCHITECTURE.md",
                rel.display()
            );
        };
        modules_seen += 1;
        let code = code_of(&std::fs::read_to_string(file).unwrap());
        for module in imports(&code) {
            // Crate-root re-exports (`crate::Context`, `crate::Error`, ...) name their layer.
            let target = match module.as_str() {
                "Context" | "Recording" => "gpu",
                "Error" | "Result" => "error",
                "checkpoint" => "train",
                m => m,
            };
            if target == top {
                continue;
            }
            let Some(theirs) = rank(target) else {
                continue;
            };
            if theirs >= own {
                violations
                    .entry(rel.display().to_string())
                    .or_insert_with(Vec::new)
                    .push(format!(
                        "{top} (layer {own}) imports {target} (layer {theirs})"
                    ));
            }
        }
    }
    assert!(modules_seen > 20, "found only {modules_seen} source files");
    assert!(
        violations.is_empty(),
        "imports that do not point down a layer:\n{violations:#?}"
    );
}

#[test]
fn the_rule_sees_imports() {
    let code = code_of(
        "use crate::{nn, ops::Layout};\n// crate::train in a comment\nfn f() { crate::data::x(); }\n\
         let s = \"crate::quant\";\n#[cfg(test)]\nmod tests {\n    use crate::conformance;\n}\n",
    );
    assert_eq!(imports(&code), ["nn", "ops", "data"]);
}
