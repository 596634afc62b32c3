//! A recording's partial results (split-K partials here) share one buffer, grown to the largest
//! need: every dispatch binds the final buffer, the smaller one is not counted as held, and the
//! products stay right.

mod common;

use common::{Needs, for_each_adapter};
use octet::Recording;
use octet::ops::gemm::{f32_k_chunk, gemm_f32_variant};
use octet::ops::{Epilogue, GemmBuffers, GemmShape, GemmVariant};

#[test]
fn split_gemms_share_one_scratch_grown_to_the_largest_need() {
    let test = "split_gemms_share_one_scratch_grown_to_the_largest_need";
    for_each_adapter(test, Needs::EveryAdapter, |gpu| {
        let ctx = gpu.context();
        // Long K splits both; the second product has 16 times the outputs, so more partials.
        let shapes = [GemmShape::new(4, 4, 4096), GemmShape::new(16, 16, 4096)];
        let operands: Vec<_> = shapes
            .iter()
            .map(|s| {
                let a: Vec<f32> = (0..s.m * s.k).map(|i| (i % 7) as f32 - 3.0).collect();
                let b: Vec<f32> = (0..s.n * s.k).map(|i| (i % 5) as f32 * 0.5 - 1.0).collect();
                let out = ctx.storage_buffer("test.out", (s.m * s.n) as u64 * 4);
                (
                    ctx.upload("test.a", &a),
                    ctx.upload("test.b", &b),
                    out,
                    a,
                    b,
                )
            })
            .collect();
        let before = ctx.storage_bytes();
        let mut rec = Recording::new();
        for (s, (a, b, out, ..)) in shapes.iter().zip(&operands) {
            let bufs = GemmBuffers::new(a, b, out);
            gemm_f32_variant(&ctx, &mut rec, GemmVariant::Regs, s, bufs, &Epilogue::NONE).unwrap();
        }
        let partials: Vec<&wgpu::Buffer> = rec
            .dispatches
            .iter()
            .filter(|d| d.def.name == "gemm_reduce")
            .map(|d| &d.buffers[0].buffer)
            .collect();
        let needs = shapes.map(|s| s.partials_bytes(f32_k_chunk(&s, ctx.spread())));
        assert!(
            needs[0] > 0 && needs[1] > needs[0],
            "{needs:?}: the second needs more"
        );
        assert_eq!(partials.len(), 2, "both products split K");
        assert!(partials[0].size() >= needs[1]);
        assert!(partials.iter().all(|p| *p == partials[0]));
        assert_eq!(ctx.storage_bytes() - before, partials[0].size());
        ctx.run(&rec).unwrap();
        for (s, (_, _, out, a, b)) in shapes.iter().zip(&operands) {
            let gpu: Vec<f32> = ctx.read_buffer(out).unwrap();
            let k = s.k as usize;
            for (i, &g) in gpu[..(s.m * s.n) as usize].iter().enumerate() {
                let (r, c) = (i / s.n as usize, i % s.n as usize);
                let want: f32 = (0..k).map(|j| a[r * k + j] * b[c * k + j]).sum();
                assert!(
                    (g - want).abs() <= 1e-3 * want.abs().max(1.0),
                    "{s:?} [{i}]"
                );
            }
        }
    });
}
