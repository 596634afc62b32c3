//! How an adapter runs `dot4I8Packed`, from what its driver reports — for the conformance
//! report a user attaches to a bug. On Vulkan wgpu passes naga the SPIR-V `DotProduct`
//! capabilities exactly when the device has `shaderIntegerDotProduct` (Vulkan 1.3 or
//! `VK_KHR_shader_integer_dot_product`), and naga then emits `OpSDot`; otherwise it expands the
//! built-in into shifts, multiplies and adds. GLSL has no packed dot product, so GL always gets
//! the expansion.

/// How `dot4I8Packed` reaches the hardware on one adapter.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Dot4Lowering {
    /// `native` (a dot-product instruction) or `polyfill` (shifts, multiplies and adds).
    pub kind: &'static str,
    /// What the driver reported, in a few words.
    pub evidence: String,
}

impl std::fmt::Display for Dot4Lowering {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.kind, self.evidence)
    }
}

/// Asks `adapter`'s driver how `dot4I8Packed` will be compiled there.
pub fn dot4_lowering(adapter: &wgpu::Adapter) -> Dot4Lowering {
    let info = adapter.get_info();
    match info.backend {
        wgpu::Backend::Vulkan => vulkan(adapter),
        wgpu::Backend::Gl => Dot4Lowering {
            kind: "polyfill",
            evidence: "GLSL has no packed dot product; naga expands it".into(),
        },
        wgpu::Backend::Dx12 => Dot4Lowering {
            kind: "native",
            evidence: "HLSL dot4add_i8packed on shader model 6.4+ (not queried)".into(),
        },
        wgpu::Backend::Metal => Dot4Lowering {
            kind: "polyfill",
            evidence: "MSL has no packed dot product; naga expands it".into(),
        },
        other => Dot4Lowering {
            kind: "unknown",
            evidence: format!("{other:?} backend"),
        },
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn vulkan(adapter: &wgpu::Adapter) -> Dot4Lowering {
    use ash::vk;
    // SAFETY: the raw handles are only used for read-only queries while `adapter` is alive.
    let hal = unsafe { adapter.as_hal::<wgpu::hal::api::Vulkan>() };
    let Some(hal) = hal else {
        return Dot4Lowering {
            kind: "unknown",
            evidence: "no Vulkan handle".into(),
        };
    };
    let instance = hal.shared_instance().raw_instance();
    let phd = hal.raw_physical_device();
    // SAFETY: valid instance and physical device, plain query structures.
    let api = unsafe { instance.get_physical_device_properties(phd) }.api_version;
    let extension = hal
        .physical_device_capabilities()
        .supports_extension(c"VK_KHR_shader_integer_dot_product");
    let version = format!(
        "Vulkan {}.{}",
        vk::api_version_major(api),
        vk::api_version_minor(api)
    );
    if api < vk::API_VERSION_1_3 && !extension {
        return Dot4Lowering {
            kind: "polyfill",
            evidence: format!("{version} without VK_KHR_shader_integer_dot_product"),
        };
    }
    let mut features = vk::PhysicalDeviceShaderIntegerDotProductFeatures::default();
    let mut properties = vk::PhysicalDeviceShaderIntegerDotProductProperties::default();
    // SAFETY: as above; the chained structures live until the calls return.
    unsafe {
        let mut f2 = vk::PhysicalDeviceFeatures2::default().push_next(&mut features);
        instance.get_physical_device_features2(phd, &mut f2);
        let mut p2 = vk::PhysicalDeviceProperties2::default().push_next(&mut properties);
        instance.get_physical_device_properties2(phd, &mut p2);
    }
    if features.shader_integer_dot_product == 0 {
        return Dot4Lowering {
            kind: "polyfill",
            evidence: format!("{version}, shaderIntegerDotProduct not supported"),
        };
    }
    let accelerated = properties.integer_dot_product4x8_bit_packed_signed_accelerated != 0;
    Dot4Lowering {
        kind: "native",
        evidence: format!(
            "{version}, OpSDot; driver reports 4x8-bit packed signed dot {}",
            if accelerated {
                "hardware-accelerated"
            } else {
                "not accelerated"
            }
        ),
    }
}

#[cfg(target_arch = "wasm32")]
fn vulkan(_: &wgpu::Adapter) -> Dot4Lowering {
    Dot4Lowering {
        kind: "unknown",
        evidence: "no Vulkan on the web".into(),
    }
}
