//! `voxdial demo`: the product running on 127.0.0.1. Imports the demo list into a fresh
//! folder, writes the run's config there, starts synthetic customers and an agent phone
//! (`voxdial phone`) and `voxdial run --exit-when-idle` as child processes of this same
//! binary, waits for the run under an overall timeout, stops the phones, and reports from
//! the database and the phones' logs (the arithmetic is in `demo_report`).
//!
//! No child outlives the demo: a guard kills and reaps every child when the demo returns,
//! fails or panics; SIGINT/SIGTERM end the wait (and so reach the guard); and each child is
//! started with `PR_SET_PDEATHSIG` so that even a `kill -9` of the demo takes them down.

use super::demo_report::{self, CallFacts, DemoReport, HandoffFacts};
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use voxdial::store::sqlite::SqliteStore;
use voxdial::store::{CallFilter, Store};

/// The demo's campaign, list, scenario and policy (issue 14, item 3).
const CAMPAIGN: &str = "demo-en";
const LIST: &str = "demo/lists/demo_en.csv";
const SCENARIO: &str = "collection_m1_overdue";
const POLICY: &str = "demo/policies/demo-loop.yaml";
const CONFIG: &str = "demo/voxdial.yaml";
const PERSONAS: &str = "demo/personas.yaml";
/// The marker that makes a folder the demo's own, so a fresh start may empty it.
const MARKER: &str = ".voxdial-demo";
/// The agent of the demo's built-in queue (demo/voxdial.yaml), reached at its phone's fixed
/// contact, so the demo needs no password in the environment.
const QUEUE_USER: &str = "1001";

/// `voxdial demo` flags.
#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// The run's folder: emptied at the start (only if an earlier demo made it).
    #[arg(long, default_value = "data/demo/loop")]
    pub dir: PathBuf,
    /// Dial only the list's first N leads (default: all 48).
    #[arg(long)]
    pub leads: Option<usize>,
    /// Calls the bots hold at once (this 2-core machine keeps turn latency under 1 s at ~4).
    #[arg(long, default_value_t = 4)]
    pub bots: u32,
    /// Seed of the customers' persona draw.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Give up (and fail) if the run has not finished after this many seconds.
    #[arg(long, default_value_t = 900)]
    pub timeout_s: u64,
}

/// Set by SIGINT/SIGTERM: the wait ends and the guard stops the children.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Run the demo; exits non-zero only when the run itself failed, never for a missed figure.
pub fn run(root: &Path, a: DemoArgs) -> Result<ExitCode> {
    let root = root
        .canonicalize()
        .with_context(|| format!("--root {}", root.display()))?;
    for f in [LIST, POLICY, CONFIG, PERSONAS] {
        if !root.join(f).is_file() {
            bail!(
                "{} not found: run `voxdial demo` from the repository root (or give --root)",
                root.join(f).display()
            );
        }
    }
    let dir = if a.dir.is_absolute() {
        a.dir.clone()
    } else {
        root.join(&a.dir)
    };
    fresh_dir(&dir)?;
    catch_signals();
    let exe = std::env::current_exe().context("finding the voxdial binary")?;
    let db = dir.join("voxdial.db");

    // The list, cut to --leads.
    let list = dir.join("leads.csv");
    let text =
        std::fs::read_to_string(root.join(LIST)).with_context(|| format!("reading {LIST}"))?;
    let keep = a.leads.map_or(usize::MAX, |n| n + 1);
    let cut: Vec<&str> = text.lines().take(keep).collect();
    std::fs::write(&list, cut.join("\n") + "\n")
        .with_context(|| format!("writing {}", list.display()))?;
    let import = Command::new(&exe)
        .current_dir(&root)
        .arg("--root")
        .arg(&root)
        .arg("--db")
        .arg(&db)
        .args(["campaign", "import"])
        .arg(&list)
        .args(["--campaign", CAMPAIGN, "--scenario", SCENARIO, "--policy"])
        .arg(root.join(POLICY))
        .args([
            "--region",
            "US",
            "--set",
            "creditor=Anxin Bank",
            "--rejects",
        ])
        .arg(dir.join("rejects.csv"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .context("starting `voxdial campaign import`")?;
    if !import.status.success() {
        bail!(
            "importing {LIST} failed: {}",
            String::from_utf8_lossy(&import.stderr).trim()
        );
    }

    let sip = free_port()?;
    let customers = free_port()?;
    let queue = free_port()?;
    let config = dir.join("voxdial.yaml");
    write_config(&root, &config, sip, customers, queue, a.bots)?;

    let logs = dir.join("phones");
    let mut kids = Children::default();
    let customer_logs = logs.join("customers");
    let agent_logs = logs.join("agents");
    for d in [&customer_logs, &agent_logs, &dir.join("agents")] {
        std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
    }
    let mut c = Command::new(&exe);
    c.current_dir(&root)
        .args(["phone", "customers", "--personas"])
        .arg(root.join(PERSONAS))
        .arg("--listen")
        .arg(customers.to_string())
        .args(["--seed", &a.seed.to_string(), "--log-dir"])
        .arg(&customer_logs)
        .arg("--data")
        .arg(root.join("data"));
    kids.start("customer phones", c, &dir)?;
    let mut c = Command::new(&exe);
    c.current_dir(&root)
        .args(["phone", "agents", "--agent", QUEUE_USER, "--listen"])
        .arg(queue.to_string())
        .args([
            "--answer-after-s",
            "1",
            "--say",
            "Hello, this is Maria from the collections team. How can I help you today?",
            "--hangup-after-s",
            "10",
            "--record-dir",
        ])
        .arg(dir.join("agents"))
        .arg("--log-dir")
        .arg(&agent_logs)
        .arg("--data")
        .arg(root.join("data"));
    kids.start("agent phone", c, &dir)?;
    // The customers synthesize their lines before listening: the first run takes a while.
    kids.wait_listening(Duration::from_secs(300))?;

    let started = Instant::now();
    let mut c = Command::new(&exe);
    c.current_dir(&root)
        .arg("--root")
        .arg(&root)
        .args(["run", "--config"])
        .arg(&config)
        .args(["--exit-when-idle", "--json"]);
    let run_out = dir.join("run.json");
    let status = kids.run_to_end(c, &dir, &run_out, Duration::from_secs(a.timeout_s))?;
    let run_s = started.elapsed().as_secs_f64();
    if !status.success() {
        bail!(
            "`voxdial run` failed ({status}); its log is {}",
            dir.join("run.stderr").display()
        );
    }
    // The last calls' logs are written as their BYEs land: a moment, then stop the phones.
    std::thread::sleep(Duration::from_millis(1500));
    kids.stop_all(Duration::from_secs(10));

    let mut report = report(&db, &customer_logs, &agent_logs)?;
    report.run_s = (run_s * 10.0).round() / 10.0;
    report.recordings = dir.join("recordings").display().to_string();
    report.transcripts = format!(
        "voxdial --db {} calls list | calls show ID [--json]",
        db.display()
    );
    report.phone_logs = logs.display().to_string();
    let json = serde_json::to_string(&report)?;
    std::fs::write(dir.join("report.json"), format!("{json}\n"))
        .with_context(|| format!("writing {}", dir.join("report.json").display()))?;
    if a.json {
        println!("{json}");
    } else {
        print_text(&report);
    }
    Ok(ExitCode::SUCCESS)
}

/// Empty the run's folder if an earlier demo made it; refuse a folder that is someone
/// else's (never delete what the demo did not write).
fn fresh_dir(dir: &Path) -> Result<()> {
    if dir.exists() {
        let ours = dir.join(MARKER).is_file();
        let empty = std::fs::read_dir(dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .next()
            .is_none();
        if !ours && !empty {
            bail!(
                "--dir {}: not empty and not made by `voxdial demo`; give an empty or new folder",
                dir.display()
            );
        }
        std::fs::remove_dir_all(dir).with_context(|| format!("emptying {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(
        dir.join(MARKER),
        "made by voxdial demo; emptied by the next one\n",
    )
    .with_context(|| format!("writing {}", dir.join(MARKER).display()))?;
    Ok(())
}

/// A 127.0.0.1 port free for both UDP and TCP now (SIP listens on both). Another process
/// could take it before the child binds it; the child then fails naming the address.
fn free_port() -> Result<SocketAddr> {
    for _ in 0..20 {
        let udp = UdpSocket::bind("127.0.0.1:0").context("finding a free UDP port")?;
        let addr = udp.local_addr().context("finding a free UDP port")?;
        if TcpListener::bind(addr).is_ok() {
            return Ok(addr);
        }
    }
    bail!("no port of 127.0.0.1 was free for both UDP and TCP")
}

/// The run's config: demo/voxdial.yaml with this run's addresses, the database and
/// recordings in the run's folder, the models folder absolute.
fn write_config(
    root: &Path,
    out: &Path,
    sip: SocketAddr,
    customers: SocketAddr,
    queue: SocketAddr,
    bots: u32,
) -> Result<()> {
    use serde_yaml_ng::Value;
    let src = root.join(CONFIG);
    let text = std::fs::read_to_string(&src).with_context(|| format!("reading {CONFIG}"))?;
    let mut v: Value =
        serde_yaml_ng::from_str(&text).with_context(|| format!("parsing {CONFIG}"))?;
    let set = |v: &mut Value, path: &[&str], to: Value| -> Result<()> {
        let mut at = v;
        for k in path {
            at = match k.parse::<usize>() {
                Ok(i) => at.get_mut(i),
                Err(_) => at.get_mut(*k),
            }
            .with_context(|| format!("{CONFIG} has no `{}`", path.join(".")))?;
        }
        *at = to;
        Ok(())
    };
    let s = |x: String| Value::String(x);
    set(&mut v, &["sip", "listen"], s(sip.to_string()))?;
    set(&mut v, &["database"], s("voxdial.db".into()))?;
    set(&mut v, &["recordings"], s("recordings".into()))?;
    set(&mut v, &["trunks", "0", "proxy"], s(customers.to_string()))?;
    set(&mut v, &["campaigns", "0", "name"], s(CAMPAIGN.into()))?;
    set(&mut v, &["campaigns", "0", "bots"], Value::from(bots))?;
    set(
        &mut v,
        &["queues", "0", "agents", "0", "contact"],
        s(format!("sip:{QUEUE_USER}@{queue}")),
    )?;
    set(
        &mut v,
        &["speech", "data"],
        s(root.join("data").display().to_string()),
    )?;
    // The operations endpoint (GET /healthz, /metrics), on a port nobody else's demo holds.
    set(&mut v, &["http", "listen"], s(free_port()?.to_string()))?;
    let head =
        format!("# Written by `voxdial demo` from {CONFIG}; paths are relative to this folder.\n");
    std::fs::write(out, head + &serde_yaml_ng::to_string(&v)?)
        .with_context(|| format!("writing {}", out.display()))?;
    Ok(())
}

/// SIGINT and SIGTERM set [`INTERRUPTED`]; the waits check it and return an error, so the
/// children's guard runs. A thread with its own small runtime listens.
fn catch_signals() {
    std::thread::spawn(|| {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async {
            #[cfg(unix)]
            {
                use tokio::signal::unix::{signal, SignalKind};
                let Ok(mut term) = signal(SignalKind::terminate()) else {
                    return;
                };
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            #[cfg(not(unix))]
            let _ = tokio::signal::ctrl_c().await;
            INTERRUPTED.store(true, Ordering::SeqCst);
        });
    });
}

/// The demo's child processes; dropping it kills and reaps whatever is still running.
#[derive(Default)]
struct Children {
    kids: Vec<(String, Child)>,
    /// One receiver per phone: its first stdout line (`{"listening": ...}`) or its end.
    listening: Vec<(String, mpsc::Receiver<Option<String>>)>,
}

impl Children {
    /// Start a phone; its stdout (one JSON line per call) is drained on a thread so the
    /// pipe never fills, its stderr goes to `<dir>/<name>.stderr`.
    fn start(&mut self, name: &str, mut cmd: Command, dir: &Path) -> Result<()> {
        let err = log_file(dir, name)?;
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(err);
        die_with_parent(&mut cmd);
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting the {name}"))?;
        let (tx, rx) = mpsc::channel();
        if let Some(out) = child.stdout.take() {
            std::thread::spawn(move || {
                let mut first = true;
                for line in BufReader::new(out).lines() {
                    let Ok(line) = line else { break };
                    if first {
                        let _ = tx.send(Some(line));
                        first = false;
                    }
                }
                if first {
                    let _ = tx.send(None);
                }
            });
        }
        self.kids.push((name.to_string(), child));
        self.listening.push((name.to_string(), rx));
        Ok(())
    }

    /// Wait until every phone printed its listening line.
    fn wait_listening(&mut self, limit: Duration) -> Result<()> {
        let deadline = Instant::now() + limit;
        for (name, rx) in std::mem::take(&mut self.listening) {
            loop {
                check_interrupted()?;
                match rx.recv_timeout(Duration::from_millis(200)) {
                    Ok(Some(line)) if line.contains("listening") => break,
                    Ok(_) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                        bail!("the {name} stopped before listening (see its .stderr in the run's folder)")
                    }
                    Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() > deadline => {
                        bail!(
                            "the {name} did not start listening within {} s",
                            limit.as_secs()
                        )
                    }
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                }
            }
        }
        Ok(())
    }

    /// Run `voxdial run` to its end, its stdout into `out`; past `limit` or on a signal,
    /// fail (the guard then kills everything).
    fn run_to_end(
        &mut self,
        mut cmd: Command,
        dir: &Path,
        out: &Path,
        limit: Duration,
    ) -> Result<std::process::ExitStatus> {
        let stdout =
            std::fs::File::create(out).with_context(|| format!("creating {}", out.display()))?;
        cmd.stdin(Stdio::null())
            .stdout(stdout)
            .stderr(log_file(dir, "run")?);
        die_with_parent(&mut cmd);
        let child = cmd.spawn().context("starting `voxdial run`")?;
        self.kids.push(("run".into(), child));
        let deadline = Instant::now() + limit;
        loop {
            check_interrupted()?;
            let Some((_, child)) = self.kids.last_mut() else {
                bail!("the run's process was lost");
            };
            if let Some(status) = child.try_wait().context("waiting for `voxdial run`")? {
                self.kids.pop();
                return Ok(status);
            }
            if Instant::now() > deadline {
                bail!(
                    "`voxdial run` had not finished after {} s: stopped everything (see {})",
                    limit.as_secs(),
                    dir.join("run.stderr").display()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// SIGTERM every child, give them `grace` to exit, kill the rest.
    fn stop_all(&mut self, grace: Duration) {
        for (_, c) in &self.kids {
            terminate(c);
        }
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if self
                .kids
                .iter_mut()
                .all(|(_, c)| matches!(c.try_wait(), Ok(Some(_))))
            {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.kill_all();
    }

    fn kill_all(&mut self) {
        for (name, mut c) in self.kids.drain(..) {
            if matches!(c.try_wait(), Ok(None)) {
                if let Err(e) = c.kill() {
                    eprintln!("warning: could not kill the {name}: {e}");
                }
            }
            // Reap it, so no zombie is left either.
            let _ = c.wait();
        }
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        self.kill_all();
    }
}

fn check_interrupted() -> Result<()> {
    if INTERRUPTED.load(Ordering::SeqCst) {
        bail!("interrupted: stopped every child process");
    }
    Ok(())
}

fn log_file(dir: &Path, name: &str) -> Result<std::fs::File> {
    let p = dir.join(format!("{}.stderr", name.replace(' ', "-")));
    std::fs::File::create(&p).with_context(|| format!("creating {}", p.display()))
}

/// SIGTERM, so the phones and the run finish their logs and drain.
fn terminate(c: &Child) {
    #[cfg(unix)]
    if let Ok(pid) = libc::pid_t::try_from(c.id()) {
        // SAFETY: kill(2) with a pid this process spawned and has not reaped yet.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
    }
    #[cfg(not(unix))]
    let _ = c;
}

/// On Linux, the child gets SIGKILL when the demo dies, even by `kill -9`.
fn die_with_parent(cmd: &mut Command) {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = cmd;
}

/// Read the logs of a phone folder (one JSON file per call); unreadable files are named
/// in a warning and skipped: a half-written log must not lose the whole report.
fn read_logs(dir: &Path) -> Vec<serde_json::Value> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .filter_map(|p| {
            match std::fs::read(&p)
                .map_err(anyhow::Error::from)
                .and_then(|b| serde_json::from_slice(&b).map_err(anyhow::Error::from))
            {
                Ok(v) => Some(v),
                Err(e) => {
                    eprintln!("warning: skipping {}: {e}", p.display());
                    None
                }
            }
        })
        .collect()
}

/// The report from the database and the phones' logs.
fn report(db: &Path, customer_logs: &Path, agent_logs: &Path) -> Result<DemoReport> {
    let store = SqliteStore::open(db).with_context(|| format!("opening {}", db.display()))?;
    let list = store.calls(&CallFilter {
        campaign: Some(CAMPAIGN.into()),
        ..CallFilter::default()
    })?;
    let mut facts = Vec::new();
    for s in list {
        let detail = if s.has_detail {
            store.call(s.attempt)?.and_then(|v| v.detail)
        } else {
            None
        };
        facts.push(CallFacts {
            attempt: s.attempt,
            outcome: s.outcome.map(|o| o.as_str().to_string()),
            disposition: s.disposition.clone(),
            answered: detail.as_ref().is_some_and(|d| d.answered_at_ms.is_some()),
            handoff: detail
                .as_ref()
                .and_then(|d| d.handoff.as_ref())
                .map(|h| HandoffFacts {
                    attempt: s.attempt,
                    reason: h.reason.clone(),
                    result: h.result.as_str().to_string(),
                    agent: h.agent.clone(),
                    failure: h.failure.clone(),
                    method: h.method.map(|m| m.as_str().to_string()),
                }),
            recording: detail.and_then(|d| d.recording),
        });
    }
    let campaign = store.campaign(CAMPAIGN)?;
    let blocks: BTreeMap<String, u64> = store.stats(campaign.id)?.blocks;
    Ok(demo_report::summarize(
        &facts,
        &read_logs(customer_logs),
        &read_logs(agent_logs),
        blocks,
    ))
}

fn ms(v: Option<u64>) -> String {
    v.map_or("-".into(), |v| format!("{v} ms"))
}

fn met(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "MISSED"
    }
}

fn print_text(r: &DemoReport) {
    println!(
        "== voxdial demo: campaign {CAMPAIGN}, {:.0} s of `voxdial run`",
        r.run_s
    );
    println!(
        "calls {}  answered {}  abandon rate {:.1} %",
        r.calls,
        r.answered,
        r.abandon_rate * 100.0
    );
    println!("outcomes:");
    for (o, n) in &r.outcomes {
        println!("  {o:<20} {n:>4}");
    }
    if !r.dispositions.is_empty() {
        println!("dispositions:");
        for (o, n) in &r.dispositions {
            println!("  {o:<20} {n:>4}");
        }
    }
    println!(
        "hand-offs {}  reached an agent {}  failed {}  bridged {}",
        r.transfers, r.transfers_reached_agent, r.transfer_failures, r.transfers_bridged
    );
    for h in &r.handoffs {
        println!(
            "  call {:<5} {:<22} {:<14} {:<7} {}{}",
            h.attempt,
            h.reason,
            h.result,
            h.method.as_deref().unwrap_or("-"),
            h.agent
                .as_deref()
                .map(|a| format!("agent {a}"))
                .unwrap_or_default(),
            h.failure
                .as_deref()
                .map(|f| format!("why: {f}"))
                .unwrap_or_default()
        );
    }
    println!(
        "turn latency at the wire ({} turns): p50 {}  p95 {}",
        r.turns_measured,
        ms(r.turn_latency_p50_ms),
        ms(r.turn_latency_p95_ms)
    );
    if r.compliance_blocks.is_empty() {
        println!("compliance blocks: none");
    } else {
        println!("compliance blocks:");
        for (rule, n) in &r.compliance_blocks {
            println!("  {rule:<20} {n:>4}");
        }
    }
    println!("recordings:  {}", r.recordings);
    println!("transcripts: {}", r.transcripts);
    println!("phone logs:  {}", r.phone_logs);
    println!("the bar:");
    println!(
        "  >= {} answered calls          {}",
        demo_report::BAR_ANSWERED,
        met(r.bar.answered_at_least_20)
    );
    println!(
        "  >= 1 hand-off reaching an agent {}",
        met(r.bar.handoff_reached_agent)
    );
    println!(
        "  turn latency p95 <= {} ms     {}",
        demo_report::BAR_P95_MS,
        met(r.bar.turn_latency_p95_at_most_1000_ms)
    );
}
