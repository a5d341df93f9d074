#!/usr/bin/env bash
# The main job: the product running, then the most complete showcase of its parts.
# Builds, installs the speech models, then `voxdial demo`: imports the 48-lead en-US demo
# list, starts synthetic customers and an agent phone (`voxdial phone`) and `voxdial run`
# on 127.0.0.1, and reports outcomes, hand-offs, turn latency at the wire, abandon rate and
# compliance blocks (JSON in data/demo/loop/report.json). Then: lints the scenario library,
# runs every conversation test with coverage, plays scripted calls in both locales through
# the dialogue engine and NLU, measures NLU accuracy on the held-out set, imports a messy
# GBK campaign list, dials it under the cn-collection policy (simulated lines), audits the
# ledger, simulates a day per pacing strategy with charts, then speech: TTS in both locales
# heard back by ASR, the bot holding a scenario's conversation on a real call (a sipp
# customer speaking from a pcap), a voicemail detected after the answer, and call-progress
# detection on its labelled set.
# Idempotent (starts from fresh demo folders); needs Rust, and apt for sipp when it is
# missing. Output files go to data/demo/.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo >/dev/null || { echo "cargo not found: install Rust (rustup) first" >&2; exit 1; }
bash scripts/setup.sh
cargo build --locked --release --quiet
bin=target/release/voxdial
$bin models install
out=data/demo
rm -rf "$out" && mkdir -p "$out"
echo "== voxdial demo: the product running on 127.0.0.1 (campaign demo-en, 48 leads)"
$bin demo --dir "$out/loop"
echo "(report JSON: $out/loop/report.json)"
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
db="$out/voxdial.db"
echo "== campaign import: a GBK list with bad rows, duplicates and a shared number"
$bin --db "$db" campaign suppress --phone "$(sed -n 30p demo/lists/collection_m1.csv | iconv -f GB18030 -t UTF-8 | cut -d, -f3)" --reason complaint
$bin --db "$db" campaign import demo/lists/collection_m1.csv --campaign m1-demo \
  --scenario collection_m1_overdue --policy cn-collection --set creditor=安心消费金融 \
  --rejects "$out/collection_m1.rejects.csv"
echo "== re-import (idempotent)"
$bin --db "$db" campaign import demo/lists/collection_m1.csv --campaign m1-demo \
  --scenario collection_m1_overdue --set creditor=安心消费金融 --rejects "$out/collection_m1.rejects.csv"
echo "== campaign run: two virtual days under cn-collection, 8 agents (simulated lines)"
$bin --db "$db" campaign run m1-demo --simulate --days 2 --agents 8 --answer-rate 0.35 --seed 7
$bin --db "$db" campaign status m1-demo
echo "== ledger audit: every dial replayed against the policy"
$bin --db "$db" campaign audit m1-demo
echo "== a compliance day: 07:00-23:00 Shanghai under cn-collection, charts in $out/charts"
$bin simulate --config demo/sim/cn-collection-day.yaml --compare --charts "$out/charts"
echo "== campaign simulation: pacing strategies on the same seeded population (8 h, 50 agents)"
$bin simulate --compare --agents 50 --answer-rate 0.2 --leads 100000 --hours 8 --seed 7
echo "== bot-first: bots take every answer, 5 humans take escalations"
$bin simulate --compare --bot-first --agents 5 --bot-channels 60 --transfer-rate 0.1 --answer-rate 0.3 --leads 100000 --hours 8 --seed 7
echo "== Erlang C check (M/M/10, 8 Erlangs)"
$bin simulate --validate-erlang --arrival-rate 0.04444 --agents 10 --mean-handle-s 180 --hours 400 --seed 1
echo "== speech: prompts synthesized at the call's 8 kHz in both locales, heard back by the recognizers"
$bin tts "Hello, this is Anxin Bank calling about your card. Is now a good time?" --locale en-US -o "$out/tts_en.wav" --json
$bin asr "$out/tts_en.wav" --locale en-US --json
$bin tts "您好，这里是安心消费金融。您本期应还3,500.50元，请问今天方便还款吗？" --locale zh-CN -o "$out/tts_zh.wav" --json
$bin asr tests/data/whisper_clips/zh16.wav --locale zh-CN --json
echo "== the bot on a real call: a sipp customer (speech from a pcap) answers; ASR, NLU, prompts over RTP"
cargo run --locked --release --quiet --example customer_line -- "$out/customer_en" en-US 60 \
  "5=Yes, this is me." "26=Yes, I can pay it today."
(cd "$out/customer_en" && sipp -sf ../../../tests/sip/customer_speaks.xml -p 5483 -mp 26400 \
  -i 127.0.0.1 -mi 127.0.0.1 -m 1 -nostdin -timeout 120 -timeout_error >/dev/null 2>&1) &
sleep 0.5
$bin call sip:customer@127.0.0.1:5483 --scenario collection_m1_overdue --locale en-US \
  --today 2026-11-22 --hangup-after-s 90 --record "$out/bot_call_en.wav" --json > "$out/bot_call_en.json"
wait
python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); a=r["agent"]
for l in a["transcript"]: print("%6.1f s  %-8s %s" % (l["at_ms"]/1e3, l["who"], l.get("text") or l.get("prompt_id")))
print("outcome:", a["outcome"], "| hung up by:", r["hangup_by"], "| policy outcome:", r["policy_outcome"])
for t in a["turns"]: print("turn latency %.0f ms (endpoint %d ms + ASR wait %.0f ms + reply audio %.1f ms): %s" % (t["total_ms"], t["endpoint_ms"], t["asr_ms"], t["tts_first_ms"], t["text"]))' "$out/bot_call_en.json"
echo "== call-progress detection after the answer: a voicemail greeting answers, the bot hangs up"
cargo run --locked --release --quiet --example customer_line -- "$out/customer_vm" en-US 12 \
  "0.3=Hi, you have reached Sarah. I cannot take your call right now. Please leave a message after the tone."
(cd "$out/customer_vm" && sipp -sf ../../../tests/sip/customer_speaks.xml -p 5484 -mp 26500 \
  -i 127.0.0.1 -mi 127.0.0.1 -m 1 -nostdin -timeout 60 -timeout_error >/dev/null 2>&1) &
sleep 0.5
$bin call sip:customer@127.0.0.1:5484 --scenario collection_m1_overdue --locale en-US \
  --today 2026-11-22 --hangup-after-s 30
wait
echo "== call-progress detection on the labelled set (held-out half)"
cargo run --locked --release --quiet --example cpd_eval -- tests/data/cpd heldout
