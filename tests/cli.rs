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

// ---------------------------------------------------------------------------------------
// Issue 20, item 1: hostile YAML. Each of these files aborted the whole process (stack
// overflow) or ran for minutes before; now the file is refused at file:line:col, skipped,
// and the rest of the library still loads. They run through the binary, so a regression
// fails the test instead of aborting the test harness.

/// A project with the shipped dialogs, one good scenario and one hostile file.
fn project_with(bad: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::create_dir_all(dir.path().join("dialogs")).expect("mkdir");
    std::fs::create_dir_all(dir.path().join("scenarios")).expect("mkdir");
    for e in std::fs::read_dir(root.join("dialogs")).expect("dialogs") {
        let p = e.expect("entry").path();
        if p.extension().is_some_and(|x| x == "yaml") {
            std::fs::copy(
                &p,
                dir.path()
                    .join("dialogs")
                    .join(p.file_name().expect("name")),
            )
            .expect("copy");
        }
    }
    std::fs::copy(
        root.join("scenarios/collection/m1_overdue.yaml"),
        dir.path().join("scenarios/m1_overdue.yaml"),
    )
    .expect("copy");
    std::fs::write(dir.path().join("scenarios/bad.yaml"), bad).expect("write");
    dir
}

/// `scenario check` on the project: it fails, names the bad file at `place` with
/// `message`, and still checked the good scenario.
fn check_refuses(bad: &str, place: &str, message: &str) {
    let dir = project_with(bad);
    let root = dir.path().to_str().expect("utf-8 path");
    let (code, out, err) = voxdial(&["--root", root, "scenario", "check"]);
    assert_eq!(code, 1, "{out}{err}");
    let file = format!("{root}/scenarios/bad.yaml:{place}");
    let what = format!(": error[yaml]: {message}");
    assert!(
        out.lines()
            .any(|l| l.starts_with(&file) && l.contains(&what)),
        "want {file}...{what}\n{out}{err}"
    );
    assert!(
        err.contains("checked 1 scenarios"),
        "the good one still loads: {err}"
    );
}

#[test]
fn ten_thousand_dashes_on_one_line_are_refused_not_a_crash() {
    check_refuses(
        &("- ".repeat(10_000) + "x\n"),
        "1:129",
        "nested more than 64 levels deep",
    );
}

#[test]
fn three_thousand_block_levels_are_refused_not_a_crash() {
    // Three thousand levels take 4.5 MB at one space each: refused for its size first.
    let text: String = (0..3000)
        .map(|i| format!("{}k:\n", " ".repeat(i)))
        .collect();
    check_refuses(&text, "", "the file is larger than 1048576 bytes");
    // Two hundred levels fit: refused for depth at the 65th.
    let text: String = (0..200).map(|i| format!("{}k:\n", " ".repeat(i))).collect();
    check_refuses(&text, "65:65", "nested more than 64 levels deep");
}

#[test]
fn a_hundred_thousand_brackets_are_refused_at_once() {
    check_refuses(
        &("nodes: ".to_string() + &"[".repeat(100_000) + "\n"),
        "1:71",
        "nested more than 64 levels deep",
    );
}

#[test]
fn an_oversize_scenario_is_refused_before_parsing() {
    let line = "# a comment line of forty bytes .......\n";
    let text = "id: huge\n".to_string() + &line.repeat(30_000);
    check_refuses(&text, "", "the file is larger than 1048576 bytes");
}

#[test]
fn one_bad_file_does_not_stop_a_command_that_needs_another_scenario() {
    let dir = project_with(&("- ".repeat(10_000) + "x\n"));
    let root = dir.path().to_str().expect("utf-8 path");
    let mut child = Command::new(env!("CARGO_BIN_EXE_voxdial"))
        .args([
            "--root",
            root,
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
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 3);
    assert!(
        err.contains("warning:") && err.contains("scenarios/bad.yaml:1:129: error[yaml]"),
        "the skipped file is named: {err}"
    );
    // Listing the catalogue works too, and warns.
    let (code, out, err) = voxdial(&["--root", root, "scenario", "list"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("collection_m1_overdue"), "{out}");
    assert!(err.contains("bad.yaml"), "{err}");
}
