//! Abnormal-conversation detection: when a call must leave the bot for a human.
//!
//! Kept apart from the engine so the rules are one readable table of counters and
//! thresholds, and testable without a flow. The engine feeds it every turn and decides
//! whether a node's own handler takes precedence over its verdict.

use crate::scenario::model::HandoffSpec;
use serde::Serialize;

/// Why a conversation is handed to a human. The string form is the reason code that
/// travels with the transfer and lands in reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HandoffReason {
    /// The customer asked for a person.
    RequestHuman,
    /// Insults or threats beyond the tolerance.
    Abuse,
    /// A complaint or a threat to go to the regulator.
    Complaint,
    /// Not understood too many times in a row.
    RepeatedNoMatch,
    /// Silent too many times in a row.
    LongSilence,
    /// The customer keeps questioning who we are, or denies being the verified person.
    IdentityDispute,
    /// The conversation went round the same node too often.
    Loop,
}

impl HandoffReason {
    /// The reason code.
    pub fn code(self) -> &'static str {
        match self {
            HandoffReason::RequestHuman => "request_human",
            HandoffReason::Abuse => "abuse",
            HandoffReason::Complaint => "complaint",
            HandoffReason::RepeatedNoMatch => "repeated_no_match",
            HandoffReason::LongSilence => "long_silence",
            HandoffReason::IdentityDispute => "identity_dispute",
            HandoffReason::Loop => "loop",
        }
    }
}

/// What the detector thinks of the latest turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing abnormal.
    Continue,
    /// Abuse within tolerance: answer calmly and carry on.
    CalmDown,
    /// Hand the call to a human for this reason.
    Handoff(HandoffReason),
}

/// Counters over the whole call (they span nodes and sub-dialogs).
#[derive(Debug, Clone)]
pub struct AbnormalDetector {
    cfg: HandoffSpec,
    no_match: u32,
    no_input: u32,
    abuse: u32,
    identity_questions: u32,
}

impl AbnormalDetector {
    /// A detector with the flow's thresholds.
    pub fn new(cfg: HandoffSpec) -> Self {
        AbnormalDetector {
            cfg,
            no_match: 0,
            no_input: 0,
            abuse: 0,
            identity_questions: 0,
        }
    }

    /// Observe an utterance with its recognised intent (`None`: not understood).
    /// `identity_verified` tells whether the customer already confirmed who they are.
    pub fn on_utterance(&mut self, intent: Option<&str>, identity_verified: bool) -> Verdict {
        self.no_input = 0;
        let Some(intent) = intent else {
            self.no_match += 1;
            return if self.no_match >= self.cfg.max_no_match {
                Verdict::Handoff(HandoffReason::RepeatedNoMatch)
            } else {
                Verdict::Continue
            };
        };
        // The streak is reset by the engine once the turn is routed (`note_understood`):
        // a recognised intent that the question has no route for is still not understood.
        match intent {
            "request_human" => Verdict::Handoff(HandoffReason::RequestHuman),
            "complaint" => Verdict::Handoff(HandoffReason::Complaint),
            "abusive" => {
                self.abuse += 1;
                if self.abuse > self.cfg.abuse_tolerance {
                    Verdict::Handoff(HandoffReason::Abuse)
                } else {
                    Verdict::CalmDown
                }
            }
            "ask_identity" => {
                self.identity_questions += 1;
                if self.identity_questions >= self.cfg.max_identity_questions {
                    Verdict::Handoff(HandoffReason::IdentityDispute)
                } else {
                    Verdict::Continue
                }
            }
            "wrong_person" if identity_verified => Verdict::Handoff(HandoffReason::IdentityDispute),
            _ => Verdict::Continue,
        }
    }

    /// The turn was understood after all (its slot answered the question): a
    /// not-understood intent must not count towards the streak.
    pub fn note_understood(&mut self) {
        self.no_match = 0;
    }

    /// The turn had an intent but nothing at this point handles it: it extends the
    /// not-understood streak like an unrecognised one.
    pub fn note_unrouted(&mut self) -> Verdict {
        self.no_match += 1;
        if self.no_match >= self.cfg.max_no_match {
            Verdict::Handoff(HandoffReason::RepeatedNoMatch)
        } else {
            Verdict::Continue
        }
    }

    /// Observe a silence (no-input timer fired).
    pub fn on_no_input(&mut self) -> Verdict {
        self.no_input += 1;
        if self.no_input >= self.cfg.max_no_input {
            Verdict::Handoff(HandoffReason::LongSilence)
        } else {
            Verdict::Continue
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streaks_reset_on_understanding_and_thresholds_fire() {
        let mut d = AbnormalDetector::new(HandoffSpec {
            max_no_match: 2,
            max_no_input: 2,
            abuse_tolerance: 1,
            ..HandoffSpec::default()
        });
        assert_eq!(d.on_utterance(None, false), Verdict::Continue);
        // A routed intent resets the streak...
        assert_eq!(d.on_utterance(Some("affirm"), false), Verdict::Continue);
        d.note_understood();
        assert_eq!(d.on_utterance(None, false), Verdict::Continue);
        assert_eq!(
            d.on_utterance(None, false),
            Verdict::Handoff(HandoffReason::RepeatedNoMatch)
        );
        // ...an intent nothing handles extends it.
        d.note_understood();
        assert_eq!(d.on_utterance(None, false), Verdict::Continue);
        assert_eq!(d.on_utterance(Some("ask_amount"), false), Verdict::Continue);
        assert_eq!(
            d.note_unrouted(),
            Verdict::Handoff(HandoffReason::RepeatedNoMatch)
        );
        assert_eq!(d.on_no_input(), Verdict::Continue);
        assert_eq!(
            d.on_no_input(),
            Verdict::Handoff(HandoffReason::LongSilence)
        );
        assert_eq!(d.on_utterance(Some("abusive"), false), Verdict::CalmDown);
        assert_eq!(
            d.on_utterance(Some("abusive"), false),
            Verdict::Handoff(HandoffReason::Abuse)
        );
        assert_eq!(
            d.on_utterance(Some("wrong_person"), true),
            Verdict::Handoff(HandoffReason::IdentityDispute)
        );
        assert_eq!(
            d.on_utterance(Some("wrong_person"), false),
            Verdict::Continue
        );
        assert_eq!(
            d.on_utterance(Some("request_human"), false),
            Verdict::Handoff(HandoffReason::RequestHuman)
        );
    }
}
