"""octet's zoo models as PyTorch modules, whose ``state_dict`` is octet's export.

``model.safetensors`` written by ``train --export DIR`` (or ``octet::interop::export``) loads
into the module these definitions build::

    import torch
    from safetensors.torch import load_file
    import octet_models

    meta = octet_models.read_metadata("DIR/model.safetensors")
    model = octet_models.from_metadata(meta).torch_module()
    model.load_state_dict(load_file("DIR/model.safetensors"))
    model.eval()
    x = octet_models.normalize(images, meta)  # images: float NCHW in [0, 1]
    logits = model(torch.from_numpy(x))

Each zoo function (``mlp``, ``lenet5``, ``resnet``, ``mobilenetv2``) declares the model once, as a list of
layers; from that one declaration come the PyTorch module (``Net.torch_module``, which needs
torch), the ``state_dict`` names and shapes (``Net.shapes``) and a NumPy forward in PyTorch's
NCHW convention (``Net.forward_numpy``), the last two without torch: octet's tests use them to
check the export. Names follow octet's rule (``src/interop/names.rs``): top-level layers
counted by kind from 1 (``conv1``, ``bn1``, ``fc1``), the k-th residual block ``layer{k}.0``
with torchvision's inner names, the k-th inverted-residual block ``ir{k}`` with octet's.
"""

import json

import numpy as np

EPS = 1e-5  # batch norm's epsilon, PyTorch's default and octet's


class Conv:
    """``nn.Conv2d(cin, cout, k, stride, pad)`` with a bias; with ``depthwise`` one filter per
    channel (``groups=cin``, ``cout == cin``)."""

    def __init__(self, name, cin, cout, k, stride=1, pad=0, depthwise=False):
        self.name, self.cin, self.cout, self.k, self.stride, self.pad = (
            name, cin, cout, k, stride, pad)
        self.groups = cin if depthwise else 1

    def shapes(self):
        return {f"{self.name}.weight": (self.cout, self.cin // self.groups, self.k, self.k),
                f"{self.name}.bias": (self.cout,)}

    def forward_numpy(self, x, sd):
        w, b = sd[f"{self.name}.weight"], sd[f"{self.name}.bias"]
        p, s, k = self.pad, self.stride, self.k
        x = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
        win = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(2, 3))[:, :, ::s, ::s]
        if self.groups > 1:
            return np.einsum("nchwij,cij->nchw", win, w[:, 0]) + b[None, :, None, None]
        return np.einsum("nchwij,ocij->nohw", win, w) + b[None, :, None, None]

    def torch(self):
        import torch.nn as nn
        return nn.Conv2d(self.cin, self.cout, self.k, self.stride, self.pad, groups=self.groups)


class BatchNorm:
    """``nn.BatchNorm2d(c)``, evaluated with its running statistics."""

    def __init__(self, name, c):
        self.name, self.c = name, c

    def shapes(self):
        n = self.name
        return {f"{n}.weight": (self.c,), f"{n}.bias": (self.c,),
                f"{n}.running_mean": (self.c,), f"{n}.running_var": (self.c,),
                f"{n}.num_batches_tracked": ()}

    def forward_numpy(self, x, sd):
        g = lambda what: sd[f"{self.name}.{what}"][None, :, None, None]
        return (x - g("running_mean")) / np.sqrt(g("running_var") + EPS) * g("weight") + g("bias")

    def torch(self):
        import torch.nn as nn
        return nn.BatchNorm2d(self.c, eps=EPS)


class Linear:
    """``nn.Linear(fin, fout)``, its input flattened first (``x.flatten(1)``, NCHW order)."""

    def __init__(self, name, fin, fout):
        self.name, self.fin, self.fout = name, fin, fout

    def shapes(self):
        return {f"{self.name}.weight": (self.fout, self.fin), f"{self.name}.bias": (self.fout,)}

    def forward_numpy(self, x, sd):
        x = x.reshape(x.shape[0], -1)
        return x @ sd[f"{self.name}.weight"].T + sd[f"{self.name}.bias"]

    def torch(self):
        import torch.nn as nn
        return nn.Linear(self.fin, self.fout)


class ReLU:
    """The rectifier."""
    name = None

    def shapes(self):
        return {}

    def forward_numpy(self, x, sd):
        return np.maximum(x, 0)

    def apply_torch(self, x):
        return x.relu()


class ReLU6:
    """``min(max(x, 0), 6)``."""
    name = None

    def shapes(self):
        return {}

    def forward_numpy(self, x, sd):
        return np.clip(x, 0, 6)

    def apply_torch(self, x):
        return x.clamp(0, 6)


class MaxPool:
    """``nn.MaxPool2d(k)``: a k×k window, stride k."""
    name = None

    def __init__(self, k):
        self.k = k

    def shapes(self):
        return {}

    def forward_numpy(self, x, sd):
        n, c, h, w = x.shape
        k = self.k
        x = x[:, :, : h // k * k, : w // k * k]
        return x.reshape(n, c, h // k, k, w // k, k).max(axis=(3, 5))

    def apply_torch(self, x):
        import torch.nn.functional as F
        return F.max_pool2d(x, self.k)


class Flatten:
    """``x.flatten(1)``."""
    name = None

    def shapes(self):
        return {}

    def forward_numpy(self, x, sd):
        return x.reshape(x.shape[0], -1)

    def apply_torch(self, x):
        return x.flatten(1)


class GlobalAvgPool:
    """The mean over the pixels: ``x.mean((2, 3))``."""
    name = None

    def shapes(self):
        return {}

    def forward_numpy(self, x, sd):
        return x.mean(axis=(2, 3))

    def apply_torch(self, x):
        return x.mean((2, 3))


class BasicBlock:
    """The ResNet basic block: conv3×3(stride) → BN → ReLU → conv3×3 → BN, plus the shortcut
    (identity, or ``downsample`` = conv1×1(stride) → BN when the shape changes), then ReLU."""

    def __init__(self, name, cin, cout, stride):
        n = name
        self.name = n
        self.conv1 = Conv(f"{n}.conv1", cin, cout, 3, stride, 1)
        self.bn1 = BatchNorm(f"{n}.bn1", cout)
        self.conv2 = Conv(f"{n}.conv2", cout, cout, 3, 1, 1)
        self.bn2 = BatchNorm(f"{n}.bn2", cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = (Conv(f"{n}.downsample.0", cin, cout, 1, stride, 0),
                               BatchNorm(f"{n}.downsample.1", cout))

    def parts(self):
        return [self.conv1, self.bn1, self.conv2, self.bn2, *(self.downsample or ())]

    def shapes(self):
        out = {}
        for p in self.parts():
            out.update(p.shapes())
        return out

    def forward_numpy(self, x, sd):
        y = np.maximum(self.bn1.forward_numpy(self.conv1.forward_numpy(x, sd), sd), 0)
        y = self.bn2.forward_numpy(self.conv2.forward_numpy(y, sd), sd)
        if self.downsample:
            conv, bn = self.downsample
            x = bn.forward_numpy(conv.forward_numpy(x, sd), sd)
        return np.maximum(y + x, 0)

    def torch(self):
        import torch.nn as nn

        block = self

        class TorchBasicBlock(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv1, self.bn1 = block.conv1.torch(), block.bn1.torch()
                self.conv2, self.bn2 = block.conv2.torch(), block.bn2.torch()
                self.downsample = (nn.Sequential(*(m.torch() for m in block.downsample))
                                   if block.downsample else None)

            def forward(self, x):
                y = self.bn1(self.conv1(x)).relu()
                y = self.bn2(self.conv2(y))
                return (y + (self.downsample(x) if self.downsample is not None else x)).relu()

        return TorchBasicBlock()


class InvertedResidual:
    """MobileNetV2's inverted-residual block: ``expand`` conv1×1 to ``cin · t`` → BN → ReLU6
    (none when t = 1), ``depthwise`` 3×3 (stride) → BN → ReLU6, ``project`` conv1×1 → BN, plus
    the input when stride is 1 and ``cin == cout``. Inner names are octet's, each batch norm
    its convolution's name with ``_bn``."""

    def __init__(self, name, cin, t, cout, stride):
        n, hidden = name, cin * t
        self.name = n
        self.expand = None
        if t != 1:
            self.expand = (Conv(f"{n}.expand", cin, hidden, 1), BatchNorm(f"{n}.expand_bn", hidden))
        self.depthwise = (Conv(f"{n}.depthwise", hidden, hidden, 3, stride, 1, depthwise=True),
                          BatchNorm(f"{n}.depthwise_bn", hidden))
        self.project = (Conv(f"{n}.project", hidden, cout, 1), BatchNorm(f"{n}.project_bn", cout))
        self.residual = stride == 1 and cin == cout

    def parts(self):
        return [*(self.expand or ()), *self.depthwise, *self.project]

    def shapes(self):
        out = {}
        for p in self.parts():
            out.update(p.shapes())
        return out

    def forward_numpy(self, x, sd):
        y = x
        for pair, relu6 in ((self.expand, True), (self.depthwise, True), (self.project, False)):
            if pair is None:
                continue
            conv, bn = pair
            y = bn.forward_numpy(conv.forward_numpy(y, sd), sd)
            if relu6:
                y = np.clip(y, 0, 6)
        return y + x if self.residual else y

    def torch(self):
        import torch.nn as nn

        block = self

        class TorchInvertedResidual(nn.Module):
            def __init__(self):
                super().__init__()
                for conv, bn in filter(None, (block.expand, block.depthwise, block.project)):
                    _, _, conv_name = conv.name.rpartition(".")
                    self.add_module(conv_name, conv.torch())
                    self.add_module(f"{conv_name}_bn", bn.torch())
                self.has_expand = block.expand is not None

            def forward(self, x):
                y = x
                if self.has_expand:
                    y = self.expand_bn(self.expand(y)).clamp(0, 6)
                y = self.depthwise_bn(self.depthwise(y)).clamp(0, 6)
                y = self.project_bn(self.project(y))
                return y + x if block.residual else y

        return TorchInvertedResidual()


class Net:
    """A model: its layers in order, applied to NCHW input."""

    def __init__(self, layers):
        self.layers = layers

    def shapes(self):
        """The ``state_dict`` it declares: name → shape (``()`` for a scalar)."""
        out = {}
        for layer in self.layers:
            out.update(layer.shapes())
        return out

    def forward_numpy(self, x, state_dict):
        """Logits of NCHW ``x`` (normalized) with the weights of ``state_dict`` (NumPy arrays)."""
        sd = {k: np.asarray(v, dtype=np.float64) for k, v in state_dict.items()}
        x = np.asarray(x, dtype=np.float64)
        for layer in self.layers:
            x = layer.forward_numpy(x, sd)
        return x

    def torch_module(self):
        """The ``torch.nn.Module`` whose ``state_dict`` octet exports (needs torch)."""
        import torch.nn as nn

        net = self

        class OctetNet(nn.Module):
            def __init__(self):
                super().__init__()
                self.steps = []
                for layer in net.layers:
                    if layer.name is None:
                        self.steps.append(layer.apply_torch)
                        continue
                    module = layer.torch()
                    top, _, index = layer.name.partition(".")
                    # `layer{k}.0`: a Sequential holding the block, as torchvision names it.
                    if index:
                        module = nn.Sequential(module)
                    self.add_module(top, module)
                    self.steps.append(module)

            def forward(self, x):
                for step in self.steps:
                    if isinstance(step, nn.Linear):
                        x = x.flatten(1)
                    x = step(x)
                return x

        return OctetNet()


def mlp(h, w, c, hidden, classes):
    """Linear + ReLU for each hidden size, then Linear to ``classes`` (``fc1``, ``fc2``, …),
    on the flattened image."""
    sizes = [h * w * c, *hidden]
    layers = []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        layers += [Linear(f"fc{i + 1}", a, b), ReLU()]
    layers.append(Linear(f"fc{len(hidden) + 1}", sizes[-1], classes))
    return Net(layers)


def lenet5(h, w, c, classes):
    """LeNet-5: conv1 6@5×5 (padded by 2 below 32×32 inputs), ReLU, max-pool 2, conv2 16@5×5,
    ReLU, max-pool 2, then fc1 120, fc2 84, fc3 ``classes``."""
    pad = 2 if h < 32 else 0
    h1, w1 = (h + 2 * pad - 4) // 2, (w + 2 * pad - 4) // 2
    h2, w2 = (h1 - 4) // 2, (w1 - 4) // 2
    return Net([
        Conv("conv1", c, 6, 5, 1, pad), ReLU(), MaxPool(2),
        Conv("conv2", 6, 16, 5), ReLU(), MaxPool(2), Flatten(),
        Linear("fc1", 16 * h2 * w2, 120), ReLU(),
        Linear("fc2", 120, 84), ReLU(),
        Linear("fc3", 84, classes),
    ])


def resnet(h, w, c, classes):
    """A small ResNet: conv1 3×3 16 → bn1 → ReLU, basic blocks layer1 (16), layer2 (32,
    stride 2), layer3 (64, stride 2), global average pooling, fc1 to ``classes``."""
    return Net([
        Conv("conv1", c, 16, 3, 1, 1), BatchNorm("bn1", 16), ReLU(),
        BasicBlock("layer1.0", 16, 16, 1),
        BasicBlock("layer2.0", 16, 32, 2),
        BasicBlock("layer3.0", 32, 64, 2),
        GlobalAvgPool(),
        Linear("fc1", 64, classes),
    ])


def mobilenetv2(h, w, c, classes):
    """A small MobileNetV2: conv1 3×3 16 stride 2 → bn1 → ReLU6, inverted-residual blocks
    ir1 … ir7 (expansion, channels, repeats, first stride: (1, 16, 1, 1), (6, 24, 2, 2),
    (6, 32, 2, 2), (6, 64, 2, 2)), conv2 1×1 256 → bn2 → ReLU6, global average pooling, fc1 to
    ``classes``."""
    layers = [Conv("conv1", c, 16, 3, 2, 1), BatchNorm("bn1", 16), ReLU6()]
    cin, k = 16, 0
    for t, cout, n, s in ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 2, 2), (6, 64, 2, 2)):
        for i in range(n):
            k += 1
            layers.append(InvertedResidual(f"ir{k}", cin, t, cout, s if i == 0 else 1))
            cin = cout
    return Net(layers + [
        Conv("conv2", cin, 256, 1), BatchNorm("bn2", 256), ReLU6(),
        GlobalAvgPool(),
        Linear("fc1", 256, classes),
    ])


ZOO = {"mlp": mlp, "lenet5": lenet5, "resnet": resnet, "mobilenetv2": mobilenetv2}


def read_metadata(path):
    """The ``__metadata__`` of a safetensors file, JSON entries decoded."""
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        meta = json.loads(f.read(n)).get("__metadata__", {})
    out = {}
    for k, v in meta.items():
        try:
            out[k] = json.loads(v)
        except ValueError:
            out[k] = v
    return out


def from_metadata(meta):
    """The ``Net`` an export's metadata describes (a zoo model)."""
    arch = meta["architecture"]
    if arch not in ZOO:
        raise ValueError(f"architecture {arch!r} is not one of the zoo's {sorted(ZOO)}")
    return ZOO[arch](**meta["arguments"])


def normalize(images, meta):
    """``(images − mean) / std`` per channel, for NCHW ``images`` with pixels in [0, 1]."""
    mean = np.asarray(meta["mean"], dtype=np.float32)[None, :, None, None]
    std = np.asarray(meta["std"], dtype=np.float32)[None, :, None, None]
    return ((np.asarray(images, dtype=np.float32) - mean) / std).astype(np.float32)


def dequantize(int8_tensors):
    """A ``model-int8.safetensors`` state (NumPy arrays) with each int8 ``weight`` times its
    per-output-channel ``weight_scale``: a float ``state_dict`` again."""
    out = {}
    for name, value in int8_tensors.items():
        if name.endswith(".weight_scale"):
            continue
        scale = int8_tensors.get(name[: -len("weight")] + "weight_scale")
        if value.dtype == np.int8 and scale is not None:
            shape = (-1,) + (1,) * (value.ndim - 1)
            value = value.astype(np.float32) * scale.reshape(shape)
        out[name] = value
    return out
