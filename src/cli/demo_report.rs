//! The arithmetic of `voxdial demo`'s report, apart from the orchestration so that
//! `tests/demo.rs` can check it on fabricated records and phone logs (it includes this file
//! by path: the CLI is a binary, not a library).
//!
//! Inputs are the store's per-call records (reduced to [`CallFacts`]) and the synthetic
//! phones' JSON logs (`voxdial phone`, docs/phone.md); the output is [`DemoReport`], printed
//! as text or as one JSON object.

use serde::Serialize;
use std::collections::BTreeMap;

/// The bar for the demo: answered calls.
pub const BAR_ANSWERED: u64 = 20;
/// The bar for the demo: turn latency p95 at the wire, ms.
pub const BAR_P95_MS: u64 = 1000;

/// What the report needs of one call's record (`Store::calls` + `Store::call`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CallFacts {
    /// The attempt id (what `voxdial calls show` takes).
    pub attempt: i64,
    /// The attempt's outcome (`connected`, `busy`, ...); `None` while in flight.
    pub outcome: Option<String>,
    /// The conversation's disposition (`promise_to_pay`, ...), if the bot set one.
    pub disposition: Option<String>,
    /// Whether a person (or a machine) picked up: the record has an answer time.
    pub answered: bool,
    /// The hand-off, if the call had one.
    pub handoff: Option<HandoffFacts>,
    /// The stereo recording's path.
    pub recording: Option<String>,
}

/// One hand-off as the record tells it.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct HandoffFacts {
    /// The attempt it belongs to.
    pub attempt: i64,
    /// Why the bot handed over (`wants_human`, `angry`, ...).
    pub reason: String,
    /// `reached_agent`, `failed` or `abandoned`.
    pub result: String,
    /// Who took it: the record's agent, else the agent phone whose log shows it.
    pub agent: Option<String>,
    /// Why it failed, when it did.
    pub failure: Option<String>,
    /// `refer` (the customer's phone called the queue) or `bridge` (it refused REFER, and
    /// voxdial called the queue and relayed the call); `None` in older records.
    pub method: Option<String>,
}

/// The demo's report: one JSON object with `--json`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct DemoReport {
    /// Attempts made (dials).
    pub calls: u64,
    /// Calls answered.
    pub answered: u64,
    /// Attempt outcome -> count.
    pub outcomes: BTreeMap<String, u64>,
    /// Conversation disposition -> count (answered calls the bot concluded).
    pub dispositions: BTreeMap<String, u64>,
    /// Hand-offs tried (REFERs to the queue).
    pub transfers: u64,
    /// Hand-offs an agent took, by REFER or by bridge.
    pub transfers_reached_agent: u64,
    /// Hand-offs made by bridging (the customer's phone refused REFER), whatever their end.
    pub transfers_bridged: u64,
    /// Hand-offs that failed (the bot kept the call).
    pub transfer_failures: u64,
    /// Every hand-off: reason, result, agent, failure.
    pub handoffs: Vec<HandoffFacts>,
    /// Calls each agent phone answered (from the agents' logs).
    pub agent_calls: BTreeMap<String, u64>,
    /// Customer turns paired with a bot reply at the wire (the latencies' sample size).
    pub turns_measured: u64,
    /// Turn latency at the wire, median, ms (`None` without a measured turn).
    pub turn_latency_p50_ms: Option<u64>,
    /// Turn latency at the wire, 95th percentile, ms.
    pub turn_latency_p95_ms: Option<u64>,
    /// Abandoned calls over answered calls (0 without answered calls).
    pub abandon_rate: f64,
    /// Policy blocks in the ledger, by rule.
    pub compliance_blocks: BTreeMap<String, u64>,
    /// Where the stereo recordings are.
    pub recordings: String,
    /// How to read the transcripts.
    pub transcripts: String,
    /// Where the phones' JSON logs are.
    pub phone_logs: String,
    /// Whether each figure of the bar is met.
    pub bar: Bar,
    /// Wall-clock seconds of `voxdial run`.
    pub run_s: f64,
}

/// The bar for the demo, figure by figure.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Bar {
    /// At least [`BAR_ANSWERED`] answered calls.
    pub answered_at_least_20: bool,
    /// At least one hand-off reached an agent.
    pub handoff_reached_agent: bool,
    /// Turn latency p95 at the wire <= [`BAR_P95_MS`].
    pub turn_latency_p95_at_most_1000_ms: bool,
}

/// Nearest-rank percentile: the store's, so a call's figures and the demo's pooled ones agree.
pub use voxdial::store::percentile;

/// Abandoned over answered calls, the policy's definition (an abandon is an answered call
/// nobody took in time); 0 when nothing was answered.
pub fn abandon_rate(abandoned: u64, answered: u64) -> f64 {
    if answered == 0 {
        0.0
    } else {
        abandoned as f64 / answered as f64
    }
}

/// Turn latencies at the wire, ms, from one customer phone's call log.
///
/// For each line the customer said, the end of its turn is the moment its last voiced
/// packet left the phone: `said[i].voice_end_ms` (the line's start plus the offset of the
/// clip's last 20 ms frame at or above the phone's voice level, so the synthesized clip's
/// trailing silence is not counted). The bot's reply is the first segment of bot voice the
/// phone heard (`leg.heard[j].start_ms`, the arrival of the first voiced packet, energy at
/// or above -40 dBFS) starting at or after that end. The pair counts only when that reply starts
/// before the customer's next line (otherwise the bot did not answer that turn) and no bot
/// segment spans the end (the bot talking over the line's end is barge-in, not a turn).
/// Lines of logs without `voice_end_ms` are skipped. A referred leg is not paired: after a
/// REFER the other side is a person.
pub fn wire_latencies(log: &serde_json::Value) -> Vec<u64> {
    let leg = &log["leg"];
    let said: Vec<(u64, Option<u64>)> = leg["said"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|l| Some((l["at_ms"].as_u64()?, l["voice_end_ms"].as_u64())))
                .collect()
        })
        .unwrap_or_default();
    let heard: Vec<(u64, u64)> = leg["heard"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|h| Some((h["start_ms"].as_u64()?, h["end_ms"].as_u64()?)))
                .collect()
        })
        .unwrap_or_default();
    let mut out = Vec::new();
    for (i, &(_, end)) in said.iter().enumerate() {
        let Some(end) = end else { continue };
        if heard.iter().any(|&(s, e)| s < end && e > end) {
            continue;
        }
        let next_line = said.get(i + 1).map_or(u64::MAX, |&(at, _)| at);
        if let Some(&(s, _)) = heard
            .iter()
            .filter(|&&(s, _)| s >= end)
            .min_by_key(|&&(s, _)| s)
        {
            if s < next_line {
                out.push(s - end);
            }
        }
    }
    out
}

/// The calls each agent phone answered, from the agents' logs.
pub fn agent_calls(agent_logs: &[serde_json::Value]) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for l in agent_logs {
        if l["result"].as_str() == Some("answered") {
            if let Some(a) = l["agent"].as_str() {
                *out.entry(a.to_string()).or_insert(0) += 1;
            }
        }
    }
    out
}

/// Everything but the places and the run's duration, from the records, the phones' logs
/// and the ledger's blocks; abandons are the attempts whose outcome is `abandoned`.
pub fn summarize(
    calls: &[CallFacts],
    customer_logs: &[serde_json::Value],
    agent_logs: &[serde_json::Value],
    blocks: BTreeMap<String, u64>,
) -> DemoReport {
    let mut r = DemoReport {
        calls: calls.len() as u64,
        compliance_blocks: blocks,
        ..DemoReport::default()
    };
    for c in calls {
        let outcome = c.outcome.clone().unwrap_or_else(|| "in_flight".into());
        *r.outcomes.entry(outcome).or_insert(0) += 1;
        if let Some(d) = &c.disposition {
            *r.dispositions.entry(d.clone()).or_insert(0) += 1;
        }
        if c.answered {
            r.answered += 1;
        }
    }
    r.agent_calls = agent_calls(agent_logs);
    // With a single agent phone on the queue's address, whoever took a hand-off is it.
    let only_agent = match r.agent_calls.keys().collect::<Vec<_>>().as_slice() {
        [one] => Some((*one).clone()),
        _ => None,
    };
    for c in calls {
        let Some(h) = &c.handoff else { continue };
        let mut h = h.clone();
        r.transfers += 1;
        if h.method.as_deref() == Some("bridge") {
            r.transfers_bridged += 1;
        }
        match h.result.as_str() {
            "reached_agent" => {
                r.transfers_reached_agent += 1;
                if h.agent.is_none() {
                    h.agent = only_agent.clone();
                }
            }
            "failed" => r.transfer_failures += 1,
            _ => {}
        }
        r.handoffs.push(h);
    }
    let latencies: Vec<u64> = customer_logs.iter().flat_map(wire_latencies).collect();
    r.turns_measured = latencies.len() as u64;
    r.turn_latency_p50_ms = percentile(&latencies, 50.0);
    r.turn_latency_p95_ms = percentile(&latencies, 95.0);
    let abandoned = r.outcomes.get("abandoned").copied().unwrap_or(0);
    r.abandon_rate = abandon_rate(abandoned, r.answered);
    r.bar = Bar {
        answered_at_least_20: r.answered >= BAR_ANSWERED,
        handoff_reached_agent: r.transfers_reached_agent >= 1,
        turn_latency_p95_at_most_1000_ms: r.turn_latency_p95_ms.is_some_and(|p| p <= BAR_P95_MS),
    };
    r
}
