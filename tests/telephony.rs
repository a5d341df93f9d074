//! `voxdial call` against real SIP peers (sipp) on 127.0.0.1: call outcomes, media,
//! early media, BYE from the callee, and blind transfer by REFER with the NOTIFY
//! sipfrags. sipp is installed by `scripts/test.sh` (Debian package sip-tester).

mod common;
use common::{require_sipp, sip_dir};
use serde_json::Value;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Start one sipp peer from tests/sip on loopback.
fn sipp(args: &[&str]) -> Child {
    let mut all = args.to_vec();
    if !args.contains(&"-m") {
        all.extend_from_slice(&["-m", "1"]);
    }
    all.extend_from_slice(&["-timeout", "30", "-timeout_error"]);
    common::sipp(&sip_dir(), &all)
}

fn finish(c: Child) -> i32 {
    common::wait_exit(c, 40)
}

fn call(args: &[&str]) -> (Value, i32) {
    common::call_json(args)
}

fn settle() {
    std::thread::sleep(Duration::from_millis(400));
}

#[test]
fn pcma_only_answer_plays_media_both_ways_and_records_stereo() {
    require_sipp();
    let peer = sipp(&["-sf", "uas_answer_rtp.xml", "-p", "5180", "-mp", "24000"]);
    settle();
    let dir = tempfile::tempdir().expect("tmp");
    let wav = dir.path().join("call.wav");
    let (r, code) = call(&[
        "sip:customer@127.0.0.1:5180",
        "--hangup-after-s",
        "2.5",
        // Media flows all along: a short media timeout must not fire.
        "--media-timeout-s",
        "1",
        "--record",
        wav.to_str().expect("path"),
        "--seed",
        "7",
    ]);
    assert_eq!(code, 0, "{r}");
    assert_eq!(finish(peer), 0, "sipp's side of the call failed");
    assert_eq!(r["sip_code"], 200);
    assert_eq!(r["outcome"], "answered");
    assert_eq!(r["codec"], "Alaw", "the callee only offered PCMA");
    assert_eq!(r["hangup_by"], "us");
    assert_eq!(r["media_timeout"], false, "{r}");
    let m = &r["media"];
    assert!(m["rtp"]["received"].as_u64().unwrap_or(0) > 40, "{m}");
    assert!(m["rtp"]["sent"].as_u64().unwrap_or(0) >= 120, "{m}");
    assert_eq!(
        m["rtp"]["concealed"], 0,
        "30 ms packets play without gaps: {m}"
    );
    assert_eq!(m["late_ticks"], 0, "{m}");
    let mut rd = hound::WavReader::open(&wav).expect("recording");
    assert_eq!(rd.spec().channels, 2);
    assert_eq!(rd.spec().sample_rate, 8000);
    let samples: Vec<i16> = rd.samples::<i16>().map(|s| s.expect("sample")).collect();
    let customer_loud = samples.chunks(2).filter(|c| c[0].abs() > 500).count();
    assert!(
        customer_loud > 2000,
        "the customer channel carries the callee's audio"
    );
}

#[test]
fn final_responses_map_to_dialer_outcomes_with_the_sip_code() {
    require_sipp();
    for (file, port, code, outcome) in [
        ("uas_busy.xml", "5181", 486, "busy"),
        ("uas_decline.xml", "5182", 603, "rejected"),
        ("uas_notfound.xml", "5183", 404, "invalid_number"),
        ("uas_congestion.xml", "5184", 503, "congestion"),
    ] {
        let peer = sipp(&["-sf", file, "-p", port]);
        settle();
        let (r, exit) = call(&[&format!("sip:c@127.0.0.1:{port}")]);
        assert_eq!(exit, 1, "unanswered calls exit 1: {r}");
        assert_eq!(finish(peer), 0, "{file}: sipp saw a wrong exchange (ACK?)");
        assert_eq!(r["sip_code"], code, "{file}: {r}");
        assert_eq!(r["outcome"], outcome, "{file}: {r}");
        assert_eq!(r["answered"], false);
    }
}

#[test]
fn ring_timeout_sends_cancel_and_counts_as_no_answer() {
    require_sipp();
    let peer = sipp(&["-sf", "uas_noanswer.xml", "-p", "5185"]);
    settle();
    let t = Instant::now();
    let (r, _) = call(&["sip:c@127.0.0.1:5185", "--ring-timeout-s", "1"]);
    assert!(t.elapsed() < Duration::from_secs(8), "CANCEL came late");
    assert_eq!(
        finish(peer),
        0,
        "the callee must see CANCEL and ACK its 487"
    );
    assert_eq!(r["sip_code"], 487);
    assert_eq!(r["outcome"], "no_answer");
}

#[test]
fn early_media_plays_before_answer_and_the_callee_can_hang_up() {
    require_sipp();
    let peer = sipp(&["-sf", "uas_early_bye.xml", "-p", "5186", "-mp", "23000"]);
    settle();
    let (r, code) = call(&["sip:c@127.0.0.1:5186", "--hangup-after-s", "15"]);
    assert_eq!(code, 0);
    assert_eq!(finish(peer), 0, "our 200 to the callee's BYE");
    assert_eq!(r["early_media"], true, "{r}");
    assert_eq!(r["hangup_by"], "peer", "{r}");
    assert!(r["duration_s"].as_f64().unwrap_or(99.0) < 5.0);
    assert!(
        r["media"]["customer_audio_s"].as_f64().unwrap_or(0.0) > 1.0,
        "{r}"
    );
}

/// The customer's phone honouring REFER is two sipp processes joined by a twin socket.
fn transfer(agent_xml: &str, base: u16, mp: u16) -> (Value, Vec<i32>) {
    transfer_with(agent_xml, base, mp, &[])
}

fn transfer_with(agent_xml: &str, base: u16, mp: u16, extra: &[&str]) -> (Value, Vec<i32>) {
    let (cust, twin, agent, ctl) = (base, base + 2, base + 10, base + 20);
    let agent_uri = format!("sip:agent@127.0.0.1:{agent}");
    let xferleg = sipp(&[
        &format!("127.0.0.1:{agent}"),
        "-sf",
        "customer_xfer_uac.xml",
        "-3pcc",
        &format!("127.0.0.1:{ctl}"),
        "-p",
        &twin.to_string(),
        "-mp",
        &(mp + 100).to_string(),
    ]);
    settle();
    let customer = sipp(&[
        "-sf",
        "customer_uas_refer.xml",
        "-3pcc",
        &format!("127.0.0.1:{ctl}"),
        "-p",
        &cust.to_string(),
        "-mp",
        &(mp + 200).to_string(),
    ]);
    let agent_p = sipp(&[
        "-sf",
        agent_xml,
        "-p",
        &agent.to_string(),
        "-mp",
        &(mp + 300).to_string(),
    ]);
    settle();
    let uri = format!("sip:customer@127.0.0.1:{cust}");
    let mut args = vec![
        uri.as_str(),
        "--refer-to",
        &agent_uri,
        "--refer-after-s",
        "1",
        "--hangup-after-s",
        "5",
        "--context",
        "reason=debt_dispute",
    ];
    args.extend_from_slice(extra);
    let (r, _) = call(&args);
    let codes = vec![finish(customer), finish(agent_p), finish(xferleg)];
    (r, codes)
}

#[test]
fn blind_transfer_completes_on_the_final_notify_and_we_leave_the_call() {
    require_sipp();
    let (r, codes) = transfer("agent_uas.xml", 5200, 21000);
    assert_eq!(codes, vec![0, 0, 0], "customer, agent, transfer leg: {r}");
    let t = &r["transfer"];
    assert_eq!(t["refer_code"], 202, "{t}");
    assert_eq!(t["result"]["state"], "completed", "{t}");
    assert_eq!(
        t["notifies"].as_array().and_then(|a| a.last()).cloned(),
        Some(200.into())
    );
    assert_eq!(r["hangup_by"], "us");
    assert!(
        r["duration_s"].as_f64().unwrap_or(99.0) < 4.0,
        "BYE right after the 200 sipfrag"
    );
}

#[test]
fn a_busy_agent_fails_the_transfer_and_the_bot_keeps_the_call() {
    require_sipp();
    // The bot's "sorry, nobody is free" announcement: one second of tone.
    let dir = tempfile::tempdir().expect("tmp");
    let sorry = dir.path().join("sorry.wav");
    let rec = dir.path().join("call.wav");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&sorry, spec).expect("wav");
    for i in 0..16000 {
        w.write_sample((8000.0 * (i as f32 * 0.2).sin()) as i16)
            .expect("sample");
    }
    w.finalize().expect("wav");
    let extra = [
        "--on-transfer-fail",
        sorry.to_str().expect("path"),
        "--record",
        rec.to_str().expect("path"),
    ];
    let (r, codes) = transfer_with("agent_busy_uas.xml", 5300, 22000, &extra);
    assert_eq!(codes, vec![0, 0, 0], "{r}");
    let t = &r["transfer"];
    assert_eq!(t["result"]["state"], "failed", "{t}");
    assert_eq!(t["result"]["reason"], "target_failed", "{t}");
    assert_eq!(t["result"]["code"], 486, "{t}");
    assert_eq!(t["bot_resumed"], true);
    assert!(
        r["duration_s"].as_f64().unwrap_or(0.0) >= 4.5,
        "the call went on: {r}"
    );
}

#[test]
fn bad_arguments_are_refused_with_the_reason() {
    let out = common::bin()
        .args(["call", "not a uri", "--ring-timeout-s", "1"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("invalid SIP URI"), "{err}");
    let out = common::bin()
        .args(["call", "sip:a@127.0.0.1:5999", "--context", "bad key=x"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    // Bad inputs that would only matter after answer are refused before dialling.
    let t = Instant::now();
    for extra in [
        ["--play", "/nonexistent/prompt.wav"],
        ["--refer-to", "agent at desk 4"],
        ["--on-transfer-fail", "/nonexistent/sorry.wav"],
    ] {
        let out = common::bin()
            .args(["call", "sip:a@127.0.0.1:5999"])
            .args(extra)
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(2), "{extra:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("cannot play") || err.contains("invalid SIP URI"),
            "{err}"
        );
    }
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "refused without placing a call"
    );
}

#[test]
fn trunk_check_pings_and_registers_with_digest() {
    require_sipp();
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = dir.path().join("trunks.yaml");
    std::fs::write(
        &cfg,
        "trunks:\n  - name: t1\n    proxy: 127.0.0.1:5193\n    username: voxbot\n    password_env: TRUNK_PW_T\n    register: true\n    channels: 30\n    cps: 10\n",
    )
    .expect("write");
    for (pw, reg, exit) in [("s3cret", 200, 0), ("wrong", 403, 1)] {
        let peer = sipp(&["-sf", "registrar_auth.xml", "-p", "5193", "-m", "2"]);
        settle();
        let out = common::bin()
            .args(["trunk", "check"])
            .arg(&cfg)
            .env("TRUNK_PW_T", pw)
            .output()
            .expect("run");
        let v: Value = serde_json::from_slice(&out.stdout).expect("json line");
        assert_eq!(finish(peer), 0, "registrar saw a wrong exchange");
        assert_eq!(v["options"], 200, "{v}");
        assert_eq!(v["register"], reg, "{v}");
        assert_eq!(out.status.code(), Some(exit));
    }
}

#[test]
fn an_invite_challenged_by_the_trunk_is_resent_with_digest() {
    require_sipp();
    for (pw, code) in [("s3cret", 200), ("wrong", 403)] {
        let peer = sipp(&["-sf", "uas_invite_auth.xml", "-p", "5194", "-mp", "25000"]);
        settle();
        let out = common::bin()
            .args(["call", "sip:13800138000@127.0.0.1:5194", "--user", "voxbot"])
            .args(["--hangup-after-s", "0.5", "--json"])
            .env("VOXDIAL_SIP_PASSWORD", pw)
            .output()
            .expect("run");
        let v: Value = serde_json::from_slice(&out.stdout).expect("json");
        assert_eq!(finish(peer), 0, "{v}");
        assert_eq!(v["sip_code"], code, "{v}");
    }
}

#[test]
fn baresip_as_a_real_customer_phone_honours_our_refer() {
    require_sipp();
    assert!(
        Command::new("baresip").arg("-h").output().is_ok(),
        "baresip is not installed: run scripts/test.sh"
    );
    // A private copy of the headless baresip profile, on this test's ports.
    let dir = tempfile::tempdir().expect("tmp");
    for f in ["config", "accounts"] {
        let text = std::fs::read_to_string(sip_dir().join("baresip").join(f)).expect("profile");
        let text = text
            .replace("5080", "5280")
            .replace("16200-16298", "27200-27298");
        std::fs::write(dir.path().join(f), text).expect("write");
    }
    let agent = sipp(&[
        "-sf",
        "agent_uas_hangup.xml",
        "-p",
        "5290",
        "-mp",
        "27400",
        "-rtp_echo",
    ]);
    let mut phone = Command::new("baresip")
        .arg("-f")
        .arg(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start baresip");
    std::thread::sleep(Duration::from_secs(2));
    let (r, _) = call(&[
        "sip:customer@127.0.0.1:5280",
        "--refer-to",
        "sip:agent@127.0.0.1:5290",
        "--refer-after-s",
        "1.5",
        "--hangup-after-s",
        "10",
    ]);
    let agent_rc = finish(agent);
    let _ = phone.kill();
    let _ = phone.wait();
    assert_eq!(r["answered"], true, "{r}");
    assert!(
        r["media"]["rtp"]["received"].as_u64().unwrap_or(0) > 30,
        "baresip's audio reached us: {r}"
    );
    assert_eq!(r["transfer"]["result"]["state"], "completed", "{r}");
    assert_eq!(
        agent_rc, 0,
        "the agent got the customer's INVITE and the call"
    );
}

#[test]
fn attended_transfer_consults_the_agent_then_refers_with_replaces() {
    require_sipp();
    // Customer phone (two sipp twins), agent phone (consultation dialog + the twin that
    // accepts the Replaces INVITE and checks RFC 3891 tag orientation).
    let xferleg = sipp(&[
        "127.0.0.1:5391",
        "-sf",
        "customer_xfer_uac.xml",
        "-3pcc",
        "127.0.0.1:5395",
        "-p",
        "5382",
        "-mp",
        "28000",
    ]);
    settle();
    let customer = sipp(&[
        "-sf",
        "customer_uas_refer.xml",
        "-3pcc",
        "127.0.0.1:5395",
        "-p",
        "5380",
        "-mp",
        "28100",
    ]);
    // The consultation side answers to the fixed address our UA binds (5372).
    let consult = sipp(&[
        "127.0.0.1:5372",
        "-sf",
        "agent_att_consult.xml",
        "-3pcc",
        "127.0.0.1:5396",
        "-p",
        "5390",
        "-mp",
        "28200",
    ]);
    settle();
    let replaces = sipp(&[
        "-sf",
        "agent_att_replaces.xml",
        "-3pcc",
        "127.0.0.1:5396",
        "-p",
        "5391",
        "-mp",
        "28300",
    ]);
    settle();
    let (r, _) = call(&[
        "sip:customer@127.0.0.1:5380",
        "--bind",
        "127.0.0.1:5372",
        "--consult",
        "sip:agent@127.0.0.1:5390",
        "--refer-to",
        "sip:agent@127.0.0.1:5391",
        "--refer-after-s",
        "1",
        "--hangup-after-s",
        "15",
    ]);
    let codes = vec![
        finish(customer),
        finish(consult),
        finish(replaces),
        finish(xferleg),
    ];
    assert_eq!(
        codes,
        vec![0, 0, 0, 0],
        "customer, agent consult, agent replaces, xfer leg: {r}"
    );
    assert_eq!(r["transfer"]["result"]["state"], "completed", "{r}");
    assert_eq!(r["hangup_by"], "us");
}

#[test]
fn when_the_customer_refuses_refer_we_bridge_the_agent_and_relay_media() {
    require_sipp();
    let customer = sipp(&["-sf", "customer_no_refer.xml", "-p", "5480", "-mp", "29000"]);
    // The agent echoes whatever audio reaches it, so relayed customer audio comes back.
    let agent = sipp(&[
        "-sf",
        "agent_uas.xml",
        "-p",
        "5490",
        "-mp",
        "29100",
        "-rtp_echo",
    ]);
    settle();
    let (r, _) = call(&[
        "sip:customer@127.0.0.1:5480",
        "--refer-to",
        "sip:agent@127.0.0.1:5490",
        "--refer-after-s",
        "1",
        "--hangup-after-s",
        "5",
    ]);
    assert_eq!(
        vec![finish(customer), finish(agent)],
        vec![0, 0],
        "both legs BYE'd: {r}"
    );
    let t = &r["transfer"];
    assert_eq!(t["refer_code"], 405, "{t}");
    assert_eq!(t["bridged"], true, "{t}");
    let agent_leg = &t["agent_media"];
    assert!(
        agent_leg["customer_audio_s"].as_f64().unwrap_or(0.0) > 1.0,
        "the customer's audio was relayed to the agent (and echoed back): {agent_leg}"
    );
}

#[test]
fn hold_resume_and_session_refresh_by_re_invite() {
    require_sipp();
    // The callee asks for a 4 s session timer with us as refresher and checks each
    // re-INVITE's direction and Session-Expires.
    let peer = sipp(&["-sf", "uas_timer_hold.xml", "-p", "5197", "-mp", "25100"]);
    settle();
    let (r, _) = call(&[
        "sip:c@127.0.0.1:5197",
        "--hold-after-s",
        "0.5",
        "--hold-for-s",
        "0.5",
        "--hangup-after-s",
        "3.5",
    ]);
    assert_eq!(finish(peer), 0, "hold, resume, refresh in that order: {r}");
    assert_eq!(r["session_expires_s"], 4);
    assert_eq!(r["reinvites"], serde_json::json!([200, 200, 200]), "{r}");
    assert_eq!(r["session_expired"], false);
}

#[test]
fn a_session_the_peer_stops_refreshing_is_ended() {
    require_sipp();
    let peer = sipp(&["-sf", "uas_timer_silent.xml", "-p", "5198", "-mp", "25200"]);
    settle();
    let (r, _) = call(&["sip:c@127.0.0.1:5198", "--hangup-after-s", "20"]);
    assert_eq!(finish(peer), 0, "{r}");
    assert_eq!(r["session_expired"], true, "{r}");
    let d = r["duration_s"].as_f64().unwrap_or(99.0);
    assert!(
        (1.5..3.0).contains(&d),
        "BYE before the 3 s interval ran out: {d}"
    );
}

#[test]
fn a_peer_that_goes_silent_on_rtp_is_hung_up_after_the_media_timeout() {
    require_sipp();
    let peer = sipp(&["-sf", "uas_no_media.xml", "-p", "5199", "-mp", "25300"]);
    settle();
    let (r, _) = call(&[
        "sip:c@127.0.0.1:5199",
        "--media-timeout-s",
        "2",
        "--hangup-after-s",
        "20",
    ]);
    assert_eq!(finish(peer), 0, "{r}");
    assert_eq!(r["media_timeout"], true, "{r}");
    assert_eq!(r["hangup_by"], "us", "{r}");
    let d = r["duration_s"].as_f64().unwrap_or(99.0);
    assert!((2.0..4.0).contains(&d), "BYE 2 s after the answer: {d}");
}

#[test]
fn dtmf_from_the_customer_is_reported_once_per_key() {
    require_sipp();
    // sipp replays an RFC 4733 capture of the key 1 (several packets, one press).
    let peer = sipp(&["-sf", "uas_dtmf.xml", "-p", "5199", "-mp", "25300"]);
    settle();
    let (r, _) = call(&[
        "sip:c@127.0.0.1:5199",
        "--hangup-after-s",
        "2",
        "--dtmf",
        "42#",
    ]);
    assert_eq!(finish(peer), 0, "{r}");
    assert_eq!(r["media"]["dtmf_received"], "1", "{r}");
}

#[test]
fn a_call_over_tcp_with_early_media_and_callee_bye() {
    require_sipp();
    let peer = sipp(&[
        "-sf",
        "uas_early_bye.xml",
        "-t",
        "t1",
        "-p",
        "5196",
        "-mp",
        "25400",
    ]);
    settle();
    let (r, code) = call(&[
        "sip:c@127.0.0.1:5196;transport=tcp",
        "--hangup-after-s",
        "10",
    ]);
    assert_eq!(code, 0, "{r}");
    assert_eq!(finish(peer), 0, "{r}");
    assert_eq!(r["early_media"], true);
    assert_eq!(r["hangup_by"], "peer");
}

#[test]
fn trunk_watch_keeps_pinging_with_options() {
    require_sipp();
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = dir.path().join("trunks.yaml");
    std::fs::write(
        &cfg,
        "trunks:\n  - name: t2\n    proxy: 127.0.0.1:5195\n    channels: 10\n    cps: 5\n    options_interval_s: 1\n",
    )
    .expect("write");
    // The registrar fixture answers each OPTIONS as its own call: expect three.
    let peer = sipp(&["-sf", "registrar_auth.xml", "-p", "5195", "-m", "3"]);
    settle();
    let out = common::bin()
        .args(["trunk", "watch"])
        .arg(&cfg)
        .args(["--for-s", "2.5"])
        .output()
        .expect("run");
    assert_eq!(finish(peer), 0);
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(lines.iter().all(|l| l["options"] == 200), "{lines:?}");
}

#[test]
fn the_shipped_trunks_example_parses() {
    std::env::set_var("PBX_B_PASSWORD", "x");
    let f = voxdial::sip::trunk::load(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("demo/trunks.yaml"),
    )
    .expect("demo/trunks.yaml is valid");
    assert_eq!(f.trunks.len(), 2);
}
