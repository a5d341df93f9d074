//! `voxdial run` in agent-first mode end to end on 127.0.0.1: an agent-first campaign
//! dials `voxdial phone customers` with one agent (`voxdial phone agents` at a fixed
//! contact) behind its built-in queue. Four lines answer at once: three people and a
//! voicemail. The voicemail is hung up on by call-progress detection and never reaches
//! the queue; one person is bridged to the agent, whose phone gets the call's
//! `X-Voxdial-*` context and the customer's voice; the two others find no free agent
//! within the policy's two seconds, hear its abandon message and are recorded as
//! abandoned. The abandon message is voiced with the campaign locale's TTS voice, so the
//! test needs the speech models (`scripts/setup.sh`) and skips without them. Fixed ports:
//! run under `flock /tmp/voxdial-sip.lock`.

mod common;
use common::{bin, root, Phone};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;
use voxdial::store::sqlite::SqliteStore;
use voxdial::store::{CallFilter, Store};

const VOXDIAL: &str = "127.0.0.1:5731";
const CUSTOMERS: &str = "127.0.0.1:5732";
const AGENT: &str = "127.0.0.1:5733";

const POLICY: &str = r#"name: agent-first-test
description: calls at any hour; abandoned when no agent takes the call within 2 s
default_timezone: America/New_York
calling_hours:
  all: "00:00-24:00"
retry:
  abandoned: { delays: [1d], max_tries: 2 }
  voicemail: { delays: [1d], max_tries: 2 }
  no_answer: { delays: [1d], max_tries: 2 }
  failed: { delays: [1d], max_tries: 2 }
abandon:
  max_rate: 0.03
  after_s: 2
min_ring_s: 2
abandon_message:
  caller: Acme Recovery
  callback: "+1 800 555 0100"
  text:
    en-US: "This is {caller}. Sorry, nobody was free to take our call. Please call us back on {callback}."
"#;

const PERSONAS: &str = r#"locale: en-US
numbers:
  "+12125550704": voicemail
personas:
  talker:
    weight: 1
    ring_s: 0.3
    behaviour: cooperative
    hangup_after_s: 20
    max_call_s: 40
    lines:
      en-US: ["yes this is me", "okay sure"]
      zh-CN: ["是我", "可以的"]
  voicemail:
    weight: 0
    answer: voicemail
    ring_s: 0.3
    behaviour: silent
    max_call_s: 20
"#;

fn config(dir: &Path) -> PathBuf {
    let y = format!(
        r#"sip: {{listen: {VOXDIAL}}}
database: voxdial.db
recordings: recordings
ring_timeout_s: 8
speech:
  data: data
  config: {speech}
trunks:
  - {{name: t, proxy: {CUSTOMERS}, channels: 8, cps: 10}}
queues:
  - name: care
    max_wait_s: 20
    ring_timeout_s: 5
    wrap_up_s: 1
    agents:
      - {{user: '1001', contact: 'sip:1001@{AGENT}'}}
campaigns:
  - name: af
    mode: agent_first
    locale: en-US
    pacing: {{strategy: ratio, ratio: 4}}
    queue: care
    trunks: [t]
"#,
        speech = root().join("voices/speech.yaml").display()
    );
    let p = dir.join("voxdial.yaml");
    std::fs::write(&p, y).expect("config");
    p
}

fn voxdial(dir: &Path, args: &[&str]) -> Output {
    bin()
        .current_dir(dir)
        .args(args)
        .env("VOXDIAL_DB", dir.join("voxdial.db"))
        .env("VOXDIAL_ROOT", root())
        .output()
        .expect("run voxdial")
}

fn import(dir: &Path) {
    let mut csv = String::from("customer_id,phone,timezone\n");
    for i in 1..=4 {
        csv.push_str(&format!("D{i},+1 212 555 070{i},America/New_York\n"));
    }
    std::fs::write(dir.join("af.csv"), csv).expect("list");
    std::fs::write(dir.join("policy.yaml"), POLICY).expect("policy");
    let o = voxdial(
        dir,
        &[
            "campaign",
            "import",
            "af.csv",
            "--campaign",
            "af",
            "--policy",
            "policy.yaml",
            "--region",
            "US",
            "--json",
        ],
    );
    assert!(
        o.status.success(),
        "import: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn answered_calls_reach_the_free_agent_or_hear_the_abandon_message() {
    let models = root().join("data/models");
    if !models.join("tts").is_dir() {
        eprintln!("no speech models (scripts/setup.sh installs them): skipped");
        return;
    }
    let tmp = tempfile::tempdir().expect("tmp");
    let d = tmp.path();
    std::fs::create_dir_all(d.join("data")).expect("data");
    std::os::unix::fs::symlink(&models, d.join("data/models")).expect("models link");
    std::fs::write(d.join("personas.yaml"), PERSONAS).expect("personas");
    import(d);
    let voices = d.join("voices");
    let customers = Phone::start(
        &[
            "phone",
            "customers",
            "--personas",
            d.join("personas.yaml").to_str().expect("path"),
            "--listen",
            CUSTOMERS,
            "--voice",
            "tone",
            "--voice-cache",
            voices.to_str().expect("path"),
        ],
        60,
    );
    let agent = Phone::start(
        &[
            "phone",
            "agents",
            "--agent",
            "1001",
            "--listen",
            AGENT,
            "--answer-after-s",
            "0.2",
            "--say",
            "Hello, this is Anna from Acme Recovery, how can I help?",
            "--hangup-after-s",
            "6",
            "--voice",
            "tone",
            "--voice-cache",
            voices.to_str().expect("path"),
        ],
        60,
    );
    let cfg = config(d);
    let o = voxdial(
        d,
        &[
            "run",
            "--config",
            cfg.to_str().expect("path"),
            "--exit-when-idle",
            "--json",
        ],
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "voxdial run failed: {stderr}");
    let report: Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("run JSON ({e}): {}", String::from_utf8_lossy(&o.stdout)));
    let k = &report["campaigns"]["af"];
    assert_eq!(k["dials"], 4, "{report}\n{stderr}");
    assert_eq!(k["answered"], 4, "{report}");
    assert_eq!(k["connected"], 1, "{report}");
    assert_eq!(k["abandoned"], 2, "{report}");
    assert!(k["agent_talk_s"].as_f64().unwrap_or(0.0) > 3.0, "{report}");

    // The store: one call with the agent, two abandoned with the message, a voicemail.
    let store = SqliteStore::open(&d.join("voxdial.db")).expect("db");
    let calls = store
        .calls(&CallFilter {
            campaign: Some("af".into()),
            ..CallFilter::default()
        })
        .expect("calls");
    let outcome_of = |c: &voxdial::store::CallSummary| c.outcome.map(|o| o.as_str());
    let mut outcomes: Vec<_> = calls.iter().filter_map(outcome_of).collect();
    outcomes.sort();
    assert_eq!(
        outcomes,
        vec!["abandoned", "abandoned", "connected", "voicemail"],
        "{calls:?}"
    );
    for c in &calls {
        let detail = store
            .call(c.attempt)
            .expect("call")
            .and_then(|v| v.detail)
            .expect("record");
        match outcome_of(c) {
            Some("connected") => {
                let h = detail.handoff.expect("the queue's hand-off");
                assert_eq!(h.reason, "agent_first");
                assert_eq!(h.agent.as_deref(), Some("1001"));
                assert_eq!(h.result, voxdial::store::HandoffResult::ReachedAgent);
                assert_eq!(h.queue.as_deref(), Some("care"));
            }
            Some("abandoned") => {
                assert!(
                    detail
                        .compliance
                        .iter()
                        .any(|e| e.rule == "abandon_message"),
                    "{detail:?}"
                );
                let said = detail
                    .transcript
                    .iter()
                    .find(|t| t.prompt_id.as_deref() == Some("abandon_message"))
                    .expect("the message in the transcript");
                assert!(said.text.starts_with("This is Acme Recovery."), "{said:?}");
                assert!(detail.handoff.is_none(), "never reached the queue");
                // Abandoned only after the policy's two seconds, then the message.
                let answered = detail.answered_at_ms.expect("answered");
                assert!(detail.ended_at_ms - answered >= 2_000, "{detail:?}");
            }
            Some("voicemail") => {
                assert_eq!(c.phone, "+12125550704");
                assert!(detail.handoff.is_none(), "a machine is not given an agent");
            }
            other => panic!("unexpected outcome {other:?}"),
        }
    }

    // The agent's phone: one call, with the context and the customer's voice.
    let agent_logs = agent.logs();
    let answered: Vec<&Value> = agent_logs
        .iter()
        .filter(|l| l["result"] == "answered")
        .collect();
    assert_eq!(answered.len(), 1, "{agent_logs:?}");
    let a = answered[0];
    let context: Vec<(String, String)> =
        serde_json::from_value(a["context"].clone()).expect("context");
    let has = |k: &str| context.iter().any(|(key, v)| key == k && !v.is_empty());
    assert!(has("Campaign") && has("Lead") && has("Attempt"), "{a}");
    assert!(context.contains(&("Campaign".into(), "af".into())), "{a}");
    assert!(
        a["leg"]["voice_heard_ms"].as_u64().unwrap_or(0) > 200,
        "the agent heard the customer: {a}"
    );

    // The customers: every person heard a voice (the agent, or the abandon message).
    let customer_logs = customers.logs();
    let people: Vec<&Value> = customer_logs
        .iter()
        .filter(|l| l["persona"] == "talker")
        .collect();
    assert_eq!(people.len(), 3, "{customer_logs:?}");
    for p in &people {
        assert_eq!(p["result"], "answered", "{p}");
        let heard_ms: u64 = p["leg"]["heard"]
            .as_array()
            .map(|h| {
                h.iter()
                    .map(|s| {
                        s["end_ms"].as_u64().unwrap_or(0) - s["start_ms"].as_u64().unwrap_or(0)
                    })
                    .sum()
            })
            .unwrap_or(0);
        assert!(heard_ms > 1_000, "the customer heard speech: {p}");
    }

    // The ledger replays clean under the policy.
    let audit = voxdial(d, &["campaign", "audit", "af", "--json"]);
    let v: Value = serde_json::from_slice(&audit.stdout).expect("audit JSON");
    assert_eq!(v["violations"], serde_json::json!([]), "{v}");
}
