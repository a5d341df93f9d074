//! The command-line contracts other tools and people rely on.

use serde_json::Value;
use std::io::Write;
use std::process::{Command, Stdio};

fn voxdial(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_voxdial"))
        .args(args)
        .output()
        .expect("run voxdial");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn nlu_prints_one_json_object_with_intent_confidence_and_slots() {
    let (code, out, err) = voxdial(&[
        "nlu",
        "--locale",
        "zh-CN",
        "--today",
        "2026-11-22",
        "我明天还三千五",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(out.trim()).expect("one JSON object");
    assert_eq!(v["intent"], "promise_to_pay", "{out}");
    let c = v["confidence"].as_f64().expect("confidence number");
    assert!((0.0..=1.0).contains(&c));
    assert_eq!(v["slots"]["date"], "2026-11-23", "{out}");
    assert_eq!(v["slots"]["amount"].as_f64(), Some(3500.0), "{out}");

    let (code, out, _) = voxdial(&[
        "nlu",
        "--locale",
        "en-US",
        "--today",
        "2026-11-22",
        "I'll pay two hundred bucks on the 15th",
    ]);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(out.trim()).expect("one JSON object");
    assert_eq!(v["intent"], "promise_to_pay", "{out}");
    assert_eq!(v["slots"]["date"], "2026-12-15", "{out}");
    assert_eq!(v["slots"]["amount"].as_f64(), Some(200.0), "{out}");
}

#[test]
fn nlu_with_unknown_scenario_is_a_clear_error() {
    let (code, _, err) = voxdial(&["nlu", "--scenario", "no_such_thing", "hello"]);
    assert_eq!(code, 2);
    assert!(err.contains("no_such_thing"), "{err}");
}

#[test]
fn chat_reads_piped_lines_and_prints_one_json_line_per_bot_turn() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_voxdial"))
        .args([
            "chat",
            "collection_m1_overdue",
            "--locale",
            "zh-CN",
            "--today",
            "2026-11-22",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all("是我\n我明天还\n".as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(lines.len(), 3, "greeting + one turn per customer line");
    assert_eq!(lines[0]["node"], "ask_is_customer");
    assert_eq!(lines[0]["action"], "listen");
    assert_eq!(lines[1]["node"], "disclose");
    assert_eq!(lines[1]["intent"], "affirm");
    assert!(lines[1]["text"]
        .as_str()
        .unwrap_or("")
        .contains("三千五百元五角"));
    assert_eq!(lines[2]["action"], "hangup");
    assert_eq!(lines[2]["outcome"], "promise_to_pay");
}

#[test]
fn check_fails_with_positions_on_a_broken_file_and_passes_on_the_library() {
    let (code, out, _) = voxdial(&["scenario", "check", "tests/fixtures/lint/unknown_node.yaml"]);
    assert_eq!(code, 1);
    assert!(
        out.contains("tests/fixtures/lint/unknown_node.yaml:10:11: error[unknown-node]"),
        "{out}"
    );
    let (code, out, err) = voxdial(&["scenario", "check", "scenarios", "dialogs"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.contains("0 errors"), "{err}");
}

#[test]
fn graph_draws_dot_and_mermaid() {
    let (code, dot, _) = voxdial(&[
        "scenario",
        "graph",
        "collection_m1_overdue",
        "--format",
        "dot",
    ]);
    assert_eq!(code, 0);
    assert!(dot.starts_with("digraph"));
    assert!(
        dot.contains("\"disclose\" -> \"check_promise\" [label=\"promise_to_pay\"]"),
        "{dot}"
    );
    let (code, mm, _) = voxdial(&[
        "scenario",
        "graph",
        "collection_m1_overdue",
        "--format",
        "mermaid",
    ]);
    assert_eq!(code, 0);
    assert!(mm.starts_with("flowchart LR"));
    assert!(mm.contains("\"promise_to_pay\""));
}

#[test]
fn scenario_test_runs_everything_and_reports_coverage() {
    let (code, out, err) = voxdial(&["scenario", "test"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("transition coverage:"));
    assert!(out.contains("collection_m1_overdue"));
    assert!(out.lines().any(|l| l.ends_with(", 0 failed")), "{out}");
}

#[test]
fn the_catalogue_in_docs_is_the_generated_one() {
    let (code, out, err) = voxdial(&[
        "--root",
        env!("CARGO_MANIFEST_DIR"),
        "scenario",
        "list",
        "--format",
        "markdown",
    ]);
    assert_eq!(code, 0, "{err}");
    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/scenarios.md"))
        .expect("docs/scenarios.md");
    assert!(
        docs == out,
        "docs/scenarios.md is stale: run `voxdial scenario list --format markdown > docs/scenarios.md`"
    );
}

// ---- issue 20 item 9 (h-policy): error texts, run output, simulate help ----

/// A cause printed twice ("os error 2: ... (os error 2)") means some error printed its
/// source in its own message and anyhow printed the chain again.
fn assert_no_repeated_cause(err: &str) {
    let line = err.lines().find(|l| l.starts_with("error:")).unwrap_or(err);
    let parts: Vec<&str> = line.split(": ").map(str::trim).collect();
    for (i, p) in parts.iter().enumerate() {
        if p.len() < 6 {
            continue;
        }
        for q in &parts[i + 1..] {
            assert!(!q.contains(p), "`{p}` repeated in: {line}");
        }
    }
    for marker in ["(os error", "database is locked"] {
        assert!(
            line.matches(marker).count() <= 1,
            "repeated {marker}: {line}"
        );
    }
}

#[test]
fn error_texts_print_each_cause_once() {
    let dir = tempfile::tempdir().expect("tmp");
    let missing = dir.path().join("missing.yaml");
    let (code, _, err) = voxdial(&["simulate", "--config", missing.to_str().expect("p")]);
    assert_ne!(code, 0);
    assert!(err.contains("missing.yaml"), "{err}");
    assert!(err.contains("os error 2"), "{err}");
    assert_no_repeated_cause(&err);
    // A policy path that exists but cannot be read as a file.
    let (code, _, err) = voxdial(&[
        "simulate",
        "--leads",
        "10",
        "--policy",
        dir.path().to_str().expect("p"),
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("os error"), "{err}");
    assert_no_repeated_cause(&err);
    let list = dir.path().join("nope.csv");
    let db = dir.path().join("v.db");
    let (code, _, err) = voxdial(&[
        "campaign",
        "import",
        list.to_str().expect("p"),
        "--campaign",
        "x",
        "--db",
        db.to_str().expect("p"),
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("nope.csv"), "{err}");
    assert_no_repeated_cause(&err);
}

#[test]
fn simulate_help_points_to_a_doc_that_exists() {
    let (code, out, _) = voxdial(&["simulate", "--help"]);
    assert_eq!(code, 0);
    let docs: Vec<&str> = out
        .split(|c: char| c.is_whitespace() || c == '(' || c == ')' || c == ';' || c == ',')
        .filter(|w| w.starts_with("docs/") && w.ends_with(".md"))
        .collect();
    assert!(!docs.is_empty(), "{out}");
    for d in docs {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(d);
        assert!(
            p.is_file(),
            "simulate --help points to {d}, which does not exist"
        );
    }
}

#[test]
fn simulate_prints_figures_with_units_by_default_and_json_only_when_asked() {
    let args = [
        "simulate", "--leads", "300", "--hours", "0.5", "--agents", "3",
    ];
    let (code, out, err) = voxdial(&args);
    assert_eq!(code, 0, "{err}");
    assert!(
        serde_json::from_str::<Value>(&out).is_err(),
        "JSON without --json: {out}"
    );
    assert!(
        out.contains("agent occupancy") && out.contains('%'),
        "{out}"
    );
    assert!(out.contains(" min") && out.contains(" s"), "{out}");
    let mut json_args = args.to_vec();
    json_args.push("--json");
    let (code, out, _) = voxdial(&json_args);
    assert_eq!(code, 0);
    assert_eq!(out.trim().lines().count(), 1, "{out}");
    let v: Value = serde_json::from_str(out.trim()).expect("one JSON object");
    assert!(v["calls_placed"].as_u64().is_some(), "{v}");
}
