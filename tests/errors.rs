//! Misuse gets a typed error that says what is wrong, never a panic.

mod common;

use common::{Needs, for_each_adapter};
use octet::ops::gemm::ReluGate;
use octet::ops::{
    self, ChannelAxis, Epilogue, GemmBuffers, GemmShape, Layout, Precision, QuantizeBuffers,
    Rounding,
};
use octet::{Error, Recording};

#[test]
fn a_device_below_octets_limits_is_refused_with_the_limit_named() {
    let test = "a_device_below_octets_limits_is_refused_with_the_limit_named";
    for_each_adapter(test, Needs::PreferredAdapter, |gpu| {
        let adapter = gpu.adapter;
        let limits = wgpu::Limits {
            max_storage_buffers_per_shader_stage: 4,
            ..wgpu::Limits::downlevel_defaults()
        };
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            required_limits: limits,
            ..Default::default()
        }))
        .unwrap();
        match octet::Context::new(&device, &queue) {
            Err(Error::MissingLimit {
                name,
                required,
                available,
            }) => {
                assert_eq!(name, "max_storage_buffers_per_shader_stage");
                assert_eq!((required, available), (6, 4));
            }
            other => panic!("expected MissingLimit, got {other:?}"),
        }
    });
}

#[test]
fn a_host_device_with_enough_limits_is_borrowed() {
    let test = "a_host_device_with_enough_limits_is_borrowed";
    for_each_adapter(test, Needs::PreferredAdapter, |gpu| {
        let adapter = gpu.adapter;
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            required_limits: octet::gpu::required_limits(),
            ..Default::default()
        }))
        .unwrap();
        let ctx = octet::Context::new(&device, &queue).unwrap();
        ctx.warm_up().unwrap();
        // The host keeps using its own device afterwards.
        drop(ctx);
        let _ = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("host"),
            size: 4,
            usage: wgpu::BufferUsages::STORAGE,
            mapped_at_creation: false,
        });
    });
}

#[test]
fn bad_shapes_and_small_buffers_are_typed_errors() {
    let test = "bad_shapes_and_small_buffers_are_typed_errors";
    for_each_adapter(test, Needs::PreferredAdapter, |gpu| {
        let ctx = gpu.context();
        let small = ctx.storage_buffer("small", 4);
        let big = ctx.storage_buffer("big", 1 << 16);
        let mut rec = Recording::new();

        let layout = Layout::new(16, 16, ChannelAxis::Rows);
        let bufs = QuantizeBuffers {
            input: (&small).into(),
            clips: &big,
            packed: &big,
            scales: &big,
            relu_mask: None,
        };
        match ops::quantize(&ctx, &mut rec, &layout, Rounding::Nearest, bufs) {
            Err(Error::BufferTooSmall {
                op: "quantize",
                binding: "input",
                needed: 1024,
                actual: 4,
            }) => {}
            other => panic!("expected BufferTooSmall, got {other:?}"),
        }
        let empty = Layout::new(0, 16, ChannelAxis::Tensor);
        let bufs = QuantizeBuffers {
            input: (&big).into(),
            clips: &big,
            packed: &big,
            scales: &big,
            relu_mask: None,
        };
        let err = ops::quantize(&ctx, &mut rec, &empty, Rounding::Nearest, bufs).unwrap_err();
        assert!(
            matches!(err, Error::InvalidArgument { op: "quantize", .. }),
            "{err}"
        );
        assert!(err.to_string().contains("empty"), "{err}");

        let shape = GemmShape::new(8, 8, 64);
        let gb = GemmBuffers::new(&big, &big, &big);
        let err = ops::gemm_i8(&ctx, &mut rec, &shape, 100, gb, &Epilogue::NONE).unwrap_err();
        assert!(err.to_string().contains("k_chunk 100"), "{err}");
        let err = ops::gemm_i8(&ctx, &mut rec, &shape, 262_144, gb, &Epilogue::NONE).unwrap_err();
        assert!(err.to_string().contains("131072"), "{err}");
        let gb = GemmBuffers::new(&big, &big, &small);
        match ops::gemm_f32(&ctx, &mut rec, &shape, gb, &Epilogue::NONE) {
            Err(Error::BufferTooSmall { binding: "out", .. }) => {}
            other => panic!("expected BufferTooSmall for out, got {other:?}"),
        }
        // A ReLU gate is compiled into the register-blocked kernels only, and takes the bias's
        // binding.
        let gb = GemmBuffers::new(&big, &big, &big);
        let gated = Epilogue {
            gate: Some(ReluGate::Mask((&big).into())),
            ..Epilogue::NONE
        };
        let tiled = ops::gemm::GemmVariant::Tiled;
        let err = ops::gemm::gemm_f32_variant(&ctx, &mut rec, tiled, &shape, gb, &gated);
        let err = err.unwrap_err();
        assert!(err.to_string().contains("has no ReLU gate"), "{err}");
        let both = Epilogue {
            bias: Some((&big).into()),
            ..gated
        };
        let err = ops::gemm_f32(&ctx, &mut rec, &shape, gb, &both).unwrap_err();
        assert!(err.to_string().contains("not both"), "{err}");
        // Empty products are refused before the autotuner sizes scratch for them.
        let gb = GemmBuffers::new(&big, &big, &big);
        for empty in [GemmShape::new(8, 8, 0), GemmShape::new(0, 8, 64)] {
            let err = ops::gemm_f32(&ctx, &mut rec, &empty, gb, &Epilogue::NONE).unwrap_err();
            assert!(matches!(err, Error::InvalidArgument { .. }), "{err}");
            assert!(err.to_string().contains("empty GEMM"), "{err}");
            let err = ctx.gemm_variant(&empty, Precision::Int8).unwrap_err();
            assert!(err.to_string().contains("empty GEMM"), "{err}");
        }
        // A clip measured in the quantize pass: small per-tensor layouts only.
        let big_tensor = Layout::new(256, 256, ChannelAxis::Tensor);
        let bufs = QuantizeBuffers {
            input: (&big).into(),
            clips: &big,
            packed: &big,
            scales: &big,
            relu_mask: None,
        };
        let nearest = Rounding::Nearest;
        let err = ops::quantize::quantize_scan(&ctx, &mut rec, &big_tensor, nearest, bufs, 0);
        let err = err.unwrap_err();
        assert!(err.to_string().contains("at most 32768"), "{err}");
        // col2im_maxpool needs the pooling's output to be the convolution's input.
        let conv = ops::ConvGeometry {
            n: 1,
            h: 4,
            w: 4,
            c: 2,
            kh: 3,
            kw: 3,
            stride: 1,
            pad: 1,
        };
        let pool = ops::PoolGeometry {
            n: 1,
            h: 9,
            w: 9,
            c: 2,
            k: 3,
        };
        let err = ops::col2im_maxpool(&mut rec, &conv, &pool, &big, &big, &big).unwrap_err();
        assert!(
            err.to_string().contains("is not the convolution's input"),
            "{err}"
        );
        // Nothing invalid was recorded, so the encoder still submits.
        ctx.run(&rec).unwrap();
    });
}

#[test]
fn unknown_backend_names_are_refused() {
    let err = octet::gpu::parse_backends("directx9").unwrap_err();
    assert!(err.to_string().contains("vulkan, metal, dx12, gl"), "{err}");
}

#[test]
fn handles_can_be_shared_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<octet::Context>();
    assert_send_sync::<octet::Error>();
}

/// The thread-safety the crate docs promise for embedding.
#[test]
fn handles_are_send_and_sync_as_documented() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<octet::Context>();
    send::<octet::train::Trainer>();
    send::<octet::nn::Model>();
    send::<octet::gpu::Readback<f32>>();
}
