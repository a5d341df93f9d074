//! The whole loop on 127.0.0.1: `voxdial run` dials a bot-first campaign over SIP to
//! `voxdial phone customers`, the speech bot holds every answered call (VAD, Whisper, the
//! dialogue engine, Piper), call-progress detection ends the calls no person answered, and
//! the contact policy schedules what comes next. Each test reads one part of what the run
//! left behind: the database, `voxdial calls show --json`, the phones' JSON logs; none
//! reads a timing figure.
//!
//! One run serves every test of this file (it takes a few minutes): the first test to get
//! there starts it, the others wait for it. Each lead's number picks its persona from the
//! test's own personas file (`numbers:`), so every behaviour is dialled exactly once.
//! Ports are picked free at run time (no fixed port, no lock needed). Speech models
//! needed; skipped without.
#![cfg(feature = "speech")]

mod common;
use common::{bin, free_addr, root, store, voxdial, wait_child, Phone};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;
use voxdial::store::{CallView, LeadStatus, Store};

const CAMPAIGN: &str = "loop";

/// The leads: (last four digits, persona). Numbers are +1 212 555 0xxx.
const LEADS: [(&str, &str); 7] = [
    ("0201", "promises"),
    ("0202", "promises_part"),
    ("0203", "barges_in"),
    ("0204", "voicemail"),
    ("0205", "announcement"),
    ("0206", "hangs_up"),
    ("0207", "wrong_person"),
];

/// The customers. Their lines are what the demo scenario (collection_m1_overdue)
/// understands on any day of the week ("on Friday" is within the week the scenario asks
/// for; "next Friday" is not, from a Monday). Patient personas (`hangup_after_s: 20`)
/// wait out a slow reply on a loaded machine instead of hanging up.
const PERSONAS: &str = r#"locale: en-US
numbers:
  "+12125550201": promises
  "+12125550202": promises_part
  "+12125550203": barges_in
  "+12125550204": voicemail
  "+12125550205": announcement
  "+12125550206": hangs_up
  "+12125550207": wrong_person
personas:
  promises:
    weight: 1
    ring_s: 1
    behaviour: promise_to_pay
    hangup_after_s: 20
    lines:
      en-US: ["yes this is me", "I can pay on Friday"]
      zh-CN: ["是我", "我周五还"]
  promises_part:
    weight: 0
    ring_s: 1
    behaviour: promise_to_pay
    hangup_after_s: 20
    lines:
      en-US: ["yes this is me", "I can pay two hundred dollars on Friday"]
      zh-CN: ["是我", "我周五先还两百"]
  barges_in:
    weight: 0
    ring_s: 1
    behaviour: barges_in
    hangup_after_s: 20
    lines:
      en-US: ["yes yes this is me", "I lost my job, I can't pay right now", "Actually, I can pay the whole thing on Friday"]
      zh-CN: ["是我 是我", "我失业了 实在是没钱还", "我周五还"]
  voicemail:
    weight: 0
    answer: voicemail
    ring_s: 1
    behaviour: silent
    max_call_s: 30
  announcement:
    weight: 0
    answer: announcement
    ring_s: 0.5
    behaviour: silent
    max_call_s: 20
  hangs_up:
    weight: 0
    ring_s: 1
    behaviour: cooperative
    hangup_after_s: 8
    lines:
      en-US: ["yes this is me"]
      zh-CN: ["是我"]
  wrong_person:
    weight: 0
    ring_s: 1
    behaviour: wrong_person
    hangup_after_s: 20
    lines:
      en-US: ["no, I'm his brother, you have the wrong number, he moved away last year"]
      zh-CN: ["不是 我是他哥哥 你们打错了 他去年就搬走了"]
"#;

/// The demo's round-the-clock rules with retries this test can see from the ledger: a
/// voicemail again in an hour, a number announced as not in service in two (neither due
/// while the run lasts, so each lead is dialled once).
const POLICY: &str = r#"name: loop-test
description: Test only, calls at any hour.
default_timezone: America/New_York
calling_hours:
  all: "00:00-24:00"
holidays: []
limits:
  rolling_attempts: { max: 3, window: 1d }
  after_conversation: 1d
  min_interval: 20s
  lifetime_attempts: 10
stop_on: [refused, opt_out, wrong_person]
retry:
  no_answer: { delays: [30s], max_tries: 2 }
  busy: { delays: [20s], max_tries: 2 }
  voicemail: { delays: [1h], max_tries: 3 }
  invalid_number: { delays: [2h], max_tries: 2 }
  failed: { delays: [30s], max_tries: 2 }
  abandoned: { delays: [1d], max_tries: 2 }
  interrupted: { delays: [1m], max_tries: 2 }
abandon:
  max_rate: 0.03
  after_s: 2
  period: 30d
min_ring_s: 8
"#;

/// What the run left behind.
struct LoopRun {
    /// Keeps the run's folder for as long as the tests read it (None: kept for good,
    /// `VOXDIAL_TEST_KEEP=1`).
    _dir: Option<tempfile::TempDir>,
    dir: PathBuf,
    /// `voxdial run --json`.
    report: Value,
    /// The customer phones' logs, one per call.
    phone_logs: Vec<Value>,
    /// The days the bot may have taken as today (the run may cross midnight).
    days: Vec<chrono::NaiveDate>,
}

fn models_present() -> bool {
    let m = root().join("data/models");
    m.join("asr").is_dir() && m.join("tts").is_dir() && m.join("vad").is_dir()
}

/// The run, made once for every test of this file; None without the speech models. A
/// run that failed fails every test with its message (it is not run again).
fn the_run() -> Option<&'static LoopRun> {
    static RUN: OnceLock<Option<Result<LoopRun, String>>> = OnceLock::new();
    let run = RUN.get_or_init(|| {
        if !models_present() {
            eprintln!("skipping: speech models missing (scripts/setup.sh installs them)");
            return None;
        }
        Some(std::panic::catch_unwind(run_the_loop).map_err(|e| {
            e.downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default()
        }))
    });
    match run {
        None => None,
        Some(Ok(r)) => Some(r),
        Some(Err(e)) => panic!("the run failed: {e}"),
    }
}

fn run_the_loop() -> LoopRun {
    let tmp = tempfile::tempdir().expect("tmp");
    let d = tmp.path().to_path_buf();
    let first_day = chrono::Local::now().date_naive();
    let policy = d.join("policy.yaml");
    std::fs::write(&policy, POLICY).expect("policy");
    let mut csv =
        String::from("customer_id,name,phone,amount_due,due_date,days_overdue,product,timezone\n");
    for (i, (tail, _)) in LEADS.iter().enumerate() {
        csv.push_str(&format!(
            "L{i},Pat Doe,+1 212 555 {tail},450.00,2026-11-20,17,Visa card,America/New_York\n"
        ));
    }
    common::import_list(
        &d,
        CAMPAIGN,
        &csv,
        &policy,
        &[
            "--scenario",
            "collection_m1_overdue",
            "--set",
            "creditor=Anxin Bank",
        ],
    );
    let personas = d.join("personas.yaml");
    std::fs::write(&personas, PERSONAS).expect("personas");
    let phones_at = free_addr();
    let logs = d.join("phone-logs");
    std::fs::create_dir_all(&logs).expect("logs");
    let data = root().join("data");
    // The customers voice their lines with Piper once (cached in data/cache/phone-voices).
    let phones = Phone::start(
        &[
            "phone",
            "customers",
            "--personas",
            personas.to_str().expect("path"),
            "--listen",
            &phones_at.to_string(),
            "--log-dir",
            logs.to_str().expect("path"),
            "--data",
            data.to_str().expect("path"),
        ],
        300,
    );
    let cfg = d.join("voxdial.yaml");
    std::fs::write(
        &cfg,
        format!(
            "sip: {{listen: 127.0.0.1:0}}\ndatabase: voxdial.db\nrecordings: recordings\n\
             drain_timeout_s: 10\nring_timeout_s: 20\n\
             trunks:\n  - {{name: phones, proxy: {phones_at}, channels: 6, cps: 5}}\n\
             campaigns:\n  - name: {CAMPAIGN}\n    mode: bot_first\n    locale: en-US\n    \
             pacing: {{strategy: progressive}}\n    bots: 3\n\
             speech:\n  data: {}\n",
            data.display()
        ),
    )
    .expect("config");
    let err = std::fs::File::create(d.join("run.stderr")).expect("log");
    let mut run = bin()
        .current_dir(&d)
        .arg("--root")
        .arg(root())
        .args(["run", "--config"])
        .arg(&cfg)
        .args(["--exit-when-idle", "--json"])
        .stdout(Stdio::piped())
        .stderr(err)
        .spawn()
        .expect("start voxdial run");
    let code = wait_child(&mut run, 900);
    let mut out = String::new();
    if let Some(mut so) = run.stdout.take() {
        use std::io::Read;
        so.read_to_string(&mut out).expect("stdout");
    }
    let stderr = std::fs::read_to_string(d.join("run.stderr")).unwrap_or_default();
    assert_eq!(
        code,
        0,
        "voxdial run failed ({code}); its log:\n{}",
        tail(&stderr)
    );
    // The last calls' logs are written as their BYEs land.
    std::thread::sleep(Duration::from_millis(1500));
    drop(phones);
    let report: Value = serde_json::from_str(out.trim())
        .unwrap_or_else(|e| panic!("run report ({e}): {out}\n{}", tail(&stderr)));
    let mut days = vec![first_day];
    let last_day = chrono::Local::now().date_naive();
    if last_day != first_day {
        days.push(last_day);
    }
    let tmp = if std::env::var_os("VOXDIAL_TEST_KEEP").is_some() {
        eprintln!("the run's folder: {}", tmp.keep().display());
        None
    } else {
        Some(tmp)
    };
    LoopRun {
        phone_logs: read_logs(&logs),
        _dir: tmp,
        dir: d,
        report,
        days,
    }
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

fn read_logs(dir: &Path) -> Vec<Value> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("phone logs")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| {
            serde_json::from_slice(&std::fs::read(p).expect("log"))
                .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        })
        .collect()
}

impl LoopRun {
    /// The lead dialled for `persona`.
    fn lead(&self, persona: &str) -> voxdial::store::Lead {
        let (tail, _) = LEADS
            .iter()
            .find(|(_, p)| *p == persona)
            .expect("a lead per persona");
        let s = store(&self.dir);
        let c = s.campaign(CAMPAIGN).expect("campaign");
        s.lead_by_phone(c.id, &format!("+1212555{tail}"))
            .expect("read")
            .expect("the lead")
    }

    /// Every call placed to `persona`'s lead, oldest first, as `calls show` reads them.
    fn calls(&self, persona: &str) -> Vec<CallView> {
        let lead = self.lead(persona);
        let s = store(&self.dir);
        let c = s.campaign(CAMPAIGN).expect("campaign");
        s.ledger(c.id)
            .expect("ledger")
            .iter()
            .filter(|row| row.lead == lead.id)
            .map(|row| s.call(row.attempt).expect("read").expect("the call"))
            .collect()
    }

    /// The one call placed to `persona`'s lead.
    fn call(&self, persona: &str) -> CallView {
        let mut calls = self.calls(persona);
        assert_eq!(calls.len(), 1, "{persona}: {calls:#?}");
        calls.remove(0)
    }

    /// `voxdial calls show ATTEMPT --json`.
    fn show(&self, attempt: i64) -> Value {
        let o = voxdial(
            &self.dir,
            &["calls", "show", &attempt.to_string(), "--json"],
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice(&o.stdout).expect("calls show JSON")
    }

    /// The customer phone's log of `persona`'s call.
    fn phone_log(&self, persona: &str) -> &Value {
        let logs: Vec<&Value> = self
            .phone_logs
            .iter()
            .filter(|l| l["persona"] == persona)
            .collect();
        assert_eq!(logs.len(), 1, "{persona}: {logs:#?}");
        logs[0]
    }

    /// The customer's lines as the bot heard them, and the bot's prompts, in order.
    fn transcript(&self, v: &CallView) -> (Vec<String>, Vec<String>) {
        let d = v.detail.as_ref().expect("a call record");
        let said = d
            .transcript
            .iter()
            .filter(|t| t.channel == voxdial::store::Channel::Customer)
            .map(|t| t.text.to_lowercase())
            .collect();
        let prompts = d
            .transcript
            .iter()
            .filter_map(|t| t.prompt_id.clone())
            .collect();
        (said, prompts)
    }

    /// The Friday a customer means by "on Friday" said on one of the run's days.
    fn fridays(&self) -> Vec<String> {
        use chrono::Datelike;
        self.days
            .iter()
            .map(|d| {
                let ahead = (4 + 7 - d.weekday().num_days_from_monday()) % 7;
                let ahead = if ahead == 0 { 7 } else { ahead };
                (*d + chrono::Days::new(u64::from(ahead)))
                    .format("%Y-%m-%d")
                    .to_string()
            })
            .collect()
    }
}

#[test]
fn a_promise_to_pay_is_stored_with_its_date_and_amount() {
    let Some(run) = the_run() else { return };
    let fridays = run.fridays();
    let v = run.call("promises");
    let (said, prompts) = run.transcript(&v);
    assert_eq!(
        v.call.disposition.as_deref(),
        Some("promise_to_pay"),
        "heard {said:?}, said {prompts:?}"
    );
    assert!(
        prompts.iter().any(|p| p.ends_with("confirm_promise")),
        "{prompts:?}"
    );
    // What ops read: the promise with the date it resolved to.
    let shown = run.show(v.call.attempt);
    assert_eq!(shown["call"]["disposition"], "promise_to_pay", "{shown}");
    let date = shown["detail"]["captured"]["ptp_date"]
        .as_str()
        .unwrap_or_else(|| panic!("no ptp_date: {shown}"));
    assert!(
        fridays.iter().any(|f| f == date),
        "{date} not in {fridays:?}"
    );
    assert_eq!(v.lead_status, LeadStatus::Done);

    // Part of the amount on Friday: a partial promise, with the amount and the date.
    let v = run.call("promises_part");
    let (said, prompts) = run.transcript(&v);
    assert_eq!(
        v.call.disposition.as_deref(),
        Some("partial_promise"),
        "heard {said:?}, said {prompts:?}"
    );
    let captured = &v.detail.as_ref().expect("record").captured;
    assert_eq!(
        captured.get("ptp_amount").map(String::as_str),
        Some("200.00"),
        "{captured:?}"
    );
    let date = captured.get("ptp_date").expect("ptp_date");
    assert!(fridays.contains(date), "{date} not in {fridays:?}");
}

/// The customer talks over the prompts, one second in. The question may be interrupted:
/// the bot goes quiet while the customer is still talking. The disclosure may not
/// (`barge_in: false`): the bot talks on, and answers the line said over it once it is
/// over (the hardship offer); the customer, heard, does not say it again, and promises
/// after the offer.
#[test]
fn a_customer_who_talks_over_the_prompt_stops_it_and_is_answered() {
    let Some(run) = the_run() else { return };
    let log = run.phone_log("barges_in");
    let said = log["leg"]["said"].as_array().expect("said");
    let heard = log["leg"]["heard"].as_array().expect("heard");
    let ms = |v: &Value, k: &str| v[k].as_u64().unwrap_or_else(|| panic!("{k}: {v}"));
    let times_said = |text: &str| said.iter().filter(|l| l["text"] == text).count();
    // (start, voice end) of the first time `text` was said, and the end of the bot's
    // voice it was said over.
    let over = |text: &str| {
        let line = said
            .iter()
            .find(|l| l["text"] == text)
            .unwrap_or_else(|| panic!("{text:?} never said: {log}"));
        let (start, end) = (ms(line, "at_ms"), ms(line, "voice_end_ms"));
        let bot = heard
            .iter()
            .find(|h| ms(h, "start_ms") < start && ms(h, "end_ms") > start)
            .unwrap_or_else(|| panic!("{text:?} was not said over the bot: {log}"));
        (start, end, ms(bot, "end_ms"))
    };
    let (start, end, bot_end) = over("yes yes this is me");
    assert!(
        bot_end < end,
        "the bot talked on to {bot_end} ms over a line said from {start} to {end} ms: {log}"
    );
    let lost_job = "I lost my job, I can't pay right now";
    let (_, end, bot_end) = over(lost_job);
    assert!(
        bot_end > end,
        "the disclosure may not be interrupted, yet it stopped: {log}"
    );
    for line in ["yes yes this is me", lost_job] {
        assert_eq!(times_said(line), 1, "{line:?}: {log}");
    }
    assert_eq!(
        times_said("Actually, I can pay the whole thing on Friday"),
        1,
        "{log}"
    );
    // The bot answered the line said over the disclosure after it, then the promise.
    let v = run.call("barges_in");
    let (said, prompts) = run.transcript(&v);
    assert!(
        said.last().is_some_and(|s| s.contains("friday")),
        "{said:?}"
    );
    assert_eq!(
        said.iter().filter(|s| s.contains("lost my job")).count(),
        1,
        "{said:?}"
    );
    let hardship = prompts.iter().position(|p| p.ends_with(".hardship"));
    let confirm = prompts.iter().position(|p| p.ends_with(".confirm_promise"));
    assert!(
        matches!((hardship, confirm), (Some(h), Some(c)) if h < c),
        "{prompts:?}"
    );
    assert_eq!(
        v.call.disposition.as_deref(),
        Some("promise_to_pay"),
        "heard {said:?}, said {prompts:?}"
    );
}

#[test]
fn voicemail_and_announcements_are_retried_by_the_policy_without_a_conversation() {
    let Some(run) = the_run() else { return };
    // (persona, what call progress found, the attempt's outcome, the policy's delay)
    for (persona, cpd, outcome, delay_s) in [
        (
            "voicemail",
            "voicemail",
            voxdial::policy::CallOutcome::Voicemail,
            3600,
        ),
        (
            "announcement",
            "bad_number",
            voxdial::policy::CallOutcome::InvalidNumber,
            7200,
        ),
    ] {
        let v = run.call(persona);
        let d = v.detail.as_ref().expect("a call record");
        assert!(d.answered_at_ms.is_some(), "{persona}: {v:#?}");
        assert_eq!(v.call.outcome, Some(outcome), "{persona}: {v:#?}");
        assert_eq!(d.cpd.as_deref(), Some(cpd), "{persona}: {v:#?}");
        assert_eq!(
            v.call.disposition.as_deref(),
            Some(format!("cpd_{cpd}").as_str()),
            "{persona}"
        );
        // No conversation: nothing the customer side said was taken as a turn, no
        // hand-off, and the line was ended by us, not by the greeting running out.
        // The machine's own greeting may be in the record (its words are how call
        // progress told a voicemail from a person), but nothing was answered.
        let (said, _) = run.transcript(&v);
        assert!(
            said.iter().all(|l| l.contains("voicemail")),
            "{persona}: {said:?}"
        );
        assert!(d.turn_latencies_ms.is_empty(), "{persona}: {d:?}");
        assert!(d.handoff.is_none(), "{persona}");
        if persona == "voicemail" {
            // The bot hung up on the machine, which would have listened for 30 s.
            assert_eq!(run.phone_log(persona)["ended_by"], "remote");
        }
        // The lead waits for the policy's retry of that outcome: one attempt in the
        // ledger, the next due the rule's delay after this one ended.
        let lead = run.lead(persona);
        assert_eq!(lead.status, LeadStatus::Pending, "{persona}: {lead:?}");
        assert_eq!(lead.attempts, 1, "{persona}: {lead:?}");
        let ended = v.call.ended_at.expect("ended");
        assert!(
            (lead.next_due_at - ended - delay_s).abs() <= 2,
            "{persona}: next due {} s after the end, the rule says {delay_s}",
            lead.next_due_at - ended
        );
    }
    common::audit_clean(&run.dir, CAMPAIGN);
}

/// Fails on the old behaviour: a conversation the customer left in the middle was
/// recorded without a disposition (the bot only named an outcome when it ended the call).
#[test]
fn a_customer_who_hangs_up_mid_conversation_is_recorded_as_such() {
    let Some(run) = the_run() else { return };
    let v = run.call("hangs_up");
    let (said, prompts) = run.transcript(&v);
    assert_eq!(
        v.call.outcome,
        Some(voxdial::policy::CallOutcome::Connected),
        "{v:#?}"
    );
    assert_eq!(
        v.call.disposition.as_deref(),
        Some("customer_hangup"),
        "heard {said:?}, said {prompts:?}"
    );
    assert_eq!(run.phone_log("hangs_up")["leg"]["hung_up_by"], "customer");
    // It was mid-conversation: the bot had asked, and the customer answered at most the
    // first question.
    assert!(
        !prompts.is_empty() && said.len() <= 1,
        "{said:?} {prompts:?}"
    );
}

#[test]
fn a_person_who_waits_for_the_greeting_then_talks_at_length_is_not_taken_for_a_machine() {
    // Silent through the bot's greeting, then a reply of about four seconds: by greeting
    // length alone (classic AMD) a voicemail, and the call was hung up on.
    let Some(run) = the_run() else { return };
    let v = run.call("wrong_person");
    let (said, prompts) = run.transcript(&v);
    let detail = v.detail.as_ref().expect("detail");
    assert_eq!(detail.cpd.as_deref(), Some("live"), "heard {said:?}");
    assert_eq!(
        v.call.disposition.as_deref(),
        Some("wrong_person"),
        "heard {said:?}, said {prompts:?}"
    );
}

#[test]
fn every_answered_call_of_the_run_says_how_it_ended() {
    let Some(run) = the_run() else { return };
    let s = store(&run.dir);
    let c = s.campaign(CAMPAIGN).expect("campaign");
    let mut by: BTreeMap<String, u32> = BTreeMap::new();
    for row in s.ledger(c.id).expect("ledger") {
        let v = s.call(row.attempt).expect("read").expect("call");
        let answered = v
            .detail
            .as_ref()
            .is_some_and(|d| d.answered_at_ms.is_some());
        if answered {
            let d =
                v.call.disposition.clone().unwrap_or_else(|| {
                    panic!("attempt {} has no disposition: {v:#?}", row.attempt)
                });
            *by.entry(d).or_default() += 1;
        }
    }
    let answered: u64 = run.report["campaigns"][CAMPAIGN]["answered"]
        .as_u64()
        .unwrap_or(0);
    assert_eq!(
        by.values().map(|&n| u64::from(n)).sum::<u64>(),
        answered,
        "{by:?}"
    );
    assert_eq!(answered, LEADS.len() as u64, "{}", run.report);
}
