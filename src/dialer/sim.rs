//! A deterministic discrete-event simulation of a campaign: one seeded RNG, one event
//! queue ordered by (time, sequence), integer milliseconds — the same seed gives the same
//! summary, byte for byte. The pacers are the real sans-IO controllers.

use super::erlang;
use super::pacing::{
    Brake, FixedRatio, Outcome, Pacer, PacingState, Predictive, Progressive, VicidialAdaptive,
};
use crate::policy::{CallOutcome, Contact, Decision, Next, PastAttempt, Policy};
use chrono_tz::Tz;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp};
use serde::Serialize;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};
use std::sync::Arc;

/// Which pacing strategy a simulation runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// One line per free taker.
    Progressive,
    /// Fixed lines per free taker.
    Ratio,
    /// VICIdial-style adaptive dial level (the baseline).
    Vicidial,
    /// Our queueing-model predictive pacer.
    Predictive,
}

/// Everything a simulated campaign needs.
#[derive(Debug, Clone, Serialize)]
pub struct SimConfig {
    /// Pacing strategy.
    pub strategy: Strategy,
    /// Human agents.
    pub agents: u32,
    /// Probability a dial is answered by a person.
    pub answer_rate: f64,
    /// Leads available.
    pub leads: u64,
    /// Length of the dialing day.
    pub hours: f64,
    /// RNG seed.
    pub seed: u64,
    /// Mean seconds from dial to answer (answered calls).
    pub ring_mean_s: f64,
    /// Seconds before an unanswered call gives up.
    pub no_answer_s: f64,
    /// Mean talk time with a human, seconds.
    pub talk_mean_s: f64,
    /// Mean wrap-up time, seconds.
    pub wrap_mean_s: f64,
    /// An answered call not taken within this many seconds is abandoned (2 s rule).
    pub drop_after_s: f64,
    /// Lines per free taker for `ratio`.
    pub ratio: f64,
    /// Maximum dial level for `vicidial`.
    pub max_level: f64,
    /// VICIdial brake mode.
    pub brake: Brake,
    /// Abandon-rate target (abandoned / answered).
    pub target_abandon: f64,
    /// Bots take every answer; humans only take escalations.
    pub bot_first: bool,
    /// Concurrent bot conversations.
    pub bot_channels: u32,
    /// Share of bot calls escalated to a human.
    pub transfer_rate: f64,
    /// Mean bot conversation, seconds.
    pub bot_talk_mean_s: f64,
    /// How long an escalated customer waits for a human before hanging up.
    pub transfer_patience_s: f64,
    /// Trunk calls per second.
    pub trunk_cps: f64,
    /// Contact policy checked before every dial; with one, unanswered and abandoned
    /// leads come back on the policy's retry schedule.
    #[serde(skip)]
    pub policy: Option<Arc<Policy>>,
    /// Virtual start of the day (unix seconds): calling windows are judged from it.
    pub start_unix: i64,
    /// Where the population lives: zones with weights (default: the policy's zone).
    #[serde(skip)]
    pub zones: Vec<(Tz, f64)>,
}

/// 2026-11-23 09:00 in Shanghai: a Monday morning, inside every preset's hours.
pub const DEFAULT_START_UNIX: i64 = 1_795_395_600;

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            strategy: Strategy::Predictive,
            agents: 20,
            answer_rate: 0.3,
            leads: 100_000,
            hours: 8.0,
            seed: 1,
            ring_mean_s: 10.0,
            no_answer_s: 25.0,
            talk_mean_s: 120.0,
            wrap_mean_s: 15.0,
            drop_after_s: 2.0,
            ratio: 2.0,
            max_level: 5.0,
            brake: Brake::Average,
            target_abandon: 0.03,
            bot_first: false,
            bot_channels: 100,
            transfer_rate: 0.1,
            bot_talk_mean_s: 90.0,
            transfer_patience_s: 120.0,
            trunk_cps: 30.0,
            policy: None,
            start_unix: DEFAULT_START_UNIX,
            zones: Vec::new(),
        }
    }
}

/// What a simulated day produced (the `voxdial simulate --json` contract).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Summary {
    /// Strategy run.
    pub strategy: Strategy,
    /// Dials launched.
    pub calls_placed: u64,
    /// Answered by a person.
    pub answered: u64,
    /// Answered calls connected to a taker (agent, or bot in bot-first mode).
    pub connects: u64,
    /// Answered calls nobody took in time.
    pub abandoned: u64,
    /// abandoned / answered.
    pub abandon_rate: f64,
    /// Share of agent time spent talking or wrapping up.
    pub agent_occupancy: f64,
    /// Human talk minutes per agent-hour.
    pub talk_minutes_per_agent_hour: f64,
    /// Escalations to humans (bot-first).
    pub transfers: u64,
    /// Escalated customers who hung up before a human answered.
    pub transfers_abandoned: u64,
    /// Median wait for a human: transfers in bot-first mode, answered calls otherwise.
    pub transfer_wait_p50_s: f64,
    /// 95th percentile of that wait.
    pub transfer_wait_p95_s: f64,
    /// Leads never dialled.
    pub leads_left: u64,
    /// Simulated seconds.
    pub simulated_s: f64,
    /// Dials the contact policy refused, by rule (empty without a policy).
    pub blocks: BTreeMap<String, u64>,
    /// Dials that were retries of an earlier attempt (with a policy).
    pub retries: u64,
    /// Lines ringing per taker, sampled every minute (for charts).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dial_level_per_minute: Vec<f64>,
    /// Abandon rate so far, sampled every minute (for charts).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub abandon_rate_per_minute: Vec<f64>,
    /// Share of agents busy, sampled every minute (for charts).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub occupancy_per_minute: Vec<f64>,
}

impl Summary {
    /// Drop the per-minute series (for compact JSON).
    pub fn without_series(mut self) -> Summary {
        self.dial_level_per_minute.clear();
        self.abandon_rate_per_minute.clear();
        self.occupancy_per_minute.clear();
        self
    }
}

/// A simulated debtor when a policy is in play.
#[derive(Debug, Clone, Default)]
struct SimLead {
    zone: u16,
    history: Vec<PastAttempt>,
}

/// Leads by due time, for runs under a policy.
struct Pool {
    leads: Vec<SimLead>,
    due: BinaryHeap<Reverse<(i64, u32)>>,
    zones: Vec<Tz>,
    policy: Arc<Policy>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    Tick,
    DialResult { call: u32 },
    DropCheck { call: u32 },
    TakerDone { call: u32 },
    BotDone { call: u32 },
    HumanDone { call: u32 },
    TransferGiveUp { call: u32 },
}

#[derive(Debug, Clone, Copy, Default)]
struct Call {
    lead: u32,
    dialed_ms: u64,
    answered: bool,
    ring_ms: u64,
    answered_ms: u64,
    taken: bool,
    abandoned: bool,
    queued_ms: u64,
    human_taken: bool,
}

fn ms(s: f64) -> u64 {
    (s.max(0.0) * 1000.0).round() as u64
}

struct Sim {
    cfg: SimConfig,
    rng: ChaCha8Rng,
    queue: BinaryHeap<Reverse<(u64, u64, Ev)>>,
    seq: u64,
    now: u64,
    calls: Vec<Call>,
    pacer: Box<dyn Pacer>,
    takers_free: u32,
    ringing: u32,
    ringing_ids: VecDeque<u32>,
    waiting: VecDeque<u32>,
    humans_free: u32,
    transfer_queue: VecDeque<u32>,
    leads_left: u64,
    human_busy_ms: u64,
    human_talk_ms: u64,
    waits_ms: Vec<u64>,
    s: Summary,
    pool: Option<Pool>,
}

impl Sim {
    fn at(&mut self, t: u64, ev: Ev) {
        self.seq += 1;
        self.queue.push(Reverse((t, self.seq, ev)));
    }
    fn exp(&mut self, mean: f64) -> f64 {
        match Exp::new(1.0 / mean.max(1e-3)) {
            Ok(d) => d.sample(&mut self.rng),
            Err(_) => mean,
        }
    }
    fn end_ms(&self) -> u64 {
        ms(self.cfg.hours * 3600.0)
    }

    fn tick(&mut self) {
        let state = PacingState {
            now: self.now as f64 / 1000.0,
            takers_total: if self.cfg.bot_first {
                self.cfg.bot_channels
            } else {
                self.cfg.agents
            },
            takers_free: self.takers_free,
            ringing: self.ringing,
            ringing_ages_s: self
                .ringing_ids
                .iter()
                .map(|id| (self.now - self.calls[*id as usize].dialed_ms) as f64 / 1000.0)
                .collect(),
            waiting: self.waiting.len() as u32,
            humans_total: self.cfg.agents,
            transfers_waiting: self.transfer_queue.len() as u32,
        };
        let want = self.pacer.launch(&state);
        let n = (want as u64).min(self.cfg.trunk_cps.max(1.0) as u64);
        for _ in 0..n {
            if !self.dial() {
                break;
            }
        }
        if self.now % 60_000 == 0 {
            // Lines ringing per taker: comparable across strategies, unlike each
            // pacer's own control variable.
            let takers = if self.cfg.bot_first {
                self.cfg.bot_channels
            } else {
                self.cfg.agents
            };
            self.s
                .dial_level_per_minute
                .push((self.ringing as f64 / takers.max(1) as f64 * 100.0).round() / 100.0);
            let rate = if self.s.answered == 0 {
                0.0
            } else {
                self.s.abandoned as f64 / self.s.answered as f64
            };
            self.s
                .abandon_rate_per_minute
                .push((rate * 10_000.0).round() / 10_000.0);
            let busy = if self.cfg.bot_first {
                self.cfg.agents - self.humans_free
            } else {
                self.cfg.agents - self.takers_free
            };
            self.s
                .occupancy_per_minute
                .push((busy as f64 / self.cfg.agents as f64 * 1000.0).round() / 1000.0);
        }
        let more = match &self.pool {
            Some(p) => !p.due.is_empty(),
            None => self.leads_left > 0,
        };
        if self.now + 1000 < self.end_ms() && more {
            self.at(self.now + 1000, Ev::Tick);
        }
    }

    /// The next lead the policy lets us dial now, if any.
    fn next_lead(&mut self) -> Option<u32> {
        let now_s = self.cfg.start_unix + (self.now / 1000) as i64;
        let pool = self.pool.as_mut()?;
        while let Some(Reverse((due, id))) = pool.due.peek().copied() {
            if due > now_s {
                return None;
            }
            pool.due.pop();
            let lead = &pool.leads[id as usize];
            let zones = [pool.zones[lead.zone as usize]];
            let c = Contact {
                phone: "",
                zones: &zones,
                history: &lead.history,
                disposition: None,
                suppressed: false,
            };
            match pool.policy.check(&c, now_s) {
                Decision::Allow => return Some(id),
                Decision::Block { rule, until, .. } => {
                    *self.s.blocks.entry(rule.as_str().to_string()).or_insert(0) += 1;
                    if let Some(t) = until {
                        pool.due.push(Reverse((t.max(now_s + 1), id)));
                    }
                }
            }
        }
        None
    }

    /// After an attempt of a pooled lead: log it and put the lead back when the
    /// retry schedule says.
    fn settle(&mut self, call: u32, outcome: CallOutcome) {
        let now_s = self.cfg.start_unix + (self.now / 1000) as i64;
        let c = self.calls[call as usize];
        let Some(pool) = self.pool.as_mut() else {
            return;
        };
        let lead = &mut pool.leads[c.lead as usize];
        lead.history.push(PastAttempt {
            at: self.cfg.start_unix + (c.dialed_ms / 1000) as i64,
            phone: String::new(),
            outcome,
        });
        let tries = lead.history.iter().filter(|a| a.outcome == outcome).count() as u32;
        if let Next::RetryAt(t) = pool.policy.next_after(outcome, tries, now_s) {
            pool.due.push(Reverse((t, c.lead)));
        }
    }

    fn dial(&mut self) -> bool {
        let lead = if self.pool.is_some() {
            match self.next_lead() {
                Some(id) => {
                    if self
                        .pool
                        .as_ref()
                        .is_some_and(|p| !p.leads[id as usize].history.is_empty())
                    {
                        self.s.retries += 1;
                    } else {
                        self.leads_left -= 1;
                    }
                    id
                }
                None => return false,
            }
        } else {
            if self.leads_left == 0 {
                return false;
            }
            self.leads_left -= 1;
            0
        };
        self.s.calls_placed += 1;
        self.ringing += 1;
        let answered = self.rng.random::<f64>() < self.cfg.answer_rate;
        let ring_s = if answered {
            // Uniform around the mean keeps ring times bounded and positive.
            let m = self.cfg.ring_mean_s;
            m * (0.4 + 1.2 * self.rng.random::<f64>())
        } else {
            let min_ring = self.pool.as_ref().map_or(0.0, |p| p.policy.min_ring_s);
            self.cfg.no_answer_s.max(min_ring)
        };
        let id = self.calls.len() as u32;
        self.calls.push(Call {
            lead,
            dialed_ms: self.now,
            answered,
            ring_ms: ms(ring_s),
            ..Default::default()
        });
        self.ringing_ids.push_back(id);
        self.at(self.now + ms(ring_s), Ev::DialResult { call: id });
        true
    }

    fn take(&mut self, id: u32) {
        self.takers_free -= 1;
        self.settle(id, CallOutcome::Connected);
        let c = &mut self.calls[id as usize];
        c.taken = true;
        let wait = self.now - c.answered_ms;
        self.s.connects += 1;
        if self.cfg.bot_first {
            let d = self.exp(self.cfg.bot_talk_mean_s);
            self.at(self.now + ms(d), Ev::BotDone { call: id });
        } else {
            self.waits_ms.push(wait);
            let talk = self.exp(self.cfg.talk_mean_s);
            let wrap = self.exp(self.cfg.wrap_mean_s);
            self.human_busy_ms += ms(talk) + ms(wrap);
            self.human_talk_ms += ms(talk);
            self.at(self.now + ms(talk) + ms(wrap), Ev::TakerDone { call: id });
        }
    }

    fn human_take(&mut self, id: u32) {
        self.humans_free -= 1;
        let c = &mut self.calls[id as usize];
        c.human_taken = true;
        self.waits_ms.push(self.now - c.queued_ms);
        let talk = self.exp(self.cfg.talk_mean_s);
        let wrap = self.exp(self.cfg.wrap_mean_s);
        self.human_busy_ms += ms(talk) + ms(wrap);
        self.human_talk_ms += ms(talk);
        self.at(self.now + ms(talk) + ms(wrap), Ev::HumanDone { call: id });
    }

    fn next_waiting(&mut self) {
        while self.takers_free > 0 {
            let Some(id) = self.waiting.pop_front() else {
                break;
            };
            if !self.calls[id as usize].abandoned {
                self.take(id);
            }
        }
    }

    fn handle(&mut self, ev: Ev) {
        match ev {
            Ev::Tick => self.tick(),
            Ev::DialResult { call } => {
                self.ringing -= 1;
                if let Some(pos) = self.ringing_ids.iter().position(|x| *x == call) {
                    self.ringing_ids.remove(pos);
                }
                let c = self.calls[call as usize];
                self.pacer.observe(Outcome::Dialed {
                    answered: c.answered,
                    ring_s: c.ring_ms as f64 / 1000.0,
                });
                if !c.answered {
                    self.settle(call, CallOutcome::NoAnswer);
                }
                if c.answered {
                    self.s.answered += 1;
                    self.calls[call as usize].answered_ms = self.now;
                    if self.takers_free > 0 && self.waiting.is_empty() {
                        self.take(call);
                    } else {
                        self.waiting.push_back(call);
                        let t = self.now + ms(self.cfg.drop_after_s);
                        self.at(t, Ev::DropCheck { call });
                    }
                }
            }
            Ev::DropCheck { call } => {
                let c = &mut self.calls[call as usize];
                if !c.taken && !c.abandoned {
                    c.abandoned = true;
                    self.s.abandoned += 1;
                    self.waiting.retain(|x| *x != call);
                    self.pacer.observe(Outcome::Abandoned);
                    self.settle(call, CallOutcome::Abandoned);
                }
            }
            Ev::TakerDone { call } => {
                let handle = (self.now - self.calls[call as usize].answered_ms) as f64 / 1000.0;
                self.takers_free += 1;
                self.pacer.observe(Outcome::Handled { handle_s: handle });
                self.next_waiting();
            }
            Ev::BotDone { call } => {
                self.takers_free += 1;
                let transferred = self.rng.random::<f64>() < self.cfg.transfer_rate;
                self.pacer.observe(Outcome::BotEnded { transferred });
                if transferred {
                    self.s.transfers += 1;
                    self.calls[call as usize].queued_ms = self.now;
                    if self.humans_free > 0 && self.transfer_queue.is_empty() {
                        self.human_take(call);
                    } else {
                        self.transfer_queue.push_back(call);
                        let t = self.now + ms(self.cfg.transfer_patience_s);
                        self.at(t, Ev::TransferGiveUp { call });
                    }
                }
                self.next_waiting();
            }
            Ev::HumanDone { .. } => {
                self.humans_free += 1;
                while self.humans_free > 0 {
                    let Some(id) = self.transfer_queue.pop_front() else {
                        break;
                    };
                    if !self.calls[id as usize].abandoned {
                        self.human_take(id);
                    }
                }
            }
            Ev::TransferGiveUp { call } => {
                let c = &mut self.calls[call as usize];
                if !c.human_taken && !c.abandoned {
                    c.abandoned = true;
                    self.s.transfers_abandoned += 1;
                    self.transfer_queue.retain(|x| *x != call);
                }
            }
        }
    }
}

fn percentile(sorted: &[u64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i.min(sorted.len() - 1)] as f64 / 1000.0
}

/// Errors in a simulation's configuration.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("invalid simulation setting: {0}")]
pub struct ConfigError(pub String);

fn validate(cfg: &SimConfig) -> Result<(), ConfigError> {
    let bad = |m: &str| Err(ConfigError(m.to_string()));
    if cfg.agents == 0 {
        return bad("--agents must be at least 1");
    }
    if !(0.0..=1.0).contains(&cfg.answer_rate) || !(0.0..=1.0).contains(&cfg.transfer_rate) {
        return bad("--answer-rate and --transfer-rate are probabilities between 0 and 1");
    }
    if !(cfg.hours > 0.0 && cfg.hours <= 24.0 * 31.0) {
        return bad("--hours must be between 0 and 744");
    }
    if cfg.bot_first && cfg.bot_channels == 0 {
        return bad("--bot-channels must be at least 1 with --bot-first");
    }
    Ok(())
}

/// The pacer a configuration asks for, with its priors.
pub fn make_pacer(cfg: &SimConfig) -> Box<dyn Pacer> {
    match cfg.strategy {
        Strategy::Progressive => Box::new(Progressive),
        Strategy::Ratio => Box::new(FixedRatio { ratio: cfg.ratio }),
        Strategy::Vicidial => Box::new(VicidialAdaptive::new(
            cfg.target_abandon,
            cfg.max_level,
            cfg.brake,
        )),
        Strategy::Predictive => {
            let handle = if cfg.bot_first {
                cfg.bot_talk_mean_s
            } else {
                cfg.talk_mean_s + cfg.wrap_mean_s
            };
            // Neutral priors: the pacer learns the answer rate and ring time from outcomes.
            let mut p = Predictive::new(cfg.target_abandon, 0.25, 10.0, handle, cfg.bot_first);
            p.human_handle_s = cfg.talk_mean_s + cfg.wrap_mean_s;
            Box::new(p)
        }
    }
}

/// Run one simulated campaign.
pub fn simulate(cfg: &SimConfig) -> Result<Summary, ConfigError> {
    validate(cfg)?;
    let pacer = make_pacer(cfg);
    let rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let pool = cfg.policy.as_ref().map(|policy| {
        let zones: Vec<(Tz, f64)> = if cfg.zones.is_empty() {
            vec![(policy.default_zone, 1.0)]
        } else {
            cfg.zones.clone()
        };
        let total: f64 = zones.iter().map(|z| z.1.max(0.0)).sum::<f64>().max(1e-9);
        // A separate stream for the population keeps call draws identical across
        // policies for the same seed.
        let mut prng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x005e_ed0f_1ead);
        let leads = (0..cfg.leads)
            .map(|_| {
                let mut x = prng.random::<f64>() * total;
                let mut zone = 0u16;
                for (i, z) in zones.iter().enumerate() {
                    x -= z.1.max(0.0);
                    zone = i as u16;
                    if x <= 0.0 {
                        break;
                    }
                }
                SimLead {
                    zone,
                    history: Vec::new(),
                }
            })
            .collect::<Vec<_>>();
        let due = (0..cfg.leads as u32)
            .map(|i| Reverse((cfg.start_unix, i)))
            .collect();
        Pool {
            leads,
            due,
            zones: zones.iter().map(|z| z.0).collect(),
            policy: policy.clone(),
        }
    });

    let takers = if cfg.bot_first {
        cfg.bot_channels
    } else {
        cfg.agents
    };
    let mut sim = Sim {
        cfg: cfg.clone(),
        rng,
        queue: BinaryHeap::new(),
        seq: 0,
        now: 0,
        calls: Vec::new(),
        pacer,
        takers_free: takers,
        ringing: 0,
        ringing_ids: VecDeque::new(),
        waiting: VecDeque::new(),
        humans_free: cfg.agents,
        transfer_queue: VecDeque::new(),
        leads_left: cfg.leads,
        human_busy_ms: 0,
        human_talk_ms: 0,
        waits_ms: Vec::new(),
        s: Summary {
            strategy: cfg.strategy,
            calls_placed: 0,
            answered: 0,
            connects: 0,
            abandoned: 0,
            abandon_rate: 0.0,
            agent_occupancy: 0.0,
            talk_minutes_per_agent_hour: 0.0,
            transfers: 0,
            transfers_abandoned: 0,
            transfer_wait_p50_s: 0.0,
            transfer_wait_p95_s: 0.0,
            leads_left: 0,
            simulated_s: 0.0,
            blocks: BTreeMap::new(),
            retries: 0,
            dial_level_per_minute: Vec::new(),
            abandon_rate_per_minute: Vec::new(),
            occupancy_per_minute: Vec::new(),
        },
        pool,
    };
    sim.at(0, Ev::Tick);
    while let Some(Reverse((t, _, ev))) = sim.queue.pop() {
        sim.now = t;
        sim.handle(ev);
    }
    let agent_s = cfg.agents as f64 * cfg.hours * 3600.0;
    let mut s = sim.s;
    s.abandon_rate = if s.answered == 0 {
        0.0
    } else {
        s.abandoned as f64 / s.answered as f64
    };
    // Work after the dialing day ends (calls still in progress) is counted against the day.
    s.agent_occupancy = (sim.human_busy_ms as f64 / 1000.0 / agent_s).min(1.0);
    s.talk_minutes_per_agent_hour =
        sim.human_talk_ms as f64 / 60_000.0 / (cfg.agents as f64 * cfg.hours);
    sim.waits_ms.sort_unstable();
    s.transfer_wait_p50_s = percentile(&sim.waits_ms, 0.5);
    s.transfer_wait_p95_s = percentile(&sim.waits_ms, 0.95);
    s.leads_left = sim.leads_left;
    s.simulated_s = sim.now as f64 / 1000.0;
    for v in [
        &mut s.abandon_rate,
        &mut s.agent_occupancy,
        &mut s.talk_minutes_per_agent_hour,
    ] {
        *v = (*v * 10_000.0).round() / 10_000.0;
    }
    Ok(s)
}

/// Result of the Erlang C validation mode.
#[derive(Debug, Clone, Serialize)]
pub struct ErlangCheck {
    /// Share of arrivals that had to wait (simulated).
    pub p_wait: f64,
    /// Mean wait of all arrivals, seconds (simulated).
    pub mean_wait_s: f64,
    /// Erlang C prediction of `p_wait`.
    pub p_wait_theory: f64,
    /// Erlang C prediction of `mean_wait_s`.
    pub mean_wait_theory_s: f64,
    /// Standard error of `p_wait` (batch means over 20 batches).
    pub p_wait_se: f64,
    /// Standard error of `mean_wait_s` (batch means).
    pub mean_wait_se_s: f64,
    /// Arrivals simulated.
    pub arrivals: u64,
}

/// Mean and standard error of the mean over batches.
fn batch_stats(xs: &[f64]) -> (f64, f64) {
    let n = xs.len().max(1) as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    (mean, (var / n).sqrt())
}

/// Poisson arrivals (rate `lambda` per second) to `c` agents with exponential handle
/// times and infinite patience: the M/M/c queue Erlang C describes exactly.
pub fn validate_erlang(
    lambda: f64,
    c: u32,
    mean_handle_s: f64,
    hours: f64,
    seed: u64,
) -> Result<ErlangCheck, ConfigError> {
    if lambda <= 0.0 || c == 0 || mean_handle_s <= 0.0 || hours <= 0.0 {
        return Err(ConfigError(
            "arrival rate, agents, handle time and hours must be positive".into(),
        ));
    }
    let a = lambda * mean_handle_s;
    if a >= c as f64 {
        return Err(ConfigError(format!(
            "offered load {a:.2} Erlangs needs more than {c} agents"
        )));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let arr = Exp::new(lambda).map_err(|e| ConfigError(e.to_string()))?;
    let svc = Exp::new(1.0 / mean_handle_s).map_err(|e| ConfigError(e.to_string()))?;
    // FCFS M/M/c: each arrival takes the agent that frees first.
    let mut free_at: BinaryHeap<Reverse<u64>> = (0..c).map(|_| Reverse(0u64)).collect();
    let end = hours * 3600.0;
    let warmup = end * 0.05;
    // Waits per arrival after warm-up; batch means give the sampling error, since
    // successive waits are correlated.
    let mut waits: Vec<f64> = Vec::new();
    let mut t = 0.0f64;
    loop {
        t += arr.sample(&mut rng);
        if t > end {
            break;
        }
        let Some(Reverse(first_free)) = free_at.pop() else {
            break;
        };
        let start = (first_free as f64 / 1e6).max(t);
        let wait = start - t;
        let done = start + svc.sample(&mut rng);
        free_at.push(Reverse((done * 1e6) as u64));
        if t >= warmup {
            waits.push(wait);
        }
    }
    let batches = 20usize;
    let size = (waits.len() / batches).max(1);
    let mut p_b = Vec::new();
    let mut w_b = Vec::new();
    for chunk in waits.chunks(size).take(batches) {
        let k = chunk.len() as f64;
        p_b.push(chunk.iter().filter(|w| **w > 1e-6).count() as f64 / k);
        w_b.push(chunk.iter().sum::<f64>() / k);
    }
    let (p_wait, p_se) = batch_stats(&p_b);
    let (mean_wait, w_se) = batch_stats(&w_b);
    let n = waits.len() as u64;
    Ok(ErlangCheck {
        p_wait,
        mean_wait_s: mean_wait,
        p_wait_se: p_se,
        mean_wait_se_s: w_se,
        p_wait_theory: erlang::erlang_c(c, a),
        mean_wait_theory_s: erlang::mean_wait(c, a, mean_handle_s),
        arrivals: n,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_day() {
        let cfg = SimConfig {
            leads: 5_000,
            hours: 1.0,
            ..SimConfig::default()
        };
        let a = simulate(&cfg).expect("runs");
        assert_eq!(Ok(a.clone()), simulate(&cfg));
        assert!(a.calls_placed > 1_000 && a.answered > 0);
    }

    #[test]
    fn bad_settings_are_errors() {
        assert!(simulate(&SimConfig {
            agents: 0,
            ..SimConfig::default()
        })
        .is_err());
        assert!(simulate(&SimConfig {
            answer_rate: 1.5,
            ..SimConfig::default()
        })
        .is_err());
        assert!(validate_erlang(1.0, 2, 10.0, 1.0, 1).is_err());
    }
}
