//! Helpers shared by the integration tests that run real peers on 127.0.0.1: sipp, the
//! `voxdial` binary as a child process (`run`, `phone`, `call`, `campaign import`), the
//! service's config and what a run left in the database, and the test tones.
//!
//! Each test file uses its own subset, hence the `dead_code` allowance.
#![allow(dead_code)]

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use voxdial::store::sqlite::SqliteStore;
use voxdial::store::Store;

/// The repository root (test fixtures, demo files, `data/`).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The sipp scenarios of `tests/sip`.
pub fn sip_dir() -> PathBuf {
    root().join("tests/sip")
}

/// The voxdial binary of this build.
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_voxdial"))
}

fn sipp_installed() -> bool {
    Command::new("sipp")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// Fail with the fix when sipp is missing (scripts/test.sh installs it).
pub fn require_sipp() {
    assert!(
        sipp_installed(),
        "sipp is not installed: run scripts/test.sh (it installs the Debian package sip-tester)"
    );
}

/// Whether sipp is installed; says so when it is not (for tests that skip without it).
pub fn have_sipp() -> bool {
    let ok = sipp_installed();
    if !ok {
        eprintln!("sipp is not installed (scripts/test.sh installs sip-tester): skipped");
    }
    ok
}

/// Start sipp from `dir` with `args` on loopback (signalling and media on 127.0.0.1, no
/// keyboard, no screen output); the caller's `args` name the scenario, ports, call count
/// and timeout.
pub fn sipp(dir: &Path, args: &[&str]) -> Child {
    Command::new("sipp")
        .current_dir(dir)
        .args(args)
        .args(["-i", "127.0.0.1", "-mi", "127.0.0.1", "-nostdin"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start sipp")
}

/// Wait up to `secs` for a peer; its exit code (0 = its scenario passed, -2 = killed).
pub fn wait_exit(mut c: Child, secs: u64) -> i32 {
    wait_child(&mut c, secs)
}

/// Wait up to `secs` for a child whose output is read afterwards; its exit code (-2 =
/// killed at the limit).
pub fn wait_child(c: &mut Child, secs: u64) -> i32 {
    let end = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Ok(Some(s)) = c.try_wait() {
            return s.code().unwrap_or(-1);
        }
        if Instant::now() > end {
            let _ = c.kill();
            let _ = c.wait();
            return -2;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A 127.0.0.1 address free for both UDP and TCP now (SIP listens on both), for tests
/// that must not share fixed ports with the others.
pub fn free_addr() -> SocketAddr {
    for _ in 0..20 {
        let udp = UdpSocket::bind("127.0.0.1:0").expect("bind a UDP port");
        let addr = udp.local_addr().expect("its address");
        if TcpListener::bind(addr).is_ok() {
            return addr;
        }
    }
    panic!("no port of 127.0.0.1 was free for both UDP and TCP");
}

/// `voxdial ARGS` run to its end from `dir`, on the database `dir/voxdial.db`.
pub fn voxdial(dir: &Path, args: &[&str]) -> Output {
    bin()
        .current_dir(dir)
        .args(args)
        .env("VOXDIAL_DB", dir.join("voxdial.db"))
        .output()
        .expect("run voxdial")
}

/// `voxdial call ARGS --json`: the call's report.
pub fn call_json(args: &[&str]) -> (Value, i32) {
    let out = bin()
        .arg("call")
        .args(args)
        .arg("--json")
        .output()
        .expect("run voxdial call");
    let text = String::from_utf8_lossy(&out.stdout);
    let v: Value = serde_json::from_str(text.trim()).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {text}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (v, out.status.code().unwrap_or(-1))
}

/// Import the list `csv` (its text) into `campaign` under the policy file `policy`, with
/// `extra` flags (`--scenario` of the repository's library, `--set`, ...); numbers are
/// read as US numbers.
pub fn import_list(dir: &Path, campaign: &str, csv: &str, policy: &Path, extra: &[&str]) {
    let path = dir.join(format!("{campaign}.csv"));
    std::fs::write(&path, csv).expect("list");
    let root = root();
    let mut args = vec![
        "--root",
        root.to_str().expect("path"),
        "campaign",
        "import",
        path.to_str().expect("path"),
        "--campaign",
        campaign,
        "--policy",
        policy.to_str().expect("path"),
        "--region",
        "US",
        "--json",
    ];
    args.extend_from_slice(extra);
    let o = voxdial(dir, &args);
    assert!(
        o.status.success(),
        "import: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Import `n` leads (distinct debtors, +1 212 555 `first`...) into `campaign` under the
/// demo's round-the-clock policy.
pub fn import(dir: &Path, campaign: &str, first: u32, n: u32) {
    let mut text = String::from("customer_id,phone,timezone\n");
    for i in first..first + n {
        text.push_str(&format!("D{i},+1 212 555 {i:04},America/New_York\n"));
    }
    let policy = root().join("demo/policies/demo-loop.yaml");
    import_list(dir, campaign, &text, &policy, &[]);
}

/// A config dialling each (campaign, sipp port) pair on a trunk of its own, with the
/// scripted agent (hang up after `hangup_s`) on every answered call.
pub fn config(
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
pub fn config_paced(
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

/// The run's database.
pub fn store(dir: &Path) -> SqliteStore {
    SqliteStore::open(&dir.join("voxdial.db")).expect("db")
}

/// (closed attempts, in-flight attempts) of a campaign.
pub fn attempts(dir: &Path, campaign: &str) -> (usize, usize) {
    let s = store(dir);
    let c = s.campaign(campaign).expect("campaign");
    let st = s.stats(c.id).expect("stats");
    let open = st.attempts.get("in_flight").copied().unwrap_or(0) as usize;
    let all: u64 = st.attempts.values().sum();
    (all as usize - open, open)
}

/// `campaign audit` finds no violation of the policy in the campaign's ledger.
pub fn audit_clean(dir: &Path, campaign: &str) {
    let o = voxdial(dir, &["campaign", "audit", campaign, "--json"]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("audit JSON: {e}"));
    assert_eq!(v["violations"], serde_json::json!([]), "{v}");
    assert!(o.status.success());
}

/// A `voxdial phone` process, its JSON lines (one per finished call) arriving on a
/// channel; killed and reaped when dropped.
pub struct Phone {
    child: Child,
    lines: mpsc::Receiver<Value>,
    /// Its stderr so far (why it stopped, when it did).
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Phone {
    /// Start `voxdial ARGS` and wait (up to `ready_s`) for its first line, which must say
    /// where it listens.
    pub fn start(args: &[&str], ready_s: u64) -> Phone {
        let mut child = bin()
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
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
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let (err, keep) = (child.stderr.take().expect("stderr"), stderr.clone());
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if let Ok(mut s) = keep.lock() {
                    s.push_str(&line);
                    s.push('\n');
                }
            }
        });
        let mut p = Phone {
            child,
            lines,
            stderr,
        };
        let ready = p.next(ready_s);
        assert!(ready["listening"].is_string(), "first line: {ready}");
        p
    }

    /// The next JSON line, waiting up to `secs`.
    pub fn next(&mut self, secs: u64) -> Value {
        match self.lines.recv_timeout(Duration::from_secs(secs)) {
            Ok(v) => v,
            Err(mpsc::RecvTimeoutError::Timeout) => panic!("no line from the phone in {secs} s"),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let _ = self.child.wait();
                std::thread::sleep(Duration::from_millis(100));
                let err = self.stderr.lock().map(|s| s.clone()).unwrap_or_default();
                panic!("the phone stopped: {err}")
            }
        }
    }

    /// Every line that arrives until none has for half a second (the logs of calls that
    /// just ended are still being written).
    pub fn logs(&self) -> Vec<Value> {
        std::iter::from_fn(|| self.lines.recv_timeout(Duration::from_millis(500)).ok()).collect()
    }

    /// Every line that has arrived so far.
    pub fn drain(&mut self) -> Vec<Value> {
        self.lines.try_iter().collect()
    }
}

impl Drop for Phone {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `ms` of an 8 kHz sine at `hz` with peak `amplitude`: loud enough to tell from silence
/// and comfort noise.
pub fn tone_8k(hz: f64, ms: usize, amplitude: f64) -> Vec<i16> {
    (0..ms * 8)
        .map(|i| ((i as f64 * hz * std::f64::consts::TAU / 8000.0).sin() * amplitude) as i16)
        .collect()
}

/// Write 8 kHz mono 16-bit `samples` to `path`.
pub fn write_wav_8k(path: &Path, samples: &[i16]) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).expect("wav");
    for &s in samples {
        w.write_sample(s).expect("sample");
    }
    w.finalize().expect("wav");
}

/// The INVITEs a test's user agent is handed.
pub type Invites =
    tokio::sync::mpsc::UnboundedReceiver<rsipstack::transaction::transaction::Transaction>;

/// A user agent on 127.0.0.1 (any port) that hands its new INVITEs to the test.
pub async fn answering_ua(
    media: voxdial::media::worker::MediaRuntime,
) -> (voxdial::sip::ua::SipUa, Invites) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let ua = voxdial::sip::ua::SipUa::bind_with(
        "127.0.0.1:0".parse().expect("addr"),
        media,
        voxdial::sip::ua::InboundRoutes {
            invite: Some(tx),
            register: None,
        },
    )
    .await
    .expect("bind");
    (ua, rx)
}
