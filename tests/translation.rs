//! Every kernel validates with naga and translates to SPIR-V, MSL, HLSL and GLSL ES: this is how
//! the Metal and DX12 paths are covered on a machine without such a GPU. The kernel declarations
//! in Rust are checked against naga's reflection of the WGSL, so the two cannot drift apart.

use naga::back::{glsl, hlsl, msl, spv};
use naga::valid::{Capabilities, ValidationFlags, Validator};
use octet::gpu::kernel::{BindType, Build, KernelDef};
use octet::ops::ALL_KERNELS;

/// Whether a kernel's own source calls subgroup builtins (offered only on devices with
/// `Features::SUBGROUP`; shader models and GLSL versions without subgroups cannot take it).
fn uses_subgroups(def: &KernelDef) -> bool {
    let source = def.source();
    ["subgroupBroadcast(", "subgroupShuffle"]
        .iter()
        .any(|call| source.contains(call))
}

fn parse(def: &KernelDef) -> (naga::Module, naga::valid::ModuleInfo) {
    let module = naga::front::wgsl::parse_str(&def.source())
        .unwrap_or_else(|e| panic!("{}: {}", def.name, e.emit_to_string(&def.source())));
    let caps = if uses_subgroups(def) {
        Capabilities::default() | Capabilities::SUBGROUP
    } else {
        Capabilities::default()
    };
    let info = Validator::new(ValidationFlags::all(), caps)
        .validate(&module)
        .unwrap_or_else(|e| panic!("{}: {}", def.name, e.emit_to_string(&def.source())));
    (module, info)
}

const SPIRV_OP_SDOT: u32 = 4450;

/// Opcodes of a SPIR-V binary's instructions.
fn spirv_opcodes(words: &[u32]) -> Vec<u32> {
    let mut ops = Vec::new();
    let mut i = 5; // header
    while i < words.len() {
        let count = (words[i] >> 16) as usize;
        ops.push(words[i] & 0xffff);
        i += count.max(1);
    }
    ops
}

fn spirv(
    module: &naga::Module,
    info: &naga::valid::ModuleInfo,
    caps: Option<&[spv::Capability]>,
) -> Vec<u32> {
    let options = spv::Options {
        lang_version: (1, 3),
        capabilities: caps.map(|c| c.iter().copied().collect()),
        ..Default::default()
    };
    let pipeline = spv::PipelineOptions {
        shader_stage: naga::ShaderStage::Compute,
        entry_point: "main".into(),
    };
    spv::write_vec(module, info, &options, Some(&pipeline)).expect("SPIR-V")
}

fn hlsl(module: &naga::Module, info: &naga::valid::ModuleInfo, model: hlsl::ShaderModel) -> String {
    let options = hlsl::Options {
        shader_model: model,
        fake_missing_bindings: true,
        ..Default::default()
    };
    let pipeline = hlsl::PipelineOptions {
        entry_point: Some((naga::ShaderStage::Compute, "main".into())),
    };
    let mut out = String::new();
    hlsl::Writer::new(&mut out, &options, &pipeline)
        .write(module, info, None)
        .expect("HLSL");
    out
}

fn msl(
    module: &naga::Module,
    info: &naga::valid::ModuleInfo,
    version: (u8, u8),
) -> Result<String, msl::Error> {
    let options = msl::Options {
        lang_version: version,
        fake_missing_bindings: true,
        ..Default::default()
    };
    let pipeline = msl::PipelineOptions {
        entry_point: Some((naga::ShaderStage::Compute, "main".into())),
        ..Default::default()
    };
    msl::write_string(module, info, &options, &pipeline).map(|(src, _)| src)
}

fn glsl(
    module: &naga::Module,
    info: &naga::valid::ModuleInfo,
    version: glsl::Version,
) -> Result<String, glsl::Error> {
    let options = glsl::Options {
        version,
        ..Default::default()
    };
    let pipeline = glsl::PipelineOptions {
        shader_stage: naga::ShaderStage::Compute,
        entry_point: "main".into(),
        multiview: None,
    };
    let mut out = String::new();
    glsl::Writer::new(
        &mut out,
        module,
        info,
        &options,
        &pipeline,
        Default::default(),
    )
    .and_then(|mut w| w.write())?;
    Ok(out)
}

#[test]
fn every_shader_file_is_part_of_a_declared_kernel() {
    for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/shaders")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        // A file is one of a kernel's sources, or what a device swaps in for one.
        let subgroups = Build {
            subgroups: true,
            ..Build::default()
        };
        assert!(
            ALL_KERNELS
                .iter()
                .any(|k| k.sources.contains(&text.as_str())
                    || k.source_for(subgroups).contains(text.as_str())),
            "{} is not part of any kernel",
            path.display()
        );
    }
}

#[test]
fn declarations_match_the_wgsl() {
    for def in ALL_KERNELS {
        let (module, _) = parse(def);
        let ep = module
            .entry_points
            .iter()
            .find(|e| e.name == "main")
            .expect("entry point main");
        assert_eq!(ep.stage, naga::ShaderStage::Compute, "{}", def.name);
        assert_eq!(
            ep.workgroup_size, def.workgroup_size,
            "{}: workgroup size",
            def.name
        );
        let mut layouter = naga::proc::Layouter::default();
        layouter.update(module.to_ctx()).unwrap();
        let mut found = Vec::new();
        for (_, var) in module.global_variables.iter() {
            let Some(binding) = &var.binding else {
                continue;
            };
            assert_eq!(binding.group, 0, "{}: only group 0 is bound", def.name);
            let ty = match var.space {
                naga::AddressSpace::Uniform => BindType::Uniform,
                naga::AddressSpace::Storage { access }
                    if access.contains(naga::StorageAccess::STORE) =>
                {
                    BindType::ReadWrite
                }
                naga::AddressSpace::Storage { .. } => BindType::ReadOnly,
                other => panic!("{}: unexpected address space {other:?}", def.name),
            };
            if binding.binding == 0 {
                assert_eq!(
                    layouter[var.ty].size as usize, def.params_size,
                    "{}: WGSL params struct and its Rust mirror differ in size",
                    def.name
                );
            }
            found.push((binding.binding, var.name.clone().unwrap_or_default(), ty));
        }
        found.sort_by_key(|f| f.0);
        let expected: Vec<(u32, String, BindType)> = def
            .bindings
            .iter()
            .enumerate()
            .map(|(i, (name, ty))| (i as u32, name.to_string(), *ty))
            .collect();
        assert_eq!(found, expected, "{}: bindings", def.name);
    }
}

#[test]
fn record_structs_match_their_rust_mirrors() {
    let sizes = [
        (
            "ChannelStat",
            std::mem::size_of::<octet::ops::ChannelStat>(),
        ),
        (
            "StatsPartial",
            std::mem::size_of::<octet::ops::StatsPartial>(),
        ),
        (
            "GemmParams",
            std::mem::size_of::<octet::ops::gemm::GemmParams>(),
        ),
    ];
    for def in ALL_KERNELS {
        let (module, _) = parse(def);
        let mut layouter = naga::proc::Layouter::default();
        layouter.update(module.to_ctx()).unwrap();
        for (handle, ty) in module.types.iter() {
            if let Some((_, size)) = sizes.iter().find(|(n, _)| ty.name.as_deref() == Some(*n)) {
                assert_eq!(
                    layouter[handle].size as usize, *size,
                    "{}: {:?}",
                    def.name, ty.name
                );
            }
        }
    }
}

#[test]
fn spirv_uses_opsdot_when_allowed_and_a_polyfill_otherwise() {
    for def in ALL_KERNELS.iter().filter(|d| !uses_subgroups(d)) {
        let (module, info) = parse(def);
        let native = spirv(&module, &info, None);
        let uses_dot = def.source().contains("dot4I8Packed");
        assert_eq!(
            spirv_opcodes(&native).contains(&SPIRV_OP_SDOT),
            uses_dot,
            "{}: OpSDot present iff the kernel uses dot4I8Packed",
            def.name
        );
        // Without the DotProduct capabilities (drivers lacking VK_KHR_shader_integer_dot_product)
        // naga must fall back to shifts and multiplies.
        let basic = [spv::Capability::Shader];
        let poly = spirv(&module, &info, Some(&basic));
        assert!(
            !spirv_opcodes(&poly).contains(&SPIRV_OP_SDOT),
            "{}",
            def.name
        );
    }
}

#[test]
fn hlsl_uses_dot4add_on_sm64_and_translates_for_older_models() {
    for def in ALL_KERNELS {
        let (module, info) = parse(def);
        let sm64 = hlsl(&module, &info, hlsl::ShaderModel::V6_4);
        assert_eq!(
            sm64.contains("dot4add_i8packed"),
            def.source().contains("dot4I8Packed"),
            "{}: dot4add_i8packed on SM 6.4",
            def.name
        );
        if uses_subgroups(def) {
            continue; // SM 5.1 has no wave intrinsics; see subgroup_kernels_translate
        }
        let sm51 = hlsl(&module, &info, hlsl::ShaderModel::V5_1);
        assert!(
            !sm51.contains("dot4add_i8packed"),
            "{}: SM 5.1 has no dot4add",
            def.name
        );
    }
}

#[test]
fn msl_translates_for_metal_2_1_and_later() {
    for def in ALL_KERNELS {
        let (module, info) = parse(def);
        for version in [(2, 1), (2, 4), (3, 0)] {
            let src = msl(&module, &info, version)
                .unwrap_or_else(|e| panic!("{} MSL {version:?}: {e}", def.name));
            assert!(src.contains("kernel void"), "{}", def.name);
        }
    }
}

#[test]
fn glsl_es_translates() {
    for def in ALL_KERNELS.iter().filter(|d| !uses_subgroups(d)) {
        let (module, info) = parse(def);
        let out = glsl(&module, &info, glsl::Version::new_gles(310))
            .unwrap_or_else(|e| panic!("{} GLSL ES: {e}", def.name));
        assert!(out.contains("#version 310 es"), "{}", def.name);
    }
}

/// Kernels that call subgroup builtins themselves translate where subgroups exist: SPIR-V,
/// HLSL shader model 6.0, MSL 2.1 and desktop GLSL 4.30.
#[test]
fn subgroup_kernels_translate() {
    let mut found = 0;
    for def in ALL_KERNELS.iter().filter(|d| uses_subgroups(d)) {
        found += 1;
        let (module, info) = parse(def);
        spirv(&module, &info, None);
        assert!(
            hlsl(&module, &info, hlsl::ShaderModel::V6_0).contains("WaveReadLaneAt"),
            "{}: HLSL broadcast",
            def.name
        );
        let src = msl(&module, &info, (2, 1)).unwrap_or_else(|e| panic!("{} MSL: {e}", def.name));
        assert!(
            src.contains("simd_broadcast"),
            "{}: MSL broadcast",
            def.name
        );
        let out = glsl(&module, &info, glsl::Version::Desktop(430))
            .unwrap_or_else(|e| panic!("{} GLSL: {e}", def.name));
        assert!(
            out.contains("subgroupBroadcast"),
            "{}: GLSL broadcast",
            def.name
        );
    }
    assert_eq!(
        found, 2,
        "the gemm_f32_lanes8 kernels broadcast within subgroups"
    );
}

#[test]
fn every_kernel_is_exercised_by_a_conformance_suite() {
    for def in ALL_KERNELS {
        assert!(
            octet::conformance::SUITES
                .iter()
                .any(|s| octet::conformance::suite_kernels(s).contains(&def.name)),
            "kernel {} has no conformance suite",
            def.name
        );
    }
}

/// Every kernel declares its parameter block as `PARAMS_DECLARATION` once, and the module with
/// the block moved to a storage buffer (what devices with a spare storage binding compile)
/// parses and validates too.
#[test]
fn parameter_blocks_move_to_storage() {
    use octet::gpu::kernel::PARAMS_DECLARATION;
    for def in ALL_KERNELS {
        assert_eq!(
            def.source().matches(PARAMS_DECLARATION).count(),
            1,
            "{}: the parameter block must be declared as `{PARAMS_DECLARATION}`",
            def.name
        );
        let source = def.source_for(Build {
            params_in_storage: true,
            ..Build::default()
        });
        let module = naga::front::wgsl::parse_str(&source)
            .unwrap_or_else(|e| panic!("{}: {}", def.name, e.emit_to_string(&source)));
        naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::all(),
        )
        .validate(&module)
        .unwrap_or_else(|e| panic!("{}: {e:?}", def.name));
    }
}

/// The statistics kernels as a device with subgroups of 8 lanes or more compiles them (the folds
/// on subgroup shuffles) validate and translate to SPIR-V, MSL, HLSL and GLSL, each with its
/// shuffle.
#[test]
fn subgroup_folds_translate() {
    let build = Build {
        subgroups: true,
        ..Build::default()
    };
    let mut folded = 0;
    for def in ALL_KERNELS {
        let source = def.source_for(build);
        if source == def.source() {
            continue;
        }
        folded += 1;
        let module = naga::front::wgsl::parse_str(&source)
            .unwrap_or_else(|e| panic!("{}: {}", def.name, e.emit_to_string(&source)));
        let info = Validator::new(ValidationFlags::all(), Capabilities::all())
            .validate(&module)
            .unwrap_or_else(|e| panic!("{}: {}", def.name, e.emit_to_string(&source)));
        spirv(&module, &info, None);
        assert!(
            hlsl(&module, &info, hlsl::ShaderModel::V6_0).contains("WaveReadLaneAt"),
            "{}: HLSL shuffle",
            def.name
        );
        let src = msl(&module, &info, (2, 1)).unwrap_or_else(|e| panic!("{} MSL: {e}", def.name));
        assert!(
            src.contains("simd_shuffle_xor"),
            "{}: MSL shuffle",
            def.name
        );
        let out = glsl(&module, &info, glsl::Version::Desktop(430))
            .unwrap_or_else(|e| panic!("{} GLSL: {e}", def.name));
        assert!(
            out.contains("subgroupShuffleXor"),
            "{}: GLSL shuffle",
            def.name
        );
    }
    assert_eq!(
        folded, 4,
        "the four channel-statistics kernels fold with subgroups"
    );
}
