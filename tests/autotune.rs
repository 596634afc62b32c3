//! The GEMM autotuner: choices come from measuring, land in the cache file keyed by adapter and
//! octet version, survive a corrupt file, and `Autotune::Off` is the fixed rule.

mod common;

use common::{Needs, for_each_adapter};
use octet::gpu::Autotune;
use octet::ops::{GemmShape, GemmVariant, Precision};

fn cache_entries(path: &std::path::Path) -> serde_json::Value {
    let bytes = std::fs::read(path).expect("the cache file was written");
    serde_json::from_slice(&bytes).expect("the cache file is JSON")
}

#[test]
fn choices_are_cached_per_adapter_and_off_is_the_fixed_rule() {
    let dir = tempfile::tempdir().unwrap();
    let test = "choices_are_cached_per_adapter_and_off_is_the_fixed_rule";
    for_each_adapter(test, Needs::EveryAdapter, |gpu| {
        let (i, ctx) = (gpu.index, gpu.context());
        let backend = format!("{:?}", gpu.backend());

        // Off: the rule, nothing written. Shapes differ per adapter and test, because choices
        // are remembered for the whole process.
        let off_shape = GemmShape::new(40 + i as u32, 24, 72);
        ctx.set_autotune(Autotune::Off);
        for int8 in [true, false] {
            let v = ctx
                .gemm_variant(&off_shape, Precision::from_int8(int8))
                .unwrap();
            let rule = GemmVariant::heuristic(&off_shape, gpu.info.device_type);
            assert_eq!(v, rule, "{backend}");
        }

        // Cached: measured, then written under this adapter with the octet version.
        let path = dir.path().join(format!("tune-{i}.json"));
        ctx.set_autotune(Autotune::Cached(path.clone()));
        let shape = GemmShape::new(96 + i as u32, 20, 136).with_trans(true, true);
        let chosen = ctx.gemm_variant(&shape, Precision::Int8).unwrap();
        assert_eq!(
            ctx.gemm_variant(&shape, Precision::Int8).unwrap(),
            chosen,
            "{backend}: stable"
        );
        let json = cache_entries(&path);
        assert_eq!(json["octet"], env!("CARGO_PKG_VERSION"));
        let adapters = json["adapters"].as_object().unwrap();
        let (key, entries) = adapters
            .iter()
            .find(|(k, _)| k.contains(&backend))
            .unwrap_or_else(|| panic!("{backend}: no entry in {json}"));
        // Stored under the shape and the fingerprint of the candidate kernels' sources.
        let shape_key = format!("i8 {}x20x136 trans=(1,1) #", 96 + i);
        let (full_key, value) = entries
            .as_object()
            .unwrap()
            .iter()
            .find(|(k, _)| k.starts_with(&shape_key) && k.len() == shape_key.len() + 8)
            .unwrap_or_else(|| panic!("{key}: no {shape_key}........ in {entries}"));
        let stored: GemmVariant = serde_json::from_value(value.clone())
            .unwrap_or_else(|e| panic!("{key}: {full_key}: {e} in {entries}"));
        assert_eq!(stored, chosen);

        // A corrupt file is no error: the next shape is measured and the file rewritten whole.
        let corrupt = dir.path().join(format!("corrupt-{i}.json"));
        std::fs::write(&corrupt, b"{ not json").unwrap();
        ctx.set_autotune(Autotune::Cached(corrupt.clone()));
        let other = GemmShape::new(52 + i as u32, 28, 44);
        ctx.gemm_variant(&other, Precision::Fp32).unwrap();
        assert_eq!(cache_entries(&corrupt)["octet"], env!("CARGO_PKG_VERSION"));
    });
}
