//! Runs a [`BotPipeline`]'s requests: decodes on the shared recognizer's threads
//! ([`AsrService`]), sentences from the prompt cache, from the call's sentences voiced
//! ahead, or synthesized.
//!
//! Two ways to run. On a live call ([`BotDriver::with_synthesis`]) the driver never
//! blocks: decodes and syntheses run on the process's workers ([`SynthPool`]'s live lane,
//! earliest due first), and their results are taken at the next frame; so the bot's
//! thread keeps up with the call's frames (barge-in and the next endpoint are heard on
//! time) however long a decode or a sentence takes under load. Without a pool (tools,
//! tests, replays faster than real time) the driver waits where the call must wait: for
//! the first sentence of a reply, for an ended utterance's text, and for the end-of-turn
//! model's verdict at a pause, and synthesizes on the calling thread.
//!
//! Time is the caller's, as for the pipeline: a live call's frame count, or a replay's.
//! The driver reads the wall clock only to measure the compute it waited for, which goes
//! into each turn's latency record, and to tell the pool when a sentence is due.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::pipeline::{BotPipeline, Output, RequestId, Source, Transcript, TurnLatency, Voiced};
use super::prompts::PromptCache;
use super::synth::{AheadTicket, CallSentences, LiveRx, SynthPool, Taken};
use super::voice_activity::SpeechDetector;
use crate::dialogue::engine::{Conversation, Event};
use crate::speech::asr::{self, AsrService};
use crate::speech::smart_turn::{EndOfTurnService, EndVerdict, VerdictReply};
use crate::speech::tts::Voice;
use crate::speech::turn::TurnConfig;
use crate::speech::SpeechError;
use crate::time::Millis;
use crate::Locale;

/// A pipeline with its recognizer and voice: the same inputs as [`BotPipeline`], and only
/// the outputs meant for the call (`Play`, `Flush`, `Heard`, `Transfer`, `Hangup`) come
/// back.
pub struct BotDriver {
    pipeline: BotPipeline,
    asr: AsrService,
    cache: Arc<PromptCache>,
    voice: Arc<Voice>,
    locale: Locale,
    // Decodes under way: the request, its answer channel, when it was asked, and the
    // handle that moves it up the recognizer's queue once the turn waits for it.
    decodes: Vec<Decode>,
    // The end-of-turn model, when the locale has one, and judgements under way.
    end_model: Option<EndOfTurnService>,
    verdicts: Vec<(RequestId, VerdictReply)>,
    // Sentences of this call's prompts with variables, voiced ahead (see `prefetch`);
    // dropped with the call, never stored.
    ahead: Option<Arc<CallSentences>>,
    // On a live call: the workers that synthesize, the sentence being synthesized, and
    // how much audio the call still has queued (when the next sentence is due).
    synth: Option<SynthPool>,
    voicing: Option<LiveVoicing>,
    playout_ms: u64,
    // Later sentences of the prompts being said, being made meanwhile (see `look_ahead`),
    // and the pipeline's list they were chosen from (looked at again only when it moves).
    upcoming: Vec<Upcoming>,
    looked_at: Vec<String>,
}

struct LiveVoicing {
    id: RequestId,
    rx: LiveRx,
    asked: Instant,
    sentence: String,
}

struct Upcoming {
    sentence: String,
    rx: LiveRx,
    asked: Instant,
}

/// How many sentences behind the one being voiced are made ahead on a live call.
const LOOKAHEAD_SENTENCES: usize = 3;

/// How many customer turns ahead a call's prompts are voiced when it is dialled.
const AHEAD_TURNS: u32 = 3;
/// When a prompt that many turns away is probably needed: a turn (the bot's prompt and
/// the customer's answer) takes about this long.
const TURN_DUE: Duration = Duration::from_secs(8);
/// Each further unit (sentence or phrase) of a prompt: while the one before it plays.
const SENTENCE_DUE: Duration = Duration::from_millis(1_200);

struct Decode {
    id: RequestId,
    rx: asr::TranscriptRx,
    asked: Instant,
    urgency: asr::Urgency,
}

impl BotDriver {
    /// A bot for one call.
    pub fn new(
        vad: impl SpeechDetector + 'static,
        turn_cfg: TurnConfig,
        conv: Conversation,
        asr: AsrService,
        cache: Arc<PromptCache>,
        voice: Arc<Voice>,
        locale: Locale,
    ) -> Result<BotDriver, SpeechError> {
        Ok(BotDriver {
            pipeline: BotPipeline::new(Box::new(vad), turn_cfg, conv, locale)?,
            asr,
            cache,
            voice,
            locale,
            decodes: Vec::new(),
            ahead: None,
            synth: None,
            voicing: None,
            playout_ms: 0,
            upcoming: Vec::new(),
            looked_at: Vec::new(),
            end_model: None,
            verdicts: Vec::new(),
        })
    }

    /// Answers the pipeline's end-of-turn questions with this model (the turn config
    /// given to [`BotDriver::new`] says when to ask; without a model the questions go
    /// unanswered and utterances end on silence).
    pub fn with_end_model(mut self, model: EndOfTurnService) -> BotDriver {
        self.end_model = Some(model);
        self
    }

    /// A driver for a live call: it never blocks (see the module's account); sentences
    /// that are neither cached nor voiced ahead are synthesized by `pool`.
    pub fn with_synthesis(mut self, pool: SynthPool) -> BotDriver {
        self.synth = Some(pool);
        self
    }

    /// How much bot audio the call has queued for playout, so the next sentence is due
    /// when it runs out (a live call tells this every frame).
    pub fn set_playout_ms(&mut self, ms: u64) {
        self.playout_ms = ms;
    }

    /// Hands the sentences of this call's prompts that carry the customer's values and
    /// are not cached (names, amounts) to the pool's ahead lane, so replies that use them
    /// start from memory. Call once, when the call is dialled (a ringing phone gives it
    /// seconds). Only prompts a few turns away are voiced, each due about when the call
    /// can reach it (the greeting at once, the next reply's after one turn, later
    /// sentences of a prompt while the earlier ones play), so the lane serves many calls
    /// earliest need first. The ticket tells when they are all voiced; `None` without a
    /// pool.
    pub fn prefetch(&mut self) -> Option<AheadTicket> {
        let pool = self.synth.as_ref()?;
        let now = Instant::now();
        let mut sentences = Vec::new();
        for (turns, prompt) in self.pipeline.sentences_ahead(AHEAD_TURNS) {
            for (i, s) in prompt.into_iter().enumerate() {
                let due = now + TURN_DUE * turns + SENTENCE_DUE * i as u32;
                sentences.push((s, due));
            }
        }
        let (call, ticket) = pool.queue_ahead(sentences);
        self.ahead = Some(call);
        Some(ticket)
    }

    /// The call was answered: the bot speaks first.
    pub fn start(&mut self, now: Millis) -> Result<Vec<Output>, SpeechError> {
        let outs = self.pipeline.start(now)?;
        self.run(now, outs)
    }

    /// Something the call did that the conversation must hear.
    pub fn call_event(&mut self, now: Millis, event: Event) -> Result<Vec<Output>, SpeechError> {
        let outs = self.pipeline.call_event(now, event)?;
        self.run(now, outs)
    }

    /// Playout ran dry after the last queued prompt.
    pub fn playback_finished(&mut self, now: Millis) -> Result<Vec<Output>, SpeechError> {
        let outs = self.pipeline.playback_finished(now)?;
        self.run(now, outs)
    }

    /// The loudness of a frame we just played (for the echo gate).
    pub fn played(&mut self, now: Millis, energy_db: f32) {
        self.pipeline.played(now, energy_db);
    }

    /// One inbound 20 ms frame (16 kHz); `now` is the time of its last sample. Decodes
    /// and syntheses that finished since the last frame are handed to the pipeline first.
    pub fn push_inbound(&mut self, now: Millis, pcm: &[i16]) -> Result<Vec<Output>, SpeechError> {
        let mut out = self.poll(now)?;
        let t0 = Instant::now();
        let outs = self.pipeline.push_inbound(now, pcm)?;
        // A frame that ends an utterance whose text is in hand answers the turn in the
        // same call (the frame's voice activity is counted with the engine).
        self.pipeline
            .add_engine_ms(t0.elapsed().as_secs_f64() * 1e3);
        out.extend(self.run(now, outs)?);
        Ok(out)
    }

    /// Hands the pipeline what finished since the last call: decodes, and on a live call
    /// the sentence being synthesized.
    pub fn poll(&mut self, now: Millis) -> Result<Vec<Output>, SpeechError> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < self.decodes.len() {
            let Decode { id, rx, asked, .. } = &mut self.decodes[i];
            match rx.try_recv() {
                Ok(r) => {
                    let (id, took) = (*id, asked.elapsed());
                    self.decodes.swap_remove(i);
                    let outs = self.transcribed(now, id, r, took)?;
                    out.extend(self.run(now, outs)?);
                }
                Err(tokio::sync::oneshot::error::TryRecvError::Empty) => i += 1,
                Err(tokio::sync::oneshot::error::TryRecvError::Closed) => {
                    let id = *id;
                    self.decodes.swap_remove(i);
                    let outs = self
                        .pipeline
                        .transcribed(now, id, Err(SpeechError::Stopped))?;
                    out.extend(self.run(now, outs)?);
                }
            }
        }
        if let Some(v) = self.voicing.as_mut() {
            let r = match v.rx.try_recv() {
                Ok(r) => Some(r),
                Err(tokio::sync::oneshot::error::TryRecvError::Empty) => None,
                Err(tokio::sync::oneshot::error::TryRecvError::Closed) => {
                    Some(Err(SpeechError::Stopped))
                }
            };
            if let Some(r) = r {
                let (id, took_ms) = (v.id, v.asked.elapsed().as_secs_f64() * 1e3);
                if let (Ok(p), Some(a)) = (&r, &self.ahead) {
                    // Said again (a repeated prompt), it plays from memory.
                    a.keep(&v.sentence, p.pcm.clone());
                }
                self.voicing = None;
                let r = r.map(|p| Voiced {
                    pcm: p.pcm,
                    source: p.source,
                    took_ms,
                });
                let outs = self.pipeline.synthesized(now, id, r)?;
                out.extend(self.run(now, outs)?);
            }
        }
        let mut i = 0;
        while i < self.verdicts.len() {
            let r = match self.verdicts[i].1.try_recv() {
                Ok(r) => r,
                Err(std::sync::mpsc::TryRecvError::Empty) => {
                    i += 1;
                    continue;
                }
                Err(std::sync::mpsc::TryRecvError::Disconnected) => Err(SpeechError::Stopped),
            };
            let id = self.verdicts.swap_remove(i).0;
            let outs = self.end_predicted(now, id, r)?;
            out.extend(self.run(now, outs)?);
        }
        let ahead = self.ahead.clone();
        self.upcoming.retain_mut(|u| match u.rx.try_recv() {
            Ok(r) => {
                if let (Ok(p), Some(a)) = (r, &ahead) {
                    a.keep(&u.sentence, p.pcm);
                }
                false
            }
            Err(tokio::sync::oneshot::error::TryRecvError::Empty) => true,
            Err(tokio::sync::oneshot::error::TryRecvError::Closed) => false,
        });
        self.look_ahead();
        Ok(out)
    }

    /// Has the sentences queued behind the one being voiced made now, on a live call, so
    /// they are at hand when the pipeline asks for them: each is due when the audio
    /// before it will have played (about a sentence apart), so other calls' waiting
    /// replies still go first.
    fn look_ahead(&mut self) {
        let Some(pool) = &self.synth else {
            return;
        };
        let mut due = Instant::now() + Duration::from_millis(self.playout_ms);
        let upcoming: Vec<(String, bool)> = self
            .pipeline
            .upcoming_sentences()
            .into_iter()
            .take(LOOKAHEAD_SENTENCES)
            .map(|(s, p)| (s.to_string(), p))
            .collect();
        if upcoming.iter().map(|(s, _)| s).eq(self.looked_at.iter()) {
            return;
        }
        self.looked_at = upcoming.iter().map(|(s, _)| s.clone()).collect();
        for (sentence, persist) in upcoming {
            due += SENTENCE_DUE;
            let busy = self
                .voicing
                .as_ref()
                .is_some_and(|v| v.sentence == sentence)
                || self.upcoming.iter().any(|u| u.sentence == sentence)
                || self.ahead.as_ref().is_some_and(|a| a.is_ready(&sentence))
                || self.cache.cached(&self.voice, &sentence).is_some();
            if busy {
                continue;
            }
            self.upcoming.push(Upcoming {
                rx: pool.voice(sentence.clone(), persist, due),
                sentence,
                asked: Instant::now(),
            });
        }
    }

    /// How far behind the wire the frames being pushed arrive (see
    /// [`BotPipeline::set_lag_ms`]).
    pub fn set_lag_ms(&mut self, ms: f64) {
        self.pipeline.set_lag_ms(ms);
    }

    /// Every turn's latency so far.
    pub fn latencies(&self) -> &[TurnLatency] {
        self.pipeline.latencies()
    }

    /// The conversation's outcome once it is over (see [`BotPipeline::outcome`]).
    pub fn outcome(&self) -> Option<&str> {
        self.pipeline.outcome()
    }

    /// What the customer gave on the call (see [`BotPipeline::call_values`]).
    pub fn call_values(&self) -> std::collections::BTreeMap<String, String> {
        self.pipeline.call_values()
    }

    /// Whether the bot still has sentences to hand out (see
    /// [`BotPipeline::has_pending_audio`]).
    pub fn has_pending_audio(&self) -> bool {
        self.pipeline.has_pending_audio()
    }

    fn end_predicted(
        &mut self,
        now: Millis,
        id: RequestId,
        r: Result<EndVerdict, SpeechError>,
    ) -> Result<Vec<Output>, SpeechError> {
        let t0 = Instant::now();
        let outs = self
            .pipeline
            .end_predicted(now, id, r.map(|v| v.probability))?;
        self.pipeline
            .add_engine_ms(t0.elapsed().as_secs_f64() * 1e3);
        Ok(outs)
    }

    fn transcribed(
        &mut self,
        now: Millis,
        id: RequestId,
        r: Result<asr::Transcript, SpeechError>,
        took: std::time::Duration,
    ) -> Result<Vec<Output>, SpeechError> {
        let r = r.map(|t| Transcript {
            text: t.text,
            took_ms: took.as_secs_f64() * 1e3,
            queued_ms: t.queue_ms as f64,
        });
        let t0 = Instant::now();
        let outs = self.pipeline.transcribed(now, id, r)?;
        self.pipeline
            .add_engine_ms(t0.elapsed().as_secs_f64() * 1e3);
        Ok(outs)
    }

    /// Carries out the pipeline's requests until it has none left and waits for no
    /// decode; returns what is meant for the call, in order.
    fn run(&mut self, now: Millis, outs: Vec<Output>) -> Result<Vec<Output>, SpeechError> {
        let mut work: std::collections::VecDeque<Output> = outs.into();
        let mut done = Vec::new();
        loop {
            while let Some(o) = work.pop_front() {
                match o {
                    Output::Transcribe {
                        id,
                        pcm,
                        speculative,
                    } => {
                        // A decode started at a pause waits behind the turns that have
                        // ended, until this one's turn ends too.
                        let (rx, urgency) = if speculative {
                            self.asr.submit_background(pcm)
                        } else {
                            let u = asr::Urgency::default();
                            u.raise();
                            (self.asr.submit(pcm), u)
                        };
                        self.decodes.push(Decode {
                            id,
                            rx,
                            asked: Instant::now(),
                            urgency,
                        });
                    }
                    Output::Synthesize {
                        id,
                        sentence,
                        persist,
                        ..
                    } => {
                        if let Some(v) = self.at_hand(&sentence) {
                            work.extend(self.pipeline.synthesized(now, id, Ok(v))?);
                        } else if let Some(at) =
                            self.upcoming.iter().position(|u| u.sentence == sentence)
                        {
                            // Already being made: wait for that one.
                            let u = self.upcoming.swap_remove(at);
                            self.voicing = Some(LiveVoicing {
                                id,
                                rx: u.rx,
                                asked: u.asked,
                                sentence,
                            });
                        } else if let Some(pool) = &self.synth {
                            // Due when the audio queued before it runs out: at once for
                            // the first sentence of a reply.
                            let due = Instant::now() + Duration::from_millis(self.playout_ms);
                            self.voicing = Some(LiveVoicing {
                                id,
                                rx: pool.voice(sentence.clone(), persist, due),
                                asked: Instant::now(),
                                sentence,
                            });
                        } else {
                            let r = self.synthesize_here(&sentence, persist);
                            work.extend(self.pipeline.synthesized(now, id, r)?);
                        }
                    }
                    Output::PredictEnd { id, pcm } => {
                        if let Some(m) = &self.end_model {
                            self.verdicts.push((id, m.submit(pcm)));
                        }
                    }
                    Output::LookUpRecording { id, prompt_id } => {
                        let r = self.cache.pack_recording(self.locale, &prompt_id).map(|p| {
                            p.map(|p| Voiced {
                                pcm: p.pcm,
                                source: p.source,
                                took_ms: p.ms,
                            })
                        });
                        work.extend(self.pipeline.recorded(now, id, r)?);
                    }
                    Output::Flush => {
                        // Barge-in: the sentences being synthesized will not be played;
                        // withdrawing them frees the workers for other calls.
                        self.voicing = None;
                        self.upcoming.clear();
                        done.push(Output::Flush);
                    }
                    other => done.push(other),
                }
            }
            // Decodes nobody will read (the customer went on after the pause they were
            // started at) are withdrawn: one not yet started is never run. An ended
            // utterance's decode goes ahead of other calls' pauses.
            let wanted = self.pipeline.wanted_transcripts();
            self.decodes.retain(|d| wanted.contains(&d.id));
            let awaited = self.pipeline.awaited_transcripts();
            for d in self.decodes.iter().filter(|d| awaited.contains(&d.id)) {
                d.urgency.raise();
            }
            // A live call takes the text at a later frame; otherwise it is waited for, as
            // the call waits for it.
            if self.synth.is_some() {
                break;
            }
            // The verdict decides whether the turn ends at this pause: a replay waits for
            // it (an inference takes milliseconds), so its turns do not depend on timing.
            if let Some(want) = self.pipeline.awaited_end() {
                if let Some(at) = self.verdicts.iter().position(|(id, _)| *id == want) {
                    let (_, rx) = self.verdicts.swap_remove(at);
                    let r = rx.recv().unwrap_or(Err(SpeechError::Stopped));
                    work.extend(self.end_predicted(now, want, r)?);
                    continue;
                }
            }
            let Some(at) = self.decodes.iter().position(|d| awaited.contains(&d.id)) else {
                break;
            };
            let Decode { id, rx, asked, .. } = self.decodes.swap_remove(at);
            let r = rx.blocking_recv().map_err(|_| SpeechError::Stopped)?;
            let took = asked.elapsed();
            work.extend(self.transcribed(now, id, r, took)?);
        }
        Ok(done)
    }

    /// The sentence without synthesizing: voiced ahead for this call, or cached.
    fn at_hand(&self, sentence: &str) -> Option<Voiced> {
        if let Some(Taken::Ready(pcm)) = self.ahead.as_ref().map(|a| a.take(sentence)) {
            return Some(Voiced {
                pcm,
                source: Source::Ahead,
                took_ms: 0.0,
            });
        }
        self.cache.cached(&self.voice, sentence).map(|p| Voiced {
            pcm: p.pcm,
            source: p.source,
            took_ms: p.ms,
        })
    }

    fn synthesize_here(&self, sentence: &str, persist: bool) -> Result<Voiced, SpeechError> {
        let p = self
            .cache
            .fetch(&self.voice, self.locale, sentence, persist)?;
        Ok(Voiced {
            pcm: p.pcm,
            source: p.source,
            took_ms: p.ms,
        })
    }
}
