//! The choices of this process, and the JSON file that keeps them for later ones.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::error::Result;
use crate::fsio::write_atomically;
use crate::gpu::Context;

/// Choices per adapter key, then per shape key (a [`GemmVariant`] or a [`ConvLowering`], by
/// serde name).
type Choices = HashMap<String, HashMap<String, serde_json::Value>>;

/// This process's choices, and whether each adapter's cache file was read yet.
static CHOICES: Mutex<Option<(Choices, Vec<String>)>> = Mutex::new(None);

/// Serialises this process's writes of cache files (the temporary name is per process).
static FILE_WRITE: Mutex<()> = Mutex::new(());

#[derive(serde::Serialize, serde::Deserialize, Default)]
struct CacheFile {
    octet: String,
    adapters: Choices,
}

/// Merges the file's choices for `adapter` into the process's, once per adapter. A missing,
/// unreadable or other-version file is no error: the shapes are measured again.
pub(super) fn load_once(path: &std::path::Path, adapter: &str) {
    let mut guard = CHOICES.lock().unwrap_or_else(|p| p.into_inner());
    let (choices, loaded) = guard.get_or_insert_with(Default::default);
    if loaded.iter().any(|a| a == adapter) {
        return;
    }
    loaded.push(adapter.to_string());
    let Some(file) = read_cache(path) else {
        return;
    };
    if let Some(found) = file.adapters.get(adapter) {
        let mine = choices.entry(adapter.to_string()).or_default();
        for (k, v) in found {
            mine.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
}

fn read_cache(path: &std::path::Path) -> Option<CacheFile> {
    let bytes = std::fs::read(path).ok()?;
    let file: CacheFile = serde_json::from_slice(&bytes).ok()?;
    (file.octet == env!("CARGO_PKG_VERSION")).then_some(file)
}

/// Writes this adapter's choices into the file, keeping other adapters' entries. Failing to
/// write costs only a later re-measurement, so it is logged, not returned.
pub(super) fn store(path: &std::path::Path, adapter: &str) {
    let _writing = FILE_WRITE.lock().unwrap_or_else(|p| p.into_inner());
    let mut file = read_cache(path).unwrap_or_else(|| CacheFile {
        octet: env!("CARGO_PKG_VERSION").into(),
        ..Default::default()
    });
    let mine = with_choices(|c| c.get(adapter).cloned().unwrap_or_default());
    file.adapters
        .entry(adapter.to_string())
        .or_default()
        .extend(mine);
    let write = || -> Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| crate::Error::io(dir, e))?;
        }
        let bytes = serde_json::to_vec_pretty(&file)
            .map_err(|e| crate::Error::invalid("autotune", e.to_string()))?;
        write_atomically(path, &bytes)
    };
    if let Err(e) = write() {
        log::warn!("octet: could not save autotune choices: {e}");
    }
}

pub(super) fn with_choices<T>(f: impl FnOnce(&mut Choices) -> T) -> T {
    let mut guard = CHOICES.lock().unwrap_or_else(|p| p.into_inner());
    f(&mut guard.get_or_insert_with(Default::default).0)
}

/// The adapter and driver, as precisely as wgpu reports them.
pub(super) fn adapter_key(ctx: &Context) -> String {
    let i = ctx.device().adapter_info();
    format!(
        "{} ({:?}, {:04x}:{:04x}, {} {})",
        i.name, i.backend, i.vendor, i.device, i.driver, i.driver_info
    )
}
