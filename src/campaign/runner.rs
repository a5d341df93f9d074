//! The campaign runner: the store-backed driver of the dialer core ([`Dialer`]). It feeds
//! the core due leads from the store (the core asks the contact policy), commits each
//! attempt to the ledger *before* handing the dial to the lines, and closes each attempt
//! with its outcome and the retry schedule's next due time.
//!
//! Telephony here is simulated ([`SimulatedLines`]: seeded outcomes on a virtual clock),
//! which is what `campaign run --simulate` and the crash-safety tests drive; SIP lines
//! will implement [`Lines`] and keep everything else. The virtual clock is persisted with
//! the ledger, so a run killed at any moment resumes where it stopped.

use crate::dialer::core::{CallId, Dialer, DialerConfig, Input, LeadsDue, LineResult, Output};
use crate::dialer::lines::{LineEvent, Lines, SimulatedLines};
use crate::dialer::pacing::{PacingConfig, Strategy};
use crate::policy::{zones, CallOutcome, Contact, Decision, Policy};
use crate::store::LedgerRow;
use crate::store::{AttemptEnd, Lead, Store, StoreError};
use crate::time::Millis;
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};

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
    /// Virtual start when the campaign has no clock yet.
    pub start: Millis,
    /// Stop dialing at this virtual instant.
    pub until: Millis,
    /// Mean talk time, seconds.
    pub talk_mean_s: f64,
    /// Mean ring time of answered calls, seconds.
    pub ring_mean_s: f64,
    /// Stop after this many dials in this run (for tests and smoke runs).
    pub max_dials: Option<u64>,
    /// Trunk calls per second.
    pub cps: u32,
}

/// Wrap-up the runner's pacer assumes after each talk, seconds (the simulator's default).
const WRAP_PRIOR_S: f64 = 15.0;

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

/// Errors from a run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The lines refused a dial.
    #[error("lines refused a dial")]
    Lines(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Bad settings.
    #[error("{0}")]
    Config(String),
}

fn rfc3339(t: Millis) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp(t.as_unix_secs(), 0)
        .map(|d| d.to_rfc3339())
        .unwrap_or_default()
}

/// Moments the runner files with the core: the simulated lines and conversations.
#[derive(Debug, Clone, Copy)]
enum Filed {
    /// A line's result is due.
    LineResult(CallId),
    /// A conversation ends and its taker frees up.
    TalkEnds(CallId),
}

/// An attempt on the ledger while its call is live.
#[derive(Debug, Clone, Copy)]
struct InFlight {
    lead: i64,
    attempt: i64,
    line: Option<LineEvent>,
    answered_at: Millis,
}

/// The store side of one campaign's dialer core, shared by every driver of it (the
/// simulated runner here, the live SIP service in `service`): it offers the core due
/// leads with their contact history, commits each allowed dial to the ledger before the
/// line has it, logs blocks, and closes attempts with the retry schedule's next due time
/// (`Policy::next_after`). The two drivers differ only in their clock and their lines.
pub struct Ledger<'p> {
    policy: &'p Policy,
    campaign: i64,
    /// The snapshot `policy` was compiled from, recorded on every attempt.
    policy_version: Option<i64>,
    buffer: VecDeque<Lead>,
    offered: Option<Lead>,
    /// Longest the core may sleep when no lead is due: a live service looks again for
    /// leads imported or rescheduled meanwhile; a simulation needs no such look.
    max_sleep_ms: Option<u64>,
    /// Attempts closed, by outcome.
    pub outcomes: BTreeMap<String, u64>,
    /// Policy blocks, by rule.
    pub blocks: BTreeMap<String, u64>,
}

/// An attempt committed to the ledger by [`Ledger::dial`]: what the line is to call.
#[derive(Debug, Clone)]
pub struct Committed {
    /// The lead dialled.
    pub lead: Lead,
    /// Its attempt row.
    pub attempt: i64,
}

/// How a driver tells the ledger an attempt ended.
#[derive(Debug, Clone)]
pub struct Finish<'a> {
    /// The lead.
    pub lead: i64,
    /// Its attempt row.
    pub attempt: i64,
    /// What the policy counts.
    pub outcome: CallOutcome,
    /// SIP final code, when there was one.
    pub sip_code: Option<u16>,
    /// The conversation's disposition.
    pub disposition: Option<&'a str>,
    /// Seconds talked.
    pub talk_s: f64,
}

impl<'p> Ledger<'p> {
    /// The ledger side of `campaign` (its row id), dialled under `policy`, the compiled
    /// snapshot `policy_version`.
    pub fn new(policy: &'p Policy, campaign: i64, policy_version: Option<i64>) -> Self {
        Ledger {
            policy,
            campaign,
            policy_version,
            buffer: VecDeque::new(),
            offered: None,
            max_sleep_ms: None,
            outcomes: BTreeMap::new(),
            blocks: BTreeMap::new(),
        }
    }

    /// Wake the core at least this often when nothing is due (see the field).
    pub fn with_max_sleep_ms(mut self, ms: u64) -> Self {
        self.max_sleep_ms = Some(ms);
        self
    }

    /// The policy every dial is judged by.
    pub fn policy(&self) -> &'p Policy {
        self.policy
    }

    /// Offer the core the next due lead, if it wants one; `looked` counts the leads read
    /// in this launch (at most 1000 per launch). Returns whether a lead was offered: the
    /// driver then reacts to the core's outputs ([`Ledger::block`], [`Ledger::dial`])
    /// before offering the next.
    pub fn offer_next<W>(
        &mut self,
        store: &mut dyn Store,
        core: &mut Dialer<'_, W>,
        now: Millis,
        looked: &mut u32,
    ) -> Result<bool, StoreError> {
        let now_s = now.as_unix_secs();
        while core.wants_leads() && *looked < 1000 {
            if self.buffer.is_empty() {
                self.buffer
                    .extend(store.due_leads(self.campaign, now_s, 256)?);
                if self.buffer.is_empty() {
                    break;
                }
            }
            let Some(lead) = self.buffer.pop_front() else {
                break;
            };
            *looked += 1;
            // The buffer may be stale: skip leads that are no longer due.
            if lead.next_due_at > now_s {
                continue;
            }
            let history = store.history(&lead.debtor_id)?;
            let disposition = store.disposition(&lead.debtor_id)?;
            let lead_zones = zones::parse_list(&lead.zones).unwrap_or_default();
            let zone_list = if lead_zones.is_empty() {
                self.policy.zones_for(&lead.phone, None)
            } else {
                lead_zones
            };
            let suppressed = store.is_suppressed(&lead.phone)?;
            let id = lead.id as u64;
            let contact = Contact {
                phone: &lead.phone,
                zones: &zone_list,
                history: &history,
                disposition: disposition.as_deref(),
                suppressed,
            };
            core.handle(
                now,
                Input::Offer {
                    lead: id,
                    contact: &contact,
                },
            );
            self.offered = Some(lead);
            return Ok(true);
        }
        Ok(false)
    }

    /// End a launch: tell the core whether leads remain and when.
    pub fn launch_done<W>(
        &mut self,
        store: &mut dyn Store,
        core: &mut Dialer<'_, W>,
        now: Millis,
    ) -> Result<(), StoreError> {
        // Nothing in flight and nothing buffered: the core may sleep until the next due
        // lead instead of ticking through the night.
        let leads = if !self.buffer.is_empty() || core.live_calls() > 0 {
            LeadsDue::Now
        } else {
            match store.next_due(self.campaign)? {
                Some(d) => LeadsDue::At(Millis::from_unix_secs(d)),
                None => LeadsDue::Never,
            }
        };
        let leads = match (self.max_sleep_ms, leads) {
            (Some(ms), LeadsDue::At(t)) => LeadsDue::At(t.min(now.plus_ms(ms))),
            (Some(ms), LeadsDue::Never) => LeadsDue::At(now.plus_ms(ms)),
            (_, l) => l,
        };
        core.handle(now, Input::LaunchDone(leads));
        Ok(())
    }

    /// The core refused the offered lead ([`Output::Block`]): log it and park the lead.
    pub fn block(
        &mut self,
        store: &mut dyn Store,
        rule: crate::policy::Rule,
        detail: &str,
        until: Option<Millis>,
        now: Millis,
    ) -> Result<(), StoreError> {
        if let Some(lead) = self.offered.take() {
            store.block(
                &lead,
                self.campaign,
                rule,
                detail,
                until.map(Millis::as_unix_secs),
                now.as_unix_secs(),
            )?;
            *self.blocks.entry(rule.as_str().to_string()).or_insert(0) += 1;
        }
        Ok(())
    }

    /// The core allows the offered lead ([`Output::Dial`]): commit the attempt (ledger
    /// before dial). `None` when no lead was offered.
    pub fn dial(
        &mut self,
        store: &mut dyn Store,
        now: Millis,
    ) -> Result<Option<Committed>, StoreError> {
        let Some(lead) = self.offered.take() else {
            return Ok(None);
        };
        let attempt = store.start_attempt(
            &lead,
            self.campaign,
            self.policy_version,
            now.as_unix_secs(),
        )?;
        Ok(Some(Committed { lead, attempt }))
    }

    /// Close an attempt; its lead comes due again when the policy's retry schedule says.
    pub fn finish(
        &mut self,
        store: &mut dyn Store,
        f: &Finish<'_>,
        now: Millis,
    ) -> Result<(), StoreError> {
        let end = self.end_of(store, f, now)?;
        store.finish_attempt(f.attempt, &end, now.as_unix_secs())?;
        self.count(f.outcome);
        Ok(())
    }

    /// How `f` closes its attempt: the retry schedule applied to the lead's tries.
    pub fn end_of(
        &self,
        store: &mut dyn Store,
        f: &Finish<'_>,
        now: Millis,
    ) -> Result<AttemptEnd, StoreError> {
        let now_s = now.as_unix_secs();
        let tries = store.outcome_count(f.lead, f.outcome)? + 1;
        let next = self
            .policy
            .next_after(f.outcome, tries, Millis::from_unix_secs(now_s));
        Ok(AttemptEnd {
            outcome: f.outcome,
            sip_code: f.sip_code,
            disposition: f.disposition.map(str::to_string),
            talk_s: f.talk_s,
            next,
        })
    }

    /// Count a closed attempt (for a driver that closed it itself with [`Ledger::end_of`]).
    pub fn count(&mut self, outcome: CallOutcome) {
        *self
            .outcomes
            .entry(outcome.as_str().to_string())
            .or_insert(0) += 1;
    }
}

/// Close what an earlier run left in flight as interrupted (those calls may have been
/// answered), rescheduling their leads by the policy; how many were closed.
pub fn recover(
    store: &mut dyn Store,
    campaign: i64,
    policy: &Policy,
    now: Millis,
) -> Result<u64, StoreError> {
    store.recover_interrupted(campaign, now.as_unix_secs(), &|tries, now| {
        policy.next_after(CallOutcome::Interrupted, tries, Millis::from_unix_secs(now))
    })
}

/// The runner's side of the core: store, lines and the run's report.
struct Driver<'a> {
    store: &'a mut dyn Store,
    ledger: Ledger<'a>,
    policy: &'a Policy,
    lines: SimulatedLines,
    talk_mean_s: f64,
    report: RunReport,
    calls: BTreeMap<CallId, InFlight>,
}

impl Driver<'_> {
    fn drain(&mut self, core: &mut Dialer<'_, Filed>, now: Millis) -> Result<(), RunError> {
        while let Some(out) = core.poll_output() {
            self.react(core, now, out)?;
        }
        Ok(())
    }

    fn react(
        &mut self,
        core: &mut Dialer<'_, Filed>,
        now: Millis,
        out: Output<Filed>,
    ) -> Result<(), RunError> {
        let now_s = now.as_unix_secs();
        match out {
            Output::Launch { .. } => self.launch(core, now)?,
            Output::Block {
                rule,
                detail,
                until,
                ..
            } => self.ledger.block(self.store, rule, &detail, until, now)?,
            Output::Dial { call, .. } => {
                // Ledger before dial: the attempt row is committed before the line has it.
                let Some(Committed { lead, attempt }) = self.ledger.dial(self.store, now)? else {
                    return Ok(());
                };
                self.calls.insert(
                    call,
                    InFlight {
                        lead: lead.id,
                        attempt,
                        line: None,
                        answered_at: now,
                    },
                );
                let min_ring_ms = (self.policy.min_ring_s * 1000.0) as u64;
                self.lines
                    .dial(call, now, min_ring_ms)
                    .map_err(|e| RunError::Lines(Box::new(e)))?;
                self.report.dials += 1;
                while let Some(ev) = self.lines.poll_result() {
                    if let Some(f) = self.calls.get_mut(&ev.call) {
                        f.line = Some(ev);
                        core.schedule(ev.at, Filed::LineResult(ev.call));
                    }
                }
            }
            Output::Connect { call, .. } => {
                let talk_ms = self.lines.talk_ms(self.talk_mean_s);
                core.schedule(now.plus_ms(talk_ms), Filed::TalkEnds(call));
            }
            Output::Ended { call, outcome } => {
                if let Some(f) = self.calls.remove(&call) {
                    let sip_code = match outcome {
                        CallOutcome::Abandoned => 200,
                        _ => f.line.map_or(0, |l| l.sip_code),
                    };
                    self.finish(&f, outcome, Some(sip_code), None, 0.0, now_s)?;
                }
            }
            Output::Wake(Filed::LineResult(call)) => {
                let Some(f) = self.calls.get_mut(&call) else {
                    return Ok(());
                };
                let Some(line) = f.line else {
                    return Ok(());
                };
                if line.result == LineResult::Answered {
                    f.answered_at = now;
                }
                core.handle(
                    now,
                    Input::LineResult {
                        call,
                        result: line.result,
                    },
                );
            }
            Output::Wake(Filed::TalkEnds(call)) => {
                if let Some(f) = self.calls.remove(&call) {
                    let talk_s = now.ms_since(f.answered_at) as f64 / 1000.0;
                    let disposition = self.lines.disposition();
                    self.finish(
                        &f,
                        CallOutcome::Connected,
                        Some(200),
                        Some(disposition),
                        talk_s,
                        now_s,
                    )?;
                    core.handle(now, Input::TakerFree { call });
                }
            }
        }
        Ok(())
    }

    /// Offer the core due leads from the store while it wants them.
    fn launch(&mut self, core: &mut Dialer<'_, Filed>, now: Millis) -> Result<(), RunError> {
        let mut looked = 0;
        while self.ledger.offer_next(self.store, core, now, &mut looked)? {
            self.drain(core, now)?;
        }
        self.ledger.launch_done(self.store, core, now)?;
        Ok(())
    }

    fn finish(
        &mut self,
        f: &InFlight,
        outcome: CallOutcome,
        sip_code: Option<u16>,
        disposition: Option<&str>,
        talk_s: f64,
        now_s: i64,
    ) -> Result<(), RunError> {
        self.ledger.finish(
            self.store,
            &Finish {
                lead: f.lead,
                attempt: f.attempt,
                outcome,
                sip_code,
                disposition,
                talk_s,
            },
            Millis::from_unix_secs(now_s),
        )?;
        Ok(())
    }
}

/// Where a run is, for a progress line: a long run is otherwise silent for minutes.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// Virtual instant the run started from.
    pub from: Millis,
    /// Virtual instant it stops at.
    pub until: Millis,
    /// Virtual now.
    pub now: Millis,
    /// Dials so far in this run.
    pub dials: u64,
}

/// Run `campaign` from its persisted clock (or `cfg.start`) until `cfg.until`, every
/// dial under `policy`, which the caller compiled from the campaign's current policy
/// snapshot (the attempts record that snapshot as the one they were dialled under).
pub fn run(
    store: &mut dyn Store,
    campaign: &str,
    policy: &Policy,
    cfg: &RunConfig,
) -> Result<RunReport, RunError> {
    run_with_progress(store, campaign, policy, cfg, &mut |_| {})
}

/// [`run`], telling `progress` where it is about once per virtual minute.
pub fn run_with_progress(
    store: &mut dyn Store,
    campaign: &str,
    policy: &Policy,
    cfg: &RunConfig,
    progress: &mut dyn FnMut(&Progress),
) -> Result<RunReport, RunError> {
    if cfg.takers == 0 {
        return Err(RunError::Config(
            "need at least one agent or bot channel".into(),
        ));
    }
    let c = store.campaign(campaign)?;
    let start = c
        .clock
        .map_or(cfg.start, |t| Millis::from_unix_secs(t).max(cfg.start));
    let start = Millis::from_unix_secs(start.as_unix_secs());
    // Close what an earlier run left in flight: those calls may have been answered.
    let recovered = recover(store, c.id, policy, start)?;
    // A resumed run draws differently from the first one, but the same state and seed
    // always give the same run.
    let lines = SimulatedLines::new(
        cfg.seed ^ (start.as_unix_secs() as u64),
        cfg.answer_rate,
        cfg.ring_mean_s,
    );
    let pacing = PacingConfig::agents(
        cfg.strategy,
        policy.max_abandon_rate,
        cfg.talk_mean_s,
        WRAP_PRIOR_S,
    );
    let stop_at = Millis::from_unix_secs(cfg.until.max(start).as_unix_secs());
    let mut core: Dialer<'_, Filed> = Dialer::new(
        DialerConfig {
            start,
            stop_at,
            tick_ms: 1000,
            takers: cfg.takers,
            humans: cfg.takers,
            max_dials_per_tick: cfg.cps.max(1),
            abandon_after_ms: (policy.abandon_after_s * 1000.0) as u64,
            max_dials: cfg.max_dials,
            tick_while_calls_live: true,
            live_takers: false,
        },
        pacing.pacer(),
        Some(policy),
    );
    let mut driver = Driver {
        store,
        ledger: Ledger::new(policy, c.id, c.policy_version),
        policy,
        lines,
        talk_mean_s: cfg.talk_mean_s,
        report: RunReport {
            from: rfc3339(start),
            recovered_interrupted: recovered,
            ..Default::default()
        },
        calls: BTreeMap::new(),
    };
    let mut now = start;
    let mut told = start;
    while let Some(t) = core.poll_timeout() {
        now = t;
        core.handle_timeout(t);
        driver.drain(&mut core, t)?;
        if t.ms_since(told) >= 60_000 {
            told = t;
            progress(&Progress {
                from: start,
                until: stop_at,
                now: t,
                dials: driver.report.dials,
            });
        }
    }
    progress(&Progress {
        from: start,
        until: stop_at,
        now,
        dials: driver.report.dials,
    });
    let end_s = now.as_unix_secs();
    driver.store.set_clock(c.id, end_s)?;
    let mut report = driver.report;
    report.outcomes = driver.ledger.outcomes;
    report.blocks = driver.ledger.blocks;
    report.to = rfc3339(now);
    let stats = driver.store.stats(c.id)?;
    report.pending_left = stats.leads.get("pending").copied().unwrap_or(0);
    Ok(report)
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
    audit_with(ledger, |_| policy)
}

/// [`audit`] with each attempt judged by the policy that was in force when it was dialled
/// (`policy_for` its row's snapshot), so changing a campaign's policy or editing its file
/// later never rewrites history.
pub fn audit_with<'p>(
    ledger: &[LedgerRow],
    policy_for: impl Fn(Option<i64>) -> &'p Policy,
) -> Vec<Violation> {
    let mut by_debtor: BTreeMap<&str, (Vec<crate::policy::PastAttempt>, Option<&str>)> =
        BTreeMap::new();
    let mut out = Vec::new();
    for row in ledger {
        let policy = policy_for(row.policy_version);
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
        if let Decision::Block { rule, detail, .. } =
            policy.check(&c, Millis::from_unix_secs(row.started_at))
        {
            out.push(Violation {
                attempt: row.attempt,
                rule: rule.as_str().to_string(),
                detail,
            });
        }
        history.push(crate::policy::PastAttempt {
            at: Millis::from_unix_secs(row.started_at),
            phone: row.phone.clone(),
            outcome: row.outcome,
        });
        if let Some(d) = row.disposition.as_deref() {
            *disposition = Some(d);
        }
    }
    out
}
