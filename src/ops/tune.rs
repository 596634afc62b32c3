//! GEMM autotuning: which [`GemmVariant`] runs a shape fastest on this adapter.
//!
//! At a shape's first use, [`Context::gemm_variant`] times every variant on scratch operands
//! (one warm-up run that also compiles, then the best of up to three) and keeps the fastest.
//! Choices are shared by every context on the same adapter and driver in the process and, with
//! [`Autotune::Cached`], stored in a JSON file for later processes. Since the variants compute
//! the same bits, a choice changes speed only; that is what makes a measured, hence
//! machine-dependent, choice safe.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use crate::checkpoint::write_atomically;
use crate::error::Result;
use crate::gpu::{Autotune, Context, Recording};
use crate::ops::gemm::{self, Epilogue, GemmBuffers, GemmShape, GemmVariant, MAX_K_CHUNK};

/// Choices per adapter key, then per shape key.
type Choices = HashMap<String, HashMap<String, GemmVariant>>;

/// This process's choices, and whether each adapter's cache file was read yet.
static CHOICES: Mutex<Option<(Choices, Vec<String>)>> = Mutex::new(None);

/// Serialises this process's writes of cache files (the temporary name is per process).
static FILE_WRITE: Mutex<()> = Mutex::new(());

#[derive(serde::Serialize, serde::Deserialize, Default)]
struct CacheFile {
    octet: String,
    adapters: Choices,
}

impl Context {
    /// The kernel variant [`gemm::gemm_i8`] (`int8`) or [`gemm::gemm_f32`] runs for `shape`:
    /// measured at first use on this adapter unless [`Context::autotune`] is
    /// [`Autotune::Off`], which gives [`GemmVariant::heuristic`]. Blocks while measuring (up
    /// to about a dozen runs of the GEMM).
    pub fn gemm_variant(&self, shape: &GemmShape, int8: bool) -> Result<GemmVariant> {
        let mode = self.autotune();
        let rule = || GemmVariant::heuristic(shape, self.device().adapter_info().device_type);
        if mode == Autotune::Off {
            return Ok(rule());
        }
        let adapter = adapter_key(self);
        let key = shape_key(shape, int8);
        if let Autotune::Cached(path) = &mode {
            load_once(path, &adapter);
        }
        if let Some(v) = with_choices(|c| c.get(&adapter).and_then(|m| m.get(&key)).copied()) {
            return Ok(v);
        }
        let Some(measured) = measure(self, shape, int8)? else {
            return Ok(rule());
        };
        // Another thread may have measured the same shape meanwhile: the first choice stays.
        let chosen = with_choices(|c| {
            *c.entry(adapter.clone())
                .or_default()
                .entry(key)
                .or_insert(measured)
        });
        if let Autotune::Cached(path) = &mode {
            store(path, &adapter);
        }
        Ok(chosen)
    }
}

fn with_choices<T>(f: impl FnOnce(&mut Choices) -> T) -> T {
    let mut guard = CHOICES.lock().unwrap_or_else(|p| p.into_inner());
    f(&mut guard.get_or_insert_with(Default::default).0)
}

/// The adapter and driver, as precisely as wgpu reports them.
fn adapter_key(ctx: &Context) -> String {
    let i = ctx.device().adapter_info();
    format!(
        "{} ({:?}, {:04x}:{:04x}, {} {})",
        i.name, i.backend, i.vendor, i.device, i.driver, i.driver_info
    )
}

fn shape_key(shape: &GemmShape, int8: bool) -> String {
    format!(
        "{} {}x{}x{} trans=({},{})",
        if int8 { "i8" } else { "f32" },
        shape.m,
        shape.n,
        shape.k,
        shape.trans_a as u8,
        shape.trans_b as u8
    )
}

/// Merges the file's choices for `adapter` into the process's, once per adapter. A missing,
/// unreadable or other-version file is no error: the shapes are measured again.
fn load_once(path: &std::path::Path, adapter: &str) {
    let mut guard = CHOICES.lock().unwrap_or_else(|p| p.into_inner());
    let (choices, loaded) = guard.get_or_insert_with(Default::default);
    if loaded.iter().any(|a| a == adapter) {
        return;
    }
    loaded.push(adapter.to_string());
    let Some(file) = read_cache(path) else {
        return;
    };
    if let Some(found) = file.adapters.get(adapter) {
        let mine = choices.entry(adapter.to_string()).or_default();
        for (k, v) in found {
            mine.entry(k.clone()).or_insert(*v);
        }
    }
}

fn read_cache(path: &std::path::Path) -> Option<CacheFile> {
    let bytes = std::fs::read(path).ok()?;
    let file: CacheFile = serde_json::from_slice(&bytes).ok()?;
    (file.octet == env!("CARGO_PKG_VERSION")).then_some(file)
}

/// Writes this adapter's choices into the file, keeping other adapters' entries. Failing to
/// write costs only a later re-measurement, so it is logged, not returned.
fn store(path: &std::path::Path, adapter: &str) {
    let _writing = FILE_WRITE.lock().unwrap_or_else(|p| p.into_inner());
    let mut file = read_cache(path).unwrap_or_else(|| CacheFile {
        octet: env!("CARGO_PKG_VERSION").into(),
        ..Default::default()
    });
    let mine = with_choices(|c| c.get(adapter).cloned().unwrap_or_default());
    file.adapters
        .entry(adapter.to_string())
        .or_default()
        .extend(mine);
    let write = || -> Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| crate::Error::io(dir, e))?;
        }
        let bytes = serde_json::to_vec_pretty(&file)
            .map_err(|e| crate::Error::invalid("autotune", e.to_string()))?;
        write_atomically(path, &bytes)
    };
    if let Err(e) = write() {
        log::warn!("octet: could not save GEMM autotune choices: {e}");
    }
}

/// Times every variant of `shape` on zero operands; `None` when the shape cannot run (its error
/// then comes from the GEMM call itself) or fits no buffer.
fn measure(ctx: &Context, shape: &GemmShape, int8: bool) -> Result<Option<GemmVariant>> {
    let (a_bytes, b_bytes, k_chunk) = if int8 {
        let words = |rows, trans| GemmShape::packed_words(rows, shape.k, trans) * 4;
        let k_chunk = shape.auto_k_chunk(MAX_K_CHUNK);
        (
            words(shape.m, shape.trans_a),
            words(shape.n, shape.trans_b),
            k_chunk,
        )
    } else {
        let bytes = |rows: u32| rows as u64 * shape.k as u64 * 4;
        (bytes(shape.m), bytes(shape.n), gemm::f32_k_chunk(shape))
    };
    let out_bytes = shape.m as u64 * shape.n as u64 * 4;
    let sizes = [a_bytes, b_bytes, out_bytes, shape.partials_bytes(k_chunk)];
    let limits = ctx.device().limits();
    let max = limits
        .max_storage_buffer_binding_size
        .min(limits.max_buffer_size);
    if sizes.iter().any(|&s| s > max) {
        return Ok(None);
    }
    // Uncounted scratch: it is dropped at once and is not memory octet holds.
    let scratch = |label: &str, bytes: u64| {
        ctx.device().create_buffer(&wgpu::BufferDescriptor {
            label: Some(&format!("octet.autotune.{label}")),
            size: bytes.max(4).next_multiple_of(4),
            usage: wgpu::BufferUsages::STORAGE,
            mapped_at_creation: false,
        })
    };
    let (a, b, out) = (
        scratch("a", a_bytes),
        scratch("b", b_bytes),
        scratch("out", out_bytes),
    );
    let partials = scratch("partials", sizes[3]);
    let bufs = GemmBuffers {
        partials: Some(&partials),
        ..GemmBuffers::new(&a, &b, &out)
    };
    let mut best: Option<(f64, GemmVariant)> = None;
    for variant in GemmVariant::ALL {
        let mut rec = Recording::new();
        let recorded = if int8 {
            gemm::gemm_i8_variant(
                ctx,
                &mut rec,
                variant,
                shape,
                k_chunk,
                bufs,
                &Epilogue::NONE,
            )
        } else {
            gemm::gemm_f32_variant(ctx, &mut rec, variant, shape, bufs, &Epilogue::NONE)
        };
        if recorded.is_err() {
            return Ok(None);
        }
        let prepared = rec
            .dispatches
            .iter()
            .map(|d| ctx.prepare(d))
            .collect::<Result<Vec<_>>>()?;
        let run = || -> Result<f64> {
            let t = Instant::now();
            let mut encoder = ctx.encoder("autotune");
            for p in &prepared {
                p.encode(&mut encoder);
            }
            ctx.submit(encoder)?;
            ctx.wait_idle()?;
            Ok(t.elapsed().as_secs_f64())
        };
        run()?; // compiles and warms up
        let mut fastest = f64::INFINITY;
        for _ in 0..3 {
            fastest = fastest.min(run()?);
            // A variant already twice as slow as the best one is not worth more runs.
            if best.is_some_and(|(t, _)| fastest > 2.0 * t) {
                break;
            }
        }
        log::debug!(
            "octet autotune: {} {variant:?}: {:.3} ms",
            shape_key(shape, int8),
            fastest * 1e3
        );
        if best.is_none_or(|(t, _)| fastest < t) {
            best = Some((fastest, variant));
        }
    }
    Ok(best.map(|(_, v)| v))
}
