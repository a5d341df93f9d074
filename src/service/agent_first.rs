//! Agent-first mode's side of a call: what listens on an answered call until it is
//! bridged to the queue, and the live count of the queue's free agents the pacer reads.
//!
//! The [`Connector`] is the call's agent (the `CallAgent` seam) in place of a bot. It
//! runs call-progress detection on the customer's first seconds, as the bot does beside
//! its greeting: a machine, an announcement, a fax or a network tone ends the call with
//! the detector's outcome; a person (or silence: someone may be listening) is reported
//! to the driver, which tells the dialer core the line was answered. The core connects it
//! to a free agent (the driver asks the call for a bridge to the queue, and the relay
//! takes the customer's audio: the connector's stream ends) or abandons it after the
//! policy's seconds (the driver plays the abandon message and hangs up). Waiting for the
//! detector's verdict before counting the answer is the regulations' own clock: an
//! answered call is abandoned when nobody speaks within two seconds after the customer's
//! greeting ends, which is when the detector decides.

use crate::cpd::{Class, CpdConfig, Detector, Stage, ToneKind, Verdict};
use crate::queue::{AgentState, QueueHandle};
use crate::sip::agent::{
    AgentCommand, AgentMedia, AgentReport, CallAgent, CallEvent, EarlyVerdict,
};
use crate::time::Millis;
use std::collections::HashSet;
use tokio::sync::mpsc;

/// How long after the answer the detector may listen before a person is assumed: past its
/// own dead-air limit (3.5 s by default), so silence is decided by the detector.
const CPD_WINDOW_MS: u64 = 4_000;

/// What the connector tells the driver about its call.
#[derive(Debug, Clone, PartialEq)]
pub enum Reached {
    /// A person (or silence) answered: count the answer and connect an agent.
    Person,
    /// The bridge to the queue could not be placed: nobody will take the call.
    NoAgent(String),
}

/// Agent-first's agent on one call (see the module doc).
pub struct Connector {
    early: Option<Detector>,
    answered: Option<Detector>,
    report: Box<dyn FnMut(Reached) + Send>,
}

impl Connector {
    /// A connector reporting through `report`; with `cpd`, call-progress detection on
    /// early media (tones only: no recognizer here) and after the answer.
    pub fn new(
        cpd: bool,
        report: Box<dyn FnMut(Reached) + Send>,
    ) -> Result<Connector, crate::cpd::CpdError> {
        let detector = |stage| {
            Detector::new(
                CpdConfig {
                    sample_rate_hz: 16_000,
                    ..CpdConfig::default()
                },
                stage,
            )
        };
        let (early, answered) = if cpd {
            (
                Some(detector(Stage::EarlyMedia)?),
                Some(detector(Stage::Answered)?),
            )
        } else {
            (None, None)
        };
        Ok(Connector {
            early,
            answered,
            report,
        })
    }
}

/// Before the answer only what no person's phone plays ends the call (an early tone a
/// person's line cannot make); carriers play music and speech there.
fn early_ends_call(v: &Verdict) -> bool {
    match v.class {
        Class::Announcement(crate::cpd::AnnouncementKind::Unknown) => v.evidence.sit.is_some(),
        Class::Announcement(_) | Class::Fax => true,
        Class::Tone(k) => matches!(k, ToneKind::Busy | ToneKind::Reorder | ToneKind::Modem),
        Class::Machine | Class::Human | Class::Silence | Class::Undecided => false,
    }
}

/// After the answer, as on a bot call: a machine, an announcement, a fax or a network
/// tone is nobody to connect; a person, silence or an undecided start is somebody.
fn answer_ends_call(v: &Verdict) -> bool {
    match v.class {
        Class::Machine | Class::Announcement(_) | Class::Fax => true,
        Class::Tone(k) => !matches!(k, ToneKind::Ringback),
        Class::Human | Class::Silence | Class::Undecided => false,
    }
}

/// The snake_case name serde gives a unit variant.
fn plain<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v)
        .unwrap_or_default()
        .trim_matches('"')
        .to_string()
}

impl CallAgent for Connector {
    fn early_frame(&mut self, now_ms: u64, pcm: &[i16]) -> Option<EarlyVerdict> {
        let v = self
            .early
            .as_mut()?
            .push(pcm, Millis(now_ms))
            .filter(early_ends_call)?;
        self.early = None;
        let o = v.outcome();
        Some(EarlyVerdict {
            policy_outcome: o.to_policy(),
            detail: serde_json::json!({ "cpd": v, "cpd_outcome": o }),
        })
    }

    fn start(
        self: Box<Self>,
        media: AgentMedia,
        commands: mpsc::UnboundedSender<AgentCommand>,
    ) -> std::thread::JoinHandle<AgentReport> {
        let Connector {
            answered,
            mut report,
            ..
        } = *self;
        std::thread::spawn(move || {
            let AgentMedia {
                mut inbound,
                events,
                ..
            } = media;
            let mut detector = answered;
            let mut verdict: Option<Verdict> = None;
            let mut policy_outcome = None;
            let mut reached_at_ms = None;
            if detector.is_none() {
                reached_at_ms = Some(0);
                report(Reached::Person);
            }
            let mut now = 0u64;
            // The stream ends when the call does, or when the bridge's relay takes it.
            while let Some(frame) = inbound.blocking_recv() {
                now += 20;
                while let Ok(e) = events.try_recv() {
                    if let CallEvent::TransferFailed(why) = e {
                        report(Reached::NoAgent(why));
                    }
                }
                let Some(det) = detector.as_mut() else {
                    continue;
                };
                let v = if now <= CPD_WINDOW_MS {
                    det.push(&frame, Millis(now))
                } else {
                    Some(det.finish(Millis(now)))
                };
                let Some(v) = v else {
                    continue;
                };
                if answer_ends_call(&v) {
                    let o = v.outcome();
                    policy_outcome = Some(o.to_policy());
                    let _ = commands.send(AgentCommand::Hangup {
                        outcome: format!("cpd_{}", plain(&o)),
                        after_playout: false,
                    });
                } else {
                    reached_at_ms = Some(now);
                    report(Reached::Person);
                }
                verdict = Some(v);
                detector = None;
            }
            let cpd_outcome = verdict.as_ref().map(|v| {
                if answer_ends_call(v) {
                    v.outcome()
                } else {
                    crate::cpd::CpdOutcome::Live
                }
            });
            AgentReport {
                detail: serde_json::json!({
                    "mode": "agent_first",
                    "cpd": verdict,
                    "cpd_outcome": cpd_outcome,
                    "reached_at_ms": reached_at_ms,
                    "audio_s": now as f64 / 1000.0,
                }),
                policy_outcome,
            }
        })
    }
}

/// The queue's agents free for a new call of this campaign now, and those logged in:
/// what the queue counts free, less the calls the driver has connected that the queue
/// has not seen arrive yet (their bridge's INVITE is on its way, and the agent it will
/// ring still looks free). `connected` are the attempt ids of those calls.
pub fn takers(queue: &QueueHandle, connected: &[i64]) -> (u32, u32) {
    let free = queue.counters().map_or(0, |c| c.available);
    let total = queue
        .agents()
        .iter()
        .filter(|a| a.state != AgentState::Offline)
        .count();
    let seen: HashSet<i64> = queue
        .customers()
        .iter()
        .filter_map(|c| {
            c.context
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("Attempt"))
                .and_then(|(_, v)| v.parse().ok())
        })
        .collect();
    let on_the_way = connected.iter().filter(|a| !seen.contains(a)).count();
    let free = free.saturating_sub(on_the_way);
    (
        u32::try_from(free).unwrap_or(u32::MAX),
        u32::try_from(total).unwrap_or(u32::MAX),
    )
}
