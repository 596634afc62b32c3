#!/usr/bin/env bash
# Runs the default training (`cargo run --release --example train`: LeNet-5, DAI8, the embedded
# Fashion-MNIST subset) on Vulkan and checks that its per-step losses, final accuracy and every
# checkpoint tensor are bit for bit those of tests/reference/default-run.json — the check that a
# change which must not change results (a move, a split, a faster kernel computing the same
# bits) did not. The reference was recorded on lavapipe (Mesa 22.3.6); another driver rounds f32
# differently, so compare there against a fingerprint of the same driver:
#   scripts/same-run.sh [--record]   (--record rewrites the reference from this run)
set -euo pipefail
cd "$(dirname "$0")/.."
reference=tests/reference/default-run.json
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
if [ -z "${XDG_RUNTIME_DIR:-}" ]; then
    export XDG_RUNTIME_DIR="$out/xdg"
    mkdir -m 700 "$XDG_RUNTIME_DIR"
fi
cargo build --release --example train
# Autotune choices never change bits; "memory" keeps the user's cache file out of the check.
WGPU_BACKEND=${WGPU_BACKEND:-vulkan} OCTET_AUTOTUNE=memory target/release/examples/train \
    --report "$out/report.json" --checkpoint-dir "$out/ckpt" > "$out/log.txt"
python3 scripts/fingerprint.py "$out/report.json" "$out/ckpt/last.safetensors" > "$out/run.json"
if [ "${1:-}" = "--record" ]; then
    cp "$out/run.json" "$reference"
    echo "same-run: reference recorded"
    exit 0
fi
if cmp -s "$out/run.json" "$reference"; then
    echo "same-run: identical losses, accuracy and checkpoint tensors"
else
    diff <(head -c 2000 "$reference") <(head -c 2000 "$out/run.json") || true
    echo "same-run: the run differs from $reference" >&2
    exit 1
fi
