//! Call-progress detection (CPD): what answered the call, or what the network plays as early
//! media, decided from the first seconds of inbound audio (and ASR text when the call path has
//! it), so the dialer can hand live people to the bot at once and file everything else under the
//! right retry rule.
//!
//! Sans-IO like `dialogue::engine`: the caller pushes PCM with its own clock (`time::Millis`)
//! and gets a [`Verdict`] back when there is enough evidence, and asks
//! [`Detector::poll_timeout`] when to call back without audio; no threads, timers or sockets
//! here. The work
//! per 20 ms frame is a few hundred multiply-adds (no FFT, no model), because it runs on every
//! call of a 1,000-calls-per-core media worker.
//!
//! How it listens, per 20 ms frame (always at 8 kHz; 16 kHz input is decimated first):
//! - **Tones**: a Pisarenko estimate of the dominant frequency from three autocorrelation lags
//!   (unbiased by white noise, unlike `acos(r1/r0)`), confirmed by a Goertzel filter at that
//!   frequency over a 40 ms Hann window: a tone is a frame whose energy sits almost all in that
//!   one bin. Dual tones (US ringback 440+480, busy/reorder 480+620, dial 350+440) use four fixed
//!   Goertzel filters over 80 ms, the shortest window that resolves 440 from 480 Hz. Runs of tone frames become segments whose frequency and cadence name them:
//!   SIT (and its Telcordia code), fax CED/CNG, modem answer, ringback, busy, reorder, beep.
//! - **Speech**: frame energy against a minimum-statistics noise floor, with spectral flatness
//!   (the order-10 LPC prediction-error ratio, which equals the geometric/arithmetic spectral mean
//!   ratio in the limit) and zero-crossing rate to reject broadband noise. Voiced runs become
//!   "words" and the classic AMD timings (initial silence, greeting length, word count, silence
//!   after the greeting) decide human vs machine, as Asterisk's `app_amd` does.
//! - **Text**: [`Detector::push_transcript`] matches zh-CN / en-US carrier and voicemail phrases
//!   (`phrases.yaml`), which name the announcement kind that acoustics alone cannot.
//!
//! A verdict can be revised a bounded number of times when later evidence is stronger (a beep
//! after "Human", a keyword after an acoustic "Machine"); every revision is returned from the
//! `push*` call that caused it and carries a higher `revision`.
//!
//! One module per job, each depending only on those above it:
//! - `config`: the thresholds ([`CpdConfig`]) and their checks;
//! - `verdict`: what is decided ([`Verdict`], [`Class`], [`Rule`], [`CpdOutcome`]…);
//! - `frontend`: rate conversion (`media::resample`), high-pass, 20 ms frames, loudness and
//!   spectral flatness;
//! - `tones`: tone estimation and what tone runs mean (SIT, fax, ringback, busy, beep);
//! - `machine`: speech timing (AMD);
//! - `phrases`: the transcript phrase tables and rules;
//! - `detector`: the state machine that runs them and arbitrates revisions.

mod config;
mod detector;
mod frontend;
mod machine;
mod phrases;
mod tones;
mod verdict;

pub use config::{CpdConfig, CpdError};
pub use detector::Detector;
pub use phrases::classify_text;
pub use verdict::{
    AnnouncementKind, Class, CpdOutcome, Evidence, Rule, SitCode, Stage, ToneKind, Verdict,
};
