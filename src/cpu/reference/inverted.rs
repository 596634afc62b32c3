//! The f64 reference of MobileNetV2's inverted-residual block (1×1 expand → BN → ReLU6 → 3×3
//! depthwise → BN → ReLU6 → 1×1 project → BN, + the input when the shapes match), composed from
//! the layer references.

use super::*;

/// Parameters of an inverted-residual block: `(weight, bias, bn [γ | β])` of each part.
#[derive(Clone, Debug, PartialEq)]
pub struct InvertedParams {
    /// The 1×1 expansion and its batch norm; none for an expansion factor of 1.
    pub expand: Option<[Vec<f64>; 3]>,
    /// The 3×3 depthwise convolution (weights `[hidden, 3, 3]`) and its batch norm.
    pub depthwise: [Vec<f64>; 3],
    /// The 1×1 projection and its batch norm.
    pub project: [Vec<f64>; 3],
}

/// The block's geometries (expansion, depthwise, projection) for an NHWC input `(n, h, w, c)`
/// and `(expand, channels, stride)`.
fn geometries(
    (n, h, w, c): (u32, u32, u32, u32),
    (expand, _, stride): (u32, u32, u32),
) -> [ConvGeometry; 3] {
    let ge = ConvGeometry {
        n,
        h,
        w,
        c,
        kh: 1,
        kw: 1,
        stride: 1,
        pad: 0,
    };
    let gd = ConvGeometry {
        c: c * expand,
        kh: 3,
        kw: 3,
        stride,
        pad: 1,
        ..ge
    };
    let gp = ConvGeometry {
        h: gd.oh(),
        w: gd.ow(),
        c: c * expand,
        ..ge
    };
    [ge, gd, gp]
}

/// Every intermediate of the forward.
struct Trace {
    /// The expansion's conv and batch-norm outputs.
    expand: Option<(Vec<f64>, Vec<f64>)>,
    /// The depthwise convolution's input.
    dw_in: Vec<f64>,
    dw: Vec<f64>,
    dw_bn: Vec<f64>,
    r2: Vec<f64>,
    proj: Vec<f64>,
    y: Vec<f64>,
}

fn trace(
    input: (u32, u32, u32, u32),
    shape: (u32, u32, u32),
    p: &InvertedParams,
    eps: f64,
    x: &[f64],
) -> Trace {
    let [ge, gd, gp] = geometries(input, shape);
    let (hidden, channels) = (gd.c as usize, shape.1 as usize);
    let expand = p.expand.as_ref().map(|e| {
        let a = conv2d_forward(&ge, x, &e[0], &e[1]);
        let b = batchnorm2d_forward(hidden, eps, &a, &e[2]);
        (a, b)
    });
    let dw_in = match &expand {
        Some((_, b)) => relu6_forward(b),
        None => x.to_vec(),
    };
    let dw = depthwise_forward(&gd, &dw_in, &p.depthwise[0], &p.depthwise[1]);
    let dw_bn = batchnorm2d_forward(hidden, eps, &dw, &p.depthwise[2]);
    let r2 = relu6_forward(&dw_bn);
    let proj = conv2d_forward(&gp, &r2, &p.project[0], &p.project[1]);
    let mut y = batchnorm2d_forward(channels, eps, &proj, &p.project[2]);
    if residual(input, shape) {
        y.iter_mut().zip(x).for_each(|(y, x)| *y += x);
    }
    Trace {
        expand,
        dw_in,
        dw,
        dw_bn,
        r2,
        proj,
        y,
    }
}

fn residual(input: (u32, u32, u32, u32), (_, channels, stride): (u32, u32, u32)) -> bool {
    stride == 1 && input.3 == channels
}

/// The inverted-residual block for an NHWC input `(n, h, w, c)` and `(expand, channels,
/// stride)`, batch norms in training mode.
pub fn inverted_residual_forward(
    input: (u32, u32, u32, u32),
    shape: (u32, u32, u32),
    p: &InvertedParams,
    eps: f64,
    x: &[f64],
) -> Vec<f64> {
    trace(input, shape, p, eps, x).y
}

/// Gradients of [`inverted_residual_forward`]: `dx` and the parameters' gradients.
pub fn inverted_residual_backward(
    input: (u32, u32, u32, u32),
    shape: (u32, u32, u32),
    p: &InvertedParams,
    eps: f64,
    x: &[f64],
    dy: &[f64],
) -> (Vec<f64>, InvertedParams) {
    let [ge, gd, gp] = geometries(input, shape);
    let (hidden, channels) = (gd.c as usize, shape.1 as usize);
    let t = trace(input, shape, p, eps, x);
    let (g_proj, bn_p) = batchnorm2d_backward(channels, eps, &t.proj, &p.project[2], dy);
    let (g_r2, w_p, b_p) = conv2d_backward(&gp, &t.r2, &p.project[0], &g_proj);
    let g_dw_bn = relu6_backward(&t.dw_bn, &g_r2);
    let (g_dw, bn_d) = batchnorm2d_backward(hidden, eps, &t.dw, &p.depthwise[2], &g_dw_bn);
    let (g_dw_in, w_d, b_d) = depthwise_backward(&gd, &t.dw_in, &p.depthwise[0], &g_dw);
    let (mut dx, expand) = match (&p.expand, &t.expand) {
        (Some(e), Some((a, b))) => {
            let g_b = relu6_backward(b, &g_dw_in);
            let (g_a, bn_e) = batchnorm2d_backward(hidden, eps, a, &e[2], &g_b);
            let (dx, w_e, b_e) = conv2d_backward(&ge, x, &e[0], &g_a);
            (dx, Some([w_e, b_e, bn_e]))
        }
        _ => (g_dw_in, None),
    };
    if residual(input, shape) {
        dx.iter_mut().zip(dy).for_each(|(d, g)| *d += g);
    }
    let grads = InvertedParams {
        expand,
        depthwise: [w_d, b_d, bn_d],
        project: [w_p, b_p, bn_p],
    };
    (dx, grads)
}
