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
use std::process::{Child, Command, Output, Stdio};
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

/// A child process killed and reaped if the test ends early, so a failed assertion leaves
/// no service running (holding its ports, and the SIP tests' lock through its descriptor).
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `voxdial` with the log variables cleared, then `env` set.
fn voxdial_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_voxdial"));
    c.current_dir(dir)
        .args(args)
        .env("VOXDIAL_DB", dir.join("voxdial.db"))
        .env_remove("VOXDIAL_LOG")
        .env_remove("RUST_LOG");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run voxdial")
}

#[test]
fn a_call_logs_no_full_number_and_its_record_names_the_wire_call_id() {
    if !have_sipp() {
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    // One lead per campaign, one campaign per run: +1 212 555 0701, 0702, 0703.
    for (i, name) in ["p1", "p2", "p3"].iter().enumerate() {
        import(d, name, 701 + i as u32, 1);
    }
    let sipp_log = d.join("sipp-log.txt");
    let peer = Command::new("sipp")
        .current_dir(sip_dir())
        .args(["-sf", "uas_answer_rtp.xml", "-p", "5388", "-mp", "25700"])
        .args(["-m", "3", "-i", "127.0.0.1", "-mi", "127.0.0.1", "-nostdin"])
        .args([
            "-timeout",
            "60",
            "-timeout_error",
            "-trace_logs",
            "-log_file",
        ])
        .arg(&sipp_log)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start sipp");
    std::thread::sleep(Duration::from_millis(400));
    let run = |campaign: &str, env: &[(&str, &str)]| {
        let cfg = config(d, &[(campaign, 5388)], 1, 1.0, 5.0);
        let args = ["run", "--config", cfg.to_str().expect("path")];
        let o = voxdial_env(
            d,
            &[&args[..], &["--exit-when-idle", "--json"]].concat(),
            env,
        );
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert!(o.status.success(), "{campaign}: {err}");
        let r: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
        assert_eq!(r["campaigns"][campaign]["answered"], 1, "{r}");
        err
    };
    // The default filter, and an operator's plain `info`: the SIP stack's raw messages
    // (the INVITE's Request-URI and To) stay out, and our own lines mask the number.
    let quiet = run("p1", &[]);
    assert!(!quiet.contains("2125550701"), "{quiet}");
    let info = run("p2", &[("VOXDIAL_LOG", "info")]);
    assert!(
        info.contains("voxdial run: dialling") && info.contains("the agent ends the call"),
        "our own info lines are on: {info}"
    );
    assert!(!info.contains("2125550702"), "{info}");
    // An operator who names the stack gets its messages, number and all: the filter is
    // theirs, and this check sees a number when there is one.
    let stack = run("p3", &[("VOXDIAL_LOG", "info,rsipstack=info")]);
    assert!(stack.contains("2125550703"), "{stack}");
    assert_eq!(common::wait_exit(peer, 20), 0);

    // Each record carries the Call-ID the customer's phone saw on the wire.
    let seen = std::fs::read_to_string(&sipp_log).expect("sipp's log");
    let s = store(d);
    let mut ids = Vec::new();
    for name in ["p1", "p2", "p3"] {
        let camp = s.campaign(name).expect("campaign");
        let row = s.ledger(camp.id).expect("ledger").remove(0);
        let v = s.call(row.attempt).expect("call").expect("a record");
        let id = v.detail.and_then(|d| d.sip_call_id).expect("a Call-ID");
        assert!(seen.contains(&format!("Call-ID: {id},")), "{id} in {seen}");
        let o = voxdial(d, &["calls", "show", &row.attempt.to_string()]);
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(
            text.lines()
                .any(|l| l.trim_start().starts_with("sip call-id") && l.ends_with(&id)),
            "{text}"
        );
        ids.push(id);
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3, "one Call-ID per call");
}

#[test]
fn a_second_run_on_the_same_database_is_refused_and_a_kill_9_leaves_no_stale_lock() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    import(d, "lk", 800, 1);
    // A trunk that swallows every INVITE: the one call rings unanswered for the ring
    // timeout (8 s), long enough to look at the ledger while it is live.
    let hole = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp");
    let port = hole.local_addr().expect("addr").port();
    let cfg = config(d, &[("lk", port)], 1, 1.0, 1.0);
    let cfg_s = cfg.to_str().expect("path");
    let mut first = Reaped(
        Command::new(env!("CARGO_BIN_EXE_voxdial"))
            .current_dir(d)
            .args(["run", "--config", cfg_s])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start voxdial run"),
    );
    let end = Instant::now() + Duration::from_secs(30);
    while attempts(d, "lk") != (0, 1) {
        assert!(Instant::now() < end, "never dialled");
        std::thread::sleep(Duration::from_millis(50));
    }
    let o = voxdial(d, &["run", "--config", cfg_s, "--exit-when-idle", "--json"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "the second run is refused: {err}");
    let db = d.join("voxdial.db");
    assert!(
        err.contains(&format!("database {} is in use", db.display()))
            && err.contains(&format!("pid {}", first.0.id())),
        "{err}"
    );
    // It touched nothing: the first run's call is still the only attempt, still live
    // (a second start would have closed it as interrupted and dialled again).
    assert_eq!(attempts(d, "lk"), (0, 1));
    first.0.kill().expect("kill -9");
    let _ = first.0.wait();
    // The dead process's lock went with it.
    let o = voxdial(d, &["run", "--config", cfg_s, "--exit-when-idle", "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(r["recovered_interrupted"], 1, "{r}");
    assert_eq!(attempts(d, "lk"), (1, 0));
    drop(hole);
}

/// A port of 127.0.0.1 free for TCP now.
fn free_tcp_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("tcp");
    l.local_addr().expect("addr").port()
}

/// One HTTP/1.1 request over a plain socket: (status, body).
fn http(port: u16, method: &str, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .expect("request");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("response");
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

#[test]
fn the_operations_endpoint_serves_health_and_metrics_over_http() {
    if !have_sipp() {
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    import(d, "ops", 900, 1);
    let peer = sipp("uas_answer_rtp.xml", 5389, 25800, 1);
    std::thread::sleep(Duration::from_millis(400));
    let port = free_tcp_port();
    // The call lasts 4 s; a built-in queue with one desk phone (never rung here).
    let cfg = config(d, &[("ops", 5389)], 1, 4.0, 5.0);
    let mut y = std::fs::read_to_string(&cfg).expect("config");
    y.push_str(&format!(
        "queues:\n  - name: care\n    agents: [{{user: desk, contact: 'sip:desk@127.0.0.1:5999'}}]\nhttp: {{listen: 127.0.0.1:{port}}}\n"
    ));
    std::fs::write(&cfg, y).expect("config");
    let root = common::root();
    let mut child = Reaped(
        Command::new(env!("CARGO_BIN_EXE_voxdial"))
            .current_dir(d)
            // The queue's hold tune is found under the project folder.
            .args(["--root", root.to_str().expect("path")])
            .args(["run", "--config", cfg.to_str().expect("path"), "--json"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start voxdial run"),
    );
    // While the call is live.
    let end = Instant::now() + Duration::from_secs(30);
    let health = loop {
        if let Ok(s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            drop(s);
            let (code, body) = http(port, "GET", "/healthz");
            assert_eq!(code, 200, "{body}");
            let v: serde_json::Value = serde_json::from_str(&body).expect("JSON");
            if v["live_calls"] == 1 {
                break v;
            }
        }
        assert!(Instant::now() < end, "never saw the call live");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(health["status"], "ok", "{health}");
    assert_eq!(health["campaigns_running"], 1, "{health}");
    assert_eq!(health["campaigns"], serde_json::json!(["ops"]), "{health}");
    let q = &health["queues"][0];
    assert_eq!(q["name"], "care", "{health}");
    assert_eq!(q["agents"]["available"], 1, "{health}");
    assert_eq!(q["agents"]["offline"], 0, "{health}");
    // Once the call is over: its dial and answer are counted.
    let end = Instant::now() + Duration::from_secs(30);
    let metrics = loop {
        let (code, body) = http(port, "GET", "/metrics");
        assert_eq!(code, 200, "{body}");
        if body.contains("voxdial_attempts_total{campaign=\"ops\",outcome=\"connected\"} 1") {
            break body;
        }
        assert!(Instant::now() < end, "the call never closed: {body}");
        std::thread::sleep(Duration::from_millis(100));
    };
    for line in [
        "voxdial_dials_total{campaign=\"ops\"} 1",
        "voxdial_answers_total{campaign=\"ops\"} 1",
        "voxdial_abandons_total{campaign=\"ops\"} 0",
        "voxdial_handoffs_total{campaign=\"ops\"} 0",
        "voxdial_live_calls{campaign=\"ops\"} 0",
        "voxdial_turn_latency_seconds_count{campaign=\"ops\"} 0",
        "voxdial_queue_agents{queue=\"care\",state=\"available\"} 1",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in\n{metrics}");
    }
    // No number anywhere in what is served.
    assert!(!metrics.contains("5550900") && !health.to_string().contains("5550900"));
    assert_eq!(http(port, "GET", "/").0, 404);
    assert_eq!(http(port, "POST", "/metrics").0, 405);
    let st = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(st.success());
    assert_eq!(wait_child(&mut child.0, 30), 0);
    let _ = common::wait_exit(peer, 5);
}
