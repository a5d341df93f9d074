//! Phone lines as the dialer sees them: a dial goes out, a result comes back later at its
//! own time. [`SimulatedLines`] draws seeded results now; SIP lines will implement
//! [`Lines`] later, with results arriving as the network answers.

use super::core::{CallId, LineResult};
use crate::policy::CallOutcome;
use crate::time::Millis;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp};
use std::collections::VecDeque;

/// What came back from the network for one dial.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineEvent {
    /// The call it answers.
    pub call: CallId,
    /// When it happened (a simulation knows ahead; a live line reports it as it comes).
    pub at: Millis,
    /// Answered, or why not.
    pub result: LineResult,
    /// SIP final code the network gave.
    pub sip_code: u16,
}

/// Lines a dialer dials on. Asynchronous by contract: `dial` only hands the call over;
/// its result is read from `poll_result` whenever it is there.
pub trait Lines {
    /// Why a dial could not even be handed over.
    type Error: std::error::Error + Send + Sync + 'static;
    /// Hand `call` to the network at `now`; an unanswered call rings at least
    /// `min_ring_ms` (the policy's minimum ring) before giving up.
    fn dial(&mut self, call: CallId, now: Millis, min_ring_ms: u64) -> Result<(), Self::Error>;
    /// The next result that has come back, if any.
    fn poll_result(&mut self) -> Option<LineEvent>;
}

/// Simulated lines: what would come back from the network for a dial, drawn from one
/// seeded stream (which also draws the simulated conversations, so one seed is one run).
#[derive(Debug)]
pub struct SimulatedLines {
    rng: ChaCha8Rng,
    answer_rate: f64,
    ring_mean_s: f64,
    results: VecDeque<LineEvent>,
}

impl SimulatedLines {
    /// Lines answering with `answer_rate` after `ring_mean_s` on average.
    pub fn new(seed: u64, answer_rate: f64, ring_mean_s: f64) -> Self {
        SimulatedLines {
            rng: ChaCha8Rng::seed_from_u64(seed),
            answer_rate,
            ring_mean_s,
            results: VecDeque::new(),
        }
    }

    /// Draw the network's answer to one dial: (result, SIP code, ring ms).
    fn draw(&mut self, min_ring_s: f64) -> (LineResult, u16, u64) {
        if self.rng.random::<f64>() < self.answer_rate {
            let ring = self.ring_mean_s * (0.4 + 1.2 * self.rng.random::<f64>());
            return (LineResult::Answered, 200, (ring * 1000.0) as u64);
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
        (
            LineResult::NotAnswered(outcome),
            sip_code,
            (ring_s * 1000.0) as u64,
        )
    }

    /// A simulated conversation's disposition (what the debtor said).
    pub fn disposition(&mut self) -> &'static str {
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

    /// A simulated talk time, ms: exponential around `mean_s`.
    pub fn talk_ms(&mut self, mean_s: f64) -> u64 {
        let s = Exp::new(1.0 / mean_s.max(0.1))
            .map(|d| d.sample(&mut self.rng))
            .unwrap_or(mean_s);
        (s * 1000.0) as u64
    }
}

/// Simulated lines never fail to take a dial.
#[derive(Debug, thiserror::Error)]
#[error("simulated lines cannot fail")]
pub struct NeverFails;

impl Lines for SimulatedLines {
    type Error = NeverFails;

    fn dial(&mut self, call: CallId, now: Millis, min_ring_ms: u64) -> Result<(), NeverFails> {
        let (result, sip_code, ring_ms) = self.draw(min_ring_ms as f64 / 1000.0);
        // A result in the same millisecond as its dial would come before the dial is
        // recorded; one millisecond of ring keeps cause before effect.
        self.results.push_back(LineEvent {
            call,
            at: now.plus_ms(ring_ms.max(1)),
            result,
            sip_code,
        });
        Ok(())
    }

    fn poll_result(&mut self) -> Option<LineEvent> {
        self.results.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_back_later_and_repeat_with_the_seed() {
        let draw = |seed| {
            let mut l = SimulatedLines::new(seed, 0.5, 10.0);
            let mut out = Vec::new();
            for call in 0..200 {
                l.dial(call, Millis(1_000_000), 30_000).expect("simulated");
                out.push(l.poll_result().expect("one result per dial"));
            }
            out
        };
        let a = draw(3);
        assert_eq!(a, draw(3));
        assert_ne!(a, draw(4));
        assert!(a.iter().all(|e| e.at > Millis(1_000_000)));
        // The policy's minimum ring holds for unanswered calls.
        assert!(a
            .iter()
            .filter(|e| e.result == LineResult::NotAnswered(CallOutcome::NoAnswer))
            .all(|e| e.at.ms_since(Millis(1_000_000)) >= 30_000));
        let answered = a
            .iter()
            .filter(|e| e.result == LineResult::Answered)
            .count();
        assert!((60..140).contains(&answered), "{answered}");
    }
}
