//! One answered call's speech loop as a sans-IO state machine: customer frames in, bot
//! audio and requests out.
//!
//! Inbound 16 kHz frames go to a [`SpeechDetector`] and the turn controller
//! (`speech::turn`); when the controller ends an utterance, the pipeline asks for the audio
//! from its first voiced frame to its last to be decoded ([`Output::Transcribe`]), hands the
//! text to the dialogue engine, and asks for each `Say` to be voiced sentence by sentence
//! ([`Output::Synthesize`], or [`Output::LookUpRecording`] first for a static prompt).
//! The pipeline never blocks, never reads a clock and owns no thread: time comes in as
//! [`Millis`] with every input (a live call's frame count, or a replay's), and whoever
//! drives it (`bot::driver`, `bot::agent`) runs the recognizer and the voice and hands the
//! results back with [`BotPipeline::transcribed`], [`BotPipeline::synthesized`] and
//! [`BotPipeline::recorded`]. So a whole conversation can be replayed faster than real
//! time with a scripted recognizer and voice.
//!
//! With an end-of-turn model configured, a short pause inside an utterance asks for the
//! model's judgement of the audio so far ([`Output::PredictEnd`]); the driver answers with
//! [`BotPipeline::end_predicted`], and "finished" ends the utterance there. The decode
//! started when that pause began is the one used for the turn, so most of its time has
//! passed by the verdict.
//!
//! Each turn's latency is the audio time from the last voiced sample to the endpoint, plus
//! the compute the driver measured for the decode, the dialogue engine and the reply's
//! first sentence.

use std::collections::VecDeque;
use std::sync::Arc;

use serde::Serialize;

use super::voice_activity::SpeechDetector;
use crate::dialogue::engine::{Action, Conversation, Event};
use crate::language::normalise;
use crate::scenario::template::{Segment, Template};
use crate::speech::turn::{self, Action as TurnAction, Event as TurnEvent, TurnController};
use crate::speech::SpeechError;
use crate::time::Millis;
use crate::Locale;

/// Names one request of the pipeline, so its result finds its way back (and a result
/// nobody waits for any more is recognised as stale).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct RequestId(pub u64);

/// Where a piece of bot audio came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// A recorded prompt pack.
    Pack,
    /// Already in memory.
    Memory,
    /// Read from the disk cache.
    Disk,
    /// Synthesized now (and stored).
    Synthesized,
    /// Voiced ahead for this call (a sentence with the customer's values, kept with the
    /// call only).
    Ahead,
}

/// What the recognizer made of one requested clip.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Transcript {
    /// The text ("" when nothing usable was heard).
    pub text: String,
    /// Wall time from the request to this result, as the driver measured it (the
    /// pipeline has no clock of its own; this feeds the turn's latency record).
    pub took_ms: f64,
    /// Of that, the time the clip waited for a free recognizer before its decode began.
    pub queued_ms: f64,
}

/// One voiced sentence or recording, as requested.
#[derive(Clone, Debug)]
pub struct Voiced {
    /// 8 kHz audio.
    pub pcm: Arc<Vec<i16>>,
    /// Where it came from.
    pub source: Source,
    /// Wall time from the request to this result, as the driver measured it.
    pub took_ms: f64,
}

/// What the call, or the pipeline's driver, must do.
#[derive(Clone, Debug)]
pub enum Output {
    /// Queue this audio (8 kHz) for playout.
    Play {
        /// Prompt it belongs to.
        prompt_id: String,
        /// The audio.
        pcm: Arc<Vec<i16>>,
        /// Where it came from.
        source: Source,
    },
    /// Drop queued audio now (barge-in).
    Flush,
    /// The customer said this (final ASR text).
    Heard(String),
    /// Transfer to a human.
    Transfer {
        /// Hand-off reason code.
        reason: String,
    },
    /// End the call.
    Hangup {
        /// Outcome code.
        outcome: String,
    },
    /// Decode this clip (16 kHz) and answer with [`BotPipeline::transcribed`].
    Transcribe {
        /// The request.
        id: RequestId,
        /// The customer's audio.
        pcm: Vec<f32>,
        /// Started when a pause began inside a live utterance: used at the endpoint if
        /// the customer does not resume, forgotten (its answer ignored) if they do.
        speculative: bool,
    },
    /// Voice one sentence (prompt cache, or live synthesis) and answer with
    /// [`BotPipeline::synthesized`]. At most one is outstanding at a time.
    Synthesize {
        /// The request.
        id: RequestId,
        /// The prompt the sentence belongs to.
        prompt_id: String,
        /// Normalised sentence text.
        sentence: String,
        /// Whether a synthesized result may be stored (false for a prompt with
        /// variables: it may carry a customer's name or amount).
        persist: bool,
    },
    /// Ask the end-of-turn model whether the customer has finished, from this audio
    /// (16 kHz, the utterance so far with a little before it and the pause after it, at
    /// most the model's 8 s), and answer with [`BotPipeline::end_predicted`]. Unanswered,
    /// the utterance ends on silence as without a model.
    PredictEnd {
        /// The request.
        id: RequestId,
        /// The customer's audio.
        pcm: Vec<f32>,
    },
    /// Look up a recorded prompt for a static prompt and answer with
    /// [`BotPipeline::recorded`] (`None`: no recording, the prompt is voiced by sentence).
    LookUpRecording {
        /// The request.
        id: RequestId,
        /// The prompt (`flow.node`).
        prompt_id: String,
    },
}

impl Output {
    /// Whether this is a request for the driver rather than something for the call.
    pub fn is_request(&self) -> bool {
        matches!(
            self,
            Output::Transcribe { .. }
                | Output::Synthesize { .. }
                | Output::LookUpRecording { .. }
                | Output::PredictEnd { .. }
        )
    }
}

/// Where one turn's time went.
#[derive(Clone, Debug, Serialize)]
pub struct TurnLatency {
    /// What was heard.
    pub text: String,
    /// Customer audio in the utterance.
    pub speech_ms: u64,
    /// Endpoint silence: last voiced sample to the end-of-utterance decision.
    pub endpoint_ms: u64,
    /// What ended the utterance: the silence, the end-of-turn model, or its length.
    pub ended_by: turn::EndCause,
    /// The end-of-turn model's last probability of "finished" for this utterance.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_probability: Option<f32>,
    /// Waiting for the final ASR text at the endpoint.
    pub asr_ms: f64,
    /// Of `asr_ms`, the time the clip sat in the recognizer's queue behind other calls'
    /// decodes (the rest is its own decode).
    pub asr_queue_ms: f64,
    /// How far the bot's frame clock was behind the wire when the turn ended: inbound
    /// frames waiting for a bot thread that was busy or starved of CPU. Not part of
    /// `total_ms` (which is counted on the frame clock), but the customer waits for it.
    pub lag_ms: f64,
    /// The text came from the decode started when the pause began (the customer did not
    /// resume), so most of the ASR time overlapped the endpoint silence.
    pub speculative: bool,
    /// Decodes this utterance asked for: one per long-enough pause, plus the final one
    /// when no pause's decode covered the end. More than one is compute thrown away.
    pub decodes: u32,
    /// NLU + dialogue engine: the driver's measure of the pipeline call that answered
    /// the turn ([`BotPipeline::add_engine_ms`]).
    pub nlu_ms: f64,
    /// First sentence of the reply (cache or live TTS).
    pub tts_first_ms: f64,
    /// Where the first sentence came from.
    pub tts_source: Option<Source>,
    /// Last voiced sample to the first reply sample.
    pub total_ms: f64,
}

/// The speech loop of one call.
pub struct BotPipeline {
    vad: Box<dyn SpeechDetector>,
    turn: TurnController,
    conv: Conversation,
    locale: Locale,
    next_request: u64,
    // Inbound audio since `audio_start_ms`, bounded to the longest utterance plus margin.
    audio: Vec<f32>,
    audio_start_ms: u64,
    keep_ms: u64,
    latencies: Vec<TurnLatency>,
    // The turn answered last, until its reply's first audio goes out.
    open_turn: Option<TurnLatency>,
    // Speculative decoding: the detector's speech flag last frame, the live utterance's
    // first voiced time, and the decode started when its latest pause began.
    speaking: bool,
    live_from_ms: Option<u64>,
    live_id: Option<turn::UtteranceId>,
    spec: Option<Speculation>,
    // When the current pause inside a live utterance began (its first silent frame), and
    // how many decodes this utterance asked for so far.
    pause_from_ms: Option<u64>,
    decodes: u32,
    // The end-of-turn judgement asked for the live utterance's current pause, and the
    // latest probability the model gave for it.
    end_asked: Option<(RequestId, turn::UtteranceId)>,
    end_probability: Option<f32>,
    // Ended utterances whose text is still being decoded.
    finals: Vec<AwaitedFinal>,
    // What the bot still has to say or do, in order, and the one voicing request out.
    pending: VecDeque<Pending>,
    voicing: Option<Voicing>,
    // A sentence was synthesized live since the last frame: the next one waits for the
    // next frame, so a long reply never holds back the frames behind it.
    hold_sentences: bool,
    // The last input call answered a turn (see `add_engine_ms`).
    answered: bool,
    // The driver's latest measure of its frame clock's lag behind the wire.
    lag_ms: f64,
    // Frames quieter than this are never speech to the turn controller, so once they
    // have lasted `DETECTOR_REST_AFTER_MS` the detector is not run on them (on a call the
    // customer is silent most of the time, and the detector is most of a bot's own CPU);
    // how long the current quiet stretch has lasted.
    quiet_below_db: f32,
    quiet_ms: u64,
}

struct Speculation {
    id: RequestId,
    from_ms: u64,
    to_ms: u64,
    asked_at: Millis,
    // The decode's result once it arrived during the pause (it was also given to the turn
    // controller as a partial, so a finished-sounding sentence endpoints sooner).
    done: Option<Result<Transcript, SpeechError>>,
}

struct AwaitedFinal {
    id: RequestId,
    asked_at: Millis,
    ended: Ended,
}

/// An ended utterance, for the record of its turn.
#[derive(Clone, Copy)]
struct Ended {
    utterance: turn::UtteranceId,
    speech_ms: u64,
    endpoint_ms: u64,
    endpoint_at: Millis,
    speculative: bool,
    decodes: u32,
    cause: turn::EndCause,
    end_probability: Option<f32>,
}

struct Voicing {
    id: RequestId,
    prompt_id: String,
    // For a recording look-up, the prompt's text to voice when there is none.
    recording_of: Option<String>,
}

/// What the bot still has to say or do, in order.
enum Pending {
    /// A static prompt: its recording if a pack has one, else its sentences.
    Recording { prompt_id: String, text: String },
    /// A sentence to fetch from the cache or synthesize.
    Sentence {
        prompt_id: String,
        text: String,
        persist: bool,
    },
    /// A transfer or hang-up that follows the audio before it.
    Control(Output),
}

/// Audio kept before an utterance's first voiced frame, so the onset is not clipped.
const ONSET_MS: u64 = 150;

/// The inbound frame's length.
const FRAME_MS: u64 = 20;

/// Quiet (below the speech floor) lasting longer than this is a pause, not the dip
/// between two words, and the detector rests until a louder frame.
const DETECTOR_REST_AFTER_MS: u64 = 300;

/// Silence inside an utterance after which the words so far are decoded ahead of the
/// endpoint. The speech flag drops in gaps between words (40 ms of silence is enough), and
/// a decode started there is almost always thrown away; a pause this long is more often
/// the end, and still leaves the decode most of the endpoint silence (500 ms) to run.
pub const SPECULATE_AFTER_MS: u64 = 120;

/// What the end-of-turn model is given: its window (8 s), ending now, starting at most
/// this long before the utterance's first voiced sample (the Smart Turn reference's
/// pre-speech audio).
const END_MODEL_WINDOW_MS: u64 = 8_000;
const END_MODEL_PRE_SPEECH_MS: u64 = 500;

impl BotPipeline {
    /// A pipeline for one call.
    pub fn new(
        vad: Box<dyn SpeechDetector>,
        turn_cfg: turn::TurnConfig,
        conv: Conversation,
        locale: Locale,
    ) -> Result<BotPipeline, SpeechError> {
        let keep_ms = u64::from(turn_cfg.max_utterance_ms) + 2_000;
        let quiet_below_db = turn_cfg.min_speech_energy_db;
        let turn = TurnController::new(turn_cfg)?;
        Ok(BotPipeline {
            vad,
            turn,
            conv,
            locale,
            next_request: 1,
            audio: Vec::new(),
            audio_start_ms: 0,
            keep_ms,
            latencies: Vec::new(),
            open_turn: None,
            speaking: false,
            live_from_ms: None,
            live_id: None,
            spec: None,
            pause_from_ms: None,
            decodes: 0,
            end_asked: None,
            end_probability: None,
            finals: Vec::new(),
            pending: VecDeque::new(),
            voicing: None,
            hold_sentences: false,
            answered: false,
            lag_ms: 0.0,
            quiet_below_db,
            quiet_ms: 0,
        })
    }

    /// The sentences of this call's prompts that carry the customer's values (names,
    /// amounts) within `max_turns` turns, normalised as they will be requested, prompt by
    /// prompt with the turns before each can be said, nearest first: a driver voices them
    /// ahead while the call is set up, so replies that use them start from memory. A
    /// sentence two prompts share is listed with the first.
    pub fn sentences_ahead(&self, max_turns: u32) -> Vec<(u32, Vec<String>)> {
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for (turns, text) in self.conv.variable_prompts_ahead(max_turns) {
            let prompt: Vec<String> = normalise::voiced_units(&text, self.locale, true)
                .into_iter()
                .filter(|s| seen.insert(s.clone()))
                .collect();
            if !prompt.is_empty() {
                out.push((turns, prompt));
            }
        }
        out
    }

    /// The call was answered: the bot speaks first.
    pub fn start(&mut self, now: Millis) -> Result<Vec<Output>, SpeechError> {
        self.answered = false;
        let actions = self.conv.handle(Event::Start).actions;
        let mut out = Vec::new();
        self.act(now, actions, &mut out)?;
        Ok(out)
    }

    /// Something the call did that the conversation must hear: a transfer failed (the bot
    /// has the customer again) or completed, or the customer hung up.
    pub fn call_event(&mut self, now: Millis, event: Event) -> Result<Vec<Output>, SpeechError> {
        self.answered = false;
        let actions = self.conv.handle(event).actions;
        let mut out = Vec::new();
        self.act(now, actions, &mut out)?;
        Ok(out)
    }

    /// Playout ran dry after the last queued prompt.
    pub fn playback_finished(&mut self, now: Millis) -> Result<Vec<Output>, SpeechError> {
        self.answered = false;
        let acts = self.turn.push(now, TurnEvent::PlaybackFinished);
        let mut out = Vec::new();
        self.turn_actions(now, acts, &mut out)?;
        Ok(out)
    }

    /// The loudness of a frame we just played (for the echo gate).
    pub fn played(&mut self, now: Millis, energy_db: f32) {
        let _ = self.turn.push(now, TurnEvent::OutboundFrame { energy_db });
    }

    /// When the turn controller's next timer (no input, a final text overdue) falls due,
    /// for a driver that has no frames to feed.
    pub fn poll_timeout(&self) -> Option<Millis> {
        self.turn.next_deadline()
    }

    /// Time passed without a frame: fires the timers that are due.
    pub fn handle_timeout(&mut self, now: Millis) -> Result<Vec<Output>, SpeechError> {
        self.answered = false;
        let acts = self.turn.push(now, TurnEvent::Tick);
        let mut out = Vec::new();
        self.turn_actions(now, acts, &mut out)?;
        Ok(out)
    }

    /// One inbound 20 ms frame (16 kHz); `now` is the time of its last sample.
    pub fn push_inbound(&mut self, now: Millis, pcm: &[i16]) -> Result<Vec<Output>, SpeechError> {
        self.answered = false;
        let mut out = Vec::new();
        self.hold_sentences = false;
        self.pump(&mut out);
        let now_ms = now.0;
        let samples = crate::speech::audio::from_i16(pcm);
        if self.audio.is_empty() {
            self.audio_start_ms = now_ms.saturating_sub(pcm.len() as u64 / 16);
        }
        self.audio.extend_from_slice(&samples);
        let excess = (self.audio.len() as u64 / 16).saturating_sub(self.keep_ms);
        if excess > 0 {
            self.audio.drain(..(excess * 16) as usize);
            self.audio_start_ms += excess;
        }
        let energy_db = turn::frame_energy_db(pcm);
        let quiet = energy_db < self.quiet_below_db;
        self.quiet_ms = if quiet { self.quiet_ms + FRAME_MS } else { 0 };
        // The dips between a speaker's words are quiet too: the detector hears them, or
        // it would start cold after every one (Silero then takes ~0.5 s to say "speech"
        // again, and a customer talking over the bot is not heard for seconds).
        let rest = self.quiet_ms > DETECTOR_REST_AFTER_MS;
        if rest && self.quiet_ms <= DETECTOR_REST_AFTER_MS + FRAME_MS {
            // Frames are skipped from here: the detector's context would not join on.
            self.vad.reset();
        }
        let speaking = !rest && self.vad.speech_prob(&samples) >= 0.5 && !quiet;
        if speaking {
            // The customer goes on: whatever is decoded for the pause is stale.
            self.spec = None;
            self.pause_from_ms = None;
        } else {
            if self.speaking {
                self.pause_from_ms = Some(now_ms);
            }
            // A pause inside a live utterance that lasted past the gaps between words:
            // decode what was said so far now, so the decode runs during the endpoint
            // silence instead of after it. Shorter gaps are not worth a decode (the
            // customer almost always goes on, and a decode under way is wasted).
            let paused_ms = self.pause_from_ms.map(|p| now_ms + FRAME_MS - p);
            if let (Some(first), Some(paused), None) = (self.live_from_ms, paused_ms, &self.spec) {
                if paused >= SPECULATE_AFTER_MS {
                    let from_ms = first.saturating_sub(ONSET_MS);
                    let id = self.request_id();
                    self.decodes += 1;
                    out.push(Output::Transcribe {
                        id,
                        pcm: self.slice(from_ms, now_ms),
                        speculative: true,
                    });
                    self.spec = Some(Speculation {
                        id,
                        from_ms,
                        to_ms: now_ms,
                        asked_at: now,
                        done: None,
                    });
                }
            }
        }
        self.speaking = speaking;
        let ev = TurnEvent::inbound(speaking, energy_db);
        let acts = self.turn.push(now, ev);
        self.turn_actions(now, acts, &mut out)?;
        Ok(out)
    }

    /// The answer to an [`Output::Transcribe`]. An answer nobody waits for any more (the
    /// customer resumed after the pause it was decoded for) is ignored; a failed decode
    /// that is needed ends the pipeline with the error.
    pub fn transcribed(
        &mut self,
        now: Millis,
        id: RequestId,
        result: Result<Transcript, SpeechError>,
    ) -> Result<Vec<Output>, SpeechError> {
        self.answered = false;
        let mut out = Vec::new();
        if let Some(s) = self.spec.as_mut().filter(|s| s.id == id) {
            // The pause's decode finished while the customer is still silent: its text is
            // the utterance so far, and how finished it sounds sets the endpoint silence.
            if s.done.is_none() {
                let partial = result.as_ref().ok().map(|t| t.text.clone());
                s.done = Some(result);
                if let (Some(text), Some(utterance)) =
                    (partial.filter(|t| !t.is_empty()), self.live_id)
                {
                    let acts = self
                        .turn
                        .push(now, TurnEvent::AsrPartial { utterance, text });
                    self.turn_actions(now, acts, &mut out)?;
                }
            }
            return Ok(out);
        }
        let Some(at) = self.finals.iter().position(|f| f.id == id) else {
            return Ok(out);
        };
        let f = self.finals.remove(at);
        let t = result?;
        // The part of the decode that ran before the endpoint overlapped its silence.
        let before_endpoint = f.ended.endpoint_at.ms_since(f.asked_at) as f64;
        let asr_ms = (t.took_ms - before_endpoint).max(0.0);
        let queue_ms = (t.queued_ms - before_endpoint).clamp(0.0, asr_ms);
        let more = self.finish_utterance(now, f.ended, t.text, (asr_ms, queue_ms), &mut out)?;
        self.turn_actions(now, more, &mut out)?;
        Ok(out)
    }

    /// The answer to an [`Output::PredictEnd`]: the probability that the customer has
    /// finished. An answer about a pause the customer has since spoken after is ignored
    /// (the controller knows); a failed judgement is logged and leaves the utterance to
    /// end on silence, since the model only ever shortens the wait.
    pub fn end_predicted(
        &mut self,
        now: Millis,
        id: RequestId,
        result: Result<f32, SpeechError>,
    ) -> Result<Vec<Output>, SpeechError> {
        self.answered = false;
        let mut out = Vec::new();
        let Some((_, utterance)) = self.end_asked.take_if(|(r, _)| *r == id) else {
            return Ok(out);
        };
        let probability = match result {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "end-of-turn model failed; ending on silence");
                return Ok(out);
            }
        };
        if self.live_id == Some(utterance) {
            self.end_probability = Some(probability);
        }
        let acts = self.turn.push(
            now,
            TurnEvent::EndVerdict {
                utterance,
                probability,
            },
        );
        self.turn_actions(now, acts, &mut out)?;
        Ok(out)
    }

    /// The end-of-turn judgement still awaited, if any (a driver that runs inline waits
    /// for it: it decides whether the turn ends now).
    pub fn awaited_end(&self) -> Option<RequestId> {
        self.end_asked.map(|(id, _)| id)
    }

    /// The answer to an [`Output::Synthesize`]. An answer to a sentence dropped meanwhile
    /// (barge-in) is ignored.
    pub fn synthesized(
        &mut self,
        now: Millis,
        id: RequestId,
        result: Result<Voiced, SpeechError>,
    ) -> Result<Vec<Output>, SpeechError> {
        self.answered = false;
        let _ = now;
        let mut out = Vec::new();
        let Some(v) = self.voicing.take_if(|v| v.id == id) else {
            return Ok(out);
        };
        let voiced = result?;
        if voiced.source == Source::Synthesized {
            self.hold_sentences = true;
        }
        self.play(v.prompt_id, voiced, &mut out);
        self.pump(&mut out);
        Ok(out)
    }

    /// The answer to an [`Output::LookUpRecording`]: the recording, or `None` to voice
    /// the prompt sentence by sentence.
    pub fn recorded(
        &mut self,
        now: Millis,
        id: RequestId,
        result: Result<Option<Voiced>, SpeechError>,
    ) -> Result<Vec<Output>, SpeechError> {
        let _ = now;
        self.answered = false;
        let mut out = Vec::new();
        let Some(v) = self.voicing.take_if(|v| v.id == id) else {
            return Ok(out);
        };
        match result? {
            Some(voiced) => self.play(v.prompt_id, voiced, &mut out),
            None => {
                let text = v.recording_of.unwrap_or_default();
                let sentences =
                    normalise::sentences(&normalise::normalize(&text, self.locale), self.locale);
                for s in sentences.into_iter().rev() {
                    self.pending.push_front(Pending::Sentence {
                        prompt_id: v.prompt_id.clone(),
                        text: s,
                        persist: true,
                    });
                }
            }
        }
        self.pump(&mut out);
        Ok(out)
    }

    /// The conversation's outcome once it is over (its hang-up node's outcome,
    /// `transferred`, `customer_hangup`), for the call's record.
    pub fn outcome(&self) -> Option<&str> {
        match self.conv.status() {
            crate::dialogue::engine::Status::Ended(o) => Some(o),
            _ => None,
        }
    }

    /// What the customer gave on the call (the scenario's `source: call` variables that
    /// are set: a promised date and amount...), as text, for the call's record.
    pub fn call_values(&self) -> std::collections::BTreeMap<String, String> {
        self.conv
            .call_values()
            .into_iter()
            .map(|(k, v)| (k, v.to_string()))
            .collect()
    }

    /// Every turn's latency so far.
    pub fn latencies(&self) -> &[TurnLatency] {
        &self.latencies
    }

    /// Adds the driver's measure of the dialogue engine's time to the turn the last input
    /// call answered (the wall time of that call: the pipeline has no clock); does
    /// nothing when that call answered no turn.
    pub fn add_engine_ms(&mut self, ms: f64) {
        if !self.answered {
            return;
        }
        let rec = match self.open_turn.as_mut() {
            Some(r) => r,
            None => match self.latencies.last_mut() {
                Some(r) => r,
                None => return,
            },
        };
        rec.nlu_ms += ms;
        rec.total_ms += ms;
    }

    /// The driver's measure of how far its frames arrive behind the wire (the pipeline
    /// has no clock); copied into the record of the next turn answered.
    pub fn set_lag_ms(&mut self, ms: f64) {
        self.lag_ms = ms;
    }

    /// Whether the bot still has sentences to hand out (the playout queue may run dry
    /// between two sentences while the second is synthesized: that is not the end of
    /// the prompt).
    pub fn has_pending_audio(&self) -> bool {
        self.voicing.is_some()
            || self
                .pending
                .iter()
                .any(|p| !matches!(p, Pending::Control(_)))
    }

    /// The sentences queued behind the one being voiced, in order, each with whether it
    /// may be stored: a driver may have them made while the current one plays, so a long
    /// prompt does not run dry between its sentences.
    pub fn upcoming_sentences(&self) -> Vec<(&str, bool)> {
        self.pending
            .iter()
            .filter_map(|p| match p {
                Pending::Sentence { text, persist, .. } => Some((text.as_str(), *persist)),
                _ => None,
            })
            .collect()
    }

    /// The decodes whose answers the pipeline still reads: the current pause's, and the
    /// ended utterances'. A driver may withdraw every other one (the customer went on
    /// after the pause it was started at).
    pub fn wanted_transcripts(&self) -> Vec<RequestId> {
        self.spec
            .iter()
            .filter(|s| s.done.is_none())
            .map(|s| s.id)
            .chain(self.finals.iter().map(|f| f.id))
            .collect()
    }

    /// Whether an ended utterance's text is still awaited (a driver that decodes inline
    /// waits for these before the next frame, as a live call's recognizer is waited for).
    pub fn awaited_transcripts(&self) -> Vec<RequestId> {
        self.finals.iter().map(|f| f.id).collect()
    }

    fn request_id(&mut self) -> RequestId {
        let id = RequestId(self.next_request);
        self.next_request += 1;
        id
    }

    fn slice(&self, from_ms: u64, to_ms: u64) -> Vec<f32> {
        let a = (from_ms.saturating_sub(self.audio_start_ms) * 16) as usize;
        let b = ((to_ms.saturating_sub(self.audio_start_ms)) * 16) as usize;
        let b = b.min(self.audio.len());
        self.audio
            .get(a.min(b)..b)
            .map(<[f32]>::to_vec)
            .unwrap_or_default()
    }

    fn turn_actions(
        &mut self,
        now: Millis,
        acts: Vec<TurnAction>,
        out: &mut Vec<Output>,
    ) -> Result<(), SpeechError> {
        let mut queue: VecDeque<TurnAction> = acts.into();
        while let Some(a) = queue.pop_front() {
            match a {
                TurnAction::FlushPlayout { .. } => {
                    // Barge-in: what was not yet said is dropped too (a sentence being
                    // voiced is not played when it arrives); a transfer or hang-up the
                    // conversation asked for still happens.
                    self.pending.retain(|p| matches!(p, Pending::Control(_)));
                    self.voicing = None;
                    out.push(Output::Flush);
                }
                TurnAction::StartUtterance {
                    utterance,
                    first_voiced_ms,
                    ..
                } => {
                    self.live_from_ms = Some(first_voiced_ms);
                    self.live_id = Some(utterance);
                    self.spec = None;
                    self.decodes = 0;
                    self.end_asked = None;
                    self.end_probability = None;
                }
                TurnAction::PredictEnd {
                    utterance,
                    first_voiced_ms,
                    ..
                } => {
                    let from_ms = first_voiced_ms
                        .saturating_sub(END_MODEL_PRE_SPEECH_MS)
                        .max(now.0.saturating_sub(END_MODEL_WINDOW_MS));
                    let id = self.request_id();
                    out.push(Output::PredictEnd {
                        id,
                        pcm: self.slice(from_ms, now.0),
                    });
                    self.end_asked = Some((id, utterance));
                }
                TurnAction::EndOfUtterance {
                    utterance,
                    timing,
                    cause,
                    ..
                } => {
                    self.live_from_ms = None;
                    self.live_id = None;
                    self.end_asked = None;
                    let end_probability = self.end_probability.take();
                    let from_ms = timing.first_voiced_ms.saturating_sub(ONSET_MS);
                    // The speculative decode is good when it covers the same utterance up
                    // to (at least) its last voiced frame.
                    let spec = self
                        .spec
                        .take()
                        .filter(|s| s.from_ms == from_ms && s.to_ms >= timing.last_voiced_ms);
                    let ended = Ended {
                        utterance,
                        speech_ms: timing.last_voiced_ms.saturating_sub(timing.first_voiced_ms),
                        endpoint_ms: timing.endpoint_ms.saturating_sub(timing.last_voiced_ms),
                        endpoint_at: now,
                        speculative: spec.is_some(),
                        decodes: self.decodes + u32::from(spec.is_none()),
                        cause,
                        end_probability,
                    };
                    self.decodes = 0;
                    self.pause_from_ms = None;
                    match spec {
                        Some(Speculation { done: Some(r), .. }) => {
                            let more =
                                self.finish_utterance(now, ended, r?.text, (0.0, 0.0), out)?;
                            queue.extend(more);
                        }
                        Some(s) => self.finals.push(AwaitedFinal {
                            id: s.id,
                            asked_at: s.asked_at,
                            ended,
                        }),
                        None => {
                            let id = self.request_id();
                            out.push(Output::Transcribe {
                                id,
                                pcm: self.slice(from_ms, timing.last_voiced_ms + 100),
                                speculative: false,
                            });
                            self.finals.push(AwaitedFinal {
                                id,
                                asked_at: now,
                                ended,
                            });
                        }
                    }
                }
                TurnAction::NoInput => {
                    let actions = self.conv.handle(Event::NoInput).actions;
                    self.act(now, actions, out)?;
                }
                TurnAction::DropUtterance { .. } => {
                    self.live_from_ms = None;
                    self.live_id = None;
                    self.spec = None;
                    self.end_asked = None;
                    self.end_probability = None;
                }
                // A turn held back while a protected prompt played, released now that it
                // is over. Its wait was the prompt's, by design: it is answered, not
                // measured as the bot's response time.
                TurnAction::UserTurn { text, .. } => self.answer(now, text, None, out)?,
            }
        }
        Ok(())
    }

    /// Gives a turn to the dialogue and queues its reply; `record` opens the turn's
    /// latency record (None for a turn that is not the bot's to be measured on).
    fn answer(
        &mut self,
        now: Millis,
        text: String,
        record: Option<TurnLatency>,
        out: &mut Vec<Output>,
    ) -> Result<(), SpeechError> {
        out.push(Output::Heard(text.clone()));
        self.answered = true;
        let actions = self.conv.handle(Event::Utterance(text)).actions;
        // Closes a reply that never played before this turn's record opens.
        self.close_turn(0.0, None);
        self.open_turn = record;
        self.act(now, actions, out)?;
        if !self.has_pending_audio() {
            // Nothing to say (a hang-up, a transfer): the record closes now.
            self.close_turn(0.0, None);
        }
        Ok(())
    }

    /// The final text of an ended utterance: the turn controller decides whether it is a
    /// turn; a turn goes to the dialogue and its reply is queued. Returns the controller's
    /// other actions for the caller's queue.
    fn finish_utterance(
        &mut self,
        now: Millis,
        ended: Ended,
        text: String,
        (asr_ms, asr_queue_ms): (f64, f64),
        out: &mut Vec<Output>,
    ) -> Result<Vec<TurnAction>, SpeechError> {
        let more = self.turn.push(
            now,
            TurnEvent::AsrFinal {
                utterance: ended.utterance,
                text,
            },
        );
        let mut rest = Vec::new();
        for m in more {
            if let TurnAction::UserTurn { text, .. } = m {
                let record = TurnLatency {
                    text: text.clone(),
                    speech_ms: ended.speech_ms,
                    endpoint_ms: ended.endpoint_ms,
                    ended_by: ended.cause,
                    end_probability: ended.end_probability,
                    asr_ms,
                    asr_queue_ms,
                    lag_ms: self.lag_ms,
                    speculative: ended.speculative,
                    decodes: ended.decodes,
                    nlu_ms: 0.0,
                    tts_first_ms: 0.0,
                    tts_source: None,
                    total_ms: 0.0,
                };
                self.answer(now, text, Some(record), out)?;
            } else {
                rest.push(m);
            }
        }
        Ok(rest)
    }

    fn close_turn(&mut self, tts_first_ms: f64, source: Option<Source>) {
        if let Some(mut rec) = self.open_turn.take() {
            rec.tts_first_ms = tts_first_ms;
            rec.tts_source = source;
            rec.total_ms = rec.endpoint_ms as f64 + rec.asr_ms + rec.nlu_ms + tts_first_ms;
            self.latencies.push(rec);
        }
    }

    fn act(
        &mut self,
        now: Millis,
        actions: Vec<Action>,
        out: &mut Vec<Output>,
    ) -> Result<(), SpeechError> {
        self.hold_sentences = false;
        for a in actions {
            match a {
                Action::Say {
                    text,
                    prompt_id,
                    barge_in,
                    is_static,
                    ..
                } => {
                    let _ = self.turn.push(
                        now,
                        TurnEvent::PlaybackStarted {
                            prompt_id: prompt_id.clone(),
                            barge_in,
                            text: text.clone(),
                        },
                    );
                    if is_static {
                        self.pending
                            .push_back(Pending::Recording { prompt_id, text });
                    } else {
                        // Phrase by phrase: the value-free phrases come from the
                        // cache, and a live one is voiced while the one before it plays.
                        for s in normalise::voiced_units(&text, self.locale, true) {
                            self.pending.push_back(Pending::Sentence {
                                prompt_id: prompt_id.clone(),
                                text: s,
                                persist: false,
                            });
                        }
                    }
                }
                Action::Listen { timeout_ms, .. } => {
                    let acts = self.turn.push(now, TurnEvent::Listen { timeout_ms });
                    self.turn_actions(now, acts, out)?;
                }
                // After the audio queued before them: a goodbye plays before the hang-up.
                Action::Transfer { reason, .. } => self
                    .pending
                    .push_back(Pending::Control(Output::Transfer { reason })),
                Action::Hangup { outcome } => self
                    .pending
                    .push_back(Pending::Control(Output::Hangup { outcome })),
                _ => {}
            }
        }
        self.pump(out);
        Ok(())
    }

    fn play(&mut self, prompt_id: String, voiced: Voiced, out: &mut Vec<Output>) {
        self.close_turn(voiced.took_ms, Some(voiced.source));
        out.push(Output::Play {
            prompt_id,
            pcm: voiced.pcm,
            source: voiced.source,
        });
    }

    /// Hands out what is queued, in order, one voicing request at a time: controls go out
    /// as soon as the audio before them has, and after a sentence synthesized live the
    /// next one waits for the next frame, so the first sentence of a reply goes out at
    /// once and the rest while it plays.
    fn pump(&mut self, out: &mut Vec<Output>) {
        while self.voicing.is_none() {
            if self.hold_sentences && matches!(self.pending.front(), Some(Pending::Sentence { .. }))
            {
                break;
            }
            let Some(next) = self.pending.pop_front() else {
                break;
            };
            match next {
                Pending::Control(o) => out.push(o),
                Pending::Recording { prompt_id, text } => {
                    let id = self.request_id();
                    out.push(Output::LookUpRecording {
                        id,
                        prompt_id: prompt_id.clone(),
                    });
                    self.voicing = Some(Voicing {
                        id,
                        prompt_id,
                        recording_of: Some(text),
                    });
                }
                Pending::Sentence {
                    prompt_id,
                    text,
                    persist,
                } => {
                    let id = self.request_id();
                    out.push(Output::Synthesize {
                        id,
                        prompt_id: prompt_id.clone(),
                        sentence: text,
                        persist,
                    });
                    self.voicing = Some(Voicing {
                        id,
                        prompt_id,
                        recording_of: None,
                    });
                }
            }
        }
    }
}

/// The units of a template that read the same whatever the variables hold, cut as the
/// bot requests them ([`normalise::voiced_units`]: whole sentences for a static prompt,
/// phrases for one with variables): a variable is replaced by a private-use mark, and
/// units carrying it are dropped.
pub fn static_units(tpl: &Template, locale: Locale) -> Vec<String> {
    const MARK: char = '\u{E000}';
    let mut src = String::new();
    for seg in &tpl.segments {
        match seg {
            Segment::Text(t) => src.push_str(t),
            Segment::Var(_) => src.push(MARK),
        }
    }
    normalise::voiced_units(&src, locale, !tpl.is_static())
        .into_iter()
        .filter(|s| !s.contains(MARK))
        .collect()
}

#[cfg(test)]
mod tests;
