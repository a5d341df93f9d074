//! The speech bot on a live call: a [`BotDriver`] fed by a call's RTP media, with
//! call-progress detection over the first seconds after the answer.
//!
//! The media worker hands over one 16 kHz frame per 20 ms tick; the frame count is the
//! bot's clock, so the pipeline sees the same times a replayed recording would. Frames are
//! moved off the bounded media channel at once by a forwarding thread, because the
//! pipeline blocks while it waits for the recognizer and the media worker drops frames
//! that find the channel full. Bot audio goes to the call's playout queue; what went onto
//! the wire is metered back for the echo gate, and the queue running dry is the end of a
//! prompt.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use tokio::sync::mpsc;

use super::driver::BotDriver;
use super::pipeline::{Output, TurnLatency};
use super::prompts::{PromptCache, Source, WarmReport};
use super::synth::{SynthPool, SynthStats};
use super::BotError;
use crate::cpd::{Class, CpdConfig, CpdOutcome, Detector, Stage, ToneKind, Verdict};
use crate::dialogue::engine::{Conversation, Event};
use crate::language::redact::mask_account_numbers;
use crate::media::stream::PlayoutQueue;
use crate::scenario::library::Library;
use crate::sip::agent::{
    AgentCommand, AgentMedia, AgentReport, CallAgent, CallEvent, EarlyVerdict,
};
use crate::speech::asr::{AsrService, AsrStats, Recognizer};
use crate::speech::config::SpeechConfig;
use crate::speech::smart_turn::EndOfTurnService;
use crate::speech::tts::Voice;
use crate::speech::turn::{PlayoutMeter, TurnConfig};
use crate::speech::vad::Vad;
use crate::speech::SpeechError;
use crate::time::Millis;
use crate::Locale;

/// What one locale's bot needs loaded before the first call: the recognizer, the voice,
/// the prompt cache and the end-of-turn model if the locale has one. Loaded once per
/// process and shared by every call.
pub struct BotResources {
    cfg: SpeechConfig,
    models: PathBuf,
    locale: Locale,
    asr: AsrService,
    end_model: Option<EndOfTurnService>,
    voice: Arc<Voice>,
    cache: Arc<PromptCache>,
    synth: SynthPool,
}

/// What the shared recognizer and synthesis workers did over a run, for load runs: where
/// the speech CPU went.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SpeechLoad {
    /// The recognizer's queue and decodes.
    pub asr: AsrStats,
    /// Sentences synthesized live and ahead.
    pub tts: SynthStats,
}

impl BotResources {
    /// Load the locale's recognizer and voice; prompts are cached in `cache_dir` (shared
    /// between processes: entries are keyed by voice and text), recorded packs are read
    /// from the config's `prompt_packs`, relative to `root`.
    pub fn load(
        cfg: SpeechConfig,
        models: &Path,
        root: &Path,
        cache_dir: &Path,
        locale: Locale,
    ) -> Result<BotResources, SpeechError> {
        let rec = Recognizer::load(cfg.asr_for(locale)?, models)?;
        // One worker per core (each decode single-threaded): more would only share the
        // cores, fewer leaves a core idle while a turn waits.
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let asr = AsrService::start(rec, cores, 4);
        let end_model = match cfg.live_end_of_turn_for(locale) {
            Some(c) => Some(EndOfTurnService::start(c, models)?),
            None => None,
        };
        let voice = Arc::new(Voice::load(cfg.tts_for(locale)?, models)?);
        let packs = cfg.prompt_packs.iter().map(|p| root.join(p)).collect();
        let cache = Arc::new(PromptCache::new(cache_dir, packs));
        // Live synthesis on one worker per core (a reply waits for it); voicing ahead on
        // one per two cores below ordinary priority: it fills idle time, and the turns in
        // progress keep the CPU when they want it.
        let synth = SynthPool::start(
            cache.clone(),
            voice.clone(),
            locale,
            cores,
            cores.div_ceil(2),
        );
        Ok(BotResources {
            cfg,
            models: models.to_path_buf(),
            locale,
            asr,
            end_model,
            voice,
            cache,
            synth,
        })
    }

    /// What the recognizer and the synthesis-ahead pool did so far.
    pub fn load_stats(&self) -> SpeechLoad {
        SpeechLoad {
            asr: self.asr.stats(),
            tts: self.synth.stats(),
        }
    }

    /// Render every static sentence of `scenario` and the shared dialogs, so a call only
    /// synthesizes the sentences that carry a variable.
    pub fn warm(&self, lib: &Library, scenario: &str) -> Result<WarmReport, SpeechError> {
        self.cache
            .warm_flows(lib.campaign_flows(scenario), &self.voice, self.locale)
    }

    /// A bot for one call. `cpd` turns on call-progress detection for the first
    /// `cpd_window_ms` after the answer.
    pub fn agent(
        &self,
        conv: Conversation,
        cpd: Option<CpdConfig>,
        cpd_window_ms: u64,
    ) -> Result<BotAgent, BotError> {
        let vad = Vad::for_frames(&self.cfg.vad, &self.models)?;
        let mut turn = TurnConfig::for_locale(self.locale.into());
        // The live driver never loses a decode (an answer or an error always comes back),
        // so the final text is waited for as long as a loaded recognizer takes rather
        // than the turn being dropped after the default guard.
        turn.asr_final_timeout_ms = turn.asr_final_timeout_ms.max(LIVE_ASR_FINAL_TIMEOUT_MS);
        if let (Some(c), Some(_)) = (self.cfg.live_end_of_turn_for(self.locale), &self.end_model) {
            c.apply(&mut turn);
        }
        let mut pipeline = BotDriver::new(
            vad,
            turn,
            conv,
            self.asr.clone(),
            self.cache.clone(),
            self.voice.clone(),
            self.locale,
        )?
        .with_synthesis(self.synth.clone());
        if let Some(m) = &self.end_model {
            pipeline = pipeline.with_end_model(m.clone());
        }
        // While the call is set up and rings, the customer's own sentences are voiced.
        let _ = pipeline.prefetch();
        let detector = |c: &CpdConfig, stage| {
            let c = CpdConfig {
                sample_rate_hz: 16_000,
                ..c.clone()
            };
            Detector::new(c, stage).map_err(BotError::CallProgress)
        };
        let (cpd, early) = match &cpd {
            Some(c) => (
                Some(detector(c, Stage::Answered)?),
                Some(EarlyListener {
                    det: detector(c, Stage::EarlyMedia)?,
                    vad: Vad::for_frames(&self.cfg.vad, &self.models)?,
                    asr: self.asr.clone(),
                    audio: Vec::new(),
                    speaking: false,
                    pending: None,
                    heard: Vec::new(),
                }),
            ),
            None => (None, None),
        };
        Ok(BotAgent {
            pipeline,
            locale: self.locale,
            cpd,
            cpd_window_ms,
            early,
        })
    }
}

/// How long a live call waits for an ended utterance's text before the turn controller
/// drops it: a recognizer queue under load takes seconds, and a slow answer is better
/// than none.
const LIVE_ASR_FINAL_TIMEOUT_MS: u32 = 20_000;

/// One call's bot: a [`CallAgent`] that holds the scenario's conversation over the call's
/// media.
pub struct BotAgent {
    pipeline: BotDriver,
    locale: Locale,
    cpd: Option<Detector>,
    cpd_window_ms: u64,
    early: Option<EarlyListener>,
}

/// Call-progress detection on early media: tones from the audio, announcements from their
/// words. Speech alone decides nothing before the answer, because carriers also play
/// music and advertisements there (China's 彩铃) in place of ringback.
struct EarlyListener {
    det: Detector,
    vad: Vad,
    asr: AsrService,
    // Audio of the speech run going on (16 kHz), decoded when it pauses.
    audio: Vec<f32>,
    speaking: bool,
    pending:
        Option<tokio::sync::oneshot::Receiver<Result<crate::speech::asr::Transcript, SpeechError>>>,
    heard: Vec<String>,
}

/// Longest early-media speech run decoded at once (announcements repeat).
const EARLY_MAX_SAMPLES: usize = 16_000 * 8;

impl EarlyListener {
    /// One frame; a verdict that means nobody can be reached.
    fn push(&mut self, now_ms: u64, pcm: &[i16], locale: Locale) -> Option<Verdict> {
        let mut decided = self.det.push(pcm, Millis(now_ms)).filter(early_decides);
        let samples = crate::speech::audio::from_i16(pcm);
        let step = self.vad.push(&samples);
        if step.speaking {
            self.audio.extend_from_slice(&samples);
        }
        let run_over = (self.speaking && !step.speaking) || self.audio.len() >= EARLY_MAX_SAMPLES;
        self.speaking = step.speaking;
        if run_over && self.pending.is_none() && self.audio.len() >= 8_000 {
            self.pending = Some(self.asr.submit(std::mem::take(&mut self.audio)));
        } else if run_over {
            self.audio.clear();
        }
        if let Some(rx) = self.pending.as_mut() {
            match rx.try_recv() {
                Ok(r) => {
                    self.pending = None;
                    if let Ok(t) = r {
                        if !t.text.is_empty() {
                            self.heard.push(t.text.clone());
                            let v = self.det.push_transcript(&t.text, locale, Millis(now_ms));
                            decided = decided.or(v.filter(early_decides));
                        }
                    }
                }
                Err(tokio::sync::oneshot::error::TryRecvError::Empty) => {}
                Err(_) => self.pending = None,
            }
        }
        decided
    }
}

/// Before the answer, only what no person's phone plays ends the call: a named
/// announcement, a special information tone, a busy or reorder tone, a fax or modem.
fn early_decides(v: &Verdict) -> bool {
    match v.class {
        Class::Announcement(crate::cpd::AnnouncementKind::Unknown) => v.evidence.sit.is_some(),
        Class::Announcement(_) | Class::Fax => true,
        Class::Tone(k) => matches!(k, ToneKind::Busy | ToneKind::Reorder | ToneKind::Modem),
        Class::Machine | Class::Human | Class::Silence | Class::Undecided => false,
    }
}

/// One line of the call as the bot saw it.
#[derive(Clone, Debug, Serialize)]
pub struct TranscriptLine {
    /// Audio clock (ms since the answer).
    pub at_ms: u64,
    /// `bot` or `customer`.
    pub who: &'static str,
    /// What the customer said (ASR text); empty for the bot.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub text: String,
    /// The bot's prompt id (`flow.node`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_id: Option<String>,
    /// Where the bot's audio came from (pack, cache, live synthesis), first sentence.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<Source>,
}

/// The bot's account of a call, in the call report's `agent` field.
#[derive(Clone, Debug, Default, Serialize)]
pub struct BotReport {
    /// Bot prompts and customer utterances in order.
    pub transcript: Vec<TranscriptLine>,
    /// Each answered turn's latency (last voiced sample to the reply's first sample).
    pub turns: Vec<TurnLatency>,
    /// Times the customer's speech stopped the bot's playback.
    pub barge_ins: u32,
    /// The call-progress verdict, when detection ran.
    pub cpd: Option<Verdict>,
    /// Its outcome for the dialer.
    pub cpd_outcome: Option<CpdOutcome>,
    /// Whether the bot hung up because of that verdict.
    pub cpd_hangup: bool,
    /// The conversation's outcome code, when it ended: its hang-up node's outcome,
    /// `transferred`, a call-progress verdict (`cpd_voicemail`), or `bot_error`. None when
    /// the line went away in the middle of the conversation (whoever ended the call knows
    /// why).
    pub outcome: Option<String>,
    /// What the customer gave on the call: the scenario's `source: call` variables that
    /// were set (a promised date and amount, a callback date), as text.
    pub captured: std::collections::BTreeMap<String, String>,
    /// The hand-off reason, when the bot asked for a human.
    pub transfer_reason: Option<String>,
    /// What became of the transfer, as the call told the bot.
    pub transfer_result: Option<String>,
    /// Audio the bot heard (s).
    pub audio_s: f64,
    /// The longest an inbound frame waited for the bot's thread (ms): how far the bot
    /// fell behind the call when its thread was busy or starved of CPU.
    pub max_lag_ms: f64,
    /// A speech error that ended the bot's part of the call.
    pub error: Option<String>,
}

/// The report's line for what the customer said. The report is kept (call records, QC):
/// an ID, card or phone number read out to the bot is stored with its last four digits
/// only; the conversation itself heard the whole number.
fn customer_line(at_ms: u64, heard: &str) -> TranscriptLine {
    TranscriptLine {
        at_ms,
        who: "customer",
        text: mask_account_numbers(heard).into_owned(),
        prompt_id: None,
        source: None,
    }
}

/// Frames of played audio an echo can lag behind (15 × 20 ms).
const ECHO_FRAMES: usize = 15;

/// Inbound audio this far (dB) below the loudest recently played frame is echo to call
/// progress: line echo returns 20 dB down or more, a person talking over the bot is near
/// its level (G.168 allows echo paths as close as 6 dB; between 6 and 10 dB it still leaks).
const ECHO_MARGIN_DB: f32 = 10.0;

/// Whether an inbound frame at `inbound_db` is only the echo of what was played (the
/// energies of the last frames played, newest last).
fn is_echo(inbound_db: f32, recent_out: &std::collections::VecDeque<f32>) -> bool {
    let loudest = recent_out.iter().copied().fold(f32::MIN, f32::max);
    inbound_db < loudest - ECHO_MARGIN_DB
}

/// Verdicts that end the call at once: nobody is there to talk to. Silence, a human, or
/// an undecided line keep the bot talking (it spoke first; a listening person is silent).
fn ends_call(v: &Verdict) -> bool {
    match v.class {
        Class::Machine | Class::Announcement(_) | Class::Fax => true,
        Class::Tone(k) => !matches!(k, ToneKind::Ringback),
        Class::Human | Class::Silence | Class::Undecided => false,
    }
}

struct Driver {
    playout: PlayoutQueue,
    meter: PlayoutMeter,
    // Energies of the frames played in the last 300 ms (the echo path's reach).
    recent_out: std::collections::VecDeque<f32>,
    playing: bool,
    commands: mpsc::UnboundedSender<AgentCommand>,
    report: BotReport,
    last_prompt: Option<String>,
    ended: bool,
    transferring: bool,
    /// Time the bot stood aside for a bridge, with no frames to count: added to the
    /// frame clock, so what it says after a take-back is stamped at the call's time.
    away_ms: u64,
}

impl Driver {
    fn apply(
        &mut self,
        now_ms: u64,
        outs: Vec<Output>,
        cpd: Option<&mut Detector>,
        locale: Locale,
    ) {
        let mut cpd = cpd;
        for o in outs {
            match o {
                Output::Play {
                    prompt_id,
                    pcm,
                    source,
                } => {
                    self.meter.queued(&pcm);
                    self.playout.push_8k(&pcm);
                    self.playing = true;
                    if self.last_prompt.as_deref() != Some(prompt_id.as_str()) {
                        self.last_prompt = Some(prompt_id.clone());
                        self.report.transcript.push(TranscriptLine {
                            at_ms: now_ms,
                            who: "bot",
                            text: String::new(),
                            prompt_id: Some(prompt_id),
                            source: Some(source),
                        });
                    }
                }
                Output::Flush => {
                    if self.playout.queued_ms() > 0 {
                        self.report.barge_ins += 1;
                    }
                    self.playout.flush();
                    self.meter.flushed();
                }
                Output::Heard(text) => {
                    // A new utterance: the next prompt starts a new bot line.
                    self.last_prompt = None;
                    if let Some(d) = cpd.as_deref_mut() {
                        if let Some(v) = d.push_transcript(&text, locale, Millis(now_ms)) {
                            self.report.cpd = Some(v);
                        }
                    }
                    self.report.transcript.push(customer_line(now_ms, &text));
                }
                Output::Transfer { reason } => {
                    self.transferring = true;
                    self.report.transfer_reason = Some(reason.clone());
                    let _ = self.commands.send(AgentCommand::Transfer {
                        reason: Some(reason),
                    });
                }
                Output::Hangup { outcome } => {
                    self.ended = true;
                    self.report.outcome = Some(outcome.clone());
                    let _ = self.commands.send(AgentCommand::Hangup {
                        outcome,
                        after_playout: true,
                    });
                }
                // The driver carries out the pipeline's requests; none reach the call.
                Output::Transcribe { .. }
                | Output::Synthesize { .. }
                | Output::LookUpRecording { .. }
                | Output::PredictEnd { .. } => {}
            }
        }
    }
}

impl BotAgent {
    fn run(
        mut self,
        media: AgentMedia,
        commands: mpsc::UnboundedSender<AgentCommand>,
    ) -> AgentReport {
        let AgentMedia {
            mut inbound,
            playout,
            events,
        } = media;
        // Each frame carries when it left the media worker, so the bot knows how far
        // behind the wire its frame clock runs (a turn's `lag_ms`).
        let (tx, rx) = std::sync::mpsc::channel::<(std::time::Instant, Vec<i16>)>();
        let forward = std::thread::Builder::new()
            .name("bot-inbound".into())
            .spawn(move || {
                while let Some(f) = inbound.blocking_recv() {
                    if tx.send((std::time::Instant::now(), f)).is_err() {
                        break;
                    }
                }
            });
        let mut d = Driver {
            playout,
            meter: PlayoutMeter::new(8000, 20),
            recent_out: std::collections::VecDeque::with_capacity(16),
            playing: false,
            commands,
            report: BotReport::default(),
            last_prompt: None,
            ended: false,
            transferring: false,
            away_ms: 0,
        };
        let mut policy_outcome = None;
        let locale = self.locale;
        let mut now: u64 = 0;
        let step = |me: &mut BotAgent, d: &mut Driver, now: u64, frame: Option<&[i16]>| {
            if d.ended {
                return Ok(());
            }
            let mut now = now + d.away_ms;
            while let Ok(ev) = events.try_recv() {
                let ev = match ev {
                    CallEvent::Back { away_ms } => {
                        d.away_ms += away_ms;
                        now += away_ms;
                        continue;
                    }
                    CallEvent::TransferFailed(why) => {
                        d.transferring = false;
                        d.report.transfer_result = Some(format!("failed: {why}"));
                        Event::TransferFailed(why)
                    }
                    CallEvent::TransferCompleted => {
                        d.report.transfer_result = Some("completed".into());
                        Event::TransferCompleted
                    }
                };
                let outs = me.pipeline.call_event(Millis(now), ev)?;
                d.apply(now, outs, me.cpd.as_mut(), locale);
            }
            for e in d.meter.take_played(d.playout.queued_ms()) {
                me.pipeline.played(Millis(now), e);
                if d.recent_out.len() == ECHO_FRAMES {
                    d.recent_out.pop_front();
                }
                d.recent_out.push_back(e);
            }
            if d.playing && d.playout.queued_ms() == 0 && !me.pipeline.has_pending_audio() {
                d.playing = false;
                let outs = me.pipeline.playback_finished(Millis(now))?;
                d.apply(now, outs, me.cpd.as_mut(), locale);
            }
            let Some(frame) = frame else {
                let outs = me.pipeline.start(Millis(now))?;
                d.apply(now, outs, me.cpd.as_mut(), locale);
                return Ok(());
            };
            if !d.transferring && !d.ended {
                me.pipeline.set_playout_ms(d.playout.queued_ms());
                let outs = me.pipeline.push_inbound(Millis(now), frame)?;
                d.apply(now, outs, me.cpd.as_mut(), locale);
            }
            // The media worker counts the queue running dry as an underrun only while a
            // sentence of the prompt is still to come.
            d.playout.set_more_coming(me.pipeline.has_pending_audio());
            Ok::<(), SpeechError>(())
        };
        if let Err(e) = step(&mut self, &mut d, 0, None) {
            d.report.error = Some(e.to_string());
        }
        while let Ok((arrived, frame)) = rx.recv() {
            now += 20;
            d.report.audio_s += 0.02;
            let lag_ms = arrived.elapsed().as_secs_f64() * 1e3;
            d.report.max_lag_ms = d.report.max_lag_ms.max(lag_ms);
            self.pipeline.set_lag_ms(lag_ms);
            // Call progress first: a verdict that ends the call also silences the bot.
            let window = self.cpd_window_ms;
            if let Some(det) = self.cpd.as_mut() {
                // A person waits for the bot's greeting to end before answering it; a
                // machine talks over it. The detector judges the line's timing by that.
                det.prompt_playing(Millis(now), d.playing);
                // Our own greeting coming back over the line's echo path would look like a
                // long greeting (a machine): inbound audio well below what we just played
                // is taken as echo, and the detector hears silence for it.
                let echo = is_echo(crate::speech::turn::frame_energy_db(&frame), &d.recent_out);
                let silent = [0i16; 320];
                let heard: &[i16] = if echo {
                    &silent[..frame.len().min(320)]
                } else {
                    &frame
                };
                let v = if now <= window {
                    det.push(heard, Millis(now))
                } else {
                    Some(det.finish(Millis(now)))
                };
                if let Some(v) = v {
                    d.report.cpd = Some(v);
                }
                let decided = d.report.cpd.clone();
                if let Some(v) = decided.filter(ends_call) {
                    let o = v.outcome();
                    d.report.cpd_outcome = Some(o);
                    d.report.cpd_hangup = true;
                    policy_outcome = Some(o.to_policy());
                    d.playout.flush();
                    d.meter.flushed();
                    if !d.ended {
                        d.ended = true;
                        let outcome = format!("cpd_{}", serde_plain(&o));
                        d.report.outcome = Some(outcome.clone());
                        let _ = d.commands.send(AgentCommand::Hangup {
                            outcome,
                            after_playout: true,
                        });
                    }
                    self.cpd = None;
                } else if now > window {
                    // Silence or a person: the bot went on talking, so the dialer has a
                    // live call whatever the verdict's class says (the class is kept).
                    d.report.cpd_outcome = Some(CpdOutcome::Live);
                    self.cpd = None;
                }
            }
            if let Err(e) = step(&mut self, &mut d, now, Some(&frame)) {
                // The bot cannot go on (a model failed): say so and leave the line to
                // the call, which hangs up, rather than keep a customer in silence.
                tracing::warn!(error = %e, "speech pipeline failed; ending the call");
                d.report.error = Some(e.to_string());
                if !d.ended {
                    d.ended = true;
                    d.report.outcome = Some("bot_error".into());
                    let _ = d.commands.send(AgentCommand::Hangup {
                        outcome: "bot_error".into(),
                        after_playout: true,
                    });
                }
            }
        }
        if let Ok(h) = forward {
            let _ = h.join();
        }
        // What the call said after the last frame: a completed transfer's NOTIFY and the
        // transferee's BYE arrive together, and the transfer is the call's outcome.
        while let Ok(ev) = events.try_recv() {
            match ev {
                CallEvent::TransferCompleted => {
                    d.report.transfer_result = Some("completed".into());
                    let _ = self
                        .pipeline
                        .call_event(Millis(now), Event::TransferCompleted);
                }
                CallEvent::TransferFailed(why) => {
                    d.report.transfer_result = Some(format!("failed: {why}"));
                }
                // The call is over: there is no clock left to move on.
                CallEvent::Back { .. } => {}
            }
        }
        if d.report.outcome.is_none() {
            d.report.outcome = self.pipeline.outcome().map(str::to_string);
        }
        d.report.captured = self.pipeline.call_values();
        d.report.turns = self.pipeline.latencies().to_vec();
        AgentReport {
            detail: serde_json::to_value(&d.report).unwrap_or_default(),
            policy_outcome,
        }
    }
}

/// The snake_case name serde gives a unit variant.
fn serde_plain(o: &CpdOutcome) -> String {
    serde_json::to_string(o)
        .unwrap_or_default()
        .trim_matches('"')
        .to_string()
}

impl CallAgent for BotAgent {
    fn early_frame(&mut self, now_ms: u64, pcm: &[i16]) -> Option<EarlyVerdict> {
        let locale = self.locale;
        let early = self.early.as_mut()?;
        let v = early.push(now_ms, pcm, locale)?;
        let o = v.outcome();
        let detail = serde_json::json!({
            "cpd": v,
            "cpd_outcome": o,
            "heard": early.heard,
        });
        // Decided: later early media (and the rest of the call) is not ours to judge.
        self.early = None;
        Some(EarlyVerdict {
            policy_outcome: o.to_policy(),
            detail,
        })
    }

    fn start(
        self: Box<Self>,
        media: AgentMedia,
        commands: mpsc::UnboundedSender<AgentCommand>,
    ) -> std::thread::JoinHandle<AgentReport> {
        let me = *self;
        match std::thread::Builder::new()
            .name("bot".into())
            .spawn(move || me.run(media, commands))
        {
            Ok(h) => h,
            // Without a thread there is no bot: return a report that says so (the
            // commands sender is dropped, so the call's loop sees the agent gone).
            Err(e) => std::thread::spawn(move || AgentReport {
                detail: serde_json::json!({ "error": format!("cannot start the bot: {e}") }),
                policy_outcome: None,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_audio_under_our_own_playback_is_echo_and_a_voice_over_it_is_not() {
        let mut out = std::collections::VecDeque::new();
        // Nothing played: everything heard is the line.
        assert!(!is_echo(-60.0, &out));
        out.extend([-70.0, -18.0, -25.0]);
        // Our greeting at -18 dBFS coming back 20 dB down: echo.
        assert!(is_echo(-38.0, &out));
        // A person (or a voicemail greeting) talking over it near its level: not echo.
        assert!(!is_echo(-22.0, &out));
        assert!(!is_echo(-27.9, &out));
    }

    #[test]
    fn the_report_keeps_a_spoken_id_number_masked() {
        let line = customer_line(1_200, "是我,我身份证号110105199001012345");
        assert_eq!(line.text, "是我,我身份证号**************2345");
        assert_eq!(line.who, "customer");
        let json = serde_json::to_string(&line).unwrap();
        assert!(!json.contains("110105199001012345"), "{json}");
    }

    #[test]
    fn before_the_answer_only_what_no_person_plays_cancels() {
        let v = |class, sit| Verdict {
            class,
            rule: crate::cpd::Rule::EarlyMediaSpeech,
            decided_at: Millis(0),
            audio_ms: 0,
            stage: Stage::EarlyMedia,
            revision: 0,
            evidence: crate::cpd::Evidence {
                sit,
                ..Default::default()
            },
        };
        use crate::cpd::{AnnouncementKind as K, SitCode};
        // Speech of unknown words (a 彩铃 ringback song, an advert) decides nothing.
        assert!(!early_decides(&v(Class::Announcement(K::Unknown), None)));
        assert!(early_decides(&v(
            Class::Announcement(K::NotInService),
            None
        )));
        assert!(early_decides(&v(Class::Tone(ToneKind::Busy), None)));
        assert!(!early_decides(&v(Class::Tone(ToneKind::Ringback), None)));
        assert!(!early_decides(&v(Class::Machine, None)));
        // A SIT before an unnamed announcement does decide (an intercept is never a person).
        assert!(early_decides(&v(
            Class::Announcement(K::Unknown),
            Some(SitCode::Intercept)
        )));
    }
}
