use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};
use crate::gpu::kernel::{Build, KernelDef, Pipeline};

/// octet's handle on a GPU: a host's `wgpu::Device` and `Queue` (cheap clones of them) plus the
/// kernels compiled for that device, each once.
///
/// `Context` is `Send + Sync` and cheap to clone; clones share the pipeline cache. octet never
/// creates a device unless asked to through [`Context::new_default`] or
/// [`Context::from_adapter`].
#[derive(Clone, Debug)]
pub struct Context {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    device: wgpu::Device,
    queue: wgpu::Queue,
    adapter_info: Option<wgpu::AdapterInfo>,
    pipelines: Mutex<HashMap<&'static str, Arc<Pipeline>>>,
    submits: std::sync::atomic::AtomicU64,
    created: std::sync::atomic::AtomicU64,
    storage_bytes: std::sync::atomic::AtomicU64,
    /// The first buffer asked for beyond the device's limits (see `Context::check_allocations`).
    oversized: Mutex<Option<Error>>,
    /// Why the device was lost, and the first error no scope caught (devices octet owns).
    health: Arc<DeviceHealth>,
    dummies: [wgpu::Buffer; 3],
    autotune: Mutex<Autotune>,
    conv_lowering: Mutex<Option<crate::abi::ConvLowering>>,
    checks: Mutex<KernelChecks>,
    build: Mutex<Build>,
    /// Whether the device can fold with subgroups at all (`Context::set_subgroup_folds`).
    subgroups_possible: bool,
    /// Whether the device's subgroups are exactly 8 lanes (`Context::subgroups_of_8`).
    subgroups_of_8: bool,
}

/// Whether octet's kernels are compiled with wgpu's runtime checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelChecks {
    /// wgpu's defaults: every storage and workgroup-memory index is clamped to its buffer
    /// (bounds checks injected where the driver does not do it), workgroup memory is zeroed at
    /// the start of every workgroup. What a borrowed device gets: an out-of-bounds write can
    /// then never touch the host's own buffers.
    Checked,
    /// `Device::create_shader_module_trusted` without runtime checks and workgroup memory left
    /// uninitialised. Every kernel's indexing is exercised at every edge by the conformance
    /// suite, and every kernel writes its workgroup memory before reading it; on lavapipe the
    /// checks cost the register-blocked GEMMs 30–40%. What a device octet created gets, unless
    /// `OCTET_KERNEL_CHECKS=on`.
    Trusted,
}

/// Whether octet measures which GEMM kernel variant ([`crate::abi::GemmVariant`]) is fastest
/// for each shape on this adapter, at the shape's first use, instead of following a fixed rule.
/// The variants compute the same bits, so this changes speed only. Set per context with
/// [`Context::set_autotune`]; the default comes from `OCTET_AUTOTUNE` ([`Autotune::from_env`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Autotune {
    /// No measuring: [`crate::abi::GemmVariant::heuristic`].
    Off,
    /// Measure at first use, remember for the life of the process.
    Memory,
    /// As `Memory`, and keep the choices in this JSON file, keyed by adapter, driver and octet
    /// version, so later processes skip the measuring.
    Cached(std::path::PathBuf),
}

impl Autotune {
    /// `OCTET_AUTOTUNE`: `off`, `memory`, or a cache file path; unset (or `on`): a cache file
    /// `octet/gemm-tune.json` in the user's cache directory (`$XDG_CACHE_HOME`, `~/.cache`, …),
    /// or `Memory` where there is none. In a browser always `Off`: measuring waits for the GPU,
    /// which a synchronous call there cannot do.
    pub fn from_env() -> Autotune {
        if cfg!(target_arch = "wasm32") {
            return Autotune::Off;
        }
        let default = || match dirs::cache_dir() {
            Some(dir) => Autotune::Cached(dir.join("octet").join("gemm-tune.json")),
            None => Autotune::Memory,
        };
        match std::env::var("OCTET_AUTOTUNE") {
            Ok(v) if v.eq_ignore_ascii_case("off") || v == "0" => Autotune::Off,
            Ok(v) if v.eq_ignore_ascii_case("memory") => Autotune::Memory,
            Ok(v) if v.is_empty() || v.eq_ignore_ascii_case("on") || v == "1" => default(),
            Ok(path) => Autotune::Cached(path.into()),
            Err(_) => default(),
        }
    }
}

/// What went wrong with a device outside any call's error scope.
#[derive(Debug, Default)]
struct DeviceHealth {
    lost: Mutex<Option<String>>,
    uncaptured: Mutex<Option<String>>,
}

impl DeviceHealth {
    fn record(&self, slot: &Mutex<Option<String>>, message: String) {
        let mut s = slot.lock().unwrap_or_else(|p| p.into_inner());
        s.get_or_insert(message);
    }

    fn get(&self, slot: &Mutex<Option<String>>) -> Option<String> {
        slot.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// The limits octet's kernels need; a device created with these (or more) is accepted.
pub fn required_limits() -> wgpu::Limits {
    wgpu::Limits {
        max_storage_buffers_per_shader_stage: 6,
        max_compute_workgroup_size_x: 256,
        max_compute_workgroup_size_y: 16,
        max_compute_invocations_per_workgroup: 256,
        max_compute_workgroup_storage_size: 8192,
        max_compute_workgroups_per_dimension: 65535,
        // The kernels need little; what a model needs grows with its batch and is checked
        // per buffer (`Error::LimitExceeded`), so small devices are accepted.
        max_storage_buffer_binding_size: 1 << 16,
        max_buffer_size: 1 << 16,
        ..wgpu::Limits::downlevel_defaults()
    }
}

fn check_limits(have: &wgpu::Limits) -> Result<()> {
    let need = required_limits();
    let checks: [(&'static str, u32, u32); 6] = [
        (
            "max_storage_buffers_per_shader_stage",
            need.max_storage_buffers_per_shader_stage,
            have.max_storage_buffers_per_shader_stage,
        ),
        (
            "max_compute_workgroup_size_x",
            need.max_compute_workgroup_size_x,
            have.max_compute_workgroup_size_x,
        ),
        (
            "max_compute_workgroup_size_y",
            need.max_compute_workgroup_size_y,
            have.max_compute_workgroup_size_y,
        ),
        (
            "max_compute_invocations_per_workgroup",
            need.max_compute_invocations_per_workgroup,
            have.max_compute_invocations_per_workgroup,
        ),
        (
            "max_compute_workgroup_storage_size",
            need.max_compute_workgroup_storage_size,
            have.max_compute_workgroup_storage_size,
        ),
        (
            "max_compute_workgroups_per_dimension",
            need.max_compute_workgroups_per_dimension,
            have.max_compute_workgroups_per_dimension,
        ),
    ];
    for (name, required, available) in checks {
        if available < required {
            return Err(Error::MissingLimit {
                name,
                required: required as u64,
                available: available as u64,
            });
        }
    }
    Ok(())
}

/// Parses a backend name as users write it: `vulkan`, `metal`, `dx12`, `gl` (also `gles`, `opengl`).
pub fn parse_backends(name: &str) -> Result<wgpu::Backends> {
    match name.to_ascii_lowercase().as_str() {
        "vulkan" | "vk" => Ok(wgpu::Backends::VULKAN),
        "metal" | "mtl" => Ok(wgpu::Backends::METAL),
        "dx12" | "d3d12" => Ok(wgpu::Backends::DX12),
        "gl" | "gles" | "opengl" => Ok(wgpu::Backends::GL),
        other => Err(Error::UnknownBackend(other.to_string())),
    }
}

fn new_instance(backends: wgpu::Backends) -> wgpu::Instance {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
    desc.backends = backends;
    wgpu::Instance::new(desc)
}

/// Every adapter on `backends` that can run octet (compute shaders and octet's limits), in
/// preference order: Vulkan, Metal and DX12 before GL; discrete before integrated before CPU.
pub fn adapters(backends: wgpu::Backends) -> Vec<wgpu::Adapter> {
    let instance = new_instance(backends);
    let mut found: Vec<wgpu::Adapter> = pollster::block_on(instance.enumerate_adapters(backends))
        .into_iter()
        .filter(|a| {
            a.get_downlevel_capabilities()
                .flags
                .contains(wgpu::DownlevelFlags::COMPUTE_SHADERS)
                && check_limits(&a.limits()).is_ok()
        })
        .collect();
    found.sort_by_key(|a| {
        let info = a.get_info();
        let backend = match info.backend {
            wgpu::Backend::Vulkan | wgpu::Backend::Metal | wgpu::Backend::Dx12 => 0,
            _ => 1,
        };
        let kind = match info.device_type {
            wgpu::DeviceType::DiscreteGpu => 0,
            wgpu::DeviceType::IntegratedGpu => 1,
            wgpu::DeviceType::VirtualGpu => 2,
            wgpu::DeviceType::Cpu => 3,
            wgpu::DeviceType::Other => 4,
        };
        (backend, kind)
    });
    found
}

impl Context {
    /// Wraps a host's device and queue. Fails with [`Error::MissingLimit`] if the device was
    /// created with limits below [`required_limits`].
    pub fn new(device: &wgpu::Device, queue: &wgpu::Queue) -> Result<Self> {
        Self::build(device.clone(), queue.clone(), None)
    }

    /// Creates a device on `adapter` with the adapter's own limits, after checking that they and
    /// its compute support suffice.
    pub fn from_adapter(adapter: &wgpu::Adapter) -> Result<Self> {
        pollster::block_on(Self::request(adapter))
    }

    /// [`Context::from_adapter`] as a future: the way to create a context in a browser, where
    /// a device arrives only through the event loop.
    pub async fn request(adapter: &wgpu::Adapter) -> Result<Self> {
        let info = adapter.get_info();
        if !adapter
            .get_downlevel_capabilities()
            .flags
            .contains(wgpu::DownlevelFlags::COMPUTE_SHADERS)
        {
            return Err(Error::Unsupported {
                adapter: info.name,
                reason: "no compute shader support (GL drivers need GLES 3.1 or GL 4.3)".into(),
            });
        }
        let limits = adapter.limits();
        check_limits(&limits)?;
        // Optional: GPU timestamps between a pass's dispatches, for profiling only.
        // Optional too: subgroups, for the statistics folds (`Context::subgroup_folds`).
        let timing =
            wgpu::Features::TIMESTAMP_QUERY | wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES;
        let optional = timing | wgpu::Features::SUBGROUP;
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("octet.device"),
                required_features: adapter.features() & optional,
                required_limits: limits,
                ..Default::default()
            })
            .await?;
        Self::build(device, queue, Some(info))
    }

    /// Picks an adapter and creates a device on it. Honours wgpu's environment conventions:
    /// `WGPU_BACKEND` (e.g. `vulkan`, `gl`) limits the backends searched and `WGPU_ADAPTER_NAME`
    /// picks the first adapter whose name contains it (case-insensitive); otherwise the first of
    /// [`adapters`] wins, which prefers Vulkan, Metal and DX12 over GL.
    pub fn new_default() -> Result<Self> {
        let backends = wgpu::Backends::from_env().unwrap_or(wgpu::Backends::all());
        Self::with_backends(backends, std::env::var("WGPU_ADAPTER_NAME").ok().as_deref())
    }

    /// Like [`Context::new_default`] with explicit backends and an optional adapter name fragment.
    pub fn with_backends(backends: wgpu::Backends, name: Option<&str>) -> Result<Self> {
        let found = adapters(backends);
        let chosen = match name {
            Some(wanted) => {
                let lower = wanted.to_lowercase();
                found
                    .iter()
                    .find(|a| a.get_info().name.to_lowercase().contains(&lower))
                    .ok_or_else(|| Error::AdapterNotFound {
                        wanted: wanted.to_string(),
                        available: found.iter().map(|a| a.get_info().name).collect(),
                    })?
            }
            None => found.first().ok_or_else(|| Error::NoAdapter {
                backends: format!("{backends:?}"),
            })?,
        };
        Self::from_adapter(chosen)
    }

    // In a browser wgpu's handles are neither Send nor Sync; the Arc still shares them between
    // a context's clones on the one thread there is.
    #[cfg_attr(target_arch = "wasm32", allow(clippy::arc_with_non_send_sync))]
    fn build(
        device: wgpu::Device,
        queue: wgpu::Queue,
        adapter_info: Option<wgpu::AdapterInfo>,
    ) -> Result<Self> {
        check_limits(&device.limits())?;
        let checks = match (
            &adapter_info,
            std::env::var("OCTET_KERNEL_CHECKS").as_deref(),
        ) {
            (Some(_), Ok("on")) | (None, _) => KernelChecks::Checked,
            (Some(_), _) => KernelChecks::Trusted,
        };
        // Kernels that ask for it ([`KernelDef::uniform_params`] false) read their parameter
        // block from a read-only storage buffer where the device has a storage binding to spare
        // beyond the six octet requires: lavapipe (Mesa 22.3) specialises a shader on the
        // uniform values that steer its control flow and recompiles it at every dispatch (from
        // its disk cache at best: 40 ms for a wide GEMM), which a storage binding does not
        // trigger. `OCTET_PARAMS=uniform` keeps uniforms everywhere.
        let params_in_storage = device.limits().max_storage_buffers_per_shader_stage
            > required_limits().max_storage_buffers_per_shader_stage
            && std::env::var("OCTET_PARAMS").as_deref() != Ok("uniform");
        // The statistics folds shuffle within groups of 8 lanes, which must lie in one subgroup.
        // Barriers are what those kernels cost CPU drivers (lavapipe: subgroups of 8);
        // `OCTET_SUBGROUPS=off` keeps the workgroup-memory folds (the same bits).
        let subgroups_possible = device.features().contains(wgpu::Features::SUBGROUP)
            && device.adapter_info().subgroup_min_size >= 8;
        let subgroups =
            subgroups_possible && std::env::var("OCTET_SUBGROUPS").as_deref() != Ok("off");
        let subgroups_of_8 = subgroups
            && device.adapter_info().subgroup_min_size == 8
            && device.adapter_info().subgroup_max_size == 8;
        let health = Arc::new(DeviceHealth::default());
        // On a device octet created itself, errors that escape octet's error scopes and the
        // loss of the device are recorded and returned by the next call, instead of wgpu's
        // default of panicking. A host's device keeps the host's own handlers.
        if adapter_info.is_some() {
            let h = health.clone();
            device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
                log::error!("octet: uncaptured GPU error: {e}");
                h.record(&h.uncaptured, e.to_string());
            }));
            let h = health.clone();
            device.set_device_lost_callback(move |reason, message| {
                h.record(&h.lost, format!("{reason:?}: {message}"));
            });
        }
        // Stand in for optional bindings (no bias, no candidates); kernels never touch them then.
        // One read-only and two writable ones: WebGPU lets a writable binding share its buffer
        // with no other binding of the dispatch.
        let dummies = [0, 1, 2].map(|i| {
            device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(&format!("octet.unused_binding{i}")),
                // Large enough for the biggest array element a kernel declares (32-byte structs).
                size: 64,
                // Copyable like every octet buffer, so checked steps can read all bindings.
                usage: super::buffer::STORAGE,
                mapped_at_creation: false,
            })
        });
        Ok(Context {
            inner: Arc::new(Inner {
                device,
                queue,
                adapter_info,
                pipelines: Mutex::new(HashMap::new()),
                submits: std::sync::atomic::AtomicU64::new(0),
                created: std::sync::atomic::AtomicU64::new(0),
                storage_bytes: std::sync::atomic::AtomicU64::new(0),
                oversized: Mutex::new(None),
                health,
                dummies,
                autotune: Mutex::new(Autotune::from_env()),
                conv_lowering: Mutex::new(None),
                checks: Mutex::new(checks),
                build: Mutex::new(Build {
                    params_in_storage,
                    subgroups,
                }),
                subgroups_possible,
                subgroups_of_8,
            }),
        })
    }

    /// Whether kernels that ask for it ([`KernelDef::uniform_params`] false) read their
    /// parameter block from a read-only storage buffer (where the device has a seventh storage
    /// binding per stage) rather than a uniform buffer.
    pub fn params_in_storage(&self) -> bool {
        self.kernel_build().params_in_storage
    }

    fn kernel_build(&self) -> Build {
        *self.inner.build.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the device offers subgroups of exactly 8 lanes (CPU drivers on 256-bit vectors,
    /// such as lavapipe), which [`GemmVariant::Lanes8`](crate::abi::GemmVariant::Lanes8) needs;
    /// `OCTET_SUBGROUPS=off` turns it off with the subgroup folds.
    pub fn subgroups_of_8(&self) -> bool {
        self.inner.subgroups_of_8
    }

    /// Whether the channel-statistics kernels fold with subgroup shuffles (the device offers
    /// `Features::SUBGROUP` with subgroups of at least 8 lanes) rather than through workgroup
    /// memory. Either gives the same bits; the shuffles need fewer barriers.
    pub fn subgroup_folds(&self) -> bool {
        self.kernel_build().subgroups
    }

    /// Folds with subgroup shuffles in the kernels built from now on where the device allows
    /// (`on`), or through workgroup memory (the pipelines already built are dropped from the
    /// cache). Returns whether the shuffles are in use. The results are the same bits either way.
    pub fn set_subgroup_folds(&self, on: bool) -> bool {
        let on = on && self.inner.subgroups_possible;
        self.inner
            .build
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .subgroups = on;
        self.inner
            .pipelines
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        on
    }

    /// Whether this context's kernels run with wgpu's runtime checks ([`KernelChecks`]).
    pub fn kernel_checks(&self) -> KernelChecks {
        *self.inner.checks.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Compiles the kernels built from now on with or without runtime checks (the pipelines
    /// already built are dropped from the cache; recordings prepared before keep theirs). A
    /// host lets octet's kernels run unchecked on its own device with this.
    ///
    /// # Safety
    ///
    /// With [`KernelChecks::Trusted`] a kernel indexing out of bounds — a bug in octet, or a
    /// buffer smaller than octet checked it to be — reads or writes whatever the driver maps
    /// there, possibly the host's own buffers; the caller accepts that octet's kernels stay in
    /// bounds (the conformance suite tests them at every edge on the adapters it runs on).
    pub unsafe fn set_kernel_checks(&self, checks: KernelChecks) {
        *self.inner.checks.lock().unwrap_or_else(|p| p.into_inner()) = checks;
        self.inner
            .pipelines
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    /// Chooses how GEMM kernel variants are picked from now on (shapes already chosen keep
    /// their choice).
    pub fn set_autotune(&self, mode: Autotune) {
        *self
            .inner
            .autotune
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = mode;
    }

    /// Forces how convolutions built from now on get their column matrix (`None`, the
    /// default: chosen per layer shape as [`Context::conv_lowering`] says). Both lowerings give
    /// the same bits; they differ in speed and, for FP32 layers, in memory. A quantized layer
    /// whose windows skip input pixels (a strided 1×1 shortcut) always takes the column matrix.
    pub fn set_conv_lowering(&self, lowering: Option<crate::abi::ConvLowering>) {
        *self
            .inner
            .conv_lowering
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = lowering;
    }

    /// The lowering [`Context::set_conv_lowering`] forces, if any.
    pub fn forced_conv_lowering(&self) -> Option<crate::abi::ConvLowering> {
        *self
            .inner
            .conv_lowering
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// The current [`Autotune`] mode.
    pub fn autotune(&self) -> Autotune {
        self.inner
            .autotune
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The device octet records on.
    pub fn device(&self) -> &wgpu::Device {
        &self.inner.device
    }

    /// How far GEMMs split K on this device: [`Spread::Cpu`](crate::abi::Spread::Cpu) on a CPU
    /// driver, [`Spread::Gpu`](crate::abi::Spread::Gpu) on everything else.
    pub fn spread(&self) -> crate::abi::Spread {
        match self.device().adapter_info().device_type {
            wgpu::DeviceType::Cpu => crate::abi::Spread::Cpu,
            _ => crate::abi::Spread::Gpu,
        }
    }

    /// The queue octet submits to.
    pub fn queue(&self) -> &wgpu::Queue {
        &self.inner.queue
    }

    /// The adapter's description, when octet created the device itself.
    pub fn adapter_info(&self) -> Option<&wgpu::AdapterInfo> {
        self.inner.adapter_info.as_ref()
    }

    /// Queue submissions made through this context (and its clones) so far.
    pub fn submit_count(&self) -> u64 {
        self.inner
            .submits
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// GPU buffers and bind groups octet has created through this context so far: constant
    /// across training steps after the first, which is how the no-allocation claim is tested.
    pub fn objects_created(&self) -> u64 {
        self.inner
            .created
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Bytes of storage buffers created through this context so far, less a recording's scratch
    /// that a larger one replaced (the difference around `Trainer::new` is what a model holds).
    pub fn storage_bytes(&self) -> u64 {
        self.inner
            .storage_bytes
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    pub(crate) fn forget_storage(&self, bytes: u64) {
        self.inner
            .storage_bytes
            .fetch_sub(bytes, std::sync::atomic::Ordering::Relaxed);
    }

    pub(crate) fn count_storage(&self, bytes: u64) {
        self.inner
            .storage_bytes
            .fetch_add(bytes, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether the device is still usable: [`Error::DeviceLost`] once it has been lost, or
    /// [`Error::Gpu`] with the first error that escaped octet's error scopes (on devices octet
    /// created; a host's device reports through the host's own handlers). Octet's entry points
    /// (`Trainer::new`, `train_step`, `poll_metrics`, `checkpoint`, readbacks) call it first.
    pub fn check_device(&self) -> Result<()> {
        let h = &self.inner.health;
        if h.get(&h.lost).is_none() {
            // Lets a pending device-lost callback run; never waits.
            let _ = self.device().poll(wgpu::PollType::Poll);
        }
        if let Some(reason) = h.get(&h.lost) {
            return Err(Error::DeviceLost { reason });
        }
        if let Some(message) = h.get(&h.uncaptured) {
            return Err(Error::Gpu {
                during: "an earlier call",
                message,
            });
        }
        Ok(())
    }

    /// Whether every buffer asked for so far fitted the device. A request beyond
    /// `max_storage_buffer_binding_size` or `max_buffer_size` gets a placeholder buffer (so
    /// nothing panics inside wgpu) and is reported here, once, as [`Error::LimitExceeded`]
    /// naming the buffer, the size and the limit; constructors such as `Trainer::new` call it
    /// before returning.
    pub fn check_allocations(&self) -> Result<()> {
        let mut slot = self
            .inner
            .oversized
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match slot.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// The size a storage buffer may have here, or the error for `bytes` beyond it.
    pub(crate) fn fit(&self, label: &str, bytes: u64) -> std::result::Result<(), Error> {
        let limits = self.device().limits();
        let checks = [
            (
                "max_storage_buffer_binding_size",
                limits.max_storage_buffer_binding_size,
            ),
            ("max_buffer_size", limits.max_buffer_size),
        ];
        for (limit, available) in checks {
            if bytes > available {
                return Err(Error::LimitExceeded {
                    buffer: format!("octet.{label}"),
                    limit,
                    requested: bytes,
                    available,
                });
            }
        }
        Ok(())
    }

    /// Records the first oversized request for [`Context::check_allocations`].
    pub(crate) fn record_oversized(&self, e: Error) {
        let mut slot = self
            .inner
            .oversized
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        slot.get_or_insert(e);
    }

    pub(crate) fn count_created(&self, n: u64) {
        self.inner
            .created
            .fetch_add(n, std::sync::atomic::Ordering::Relaxed);
    }

    pub(crate) fn count_submit(&self) {
        self.inner
            .submits
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// Placeholder buffers for unused optional bindings: 0 for read-only, 1 for read-write, 2
    /// for a second unused read-write binding of the same dispatch.
    pub(crate) fn unused_binding(&self, i: usize) -> &wgpu::Buffer {
        &self.inner.dummies[i]
    }

    /// The pipeline for `def`, compiled on first use and cached for the life of the context.
    pub(crate) fn pipeline(&self, def: &'static KernelDef) -> Result<Arc<Pipeline>> {
        let mut cache = self
            .inner
            .pipelines
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(p) = cache.get(def.name) {
            return Ok(p.clone());
        }
        let started = web_time::Instant::now();
        let p = Pipeline::build(
            &self.inner.device,
            def,
            self.kernel_checks(),
            self.kernel_build(),
        )?;
        log::debug!(
            "octet: built kernel {} in {:?}",
            def.name,
            started.elapsed()
        );
        cache.insert(def.name, p.clone());
        Ok(p)
    }
}
