#!/usr/bin/env bash
# The test suite: formatting, lints, unit + integration tests (including every
# scenario's conversation tests, and SIP calls against sipp and baresip on 127.0.0.1).
# Idempotent; needs the Rust toolchain and apt (for sipp and baresip, installed when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo >/dev/null || { echo "cargo not found: install Rust (rustup) first" >&2; exit 1; }
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt >/dev/null 2>&1 || true
# Real SIP peers for the telephony tests (Debian's sipp and baresip), installed once.
if ! command -v sipp >/dev/null || ! command -v baresip >/dev/null; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get install -y sip-tester baresip >/dev/null 2>&1 || {
    $SUDO apt-get update >/dev/null && $SUDO apt-get install -y sip-tester baresip >/dev/null
  }
fi
cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --locked --all-targets
# Scenario conversation tests through the real CLI, with the coverage report.
cargo run --locked --quiet -- scenario check scenarios dialogs
cargo run --locked --quiet -- scenario test
