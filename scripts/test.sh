#!/usr/bin/env bash
# The test suite: formatting, lints, unit + integration tests (including every
# scenario's conversation tests, SIP calls against sipp and baresip on 127.0.0.1, and the
# speech path with the real models: VAD, ASR, TTS, prompt cache, call-progress set).
# Idempotent; needs the Rust toolchain, apt and pip (scripts/setup.sh installs the rest).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo >/dev/null || { echo "cargo not found: install Rust (rustup) first" >&2; exit 1; }
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt >/dev/null 2>&1 || true
# Debian packages (sipp, baresip, espeak-ng, sox, cmake, libclang) and the speech models.
bash scripts/setup.sh
cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
# Idempotent: adds what a newer catalogue has (e.g. converted weights) to an existing install.
cargo run --locked --quiet -- models install >/dev/null
cargo test --locked --all-targets
# Scenario conversation tests through the real CLI, with the coverage report.
cargo run --locked --quiet -- scenario check scenarios dialogs
cargo run --locked --quiet -- scenario test
