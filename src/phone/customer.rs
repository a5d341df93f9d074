//! One synthetic customer's turn-taking, sans-IO: 20 ms frames of what it hears (16 kHz)
//! and the time in; "say line N", "stop talking" and "hang up" out, with the next
//! deadline. It listens with an energy detector only (no VAD model, no ASR), so a
//! thousand of them cost less than one bot.
//!
//! A person waits for the bot to finish: the bot has spoken (at least
//! [`MIN_BOT_TURN_MS`] of voice) and then been silent [`END_OF_TURN_MS`]; then the next
//! line. A barge-in speaker starts [`BARGE_IN_AFTER_MS`] into a prompt instead. Voice
//! heard while the customer talks is not a turn (it is the bot talking over it, or the
//! rest of the prompt it interrupted); after its line, the customer counts voice as a new
//! turn only once the line has been quiet [`REARM_MS`], so the tail of an interrupted
//! prompt is never answered twice.

use crate::speech::turn::frame_energy_db;
use crate::time::Millis;
use std::collections::VecDeque;

/// A frame at or above this level (dBFS) is the bot's voice. Speech on a phone line sits
/// around -20 dBFS; a synthetic line carries digital silence between prompts.
pub const VOICE_DB: f32 = -40.0;
/// Silence after the bot's voice that ends its turn. Longer than the pauses between a
/// prompt's sentences (~300 ms with our voices), short enough to sound attentive.
pub const END_OF_TURN_MS: u64 = 700;
/// Voice that makes a turn: shorter bursts (a click, a breath) are not the bot speaking.
pub const MIN_BOT_TURN_MS: u64 = 200;
/// How far into a prompt a barge-in speaker starts talking.
pub const BARGE_IN_AFTER_MS: u64 = 1000;
/// Quiet needed after the customer's own line before voice counts as a new turn.
pub const REARM_MS: u64 = 300;
/// A bot still talking this close to the end of a barge-in line talked straight through it
/// (a prompt that may not be interrupted). The bot still heard the line and answers it once
/// the prompt is over, so the customer does not say it again: it waits for the bot to be
/// done before its next line, rather than talking over the answer. A bot that drops what
/// was said over such a prompt leaves this customer waiting, and its test fails.
const IGNORED_MS: u64 = 100;
/// Voice bursts closer than this are one segment in the log.
const SEGMENT_GAP_MS: u64 = 300;
/// After its last line, the customer waits for the bot to be quiet this long before
/// hanging up, so a goodbye is not cut mid-sentence.
const HANGUP_QUIET_MS: u64 = 1000;

/// How one customer behaves on the call.
#[derive(Clone, Debug, PartialEq)]
pub struct CustomerConfig {
    /// The length of each line's audio, in the order they are said.
    pub line_ms: Vec<u64>,
    /// Talks over the bot's prompts.
    pub barge_in: bool,
    /// Pause after the last line before hanging up.
    pub hangup_after_ms: u64,
    /// Hang up this long after the answer whatever happens.
    pub max_call_ms: u64,
}

/// What the customer does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Start playing line N (its audio is [`CustomerConfig::line_ms`]`[N]` long).
    Say(usize),
    /// Stop the line being played.
    StopTalking,
    /// Hang up.
    HangUp,
}

/// What the customer did and heard, for the call's log.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CustomerLog {
    /// Lines said: (index, when).
    pub said: Vec<(usize, Millis)>,
    /// Bot voice heard: (start, end) of each segment.
    pub heard: Vec<(Millis, Millis)>,
    /// When it hung up (None: the other side did, or the call is not over).
    pub hung_up: Option<Millis>,
}

/// The sans-IO customer: feed [`Customer::frame`] every frame heard and
/// [`Customer::tick`] at [`Customer::poll_timeout`]; take [`Customer::poll_action`]s.
#[derive(Debug)]
pub struct Customer {
    cfg: CustomerConfig,
    answered: Millis,
    next_line: usize,
    /// The end of the line being said.
    talking_until: Option<Millis>,
    /// When the last line said ended (or will end).
    last_line_end: Option<Millis>,
    /// Voice counts as a new turn (quiet seen since the customer's own line).
    armed: bool,
    /// Voice heard in the current bot turn, ms.
    turn_voice_ms: u64,
    /// Start of the current bot turn's voice.
    turn_started: Option<Millis>,
    /// The last voiced frame heard (any time).
    last_voice: Option<Millis>,
    /// The open segment for the log.
    segment: Option<(Millis, Millis)>,
    log: CustomerLog,
    actions: VecDeque<Action>,
    done: bool,
    /// When the last line started, if it was a barge-in.
    barged: Option<Millis>,
    /// The next line waits for the bot's turn to end (a barge-in talked through).
    wait_for_end: bool,
}

impl Customer {
    /// A customer whose call was answered at `answered`.
    pub fn new(cfg: CustomerConfig, answered: Millis) -> Customer {
        Customer {
            cfg,
            answered,
            next_line: 0,
            talking_until: None,
            last_line_end: None,
            armed: true,
            turn_voice_ms: 0,
            turn_started: None,
            last_voice: None,
            segment: None,
            log: CustomerLog::default(),
            actions: VecDeque::new(),
            done: false,
            barged: None,
            wait_for_end: false,
        }
    }

    /// One frame heard (16 kHz PCM, 20 ms) whose last sample arrived at `now`.
    pub fn frame(&mut self, now: Millis, pcm: &[i16]) {
        if self.done {
            return;
        }
        let frame_ms = (pcm.len() as u64 / 16).max(1);
        let voiced = frame_energy_db(pcm) >= VOICE_DB;
        if voiced {
            let start = now.minus_ms(frame_ms);
            self.segment = match self.segment {
                Some((s, e)) if now.ms_since(e) <= SEGMENT_GAP_MS + frame_ms => Some((s, now)),
                Some(done) => {
                    self.log.heard.push(done);
                    Some((start, now))
                }
                None => Some((start, now)),
            };
            self.last_voice = Some(now);
            if self.talking(now).is_none() && self.armed {
                self.turn_voice_ms += frame_ms;
                self.turn_started.get_or_insert(start);
            }
        }
        self.tick(now);
    }

    /// The time passed (call at [`Customer::poll_timeout`], or with every frame).
    pub fn tick(&mut self, now: Millis) {
        if self.done {
            return;
        }
        if now >= self.answered.plus_ms(self.cfg.max_call_ms) {
            self.hang_up(now);
            return;
        }
        let talking = self.talking(now);
        if talking.is_none() {
            self.talking_until = None;
            if let Some(start) = self.barged.take() {
                let through = self
                    .segment
                    .is_some_and(|(s, e)| s <= start && now.ms_since(e) <= IGNORED_MS);
                if through {
                    // The next line waits for the end of the bot's turn, which is this
                    // voice (the prompt, then the answer to the line).
                    self.armed = true;
                    self.turn_voice_ms = MIN_BOT_TURN_MS;
                    self.turn_started = Some(now);
                    self.wait_for_end = true;
                }
            }
            if !self.armed && self.quiet_for(now) >= REARM_MS {
                self.armed = true;
            }
        }
        if let Some(at) = self.hangup_due() {
            if now >= at {
                self.hang_up(now);
            }
            return;
        }
        if talking.is_some() || self.next_line >= self.cfg.line_ms.len() {
            return;
        }
        if self.turn_voice_ms < MIN_BOT_TURN_MS {
            // A click followed by quiet was not a turn: forget it, so clicks never add up.
            if self.quiet_for(now) >= END_OF_TURN_MS {
                self.turn_voice_ms = 0;
                self.turn_started = None;
            }
            return;
        }
        let ended = self.quiet_for(now) >= END_OF_TURN_MS;
        let barge = self.cfg.barge_in
            && !self.wait_for_end
            && self.quiet_for(now) == 0
            && self
                .turn_started
                .is_some_and(|t| now.ms_since(t) >= BARGE_IN_AFTER_MS);
        if ended || barge {
            self.say(now, !ended);
        }
    }

    /// The other side hung up: stop, and log it.
    pub fn remote_hung_up(&mut self, now: Millis) {
        if self.done {
            return;
        }
        self.close_segment();
        if self.talking(now).is_some() {
            self.actions.push_back(Action::StopTalking);
        }
        self.talking_until = None;
        self.done = true;
    }

    /// The next thing to do, if any.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When [`Customer::tick`] must be called next (None: nothing pending but frames).
    pub fn poll_timeout(&self) -> Option<Millis> {
        if self.done {
            return None;
        }
        let mut at = vec![self.answered.plus_ms(self.cfg.max_call_ms)];
        at.extend(self.talking_until);
        if let Some(h) = self.hangup_due() {
            at.push(h);
        } else if self.next_line < self.cfg.line_ms.len() && self.turn_voice_ms >= MIN_BOT_TURN_MS {
            // A barge-in needs the bot's voice now, so it is decided on frames, not here.
            if let Some(v) = self.last_voice {
                at.push(v.plus_ms(END_OF_TURN_MS));
            }
        }
        at.into_iter().min()
    }

    /// Whether the customer has hung up or heard the other side do so.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// What it did and heard so far.
    pub fn log(&self) -> CustomerLog {
        let mut log = self.log.clone();
        log.heard.extend(self.segment);
        log
    }

    fn talking(&self, now: Millis) -> Option<Millis> {
        self.talking_until.filter(|&t| now < t)
    }

    fn quiet_for(&self, now: Millis) -> u64 {
        self.last_voice.map_or(u64::MAX, |v| now.ms_since(v))
    }

    /// After the last line: its end plus the pause, later while the bot is still talking.
    fn hangup_due(&self) -> Option<Millis> {
        if self.cfg.line_ms.is_empty() || self.next_line < self.cfg.line_ms.len() {
            return None;
        }
        let end = self.last_line_end?;
        let mut at = end.plus_ms(self.cfg.hangup_after_ms);
        if let Some(v) = self.last_voice.filter(|&v| v > end) {
            at = at.max(v.plus_ms(HANGUP_QUIET_MS));
        }
        Some(at)
    }

    fn say(&mut self, now: Millis, barge: bool) {
        let i = self.next_line;
        self.barged = barge.then_some(now);
        self.wait_for_end = false;
        self.next_line += 1;
        let end = now.plus_ms(self.cfg.line_ms[i]);
        self.talking_until = Some(end);
        self.last_line_end = Some(end);
        self.armed = false;
        self.turn_voice_ms = 0;
        self.turn_started = None;
        self.log.said.push((i, now));
        self.actions.push_back(Action::Say(i));
    }

    fn hang_up(&mut self, now: Millis) {
        if self.talking(now).is_some() {
            self.actions.push_back(Action::StopTalking);
        }
        self.close_segment();
        self.talking_until = None;
        self.actions.push_back(Action::HangUp);
        self.log.hung_up = Some(now);
        self.done = true;
    }

    fn close_segment(&mut self) {
        if let Some(s) = self.segment.take() {
            self.log.heard.push(s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_000_000;

    /// A 16 kHz, 20 ms frame: a 440 Hz tone (the bot speaking) or silence.
    fn frame(voiced: bool) -> Vec<i16> {
        (0..320)
            .map(|i| {
                if voiced {
                    (8000.0 * (i as f32 * 2.0 * std::f32::consts::PI * 440.0 / 16000.0).sin())
                        as i16
                } else {
                    0
                }
            })
            .collect()
    }

    /// Drives a customer through a script of (voiced?, ms) stretches of bot audio,
    /// returning every action with its time.
    struct Run {
        c: Customer,
        now: u64,
        actions: Vec<(u64, Action)>,
    }

    impl Run {
        fn new(cfg: CustomerConfig) -> Run {
            Run {
                c: Customer::new(cfg, Millis(T0)),
                now: T0,
                actions: Vec::new(),
            }
        }
        fn hear(&mut self, voiced: bool, ms: u64) {
            let f = frame(voiced);
            for _ in 0..ms / 20 {
                self.now += 20;
                // A deadline between frames is honoured before the frame; a deadline
                // that a tick at it does not move would spin a driver.
                while let Some(t) = self.c.poll_timeout().filter(|t| t.0 < self.now) {
                    self.c.tick(t);
                    self.drain(t.0);
                    assert_ne!(self.c.poll_timeout(), Some(t), "the deadline did not move");
                }
                self.c.frame(Millis(self.now), &f);
                self.drain(self.now);
            }
        }
        fn drain(&mut self, at: u64) {
            while let Some(a) = self.c.poll_action() {
                self.actions.push((at - T0, a));
            }
        }
        fn said(&self) -> Vec<(u64, usize)> {
            self.actions
                .iter()
                .filter_map(|(t, a)| match a {
                    Action::Say(i) => Some((*t, *i)),
                    _ => None,
                })
                .collect()
        }
    }

    fn cfg(lines: usize, barge_in: bool) -> CustomerConfig {
        CustomerConfig {
            line_ms: vec![1500; lines],
            barge_in,
            hangup_after_ms: 4000,
            max_call_ms: 120_000,
        }
    }

    #[test]
    fn it_answers_after_the_bot_is_quiet_for_700_ms_and_never_over_it() {
        let mut r = Run::new(cfg(2, false));
        r.hear(false, 500);
        // The greeting: two sentences with a 300 ms pause between them.
        r.hear(true, 1200);
        r.hear(false, 300);
        r.hear(true, 1000);
        assert!(r.said().is_empty(), "not during the greeting");
        r.hear(false, 680);
        assert!(r.said().is_empty(), "not before 700 ms of quiet");
        r.hear(false, 40);
        assert_eq!(r.said(), vec![(3700, 0)]);
        // While it talks and after, the bot says nothing: no second line.
        r.hear(false, 3000);
        assert_eq!(r.said().len(), 1, "one line per bot turn");
    }

    #[test]
    fn it_answers_each_bot_turn_once_then_hangs_up_after_the_last_line() {
        let mut r = Run::new(cfg(2, false));
        for _ in 0..3 {
            r.hear(true, 1000);
            r.hear(false, 2500);
        }
        let said = r.said();
        assert_eq!(said.iter().map(|s| s.1).collect::<Vec<_>>(), vec![0, 1]);
        // Each line came 700 ms after a bot turn ended.
        assert_eq!(said[0].0, 1000 + 700);
        assert_eq!(said[1].0, 3500 + 1000 + 700);
        // Bot's third turn ended at 8000; last line ended at 5200+1500 = 6700; +4000 = 10700,
        // and the bot was quiet 1 s by then.
        r.hear(false, 6000);
        let hang: Vec<_> = r
            .actions
            .iter()
            .filter(|(_, a)| *a == Action::HangUp)
            .collect();
        assert_eq!(hang.len(), 1);
        assert_eq!(hang[0].0, 10_700);
        assert!(r.c.is_done());
    }

    #[test]
    fn it_does_not_hang_up_while_the_bot_says_goodbye() {
        let mut r = Run::new(CustomerConfig {
            hangup_after_ms: 500,
            ..cfg(1, false)
        });
        r.hear(true, 1000);
        r.hear(false, 700); // says line 0 at 1700, until 3200
        r.hear(false, 1000);
        // A long goodbye from 2700 to 7700.
        r.hear(true, 5000);
        assert!(!r.actions.iter().any(|(_, a)| *a == Action::HangUp));
        r.hear(false, 2000);
        let hang = r
            .actions
            .iter()
            .find(|(_, a)| *a == Action::HangUp)
            .unwrap();
        assert_eq!(hang.0, 7700 + 1000);
    }

    #[test]
    fn a_barge_in_speaker_starts_a_second_into_the_prompt() {
        let mut r = Run::new(cfg(2, true));
        r.hear(false, 200);
        // A prompt from 200; the customer starts at 1200 and the bot, hearing it, stops
        // 400 ms later.
        r.hear(true, 1400);
        assert_eq!(r.said(), vec![(1200, 0)]);
        // The bot listens while the line plays (to 2700): no second line.
        r.hear(false, 2000);
        assert_eq!(r.said().len(), 1);
        // The reply, from 3600, is interrupted too.
        r.hear(true, 2000);
        assert_eq!(r.said()[1], (3600 + 1000, 1));
    }

    #[test]
    fn after_a_barge_in_the_bot_talks_through_the_next_line_waits_for_the_bot() {
        let mut r = Run::new(cfg(3, true));
        r.hear(false, 200);
        // A prompt that may not be interrupted: 200..5200, straight through the line
        // said at 1200..2700.
        r.hear(true, 5000);
        assert_eq!(r.said(), vec![(1200, 0)]);
        // Once the bot is done (and quiet 700 ms), the next line, not a barge-in.
        r.hear(false, 1000);
        assert_eq!(r.said(), vec![(1200, 0), (5900, 1)]);
        // Then the next prompt (after the line, 5900..7400) is barged into as before.
        r.hear(false, 2000);
        r.hear(true, 1500);
        assert_eq!(r.said()[2], (8200 + 1000, 2));
    }

    #[test]
    fn a_polite_speaker_does_not_answer_the_tail_of_a_prompt_it_heard_while_talking() {
        let mut r = Run::new(cfg(3, false));
        r.hear(true, 500);
        r.hear(false, 700); // says 0 at 1200 until 2700
        r.hear(false, 800);
        // The bot starts its reply while the customer still talks, and runs past its end
        // without a pause: voice while talking does not count, and after the line the
        // bot must be quiet REARM_MS before voice counts again.
        r.hear(true, 1500); // 2000..3500
        r.hear(false, 1500);
        assert_eq!(r.said().len(), 1, "{:?}", r.said());
        // A real next turn is answered.
        r.hear(true, 800);
        r.hear(false, 800);
        assert_eq!(r.said().len(), 2);
    }

    #[test]
    fn a_silent_customer_never_speaks_and_hangs_up_at_its_limit() {
        let mut r = Run::new(CustomerConfig {
            max_call_ms: 20_000,
            ..cfg(0, false)
        });
        for _ in 0..5 {
            r.hear(true, 2000);
            r.hear(false, 2000);
        }
        assert!(r.said().is_empty());
        assert_eq!(r.actions, vec![(20_000, Action::HangUp)]);
    }

    #[test]
    fn short_clicks_are_not_a_turn() {
        let mut r = Run::new(cfg(1, false));
        for _ in 0..5 {
            r.hear(true, 100);
            r.hear(false, 1000);
        }
        assert!(r.said().is_empty());
    }

    #[test]
    fn the_bot_hanging_up_stops_the_line_and_ends_the_customer() {
        let mut r = Run::new(cfg(2, false));
        r.hear(true, 1000);
        r.hear(false, 800); // says 0 at 1700
        r.c.remote_hung_up(Millis(r.now));
        r.drain(r.now);
        assert_eq!(r.actions.last().unwrap().1, Action::StopTalking);
        assert!(r.c.is_done());
        assert_eq!(r.c.poll_timeout(), None);
        let log = r.c.log();
        assert_eq!(log.said, vec![(0, Millis(T0 + 1700))]);
        assert_eq!(log.heard, vec![(Millis(T0), Millis(T0 + 1000))]);
        assert_eq!(log.hung_up, None);
    }

    #[test]
    fn poll_timeout_names_the_end_of_turn_and_a_tick_there_answers() {
        let mut c = Customer::new(cfg(1, false), Millis(T0));
        let f = frame(true);
        for i in 1..=20 {
            c.frame(Millis(T0 + i * 20), &f);
        }
        assert_eq!(c.poll_timeout(), Some(Millis(T0 + 400 + END_OF_TURN_MS)));
        c.tick(Millis(T0 + 400 + END_OF_TURN_MS));
        assert_eq!(c.poll_action(), Some(Action::Say(0)));
    }
}
