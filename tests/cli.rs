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
// Issue 20, item 6: resource exhaustion. `asr` refuses absurd WAV headers and overlong
// files before any work; `trunk check` names a missing password's variable before sending
// anything, and an unreachable or silent proxy fails fast, naming the address and the wait.

/// A canonical 44-byte PCM WAV header with whatever the fields say, then `payload`.
#[cfg(feature = "speech")]
fn crafted_wav(rate: u32, payload: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&(36 + payload.len() as u32).to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    b.extend_from_slice(&16u32.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes()); // PCM
    b.extend_from_slice(&1u16.to_le_bytes()); // mono
    b.extend_from_slice(&rate.to_le_bytes());
    b.extend_from_slice(&(rate * 2).to_le_bytes());
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&16u16.to_le_bytes());
    b.extend_from_slice(b"data");
    b.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    b.extend_from_slice(payload);
    b
}

#[cfg(feature = "speech")]
#[test]
fn asr_refuses_a_one_hertz_header_and_an_overlong_file_with_clear_errors() {
    let dir = tempfile::tempdir().expect("tmp");
    let one_hz = dir.path().join("one_hz.wav");
    std::fs::write(&one_hz, crafted_wav(1, &[0u8; 32_000])).expect("write");
    let (code, out, err) = voxdial(&["asr", one_hz.to_str().expect("utf-8")]);
    assert_ne!(code, 0, "{out}");
    assert!(
        err.contains("one_hz.wav") && err.contains("`sample rate` says 1 Hz"),
        "{err}"
    );
    // Two seconds of audio against a limit of 0.01 min (0.6 s).
    let long = dir.path().join("long.wav");
    std::fs::write(&long, crafted_wav(8000, &[0u8; 32_000])).expect("write");
    let (code, _, err) = voxdial(&[
        "asr",
        "--max-minutes",
        "0.01",
        long.to_str().expect("utf-8"),
    ]);
    assert_ne!(code, 0);
    assert!(
        err.contains("long.wav") && err.contains("lasts 2 s") && err.contains("--max-minutes"),
        "{err}"
    );
}

fn trunks_file(dir: &std::path::Path, proxy: std::net::SocketAddr, register: bool) -> String {
    let p = dir.join("trunks.yaml");
    let reg = if register {
        "    register: true\n    username: bot\n    password_env: VOXDIAL_TEST_TRUNK_PASSWORD\n"
    } else {
        ""
    };
    std::fs::write(
        &p,
        format!(
            "trunks:\n  - name: carrier\n    proxy: {proxy}\n    channels: 2\n    cps: 1\n{reg}"
        ),
    )
    .expect("write");
    p.to_str().expect("utf-8").to_string()
}

fn voxdial_password(args: &[&str], password: Option<&str>) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_voxdial"));
    cmd.args(args);
    match password {
        Some(p) => cmd.env("VOXDIAL_TEST_TRUNK_PASSWORD", p),
        None => cmd.env_remove("VOXDIAL_TEST_TRUNK_PASSWORD"),
    };
    let out = cmd.output().expect("run voxdial");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn trunk_check_names_the_missing_password_variable_before_sending_anything() {
    let proxy = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    proxy.set_nonblocking(true).expect("nonblocking");
    let dir = tempfile::tempdir().expect("tmp");
    let file = trunks_file(dir.path(), proxy.local_addr().expect("addr"), true);
    for (password, says) in [(Some(""), "is empty"), (None, "is not set")] {
        let (code, out, err) =
            voxdial_password(&["trunk", "check", &file, "--timeout-s", "30"], password);
        assert_ne!(code, 0, "{out}");
        assert!(
            err.contains("trunk carrier") && err.contains("VOXDIAL_TEST_TRUNK_PASSWORD"),
            "{err}"
        );
        assert!(err.contains(says), "{err}");
    }
    let mut buf = [0u8; 2048];
    let sent = proxy.recv_from(&mut buf);
    assert!(
        sent.as_ref()
            .is_err_and(|e| e.kind() == std::io::ErrorKind::WouldBlock),
        "something was sent to the proxy: {sent:?}"
    );
}

#[test]
fn trunk_check_on_a_closed_port_fails_at_once_naming_the_address() {
    // A port nothing listens on: the OS answers with ICMP port unreachable.
    let closed = std::net::UdpSocket::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr");
    let dir = tempfile::tempdir().expect("tmp");
    let file = trunks_file(dir.path(), closed, false);
    // A long timeout: only the unreachable report can end this with this error.
    let (code, out, err) = voxdial(&["trunk", "check", &file, "--timeout-s", "120"]);
    assert_eq!(code, 1, "{out}\n{err}");
    let v: Value = serde_json::from_str(out.trim()).expect("one JSON line");
    assert_eq!(v["ok"], false, "{out}");
    let e = v["error"].as_str().unwrap_or_default();
    assert!(
        e.contains(&closed.to_string()) && e.contains("unreachable"),
        "{out}"
    );
    assert!(
        err.contains(&format!("OPTIONS sent to {closed}, waiting up to 120 s")),
        "{err}"
    );
}

#[test]
fn trunk_check_on_a_silent_proxy_says_no_answer_after_its_timeout() {
    // Bound, so no ICMP comes back, but it never answers.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let addr = silent.local_addr().expect("addr");
    let dir = tempfile::tempdir().expect("tmp");
    let file = trunks_file(dir.path(), addr, false);
    let (code, out, err) = voxdial(&["trunk", "check", &file, "--timeout-s", "1"]);
    assert_eq!(code, 1, "{out}\n{err}");
    let v: Value = serde_json::from_str(out.trim()).expect("one JSON line");
    assert_eq!(
        v["error"],
        format!("no answer from {addr} to OPTIONS after 1 s"),
        "{out}"
    );
    assert!(err.contains("waiting up to 1 s"), "{err}");
    drop(silent);
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
