//! The campaign runner: takes due leads from the store, asks the contact policy before
//! every dial, commits the attempt to the ledger *before* dialling, paces with the same
//! sans-IO pacers as the simulator, and closes each attempt with its outcome and the
//! retry schedule's next due time.
//!
//! Telephony here is simulated (seeded outcomes on a virtual clock), which is what
//! `campaign run --simulate` and the crash-safety tests drive; the SIP driver replaces
//! [`SimulatedLines`] and keeps everything else. The virtual clock is persisted with the
//! ledger, so a run killed at any moment resumes where it stopped.

use crate::dialer::pacing::{Outcome, Pacer, PacingState};
use crate::dialer::sim::{make_pacer, SimConfig, Strategy};
use crate::policy::{zones, CallOutcome, Contact, Decision, Policy};
use crate::store::LedgerRow;
use crate::store::{AttemptEnd, Lead, Store, StoreError};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp};
use serde::Serialize;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};

/// How a run is paced and what the simulated lines do.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// Pacing strategy.
    pub strategy: Strategy,
    /// Agents (or bot channels in bot-first mode) taking answered calls.
    pub takers: u32,
    /// Probability a dial is answered by a person.
    pub answer_rate: f64,
    /// RNG seed.
    pub seed: u64,
    /// Virtual start (unix seconds) when the campaign has no clock yet.
    pub start: i64,
    /// Stop at this virtual unix second.
    pub until: i64,
    /// Mean talk time, seconds.
    pub talk_mean_s: f64,
    /// Mean ring time of answered calls, seconds.
    pub ring_mean_s: f64,
    /// Stop after this many dials in this run (for tests and smoke runs).
    pub max_dials: Option<u64>,
    /// Trunk calls per second.
    pub cps: u32,
}

/// What a run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunReport {
    /// Dials placed in this run.
    pub dials: u64,
    /// Attempts by outcome in this run.
    pub outcomes: BTreeMap<String, u64>,
    /// Policy blocks by rule in this run.
    pub blocks: BTreeMap<String, u64>,
    /// In-flight attempts from an earlier, interrupted run closed at start.
    pub recovered_interrupted: u64,
    /// Virtual time the run started and stopped (RFC 3339, UTC).
    pub from: String,
    /// See `from`.
    pub to: String,
    /// Leads still pending at the end.
    pub pending_left: u64,
}

/// Simulated phone lines: what would come back from the network for a dial.
#[derive(Debug)]
pub struct SimulatedLines {
    rng: ChaCha8Rng,
    answer_rate: f64,
    ring_mean_s: f64,
}

/// What the simulated network answered.
#[derive(Debug, Clone, Copy)]
pub struct LineResult {
    /// Answered by a person?
    pub answered: bool,
    /// Outcome when not answered.
    pub outcome: CallOutcome,
    /// SIP code the network gave.
    pub sip_code: u16,
    /// Ring time, ms.
    pub ring_ms: u64,
}

impl SimulatedLines {
    /// Lines answering with `answer_rate`.
    pub fn new(seed: u64, answer_rate: f64, ring_mean_s: f64) -> Self {
        SimulatedLines {
            rng: ChaCha8Rng::seed_from_u64(seed),
            answer_rate,
            ring_mean_s,
        }
    }

    /// Draw the network's answer to one dial.
    pub fn dial(&mut self, min_ring_s: f64) -> LineResult {
        if self.rng.random::<f64>() < self.answer_rate {
            let ring = self.ring_mean_s * (0.4 + 1.2 * self.rng.random::<f64>());
            return LineResult {
                answered: true,
                outcome: CallOutcome::Connected,
                sip_code: 200,
                ring_ms: (ring * 1000.0) as u64,
            };
        }
        let x: f64 = self.rng.random();
        let (outcome, sip_code, ring_s) = if x < 0.6 {
            (CallOutcome::NoAnswer, 487, min_ring_s.max(25.0))
        } else if x < 0.75 {
            (CallOutcome::Busy, 486, 2.0)
        } else if x < 0.88 {
            (CallOutcome::Voicemail, 200, 12.0)
        } else if x < 0.94 {
            (CallOutcome::Rejected, 603, 6.0)
        } else if x < 0.97 {
            (CallOutcome::InvalidNumber, 404, 1.0)
        } else {
            (CallOutcome::Failed, 503, 1.0)
        };
        LineResult {
            answered: false,
            outcome,
            sip_code,
            ring_ms: (ring_s * 1000.0) as u64,
        }
    }

    fn disposition(&mut self) -> &'static str {
        let x: f64 = self.rng.random();
        match x {
            x if x < 0.45 => "promise_to_pay",
            x if x < 0.65 => "callback",
            x if x < 0.75 => "already_paid",
            x if x < 0.85 => "refused",
            x if x < 0.90 => "opt_out",
            x if x < 0.93 => "wrong_party",
            _ => "cannot_pay",
        }
    }

    fn exp(&mut self, mean: f64) -> f64 {
        Exp::new(1.0 / mean.max(0.1))
            .map(|d| d.sample(&mut self.rng))
            .unwrap_or(mean)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    Tick,
    Result { attempt: i64 },
    Drop { attempt: i64 },
    End { attempt: i64 },
}

#[derive(Debug, Clone)]
struct Live {
    lead: i64,
    dialed_ms: u64,
    line: LineResult,
    taken: bool,
    answered_ms: u64,
    done: bool,
}

/// Errors from a run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Bad settings.
    #[error("{0}")]
    Config(String),
}

fn rfc3339(t: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp(t, 0)
        .map(|d| d.to_rfc3339())
        .unwrap_or_default()
}

/// Run `campaign` from its persisted clock (or `cfg.start`) until `cfg.until`, every
/// dial under `policy`.
pub fn run(
    store: &mut dyn Store,
    campaign: &str,
    policy: &Policy,
    cfg: &RunConfig,
) -> Result<RunReport, RunError> {
    if cfg.takers == 0 {
        return Err(RunError::Config(
            "need at least one agent or bot channel".into(),
        ));
    }
    let c = store.campaign(campaign)?;
    let start_s = c.clock.map_or(cfg.start, |t| t.max(cfg.start));
    let mut report = RunReport {
        from: rfc3339(start_s),
        ..Default::default()
    };
    // Close what an earlier run left in flight: those calls may have been answered.
    report.recovered_interrupted = store.recover_interrupted(c.id, start_s, &|tries, now| {
        policy.next_after(CallOutcome::Interrupted, tries, now)
    })?;
    // A resumed run draws differently from the first one, but the same state and seed
    // always give the same run.
    let mut lines = SimulatedLines::new(
        cfg.seed ^ (start_s as u64),
        cfg.answer_rate,
        cfg.ring_mean_s,
    );
    let sim_cfg = SimConfig {
        strategy: cfg.strategy,
        agents: cfg.takers,
        answer_rate: cfg.answer_rate,
        talk_mean_s: cfg.talk_mean_s,
        target_abandon: policy.max_abandon_rate,
        drop_after_s: policy.abandon_after_s,
        ..SimConfig::default()
    };
    let mut pacer: Box<dyn Pacer> = make_pacer(&sim_cfg);
    let base_ms = start_s as u64 * 1000;
    let mut now_ms = base_ms;
    let end_ms = (cfg.until.max(start_s) as u64) * 1000;
    let mut queue: BinaryHeap<Reverse<(u64, u64, Ev)>> = BinaryHeap::new();
    let mut seq = 0u64;
    let mut push = |q: &mut BinaryHeap<Reverse<(u64, u64, Ev)>>, t: u64, ev: Ev| {
        seq += 1;
        q.push(Reverse((t, seq, ev)));
    };
    let mut live: BTreeMap<i64, Live> = BTreeMap::new();
    let mut waiting: VecDeque<i64> = VecDeque::new();
    let mut free = cfg.takers;
    let mut ringing = 0u32;
    let mut buffer: VecDeque<Lead> = VecDeque::new();
    push(&mut queue, now_ms, Ev::Tick);
    let mut stop_dialing = false;
    while let Some(Reverse((t, _, ev))) = queue.pop() {
        now_ms = t;
        let now_s = (now_ms / 1000) as i64;
        match ev {
            Ev::Tick => {
                if now_ms >= end_ms || stop_dialing {
                    continue;
                }
                let state = PacingState {
                    now: (now_ms - base_ms) as f64 / 1000.0,
                    takers_total: cfg.takers,
                    takers_free: free,
                    ringing,
                    ringing_ages_s: live
                        .values()
                        .filter(|l| l.answered_ms == 0 && !l.done)
                        .map(|l| (now_ms - l.dialed_ms) as f64 / 1000.0)
                        .collect(),
                    waiting: waiting.len() as u32,
                    humans_total: cfg.takers,
                    transfers_waiting: 0,
                };
                let mut want = pacer.launch(&state).min(cfg.cps.max(1));
                let mut looked = 0;
                while want > 0 && looked < 1000 {
                    if buffer.is_empty() {
                        buffer.extend(store.due_leads(c.id, now_s, 256)?);
                        if buffer.is_empty() {
                            break;
                        }
                    }
                    let Some(lead) = buffer.pop_front() else {
                        break;
                    };
                    looked += 1;
                    // The buffer may be stale: skip leads that are no longer due.
                    if lead.next_due_at > now_s {
                        continue;
                    }
                    let history = store.history(&lead.debtor_id)?;
                    let disposition = store.disposition(&lead.debtor_id)?;
                    let lead_zones = zones::parse_list(&lead.zones).unwrap_or_default();
                    let zone_list = if lead_zones.is_empty() {
                        policy.zones_for(&lead.phone, None)
                    } else {
                        lead_zones
                    };
                    let contact = Contact {
                        phone: &lead.phone,
                        zones: &zone_list,
                        history: &history,
                        disposition: disposition.as_deref(),
                        suppressed: store.is_suppressed(&lead.phone)?,
                    };
                    match policy.check(&contact, now_s) {
                        Decision::Block {
                            rule,
                            detail,
                            until,
                        } => {
                            store.block(&lead, c.id, rule, &detail, until, now_s)?;
                            *report.blocks.entry(rule.as_str().to_string()).or_insert(0) += 1;
                        }
                        Decision::Allow => {
                            let attempt = store.start_attempt(&lead, c.id, now_s)?;
                            let line = lines.dial(policy.min_ring_s);
                            live.insert(
                                attempt,
                                Live {
                                    lead: lead.id,
                                    dialed_ms: now_ms,
                                    line,
                                    taken: false,
                                    answered_ms: 0,
                                    done: false,
                                },
                            );
                            ringing += 1;
                            report.dials += 1;
                            want -= 1;
                            push(
                                &mut queue,
                                now_ms + line.ring_ms.max(1),
                                Ev::Result { attempt },
                            );
                            if cfg.max_dials.is_some_and(|m| report.dials >= m) {
                                stop_dialing = true;
                                break;
                            }
                        }
                    }
                }
                if !stop_dialing {
                    let next = if live.is_empty() && buffer.is_empty() {
                        // Nothing in flight: jump to the next due lead instead of ticking
                        // through the night.
                        match store.next_due(c.id)? {
                            Some(d) if (d as u64) * 1000 > now_ms + 1000 => (d as u64) * 1000,
                            Some(_) => now_ms + 1000,
                            None => u64::MAX,
                        }
                    } else {
                        now_ms + 1000
                    };
                    if next < end_ms {
                        push(&mut queue, next, Ev::Tick);
                    }
                }
            }
            Ev::Result { attempt } => {
                let Some(l) = live.get_mut(&attempt) else {
                    continue;
                };
                ringing = ringing.saturating_sub(1);
                let line = l.line;
                pacer.observe(Outcome::Dialed {
                    answered: line.answered,
                    ring_s: line.ring_ms as f64 / 1000.0,
                });
                if line.answered {
                    l.answered_ms = now_ms;
                    if free > 0 && waiting.is_empty() {
                        free -= 1;
                        l.taken = true;
                        let talk = lines.exp(cfg.talk_mean_s);
                        push(
                            &mut queue,
                            now_ms + (talk * 1000.0) as u64,
                            Ev::End { attempt },
                        );
                    } else {
                        waiting.push_back(attempt);
                        let d = (policy.abandon_after_s * 1000.0) as u64;
                        push(&mut queue, now_ms + d, Ev::Drop { attempt });
                    }
                } else {
                    let lead = l.lead;
                    live.remove(&attempt);
                    finish(
                        store,
                        policy,
                        lead,
                        attempt,
                        line.outcome,
                        Some(line.sip_code),
                        None,
                        0.0,
                        now_s,
                        &mut report,
                    )?;
                }
            }
            Ev::Drop { attempt } => {
                let Some(l) = live.get(&attempt) else {
                    continue;
                };
                if l.taken {
                    continue;
                }
                let lead = l.lead;
                waiting.retain(|a| *a != attempt);
                live.remove(&attempt);
                pacer.observe(Outcome::Abandoned);
                finish(
                    store,
                    policy,
                    lead,
                    attempt,
                    CallOutcome::Abandoned,
                    Some(200),
                    None,
                    0.0,
                    now_s,
                    &mut report,
                )?;
            }
            Ev::End { attempt } => {
                let Some(l) = live.remove(&attempt) else {
                    continue;
                };
                let talk = (now_ms - l.answered_ms) as f64 / 1000.0;
                let disp = lines.disposition();
                pacer.observe(Outcome::Handled { handle_s: talk });
                finish(
                    store,
                    policy,
                    l.lead,
                    attempt,
                    CallOutcome::Connected,
                    Some(200),
                    Some(disp),
                    talk,
                    now_s,
                    &mut report,
                )?;
                free += 1;
                while free > 0 {
                    let Some(w) = waiting.pop_front() else { break };
                    if let Some(wl) = live.get_mut(&w) {
                        wl.taken = true;
                        free -= 1;
                        let talk = lines.exp(cfg.talk_mean_s);
                        push(
                            &mut queue,
                            now_ms + (talk * 1000.0) as u64,
                            Ev::End { attempt: w },
                        );
                    }
                }
                // Keep dialling if ticks stopped while everything was busy.
                if queue.iter().all(|Reverse((_, _, e))| *e != Ev::Tick)
                    && now_ms < end_ms
                    && !stop_dialing
                {
                    push(&mut queue, now_ms + 1000, Ev::Tick);
                }
            }
        }
    }
    let end_s = (now_ms / 1000) as i64;
    store.set_clock(c.id, end_s)?;
    report.to = rfc3339(end_s);
    let stats = store.stats(c.id)?;
    report.pending_left = stats.leads.get("pending").copied().unwrap_or(0);
    Ok(report)
}

#[allow(clippy::too_many_arguments)]
fn finish(
    store: &mut dyn Store,
    policy: &Policy,
    lead: i64,
    attempt: i64,
    outcome: CallOutcome,
    sip_code: Option<u16>,
    disposition: Option<&str>,
    talk_s: f64,
    now_s: i64,
    report: &mut RunReport,
) -> Result<(), RunError> {
    let tries = store.outcome_count(lead, outcome)? + 1;
    let next = policy.next_after(outcome, tries, now_s);
    store.finish_attempt(
        attempt,
        &AttemptEnd {
            outcome,
            sip_code,
            disposition: disposition.map(str::to_string),
            talk_s,
            next,
        },
        now_s,
    )?;
    *report
        .outcomes
        .entry(outcome.as_str().to_string())
        .or_insert(0) += 1;
    Ok(())
}

/// A dial the ledger shows the policy should have refused.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Violation {
    /// Attempt id.
    pub attempt: i64,
    /// Rule it broke.
    pub rule: String,
    /// Details.
    pub detail: String,
}

/// Replay the ledger: every attempt must have been allowed by `policy` given the
/// history before it (dispositions included). What an auditor, `campaign audit` and the
/// crash test check.
pub fn audit(ledger: &[LedgerRow], policy: &Policy) -> Vec<Violation> {
    let mut by_debtor: BTreeMap<&str, (Vec<crate::policy::PastAttempt>, Option<&str>)> =
        BTreeMap::new();
    let mut out = Vec::new();
    for row in ledger {
        let (history, disposition) = by_debtor.entry(row.debtor_id.as_str()).or_default();
        let lead_zones = zones::parse_list(&row.zones).unwrap_or_default();
        let zone_list = if lead_zones.is_empty() {
            policy.zones_for(&row.phone, None)
        } else {
            lead_zones
        };
        let c = Contact {
            phone: &row.phone,
            zones: &zone_list,
            history,
            disposition: *disposition,
            suppressed: false,
        };
        if let Decision::Block { rule, detail, .. } = policy.check(&c, row.started_at) {
            out.push(Violation {
                attempt: row.attempt,
                rule: rule.as_str().to_string(),
                detail,
            });
        }
        history.push(crate::policy::PastAttempt {
            at: row.started_at,
            phone: row.phone.clone(),
            outcome: row.outcome,
        });
        if let Some(d) = row.disposition.as_deref() {
            *disposition = Some(d);
        }
    }
    out
}
