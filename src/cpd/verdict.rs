//! What the detector says: the classes of what answered, the rule that decided, the
//! measurements behind it, and the dialer's coarser outcome. Shared by every part of `cpd`
//! (and by the bot, the dialer and reports), so it depends on nothing else in `cpd`.

use crate::time::Millis;
use serde::{Deserialize, Serialize};

/// Whether the far end has answered: the same speech means an announcement before answer
/// (carriers play them as early media) and a person or a voicemail after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// 183 Session Progress audio, before the 200 OK.
    EarlyMedia,
    /// After the 200 OK.
    Answered,
}

/// What a carrier announcement says, because each kind has its own retry rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnnouncementKind {
    /// 空号 / "not in service" / "has been disconnected" / SIT intercept or vacant code.
    NotInService,
    /// 已关机 / "powered off".
    PoweredOff,
    /// 无法接通 / 不在服务区 / "cannot be reached" / SIT no-circuit or reorder.
    Unreachable,
    /// 正在通话中 / "is busy".
    Busy,
    /// 已停机 / "temporarily suspended": the line exists but its service is cut.
    Suspended,
    /// 已改号 / "has been changed".
    NumberChanged,
    /// An announcement whose words we do not have (SIT without a code, early-media speech).
    Unknown,
}

/// Which call-progress tone was heard, because busy and ringback mean different things.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToneKind {
    /// China 450 Hz 1 s/4 s, US 440+480 Hz 2 s/4 s: still ringing.
    Ringback,
    /// China 450 Hz 0.35/0.35 s, US 480+620 Hz 0.5/0.5 s.
    Busy,
    /// Fast busy / congestion: US 480+620 Hz 0.25/0.25 s, China 450 Hz 0.7/0.7 s.
    Reorder,
    /// Continuous dial tone (350+440 Hz, or 400–500 Hz for 3 s): the call never left the switch.
    Dial,
    /// Bell 103 answer tone (2225 Hz): a data modem.
    Modem,
    /// A long steady tone we cannot name.
    Other,
}

/// What answered (or what plays before answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "class", content = "kind", rename_all = "snake_case")]
pub enum Class {
    /// A person's short greeting followed by a pause for us.
    Human,
    /// An answering machine or voicemail greeting.
    Machine,
    /// A carrier / network announcement.
    Announcement(AnnouncementKind),
    /// A fax machine (CED or CNG).
    Fax,
    /// A call-progress tone heard as audio.
    Tone(ToneKind),
    /// Dead air.
    Silence,
    /// Not enough evidence (only ever returned by `finish` when the line carried unclassifiable
    /// sound).
    Undecided,
}

/// The rule that decided, so a wrong call can be traced to the threshold behind it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// No speech or tone for `max_initial_silence_ms`.
    InitialSilence,
    /// Speech ran past `max_greeting_ms`.
    LongGreeting,
    /// `max_words` words.
    MaxWords,
    /// A short greeting then `after_greeting_silence_ms` of silence.
    AfterGreetingSilence,
    /// Speech that began only after our own first prompt (a bot's greeting of at least
    /// [`REPLY_MIN_PROMPT_MS`](super::machine::REPLY_MIN_PROMPT_MS)) had ended, the line
    /// silent while it played: a person answering the bot. A recording does not wait for
    /// us, so the greeting-length rules, made for a line where the caller says nothing,
    /// do not apply to it.
    RepliedToPrompt,
    /// Speech in early media.
    EarlyMediaSpeech,
    /// A steady tone of beep length.
    Beep,
    /// A special information tone sequence.
    Sit,
    /// 2100 Hz answer tone.
    Ced,
    /// 1100 Hz calling tone.
    Cng,
    /// On/off cadence of a call-progress tone.
    ToneCadence,
    /// A long steady tone.
    ContinuousTone,
    /// A strong phrase in the transcript.
    Keyword,
    /// A weak phrase that nothing stronger contradicted in time.
    WeakKeyword,
    /// A person's question ("who's calling?", 哪位) in a short transcript.
    HumanQuestion,
    /// `finish` decided from whatever evidence there was.
    Deadline,
}

/// Telcordia SIT codes (tone 1 and 2 frequency high/low and duration short/long), which tell a
/// dead number from a congested network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SitCode {
    /// IC: vacant number, number change, non-working station.
    Intercept,
    /// VC: vacant code.
    VacantCode,
    /// NC: no circuit / trunk blockage; retry later.
    NoCircuit,
    /// RO: reorder (equipment irregularity); retry later.
    Reorder,
    /// ITU 950/1400/1800 Hz, or a Telcordia pattern without an assignment: no code.
    Uncoded,
}

/// The measurements behind a verdict, for logs, dashboards and threshold tuning.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// Silence before the first word, if there was a word (ms from start or answer).
    pub initial_silence_ms: Option<u64>,
    /// First word start to last word end so far (ms).
    pub greeting_ms: u64,
    /// Voiced runs counted as words.
    pub words: u32,
    /// Total voiced time (ms).
    pub speech_ms: u64,
    /// Silence since the last word (ms).
    pub trailing_silence_ms: u64,
    /// Frequency of the deciding tone (Hz).
    pub tone_hz: Option<f32>,
    /// On time of the deciding tone (ms).
    pub tone_on_ms: Option<u64>,
    /// Off time of the deciding cadence (ms).
    pub tone_off_ms: Option<u64>,
    /// The SIT code when a SIT decided.
    pub sit: Option<SitCode>,
    /// The phrase that decided, as listed in the keyword tables.
    pub keyword: Option<String>,
}

/// A decision with its reasons and its time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// What answered.
    pub class: Class,
    /// Which rule decided.
    pub rule: Rule,
    /// The caller's clock at the input that produced it (serialised under its old name, so
    /// reports and dashboards keep reading `decided_at_ms`).
    #[serde(rename = "decided_at_ms")]
    pub decided_at: Millis,
    /// Audio analysed when it was decided, from the first sample pushed (ms).
    pub audio_ms: u64,
    /// Stage at the decision.
    pub stage: Stage,
    /// 0 for the first verdict, then 1, 2… for each revision.
    pub revision: u8,
    /// The measurements.
    pub evidence: Evidence,
}

/// What the dialer does with a call, one step coarser than [`Class`]: this is what the retry
/// policy keys on (the suggested `policy::CallOutcome` is in each variant's doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CpdOutcome {
    /// A person: hand to the bot now (`Connected`).
    Live,
    /// Answering machine / voicemail (`Voicemail`).
    Voicemail,
    /// The number is dead: vacant, changed or suspended (`InvalidNumber`).
    BadNumber,
    /// Handset off: retry in hours (`NoAnswer`, or a dedicated rule).
    PoweredOff,
    /// Out of coverage, network congestion, unnamed announcement: retry later (`Failed`).
    Unreachable,
    /// In another call (`Busy`).
    Busy,
    /// Fax or data modem: stop dialling this number as voice (`InvalidNumber`).
    Fax,
    /// Rang out or dead air (`NoAnswer`).
    NoAnswer,
}

impl Class {
    /// The dialer's view. `Undecided` counts as live on purpose: hanging up on a person costs an
    /// abandoned call (and, under TCPA/Ofcom rules, a compliance breach), a bot greeting a
    /// machine costs seconds.
    pub fn outcome(self) -> CpdOutcome {
        match self {
            Class::Human | Class::Undecided => CpdOutcome::Live,
            Class::Machine => CpdOutcome::Voicemail,
            Class::Announcement(k) => match k {
                AnnouncementKind::NotInService
                | AnnouncementKind::NumberChanged
                | AnnouncementKind::Suspended => CpdOutcome::BadNumber,
                AnnouncementKind::PoweredOff => CpdOutcome::PoweredOff,
                AnnouncementKind::Busy => CpdOutcome::Busy,
                AnnouncementKind::Unreachable | AnnouncementKind::Unknown => {
                    CpdOutcome::Unreachable
                }
            },
            Class::Fax | Class::Tone(ToneKind::Modem) => CpdOutcome::Fax,
            Class::Tone(ToneKind::Busy) => CpdOutcome::Busy,
            Class::Tone(ToneKind::Reorder | ToneKind::Dial | ToneKind::Other) => {
                CpdOutcome::Unreachable
            }
            Class::Tone(ToneKind::Ringback) | Class::Silence => CpdOutcome::NoAnswer,
        }
    }
}

impl CpdOutcome {
    /// The outcome the contact policy counts and retries by (each variant's doc names it):
    /// a voicemail is not a conversation, a dead number or a fax is never dialled again as
    /// voice, a handset that is off is retried like no answer.
    pub fn to_policy(self) -> crate::policy::CallOutcome {
        use crate::policy::CallOutcome as C;
        match self {
            CpdOutcome::Live => C::Connected,
            CpdOutcome::Voicemail => C::Voicemail,
            CpdOutcome::BadNumber | CpdOutcome::Fax => C::InvalidNumber,
            CpdOutcome::PoweredOff | CpdOutcome::NoAnswer => C::NoAnswer,
            CpdOutcome::Unreachable => C::Failed,
            CpdOutcome::Busy => C::Busy,
        }
    }
}

impl Verdict {
    /// Shortcut for `self.class.outcome()`.
    pub fn outcome(&self) -> CpdOutcome {
        self.class.outcome()
    }
}

/// A decision proposed by one of the rules (tones, speech timing, phrases), before the
/// detector decides whether it may stand or revise the current verdict.
pub(super) struct Hit {
    pub(super) class: Class,
    pub(super) rule: Rule,
    /// Frequency, on time and off time of the deciding tone.
    pub(super) tone: Option<(f32, u64, Option<u64>)>,
    pub(super) sit: Option<SitCode>,
    pub(super) keyword: Option<&'static str>,
}

impl Hit {
    pub(super) fn new(class: Class, rule: Rule) -> Self {
        Hit {
            class,
            rule,
            tone: None,
            sit: None,
            keyword: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_reach_the_retry_policy_by_their_own_rules() {
        use crate::policy::{CallOutcome, Next, Policy};
        let p = Policy::load("cn-collection").expect("preset");
        let now = crate::time::Millis::from_unix_secs(1_800_000_000);
        // A voicemail is retried later; a dead number or a fax is never dialled again;
        // a live answer is a conversation.
        assert!(matches!(
            p.next_after(CpdOutcome::Voicemail.to_policy(), 1, now),
            Next::RetryAt(t) if t > now
        ));
        for o in [CpdOutcome::BadNumber, CpdOutcome::Fax] {
            assert_eq!(o.to_policy(), CallOutcome::InvalidNumber);
            assert_eq!(
                p.next_after(o.to_policy(), 1, now),
                Next::Exhausted,
                "{o:?}"
            );
        }
        assert_eq!(
            p.next_after(CpdOutcome::Live.to_policy(), 1, now),
            Next::Done
        );
        assert_eq!(CpdOutcome::PoweredOff.to_policy(), CallOutcome::NoAnswer);
        assert_eq!(CpdOutcome::Busy.to_policy(), CallOutcome::Busy);
    }

    #[test]
    fn outcomes_for_the_dialer() {
        use AnnouncementKind as K;
        let cases = [
            (Class::Human, CpdOutcome::Live),
            (Class::Undecided, CpdOutcome::Live),
            (Class::Machine, CpdOutcome::Voicemail),
            (Class::Announcement(K::NotInService), CpdOutcome::BadNumber),
            (Class::Announcement(K::NumberChanged), CpdOutcome::BadNumber),
            (Class::Announcement(K::Suspended), CpdOutcome::BadNumber),
            (Class::Announcement(K::PoweredOff), CpdOutcome::PoweredOff),
            (Class::Announcement(K::Unreachable), CpdOutcome::Unreachable),
            (Class::Announcement(K::Busy), CpdOutcome::Busy),
            (Class::Announcement(K::Unknown), CpdOutcome::Unreachable),
            (Class::Fax, CpdOutcome::Fax),
            (Class::Tone(ToneKind::Modem), CpdOutcome::Fax),
            (Class::Tone(ToneKind::Busy), CpdOutcome::Busy),
            (Class::Tone(ToneKind::Reorder), CpdOutcome::Unreachable),
            (Class::Tone(ToneKind::Ringback), CpdOutcome::NoAnswer),
            (Class::Silence, CpdOutcome::NoAnswer),
        ];
        for (c, o) in cases {
            assert_eq!(c.outcome(), o, "{c:?}");
        }
    }
}
