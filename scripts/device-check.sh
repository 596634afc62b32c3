#!/usr/bin/env bash
# scripts/device-check.sh OUT_DIR [--quick] [--peer FILE] [--build-only | --run-only]
#
# One prepared command for a GPU machine: the conformance tool (quick set) and the bench (GEMM
# 1024/2048/4096 f32 and i8, the LeNet-5 and ResNet convolution GEMMs, MLP, LeNet-5 and ResNet
# steps at batch 64 and 256, the adapter's fma and dot4I8Packed ceilings), written to OUT_DIR as
# conformance.json, conformance.md, bench.json and summary.md (bench.txt: every figure as it is
# measured). About 35 s on an H200.
#
#   --quick       the same on a CPU driver (lavapipe) in a few minutes: GEMM 512/1024, MLP and
#                 LeNet-5 at batch 64
#   --peer FILE   the Burn peer's output (its RESULT lines, from the burn-bench peer program's
#                 scripts/run.sh run beforehand on the same machine) beside octet's figures
#   --build-only  build stripped binaries into target/device-check/ (and copy the Vulkan loader
#                 and GL dispatch libraries), for a machine without Rust: carry that folder and
#                 run --run-only there
#   --run-only    run from target/device-check/ without building
set -euo pipefail
cd "$(dirname "$0")/.."

out=""; quick=0; peer=""; build=1; run=1
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) quick=1 ;;
        --peer) peer=$(realpath "$2"); shift ;;
        --build-only) run=0 ;;
        --run-only) build=0 ;;
        -*) echo "device-check: unknown option $1" >&2; exit 2 ;;
        *) out="$1" ;;
    esac
    shift
done
bundle=target/device-check

if [ "$build" = 1 ]; then
    cargo build --release --example bench --example conformance
    mkdir -p "$bundle/lib"
    for b in bench conformance; do
        strip -o "$bundle/$b" "target/release/examples/$b"
    done
    # The Vulkan loader, and the vendor-neutral GL libraries that NVIDIA's Vulkan driver (an ICD
    # inside libGLX_nvidia) links against, for a machine whose driver is installed without them.
    for lib in libvulkan.so.1 libGLdispatch.so.0 libGLX.so.0 libEGL.so.1 libOpenGL.so.0; do
        cp -L "/usr/lib/x86_64-linux-gnu/$lib" "$bundle/lib/" 2>/dev/null || true
    done
    du -sh "$bundle"
fi
[ "$run" = 1 ] || exit 0
[ -n "$out" ] || { echo "usage: scripts/device-check.sh OUT_DIR [--quick] [--peer FILE]" >&2; exit 2; }
mkdir -p "$out"
out=$(realpath "$out")

if [ -z "${XDG_RUNTIME_DIR:-}" ] || [ ! -w "${XDG_RUNTIME_DIR}" ]; then
    export XDG_RUNTIME_DIR=$(mktemp -d)
    chmod 700 "$XDG_RUNTIME_DIR"
fi
# The system's libraries first; the bundled ones only where no Vulkan loader is installed.
if ! ldconfig -p 2>/dev/null | grep -q libvulkan.so.1; then
    export LD_LIBRARY_PATH="$PWD/$bundle/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
export WGPU_BACKEND=${WGPU_BACKEND:-vulkan}
# The autotuner measures afresh and keeps nothing outside OUT_DIR.
export OCTET_AUTOTUNE="$out/gemm-tune.json"

if [ "$quick" = 1 ]; then
    bench_args=(--sizes 512,1024 --convs 3 --models mlp,lenet5 --batches 64 --steps 21)
else
    # Per-kernel times of every step (timestamps inside the pass where the adapter has them).
    bench_args=(--sizes 1024,2048,4096 --convs 5 --models mlp,lenet5,resnet --batches 64,256 --steps 21
        --profile)
fi
bench_args+=(--policies fp32,naive,ui8-kept,dai8 --ceiling)
[ -n "$peer" ] && bench_args+=(--peer "$peer")

started=$(date +%s)
status=0
"$bundle/conformance" --quick --json "$out/conformance.json" --markdown "$out/conformance.md" \
    > "$out/conformance.txt" 2>&1 || status=$?
echo "device-check: conformance exit $status ($(( $(date +%s) - started )) s)"
"$bundle/bench" "${bench_args[@]}" --json "$out/bench.json" --markdown "$out/summary.md" \
    > "$out/bench.txt" 2>&1 || status=$?
echo "device-check: bench done ($(( $(date +%s) - started )) s), exit $status"
cat "$out/conformance.md" >> "$out/summary.md" 2>/dev/null || true
exit "$status"
