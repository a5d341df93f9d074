//! The bot on a call: the composition of the dialogue engine, speech and the call's media.
//! `pipeline` is one call's loop as a sans-IO state machine (voice activity, turn-taking,
//! NLU and the engine; decoding and voicing are requests it hands out), `voice_activity`
//! its per-frame speech detectors, `prompts` the sentence cache and recorded packs,
//! `driver` runs a pipeline's requests on the recognizer and the voice, `synth` the
//! process's synthesis workers (live, earliest due first, and ahead of need at low
//! priority), and `agent` is the
//! `sip::agent::CallAgent` that drives a pipeline from a live call's RTP. The only module
//! that imports the dialogue, the call seam and the media together.

#[cfg(feature = "speech")]
pub mod agent;
#[cfg(feature = "speech")]
pub mod driver;
pub mod pipeline;
#[cfg(feature = "speech")]
pub mod prompts;
#[cfg(feature = "speech")]
pub mod synth;
pub mod voice_activity;

/// Why a bot could not be set up for a call: its speech models, or its call-progress
/// detector's config.
#[cfg(feature = "speech")]
#[derive(Debug, Clone, thiserror::Error)]
pub enum BotError {
    /// Loading or running speech failed.
    #[error(transparent)]
    Speech(#[from] crate::speech::SpeechError),
    /// The call-progress config cannot work.
    #[error("call-progress detection")]
    CallProgress(#[from] crate::cpd::CpdError),
}
