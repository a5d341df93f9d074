//! Turn-taking for one call: who holds the floor, when the customer's utterance ends,
//! when the bot must stop talking, and when silence means "no input".
//!
//! Sans-IO like `dialogue::engine`: no clock, no sockets, no audio. The call loop feeds
//! [`Event`]s stamped with its own time (`time::Millis`) and carries out the [`Action`]s
//! it gets back, so every decision can be replayed from a log and tested with scripted
//! timelines.
//! Given the same config and the same `(now, event)` sequence it produces the same
//! actions, byte for byte (no hashing, no randomness, no wall clock).
//!
//! The rules, in one place:
//! - **Frames.** Every inbound 20 ms frame brings a VAD speech probability and its energy;
//!   it counts as *voiced* when the probability clears the threshold (a lower one while
//!   speech is already going on, so one weak frame does not split a word), the energy
//!   clears a floor (line hiss that fools the VAD), and the echo gate does not claim it.
//! - **Echo gate.** The caller also reports the energy of each frame we *played*. An
//!   inbound frame that is at least `echo_suppression_db` quieter than the loudest frame
//!   played within the echo delay window is what a hybrid echo looks like (the echo is
//!   our own audio, attenuated by the echo return loss), so it is not voiced. Customer
//!   speech over the bot is louder than that and passes. A second, text-level check
//!   drops utterances whose ASR text is mostly made of the prompt's own character pairs
//!   (Chinese) or word pairs (English).
//! - **Utterances.** Voiced frames first form a *candidate*; it becomes an utterance
//!   ([`Action::StartUtterance`]) after `min_speech_ms` of voiced audio, and is forgotten
//!   silently when a gap of `candidate_max_gap_ms` comes first (clicks, coughs, noise).
//!   An utterance ends ([`Action::EndOfUtterance`]) after its trailing silence (shorter
//!   when the partial text looks complete, longer when it ends on "and"/"然后") or when it
//!   reaches `max_utterance_ms`. With an end-of-turn model configured
//!   (`end_model_pause_ms`), a short pause first asks it ([`Action::PredictEnd`]); its
//!   verdict ([`Event::EndVerdict`]) ends the utterance at once when it says "finished"
//!   (unless the partial text trails off on a hesitation), and stretches the trailing
//!   silence to `end_model_incomplete_ms` when it says "not yet". A verdict about a pause
//!   the customer has since spoken after is stale and ignored; no verdict at all leaves
//!   the silence rules in charge. The caller then runs the final ASR and reports
//!   [`Event::AsrFinal`]; the controller answers with [`Action::UserTurn`] or
//!   [`Action::DropUtterance`].
//! - **Barge-in.** While an interruptible prompt plays, an utterance interrupts
//!   ([`Action::FlushPlayout`], in the same push that decides it) after
//!   `barge_in_min_speech_ms` of voiced audio, or at once when a partial shows real
//!   content. A partial made only of backchannel tokens ("嗯", "uh-huh") defers the
//!   interruption to `backchannel_max_ms`; a partial that echoes the prompt prevents it.
//!   A short utterance that ended without interrupting is judged by its final text: a
//!   backchannel is dropped, anything else ("不", "no") interrupts then and becomes a turn.
//!   "Over the bot" means the bot was still talking at the utterance's last voiced frame:
//!   a "嗯" that overlaps the end of a question and goes on past it answers the question.
//!   An utterance that did interrupt but turns out to be a backchannel or echo is dropped
//!   with `interrupted_playback: true` rather than answered as if it meant "yes".
//! - **Protected prompts** (`barge_in: false`, e.g. compliance disclosures) are never
//!   flushed. Speech over them is still captured; a non-backchannel turn is held back and
//!   released when playback finishes, so the dialogue answers after the disclosure ends.
//! - **No-input.** `Listen { timeout_ms }` arms a timer that runs only while both sides
//!   are quiet and nothing is pending: it starts when playback finishes (not when the
//!   prompt was queued), pauses while the customer speaks or an ASR result is awaited,
//!   and is consumed by a turn. A dropped utterance restarts the full timeout. Speech that
//!   began before the deadline (even if not yet confirmed) holds the timer until it is
//!   confirmed or forgotten.

use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use crate::time::Millis;

/// Energy reported for digital silence and unusable values, so comparisons stay finite.
pub const SILENCE_DB: f32 = -100.0;

/// Names one utterance from `StartUtterance` to its turn or drop, so ASR results that
/// arrive late can never be attributed to the wrong utterance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct UtteranceId(pub u32);

impl fmt::Display for UtteranceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "u{}", self.0)
    }
}

/// The locales whose backchannel and hesitation lists are built in. The crate keeps its
/// own enum so it has no dependency on voxdial; map `voxdial::Locale` onto it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TurnLocale {
    /// Mandarin Chinese (text compared by characters).
    #[serde(rename = "zh-CN")]
    ZhCn,
    /// US English (text compared by words).
    #[serde(rename = "en-US")]
    EnUs,
}

/// A locale tag the controller has no lists for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown locale `{0}` (supported: zh-CN, en-US)")]
pub struct UnknownLocale(pub String);

impl FromStr for TurnLocale {
    type Err = UnknownLocale;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "zh-cn" | "zh" | "cmn" => Ok(TurnLocale::ZhCn),
            "en-us" | "en" => Ok(TurnLocale::EnUs),
            _ => Err(UnknownLocale(s.to_string())),
        }
    }
}

impl TurnLocale {
    /// Listener cues that acknowledge without taking the floor. Repetitions and
    /// combinations ("嗯嗯，对对", "yeah okay") are matched by covering the text with
    /// these, so only single cues need listing. "OK" is in the Chinese list because
    /// Mandarin callers say it all the time.
    pub fn default_backchannels(self) -> Vec<String> {
        let list: &[&str] = match self {
            TurnLocale::ZhCn => &[
                "嗯",
                "嗯哼",
                "哼",
                "恩",
                "对",
                "对的",
                "是",
                "是的",
                "好",
                "好的",
                "行",
                "哦",
                "噢",
                "喔",
                "啊",
                "呃",
                "额",
                "诶",
                "欸",
                "明白",
                "了解",
                "知道",
                "知道了",
                "ok",
                "okay",
            ],
            TurnLocale::EnUs => &[
                "uh-huh",
                "uh huh",
                "mm-hmm",
                "mhm",
                "mmhmm",
                "hmm",
                "hm",
                "mm",
                "mmm",
                "uh",
                "um",
                "yeah",
                "yea",
                "yep",
                "yup",
                "okay",
                "ok",
                "right",
                "alright",
                "all right",
                "sure",
                "i see",
                "got it",
                "gotcha",
                "oh",
                "ah",
                "cool",
            ],
        };
        list.iter().map(|s| s.to_string()).collect()
    }

    /// Words a speaker trails off on when they mean to go on; a partial ending on one
    /// gets the longer trailing silence so the customer is not cut off mid-thought.
    pub fn default_hesitations(self) -> Vec<String> {
        let list: &[&str] = match self {
            TurnLocale::ZhCn => &[
                "然后", "就是", "那个", "这个", "因为", "但是", "所以", "还有", "而且", "我想",
                "我", "呃", "额", "的话",
            ],
            TurnLocale::EnUs => &[
                "and", "but", "so", "because", "or", "um", "uh", "the", "a", "an", "to", "of",
                "my", "i", "i'm", "if", "that", "like", "well", "with", "for",
            ],
        };
        list.iter().map(|s| s.to_string()).collect()
    }
}

/// Every threshold of the controller, with defaults tuned for 8 kHz telephony upsampled
/// to 16 kHz and Silero VAD. Loadable from YAML/JSON (`#[serde(default)]`, so a file
/// only lists what it changes).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TurnConfig {
    /// Which locale the built-in lists came from (informational: the lists below are
    /// what is used).
    pub locale: TurnLocale,
    /// Duration of one inbound frame (20 ms from `MediaHandle`).
    pub frame_ms: u32,
    /// VAD probability at which a frame starts counting as speech (Silero's usual 0.5).
    pub vad_on_threshold: f32,
    /// Lower probability that keeps an ongoing utterance voiced, so one weak frame in the
    /// middle of a word is not silence.
    pub vad_off_threshold: f32,
    /// Frames quieter than this (dBFS) are never speech, whatever the VAD says: line
    /// hiss and comfort noise fool VADs at low levels.
    pub min_speech_energy_db: f32,
    /// Voiced audio needed before a candidate becomes an utterance; shorter bursts are
    /// clicks and noise (120 ms keeps a clipped "是" while ignoring a tap on the phone).
    pub min_speech_ms: u32,
    /// A candidate that goes this long without a voiced frame is forgotten.
    pub candidate_max_gap_ms: u32,
    /// Trailing silence that ends an utterance.
    pub trailing_silence_ms: u32,
    /// Trailing silence when the latest partial looks complete (ends on 。？! or is a
    /// short answer like "好的"): the customer is done, answer sooner.
    pub complete_trailing_silence_ms: u32,
    /// Trailing silence when the latest partial ends on a hesitation ("然后", "and", a
    /// comma): the customer is mid-thought.
    pub unfinished_trailing_silence_ms: u32,
    /// Longest utterance; longer speech is cut so the dialogue is not starved.
    pub max_utterance_ms: u32,
    /// Trailing silence after which the end-of-turn model is asked whether the customer
    /// has finished ([`Action::PredictEnd`]); `None` endpoints on silence alone.
    pub end_model_pause_ms: Option<u32>,
    /// Probability of "finished" at or above which the model's verdict ends the utterance.
    pub end_model_threshold: f32,
    /// Trailing silence that ends an utterance the model called unfinished: the customer
    /// is mid-sentence, so wait as long as after a hesitation.
    pub end_model_incomplete_ms: u32,
    /// Voiced audio over an interruptible prompt before it is flushed without any text
    /// yet: long enough that a backchannel (~200-300 ms) does not interrupt.
    pub barge_in_min_speech_ms: u32,
    /// Voiced audio after which even a backchannel-only partial interrupts (someone
    /// repeating "okay okay okay" over the bot wants the floor).
    pub backchannel_max_ms: u32,
    /// Shortest delay between playing a frame and hearing its echo.
    pub echo_min_delay_ms: u32,
    /// Longest such delay; the echo gate compares each inbound frame with the loudest
    /// frame played within `[echo_min_delay_ms, echo_max_delay_ms]` before it. Narrow
    /// the window when a trunk's echo path is known: it gates less customer speech.
    pub echo_max_delay_ms: u32,
    /// How much quieter than that reference an inbound frame must be to count as echo
    /// (the echo return loss we rely on; G.168 networks give at least 6 dB, typical
    /// hybrids 10-20 dB). It is what the gate assumes until the line's own loss has been
    /// measured, and the least it ever assumes.
    pub echo_suppression_db: f32,
    /// Audio the bot must have played, with the customer quiet, before the line's
    /// measured echo loss replaces `echo_suppression_db`; 0 never measures it. Most VoIP
    /// trunks return little or no echo: a fixed 10 dB then claims every quieter syllable
    /// of a customer talking over the bot as echo, and barge-in comes a second late.
    pub echo_learn_ms: u32,
    /// Taken off the measured loss (the loud end of the echo heard: its 10th percentile)
    /// so the gate still sits below the echo's loudest frames.
    pub echo_learn_margin_db: f32,
    /// The most suppression the measured loss may give: quieter inbound frames are then
    /// echo only when they are also this far below the bot.
    pub echo_suppression_max_db: f32,
    /// Share of an utterance's n-grams found in the playing prompt's text above which
    /// the utterance is our own prompt coming back.
    pub echo_text_similarity: f32,
    /// How long to wait for `AsrFinal` after `EndOfUtterance` before dropping the
    /// utterance, so a lost ASR result cannot freeze the no-input timer.
    pub asr_final_timeout_ms: u32,
    /// Listener cues that must not interrupt or become a turn while the bot talks.
    pub backchannels: Vec<String>,
    /// Trailing words that select the longer endpoint.
    pub hesitations: Vec<String>,
}

impl TurnConfig {
    /// The defaults with the locale's built-in backchannel and hesitation lists.
    pub fn for_locale(locale: TurnLocale) -> TurnConfig {
        TurnConfig {
            locale,
            frame_ms: 20,
            vad_on_threshold: 0.5,
            vad_off_threshold: 0.35,
            min_speech_energy_db: -55.0,
            min_speech_ms: 120,
            candidate_max_gap_ms: 200,
            // Measured on the bench's customer turns (`cargo bench --bench speech`): a
            // shorter silence after a finished-looking partial (300 or 400 ms) cut sentences
            // such as "I will pay three hundred dollars ... on Friday" in two, because the
            // recognizers punctuate every pause as a sentence end; so only a hesitation
            // changes the default (it waits longer). Lower `complete_trailing_silence_ms`
            // for a faster, riskier bot.
            trailing_silence_ms: 500,
            complete_trailing_silence_ms: 500,
            unfinished_trailing_silence_ms: 1000,
            max_utterance_ms: 15_000,
            end_model_pause_ms: None,
            end_model_threshold: 0.5,
            end_model_incomplete_ms: 1000,
            barge_in_min_speech_ms: 320,
            backchannel_max_ms: 1200,
            echo_min_delay_ms: 0,
            echo_max_delay_ms: 300,
            echo_suppression_db: 10.0,
            echo_learn_ms: 1000,
            echo_learn_margin_db: 6.0,
            echo_suppression_max_db: 30.0,
            echo_text_similarity: 0.6,
            asr_final_timeout_ms: 3000,
            backchannels: locale.default_backchannels(),
            hesitations: locale.default_hesitations(),
        }
    }

    /// Refuse settings that would make the controller meaningless (zero-length frames,
    /// inverted thresholds) before a call starts, rather than misbehave during it.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |field: &'static str, why: &'static str| Err(ConfigError { field, why });
        if self.frame_ms == 0 {
            return bad("frame_ms", "must be positive");
        }
        if !(0.0..=1.0).contains(&self.vad_on_threshold) {
            return bad("vad_on_threshold", "must be within 0..=1");
        }
        if !(0.0..=1.0).contains(&self.vad_off_threshold)
            || self.vad_off_threshold > self.vad_on_threshold
        {
            return bad("vad_off_threshold", "must be within 0..=vad_on_threshold");
        }
        if !self.min_speech_energy_db.is_finite() {
            return bad("min_speech_energy_db", "must be a number");
        }
        if self.trailing_silence_ms == 0
            || self.complete_trailing_silence_ms == 0
            || self.unfinished_trailing_silence_ms == 0
        {
            return bad("trailing_silence_ms", "trailing silences must be positive");
        }
        if self.end_model_pause_ms == Some(0) {
            return bad("end_model_pause_ms", "must be positive");
        }
        if !(0.0..=1.0).contains(&self.end_model_threshold) {
            return bad("end_model_threshold", "must be within 0..=1");
        }
        if self
            .end_model_pause_ms
            .is_some_and(|p| self.end_model_incomplete_ms < p)
        {
            return bad(
                "end_model_incomplete_ms",
                "must be at least end_model_pause_ms",
            );
        }
        if self.max_utterance_ms < self.min_speech_ms {
            return bad("max_utterance_ms", "must be at least min_speech_ms");
        }
        if self.echo_min_delay_ms > self.echo_max_delay_ms {
            return bad("echo_min_delay_ms", "must not exceed echo_max_delay_ms");
        }
        if self.echo_max_delay_ms > 2000 {
            return bad("echo_max_delay_ms", "must be at most 2000 ms");
        }
        if !self.echo_suppression_db.is_finite() || self.echo_suppression_db < 0.0 {
            return bad("echo_suppression_db", "must be a non-negative number");
        }
        if !self.echo_learn_margin_db.is_finite() || self.echo_learn_margin_db < 0.0 {
            return bad("echo_learn_margin_db", "must be a non-negative number");
        }
        if !self.echo_suppression_max_db.is_finite()
            || self.echo_suppression_max_db < self.echo_suppression_db
        {
            return bad(
                "echo_suppression_max_db",
                "must be a number of at least echo_suppression_db",
            );
        }
        if !(0.0..=1.0).contains(&self.echo_text_similarity) {
            return bad("echo_text_similarity", "must be within 0..=1");
        }
        Ok(())
    }
}

impl Default for TurnConfig {
    /// zh-CN, the primary market.
    fn default() -> Self {
        TurnConfig::for_locale(TurnLocale::ZhCn)
    }
}

/// A [`TurnConfig`] setting that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("turn config `{field}`: {why}")]
pub struct ConfigError {
    /// The setting.
    pub field: &'static str,
    /// What is wrong with it.
    pub why: &'static str,
}

/// Something the call loop observed, stamped by the `now` passed with it. Times are
/// the caller's (milliseconds since the call started, say); they only need to be
/// monotonic, and a step backwards is treated as no time passing.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// One inbound frame (customer side) has been received; `now` is the time of its
    /// *last* sample.
    InboundFrame {
        /// VAD speech probability, 0..=1 (a boolean VAD passes 0.0 or 1.0).
        speech_prob: f32,
        /// Frame energy in dBFS ([`frame_energy_db`]).
        energy_db: f32,
    },
    /// One frame of bot audio went onto the wire; `now` is the time of its last
    /// sample. Silence need not be reported.
    OutboundFrame {
        /// Frame energy in dBFS.
        energy_db: f32,
    },
    /// A prompt's audio started playing. While playback is on, later prompts join it: it
    /// is interruptible only if all of them are, and its text is all of theirs.
    PlaybackStarted {
        /// Prompt id, for logs and `FlushPlayout`.
        prompt_id: String,
        /// Whether the customer may interrupt this prompt.
        barge_in: bool,
        /// What the prompt says, for the echo text check.
        text: String,
    },
    /// The playout queue drained (`queued_ms() == 0`): the bot stopped talking.
    PlaybackFinished,
    /// The dialogue waits for the customer; report `NoInput` after this much quiet.
    Listen {
        /// Quiet time before `NoInput`.
        timeout_ms: u32,
    },
    /// Streaming ASR's text so far for a live utterance.
    AsrPartial {
        /// The utterance it belongs to.
        utterance: UtteranceId,
        /// Text so far.
        text: String,
    },
    /// The end-of-turn model's answer to [`Action::PredictEnd`].
    EndVerdict {
        /// The utterance it was asked about.
        utterance: UtteranceId,
        /// Probability that the customer has finished, 0..=1.
        probability: f32,
    },
    /// The final ASR text of an ended utterance.
    AsrFinal {
        /// The utterance it belongs to.
        utterance: UtteranceId,
        /// Final text (empty when nothing was recognized).
        text: String,
    },
    /// Time passed without a frame (lets timers fire in a loop that has no audio).
    Tick,
}

impl Event {
    /// An inbound frame from a boolean VAD.
    pub fn inbound(voiced: bool, energy_db: f32) -> Event {
        Event::InboundFrame {
            speech_prob: if voiced { 1.0 } else { 0.0 },
            energy_db,
        }
    }
}

/// Why an utterance ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EndCause {
    /// Its trailing silence elapsed.
    TrailingSilence,
    /// It reached `max_utterance_ms`.
    MaxLength,
    /// The end-of-turn model heard a finished turn at a short pause.
    EndModel,
}

/// Why an utterance was discarded instead of becoming a turn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DropReason {
    /// A listener cue said over the bot.
    Backchannel,
    /// Our own prompt came back on the inbound channel.
    Echo,
    /// ASR recognized nothing (noise that passed the VAD).
    NoText,
    /// ASR never reported a final text.
    AsrTimeout,
}

/// When things happened to one utterance, to measure turn latency at the wire: the
/// caller's "last voiced sample → first reply sample" is
/// [`UtteranceTiming::reply_latency_ms`], and `endpoint_ms - last_voiced_ms` is the part
/// spent waiting for silence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct UtteranceTiming {
    /// Time of the first voiced sample (start of the first voiced frame).
    pub first_voiced_ms: u64,
    /// When the utterance was confirmed (`StartUtterance`).
    pub confirmed_ms: u64,
    /// When it flushed the bot's playback, if it did.
    pub barge_in_ms: Option<u64>,
    /// Time of the last voiced sample (end of the last voiced frame).
    pub last_voiced_ms: u64,
    /// When the endpoint was decided (`EndOfUtterance`).
    pub endpoint_ms: u64,
    /// When the final ASR text arrived.
    pub final_ms: Option<u64>,
}

impl UtteranceTiming {
    /// Turn latency as the customer hears it: from their last voiced sample to the first
    /// sample of our reply on the wire.
    pub fn reply_latency_ms(&self, first_reply_sample_ms: u64) -> u64 {
        first_reply_sample_ms.saturating_sub(self.last_voiced_ms)
    }
}

/// Something the call loop must do, in the order given.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// The customer started an utterance: start feeding ASR with audio from
    /// `first_voiced_ms` (keep ~0.5 s of frames buffered so the onset is not lost).
    StartUtterance {
        /// Its id, for the ASR events.
        utterance: UtteranceId,
        /// Time of its first voiced sample.
        first_voiced_ms: u64,
        /// Whether the bot was talking when it began.
        during_playback: bool,
    },
    /// Barge-in: flush the playout queue now (`PlayoutQueue::flush`). The controller
    /// already counts playback as stopped; do not send `PlaybackFinished` for it.
    FlushPlayout {
        /// The utterance that interrupted.
        utterance: UtteranceId,
        /// The latest prompt that was playing.
        prompt_id: String,
    },
    /// The customer paused inside an utterance: ask the end-of-turn model whether they
    /// have finished (the audio from before `first_voiced_ms` to now) and report
    /// [`Event::EndVerdict`]. At most one per pause.
    PredictEnd {
        /// Which utterance.
        utterance: UtteranceId,
        /// Time of its first voiced sample.
        first_voiced_ms: u64,
        /// Time of its last voiced sample (the pause began there).
        last_voiced_ms: u64,
    },
    /// The utterance ended: run the final ASR and report `AsrFinal`.
    EndOfUtterance {
        /// Which one.
        utterance: UtteranceId,
        /// First to last voiced sample.
        speech_ms: u64,
        /// Silence after the last voiced sample when the end was decided.
        trailing_ms: u64,
        /// Why it ended.
        cause: EndCause,
        /// Timestamps so far.
        timing: UtteranceTiming,
    },
    /// The customer took a turn: hand `text` to the dialogue (`Event::Utterance`).
    UserTurn {
        /// Which utterance.
        utterance: UtteranceId,
        /// Final ASR text.
        text: String,
        /// All its timestamps.
        timing: UtteranceTiming,
    },
    /// The utterance is not a turn; discard its ASR state.
    DropUtterance {
        /// Which one.
        utterance: UtteranceId,
        /// Why.
        reason: DropReason,
        /// It had already flushed the bot's prompt (a false interruption): the caller
        /// may want to say the prompt again, or wait for `NoInput` to re-prompt.
        interrupted_playback: bool,
    },
    /// The dialogue's listen timed out in silence: send `Event::NoInput` to the engine.
    NoInput,
}

/// Words and cues as a set of token sequences. Tokens are single CJK characters or
/// lower-cased words, so "嗯嗯，对对" and "Uh-huh, yeah" are matched without locale rules.
#[derive(Clone, Debug, Default)]
struct PhraseSet {
    phrases: Vec<Vec<String>>,
}

/// Longer texts are never backchannels; the bound also keeps the cover check trivial.
const MAX_BACKCHANNEL_TOKENS: usize = 12;

impl PhraseSet {
    fn new(list: &[String]) -> PhraseSet {
        let mut phrases: Vec<Vec<String>> = list
            .iter()
            .map(|p| tokens(p))
            .filter(|t| !t.is_empty())
            .collect();
        phrases.sort();
        phrases.dedup();
        PhraseSet { phrases }
    }

    /// Whether the whole text is a sequence of listed phrases.
    fn covers(&self, toks: &[String]) -> bool {
        if toks.is_empty() || toks.len() > MAX_BACKCHANNEL_TOKENS {
            return false;
        }
        let mut reach = [false; MAX_BACKCHANNEL_TOKENS + 1];
        reach[0] = true;
        for i in 0..toks.len() {
            if !reach[i] {
                continue;
            }
            for p in &self.phrases {
                if toks[i..].starts_with(p) {
                    reach[i + p.len()] = true;
                }
            }
        }
        reach[toks.len()]
    }

    fn is_suffix_of(&self, toks: &[String]) -> bool {
        self.phrases.iter().any(|p| toks.ends_with(p))
    }
}

fn is_cjk(c: char) -> bool {
    matches!(c as u32, 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2FFFF)
}

/// Split text into CJK characters and lower-cased words; punctuation and hyphens
/// separate, apostrophes stay inside words ("i'm").
fn tokens(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    for c in text.chars() {
        if is_cjk(c) {
            if !word.is_empty() {
                out.push(std::mem::take(&mut word));
            }
            out.push(c.to_string());
        } else if c.is_alphanumeric() || c == '\'' {
            word.extend(c.to_lowercase());
        } else if !word.is_empty() {
            out.push(std::mem::take(&mut word));
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

/// Token bigrams of a text (character pairs in Chinese, word pairs in English), sorted
/// and unique, for the echo text check. Word pairs rather than letter n-grams because
/// letters recur everywhere in English ("who is this" shares most trigrams with "this is
/// the bank") while word order does not.
#[derive(Clone, Debug, Default, PartialEq)]
struct Ngrams(Vec<String>);

/// Fewer bigrams than this say nothing either way: short replies are never called echo.
const MIN_ECHO_NGRAMS: usize = 3;

impl Ngrams {
    fn of(text: &str) -> Ngrams {
        let toks = tokens(text);
        let mut grams: Vec<String> = toks
            .windows(2)
            .map(|w| format!("{}\u{1}{}", w[0], w[1]))
            .collect();
        grams.sort_unstable();
        grams.dedup();
        Ngrams(grams)
    }

    /// Share of `self`'s n-grams that occur in `prompt`: containment rather than a
    /// symmetric score, because an echo is a fragment of a much longer prompt.
    fn contained_in(&self, prompt: &Ngrams) -> f32 {
        if self.0.len() < MIN_ECHO_NGRAMS {
            return 0.0;
        }
        let hits = self
            .0
            .iter()
            .filter(|g| prompt.0.binary_search(g).is_ok())
            .count();
        hits as f32 / self.0.len() as f32
    }
}

/// The energies of recently played frames, indexed by frame slot, so the echo reference
/// for an inbound frame is a max over a handful of entries.
#[derive(Clone, Debug)]
struct EchoReference {
    frame_ms: u64,
    min_delay_ms: u64,
    max_delay_ms: u64,
    /// `(slot, energy)`; slot `u64::MAX` marks an empty entry.
    ring: Vec<(u64, f32)>,
}

impl EchoReference {
    fn new(cfg: &TurnConfig) -> EchoReference {
        let frame_ms = u64::from(cfg.frame_ms.max(1));
        let len = (u64::from(cfg.echo_max_delay_ms) / frame_ms + 2) as usize;
        EchoReference {
            frame_ms,
            min_delay_ms: u64::from(cfg.echo_min_delay_ms),
            max_delay_ms: u64::from(cfg.echo_max_delay_ms),
            ring: vec![(u64::MAX, SILENCE_DB); len],
        }
    }

    fn played(&mut self, now: u64, energy_db: f32) {
        let slot = now / self.frame_ms;
        let len = self.ring.len() as u64;
        if let Some(e) = self.ring.get_mut((slot % len) as usize) {
            // Two reports in one slot: keep the louder, the conservative reference.
            if e.0 == slot {
                e.1 = e.1.max(energy_db);
            } else {
                *e = (slot, energy_db);
            }
        }
    }

    /// Loudest frame played between `max_delay` and `min_delay` before `now`.
    fn reference_db(&self, now: u64) -> f32 {
        let lo = now.saturating_sub(self.max_delay_ms) / self.frame_ms;
        let hi = now.saturating_sub(self.min_delay_ms) / self.frame_ms;
        self.ring
            .iter()
            .filter(|(slot, _)| *slot != u64::MAX && *slot >= lo && *slot <= hi)
            .map(|(_, e)| *e)
            .fold(SILENCE_DB, f32::max)
    }
}

/// The line's echo return loss, measured while the bot talks and the customer is quiet:
/// how far below the loudest recently played frame each inbound frame sits. Kept as a
/// histogram of whole dB so the gate can use a low percentile (the echo's loud end),
/// which a few frames of the customer's own speech cannot move.
#[derive(Clone, Debug)]
struct EchoLoss {
    bins: [u32; ECHO_LOSS_BINS],
    frames: u32,
}

/// Losses are binned 0..=60 dB; anything quieter is as good as no echo.
const ECHO_LOSS_BINS: usize = 61;

/// Played audio quieter than this (dBFS) says nothing about the echo path.
const ECHO_LEARN_MIN_PLAYED_DB: f32 = -40.0;

impl EchoLoss {
    fn new() -> EchoLoss {
        EchoLoss {
            bins: [0; ECHO_LOSS_BINS],
            frames: 0,
        }
    }

    fn observe(&mut self, loss_db: f32) {
        let bin = loss_db.clamp(0.0, (ECHO_LOSS_BINS - 1) as f32) as usize;
        if let Some(b) = self.bins.get_mut(bin) {
            *b += 1;
            self.frames = self.frames.saturating_add(1);
        }
    }

    /// The loss exceeded by 90% of the frames heard, once `min_frames` were heard.
    fn loud_end_db(&self, min_frames: u32) -> Option<f32> {
        if self.frames == 0 || self.frames < min_frames {
            return None;
        }
        let want = self.frames.div_ceil(10);
        let mut seen = 0;
        for (db, n) in self.bins.iter().enumerate() {
            seen += n;
            if seen >= want {
                return Some(db as f32);
            }
        }
        None
    }
}

/// How much joined prompt text is kept for the echo check.
const MAX_PROMPT_TEXT_BYTES: usize = 4096;

#[derive(Clone, Debug)]
struct Playback {
    prompt_id: String,
    barge_in: bool,
    text: String,
    ngrams: Arc<Ngrams>,
}

/// What the latest partial says about the live utterance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PartialKind {
    None,
    Backchannel,
    Echo,
    Content,
}

#[derive(Clone, Debug)]
struct Live {
    id: UtteranceId,
    first_voiced_ms: u64,
    confirmed_ms: u64,
    last_voiced_ms: u64,
    voiced_ms: u64,
    /// The bot was talking at its last voiced frame: the customer's sound sat inside a
    /// prompt rather than answering its end.
    bot_talking_at_last_voiced: bool,
    /// The prompt that was playing (or had just stopped) when it began.
    echo_ref: Option<Arc<Ngrams>>,
    barge_in_ms: Option<u64>,
    partial: PartialKind,
    trailing_needed_ms: u64,
    /// The latest partial trails off on a hesitation ("and", a comma): the text says the
    /// customer goes on, whatever the audio model hears.
    unfinished_text: bool,
    /// Where the end-of-turn model stands on the current pause.
    verdict: Verdict,
}

/// What a partial's last characters say about the customer's sentence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sounds {
    /// A sentence end or a bare backchannel.
    Finished,
    /// A hesitation word or a comma.
    Unfinished,
    /// Neither.
    Plain,
}

/// The end-of-turn model and the current pause.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    /// Not asked about this pause (or the customer spoke again since).
    NotAsked,
    /// Asked; waiting for `EndVerdict`.
    Asked,
    /// It said the customer has not finished: the longer silence applies.
    Unfinished,
}

#[derive(Clone, Debug)]
enum Phase {
    Quiet,
    Candidate {
        first_voiced_ms: u64,
        last_voiced_ms: u64,
        voiced_ms: u64,
    },
    Speaking(Live),
}

/// An utterance that ended and waits for its final text.
#[derive(Clone, Debug)]
struct Ended {
    id: UtteranceId,
    timing: UtteranceTiming,
    /// Said over the bot (see `Live::bot_talking_at_last_voiced`) or interrupted it.
    over_bot: bool,
    echo_ref: Option<Arc<Ngrams>>,
    deadline_ms: u64,
}

#[derive(Clone, Copy, Debug)]
struct ListenTimer {
    timeout_ms: u64,
    /// `None` while paused (bot talking, customer talking, result pending).
    deadline_ms: Option<u64>,
}

/// One call's turn-taking state. Create one per call, feed it every event with
/// [`TurnController::push`], carry out the returned actions.
#[derive(Clone, Debug)]
pub struct TurnController {
    cfg: TurnConfig,
    backchannels: PhraseSet,
    hesitations: PhraseSet,
    now: u64,
    next_id: u32,
    echo: EchoReference,
    echo_loss: EchoLoss,
    playback: Option<Playback>,
    /// The last prompt's n-grams and when it stopped, for speech that begins in the echo
    /// tail after playback.
    last_prompt: Option<(Arc<Ngrams>, u64)>,
    phase: Phase,
    awaiting: VecDeque<Ended>,
    held: Vec<(UtteranceId, String, UtteranceTiming)>,
    listen: Option<ListenTimer>,
    last_turn: Option<(UtteranceId, UtteranceTiming)>,
}

impl TurnController {
    /// A controller for one call; fails on a config that cannot work.
    pub fn new(cfg: TurnConfig) -> Result<TurnController, ConfigError> {
        cfg.validate()?;
        Ok(TurnController {
            backchannels: PhraseSet::new(&cfg.backchannels),
            hesitations: PhraseSet::new(&cfg.hesitations),
            echo: EchoReference::new(&cfg),
            echo_loss: EchoLoss::new(),
            cfg,
            now: 0,
            next_id: 1,
            playback: None,
            last_prompt: None,
            phase: Phase::Quiet,
            awaiting: VecDeque::new(),
            held: Vec::new(),
            listen: None,
            last_turn: None,
        })
    }

    /// How far below the bot's recent audio an inbound frame must be to count as echo:
    /// the configured floor until the line's loss is measured, then what was measured
    /// less a margin, within `[echo_suppression_db, echo_suppression_max_db]`.
    pub fn echo_suppression_db(&self) -> f32 {
        let floor = self.cfg.echo_suppression_db;
        if self.cfg.echo_learn_ms == 0 {
            return floor;
        }
        let min_frames = self.cfg.echo_learn_ms.div_ceil(self.cfg.frame_ms.max(1));
        match self.echo_loss.loud_end_db(min_frames) {
            Some(loss) => (loss - self.cfg.echo_learn_margin_db)
                .clamp(floor, self.cfg.echo_suppression_max_db),
            None => floor,
        }
    }

    /// The config in force.
    pub fn config(&self) -> &TurnConfig {
        &self.cfg
    }

    /// Whether the controller counts the bot as talking (between `PlaybackStarted` and
    /// `PlaybackFinished` or a flush).
    pub fn is_playing(&self) -> bool {
        self.playback.is_some()
    }

    /// The live (started, not yet ended) utterance, if any.
    pub fn live_utterance(&self) -> Option<UtteranceId> {
        match &self.phase {
            Phase::Speaking(l) => Some(l.id),
            _ => None,
        }
    }

    /// When the next timer (no-input, ASR final) is due, so a loop without frames knows
    /// when to send `Tick`.
    pub fn next_deadline(&self) -> Option<Millis> {
        let listen = self.listen.and_then(|l| l.deadline_ms);
        let asr = self.awaiting.iter().map(|e| e.deadline_ms).min();
        match (listen, asr) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
        .map(Millis)
    }

    /// The latest `UserTurn`'s utterance and timestamps, so the call loop can log
    /// [`UtteranceTiming::reply_latency_ms`] when the reply's first frame goes out.
    pub fn last_turn(&self) -> Option<(UtteranceId, UtteranceTiming)> {
        self.last_turn
    }

    /// Whether the text is made only of the locale's backchannel cues.
    pub fn is_backchannel(&self, text: &str) -> bool {
        self.backchannels.covers(&tokens(text))
    }

    /// Feed one event that happened at `now`; returns what to do, in order.
    pub fn push(&mut self, now: Millis, event: Event) -> Vec<Action> {
        let now = now.0.max(self.now);
        self.now = now;
        let mut out = Vec::new();
        self.fire_timers(now, &mut out);
        match event {
            Event::InboundFrame {
                speech_prob,
                energy_db,
            } => self.on_inbound(now, speech_prob, energy_db, &mut out),
            Event::OutboundFrame { energy_db } => {
                self.echo.played(now, sanitize_db(energy_db));
            }
            Event::PlaybackStarted {
                prompt_id,
                barge_in,
                text,
            } => self.on_playback_started(prompt_id, barge_in, text),
            Event::PlaybackFinished => self.end_playback(now, &mut out),
            Event::Listen { timeout_ms } => {
                self.listen = Some(ListenTimer {
                    timeout_ms: u64::from(timeout_ms),
                    deadline_ms: None,
                });
            }
            Event::AsrPartial { utterance, text } => {
                self.on_partial(now, utterance, &text, &mut out)
            }
            Event::EndVerdict {
                utterance,
                probability,
            } => self.on_verdict(now, utterance, probability, &mut out),
            Event::AsrFinal { utterance, text } => self.on_final(now, utterance, text, &mut out),
            Event::Tick => {}
        }
        self.refresh_listen(now);
        out
    }

    fn fire_timers(&mut self, now: u64, out: &mut Vec<Action>) {
        let mut i = 0;
        while i < self.awaiting.len() {
            match self.awaiting.get(i) {
                Some(e) if e.deadline_ms <= now => {
                    if let Some(e) = self.awaiting.remove(i) {
                        self.drop_utterance(e.id, DropReason::AsrTimeout, e.timing, out);
                    }
                }
                _ => i += 1,
            }
        }
        // Speech that began before the deadline holds it until it is confirmed (and
        // pauses the timer) or forgotten (and the timer fires late).
        if matches!(self.phase, Phase::Candidate { .. }) {
            return;
        }
        if let Some(ListenTimer {
            deadline_ms: Some(d),
            ..
        }) = self.listen
        {
            if d <= now {
                self.listen = None;
                out.push(Action::NoInput);
            }
        }
    }

    fn refresh_listen(&mut self, now: u64) {
        let blocked = self.playback.is_some()
            || matches!(self.phase, Phase::Speaking(_))
            || !self.awaiting.is_empty()
            || !self.held.is_empty();
        if let Some(l) = self.listen.as_mut() {
            if blocked {
                l.deadline_ms = None;
            } else if l.deadline_ms.is_none() {
                l.deadline_ms = Some(now.saturating_add(l.timeout_ms));
            }
        }
    }

    fn on_playback_started(&mut self, prompt_id: String, barge_in: bool, text: String) {
        match self.playback.as_mut() {
            Some(pb) => {
                // Joined prompts: interruptible only if all are (a disclosure queued after
                // a greeting must stay protected), echo-checked against all their text.
                pb.barge_in &= barge_in;
                pb.prompt_id = prompt_id;
                if !pb.text.is_empty() {
                    pb.text.push(' ');
                }
                pb.text.push_str(&text);
                // A caller that never reports the end must not grow this without bound;
                // echo comes from what played last anyway.
                if pb.text.len() > MAX_PROMPT_TEXT_BYTES {
                    let cut = pb.text.len() - MAX_PROMPT_TEXT_BYTES;
                    let at = (cut..pb.text.len())
                        .find(|&i| pb.text.is_char_boundary(i))
                        .unwrap_or(pb.text.len());
                    pb.text.drain(..at);
                }
                pb.ngrams = Arc::new(Ngrams::of(&pb.text));
            }
            None => {
                let ngrams = Arc::new(Ngrams::of(&text));
                self.playback = Some(Playback {
                    prompt_id,
                    barge_in,
                    text,
                    ngrams,
                });
            }
        }
    }

    fn end_playback(&mut self, now: u64, out: &mut Vec<Action>) {
        if let Some(pb) = self.playback.take() {
            self.last_prompt = Some((pb.ngrams, now));
        }
        // Turns held back during a protected prompt are answered now that it is over.
        for (utterance, text, timing) in std::mem::take(&mut self.held) {
            self.user_turn(utterance, text, timing, out);
        }
    }

    fn on_inbound(&mut self, now: u64, prob: f32, energy_db: f32, out: &mut Vec<Action>) {
        let frame = u64::from(self.cfg.frame_ms);
        let energy = sanitize_db(energy_db);
        let prob = if prob.is_finite() { prob } else { 0.0 };
        let threshold = if matches!(self.phase, Phase::Quiet) {
            self.cfg.vad_on_threshold
        } else {
            self.cfg.vad_off_threshold
        };
        let reference = self.echo.reference_db(now);
        let echo = energy < reference - self.echo_suppression_db();
        let voiced = prob >= threshold && energy >= self.cfg.min_speech_energy_db && !echo;
        if !voiced && matches!(self.phase, Phase::Quiet) && reference >= ECHO_LEARN_MIN_PLAYED_DB {
            self.echo_loss.observe(reference - energy);
        }

        match &mut self.phase {
            Phase::Quiet => {
                if voiced {
                    self.phase = Phase::Candidate {
                        first_voiced_ms: now.saturating_sub(frame),
                        last_voiced_ms: now,
                        voiced_ms: frame,
                    };
                    self.maybe_confirm(now, out);
                }
            }
            Phase::Candidate {
                last_voiced_ms,
                voiced_ms,
                ..
            } => {
                if voiced {
                    *last_voiced_ms = now;
                    *voiced_ms += frame;
                    self.maybe_confirm(now, out);
                } else if now.saturating_sub(*last_voiced_ms)
                    >= u64::from(self.cfg.candidate_max_gap_ms)
                {
                    self.phase = Phase::Quiet;
                }
            }
            Phase::Speaking(live) => {
                if voiced {
                    live.last_voiced_ms = now;
                    live.voiced_ms += frame;
                    live.bot_talking_at_last_voiced = self.playback.is_some();
                    // The customer goes on: a verdict on the pause before is stale.
                    live.verdict = Verdict::NotAsked;
                    self.maybe_barge_in(now, out);
                }
                self.maybe_end(now, out);
            }
        }
    }

    fn maybe_confirm(&mut self, now: u64, out: &mut Vec<Action>) {
        let Phase::Candidate {
            first_voiced_ms,
            last_voiced_ms,
            voiced_ms,
        } = self.phase
        else {
            return;
        };
        if voiced_ms < u64::from(self.cfg.min_speech_ms) {
            return;
        }
        let id = UtteranceId(self.next_id);
        self.next_id = self.next_id.wrapping_add(1);
        let during_playback = self.playback.is_some();
        let echo_ref = match (&self.playback, &self.last_prompt) {
            (Some(pb), _) => Some(pb.ngrams.clone()),
            // Speech starting in the echo tail may still be the prompt coming back.
            (None, Some((ngrams, ended)))
                if first_voiced_ms <= ended + u64::from(self.cfg.echo_max_delay_ms) =>
            {
                Some(ngrams.clone())
            }
            _ => None,
        };
        out.push(Action::StartUtterance {
            utterance: id,
            first_voiced_ms,
            during_playback,
        });
        self.phase = Phase::Speaking(Live {
            id,
            first_voiced_ms,
            confirmed_ms: now,
            last_voiced_ms,
            voiced_ms,
            bot_talking_at_last_voiced: during_playback,
            echo_ref,
            barge_in_ms: None,
            partial: PartialKind::None,
            trailing_needed_ms: u64::from(self.cfg.trailing_silence_ms),
            unfinished_text: false,
            verdict: Verdict::NotAsked,
        });
        self.maybe_barge_in(now, out);
    }

    fn maybe_barge_in(&mut self, now: u64, out: &mut Vec<Action>) {
        let Phase::Speaking(live) = &mut self.phase else {
            return;
        };
        let Some(pb) = &self.playback else {
            return;
        };
        if !pb.barge_in || live.barge_in_ms.is_some() {
            return;
        }
        let interrupt = match live.partial {
            PartialKind::None => live.voiced_ms >= u64::from(self.cfg.barge_in_min_speech_ms),
            PartialKind::Backchannel => live.voiced_ms >= u64::from(self.cfg.backchannel_max_ms),
            PartialKind::Content => true,
            PartialKind::Echo => false,
        };
        if !interrupt {
            return;
        }
        live.barge_in_ms = Some(now);
        out.push(Action::FlushPlayout {
            utterance: live.id,
            prompt_id: pb.prompt_id.clone(),
        });
        self.end_playback(now, out);
    }

    fn maybe_end(&mut self, now: u64, out: &mut Vec<Action>) {
        let Phase::Speaking(live) = &mut self.phase else {
            return;
        };
        let trailing = now.saturating_sub(live.last_voiced_ms);
        let needed = match live.verdict {
            Verdict::Unfinished => live
                .trailing_needed_ms
                .max(u64::from(self.cfg.end_model_incomplete_ms)),
            Verdict::NotAsked | Verdict::Asked => live.trailing_needed_ms,
        };
        let cause = if trailing >= needed {
            EndCause::TrailingSilence
        } else if now.saturating_sub(live.first_voiced_ms) >= u64::from(self.cfg.max_utterance_ms) {
            EndCause::MaxLength
        } else {
            if let Some(pause) = self.cfg.end_model_pause_ms {
                if live.verdict == Verdict::NotAsked && trailing >= u64::from(pause) {
                    live.verdict = Verdict::Asked;
                    out.push(Action::PredictEnd {
                        utterance: live.id,
                        first_voiced_ms: live.first_voiced_ms,
                        last_voiced_ms: live.last_voiced_ms,
                    });
                }
            }
            return;
        };
        self.end_live(now, cause, out);
    }

    /// The model's verdict on the current pause: "finished" ends the utterance now,
    /// "not yet" stretches its trailing silence. Stale verdicts change nothing.
    fn on_verdict(&mut self, now: u64, id: UtteranceId, probability: f32, out: &mut Vec<Action>) {
        let Phase::Speaking(live) = &mut self.phase else {
            return;
        };
        if live.id != id || live.verdict != Verdict::Asked {
            return;
        }
        let finished = probability.is_finite() && probability >= self.cfg.end_model_threshold;
        if finished && !live.unfinished_text {
            self.end_live(now, EndCause::EndModel, out);
        } else {
            live.verdict = Verdict::Unfinished;
            // The longer silence may already have passed while the model ran.
            self.maybe_end(now, out);
        }
    }

    fn end_live(&mut self, now: u64, cause: EndCause, out: &mut Vec<Action>) {
        let Phase::Speaking(live) = std::mem::replace(&mut self.phase, Phase::Quiet) else {
            return;
        };
        let trailing = now.saturating_sub(live.last_voiced_ms);
        let timing = UtteranceTiming {
            first_voiced_ms: live.first_voiced_ms,
            confirmed_ms: live.confirmed_ms,
            barge_in_ms: live.barge_in_ms,
            last_voiced_ms: live.last_voiced_ms,
            endpoint_ms: now,
            final_ms: None,
        };
        out.push(Action::EndOfUtterance {
            utterance: live.id,
            speech_ms: live.last_voiced_ms.saturating_sub(live.first_voiced_ms),
            trailing_ms: trailing,
            cause,
            timing,
        });
        self.awaiting.push_back(Ended {
            id: live.id,
            timing,
            over_bot: live.bot_talking_at_last_voiced || live.barge_in_ms.is_some(),
            echo_ref: live.echo_ref,
            deadline_ms: now.saturating_add(u64::from(self.cfg.asr_final_timeout_ms)),
        });
    }

    fn classify(&self, text: &str, toks: &[String], echo_ref: Option<&Ngrams>) -> PartialKind {
        if toks.is_empty() {
            return PartialKind::None;
        }
        if let Some(prompt) = echo_ref {
            let grams = Ngrams::of(text);
            if grams.contained_in(prompt) >= self.cfg.echo_text_similarity {
                return PartialKind::Echo;
            }
        }
        if self.backchannels.covers(toks) {
            PartialKind::Backchannel
        } else {
            PartialKind::Content
        }
    }

    fn on_partial(&mut self, now: u64, id: UtteranceId, text: &str, out: &mut Vec<Action>) {
        let toks = tokens(text);
        let (kind, trailing) = {
            let Phase::Speaking(live) = &self.phase else {
                return;
            };
            if live.id != id {
                return;
            }
            let kind = self.classify(text, &toks, live.echo_ref.as_deref());
            (kind, self.sounds(text, &toks))
        };
        let ms = match trailing {
            Sounds::Finished => self.cfg.complete_trailing_silence_ms,
            Sounds::Unfinished => self.cfg.unfinished_trailing_silence_ms,
            Sounds::Plain => self.cfg.trailing_silence_ms,
        };
        if let Phase::Speaking(live) = &mut self.phase {
            live.partial = kind;
            live.trailing_needed_ms = u64::from(ms);
            live.unfinished_text = trailing == Sounds::Unfinished;
        }
        self.maybe_barge_in(now, out);
    }

    /// How finished the partial text sounds, which picks the endpoint silence.
    fn sounds(&self, text: &str, toks: &[String]) -> Sounds {
        let last = text.trim_end().chars().last();
        if matches!(last, Some('。' | '？' | '！' | '?' | '!' | '.' | '…'))
            || self.backchannels.covers(toks)
        {
            Sounds::Finished
        } else if matches!(last, Some(',' | '，' | '、')) || self.hesitations.is_suffix_of(toks) {
            Sounds::Unfinished
        } else {
            Sounds::Plain
        }
    }

    fn on_final(&mut self, now: u64, id: UtteranceId, text: String, out: &mut Vec<Action>) {
        let Some(pos) = self.awaiting.iter().position(|e| e.id == id) else {
            // A final for the live utterance (an ASR that endpoints on its own) is used
            // as a partial: the controller alone decides where utterances end.
            if self.live_utterance() == Some(id) {
                self.on_partial(now, id, &text, out);
            }
            return;
        };
        let Some(ended) = self.awaiting.remove(pos) else {
            return;
        };
        let mut timing = ended.timing;
        timing.final_ms = Some(now);
        let toks = tokens(&text);
        let kind = self.classify(&text, &toks, ended.echo_ref.as_deref());
        let reason = match kind {
            PartialKind::None => Some(DropReason::NoText),
            PartialKind::Echo => Some(DropReason::Echo),
            // Only cues said over the bot are filtered: after the prompt, or overlapping
            // its last words, "嗯" or "okay" answers the question.
            PartialKind::Backchannel if ended.over_bot => Some(DropReason::Backchannel),
            _ => None,
        };
        if let Some(reason) = reason {
            self.drop_utterance(id, reason, timing, out);
            return;
        }
        match &self.playback {
            Some(pb) if pb.barge_in => {
                // A short real reply ("不", "no") that was too brief to interrupt by
                // duration: it interrupts now that its text is known.
                let prompt_id = pb.prompt_id.clone();
                timing.barge_in_ms = Some(now);
                out.push(Action::FlushPlayout {
                    utterance: id,
                    prompt_id,
                });
                self.end_playback(now, out);
                self.user_turn(id, text, timing, out);
            }
            Some(_) => self.held.push((id, text, timing)),
            None => self.user_turn(id, text, timing, out),
        }
    }

    fn user_turn(
        &mut self,
        utterance: UtteranceId,
        text: String,
        timing: UtteranceTiming,
        out: &mut Vec<Action>,
    ) {
        // The dialogue got its answer: the listen it was waiting on is satisfied.
        self.listen = None;
        self.last_turn = Some((utterance, timing));
        out.push(Action::UserTurn {
            utterance,
            text,
            timing,
        });
    }

    fn drop_utterance(
        &mut self,
        utterance: UtteranceId,
        reason: DropReason,
        timing: UtteranceTiming,
        out: &mut Vec<Action>,
    ) {
        // The customer made a sound but said nothing: give them the full timeout again.
        if let Some(l) = self.listen.as_mut() {
            l.deadline_ms = None;
        }
        out.push(Action::DropUtterance {
            utterance,
            reason,
            interrupted_playback: timing.barge_in_ms.is_some(),
        });
    }
}

fn sanitize_db(db: f32) -> f32 {
    if db.is_nan() {
        SILENCE_DB
    } else {
        db.max(SILENCE_DB)
    }
}

/// Energy of a PCM frame in dBFS (full-scale sine ≈ -3 dB), floored at [`SILENCE_DB`]:
/// what `InboundFrame` and `OutboundFrame` expect.
pub fn frame_energy_db(pcm: &[i16]) -> f32 {
    if pcm.is_empty() {
        return SILENCE_DB;
    }
    let sum: f64 = pcm.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    let mean = sum / pcm.len() as f64 / (32768.0 * 32768.0);
    if mean <= 0.0 {
        return SILENCE_DB;
    }
    ((10.0 * mean.log10()) as f32).max(SILENCE_DB)
}

/// Tracks which queued bot frames have gone onto the wire, for callers that only see the
/// playout queue's fill level (`PlayoutQueue::queued_ms`): meter audio as it is queued,
/// then each tick ask which frames left since the last tick and report them as
/// `OutboundFrame`s.
#[derive(Clone, Debug)]
pub struct PlayoutMeter {
    frame_ms: u64,
    frame_samples: usize,
    energies: VecDeque<f32>,
}

impl PlayoutMeter {
    /// A meter for audio at `sample_rate` Hz cut into `frame_ms` frames.
    pub fn new(sample_rate: u32, frame_ms: u32) -> PlayoutMeter {
        let frame_ms = frame_ms.max(1);
        PlayoutMeter {
            frame_ms: u64::from(frame_ms),
            frame_samples: (u64::from(sample_rate) * u64::from(frame_ms) / 1000).max(1) as usize,
            energies: VecDeque::new(),
        }
    }

    /// Meter audio just pushed to the playout queue (a last partial frame counts whole).
    pub fn queued(&mut self, pcm: &[i16]) {
        self.energies
            .extend(pcm.chunks(self.frame_samples).map(frame_energy_db));
    }

    /// The queue was flushed: nothing metered will play.
    pub fn flushed(&mut self) {
        self.energies.clear();
    }

    /// Energies of the frames that left the queue, given its current fill, oldest first.
    pub fn take_played(&mut self, queued_ms: u64) -> Vec<f32> {
        let still_queued = queued_ms.div_ceil(self.frame_ms) as usize;
        let played = self.energies.len().saturating_sub(still_queued);
        self.energies.drain(..played).collect()
    }
}

#[cfg(test)]
mod tests;

impl From<crate::Locale> for TurnLocale {
    fn from(l: crate::Locale) -> TurnLocale {
        match l {
            crate::Locale::ZhCn => TurnLocale::ZhCn,
            crate::Locale::EnUs => TurnLocale::EnUs,
        }
    }
}
