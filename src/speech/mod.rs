//! voxdial's ears and voice: VAD and ASR, TTS with a prompt cache, turn-taking and
//! call-progress detection, all on CPU.
//!
//! `config` says which model each locale uses (`voices/speech.yaml`); `audio` moves PCM
//! between rates and files. The runtime parts (`vad`, `asr`, `tts`, `prompts`, `whisper`)
//! need the `speech` feature (sherpa-onnx and whisper.cpp); the pure parts (`text`,
//! `pinyin`, `config`, `audio`) build everywhere.

pub mod audio;
pub mod config;
pub mod pinyin;
pub mod progress;
pub mod text;
pub mod turn;

#[cfg(feature = "speech")]
pub mod asr;
#[cfg(feature = "speech")]
pub mod ct2ggml;
#[cfg(feature = "speech")]
pub mod live;
#[cfg(feature = "speech")]
pub mod pipeline;
#[cfg(feature = "speech")]
pub mod prompts;
#[cfg(feature = "speech")]
pub mod tts;
#[cfg(feature = "speech")]
pub mod vad;
#[cfg(feature = "speech")]
pub mod whisper;

use crate::Locale;

/// Why speech could not be recognized or synthesized.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SpeechError {
    /// The speech config is wrong.
    #[error("{at}: {why}")]
    Config {
        /// `file:line:col` or the setting.
        at: String,
        /// What is wrong.
        why: String,
    },
    /// The config names no engine for a locale.
    #[error("the speech config has no {what} for {locale}")]
    NoEngine {
        /// "recognizer" or "voice".
        what: &'static str,
        /// The locale.
        locale: Locale,
    },
    /// A model file is missing, malformed, or refused by its runtime.
    #[error("model {path}: {why}")]
    Model {
        /// The file.
        path: String,
        /// What is wrong.
        why: String,
    },
    /// An audio file could not be read or written.
    #[error("audio {path}: {why}")]
    Audio {
        /// The file.
        path: String,
        /// What is wrong.
        why: String,
    },
    /// Resampling failed.
    #[error("resampling {from} Hz to {to} Hz: {why}")]
    Resample {
        /// Input rate.
        from: u32,
        /// Output rate.
        to: u32,
        /// What failed.
        why: String,
    },
    /// The synthesizer failed.
    #[error("speech synthesis: {why}")]
    Synthesis {
        /// What failed.
        why: String,
    },
    /// The recognizer failed.
    #[error("speech recognition: {why}")]
    Recognition {
        /// What failed.
        why: String,
    },
    /// The shared recognizer's workers are gone.
    #[error("the recognizer service has stopped")]
    Stopped,
    /// The prompt cache could not be read or written.
    #[error("prompt cache {path}: {why}")]
    Cache {
        /// The file.
        path: String,
        /// What failed.
        why: String,
    },
}
