//! Shared by the GPU test files: the adapters to test on.

/// Every usable adapter (of the backends in `WGPU_BACKEND`, e.g. `vulkan`, when it is set).
/// Panics, saying what to install, when there is none, and when `OCTET_REQUIRE_BACKENDS`
/// (e.g. `vulkan,gl`, set by `.ci/run`) names a backend without one, so a missing driver
/// cannot make the suite pass by testing less.
pub fn adapters() -> Vec<wgpu::Adapter> {
    let backends = wgpu::Backends::from_env().unwrap_or(wgpu::Backends::all());
    let adapters = octet::gpu::adapters(backends);
    assert!(
        !adapters.is_empty(),
        "{}",
        octet::Error::NoAdapter {
            backends: "all".into()
        }
    );
    if let Ok(required) = std::env::var("OCTET_REQUIRE_BACKENDS") {
        for name in required.split(',').filter(|s| !s.is_empty()) {
            let wanted = octet::gpu::parse_backends(name).expect("OCTET_REQUIRE_BACKENDS");
            assert!(
                adapters
                    .iter()
                    .any(|a| wanted.contains(a.get_info().backend.into())),
                "OCTET_REQUIRE_BACKENDS names {name}, but no {name} adapter was found \
                 (on Linux: apt-get install mesa-vulkan-drivers for Vulkan)"
            );
        }
    }
    adapters
}

/// The preferred adapter (Vulkan, Metal or DX12 before GL).
#[allow(dead_code)]
pub fn first_adapter() -> wgpu::Adapter {
    adapters().remove(0)
}
