//! The zoo: the architectures the examples, benches and tests train.

use crate::nn::ModelSpec;

impl ModelSpec {
    /// A multilayer perceptron: Linear + ReLU for each hidden size, then Linear to `classes`.
    /// The zoo's MLP is `ModelSpec::mlp(784, &[256, 256], 10)`.
    pub fn mlp(inputs: u32, hidden: &[u32], classes: u32) -> Self {
        hidden
            .iter()
            .fold(ModelSpec::builder(1, 1, inputs), |b, &h| b.linear(h).relu())
            .linear(classes)
            .build()
    }

    /// LeNet-5 for `h × w × c` images: conv 6@5×5 (padded to keep 28×28 inputs at 28×28), ReLU,
    /// max-pool 2, conv 16@5×5, ReLU, max-pool 2, then 120-84-`classes` fully connected.
    pub fn lenet5(h: u32, w: u32, c: u32, classes: u32) -> Self {
        let pad = if h < 32 { 2 } else { 0 };
        ModelSpec::builder(h, w, c)
            .conv2d(6, 5, 1, pad)
            .relu()
            .maxpool(2)
            .conv(16, 5)
            .relu()
            .maxpool(2)
            .flatten()
            .linear(120)
            .relu()
            .linear(84)
            .relu()
            .linear(classes)
            .build()
    }

    /// A small ResNet for `h × w × c` images: conv3×3(16) → BN → ReLU, basic blocks of 16, 32
    /// (stride 2) and 64 (stride 2) channels, global average pooling, Linear to `classes`.
    pub fn resnet(h: u32, w: u32, c: u32, classes: u32) -> Self {
        ModelSpec::builder(h, w, c)
            .conv2d(16, 3, 1, 1)
            .batchnorm()
            .relu()
            .basic_block(16, 1)
            .basic_block(32, 2)
            .basic_block(64, 2)
            .global_avg_pool()
            .linear(classes)
            .build()
    }

    /// A small MobileNetV2 for `h × w × c` images: conv3×3(16, stride 2) → BN → ReLU6, inverted-residual
    /// blocks (expansion t, channels, repeats n, first stride s) (1, 16, 1, 1), (6, 24, 2, 2),
    /// (6, 32, 2, 2), (6, 64, 2, 2), then conv1×1(256) → BN → ReLU6, global average pooling,
    /// Linear to `classes`. MobileNetV2's layout (a stride-2 stem, expansion 6) cut to four
    /// stages and to a quarter of its widths, so that it trains on CPU drivers: 28×28 and 32×32
    /// inputs end at 2×2.
    pub fn mobilenetv2(h: u32, w: u32, c: u32, classes: u32) -> Self {
        let stages: [(u32, u32, u32, u32); 4] =
            [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 2, 2), (6, 64, 2, 2)];
        let stem = ModelSpec::builder(h, w, c)
            .conv2d(16, 3, 2, 1)
            .batchnorm()
            .relu6();
        stages
            .into_iter()
            .flat_map(|(t, ch, n, s)| (0..n).map(move |i| (t, ch, if i == 0 { s } else { 1 })))
            .fold(stem, |b, (t, ch, s)| b.inverted_residual(t, ch, s))
            .conv2d(256, 1, 1, 0)
            .batchnorm()
            .relu6()
            .global_avg_pool()
            .linear(classes)
            .build()
    }
}

#[cfg(test)]
mod tests {
    use crate::nn::{LayerSpec, ModelSpec};

    // The zoo as it was written out before the builder: checkpoints store these specs.
    #[test]
    fn zoo_specs_are_the_written_out_ones() {
        let conv = |channels, kernel, stride, pad| LayerSpec::Conv2d {
            channels,
            kernel,
            stride,
            pad,
        };
        let block = |channels, stride| LayerSpec::BasicBlock { channels, stride };
        let linear = |outputs| LayerSpec::Linear { outputs };
        let pool = LayerSpec::MaxPool2d { k: 2 };
        use LayerSpec::{BatchNorm2d, Flatten, GlobalAvgPool, Relu};
        let mlp = ModelSpec {
            input: [1, 1, 784],
            layers: vec![linear(256), Relu, linear(256), Relu, linear(10)],
        };
        assert_eq!(ModelSpec::mlp(784, &[256, 256], 10), mlp);
        assert_eq!(
            ModelSpec::mlp(5, &[], 3).layers,
            vec![LayerSpec::Linear { outputs: 3 }]
        );
        for (h, pad) in [(28, 2), (32, 0)] {
            let lenet = ModelSpec {
                input: [h, h, 3],
                layers: vec![
                    conv(6, 5, 1, pad),
                    Relu,
                    pool.clone(),
                    conv(16, 5, 1, 0),
                    Relu,
                    pool.clone(),
                    Flatten,
                    linear(120),
                    Relu,
                    linear(84),
                    Relu,
                    linear(7),
                ],
            };
            assert_eq!(ModelSpec::lenet5(h, h, 3, 7), lenet);
        }
        let resnet = ModelSpec {
            input: [32, 32, 3],
            layers: vec![
                conv(16, 3, 1, 1),
                BatchNorm2d,
                Relu,
                block(16, 1),
                block(32, 2),
                block(64, 2),
                GlobalAvgPool,
                linear(10),
            ],
        };
        assert_eq!(ModelSpec::resnet(32, 32, 3, 10), resnet);
        let ir = |expand, channels, stride| LayerSpec::InvertedResidual {
            expand,
            channels,
            stride,
        };
        use LayerSpec::Relu6;
        let mobilenet = ModelSpec {
            input: [28, 28, 1],
            layers: vec![
                conv(16, 3, 2, 1),
                BatchNorm2d,
                Relu6,
                ir(1, 16, 1),
                ir(6, 24, 2),
                ir(6, 24, 1),
                ir(6, 32, 2),
                ir(6, 32, 1),
                ir(6, 64, 2),
                ir(6, 64, 1),
                conv(256, 1, 1, 0),
                BatchNorm2d,
                Relu6,
                GlobalAvgPool,
                linear(10),
            ],
        };
        assert_eq!(ModelSpec::mobilenetv2(28, 28, 1, 10), mobilenet);
        for (h, c) in [(28, 1), (32, 3)] {
            let shapes = ModelSpec::mobilenetv2(h, h, c, 10).shapes().unwrap();
            assert_eq!(shapes[12], [2, 2, 256]);
        }
    }
}
