//! `voxdial run` end to end on 127.0.0.1: campaigns dialled over SIP to sipp customers
//! that answer, are busy or do not answer, with the scripted agent on answered calls (no
//! speech models needed); a `kill -9` and a restart; SIGTERM's drain; a bad config.
//! sipp runs under `flock /tmp/voxdial-sip.lock` (fixed ports); without sipp the SIP
//! tests skip.

mod common;
use common::{
    attempts, audit_clean, config, config_paced, have_sipp, import, sip_dir, store, voxdial,
    wait_child,
};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use voxdial::store::Store;

/// A sipp customer phone on `port` playing `scenario` for up to `calls` calls.
fn sipp(scenario: &str, port: u16, media_port: u16, calls: u32) -> Child {
    common::sipp(
        &sip_dir(),
        &[
            "-sf",
            scenario,
            "-p",
            &port.to_string(),
            "-mp",
            &media_port.to_string(),
            "-m",
            &calls.to_string(),
            "-timeout",
            "60",
            "-timeout_error",
        ],
    )
}

#[test]
fn a_campaign_dials_answered_busy_and_unanswered_customers_and_schedules_retries() {
    if !have_sipp() {
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    import(d, "answer", 100, 2);
    import(d, "busy", 200, 2);
    import(d, "silent", 300, 1);
    let peers = [
        sipp("uas_answer_rtp.xml", 5381, 25000, 2),
        sipp("uas_busy.xml", 5382, 25100, 2),
        sipp("uas_noanswer.xml", 5383, 25200, 1),
    ];
    std::thread::sleep(Duration::from_millis(400));
    let cfg = config(
        d,
        &[("answer", 5381), ("busy", 5382), ("silent", 5383)],
        2,
        1.5,
        5.0,
    );
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
    for p in peers {
        common::wait_exit(p, 20);
    }
    assert!(
        o.status.success(),
        "run: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON report");
    let c = &r["campaigns"];
    assert_eq!(c["answer"]["dials"], 2, "{r}");
    assert_eq!(c["answer"]["answered"], 2, "{r}");
    assert_eq!(c["answer"]["outcomes"]["connected"], 2, "{r}");
    assert_eq!(c["busy"]["outcomes"]["busy"], 2, "{r}");
    assert_eq!(c["silent"]["outcomes"]["no_answer"], 1, "{r}");
    let s = store(d);
    let now = chrono::Utc::now().timestamp();
    for (name, status) in [
        ("answer", "done"),
        ("busy", "pending"),
        ("silent", "pending"),
    ] {
        let camp = s.campaign(name).expect("campaign");
        let st = s.stats(camp.id).expect("stats");
        assert_eq!(st.attempts.get("in_flight"), None, "{name}: {st:?}");
        assert!(
            st.leads.get(status).copied().unwrap_or(0) > 0,
            "{name}: {st:?}"
        );
        // Retries come due by the policy's schedule (busy 20 s, no answer 30 s), not now.
        if status == "pending" {
            let next = s.next_due(camp.id).expect("next").expect("a retry");
            assert!(next > now, "{name}: retry due at {next}, now {now}");
        }
    }
    // Every answered call has its record, with the recording of the call.
    let camp = s.campaign("answer").expect("campaign");
    let ledger = s.ledger(camp.id).expect("ledger");
    for row in &ledger {
        let v = s.call(row.attempt).expect("call").expect("a record");
        let detail = v.detail.expect("detail");
        assert!(detail.answered_at_ms.is_some());
        let rec = detail.recording.expect("recording path");
        assert!(Path::new(&rec).is_file(), "{rec}");
    }
    audit_clean(d, "answer");
    audit_clean(d, "busy");
}

#[test]
fn kill_9_mid_campaign_then_restart_loses_no_completed_call_and_breaks_no_rule() {
    if !have_sipp() {
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    import(d, "k", 400, 4);
    let peer = sipp("uas_answer_rtp.xml", 5384, 25300, 4);
    std::thread::sleep(Duration::from_millis(400));
    let cfg = config(d, &[("k", 5384)], 1, 1.5, 5.0);
    let mut child = common::bin()
        .current_dir(d)
        .args(["run", "--config", cfg.to_str().expect("path")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start voxdial run");
    // Wait until one call is over and the next is live, then kill -9.
    let end = Instant::now() + Duration::from_secs(40);
    let (closed, open) = loop {
        let (closed, open) = attempts(d, "k");
        if closed >= 1 && open >= 1 {
            break (closed, open);
        }
        assert!(
            Instant::now() < end,
            "never reached a call done and one live"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    child.kill().expect("kill -9");
    let _ = child.wait();
    let _ = common::wait_exit(peer, 1);
    let (closed_after_kill, _) = attempts(d, "k");
    assert!(closed_after_kill >= closed);
    // The restart closes what was in flight as interrupted and dials nothing against
    // the policy (min_interval keeps the interrupted lead's debtor waiting).
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
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert!(
        r["recovered_interrupted"].as_u64().unwrap_or(0) >= open as u64,
        "{r}"
    );
    let s = store(d);
    let camp = s.campaign("k").expect("campaign");
    let st = s.stats(camp.id).expect("stats");
    assert_eq!(st.attempts.get("in_flight"), None, "{st:?}");
    assert!(
        st.attempts.get("interrupted").copied().unwrap_or(0) >= 1,
        "{st:?}"
    );
    // The calls completed before the kill kept their records.
    let with_records = s
        .ledger(camp.id)
        .expect("ledger")
        .iter()
        .filter(|row| {
            s.call(row.attempt)
                .ok()
                .flatten()
                .is_some_and(|v| v.detail.is_some())
        })
        .count();
    assert!(with_records >= closed, "{with_records} < {closed}");
    audit_clean(d, "k");
}

#[test]
fn sigterm_drains_live_calls_and_exits_zero() {
    if !have_sipp() {
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    import(d, "t", 500, 1);
    let peer = sipp("uas_answer_rtp.xml", 5385, 25400, 1);
    std::thread::sleep(Duration::from_millis(400));
    // The script would hold the call for a minute; the drain allows 1 s.
    let cfg = config(d, &[("t", 5385)], 1, 60.0, 1.0);
    let mut child = common::bin()
        .current_dir(d)
        .args(["run", "--config", cfg.to_str().expect("path"), "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start voxdial run");
    let end = Instant::now() + Duration::from_secs(30);
    while attempts(d, "t").1 == 0 {
        assert!(Instant::now() < end, "never dialled");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Let the call be answered before the signal.
    std::thread::sleep(Duration::from_millis(1500));
    let st = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(st.success());
    let code = wait_child(&mut child, 30);
    assert_eq!(code, 0, "SIGTERM drains and exits 0");
    let mut out = String::new();
    if let Some(mut so) = child.stdout.take() {
        use std::io::Read;
        so.read_to_string(&mut out).expect("stdout");
    }
    let r: serde_json::Value = serde_json::from_str(out.trim()).expect("JSON");
    assert_eq!(r["drained"], true, "{r}");
    let _ = common::wait_exit(peer, 5);
    let (closed, open) = attempts(d, "t");
    assert_eq!(
        (closed, open),
        (1, 0),
        "the drained call's attempt is closed"
    );
}

#[test]
fn a_bad_config_exits_non_zero_naming_its_place() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let cfg = config(d, &[("x", 5386)], 1, 1.0, 1.0);
    let text = std::fs::read_to_string(&cfg)
        .expect("config")
        .replace("bots: 1", "bots: 0");
    std::fs::write(&cfg, text).expect("config");
    let o = voxdial(d, &["run", "--config", cfg.to_str().expect("path")]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("voxdial.yaml:13:11: bots must be between 1 and 10000"),
        "{err}"
    );
}

#[test]
fn answered_calls_no_bot_takes_in_time_are_abandoned_and_hung_up() {
    if !have_sipp() {
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    import(d, "ab", 600, 3);
    let peer = sipp("uas_answer_rtp.xml", 5387, 25600, 3);
    std::thread::sleep(Duration::from_millis(400));
    // Three lines for the one bot: two answered customers wait, and the policy abandons
    // them after 2 s; the bot's call lasts 6 s.
    let cfg = config_paced(
        d,
        &[("ab", 5387)],
        1,
        6.0,
        5.0,
        "{strategy: ratio, ratio: 3}",
    );
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
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        common::wait_exit(peer, 20),
        0,
        "every call, abandoned ones too, ended with our BYE"
    );
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    let c = &r["campaigns"]["ab"];
    assert_eq!(c["answered"], 3, "{r}");
    assert_eq!(c["abandoned"], 2, "{r}");
    assert_eq!(c["outcomes"]["abandoned"], 2, "{r}");
    assert_eq!(c["outcomes"]["connected"], 1, "{r}");
    audit_clean(d, "ab");
}
