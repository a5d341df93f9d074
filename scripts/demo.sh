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
echo "== campaign simulation: pacing strategies on the same seeded population (8 h, 50 agents)"
$bin simulate --compare --agents 50 --answer-rate 0.2 --leads 100000 --hours 8 --seed 7
echo "== bot-first: bots take every answer, 5 humans take escalations"
$bin simulate --compare --bot-first --agents 5 --bot-channels 60 --transfer-rate 0.1 --answer-rate 0.3 --leads 100000 --hours 8 --seed 7
echo "== Erlang C check (M/M/10, 8 Erlangs)"
$bin simulate --validate-erlang --arrival-rate 0.04444 --agents 10 --mean-handle-s 180 --hours 400 --seed 1
