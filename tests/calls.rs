//! Per-call records: what `voxdial run` leaves behind for each call, written with the
//! attempt's end in one transaction, and read back by `voxdial calls list|show` with
//! every phone number masked.

use std::path::Path;
use std::process::{Command, Output};
use voxdial::policy::{CallOutcome, Next, PolicySource};
use voxdial::store::sqlite::SqliteStore;
use voxdial::store::{
    AttemptEnd, CallDetail, CallFilter, Channel, ComplianceEvent, Handoff, HandoffMethod,
    HandoffResult, ImportCounts, LeadStatus, NewLead, Store, TranscriptEntry,
};
use voxdial::time::Millis;

const PHONE: &str = "+8613800138000";
const OTHER: &str = "+8613900139001";

/// A database with campaign `m1` and two leads; returns the store, the campaign id and
/// the attempt ids of one dial to each lead (both in flight).
fn dialled(db: &Path) -> (SqliteStore, i64, Vec<i64>) {
    let mut s = SqliteStore::create(db).expect("db");
    let policy = PolicySource::resolve("cn-collection").expect("preset").1;
    let c = s
        .ensure_campaign("m1", None, &policy, "test")
        .expect("campaign");
    let leads: Vec<NewLead> = [PHONE, OTHER]
        .iter()
        .enumerate()
        .map(|(i, p)| NewLead {
            debtor_id: format!("C{i}"),
            phone: p.to_string(),
            zones: "Asia/Shanghai".into(),
            vars_json: r#"{"name":"张三","amount_due":"3000.00"}"#.into(),
            source_line: 2 + i as u64,
        })
        .collect();
    s.import_leads(
        c.id,
        &leads,
        &[],
        "l.csv",
        "sha",
        &ImportCounts::default(),
        1000,
    )
    .expect("import");
    let due = s.due_leads(c.id, 1000, 10).expect("due");
    let attempts = due
        .iter()
        .enumerate()
        .map(|(i, l)| {
            s.start_attempt(l, c.id, c.policy_version, 1000 + i as i64)
                .expect("start")
        })
        .collect();
    (s, c.id, attempts)
}

fn end(outcome: CallOutcome) -> AttemptEnd {
    AttemptEnd {
        outcome,
        sip_code: Some(200),
        disposition: Some("promise_to_pay".into()),
        talk_s: 42.5,
        next: Next::Done,
    }
}

fn detail() -> CallDetail {
    CallDetail {
        answered_at_ms: Some(1_000_500),
        ended_at_ms: 1_043_000,
        cpd: Some("human".into()),
        handoff: Some(Handoff {
            reason: "wants_human".into(),
            queue: Some("collections".into()),
            agent: Some("agent-7".into()),
            waited_ms: Some(4_200),
            result: HandoffResult::ReachedAgent,
            failure: None,
            recording: None,
            method: Some(HandoffMethod::Bridge),
        }),
        transcript: vec![
            TranscriptEntry {
                at_ms: 300,
                channel: Channel::Bot,
                text: "您好，请问是张先生吗？".into(),
                prompt_id: Some("greeting".into()),
            },
            TranscriptEntry {
                at_ms: 2_900,
                channel: Channel::Customer,
                text: "是的，我找人工".into(),
                prompt_id: None,
            },
            TranscriptEntry {
                at_ms: 9_000,
                channel: Channel::Agent,
                text: "您好，我是客服".into(),
                prompt_id: None,
            },
        ],
        compliance: vec![ComplianceEvent {
            at_ms: 0,
            rule: "recording_notice".into(),
            detail: "played".into(),
        }],
        turn_latencies_ms: vec![640, 700, 910, 580],
        recording: Some("/var/lib/voxdial/rec/42.wav".into()),
        sip_call_id: Some("a84b4c76e66710@127.0.0.1".into()),
        captured: [("ptp_date", "2026-11-27"), ("ptp_amount", "500.00")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

#[test]
fn a_finished_call_reads_back_as_it_was_written() {
    let dir = tempfile::tempdir().expect("tmp");
    let (mut s, _, attempts) = dialled(&dir.path().join("v.db"));
    let d = detail();
    s.finish_attempt_with_call(attempts[0], &end(CallOutcome::Connected), &d, 1050)
        .expect("finish");
    let v = s.call(attempts[0]).expect("read").expect("the call");
    assert_eq!(v.detail.as_ref(), Some(&d));
    assert_eq!(v.call.phone, PHONE);
    assert_eq!(v.call.outcome, Some(CallOutcome::Connected));
    assert_eq!(v.call.sip_code, Some(200));
    assert_eq!(v.call.disposition.as_deref(), Some("promise_to_pay"));
    assert_eq!(v.call.ended_at, Some(1050));
    assert_eq!(v.call.handoff_reason.as_deref(), Some("wants_human"));
    assert_eq!(v.call.handoff_result, Some(HandoffResult::ReachedAgent));
    assert_eq!(v.lead_status, LeadStatus::Done);
    assert!(v.call.has_detail);
    let list = s.calls(&CallFilter::default()).expect("list");
    assert_eq!(list.len(), 2, "the call still in flight is listed too");
    assert_eq!(list[1], v.call, "newest first");
    assert_eq!(list[0].outcome, None);
    assert!(s.call(9_999).expect("read").is_none());
    // A second end for the same call is refused and the first record stands.
    let mut other = detail();
    other.cpd = Some("voicemail".into());
    let e = s
        .finish_attempt_with_call(attempts[0], &end(CallOutcome::Voicemail), &other, 1060)
        .expect_err("closed already");
    assert!(
        e.to_string()
            .contains(&format!("attempt {} is not in flight", attempts[0])),
        "{e}"
    );
    let again = s.call(attempts[0]).expect("read").expect("the call");
    assert_eq!(again.detail, Some(d));
    assert_eq!(again.call.outcome, Some(CallOutcome::Connected));
}

#[test]
fn numbers_a_customer_reads_out_are_masked_when_stored() {
    let dir = tempfile::tempdir().expect("tmp");
    let (mut s, _, attempts) = dialled(&dir.path().join("v.db"));
    let mut d = detail();
    d.transcript[1].text = "我的身份证是110101199003071234".into();
    s.finish_attempt_with_call(attempts[0], &end(CallOutcome::Connected), &d, 1050)
        .expect("finish");
    let v = s.call(attempts[0]).expect("read").expect("the call");
    let text = &v.detail.expect("detail").transcript[1].text;
    assert!(!text.contains("110101199003071234"), "{text}");
    assert!(text.ends_with("1234"), "{text}");
}

/// The attempt's end and the call's record are one transaction: a record that cannot be
/// written (here a trigger refuses it, as a full disk or a constraint would) leaves the
/// attempt in flight and its lead untouched, so recovery closes it as interrupted.
#[test]
fn a_record_that_cannot_be_written_leaves_the_attempt_in_flight() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("v.db");
    let (mut s, c, attempts) = dialled(&db);
    let raw = rusqlite::Connection::open(&db).expect("raw");
    raw.execute_batch(
        "CREATE TRIGGER refuse BEFORE INSERT ON calls BEGIN SELECT RAISE(ABORT, 'disk full'); END;",
    )
    .expect("trigger");
    let e = s
        .finish_attempt_with_call(attempts[0], &end(CallOutcome::Connected), &detail(), 1050)
        .expect_err("the record is refused");
    assert!(format!("{e:?}").contains("disk full"), "{e:?}");
    let v = s.call(attempts[0]).expect("read").expect("the call");
    assert_eq!(v.call.outcome, None, "the attempt was not closed");
    assert_eq!(v.call.ended_at, None);
    assert_eq!(v.lead_status, LeadStatus::InFlight);
    assert!(v.detail.is_none());
    // After a crash the attempt is still open, so recovery closes it as interrupted.
    let closed = s
        .recover_interrupted(c, 2000, &|_, _| Next::RetryAt(Millis::from_unix_secs(3000)))
        .expect("recover");
    assert_eq!(closed, 2);
}

#[test]
fn calls_closed_by_recovery_are_listed_without_detail() {
    let dir = tempfile::tempdir().expect("tmp");
    let (mut s, c, attempts) = dialled(&dir.path().join("v.db"));
    s.finish_attempt_with_call(attempts[0], &end(CallOutcome::Connected), &detail(), 1050)
        .expect("finish");
    s.recover_interrupted(c, 2000, &|_, _| Next::RetryAt(Millis::from_unix_secs(3000)))
        .expect("recover");
    let interrupted = s
        .calls(&CallFilter {
            outcome: Some(CallOutcome::Interrupted),
            ..Default::default()
        })
        .expect("list");
    assert_eq!(interrupted.len(), 1);
    assert_eq!(interrupted[0].attempt, attempts[1]);
    assert!(!interrupted[0].has_detail);
    assert_eq!(interrupted[0].phone, OTHER);
    let v = s.call(attempts[1]).expect("read").expect("listed");
    assert!(v.detail.is_none());
    // Filters: campaign, since, limit.
    let all = s
        .calls(&CallFilter {
            campaign: Some("m1".into()),
            ..Default::default()
        })
        .expect("list");
    assert_eq!(all.len(), 2);
    let since = s
        .calls(&CallFilter {
            since: Some(1001),
            ..Default::default()
        })
        .expect("list");
    assert_eq!(
        since.iter().map(|c| c.attempt).collect::<Vec<_>>(),
        [attempts[1]]
    );
    let one = s
        .calls(&CallFilter {
            limit: Some(1),
            ..Default::default()
        })
        .expect("list");
    assert_eq!(one.len(), 1);
    let e = s
        .calls(&CallFilter {
            campaign: Some("nope".into()),
            ..Default::default()
        })
        .expect_err("unknown campaign");
    assert!(e.to_string().contains("no campaign `nope`"), "{e}");
}

fn voxdial(db: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_voxdial"))
        .args(args)
        .arg("--db")
        .arg(db)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("voxdial runs")
}

fn ok_stdout(o: &Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Neither the dialled number nor the one the customer read out reaches the terminal in
/// full, whatever the command and format.
fn assert_masked(o: &Output) {
    for out in [&o.stdout, &o.stderr] {
        let text = String::from_utf8_lossy(out);
        for full in ["13800138000", "13900139001", "13712345678"] {
            assert!(!text.contains(full), "`{full}` in the output:\n{text}");
        }
    }
}

/// A database with one finished call (the customer reads out a phone number) and one
/// closed as interrupted by a restart.
fn with_calls(db: &Path) -> Vec<i64> {
    let (mut s, c, attempts) = dialled(db);
    let mut d = detail();
    d.transcript[1].text = "打我另一个号码13712345678".into();
    s.finish_attempt_with_call(attempts[0], &end(CallOutcome::Connected), &d, 1050)
        .expect("finish");
    s.recover_interrupted(c, 2000, &|_, _| Next::RetryAt(Millis::from_unix_secs(3000)))
        .expect("recover");
    attempts
}

#[test]
fn calls_list_masks_numbers_in_text_and_json() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("v.db");
    let attempts = with_calls(&db);
    let o = voxdial(&db, &["calls", "list"]);
    assert_masked(&o);
    let text = ok_stdout(&o);
    assert!(text.contains("+86138****8000"), "{text}");
    assert!(text.contains("wants_human: reached_agent"), "{text}");
    assert!(text.contains("interrupted"), "{text}");

    let o = voxdial(&db, &["calls", "list", "--json", "--outcome", "connected"]);
    assert_masked(&o);
    let v: Vec<voxdial::store::CallSummary> =
        serde_json::from_str(&ok_stdout(&o)).expect("a JSON array of calls");
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].attempt, attempts[0]);
    assert_eq!(v[0].phone, "+86138****8000");
    assert_eq!(v[0].outcome, Some(CallOutcome::Connected));

    let o = voxdial(
        &db,
        &[
            "calls",
            "list",
            "--json",
            "--campaign",
            "m1",
            "--limit",
            "1",
        ],
    );
    let v: serde_json::Value = serde_json::from_str(&ok_stdout(&o)).expect("JSON");
    assert_eq!(v.as_array().map(Vec::len), Some(1));
    assert_eq!(v[0]["attempt"], attempts[1], "newest first");
    assert_eq!(v[0]["outcome"], "interrupted");
    assert_eq!(v[0]["has_detail"], false);
}

#[test]
fn calls_show_prints_the_record_masked() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("v.db");
    let attempts = with_calls(&db);
    let id = attempts[0].to_string();
    let o = voxdial(&db, &["calls", "show", &id]);
    assert_masked(&o);
    let text = ok_stdout(&o);
    for want in [
        "+86138****8000",
        "sip code     200",
        "cpd          human",
        "outcome      connected",
        "promise_to_pay",
        "wants_human -> reached_agent by bridge, queue collections, agent agent-7, waited 4.2 s",
        "p50 640 ms, p95 910 ms (4 turns)",
        "/var/lib/voxdial/rec/42.wav",
        "customer  打我另一个号码*******5678",
        "[greeting]",
        "agent     您好，我是客服",
    ] {
        assert!(text.contains(want), "`{want}` missing:\n{text}");
    }

    let o = voxdial(&db, &["calls", "show", &id, "--json"]);
    assert_masked(&o);
    let v: voxdial::store::CallView = serde_json::from_str(&ok_stdout(&o)).expect("JSON");
    let d = v.detail.expect("detail");
    assert_eq!(
        d.handoff.expect("handoff").agent.as_deref(),
        Some("agent-7")
    );
    assert_eq!(d.transcript.len(), 3);
    assert_eq!(v.call.phone, "+86138****8000");

    // The interrupted call has no record and says why.
    let o = voxdial(&db, &["calls", "show", &attempts[1].to_string()]);
    assert_masked(&o);
    let text = ok_stdout(&o);
    assert!(text.contains("outcome      interrupted"), "{text}");
    assert!(text.contains("no call record"), "{text}");
}

#[test]
fn calls_errors_name_the_call_and_the_database() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("v.db");
    with_calls(&db);
    let o = voxdial(&db, &["calls", "show", "999"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!("no call 999 in {}", db.display())),
        "{err}"
    );
    let missing = dir.path().join("typo.db");
    let o = voxdial(&missing, &["calls", "list"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("no database at"), "{err}");
    assert!(!missing.exists(), "a typo in --db creates nothing");
    let o = voxdial(&db, &["calls", "list", "--campaign", "nope"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("no campaign `nope`"), "{err}");
    let o = voxdial(&db, &["calls", "list", "--outcome", "sold"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("`sold` is not an outcome"), "{err}");
}
