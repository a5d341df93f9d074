//! The detector's thresholds and their checks: every number an operator may tune per trunk
//! or country, kept apart from the code that uses them so a config file can be validated
//! without building a detector.

use serde::{Deserialize, Serialize};

/// Frame duration in milliseconds: every stage of the detector counts time in 20 ms frames,
/// and the config's minimums are checked against it.
pub(super) const FRAME_MS: u64 = 20;

/// Why a detector could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CpdError {
    /// Only the two rates the media layer produces are supported.
    #[error("sample rate {0} Hz is not supported (use 8000 or 16000)")]
    SampleRate(u32),
    /// A threshold is out of its meaningful range.
    #[error("cpd config `{field}`: {reason}")]
    Config {
        /// The offending field.
        field: &'static str,
        /// What it must satisfy.
        reason: &'static str,
    },
    /// The compiled-in phrase table does not load (a build problem, caught by its test).
    #[error("cpd phrase table")]
    Phrases(#[from] crate::yaml::YamlError),
}

/// Every threshold of the detector, so operations can tune per trunk or country without a build.
/// Defaults follow Asterisk `app_amd` / VICIdial practice where one exists, adjusted on the
/// tuning half of the generated set (see `examples/cpd_eval.rs`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CpdConfig {
    /// Input rate: 8000 or 16000 Hz mono. Default 8000.
    pub sample_rate_hz: u32,
    /// Frames quieter than this (dBFS, full-scale square = 0) are never speech. Default -50.
    pub min_speech_dbfs: f32,
    /// Speech must stand this far above the tracked noise floor (dB). Default 10.
    pub speech_snr_db: f32,
    /// A frame at least this spectrally flat (0..1) *and* with at least `noise_zcr`
    /// zero-crossings per sample is broadband noise, not speech. Default 0.45.
    pub noise_flatness: f32,
    /// See `noise_flatness`. Default 0.25.
    pub noise_zcr: f32,
    /// A voiced run shorter than this is a click, not a word (Asterisk `minimum_word_length`).
    /// Default 100 ms.
    pub min_word_ms: u64,
    /// Silence that separates two words (Asterisk `between_words_silence`). Default 60 ms.
    pub between_words_ms: u64,
    /// No speech or tone for this long after the start (or the answer) is dead air. Default 3500 ms.
    pub max_initial_silence_ms: u64,
    /// Speech running longer than this without a pause of `after_greeting_silence_ms` is a
    /// recorded greeting (Asterisk `greeting`, 1500 there). Default 1800 ms.
    pub max_greeting_ms: u64,
    /// This many words is a machine (Asterisk `maximum_number_of_words`); 0 turns the rule off
    /// (Mandarin greetings such as 喂，你好，哪位 split into many bursts). Default 0.
    pub max_words: u32,
    /// Silence after a short greeting that means a person is waiting for us
    /// (Asterisk `after_greeting_silence`). Default 800 ms.
    pub after_greeting_silence_ms: u64,
    /// In early media (before answer) this much speech is a network announcement, because
    /// people and voicemail only speak after the answer. Default 1000 ms.
    pub early_speech_ms: u64,
    /// Share of a 40 ms window's energy in one Goertzel bin (or a pair) for a tone frame.
    /// Default 0.8.
    pub tone_purity: f32,
    /// Tones quieter than this (dBFS) are ignored. Default -45.
    pub tone_min_dbfs: f32,
    /// Shortest voicemail beep. Default 120 ms.
    pub beep_min_ms: u64,
    /// Longest voicemail beep. Default 2000 ms.
    pub beep_max_ms: u64,
    /// 2100 Hz (CED / modem answer) held this long is a fax. Default 500 ms.
    pub ced_min_ms: u64,
    /// A 1100 Hz burst of this length (CNG is 500 ms) with no speech before it is a fax.
    /// Default 350..=800 ms.
    pub cng_min_ms: u64,
    /// See `cng_min_ms`.
    pub cng_max_ms: u64,
    /// Largest gap between SIT segments (the standard says ≤ 4 ms; frames smear it). Default 120 ms.
    pub sit_max_gap_ms: u64,
    /// A US ringback (440+480 Hz) held this long is ringback. Default 800 ms.
    pub ringback_min_ms: u64,
    /// Silence after a single 400–500 Hz burst of 0.7–2.5 s that makes it ringback (China
    /// 1 s on / 4 s off) rather than a slow busy or congestion tone. Default 1000 ms.
    pub ringback_off_ms: u64,
    /// A weak phrase ("is not available", 无人接听) waits this long for a stronger one
    /// ("leave a message", 留言) or a beep before it decides. Default 3000 ms.
    pub weak_keyword_hold_ms: u64,
    /// A transcript longer than this (English words / Chinese characters ÷ 2) is not a person's
    /// short question, so "who is calling" in it does not overturn a machine verdict. Default 12.
    pub human_question_max_words: usize,
    /// How many times a verdict may be revised. Default 2.
    pub max_revisions: u8,
}

impl Default for CpdConfig {
    fn default() -> Self {
        CpdConfig {
            sample_rate_hz: 8000,
            min_speech_dbfs: -50.0,
            speech_snr_db: 10.0,
            noise_flatness: 0.45,
            noise_zcr: 0.25,
            min_word_ms: 100,
            between_words_ms: 60,
            max_initial_silence_ms: 3500,
            max_greeting_ms: 1800,
            max_words: 0,
            after_greeting_silence_ms: 800,
            early_speech_ms: 1000,
            tone_purity: 0.8,
            tone_min_dbfs: -45.0,
            beep_min_ms: 120,
            beep_max_ms: 2000,
            ced_min_ms: 500,
            cng_min_ms: 350,
            cng_max_ms: 800,
            sit_max_gap_ms: 120,
            ringback_min_ms: 800,
            ringback_off_ms: 1000,
            weak_keyword_hold_ms: 3000,
            human_question_max_words: 12,
            max_revisions: 2,
        }
    }
}

impl CpdConfig {
    /// Check ranges once at construction so the per-frame code can trust the numbers.
    pub fn validate(&self) -> Result<(), CpdError> {
        let bad = |field, reason| Err(CpdError::Config { field, reason });
        if self.sample_rate_hz != 8000 && self.sample_rate_hz != 16000 {
            return Err(CpdError::SampleRate(self.sample_rate_hz));
        }
        if !(0.05..=1.0).contains(&self.tone_purity) {
            return bad("tone_purity", "must be in 0.05..=1");
        }
        if !(0.0..=1.0).contains(&self.noise_flatness) {
            return bad("noise_flatness", "must be in 0..=1");
        }
        if !(0.0..=1.0).contains(&self.noise_zcr) {
            return bad("noise_zcr", "must be in 0..=1");
        }
        for (field, v) in [
            ("min_speech_dbfs", self.min_speech_dbfs),
            ("tone_min_dbfs", self.tone_min_dbfs),
        ] {
            if !(-120.0..=0.0).contains(&v) {
                return bad(field, "must be in -120..=0 dBFS");
            }
        }
        if !(0.0..=60.0).contains(&self.speech_snr_db) {
            return bad("speech_snr_db", "must be in 0..=60 dB");
        }
        if self.min_word_ms < FRAME_MS {
            return bad("min_word_ms", "must be at least one 20 ms frame");
        }
        if self.after_greeting_silence_ms < FRAME_MS {
            return bad(
                "after_greeting_silence_ms",
                "must be at least one 20 ms frame",
            );
        }
        if self.beep_min_ms > self.beep_max_ms {
            return bad("beep_min_ms", "must not exceed beep_max_ms");
        }
        if self.cng_min_ms > self.cng_max_ms {
            return bad("cng_min_ms", "must not exceed cng_max_ms");
        }
        if self.max_greeting_ms < self.min_word_ms {
            return bad("max_greeting_ms", "must be at least min_word_ms");
        }
        Ok(())
    }
}
