//! Kernel declarations, pipeline building and dispatch.
//!
//! Each kernel is declared once, as a [`KernelDef`] in its op module (`src/ops/*.rs`): WGSL sources,
//! workgroup size and the binding list in binding order. Everything else (bind group layout,
//! pipeline, bind groups, labels) is derived from that one declaration, and
//! `tests/translation.rs` checks the declaration against naga's reflection of the WGSL.

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::gpu::{Context, KernelChecks};

/// How a kernel uses one of its bindings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BindType {
    /// `var<uniform>`: the kernel's parameter block.
    Uniform,
    /// `var<storage>` (read-only).
    ReadOnly,
    /// `var<storage, read_write>`.
    ReadWrite,
}

/// One compute kernel: its WGSL and its interface, in one place.
#[derive(Debug)]
pub struct KernelDef {
    /// Name, also the label suffix (`octet.<name>`) and the `.wgsl` file's stem (with a suffix
    /// where one file makes several kernels with different constants).
    pub name: &'static str,
    /// WGSL pieces concatenated in order: shared helpers first, the kernel's file last.
    pub sources: &'static [&'static str],
    /// `@workgroup_size` of the entry point `main`.
    pub workgroup_size: [u32; 3],
    /// `(name, type)` of bindings 0.. of group 0, in binding order.
    pub bindings: &'static [(&'static str, BindType)],
    /// Size of the Rust mirror of binding 0's parameter struct.
    pub params_size: usize,
    /// Whether the parameter block stays a uniform buffer even where the device has a storage
    /// binding to spare. Drivers may specialise a shader on its uniform values at each dispatch
    /// (lavapipe inlines those that steer control flow and recompiles, through its disk cache):
    /// worth it for small kernels, whose loops then unroll (a LeNet-5 step is 25% faster there),
    /// not for the wide GEMMs, which take seconds to compile and ~40 ms to load from the cache.
    pub uniform_params: bool,
}

/// How every kernel declares its parameter block (binding 0; `tests/translation.rs` checks it).
pub const PARAMS_DECLARATION: &str = "@group(0) @binding(0) var<uniform> params";

impl KernelDef {
    /// This kernel's interface under another name and sources: a kernel compiled from the same
    /// file with other constants or element types prepended.
    pub const fn variant(&self, name: &'static str, sources: &'static [&'static str]) -> Self {
        KernelDef {
            name,
            sources,
            ..*self
        }
    }

    /// The complete WGSL module handed to the driver.
    pub fn source(&self) -> String {
        self.sources.concat()
    }

    /// [`KernelDef::source`] as a device of `build` compiles it: the parameter block in a
    /// read-only storage buffer instead of a uniform one when `build.params_in_storage` and the
    /// kernel does not ask for uniforms, and the statistics folds on subgroup shuffles when
    /// `build.subgroups`.
    pub fn source_for(&self, build: Build) -> String {
        let mut source = self.source();
        if build.params_in_storage && !self.uniform_params {
            source = source.replace(
                PARAMS_DECLARATION,
                "@group(0) @binding(0) var<storage> params",
            );
        }
        if build.subgroups && source.contains(wgsl::FOLD_SHARED) {
            // naga 30 takes subgroup builtins without `enable subgroups;` (and rejects it).
            source = source.replace(wgsl::FOLD_SHARED, wgsl::FOLD_SUBGROUP);
        }
        source
    }
}

/// How one device compiles octet's kernels, decided once per [`crate::Context`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Build {
    /// Kernels whose [`KernelDef::uniform_params`] is false read their parameters from storage
    /// ([`crate::Context::params_in_storage`]).
    pub params_in_storage: bool,
    /// The statistics kernels fold groups of 8 lanes with subgroup shuffles
    /// (`shaders/fold_subgroup.wgsl`) instead of through workgroup memory
    /// (`shaders/fold_shared.wgsl`), the same bits with fewer barriers
    /// ([`crate::Context::subgroup_folds`]).
    pub subgroups: bool,
}

/// The shared WGSL helpers, embedded at compile time; each kernel's own file is included
/// where the kernel is declared (`src/ops/<family>.rs`).
pub mod wgsl {
    /// `shaders/common.wgsl`: RNG, exact division, the scalar quantizer.
    pub const COMMON: &str = include_str!("../../shaders/common.wgsl");
    /// `shaders/gemm_common.wgsl`: parameter block and epilogue of both GEMMs.
    pub const GEMM_COMMON: &str = include_str!("../../shaders/gemm_common.wgsl");
    /// `shaders/gemm_gate.wgsl`: the ReLU-backward gate of the register-blocked GEMMs (after
    /// their `GATED` constant).
    pub const GEMM_GATE: &str = include_str!("../../shaders/gemm_gate.wgsl");
    /// `shaders/stats_common.wgsl`: parameter block and channel mapping of both stats passes.
    pub const STATS_COMMON: &str = include_str!("../../shaders/stats_common.wgsl");
    /// `shaders/stats_moments.wgsl`: one lane's share of pass 1 and a channel's statistics.
    pub const STATS_MOMENTS: &str = include_str!("../../shaders/stats_moments.wgsl");
    /// `shaders/stats_fold.wgsl`: combining pass-1 records across a workgroup's lanes.
    pub const STATS_FOLD: &str = include_str!("../../shaders/stats_fold.wgsl");
    /// `shaders/tail_fold.wgsl`: count and pair folds of pass 2.
    pub const TAIL_FOLD: &str = include_str!("../../shaders/tail_fold.wgsl");
    /// `shaders/fold_shared.wgsl`: the statistics folds' groups of 8 lanes, through workgroup
    /// memory (what every kernel declares; [`super::KernelDef::source_for`] swaps in
    /// [`FOLD_SUBGROUP`] where the device allows).
    pub const FOLD_SHARED: &str = include_str!("../../shaders/fold_shared.wgsl");
    /// `shaders/fold_subgroup.wgsl`: the same folds with subgroup shuffles.
    pub const FOLD_SUBGROUP: &str = include_str!("../../shaders/fold_subgroup.wgsl");
    /// `shaders/conv_common.wgsl`: convolution geometry of im2col and col2im.
    pub const CONV_COMMON: &str = include_str!("../../shaders/conv_common.wgsl");
    /// `shaders/batchnorm_common.wgsl`: the parameter block of the batchnorm kernels.
    pub const BATCHNORM_COMMON: &str = include_str!("../../shaders/batchnorm_common.wgsl");
    /// `shaders/gemm_i8_common.wgsl`: helpers shared by the int8 GEMM variants.
    pub const GEMM_I8_COMMON: &str = include_str!("../../shaders/gemm_i8_common.wgsl");
}

/// A kernel built for one device.
#[derive(Debug)]
pub(crate) struct Pipeline {
    pub pipeline: wgpu::ComputePipeline,
    pub layout: wgpu::BindGroupLayout,
}

impl Pipeline {
    /// Compiles `def` on `device`; compile and validation errors come back as [`Error::Shader`].
    pub(crate) fn build(
        device: &wgpu::Device,
        def: &'static KernelDef,
        checks: KernelChecks,
        build: Build,
    ) -> Result<Arc<Self>> {
        let label = format!("octet.{}", def.name);
        let entries: Vec<wgpu::BindGroupLayoutEntry> = def
            .bindings
            .iter()
            .enumerate()
            .map(|(i, (_, ty))| wgpu::BindGroupLayoutEntry {
                binding: i as u32,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer {
                    ty: match ty {
                        BindType::Uniform if build.params_in_storage && !def.uniform_params => {
                            wgpu::BufferBindingType::Storage { read_only: true }
                        }
                        BindType::Uniform => wgpu::BufferBindingType::Uniform,
                        BindType::ReadOnly => wgpu::BufferBindingType::Storage { read_only: true },
                        BindType::ReadWrite => {
                            wgpu::BufferBindingType::Storage { read_only: false }
                        }
                    },
                    has_dynamic_offset: false,
                    min_binding_size: None,
                },
                count: None,
            })
            .collect();
        let built = with_error_scope(device, || {
            let desc = wgpu::ShaderModuleDescriptor {
                label: Some(&label),
                source: wgpu::ShaderSource::Wgsl(def.source_for(build).into()),
            };
            let module = match checks {
                KernelChecks::Checked => device.create_shader_module(desc),
                // SAFETY: the context's owner chose Trusted (a device octet created, or a host's
                // `unsafe set_kernel_checks`): octet's kernels index within the buffers their
                // ops checked, at every edge the conformance suite exercises, their loops are
                // finite, and they divide only by non-zero parameters the ops validated.
                KernelChecks::Trusted => unsafe {
                    device
                        .create_shader_module_trusted(desc, wgpu::ShaderRuntimeChecks::unchecked())
                },
            };
            let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                label: Some(&label),
                entries: &entries,
            });
            let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some(&label),
                bind_group_layouts: &[Some(&layout)],
                immediate_size: 0,
            });
            let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(&label),
                layout: Some(&pipeline_layout),
                module: &module,
                entry_point: Some("main"),
                // Every kernel writes its workgroup memory before reading it.
                compilation_options: wgpu::PipelineCompilationOptions {
                    zero_initialize_workgroup_memory: checks == KernelChecks::Checked,
                    ..Default::default()
                },
                cache: None,
            });
            Pipeline { pipeline, layout }
        });
        match built {
            Ok(p) => Ok(Arc::new(p)),
            Err(message) => Err(Error::Shader {
                kernel: def.name,
                message,
            }),
        }
    }
}

/// Runs `f` inside validation and out-of-memory error scopes and returns the first error's text.
/// In a browser a scope's result arrives only through the event loop, which a synchronous call
/// cannot wait for: there errors go to the device's uncaptured-error handler instead (on a
/// device octet created, [`crate::gpu::Context::check_device`] reports them at the next call).
#[cfg(target_arch = "wasm32")]
pub(crate) fn with_error_scope<T>(
    _device: &wgpu::Device,
    f: impl FnOnce() -> T,
) -> std::result::Result<T, String> {
    Ok(f())
}

/// Runs `f` inside validation and out-of-memory error scopes and returns the first error's text.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn with_error_scope<T>(
    device: &wgpu::Device,
    f: impl FnOnce() -> T,
) -> std::result::Result<T, String> {
    let oom = device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
    let validation = device.push_error_scope(wgpu::ErrorFilter::Validation);
    let value = f();
    let v = pollster::block_on(validation.pop());
    let o = pollster::block_on(oom.pop());
    match v.or(o) {
        None => Ok(value),
        Some(e) => Err(e.to_string()),
    }
}

/// Workgroup counts for `n` invocations of a 1-D kernel of `wg` lanes, folded into y past the
/// 65535-per-dimension limit (kernels rebuild the flat index with `flat_index`).
pub(crate) fn grid_1d(n: u64, wg: u32) -> [u32; 3] {
    let groups = n.div_ceil(wg as u64).max(1);
    grid_groups(groups)
}

/// Workgroup counts for `groups` independent workgroups (one per channel, say), folded into y.
pub(crate) fn grid_groups(groups: u64) -> [u32; 3] {
    const MAX: u64 = 65535;
    if groups <= MAX {
        [groups as u32, 1, 1]
    } else {
        [MAX as u32, groups.div_ceil(MAX) as u32, 1]
    }
}

/// A byte range of a buffer bound as one binding, borrowed: what ops take, so that a layer's
/// parameters can live inside a model's flat buffers (one SGD dispatch updates them all). A
/// `&wgpu::Buffer` converts into the view of the whole buffer.
#[derive(Clone, Copy, Debug)]
pub struct View<'a> {
    /// The buffer.
    pub buffer: &'a wgpu::Buffer,
    /// Where the range starts, in bytes (a multiple of the device's storage offset alignment).
    pub offset: u64,
    /// Its length in bytes.
    pub size: u64,
}

impl<'a> View<'a> {
    /// This range grown to whole vec4s (a multiple of 16 bytes) for a kernel's vec4 variant,
    /// where its buffer holds that much past its start; `None` where it does not.
    pub fn grown_to_vec4s(self) -> Option<View<'a>> {
        let size = self.size.next_multiple_of(16);
        (self.offset.is_multiple_of(16) && self.offset + size <= self.buffer.size())
            .then_some(View { size, ..self })
    }
}

impl<'a> From<&'a wgpu::Buffer> for View<'a> {
    fn from(buffer: &'a wgpu::Buffer) -> Self {
        View {
            buffer,
            offset: 0,
            size: buffer.size(),
        }
    }
}

impl<'a> From<&'a Region> for View<'a> {
    fn from(r: &'a Region) -> Self {
        View {
            buffer: &r.buffer,
            offset: r.offset,
            size: r.size,
        }
    }
}

impl View<'_> {
    /// The owned range.
    pub fn to_region(self) -> Region {
        Region {
            buffer: self.buffer.clone(),
            offset: self.offset,
            size: self.size,
        }
    }
}

/// A byte range of a buffer, owned (a cheap handle clone): a dispatch's binding, or a layer's
/// parameters inside a model's flat buffers.
#[derive(Clone, Debug, PartialEq)]
pub struct Region {
    /// The buffer.
    pub buffer: wgpu::Buffer,
    /// Where the range starts, in bytes.
    pub offset: u64,
    /// Its length in bytes.
    pub size: u64,
}

impl Region {
    /// The whole of `buffer`.
    pub fn whole(buffer: wgpu::Buffer) -> Self {
        let size = buffer.size();
        Region {
            buffer,
            offset: 0,
            size,
        }
    }

    /// The borrowed view.
    pub fn view(&self) -> View<'_> {
        self.into()
    }

    /// The 32-bit words the range covers: `offset / 4 .. (offset + size) / 4`.
    pub fn words(&self) -> std::ops::Range<usize> {
        (self.offset / 4) as usize..((self.offset + self.size) / 4) as usize
    }

    /// Whether the two ranges share a byte of one buffer.
    pub fn overlaps(&self, other: &Region) -> bool {
        self.buffer == other.buffer
            && self.offset < other.offset + other.size
            && other.offset < self.offset + self.size
    }
}

/// One dispatch, fully described but not yet recorded: kernel, parameter bytes, bound ranges
/// (bindings 1.. in declaration order) and grid. Buffers are cheap handle clones.
#[derive(Clone, Debug)]
pub struct Dispatch {
    /// The kernel.
    pub def: &'static KernelDef,
    /// Bytes of binding 0's parameter struct.
    pub params: Vec<u8>,
    /// Bindings 1.. .
    pub buffers: Vec<Region>,
    /// Workgroup counts.
    pub grid: [u32; 3],
}

impl Dispatch {
    pub(crate) fn new<'b, P: bytemuck::Pod, B: Copy + Into<View<'b>>>(
        def: &'static KernelDef,
        params: &P,
        buffers: &[B],
        grid: [u32; 3],
    ) -> Self {
        assert_eq!(
            buffers.len() + 1,
            def.bindings.len(),
            "octet bug: kernel {} bound with the wrong number of buffers",
            def.name
        );
        Dispatch {
            def,
            params: bytemuck::bytes_of(params).to_vec(),
            buffers: buffers.iter().map(|&b| b.into().to_region()).collect(),
            grid,
        }
    }
}

/// A list of dispatches that ops append to, recorded later into any command encoder — octet's own
/// or a host's — or prepared once and replayed every training step.
#[derive(Clone, Debug, Default)]
pub struct Recording {
    /// The dispatches, in order.
    pub dispatches: Vec<Dispatch>,
    /// Partial results one dispatch writes and the next reads (split-K partials, per-segment
    /// sums): one buffer for the whole recording, as large as its largest need, since the
    /// dispatches run one after another; whether this recording made it.
    scratch: Option<(wgpu::Buffer, bool)>,
}

impl Recording {
    /// An empty recording.
    pub fn new() -> Self {
        Recording::default()
    }

    /// An empty recording that starts with `other`'s scratch, for recordings that never run at
    /// the same time (one submit each, on one queue).
    pub fn sharing_scratch(other: &Recording) -> Self {
        Recording {
            dispatches: Vec::new(),
            scratch: other.scratch.as_ref().map(|(b, _)| (b.clone(), false)),
        }
    }

    pub(crate) fn push(&mut self, d: Dispatch) {
        self.dispatches.push(d);
    }

    /// Appends every dispatch of `other` (which keeps its own scratch).
    pub fn extend(&mut self, other: Recording) {
        self.dispatches.extend(other.dispatches);
        if self.scratch.is_none() {
            self.scratch = other.scratch;
        }
    }

    /// The recording's scratch, at least `bytes` long. A larger need than any before replaces
    /// the buffer in every dispatch recorded so far; a smaller one this recording made is freed.
    pub(crate) fn scratch(&mut self, ctx: &Context, bytes: u64) -> wgpu::Buffer {
        if let Some((s, _)) = &self.scratch
            && s.size() >= bytes
        {
            return s.clone();
        }
        let new = ctx.storage_buffer("recording.scratch", bytes);
        if let Some((old, own)) = self.scratch.replace((new.clone(), true)) {
            for b in self
                .dispatches
                .iter_mut()
                .flat_map(|d| d.buffers.iter_mut())
            {
                if b.buffer == old {
                    *b = Region::whole(new.clone());
                }
            }
            if own {
                ctx.forget_storage(old.size());
            }
        }
        new
    }

    /// Records the dispatches into `encoder` (bind groups and parameter buffers are created now).
    pub fn encode(&self, ctx: &Context, encoder: &mut wgpu::CommandEncoder) -> Result<()> {
        let prepared = self
            .dispatches
            .iter()
            .map(|d| ctx.prepare(d))
            .collect::<Result<Vec<_>>>()?;
        Prepared::encode_all(&prepared, encoder);
        Ok(())
    }
}

/// A dispatch with its pipeline, bind group and parameter buffer built once: encode it every step,
/// change its parameters with [`Prepared::set_params`].
#[derive(Debug)]
pub struct Prepared {
    pipeline: Arc<Pipeline>,
    bind_group: wgpu::BindGroup,
    params: wgpu::Buffer,
    grid: [u32; 3],
    name: &'static str,
}

impl Prepared {
    /// Records the dispatch into `encoder`, in a compute pass of its own.
    pub fn encode(&self, encoder: &mut wgpu::CommandEncoder) {
        Self::encode_all(std::slice::from_ref(self), encoder);
    }

    /// Records `dispatches` into `encoder` in order, in one compute pass: a pass per dispatch
    /// costs a begin and end each (state tracking, and on some drivers more), and wgpu already
    /// orders a pass's dispatches, each seeing the storage writes of those before it.
    pub fn encode_all<'a>(
        dispatches: impl IntoIterator<Item = &'a Prepared>,
        encoder: &mut wgpu::CommandEncoder,
    ) {
        let mut dispatches = dispatches.into_iter().peekable();
        // The pass is named by its first dispatch (a whole step: its input or first layer).
        let label = match dispatches.peek() {
            Some(first) => format!("octet.{}", first.name),
            None => "octet.dispatches".to_string(),
        };
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some(&label),
            timestamp_writes: None,
        });
        for d in dispatches {
            pass.set_pipeline(&d.pipeline.pipeline);
            pass.set_bind_group(0, &d.bind_group, &[]);
            pass.dispatch_workgroups(d.grid[0], d.grid[1], d.grid[2]);
        }
    }

    /// Records `dispatches` as [`Prepared::encode_all`] does, with a timestamp written into
    /// `queries` before each and after the last (`dispatches.len() + 1` queries): the GPU time
    /// of each dispatch inside one pass. Needs `Features::TIMESTAMP_QUERY_INSIDE_PASSES`.
    pub fn encode_timed(
        dispatches: &[Prepared],
        encoder: &mut wgpu::CommandEncoder,
        queries: &wgpu::QuerySet,
    ) {
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("octet.timed"),
            timestamp_writes: None,
        });
        for (i, d) in dispatches.iter().enumerate() {
            pass.write_timestamp(queries, i as u32);
            pass.set_pipeline(&d.pipeline.pipeline);
            pass.set_bind_group(0, &d.bind_group, &[]);
            pass.dispatch_workgroups(d.grid[0], d.grid[1], d.grid[2]);
        }
        pass.write_timestamp(queries, dispatches.len() as u32);
    }

    /// Replaces the parameters (the bytes of the same struct, new values) before the next submit.
    pub fn set_params(&self, queue: &wgpu::Queue, params: &[u8]) {
        queue.write_buffer(&self.params, 0, params);
    }
}

/// WebGPU's rule, which native wgpu does not check: a buffer bound read-write may not be bound
/// to any other binding of the same dispatch. Checked everywhere, so that a kernel that breaks
/// it fails in the native tests, not only in a browser.
fn check_aliasing(d: &Dispatch) -> Result<()> {
    for (i, a) in d.buffers.iter().enumerate() {
        for (j, b) in d.buffers.iter().enumerate().skip(i + 1) {
            let writable = |k: usize| d.def.bindings[k + 1].1 == BindType::ReadWrite;
            if a.overlaps(b) && (writable(i) || writable(j)) {
                return Err(Error::Gpu {
                    during: d.def.name,
                    message: format!(
                        "bindings `{}` and `{}` overlap in one buffer and one of them is \
                         writable, which WebGPU forbids",
                        d.def.bindings[i + 1].0,
                        d.def.bindings[j + 1].0
                    ),
                });
            }
        }
    }
    Ok(())
}

impl Context {
    /// Builds the bind group and parameter buffer of `d`, compiling its kernel on first use.
    pub fn prepare(&self, d: &Dispatch) -> Result<Prepared> {
        check_aliasing(d)?;
        let pipeline = self.pipeline(d.def)?;
        let device = self.device();
        let label = format!("octet.{}", d.def.name);
        self.count_created(2);
        let built = with_error_scope(device, || {
            use wgpu::util::DeviceExt;
            let params = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(&format!("octet.{}.params", d.def.name)),
                contents: &d.params,
                usage: wgpu::BufferUsages::UNIFORM
                    | wgpu::BufferUsages::STORAGE
                    | wgpu::BufferUsages::COPY_DST,
            });
            let mut entries = vec![wgpu::BindGroupEntry {
                binding: 0,
                resource: params.as_entire_binding(),
            }];
            entries.extend(
                d.buffers
                    .iter()
                    .enumerate()
                    .map(|(i, b)| wgpu::BindGroupEntry {
                        binding: i as u32 + 1,
                        resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                            buffer: &b.buffer,
                            offset: b.offset,
                            size: wgpu::BufferSize::new(b.size),
                        }),
                    }),
            );
            let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some(&label),
                layout: &pipeline.layout,
                entries: &entries,
            });
            (params, bind_group)
        });
        let (params, bind_group) = built.map_err(|message| Error::Gpu {
            during: d.def.name,
            message,
        })?;
        Ok(Prepared {
            pipeline,
            bind_group,
            params,
            grid: d.grid,
            name: d.def.name,
        })
    }

    /// Encodes `recording` into a new command encoder and submits it.
    pub fn run(&self, recording: &Recording) -> Result<wgpu::SubmissionIndex> {
        let mut encoder = self.encoder("run");
        recording.encode(self, &mut encoder)?;
        self.submit(encoder)
    }
}
