// The arithmetic ceilings GEMM kernels are judged against: how many f32 fused multiply-adds and
// how many dot4I8Packed (four int8 multiply-adds each) one lane sustains with nothing but
// registers in play. Eight independent accumulators per lane hide the latency of each chain;
// one int8 operand changes every iteration (one integer add for eight dot products) so that no
// dot product can be hoisted out of the loop. The f32 chains converge to a normal number (x, y
// about 0.5): a denormal or infinite operand would measure the CPU's slow paths instead. A
// measuring kernel of the bench, not one of octet's.

struct Params {
    iters: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage> src: array<u32>;
@group(0) @binding(2) var<storage, read_write> dst: array<u32>;

@compute @workgroup_size(64)
fn fma_f32(@builtin(global_invocation_id) g: vec3<u32>) {
    let i = g.x;
    let x = bitcast<f32>(src[i % 64u]);
    let y = bitcast<f32>(src[(i + 7u) % 64u]);
    var a = array<f32, 8>(x, x + 1.0, x + 2.0, x + 3.0, x + 4.0, x + 5.0, x + 6.0, x + 7.0);
    var a0 = a[0];
    var a1 = a[1];
    var a2 = a[2];
    var a3 = a[3];
    var a4 = a[4];
    var a5 = a[5];
    var a6 = a[6];
    var a7 = a[7];
    for (var k = 0u; k < params.iters; k++) {
        a0 = fma(a0, y, x);
        a1 = fma(a1, y, x);
        a2 = fma(a2, y, x);
        a3 = fma(a3, y, x);
        a4 = fma(a4, y, x);
        a5 = fma(a5, y, x);
        a6 = fma(a6, y, x);
        a7 = fma(a7, y, x);
    }
    dst[i] = bitcast<u32>(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7);
}

@compute @workgroup_size(64)
fn dot_i8(@builtin(global_invocation_id) g: vec3<u32>) {
    let i = g.x;
    var x = src[64u + i % 64u];
    let y0 = src[64u + (i + 1u) % 64u];
    let y1 = src[64u + (i + 2u) % 64u];
    let y2 = src[64u + (i + 3u) % 64u];
    let y3 = src[64u + (i + 4u) % 64u];
    let y4 = src[64u + (i + 5u) % 64u];
    let y5 = src[64u + (i + 6u) % 64u];
    let y6 = src[64u + (i + 7u) % 64u];
    let y7 = src[64u + (i + 8u) % 64u];
    var a0 = 0;
    var a1 = 1;
    var a2 = 2;
    var a3 = 3;
    var a4 = 4;
    var a5 = 5;
    var a6 = 6;
    var a7 = 7;
    for (var k = 0u; k < params.iters; k++) {
        x += 0x01010101u;
        a0 += dot4I8Packed(x, y0);
        a1 += dot4I8Packed(x, y1);
        a2 += dot4I8Packed(x, y2);
        a3 += dot4I8Packed(x, y3);
        a4 += dot4I8Packed(x, y4);
        a5 += dot4I8Packed(x, y5);
        a6 += dot4I8Packed(x, y6);
        a7 += dot4I8Packed(x, y7);
    }
    dst[i] = bitcast<u32>(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7);
}
