//! Pacing live (issue 14): agent-first dialing of a few thousand leads through SIP on
//! 127.0.0.1, our predictive pacer against the VICIdial-style baseline on the same
//! population, one table at the end.
//!
//! Per strategy (`VOXDIAL_PACING_STRATEGIES`, default `predictive,vicidial`): a fresh
//! database with the same leads (`VOXDIAL_PACING_LEADS`, default 2000), `voxdial phone
//! customers` with the same seed (so every number answers, rings out or is busy the same
//! way in both runs), `VOXDIAL_PACING_AGENTS` (default 10) `voxdial phone agents` at fixed
//! contacts behind the built-in queue, each answering at once and talking 5-15 s (a draw
//! per lead and seed, so a customer talks as long in both runs), and `voxdial run` with one
//! agent-first campaign under a bench policy that compresses time: rings of at most 6 s,
//! one second of wrap-up, no retries within the run, abandoned after 2 s, 3 % limit.
//! Customers: 40 % answer (after 1, 2.5 or 4 s, then wait silently for the agent), 40 %
//! ring until the dialer gives up, 20 % are busy. Call-progress detection is off (the
//! customers say nothing, so it could only wait out its dead-air limit).
//!
//! Measured: dials, answered, abandoned (and the rate against the policy's limit), agents'
//! talk time per agent-hour of the run (the queue's bridged talk over agents x elapsed),
//! the mean wait of an agent between two calls (end of one to the answer of the next,
//! from the agents' logs, wrap-up included), elapsed. Other knobs: `VOXDIAL_PACING_PORT`
//! (first of the fixed ports, default 17180), `VOXDIAL_PACING_SEED` (default 1),
//! `VOXDIAL_PACING_KEEP=1` (keep each run's folder and print it).

mod common;
use common::{cpu_line, loadavg, spawn_listening, stop};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_voxdial");
const REPO: &str = env!("CARGO_MANIFEST_DIR");
/// The policy's abandon limit (below) and wait.
const MAX_ABANDON: f64 = 0.03;
/// Agents' talk time range, seconds.
const TALK_S: (f64, f64) = (5.0, 15.0);
/// Agents' wrap-up, seconds.
const WRAP_S: u32 = 1;

const PERSONAS: &str = r#"locale: en-US
personas:
  answers_fast: {weight: 15, ring_s: 1.0, behaviour: silent, max_call_s: 60}
  answers: {weight: 15, ring_s: 2.5, behaviour: silent, max_call_s: 60}
  answers_slow: {weight: 10, ring_s: 4.0, behaviour: silent, max_call_s: 60}
  no_answer: {weight: 40, answer: no_answer, behaviour: silent}
  busy: {weight: 20, answer: busy, ring_s: 1.0, behaviour: silent}
"#;

const POLICY: &str = r#"name: pacing-bench
description: >
  Bench only: any hour, one dial per lead within a run (retries a day later), rings of
  6 s, abandoned when no agent takes the call within 2 s, at most 3 % abandoned.
default_timezone: America/New_York
calling_hours:
  all: "00:00-24:00"
retry:
  no_answer: { delays: [1d], max_tries: 3 }
  busy: { delays: [1d], max_tries: 3 }
  abandoned: { delays: [1d], max_tries: 2 }
  failed: { delays: [1d], max_tries: 2 }
  voicemail: { delays: [1d], max_tries: 2 }
  rejected: { delays: [1d], max_tries: 2 }
abandon:
  max_rate: 0.03
  after_s: 2
min_ring_s: 6
abandon_message:
  caller: Acme Recovery
  callback: "+1 800 555 0100"
  text:
    en-US: "This is {caller}. Sorry, all our agents were busy. Please call us back on {callback}."
"#;

fn env_or<T: std::str::FromStr>(var: &str, default: T) -> T {
    std::env::var(var)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

fn main() {
    // `cargo test --all-targets` runs bench binaries without `--bench`: nothing to do then
    // (a run takes many minutes and needs the release binary).
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let leads: usize = env_or("VOXDIAL_PACING_LEADS", 2000).clamp(10, 100_000);
    let agents: usize = env_or("VOXDIAL_PACING_AGENTS", 10).clamp(1, 50);
    let port: u16 = env_or("VOXDIAL_PACING_PORT", 17180);
    let seed: u64 = env_or("VOXDIAL_PACING_SEED", 1);
    let strategies: Vec<String> = std::env::var("VOXDIAL_PACING_STRATEGIES")
        .unwrap_or_else(|_| "predictive,vicidial".into())
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    println!("voxdial pacing live: {BIN}");
    println!("{}", cpu_line());
    println!(
        "{leads} leads, {agents} agents talking {}-{} s with {WRAP_S} s wrap-up, seed {seed}",
        TALK_S.0, TALK_S.1
    );
    let cache = shared_cache();
    let mut rows = Vec::new();
    for s in &strategies {
        println!("\n== {s} ==  load before: {}", loadavg());
        match run_one(s, leads, agents, port, seed, &cache) {
            Ok(r) => {
                println!("{}", Row::header());
                println!("{}", r.line());
                rows.push(r);
            }
            Err(e) => println!("{s}: run failed: {e}"),
        }
    }
    println!("\n{}", Row::header());
    for r in &rows {
        println!("{}", r.line());
    }
    if let (Some(p), Some(v)) = (
        rows.iter().find(|r| r.strategy == "predictive"),
        rows.iter().find(|r| r.strategy == "vicidial"),
    ) {
        println!(
            "\npredictive vs vicidial: talk per agent-hour {:.0} vs {:.0} min ({:+.1} %); abandon rate {:.2} % vs {:.2} % (limit {:.0} %)",
            p.talk_min_per_agent_hour(),
            v.talk_min_per_agent_hour(),
            100.0 * (p.talk_min_per_agent_hour() / v.talk_min_per_agent_hour().max(1e-9) - 1.0),
            100.0 * p.abandon_rate(),
            100.0 * v.abandon_rate(),
            100.0 * MAX_ABANDON
        );
    }
}

/// The models link and the voice caches, kept across runs.
fn shared_cache() -> PathBuf {
    let dir = std::env::temp_dir().join("voxdial-pacing");
    let data = dir.join("data");
    std::fs::create_dir_all(&data).expect("temp dir");
    let models = data.join("models");
    if !models.exists() {
        let _ = std::fs::remove_file(&models);
        std::os::unix::fs::symlink(Path::new(REPO).join("data/models"), &models)
            .expect("link to data/models");
    }
    dir
}

struct Row {
    strategy: String,
    leads: usize,
    agents: usize,
    dials: u64,
    answered: u64,
    abandoned: u64,
    connected: u64,
    talk_s: f64,
    wait_mean_s: f64,
    wall_s: f64,
    finished: bool,
}

impl Row {
    fn abandon_rate(&self) -> f64 {
        if self.answered == 0 {
            0.0
        } else {
            self.abandoned as f64 / self.answered as f64
        }
    }

    fn talk_min_per_agent_hour(&self) -> f64 {
        let agent_h = self.agents as f64 * self.wall_s / 3600.0;
        if agent_h > 0.0 {
            self.talk_s / 60.0 / agent_h
        } else {
            0.0
        }
    }

    fn header() -> String {
        format!(
            "{:<11} {:>6} {:>6} {:>8} {:>9} {:>9} {:>13} {:>13} {:>10} {:>9} {:>5}",
            "strategy",
            "leads",
            "dials",
            "answered",
            "abandoned",
            "connected",
            "abandon(lim)",
            "talk/agent-h",
            "wait_s",
            "elapsed_s",
            "done"
        )
    }

    fn line(&self) -> String {
        format!(
            "{:<11} {:>6} {:>6} {:>8} {:>9} {:>9} {:>13} {:>10.1}min {:>10.1} {:>9.0} {:>5}",
            self.strategy,
            self.leads,
            self.dials,
            self.answered,
            self.abandoned,
            self.connected,
            format!(
                "{:.2}%({:.0}%)",
                100.0 * self.abandon_rate(),
                100.0 * MAX_ABANDON
            ),
            self.talk_min_per_agent_hour(),
            self.wait_mean_s,
            self.wall_s,
            if self.finished { "yes" } else { "no" }
        )
    }
}

fn run_one(
    strategy: &str,
    leads: usize,
    agents: usize,
    port: u16,
    seed: u64,
    cache: &Path,
) -> Result<Row, String> {
    let tmp = tempfile::Builder::new()
        .prefix("voxdial-pacing-")
        .tempdir()
        .map_err(|e| e.to_string())?;
    let dir = tmp.path();
    let mut csv = String::from("customer_id,phone,timezone\n");
    for i in 0..leads {
        csv.push_str(&format!(
            "P{i:05},+1 212 5{:02} {:04},America/New_York\n",
            50 + i / 10_000,
            i % 10_000
        ));
    }
    std::fs::write(dir.join("leads.csv"), csv).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("personas.yaml"), PERSONAS).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("policy.yaml"), POLICY).map_err(|e| e.to_string())?;
    let db = dir.join("voxdial.db");
    let out = Command::new(BIN)
        .current_dir(dir)
        .arg("--db")
        .arg(&db)
        .args(["campaign", "import", "leads.csv", "--campaign", "pace"])
        .args(["--policy", "policy.yaml", "--region", "US"])
        .output()
        .map_err(|e| format!("import: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "import failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let sip = port;
    let customers = port + 1;
    let agent_port = |i: usize| port + 10 + i as u16;
    let mut yaml = format!(
        r#"sip: {{listen: 127.0.0.1:{sip}}}
database: {db}
drain_timeout_s: 30
ring_timeout_s: 6
speech:
  data: {data}
  config: {speech}
trunks:
  - {{name: phones, proxy: 127.0.0.1:{customers}, channels: 120, cps: 30}}
queues:
  - name: agents
    max_wait_s: 30
    ring_timeout_s: 5
    wrap_up_s: {WRAP_S}
    agents:
"#,
        db = db.display(),
        data = cache.join("data").display(),
        speech = Path::new(REPO).join("voices/speech.yaml").display(),
    );
    for i in 0..agents {
        yaml.push_str(&format!(
            "      - {{user: 'a{i:02}', contact: 'sip:a{i:02}@127.0.0.1:{}'}}\n",
            agent_port(i)
        ));
    }
    yaml.push_str(&format!(
        r#"campaigns:
  - name: pace
    mode: agent_first
    locale: en-US
    queue: agents
    cpd: false
    pacing: {{strategy: {strategy}, handle_prior_s: {prior}}}
"#,
        prior = (TALK_S.0 + TALK_S.1) / 2.0 + f64::from(WRAP_S)
    ));
    std::fs::write(dir.join("voxdial.yaml"), yaml).map_err(|e| e.to_string())?;

    let mut phones = Vec::new();
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).map_err(|e| e.to_string())?;
    phones.push(spawn_listening(
        Command::new(BIN)
            .args(["phone", "customers", "--personas"])
            .arg(dir.join("personas.yaml"))
            .args(["--listen", &format!("127.0.0.1:{customers}")])
            .args(["--seed", &seed.to_string(), "--voice", "tone"])
            .arg("--voice-cache")
            .arg(cache.join("phone-voices")),
        &dir.join("customers.err"),
        Duration::from_secs(120),
    )?);
    for i in 0..agents {
        let log_dir = logs.join(format!("a{i:02}"));
        let p = spawn_listening(
            Command::new(BIN)
                .args(["phone", "agents", "--agent", &format!("a{i:02}")])
                .args(["--listen", &format!("127.0.0.1:{}", agent_port(i))])
                .args(["--answer-after-s", "0"])
                .args(["--hangup-after-s", &TALK_S.0.to_string()])
                .args(["--hangup-max-s", &TALK_S.1.to_string()])
                .args(["--seed", &seed.to_string()])
                .arg("--log-dir")
                .arg(&log_dir),
            &dir.join(format!("agent-{i:02}.err")),
            Duration::from_secs(120),
        );
        match p {
            Ok(p) => phones.push(p),
            Err(e) => {
                for mut p in phones {
                    stop(&mut p);
                }
                return Err(format!("agent {i}: {e}"));
            }
        }
    }
    let started = Instant::now();
    let limit = Duration::from_secs(60 + leads as u64 * 3);
    let mut run = Command::new(BIN)
        .current_dir(dir)
        .args(["run", "--config"])
        .arg(dir.join("voxdial.yaml"))
        .args(["--exit-when-idle", "--json"])
        .env("VOXDIAL_ROOT", REPO)
        .stdout(Stdio::from(
            std::fs::File::create(dir.join("run.json")).map_err(|e| e.to_string())?,
        ))
        .stderr(Stdio::from(
            std::fs::File::create(dir.join("run.err")).map_err(|e| e.to_string())?,
        ))
        .spawn()
        .map_err(|e| format!("voxdial run: {e}"))?;
    let mut finished = true;
    loop {
        if let Ok(Some(_)) = run.try_wait() {
            break;
        }
        if started.elapsed() > limit {
            finished = false;
            stop(&mut run);
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let wall_s = started.elapsed().as_secs_f64();
    // The agents write their last logs when the call's BYE arrives.
    std::thread::sleep(Duration::from_millis(1500));
    for mut p in phones {
        stop(&mut p);
    }
    let run_json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("run.json")).unwrap_or_default())
            .unwrap_or_default();
    let k = &run_json["campaigns"]["pace"];
    if k.is_null() {
        return Err(format!(
            "no report from voxdial run: {}",
            tail(&dir.join("run.err"))
        ));
    }
    let n = |key: &str| k[key].as_u64().unwrap_or(0);
    let row = Row {
        strategy: strategy.to_string(),
        leads,
        agents,
        dials: n("dials"),
        answered: n("answered"),
        abandoned: n("abandoned"),
        connected: n("connected"),
        talk_s: k["agent_talk_s"].as_f64().unwrap_or(0.0),
        wait_mean_s: mean_wait_s(&logs),
        wall_s,
        finished,
    };
    if std::env::var("VOXDIAL_PACING_KEEP").is_ok_and(|v| v == "1") {
        println!("kept {}", tmp.keep().display());
    }
    Ok(row)
}

/// The last lines of a log, for an error.
fn tail(p: &Path) -> String {
    let text = std::fs::read_to_string(p).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

/// Mean gap between an agent's consecutive calls (end of one to the answer of the next),
/// over every agent's log folder.
fn mean_wait_s(logs: &Path) -> f64 {
    let mut gaps = Vec::new();
    for agent in std::fs::read_dir(logs).into_iter().flatten().flatten() {
        let mut calls: Vec<(u64, u64)> = std::fs::read_dir(agent.path())
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let v: serde_json::Value =
                    serde_json::from_str(&std::fs::read_to_string(e.path()).ok()?).ok()?;
                Some((
                    v["leg"]["answered_ms"].as_u64()?,
                    v["leg"]["ended_ms"].as_u64()?,
                ))
            })
            .collect();
        calls.sort_unstable();
        for w in calls.windows(2) {
            gaps.push(w[1].0.saturating_sub(w[0].1) as f64 / 1000.0);
        }
    }
    if gaps.is_empty() {
        0.0
    } else {
        gaps.iter().sum::<f64>() / gaps.len() as f64
    }
}
