//! `voxdial phone`: the synthetic customers and agents, called by `voxdial call` on
//! 127.0.0.1. Run under `flock /tmp/voxdial-sip.lock` (fixed ports).
//!
//! The phones speak with `--voice tone` (syllable-like bursts, no model) so these tests
//! check the telephony and the turn-taking, not a voice (that the demo personas' words
//! are what the demo scenario understands is a unit test of `phone::persona`).

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Each test its own ports: the tests of this file run in parallel.
const BUSY: &str = "127.0.0.1:5650";
const SPEAKS: &str = "127.0.0.1:5652";
const REFERS: &str = "127.0.0.1:5654";
const AGENT: &str = "127.0.0.1:5655";

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_voxdial"))
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A phone process, its JSON lines arriving on a channel; killed when dropped.
struct Phone {
    child: Child,
    lines: mpsc::Receiver<Value>,
}

impl Phone {
    fn start(args: &[&str]) -> Phone {
        let mut child = bin()
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start voxdial phone");
        let out = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    if tx.send(v).is_err() {
                        break;
                    }
                }
            }
        });
        let mut p = Phone { child, lines };
        let ready = p.next(60);
        assert!(ready["listening"].is_string(), "first line: {ready}");
        p
    }

    /// The next JSON line, waiting up to `secs`.
    fn next(&mut self, secs: u64) -> Value {
        self.lines
            .recv_timeout(Duration::from_secs(secs))
            .unwrap_or_else(|_| panic!("no line from the phone in {secs} s"))
    }
}

impl Drop for Phone {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn customers(dir: &Path, listen: &str) -> Phone {
    let cache = dir.join("voices");
    Phone::start(&[
        "phone",
        "customers",
        "--personas",
        root().join("demo/personas.yaml").to_str().expect("path"),
        "--listen",
        listen,
        "--seed",
        "7",
        "--voice",
        "tone",
        "--voice-cache",
        cache.to_str().expect("path"),
    ])
}

fn call(args: &[&str]) -> Value {
    let out = bin()
        .arg("call")
        .args(args)
        .arg("--json")
        .output()
        .expect("run voxdial call");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// 1.5 s of a voiced tone (the "bot's greeting"), then 5 s of silence, at 8 kHz.
fn greeting_wav(path: &Path) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).expect("wav");
    for i in 0..8000 * 13 / 2 {
        let t = i as f32 / 8000.0;
        let s = if i < 12000 {
            (6000.0 * (2.0 * std::f32::consts::PI * 300.0 * t).sin()) as i16
        } else {
            0
        };
        w.write_sample(s).expect("sample");
    }
    w.finalize().expect("wav");
}

#[test]
fn a_busy_persona_answers_486_and_logs_the_number_masked() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut phones = customers(dir.path(), BUSY);
    let r = call(&[&format!("sip:+15550000486@{BUSY}")]);
    assert_eq!(r["sip_code"], 486, "{r}");
    assert_eq!(r["outcome"], "busy", "{r}");
    let log = phones.next(10);
    assert_eq!(log["persona"], "busy", "{log}");
    assert_eq!(log["result"], "busy", "{log}");
    assert_eq!(log["number"], "********0486", "{log}");
    assert!(!log.to_string().contains("5550000486"), "{log}");
}

#[test]
fn an_answering_persona_waits_for_the_bot_then_speaks() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut phones = customers(dir.path(), SPEAKS);
    let play = dir.path().join("greeting.wav");
    greeting_wav(&play);
    let rec = dir.path().join("call.wav");
    let r = call(&[
        &format!("sip:+15550000200@{SPEAKS}"),
        "--play",
        play.to_str().expect("path"),
        "--record",
        rec.to_str().expect("path"),
        "--hangup-after-s",
        "5",
    ]);
    assert_eq!(r["sip_code"], 200, "{r}");
    let log = phones.next(10);
    assert_eq!(log["persona"], "cooperative", "{log}");
    let said = log["leg"]["said"].as_array().expect("said");
    assert_eq!(said.len(), 1, "one bot turn, one answer: {log}");
    assert_eq!(said[0]["text"], "yes this is me");
    // At the wire: the customer's channel (left) is quiet while the "bot" speaks (the
    // first 1.5 s after the answer) and carries speech after it has been quiet 700 ms.
    let mut rd = hound::WavReader::open(&rec).expect("recording");
    let rate = rd.spec().sample_rate as usize;
    let left: Vec<i16> = rd
        .samples::<i16>()
        .map(|s| s.expect("sample"))
        .step_by(2)
        .collect();
    let loud = |from_s: f32, to_s: f32| {
        let (a, b) = (
            (from_s * rate as f32) as usize,
            (to_s * rate as f32) as usize,
        );
        left[a.min(left.len())..b.min(left.len())]
            .iter()
            .filter(|s| s.abs() > 1000)
            .count()
    };
    assert_eq!(loud(0.0, 1.6), 0, "the customer talked over the bot");
    assert!(loud(2.0, 4.5) > 2000, "the customer's line is on the wire");
}

#[test]
fn a_refer_reaches_the_agent_phone_with_the_context_and_the_customer_talks_there() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut phones = customers(dir.path(), REFERS);
    let rec = dir.path().join("rec");
    let mut agent = Phone::start(&[
        "phone",
        "agents",
        "--agent",
        "alice",
        "--listen",
        AGENT,
        "--answer-after-s",
        "0.3",
        "--say",
        "hello this is Alice",
        "--hangup-after-s",
        "4",
        "--record-dir",
        rec.to_str().expect("path"),
        "--voice",
        "tone",
        "--voice-cache",
        dir.path().join("voices").to_str().expect("path"),
    ]);
    let r = call(&[
        &format!("sip:+15550000300@{REFERS}"),
        "--refer-to",
        &format!("sip:alice@{AGENT}"),
        "--refer-after-s",
        "1",
        "--context",
        "Reason=wants_human",
        "--hangup-after-s",
        "10",
    ]);
    assert_eq!(r["transfer"]["result"]["state"], "completed", "{r}");
    let a = agent.next(15);
    assert_eq!(a["result"], "answered", "{a}");
    assert_eq!(
        a["context"],
        serde_json::json!([["Reason", "wants_human"]]),
        "{a}"
    );
    assert_eq!(a["caller"], "********0300", "{a}");
    assert!(
        a["leg"]["voice_heard_ms"].as_u64().unwrap_or(0) > 500,
        "{a}"
    );
    assert!(
        Path::new(a["recording"].as_str().expect("recording")).exists(),
        "{a}"
    );
    let c = phones.next(15);
    assert_eq!(c["persona"], "asks_for_human", "{c}");
    let referred = &c["referred"];
    assert_eq!(referred["code"], 200, "{c}");
    assert_eq!(referred["target"], format!("sip:alice@{AGENT}"), "{c}");
    assert_eq!(
        referred["leg"]["said"][0]["text"], "hi, I'd like to talk about my loan payment",
        "the customer said its agent line to the agent: {c}"
    );
}

#[test]
fn a_bad_personas_file_is_refused_with_its_place() {
    let dir = tempfile::tempdir().expect("tmp");
    let f = dir.path().join("p.yaml");
    std::fs::write(&f, "personas:\n  a:\n    behaviour: chatty\n").expect("write");
    let out = bin()
        .args(["phone", "customers", "--personas"])
        .arg(&f)
        .args(["--listen", "127.0.0.1:0", "--voice", "tone"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("p.yaml:3:"), "{err}");
    assert!(err.contains("chatty"), "{err}");
}

#[test]
fn a_registrar_without_a_password_is_refused_naming_the_variable() {
    let out = bin()
        .args([
            "phone",
            "agents",
            "--agent",
            "alice",
            "--registrar",
            "sip:127.0.0.1:5060",
            "--password-env",
            "VOXDIAL_TEST_UNSET_PASSWORD",
        ])
        .env_remove("VOXDIAL_TEST_UNSET_PASSWORD")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("VOXDIAL_TEST_UNSET_PASSWORD"), "{err}");
}

#[test]
fn an_agent_phone_registers_with_digest_and_a_refusal_stops_it_with_the_code() {
    let sipp_ok = Command::new("sipp")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    assert!(sipp_ok, "sipp is not installed: run scripts/test.sh");
    let xml = root().join("tests/sip/registrar_auth.xml");
    for (pw, registered) in [("s3cret", true), ("wrong", false)] {
        let mut registrar = Command::new("sipp")
            .args(["-sf", xml.to_str().expect("path")])
            .args(["-p", "5657", "-m", "1", "-nostdin", "-timeout", "30"])
            .args(["-i", "127.0.0.1", "-mi", "127.0.0.1"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sipp");
        std::thread::sleep(Duration::from_millis(400));
        let mut phone = bin()
            .args(["phone", "agents", "--agent", "voxbot"])
            .args([
                "--registrar",
                "sip:127.0.0.1:5657",
                "--password-env",
                "AGENT_PW_T",
            ])
            .args(["--listen", "127.0.0.1:5658", "--voice", "tone"])
            .env("AGENT_PW_T", pw)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start");
        let mut first = String::new();
        BufReader::new(phone.stdout.take().expect("stdout"))
            .read_line(&mut first)
            .expect("read");
        if registered {
            let v: Value = serde_json::from_str(&first).expect("json");
            assert_eq!(v["registered"], true, "{v}");
            let _ = phone.kill();
        } else {
            assert!(first.is_empty(), "no ready line after a refusal: {first}");
            let status = phone.wait().expect("exit");
            assert_eq!(status.code(), Some(2));
            let mut err = String::new();
            std::io::Read::read_to_string(&mut phone.stderr.take().expect("stderr"), &mut err)
                .expect("stderr");
            assert!(err.contains("403"), "{err}");
        }
        let _ = phone.wait();
        let _ = registrar.kill();
        let _ = registrar.wait();
    }
}

#[test]
fn no_answer_voicemail_and_announcements_behave_as_lines_do() {
    const AT: &str = "127.0.0.1:5660";
    let dir = tempfile::tempdir().expect("tmp");
    let mut phones = customers(dir.path(), AT);
    // Rings until the caller gives up.
    let r = call(&[&format!("sip:+15550000480@{AT}"), "--ring-timeout-s", "1.5"]);
    assert_eq!(r["outcome"], "no_answer", "{r}");
    let log = phones.next(10);
    assert_eq!(log["result"], "no_answer", "{log}");
    // A voicemail answers and speaks at once, with nobody to wait for.
    let rec = dir.path().join("vm.wav");
    let r = call(&[
        &format!("sip:+15550000700@{AT}"),
        "--record",
        rec.to_str().expect("path"),
        "--hangup-after-s",
        "2",
    ]);
    assert_eq!(r["sip_code"], 200, "{r}");
    let mut rd = hound::WavReader::open(&rec).expect("recording");
    let loud = rd
        .samples::<i16>()
        .map(|s| s.expect("sample"))
        .step_by(2)
        .filter(|s| s.abs() > 1000)
        .count();
    assert!(loud > 2000, "the greeting is on the wire ({loud})");
    assert_eq!(phones.next(10)["persona"], "voicemail");
    // An announcement after the answer: the line plays it and hangs up by itself.
    let r = call(&[&format!("sip:+15550000404@{AT}"), "--hangup-after-s", "40"]);
    assert_eq!(r["sip_code"], 200, "{r}");
    assert_ne!(r["hangup_by"], "us", "{r}");
    let log = phones.next(10);
    assert_eq!(log["leg"]["hung_up_by"], "customer", "{log}");
    // As early media (until sip::uas sends 183): the final 404 after the ring.
    let r = call(&[&format!("sip:+15550000183@{AT}")]);
    assert_eq!(r["sip_code"], 404, "{r}");
    assert_eq!(phones.next(10)["result"], "not_in_service");
}
