//! The speech bot on a real call: `voxdial call --scenario` dials a sipp customer on
//! 127.0.0.1 whose phone plays recorded speech (RTP from a pcap we write), and the bot
//! holds the conversation over RTP: VAD, ASR, NLU, prompt cache, playout. Also the
//! call-progress path: a voicemail greeting or a carrier announcement answers, and the
//! bot hangs up with the outcome the retry policy needs.
#![cfg(feature = "speech")]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use voxdial::media::g711::G711;
use voxdial::speech::audio::{self, Pcm};
use voxdial::speech::config::SpeechConfig;
use voxdial::speech::tts::{self, Voice};
use voxdial::Locale;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn models() -> PathBuf {
    let m = root().join("data/models");
    assert!(
        m.join("vad/silero_vad.onnx").is_file(),
        "speech models missing: run scripts/setup.sh (or voxdial models install)"
    );
    m
}

fn require_sipp() {
    let ok = Command::new("sipp")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    assert!(
        ok,
        "sipp is not installed: run scripts/test.sh (it installs the Debian package sip-tester)"
    );
}

/// The customer's side of the line as 8 kHz PCM: each clip placed at its start second.
fn timeline(clips: &[(f64, Vec<i16>)], total_s: f64) -> Vec<i16> {
    let mut pcm = vec![0i16; (total_s * 8000.0) as usize];
    for (at, clip) in clips {
        let start = (at * 8000.0) as usize;
        for (k, s) in clip.iter().enumerate() {
            if let Some(d) = pcm.get_mut(start + k) {
                *d = *s;
            }
        }
    }
    pcm
}

/// A libpcap file of PCMU RTP packets (Ethernet/IPv4/UDP), one per 20 ms, which sipp's
/// `play_pcap_audio` replays with the capture's timing.
fn write_rtp_pcap(path: &Path, pcm: &[i16]) {
    let mut f = Vec::new();
    f.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    f.extend_from_slice(&2u16.to_le_bytes());
    f.extend_from_slice(&4u16.to_le_bytes());
    f.extend_from_slice(&0i32.to_le_bytes());
    f.extend_from_slice(&0u32.to_le_bytes());
    f.extend_from_slice(&65535u32.to_le_bytes());
    f.extend_from_slice(&1u32.to_le_bytes()); // Ethernet
    for (k, frame) in pcm.chunks(160).enumerate() {
        let mut payload = Vec::with_capacity(160);
        G711::Ulaw.encode(frame, &mut payload);
        payload.resize(160, 0xff);
        let mut rtp = vec![0x80, 0x00];
        rtp.extend_from_slice(&(k as u16).to_be_bytes());
        rtp.extend_from_slice(&((k as u32) * 160).to_be_bytes());
        rtp.extend_from_slice(&0x1234_5678u32.to_be_bytes());
        rtp.extend_from_slice(&payload);
        let udp_len = 8 + rtp.len();
        let ip_len = 20 + udp_len;
        let mut ip = vec![
            0x45,
            0,
            (ip_len >> 8) as u8,
            ip_len as u8,
            0,
            0,
            0,
            0,
            64,
            17,
            0,
            0,
        ];
        ip.extend_from_slice(&[127, 0, 0, 1, 127, 0, 0, 1]);
        let sum: u32 = ip
            .chunks(2)
            .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
            .sum();
        let sum = (sum & 0xffff) + (sum >> 16);
        let ck = !((sum & 0xffff) + (sum >> 16)) as u16;
        ip[10..12].copy_from_slice(&ck.to_be_bytes());
        let mut pkt = vec![0u8; 12];
        pkt.extend_from_slice(&[0x08, 0x00]);
        pkt.extend_from_slice(&ip);
        pkt.extend_from_slice(&6000u16.to_be_bytes());
        pkt.extend_from_slice(&6002u16.to_be_bytes());
        pkt.extend_from_slice(&(udp_len as u16).to_be_bytes());
        pkt.extend_from_slice(&[0, 0]);
        pkt.extend_from_slice(&rtp);
        let us = k as u64 * 20_000;
        f.extend_from_slice(&((us / 1_000_000) as u32).to_le_bytes());
        f.extend_from_slice(&((us % 1_000_000) as u32).to_le_bytes());
        f.extend_from_slice(&(pkt.len() as u32).to_le_bytes());
        f.extend_from_slice(&(pkt.len() as u32).to_le_bytes());
        f.extend_from_slice(&pkt);
    }
    std::fs::write(path, f).expect("write pcap");
}

/// A sipp customer phone: answers with PCMU, plays `pcap`, and waits for our BYE.
fn customer_xml(dir: &Path, pcap: &Path) -> PathBuf {
    let xml = format!(
        r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="customer speaking to the bot">
  <recv request="INVITE" crlf="true"/>
  <send>
    <![CDATA[

      SIP/2.0 180 Ringing
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTagB[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:customer@[local_ip]:[local_port];transport=[transport]>
      Content-Length: 0

    ]]>
  </send>
  <send retrans="500">
    <![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTagB[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:customer@[local_ip]:[local_port];transport=[transport]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=customer 1 1 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
      a=sendrecv

    ]]>
  </send>
  <recv request="ACK" crlf="true"/>
  <nop>
    <action>
      <exec play_pcap_audio="{}"/>
    </action>
  </nop>
  <recv request="BYE"/>
  <send>
    <![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
</scenario>
"#,
        pcap.display()
    );
    let p = dir.join("customer.xml");
    std::fs::write(&p, xml).expect("write scenario");
    p
}

fn sipp(xml: &Path, port: u16, media_port: u16) -> Child {
    Command::new("sipp")
        .args(["-sf"])
        .arg(xml)
        .args(["-p", &port.to_string(), "-mp", &media_port.to_string()])
        .args(["-m", "1", "-i", "127.0.0.1", "-mi", "127.0.0.1", "-nostdin"])
        .args(["-timeout", "150", "-timeout_error"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start sipp")
}

fn finish(mut c: Child) -> i32 {
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(Some(s)) = c.try_wait() {
            return s.code().unwrap_or(-1);
        }
        if Instant::now() > end {
            let _ = c.kill();
            return -2;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `voxdial call --scenario ... --json`; the report.
fn bot_call(port: u16, extra: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_voxdial"))
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

fn say(voice: &Voice, text: &str) -> Vec<i16> {
    let mut all = Vec::new();
    let mut rate = 0;
    tts::speak(voice, text, Locale::EnUs, |c| {
        rate = c.pcm.rate;
        all.extend_from_slice(&c.pcm.samples);
    })
    .expect("speak");
    let pcm = Pcm { samples: all, rate }.at_rate(8000).expect("8k");
    audio::to_i16(&pcm.samples)
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
    let m = models();
    let cfg = SpeechConfig::default_config().expect("config");
    let voice = Voice::load(cfg.tts_for(Locale::EnUs).expect("tts"), &m).expect("piper");
    let dir = tempfile::tempdir().expect("tmp");
    // The bot greets and asks for the customer; the customer confirms, hears the
    // reminder (a long prompt that cannot be interrupted), and promises to pay today.
    let line = timeline(
        &[
            (5.0, say(&voice, "Yes, this is me.")),
            (26.0, say(&voice, "Yes, I can pay it today.")),
        ],
        60.0,
    );
    let pcap = dir.path().join("customer.pcap");
    write_rtp_pcap(&pcap, &line);
    let xml = customer_xml(dir.path(), &pcap);
    let rec = dir.path().join("call.wav");
    let peer = sipp(&xml, 5290, 26000);
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
        "{heard:?}"
    );
    // It answered each, went on through the scenario, and ended the call itself.
    assert!(prompts.len() >= 3, "{prompts:?}");
    assert_eq!(r["hangup_by"], "us", "{r}");
    assert!(r["agent"]["outcome"].is_string(), "{r}");
    assert_eq!(r["agent"]["cpd_hangup"], false, "{r}");
    assert_eq!(r["policy_outcome"], "connected", "{r}");
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
        let pcap = sub.join("customer.pcap");
        write_rtp_pcap(&pcap, &line);
        let xml = customer_xml(&sub, &pcap);
        let port = 5291 + k as u16;
        let peer = sipp(&xml, port, 26100 + 100 * k as u16);
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
