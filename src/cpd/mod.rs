//! Call-progress detection (CPD): what answered the call, or what the network plays as early
//! media, decided from the first seconds of inbound audio (and ASR text when the call path has
//! it), so the dialer can hand live people to the bot at once and file everything else under the
//! right retry rule.
//!
//! Sans-IO like `dialogue::engine`: the caller pushes PCM with its own clock and gets a
//! [`Verdict`] back when there is enough evidence; no threads, timers or sockets here. The work
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
//! - **Text**: [`Detector::push_transcript`] matches zh-CN / en-US carrier and voicemail phrases,
//!   which name the announcement kind that acoustics alone cannot.
//!
//! A verdict can be revised a bounded number of times when later evidence is stronger (a beep
//! after "Human", a keyword after an acoustic "Machine"); every revision is returned from the
//! `push*` call that caused it and carries a higher `revision`.

use crate::language::Locale;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::f32::consts::PI;

/// Analysis rate: telephone audio carries nothing useful for CPD above 4 kHz.
const RATE: f32 = 8000.0;
/// Samples per analysis frame (20 ms at 8 kHz), the RTP packet size.
const FRAME: usize = 160;
/// Single-tone window (40 ms): 25 Hz bins, short enough to time a 274 ms SIT segment.
const WIN: usize = 320;
/// Dual-tone window (80 ms): 12.5 Hz bins, so 440 and 480 Hz are three bins apart and a
/// single 450 or 460 Hz tone does not pass for the pair.
const WIN2: usize = 640;
/// Frame duration in milliseconds.
const FRAME_MS: u64 = 20;
/// Noise-floor memory in frames (2 s): long enough to span a word, short enough to follow a line.
const FLOOR_FRAMES: usize = 100;
/// Frames flatter than this (LPC error ratio) skip tone analysis: a tone at 10 dB SNR is ~0.1.
const TONE_MAX_FLATNESS: f32 = 0.15;
/// Taps of the 16 → 8 kHz anti-alias filter.
const DEC_TAPS: usize = 23;

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

/// Whether the far end has answered: the same speech means an announcement before answer
/// (carriers play them as early media) and a person or a voicemail after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// 183 Session Progress audio, before the 200 OK.
    EarlyMedia,
    /// After the 200 OK.
    Answered,
}

/// What a carrier announcement says, because each kind has its own retry rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnnouncementKind {
    /// 空号 / "not in service" / "has been disconnected" / SIT intercept or vacant code.
    NotInService,
    /// 已关机 / "powered off".
    PoweredOff,
    /// 无法接通 / 不在服务区 / "cannot be reached" / SIT no-circuit or reorder.
    Unreachable,
    /// 正在通话中 / "is busy".
    Busy,
    /// 已停机 / "temporarily suspended": the line exists but its service is cut.
    Suspended,
    /// 已改号 / "has been changed".
    NumberChanged,
    /// An announcement whose words we do not have (SIT without a code, early-media speech).
    Unknown,
}

/// Which call-progress tone was heard, because busy and ringback mean different things.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToneKind {
    /// China 450 Hz 1 s/4 s, US 440+480 Hz 2 s/4 s: still ringing.
    Ringback,
    /// China 450 Hz 0.35/0.35 s, US 480+620 Hz 0.5/0.5 s.
    Busy,
    /// Fast busy / congestion: US 480+620 Hz 0.25/0.25 s, China 450 Hz 0.7/0.7 s.
    Reorder,
    /// Continuous dial tone (350+440 Hz, or 400–500 Hz for 3 s): the call never left the switch.
    Dial,
    /// Bell 103 answer tone (2225 Hz): a data modem.
    Modem,
    /// A long steady tone we cannot name.
    Other,
}

/// What answered (or what plays before answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "class", content = "kind", rename_all = "snake_case")]
pub enum Class {
    /// A person's short greeting followed by a pause for us.
    Human,
    /// An answering machine or voicemail greeting.
    Machine,
    /// A carrier / network announcement.
    Announcement(AnnouncementKind),
    /// A fax machine (CED or CNG).
    Fax,
    /// A call-progress tone heard as audio.
    Tone(ToneKind),
    /// Dead air.
    Silence,
    /// Not enough evidence (only ever returned by `finish` when the line carried unclassifiable
    /// sound).
    Undecided,
}

/// The rule that decided, so a wrong call can be traced to the threshold behind it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// No speech or tone for `max_initial_silence_ms`.
    InitialSilence,
    /// Speech ran past `max_greeting_ms`.
    LongGreeting,
    /// `max_words` words.
    MaxWords,
    /// A short greeting then `after_greeting_silence_ms` of silence.
    AfterGreetingSilence,
    /// Speech in early media.
    EarlyMediaSpeech,
    /// A steady tone of beep length.
    Beep,
    /// A special information tone sequence.
    Sit,
    /// 2100 Hz answer tone.
    Ced,
    /// 1100 Hz calling tone.
    Cng,
    /// On/off cadence of a call-progress tone.
    ToneCadence,
    /// A long steady tone.
    ContinuousTone,
    /// A strong phrase in the transcript.
    Keyword,
    /// A weak phrase that nothing stronger contradicted in time.
    WeakKeyword,
    /// A person's question ("who's calling?", 哪位) in a short transcript.
    HumanQuestion,
    /// `finish` decided from whatever evidence there was.
    Deadline,
}

/// Telcordia SIT codes (tone 1 and 2 frequency high/low and duration short/long), which tell a
/// dead number from a congested network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SitCode {
    /// IC: vacant number, number change, non-working station.
    Intercept,
    /// VC: vacant code.
    VacantCode,
    /// NC: no circuit / trunk blockage; retry later.
    NoCircuit,
    /// RO: reorder (equipment irregularity); retry later.
    Reorder,
    /// ITU 950/1400/1800 Hz, or a Telcordia pattern without an assignment: no code.
    Uncoded,
}

/// The measurements behind a verdict, for logs, dashboards and threshold tuning.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// Silence before the first word, if there was a word (ms from start or answer).
    pub initial_silence_ms: Option<u64>,
    /// First word start to last word end so far (ms).
    pub greeting_ms: u64,
    /// Voiced runs counted as words.
    pub words: u32,
    /// Total voiced time (ms).
    pub speech_ms: u64,
    /// Silence since the last word (ms).
    pub trailing_silence_ms: u64,
    /// Frequency of the deciding tone (Hz).
    pub tone_hz: Option<f32>,
    /// On time of the deciding tone (ms).
    pub tone_on_ms: Option<u64>,
    /// Off time of the deciding cadence (ms).
    pub tone_off_ms: Option<u64>,
    /// The SIT code when a SIT decided.
    pub sit: Option<SitCode>,
    /// The phrase that decided, as listed in the keyword tables.
    pub keyword: Option<String>,
}

/// A decision with its reasons and its time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// What answered.
    pub class: Class,
    /// Which rule decided.
    pub rule: Rule,
    /// The caller's clock (`now_ms` of the call that produced it).
    pub decided_at_ms: u64,
    /// Audio analysed when it was decided, from the first sample pushed (ms).
    pub audio_ms: u64,
    /// Stage at the decision.
    pub stage: Stage,
    /// 0 for the first verdict, then 1, 2… for each revision.
    pub revision: u8,
    /// The measurements.
    pub evidence: Evidence,
}

/// What the dialer does with a call, one step coarser than [`Class`]: this is what the retry
/// policy keys on (the suggested `policy::CallOutcome` is in each variant's doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CpdOutcome {
    /// A person: hand to the bot now (`Connected`).
    Live,
    /// Answering machine / voicemail (`Voicemail`).
    Voicemail,
    /// The number is dead: vacant, changed or suspended (`InvalidNumber`).
    BadNumber,
    /// Handset off: retry in hours (`NoAnswer`, or a dedicated rule).
    PoweredOff,
    /// Out of coverage, network congestion, unnamed announcement: retry later (`Failed`).
    Unreachable,
    /// In another call (`Busy`).
    Busy,
    /// Fax or data modem: stop dialling this number as voice (`InvalidNumber`).
    Fax,
    /// Rang out or dead air (`NoAnswer`).
    NoAnswer,
}

impl Class {
    /// The dialer's view. `Undecided` counts as live on purpose: hanging up on a person costs an
    /// abandoned call (and, under TCPA/Ofcom rules, a compliance breach), a bot greeting a
    /// machine costs seconds.
    pub fn outcome(self) -> CpdOutcome {
        match self {
            Class::Human | Class::Undecided => CpdOutcome::Live,
            Class::Machine => CpdOutcome::Voicemail,
            Class::Announcement(k) => match k {
                AnnouncementKind::NotInService
                | AnnouncementKind::NumberChanged
                | AnnouncementKind::Suspended => CpdOutcome::BadNumber,
                AnnouncementKind::PoweredOff => CpdOutcome::PoweredOff,
                AnnouncementKind::Busy => CpdOutcome::Busy,
                AnnouncementKind::Unreachable | AnnouncementKind::Unknown => {
                    CpdOutcome::Unreachable
                }
            },
            Class::Fax | Class::Tone(ToneKind::Modem) => CpdOutcome::Fax,
            Class::Tone(ToneKind::Busy) => CpdOutcome::Busy,
            Class::Tone(ToneKind::Reorder | ToneKind::Dial | ToneKind::Other) => {
                CpdOutcome::Unreachable
            }
            Class::Tone(ToneKind::Ringback) | Class::Silence => CpdOutcome::NoAnswer,
        }
    }
}

impl CpdOutcome {
    /// The outcome the contact policy counts and retries by (each variant's doc names it):
    /// a voicemail is not a conversation, a dead number or a fax is never dialled again as
    /// voice, a handset that is off is retried like no answer.
    pub fn to_policy(self) -> crate::policy::CallOutcome {
        use crate::policy::CallOutcome as C;
        match self {
            CpdOutcome::Live => C::Connected,
            CpdOutcome::Voicemail => C::Voicemail,
            CpdOutcome::BadNumber | CpdOutcome::Fax => C::InvalidNumber,
            CpdOutcome::PoweredOff | CpdOutcome::NoAnswer => C::NoAnswer,
            CpdOutcome::Unreachable => C::Failed,
            CpdOutcome::Busy => C::Busy,
        }
    }
}

impl Verdict {
    /// Shortcut for `self.class.outcome()`.
    pub fn outcome(&self) -> CpdOutcome {
        self.class.outcome()
    }
}

// ---------------------------------------------------------------------------------------------
// Front end: rate conversion, high-pass, framing.

/// 16 → 8 kHz by a windowed-sinc low-pass and dropping every other sample.
struct Decimator {
    taps: [f32; DEC_TAPS],
    hist: [f32; DEC_TAPS],
    pos: usize,
    odd: bool,
}

impl Decimator {
    fn new() -> Self {
        // Cut-off 3.6 kHz of 16 kHz: passes the telephone band, stops what would alias.
        let fc = 3600.0 / 16000.0;
        let m = (DEC_TAPS - 1) as f32 / 2.0;
        let mut taps = [0f32; DEC_TAPS];
        for (i, t) in taps.iter_mut().enumerate() {
            let x = i as f32 - m;
            let sinc = if x == 0.0 {
                2.0 * fc
            } else {
                (2.0 * PI * fc * x).sin() / (PI * x)
            };
            let hamming = 0.54 - 0.46 * (2.0 * PI * i as f32 / (DEC_TAPS - 1) as f32).cos();
            *t = sinc * hamming;
        }
        let sum: f32 = taps.iter().sum();
        for t in &mut taps {
            *t /= sum;
        }
        Decimator {
            taps,
            hist: [0.0; DEC_TAPS],
            pos: 0,
            odd: false,
        }
    }

    fn push(&mut self, x: f32) -> Option<f32> {
        self.hist[self.pos] = x;
        self.pos = (self.pos + 1) % DEC_TAPS;
        self.odd = !self.odd;
        if self.odd {
            return None;
        }
        let mut acc = 0.0;
        for (k, t) in self.taps.iter().enumerate() {
            acc += t * self.hist[(self.pos + k) % DEC_TAPS];
        }
        Some(acc)
    }
}

/// Second-order Butterworth high-pass at 200 Hz: removes DC and mains hum and the rumble of
/// brown noise, which otherwise pass the energy gate as "speech".
struct HighPass {
    b: [f32; 3],
    a: [f32; 2],
    x: [f32; 2],
    y: [f32; 2],
}

impl HighPass {
    fn new() -> Self {
        let w0 = 2.0 * PI * 200.0 / RATE;
        let alpha = w0.sin() / (2.0 * std::f32::consts::FRAC_1_SQRT_2);
        let c = w0.cos();
        let a0 = 1.0 + alpha;
        HighPass {
            b: [(1.0 + c) / 2.0 / a0, -(1.0 + c) / a0, (1.0 + c) / 2.0 / a0],
            a: [-2.0 * c / a0, (1.0 - alpha) / a0],
            x: [0.0; 2],
            y: [0.0; 2],
        }
    }

    fn run(&mut self, x: f32) -> f32 {
        let y = self.b[0] * x + self.b[1] * self.x[0] + self.b[2] * self.x[1]
            - self.a[0] * self.y[0]
            - self.a[1] * self.y[1];
        self.x = [x, self.x[0]];
        self.y = [y, self.y[0]];
        y
    }
}

/// One frame's measurements.
#[derive(Debug, Clone, Copy)]
struct Features {
    db: f32,
    flat: f32,
    zcr: f32,
    tone: Option<ToneObs>,
}

/// A tone seen in one frame.
#[derive(Debug, Clone, Copy, PartialEq)]
enum ToneObs {
    Single(f32),
    Dual(Pair),
}

/// The dual tones of North American call progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pair {
    /// Dial tone.
    P350_440,
    /// Ringback.
    P440_480,
    /// Busy and reorder.
    P480_620,
}

/// Windows and scratch space, allocated once per detector.
struct Analyzer {
    hann: [f32; WIN],
    hann_sum: f32,
    hann2: Vec<f32>,
    hann2_sum: f32,
    hamming: [f32; FRAME],
    scratch: Vec<f32>,
}

impl Analyzer {
    fn new() -> Self {
        let mut hann = [0f32; WIN];
        for (i, w) in hann.iter_mut().enumerate() {
            *w = 0.5 - 0.5 * (2.0 * PI * i as f32 / WIN as f32).cos();
        }
        let mut hamming = [0f32; FRAME];
        for (i, w) in hamming.iter_mut().enumerate() {
            *w = 0.54 - 0.46 * (2.0 * PI * i as f32 / (FRAME - 1) as f32).cos();
        }
        let hann2: Vec<f32> = (0..WIN2)
            .map(|i| 0.5 - 0.5 * (2.0 * PI * i as f32 / WIN2 as f32).cos())
            .collect();
        Analyzer {
            hann_sum: hann.iter().sum(),
            hann,
            hann2_sum: hann2.iter().sum(),
            hann2,
            hamming,
            scratch: vec![0.0; WIN2],
        }
    }

    fn analyze(&mut self, win: &[f32; WIN2], cfg: &CpdConfig) -> Features {
        let cur = &win[WIN2 - FRAME..];
        let p: f32 = cur.iter().map(|x| x * x).sum::<f32>() / FRAME as f32;
        let db = 10.0 * (p + 1e-12).log10();
        let crossings = cur
            .windows(2)
            .filter(|w| (w[0] >= 0.0) != (w[1] >= 0.0))
            .count();
        let zcr = crossings as f32 / FRAME as f32;
        // Frames too quiet to be speech or a tone need neither flatness nor filters, and quiet
        // frames are most of a call's first seconds.
        if db < cfg.min_speech_dbfs.min(cfg.tone_min_dbfs) {
            return Features {
                db,
                flat: 1.0,
                zcr,
                tone: None,
            };
        }
        for (i, x) in cur.iter().enumerate() {
            self.scratch[i] = x * self.hamming[i];
        }
        let flat = lpc_flatness(&self.scratch[..FRAME]);
        // Tones are almost perfectly predictable; anything flatter is not worth the filters.
        let tone = if flat <= TONE_MAX_FLATNESS {
            self.tone(win, cfg)
        } else {
            None
        };
        Features {
            db,
            flat,
            zcr,
            tone,
        }
    }

    fn tone(&mut self, win2: &[f32; WIN2], cfg: &CpdConfig) -> Option<ToneObs> {
        let win = &win2[WIN2 - WIN..];
        let p_win: f32 = win.iter().map(|x| x * x).sum::<f32>() / WIN as f32;
        if 10.0 * (p_win + 1e-12).log10() < cfg.tone_min_dbfs {
            return None;
        }
        let f0 = pisarenko(win);
        // A dual tone reads as one tone at its mean frequency (395, 460 or 550 Hz) over 40 ms,
        // so the pair filters run first, and only when the estimate lands there.
        if f0.is_none_or(|f| (330.0..=700.0).contains(&f)) {
            if let Some(d) = self.dual(win2, cfg) {
                return Some(d);
            }
        }
        let f0 = f0?;
        for (i, x) in win.iter().enumerate() {
            self.scratch[i] = x * self.hann[i];
        }
        // Power of a sinusoid at f estimated from the windowed DFT, as a share of the window's
        // power: ~1 for a pure tone, ~ENBW/fs (≈0.01) for white noise.
        let norm = 2.0 / (self.hann_sum * self.hann_sum) / p_win;
        let freqs = [f0 - 6.0, f0, f0 + 6.0];
        let powers = goertzel(&self.scratch[..WIN], freqs);
        let mut best = (0.0f32, f0);
        for (f, p) in freqs.into_iter().zip(powers) {
            if p * norm > best.0 {
                best = (p * norm, f);
            }
        }
        (best.0 >= cfg.tone_purity).then_some(ToneObs::Single(best.1))
    }

    fn dual(&mut self, win: &[f32; WIN2], cfg: &CpdConfig) -> Option<ToneObs> {
        let p_win: f32 = win.iter().map(|x| x * x).sum::<f32>() / WIN2 as f32;
        if 10.0 * (p_win + 1e-12).log10() < cfg.tone_min_dbfs {
            return None;
        }
        for (i, x) in win.iter().enumerate() {
            self.scratch[i] = x * self.hann2[i];
        }
        let norm = 2.0 / (self.hann2_sum * self.hann2_sum) / p_win;
        let [g350, g440, g480, g620] =
            goertzel(&self.scratch, [350.0, 440.0, 480.0, 620.0]).map(|p| p * norm);
        let pairs = [
            (Pair::P350_440, g350, g440),
            (Pair::P440_480, g440, g480),
            (Pair::P480_620, g480, g620),
        ];
        let mut best: Option<(Pair, f32)> = None;
        for (pair, a, b) in pairs {
            // Both components must be present: a single 440 Hz tone is not dial tone.
            if a + b >= cfg.tone_purity && a.min(b) >= 0.2 * (a + b) {
                match best {
                    Some((_, s)) if s >= a + b => {}
                    _ => best = Some((pair, a + b)),
                }
            }
        }
        best.map(|(p, _)| ToneObs::Dual(p))
    }
}

/// |X(f)|² of a (windowed) block at K frequencies by the Goertzel recurrence. The K filters
/// run in one pass because each recurrence is a serial dependency chain: interleaved, the CPU
/// overlaps them (about 3x faster than K separate loops).
fn goertzel<const K: usize>(x: &[f32], freqs: [f32; K]) -> [f32; K] {
    let c = freqs.map(|f| 2.0 * (2.0 * PI * f / RATE).cos());
    let mut s1 = [0.0f32; K];
    let mut s2 = [0.0f32; K];
    for &v in x {
        for k in 0..K {
            let s = v + c[k] * s1[k] - s2[k];
            s2[k] = s1[k];
            s1[k] = s;
        }
    }
    let mut out = [0.0f32; K];
    for k in 0..K {
        out[k] = (s1[k] * s1[k] + s2[k] * s2[k] - c[k] * s1[k] * s2[k]).max(0.0);
    }
    out
}

/// Dominant frequency of a single sinusoid in white noise from lags 1 and 2
/// (cos ω = (r2 + √(r2² + 8 r1²)) / 4 r1): three dot products, no bias from the noise power.
fn pisarenko(x: &[f32]) -> Option<f32> {
    let mut r1 = 0.0f64;
    let mut r2 = 0.0f64;
    for i in 2..x.len() {
        r1 += (x[i] * x[i - 1]) as f64;
        r2 += (x[i] * x[i - 2]) as f64;
    }
    if r1.abs() < 1e-12 {
        return Some(RATE / 4.0);
    }
    let c = (r2 + (r2 * r2 + 8.0 * r1 * r1).sqrt()) / (4.0 * r1);
    let f = (c.clamp(-1.0, 1.0).acos() as f32) * RATE / (2.0 * PI);
    (100.0..=3800.0).contains(&f).then_some(f)
}

/// Spectral flatness by proxy: the order-10 LPC prediction-error ratio (1 = white, → 0 for
/// peaky spectra such as vowels and tones).
fn lpc_flatness(x: &[f32]) -> f32 {
    const P: usize = 10;
    let mut r = [0f64; P + 1];
    for (k, rk) in r.iter_mut().enumerate() {
        *rk = x[k..]
            .iter()
            .zip(x.iter())
            .map(|(a, b)| (*a as f64) * (*b as f64))
            .sum();
    }
    if r[0] < 1e-10 {
        return 1.0;
    }
    // A touch of white-noise correction keeps Levinson stable on pure tones.
    let r0 = r[0] * (1.0 + 1e-6);
    let mut a = [0f64; P + 1];
    a[0] = 1.0;
    let mut err = r0;
    for i in 1..=P {
        let mut acc = r[i];
        for j in 1..i {
            acc += a[j] * r[i - j];
        }
        let k = -acc / err;
        let prev = a;
        for j in 1..i {
            a[j] = prev[j] + k * prev[i - j];
        }
        a[i] = k;
        err *= 1.0 - k * k;
        if err <= 0.0 {
            return 0.0;
        }
    }
    ((err / r0) as f32).clamp(0.0, 1.0)
}

// ---------------------------------------------------------------------------------------------
// Tone segments.

/// Frequency families that give tone segments their meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Band {
    Sit(u8),
    Cng,
    Ced,
    Modem,
    CallProgress,
    Dual(Pair),
    Other,
}

fn band_of(obs: ToneObs) -> Band {
    match obs {
        ToneObs::Dual(p) => Band::Dual(p),
        ToneObs::Single(f) => match f {
            f if (880.0..=1010.0).contains(&f) => Band::Sit(1),
            f if (1340.0..=1460.0).contains(&f) => Band::Sit(2),
            f if (1740.0..=1840.0).contains(&f) => Band::Sit(3),
            f if (1075.0..=1125.0).contains(&f) => Band::Cng,
            f if (2070.0..=2130.0).contains(&f) => Band::Ced,
            f if (2195.0..=2255.0).contains(&f) => Band::Modem,
            f if (380.0..=500.0).contains(&f) => Band::CallProgress,
            _ => Band::Other,
        },
    }
}

/// A tone run being followed.
#[derive(Debug, Clone, Copy)]
struct Track {
    dual: Option<Pair>,
    start: u64,
    last: u64,
    n: u32,
    sum_f: f32,
    misses: u32,
}

impl Track {
    fn freq(&self) -> f32 {
        self.sum_f / self.n.max(1) as f32
    }
    fn obs(&self) -> ToneObs {
        match self.dual {
            Some(p) => ToneObs::Dual(p),
            None => ToneObs::Single(self.freq()),
        }
    }
    fn dur_ms(&self) -> u64 {
        (self.last + 1 - self.start) * FRAME_MS
    }
    fn accepts(&self, o: ToneObs) -> bool {
        match (self.dual, o) {
            (Some(p), ToneObs::Dual(q)) => p == q,
            (None, ToneObs::Single(f)) => {
                let m = self.freq();
                (f - m).abs() <= (0.015 * m).max(15.0)
            }
            _ => false,
        }
    }
    fn seg(&self) -> Seg {
        Seg {
            band: band_of(self.obs()),
            freq: match self.dual {
                Some(Pair::P350_440) => 395.0,
                Some(Pair::P440_480) => 460.0,
                Some(Pair::P480_620) => 550.0,
                None => self.freq(),
            },
            start: self.start,
            end: self.last + 1,
        }
    }
}

/// A finished tone run, in frames.
#[derive(Debug, Clone, Copy)]
struct Seg {
    band: Band,
    freq: f32,
    start: u64,
    end: u64,
}

impl Seg {
    fn dur_ms(&self) -> u64 {
        (self.end - self.start) * FRAME_MS
    }
}

// ---------------------------------------------------------------------------------------------
// Transcript rules.

/// Which way a phrase points.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Cue {
    Announcement(AnnouncementKind),
    Machine,
    HumanQuestion,
}

use AnnouncementKind as AK;

// Phrases are stored normalised: Chinese without spaces or punctuation; English lower-case,
// words separated by one space (matched on word boundaries).
const ZH_STRONG: &[(&str, Cue)] = &[
    ("空号", Cue::Announcement(AK::NotInService)),
    ("不存在", Cue::Announcement(AK::NotInService)),
    ("关机", Cue::Announcement(AK::PoweredOff)),
    ("停机", Cue::Announcement(AK::Suspended)),
    ("暂停服务", Cue::Announcement(AK::Suspended)),
    ("无法接通", Cue::Announcement(AK::Unreachable)),
    ("不在服务区", Cue::Announcement(AK::Unreachable)),
    ("正在通话中", Cue::Announcement(AK::Busy)),
    ("通话中", Cue::Announcement(AK::Busy)),
    ("用户忙", Cue::Announcement(AK::Busy)),
    ("改号", Cue::Announcement(AK::NumberChanged)),
    ("号码已更改", Cue::Announcement(AK::NumberChanged)),
    ("留言", Cue::Machine),
    ("嘀声", Cue::Machine),
    ("嘟声", Cue::Machine),
    ("提示音后", Cue::Machine),
    ("语音信箱", Cue::Machine),
    ("信箱", Cue::Machine),
    ("秘书服务", Cue::Machine),
    ("开始录音", Cue::Machine),
    ("留下您的", Cue::Machine),
    ("留下你的", Cue::Machine),
];
const ZH_WEAK: &[(&str, Cue)] = &[
    ("无人接听", Cue::Announcement(AK::Unreachable)),
    ("稍后再拨", Cue::Announcement(AK::Unknown)),
    ("不方便接", Cue::Machine),
    ("不能接电话", Cue::Machine),
    ("无法接听", Cue::Machine),
    ("不在家", Cue::Machine),
    ("在开会", Cue::Machine),
    ("稍后联系", Cue::Machine),
];
const ZH_HUMAN: &[&str] = &[
    "哪位",
    "你是谁",
    "您是谁",
    "谁啊",
    "什么事",
    "哪里",
    "找谁",
    "干什么",
    "怎么了",
];
const EN_STRONG: &[(&str, Cue)] = &[
    ("not in service", Cue::Announcement(AK::NotInService)),
    ("no longer in service", Cue::Announcement(AK::NotInService)),
    ("been disconnected", Cue::Announcement(AK::NotInService)),
    ("is disconnected", Cue::Announcement(AK::NotInService)),
    ("not a working number", Cue::Announcement(AK::NotInService)),
    (
        "cannot be completed as dialed",
        Cue::Announcement(AK::NotInService),
    ),
    (
        "could not be completed as dialed",
        Cue::Announcement(AK::NotInService),
    ),
    ("does not exist", Cue::Announcement(AK::NotInService)),
    ("powered off", Cue::Announcement(AK::PoweredOff)),
    ("switched off", Cue::Announcement(AK::PoweredOff)),
    ("turned off", Cue::Announcement(AK::PoweredOff)),
    ("cannot be reached", Cue::Announcement(AK::Unreachable)),
    ("can not be reached", Cue::Announcement(AK::Unreachable)),
    ("is unreachable", Cue::Announcement(AK::Unreachable)),
    (
        "out of the service area",
        Cue::Announcement(AK::Unreachable),
    ),
    (
        "outside the coverage area",
        Cue::Announcement(AK::Unreachable),
    ),
    ("out of coverage", Cue::Announcement(AK::Unreachable)),
    ("is busy", Cue::Announcement(AK::Busy)),
    ("line is busy", Cue::Announcement(AK::Busy)),
    ("has been changed", Cue::Announcement(AK::NumberChanged)),
    ("new number is", Cue::Announcement(AK::NumberChanged)),
    ("temporarily suspended", Cue::Announcement(AK::Suspended)),
    ("been suspended", Cue::Announcement(AK::Suspended)),
    ("leave a message", Cue::Machine),
    ("leave your message", Cue::Machine),
    ("leave me a message", Cue::Machine),
    ("leave a voicemail", Cue::Machine),
    ("leave your name", Cue::Machine),
    ("leave it at the", Cue::Machine),
    ("after the tone", Cue::Machine),
    ("after the beep", Cue::Machine),
    ("at the tone", Cue::Machine),
    ("at the beep", Cue::Machine),
    ("voicemail", Cue::Machine),
    ("voice mail", Cue::Machine),
    ("mailbox", Cue::Machine),
    ("record your message", Cue::Machine),
    ("can't come to the phone", Cue::Machine),
    ("cannot come to the phone", Cue::Machine),
    ("can't take your call", Cue::Machine),
    ("unable to take your call", Cue::Machine),
    ("office is closed", Cue::Machine),
    ("office is now closed", Cue::Machine),
];
const EN_WEAK: &[(&str, Cue)] = &[
    ("is not available", Cue::Announcement(AK::Unreachable)),
    (
        "not available at this time",
        Cue::Announcement(AK::Unreachable),
    ),
    ("try your call again", Cue::Announcement(AK::Unknown)),
    ("please try again later", Cue::Announcement(AK::Unknown)),
    ("can't talk right now", Cue::Machine),
    ("can't answer", Cue::Machine),
    ("cannot answer", Cue::Machine),
    ("missed your call", Cue::Machine),
    ("call you back", Cue::Machine),
    ("get back to you", Cue::Machine),
    ("not available right now", Cue::Machine),
    ("you've reached", Cue::Machine),
    ("you have reached", Cue::Machine),
    ("thank you for calling", Cue::Machine),
    ("thanks for calling", Cue::Machine),
    ("if this is an emergency", Cue::Machine),
];
const EN_HUMAN: &[&str] = &[
    "who's this",
    "who is this",
    "who's calling",
    "who is calling",
    "who are you",
    "what's this about",
    "what is this about",
    "can i help you",
    "how can i help",
];

/// Accumulated ASR text in both normal forms.
#[derive(Default)]
struct TextState {
    en: String,
    zh: String,
    words: usize,
    weak: Option<(Cue, &'static str, u64)>,
}

impl TextState {
    fn append(&mut self, text: &str, locale: Locale) {
        for ch in text.chars() {
            let c = if ch == '\u{2019}' { '\'' } else { ch };
            if c.is_alphanumeric() || c == '\'' {
                for l in c.to_lowercase() {
                    self.en.push(l);
                }
                if !c.is_ascii() || c.is_ascii_alphanumeric() {
                    self.zh.push(c);
                }
            } else if !self.en.ends_with(' ') {
                self.en.push(' ');
            }
        }
        if !self.en.ends_with(' ') {
            self.en.push(' ');
        }
        self.words = match locale {
            Locale::EnUs => self.en.split_whitespace().count(),
            Locale::ZhCn => self
                .zh
                .chars()
                .filter(|c| !c.is_ascii())
                .count()
                .div_ceil(2),
        };
        // Bound memory on a runaway transcript: rules only need the start of a call.
        const MAX: usize = 4096;
        if self.en.len() > MAX {
            let cut = self.en.len() - MAX;
            let cut = (cut..self.en.len())
                .find(|i| self.en.is_char_boundary(*i))
                .unwrap_or(self.en.len());
            self.en.drain(..cut);
        }
        if self.zh.len() > MAX {
            let cut = self.zh.len() - MAX;
            let cut = (cut..self.zh.len())
                .find(|i| self.zh.is_char_boundary(*i))
                .unwrap_or(self.zh.len());
            self.zh.drain(..cut);
        }
    }

    fn has_en(&self, phrase: &str) -> bool {
        // Word boundaries: " is busy " must not match "this busy".
        let hay = format!(" {}", self.en);
        hay.contains(&format!(" {phrase} "))
    }

    /// The strongest cue in the text: strong announcement, then strong machine, then weak.
    fn strong(&self) -> Option<(Cue, &'static str)> {
        let mut found: Option<(Cue, &'static str)> = None;
        let zh = ZH_STRONG.iter().filter(|(p, _)| self.zh.contains(p));
        let en = EN_STRONG.iter().filter(|(p, _)| self.has_en(p));
        for &(p, cue) in zh.chain(en) {
            match (found, cue) {
                (None, _) => found = Some((cue, p)),
                (Some((Cue::Machine, _)), Cue::Announcement(_)) => found = Some((cue, p)),
                _ => {}
            }
        }
        found
    }

    fn weak(&self) -> Option<(Cue, &'static str)> {
        let zh = ZH_WEAK.iter().filter(|(p, _)| self.zh.contains(p));
        let en = EN_WEAK.iter().filter(|(p, _)| self.has_en(p));
        zh.chain(en).map(|&(p, c)| (c, p)).next()
    }

    fn human_question(&self, max_words: usize) -> Option<&'static str> {
        if self.words > max_words {
            return None;
        }
        ZH_HUMAN
            .iter()
            .find(|p| self.zh.contains(*p))
            .or_else(|| EN_HUMAN.iter().find(|p| self.has_en(p)))
            .copied()
    }
}

/// Classify a piece of text alone with the module's phrase tables (strong phrases first): for
/// tools and tests that want the keyword rules without a detector.
pub fn classify_text(text: &str, locale: Locale) -> Option<(Class, &'static str)> {
    let mut t = TextState::default();
    t.append(text, locale);
    let to_class = |(cue, p): (Cue, &'static str)| match cue {
        Cue::Announcement(k) => Some((Class::Announcement(k), p)),
        Cue::Machine => Some((Class::Machine, p)),
        Cue::HumanQuestion => None,
    };
    t.strong()
        .and_then(to_class)
        .or_else(|| t.weak().and_then(to_class))
        .or_else(|| t.human_question(usize::MAX).map(|p| (Class::Human, p)))
}

// ---------------------------------------------------------------------------------------------
// The detector.

/// Speech timing since the origin (start or answer).
#[derive(Default, Clone)]
struct Amd {
    origin: u64,
    voiced_run: u64,
    silent_run: u64,
    in_word: bool,
    words: u32,
    first_voice: Option<u64>,
    last_voice: u64,
    speech_frames: u64,
    tone_frames: u64,
}

/// A decision proposed by one of the rules.
struct Hit {
    class: Class,
    rule: Rule,
    tone: Option<(f32, u64, Option<u64>)>,
    sit: Option<SitCode>,
    keyword: Option<&'static str>,
}

impl Hit {
    fn new(class: Class, rule: Rule) -> Self {
        Hit {
            class,
            rule,
            tone: None,
            sit: None,
            keyword: None,
        }
    }
    fn tone(mut self, s: &Seg, off: Option<u64>) -> Self {
        self.tone = Some((s.freq, s.dur_ms(), off));
        self
    }
}

/// The call-progress detector for one call leg. Create it when early media or the answer
/// starts, push every inbound frame, and call [`Detector::finish`] at the deadline.
pub struct Detector {
    cfg: CpdConfig,
    stage: Stage,
    decim: Option<Decimator>,
    hp: HighPass,
    an: Analyzer,
    win: [f32; WIN2],
    fill: usize,
    frame: u64,
    floor: VecDeque<f32>,
    amd: Amd,
    track: Option<Track>,
    cp: Vec<Seg>,
    sit: Vec<Seg>,
    tone_segs: u32,
    text: TextState,
    verdict: Option<Verdict>,
    fresh: bool,
    now_ms: u64,
}

impl Detector {
    /// A detector for a leg in `stage` (use [`Stage::EarlyMedia`] from the 183 and call
    /// [`Detector::answered`] on the 200, or start in [`Stage::Answered`]).
    pub fn new(cfg: CpdConfig, stage: Stage) -> Result<Self, CpdError> {
        cfg.validate()?;
        Ok(Detector {
            decim: (cfg.sample_rate_hz == 16000).then(Decimator::new),
            cfg,
            stage,
            hp: HighPass::new(),
            an: Analyzer::new(),
            win: [0.0; WIN2],
            fill: 0,
            frame: 0,
            floor: VecDeque::with_capacity(FLOOR_FRAMES),
            amd: Amd::default(),
            track: None,
            cp: Vec::new(),
            sit: Vec::new(),
            tone_segs: 0,
            text: TextState::default(),
            verdict: None,
            fresh: false,
            now_ms: 0,
        })
    }

    /// The latest verdict, if any.
    pub fn verdict(&self) -> Option<&Verdict> {
        self.verdict.as_ref()
    }

    /// Audio analysed so far (ms).
    pub fn audio_ms(&self) -> u64 {
        self.frame * FRAME_MS
    }

    /// Feed inbound PCM (any length, at the configured rate) and the caller's clock. Returns a
    /// verdict when this audio produced one (first decision or a revision; the latest if a long
    /// buffer produced several). Keeps listening after a verdict so a beep, a SIT or a keyword
    /// can still revise it; stop pushing once the verdict is good enough for the caller.
    pub fn push(&mut self, pcm: &[i16], now_ms: u64) -> Option<Verdict> {
        self.now_ms = now_ms;
        self.fresh = false;
        for &s in pcm {
            let x = s as f32 / 32768.0;
            let x = match &mut self.decim {
                Some(d) => match d.push(x) {
                    Some(y) => y,
                    None => continue,
                },
                None => x,
            };
            self.win[WIN2 - FRAME + self.fill] = self.hp.run(x);
            self.fill += 1;
            if self.fill == FRAME {
                let f = self.an.analyze(&self.win, &self.cfg);
                self.on_frame(f);
                self.win.copy_within(FRAME.., 0);
                self.fill = 0;
            }
        }
        self.take_fresh()
    }

    /// Feed ASR text heard on the leg (final segments, appended in order). Carrier and voicemail
    /// phrases decide at once; weak ones wait `weak_keyword_hold_ms` for something stronger.
    pub fn push_transcript(&mut self, text: &str, locale: Locale, now_ms: u64) -> Option<Verdict> {
        self.now_ms = now_ms;
        self.fresh = false;
        self.text.append(text, locale);
        self.text_rules();
        self.take_fresh()
    }

    /// The far end answered (200 OK): speech timing restarts, and a verdict that only described
    /// the ringing (ringback, silence) is dropped so the answer gets its own.
    pub fn answered(&mut self, now_ms: u64) {
        self.now_ms = now_ms;
        self.stage = Stage::Answered;
        self.amd = Amd {
            origin: self.frame,
            ..Amd::default()
        };
        self.cp.clear();
        let ringing = matches!(
            self.verdict.as_ref().map(|v| v.class),
            Some(Class::Tone(ToneKind::Ringback) | Class::Silence)
        );
        if ringing {
            self.verdict = None;
        }
    }

    /// The deadline: decide from whatever evidence there is. Idempotent.
    pub fn finish(&mut self, now_ms: u64) -> Verdict {
        self.now_ms = now_ms;
        if let Some(t) = self.track.take() {
            let s = t.seg();
            if let Some(h) = self.on_segment(s) {
                self.emit(h);
            }
        }
        if let Some(h) = self.sit_timeout(true) {
            self.emit(h);
        }
        if let Some((cue, p, _)) = self.text.weak.take() {
            self.emit_cue(cue, p, Rule::WeakKeyword);
        }
        if let Some(v) = &self.verdict {
            return v.clone();
        }
        let hit = self.deadline_guess();
        self.emit(hit);
        self.verdict
            .clone()
            .unwrap_or_else(|| self.make(Hit::new(Class::Undecided, Rule::Deadline), 0))
    }

    fn take_fresh(&mut self) -> Option<Verdict> {
        if self.fresh {
            self.fresh = false;
            self.verdict.clone()
        } else {
            None
        }
    }

    fn on_frame(&mut self, f: Features) {
        // Tones first: a tone frame is neither speech nor silence.
        let mut hits: Vec<Hit> = Vec::new();
        let obs = f.tone;
        match (self.track.as_mut(), obs) {
            (Some(t), Some(o)) if t.accepts(o) => {
                t.last = self.frame;
                t.misses = 0;
                if let ToneObs::Single(hz) = o {
                    t.sum_f += hz;
                }
                t.n += 1;
            }
            (Some(t), None) if t.misses == 0 => t.misses = 1,
            (Some(_), _) => {
                if let Some(t) = self.track.take() {
                    hits.extend(self.on_segment(t.seg()));
                }
            }
            (None, _) => {}
        }
        if self.track.is_none() {
            if let Some(o) = obs {
                self.track = Some(Track {
                    dual: match o {
                        ToneObs::Dual(p) => Some(p),
                        ToneObs::Single(_) => None,
                    },
                    start: self.frame,
                    last: self.frame,
                    n: 1,
                    sum_f: match o {
                        ToneObs::Single(hz) => hz,
                        ToneObs::Dual(_) => 0.0,
                    },
                    misses: 0,
                });
            }
        }
        if let Some(t) = self.track {
            hits.extend(self.on_ongoing(&t));
        }
        hits.extend(self.sit_timeout(false));
        hits.extend(self.ringback_timeout());

        // Speech.
        let tone = obs.is_some();
        if tone {
            self.amd.tone_frames += 1;
        } else {
            if self.floor.len() == FLOOR_FRAMES {
                self.floor.pop_front();
            }
            self.floor.push_back(f.db.max(-100.0));
        }
        let floor = self.floor.iter().copied().fold(f32::INFINITY, f32::min);
        let noise_like = f.flat >= self.cfg.noise_flatness && f.zcr >= self.cfg.noise_zcr;
        let voice = !tone
            && !noise_like
            && f.db >= self.cfg.min_speech_dbfs
            && f.db >= floor + self.cfg.speech_snr_db;
        self.amd_step(voice, tone);
        self.frame += 1;

        for h in hits {
            self.emit(h);
        }
        if let Some((cue, p, until)) = self.text.weak {
            if self.now_ms >= until {
                self.text.weak = None;
                self.emit_cue(cue, p, Rule::WeakKeyword);
            }
        }
        // Speech rules decide once, except that a person who speaks after a dead-air verdict
        // still gets to be heard.
        let open = self
            .verdict
            .as_ref()
            .is_none_or(|v| v.class == Class::Silence);
        if open {
            if let Some(h) = self.speech_rules() {
                self.emit(h);
            }
        }
    }

    fn amd_step(&mut self, voice: bool, tone: bool) {
        let a = &mut self.amd;
        let min_word = self.cfg.min_word_ms / FRAME_MS;
        let between = self.cfg.between_words_ms.div_ceil(FRAME_MS);
        if voice {
            a.voiced_run += 1;
            a.speech_frames += 1;
            if a.voiced_run >= min_word {
                if !a.in_word {
                    a.in_word = true;
                    a.words += 1;
                    if a.first_voice.is_none() {
                        a.first_voice = Some(self.frame + 1 - a.voiced_run);
                    }
                }
                // Clicks shorter than a word do not break a silence.
                a.silent_run = 0;
            }
            if a.in_word {
                a.last_voice = self.frame;
            }
        } else {
            a.voiced_run = 0;
            if tone {
                a.in_word = false;
            } else {
                a.silent_run += 1;
                if a.silent_run >= between {
                    a.in_word = false;
                }
            }
        }
    }

    fn speech_rules(&self) -> Option<Hit> {
        let a = &self.amd;
        let c = &self.cfg;
        let since_origin = (self.frame - a.origin) * FRAME_MS;
        let Some(first) = a.first_voice else {
            let no_tone = a.tone_frames == 0 && self.track.is_none();
            return (self.stage == Stage::Answered
                && no_tone
                && since_origin >= c.max_initial_silence_ms)
                .then(|| Hit::new(Class::Silence, Rule::InitialSilence));
        };
        if self.stage == Stage::EarlyMedia {
            return (a.speech_frames * FRAME_MS >= c.early_speech_ms).then(|| {
                Hit::new(
                    Class::Announcement(AnnouncementKind::Unknown),
                    Rule::EarlyMediaSpeech,
                )
            });
        }
        let greeting = (a.last_voice + 1 - first) * FRAME_MS;
        if greeting >= c.max_greeting_ms {
            return Some(Hit::new(Class::Machine, Rule::LongGreeting));
        }
        if c.max_words > 0 && a.words >= c.max_words {
            return Some(Hit::new(Class::Machine, Rule::MaxWords));
        }
        if a.silent_run * FRAME_MS >= c.after_greeting_silence_ms {
            return Some(Hit::new(Class::Human, Rule::AfterGreetingSilence));
        }
        None
    }

    fn on_segment(&mut self, s: Seg) -> Option<Hit> {
        self.tone_segs += 1;
        let d = s.dur_ms();
        let c = &self.cfg;
        let beep = |s: &Seg| {
            (c.beep_min_ms..=c.beep_max_ms).contains(&s.dur_ms())
                && (500.0..=3000.0).contains(&s.freq)
        };
        match s.band {
            Band::Ced if d >= c.ced_min_ms => Some(Hit::new(Class::Fax, Rule::Ced).tone(&s, None)),
            Band::Cng if (c.cng_min_ms..=c.cng_max_ms).contains(&d) => {
                // A voicemail beep can be 1100 Hz too; a fax does not talk first.
                if self.amd.speech_frames * FRAME_MS < 300 {
                    Some(Hit::new(Class::Fax, Rule::Cng).tone(&s, None))
                } else {
                    Some(Hit::new(Class::Machine, Rule::Beep).tone(&s, None))
                }
            }
            Band::Sit(b) if (150..=500).contains(&d) => {
                let gap = c.sit_max_gap_ms / FRAME_MS + 1;
                let follows = self.sit.last().is_some_and(|l| {
                    matches!(l.band, Band::Sit(p) if p + 1 == b) && s.start <= l.end + gap
                });
                if !follows {
                    // A lone earlier SIT-band segment was a beep after all.
                    let prev = self.sit_timeout(true);
                    self.sit.push(s);
                    if prev.is_some() {
                        return prev;
                    }
                } else {
                    self.sit.push(s);
                }
                if self.sit.len() == 3 {
                    return self.sit_timeout(true);
                }
                None
            }
            Band::CallProgress | Band::Dual(_) => self.cadence(s),
            _ if beep(&s) => Some(Hit::new(Class::Machine, Rule::Beep).tone(&s, None)),
            _ => None,
        }
    }

    /// Resolve collected SIT segments: three (or two, after a gap) make an announcement; one
    /// alone is a beep. `force` resolves without waiting for the gap.
    fn sit_timeout(&mut self, force: bool) -> Option<Hit> {
        let last = *self.sit.last()?;
        let gap = self.cfg.sit_max_gap_ms / FRAME_MS + 2;
        let ongoing = self.track.is_some_and(|t| t.start <= last.end + gap);
        if !force && (ongoing || self.frame < last.end + gap) {
            return None;
        }
        let segs = std::mem::take(&mut self.sit);
        if segs.len() >= 2 {
            let code = sit_code(&segs);
            let kind = match code {
                SitCode::Intercept | SitCode::VacantCode => AnnouncementKind::NotInService,
                SitCode::NoCircuit | SitCode::Reorder => AnnouncementKind::Unreachable,
                SitCode::Uncoded => AnnouncementKind::Unknown,
            };
            let mut h = Hit::new(Class::Announcement(kind), Rule::Sit).tone(&segs[0], None);
            h.sit = Some(code);
            return Some(h);
        }
        let s = segs[0];
        let c = &self.cfg;
        ((c.beep_min_ms..=c.beep_max_ms).contains(&s.dur_ms()))
            .then(|| Hit::new(Class::Machine, Rule::Beep).tone(&s, None))
    }

    fn cadence(&mut self, s: Seg) -> Option<Hit> {
        if self.cp.last().is_some_and(|l| l.band != s.band) {
            self.cp.clear();
        }
        self.cp.push(s);
        if self.cp.len() > 4 {
            self.cp.remove(0);
        }
        if s.band == Band::Dual(Pair::P440_480) && s.dur_ms() >= self.cfg.ringback_min_ms {
            return Some(
                Hit::new(Class::Tone(ToneKind::Ringback), Rule::ToneCadence).tone(&s, None),
            );
        }
        let n = self.cp.len();
        if n < 2 {
            return None;
        }
        let (a, b) = (self.cp[n - 2], self.cp[n - 1]);
        let (on_a, on_b) = (a.dur_ms(), b.dur_ms());
        let off = (b.start - a.end) * FRAME_MS;
        let r = 150..=900;
        let even = on_a.abs_diff(on_b) <= 150 && on_a.abs_diff(off) <= 250;
        if r.contains(&on_a) && r.contains(&on_b) && r.contains(&off) && even {
            let on = (on_a + on_b) / 2;
            // Busy is 0.35 (China) to 0.5 s (US); faster or slower is congestion/reorder.
            let kind = if (300..600).contains(&on) {
                ToneKind::Busy
            } else {
                ToneKind::Reorder
            };
            return Some(Hit::new(Class::Tone(kind), Rule::ToneCadence).tone(&b, Some(off)));
        }
        None
    }

    fn ringback_timeout(&self) -> Option<Hit> {
        let last = self.cp.last()?;
        if self.track.is_some() || last.band != Band::CallProgress {
            return None;
        }
        let off = (self.frame - last.end) * FRAME_MS;
        ((700..=2500).contains(&last.dur_ms()) && off >= self.cfg.ringback_off_ms).then(|| {
            Hit::new(Class::Tone(ToneKind::Ringback), Rule::ToneCadence).tone(last, Some(off))
        })
    }

    fn on_ongoing(&self, t: &Track) -> Option<Hit> {
        let s = t.seg();
        let d = t.dur_ms();
        let c = &self.cfg;
        match s.band {
            Band::Ced if d >= c.ced_min_ms => Some(Hit::new(Class::Fax, Rule::Ced).tone(&s, None)),
            Band::Modem if d >= 500 => {
                Some(Hit::new(Class::Tone(ToneKind::Modem), Rule::ContinuousTone).tone(&s, None))
            }
            Band::Dual(Pair::P440_480) if d >= c.ringback_min_ms => {
                Some(Hit::new(Class::Tone(ToneKind::Ringback), Rule::ToneCadence).tone(&s, None))
            }
            Band::Dual(Pair::P350_440) if d >= 1500 => {
                Some(Hit::new(Class::Tone(ToneKind::Dial), Rule::ContinuousTone).tone(&s, None))
            }
            Band::CallProgress if d >= 3000 => {
                Some(Hit::new(Class::Tone(ToneKind::Dial), Rule::ContinuousTone).tone(&s, None))
            }
            _ if d >= 3000 && d > c.beep_max_ms => {
                Some(Hit::new(Class::Tone(ToneKind::Other), Rule::ContinuousTone).tone(&s, None))
            }
            _ => None,
        }
    }

    fn text_rules(&mut self) {
        if let Some((cue, p)) = self.text.strong() {
            self.text.weak = None;
            self.emit_cue(cue, p, Rule::Keyword);
            return;
        }
        if self.text.weak.is_none() {
            if let Some((cue, p)) = self.text.weak() {
                let until = self.now_ms.saturating_add(self.cfg.weak_keyword_hold_ms);
                self.text.weak = Some((cue, p, until));
            }
        }
        if let Some(p) = self.text.human_question(self.cfg.human_question_max_words) {
            self.emit_cue(Cue::HumanQuestion, p, Rule::HumanQuestion);
        }
    }

    fn emit_cue(&mut self, cue: Cue, phrase: &'static str, rule: Rule) {
        let class = match cue {
            Cue::Announcement(k) => Class::Announcement(k),
            Cue::Machine => Class::Machine,
            Cue::HumanQuestion => Class::Human,
        };
        let mut h = Hit::new(class, rule);
        h.keyword = Some(phrase);
        self.emit(h);
    }

    /// Whether later evidence may overturn the current verdict: only stronger kinds of evidence,
    /// and only in the directions where the first rule is known to err.
    fn may_revise(&self, cur: &Verdict, h: &Hit) -> bool {
        if cur.class == h.class || cur.revision >= self.cfg.max_revisions {
            return false;
        }
        let acoustic_machine = cur.class == Class::Machine
            && matches!(
                cur.rule,
                Rule::LongGreeting | Rule::MaxWords | Rule::Deadline
            );
        match (h.class, h.rule) {
            (Class::Announcement(_), Rule::Sit | Rule::Keyword) => true,
            (Class::Announcement(_), Rule::WeakKeyword) => {
                acoustic_machine || cur.rule == Rule::EarlyMediaSpeech
            }
            (Class::Machine, Rule::Beep | Rule::Keyword | Rule::WeakKeyword) => {
                matches!(cur.class, Class::Human | Class::Silence)
                    || (cur.class == Class::Announcement(AnnouncementKind::Unknown)
                        && h.rule != Rule::Beep)
            }
            (Class::Human, Rule::HumanQuestion) => acoustic_machine,
            (
                Class::Human | Class::Machine,
                Rule::AfterGreetingSilence | Rule::LongGreeting | Rule::MaxWords,
            ) => cur.class == Class::Silence,
            (Class::Fax, _) => cur.class == Class::Silence,
            _ => false,
        }
    }

    fn emit(&mut self, h: Hit) {
        let revision = match &self.verdict {
            None => 0,
            Some(cur) if self.may_revise(cur, &h) => cur.revision + 1,
            Some(_) => return,
        };
        self.verdict = Some(self.make(h, revision));
        self.fresh = true;
    }

    fn make(&self, h: Hit, revision: u8) -> Verdict {
        let a = &self.amd;
        let greeting_ms = a
            .first_voice
            .map(|f| (a.last_voice + 1).saturating_sub(f) * FRAME_MS)
            .unwrap_or(0);
        Verdict {
            class: h.class,
            rule: h.rule,
            decided_at_ms: self.now_ms,
            audio_ms: self.frame * FRAME_MS,
            stage: self.stage,
            revision,
            evidence: Evidence {
                initial_silence_ms: a.first_voice.map(|f| (f - a.origin.min(f)) * FRAME_MS),
                greeting_ms,
                words: a.words,
                speech_ms: a.speech_frames * FRAME_MS,
                trailing_silence_ms: if a.first_voice.is_some() {
                    a.silent_run * FRAME_MS
                } else {
                    0
                },
                tone_hz: h.tone.map(|t| t.0),
                tone_on_ms: h.tone.map(|t| t.1),
                tone_off_ms: h.tone.and_then(|t| t.2),
                sit: h.sit,
                keyword: h.keyword.map(str::to_string),
            },
        }
    }

    fn deadline_guess(&self) -> Hit {
        let a = &self.amd;
        if let Some(first) = a.first_voice {
            if self.stage == Stage::EarlyMedia {
                return Hit::new(
                    Class::Announcement(AnnouncementKind::Unknown),
                    Rule::Deadline,
                );
            }
            let greeting = (a.last_voice + 1 - first) * FRAME_MS;
            // Still talking at the deadline, or talked long: a recording; else a person.
            let talking = a.silent_run * FRAME_MS < self.cfg.after_greeting_silence_ms;
            let class = if talking && greeting >= self.cfg.max_greeting_ms / 2 {
                Class::Machine
            } else {
                Class::Human
            };
            return Hit::new(class, Rule::Deadline);
        }
        if let Some(last) = self.cp.last() {
            // One long burst is most likely ringback cut short; short fragments without a
            // cadence could be anything, and "busy" would be a confident guess.
            let kind = if last.dur_ms() >= 700 {
                ToneKind::Ringback
            } else {
                ToneKind::Other
            };
            return Hit::new(Class::Tone(kind), Rule::Deadline).tone(last, None);
        }
        if self.tone_segs > 0 || a.tone_frames > 0 {
            return Hit::new(Class::Undecided, Rule::Deadline);
        }
        Hit::new(Class::Silence, Rule::Deadline)
    }
}

/// Telcordia code of a SIT from its first two segments.
fn sit_code(segs: &[Seg]) -> SitCode {
    let (Some(a), Some(b)) = (segs.first(), segs.get(1)) else {
        return SitCode::Uncoded;
    };
    if !matches!((a.band, b.band), (Band::Sit(1), Band::Sit(2))) {
        return SitCode::Uncoded;
    }
    // ITU SITs (950/1400/1800 Hz) carry no code.
    if (935.0..=965.0).contains(&a.freq) || (1387.0..=1413.0).contains(&b.freq) {
        return SitCode::Uncoded;
    }
    let hi1 = a.freq > 950.0;
    let hi2 = b.freq > 1400.0;
    // Nominal 274 ms (short) vs 380 ms (long); frames shave ~20 ms off each.
    let long1 = a.dur_ms() >= 310;
    let long2 = b.dur_ms() >= 310;
    match (hi1, hi2, long1, long2) {
        (false, false, false, false) => SitCode::Intercept,
        (true, false, true, false) => SitCode::VacantCode,
        (true, true, true, true) | (false, false, true, true) => SitCode::NoCircuit,
        (false, true, false, true) | (true, false, false, true) => SitCode::Reorder,
        _ => SitCode::Uncoded,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_reach_the_retry_policy_by_their_own_rules() {
        use crate::policy::{CallOutcome, Next, Policy};
        let p = Policy::load("cn-collection").expect("preset");
        let now = crate::time::Millis::from_unix_secs(1_800_000_000);
        // A voicemail is retried later; a dead number or a fax is never dialled again;
        // a live answer is a conversation.
        assert!(matches!(
            p.next_after(CpdOutcome::Voicemail.to_policy(), 1, now),
            Next::RetryAt(t) if t > now
        ));
        for o in [CpdOutcome::BadNumber, CpdOutcome::Fax] {
            assert_eq!(o.to_policy(), CallOutcome::InvalidNumber);
            assert_eq!(
                p.next_after(o.to_policy(), 1, now),
                Next::Exhausted,
                "{o:?}"
            );
        }
        assert_eq!(
            p.next_after(CpdOutcome::Live.to_policy(), 1, now),
            Next::Done
        );
        assert_eq!(CpdOutcome::PoweredOff.to_policy(), CallOutcome::NoAnswer);
        assert_eq!(CpdOutcome::Busy.to_policy(), CallOutcome::Busy);
    }

    const SR: u32 = 8000;

    /// Deterministic xorshift noise, so failures reproduce.
    struct Rng(u32);
    impl Rng {
        fn next(&mut self) -> f32 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 17;
            self.0 ^= self.0 << 5;
            (self.0 as f32 / u32::MAX as f32) * 2.0 - 1.0
        }
    }

    fn n(ms: u64, sr: u32) -> usize {
        (ms * sr as u64 / 1000) as usize
    }

    fn to_i16(x: f32) -> i16 {
        (x * 32767.0).clamp(-32768.0, 32767.0) as i16
    }

    fn silence(ms: u64) -> Vec<i16> {
        vec![0; n(ms, SR)]
    }

    fn tones(freqs: &[f32], ms: u64, amp: f32, sr: u32) -> Vec<i16> {
        (0..n(ms, sr))
            .map(|i| {
                let t = i as f32 / sr as f32;
                let v: f32 = freqs.iter().map(|f| (2.0 * PI * f * t).sin()).sum();
                to_i16(amp * v / freqs.len() as f32)
            })
            .collect()
    }

    fn tone(f: f32, ms: u64) -> Vec<i16> {
        tones(&[f], ms, 0.3, SR)
    }

    fn cadence(freqs: &[f32], on: u64, off: u64, cycles: usize) -> Vec<i16> {
        let mut v = Vec::new();
        for _ in 0..cycles {
            v.extend(tones(freqs, on, 0.3, SR));
            v.extend(silence(off));
        }
        v
    }

    fn noise(ms: u64, amp: f32, seed: u32) -> Vec<i16> {
        let mut r = Rng(seed);
        (0..n(ms, SR)).map(|_| to_i16(amp * r.next())).collect()
    }

    /// A speech-like burst: a harmonic series with vibrato under two formant bumps,
    /// amplitude-modulated at a syllable rate of 5 Hz, plus a little noise.
    fn speech(ms: u64, f0: f32, seed: u32, sr: u32) -> Vec<i16> {
        let mut r = Rng(seed);
        let mut phase = 0.0f32;
        (0..n(ms, sr))
            .map(|i| {
                let t = i as f32 / sr as f32;
                let f = f0 * (1.0 + 0.08 * (2.0 * PI * 3.0 * t).sin());
                phase += 2.0 * PI * f / sr as f32;
                let mut v = 0.0;
                for k in 1..=15 {
                    let fk = k as f32 * f;
                    let env = (-((fk - 600.0) / 300.0).powi(2)).exp()
                        + 0.5 * (-((fk - 1700.0) / 400.0).powi(2)).exp();
                    v += env * (k as f32 * phase).sin();
                }
                let syl = (PI * t / 0.2).sin().powi(2);
                to_i16(0.15 * (0.15 + 0.85 * syl) * v + 0.003 * r.next())
            })
            .collect()
    }

    fn cat(parts: &[Vec<i16>]) -> Vec<i16> {
        parts.concat()
    }

    /// Push in 20 ms chunks; return every verdict seen and the final one.
    fn run_cfg(cfg: CpdConfig, stage: Stage, pcm: &[i16]) -> (Vec<Verdict>, Verdict) {
        let per = (cfg.sample_rate_hz / 50) as usize;
        let mut d = Detector::new(cfg, stage).unwrap();
        let mut seen = Vec::new();
        for (i, c) in pcm.chunks(per).enumerate() {
            seen.extend(d.push(c, (i as u64 + 1) * 20));
        }
        let fin = d.finish(pcm.len() as u64 * 1000 / (per as u64 * 50));
        (seen, fin)
    }

    fn run(pcm: &[i16]) -> (Vec<Verdict>, Verdict) {
        run_cfg(CpdConfig::default(), Stage::Answered, pcm)
    }

    #[test]
    fn ced_answer_tone_is_fax_within_a_second() {
        let (seen, v) = run(&cat(&[silence(300), tone(2100.0, 3000)]));
        assert_eq!(v.class, Class::Fax);
        assert_eq!(v.rule, Rule::Ced);
        assert!(seen[0].audio_ms <= 900, "{}", seen[0].audio_ms);
        assert!((v.evidence.tone_hz.unwrap() - 2100.0).abs() < 10.0);
    }

    #[test]
    fn cng_calling_tone_is_fax() {
        let v = run(&cat(&[silence(500), tone(1100.0, 500), silence(3000)])).1;
        assert_eq!((v.class, v.rule), (Class::Fax, Rule::Cng));
    }

    fn sit(f1: f32, d1: u64, f2: f32, d2: u64) -> Vec<i16> {
        cat(&[tone(f1, d1), tone(f2, d2), tone(1776.7, 380)])
    }

    #[test]
    fn sit_intercept_decides_not_in_service_before_the_words() {
        let pcm = cat(&[
            silence(300),
            sit(913.8, 274, 1370.6, 274),
            silence(200),
            speech(2500, 180.0, 1, SR),
        ]);
        let (seen, v) = run(&pcm);
        assert_eq!(v.class, Class::Announcement(AnnouncementKind::NotInService));
        assert_eq!(v.evidence.sit, Some(SitCode::Intercept));
        assert!(seen[0].audio_ms < 1400, "{}", seen[0].audio_ms);
    }

    #[test]
    fn sit_codes_follow_telcordia() {
        let nc = run(&cat(&[sit(985.2, 380, 1428.5, 380), silence(500)])).1;
        assert_eq!(nc.evidence.sit, Some(SitCode::NoCircuit));
        assert_eq!(nc.class, Class::Announcement(AnnouncementKind::Unreachable));
        let vc = run(&cat(&[sit(985.2, 380, 1370.6, 274), silence(500)])).1;
        assert_eq!(vc.evidence.sit, Some(SitCode::VacantCode));
        let ro = run(&cat(&[sit(913.8, 274, 1428.5, 380), silence(500)])).1;
        assert_eq!(ro.evidence.sit, Some(SitCode::Reorder));
        let itu = run(&cat(&[
            tone(950.0, 330),
            tone(1400.0, 330),
            tone(1800.0, 330),
        ]))
        .1;
        assert_eq!(itu.class, Class::Announcement(AnnouncementKind::Unknown));
        assert_eq!(itu.evidence.sit, Some(SitCode::Uncoded));
    }

    #[test]
    fn busy_and_reorder_cadences() {
        let cases = [
            (cadence(&[450.0], 350, 350, 4), ToneKind::Busy),
            (cadence(&[480.0, 620.0], 500, 500, 3), ToneKind::Busy),
            (cadence(&[480.0, 620.0], 250, 250, 4), ToneKind::Reorder),
            (cadence(&[450.0], 700, 700, 3), ToneKind::Reorder),
        ];
        for (i, (pcm, kind)) in cases.into_iter().enumerate() {
            let v = run_cfg(CpdConfig::default(), Stage::EarlyMedia, &pcm).1;
            assert_eq!(v.class, Class::Tone(kind), "case {i}: {v:?}");
            assert_eq!(v.rule, Rule::ToneCadence);
        }
    }

    #[test]
    fn ringback_china_and_us() {
        let cn = run_cfg(
            CpdConfig::default(),
            Stage::EarlyMedia,
            &cat(&[silence(200), tone(450.0, 1000), silence(4000)]),
        );
        assert_eq!(cn.1.class, Class::Tone(ToneKind::Ringback));
        let us = run_cfg(
            CpdConfig::default(),
            Stage::EarlyMedia,
            &cat(&[tones(&[440.0, 480.0], 2000, 0.2, SR), silence(1000)]),
        );
        assert_eq!(us.1.class, Class::Tone(ToneKind::Ringback));
        assert!(us.0[0].audio_ms <= 1000, "{}", us.0[0].audio_ms);
        assert_eq!(us.1.outcome(), CpdOutcome::NoAnswer);
    }

    #[test]
    fn short_greeting_then_pause_is_human() {
        let pcm = cat(&[silence(500), speech(600, 140.0, 2, SR), silence(2000)]);
        let (seen, v) = run(&pcm);
        assert_eq!(
            (v.class, v.rule),
            (Class::Human, Rule::AfterGreetingSilence)
        );
        // Decided 0.8 s after the greeting, not at the deadline.
        assert!(seen[0].audio_ms <= 2000, "{}", seen[0].audio_ms);
        assert!(v.evidence.words >= 1);
        assert_eq!(v.evidence.initial_silence_ms.map(|s| s / 100), Some(5));
        assert_eq!(v.outcome(), CpdOutcome::Live);
    }

    #[test]
    fn two_hellos_with_a_pause_are_human() {
        let pcm = cat(&[
            silence(400),
            speech(400, 200.0, 3, SR),
            silence(1500),
            speech(400, 210.0, 4, SR),
            silence(1500),
        ]);
        assert_eq!(run(&pcm).1.class, Class::Human);
    }

    #[test]
    fn long_greeting_is_machine() {
        let pcm = cat(&[
            silence(400),
            speech(1200, 120.0, 5, SR),
            silence(150),
            speech(1500, 125.0, 6, SR),
        ]);
        let (seen, v) = run(&pcm);
        assert_eq!((v.class, v.rule), (Class::Machine, Rule::LongGreeting));
        assert!(v.evidence.greeting_ms >= 1800);
        assert!(seen[0].audio_ms <= 2400, "{}", seen[0].audio_ms);
    }

    #[test]
    fn short_greeting_then_beep_is_machine() {
        let pcm = cat(&[
            silence(400),
            speech(700, 160.0, 7, SR),
            silence(300),
            tone(1000.0, 500),
            silence(1000),
        ]);
        let v = run(&pcm).1;
        assert_eq!((v.class, v.rule), (Class::Machine, Rule::Beep));
        assert_eq!(v.outcome(), CpdOutcome::Voicemail);
    }

    #[test]
    fn beep_after_a_human_verdict_revises_it() {
        let pcm = cat(&[
            silence(400),
            speech(600, 160.0, 8, SR),
            silence(1200),
            tone(1400.0, 400),
            silence(500),
        ]);
        let (seen, v) = run(&pcm);
        assert_eq!(seen[0].class, Class::Human);
        assert_eq!(
            (v.class, v.rule, v.revision),
            (Class::Machine, Rule::Beep, 1)
        );
    }

    #[test]
    fn an_1100_hz_tone_after_a_greeting_is_a_beep_not_a_fax() {
        let pcm = cat(&[
            silence(300),
            speech(700, 150.0, 17, SR),
            silence(300),
            tone(1100.0, 500),
            silence(1000),
        ]);
        assert_eq!(run(&pcm).1.class, Class::Machine);
    }

    #[test]
    fn clipped_loud_greeting_is_still_human() {
        let loud: Vec<i16> = speech(600, 150.0, 18, SR)
            .into_iter()
            .map(|s| s.saturating_mul(12))
            .collect();
        let v = run(&cat(&[silence(400), loud, silence(1500)])).1;
        assert_eq!(v.class, Class::Human);
    }

    #[test]
    fn noise_bursts_are_not_speech() {
        let mut pcm = Vec::new();
        for i in 0..6 {
            pcm.extend(noise(300, 0.3, 11 + i));
            pcm.extend(noise(400, 0.003, 99 + i));
        }
        let v = run(&pcm).1;
        assert!(
            !matches!(v.class, Class::Human | Class::Machine),
            "noise classified as {v:?}"
        );
    }

    #[test]
    fn dead_air_is_silence_at_the_initial_silence_limit() {
        let (seen, v) = run(&cat(&[noise(5000, 0.002, 5)]));
        assert_eq!((v.class, v.rule), (Class::Silence, Rule::InitialSilence));
        assert_eq!(seen[0].audio_ms, 3500);
        assert_eq!(v.outcome(), CpdOutcome::NoAnswer);
    }

    #[test]
    fn speech_after_a_dead_air_verdict_revises_it() {
        let pcm = cat(&[silence(4000), speech(500, 150.0, 19, SR), silence(1200)]);
        let (seen, v) = run(&pcm);
        assert_eq!(seen[0].class, Class::Silence);
        assert_eq!((v.class, v.revision), (Class::Human, 1));
    }

    #[test]
    fn early_media_speech_is_an_announcement_and_text_names_it() {
        let pcm = cat(&[silence(300), speech(2500, 220.0, 12, SR)]);
        let mut d = Detector::new(CpdConfig::default(), Stage::EarlyMedia).unwrap();
        let mut first = None;
        for (i, c) in pcm.chunks(160).enumerate() {
            if let Some(v) = d.push(c, i as u64 * 20) {
                first.get_or_insert(v);
            }
        }
        let first = first.unwrap();
        assert_eq!(first.class, Class::Announcement(AnnouncementKind::Unknown));
        assert_eq!(first.rule, Rule::EarlyMediaSpeech);
        let v = d
            .push_transcript("您拨打的号码是空号", Locale::ZhCn, 3000)
            .unwrap();
        assert_eq!(v.class, Class::Announcement(AnnouncementKind::NotInService));
        assert_eq!((v.rule, v.revision), (Rule::Keyword, 1));
        assert_eq!(v.evidence.keyword.as_deref(), Some("空号"));
        assert_eq!(v.outcome(), CpdOutcome::BadNumber);
        assert_eq!(d.finish(5000), v);
    }

    #[test]
    fn phrase_tables() {
        use AnnouncementKind::*;
        let cases: &[(&str, Locale, Class)] = &[
            (
                "您拨打的号码是空号",
                Locale::ZhCn,
                Class::Announcement(NotInService),
            ),
            (
                "您拨打的电话已关机",
                Locale::ZhCn,
                Class::Announcement(PoweredOff),
            ),
            (
                "您拨打的电话已停机",
                Locale::ZhCn,
                Class::Announcement(Suspended),
            ),
            (
                "您拨打的用户暂时无法接通",
                Locale::ZhCn,
                Class::Announcement(Unreachable),
            ),
            (
                "您拨打的电话不在服务区",
                Locale::ZhCn,
                Class::Announcement(Unreachable),
            ),
            (
                "您拨打的电话正在通话中",
                Locale::ZhCn,
                Class::Announcement(Busy),
            ),
            ("请在嘀声后留言", Locale::ZhCn, Class::Machine),
            (
                "您拨打的用户已关机，如需留言请按1",
                Locale::ZhCn,
                Class::Announcement(PoweredOff),
            ),
            (
                "We're sorry, the number you have dialed is NOT in service.",
                Locale::EnUs,
                Class::Announcement(NotInService),
            ),
            (
                "The number has been disconnected",
                Locale::EnUs,
                Class::Announcement(NotInService),
            ),
            (
                "Please leave a message after the tone",
                Locale::EnUs,
                Class::Machine,
            ),
            (
                "You\u{2019}ve reached my voicemail",
                Locale::EnUs,
                Class::Machine,
            ),
            (
                "The customer is not available",
                Locale::EnUs,
                Class::Announcement(Unreachable),
            ),
            ("Yeah, who's this?", Locale::EnUs, Class::Human),
            ("喂，哪位？", Locale::ZhCn, Class::Human),
        ];
        for (text, loc, want) in cases {
            assert_eq!(
                classify_text(text, *loc).map(|c| c.0),
                Some(*want),
                "{text}"
            );
        }
        // Word boundaries: "this busy" is not "is busy".
        assert_eq!(classify_text("I am this busy today", Locale::EnUs), None);
        assert_eq!(classify_text("", Locale::ZhCn), None);
    }

    #[test]
    fn weak_phrase_waits_for_a_stronger_one() {
        let mut d = Detector::new(CpdConfig::default(), Stage::Answered).unwrap();
        assert!(d
            .push_transcript(
                "The person you are calling is not available.",
                Locale::EnUs,
                1000
            )
            .is_none());
        let v = d
            .push_transcript("Please leave a message after the beep.", Locale::EnUs, 2500)
            .unwrap();
        assert_eq!((v.class, v.rule), (Class::Machine, Rule::Keyword));

        let mut d = Detector::new(CpdConfig::default(), Stage::Answered).unwrap();
        d.push_transcript("The wireless customer is not available", Locale::EnUs, 1000);
        assert!(d.push(&silence(20), 3000).is_none());
        let v = d.push(&silence(20), 4000).unwrap();
        assert_eq!(v.class, Class::Announcement(AnnouncementKind::Unreachable));
        assert_eq!(v.rule, Rule::WeakKeyword);
    }

    #[test]
    fn a_persons_question_overturns_an_acoustic_machine() {
        let pcm = cat(&[silence(300), speech(2500, 130.0, 13, SR)]);
        let mut d = Detector::new(CpdConfig::default(), Stage::Answered).unwrap();
        for (i, c) in pcm.chunks(160).enumerate() {
            d.push(c, i as u64 * 20);
        }
        assert_eq!(d.verdict().map(|v| v.class), Some(Class::Machine));
        let v = d
            .push_transcript(
                "Hello, yes, this is Mike, who is calling please?",
                Locale::EnUs,
                3000,
            )
            .unwrap();
        assert_eq!((v.class, v.rule), (Class::Human, Rule::HumanQuestion));
    }

    #[test]
    fn sixteen_khz_input() {
        let cfg = CpdConfig {
            sample_rate_hz: 16000,
            ..CpdConfig::default()
        };
        let fax = cat(&[vec![0; 3200], tones(&[2100.0], 2000, 0.3, 16000)]);
        assert_eq!(
            run_cfg(cfg.clone(), Stage::Answered, &fax).1.class,
            Class::Fax
        );
        let hello = cat(&[vec![0; 8000], speech(600, 150.0, 14, 16000), vec![0; 32000]]);
        let v = run_cfg(cfg, Stage::Answered, &hello).1;
        assert_eq!(v.class, Class::Human);
        // Timings are in real milliseconds whatever the input rate.
        assert_eq!(v.evidence.initial_silence_ms.map(|s| s / 100), Some(5));
    }

    #[test]
    fn no_panic_on_hostile_input_and_chunking_does_not_matter() {
        let mut d = Detector::new(CpdConfig::default(), Stage::Answered).unwrap();
        assert!(d.push(&[], 0).is_none());
        assert!(d.push_transcript("", Locale::EnUs, 0).is_none());
        let extremes: Vec<i16> = (0..8000)
            .map(|i| if i % 2 == 0 { i16::MAX } else { i16::MIN })
            .collect();
        d.push(&extremes, 1000);
        let square: Vec<i16> = (0..16000)
            .map(|i| if (i / 20) % 2 == 0 { 32767 } else { -32768 })
            .collect();
        d.push(&square, 3000);
        let mut r = Rng(7);
        let huge: Vec<i16> = (0..8000 * 60).map(|_| to_i16(r.next())).collect();
        d.push(&huge, 63_000);
        d.push_transcript(&"空号 ".repeat(5000), Locale::ZhCn, 63_000);
        let _ = d.finish(64_000);
        let _ = d.finish(64_000);

        let pcm = cat(&[silence(300), speech(700, 170.0, 15, SR), silence(1500)]);
        let whole = {
            let mut d = Detector::new(CpdConfig::default(), Stage::Answered).unwrap();
            d.push(&pcm, 0);
            d.finish(0)
        };
        let mut d = Detector::new(CpdConfig::default(), Stage::Answered).unwrap();
        for s in &pcm {
            d.push(std::slice::from_ref(s), 0);
        }
        let one_by_one = d.finish(0);
        assert_eq!(whole, one_by_one);
    }

    #[test]
    fn answer_after_ringback_gets_its_own_verdict() {
        let mut d = Detector::new(CpdConfig::default(), Stage::EarlyMedia).unwrap();
        let ring = cat(&[tones(&[440.0, 480.0], 2000, 0.2, SR), silence(500)]);
        d.push(&ring, 2500);
        assert_eq!(
            d.verdict().map(|v| v.class),
            Some(Class::Tone(ToneKind::Ringback))
        );
        d.answered(2500);
        assert!(d.verdict().is_none());
        let v = d
            .push(
                &cat(&[silence(300), speech(500, 150.0, 16, SR), silence(1200)]),
                4500,
            )
            .unwrap();
        assert_eq!((v.class, v.stage), (Class::Human, Stage::Answered));
        assert_eq!(v.evidence.initial_silence_ms.map(|s| s / 100), Some(3));
    }

    #[test]
    fn config_is_validated() {
        let rate = CpdConfig {
            sample_rate_hz: 44100,
            ..CpdConfig::default()
        };
        assert_eq!(
            Detector::new(rate, Stage::Answered).err(),
            Some(CpdError::SampleRate(44100))
        );
        let purity = CpdConfig {
            tone_purity: 2.0,
            ..CpdConfig::default()
        };
        assert!(matches!(
            purity.validate(),
            Err(CpdError::Config {
                field: "tone_purity",
                ..
            })
        ));
        assert!(CpdConfig::default().validate().is_ok());
    }

    #[test]
    fn outcomes_for_the_dialer() {
        use AnnouncementKind as K;
        let cases = [
            (Class::Human, CpdOutcome::Live),
            (Class::Undecided, CpdOutcome::Live),
            (Class::Machine, CpdOutcome::Voicemail),
            (Class::Announcement(K::NotInService), CpdOutcome::BadNumber),
            (Class::Announcement(K::NumberChanged), CpdOutcome::BadNumber),
            (Class::Announcement(K::Suspended), CpdOutcome::BadNumber),
            (Class::Announcement(K::PoweredOff), CpdOutcome::PoweredOff),
            (Class::Announcement(K::Unreachable), CpdOutcome::Unreachable),
            (Class::Announcement(K::Busy), CpdOutcome::Busy),
            (Class::Announcement(K::Unknown), CpdOutcome::Unreachable),
            (Class::Fax, CpdOutcome::Fax),
            (Class::Tone(ToneKind::Modem), CpdOutcome::Fax),
            (Class::Tone(ToneKind::Busy), CpdOutcome::Busy),
            (Class::Tone(ToneKind::Reorder), CpdOutcome::Unreachable),
            (Class::Tone(ToneKind::Ringback), CpdOutcome::NoAnswer),
            (Class::Silence, CpdOutcome::NoAnswer),
        ];
        for (c, o) in cases {
            assert_eq!(c.outcome(), o, "{c:?}");
        }
    }
}
