//! The bot on a call: the composition of the dialogue engine, speech and the call's media.
//! `pipeline` is one call's loop (VAD, turn-taking, ASR, NLU and the engine, replies out),
//! `prompts` the sentence cache and recorded packs, `agent` the `sip::agent::CallAgent` that
//! drives a pipeline from a live call's RTP. The only module that imports the dialogue,
//! the call seam and the media together.

#[cfg(feature = "speech")]
pub mod agent;
#[cfg(feature = "speech")]
pub mod pipeline;
#[cfg(feature = "speech")]
pub mod prompts;
