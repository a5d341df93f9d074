//! Whisper through whisper.cpp (placeholder until the recognizer lands).
use super::SpeechError;
use std::path::PathBuf;
/// Whisper settings.
#[derive(Clone, Debug, Default)]
pub struct WhisperConfig {
    /// ggml model.
    pub model: PathBuf,
    /// Language.
    pub language: Option<String>,
    /// Threads.
    pub threads: usize,
    /// Initial prompt.
    pub initial_prompt: Option<String>,
}
/// Recognizer.
pub struct WhisperRecognizer;
/// Output.
pub struct WhisperTranscript {
    /// Text.
    pub text: String,
    /// Rejection.
    pub rejected: Option<String>,
}
impl WhisperRecognizer {
    /// Load.
    pub fn load(cfg: WhisperConfig) -> Result<Self, SpeechError> {
        Err(SpeechError::Model {
            path: cfg.model.display().to_string(),
            why: "whisper not built yet".into(),
        })
    }
    /// Transcribe.
    pub fn transcribe(&self, _pcm: &[f32]) -> Result<WhisperTranscript, SpeechError> {
        Err(SpeechError::Stopped)
    }
}
