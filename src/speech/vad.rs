//! Voice activity detection and endpointing with Silero VAD (through sherpa-onnx): which
//! 20 ms frames are speech, and where an utterance ends after the configured trailing
//! silence. Each call has its own detector (it is small and keeps per-stream state).

use std::path::Path;

use super::config::{model_file, ModelKind, VadConfig};
use super::SpeechError;

/// A finished utterance.
#[derive(Clone, Debug, PartialEq)]
pub struct Segment {
    /// First sample, counted from the start of the stream (16 kHz).
    pub start: u64,
    /// The speech.
    pub samples: Vec<f32>,
}

impl Segment {
    /// Sample just after the last voiced one.
    pub fn end(&self) -> u64 {
        self.start + self.samples.len() as u64
    }
}

/// What one push of audio produced.
#[derive(Clone, Debug, Default)]
pub struct VadStep {
    /// Speech is going on now.
    pub speaking: bool,
    /// Utterances whose trailing silence elapsed in this push.
    pub segments: Vec<Segment>,
}

/// One stream's detector.
pub struct Vad {
    inner: sherpa_onnx::VoiceActivityDetector,
    pending: Vec<f32>,
    window: usize,
}

impl Vad {
    /// Loads the Silero model with the configured thresholds: segments end after the
    /// configured trailing silence (whole recordings, `voxdial asr`).
    pub fn new(cfg: &VadConfig, models: &Path) -> Result<Vad, SpeechError> {
        Vad::with_hangover(cfg, models, cfg.trailing_silence_ms, cfg.min_speech_ms)
    }

    /// A per-frame speech detector for a live call: sherpa-onnx's speech flag drops after
    /// one Silero window of silence instead of the trailing silence, because the turn
    /// controller does the endpointing (a second hang-over here would add to its own).
    pub fn for_frames(cfg: &VadConfig, models: &Path) -> Result<Vad, SpeechError> {
        Vad::with_hangover(cfg, models, 40, 40)
    }

    fn with_hangover(
        cfg: &VadConfig,
        models: &Path,
        min_silence_ms: u32,
        min_speech_ms: u32,
    ) -> Result<Vad, SpeechError> {
        let path = model_file(models, &cfg.model, ModelKind::Onnx)?;
        let window = 512;
        let c = sherpa_onnx::VadModelConfig {
            silero_vad: sherpa_onnx::SileroVadModelConfig {
                model: Some(path.display().to_string()),
                threshold: cfg.threshold,
                min_silence_duration: min_silence_ms as f32 / 1000.0,
                min_speech_duration: min_speech_ms as f32 / 1000.0,
                window_size: window as i32,
                max_speech_duration: cfg.max_utterance_ms as f32 / 1000.0,
            },
            sample_rate: 16_000,
            num_threads: 1,
            ..Default::default()
        };
        let inner = sherpa_onnx::VoiceActivityDetector::create(&c, 30.0).ok_or_else(|| {
            SpeechError::Model {
                path: path.display().to_string(),
                why: "sherpa-onnx could not load this VAD model".into(),
            }
        })?;
        Ok(Vad {
            inner,
            pending: Vec::with_capacity(window * 2),
            window,
        })
    }

    /// Feeds 16 kHz audio (any length; Silero runs on 32 ms windows).
    pub fn push(&mut self, pcm: &[f32]) -> VadStep {
        self.pending.extend_from_slice(pcm);
        let whole = self.pending.len() / self.window * self.window;
        if whole > 0 {
            self.inner.accept_waveform(&self.pending[..whole]);
            self.pending.drain(..whole);
        }
        VadStep {
            speaking: self.inner.detected(),
            segments: self.drain(),
        }
    }

    /// Ends the stream: speech still going on becomes a last segment.
    pub fn flush(&mut self) -> Vec<Segment> {
        if !self.pending.is_empty() {
            let mut tail = std::mem::take(&mut self.pending);
            tail.resize(self.window, 0.0);
            self.inner.accept_waveform(&tail);
        }
        self.inner.flush();
        self.drain()
    }

    /// Forgets the stream (a new turn after barge-in handling, or a new call).
    pub fn reset(&mut self) {
        self.inner.reset();
        self.pending.clear();
    }

    fn drain(&mut self) -> Vec<Segment> {
        let mut out = Vec::new();
        while !self.inner.is_empty() {
            if let Some(s) = self.inner.front() {
                out.push(Segment {
                    start: u64::try_from(s.start()).unwrap_or(0),
                    samples: s.samples().to_vec(),
                });
            }
            self.inner.pop();
        }
        out
    }
}

/// Splits a whole recording into utterances (for `voxdial asr` and tests).
pub fn segment(
    cfg: &VadConfig,
    models: &Path,
    pcm16k: &[f32],
) -> Result<Vec<Segment>, SpeechError> {
    let mut vad = Vad::new(cfg, models)?;
    let mut out = Vec::new();
    for chunk in pcm16k.chunks(320) {
        out.extend(vad.push(chunk).segments);
    }
    out.extend(vad.flush());
    Ok(out)
}
