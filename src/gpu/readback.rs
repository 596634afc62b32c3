//! Reading GPU data back without waiting: for hosts that must not stall a frame.

use std::marker::PhantomData;
use std::sync::mpsc;

use crate::error::{Error, Result};
use crate::gpu::Context;

/// A buffer range on its way to the host, from [`Context::read_async`]. Poll it with
/// [`Readback::try_take`] once per frame; it never blocks.
#[derive(Debug)]
pub struct Readback<T> {
    staging: wgpu::Buffer,
    rx: mpsc::Receiver<std::result::Result<(), wgpu::BufferAsyncError>>,
    _t: PhantomData<T>,
}

impl Context {
    /// Copies `count` values of `T` from byte `offset` of `buffer` into a staging buffer (one
    /// submit) and asks for it to be mapped. The data arrive through [`Readback::try_take`].
    pub fn read_async<T: bytemuck::Pod>(
        &self,
        buffer: &wgpu::Buffer,
        offset: u64,
        count: usize,
    ) -> Result<Readback<T>> {
        let bytes = (count * size_of::<T>()) as u64;
        if bytes == 0 || offset + bytes > buffer.size() || !offset.is_multiple_of(4) {
            return Err(Error::invalid(
                "read_async",
                format!(
                    "{bytes} bytes at offset {offset} do not fit the {}-byte buffer",
                    buffer.size()
                ),
            ));
        }
        self.count_created(1);
        let staging = self.device().create_buffer(&wgpu::BufferDescriptor {
            label: Some("octet.readback_async"),
            size: bytes.next_multiple_of(4),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut encoder = self.encoder("read_async");
        encoder.copy_buffer_to_buffer(buffer, offset, &staging, 0, bytes.next_multiple_of(4));
        self.submit(encoder)?;
        let (tx, rx) = mpsc::channel();
        staging.slice(..).map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        Ok(Readback {
            staging,
            rx,
            _t: PhantomData,
        })
    }
}

impl<T: bytemuck::Pod> Readback<T> {
    /// The data, once the GPU has produced them; `None` until then. Polls the device without
    /// waiting.
    pub fn try_take(&self, ctx: &Context) -> Result<Option<Vec<T>>> {
        ctx.device().poll(wgpu::PollType::Poll)?;
        match self.rx.try_recv() {
            Ok(result) => result?,
            Err(mpsc::TryRecvError::Empty) => return Ok(None),
            Err(mpsc::TryRecvError::Disconnected) => {
                return Err(Error::Gpu {
                    during: "read_async",
                    message: "the map callback was dropped (device lost?)".into(),
                });
            }
        }
        let data = self
            .staging
            .slice(..)
            .get_mapped_range()
            .map_err(|e| Error::Gpu {
                during: "read_async",
                message: e.to_string(),
            })?;
        let out = bytemuck::pod_collect_to_vec(&data[..]);
        drop(data);
        self.staging.unmap();
        Ok(Some(out))
    }
}
