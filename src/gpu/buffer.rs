//! Buffer helpers: upload, allocate, submit, read back.

use crate::error::{Error, Result};
use crate::gpu::Context;
use crate::gpu::kernel::{View, with_error_scope};

pub(crate) const STORAGE: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE
    .union(wgpu::BufferUsages::COPY_SRC)
    .union(wgpu::BufferUsages::COPY_DST);

impl Context {
    /// A storage buffer holding `data` (at least 4 bytes, since empty bindings are invalid).
    /// `label` is prefixed with `octet.`. Beyond the device's buffer limits it returns a
    /// placeholder and reports through [`Context::check_allocations`].
    pub fn upload<T: bytemuck::Pod>(&self, label: &str, data: &[T]) -> wgpu::Buffer {
        let bytes: &[u8] = bytemuck::cast_slice(data);
        // Whole words, at least one (empty bindings are invalid).
        let padded;
        let contents = if bytes.is_empty() || !bytes.len().is_multiple_of(4) {
            let mut p = bytes.to_vec();
            p.resize(bytes.len().max(1).next_multiple_of(4), 0);
            padded = p;
            &padded[..]
        } else {
            bytes
        };
        if let Err(e) = self.fit(label, contents.len() as u64) {
            self.record_oversized(e);
            return self.storage_buffer(label, 4);
        }
        // Not create_buffer_init: its mapped-at-creation path panics on a lost device.
        let buffer = self.storage_buffer(label, contents.len() as u64);
        self.queue().write_buffer(&buffer, 0, contents);
        buffer
    }

    /// A zero-filled storage buffer of `bytes` bytes (rounded up to 4); beyond the device's
    /// limits, as [`Context::upload`].
    pub fn storage_buffer(&self, label: &str, bytes: u64) -> wgpu::Buffer {
        let mut size = bytes.max(4).next_multiple_of(4);
        if let Err(e) = self.fit(label, size) {
            self.record_oversized(e);
            size = 4;
        }
        self.count_created(1);
        self.count_storage(size);
        self.device().create_buffer(&wgpu::BufferDescriptor {
            label: Some(&format!("octet.{label}")),
            size,
            usage: STORAGE,
            mapped_at_creation: false,
        })
    }

    /// Finishes `encoder` and submits it; validation and out-of-memory errors of the recorded
    /// work come back as [`Error::Gpu`].
    pub fn submit(&self, encoder: wgpu::CommandEncoder) -> Result<wgpu::SubmissionIndex> {
        self.check_device()?;
        self.count_submit();
        with_error_scope(self.device(), || {
            self.queue().submit(Some(encoder.finish()))
        })
        .map_err(|message| Error::Gpu {
            during: "submit",
            message,
        })
    }

    /// A new command encoder labelled `octet.<label>`.
    pub fn encoder(&self, label: &str) -> wgpu::CommandEncoder {
        self.device()
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some(&format!("octet.{label}")),
            })
    }

    /// Copies `buffer` to the host and waits for it: a blocking call for tools and tests, not for
    /// a frame loop.
    pub fn read_buffer<T: bytemuck::Pod>(&self, buffer: &wgpu::Buffer) -> Result<Vec<T>> {
        pollster::block_on(self.read_buffer_async(buffer))
    }

    /// [`Context::read_buffer`] as a future, for a browser, where results arrive only through
    /// the event loop. On native targets it waits like `read_buffer` before it resolves.
    pub async fn read_buffer_async<T: bytemuck::Pod>(
        &self,
        buffer: &wgpu::Buffer,
    ) -> Result<Vec<T>> {
        let bytes = self
            .start_read_after(self.encoder("readback"), &[buffer.into()])?
            .finish(self)
            .await?;
        let elems = bytes[0].len() / std::mem::size_of::<T>();
        Ok(bytemuck::pod_collect_to_vec(
            &bytes[0][..elems * std::mem::size_of::<T>()],
        ))
    }

    /// Submits `encoder` with copies of the first `bytes` of each of `sources` appended (into one
    /// staging buffer), waits, and returns each source's bytes: one round trip for several
    /// buffers. Blocking, as [`Context::read_buffer`].
    pub fn read_after(
        &self,
        encoder: wgpu::CommandEncoder,
        sources: &[View<'_>],
    ) -> Result<Vec<Vec<u8>>> {
        self.start_read_after(encoder, sources)?.wait(self)
    }

    /// [`Context::read_after`] without the wait: the host can work while the GPU does; the
    /// bytes come with [`PendingRead::wait`].
    pub fn start_read_after(
        &self,
        encoder: wgpu::CommandEncoder,
        sources: &[View<'_>],
    ) -> Result<PendingRead> {
        let size: u64 = sources.iter().map(|v| v.size).sum();
        self.start_read_into(encoder, sources, self.staging_buffer(size))
    }

    /// A host-readable buffer of `bytes` bytes (at least 4) to copy results into.
    pub fn staging_buffer(&self, bytes: u64) -> wgpu::Buffer {
        self.count_created(1);
        self.device().create_buffer(&wgpu::BufferDescriptor {
            label: Some("octet.readback"),
            size: bytes.max(4),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    }

    /// [`Context::start_read_after`] into `staging` ([`Context::staging_buffer`], as large as
    /// the sources together, not mapped): a caller that reads the same buffers every step
    /// allocates its staging once.
    pub fn start_read_into(
        &self,
        mut encoder: wgpu::CommandEncoder,
        sources: &[View<'_>],
        staging: wgpu::Buffer,
    ) -> Result<PendingRead> {
        let mut at = 0;
        for v in sources {
            encoder.copy_buffer_to_buffer(v.buffer, v.offset, &staging, at, v.size);
            at += v.size;
        }
        let index = self.submit(encoder)?;
        let (tx, rx) = futures::channel::oneshot::channel();
        staging.slice(..).map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        Ok(PendingRead {
            staging,
            index,
            mapped: rx,
            sizes: sources.iter().map(|v| v.size).collect(),
        })
    }

    /// Blocks until all submitted work is done (for timing in tools and benches).
    pub fn wait_idle(&self) -> Result<()> {
        self.device().poll(wgpu::PollType::wait_indefinitely())?;
        Ok(())
    }
}

/// A readback started by [`Context::start_read_after`].
#[derive(Debug)]
pub struct PendingRead {
    staging: wgpu::Buffer,
    index: wgpu::SubmissionIndex,
    mapped: futures::channel::oneshot::Receiver<std::result::Result<(), wgpu::BufferAsyncError>>,
    sizes: Vec<u64>,
}

impl PendingRead {
    /// Waits for the submit and returns each source's bytes.
    pub fn wait(self, ctx: &Context) -> Result<Vec<Vec<u8>>> {
        pollster::block_on(self.finish(ctx))
    }

    /// [`PendingRead::wait`] as a future (see [`Context::read_buffer_async`]).
    pub async fn finish(self, ctx: &Context) -> Result<Vec<Vec<u8>>> {
        // Natively the map callback fires only inside a poll; a browser polls by itself (wgpu's
        // WebGPU backend makes this a no-op).
        ctx.device().poll(wgpu::PollType::Wait {
            submission_index: Some(self.index),
            timeout: None,
        })?;
        match self.mapped.await {
            Ok(result) => result?,
            Err(_) => {
                return Err(Error::Gpu {
                    during: "readback",
                    message: "the map callback was dropped (device lost?)".into(),
                });
            }
        }
        let data = self
            .staging
            .slice(..)
            .get_mapped_range()
            .map_err(|e| Error::Gpu {
                during: "readback",
                message: e.to_string(),
            })?;
        let mut out = Vec::with_capacity(self.sizes.len());
        let mut at = 0;
        for n in &self.sizes {
            out.push(data[at as usize..(at + n) as usize].to_vec());
            at += n;
        }
        drop(data);
        self.staging.unmap();
        Ok(out)
    }
}
