//! The bridge fallback end to end on 127.0.0.1 (issue 14): `voxdial run` dials
//! `voxdial phone customers`, whose persona refuses REFER. The refused hand-off goes to
//! the built-in queue by an INVITE of voxdial's own, carrying the `X-Voxdial-*` context;
//! voxdial relays both ways and records the customer's leg, and the queue rings the agent
//! phone (`voxdial phone agents`). When the queue has nobody, or gives up, the customer
//! goes back to whoever held the call (the bot takes them back and says sorry).
//!
//! The bot's tests need the speech models (skipped without them); the test script's run
//! anywhere (the phones speak with `--voice tone`). Every port is a free one found at run
//! time, so these tests take no lock and run beside the others.

#![cfg_attr(not(feature = "speech"), allow(dead_code))]

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The customer's number: the test personas file names it.
const NUMBER: &str = "+12125550199";
/// The built-in queue's only agent.
const AGENT: &str = "1001";
/// What the agent says once they answer.
const AGENT_LINE: &str = "Hello, this is Maria from the collections team. How can I help you?";
/// The variable holding the registering agent's password (the no-agent case).
const PASSWORD_ENV: &str = "VOXDIAL_BRIDGE_TEST_AGENT_PW";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_voxdial"));
    c.current_dir(root());
    c
}

/// A 127.0.0.1 port free for both UDP and TCP now (SIP listens on both).
fn free_port() -> SocketAddr {
    for _ in 0..50 {
        let udp = UdpSocket::bind("127.0.0.1:0").expect("udp");
        let addr = udp.local_addr().expect("addr");
        if TcpListener::bind(addr).is_ok() {
            return addr;
        }
    }
    panic!("no port of 127.0.0.1 free for both UDP and TCP");
}

fn models_present() -> bool {
    let m = root().join("data/models");
    m.join("asr").is_dir() && m.join("tts").is_dir()
}

/// The child processes of a test; killed and reaped when it ends, passed or not.
#[derive(Default)]
struct Kids(Vec<Child>);

impl Drop for Kids {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Kids {
    /// Start a phone; returns once it prints its listening line.
    fn phone(&mut self, args: &[&str], stderr: &Path) {
        let mut child = bin()
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(stderr).expect("stderr file"))
            .spawn()
            .expect("start voxdial phone");
        let out = child.stdout.take().expect("stdout");
        self.0.push(child);
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        // A first run synthesizes the lines before listening.
        let first = rx
            .recv_timeout(Duration::from_secs(300))
            .unwrap_or_else(|_| {
                panic!(
                    "no listening line: {}",
                    std::fs::read_to_string(stderr).unwrap_or_default()
                )
            });
        assert!(first.contains("listening"), "first line: {first}");
        // Keep draining its stdout (one JSON line per call) so the pipe never fills.
        std::thread::spawn(move || while rx.recv().is_ok() {});
    }
}

/// Which agent holds the answered call: the speech bot, or the test script (REFER one
/// second after the answer, hang up `hangup_s` after it).
#[derive(Clone, Copy)]
enum Holder {
    Bot,
    Script { hangup_s: f64 },
}

/// How the queue's agent is reached.
#[derive(Clone, Copy)]
enum AgentSetup {
    /// A phone at a fixed contact, answering after `answer_s`.
    Phone { answer_s: f64 },
    /// An agent who must register, and never does: nobody is logged in.
    Nobody,
}

struct Rig {
    kids: Kids,
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    _one: std::sync::MutexGuard<'static, ()>,
}

impl Rig {
    fn db(&self) -> PathBuf {
        self.dir.join("voxdial.db")
    }

    fn logs(&self, who: &str) -> Vec<Value> {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(self.dir.join("logs").join(who))
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        paths.sort();
        paths
            .iter()
            .filter_map(|p| serde_json::from_slice(&std::fs::read(p).ok()?).ok())
            .collect()
    }

    /// Wait (up to `secs`) for `n` call logs of `who`.
    fn wait_logs(&self, who: &str, n: usize, secs: u64) -> Vec<Value> {
        let end = Instant::now() + Duration::from_secs(secs);
        loop {
            let logs = self.logs(who);
            if logs.len() >= n || Instant::now() > end {
                return logs;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn calls_show(&self, json: bool) -> String {
        let attempt = self.attempt();
        let mut args = vec!["calls", "show", &attempt];
        if json {
            args.push("--json");
        }
        let out = bin()
            .arg("--db")
            .arg(self.db())
            .args(&args)
            .output()
            .expect("calls show");
        assert!(
            out.status.success(),
            "calls show: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The one attempt of the run.
    fn attempt(&self) -> String {
        let out = bin()
            .arg("--db")
            .arg(self.db())
            .args(["calls", "list", "--json"])
            .output()
            .expect("calls list");
        let v: Value = serde_json::from_slice(&out.stdout).expect("calls list JSON");
        let calls = v.as_array().expect("a list");
        assert_eq!(calls.len(), 1, "one attempt: {v}");
        calls[0]["attempt"].to_string()
    }

    fn record(&self) -> Value {
        serde_json::from_str(&self.calls_show(true)).expect("calls show JSON")
    }
}

/// The personas file: the one number refuses REFER and says `lines` (in English; a
/// persona needs its Chinese lines too, which nobody dials here).
fn personas(dir: &Path, lines: &[&str]) -> PathBuf {
    let quoted: Vec<String> = lines.iter().map(|l| format!("{l:?}")).collect();
    let zh: Vec<&str> = ["是我", "转人工", "你好 我想问一下还款的事"]
        .into_iter()
        .cycle()
        .take(lines.len())
        .collect();
    let text = format!(
        "locale: en-US\nnumbers:\n  \"{NUMBER}\": refuses\npersonas:\n  refuses:\n    \
         ring_s: 0.5\n    behaviour: asks_for_human\n    on_refer: refuse\n    \
         hangup_after_s: 8\n    max_call_s: 120\n    lines:\n      en-US: [{}]\n      \
         zh-CN: [{}]\n",
        quoted.join(", "),
        zh.join(", ")
    );
    let p = dir.join("personas.yaml");
    std::fs::write(&p, text).expect("personas");
    p
}

/// One run at a time: each is a service, two phones and (for the bot) its models on a
/// machine of two cores, and the customers' turn-taking is timed.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Import the one lead, write the run's config, start the phones, run `voxdial run` until
/// idle. The phones stay up (their last logs are written as the calls' BYEs land).
fn run(holder: Holder, agent: AgentSetup, max_wait_s: u32, lines: &[&str]) -> Rig {
    let guard = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().to_path_buf();
    let mut rig = Rig {
        kids: Kids::default(),
        _tmp: tmp,
        dir: dir.clone(),
        _one: guard,
    };
    let list = dir.join("leads.csv");
    std::fs::write(
        &list,
        format!(
            "customer_id,name,phone,amount_due,due_date,days_overdue,product,timezone\n\
             D9001,Patricia Moore,{NUMBER},2279.31,2026-11-11,19,Visa card,America/New_York\n"
        ),
    )
    .expect("list");
    let out = bin()
        .arg("--root")
        .arg(root())
        .arg("--db")
        .arg(rig.db())
        .args(["campaign", "import"])
        .arg(&list)
        .args([
            "--campaign",
            "bridge",
            "--scenario",
            "collection_m1_overdue",
        ])
        .arg("--policy")
        .arg(root().join("demo/policies/demo-loop.yaml"))
        .args(["--region", "US", "--set", "creditor=Anxin Bank"])
        .output()
        .expect("import");
    assert!(
        out.status.success(),
        "import: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let (sip, customers, agent_addr) = (free_port(), free_port(), free_port());
    let data = root().join("data");
    let voice: Vec<String> = match holder {
        // The bot must understand the customer: the phones speak with the TTS voice.
        Holder::Bot => vec![],
        Holder::Script { .. } => vec!["--voice".into(), "tone".into()],
    };
    let cache = dir.join("voices");
    for d in ["logs/customers", "logs/agents", "agent-recordings"] {
        std::fs::create_dir_all(dir.join(d)).expect("dirs");
    }
    let personas = personas(&dir, lines);
    let mut args: Vec<String> = vec![
        "phone".into(),
        "customers".into(),
        "--personas".into(),
        personas.display().to_string(),
        "--listen".into(),
        customers.to_string(),
        "--log-dir".into(),
        dir.join("logs/customers").display().to_string(),
        "--data".into(),
        data.display().to_string(),
        "--voice-cache".into(),
        cache.display().to_string(),
    ];
    args.extend(voice.iter().cloned());
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    rig.kids.phone(&a, &dir.join("customers.stderr"));

    let queue_agent = match agent {
        AgentSetup::Phone { answer_s } => {
            let mut args: Vec<String> = vec![
                "phone".into(),
                "agents".into(),
                "--agent".into(),
                AGENT.into(),
                "--listen".into(),
                agent_addr.to_string(),
                "--answer-after-s".into(),
                answer_s.to_string(),
                "--say".into(),
                AGENT_LINE.into(),
                // The agent ends the call, some seconds after the customer's line to them:
                // the customer waits longer after their last line (the personas file).
                "--hangup-after-s".into(),
                "14".into(),
                "--record-dir".into(),
                dir.join("agent-recordings").display().to_string(),
                "--log-dir".into(),
                dir.join("logs/agents").display().to_string(),
                "--data".into(),
                data.display().to_string(),
                "--voice-cache".into(),
                cache.display().to_string(),
            ];
            args.extend(voice.iter().cloned());
            let a: Vec<&str> = args.iter().map(String::as_str).collect();
            rig.kids.phone(&a, &dir.join("agent.stderr"));
            format!("{{user: '{AGENT}', contact: 'sip:{AGENT}@{agent_addr}'}}")
        }
        AgentSetup::Nobody => format!("{{user: '{AGENT}', password_env: {PASSWORD_ENV}}}"),
    };
    let script = match holder {
        Holder::Bot => String::new(),
        Holder::Script { hangup_s } => {
            format!("    script: {{refer_after_s: 1, hangup_after_s: {hangup_s}}}\n")
        }
    };
    let config = format!(
        "sip: {{listen: {sip}}}\ndatabase: voxdial.db\nrecordings: recordings\n\
         drain_timeout_s: 10\nring_timeout_s: 15\n\
         trunks:\n  - {{name: phones, proxy: {customers}, channels: 2, cps: 5}}\n\
         campaigns:\n  - name: bridge\n    mode: bot_first\n    locale: en-US\n    \
         pacing: {{strategy: progressive}}\n    bots: 1\n    queue: collections\n{script}\
         queues:\n  - name: collections\n    max_wait_s: {max_wait_s}\n    \
         ring_timeout_s: 4\n    wrap_up_s: 1\n    agents:\n      - {queue_agent}\n\
         speech:\n  data: {}\n",
        data.display()
    );
    let cfg = dir.join("voxdial.yaml");
    std::fs::write(&cfg, config).expect("config");

    let mut run = bin()
        .arg("--root")
        .arg(root())
        .args(["run", "--config"])
        .arg(&cfg)
        .args(["--exit-when-idle", "--json"])
        .env(PASSWORD_ENV, "not-used-nobody-registers")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(dir.join("run.json")).expect("run.json"))
        .stderr(std::fs::File::create(dir.join("run.stderr")).expect("run.stderr"))
        .spawn()
        .expect("voxdial run");
    let end = Instant::now() + Duration::from_secs(240);
    let status = loop {
        if let Some(s) = run.try_wait().expect("wait") {
            break s;
        }
        if Instant::now() > end {
            let _ = run.kill();
            let _ = run.wait();
            panic!(
                "voxdial run did not finish in 240 s: {}",
                std::fs::read_to_string(dir.join("run.stderr")).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        status.success(),
        "voxdial run: {}",
        std::fs::read_to_string(dir.join("run.stderr")).unwrap_or_default()
    );
    rig
}

/// The record's hand-off, after checking it went by bridge.
fn bridged_handoff(v: &Value) -> Value {
    let h = v["detail"]["handoff"].clone();
    assert_eq!(h["method"], "bridge", "{v}");
    assert_eq!(h["queue"], "collections", "{v}");
    h
}

/// Whether `segments` (`heard` of a phone's log) hold voice overlapping `from..to` (ms
/// since the Unix epoch, both phones on this machine's clock) for at least `ms`.
fn heard_during(segments: &Value, from: u64, to: u64, ms: u64) -> bool {
    segments.as_array().is_some_and(|a| {
        a.iter().any(|s| {
            let (Some(s0), Some(s1)) = (s["start_ms"].as_u64(), s["end_ms"].as_u64()) else {
                return false;
            };
            s1.min(to).saturating_sub(s0.max(from)) >= ms
        })
    })
}

/// The agent phone's log: answered, with the context, and the customer's voice reached it
/// while the customer said `line`; the customer's log: the agent's line reached it.
fn audio_went_both_ways(rig: &Rig, line: &str) -> (Value, Value) {
    let agents = rig.wait_logs("agents", 1, 20);
    let customers = rig.wait_logs("customers", 1, 20);
    assert_eq!(agents.len(), 1, "one call reached the agent: {agents:?}");
    assert_eq!(customers.len(), 1, "{customers:?}");
    let (a, c) = (agents[0].clone(), customers[0].clone());
    assert_eq!(a["result"], "answered", "{a}");
    let ctx: Vec<(String, String)> = a["context"]
        .as_array()
        .expect("context")
        .iter()
        .map(|kv| {
            (
                kv[0].as_str().unwrap_or("").to_string(),
                kv[1].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    for key in ["Campaign", "Lead", "Attempt"] {
        assert!(
            ctx.iter().any(|(k, _)| k == key),
            "the agent's phone got X-Voxdial-{key}: {a}"
        );
    }
    assert!(
        ctx.contains(&("Campaign".to_string(), "bridge".to_string())),
        "{a}"
    );
    // The customer refused the REFER and never placed a leg of their own.
    assert_eq!(c["on_refer"], "refuse", "{c}");
    assert!(c["referred"].is_null(), "{c}");
    // The agent's line, as the agent's phone sent it, reached the customer's phone.
    let said = &a["leg"]["said"];
    let (s0, s1) = (
        said["at_ms"].as_u64().expect("the agent spoke"),
        said["voice_end_ms"].as_u64().expect("voice end"),
    );
    assert!(
        heard_during(&c["leg"]["heard"], s0, s1, (s1 - s0) / 2),
        "the customer heard the agent's line ({s0}..{s1}): {c}"
    );
    // The customer's line to the agent reached the agent's phone.
    let line_said = c["leg"]["said"]
        .as_array()
        .and_then(|l| l.iter().find(|x| x["text"] == line))
        .unwrap_or_else(|| panic!("the customer said {line:?}: {c}"));
    let (l0, l1) = (
        line_said["at_ms"].as_u64().expect("at"),
        line_said["voice_end_ms"].as_u64().expect("voice end"),
    );
    assert!(
        heard_during(&a["leg"]["heard"], l0, l1, (l1 - l0) / 2),
        "the agent heard the customer's line ({l0}..{l1}): {a}"
    );
    (a, c)
}

/// Mean absolute level of one channel of the customer leg's recording between two
/// offsets from its start (ms).
fn level(wav: &Path, channel: usize, from_ms: u64, to_ms: u64) -> f64 {
    let mut r = hound::WavReader::open(wav).expect("recording");
    assert_eq!(r.spec().channels, 2, "stereo");
    let rate = u64::from(r.spec().sample_rate);
    let all: Vec<i16> = r.samples::<i16>().map(|s| s.expect("sample")).collect();
    let (a, b) = (
        (from_ms * rate / 1000) as usize,
        (to_ms * rate / 1000) as usize,
    );
    let frames: Vec<i16> = all
        .chunks(2)
        .skip(a)
        .take(b.saturating_sub(a))
        .map(|f| f[channel])
        .collect();
    assert!(
        !frames.is_empty(),
        "the recording covers {from_ms}..{to_ms} ms"
    );
    frames.iter().map(|s| f64::from(*s).abs()).sum::<f64>() / frames.len() as f64
}

/// The customer leg's recording (left: customer, right: what they heard) kept going
/// through the bridge: the agent's line is on the right, the customer's line to the
/// agent on the left.
fn recording_has_both(rig: &Rig, record: &Value, agent: &Value, customer: &Value, line: &str) {
    let d = &record["detail"];
    let path = PathBuf::from(d["recording"].as_str().expect("recording path"));
    let path = if path.is_absolute() {
        path
    } else {
        rig.dir.join(path)
    };
    let start = d["answered_at_ms"].as_u64().expect("answered");
    let said = &agent["leg"]["said"];
    let (s0, s1) = (
        said["at_ms"].as_u64().expect("at") - start,
        said["voice_end_ms"].as_u64().expect("end") - start,
    );
    let l = customer["leg"]["said"]
        .as_array()
        .and_then(|l| l.iter().find(|x| x["text"] == line))
        .expect("line");
    let (l0, l1) = (
        l["at_ms"].as_u64().expect("at") - start,
        l["voice_end_ms"].as_u64().expect("end") - start,
    );
    let agent_heard = level(&path, 1, s0 + 200, s1.saturating_sub(200).max(s0 + 400));
    let customer_said = level(&path, 0, l0 + 200, l1.saturating_sub(200).max(l0 + 400));
    assert!(
        agent_heard > 100.0 && customer_said > 100.0,
        "both parties in {}: agent (right) {agent_heard:.0}, customer (left) {customer_said:.0}",
        path.display()
    );
}

#[test]
fn a_scripted_call_whose_customer_refuses_refer_reaches_the_agent_by_bridge() {
    let line = "hi, I'd like to talk about my loan payment";
    let rig = run(
        Holder::Script { hangup_s: 90.0 },
        AgentSetup::Phone { answer_s: 1.0 },
        30,
        &[line],
    );
    let (a, c) = audio_went_both_ways(&rig, line);
    let v = rig.record();
    let h = bridged_handoff(&v);
    assert_eq!(h["result"], "reached_agent", "{v}");
    assert_eq!(h["agent"], AGENT, "{v}");
    assert!(h["failure"].is_null(), "{v}");
    recording_has_both(&rig, &v, &a, &c, line);
    let text = rig.calls_show(false);
    assert!(
        text.contains("-> reached_agent by bridge, queue collections, agent 1001"),
        "{text}"
    );
}

#[test]
fn a_queue_that_gives_up_after_answering_hands_the_customer_back() {
    // The agent's phone rings longer than the queue lets a customer wait: the queue
    // answers our INVITE, plays hold audio, gives up, and says why in its BYE's Reason.
    let rig = run(
        Holder::Script { hangup_s: 4.0 },
        AgentSetup::Phone { answer_s: 30.0 },
        3,
        &["hello, is anybody there"],
    );
    let v = rig.record();
    let h = bridged_handoff(&v);
    assert_eq!(h["result"], "failed", "{v}");
    let why = h["failure"].as_str().unwrap_or("");
    for part in [
        "REFER refused (603 Decline)",
        "the target gave up on the bridge (480 Temporarily Unavailable)",
        "queue: no agent free within 3 s",
    ] {
        assert!(why.contains(part), "`{part}` in the failure: {why}");
    }
    // The script got the customer back and hung up itself, after the hand-off.
    assert_eq!(v["call"]["outcome"], "connected", "{v}");
}

#[cfg(feature = "speech")]
#[test]
fn a_customer_whose_phone_refuses_refer_reaches_the_agent_through_the_bridge() {
    if !models_present() {
        eprintln!("skipping: speech models missing (scripts/setup.sh installs them)");
        return;
    }
    let line = "hi, I'd like to talk about my loan payment";
    let rig = run(
        Holder::Bot,
        AgentSetup::Phone { answer_s: 1.0 },
        30,
        &["yes this is me", "let me talk to a human", line],
    );
    let (a, c) = audio_went_both_ways(&rig, line);
    let v = rig.record();
    let h = bridged_handoff(&v);
    assert_eq!(h["result"], "reached_agent", "{v}");
    assert_eq!(h["agent"], AGENT, "{v}");
    assert!(h["failure"].is_null(), "{v}");
    // The bot asked for a person (its reason reached the agent's phone), and said nothing
    // after its "please hold".
    assert_ne!(h["reason"], "unspecified", "{v}");
    assert!(
        a["context"]
            .as_array()
            .is_some_and(|c| c.iter().any(|kv| kv[0] == "Reason" && kv[1] == h["reason"])),
        "{a}"
    );
    recording_has_both(&rig, &v, &a, &c, line);
    let text = rig.calls_show(false);
    assert!(
        text.contains("-> reached_agent by bridge, queue collections, agent 1001"),
        "{text}"
    );
}

#[cfg(feature = "speech")]
#[test]
fn when_the_bridge_finds_no_agent_the_bot_takes_the_customer_back() {
    if !models_present() {
        eprintln!("skipping: speech models missing (scripts/setup.sh installs them)");
        return;
    }
    let rig = run(
        Holder::Bot,
        AgentSetup::Nobody,
        30,
        &["yes this is me", "let me talk to a human"],
    );
    let v = rig.record();
    let h = bridged_handoff(&v);
    assert_eq!(h["result"], "failed", "{v}");
    let why = h["failure"].as_str().unwrap_or("");
    for part in [
        "REFER refused (603 Decline)",
        "bridge refused (480 Temporarily Unavailable)",
        "queue: no agent logged in",
    ] {
        assert!(why.contains(part), "`{part}` in the failure: {why}");
    }
    // The bot took the customer back: it said its sorry and hung up with that outcome.
    assert_eq!(v["call"]["disposition"], "agent_unavailable", "{v}");
    let transcript = v["detail"]["transcript"].as_array().expect("transcript");
    let at = |id: &str| {
        transcript
            .iter()
            .find(|t| {
                t["channel"] == "bot" && t["prompt_id"].as_str().is_some_and(|p| p.contains(id))
            })
            .and_then(|t| t["at_ms"].as_u64())
            .unwrap_or_else(|| panic!("the bot said {id}: {v}"))
    };
    // The bridge was tried once "please hold" had played (a few seconds), and the bot's
    // clock went on while it stood aside: its sorry is stamped after that, not at once.
    let (hold, sorry) = (at("transfer_human.announce"), at("agent_unavailable"));
    assert!(
        sorry >= hold + 2_500,
        "please hold at {hold} ms, sorry at {sorry} ms: {v}"
    );
    let text = rig.calls_show(false);
    assert!(text.contains("-> failed by bridge"), "{text}");
    assert!(text.contains("REFER refused (603 Decline)"), "{text}");
}
