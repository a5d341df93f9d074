//! `voxdial phone`: the synthetic customers and agents, called by `voxdial call` on
//! 127.0.0.1. Run under `flock /tmp/voxdial-sip.lock` (fixed ports).
//!
//! The phones speak with `--voice tone` (syllable-like bursts, no model) so these tests
//! check the telephony and the turn-taking, not a voice (that the demo personas' words
//! are what the demo scenario understands is a unit test of `phone::persona`).

mod common;
use common::{bin, call_json, root, Phone};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

/// Each test its own ports: the tests of this file run in parallel.
const BUSY: &str = "127.0.0.1:5650";
const SPEAKS: &str = "127.0.0.1:5652";
const REFERS: &str = "127.0.0.1:5654";
const AGENT: &str = "127.0.0.1:5655";

fn customers(dir: &Path, listen: &str) -> Phone {
    let cache = dir.join("voices");
    Phone::start(
        &[
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
        ],
        60,
    )
}

fn call(args: &[&str]) -> Value {
    call_json(args).0
}

/// 1.5 s of a voiced tone (the "bot's greeting"), then 5 s of silence, at 8 kHz.
fn greeting_wav(path: &Path) {
    let mut samples = common::tone_8k(300.0, 1500, 6000.0);
    samples.resize(8000 * 13 / 2, 0);
    common::write_wav_8k(path, &samples);
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
    let mut agent = Phone::start(
        &[
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
        ],
        60,
    );
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
    common::require_sipp();
    let xml = root().join("tests/sip/registrar_auth.xml");
    for (pw, registered) in [("s3cret", true), ("wrong", false)] {
        let mut registrar = common::sipp(
            &root(),
            &[
                "-sf",
                xml.to_str().expect("path"),
                "-p",
                "5657",
                "-m",
                "1",
                "-timeout",
                "30",
            ],
        );
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
