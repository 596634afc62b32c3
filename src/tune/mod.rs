//! Autotuning: choices that change speed but never a result — which
//! [`GemmVariant`](crate::abi::GemmVariant) runs a GEMM shape, which
//! [`ConvLowering`](crate::abi::ConvLowering) a convolution — measured at a shape's first use on
//! an adapter and remembered.
//!
//! This module keeps the choices: typed keys ([`TuneKey`]), the process-wide table shared by
//! every context on the same adapter and driver, and with [`Autotune::Cached`] a JSON file for
//! later processes. What the candidates are and how they are timed is declared beside each
//! kernel family in [`crate::ops`]. Since the choices compute the same bits, a measured, hence
//! machine-dependent, choice is safe.

mod cache;
mod key;

pub use key::TuneKey;

use crate::error::Result;
use crate::gpu::{Autotune, Context};

use cache::{adapter_key, load_once, store, with_choices};

/// The choice for `key` on this adapter: the process's, the cache file's, or measured now (and
/// stored); `rule` when autotuning is off or the shape cannot be measured.
pub fn choose<T>(
    ctx: &Context,
    key: &TuneKey,
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
    let key = key.to_string();
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
