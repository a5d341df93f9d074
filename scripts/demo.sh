#!/usr/bin/env bash
# The main job: the most complete end-to-end run voxdial can do so far.
# Builds, lints the scenario library, runs every conversation test with coverage,
# then plays scripted calls in both locales through the dialogue engine and NLU,
# and measures NLU accuracy on the held-out set. Idempotent; needs only Rust.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo >/dev/null || { echo "cargo not found: install Rust (rustup) first" >&2; exit 1; }
cargo build --locked --release --quiet
bin=target/release/voxdial
echo "== scenario check"
$bin scenario check scenarios dialogs
echo "== scenario test (conversation tests + transition coverage)"
$bin scenario test --today 2026-11-22
for script in demo/*.txt; do
  [ -e "$script" ] || continue
  name=$(basename "$script" .txt)
  scenario=${name%%.*}
  locale=${name#*.}
  echo "== chat $scenario ($locale) from $script"
  $bin chat "$scenario" --locale "$locale" --today 2026-11-22 --script "$script"
done
echo "== NLU on held-out utterances"
cargo run --locked --release --quiet --example nlu_eval -- tests/data/nlu_heldout.tsv
