//! GPU plumbing: the [`Context`] that borrows a device, adapter choice, kernels, buffers.

mod buffer;
mod context;
pub mod kernel;

pub use context::{Context, adapters, parse_backends, required_limits};
pub use kernel::{Dispatch, Prepared, Recording};
