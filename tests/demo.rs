//! `voxdial demo`: the report's arithmetic on fabricated records and phone logs, and one
//! end-to-end run of the product on 127.0.0.1 (speech models needed; skipped without).

#[allow(dead_code)]
#[path = "../src/cli/demo_report.rs"]
mod demo_report;

use demo_report::{abandon_rate, percentile, summarize, wire_latencies, CallFacts, HandoffFacts};
use serde_json::json;
use std::collections::BTreeMap;

#[test]
fn percentiles_are_nearest_rank() {
    let v: Vec<u64> = (1..=20).map(|i| i * 100).collect();
    assert_eq!(percentile(&v, 50.0), Some(1000));
    assert_eq!(percentile(&v, 95.0), Some(1900));
    assert_eq!(percentile(&v, 100.0), Some(2000));
    // Unsorted input, one value, none.
    assert_eq!(percentile(&[900, 100, 500], 50.0), Some(500));
    assert_eq!(percentile(&[700], 95.0), Some(700));
    assert_eq!(percentile::<u64>(&[], 50.0), None);
}

#[test]
fn abandon_rate_is_abandons_over_answered() {
    assert_eq!(abandon_rate(1, 40), 0.025);
    assert_eq!(abandon_rate(0, 12), 0.0);
    assert_eq!(abandon_rate(0, 0), 0.0);
}

fn customer_log(said: serde_json::Value, heard: serde_json::Value) -> serde_json::Value {
    json!({"persona": "cooperative", "result": "answered", "leg": {"said": said, "heard": heard}})
}

#[test]
fn wire_latency_pairs_a_lines_last_voice_with_the_next_bot_voice() {
    let log = customer_log(
        json!([
            {"text": "yes this is me", "at_ms": 1000, "voice_end_ms": 2000},
            {"text": "okay sure", "at_ms": 5000, "voice_end_ms": 6200}
        ]),
        json!([
            {"start_ms": 0, "end_ms": 900},
            {"start_ms": 2450, "end_ms": 4300},
            {"start_ms": 6900, "end_ms": 8000}
        ]),
    );
    assert_eq!(wire_latencies(&log), vec![450, 700]);
}

#[test]
fn wire_latency_skips_unanswered_turns_barge_ins_and_old_logs() {
    // The bot said nothing between the first line and the second: no pair for the first.
    let unanswered = customer_log(
        json!([
            {"text": "a", "at_ms": 1000, "voice_end_ms": 2000},
            {"text": "b", "at_ms": 4000, "voice_end_ms": 5000}
        ]),
        json!([{"start_ms": 4500, "end_ms": 4600}, {"start_ms": 5300, "end_ms": 7000}]),
    );
    // The 4500 segment overlaps line b (starts after line a's end but after b began).
    assert_eq!(wire_latencies(&unanswered), vec![300]);
    // The bot still talking when the line ends: barge-in, not a turn.
    let over = customer_log(
        json!([{"text": "a", "at_ms": 1000, "voice_end_ms": 2000}]),
        json!([{"start_ms": 500, "end_ms": 2600}, {"start_ms": 3000, "end_ms": 4000}]),
    );
    assert_eq!(wire_latencies(&over), Vec::<u64>::new());
    // A log without the voice end (written before it existed) gives no figure.
    let old = customer_log(
        json!([{"text": "a", "at_ms": 1000}]),
        json!([{"start_ms": 2500, "end_ms": 3000}]),
    );
    assert_eq!(wire_latencies(&old), Vec::<u64>::new());
    assert_eq!(
        wire_latencies(&json!({"result": "busy"})),
        Vec::<u64>::new()
    );
}

fn call(attempt: i64, outcome: &str, answered: bool) -> CallFacts {
    CallFacts {
        attempt,
        outcome: Some(outcome.into()),
        answered,
        ..CallFacts::default()
    }
}

#[test]
fn the_report_counts_outcomes_handoffs_and_agents() {
    let mut calls = vec![
        call(1, "connected", true),
        call(2, "connected", true),
        call(3, "busy", false),
        call(4, "abandoned", true),
        call(5, "voicemail", true),
        CallFacts {
            outcome: None,
            ..call(6, "", false)
        },
    ];
    calls[0].disposition = Some("promise_to_pay".into());
    calls[0].handoff = Some(HandoffFacts {
        attempt: 1,
        reason: "wants_human".into(),
        result: "reached_agent".into(),
        agent: None,
        failure: None,
        // The customer's phone refused REFER: voxdial bridged it, and an agent took it.
        method: Some("bridge".into()),
    });
    calls[1].handoff = Some(HandoffFacts {
        attempt: 2,
        reason: "wants_human".into(),
        result: "failed".into(),
        agent: None,
        failure: Some("603 Decline".into()),
        method: Some("refer".into()),
    });
    let customers = vec![customer_log(
        json!([{"text": "a", "at_ms": 0, "voice_end_ms": 1000}]),
        json!([{"start_ms": 1800, "end_ms": 3000}]),
    )];
    let agents = vec![
        json!({"agent": "collections", "result": "answered"}),
        json!({"agent": "collections", "result": "cancelled"}),
    ];
    let blocks = BTreeMap::from([("min_interval".to_string(), 3u64)]);
    let r = summarize(&calls, &customers, &agents, blocks.clone());
    assert_eq!(r.calls, 6);
    assert_eq!(r.answered, 4);
    assert_eq!(
        r.outcomes,
        BTreeMap::from([
            ("abandoned".to_string(), 1),
            ("busy".to_string(), 1),
            ("connected".to_string(), 2),
            ("in_flight".to_string(), 1),
            ("voicemail".to_string(), 1),
        ])
    );
    assert_eq!(r.dispositions.get("promise_to_pay"), Some(&1));
    assert_eq!(
        (
            r.transfers,
            r.transfers_reached_agent,
            r.transfer_failures,
            r.transfers_bridged
        ),
        (2, 1, 1, 1),
        "a bridged hand-off an agent took counts as reaching an agent"
    );
    assert_eq!(r.handoffs[0].agent.as_deref(), Some("collections"));
    assert_eq!(r.handoffs[1].failure.as_deref(), Some("603 Decline"));
    assert_eq!(r.agent_calls.get("collections"), Some(&1));
    assert_eq!(r.abandon_rate, 0.25);
    assert_eq!(r.compliance_blocks, blocks);
    assert_eq!(
        (r.turn_latency_p50_ms, r.turn_latency_p95_ms),
        (Some(800), Some(800))
    );
    assert!(!r.bar.answered_at_least_20);
    assert!(r.bar.handoff_reached_agent);
    assert!(r.bar.turn_latency_p95_at_most_1000_ms);
    let v = serde_json::to_value(&r).unwrap();
    for key in [
        "calls",
        "answered",
        "transfers",
        "transfers_reached_agent",
        "transfers_bridged",
        "transfer_failures",
        "turn_latency_p50_ms",
        "turn_latency_p95_ms",
        "abandon_rate",
        "outcomes",
    ] {
        assert!(v.get(key).is_some(), "key {key} in {v}");
    }
}

/// The whole loop: `voxdial demo --json --leads 8` imports, runs the service against
/// synthetic phones, and reports; no child process survives it.
#[cfg(feature = "speech")]
#[test]
fn the_demo_runs_the_product_end_to_end() {
    use std::path::Path;
    use std::process::Command;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    if !root.join("data/models/asr").is_dir() || !root.join("data/models/tts").is_dir() {
        eprintln!("skipping: speech models missing (scripts/setup.sh installs them)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("loop");
    let out = Command::new(env!("CARGO_BIN_EXE_voxdial"))
        .current_dir(root)
        .args([
            "demo",
            "--json",
            "--leads",
            "8",
            "--timeout-s",
            "240",
            "--dir",
        ])
        .arg(&dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "demo failed: {stderr}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for key in [
        "calls",
        "answered",
        "transfers",
        "transfers_reached_agent",
        "transfer_failures",
        "turn_latency_p50_ms",
        "turn_latency_p95_ms",
        "abandon_rate",
        "outcomes",
    ] {
        assert!(v.get(key).is_some(), "key {key} in {v}");
    }
    assert!(v["answered"].as_u64().unwrap() >= 1, "{v}");
    assert!(dir.join("report.json").is_file());
    // No process still carries the run's folder in its command line.
    let needle = dir.to_string_lossy().to_string();
    let mut left = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmd) = std::fs::read(e.path().join("cmdline")) {
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            if cmd.contains(&needle) {
                left.push(cmd);
            }
        }
    }
    assert!(left.is_empty(), "children left behind: {left:?}");
}
