//! `voxdial run` end to end on 127.0.0.1: campaigns dialled over SIP to sipp customers
//! that answer, are busy or do not answer, with the scripted agent on answered calls (no
//! speech models needed); a `kill -9` and a restart; SIGTERM's drain; a bad config.
//! sipp runs under `flock /tmp/voxdial-sip.lock` (fixed ports); without sipp the SIP
//! tests skip.

#[allow(dead_code)]
mod common;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};
use voxdial::store::sqlite::SqliteStore;
use voxdial::store::Store;

fn have_sipp() -> bool {
    let ok = Command::new("sipp")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !ok {
        eprintln!("sipp is not installed (scripts/test.sh installs sip-tester): skipped");
    }
    ok
}

fn manifest() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A sipp customer phone on `port` playing `scenario` for up to `calls` calls.
fn sipp(scenario: &str, port: u16, media_port: u16, calls: u32) -> Child {
    Command::new("sipp")
        .current_dir(manifest().join("tests/sip"))
        .args(["-sf", scenario, "-p", &port.to_string()])
        .args(["-mp", &media_port.to_string(), "-m", &calls.to_string()])
        .args(["-i", "127.0.0.1", "-mi", "127.0.0.1", "-nostdin"])
        .args(["-timeout", "60", "-timeout_error"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start sipp")
}

fn voxdial(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_voxdial"))
        .current_dir(dir)
        .args(args)
        .env("VOXDIAL_DB", dir.join("voxdial.db"))
        .output()
        .expect("run voxdial")
}

/// Import `n` leads (distinct debtors) into `campaign` under the demo's round-the-clock
/// policy.
fn import(dir: &Path, campaign: &str, first: u32, n: u32) {
    let csv = dir.join(format!("{campaign}.csv"));
    let mut text = String::from("customer_id,phone,timezone\n");
    for i in first..first + n {
        text.push_str(&format!("D{i},+1 212 555 {i:04},America/New_York\n"));
    }
    std::fs::write(&csv, text).expect("list");
    let policy = manifest().join("demo/policies/demo-loop.yaml");
    let o = voxdial(
        dir,
        &[
            "campaign",
            "import",
            csv.to_str().expect("path"),
            "--campaign",
            campaign,
            "--policy",
            policy.to_str().expect("path"),
            "--region",
            "US",
            "--json",
        ],
    );
    assert!(
        o.status.success(),
        "import: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A config dialling each (campaign, sipp port) pair on a trunk of its own.
fn config(
    dir: &Path,
    campaigns: &[(&str, u16)],
    bots: u32,
    hangup_s: f64,
    drain_s: f64,
) -> PathBuf {
    config_paced(
        dir,
        campaigns,
        bots,
        hangup_s,
        drain_s,
        "{strategy: progressive}",
    )
}

/// [`config`] with the campaigns' pacing.
fn config_paced(
    dir: &Path,
    campaigns: &[(&str, u16)],
    bots: u32,
    hangup_s: f64,
    drain_s: f64,
    pacing: &str,
) -> PathBuf {
    let mut y = String::from("sip: {listen: 127.0.0.1:0}\ndatabase: voxdial.db\n");
    y.push_str(&format!(
        "recordings: recordings\ndrain_timeout_s: {drain_s}\nring_timeout_s: 8\ntrunks:\n"
    ));
    for (name, port) in campaigns {
        y.push_str(&format!(
            "  - {{name: t-{name}, proxy: 127.0.0.1:{port}, channels: 4, cps: 5}}\n"
        ));
    }
    y.push_str("campaigns:\n");
    for (name, _) in campaigns {
        y.push_str(&format!(
            "  - name: {name}\n    mode: bot_first\n    locale: en-US\n    pacing: {pacing}\n    bots: {bots}\n    trunks: [t-{name}]\n    script: {{hangup_after_s: {hangup_s}}}\n"
        ));
    }
    let p = dir.join("voxdial.yaml");
    std::fs::write(&p, y).expect("config");
    p
}

fn store(dir: &Path) -> SqliteStore {
    SqliteStore::open(&dir.join("voxdial.db")).expect("db")
}

/// (closed attempts, in-flight attempts) of a campaign.
fn attempts(dir: &Path, campaign: &str) -> (usize, usize) {
    let s = store(dir);
    let c = s.campaign(campaign).expect("campaign");
    let st = s.stats(c.id).expect("stats");
    let open = st.attempts.get("in_flight").copied().unwrap_or(0) as usize;
    let all: u64 = st.attempts.values().sum();
    (all as usize - open, open)
}

/// Wait up to `secs` for a child whose output is read afterwards; its exit code.
fn wait_child(c: &mut Child, secs: u64) -> i32 {
    let end = Instant::now() + Duration::from_secs(secs);
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

fn audit_clean(dir: &Path, campaign: &str) {
    let o = voxdial(dir, &["campaign", "audit", campaign, "--json"]);
    let v: serde_json::Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("audit JSON: {e}"));
    assert_eq!(v["violations"], serde_json::json!([]), "{v}");
    assert!(o.status.success());
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
    let mut child = Command::new(env!("CARGO_BIN_EXE_voxdial"))
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
    let mut child = Command::new(env!("CARGO_BIN_EXE_voxdial"))
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
