//! The one dialer core, driven by the campaign simulator and the campaign runner alike
//! (as TigerBeetle and FoundationDB run one core under simulation and production).
//!
//! Sans-IO in the style of str0m's `Rtc` and quinn-proto's `Connection`: the driver feeds
//! [`Input`]s with the time they happen at ([`Millis`]), reads [`Output`]s with
//! [`Dialer::poll_output`] and wakes the core at [`Dialer::poll_timeout`]. The core paces
//! (a [`Pacer`]), asks the contact [`Policy`] before every dial, hands answered calls to free
//! takers in arrival order and abandons those nobody takes in time. It never reads a clock,
//! draws no random numbers and touches no store or line: leads come in as offers, results
//! as inputs, and what to do with them goes out as outputs.
//!
//! A simulation knows when its virtual world will act (a ring that ends in 12.3 s, a talk
//! that ends in 2 min); it files those moments with [`Dialer::schedule`] and gets them back
//! as [`Output::Wake`] in one agenda with the core's own timers, ordered by (time, order
//! filed). That single order is what keeps a seeded simulation byte-for-byte repeatable.
//! A live driver does not need it: its results arrive when they arrive.

use super::pacing::{Outcome, Pacer, PacingState};
use crate::policy::{CallOutcome, Contact, Decision, Policy, Rule};
use crate::time::Millis;
use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, VecDeque};

/// A call the core launched: an index the drivers map to their own records (attempt
/// rows, simulated customers).
pub type CallId = u32;

/// What the core needs to know up front.
#[derive(Debug, Clone)]
pub struct DialerConfig {
    /// The first pacing decision (the run's or the simulated day's start).
    pub start: Millis,
    /// No dialing at or after this instant.
    pub stop_at: Millis,
    /// Pacing decisions every this many milliseconds.
    pub tick_ms: u64,
    /// Takers of answered calls: agents, or bot channels in bot-first mode.
    pub takers: u32,
    /// Human agents (bot-first: the escalation queue the pacer protects).
    pub humans: u32,
    /// Most dials started per tick (the trunk's calls per second at a 1 s tick).
    pub max_dials_per_tick: u32,
    /// An answered call no taker picks up within this many milliseconds is abandoned.
    pub abandon_after_ms: u64,
    /// Stop dialing after this many dials (smoke runs and tests).
    pub max_dials: Option<u64>,
    /// Keep ticking while calls are live, and restart ticking when a taker frees up with
    /// no tick armed. The runner works this way (retries of in-flight leads come due
    /// later); the simulator's day ends its ticks when its lead pool is empty. Both kept
    /// as they were so their outputs stay what they were.
    pub tick_while_calls_live: bool,
    /// Takers are counted by the driver, not by the core: agent-first's takers are a live
    /// queue's agents, who go through ringing, talk and wrap-up out of the core's sight.
    /// The driver tells the count with [`Input::Takers`]; the core takes one off at each
    /// `Connect` until the next count, and a finished call ([`Input::CallDone`],
    /// [`Input::TakerFree`]) frees nobody by itself.
    pub live_takers: bool,
}

/// Whether more leads can be offered, told by the driver at the end of each launch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeadsDue {
    /// Leads are due now (or buffered): tick again at the normal pace.
    Now,
    /// Nothing is due before this instant: the core may sleep until then.
    At(Millis),
    /// No lead will come due.
    Never,
}

/// What a line reported for a dial.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineResult {
    /// A person answered.
    Answered,
    /// Nobody took the call: why (no answer, busy, voicemail, ...).
    NotAnswered(CallOutcome),
}

/// Something that happened, told to [`Dialer::handle`].
#[derive(Debug, Clone, Copy)]
pub enum Input<'a> {
    /// During a launch: a lead the driver could dial, with what the policy judges.
    Offer {
        /// The driver's lead.
        lead: u64,
        /// The lead's contact facts.
        contact: &'a Contact<'a>,
    },
    /// During a launch: the driver has no more offers; whether leads remain.
    LaunchDone(LeadsDue),
    /// A dialled line came back.
    LineResult {
        /// Which call.
        call: CallId,
        /// What the network said.
        result: LineResult,
    },
    /// A taker (agent) finished the call and is free again.
    TakerFree {
        /// The call that ended.
        call: CallId,
    },
    /// A bot finished the call (bot-first) and is free again; the customer may have been
    /// escalated to a human.
    BotFree {
        /// The call the bot held.
        call: CallId,
        /// Whether the bot escalated it to a human.
        transferred: bool,
    },
    /// Escalations waiting for a human now (bot-first), for the pacer.
    EscalationsWaiting(u32),
    /// Live takers ([`DialerConfig::live_takers`]): how many are free to take a call now
    /// and how many are logged in, as the driver counts them.
    Takers {
        /// Free now.
        free: u32,
        /// Logged in (free, ringing, talking or wrapping up).
        total: u32,
    },
    /// The taker's call is over and they wrap up for `wrap_up_ms` before the next: the
    /// pacer learns talk plus wrap-up as the handle time. With live takers the driver's
    /// count says when they are free again; otherwise they are free at once.
    CallDone {
        /// The call that ended.
        call: CallId,
        /// The wrap-up that follows it.
        wrap_up_ms: u64,
    },
}

/// What the core asks the driver to do, or tells it happened.
#[derive(Debug, Clone, PartialEq)]
pub enum Output<W> {
    /// Pacing wants this many dials now: offer leads ([`Input::Offer`]) while
    /// [`Dialer::wants_leads`], then send [`Input::LaunchDone`].
    Launch {
        /// Dials wanted.
        calls: u32,
    },
    /// The policy allows the offered lead: record the attempt, then dial it as `call`.
    Dial {
        /// The offered lead.
        lead: u64,
        /// The id the call goes by from now on.
        call: CallId,
    },
    /// The policy refused the offered lead.
    Block {
        /// The offered lead.
        lead: u64,
        /// The rule that refused.
        rule: Rule,
        /// Why, for the ledger.
        detail: String,
        /// When it may be tried again, if ever.
        until: Option<Millis>,
    },
    /// Connect the answered call to a free taker.
    Connect {
        /// The call.
        call: CallId,
        /// How long the customer waited after answering, ms.
        waited_ms: u64,
    },
    /// The call is over without a taker: unanswered, or abandoned after answering. The
    /// driver closes the attempt and asks the retry schedule.
    Ended {
        /// The call.
        call: CallId,
        /// How it ended.
        outcome: CallOutcome,
    },
    /// A moment the driver filed with [`Dialer::schedule`] has come.
    Wake(W),
}

/// Where a call stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CallState {
    Ringing,
    Waiting,
    Taken,
    Over,
}

#[derive(Debug, Clone, Copy)]
struct Call {
    dialed_at: Millis,
    answered_at: Millis,
    state: CallState,
}

/// The core's own timers and the driver's filed moments, in one agenda.
#[derive(Debug)]
enum Due<W> {
    Tick,
    Abandon(CallId),
    Wake(W),
}

#[derive(Debug)]
struct Entry<W> {
    at: Millis,
    seq: u64,
    due: Due<W>,
}

impl<W> PartialEq for Entry<W> {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl<W> Eq for Entry<W> {}
impl<W> PartialOrd for Entry<W> {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl<W> Ord for Entry<W> {
    fn cmp(&self, o: &Self) -> Ordering {
        (self.at, self.seq).cmp(&(o.at, o.seq))
    }
}

/// The dialer core. `W` is what a driver files with [`Dialer::schedule`] (a simulation's
/// virtual events; `()` for a driver that files nothing).
pub struct Dialer<'p, W> {
    cfg: DialerConfig,
    pacer: Box<dyn Pacer>,
    policy: Option<&'p Policy>,
    agenda: BinaryHeap<Reverse<Entry<W>>>,
    /// Core timers armed while handling an input: filed after what the driver schedules
    /// in reaction to that input's outputs, as a step of an event loop finishes before
    /// it re-arms.
    armed: Vec<(Millis, Due<W>)>,
    seq: u64,
    outputs: VecDeque<Output<W>>,
    calls: Vec<Call>,
    ringing: VecDeque<CallId>,
    waiting: VecDeque<CallId>,
    takers_free: u32,
    takers_total: u32,
    escalations_waiting: u32,
    live: u64,
    dials: u64,
    launch_left: Option<u32>,
    tick_armed: bool,
    stopped: bool,
}

impl<'p, W> Dialer<'p, W> {
    /// A core that will tick first at `cfg.start`, pacing with `pacer` and checking every
    /// dial against `policy` (none: every offer is dialled).
    pub fn new(cfg: DialerConfig, pacer: Box<dyn Pacer>, policy: Option<&'p Policy>) -> Self {
        let mut d = Dialer {
            takers_free: if cfg.live_takers { 0 } else { cfg.takers },
            takers_total: cfg.takers,
            cfg,
            pacer,
            policy,
            agenda: BinaryHeap::new(),
            armed: Vec::new(),
            seq: 0,
            outputs: VecDeque::new(),
            calls: Vec::new(),
            ringing: VecDeque::new(),
            waiting: VecDeque::new(),
            escalations_waiting: 0,
            live: 0,
            dials: 0,
            launch_left: None,
            tick_armed: true,
            stopped: false,
        };
        d.file(d.cfg.start, Due::Tick);
        d
    }

    fn file(&mut self, at: Millis, due: Due<W>) {
        self.seq += 1;
        self.agenda.push(Reverse(Entry {
            at,
            seq: self.seq,
            due,
        }));
    }

    fn flush_armed(&mut self) {
        for (at, due) in std::mem::take(&mut self.armed) {
            self.file(at, due);
        }
    }

    /// File a moment of the driver's world (a simulated ring ending, a talk ending); it
    /// comes back as [`Output::Wake`] at `at`, in order with the core's own timers.
    pub fn schedule(&mut self, at: Millis, what: W) {
        self.file(at, Due::Wake(what));
    }

    /// When the core next needs [`Dialer::handle_timeout`]; `None` when nothing is left.
    pub fn poll_timeout(&mut self) -> Option<Millis> {
        self.flush_armed();
        self.agenda.peek().map(|Reverse(e)| e.at)
    }

    /// The next thing for the driver to do, in order.
    pub fn poll_output(&mut self) -> Option<Output<W>> {
        self.outputs.pop_front()
    }

    /// Fire the earliest due timer or filed moment, if it is due at `now`. One per call, so
    /// that a driver's reaction to it is filed before anything after it.
    pub fn handle_timeout(&mut self, now: Millis) {
        self.flush_armed();
        match self.agenda.peek() {
            Some(Reverse(e)) if e.at <= now => {}
            _ => return,
        }
        let Some(Reverse(e)) = self.agenda.pop() else {
            return;
        };
        match e.due {
            Due::Tick => {
                self.tick_armed = false;
                self.tick(now);
            }
            Due::Abandon(call) => self.abandon(call),
            Due::Wake(w) => self.outputs.push_back(Output::Wake(w)),
        }
    }

    /// Take an input that happened at `now`.
    pub fn handle(&mut self, now: Millis, input: Input<'_>) {
        match input {
            Input::Offer { lead, contact } => self.offer(now, lead, contact),
            Input::LaunchDone(leads) => self.launch_done(now, leads),
            Input::LineResult { call, result } => self.line_result(now, call, result),
            Input::TakerFree { call } => self.call_done(now, call, 0),
            Input::CallDone { call, wrap_up_ms } => self.call_done(now, call, wrap_up_ms),
            Input::Takers { free, total } => {
                if !self.cfg.live_takers {
                    return;
                }
                let more = free > self.takers_free;
                self.takers_free = free;
                self.takers_total = total;
                self.take_waiting(now);
                if more {
                    self.rearm_tick(now);
                }
            }
            Input::BotFree { call, transferred } => {
                self.end_call(call);
                self.takers_free += 1;
                self.pacer.observe(Outcome::BotEnded { transferred });
                self.take_waiting(now);
            }
            Input::EscalationsWaiting(n) => self.escalations_waiting = n,
        }
    }

    /// A taker finished `call`; the pacer learns its handle time (talk plus wrap-up).
    fn call_done(&mut self, now: Millis, call: CallId, wrap_up_ms: u64) {
        let answered_at = self.end_call(call);
        if !self.cfg.live_takers {
            self.takers_free += 1;
        }
        let handle_s = (now.ms_since(answered_at) + wrap_up_ms) as f64 / 1000.0;
        self.pacer.observe(Outcome::Handled { handle_s });
        self.take_waiting(now);
        self.rearm_tick(now);
    }

    /// A taker may be free again: tick at the next step if no tick is armed.
    fn rearm_tick(&mut self, now: Millis) {
        if self.cfg.tick_while_calls_live
            && !self.tick_armed
            && now < self.cfg.stop_at
            && !self.stopped
        {
            self.arm_tick(now.plus_ms(self.cfg.tick_ms));
        }
    }

    /// Whether the current launch still wants offers.
    pub fn wants_leads(&self) -> bool {
        self.launch_left.is_some_and(|n| n > 0)
    }

    /// Calls dialled and not over (ringing, waiting for a taker, or with one).
    pub fn live_calls(&self) -> u64 {
        self.live
    }

    /// Calls ringing now.
    pub fn ringing(&self) -> u32 {
        self.ringing.len() as u32
    }

    /// Takers free now.
    pub fn takers_free(&self) -> u32 {
        self.takers_free
    }

    /// Dials started so far.
    pub fn dials(&self) -> u64 {
        self.dials
    }

    fn arm_tick(&mut self, at: Millis) {
        self.tick_armed = true;
        self.armed.push((at, Due::Tick));
    }

    fn tick(&mut self, now: Millis) {
        if now >= self.cfg.stop_at || self.stopped {
            return;
        }
        let state = PacingState {
            now,
            takers_total: self.takers_total,
            takers_free: self.takers_free,
            ringing: self.ringing.len() as u32,
            ringing_ages_s: self
                .ringing
                .iter()
                .map(|id| now.ms_since(self.calls[*id as usize].dialed_at) as f64 / 1000.0)
                .collect(),
            waiting: self.waiting.len() as u32,
            humans_total: self.cfg.humans,
            transfers_waiting: self.escalations_waiting,
        };
        let calls = self
            .pacer
            .launch(&state)
            .min(self.cfg.max_dials_per_tick.max(1));
        self.launch_left = Some(calls);
        self.outputs.push_back(Output::Launch { calls });
    }

    fn offer(&mut self, now: Millis, lead: u64, contact: &Contact<'_>) {
        if !self.wants_leads() {
            return;
        }
        let decision = match self.policy {
            Some(p) => p.check(contact, now),
            None => Decision::Allow,
        };
        match decision {
            Decision::Block {
                rule,
                detail,
                until,
            } => self.outputs.push_back(Output::Block {
                lead,
                rule,
                detail,
                until,
            }),
            Decision::Allow => {
                let call = self.calls.len() as CallId;
                self.calls.push(Call {
                    dialed_at: now,
                    answered_at: now,
                    state: CallState::Ringing,
                });
                self.ringing.push_back(call);
                self.live += 1;
                self.dials += 1;
                self.launch_left = self.launch_left.map(|n| n.saturating_sub(1));
                if self.cfg.max_dials.is_some_and(|m| self.dials >= m) {
                    self.stopped = true;
                    self.launch_left = Some(0);
                }
                self.outputs.push_back(Output::Dial { lead, call });
            }
        }
    }

    fn launch_done(&mut self, now: Millis, leads: LeadsDue) {
        if self.launch_left.take().is_none() || self.stopped {
            return;
        }
        let step = now.plus_ms(self.cfg.tick_ms);
        let next = if self.cfg.tick_while_calls_live && self.live > 0 {
            Some(step)
        } else {
            match leads {
                LeadsDue::Now => Some(step),
                LeadsDue::At(t) => Some(t.max(step)),
                LeadsDue::Never => None,
            }
        };
        if let Some(t) = next.filter(|t| *t < self.cfg.stop_at) {
            self.arm_tick(t);
        }
    }

    fn line_result(&mut self, now: Millis, call: CallId, result: LineResult) {
        let Some(c) = self.calls.get(call as usize).copied() else {
            return;
        };
        if c.state != CallState::Ringing {
            return;
        }
        if let Some(pos) = self.ringing.iter().position(|x| *x == call) {
            self.ringing.remove(pos);
        }
        self.pacer.observe(Outcome::Dialed {
            answered: result == LineResult::Answered,
            ring_s: now.ms_since(c.dialed_at) as f64 / 1000.0,
        });
        match result {
            LineResult::Answered => {
                self.calls[call as usize].answered_at = now;
                if self.takers_free > 0 && self.waiting.is_empty() {
                    self.take(now, call);
                } else {
                    self.calls[call as usize].state = CallState::Waiting;
                    self.waiting.push_back(call);
                    self.armed
                        .push((now.plus_ms(self.cfg.abandon_after_ms), Due::Abandon(call)));
                }
            }
            LineResult::NotAnswered(outcome) => {
                self.end_call(call);
                self.outputs.push_back(Output::Ended { call, outcome });
            }
        }
    }

    fn take(&mut self, now: Millis, call: CallId) {
        self.takers_free = self.takers_free.saturating_sub(1);
        let c = &mut self.calls[call as usize];
        c.state = CallState::Taken;
        let waited_ms = now.ms_since(c.answered_at);
        self.outputs.push_back(Output::Connect { call, waited_ms });
    }

    fn take_waiting(&mut self, now: Millis) {
        while self.takers_free > 0 {
            let Some(call) = self.waiting.pop_front() else {
                break;
            };
            if self.calls[call as usize].state == CallState::Waiting {
                self.take(now, call);
            }
        }
    }

    fn abandon(&mut self, call: CallId) {
        if self
            .calls
            .get(call as usize)
            .is_none_or(|c| c.state != CallState::Waiting)
        {
            return;
        }
        self.waiting.retain(|x| *x != call);
        self.end_call(call);
        self.pacer.observe(Outcome::Abandoned);
        self.outputs.push_back(Output::Ended {
            call,
            outcome: CallOutcome::Abandoned,
        });
    }

    /// Mark a call over; its answer time (for handle times).
    fn end_call(&mut self, call: CallId) -> Millis {
        match self.calls.get_mut(call as usize) {
            Some(c) if c.state != CallState::Over => {
                c.state = CallState::Over;
                self.live = self.live.saturating_sub(1);
                c.answered_at
            }
            Some(c) => c.answered_at,
            None => Millis::ZERO,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialer::pacing::{PacingConfig, Strategy};
    use crate::policy::PastAttempt;

    const T0: Millis = Millis(1_795_395_600_000);

    fn core(takers: u32, policy: Option<&Policy>) -> Dialer<'_, &'static str> {
        Dialer::new(
            DialerConfig {
                start: T0,
                stop_at: T0.plus_ms(3_600_000),
                tick_ms: 1000,
                takers,
                humans: takers,
                max_dials_per_tick: 30,
                abandon_after_ms: 2000,
                max_dials: None,
                tick_while_calls_live: true,
                live_takers: false,
            },
            PacingConfig::agents(Strategy::Progressive, 0.03, 120.0, 15.0).pacer(),
            policy,
        )
    }

    const NOBODY: Contact<'static> = Contact {
        phone: "",
        zones: &[],
        history: &[],
        disposition: None,
        suppressed: false,
    };

    fn outputs(d: &mut Dialer<'_, &'static str>) -> Vec<Output<&'static str>> {
        std::iter::from_fn(|| d.poll_output()).collect()
    }

    /// Tick at `now`, offer leads 1.. while the core wants them, end the launch.
    fn launch(d: &mut Dialer<'_, &'static str>, now: Millis) -> Vec<Output<&'static str>> {
        assert_eq!(d.poll_timeout(), Some(now));
        d.handle_timeout(now);
        let mut out = outputs(d);
        let mut lead = 1;
        while d.wants_leads() {
            d.handle(
                now,
                Input::Offer {
                    lead,
                    contact: &NOBODY,
                },
            );
            lead += 1;
        }
        d.handle(now, Input::LaunchDone(LeadsDue::Now));
        out.extend(outputs(d));
        out
    }

    #[test]
    fn dials_one_per_free_taker_and_connects_answers_in_order() {
        let mut d = core(2, None);
        let out = launch(&mut d, T0);
        assert_eq!(
            out,
            vec![
                Output::Launch { calls: 2 },
                Output::Dial { lead: 1, call: 0 },
                Output::Dial { lead: 2, call: 1 },
            ]
        );
        // The next tick is a second later; nothing is launched while both lines ring.
        let t1 = T0.plus_ms(1000);
        assert_eq!(launch(&mut d, t1), vec![Output::Launch { calls: 0 }]);
        let answer = T0.plus_ms(1500);
        for call in [1, 0] {
            d.handle(
                answer,
                Input::LineResult {
                    call,
                    result: LineResult::Answered,
                },
            );
        }
        assert_eq!(
            outputs(&mut d),
            vec![
                Output::Connect {
                    call: 1,
                    waited_ms: 0
                },
                Output::Connect {
                    call: 0,
                    waited_ms: 0
                },
            ]
        );
        assert_eq!((d.takers_free(), d.ringing(), d.live_calls()), (0, 0, 2));
    }

    fn ratio_core(takers: u32) -> Dialer<'static, &'static str> {
        Dialer::new(
            DialerConfig {
                start: T0,
                stop_at: T0.plus_ms(60_000),
                tick_ms: 1000,
                takers,
                humans: takers,
                max_dials_per_tick: 30,
                abandon_after_ms: 2000,
                max_dials: None,
                tick_while_calls_live: true,
                live_takers: false,
            },
            PacingConfig::agents(Strategy::Ratio, 0.03, 120.0, 15.0).pacer(),
            None,
        )
    }

    #[test]
    fn a_freed_taker_takes_the_waiting_answer_and_its_deadline_passes_quietly() {
        // Fixed ratio 2 with one taker: two lines for one taker, so one answer waits.
        let mut d = ratio_core(1);
        assert_eq!(launch(&mut d, T0).len(), 3);
        let answer = T0.plus_ms(400);
        for call in [0, 1] {
            d.handle(
                answer,
                Input::LineResult {
                    call,
                    result: LineResult::Answered,
                },
            );
        }
        assert!(matches!(
            outputs(&mut d)[..],
            [Output::Connect { call: 0, .. }]
        ));
        d.handle(T0.plus_ms(900), Input::TakerFree { call: 0 });
        assert_eq!(
            outputs(&mut d),
            vec![Output::Connect {
                call: 1,
                waited_ms: 500
            }]
        );
        launch(&mut d, T0.plus_ms(1000));
        launch(&mut d, T0.plus_ms(2000));
        // The abandon deadline at 2.4 s comes and goes without an output.
        assert_eq!(d.poll_timeout(), Some(answer.plus_ms(2000)));
        d.handle_timeout(answer.plus_ms(2000));
        assert_eq!(outputs(&mut d), vec![]);
        assert_eq!(d.live_calls(), 1);
    }

    #[test]
    fn waiting_answer_is_abandoned_two_seconds_after_it_came() {
        let mut d = ratio_core(1);
        assert_eq!(launch(&mut d, T0).len(), 3);
        let answer = T0.plus_ms(400);
        for call in [0, 1] {
            d.handle(
                answer,
                Input::LineResult {
                    call,
                    result: LineResult::Answered,
                },
            );
        }
        assert!(matches!(
            outputs(&mut d)[..],
            [Output::Connect { call: 0, .. }]
        ));
        // The deadline comes before the next tick, and fires exactly then.
        assert_eq!(d.poll_timeout(), Some(T0.plus_ms(1000)));
        launch(&mut d, T0.plus_ms(1000));
        assert_eq!(d.poll_timeout(), Some(T0.plus_ms(2000)));
        launch(&mut d, T0.plus_ms(2000));
        let deadline = answer.plus_ms(2000);
        assert_eq!(d.poll_timeout(), Some(deadline));
        d.handle_timeout(deadline.minus_ms(1));
        assert_eq!(outputs(&mut d), vec![]);
        d.handle_timeout(deadline);
        assert_eq!(
            outputs(&mut d),
            vec![Output::Ended {
                call: 1,
                outcome: CallOutcome::Abandoned
            }]
        );
    }

    #[test]
    fn filed_moments_come_back_in_time_then_filing_order() {
        let mut d = core(1, None);
        d.handle_timeout(T0);
        outputs(&mut d);
        d.handle(T0, Input::LaunchDone(LeadsDue::Never));
        let t = T0.plus_ms(5000);
        d.schedule(t, "second");
        d.schedule(T0.plus_ms(10), "first");
        d.schedule(t, "third");
        let mut seen = Vec::new();
        while let Some(at) = d.poll_timeout() {
            d.handle_timeout(at);
            for o in outputs(&mut d) {
                if let Output::Wake(w) = o {
                    seen.push((at, w));
                }
            }
        }
        assert_eq!(
            seen,
            vec![(T0.plus_ms(10), "first"), (t, "second"), (t, "third")]
        );
    }

    #[test]
    fn policy_blocks_are_outputs_with_their_retry_time_and_max_dials_stops() {
        let policy = Policy::load("cn-collection").expect("preset");
        let mut d = Dialer::<'_, ()>::new(
            DialerConfig {
                start: T0,
                stop_at: T0.plus_ms(3_600_000),
                tick_ms: 1000,
                takers: 5,
                humans: 5,
                max_dials_per_tick: 30,
                abandon_after_ms: 2000,
                max_dials: Some(1),
                tick_while_calls_live: true,
                live_takers: false,
            },
            PacingConfig::agents(Strategy::Progressive, 0.03, 120.0, 15.0).pacer(),
            Some(&policy),
        );
        d.handle_timeout(T0);
        assert_eq!(d.poll_output(), Some(Output::Launch { calls: 5 }));
        let suppressed = Contact {
            suppressed: true,
            ..NOBODY
        };
        d.handle(
            T0,
            Input::Offer {
                lead: 1,
                contact: &suppressed,
            },
        );
        assert!(matches!(
            d.poll_output(),
            Some(Output::Block {
                lead: 1,
                rule: Rule::Suppressed,
                until: None,
                ..
            })
        ));
        let zones = [policy.default_zone];
        let fresh = Contact {
            zones: &zones,
            ..NOBODY
        };
        let history = [PastAttempt {
            at: T0.minus_ms(10_000),
            phone: String::new(),
            outcome: CallOutcome::NoAnswer,
        }];
        let recent = Contact {
            zones: &zones,
            history: &history,
            ..NOBODY
        };
        d.handle(
            T0,
            Input::Offer {
                lead: 3,
                contact: &recent,
            },
        );
        assert!(matches!(
            d.poll_output(),
            Some(Output::Block {
                lead: 3,
                rule: Rule::MinInterval,
                until: Some(t),
                ..
            }) if t > T0
        ));
        d.handle(
            T0,
            Input::Offer {
                lead: 2,
                contact: &fresh,
            },
        );
        assert_eq!(d.poll_output(), Some(Output::Dial { lead: 2, call: 0 }));
        // One dial was the cap: the core wants no more and arms no further tick.
        assert!(!d.wants_leads());
        d.handle(T0, Input::LaunchDone(LeadsDue::Now));
        assert_eq!(d.poll_timeout(), None);
    }

    fn live_core(agents: u32) -> Dialer<'static, &'static str> {
        Dialer::new(
            DialerConfig {
                start: T0,
                stop_at: T0.plus_ms(3_600_000),
                tick_ms: 1000,
                takers: agents,
                humans: agents,
                max_dials_per_tick: 30,
                abandon_after_ms: 2000,
                max_dials: None,
                tick_while_calls_live: true,
                live_takers: true,
            },
            PacingConfig::agents(Strategy::Progressive, 0.03, 120.0, 15.0).pacer(),
            None,
        )
    }

    fn answer(d: &mut Dialer<'_, &'static str>, at: Millis, call: CallId) {
        d.handle(
            at,
            Input::LineResult {
                call,
                result: LineResult::Answered,
            },
        );
    }

    #[test]
    fn live_takers_pace_on_the_drivers_count_and_a_finished_call_frees_nobody() {
        let mut d = live_core(2);
        // Nobody counted free yet: nothing is dialled.
        assert_eq!(launch(&mut d, T0), vec![Output::Launch { calls: 0 }]);
        d.handle(T0.plus_ms(500), Input::Takers { free: 2, total: 2 });
        let out = launch(&mut d, T0.plus_ms(1000));
        assert_eq!(out[0], Output::Launch { calls: 2 });
        answer(&mut d, T0.plus_ms(1200), 0);
        assert!(matches!(
            outputs(&mut d)[..],
            [Output::Connect { call: 0, .. }]
        ));
        // The queue has not seen the connected call yet and still counts two free: the
        // driver subtracts what is on its way, so it says one.
        d.handle(T0.plus_ms(1300), Input::Takers { free: 1, total: 2 });
        answer(&mut d, T0.plus_ms(1400), 1);
        assert!(matches!(
            outputs(&mut d)[..],
            [Output::Connect { call: 1, .. }]
        ));
        assert_eq!(d.takers_free(), 0);
        // The first call ends: its agent wraps up, so the core frees nobody itself ...
        d.handle(
            T0.plus_ms(9_200),
            Input::CallDone {
                call: 0,
                wrap_up_ms: 3_000,
            },
        );
        assert_eq!(d.takers_free(), 0);
        assert_eq!(d.live_calls(), 1);
        // ... until the driver's count says the agent is back.
        d.handle(T0.plus_ms(12_200), Input::Takers { free: 1, total: 2 });
        assert_eq!(d.takers_free(), 1);
    }

    #[test]
    fn with_live_takers_an_answer_waits_for_a_counted_agent_or_is_abandoned() {
        // Two agents free at the tick: two dials; both busy by the time both answer.
        let mut d = live_core(2);
        d.handle(T0, Input::Takers { free: 2, total: 2 });
        launch(&mut d, T0);
        d.handle(T0.plus_ms(100), Input::Takers { free: 0, total: 2 });
        answer(&mut d, T0.plus_ms(200), 0);
        answer(&mut d, T0.plus_ms(250), 1);
        assert_eq!(outputs(&mut d), vec![]);
        // An agent is counted free 1.5 s later: the first answer is connected ...
        d.handle(T0.plus_ms(1_700), Input::Takers { free: 1, total: 2 });
        assert_eq!(
            outputs(&mut d),
            vec![Output::Connect {
                call: 0,
                waited_ms: 1_500
            }]
        );
        // ... and the second, still without one 2 s after its answer, is abandoned.
        let mut ended = Vec::new();
        while let Some(t) = d.poll_timeout().filter(|t| *t <= T0.plus_ms(2_250)) {
            d.handle_timeout(t);
            for o in outputs(&mut d) {
                match o {
                    Output::Launch { calls } => {
                        assert_eq!(calls, 0, "nobody free: nothing dialled");
                        d.handle(t, Input::LaunchDone(LeadsDue::Now));
                    }
                    other => ended.push((t, other)),
                }
            }
        }
        assert_eq!(
            ended,
            vec![(
                T0.plus_ms(2_250),
                Output::Ended {
                    call: 1,
                    outcome: CallOutcome::Abandoned
                }
            )]
        );
    }
}
