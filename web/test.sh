#!/usr/bin/env bash
# The browser test: octet built for wasm32 on WebGPU, run in headless Chromium (SwiftShader).
# Installs what it needs (Debian's chromium-headless-shell, the wasm32 target, wasm-bindgen-cli at
# the version Cargo.lock pins), builds web/pkg, serves the repository on 127.0.0.1 and drives the
# page's test mode (web/index.html?test) through the DevTools protocol. It fails unless every quick
# conformance case passes in the browser, one DAI8 LeNet-5 step replayed dispatch by dispatch
# matches the CPU twins (integers bit for bit), 50 DAI8 steps lower the loss, a checkpoint round
# trip works and the initial weights equal the native build's. Last line:
# `web: N passed, M failed`.
#   web/test.sh [--screenshot FILE.png]   (also takes a screenshot of the demo after training)
#   web/test.sh --build-only              (builds web/pkg for the demo page, tests nothing)
set -euo pipefail
cd "$(dirname "$0")/.."

rustup target list --installed | grep -qx wasm32-unknown-unknown ||
    rustup target add wasm32-unknown-unknown

# wasm-bindgen's CLI must be the version of the wasm-bindgen crate in Cargo.lock.
version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print }' Cargo.lock)
tools=target/web-tools
if ! "$tools/bin/wasm-bindgen" --version 2>/dev/null | grep -q " $version\$"; then
    started=$SECONDS
    # --locked first; a registry mirror that lacks one of its pinned dependencies gets the
    # newest compatible ones instead.
    cargo install -q wasm-bindgen-cli --version "=$version" --locked --root "$tools" ||
        cargo install -q wasm-bindgen-cli --version "=$version" --root "$tools"
    echo "web: wasm-bindgen-cli $version built in $((SECONDS - started)) s"
fi

started=$SECONDS
cargo clippy -q --release --target wasm32-unknown-unknown -p octet-web -- -D warnings
cargo build -q --release --target wasm32-unknown-unknown -p octet-web
"$tools/bin/wasm-bindgen" --target web --out-dir web/pkg \
    target/wasm32-unknown-unknown/release/octet_web.wasm
echo "web: wasm built in $((SECONDS - started)) s"
[ "${1:-}" = "--build-only" ] && exit 0

need=()
for pkg in chromium-headless-shell python3; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${need[@]}"
fi

# Mesa and Chromium warn without a private runtime directory.
XDG_RUNTIME_DIR=$(mktemp -d)
trap 'rm -rf "$XDG_RUNTIME_DIR"' EXIT
chmod 700 "$XDG_RUNTIME_DIR"
export XDG_RUNTIME_DIR TMPDIR="$XDG_RUNTIME_DIR"
mkdir -p target/web
status=0
python3 web/drive.py --test target/web/report.json \
    --fingerprint tests/reference/lenet5-init-fingerprint.txt --timeout 900 || status=$?
if [ "${1:-}" = "--screenshot" ]; then
    python3 web/drive.py --screenshot "$2" --timeout 900
fi
exit "$status"
