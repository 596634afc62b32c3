//! The model's flat parameter buffers: every trainable's values, gradients and momentum in three
//! buffers, one range per trainable in the order of the health record's slots, each starting at
//! the device's storage-offset alignment. Layers bind their ranges; the optimizer covers
//! consecutive trainables that share a learning-rate factor with one SGD dispatch (the padding
//! between ranges holds zeros, which SGD leaves zero).

use crate::error::Result;
use crate::gpu::{Context, Region};
use crate::nn::layer::Layer;

/// Moves every trainable of `layers` (values, gradients, momentum; built in buffers of their
/// own) into the model's three flat buffers, values copied on the GPU, gradients and momentum
/// zero as at build.
pub(crate) fn flatten(ctx: &Context, layers: &mut [Layer]) -> Result<()> {
    let align = ctx.device().limits().min_storage_buffer_offset_alignment as u64;
    let mut regions: Vec<[&mut Region; 3]> =
        layers.iter_mut().flat_map(Layer::trainables_mut).collect();
    if regions.is_empty() {
        return Ok(());
    }
    let mut offsets = Vec::with_capacity(regions.len());
    let mut total = 0u64;
    for [params, ..] in &regions {
        offsets.push(total);
        total = (total + params.size).next_multiple_of(align);
    }
    let [params, grads, velocity] = ["params", "grads", "velocity"]
        .map(|what| ctx.storage_buffer(&format!("model.{what}"), total));
    let mut encoder = ctx.encoder("flatten_params");
    for (r, &offset) in regions.iter_mut().zip(&offsets) {
        let size = r[0].size;
        encoder.copy_buffer_to_buffer(&r[0].buffer, r[0].offset, &params, offset, size);
        for (old, flat) in r.iter_mut().zip([&params, &grads, &velocity]) {
            ctx.forget_storage(old.buffer.size());
            **old = Region {
                buffer: flat.clone(),
                offset,
                size,
            };
        }
    }
    ctx.submit(encoder)?;
    Ok(())
}
