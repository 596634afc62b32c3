//! GPU plumbing: the [`Context`] that borrows a device, adapter choice, kernels, buffers.

mod buffer;
mod context;
pub mod kernel;
mod lowering;
mod readback;

pub use buffer::PendingRead;
pub use context::{Autotune, Context, KernelChecks, adapters, parse_backends, required_limits};
pub use kernel::{Dispatch, Prepared, Recording, Region, View};
pub use lowering::{Dot4Lowering, dot4_lowering};
pub use readback::Readback;
