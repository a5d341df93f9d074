//! Pacing controllers: how many calls to launch now. Sans-IO: each is fed the dialer's
//! state and outcomes with their time, and answers with a number; no clock, no I/O, so the
//! simulator and the live dialer drive the same code.

use super::erlang;
use crate::time::Millis;
use serde::Serialize;

/// Which pacing strategy a campaign runs.
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

/// What it takes to build a pacer: the simulator and the runner build theirs from this,
/// so both pace a campaign the same way.
#[derive(Debug, Clone, PartialEq)]
pub struct PacingConfig {
    /// Pacing strategy.
    pub strategy: Strategy,
    /// Abandon-rate target (abandoned / answered).
    pub target_abandon: f64,
    /// Lines per free taker for `ratio`.
    pub ratio: f64,
    /// Maximum dial level for `vicidial`.
    pub max_level: f64,
    /// VICIdial brake mode.
    pub brake: Brake,
    /// Bots take every answer; humans only take escalations.
    pub bot_first: bool,
    /// Prior for the mean time a taker holds a call, seconds (talk + wrap-up; a bot's
    /// conversation in bot-first mode).
    pub handle_prior_s: f64,
    /// Mean human handle time of an escalation, seconds (bot-first).
    pub human_handle_s: f64,
}

impl PacingConfig {
    /// Agents taking every answer, with the usual ratio (2), VICIdial ceiling (5) and
    /// brake (average), and handle-time priors of `talk_s + wrap_s`.
    pub fn agents(strategy: Strategy, target_abandon: f64, talk_s: f64, wrap_s: f64) -> Self {
        PacingConfig {
            strategy,
            target_abandon,
            ratio: 2.0,
            max_level: 5.0,
            brake: Brake::Average,
            bot_first: false,
            handle_prior_s: talk_s + wrap_s,
            human_handle_s: talk_s + wrap_s,
        }
    }

    /// The pacer this configuration asks for, with its priors.
    pub fn pacer(&self) -> Box<dyn Pacer> {
        match self.strategy {
            Strategy::Progressive => Box::new(Progressive),
            Strategy::Ratio => Box::new(FixedRatio { ratio: self.ratio }),
            Strategy::Vicidial => Box::new(VicidialAdaptive::new(
                self.target_abandon,
                self.max_level,
                self.brake,
            )),
            Strategy::Predictive => {
                // Neutral priors: the pacer learns the answer rate and ring time from outcomes.
                let mut p = Predictive::new(
                    self.target_abandon,
                    0.25,
                    10.0,
                    self.handle_prior_s,
                    self.bot_first,
                );
                p.human_handle_s = self.human_handle_s;
                Box::new(p)
            }
        }
    }
}

/// What a pacer sees at a decision point.
#[derive(Debug, Clone, Default)]
pub struct PacingState {
    /// The decision's instant.
    pub now: Millis,
    /// Staff that take answered calls (human agents; bot channels in bot-first mode).
    pub takers_total: u32,
    /// Of those, free now.
    pub takers_free: u32,
    /// Calls dialled and still ringing.
    pub ringing: u32,
    /// How long each ringing call has rung, seconds: an old one is unlikely to be answered.
    pub ringing_ages_s: Vec<f64>,
    /// Answered calls waiting for a taker.
    pub waiting: u32,
    /// Human agents (bot-first: the scarce escalation queue).
    pub humans_total: u32,
    /// Transfers waiting for a human (bot-first).
    pub transfers_waiting: u32,
}

/// Something that happened to a call, fed back to the pacer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Outcome {
    /// A dial finished ringing: answered or not, after `ring_s`.
    Dialed {
        /// Whether a person answered.
        answered: bool,
        /// Seconds from dial to answer or give-up.
        ring_s: f64,
    },
    /// An answered call was abandoned (no taker in time).
    Abandoned,
    /// A taker finished a call after `handle_s` (talk + wrap-up).
    Handled {
        /// Talk plus wrap-up seconds.
        handle_s: f64,
    },
    /// A bot conversation ended, transferring to a human or not (bot-first).
    BotEnded {
        /// Whether it escalated to a human.
        transferred: bool,
    },
}

/// A pacing controller.
pub trait Pacer {
    /// How many calls to launch now.
    fn launch(&mut self, s: &PacingState) -> u32;
    /// Learn from an outcome.
    fn observe(&mut self, o: Outcome);
    /// Current dial level (lines per available taker), for charts.
    fn dial_level(&self) -> f64;
}

/// Exponentially weighted running mean with a prior, so early decisions are sane.
#[derive(Debug, Clone, Copy)]
struct Ewma {
    value: f64,
    weight: f64,
}

impl Ewma {
    fn new(prior: f64) -> Self {
        Ewma {
            value: prior,
            weight: 0.02,
        }
    }
    fn add(&mut self, x: f64) {
        self.value += self.weight * (x - self.value);
    }
}

/// Preview/progressive: one line per free taker, never more.
#[derive(Debug, Default)]
pub struct Progressive;

impl Pacer for Progressive {
    fn launch(&mut self, s: &PacingState) -> u32 {
        s.takers_free.saturating_sub(s.ringing + s.waiting)
    }
    fn observe(&mut self, _: Outcome) {}
    fn dial_level(&self) -> f64 {
        1.0
    }
}

/// Fixed ratio: `ratio` lines per free taker.
#[derive(Debug)]
pub struct FixedRatio {
    /// Lines per free taker.
    pub ratio: f64,
}

impl Pacer for FixedRatio {
    fn launch(&mut self, s: &PacingState) -> u32 {
        let target = (self.ratio * s.takers_free as f64).floor() as u32;
        target.saturating_sub(s.ringing + s.waiting)
    }
    fn observe(&mut self, _: Outcome) {}
    fn dial_level(&self) -> f64 {
        self.ratio
    }
}

/// VICIdial's adaptive brakes when the drop rate exceeds the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Brake {
    /// Over target: fall straight back to 1.0.
    HardLimit,
    /// Over target: step down like it steps up.
    Average,
    /// Step size scales with the distance from the target.
    Tapered,
}

/// A VICIdial-style adaptive dial level: every 15 s, compare the campaign's drop rate
/// with the target and move the dial level up or down (the reference baseline).
#[derive(Debug)]
pub struct VicidialAdaptive {
    level: f64,
    max_level: f64,
    target: f64,
    brake: Brake,
    intensity: f64,
    /// The first decision's instant: adjustments are timed from it.
    origin: Option<Millis>,
    /// Seconds after `origin` of the last adjustment.
    last_adjust: f64,
    answered: u64,
    dropped: u64,
}

impl VicidialAdaptive {
    /// Start at level 1.0 with a drop-% target (0.03) and a maximum level.
    pub fn new(target: f64, max_level: f64, brake: Brake) -> Self {
        VicidialAdaptive {
            level: 1.0,
            max_level,
            target,
            brake,
            intensity: 0.1,
            origin: None,
            last_adjust: 0.0,
            answered: 0,
            dropped: 0,
        }
    }
}

impl Pacer for VicidialAdaptive {
    fn launch(&mut self, s: &PacingState) -> u32 {
        let origin = *self.origin.get_or_insert(s.now);
        let now_s = s.now.ms_since(origin) as f64 / 1000.0;
        if now_s - self.last_adjust >= 15.0 {
            self.last_adjust = now_s;
            let drop = if self.answered == 0 {
                0.0
            } else {
                self.dropped as f64 / self.answered as f64
            };
            if drop < self.target {
                let room = (self.target - drop) / self.target;
                let step = match self.brake {
                    Brake::Tapered => self.intensity * room,
                    _ => self.intensity,
                };
                self.level = (self.level + step).min(self.max_level);
            } else {
                self.level = match self.brake {
                    Brake::HardLimit => 1.0,
                    Brake::Average => (self.level - self.intensity).max(1.0),
                    Brake::Tapered => {
                        let over = ((drop - self.target) / self.target).min(3.0);
                        (self.level - self.intensity * (1.0 + over)).max(1.0)
                    }
                };
            }
        }
        let target = (self.level * s.takers_free as f64).floor() as u32;
        target.saturating_sub(s.ringing + s.waiting)
    }
    fn observe(&mut self, o: Outcome) {
        match o {
            Outcome::Dialed { answered: true, .. } => self.answered += 1,
            Outcome::Abandoned => self.dropped += 1,
            _ => {}
        }
    }
    fn dial_level(&self) -> f64 {
        self.level
    }
}

/// Share of the abandon target the predictive pacer plans for; the rest absorbs model error.
const AIM_FRACTION: f64 = 0.3;

/// Our predictive pacer. It forecasts how many takers will be free when the calls it
/// launches now are answered, and launches the largest number whose expected share of
/// answers finding nobody stays under the abandon target (a binomial overflow bound),
/// corrected by the abandon rate actually measured. In bot-first mode the scarce resource
/// is the human escalation queue: it also caps the answer rate so that Erlang C predicts
/// transfers wait beyond the service level with at most the allowed probability.
#[derive(Debug)]
pub struct Predictive {
    target: f64,
    /// Outcomes of the last dials (answered or not): the answer rate over a window, since
    /// outcomes arrive in bursts (every unanswered call gives up at the same timeout).
    recent: std::collections::VecDeque<bool>,
    answer_prior: f64,
    ring_s: Ewma,
    /// Ring duration of every dial, answered or not (how long a line stays busy ringing).
    ring_all_s: Ewma,
    handle_s: Ewma,
    transfer_p: Ewma,
    answered: u64,
    abandoned: u64,
    level: f64,
    bot_first: bool,
    /// Bot-first: transfers should wait no more than this many seconds ...
    pub service_level_s: f64,
    /// ... with at most this probability.
    pub service_miss: f64,
    /// Bot-first: mean human handle time of a transfer, seconds.
    pub human_handle_s: f64,
    answers_window: Vec<f64>,
    /// Share of the target the overflow model plans for, learned from the measured rate.
    trim: f64,
}

/// The measured abandon rate the trim steers to, as a share of the target: the margin
/// keeps the day's total under the target despite the noise of small teams.
const SETPOINT: f64 = 0.8;
/// How fast the trim moves per answered call.
const TRIM_GAIN: f64 = 0.01;

impl Predictive {
    /// A pacer aiming at `target` abandoned/answered, with priors for the answer rate and
    /// the mean ring and handle times (refined from outcomes).
    pub fn new(
        target: f64,
        answer_prior: f64,
        ring_prior_s: f64,
        handle_prior_s: f64,
        bot_first: bool,
    ) -> Self {
        Predictive {
            target,
            recent: std::collections::VecDeque::new(),
            answer_prior,
            ring_s: Ewma::new(ring_prior_s),
            ring_all_s: Ewma::new(ring_prior_s * 2.0),
            handle_s: Ewma::new(handle_prior_s),
            transfer_p: Ewma::new(0.1),
            answered: 0,
            abandoned: 0,
            level: 1.0,
            bot_first,
            service_level_s: 20.0,
            service_miss: 0.2,
            human_handle_s: handle_prior_s,
            answers_window: Vec::new(),
            trim: AIM_FRACTION,
        }
    }

    fn answer_rate(&self) -> f64 {
        let n = self.recent.len() as f64;
        let yes = self.recent.iter().filter(|a| **a).count() as f64;
        // A prior worth 50 dials keeps the first minutes sane.
        (yes + self.answer_prior * 50.0) / (n + 50.0)
    }

    /// Expected share of answers that overflow `free` takers when answers are
    /// Poisson with mean `mu`: E[(X - free)+] / E[X].
    fn poisson_overflow_share(mu: f64, free: f64) -> f64 {
        if mu <= 0.0 {
            return 0.0;
        }
        // E[(X-F)+] = E[X] - E[min(X, F)] = mu - sum_{k} min(k, F) pmf(k).
        let mut pmf = (-mu).exp();
        let mut below = 0.0;
        let mut mass = 0.0;
        let f = free.max(0.0);
        let mut k = 0u32;
        while (k as f64) < f {
            below += k as f64 * pmf;
            mass += pmf;
            k += 1;
            pmf *= mu / k as f64;
        }
        let expected_min = below + f * (1.0 - mass).max(0.0);
        ((mu - expected_min) / mu).max(0.0)
    }
}

impl Pacer for Predictive {
    fn launch(&mut self, s: &PacingState) -> u32 {
        let p = self.answer_rate().clamp(0.01, 1.0);
        let ring = self.ring_s.value.max(1.0);
        let handle = self.handle_s.value.max(1.0);
        let busy = s.takers_total.saturating_sub(s.takers_free) as f64;
        // Takers free by the time new calls are answered: free now, plus busy ones that
        // finish within one ring time (exponential handle times), minus answered calls
        // already waiting for them.
        let freeing = busy * (1.0 - (-ring / handle).exp());
        let available = (s.takers_free as f64 + freeing - s.waiting as f64).max(0.0);
        // Measured correction: if we are running over target, aim lower.
        let measured = if self.answered < 50 {
            0.0
        } else {
            self.abandoned as f64 / self.answered as f64
        };
        // The overflow model ignores that answers bunch up, so the share it plans for is
        // trimmed by an integral controller on the measured rate (see `observe`); above
        // target, brake hard.
        let r = if self.answered < 50 {
            0.0
        } else {
            measured / self.target
        };
        let fraction = if r > 1.0 {
            self.trim / r.powi(4)
        } else {
            self.trim
        };
        let aim = self.target * fraction;
        // Answers still to come from calls already ringing: a call that has rung for τ
        // seconds answers with p·S(τ) / (p·S(τ) + 1 - p), S(τ) = e^(-τ/ring).
        let pending: f64 = s
            .ringing_ages_s
            .iter()
            .map(|tau| {
                let surv = (-tau / ring).exp();
                p * surv / (p * surv + 1.0 - p)
            })
            .sum();
        let mut n = 0u32;
        let cap = (available / p * 3.0 + 3.0) as u32;
        while n < cap
            && Self::poisson_overflow_share(pending + (n + 1) as f64 * p, available) <= aim
        {
            n += 1;
        }
        if self.bot_first && s.humans_total > 0 {
            // Cap the answer rate so the human queue meets its service level.
            let tp = self.transfer_p.value.max(0.001);
            let c = s.humans_total;
            let mut lo = 0.0f64;
            let mut hi = c as f64 / self.human_handle_s / tp;
            for _ in 0..40 {
                let mid = (lo + hi) / 2.0;
                let a = mid * tp * self.human_handle_s;
                if erlang::p_wait_exceeds(c, a, self.human_handle_s, self.service_level_s)
                    <= self.service_miss
                {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            // Answers per second allowed -> calls in flight allowed (Little's law on ringing).
            let max_ringing = (lo / p * self.ring_all_s.value.max(1.0)).ceil() as u32 + 1;
            n = n.min(max_ringing.saturating_sub(s.ringing));
            let queue_room = (c as f64 * 0.5).ceil() as u32;
            if s.transfers_waiting > queue_room {
                n = 0;
            }
        }
        {
            tracing::trace!("t={} free={} busy={} ringing={} waiting={} p={:.3} ring={:.1} handle={:.1} avail={:.2} aim={:.4} n={}", s.now, s.takers_free, busy, s.ringing, s.waiting, p, ring, handle, available, aim, n);
        }
        self.level = if s.takers_free > 0 {
            (s.ringing + n) as f64 / s.takers_free as f64
        } else {
            0.0
        };
        n
    }

    fn observe(&mut self, o: Outcome) {
        match o {
            Outcome::Dialed { answered, ring_s } => {
                self.recent.push_back(answered);
                self.ring_all_s.add(ring_s);
                if self.recent.len() > 1000 {
                    self.recent.pop_front();
                }
                if answered {
                    self.answered += 1;
                    self.ring_s.add(ring_s);
                    self.answers_window.clear();
                    if self.answered >= 50 {
                        let measured = self.abandoned as f64 / self.answered as f64;
                        let set = SETPOINT * self.target;
                        let err = ((set - measured) / set).clamp(-1.0, 1.0);
                        self.trim = (self.trim * (TRIM_GAIN * err).exp()).clamp(0.05, 1.5);
                    }
                }
            }
            Outcome::Abandoned => self.abandoned += 1,
            Outcome::Handled { handle_s } => self.handle_s.add(handle_s),
            Outcome::BotEnded { transferred } => {
                self.transfer_p.add(if transferred { 1.0 } else { 0.0 })
            }
        }
    }

    fn dial_level(&self) -> f64 {
        self.level
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overflow_share_grows_with_load_and_is_small_with_room() {
        assert!(Predictive::poisson_overflow_share(1.0, 10.0) < 1e-6);
        let a = Predictive::poisson_overflow_share(3.0, 2.0);
        let b = Predictive::poisson_overflow_share(6.0, 2.0);
        assert!(a > 0.0 && b > a, "{a} {b}");
        // Poisson(2) with 0 free: everything overflows.
        assert!((Predictive::poisson_overflow_share(2.0, 0.0) - 1.0).abs() < 1e-9);
    }

    #[test]
    fn progressive_never_overdials() {
        let mut p = Progressive;
        let s = PacingState {
            takers_total: 5,
            takers_free: 3,
            ringing: 1,
            ..Default::default()
        };
        assert_eq!(p.launch(&s), 2);
    }

    #[test]
    fn vicidial_level_rises_under_target_and_brakes_over_it() {
        let mut v = VicidialAdaptive::new(0.03, 4.0, Brake::HardLimit);
        let mut s = PacingState {
            takers_total: 10,
            takers_free: 10,
            ..Default::default()
        };
        for t in 0..=10 {
            s.now = Millis(t * 15_000);
            v.launch(&s);
        }
        assert!(v.dial_level() > 1.5);
        for _ in 0..10 {
            v.observe(Outcome::Dialed {
                answered: true,
                ring_s: 5.0,
            });
        }
        v.observe(Outcome::Abandoned);
        s.now = s.now.plus_ms(15_000);
        v.launch(&s);
        assert_eq!(v.dial_level(), 1.0);
    }
}
