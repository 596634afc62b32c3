"""Checks an octet export against octet's own logits, in NumPy (run by tests/export.rs).

    python check_export.py EXPORT_DIR BATCH_FILE

EXPORT_DIR holds ``model.safetensors`` and ``model-int8.safetensors``; BATCH_FILE is a
safetensors file with ``x`` (a batch of normalized NHWC inputs, F32) and ``logits`` (octet's
logits of it). Checked:

1. ``model.safetensors`` holds exactly the names, shapes and dtypes the definitions of
   ``octet_models.py`` declare for the architecture in its metadata;
2. the NumPy forward of those definitions, in NCHW (float64), gives octet's logits within
   ``FP32_TOL`` times the largest logit magnitude;
3. ``model-int8.safetensors`` holds the same names, with each quantized weight I8 and an F32
   ``weight_scale`` [out, 1] that puts every weight within half a step (+ 1e-4 for rounding) of the F32 one; its
   dequantized forward gives octet's logits within ``INT8_TOL`` times the largest logit.

Prints one JSON line of the measured differences; exits 1 naming what failed.
"""

import json
import sys

import numpy as np
from safetensors.numpy import load_file

import octet_models

FP32_TOL = 1e-4
INT8_TOL = 0.05


def fail(why):
    print(f"FAIL: {why}", file=sys.stderr)
    sys.exit(1)


def check_declared(net, tensors, what):
    declared = net.shapes()
    have = {k: v for k, v in tensors.items() if not k.endswith(".weight_scale")}
    missing = sorted(set(declared) - set(have))
    extra = sorted(set(have) - set(declared))
    if missing or extra:
        fail(f"{what}: missing {missing}, not declared {extra}")
    for name, shape in declared.items():
        if tuple(have[name].shape) != tuple(shape):
            fail(f"{what}: {name} has shape {have[name].shape}, declared {shape}")
        dtype = have[name].dtype
        if name.endswith("num_batches_tracked"):
            ok = dtype == np.int64
        else:
            ok = dtype in (np.float32, np.int8)
        if not ok:
            fail(f"{what}: {name} is {dtype}")


def main(export_dir, batch_file):
    meta = octet_models.read_metadata(f"{export_dir}/model.safetensors")
    if meta.get("format") != "pt":
        fail(f"format is {meta.get('format')!r}, expected 'pt'")
    net = octet_models.from_metadata(meta)
    fp32 = load_file(f"{export_dir}/model.safetensors")
    check_declared(net, fp32, "model.safetensors")
    c, h, w = meta["input"]
    if len(meta["mean"]) != c or len(meta["std"]) != c:
        fail(f"normalization {meta['mean']} / {meta['std']} for {c} channels")

    batch = load_file(batch_file)
    x = batch["x"].reshape(-1, h, w, c).transpose(0, 3, 1, 2)  # NHWC -> NCHW
    want = batch["logits"].astype(np.float64)
    scale = max(np.abs(want).max(), 1e-6)
    got = net.forward_numpy(x, fp32)
    fp32_diff = float(np.abs(got - want).max())
    if fp32_diff > FP32_TOL * scale:
        fail(f"F32 logits differ by {fp32_diff} (tolerance {FP32_TOL * scale})")

    int8 = load_file(f"{export_dir}/model-int8.safetensors")
    check_declared(net, int8, "model-int8.safetensors")
    q_meta = octet_models.read_metadata(f"{export_dir}/model-int8.safetensors")
    weights = q_meta["quantization_config"]["config_groups"]["group_0"]["weights"]
    if (weights["num_bits"], weights["symmetric"], weights["strategy"]) != (8, True, "channel"):
        fail(f"scheme {weights}")
    quantized = [k for k, v in int8.items() if v.dtype == np.int8]
    if not quantized:
        fail("no int8 weight in model-int8.safetensors")
    deq = octet_models.dequantize(int8)
    for name in quantized:
        s = int8[name[: -len("weight")] + "weight_scale"]
        if s.shape != (int8[name].shape[0], 1) or s.dtype != np.float32:
            fail(f"{name}: weight_scale {s.shape} {s.dtype}")
        err = np.abs(deq[name] - fp32[name]).reshape(s.shape[0], -1)
        # Half a step, and the f32 rounding of the scale and of q · scale.
        if (err > s * (0.5 + 1e-4) + 1e-30).any():
            fail(f"{name}: a dequantized weight is {float((err / np.maximum(s, 1e-30)).max())} steps from the F32 one")
    for name in set(fp32) - set(quantized):
        if not np.array_equal(fp32[name], int8[name]):
            fail(f"{name} differs between the two files")
    got8 = net.forward_numpy(x, deq)
    int8_diff = float(np.abs(got8 - want).max())
    agree = float((got8.argmax(1) == want.argmax(1)).mean())
    if int8_diff > INT8_TOL * scale:
        fail(f"int8 logits differ by {int8_diff} (tolerance {INT8_TOL * scale})")
    print(json.dumps({
        "architecture": meta["architecture"], "rows": int(x.shape[0]),
        "max_abs_logit": scale, "fp32_max_abs_diff": fp32_diff,
        "int8_max_abs_diff": int8_diff, "int8_top1_agreement": agree,
        "int8_layers": len(quantized),
    }))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        fail("usage: check_export.py EXPORT_DIR BATCH_FILE")
    main(sys.argv[1], sys.argv[2])
