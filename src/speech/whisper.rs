//! Whisper speech recognizer for one caller turn (Mandarin or English), on whisper.cpp.
//!
//! One loaded model serves every concurrent call: [`WhisperRecognizer`] owns a single whisper.cpp
//! context and lends each decode a `WhisperState` (its own KV caches and buffers) from a pool.
//!
//! Why the extra machinery around `whisper_full`:
//! - Whisper always encodes 30 s; a 2 s turn would pay for 30 s. We shrink the encoder window
//!   (`audio_ctx`, 50 positions per second) to the turn plus a margin ([`AudioCtx`]).
//! - Whisper loops or invents text on bad audio. Like OpenAI's `transcribe`, each attempt is checked
//!   (no-speech probability, average log-probability, compression ratio) and retried at a higher
//!   temperature; we add a repeated n-gram check, a speaking-rate check, a token cap relative to the
//!   audio length, and a short list of well-known caption hallucinations. When every attempt fails
//!   the transcript is empty with a [`Rejection`], never garbage.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, MutexGuard, Once};
use std::time::Instant;

use tracing::{debug, info, warn};
use whisper_rs::{
    FullParams, SamplingStrategy, WhisperContext, WhisperContextParameters, WhisperState,
};

use crate::models::ct2ggml;

/// Errors of the recognizer and of the model converter. A bad turn of audio is not an error: it
/// comes back as a [`Transcript`] with `rejected` set.
#[derive(Debug, thiserror::Error)]
pub enum WhisperError {
    /// The ggml model file is missing or malformed (`voxdial models install` converts it).
    #[error(transparent)]
    Model(#[from] ct2ggml::GgmlError),
    /// The configuration cannot work (unknown language, zero threads, ...).
    #[error("invalid Whisper configuration: {0}")]
    Config(String),
    /// The audio cannot be transcribed at all (NaN or infinite samples).
    #[error("invalid audio: {0}")]
    BadAudio(String),
    /// whisper.cpp failed while decoding.
    #[error("whisper.cpp failed during {stage}")]
    Engine {
        /// Which call failed.
        stage: &'static str,
        /// whisper-rs's error.
        #[source]
        source: whisper_rs::WhisperError,
    },
}

/// The prompt that makes Whisper write Mandarin in Simplified characters (it was trained on a mix
/// and otherwise often answers in Traditional).
pub const SIMPLIFIED_CHINESE_PROMPT: &str = "以下是普通话的句子。";

/// How large an encoder window to use for a turn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AudioCtx {
    /// Always 1500 positions (30 s), as Whisper was trained. Slow for short turns.
    Full,
    /// `positions_per_second * seconds + margin`, rounded up to a multiple of `multiple`, at least
    /// `min`, at most the model's window.
    Scaled {
        /// 50 for every Whisper model (20 ms per position).
        positions_per_second: f32,
        /// Extra positions of trailing silence; the decoder needs some to end the text cleanly.
        margin: i32,
        /// Lower bound, in positions.
        min: i32,
        /// Round up to this multiple (keeps matrix sizes friendly).
        multiple: i32,
    },
}

impl AudioCtx {
    /// The encoder window for `seconds` of audio on a model with `model_ctx` positions; 0 means
    /// "whisper.cpp default" (the full window).
    pub fn positions(&self, seconds: f32, model_ctx: i32) -> i32 {
        match *self {
            AudioCtx::Full => 0,
            AudioCtx::Scaled {
                positions_per_second,
                margin,
                min,
                multiple,
            } => {
                let raw = (seconds * positions_per_second).ceil() as i32 + margin;
                let m = multiple.max(1);
                let rounded = ((raw + m - 1) / m) * m;
                let p = rounded.max(min);
                if p >= model_ctx {
                    0
                } else {
                    p
                }
            }
        }
    }
}

/// Recognizer settings. Start from [`WhisperConfig::mandarin`] or [`WhisperConfig::english`].
#[derive(Debug, Clone)]
pub struct WhisperConfig {
    /// whisper.cpp ggml model file (made by `voxdial models install`, see
    /// [`ct2ggml::ensure_ggml`]).
    pub model: PathBuf,
    /// "zh", "en", ...; `None` detects the language per turn among `candidate_languages`.
    pub language: Option<String>,
    /// Languages auto-detection may pick (empty = all 99); a phone campaign knows its few.
    pub candidate_languages: Vec<String>,
    /// CPU threads per decode.
    pub threads: usize,
    /// Text given to the decoder as previous context. `None` uses [`SIMPLIFIED_CHINESE_PROMPT`]
    /// when the turn is Mandarin and nothing otherwise; `Some("")` disables it.
    pub initial_prompt: Option<String>,
    /// Encoder window rule.
    pub audio_ctx: AudioCtx,
    /// Temperature ladder; the next one is tried when an attempt fails a guard. Above 0.5
    /// whisper.cpp drops the prompt (and with it the Simplified-character hint), hence the short
    /// default ladder.
    pub temperatures: Vec<f32>,
    /// Sampled candidates per attempt at temperature > 0 (best by log-probability wins).
    pub best_of: usize,
    /// Turn is silence when the no-speech probability is above this and any guard fails.
    pub no_speech_threshold: f32,
    /// An attempt below this average token log-probability is retried at the next temperature
    /// (OpenAI's -1.0).
    pub logprob_threshold: f32,
    /// When no attempt passes, the best one that failed only on confidence is still returned if
    /// its average log-probability reaches this; below it the turn is rejected. Mandarin tokens
    /// score lower than English ones, so a right "我是本人" can sit at -1.25.
    pub reject_logprob_threshold: f32,
    /// Attempt fails when text length / zlib-compressed length is above this (loops compress well).
    pub compression_ratio_threshold: f32,
    /// Attempt fails when one unit (Han character or word) repeats this many times in a row.
    pub max_unit_repeats: usize,
    /// Attempt fails when a 2-gram repeats this many times in a row (3+-grams: one fewer).
    pub max_ngram_repeats: usize,
    /// Attempt fails with more units (Han characters or words) than `3 + this * seconds`.
    pub max_units_per_second: f32,
    /// Token cap per turn: `max_tokens_base + max_tokens_per_second * seconds`.
    pub max_tokens_base: u32,
    /// See `max_tokens_base`.
    pub max_tokens_per_second: f32,
    /// Decode with timestamp tokens. Off, Whisper must end the text without predicting where the
    /// speech ends, which loops more easily on a shortened window.
    pub timestamps: bool,
    /// Shorter turns are rejected without decoding.
    pub min_audio_seconds: f32,
    /// Turns whose peak amplitude stays below this are rejected as silence without decoding.
    pub silence_peak: f32,
    /// At most this many decodes run at once; further callers wait for a free state.
    pub max_concurrent: usize,
    /// whisper.cpp's fused attention kernels (faster encoder on CPU).
    pub flash_attn: bool,
}

impl WhisperConfig {
    /// Mandarin turns, Simplified output, tuned for short phone turns.
    pub fn mandarin(model: impl Into<PathBuf>) -> Self {
        Self {
            language: Some("zh".into()),
            ..Self::base(model.into())
        }
    }

    /// English turns.
    pub fn english(model: impl Into<PathBuf>) -> Self {
        Self {
            language: Some("en".into()),
            max_units_per_second: 6.0,
            ..Self::base(model.into())
        }
    }

    fn base(model: PathBuf) -> Self {
        Self {
            model,
            language: None,
            candidate_languages: vec!["zh".into(), "en".into()],
            threads: 1,
            initial_prompt: None,
            audio_ctx: AudioCtx::Scaled {
                positions_per_second: 50.0,
                margin: 64,
                min: 128,
                multiple: 32,
            },
            temperatures: vec![0.0, 0.2, 0.4],
            best_of: 2,
            no_speech_threshold: 0.6,
            logprob_threshold: -1.0,
            reject_logprob_threshold: -1.5,
            compression_ratio_threshold: 2.4,
            max_unit_repeats: 6,
            max_ngram_repeats: 4,
            max_units_per_second: 9.0,
            max_tokens_base: 12,
            max_tokens_per_second: 10.0,
            timestamps: true,
            min_audio_seconds: 0.2,
            silence_peak: 0.002,
            max_concurrent: 4,
            flash_attn: true,
        }
    }
}

/// Why a turn produced no text. The dialogue engine can tell "nothing said" (`TooShort`, `Silence`,
/// `NoSpeech`, `Empty`) from "said something we could not read" (the others).
#[derive(Debug, Clone, PartialEq)]
pub enum Rejection {
    /// Shorter than `min_audio_seconds`.
    TooShort,
    /// Peak amplitude below `silence_peak`.
    Silence,
    /// The model says there is no speech.
    NoSpeech,
    /// The decoder produced no text.
    Empty,
    /// Average log-probability below the threshold: the model is guessing.
    LowConfidence,
    /// The text compresses too well: a loop.
    CompressionRatio,
    /// A unit or n-gram repeated too often.
    Repetition(String),
    /// More words or characters than anyone can say in the time.
    TooFast,
    /// The token cap was reached before the end of text.
    TokenCap,
    /// A caption phrase Whisper invents on noise ("字幕由…", "thanks for watching").
    Hallucination(String),
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rejection::TooShort => write!(f, "too short"),
            Rejection::Silence => write!(f, "silence"),
            Rejection::NoSpeech => write!(f, "no speech"),
            Rejection::Empty => write!(f, "empty"),
            Rejection::LowConfidence => write!(f, "low confidence"),
            Rejection::CompressionRatio => write!(f, "compression ratio"),
            Rejection::Repetition(u) => write!(f, "repetition of {u:?}"),
            Rejection::TooFast => write!(f, "too many words for the audio length"),
            Rejection::TokenCap => write!(f, "token cap reached"),
            Rejection::Hallucination(p) => write!(f, "caption hallucination {p:?}"),
        }
    }
}

impl Rejection {
    /// True when the caller most likely said nothing (answer with no-input handling, not no-match).
    pub fn is_no_input(&self) -> bool {
        matches!(
            self,
            Rejection::TooShort | Rejection::Silence | Rejection::NoSpeech | Rejection::Empty
        )
    }
}

/// The result of one turn.
#[derive(Debug, Clone, PartialEq)]
pub struct Transcript {
    /// Recognized text, trimmed; empty when `rejected`.
    pub text: String,
    /// Language the decoder used ("zh", "en").
    pub language: String,
    /// Probability of the no-speech token at the start of the accepted (or last) attempt.
    pub no_speech_prob: f32,
    /// Average token log-probability of that attempt.
    pub avg_logprob: f32,
    /// Temperature of that attempt.
    pub temperature: f32,
    /// Why the guards refused the turn; `None` when `text` is accepted.
    pub rejected: Option<Rejection>,
    /// Encoder positions used (1500 = full 30 s window).
    pub audio_ctx: i32,
    /// What the last refused attempt said, for logs; empty when accepted.
    pub candidate: String,
    /// Decoding attempts made (0 when rejected before decoding).
    pub attempts: u32,
}

/// Send + Sync recognizer sharing one model between concurrent calls.
pub struct WhisperRecognizer {
    cfg: WhisperConfig,
    ctx: WhisperContext,
    model_ctx: i32,
    pool: StatePool,
    /// Per language: decode parameters built once, because whisper-rs leaks the language string
    /// each time one is set, and the prompt tokens.
    per_lang: Mutex<HashMap<&'static str, LangParams>>,
}

#[derive(Clone)]
struct LangParams {
    params: FullParams<'static, 'static>,
    prompt: Vec<i32>,
    prompt_text: String,
}

/// Idle states and the count of existing ones under one lock, so a waiter cannot miss the
/// wake-up of a state coming back between its two checks.
struct StatePool {
    inner: Mutex<PoolInner>,
    freed: Condvar,
    max: usize,
}

struct PoolInner {
    idle: Vec<WhisperState>,
    live: usize,
}

/// A state borrowed from the pool; goes back on drop unless poisoned by an engine error.
struct Lease<'a> {
    pool: &'a StatePool,
    state: Option<WhisperState>,
    keep: bool,
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(s) = self.state.take() {
            let mut inner = lock(&self.pool.inner);
            if self.keep {
                inner.idle.push(s);
            } else {
                // A state that saw an engine error is dropped; a fresh one is made on demand.
                inner.live -= 1;
                drop(s);
            }
            self.pool.freed.notify_one();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere while holding the lock leaves plain data (a Vec, a counter) intact.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn engine(stage: &'static str) -> impl FnOnce(whisper_rs::WhisperError) -> WhisperError {
    move |source| WhisperError::Engine { stage, source }
}

static LOG_HOOK: Once = Once::new();

impl WhisperRecognizer {
    /// Loads the ggml model once. The file is validated first so that a missing, truncated or
    /// foreign file is a [`WhisperError`] naming it rather than an abort inside whisper.cpp.
    pub fn load(cfg: WhisperConfig) -> Result<Self, WhisperError> {
        if cfg.threads == 0 || cfg.max_concurrent == 0 || cfg.temperatures.is_empty() {
            return Err(WhisperError::Config(
                "threads, max_concurrent and temperatures must be non-empty".into(),
            ));
        }
        for lang in cfg.language.iter().chain(cfg.candidate_languages.iter()) {
            if whisper_rs::get_lang_id(lang).is_none() {
                return Err(WhisperError::Config(format!("unknown language {lang:?}")));
            }
        }
        if let Some(p) = &cfg.initial_prompt {
            if p.contains('\0') {
                return Err(WhisperError::Config("initial prompt contains NUL".into()));
            }
        }
        LOG_HOOK.call_once(whisper_rs::install_logging_hooks);
        let hp = ct2ggml::validate_ggml(&cfg.model)?;
        let path = cfg
            .model
            .to_str()
            .ok_or_else(|| WhisperError::Config("model path is not UTF-8".into()))?;
        let started = Instant::now();
        let mut cp = WhisperContextParameters::default();
        cp.use_gpu(false);
        cp.flash_attn(cfg.flash_attn);
        let ctx =
            WhisperContext::new_with_params(path, cp).map_err(|source| WhisperError::Engine {
                stage: "model load",
                source,
            })?;
        info!(
            model = %cfg.model.display(),
            ms = started.elapsed().as_millis() as u64,
            n_audio_ctx = hp.n_audio_ctx,
            multilingual = ctx.is_multilingual(),
            "loaded Whisper model"
        );
        let rec = Self {
            model_ctx: hp.n_audio_ctx,
            pool: StatePool {
                inner: Mutex::new(PoolInner {
                    idle: Vec::new(),
                    live: 0,
                }),
                freed: Condvar::new(),
                max: cfg.max_concurrent,
            },
            per_lang: Mutex::new(HashMap::new()),
            ctx,
            cfg,
        };
        // One state up front: fails fast on memory problems and makes the first turn cheaper.
        drop(rec.lease()?);
        if let Some(lang) = rec.cfg.language.clone() {
            rec.lang_params(&lang)?;
        }
        Ok(rec)
    }

    /// The configuration in use.
    pub fn config(&self) -> &WhisperConfig {
        &self.cfg
    }

    fn lease(&self) -> Result<Lease<'_>, WhisperError> {
        let mut inner = lock(&self.pool.inner);
        loop {
            if let Some(s) = inner.idle.pop() {
                return Ok(Lease {
                    pool: &self.pool,
                    state: Some(s),
                    keep: true,
                });
            }
            if inner.live < self.pool.max {
                inner.live += 1;
                drop(inner);
                return match self.ctx.create_state() {
                    Ok(s) => Ok(Lease {
                        pool: &self.pool,
                        state: Some(s),
                        keep: true,
                    }),
                    Err(e) => {
                        lock(&self.pool.inner).live -= 1;
                        self.pool.freed.notify_one();
                        Err(engine("create_state")(e))
                    }
                };
            }
            // All states busy: wait for one to come back.
            inner = self
                .pool
                .freed
                .wait(inner)
                .unwrap_or_else(|p| p.into_inner());
        }
    }

    fn lang_params(&self, lang: &str) -> Result<LangParams, WhisperError> {
        let id = whisper_rs::get_lang_id(lang)
            .ok_or_else(|| WhisperError::Config(format!("unknown language {lang:?}")))?;
        let code = whisper_rs::get_lang_str(id)
            .ok_or_else(|| WhisperError::Config(format!("unknown language {lang:?}")))?;
        if let Some(p) = lock(&self.per_lang).get(code) {
            return Ok(p.clone());
        }
        let prompt_text = match (&self.cfg.initial_prompt, code) {
            (Some(p), _) => p.as_str(),
            (None, "zh") => SIMPLIFIED_CHINESE_PROMPT,
            (None, _) => "",
        };
        let prompt = if prompt_text.is_empty() {
            Vec::new()
        } else {
            self.ctx
                .tokenize(prompt_text, 224)
                .map_err(|source| WhisperError::Engine {
                    stage: "prompt tokenization",
                    source,
                })?
        };
        let mut p = FullParams::new(SamplingStrategy::Greedy {
            best_of: self.cfg.best_of.max(1) as i32,
        });
        p.set_language(Some(code));
        p.set_translate(false);
        // Calls share states: never carry one caller's text into another's decode.
        p.set_no_context(true);
        p.set_single_segment(true);
        p.set_no_timestamps(!self.cfg.timestamps);
        p.set_print_special(false);
        p.set_print_progress(false);
        p.set_print_realtime(false);
        p.set_print_timestamps(false);
        p.set_suppress_blank(true);
        p.set_suppress_nst(true);
        // We run the temperature ladder and the guards ourselves (to see every attempt), so
        // whisper.cpp's own fallback and its silent dropping of no-speech segments are disabled.
        p.set_temperature_inc(0.0);
        p.set_entropy_thold(0.0);
        p.set_logprob_thold(f32::NEG_INFINITY);
        p.set_no_speech_thold(2.0);
        p.set_n_threads(self.cfg.threads as i32);
        let lp = LangParams {
            params: p,
            prompt,
            prompt_text: prompt_text.to_string(),
        };
        lock(&self.per_lang).insert(code, lp.clone());
        Ok(lp)
    }

    /// Transcribes one turn of 16 kHz mono audio in [-1, 1]. Guard failures come back as an empty
    /// transcript with `rejected` set; errors are reserved for broken input or a failing engine.
    pub fn transcribe(&self, pcm_16k_mono: &[f32]) -> Result<Transcript, WhisperError> {
        if let Some(i) = pcm_16k_mono.iter().position(|s| !s.is_finite()) {
            return Err(WhisperError::BadAudio(format!("sample {i} is not finite")));
        }
        let seconds = pcm_16k_mono.len() as f32 / 16_000.0;
        let mut out = Transcript {
            text: String::new(),
            language: self.cfg.language.clone().unwrap_or_default(),
            no_speech_prob: 0.0,
            avg_logprob: 0.0,
            temperature: 0.0,
            rejected: None,
            audio_ctx: 0,
            candidate: String::new(),
            attempts: 0,
        };
        if seconds < self.cfg.min_audio_seconds {
            out.rejected = Some(Rejection::TooShort);
            return Ok(out);
        }
        let peak = pcm_16k_mono.iter().fold(0f32, |m, s| m.max(s.abs()));
        if peak < self.cfg.silence_peak {
            out.rejected = Some(Rejection::Silence);
            return Ok(out);
        }
        let audio_ctx = self.cfg.audio_ctx.positions(seconds, self.model_ctx);
        out.audio_ctx = if audio_ctx == 0 {
            self.model_ctx
        } else {
            audio_ctx
        };
        let max_tokens =
            self.cfg.max_tokens_base + (self.cfg.max_tokens_per_second * seconds).ceil() as u32;

        let mut lease = self.lease()?;
        let Some(state) = lease.state.as_mut() else {
            return Err(WhisperError::Config("state pool returned nothing".into()));
        };
        // Auto mode decodes first in the likeliest candidate, then asks the detector: its encoder
        // pass reuses the window size `full` just set (before any `full`, a state would detect on
        // a stale or 30 s window). A wrong guess costs one more decode.
        let mut lang = match &self.cfg.language {
            Some(l) => l.clone(),
            None => self
                .cfg
                .candidate_languages
                .first()
                .cloned()
                .unwrap_or_else(|| "en".into()),
        };
        let mut detect_pending = self.cfg.language.is_none();
        let mut no_speech: Option<f32> = None;
        let mut best_unsure: Option<(String, f32, f32)> = None;
        'language: loop {
            out.language = lang.clone();
            let lp = self.lang_params(&lang)?;
            for &t in &self.cfg.temperatures {
                out.attempts += 1;
                let mut params = lp.params.clone();
                params.set_tokens(&lp.prompt);
                params.set_temperature(t);
                params.set_audio_ctx(audio_ctx);
                params.set_max_tokens(max_tokens as i32);
                let started = Instant::now();
                if let Err(e) = state.full(params, pcm_16k_mono) {
                    lease.keep = false;
                    return Err(engine("full")(e));
                }
                if detect_pending {
                    detect_pending = false;
                    match self.detect_language(state) {
                        Ok(l) if l != lang => {
                            debug!(guess = %lang, detected = %l, "re-decoding in the detected language");
                            lang = l;
                            continue 'language;
                        }
                        Ok(_) => {}
                        Err(e) => {
                            lease.keep = false;
                            return Err(e);
                        }
                    }
                }
                let mut attempt = read_attempt(state, self.ctx.token_eot(), max_tokens as usize);
                if let Some(one) = collapse_repeated_turn(&attempt.text) {
                    debug!(
                        text = %crate::language::redact::mask_account_numbers(&attempt.text),
                        kept = %crate::language::redact::mask_account_numbers(&one),
                        "collapsed a repeated turn"
                    );
                    attempt.text = one;
                }
                // whisper.cpp reads the no-speech token after <|transcribe|>, where it is ~0 whatever
                // the audio; Whisper predicts it right after <|startoftranscript|>. The encoder output
                // is the same for every attempt, so this is computed once per turn.
                let nsp = match no_speech {
                    Some(p) => p,
                    None => match self.no_speech_at_sot(state) {
                        Ok(p) => {
                            no_speech = Some(p);
                            p
                        }
                        Err(e) => {
                            lease.keep = false;
                            return Err(e);
                        }
                    },
                };
                attempt.no_speech_prob = nsp;
                let verdict = self.judge(&attempt, seconds, &lp.prompt_text);
                debug!(
                    temperature = t,
                    audio_ctx = out.audio_ctx,
                    ms = started.elapsed().as_millis() as u64,
                    text = %crate::language::redact::mask_account_numbers(&attempt.text),
                    avg_logprob = attempt.avg_logprob,
                    no_speech = attempt.no_speech_prob,
                    verdict = ?verdict,
                    "whisper attempt"
                );
                out.no_speech_prob = attempt.no_speech_prob;
                out.avg_logprob = attempt.avg_logprob;
                out.temperature = t;
                match verdict {
                    None => {
                        out.text = attempt.text;
                        out.rejected = None;
                        out.candidate.clear();
                        return Ok(out);
                    }
                    Some(r) => {
                        let final_ = r.is_no_input();
                        if r == Rejection::LowConfidence
                            && attempt.avg_logprob >= self.cfg.reject_logprob_threshold
                            && best_unsure
                                .as_ref()
                                .is_none_or(|(_, lp, _)| attempt.avg_logprob > *lp)
                        {
                            best_unsure = Some((attempt.text.clone(), attempt.avg_logprob, t));
                        }
                        out.candidate = attempt.text;
                        out.rejected = Some(r);
                        // A silent turn stays silent at any temperature; don't pay for retries.
                        if final_ {
                            break;
                        }
                    }
                }
            }
            break;
        }
        if let Some((text, lp, t)) = best_unsure {
            if !out.rejected.as_ref().is_some_and(Rejection::is_no_input) {
                // Unsure but not garbage: let the dialogue decide (it sees avg_logprob).
                out.text = text;
                out.avg_logprob = lp;
                out.temperature = t;
                out.rejected = None;
                out.candidate.clear();
                return Ok(out);
            }
        }
        if let Some(r) = &out.rejected {
            // The candidate text is the customer's words (possibly an ID or card number):
            // it stays in the result for the caller, never in the log.
            warn!(
                reason = %r,
                candidate_chars = out.candidate.chars().count(),
                "whisper refused the turn"
            );
        }
        Ok(out)
    }

    /// Probability of <|nospeech|> at the <|startoftranscript|> position, from the encoder output
    /// the last `full` left in the state. Asked without the prompt: a Chinese prompt before
    /// <|startoftranscript|> drives it to ~0 even on pure noise.
    fn no_speech_at_sot(&self, state: &mut WhisperState) -> Result<f32, WhisperError> {
        let tokens = [self.ctx.token_sot()];
        state
            .decode(&tokens, 0, self.cfg.threads)
            .map_err(engine("decode"))?;
        let logits = state.get_logits().map_err(engine("get_logits"))?;
        let nosp = self.ctx.token_nosp() as usize;
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let sum: f64 = logits.iter().map(|&l| ((l - max) as f64).exp()).sum();
        Ok(match logits.get(nosp) {
            Some(&l) if sum > 0.0 => (((l - max) as f64).exp() / sum) as f32,
            _ => 0.0,
        })
    }

    /// Picks the most likely language among the candidates from the first decoder step.
    fn detect_language(&self, state: &WhisperState) -> Result<String, WhisperError> {
        let (best, probs) = state
            .lang_detect(0, self.cfg.threads)
            .map_err(engine("lang_detect"))?;
        let pick = if self.cfg.candidate_languages.is_empty() {
            whisper_rs::get_lang_str(best).map(str::to_string)
        } else {
            self.cfg
                .candidate_languages
                .iter()
                .filter_map(|l| {
                    let id = whisper_rs::get_lang_id(l)?;
                    Some((probs.get(id as usize).copied().unwrap_or(0.0), l.clone()))
                })
                .max_by(|a, b| a.0.total_cmp(&b.0))
                .map(|(_, l)| l)
        };
        pick.ok_or_else(|| WhisperError::Config("no candidate language".into()))
    }

    fn judge(&self, a: &Attempt, seconds: f32, prompt: &str) -> Option<Rejection> {
        let verdict = self.judge_text(a, seconds, prompt);
        // OpenAI skips a window when no-speech is likely and the text is unsure; we also treat
        // any other failed guard as silence then, because noise does not get better with
        // temperature and retries cost a full decode each.
        match verdict {
            Some(_) if a.no_speech_prob > self.cfg.no_speech_threshold => Some(Rejection::NoSpeech),
            v => v,
        }
    }

    fn judge_text(&self, a: &Attempt, seconds: f32, prompt: &str) -> Option<Rejection> {
        let c = &self.cfg;
        let low_conf = a.avg_logprob < c.logprob_threshold;
        if a.text.is_empty() {
            return Some(Rejection::Empty);
        }
        if let Some(p) = hallucination(&a.text) {
            return Some(Rejection::Hallucination(p.to_string()));
        }
        if echoes_prompt(&a.text, prompt) {
            return Some(Rejection::Hallucination("prompt echo".into()));
        }
        if !a.ended {
            return Some(Rejection::TokenCap);
        }
        let units = text_units(&a.text);
        if let Some(u) = repeated_ngram(&units, c.max_unit_repeats, c.max_ngram_repeats) {
            return Some(Rejection::Repetition(u));
        }
        if units.len() as f32 > 3.0 + c.max_units_per_second * seconds {
            return Some(Rejection::TooFast);
        }
        if compression_ratio(&a.text) > c.compression_ratio_threshold {
            return Some(Rejection::CompressionRatio);
        }
        if low_conf {
            return Some(Rejection::LowConfidence);
        }
        None
    }
}

struct Attempt {
    text: String,
    avg_logprob: f32,
    no_speech_prob: f32,
    /// The decoder emitted end-of-text (false = cut by the token cap).
    ended: bool,
}

fn read_attempt(state: &WhisperState, eot: i32, max_tokens: usize) -> Attempt {
    let mut text = String::new();
    let mut sum = 0f64;
    let mut n = 0usize;
    let mut n_all = 0usize;
    let mut no_speech = 0f32;
    let mut last = eot;
    let n_seg = state.full_n_segments();
    for i in 0..n_seg {
        let Some(seg) = state.get_segment(i) else {
            continue;
        };
        if i == 0 {
            no_speech = seg.no_speech_probability();
        }
        if let Ok(s) = seg.to_str_lossy() {
            text.push_str(&s);
        }
        for j in 0..seg.n_tokens() {
            let Some(tok) = seg.get_token(j) else {
                continue;
            };
            let d = tok.token_data();
            n_all += 1;
            last = d.id;
            // Text tokens plus the final end-of-text, as OpenAI's avg_logprob counts them.
            if d.id <= eot {
                sum += d.plog as f64;
                n += 1;
            }
        }
    }
    Attempt {
        text: text.trim().to_string(),
        avg_logprob: if n == 0 {
            f32::NEG_INFINITY
        } else {
            (sum / n as f64) as f32
        },
        no_speech_prob: no_speech,
        // whisper.cpp stops at the cap with a token past it; otherwise the text ended on its own.
        ended: !(n_all > max_tokens && last != eot),
    }
}

// ---------------------------------------------------------------------------------------------
// Guards (pure functions, unit-tested below)

fn is_han(c: char) -> bool {
    matches!(c as u32, 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2FFFF)
}

/// Splits text into the units a speaker produces: each Han character on its own, and runs of
/// letters/digits as lowercased words. Punctuation and spaces separate units and are dropped.
pub fn text_units(text: &str) -> Vec<String> {
    let mut units = Vec::new();
    let mut word = String::new();
    for c in text.chars() {
        if is_han(c) {
            if !word.is_empty() {
                units.push(std::mem::take(&mut word));
            }
            units.push(c.to_string());
        } else if c.is_alphanumeric() || c == '\'' {
            word.extend(c.to_lowercase());
        } else if !word.is_empty() {
            units.push(std::mem::take(&mut word));
        }
    }
    if !word.is_empty() {
        units.push(word);
    }
    units
}

/// A turn that is one phrase said two or three times over ("This is the wrong number. This is the
/// wrong number."), which a shortened encoder window sometimes produces, is cut to one copy. Only
/// whole-turn repeats of 3+ units are touched; "好的好的" stays as it is.
pub fn collapse_repeated_turn(text: &str) -> Option<String> {
    // Units with the byte offset where each ends.
    let mut spans: Vec<(String, usize)> = Vec::new();
    let mut word = String::new();
    for (i, c) in text.char_indices() {
        let end = i + c.len_utf8();
        if is_han(c) {
            if !word.is_empty() {
                spans.push((std::mem::take(&mut word), i));
            }
            spans.push((c.to_string(), end));
        } else if c.is_alphanumeric() || c == '\'' {
            word.extend(c.to_lowercase());
        } else if !word.is_empty() {
            spans.push((std::mem::take(&mut word), i));
        }
    }
    if !word.is_empty() {
        spans.push((word, text.len()));
    }
    for k in [2usize, 3] {
        if spans.len() % k != 0 || spans.len() / k < 3 {
            continue;
        }
        let m = spans.len() / k;
        let same = (1..k).all(|r| (0..m).all(|i| spans[i].0 == spans[r * m + i].0));
        if same {
            let cut = spans[m - 1].1;
            // Keep the punctuation that closed the first copy.
            let tail: String = text[cut..]
                .chars()
                .take_while(|c| !c.is_alphanumeric() && !c.is_whitespace())
                .collect();
            return Some(format!("{}{}", &text[..cut], tail));
        }
    }
    None
}

/// Finds a unit repeated `max_unit` times in a row, a 2-gram repeated `max_ngram` times, or a
/// 3- or 4-gram repeated `max_ngram - 1` times: the shape of a decoding loop ("坚,坚,坚…").
/// Real turns repeat too ("对对对", "好的好的"), so the limits sit above what people say.
pub fn repeated_ngram(units: &[String], max_unit: usize, max_ngram: usize) -> Option<String> {
    for n in 1..=4usize {
        let limit = match n {
            1 => max_unit,
            2 => max_ngram,
            _ => max_ngram.saturating_sub(1).max(2),
        };
        if units.len() < n * limit {
            continue;
        }
        for start in 0..n {
            let mut run = 1;
            let mut i = start;
            while i + 2 * n <= units.len() {
                if units[i..i + n] == units[i + n..i + 2 * n] {
                    run += 1;
                    if run >= limit {
                        return Some(units[i..i + n].concat());
                    }
                } else {
                    run = 1;
                }
                i += n;
            }
        }
    }
    None
}

/// Text bytes over zlib-compressed bytes, OpenAI's loop detector (fails above 2.4).
pub fn compression_ratio(text: &str) -> f32 {
    let bytes = text.as_bytes();
    if bytes.is_empty() {
        return 0.0;
    }
    let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    if enc.write_all(bytes).is_err() {
        return 0.0;
    }
    match enc.finish() {
        Ok(z) if !z.is_empty() => bytes.len() as f32 / z.len() as f32,
        _ => 0.0,
    }
}

/// Subtitle credits from Whisper's training data, which it emits on noise and silence. No caller
/// says these on a collection call.
const HALLUCINATIONS: &[&str] = &[
    "字幕",
    "订阅",
    "訂閱",
    "点赞",
    "點贊",
    "明镜",
    "明鏡",
    "谢谢观看",
    "作词",
    "作曲",
    "謝謝觀看",
    "amara.org",
    "thanks for watching",
    "thank you for watching",
    "subscribe",
];

/// Returns the caption phrase found in `text`, if any.
pub fn hallucination(text: &str) -> Option<&'static str> {
    let lower = text.to_lowercase();
    HALLUCINATIONS.iter().copied().find(|p| lower.contains(p))
}

/// On noise Whisper may just repeat its prompt ("以下是普通话的句子"); a turn whose units are mostly
/// a run of the prompt's is refused.
pub fn echoes_prompt(text: &str, prompt: &str) -> bool {
    let (t, p) = (text_units(text), text_units(prompt));
    if p.len() < 4 || t.is_empty() {
        return false;
    }
    // Longest run of consecutive prompt units found in the text.
    let mut best = 0;
    for i in 0..t.len() {
        for j in 0..p.len() {
            let mut k = 0;
            while i + k < t.len() && j + k < p.len() && t[i + k] == p[j + k] {
                k += 1;
            }
            best = best.max(k);
        }
    }
    best >= 4 || (best >= 2 && best * 2 >= t.len())
}

/// Path helper for callers that keep the ggml next to the CTranslate2 folder (the catalogue's
/// `ggml` step names its own path).
pub fn default_ggml_path(ct2_dir: &Path) -> PathBuf {
    ct2_dir.join("ggml-model.bin")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn units(s: &str) -> Vec<String> {
        text_units(s)
    }

    #[test]
    fn units_split_han_and_words() {
        assert_eq!(
            units("我明天还3500元, OK?"),
            ["我", "明", "天", "还", "3500", "元", "ok"]
        );
        assert_eq!(units("I can't pay."), ["i", "can't", "pay"]);
    }

    #[test]
    fn looped_han_is_repetition() {
        let looped = "坚,坚,坚,坚,坚,坚,坚,坚";
        assert_eq!(repeated_ngram(&units(looped), 6, 4), Some("坚".into()));
        let phrase = "我明天还我明天还我明天还";
        assert_eq!(
            repeated_ngram(&units(phrase), 6, 4),
            Some("我明天还".into())
        );
        let english = "I will pay I will pay I will pay";
        assert!(repeated_ngram(&units(english), 6, 4).is_some());
    }

    #[test]
    fn normal_repeats_pass() {
        for ok in [
            "对对对，我知道",
            "好的好的好的",
            "喂喂喂，你好",
            "no no no I paid",
            "一百万",
        ] {
            assert_eq!(repeated_ngram(&units(ok), 6, 4), None, "{ok}");
        }
        // Digits form one word, so 1000000 is not six repeats of "0".
        assert_eq!(repeated_ngram(&units("我还1000000"), 6, 4), None);
    }

    #[test]
    fn repeated_turns_collapse_to_one_copy() {
        assert_eq!(
            collapse_repeated_turn("This is the long number. This is the long number.").as_deref(),
            Some("This is the long number.")
        );
        assert_eq!(
            collapse_repeated_turn("我不认识这个人。我不认识这个人。我不认识这个人。").as_deref(),
            Some("我不认识这个人。")
        );
        for keep in [
            "好的好的",
            "I already paid.",
            "我明天还，我明天还三千五",
            "no no",
        ] {
            assert_eq!(collapse_repeated_turn(keep), None, "{keep}");
        }
    }

    #[test]
    fn compression_ratio_flags_loops() {
        let looped = "我不知道".repeat(20);
        assert!(compression_ratio(&looped) > 2.4);
        assert!(compression_ratio("我明天还三千五") < 2.4);
        assert!(compression_ratio("yes I can pay tomorrow") < 2.4);
        assert_eq!(compression_ratio(""), 0.0);
    }

    #[test]
    fn prompt_echo() {
        let p = SIMPLIFIED_CHINESE_PROMPT;
        assert!(echoes_prompt("这些人是普通话的句子。", p));
        assert!(echoes_prompt("以下是普通话的句子", p));
        assert!(!echoes_prompt("我明天还三千五", p));
        assert!(!echoes_prompt("我是本人", p) && !echoes_prompt("下", p));
    }

    #[test]
    fn caption_hallucinations() {
        assert_eq!(hallucination("字幕由Amara.org社区提供"), Some("字幕"));
        assert_eq!(
            hallucination("Thanks for watching!"),
            Some("thanks for watching")
        );
        assert_eq!(hallucination("我明天还钱"), None);
    }

    #[test]
    fn audio_ctx_rule() {
        let r = AudioCtx::Scaled {
            positions_per_second: 50.0,
            margin: 64,
            min: 128,
            multiple: 32,
        };
        assert_eq!(r.positions(0.5, 1500), 128);
        assert_eq!(r.positions(2.0, 1500), 192); // 100 + 64 = 164 -> 192
        assert_eq!(r.positions(4.0, 1500), 288); // 200 + 64 = 264 -> 288
        assert_eq!(r.positions(29.5, 1500), 0); // would exceed the window: full
        assert_eq!(AudioCtx::Full.positions(2.0, 1500), 0);
    }

    #[test]
    fn rejection_kinds() {
        assert!(Rejection::NoSpeech.is_no_input());
        assert!(!Rejection::Repetition("坚".into()).is_no_input());
        assert_eq!(Rejection::TokenCap.to_string(), "token cap reached");
    }

    #[test]
    fn recognizer_is_send_sync() {
        fn check<T: Send + Sync>() {}
        check::<WhisperRecognizer>();
    }

    #[test]
    fn missing_model_is_a_clear_error() {
        let cfg = WhisperConfig::mandarin("/nonexistent/ggml-base.bin");
        match WhisperRecognizer::load(cfg) {
            Err(WhisperError::Model(ct2ggml::GgmlError::ModelNotFound(p))) => {
                assert!(p.ends_with("ggml-base.bin"))
            }
            Err(e) => panic!("unexpected error {e}"),
            Ok(_) => panic!("loaded a missing model"),
        }
    }

    #[test]
    fn garbage_model_is_a_clear_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("garbage.bin");
        std::fs::write(&path, b"this is not a model at all, just some text").expect("write");
        match WhisperRecognizer::load(WhisperConfig::english(&path)) {
            Err(WhisperError::Model(ct2ggml::GgmlError::BadModel { path: p, reason })) => {
                assert_eq!(p, path);
                assert!(reason.contains("magic"), "{reason}");
            }
            Err(e) => panic!("unexpected error {e}"),
            Ok(_) => panic!("loaded garbage"),
        }
        // A real header followed by absurd sizes must not reach whisper.cpp either.
        let mut bytes = ct2ggml::GGML_MAGIC.to_le_bytes().to_vec();
        for v in [
            51865i32,
            1500,
            512,
            8,
            6,
            448,
            512,
            8,
            6,
            80,
            1,
            80,
            i32::MAX,
        ] {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        std::fs::write(&path, &bytes).expect("write");
        assert!(matches!(
            WhisperRecognizer::load(WhisperConfig::english(&path)),
            Err(WhisperError::Model(ct2ggml::GgmlError::BadModel { .. }))
        ));
    }
}
