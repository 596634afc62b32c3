//! Autotuning: which [`GemmVariant`] runs a GEMM shape fastest on this adapter, and which
//! [`ConvLowering`] a convolution.
//!
//! At a shape's first use, [`Context::gemm_variant`] (and [`Context::conv_lowering`]) times
//! every choice on scratch operands (one warm-up run that also compiles, then the best of up to
//! three) and keeps the fastest. Choices are shared by every context on the same adapter and
//! driver in the process and, with [`Autotune::Cached`], stored in a JSON file for later
//! processes. Since the choices compute the same bits, a choice changes speed (and for a
//! convolution, memory) only; that is what makes a measured, hence machine-dependent, choice
//! safe.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use crate::checkpoint::write_atomically;
use crate::error::Result;
use crate::gpu::{Autotune, Context, Recording};
use crate::ops::gemm::{self, Epilogue, GemmBuffers, GemmShape, GemmVariant, MAX_K_CHUNK};
use crate::ops::{ConvGeometry, ConvLowering};

/// Choices per adapter key, then per shape key (a [`GemmVariant`] or a [`ConvLowering`], by
/// serde name).
type Choices = HashMap<String, HashMap<String, serde_json::Value>>;

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
        let device = self.device().adapter_info().device_type;
        choose(
            self,
            shape_key(shape, int8),
            || GemmVariant::heuristic(shape, device),
            || measure(self, shape, int8),
        )
    }

    /// How a convolution of `g` into `channels` outputs (int8 or FP32) gets its column matrix:
    /// as [`Context::set_conv_lowering`] forces, else measured at first use on this adapter
    /// (the forward and weight-gradient GEMMs each way) unless [`Context::autotune`] is
    /// [`Autotune::Off`], which gives [`ConvLowering::heuristic`]. Blocks while measuring.
    pub fn conv_lowering(
        &self,
        g: &ConvGeometry,
        channels: u32,
        int8: bool,
    ) -> Result<ConvLowering> {
        if let Some(forced) = self.forced_conv_lowering() {
            return Ok(forced);
        }
        let device = self.device().adapter_info().device_type;
        // "kept-x": int8 layers keep their input quantized under both lowerings (entries
        // measured before, when an int8 layer kept its column matrix, are not reused).
        let key = format!(
            "conv {} {}x{}x{}x{} k{}x{} s{} p{} -> {channels}",
            if int8 { "i8 kept-x" } else { "f32" },
            g.n,
            g.h,
            g.w,
            g.c,
            g.kh,
            g.kw,
            g.stride,
            g.pad
        );
        choose(
            self,
            key,
            || ConvLowering::heuristic(g, int8, device),
            || measure_conv(self, g, channels, int8),
        )
    }
}

/// The choice for `key` on this adapter: the process's, the cache file's, or measured now (and
/// stored); `rule` when autotuning is off or the shape cannot be measured.
fn choose<T>(
    ctx: &Context,
    key: String,
    rule: impl FnOnce() -> T,
    measure: impl FnOnce() -> Result<Option<T>>,
) -> Result<T>
where
    T: serde::Serialize + serde::de::DeserializeOwned,
{
    let mode = ctx.autotune();
    if mode == Autotune::Off {
        return Ok(rule());
    }
    let adapter = adapter_key(ctx);
    if let Autotune::Cached(path) = &mode {
        load_once(path, &adapter);
    }
    let known = with_choices(|c| c.get(&adapter).and_then(|m| m.get(&key)).cloned());
    if let Some(v) = known.and_then(|v| serde_json::from_value(v).ok()) {
        return Ok(v);
    }
    let Some(measured) = measure()? else {
        return Ok(rule());
    };
    let value = serde_json::to_value(&measured)
        .map_err(|e| crate::Error::invalid("autotune", e.to_string()))?;
    // Another thread may have measured the same shape meanwhile: the first choice stays.
    let chosen = with_choices(|c| {
        c.entry(adapter.clone())
            .or_default()
            .entry(key)
            .or_insert(value)
            .clone()
    });
    if let Autotune::Cached(path) = &mode {
        store(path, &adapter);
    }
    Ok(serde_json::from_value(chosen).unwrap_or(measured))
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
            mine.entry(k.clone()).or_insert_with(|| v.clone());
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
        log::warn!("octet: could not save autotune choices: {e}");
    }
}

/// Uncounted scratch for measuring: dropped at once, not memory octet holds.
fn scratch(ctx: &Context, label: &str, bytes: u64) -> wgpu::Buffer {
    ctx.device().create_buffer(&wgpu::BufferDescriptor {
        label: Some(&format!("octet.autotune.{label}")),
        size: bytes.max(4).next_multiple_of(4),
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    })
}

/// Whether buffers of these sizes fit the device's limits.
fn fits(ctx: &Context, sizes: &[u64]) -> bool {
    let limits = ctx.device().limits();
    let max = limits
        .max_storage_buffer_binding_size
        .min(limits.max_buffer_size);
    sizes.iter().all(|&s| s <= max)
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
    if !fits(ctx, &sizes) {
        return Ok(None);
    }
    let [a, b, out, partials] = ["a", "b", "out", "partials"]
        .into_iter()
        .zip(sizes)
        .map(|(label, bytes)| scratch(ctx, label, bytes))
        .collect::<Vec<_>>()
        .try_into()
        .expect("four buffers");
    let bufs = GemmBuffers {
        partials: Some(&partials),
        ..GemmBuffers::new(&a, &b, &out)
    };
    let mut candidates = Vec::new();
    for variant in GemmVariant::ALL {
        let mut rec = Recording::new();
        let recorded = if int8 {
            let none = &Epilogue::NONE;
            gemm::gemm_i8_variant(ctx, &mut rec, variant, shape, k_chunk, bufs, none)
        } else {
            gemm::gemm_f32_variant(ctx, &mut rec, variant, shape, bufs, &Epilogue::NONE)
        };
        if recorded.is_err() {
            return Ok(None);
        }
        candidates.push((variant, rec, 1.0));
    }
    fastest(ctx, &shape_key(shape, int8), candidates)
}

/// Times a convolution's forward and weight-gradient GEMMs under each [`ConvLowering`]
/// (int8: with X's quantization, which differs between them); `None` when they cannot run.
fn measure_conv(
    ctx: &Context,
    g: &ConvGeometry,
    channels: u32,
    int8: bool,
) -> Result<Option<ConvLowering>> {
    use crate::ops::{self, QuantizeBuffers, Rounding};
    let fwd = gemm::conv_forward_shape(g, channels);
    let wgrad = gemm::conv_wgrad_shape(g, channels);
    let el = if int8 { 1 } else { 4 };
    let k_chunk = if int8 {
        wgrad.auto_k_chunk(MAX_K_CHUNK)
    } else {
        gemm::f32_k_chunk(&wgrad)
    };
    let padded = |rows: u32, k: u32| rows as u64 * k.next_multiple_of(4) as u64 * el;
    let sizes = [
        g.input_len() * 4,
        g.quantized_input_layout().packed_words() as u64 * 4,
        padded(fwd.m, fwd.k),
        padded(fwd.n, fwd.k),
        padded(fwd.m, fwd.n),
        (fwd.m as u64 * fwd.n as u64).max(wgrad.m as u64 * wgrad.n as u64) * 4,
        wgrad.partials_bytes(k_chunk),
    ];
    if !fits(ctx, &sizes) {
        return Ok(None);
    }
    let [x, x_q, cols, w, dy, out, partials] = ["x", "x_q", "cols", "w", "dy", "out", "partials"]
        .into_iter()
        .zip(sizes)
        .map(|(label, bytes)| scratch(ctx, label, bytes))
        .collect::<Vec<_>>()
        .try_into()
        .expect("seven buffers");
    let (clip, scales) = (scratch(ctx, "clip", 4), scratch(ctx, "scales", 4));
    ctx.queue()
        .write_buffer(&clip, 0, bytemuck::bytes_of(&1f32));
    let bufs = |a, b| GemmBuffers {
        partials: Some(&partials),
        ..GemmBuffers::new(a, b, &out)
    };
    let none = &Epilogue::NONE;
    // X quantized in place: what an int8 layer does under either lowering.
    let quantize_x = |r: &mut Recording| {
        let q = QuantizeBuffers {
            input: &x,
            clips: &clip,
            packed: &x_q,
            scales: &scales,
            relu_mask: None,
        };
        ops::quantize(ctx, r, &g.quantized_input_layout(), Rounding::Nearest, q)
    };
    let mut candidates = Vec::new();
    for lowering in ConvLowering::ALL {
        let mut rec = Recording::new();
        let r = &mut rec;
        let recorded = match (lowering, int8) {
            (ConvLowering::Columns, false) => ops::im2col(r, g, &x, &cols)
                .and_then(|_| gemm::gemm_f32(ctx, r, &fwd, bufs(&cols, &w), none))
                .and_then(|_| gemm::gemm_f32(ctx, r, &wgrad, bufs(&dy, &cols), none)),
            (ConvLowering::Implicit, false) => {
                let conv = (g, channels);
                gemm::conv_f32_forward(ctx, r, conv, bufs(&x, &w), none)
                    .and_then(|_| gemm::conv_f32_wgrad(ctx, r, conv, bufs(&dy, &x)))
            }
            // The column matrix gathered twice, as the layer does: once per GEMM.
            (ConvLowering::Columns, true) => quantize_x(r)
                .and_then(|_| ops::im2col_i8(r, g, &x_q, &cols))
                .and_then(|_| gemm::gemm_i8(ctx, r, &fwd, MAX_K_CHUNK, bufs(&cols, &w), none))
                .and_then(|_| ops::im2col_i8(r, g, &x_q, &cols))
                .and_then(|_| gemm::gemm_i8(ctx, r, &wgrad, k_chunk, bufs(&dy, &cols), none)),
            (ConvLowering::Implicit, true) => {
                let conv = (g, channels);
                quantize_x(r)
                    .and_then(|_| {
                        gemm::conv_i8_forward(ctx, r, conv, MAX_K_CHUNK, bufs(&x_q, &w), none)
                    })
                    .and_then(|_| gemm::conv_i8_wgrad(ctx, r, conv, k_chunk, bufs(&dy, &x_q), none))
            }
        };
        if recorded.is_err() {
            return Ok(None);
        }
        let weight = match lowering {
            ConvLowering::Columns => ConvLowering::columns_speedup_needed(),
            ConvLowering::Implicit => 1.0,
        };
        candidates.push((lowering, rec, weight));
    }
    let what = format!("conv {g:?} -> {channels} int8={int8}");
    fastest(ctx, &what, candidates)
}

/// Runs each candidate's recording once to compile and warm up, then times them in turns
/// (three rounds, each candidate once per round, so that a slow spell of the machine hits all
/// alike; one already twice as slow as the best is dropped after its first round) and keeps
/// each one's best; returns the candidate whose time times its weight is least.
fn fastest<T: Copy + std::fmt::Debug>(
    ctx: &Context,
    what: &str,
    candidates: Vec<(T, Recording, f64)>,
) -> Result<Option<T>> {
    let run = |prepared: &[crate::gpu::Prepared]| -> Result<f64> {
        let t = Instant::now();
        let mut encoder = ctx.encoder("autotune");
        crate::gpu::Prepared::encode_all(prepared, &mut encoder);
        ctx.submit(encoder)?;
        ctx.wait_idle()?;
        Ok(t.elapsed().as_secs_f64())
    };
    let mut timed = Vec::new();
    for (choice, rec, weight) in candidates {
        let prepared = rec
            .dispatches
            .iter()
            .map(|d| ctx.prepare(d))
            .collect::<Result<Vec<_>>>()?;
        run(&prepared)?;
        timed.push((choice, prepared, weight, f64::INFINITY));
    }
    for round in 0..3 {
        let best = timed.iter().map(|c| c.3).fold(f64::INFINITY, f64::min);
        for (_, prepared, weight, time) in &mut timed {
            if round > 0 && *time > 2.0 * best {
                continue;
            }
            *time = time.min(run(prepared)? * *weight);
        }
    }
    for (choice, _, weight, time) in &timed {
        log::debug!(
            "octet autotune: {what} {choice:?}: {:.3} ms",
            time / weight * 1e3
        );
    }
    let best = timed.iter().min_by(|a, b| a.3.total_cmp(&b.3));
    Ok(best.map(|c| c.0))
}
