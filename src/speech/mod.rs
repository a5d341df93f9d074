//! voxdial's ears and voice: VAD and ASR, TTS and turn-taking, all on CPU.
//!
//! `config` says which model each locale uses (`voices/speech.yaml`); `audio` moves PCM
//! between rates and files. The runtime parts (`vad`, `asr`, `tts`, `whisper`, and
//! `smart_turn`, the end-of-turn model) need the `speech` feature (sherpa-onnx, whisper.cpp
//! and onnxruntime); the pure parts (`config`, `audio`, `turn`, `mel`) build everywhere. The text front end lives in `crate::language`, call-progress
//! detection in `crate::cpd`, the bot that composes them on a call in `crate::bot`.

pub mod audio;
pub mod config;
pub mod mel;
pub mod turn;

#[cfg(feature = "speech")]
pub mod asr;
#[cfg(feature = "speech")]
pub mod smart_turn;
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
    /// The speech config file is not valid YAML of the right shape.
    #[error(transparent)]
    Yaml(#[from] crate::yaml::YamlError),
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
    /// A file (config, model) could not be read.
    #[error("{path}: cannot read it")]
    FileRead {
        /// The file.
        path: String,
        /// The OS error (shared, so the error stays `Clone`).
        #[source]
        source: std::sync::Arc<std::io::Error>,
    },
    /// A WAV file could not be read or written.
    #[error("audio {path}: not a readable or writable WAV file")]
    Wav {
        /// The file.
        path: String,
        /// hound's error.
        #[source]
        source: std::sync::Arc<hound::Error>,
    },
    /// The sample-rate converter refused its input or its setup.
    #[error("resampling {from} Hz to {to} Hz failed")]
    Resampler {
        /// Input rate.
        from: u32,
        /// Output rate.
        to: u32,
        /// rubato's error.
        #[source]
        source: std::sync::Arc<dyn std::error::Error + Send + Sync>,
    },
    /// The Whisper ggml model is missing or malformed (`voxdial models install` makes it).
    #[error(transparent)]
    WhisperModel(std::sync::Arc<crate::models::ct2ggml::GgmlError>),
    /// whisper.cpp failed on an utterance or at load.
    #[cfg(feature = "speech")]
    #[error(transparent)]
    Whisper(std::sync::Arc<whisper::WhisperError>),
    /// The end-of-turn model failed to load or to run.
    #[cfg(feature = "speech")]
    #[error("end-of-turn model {path}: {what}")]
    EndModel {
        /// The model file.
        path: String,
        /// What failed.
        what: &'static str,
        /// onnxruntime's error (shared, so the error stays `Clone`).
        #[source]
        source: std::sync::Arc<ort::Error>,
    },
    /// A model file named by the speech config is missing or unreadable.
    #[error("model {path}: missing or unreadable (run `voxdial models install`, or fix the path in the speech config)")]
    ModelMissing {
        /// The file.
        path: String,
        /// The OS error.
        #[source]
        source: std::sync::Arc<std::io::Error>,
    },
    /// espeak-ng could not be started or fed.
    #[error("speech synthesis: espeak-ng {what} (install Debian's espeak-ng)")]
    Espeak {
        /// What failed: "start", "stdin", "wait".
        what: &'static str,
        /// The OS error.
        #[source]
        source: std::sync::Arc<std::io::Error>,
    },
    /// The prompt cache could not be read or written.
    #[error("prompt cache {path}: {why}")]
    Cache {
        /// The file.
        path: String,
        /// What failed.
        why: String,
    },
    /// The turn-taking config cannot work.
    #[error(transparent)]
    Turn(#[from] turn::ConfigError),
    /// The prompt cache's directory or file could not be written.
    #[error("prompt cache {path}")]
    CacheIo {
        /// The file.
        path: String,
        /// The file system's error (shared: the error type is `Clone`).
        #[source]
        source: std::sync::Arc<std::io::Error>,
    },
}
