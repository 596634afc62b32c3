//! The f64 reference of a residual basic block (conv → BN → ReLU → conv → BN, + shortcut,
//! ReLU), composed from the layer references.

use super::*;

/// Parameters of a residual basic block: `(conv weight, conv bias, bn [γ | β])` for its first
/// and second convolution and, with a projection shortcut, the shortcut.
#[derive(Clone, Debug, PartialEq)]
pub struct BlockParams {
    /// First 3×3 convolution (stride `s`) and its batch norm.
    pub conv1: [Vec<f64>; 3],
    /// Second 3×3 convolution and its batch norm.
    pub conv2: [Vec<f64>; 3],
    /// 1×1 projection (stride `s`) and its batch norm, when shapes change.
    pub shortcut: Option<[Vec<f64>; 3]>,
}

/// The block's convolution geometries for an input `(n, h, w, c)` and stride.
pub(super) fn block_geometry(
    (n, h, w, c): (u32, u32, u32, u32),
    channels: u32,
    stride: u32,
) -> [ConvGeometry; 3] {
    let g1 = ConvGeometry {
        n,
        h,
        w,
        c,
        kh: 3,
        kw: 3,
        stride,
        pad: 1,
    };
    let g2 = ConvGeometry {
        h: g1.oh(),
        w: g1.ow(),
        c: channels,
        stride: 1,
        ..g1
    };
    let gs = ConvGeometry {
        kh: 1,
        kw: 1,
        pad: 0,
        ..g1
    };
    [g1, g2, gs]
}

/// Every intermediate of a block's forward, kept for its backward.
struct BlockTrace {
    a1: Vec<f64>,
    b1: Vec<f64>,
    r1: Vec<f64>,
    a2: Vec<f64>,
    short_a: Option<Vec<f64>>,
    sum: Vec<f64>,
}

fn block_trace(
    input: (u32, u32, u32, u32),
    channels: u32,
    stride: u32,
    p: &BlockParams,
    eps: f64,
    x: &[f64],
) -> BlockTrace {
    let [g1, g2, gs] = block_geometry(input, channels, stride);
    let c = channels as usize;
    let a1 = conv2d_forward(&g1, x, &p.conv1[0], &p.conv1[1]);
    let b1 = batchnorm2d_forward(c, eps, &a1, &p.conv1[2]);
    let r1 = relu_forward(&b1);
    let a2 = conv2d_forward(&g2, &r1, &p.conv2[0], &p.conv2[1]);
    let main = batchnorm2d_forward(c, eps, &a2, &p.conv2[2]);
    let short_a = p
        .shortcut
        .as_ref()
        .map(|s| conv2d_forward(&gs, x, &s[0], &s[1]));
    let short = match (&short_a, &p.shortcut) {
        (Some(a), Some(s)) => batchnorm2d_forward(c, eps, a, &s[2]),
        _ => x.to_vec(),
    };
    let sum = main.iter().zip(&short).map(|(a, b)| a + b).collect();
    BlockTrace {
        a1,
        b1,
        r1,
        a2,
        short_a,
        sum,
    }
}

/// A ResNet basic block, `relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))`, batch norms in
/// training mode, for an NHWC input `(n, h, w, c)`.
pub fn basic_block_forward(
    input: (u32, u32, u32, u32),
    channels: u32,
    stride: u32,
    p: &BlockParams,
    eps: f64,
    x: &[f64],
) -> Vec<f64> {
    relu_forward(&block_trace(input, channels, stride, p, eps, x).sum)
}

/// Gradients of [`basic_block_forward`]: `dx` and the parameters' gradients.
pub fn basic_block_backward(
    input: (u32, u32, u32, u32),
    channels: u32,
    stride: u32,
    p: &BlockParams,
    eps: f64,
    x: &[f64],
    dy: &[f64],
) -> (Vec<f64>, BlockParams) {
    let [g1, g2, gs] = block_geometry(input, channels, stride);
    let c = channels as usize;
    let t = block_trace(input, channels, stride, p, eps, x);
    let g_sum = relu_backward(&t.sum, dy);
    let (g_a2, bn2) = batchnorm2d_backward(c, eps, &t.a2, &p.conv2[2], &g_sum);
    let (g_r1, w2, c2) = conv2d_backward(&g2, &t.r1, &p.conv2[0], &g_a2);
    let g_b1 = relu_backward(&t.b1, &g_r1);
    let (g_a1, bn1) = batchnorm2d_backward(c, eps, &t.a1, &p.conv1[2], &g_b1);
    let (mut dx, w1, c1) = conv2d_backward(&g1, x, &p.conv1[0], &g_a1);
    let shortcut = match (&p.shortcut, &t.short_a) {
        (Some(s), Some(a)) => {
            let (g_a, bns) = batchnorm2d_backward(c, eps, a, &s[2], &g_sum);
            let (dxs, ws, cs) = conv2d_backward(&gs, x, &s[0], &g_a);
            dx.iter_mut().zip(&dxs).for_each(|(d, v)| *d += v);
            Some([ws, cs, bns])
        }
        _ => {
            dx.iter_mut().zip(&g_sum).for_each(|(d, v)| *d += v);
            None
        }
    };
    let grads = BlockParams {
        conv1: [w1, c1, bn1],
        conv2: [w2, c2, bn2],
        shortcut,
    };
    (dx, grads)
}
