//! The load run of issue 14: how many full AI calls voxdial holds at once on this machine.
//!
//! Per N (`VOXDIAL_LOOP_N=8,16,20,24`; default `4,8,12,16,20`): a fresh database with N en-US
//! leads, `voxdial run` with one bot-first campaign of N bots under progressive pacing, and
//! `voxdial phone customers` whose one persona talks for six turns, all child processes of
//! the release binary on 127.0.0.1. Measured:
//! - the concurrency reached, from the call records' answered and ended times;
//! - turn latency at the wire, from the customer phones' logs: the end of the customer's
//!   last voiced frame to the first bot voice it heard after it (the phone's clock on both
//!   ends, so neither process's scheduling is hidden);
//! - playout underruns (the bot's outbound audio running dry mid-prompt, counted by the
//!   media workers) and late media ticks, from `voxdial run --json`;
//! - the CPU split: utime+stime of each process from /proc/PID/stat over the run.
//!
//! The bar: p95 <= 1000 ms and no underruns. Other knobs: `VOXDIAL_LOOP_SPEECH` (a speech
//! config to use instead of voices/speech.yaml), `VOXDIAL_MEDIA_WORKERS` (passed through),
//! `VOXDIAL_LOOP_PORT` (the phones' SIP port, default 17080), `VOXDIAL_LOOP_KEEP=1` (keep
//! each run's folder and print it), `VOXDIAL_LOOP_BIN` (another voxdial binary to measure,
//! for A/B runs against an older build with the same harness).
//!
//! The prompt cache and the phones' voice cache live in a folder of their own under the
//! system temp dir (seeded from `data/cache/prompts`), so `data/` is only read.

use std::collections::BTreeMap;
mod common;
use common::{cpu_line, loadavg, spawn_listening, stop};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const THIS_BIN: &str = env!("CARGO_BIN_EXE_voxdial");
const REPO: &str = env!("CARGO_MANIFEST_DIR");
/// The bar of issue 14.
const P95_BAR_MS: u64 = 1000;
/// A run that has not finished by then is stopped and reported as such.
const RUN_LIMIT: Duration = Duration::from_secs(420);

/// Six turns the demo scenario (collection_m1_overdue) follows: identity, a repeat, the
/// amount, a promise too far out, a yes, a nearer date. Each bot prompt is several
/// seconds, so a call lasts about a minute and a half and all N calls overlap.
const PERSONAS: &str = r#"locale: en-US
personas:
  talker:
    weight: 1
    ring_s: 0.5
    behaviour: cooperative
    hangup_after_s: 4
    max_call_s: 240
    lines:
      en-US:
        - "yeah speaking"
        - "sorry, can you repeat that"
        - "how much is it again"
        - "I get paid on the 15th, I can pay it then"
        - "yes that is right"
        - "I'll pay it next Friday"
      zh-CN: ["是我", "你再说一遍", "多少钱来着", "我后天就还"]
"#;

/// The binary under test: this build's, or `VOXDIAL_LOOP_BIN`.
fn bin() -> String {
    std::env::var("VOXDIAL_LOOP_BIN").unwrap_or_else(|_| THIS_BIN.to_string())
}

fn main() {
    // `cargo test --all-targets` runs bench binaries without `--bench`: nothing to do then
    // (a load run takes minutes and needs the release binary).
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let bin = bin();
    let ns: Vec<usize> = std::env::var("VOXDIAL_LOOP_N")
        .unwrap_or_else(|_| "4,8,12,16,20".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .filter(|&n| (1..=99).contains(&n))
        .collect();
    let port: u16 = std::env::var("VOXDIAL_LOOP_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(17080);
    println!("voxdial load run: {bin}");
    println!("{}", cpu_line());
    let cache = shared_cache();
    let mut rows = Vec::new();
    for &n in &ns {
        println!("\n== N = {n} ==  load before: {}", loadavg());
        println!("{}", busiest());
        match run_one(n, port, &cache) {
            Ok(r) => {
                r.print_detail();
                rows.push(r);
            }
            Err(e) => println!("N = {n}: run failed: {e}"),
        }
    }
    println!("\n{}", Row::header());
    for r in &rows {
        println!("{}", r.line());
    }
    let best = rows.iter().filter(|r| r.meets_bar()).map(|r| r.n).max();
    match best {
        Some(n) => println!(
            "\nlargest N meeting the bar (p95 <= {P95_BAR_MS} ms at the wire, no underruns, all answered): {n}"
        ),
        None => println!("\nno N tried meets the bar (p95 <= {P95_BAR_MS} ms, no underruns)"),
    }
}

/// The prompt cache (seeded from data/cache/prompts) and the phones' voices, kept across
/// runs so only the first run of a machine synthesizes the static sentences.
fn shared_cache() -> PathBuf {
    let dir = std::env::temp_dir().join("voxdial-loop");
    let data = dir.join("data");
    std::fs::create_dir_all(data.join("cache/prompts")).expect("temp dir");
    let models = data.join("models");
    if !models.exists() {
        // A link left dangling by a checkout that has since moved is replaced.
        let _ = std::fs::remove_file(&models);
        std::os::unix::fs::symlink(Path::new(REPO).join("data/models"), &models)
            .expect("link to data/models");
    }
    let seed = Path::new(REPO).join("data/cache/prompts");
    if let Ok(entries) = std::fs::read_dir(&seed) {
        for e in entries.flatten() {
            let to = data.join("cache/prompts").join(e.file_name());
            if !to.exists() && e.path().is_file() {
                let _ = std::fs::copy(e.path(), to);
            }
        }
    }
    dir
}

struct Row {
    n: usize,
    answered: usize,
    concurrency: usize,
    turns: usize,
    no_reply: usize,
    p50: u64,
    p95: u64,
    max: u64,
    underruns: u64,
    late_ticks: u64,
    wall_s: f64,
    cpu_voxdial_s: f64,
    cpu_phones_s: f64,
    finished: bool,
    /// Where latency samples fall, for the detail print: (bucket floor ms, count).
    hist: BTreeMap<u64, usize>,
    /// The bot's own account of each turn ("turn timing" in the run's log).
    breakdown: String,
}

impl Row {
    fn header() -> String {
        format!(
            "{:>3} {:>8} {:>5} {:>6} {:>7} {:>7} {:>7} {:>7} {:>9} {:>6} {:>7} {:>12} {:>11} {:>5}",
            "N",
            "answered",
            "conc",
            "turns",
            "noreply",
            "p50ms",
            "p95ms",
            "maxms",
            "underruns",
            "late",
            "wall_s",
            "cpu_voxdial",
            "cpu_phones",
            "bar"
        )
    }

    fn meets_bar(&self) -> bool {
        self.finished
            && self.answered == self.n
            && self.turns > 0
            && self.p95 <= P95_BAR_MS
            && self.underruns == 0
    }

    fn line(&self) -> String {
        let pct = |s: f64| {
            if self.wall_s > 0.0 {
                format!("{:.0}s {:>3.0}%", s, 100.0 * s / self.wall_s)
            } else {
                format!("{s:.0}s")
            }
        };
        format!(
            "{:>3} {:>8} {:>5} {:>6} {:>7} {:>7} {:>7} {:>7} {:>9} {:>6} {:>7.0} {:>12} {:>11} {:>5}",
            self.n,
            self.answered,
            self.concurrency,
            self.turns,
            self.no_reply,
            self.p50,
            self.p95,
            self.max,
            self.underruns,
            self.late_ticks,
            self.wall_s,
            pct(self.cpu_voxdial_s),
            pct(self.cpu_phones_s),
            if self.meets_bar() { "yes" } else { "no" }
        )
    }

    fn print_detail(&self) {
        println!("{}", Self::header());
        println!("{}", self.line());
        let hist: Vec<String> = self
            .hist
            .iter()
            .map(|(b, c)| format!("{b}-{}:{c}", b + 250))
            .collect();
        println!("latency histogram (ms:count): {}", hist.join(" "));
        println!("{}", self.breakdown);
        if !self.finished {
            println!("(the run did not finish within {RUN_LIMIT:?}; it was stopped)");
        }
    }
}

fn run_one(n: usize, port: u16, cache: &Path) -> Result<Row, String> {
    let tmp = tempfile::Builder::new()
        .prefix("voxdial-loop-")
        .tempdir()
        .map_err(|e| e.to_string())?;
    let dir = tmp.path();
    let keep = std::env::var("VOXDIAL_LOOP_KEEP").is_ok_and(|v| v == "1");
    // Leads: the shape of demo/lists/demo_en.csv, one number each.
    let mut csv =
        String::from("customer_id,name,phone,amount_due,due_date,days_overdue,product,timezone\n");
    for i in 0..n {
        csv.push_str(&format!(
            "L{i:04},Load Customer,+1 212 555 {:04},1312.93,2026-11-05,25,Visa card,America/New_York\n",
            100 + i
        ));
    }
    std::fs::write(dir.join("leads.csv"), csv).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("personas.yaml"), PERSONAS).map_err(|e| e.to_string())?;
    let db = dir.join("voxdial.db");
    let out = Command::new(bin())
        .current_dir(REPO)
        .arg("--db")
        .arg(&db)
        .args(["campaign", "import"])
        .arg(dir.join("leads.csv"))
        .args(["--campaign", "load", "--scenario", "collection_m1_overdue"])
        .arg("--policy")
        .arg(Path::new(REPO).join("demo/policies/demo-loop.yaml"))
        .args(["--region", "US", "--set", "creditor=Acme Lending"])
        .output()
        .map_err(|e| format!("import: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "import failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let speech = std::env::var("VOXDIAL_LOOP_SPEECH")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(REPO).join("voices/speech.yaml"));
    let config = format!(
        r#"sip:
  listen: 127.0.0.1:0
database: {db}
recordings: {rec}
drain_timeout_s: 30
ring_timeout_s: 20
trunks:
  - name: phones
    proxy: 127.0.0.1:{port}
    channels: {n}
    cps: 20
campaigns:
  - name: load
    mode: bot_first
    locale: en-US
    pacing:
      strategy: progressive
    bots: {n}
speech:
  data: {data}
  config: {speech}
"#,
        db = db.display(),
        rec = dir.join("recordings").display(),
        data = cache.join("data").display(),
        speech = speech.display(),
    );
    std::fs::write(dir.join("voxdial.yaml"), config).map_err(|e| e.to_string())?;
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).map_err(|e| e.to_string())?;

    let mut phones = spawn_listening(
        Command::new(bin())
            .current_dir(REPO)
            .args(["phone", "customers", "--personas"])
            .arg(dir.join("personas.yaml"))
            .args(["--listen", &format!("127.0.0.1:{port}"), "--seed", "1"])
            .arg("--log-dir")
            .arg(&logs)
            .arg("--voice-cache")
            .arg(cache.join("phone-voices")),
        &dir.join("phones.err"),
        Duration::from_secs(300),
    )
    .map_err(|e| format!("the phones: {e}"))?;
    let phones_pid = phones.id();
    let phones_cpu0 = cpu_seconds(phones_pid).unwrap_or(0.0);

    let started = Instant::now();
    let mut run = Command::new(bin())
        .current_dir(REPO)
        .args(["run", "--config"])
        .arg(dir.join("voxdial.yaml"))
        .args(["--exit-when-idle", "--json"])
        .env("VOXDIAL_LOG", "voxdial=info,voxdial::service::run=debug")
        .stdout(Stdio::from(
            std::fs::File::create(dir.join("run.json")).map_err(|e| e.to_string())?,
        ))
        .stderr(Stdio::from(
            std::fs::File::create(dir.join("run.err")).map_err(|e| e.to_string())?,
        ))
        .spawn()
        .map_err(|e| format!("voxdial run: {e}"))?;
    let run_pid = run.id();
    // Read the process's times while it is a zombie (exited, not yet reaped): its final
    // utime+stime are still in /proc then.
    let mut finished = true;
    let mut run_cpu = 0.0;
    let mut threads: BTreeMap<u32, (String, f64)> = BTreeMap::new();
    let mut polls = 0u64;
    loop {
        std::thread::sleep(Duration::from_millis(100));
        polls += 1;
        if polls % 5 == 0 {
            sample_threads(run_pid, &mut threads);
        }
        let stat = std::fs::read_to_string(format!("/proc/{run_pid}/stat")).unwrap_or_default();
        if let Some(s) = cpu_seconds(run_pid) {
            run_cpu = s;
        }
        if state_of(&stat) == Some('Z') || stat.is_empty() {
            break;
        }
        if started.elapsed() > RUN_LIMIT {
            finished = false;
            stop(&mut run);
            break;
        }
    }
    let _ = run.wait();
    let wall_s = started.elapsed().as_secs_f64();
    // The phones write their last logs when the bot's BYE arrives: give them a moment.
    std::thread::sleep(Duration::from_millis(1500));
    let phones_cpu = cpu_seconds(phones_pid).unwrap_or(0.0) - phones_cpu0;
    stop(&mut phones);

    let run_json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("run.json")).unwrap_or_default())
            .unwrap_or_default();
    let camp = &run_json["campaigns"]["load"];
    let underruns = camp["playout_underruns"].as_u64().unwrap_or(0);
    let late_ticks = camp["late_media_ticks"].as_u64().unwrap_or(0);

    let (answered, concurrency) = concurrency(&db);
    let (lat, no_reply) = wire_latencies(&logs);
    let mut sorted = lat.clone();
    sorted.sort_unstable();
    let pct = |p: f64| -> u64 {
        if sorted.is_empty() {
            return 0;
        }
        let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
        sorted[rank.clamp(1, sorted.len()) - 1]
    };
    let mut hist = BTreeMap::new();
    for &l in &sorted {
        *hist.entry(l / 250 * 250).or_insert(0) += 1;
    }
    let mut breakdown =
        breakdown(&std::fs::read_to_string(dir.join("run.err")).unwrap_or_default());
    breakdown.push_str(&format!("\nvoxdial CPU by thread: {}", by_thread(&threads)));
    if keep {
        let kept = tmp.keep();
        println!("kept {}", kept.display());
    }
    Ok(Row {
        n,
        answered,
        concurrency,
        turns: sorted.len(),
        no_reply,
        p50: pct(50.0),
        p95: pct(95.0),
        max: sorted.last().copied().unwrap_or(0),
        underruns,
        late_ticks,
        wall_s,
        cpu_voxdial_s: run_cpu,
        cpu_phones_s: phones_cpu,
        finished,
        hist,
        breakdown,
    })
}

/// Each thread's CPU seconds so far (name, utime+stime), by thread id; a thread that has
/// ended keeps its last reading.
fn sample_threads(pid: u32, seen: &mut BTreeMap<u32, (String, f64)>) {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return;
    };
    let ticks = clock_ticks();
    for t in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(t.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some((_, rest))) = (stat.find('('), stat.rsplit_once(')')) else {
            continue;
        };
        let name = stat[open + 1..].split(')').next().unwrap_or("").to_string();
        let f: Vec<&str> = rest.split_whitespace().collect();
        let cpu = match (
            f.get(11).and_then(|x| x.parse::<f64>().ok()),
            f.get(12).and_then(|x| x.parse::<f64>().ok()),
        ) {
            (Some(u), Some(s)) => (u + s) / ticks,
            _ => continue,
        };
        if let Some(tid) = t.file_name().to_str().and_then(|x| x.parse().ok()) {
            seen.insert(tid, (name, cpu));
        }
    }
}

/// CPU seconds by kind of thread (names without their number), most first.
fn by_thread(seen: &BTreeMap<u32, (String, f64)>) -> String {
    let mut kinds: BTreeMap<String, (f64, usize)> = BTreeMap::new();
    for (name, cpu) in seen.values() {
        let kind = name.trim_end_matches(|c: char| c.is_ascii_digit() || c == '-');
        let e = kinds.entry(kind.to_string()).or_default();
        e.0 += cpu;
        e.1 += 1;
    }
    let mut v: Vec<_> = kinds.into_iter().filter(|(_, (c, _))| *c >= 0.5).collect();
    v.sort_by(|a, b| b.1 .0.total_cmp(&a.1 .0));
    v.iter()
        .map(|(k, (c, n))| format!("{k} {c:.0}s ({n})"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The state letter of a /proc/PID/stat line (after the command's closing parenthesis).
fn state_of(stat: &str) -> Option<char> {
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

/// utime + stime of a process, in seconds.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rsplit_once(')')?.1;
    // Fields after the command: state is field 3; utime 14, stime 15 (1-based).
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) / clock_ticks())
}

fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// Answered calls and the most that were up at once, from the call records.
fn concurrency(db: &Path) -> (usize, usize) {
    let calls = voxdial_json(db, &["calls", "list", "--json"]);
    let mut spans = Vec::new();
    for c in calls.as_array().into_iter().flatten() {
        let Some(id) = c["attempt"].as_i64() else {
            continue;
        };
        let view = voxdial_json(db, &["calls", "show", &id.to_string(), "--json"]);
        let d = &view["detail"];
        if let (Some(a), Some(e)) = (d["answered_at_ms"].as_i64(), d["ended_at_ms"].as_i64()) {
            spans.push((a, e));
        }
    }
    let mut edges: Vec<(i64, i32)> = spans.iter().flat_map(|&(a, e)| [(a, 1), (e, -1)]).collect();
    // An end before a start at the same instant: touching calls did not overlap.
    edges.sort();
    let (mut up, mut most) = (0i32, 0i32);
    for (_, d) in edges {
        up += d;
        most = most.max(up);
    }
    (spans.len(), most as usize)
}

fn voxdial_json(db: &Path, args: &[&str]) -> serde_json::Value {
    Command::new(bin())
        .current_dir(REPO)
        .arg("--db")
        .arg(db)
        .args(args)
        .output()
        .ok()
        .and_then(|o| serde_json::from_slice(&o.stdout).ok())
        .unwrap_or_default()
}

/// Wire turn latencies from the customer phones' logs: each line's last voiced frame to
/// the first bot voice heard after it, before the customer's next line. A line with no
/// bot voice after it (the call ended) counts as no reply.
fn wire_latencies(logs: &Path) -> (Vec<u64>, usize) {
    let mut lat = Vec::new();
    let mut no_reply = 0;
    for e in std::fs::read_dir(logs).into_iter().flatten().flatten() {
        let Ok(text) = std::fs::read_to_string(e.path()) else {
            continue;
        };
        let Ok(log) = serde_json::from_str::<serde_json::Value>(&text) else {
            continue;
        };
        let said: Vec<(u64, u64)> = log["leg"]["said"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| Some((s["at_ms"].as_u64()?, s["voice_end_ms"].as_u64()?)))
            .collect();
        let heard: Vec<u64> = log["leg"]["heard"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|h| h["start_ms"].as_u64())
            .collect();
        for (i, &(_, end)) in said.iter().enumerate() {
            let next = said.get(i + 1).map_or(u64::MAX, |s| s.0);
            match heard.iter().find(|&&h| h >= end && h < next) {
                Some(&h) => lat.push(h - end),
                None => no_reply += 1,
            }
        }
    }
    (lat, no_reply)
}

/// p50/p95 of each part of the bot's turn time, from the "turn timing" lines of the
/// run's log, and where the first reply sentence came from.
fn breakdown(log: &str) -> String {
    let keys = [
        "lag_ms",
        "endpoint_ms",
        "asr_ms",
        "asr_queue_ms",
        "decodes",
        "nlu_ms",
        "tts_first_ms",
        "total_ms",
    ];
    let mut vals: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let mut sources: BTreeMap<String, usize> = BTreeMap::new();
    let mut speculative = 0;
    let mut turns = 0;
    for line in log.lines().filter(|l| l.contains("turn timing")) {
        let line = strip_ansi(line);
        turns += 1;
        for field in line.split_whitespace() {
            let Some((k, v)) = field.split_once('=') else {
                continue;
            };
            if let (Some(key), Ok(x)) = (keys.iter().find(|&&x| x == k), v.parse::<f64>()) {
                vals.entry(key).or_default().push(x);
            } else if k == "tts_source" {
                *sources.entry(v.to_string()).or_default() += 1;
            } else if k == "speculative" && v == "true" {
                speculative += 1;
            }
        }
    }
    let mut out = format!("bot's account of {turns} turns (p50/p95 ms):");
    for k in keys {
        let mut v = vals.remove(k).unwrap_or_default();
        v.sort_by(f64::total_cmp);
        let p = |q: f64| {
            if v.is_empty() {
                return 0.0;
            }
            v[(((q / 100.0) * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1]
        };
        out.push_str(&format!(" {k} {:.0}/{:.0};", p(50.0), p(95.0)));
    }
    out.push_str(&format!(
        " speculative ASR {speculative}; first sentence from {sources:?}"
    ));
    // The recognizer's queue and the synthesis-ahead pool over the run (newer builds).
    for line in log.lines().filter(|l| l.contains("speech load")) {
        let line = strip_ansi(line);
        if let Some(at) = line.find("stats=") {
            out.push_str(&format!("\nspeech load: {}", &line[at + 6..]));
        }
    }
    out
}

/// The log's colour codes (ESC [ ... m) removed.
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The busiest processes right now, to say what else was running beside a figure.
fn busiest() -> String {
    let out = Command::new("ps")
        .args(["-eo", "pid,pcpu,comm", "--sort=-pcpu"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let top: Vec<String> = out
        .lines()
        .skip(1)
        .take(4)
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    let _ = std::io::stdout().flush();
    format!("busiest (pid %cpu comm): {}", top.join(" | "))
}
