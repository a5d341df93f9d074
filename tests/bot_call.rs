//! The speech bot on a real call: `voxdial call --scenario` dials a sipp customer on
//! 127.0.0.1 whose phone plays recorded speech (RTP from a pcap we write), and the bot
//! holds the conversation over RTP: VAD, ASR, NLU, prompt cache, playout. Also the
//! call-progress path: a voicemail greeting or a carrier announcement answers, and the
//! bot hangs up with the outcome the retry policy needs.
#![cfg(feature = "speech")]

mod common;
use common::{require_sipp, root};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::Duration;
use voxdial::media::g711::G711;
use voxdial::media::pcap::{timeline, write_rtp_pcap};
use voxdial::speech::audio::{self, Pcm};
use voxdial::speech::config::SpeechConfig;
use voxdial::speech::tts::{self, Voice};
use voxdial::Locale;

fn models() -> PathBuf {
    let m = root().join("data/models");
    assert!(
        m.join("vad/silero_vad.onnx").is_file(),
        "speech models missing: run scripts/setup.sh (or voxdial models install)"
    );
    m
}

/// A sipp customer phone (tests/sip/customer_speaks.xml) that plays `line` (8 kHz) once
/// the call is answered, from its own folder `dir`.
fn customer(dir: &Path, line: &[i16], port: u16, media_port: u16) -> Child {
    customer_with("customer_speaks.xml", dir, line, port, media_port)
}

fn customer_with(xml: &str, dir: &Path, line: &[i16], port: u16, media_port: u16) -> Child {
    write_rtp_pcap(&dir.join("customer.pcap"), line, G711::Ulaw).expect("pcap");
    let scenario = root().join("tests/sip").join(xml);
    common::sipp(
        dir,
        &[
            "-sf",
            scenario.to_str().expect("path"),
            "-p",
            &port.to_string(),
            "-mp",
            &media_port.to_string(),
            "-m",
            "1",
            "-timeout",
            "150",
            "-timeout_error",
        ],
    )
}

fn finish(c: Child) -> i32 {
    common::wait_exit(c, 30)
}

/// `voxdial call --scenario ... --json`; the report.
fn bot_call(port: u16, extra: &[&str]) -> Value {
    let out = common::bin()
        .current_dir(root())
        .arg("call")
        .arg(format!("sip:customer@127.0.0.1:{port}"))
        .args(["--scenario", "collection_m1_overdue", "--locale", "en-US"])
        .args(["--today", "2026-11-22", "--seed", "7", "--json"])
        .args(["--hangup-after-s", "90"])
        .arg("--data")
        .arg(root().join("data"))
        .args(extra)
        .output()
        .expect("run voxdial call");
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.trim()).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {text}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// The customer's line (8 kHz): each text spoken by the Piper voice at its start second.
fn spoken(lines: &[(f64, &str)], total_s: f64) -> Vec<i16> {
    let cfg = SpeechConfig::default_config().expect("config");
    let voice = Voice::load(cfg.tts_for(Locale::EnUs).expect("tts"), &models()).expect("piper");
    let clips: Vec<(f64, Vec<i16>)> = lines
        .iter()
        .map(|(at, text)| {
            let mut all = Vec::new();
            let mut rate = 0;
            tts::speak(&voice, text, Locale::EnUs, |c| {
                rate = c.pcm.rate;
                all.extend_from_slice(&c.pcm.samples);
            })
            .expect("speak");
            let pcm = Pcm { samples: all, rate }.at_rate(8000).expect("8k");
            (*at, audio::to_i16(&pcm.samples))
        })
        .collect();
    timeline(&clips, total_s)
}

fn customer_lines(report: &Value) -> Vec<String> {
    report["agent"]["transcript"]
        .as_array()
        .expect("transcript")
        .iter()
        .filter(|l| l["who"] == "customer")
        .map(|l| l["text"].as_str().unwrap_or("").to_lowercase())
        .collect()
}

fn bot_prompts(report: &Value) -> Vec<String> {
    report["agent"]["transcript"]
        .as_array()
        .expect("transcript")
        .iter()
        .filter(|l| l["who"] == "bot")
        .map(|l| l["prompt_id"].as_str().unwrap_or("").to_string())
        .collect()
}

#[test]
fn the_bot_holds_a_conversation_over_rtp_and_hangs_up_when_it_ends() {
    require_sipp();
    let dir = tempfile::tempdir().expect("tmp");
    // The bot greets and asks for the customer; the customer confirms, hears the
    // reminder (a long prompt that cannot be interrupted), and promises to pay today.
    let line = spoken(
        &[
            (5.0, "Yes, this is me."),
            // Said once the disclosure (about 7 s to 22-26 s) is over or nearly, and
            // before it is asked again after 6 s of silence, so both turns are measured:
            // a line said over the disclosure is held until it ends and answered then,
            // unmeasured (its wait is the prompt's; see the pipeline's tests).
            (26.0, "I can pay it today."),
        ],
        60.0,
    );
    let rec = dir.path().join("call.wav");
    let peer = customer(dir.path(), &line, 5290, 26000);
    std::thread::sleep(Duration::from_millis(300));
    let r = bot_call(5290, &["--record", rec.to_str().expect("path")]);
    assert_eq!(finish(peer), 0, "sipp's side of the call failed: {r}");
    assert_eq!(r["answered"], true, "{r}");
    let heard = customer_lines(&r);
    let prompts = bot_prompts(&r);
    assert!(heard.len() >= 2, "the bot heard both answers: {r}");
    assert!(heard[0].contains("me"), "{heard:?}");
    assert!(
        heard
            .iter()
            .any(|h| h.contains("today") || h.contains("pay")),
        "{heard:?}; turns: {}; transcript: {}; media: {}",
        r["agent"]["turns"],
        r["agent"]["transcript"],
        r["media"]
    );
    // It answered each, went on through the scenario, and ended the call itself.
    assert!(prompts.len() >= 3, "{prompts:?}");
    assert_eq!(r["hangup_by"], "us", "{r}");
    assert!(r["agent"]["outcome"].is_string(), "{r}");
    assert_eq!(r["agent"]["cpd_hangup"], false, "{r}");
    assert_eq!(r["policy_outcome"], "connected", "{r}");
    eprintln!("turn latencies: {}", r["agent"]["turns"]);
    eprintln!("transcript: {}", r["agent"]["transcript"]);
    let turns = r["agent"]["turns"].as_array().expect("turns");
    assert!(turns.len() >= 2, "{r}");
    for t in turns {
        let total = t["total_ms"].as_f64().expect("total");
        assert!(total > 0.0 && total < 10_000.0, "{t}");
    }
    // The recording has the bot's voice on the right channel and the customer's on the left.
    let wav = hound::WavReader::open(&rec).expect("recording");
    let samples: Vec<i16> = wav
        .into_samples::<i16>()
        .map(|s| s.expect("sample"))
        .collect();
    let loud = |ch: usize| {
        samples
            .iter()
            .skip(ch)
            .step_by(2)
            .filter(|s| s.abs() > 1000)
            .count()
    };
    assert!(loud(0) > 3000, "customer audio recorded: {}", loud(0));
    assert!(loud(1) > 40_000, "bot audio recorded: {}", loud(1));
}

#[test]
fn call_progress_hangs_up_on_machines_and_announcements_with_the_retry_outcome() {
    require_sipp();
    let _ = models();
    let dir = tempfile::tempdir().expect("tmp");
    let cases = [
        ("030_m_en_sarah.wav", "voicemail", "voicemail"),
        ("059_a_en_changed.wav", "bad_number", "invalid_number"),
        ("070_f_ced.wav", "fax", "invalid_number"),
    ];
    for (k, (clip, cpd, policy)) in cases.iter().enumerate() {
        let pcm = audio::load_wav(&root().join("tests/data/cpd").join(clip))
            .expect("clip")
            .at_rate(8000)
            .expect("8k");
        let line = timeline(&[(0.3, audio::to_i16(&pcm.samples))], 12.0);
        let sub = dir.path().join(k.to_string());
        std::fs::create_dir_all(&sub).expect("dir");
        let port = 5291 + k as u16;
        let peer = customer(&sub, &line, port, 26100 + 100 * k as u16);
        std::thread::sleep(Duration::from_millis(300));
        let r = bot_call(port, &[]);
        assert_eq!(finish(peer), 0, "{clip}: sipp's side failed: {r}");
        assert_eq!(r["agent"]["cpd_outcome"], *cpd, "{clip}: {r}");
        assert_eq!(r["agent"]["cpd_hangup"], true, "{clip}: {r}");
        assert_eq!(r["policy_outcome"], *policy, "{clip}: {r}");
        assert_eq!(r["hangup_by"], "us", "{clip}: {r}");
        assert!(
            r["duration_s"].as_f64().expect("duration") < 10.0,
            "{clip}: hung up within the detection window: {r}"
        );
    }
}

#[test]
fn the_bot_hands_a_customer_who_asks_for_a_person_to_the_queue_by_refer() {
    require_sipp();
    let dir = tempfile::tempdir().expect("tmp");
    let line = spoken(
        &[
            (5.0, "Yes, this is me."),
            // After the disclosure, before it is asked again (as above).
            (26.0, "I want to talk to a real person."),
        ],
        60.0,
    );
    // The customer's phone honours the REFER and reports the agent leg answered; it also
    // checks that the hand-off reason rides on the REFER.
    let peer = customer_with("customer_speaks_refer.xml", dir.path(), &line, 5296, 26600);
    std::thread::sleep(Duration::from_millis(300));
    let r = bot_call(5296, &["--refer-to", "sip:queue@127.0.0.1:5999"]);
    assert_eq!(finish(peer), 0, "sipp's side of the transfer failed: {r}");
    assert_eq!(r["agent"]["transfer_reason"], "request_human", "{r}");
    assert_eq!(r["transfer"]["refer_code"], 202, "{r}");
    assert_eq!(
        r["transfer"]["notifies"],
        serde_json::json!([100, 200]),
        "{r}"
    );
    assert_eq!(r["transfer"]["result"]["state"], "completed", "{r}");
    assert_eq!(r["hangup_by"], "us", "{r}");
    assert_eq!(r["policy_outcome"], "connected", "{r}");
    assert!(
        customer_lines(&r).iter().any(|h| h.contains("person")),
        "{r}"
    );
}

#[test]
fn a_carrier_announcement_on_early_media_cancels_the_call_with_the_retry_outcome() {
    require_sipp();
    let dir = tempfile::tempdir().expect("tmp");
    let line = spoken(
        &[(
            0.3,
            "We're sorry. The number you have dialed is not in service. Please check the number and dial again.",
        )],
        20.0,
    );
    let peer = customer_with("early_announcement.xml", dir.path(), &line, 5297, 26700);
    std::thread::sleep(Duration::from_millis(300));
    let r = bot_call(5297, &["--ring-timeout-s", "30"]);
    assert_eq!(finish(peer), 0, "sipp's side (CANCEL, 487) failed: {r}");
    assert_eq!(r["answered"], false, "{r}");
    assert_eq!(r["early_media"], true, "{r}");
    assert_eq!(
        r["agent"]["early_media"]["cpd_outcome"], "bad_number",
        "{r}"
    );
    assert_eq!(r["policy_outcome"], "invalid_number", "{r}");
    // Cancelled on the announcement's words, long before the ring timeout.
    assert!(r["setup_ms"].as_u64().expect("setup") < 15_000, "{r}");
}
