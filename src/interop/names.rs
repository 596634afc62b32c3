//! The one table both directions read: each octet tensor of a spec beside its PyTorch
//! `state_dict` name, shape and the layout change between them.

use crate::error::Result;
use crate::nn::{LayerSpec, ModelSpec};

/// How an octet tensor's values become the PyTorch tensor's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Layout {
    /// The same values in the same order.
    Same,
    /// A convolution's weight: octet `[out, kh, kw, in]`, PyTorch `[out, in, kh, kw]`.
    Conv {
        /// Output channels.
        out: usize,
        /// Kernel height and width.
        k: usize,
        /// Input channels.
        cin: usize,
    },
    /// A Linear weight reading a flattened `[h, w, c]` input: octet's columns run over NHWC
    /// positions, PyTorch's (after `flatten(1)` of NCHW) over channel planes.
    Flattened {
        /// Output features.
        out: usize,
        /// The flattened input's height, width and channels.
        hwc: [usize; 3],
    },
}

/// Which GEMM a weight belongs to, for the int8 export.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// A Linear or convolution weight: quantized in the int8 export.
    Weight,
    /// Anything else (biases, batch norms): F32 in both exports.
    Other,
}

/// One tensor of the table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    /// The octet name ([`NamedTensor`](crate::nn::NamedTensor)).
    pub octet: String,
    /// Its shape in octet.
    pub octet_shape: Vec<usize>,
    /// The PyTorch module path and parameter, e.g. `layer1.0.conv1.weight`.
    pub torch: String,
    /// Its shape in PyTorch.
    pub torch_shape: Vec<usize>,
    pub layout: Layout,
    pub role: Role,
}

/// A batch norm's running statistics in PyTorch (`num_batches_tracked` is written apart).
const BN_TENSORS: [&str; 4] = ["weight", "bias", "running_mean", "running_var"];

/// The table of `spec`, in model order. PyTorch names count each kind of top-level layer
/// from 1 — `conv{k}`, `bn{k}`, `fc{k}` — and name the `k`-th basic block `layer{k}.0` with
/// torchvision's inner names (`conv1`, `bn1`, `conv2`, `bn2`, the projection shortcut as
/// `downsample.0` and `downsample.1`), and the `k`-th inverted-residual block `ir{k}` with
/// octet's inner names (`expand`, `expand_bn`, `depthwise`, `depthwise_bn`, `project`,
/// `project_bn`; a depthwise convolution is PyTorch's with one group per channel): the names
/// `python/octet_models.py` declares.
pub(crate) fn table(spec: &ModelSpec) -> Result<Vec<Entry>> {
    let shapes = spec.shapes()?;
    let mut t = Table::default();
    for (i, layer) in spec.layers.iter().enumerate() {
        let [h, w, c] = shapes[i].map(|d| d as usize);
        match *layer {
            LayerSpec::Conv2d {
                channels, kernel, ..
            } => {
                t.convs += 1;
                let torch = format!("conv{}", t.convs);
                t.conv(&format!("layer{i}.conv"), &torch, channels, kernel, c);
            }
            LayerSpec::BatchNorm2d => {
                t.bns += 1;
                t.bn(&format!("layer{i}.bn"), &format!("bn{}", t.bns), c);
            }
            LayerSpec::Linear { outputs } => {
                t.fcs += 1;
                // A Linear reads its input flattened, straight or after a Flatten layer.
                let source = match i.checked_sub(1).map(|p| &spec.layers[p]) {
                    Some(LayerSpec::Flatten) => shapes[i - 1],
                    _ => shapes[i],
                }
                .map(|d| d as usize);
                let inputs = h * w * c;
                let out = outputs as usize;
                let layout = if source[0] * source[1] > 1 && source[2] > 1 {
                    Layout::Flattened { out, hwc: source }
                } else {
                    Layout::Same
                };
                let (octet, torch) = (format!("layer{i}.linear"), format!("fc{}", t.fcs));
                t.push(
                    &octet,
                    &torch,
                    "weight",
                    vec![out, inputs],
                    layout,
                    Role::Weight,
                );
                t.push(&octet, &torch, "bias", vec![out], Layout::Same, Role::Other);
            }
            LayerSpec::BasicBlock { channels, stride } => {
                t.blocks += 1;
                let (octet, torch) = (format!("layer{i}.block"), format!("layer{}.0", t.blocks));
                let inner = |t: &mut Table, o: &str, p: &str, cin, k| {
                    t.conv(
                        &format!("{octet}.{o}"),
                        &format!("{torch}.{p}"),
                        channels,
                        k,
                        cin,
                    )
                };
                let bn = |t: &mut Table, o: &str, p: &str| {
                    t.bn(
                        &format!("{octet}.{o}"),
                        &format!("{torch}.{p}"),
                        channels as usize,
                    )
                };
                inner(&mut t, "conv1", "conv1", c, 3);
                bn(&mut t, "bn1", "bn1");
                inner(&mut t, "conv2", "conv2", channels as usize, 3);
                bn(&mut t, "bn2", "bn2");
                if stride != 1 || c != channels as usize {
                    inner(&mut t, "shortcut", "downsample.0", c, 1);
                    bn(&mut t, "shortcut_bn", "downsample.1");
                }
            }
            LayerSpec::DepthwiseConv2d { kernel, .. } => {
                // PyTorch: a convolution with one group per channel, weight [c, 1, k, k].
                t.convs += 1;
                let torch = format!("conv{}", t.convs);
                t.conv(&format!("layer{i}.depthwise"), &torch, c as u32, kernel, 1);
            }
            LayerSpec::InvertedResidual {
                expand, channels, ..
            } => {
                t.inverted += 1;
                let (octet, torch) = (format!("layer{i}.block"), format!("ir{}", t.inverted));
                let hidden = c as u32 * expand;
                let part = |t: &mut Table, name: &str, out: u32, k: u32, cin: usize| {
                    let (o, p) = (format!("{octet}.{name}"), format!("{torch}.{name}"));
                    t.conv(&o, &p, out, k, cin);
                    t.bn(&format!("{o}_bn"), &format!("{p}_bn"), out as usize);
                };
                if expand != 1 {
                    part(&mut t, "expand", hidden, 1, c);
                }
                part(&mut t, "depthwise", hidden, 3, 1);
                part(&mut t, "project", channels, 1, hidden as usize);
            }
            LayerSpec::MaxPool2d { .. }
            | LayerSpec::Flatten
            | LayerSpec::GlobalAvgPool
            | LayerSpec::Relu
            | LayerSpec::Relu6 => {}
        }
    }
    Ok(t.entries)
}

/// The PyTorch names of the batch norms of `spec` (each gets a `num_batches_tracked`).
pub(crate) fn batchnorms(table: &[Entry]) -> Vec<String> {
    table
        .iter()
        .filter_map(|e| e.torch.strip_suffix(".running_mean").map(str::to_string))
        .collect()
}

#[derive(Default)]
struct Table {
    entries: Vec<Entry>,
    convs: usize,
    bns: usize,
    fcs: usize,
    blocks: usize,
    inverted: usize,
}

impl Table {
    fn push(
        &mut self,
        octet: &str,
        torch: &str,
        what: &str,
        octet_shape: Vec<usize>,
        layout: Layout,
        role: Role,
    ) {
        let torch_shape = match layout {
            Layout::Conv { out, k, cin } => vec![out, cin, k, k],
            _ => octet_shape.clone(),
        };
        self.entries.push(Entry {
            octet: format!("{octet}.{what}"),
            octet_shape,
            torch: format!("{torch}.{what}"),
            torch_shape,
            layout,
            role,
        });
    }

    fn conv(&mut self, octet: &str, torch: &str, channels: u32, kernel: u32, cin: usize) {
        let (out, k) = (channels as usize, kernel as usize);
        let layout = Layout::Conv { out, k, cin };
        self.push(
            octet,
            torch,
            "weight",
            vec![out, k, k, cin],
            layout,
            Role::Weight,
        );
        self.push(octet, torch, "bias", vec![out], Layout::Same, Role::Other);
    }

    fn bn(&mut self, octet: &str, torch: &str, c: usize) {
        for what in BN_TENSORS {
            self.push(octet, torch, what, vec![c], Layout::Same, Role::Other);
        }
    }
}

impl Layout {
    /// For each PyTorch element in order, the index of the octet element it takes.
    pub(crate) fn torch_order(self, len: usize) -> Vec<usize> {
        match self {
            Layout::Same => (0..len).collect(),
            Layout::Conv { out, k, cin } => {
                let mut v = Vec::with_capacity(len);
                for o in 0..out {
                    for ci in 0..cin {
                        for ky in 0..k {
                            for kx in 0..k {
                                v.push(((o * k + ky) * k + kx) * cin + ci);
                            }
                        }
                    }
                }
                v
            }
            Layout::Flattened {
                out,
                hwc: [h, w, c],
            } => {
                let mut v = Vec::with_capacity(len);
                for o in 0..out {
                    for ci in 0..c {
                        for y in 0..h {
                            for x in 0..w {
                                v.push(o * h * w * c + (y * w + x) * c + ci);
                            }
                        }
                    }
                }
                v
            }
        }
    }

    /// octet's values in PyTorch's order.
    pub(crate) fn to_torch(self, octet: &[f32]) -> Vec<f32> {
        self.torch_order(octet.len())
            .into_iter()
            .map(|i| octet[i])
            .collect()
    }

    /// PyTorch's values in octet's order.
    pub(crate) fn to_octet(self, torch: &[f32]) -> Vec<f32> {
        let mut out = vec![0.0; torch.len()];
        for (t, o) in self.torch_order(torch.len()).into_iter().enumerate() {
            out[o] = torch[t];
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_are_inverse_permutations() {
        for layout in [
            Layout::Conv {
                out: 6,
                k: 2,
                cin: 5,
            },
            Layout::Flattened {
                out: 4,
                hwc: [3, 2, 5],
            },
        ] {
            let v: Vec<f32> = (0..120).map(|i| i as f32).collect();
            let t = layout.to_torch(&v);
            assert_ne!(t, v);
            assert_eq!(layout.to_octet(&t), v);
        }
        // conv: PyTorch [o][ci][ky][kx] = octet [o][ky][kx][ci]
        let l = Layout::Conv {
            out: 1,
            k: 2,
            cin: 3,
        };
        let t = l.to_torch(&(0..12).map(|i| i as f32).collect::<Vec<_>>());
        assert_eq!(&t[..4], &[0.0, 3.0, 6.0, 9.0]);
    }

    #[test]
    fn the_zoo_gets_pytorch_names() {
        let names = |spec: &ModelSpec| -> Vec<String> {
            table(spec).unwrap().into_iter().map(|e| e.torch).collect()
        };
        let lenet = names(&ModelSpec::lenet5(28, 28, 1, 10));
        assert_eq!(lenet[0], "conv1.weight");
        assert_eq!(lenet[4], "fc1.weight");
        assert_eq!(lenet.len(), 10);
        let resnet = table(&ModelSpec::resnet(32, 32, 3, 10)).unwrap();
        let downsample = resnet
            .iter()
            .find(|e| e.torch == "layer2.0.downsample.0.weight")
            .unwrap();
        assert_eq!(downsample.octet, "layer4.block.shortcut.weight");
        assert_eq!(downsample.torch_shape, vec![32, 16, 1, 1]);
        assert!(
            !resnet
                .iter()
                .any(|e| e.torch.starts_with("layer1.0.downsample"))
        );
        let mlp = ModelSpec {
            input: [4, 4, 3],
            ..ModelSpec::mlp(48, &[8], 2)
        };
        let first = &table(&mlp).unwrap()[0];
        assert_eq!(
            first.layout,
            Layout::Flattened {
                out: 8,
                hwc: [4, 4, 3]
            }
        );
    }
}
