//! `voxdial calls list|show`: ops read what each call left behind (outcome, hand-off,
//! transcript, latencies, recording) before a console exists. Everything printed goes
//! through the same masks as the rest of the terminal output: numbers by
//! `campaign::phone::mask`, free text by `language::redact`.

use anyhow::{bail, Context, Result};
use chrono::{DateTime, NaiveDate, Utc};
use clap::Subcommand;
use std::path::Path;
use std::process::ExitCode;
use voxdial::campaign::phone;
use voxdial::language::redact::mask_account_numbers;
use voxdial::policy::CallOutcome;
use voxdial::store::sqlite::SqliteStore;
use voxdial::store::{CallFilter, CallSummary, CallView, Store};

/// `calls` subcommands.
#[derive(Subcommand, Debug)]
pub enum CallsCmd {
    /// List calls, newest first (phone numbers masked).
    List {
        /// Only this campaign.
        #[arg(long)]
        campaign: Option<String>,
        /// Only calls with this outcome (connected, no_answer, busy, voicemail, interrupted...).
        #[arg(long, value_parser = parse_outcome)]
        outcome: Option<CallOutcome>,
        /// Only calls started at or after this day (YYYY-MM-DD, UTC) or instant (RFC 3339).
        #[arg(long, value_parser = parse_since)]
        since: Option<i64>,
        /// At most this many calls.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Print one JSON array.
        #[arg(long)]
        json: bool,
    },
    /// One call in full: times, SIP code, call progress, outcome, hand-off, transcript,
    /// turn latencies, recording.
    Show {
        /// The call's attempt id (first column of `calls list`).
        attempt: i64,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
}

fn parse_outcome(s: &str) -> Result<CallOutcome, String> {
    CallOutcome::parse(s).ok_or_else(|| {
        let names: Vec<&str> = CallOutcome::ALL.iter().map(|o| o.as_str()).collect();
        format!("`{s}` is not an outcome (one of: {})", names.join(", "))
    })
}

fn parse_since(s: &str) -> Result<i64, String> {
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d.and_time(chrono::NaiveTime::MIN).and_utc().timestamp());
    }
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.timestamp())
        .map_err(|_| {
            format!(
                "`{s}` is neither a day (2026-12-07) nor an instant (2026-12-07T09:00:00+08:00)"
            )
        })
}

/// Run a `calls` subcommand against the database at `db` (which must exist).
pub fn run(db: &Path, cmd: CallsCmd) -> Result<ExitCode> {
    let store = SqliteStore::open(db)?;
    match cmd {
        CallsCmd::List {
            campaign,
            outcome,
            since,
            limit,
            json,
        } => {
            let filter = CallFilter {
                campaign,
                outcome,
                since,
                limit: Some(limit),
            };
            let calls: Vec<CallSummary> = store
                .calls(&filter)
                .with_context(|| format!("listing calls in {}", db.display()))?
                .into_iter()
                .map(masked_summary)
                .collect();
            if json {
                println!("{}", serde_json::to_string(&calls)?);
            } else {
                print_list(db, &calls);
            }
        }
        CallsCmd::Show { attempt, json } => {
            let Some(view) = store
                .call(attempt)
                .with_context(|| format!("reading call {attempt} in {}", db.display()))?
            else {
                bail!(
                    "no call {attempt} in {} (`voxdial calls list` shows their ids)",
                    db.display()
                );
            };
            let view = masked_view(view);
            if json {
                println!("{}", serde_json::to_string(&view)?);
            } else {
                print_call(&view);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A summary fit for a person's eyes: the number masked.
fn masked_summary(mut c: CallSummary) -> CallSummary {
    c.phone = phone::mask(&c.phone);
    c
}

/// A call fit for a person's eyes: the number masked, and every free text (the debtor id
/// may be an ID number; a transcript may hold one read out) through `language::redact`
/// again, whatever wrote the record.
fn masked_view(mut v: CallView) -> CallView {
    v.call = masked_summary(v.call);
    v.debtor_id = mask_account_numbers(&v.debtor_id).into_owned();
    if let Some(d) = v.detail.as_mut() {
        for t in &mut d.transcript {
            t.text = mask_account_numbers(&t.text).into_owned();
        }
        for c in &mut d.compliance {
            c.detail = mask_account_numbers(&c.detail).into_owned();
        }
        for v in d.captured.values_mut() {
            *v = mask_account_numbers(v).into_owned();
        }
        if let Some(h) = d.handoff.as_mut() {
            h.failure = h
                .failure
                .as_deref()
                .map(|f| mask_account_numbers(f).into_owned());
        }
    }
    v
}

fn outcome_name(o: Option<CallOutcome>) -> &'static str {
    o.map_or("in_flight", CallOutcome::as_str)
}

fn secs(t: i64) -> String {
    DateTime::<Utc>::from_timestamp(t, 0).map_or_else(
        || t.to_string(),
        |d| d.format("%Y-%m-%d %H:%M:%S").to_string(),
    )
}

fn millis(t: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(t).map_or_else(
        || t.to_string(),
        |d| d.format("%Y-%m-%d %H:%M:%S%.3f").to_string(),
    )
}

fn print_list(db: &Path, calls: &[CallSummary]) {
    if calls.is_empty() {
        println!("no calls in {} match these filters", db.display());
        return;
    }
    println!(
        "{:>8}  {:<19}  {:<16}  {:<16}  {:<14}  {:>3}  {:<18}  {:>7}  hand-off",
        "call", "started (UTC)", "campaign", "number", "outcome", "sip", "disposition", "talk"
    );
    for c in calls {
        let handoff = match (&c.handoff_reason, c.handoff_result) {
            (Some(r), Some(res)) => format!("{r}: {}", res.as_str()),
            _ => "-".into(),
        };
        println!(
            "{:>8}  {:<19}  {:<16}  {:<16}  {:<14}  {:>3}  {:<18}  {:>7}  {handoff}",
            c.attempt,
            secs(c.started_at),
            c.campaign,
            c.phone,
            outcome_name(c.outcome),
            c.sip_code.map_or("-".into(), |s| s.to_string()),
            c.disposition.as_deref().unwrap_or("-"),
            c.talk_s.map_or("-".into(), |t| format!("{t:.1}s")),
        );
    }
}

fn print_call(v: &CallView) {
    let c = &v.call;
    println!(
        "call {} (campaign {}, lead {}, customer {}, lead now {})",
        c.attempt,
        c.campaign,
        c.lead,
        v.debtor_id,
        v.lead_status.as_str()
    );
    let row = |k: &str, val: String| println!("  {k:<12} {val}");
    row("number", c.phone.clone());
    row("started", format!("{} UTC", secs(c.started_at)));
    if let Some(a) = v.detail.as_ref().and_then(|d| d.answered_at_ms) {
        row("answered", format!("{} UTC", millis(a)));
    }
    match (&v.detail, c.ended_at) {
        (Some(d), _) => row("ended", format!("{} UTC", millis(d.ended_at_ms))),
        (None, Some(t)) => row("ended", format!("{} UTC", secs(t))),
        (None, None) => row("ended", "- (in flight)".into()),
    }
    row("sip code", c.sip_code.map_or("-".into(), |s| s.to_string()));
    row("cpd", c.cpd.clone().unwrap_or_else(|| "-".into()));
    row("outcome", outcome_name(c.outcome).into());
    row(
        "disposition",
        c.disposition.clone().unwrap_or_else(|| "-".into()),
    );
    row("talk", c.talk_s.map_or("-".into(), |t| format!("{t:.1} s")));
    if let Some(d) = v.detail.as_ref().filter(|d| !d.captured.is_empty()) {
        let given: Vec<String> = d.captured.iter().map(|(k, v)| format!("{k} {v}")).collect();
        row("given", given.join(", "));
    }
    let Some(d) = &v.detail else {
        println!(
            "  no call record: {}",
            if c.outcome.is_none() {
                "the call is still in flight"
            } else {
                "the attempt was closed without one (interrupted by a restart, or from before call records)"
            }
        );
        return;
    };
    if let Some(h) = &d.handoff {
        let mut s = format!("{} -> {}", h.reason, h.result.as_str());
        if let Some(m) = h.method {
            s.push_str(&format!(" by {}", m.as_str()));
        }
        if let Some(q) = &h.queue {
            s.push_str(&format!(", queue {q}"));
        }
        if let Some(a) = &h.agent {
            s.push_str(&format!(", agent {a}"));
        }
        if let Some(w) = h.waited_ms {
            s.push_str(&format!(", waited {:.1} s", w as f64 / 1000.0));
        }
        if let Some(f) = &h.failure {
            s.push_str(&format!(" ({f})"));
        }
        row("hand-off", s);
    } else {
        row("hand-off", "-".into());
    }
    match (
        d.turn_latency_percentile(50.0),
        d.turn_latency_percentile(95.0),
    ) {
        (Some(p50), Some(p95)) => row(
            "latency",
            format!(
                "p50 {p50} ms, p95 {p95} ms ({} turns)",
                d.turn_latencies_ms.len()
            ),
        ),
        _ => row("latency", "- (no turns)".into()),
    }
    row(
        "recording",
        d.recording.clone().unwrap_or_else(|| "-".into()),
    );
    row(
        "sip call-id",
        d.sip_call_id.clone().unwrap_or_else(|| "-".into()),
    );
    if !d.compliance.is_empty() {
        println!("compliance:");
        for e in &d.compliance {
            println!(
                "  {:>8}  {}: {}",
                format!("+{:.1}s", e.at_ms as f64 / 1000.0),
                e.rule,
                e.detail
            );
        }
    }
    println!("transcript:");
    if d.transcript.is_empty() {
        println!("  (empty)");
    }
    // Recorders append in time order; a merge of two channels' lists may not be.
    let mut lines: Vec<_> = d.transcript.iter().collect();
    lines.sort_by_key(|t| t.at_ms);
    for t in lines {
        let prompt = t
            .prompt_id
            .as_deref()
            .map_or(String::new(), |p| format!("  [{p}]"));
        println!(
            "  {:>8}  {:<8}  {}{prompt}",
            format!("+{:.1}s", t.at_ms as f64 / 1000.0),
            t.channel.as_str(),
            t.text
        );
    }
}
