//! A deterministic discrete-event simulation of a campaign: the real dialer core
//! ([`Dialer`]) with its real pacers and policy, driven on a virtual clock by virtual
//! customers and agents drawn from one seeded RNG. Every moment of the virtual world is
//! filed in the core's agenda, ordered by (time, order filed), in integer milliseconds —
//! the same seed gives the same summary, byte for byte.

use super::core::{CallId, Dialer, DialerConfig, Input, LeadsDue, LineResult, Output};
use super::erlang;
use super::pacing::{Brake, PacingConfig, Strategy};

use crate::policy::{CallOutcome, Contact, Next, PastAttempt, Policy};
use crate::time::Millis;
use chrono_tz::Tz;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp};
use serde::Serialize;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};
use std::sync::Arc;

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

impl SimConfig {
    /// The pacing this simulation runs: the same factory the campaign runner uses.
    pub fn pacing(&self) -> PacingConfig {
        let agent_handle_s = self.talk_mean_s + self.wrap_mean_s;
        PacingConfig {
            strategy: self.strategy,
            target_abandon: self.target_abandon,
            ratio: self.ratio,
            max_level: self.max_level,
            brake: self.brake,
            bot_first: self.bot_first,
            handle_prior_s: if self.bot_first {
                self.bot_talk_mean_s
            } else {
                agent_handle_s
            },
            human_handle_s: agent_handle_s,
        }
    }
}

/// A simulated debtor when a policy is in play.
#[derive(Debug, Clone, Default)]
struct SimLead {
    zone: u16,
    history: Vec<PastAttempt>,
}

/// Leads by due time (unix seconds), for runs under a policy.
struct Pool {
    leads: Vec<SimLead>,
    due: BinaryHeap<Reverse<(i64, u32)>>,
    zones: Vec<Tz>,
    policy: Arc<Policy>,
}

/// Moments of the virtual world, filed in the core's agenda.
#[derive(Debug, Clone, Copy)]
enum World {
    /// The customer's phone stops ringing (answered or not).
    RingEnds(CallId),
    /// An agent finishes talking and wrapping up.
    AgentDone(CallId),
    /// A bot finishes its conversation (bot-first).
    BotDone(CallId),
    /// A human finishes an escalated call (bot-first).
    HumanDone,
    /// An escalated customer stops waiting for a human (bot-first).
    GiveUp(CallId),
}

/// A simulated customer on one call.
#[derive(Debug, Clone, Copy)]
struct Customer {
    lead: u32,
    dialed_at: Millis,
    answers: bool,
    queued_at: Millis,
    human_taken: bool,
    gave_up: bool,
}

fn ms(s: f64) -> u64 {
    (s.max(0.0) * 1000.0).round() as u64
}

/// The virtual world around the core: customers, agents, the human escalation queue and
/// the day's counts.
struct VirtualWorld {
    cfg: SimConfig,
    rng: ChaCha8Rng,
    customers: Vec<Customer>,
    leads_left: u64,
    humans_free: u32,
    transfer_queue: VecDeque<CallId>,
    human_busy_ms: u64,
    human_talk_ms: u64,
    waits_ms: Vec<u64>,
    s: Summary,
    pool: Option<Pool>,
    start: Millis,
}

/// A contact with nothing known: what the core is offered when no policy is in play.
const NOBODY: Contact<'static> = Contact {
    phone: "",
    zones: &[],
    history: &[],
    disposition: None,
    suppressed: false,
};

impl VirtualWorld {
    fn exp(&mut self, mean: f64) -> f64 {
        match Exp::new(1.0 / mean.max(1e-3)) {
            Ok(d) => d.sample(&mut self.rng),
            Err(_) => mean,
        }
    }

    fn drain(&mut self, core: &mut Dialer<'_, World>, now: Millis) {
        while let Some(out) = core.poll_output() {
            self.react(core, now, out);
        }
    }

    fn react(&mut self, core: &mut Dialer<'_, World>, now: Millis, out: Output<World>) {
        match out {
            Output::Launch { .. } => self.launch(core, now),
            Output::Dial { lead, call } => self.dial(core, now, lead as u32, call),
            Output::Block {
                lead, rule, until, ..
            } => {
                *self.s.blocks.entry(rule.as_str().to_string()).or_insert(0) += 1;
                let now_s = now.as_unix_secs();
                if let (Some(t), Some(pool)) = (until, self.pool.as_mut()) {
                    pool.due
                        .push(Reverse((t.as_unix_secs().max(now_s + 1), lead as u32)));
                }
            }
            Output::Connect { call, waited_ms } => self.take(core, now, call, waited_ms),
            Output::Ended { call, outcome } => {
                if outcome == CallOutcome::Abandoned {
                    self.s.abandoned += 1;
                }
                self.settle(now, call, outcome);
            }
            Output::Wake(w) => self.wake(core, now, w),
        }
    }

    /// Offer the core leads while it wants them: the next due lead of the pool (the core
    /// asks the policy), or any lead without a policy.
    fn launch(&mut self, core: &mut Dialer<'_, World>, now: Millis) {
        let now_s = now.as_unix_secs();
        while core.wants_leads() {
            match self.pool.as_mut() {
                Some(pool) => {
                    let Some(Reverse((due, id))) = pool.due.peek().copied() else {
                        break;
                    };
                    if due > now_s {
                        break;
                    }
                    pool.due.pop();
                    let lead = &pool.leads[id as usize];
                    let zones = [pool.zones[lead.zone as usize]];
                    let contact = Contact {
                        phone: "",
                        zones: &zones,
                        history: &lead.history,
                        disposition: None,
                        suppressed: false,
                    };
                    core.handle(
                        now,
                        Input::Offer {
                            lead: id as u64,
                            contact: &contact,
                        },
                    );
                }
                None => {
                    if self.leads_left == 0 {
                        break;
                    }
                    core.handle(
                        now,
                        Input::Offer {
                            lead: 0,
                            contact: &NOBODY,
                        },
                    );
                }
            }
            self.drain(core, now);
        }
        if now.ms_since(self.start) % 60_000 == 0 {
            self.sample(core);
        }
        let more = match &self.pool {
            Some(p) => !p.due.is_empty(),
            None => self.leads_left > 0,
        };
        core.handle(
            now,
            Input::LaunchDone(if more { LeadsDue::Now } else { LeadsDue::Never }),
        );
    }

    /// The per-minute series for charts.
    fn sample(&mut self, core: &Dialer<'_, World>) {
        // Lines ringing per taker: comparable across strategies, unlike each pacer's
        // own control variable.
        let takers = if self.cfg.bot_first {
            self.cfg.bot_channels
        } else {
            self.cfg.agents
        };
        self.s
            .dial_level_per_minute
            .push((core.ringing() as f64 / takers.max(1) as f64 * 100.0).round() / 100.0);
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
            self.cfg.agents - core.takers_free()
        };
        self.s
            .occupancy_per_minute
            .push((busy as f64 / self.cfg.agents as f64 * 1000.0).round() / 1000.0);
    }

    fn dial(&mut self, core: &mut Dialer<'_, World>, now: Millis, lead: u32, call: CallId) {
        let retry = self
            .pool
            .as_ref()
            .is_some_and(|p| !p.leads[lead as usize].history.is_empty());
        if retry {
            self.s.retries += 1;
        } else {
            self.leads_left -= 1;
        }
        self.s.calls_placed += 1;
        let answers = self.rng.random::<f64>() < self.cfg.answer_rate;
        let ring_s = if answers {
            // Uniform around the mean keeps ring times bounded and positive.
            let m = self.cfg.ring_mean_s;
            m * (0.4 + 1.2 * self.rng.random::<f64>())
        } else {
            let min_ring = self.pool.as_ref().map_or(0.0, |p| p.policy.min_ring_s);
            self.cfg.no_answer_s.max(min_ring)
        };
        debug_assert_eq!(call as usize, self.customers.len());
        self.customers.push(Customer {
            lead,
            dialed_at: now,
            answers,
            queued_at: now,
            human_taken: false,
            gave_up: false,
        });
        core.schedule(now.plus_ms(ms(ring_s)), World::RingEnds(call));
    }

    /// After an attempt of a pooled lead: log it and put the lead back when the retry
    /// schedule says.
    fn settle(&mut self, now: Millis, call: CallId, outcome: CallOutcome) {
        let c = self.customers[call as usize];
        let Some(pool) = self.pool.as_mut() else {
            return;
        };
        let lead = &mut pool.leads[c.lead as usize];
        lead.history.push(PastAttempt {
            at: c.dialed_at,
            phone: String::new(),
            outcome,
        });
        let tries = lead.history.iter().filter(|a| a.outcome == outcome).count() as u32;
        if let Next::RetryAt(t) = pool.policy.next_after(outcome, tries, now) {
            pool.due.push(Reverse((t.as_unix_secs(), c.lead)));
        }
    }

    fn take(&mut self, core: &mut Dialer<'_, World>, now: Millis, call: CallId, waited_ms: u64) {
        self.settle(now, call, CallOutcome::Connected);
        self.s.connects += 1;
        if self.cfg.bot_first {
            let d = self.exp(self.cfg.bot_talk_mean_s);
            core.schedule(now.plus_ms(ms(d)), World::BotDone(call));
        } else {
            self.waits_ms.push(waited_ms);
            let talk = self.exp(self.cfg.talk_mean_s);
            let wrap = self.exp(self.cfg.wrap_mean_s);
            self.human_busy_ms += ms(talk) + ms(wrap);
            self.human_talk_ms += ms(talk);
            core.schedule(now.plus_ms(ms(talk) + ms(wrap)), World::AgentDone(call));
        }
    }

    fn human_take(&mut self, core: &mut Dialer<'_, World>, now: Millis, call: CallId) {
        self.humans_free -= 1;
        let c = &mut self.customers[call as usize];
        c.human_taken = true;
        self.waits_ms.push(now.ms_since(c.queued_at));
        let talk = self.exp(self.cfg.talk_mean_s);
        let wrap = self.exp(self.cfg.wrap_mean_s);
        self.human_busy_ms += ms(talk) + ms(wrap);
        self.human_talk_ms += ms(talk);
        core.schedule(now.plus_ms(ms(talk) + ms(wrap)), World::HumanDone);
    }

    fn wake(&mut self, core: &mut Dialer<'_, World>, now: Millis, w: World) {
        match w {
            World::RingEnds(call) => {
                let result = if self.customers[call as usize].answers {
                    self.s.answered += 1;
                    LineResult::Answered
                } else {
                    LineResult::NotAnswered(CallOutcome::NoAnswer)
                };
                core.handle(now, Input::LineResult { call, result });
            }
            World::AgentDone(call) => core.handle(now, Input::TakerFree { call }),
            World::BotDone(call) => {
                let transferred = self.rng.random::<f64>() < self.cfg.transfer_rate;
                if transferred {
                    self.s.transfers += 1;
                    self.customers[call as usize].queued_at = now;
                    if self.humans_free > 0 && self.transfer_queue.is_empty() {
                        self.human_take(core, now, call);
                    } else {
                        self.transfer_queue.push_back(call);
                        let t = now.plus_ms(ms(self.cfg.transfer_patience_s));
                        core.schedule(t, World::GiveUp(call));
                    }
                    self.escalations(core, now);
                }
                core.handle(now, Input::BotFree { call, transferred });
            }
            World::HumanDone => {
                self.humans_free += 1;
                while self.humans_free > 0 {
                    let Some(id) = self.transfer_queue.pop_front() else {
                        break;
                    };
                    if !self.customers[id as usize].gave_up {
                        self.human_take(core, now, id);
                    }
                }
                self.escalations(core, now);
            }
            World::GiveUp(call) => {
                let c = &mut self.customers[call as usize];
                if !c.human_taken && !c.gave_up {
                    c.gave_up = true;
                    self.s.transfers_abandoned += 1;
                    self.transfer_queue.retain(|x| *x != call);
                    self.escalations(core, now);
                }
            }
        }
    }

    fn escalations(&mut self, core: &mut Dialer<'_, World>, now: Millis) {
        core.handle(
            now,
            Input::EscalationsWaiting(self.transfer_queue.len() as u32),
        );
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
pub enum ConfigError {
    /// A setting out of its range.
    #[error("invalid simulation setting: {0}")]
    Invalid(String),
    /// A rate or mean no exponential distribution takes.
    #[error("invalid simulation setting")]
    Distribution(#[from] rand_distr::ExpError),
}

fn validate(cfg: &SimConfig) -> Result<(), ConfigError> {
    let bad = |m: &str| Err(ConfigError::Invalid(m.to_string()));
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

fn pool(cfg: &SimConfig, policy: &Arc<Policy>) -> Pool {
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
}

/// Run one simulated campaign.
pub fn simulate(cfg: &SimConfig) -> Result<Summary, ConfigError> {
    validate(cfg)?;
    let start = Millis::from_unix_secs(cfg.start_unix);
    let takers = if cfg.bot_first {
        cfg.bot_channels
    } else {
        cfg.agents
    };
    let mut core: Dialer<'_, World> = Dialer::new(
        DialerConfig {
            start,
            stop_at: start.plus_ms(ms(cfg.hours * 3600.0)),
            tick_ms: 1000,
            takers,
            humans: cfg.agents,
            max_dials_per_tick: u32::try_from(cfg.trunk_cps.max(1.0) as u64).unwrap_or(u32::MAX),
            abandon_after_ms: ms(cfg.drop_after_s),
            max_dials: None,
            tick_while_calls_live: false,
            live_takers: false,
        },
        cfg.pacing().pacer(),
        cfg.policy.as_deref(),
    );
    let mut world = VirtualWorld {
        cfg: cfg.clone(),
        rng: ChaCha8Rng::seed_from_u64(cfg.seed),
        customers: Vec::new(),
        leads_left: cfg.leads,
        humans_free: cfg.agents,
        transfer_queue: VecDeque::new(),
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
        pool: cfg.policy.as_ref().map(|p| pool(cfg, p)),
        start,
    };
    let mut now = start;
    while let Some(t) = core.poll_timeout() {
        now = t;
        core.handle_timeout(t);
        world.drain(&mut core, t);
    }
    let agent_s = cfg.agents as f64 * cfg.hours * 3600.0;
    let mut s = world.s;
    s.abandon_rate = if s.answered == 0 {
        0.0
    } else {
        s.abandoned as f64 / s.answered as f64
    };
    // Work after the dialing day ends (calls still in progress) is counted against the day.
    s.agent_occupancy = (world.human_busy_ms as f64 / 1000.0 / agent_s).min(1.0);
    s.talk_minutes_per_agent_hour =
        world.human_talk_ms as f64 / 60_000.0 / (cfg.agents as f64 * cfg.hours);
    world.waits_ms.sort_unstable();
    s.transfer_wait_p50_s = percentile(&world.waits_ms, 0.5);
    s.transfer_wait_p95_s = percentile(&world.waits_ms, 0.95);
    s.leads_left = world.leads_left;
    s.simulated_s = now.ms_since(start) as f64 / 1000.0;
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
        return Err(ConfigError::Invalid(
            "arrival rate, agents, handle time and hours must be positive".into(),
        ));
    }
    let a = lambda * mean_handle_s;
    if a >= c as f64 {
        return Err(ConfigError::Invalid(format!(
            "offered load {a:.2} Erlangs needs more than {c} agents"
        )));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let arr = Exp::new(lambda)?;
    let svc = Exp::new(1.0 / mean_handle_s)?;
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
