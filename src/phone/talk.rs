//! The synthetic phones on an answered call, behind the same `CallAgent` seam the bot
//! uses: a customer (a [`Customer`] core fed with the frames it hears, its lines played
//! from prepared clips) and a human agent's phone (says a line, hangs up after a while,
//! notes how much voice reached it). Each runs on its own thread and ends when the
//! call's audio does.

use super::customer::{Action, Customer, CustomerConfig, CustomerLog, VOICE_DB};
use crate::sip::agent::{AgentCommand, AgentMedia, AgentReport, CallAgent};
use crate::speech::turn::frame_energy_db;
use crate::time::{Millis, MonotonicClock};
use serde::Serialize;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// A line said, for the call's log.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct SaidLine {
    /// What was said.
    pub text: String,
    /// When it started (ms since the Unix epoch).
    pub at_ms: u64,
    /// When its last voiced 20 ms frame was due to leave (the line's start plus the offset of
    /// the clip's last frame at or above the customer's voice level), so the demo can measure
    /// turn latency at the wire without the clip's trailing silence. `None` only in logs
    /// written before this field existed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub voice_end_ms: Option<u64>,
}

/// A stretch of the other side's voice, for the call's log.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Heard {
    /// Start (ms since the Unix epoch).
    pub start_ms: u64,
    /// End.
    pub end_ms: u64,
}

/// What one leg of a synthetic customer's call did, as its JSON log shows it.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct LegLog {
    /// When the leg was answered.
    pub answered_ms: Option<u64>,
    /// When its audio ended.
    pub ended_ms: Option<u64>,
    /// Lines said, in order.
    pub said: Vec<SaidLine>,
    /// The other side's speech segments.
    pub heard: Vec<Heard>,
    /// Who ended it: "customer", "remote".
    pub hung_up_by: Option<&'static str>,
}

impl LegLog {
    fn fill(&mut self, log: &CustomerLog, texts: &[String], voice_ms: &[u64]) {
        self.said = log
            .said
            .iter()
            .map(|(i, at)| SaidLine {
                text: texts.get(*i).cloned().unwrap_or_default(),
                at_ms: at.0,
                voice_end_ms: voice_ms.get(*i).map(|v| at.0 + v),
            })
            .collect();
        self.heard = log
            .heard
            .iter()
            .map(|(s, e)| Heard {
                start_ms: s.0,
                end_ms: e.0,
            })
            .collect();
    }
}

/// A shared, fillable log: the agent's thread writes it, the driver reads it once the
/// call is over (whatever the SIP layer's report says).
pub type SharedLog = Arc<Mutex<LegLog>>;

/// A customer on an answered call: plays an optional intro (a voicemail greeting and its
/// beep, an announcement), then takes turns with the lines.
pub struct CustomerAgent {
    /// Turn-taking settings; `line_ms` is filled from `lines`.
    pub config: CustomerConfig,
    /// The lines' texts (for the log) and audio (8 kHz), in order.
    pub lines: Vec<(String, Arc<Vec<i16>>)>,
    /// Played at the answer, before any turn (voicemail greeting + beep, announcement).
    pub intro: Option<Arc<Vec<i16>>>,
    /// Hang up once the intro has played (an announcement); else keep listening (a
    /// voicemail records the message).
    pub hangup_after_intro: bool,
    /// The driver's clock.
    pub clock: MonotonicClock,
    /// Where the leg's log goes.
    pub log: SharedLog,
    /// Told when the call is answered (a referred leg reports 200 to the transferor then).
    pub on_answer: Option<tokio::sync::oneshot::Sender<()>>,
}

fn lock(log: &SharedLog) -> std::sync::MutexGuard<'_, LegLog> {
    // A panic on the agent's thread leaves a log half written, never inconsistent.
    log.lock().unwrap_or_else(|e| e.into_inner())
}

/// Pause after an announcement before hanging up, as a carrier's switch does.
const AFTER_INTRO_MS: u64 = 500;

impl CallAgent for CustomerAgent {
    fn start(
        self: Box<Self>,
        media: AgentMedia,
        commands: mpsc::UnboundedSender<AgentCommand>,
    ) -> std::thread::JoinHandle<AgentReport> {
        std::thread::spawn(move || self.run(media, commands))
    }
}

impl CustomerAgent {
    fn run(
        mut self,
        mut media: AgentMedia,
        commands: mpsc::UnboundedSender<AgentCommand>,
    ) -> AgentReport {
        let answered = self.clock.now();
        lock(&self.log).answered_ms = Some(answered.0);
        if let Some(tx) = self.on_answer.take() {
            // Nobody waiting is fine: the leg was not a referred one after all.
            let _ = tx.send(());
        }
        let mut cfg = self.config.clone();
        cfg.line_ms = self.lines.iter().map(|(_, a)| a.len() as u64 / 8).collect();
        let mut intro_end = answered;
        if let Some(intro) = &self.intro {
            media.playout.push_8k(intro);
            intro_end = answered.plus_ms(intro.len() as u64 / 8);
        }
        // Turn-taking starts after the intro: what the bot says over a greeting is not a
        // turn to answer.
        let mut customer = Customer::new(cfg, intro_end);
        let texts: Vec<String> = self.lines.iter().map(|(t, _)| t.clone()).collect();
        let mut hung_up = false;
        while let Some(frame) = media.inbound.blocking_recv() {
            let now = self.clock.now();
            if hung_up {
                continue;
            }
            if self.hangup_after_intro && now >= intro_end.plus_ms(AFTER_INTRO_MS) {
                hang_up(&commands);
                hung_up = true;
                lock(&self.log).hung_up_by = Some("customer");
                continue;
            }
            if now < intro_end {
                continue;
            }
            customer.frame(now, &frame);
            while let Some(a) = customer.poll_action() {
                match a {
                    Action::Say(i) => {
                        if let Some((_, clip)) = self.lines.get(i) {
                            media.playout.push_8k(clip);
                        }
                    }
                    Action::StopTalking => media.playout.flush(),
                    Action::HangUp => {
                        hang_up(&commands);
                        hung_up = true;
                        lock(&self.log).hung_up_by = Some("customer");
                    }
                }
            }
        }
        let end = self.clock.now();
        customer.remote_hung_up(end);
        let mut log = lock(&self.log);
        log.ended_ms = Some(end.0);
        log.hung_up_by.get_or_insert("remote");
        let voice_ms: Vec<u64> = self.lines.iter().map(|(_, a)| voiced_ms(a)).collect();
        log.fill(&customer.log(), &texts, &voice_ms);
        AgentReport {
            detail: serde_json::to_value(&*log).unwrap_or_default(),
            policy_outcome: None,
        }
    }
}

/// Milliseconds from a clip's start (8 kHz) to the end of its last voiced 20 ms frame: a
/// synthesized line ends with silence that is no part of the customer's turn.
pub fn voiced_ms(clip: &[i16]) -> u64 {
    let last = clip
        .chunks(160)
        .enumerate()
        .filter(|(_, f)| frame_energy_db(f) >= VOICE_DB)
        .map(|(i, f)| i * 160 + f.len())
        .next_back();
    last.map_or(0, |n| n as u64 / 8)
}

fn hang_up(commands: &mpsc::UnboundedSender<AgentCommand>) {
    // The call may already be over; then there is nobody to tell.
    let _ = commands.send(AgentCommand::Hangup {
        outcome: "customer_hangup".into(),
        after_playout: false,
    });
}

/// What a human agent's phone noticed on a call, for its JSON log.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct AgentLegLog {
    /// When it answered.
    pub answered_ms: Option<u64>,
    /// When the call's audio ended.
    pub ended_ms: Option<u64>,
    /// The line it said and when.
    pub said: Option<SaidLine>,
    /// Milliseconds of voice that reached it (the customer's side).
    pub voice_heard_ms: u64,
    /// The customer's speech segments.
    pub heard: Vec<Heard>,
    /// Who ended the call.
    pub hung_up_by: Option<&'static str>,
}

/// A human agent's phone on an answered call: says its line once the caller has been
/// quiet a moment (or at once), hangs up after `hangup_after_ms` if set.
pub struct AgentPhoneAgent {
    /// The line's text and audio (8 kHz).
    pub line: Option<(String, Arc<Vec<i16>>)>,
    /// Say the line this long after the answer.
    pub say_after_ms: u64,
    /// Hang up this long after the answer (None: wait for the other side).
    pub hangup_after_ms: Option<u64>,
    /// The driver's clock.
    pub clock: MonotonicClock,
    /// Where the log goes.
    pub log: Arc<Mutex<AgentLegLog>>,
}

impl CallAgent for AgentPhoneAgent {
    fn start(
        self: Box<Self>,
        media: AgentMedia,
        commands: mpsc::UnboundedSender<AgentCommand>,
    ) -> std::thread::JoinHandle<AgentReport> {
        std::thread::spawn(move || self.run(media, commands))
    }
}

impl AgentPhoneAgent {
    fn run(
        self,
        mut media: AgentMedia,
        commands: mpsc::UnboundedSender<AgentCommand>,
    ) -> AgentReport {
        let answered = self.clock.now();
        let mut said: Option<SaidLine> = None;
        let mut voice_ms = 0u64;
        let mut heard: Vec<(Millis, Millis)> = Vec::new();
        let mut hung_up_by = None;
        while let Some(frame) = media.inbound.blocking_recv() {
            let now = self.clock.now();
            if frame_energy_db(&frame) >= VOICE_DB {
                voice_ms += frame.len() as u64 / 16;
                match heard.last_mut() {
                    Some((_, e)) if now.ms_since(*e) <= 320 => *e = now,
                    _ => heard.push((now.minus_ms(20), now)),
                }
            }
            if said.is_none() && now.ms_since(answered) >= self.say_after_ms {
                if let Some((text, clip)) = &self.line {
                    media.playout.push_8k(clip);
                    said = Some(SaidLine {
                        text: text.clone(),
                        at_ms: now.0,
                        voice_end_ms: Some(now.0 + voiced_ms(clip)),
                    });
                }
            }
            if hung_up_by.is_none()
                && self
                    .hangup_after_ms
                    .is_some_and(|h| now.ms_since(answered) >= h)
            {
                hang_up(&commands);
                hung_up_by = Some("agent");
            }
        }
        let log = AgentLegLog {
            answered_ms: Some(answered.0),
            ended_ms: Some(self.clock.now().0),
            said,
            voice_heard_ms: voice_ms,
            heard: heard
                .into_iter()
                .map(|(s, e)| Heard {
                    start_ms: s.0,
                    end_ms: e.0,
                })
                .collect(),
            hung_up_by: hung_up_by.or(Some("remote")),
        };
        let detail = serde_json::to_value(&log).unwrap_or_default();
        // As above: a poisoned lock still holds a whole log.
        *self.log.lock().unwrap_or_else(|e| e.into_inner()) = log;
        AgentReport {
            detail,
            policy_outcome: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lines_voice_ends_before_its_trailing_silence() {
        let mut clip = vec![0i16; 800]; // 100 ms lead-in
        clip.extend(std::iter::repeat_n(4000i16, 1600)); // 200 ms of voice
        clip.extend(vec![30i16; 2400]); // 300 ms of near-silence padding
        assert_eq!(voiced_ms(&clip), 300);
        assert_eq!(voiced_ms(&[0; 80]), 0);
    }
}
