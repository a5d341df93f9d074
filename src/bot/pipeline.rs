//! One answered call's speech loop: customer frames in, bot audio out.
//!
//! Inbound 16 kHz frames go to the Silero VAD and the turn controller (`turn`); when the
//! controller ends an utterance, the audio from its first voiced frame to its last is
//! decoded by the shared recognizer, the text goes to the dialogue engine, and each
//! `Say` is fetched sentence by sentence from the prompt cache (synthesized live only
//! when a sentence carries a variable). Time is an argument (`now_ms`, the inbound
//! frame clock), so a recorded or synthesized customer can be replayed faster than real
//! time; each turn's latency is the audio time from the last voiced sample to the
//! endpoint, plus the measured compute from the endpoint to the reply's first sample.

use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use super::prompts::{Piece, Planned, PromptCache, Source};
use crate::dialogue::engine::{Action, Conversation, Event};
use crate::speech::asr::AsrService;
use crate::speech::tts::Voice;
use crate::speech::turn::{self, Action as TurnAction, Event as TurnEvent, TurnController};
use crate::speech::vad::Vad;
use crate::speech::SpeechError;
use crate::Locale;

/// What the call should do.
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
    /// Waiting for the final ASR text at the endpoint.
    pub asr_ms: f64,
    /// The text came from the decode started when the pause began (the customer did not
    /// resume), so most of the ASR time overlapped the endpoint silence.
    pub speculative: bool,
    /// NLU + dialogue engine.
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
    vad: Vad,
    turn: TurnController,
    conv: Conversation,
    asr: AsrService,
    cache: Arc<PromptCache>,
    voice: Arc<Voice>,
    locale: Locale,
    // Inbound audio since `audio_start_ms`, bounded to the longest utterance plus margin.
    audio: Vec<f32>,
    audio_start_ms: u64,
    keep_ms: u64,
    latencies: Vec<TurnLatency>,
    // Speculative decoding: the VAD's speech flag last frame, the live utterance's first
    // voiced time, and the decode started when its latest pause began.
    speaking: bool,
    live_from_ms: Option<u64>,
    live_id: Option<turn::UtteranceId>,
    spec: Option<Speculation>,
    pending: std::collections::VecDeque<Pending>,
    // Sentences of this call's prompts with variables, synthesized ahead (see
    // `prefetch`); dropped with the call, never stored.
    ahead: Arc<std::sync::Mutex<std::collections::HashMap<String, Arc<Vec<i16>>>>>,
}

struct Speculation {
    from_ms: u64,
    to_ms: u64,
    rx: tokio::sync::oneshot::Receiver<Result<crate::speech::asr::Transcript, SpeechError>>,
    // The decode's result once it arrived during the pause (it was also given to the turn
    // controller as a partial, so a finished-sounding sentence endpoints sooner).
    done: Option<Result<crate::speech::asr::Transcript, SpeechError>>,
}

/// Audio kept before an utterance's first voiced frame, so the onset is not clipped.
const ONSET_MS: u64 = 150;

impl BotPipeline {
    /// A pipeline for one call.
    pub fn new(
        vad: Vad,
        turn_cfg: turn::TurnConfig,
        conv: Conversation,
        asr: AsrService,
        cache: Arc<PromptCache>,
        voice: Arc<Voice>,
        locale: Locale,
    ) -> Result<BotPipeline, SpeechError> {
        let keep_ms = u64::from(turn_cfg.max_utterance_ms) + 2_000;
        let turn = TurnController::new(turn_cfg).map_err(|e| SpeechError::Config {
            at: "turn".into(),
            why: e.to_string(),
        })?;
        Ok(BotPipeline {
            vad,
            turn,
            conv,
            asr,
            cache,
            voice,
            locale,
            audio: Vec::new(),
            audio_start_ms: 0,
            keep_ms,
            latencies: Vec::new(),
            speaking: false,
            live_from_ms: None,
            live_id: None,
            spec: None,
            pending: std::collections::VecDeque::new(),
            ahead: Arc::default(),
        })
    }

    /// Synthesizes, on a thread of its own, the sentences of this call's prompts that
    /// carry the customer's values and are not cached (names, amounts), so replies that
    /// use them start from memory. Call once, before dialling or at the answer (a ringing
    /// phone gives it seconds); the handle tells when it is done.
    pub fn prefetch(&self) -> Option<std::thread::JoinHandle<()>> {
        let texts = self.conv.known_variable_prompts();
        let (cache, voice, locale, ahead) = (
            self.cache.clone(),
            self.voice.clone(),
            self.locale,
            self.ahead.clone(),
        );
        let spawned = std::thread::Builder::new()
            .name("tts-ahead".into())
            .spawn(move || {
                for text in texts {
                    for s in crate::language::normalise::sentences(
                        &crate::language::normalise::normalize(&text, locale),
                        locale,
                    ) {
                        // The call is over (its pipeline dropped the map): stop voicing.
                        if Arc::strong_count(&ahead) == 1 {
                            return;
                        }
                        let known = ahead.lock().map(|m| m.contains_key(&s)).unwrap_or(true);
                        if known {
                            continue;
                        }
                        match cache.fetch(&voice, locale, &s, false) {
                            Ok(p) if p.source == Source::Synthesized => {
                                if let Ok(mut m) = ahead.lock() {
                                    m.insert(s, p.pcm);
                                }
                            }
                            Ok(_) => {}
                            Err(e) => {
                                tracing::warn!(error = %e, "synthesis ahead failed");
                                return;
                            }
                        }
                    }
                }
            });
        match spawned {
            Ok(h) => Some(h),
            Err(e) => {
                tracing::warn!(error = %e, "cannot start synthesis ahead");
                None
            }
        }
    }

    /// The call was answered: the bot speaks first.
    pub fn start(&mut self, now_ms: u64) -> Result<Vec<Output>, SpeechError> {
        let actions = self.conv.handle(Event::Start).actions;
        let mut out = Vec::new();
        self.act(now_ms, actions, &mut out, None)?;
        Ok(out)
    }

    /// Something the call did that the conversation must hear: a transfer failed (the bot
    /// has the customer again) or completed, or the customer hung up.
    pub fn call_event(&mut self, now_ms: u64, event: Event) -> Result<Vec<Output>, SpeechError> {
        let actions = self.conv.handle(event).actions;
        let mut out = Vec::new();
        self.act(now_ms, actions, &mut out, None)?;
        Ok(out)
    }

    /// Playout ran dry after the last queued prompt.
    pub fn playback_finished(&mut self, now_ms: u64) -> Result<Vec<Output>, SpeechError> {
        let acts = self.turn.push(now_ms, TurnEvent::PlaybackFinished);
        let mut out = Vec::new();
        self.turn_actions(now_ms, acts, &mut out)?;
        Ok(out)
    }

    /// The loudness of a frame we just played (for the echo gate).
    pub fn played(&mut self, now_ms: u64, energy_db: f32) {
        let _ = self
            .turn
            .push(now_ms, TurnEvent::OutboundFrame { energy_db });
    }

    /// One inbound 20 ms frame (16 kHz); `now_ms` is the time of its last sample.
    pub fn push_inbound(&mut self, now_ms: u64, pcm: &[i16]) -> Result<Vec<Output>, SpeechError> {
        let mut out = Vec::new();
        if !self.pending.is_empty() {
            self.pump(&mut out, None, Instant::now())?;
        }
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
        let step = self.vad.push(&samples);
        if step.speaking {
            // The customer goes on: whatever was decoded at the pause is stale.
            self.spec = None;
        } else if self.speaking {
            // A pause began inside a live utterance: decode what was said so far now, so
            // the decode runs during the endpoint silence instead of after it.
            if let Some(first) = self.live_from_ms {
                let from_ms = first.saturating_sub(ONSET_MS);
                let rx = self.asr.submit(self.slice(from_ms, now_ms));
                self.spec = Some(Speculation {
                    from_ms,
                    to_ms: now_ms,
                    rx,
                    done: None,
                });
            }
        }
        self.speaking = step.speaking;
        // The pause's decode finished while the customer is still silent: its text is the
        // utterance so far, and how finished it sounds sets the endpoint silence.
        if let (Some(s), Some(id)) = (self.spec.as_mut(), self.live_id) {
            if s.done.is_none() {
                if let Ok(r) = s.rx.try_recv() {
                    let partial = r.as_ref().ok().map(|t| t.text.clone());
                    s.done = Some(r);
                    if let Some(text) = partial.filter(|t| !t.is_empty()) {
                        let acts = self.turn.push(
                            now_ms,
                            TurnEvent::AsrPartial {
                                utterance: id,
                                text,
                            },
                        );
                        self.turn_actions(now_ms, acts, &mut out)?;
                    }
                }
            }
        }
        let ev = TurnEvent::inbound(step.speaking, turn::frame_energy_db(pcm));
        let acts = self.turn.push(now_ms, ev);
        self.turn_actions(now_ms, acts, &mut out)?;
        Ok(out)
    }

    /// Every turn's latency so far.
    pub fn latencies(&self) -> &[TurnLatency] {
        &self.latencies
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
        now_ms: u64,
        acts: Vec<TurnAction>,
        out: &mut Vec<Output>,
    ) -> Result<(), SpeechError> {
        let mut queue: std::collections::VecDeque<TurnAction> = acts.into();
        while let Some(a) = queue.pop_front() {
            match a {
                TurnAction::FlushPlayout { .. } => {
                    // Barge-in: what was not yet said is dropped too; a transfer or
                    // hang-up the conversation asked for still happens.
                    self.pending.retain(|p| matches!(p, Pending::Control(_)));
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
                }
                TurnAction::EndOfUtterance {
                    utterance, timing, ..
                } => {
                    self.live_from_ms = None;
                    self.live_id = None;
                    let from_ms = timing.first_voiced_ms.saturating_sub(ONSET_MS);
                    let t0 = Instant::now();
                    // The speculative decode is good when it covers the same utterance up
                    // to (at least) its last voiced frame.
                    let spec = self
                        .spec
                        .take()
                        .filter(|s| s.from_ms == from_ms && s.to_ms >= timing.last_voiced_ms);
                    let speculative = spec.is_some();
                    let t = match spec {
                        Some(Speculation { done: Some(r), .. }) => r?,
                        Some(s) => s.rx.blocking_recv().map_err(|_| SpeechError::Stopped)??,
                        None => self.asr.transcribe_blocking(
                            self.slice(from_ms, timing.last_voiced_ms + 100),
                        )?,
                    };
                    let asr_ms = t0.elapsed().as_secs_f64() * 1e3;
                    let endpoint_ms = timing.endpoint_ms.saturating_sub(timing.last_voiced_ms);
                    let speech_ms = timing.last_voiced_ms.saturating_sub(timing.first_voiced_ms);
                    let more = self.turn.push(
                        now_ms,
                        TurnEvent::AsrFinal {
                            utterance,
                            text: t.text.clone(),
                        },
                    );
                    for m in more {
                        if let TurnAction::UserTurn { text, .. } = &m {
                            out.push(Output::Heard(text.clone()));
                            let t1 = Instant::now();
                            let actions = self.conv.handle(Event::Utterance(text.clone())).actions;
                            let nlu_ms = t1.elapsed().as_secs_f64() * 1e3;
                            let mut first = None;
                            self.act(now_ms, actions, out, Some(&mut first))?;
                            let (tts_first_ms, tts_source) =
                                first.map_or((0.0, None), |(ms, s)| (ms, Some(s)));
                            self.latencies.push(TurnLatency {
                                text: text.clone(),
                                speech_ms,
                                endpoint_ms,
                                asr_ms,
                                speculative,
                                nlu_ms,
                                tts_first_ms,
                                tts_source,
                                total_ms: endpoint_ms as f64 + asr_ms + nlu_ms + tts_first_ms,
                            });
                        } else {
                            queue.push_back(m);
                        }
                    }
                }
                TurnAction::NoInput => {
                    let actions = self.conv.handle(Event::NoInput).actions;
                    self.act(now_ms, actions, out, None)?;
                }
                TurnAction::DropUtterance { .. } => {
                    self.live_from_ms = None;
                    self.live_id = None;
                    self.spec = None;
                }
                TurnAction::UserTurn { .. } => {}
            }
        }
        Ok(())
    }

    fn act(
        &mut self,
        now_ms: u64,
        actions: Vec<Action>,
        out: &mut Vec<Output>,
        first: Option<&mut Option<(f64, Source)>>,
    ) -> Result<(), SpeechError> {
        let t0 = Instant::now();
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
                        now_ms,
                        TurnEvent::PlaybackStarted {
                            prompt_id: prompt_id.clone(),
                            barge_in,
                            text: text.clone(),
                        },
                    );
                    for planned in self.cache.plan(self.locale, &prompt_id, is_static, &text)? {
                        self.pending.push_back(match planned {
                            Planned::Ready(piece) => Pending::Ready {
                                prompt_id: prompt_id.clone(),
                                piece,
                            },
                            Planned::Sentence(text) => Pending::Sentence {
                                prompt_id: prompt_id.clone(),
                                text,
                                persist: is_static,
                            },
                        });
                    }
                }
                Action::Listen { timeout_ms, .. } => {
                    let acts = self.turn.push(now_ms, TurnEvent::Listen { timeout_ms });
                    self.turn_actions(now_ms, acts, out)?;
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
        self.pump(out, first, t0)
    }

    /// Whether the bot still has sentences to hand out (the playout queue may run dry
    /// between two sentences while the second is synthesized: that is not the end of
    /// the prompt).
    pub fn has_pending_audio(&self) -> bool {
        self.pending
            .iter()
            .any(|p| !matches!(p, Pending::Control(_)))
    }

    /// Hands out queued sentences in order, synthesizing at most one: the first sentence
    /// of a reply goes out at once, the rest on later frames while it plays, so a long
    /// prompt with variables never holds back its own first audio.
    fn pump(
        &mut self,
        out: &mut Vec<Output>,
        mut first: Option<&mut Option<(f64, Source)>>,
        t0: Instant,
    ) -> Result<(), SpeechError> {
        let mut synthesized = false;
        while let Some(front) = self.pending.front() {
            if synthesized && matches!(front, Pending::Sentence { .. }) {
                break;
            }
            let Some(next) = self.pending.pop_front() else {
                break;
            };
            let (prompt_id, piece) = match next {
                Pending::Control(o) => {
                    out.push(o);
                    continue;
                }
                Pending::Ready { prompt_id, piece } => (prompt_id, piece),
                Pending::Sentence {
                    prompt_id,
                    text,
                    persist,
                } => {
                    let ready = self.ahead.lock().ok().and_then(|m| m.get(&text).cloned());
                    let piece = match ready {
                        Some(pcm) => Piece {
                            text,
                            pcm,
                            source: Source::Memory,
                            ms: 0.0,
                        },
                        None => self.cache.fetch(&self.voice, self.locale, &text, persist)?,
                    };
                    synthesized = piece.source == Source::Synthesized;
                    (prompt_id, piece)
                }
            };
            if let Some(f) = first.as_deref_mut() {
                if f.is_none() {
                    *f = Some((t0.elapsed().as_secs_f64() * 1e3, piece.source));
                }
            }
            out.push(Output::Play {
                prompt_id,
                pcm: piece.pcm,
                source: piece.source,
            });
        }
        Ok(())
    }
}

/// What the bot still has to say or do, in order.
enum Pending {
    /// A recording at hand.
    Ready { prompt_id: String, piece: Piece },
    /// A sentence to fetch from the cache or synthesize.
    Sentence {
        prompt_id: String,
        text: String,
        persist: bool,
    },
    /// A transfer or hang-up that follows the audio before it.
    Control(Output),
}
