//! Shared by the test files: the one loop GPU tests run on adapters with, and small helpers that
//! several files need.

// Every test file compiles this module on its own and uses only part of it.
#![allow(dead_code)]

use octet::nn::NamedTensor;

/// Which of the adapters present a GPU test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Needs {
    /// Every adapter: for results that may differ between backends and drivers.
    EveryAdapter,
    /// Only the preferred adapter (Vulkan, Metal or DX12 before GL; see `octet::gpu::adapters`):
    /// for behaviour that does not depend on the backend, such as error paths, and for a child
    /// process that must train where its parent does.
    PreferredAdapter,
}

/// One adapter a test runs on.
pub struct Gpu<'a> {
    /// The adapter's place in preference order, so that a test can vary what it asks of each
    /// adapter (choices remembered for the whole process must not carry over).
    pub index: usize,
    /// The adapter, for tests that create their device themselves.
    pub adapter: &'a wgpu::Adapter,
    /// `adapter.get_info()`.
    pub info: wgpu::AdapterInfo,
}

impl Gpu<'_> {
    /// The adapter's backend, the short tag of most failure messages.
    pub fn backend(&self) -> wgpu::Backend {
        self.info.backend
    }

    /// Name, backend and driver, e.g. `llvmpipe (LLVM 19.1.7, 256 bits) (Vulkan, Mesa 25.0.7)`.
    pub fn label(&self) -> String {
        let info = &self.info;
        format!("{} ({:?}, {})", info.name, info.backend, info.driver_info)
    }

    /// An octet context on a new device of this adapter.
    pub fn context(&self) -> octet::Context {
        octet::Context::from_adapter(self.adapter)
            .unwrap_or_else(|e| panic!("{}: no context: {e}", self.label()))
    }
}

/// Runs `f` on each adapter `needs` asks for, printing which adapter each run is on (and, when
/// `f` panics, which adapter it failed on). `test` names the test in those lines.
///
/// Adapters are those of the backends in `WGPU_BACKEND` (e.g. `vulkan`) when it is set, else of
/// every backend. Panics, saying what to install, when there is none, and when
/// `OCTET_REQUIRE_BACKENDS` (e.g. `vulkan,gl`, set by `.ci/run`) names a backend without one,
/// also for `Needs::PreferredAdapter`, so a missing driver cannot make the suite pass by testing
/// less.
pub fn for_each_adapter(test: &str, needs: Needs, mut f: impl FnMut(&Gpu)) {
    let adapters = adapters();
    let count = match needs {
        Needs::EveryAdapter => adapters.len(),
        Needs::PreferredAdapter => 1,
    };
    for (index, adapter) in adapters.iter().take(count).enumerate() {
        let gpu = Gpu {
            index,
            adapter,
            info: adapter.get_info(),
        };
        let label = gpu.label();
        eprintln!("{test}: on {label}");
        let _blame = Blame { test, label };
        f(&gpu);
    }
}

/// Says, while a panic unwinds out of a test's run, which adapter the run was on.
struct Blame<'a> {
    test: &'a str,
    label: String,
}

impl Drop for Blame<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}: failed on {}", self.test, self.label);
        }
    }
}

/// Every usable adapter of the backends in `WGPU_BACKEND`, in octet's preference order, checked
/// against `OCTET_REQUIRE_BACKENDS` (see [`for_each_adapter`]).
fn adapters() -> Vec<wgpu::Adapter> {
    let backends = wgpu::Backends::from_env().unwrap_or(wgpu::Backends::all());
    let limited = std::env::var("WGPU_BACKEND").ok();
    let adapters = octet::gpu::adapters(backends);
    assert!(
        !adapters.is_empty(),
        "{}",
        octet::Error::NoAdapter {
            backends: match &limited {
                Some(named) => format!("{named} (from WGPU_BACKEND)"),
                None => "all".into(),
            }
        }
    );
    if let Ok(required) = std::env::var("OCTET_REQUIRE_BACKENDS") {
        for name in required.split(',').filter(|s| !s.is_empty()) {
            let wanted = octet::gpu::parse_backends(name).expect("OCTET_REQUIRE_BACKENDS");
            assert!(
                adapters
                    .iter()
                    .any(|a| wanted.contains(a.get_info().backend.into())),
                "OCTET_REQUIRE_BACKENDS names {name}, but no {name} adapter was found{} \
                 (on Linux: apt-get install mesa-vulkan-drivers for Vulkan, \
                 libegl-mesa0 libgl1-mesa-dri for GL)",
                match &limited {
                    Some(named) => format!(" among those of WGPU_BACKEND={named}"),
                    None => String::new(),
                }
            );
        }
    }
    adapters
}

/// The bit patterns of `values`, for comparing results that must be identical (NaN included).
pub fn bits(values: &[f32]) -> Vec<u32> {
    values.iter().map(|v| v.to_bits()).collect()
}

/// [`bits`] of each tensor.
pub fn tensor_bits(tensors: &[NamedTensor]) -> Vec<Vec<u32>> {
    tensors.iter().map(|t| bits(&t.data)).collect()
}

/// An IDX file (unsigned bytes): magic, the dimensions big-endian, then `payload` as given, so
/// tests can also write files whose payload does not match their dimensions.
pub fn idx(dims: &[u32], payload: &[u8]) -> Vec<u8> {
    let mut v = vec![0, 0, 0x08, dims.len() as u8];
    for d in dims {
        v.extend(d.to_be_bytes());
    }
    v.extend(payload);
    v
}

/// The trainer example's binary, which `cargo test` builds beside the test binaries.
pub fn trainer_binary() -> std::path::PathBuf {
    // target/<profile>/deps/<test>-… → target/<profile>/examples/train
    let exe = std::env::current_exe().unwrap();
    let bin = exe
        .parent()
        .and_then(|deps| deps.parent())
        .unwrap()
        .join("examples")
        .join("train");
    assert!(
        bin.exists(),
        "{} is missing: `cargo test` builds the examples",
        bin.display()
    );
    bin
}

/// Runs the trainer example with `args`; returns (exit code, stdout, stderr). It must never
/// panic, whatever it is handed.
pub fn run_trainer(args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(trainer_binary())
        .args(args)
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !stderr.contains("panicked"),
        "the trainer panicked: {stderr}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.code().unwrap_or(-1), stdout, stderr)
}
