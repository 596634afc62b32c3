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
use crate::gpu::kernel::KernelDef;
use crate::gpu::{Autotune, Context};

use cache::{adapter_key, load_once, store, with_choices};

/// A checksum of the WGSL sources of `families`' kernels, the candidates of a choice: a choice
/// is stored under it, so that one measured before a kernel changed is measured again (the
/// cache file's octet version alone would keep it).
pub fn fingerprint(families: &[&[&KernelDef]]) -> u32 {
    let mut crc = crc32fast::Hasher::new();
    for kernel in families.iter().flat_map(|f| f.iter()) {
        for source in kernel.sources {
            crc.update(source.as_bytes());
        }
    }
    crc.finalize()
}

/// The choice for `key` on this adapter among candidates whose sources have the [`fingerprint`]
/// `sources`: the process's, the cache file's, or measured now (and stored); `rule` when
/// autotuning is off or the shape cannot be measured.
pub fn choose<T>(
    ctx: &Context,
    key: &TuneKey,
    sources: u32,
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
    let key = format!("{key} #{sources:08x}");
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

#[cfg(test)]
mod tests {
    use super::fingerprint;
    use crate::gpu::kernel::KernelDef;

    const fn def(sources: &'static [&'static str]) -> KernelDef {
        KernelDef {
            name: "k",
            sources,
            workgroup_size: [1, 1, 1],
            bindings: &[],
            params_size: 0,
            uniform_params: true,
        }
    }

    #[test]
    fn a_changed_source_changes_the_fingerprint() {
        static A: KernelDef = def(&["fn a() {}", "fn main() {}"]);
        static A_AGAIN: KernelDef = def(&["fn a() {}", "fn main() {}"]);
        static B: KernelDef = def(&["fn a() {}", "fn main() { }"]);
        assert_eq!(fingerprint(&[&[&A]]), fingerprint(&[&[&A_AGAIN]]));
        assert_ne!(fingerprint(&[&[&A]]), fingerprint(&[&[&B]]));
        assert_ne!(fingerprint(&[&[&A]]), fingerprint(&[&[&A, &B]]));
    }
}
