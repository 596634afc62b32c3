//! The one error type of octet.

/// Everything that can go wrong in octet, with enough context to fix it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No adapter was found at all on the backends that were searched.
    #[error(
        "no GPU adapter found on backends {backends}. On Linux without a GPU install Mesa's \
         software drivers: `apt-get install mesa-vulkan-drivers` (Vulkan, lavapipe) and \
         `libegl-mesa0 libgl1-mesa-dri` (GL, llvmpipe); elsewhere install your GPU's driver"
    )]
    NoAdapter {
        /// The backends that were searched.
        backends: String,
    },

    /// `WGPU_ADAPTER_NAME` (or an explicit name) matched none of the adapters present.
    #[error("no adapter name contains {wanted:?}; adapters present: {available:?}")]
    AdapterNotFound {
        /// The requested name fragment.
        wanted: String,
        /// Names of the adapters that were found.
        available: Vec<String>,
    },

    /// A backend name that octet does not know.
    #[error("unknown backend {0:?}: expected one of vulkan, metal, dx12, gl")]
    UnknownBackend(String),

    /// The adapter refused to create a device.
    #[error("could not create a device: {0}")]
    RequestDevice(#[from] wgpu::RequestDeviceError),

    /// The device lacks a limit octet's kernels need.
    #[error(
        "the device's limit {name} is {available}, octet needs at least {required}; \
         request it when creating the device (see octet::required_limits())"
    )]
    MissingLimit {
        /// Name of the `wgpu::Limits` field.
        name: &'static str,
        /// What octet needs.
        required: u64,
        /// What the device offers.
        available: u64,
    },

    /// The adapter cannot run compute shaders (e.g. a GL driver without compute).
    #[error("adapter {adapter:?} cannot run compute shaders: {reason}")]
    Unsupported {
        /// The adapter's name.
        adapter: String,
        /// What is missing.
        reason: String,
    },

    /// A kernel failed to compile or validate on this device.
    #[error("kernel {kernel} failed to build on this device: {message}")]
    Shader {
        /// The kernel's name.
        kernel: &'static str,
        /// The driver's or wgpu's message.
        message: String,
    },

    /// wgpu reported a validation or out-of-memory error for an operation of octet.
    #[error("GPU error during {during}: {message}")]
    Gpu {
        /// What octet was doing.
        during: &'static str,
        /// wgpu's message.
        message: String,
    },

    /// Shapes or arguments that an op cannot accept.
    #[error("{op}: {reason}")]
    InvalidArgument {
        /// The op that refused.
        op: &'static str,
        /// What was wrong and how to fix it.
        reason: String,
    },

    /// A buffer handed to an op is smaller than the op's shape needs.
    #[error("{op}: buffer `{binding}` holds {actual} bytes but the shape needs {needed}")]
    BufferTooSmall {
        /// The op.
        op: &'static str,
        /// The binding's name.
        binding: &'static str,
        /// Bytes needed.
        needed: u64,
        /// Bytes present.
        actual: u64,
    },

    /// Mapping a buffer for readback failed.
    /// A buffer would exceed one of the device's size limits.
    #[error(
        "buffer {buffer} needs {requested} bytes, more than the device's {limit} \
         ({available}): lower the batch size (activations, im2col columns and their gradients \
         grow with it), or create the device with a larger {limit}"
    )]
    LimitExceeded {
        /// The buffer's label.
        buffer: String,
        /// The wgpu limit.
        limit: &'static str,
        /// Bytes asked for.
        requested: u64,
        /// The device's limit.
        available: u64,
    },

    /// A training step produced NaN or Inf (its update was skipped on the GPU).
    #[error(
        "step {step}: {count} NaN/Inf value(s) in {place}; the step's update was skipped, so \
         the weights are those before it. Lower the learning rate, check the input data, or set \
         TrainConfig::on_nonfinite to SkipStep to continue past bad steps"
    )]
    NonFinite {
        /// The step that produced them.
        step: u64,
        /// `"loss"` or the name of the layer whose gradient held them (e.g. `layer3.linear`).
        tensor: String,
        /// `tensor` in words, for the message.
        place: String,
        /// How many values were bad.
        count: u32,
    },

    /// The GPU device was lost (driver reset, device removed or destroyed).
    #[error(
        "the GPU device was lost ({reason}); create a new context (and restore from a checkpoint)"
    )]
    DeviceLost {
        /// What wgpu reported.
        reason: String,
    },

    /// A data file is malformed or does not fit the others.
    #[error("{}: {problem}", file.display())]
    Data {
        /// The file.
        file: std::path::PathBuf,
        /// What is wrong, and what would fix it.
        problem: String,
    },

    /// A file could not be read or written.
    #[error("{}: {source}", file.display())]
    Io {
        /// The file.
        file: std::path::PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },

    /// A checkpoint is malformed or belongs to another model or policy.
    #[error("checkpoint {}: {problem}", file.display())]
    Checkpoint {
        /// The file.
        file: std::path::PathBuf,
        /// What is wrong.
        problem: String,
    },

    /// A weights file (e.g. a PyTorch `state_dict` given to `--init`) does not hold the
    /// tensors the model needs: every tensor missing, not the model's or of the wrong shape
    /// is listed.
    #[error(
        "{}: the weights do not fit the model{}{}{} (the names and shapes are those of \
         python/octet_models.py for this architecture and input)",
        file.display(),
        list("; missing: ", missing),
        list("; not part of the model: ", extra),
        list("; wrong shape: ", misshaped)
    )]
    WeightsMismatch {
        /// The file.
        file: std::path::PathBuf,
        /// Tensors the model needs that the file lacks.
        missing: Vec<String>,
        /// Tensors of the file the model has no place for.
        extra: Vec<String>,
        /// `name [file's shape], the model needs [shape]` for each tensor of the wrong shape or
        /// type.
        misshaped: Vec<String>,
    },

    /// Mapping a buffer for reading failed.
    #[error("reading a buffer back failed: {0}")]
    Map(#[from] wgpu::BufferAsyncError),

    /// Waiting for the device failed (timeout or device lost).
    #[error("waiting for the GPU failed: {0}")]
    Poll(#[from] wgpu::PollError),
}

/// Result with octet's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn data(file: &std::path::Path, problem: impl Into<String>) -> Self {
        Error::Data {
            file: file.to_path_buf(),
            problem: problem.into(),
        }
    }

    pub(crate) fn io(file: &std::path::Path, source: std::io::Error) -> Self {
        Error::Io {
            file: file.to_path_buf(),
            source,
        }
    }

    pub(crate) fn invalid(op: &'static str, reason: impl Into<String>) -> Self {
        Error::InvalidArgument {
            op,
            reason: reason.into(),
        }
    }
}

/// `label` and the items joined by commas, or nothing when there are none (error messages).
fn list(label: &str, items: &[String]) -> String {
    if items.is_empty() {
        String::new()
    } else {
        format!("{label}{}", items.join(", "))
    }
}
