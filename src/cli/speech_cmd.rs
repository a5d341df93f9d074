//! `voxdial asr` and `voxdial tts`: check a model or a voice from the command line.

use anyhow::{Context, Result};
use serde::Serialize;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;
use voxdial::speech::audio::{self, Pcm};
use voxdial::speech::config::SpeechConfig;
use voxdial::Locale;

/// Where models live and which config to use, shared by the speech commands.
#[derive(clap::Args, Debug, Clone)]
pub struct SpeechOpts {
    /// Data folder (models in DATA/models).
    #[arg(long, default_value = "data", env = "VOXDIAL_DATA")]
    pub data: PathBuf,
    /// Speech config (default: the shipped voices/speech.yaml).
    #[arg(long, env = "VOXDIAL_SPEECH_CONFIG")]
    pub speech_config: Option<PathBuf>,
}

impl SpeechOpts {
    /// The configuration and the models folder.
    pub fn load(&self) -> Result<(SpeechConfig, PathBuf)> {
        let cfg = match &self.speech_config {
            Some(p) => SpeechConfig::load(p)?,
            None => SpeechConfig::default_config()?,
        };
        Ok((cfg, self.data.join("models")))
    }
}

/// `voxdial asr` arguments.
#[derive(clap::Args, Debug)]
pub struct AsrArgs {
    /// A WAV recording (any rate, mono or stereo).
    pub file: PathBuf,
    /// Language spoken in it (picks the recognizer).
    #[arg(long, default_value = "en-US")]
    pub locale: Locale,
    /// Print JSON (segments, timings) instead of the text.
    #[arg(long)]
    pub json: bool,
    /// Refuse recordings longer than this many minutes (a guard against a wrong file
    /// running the recognizer for hours).
    #[arg(long, default_value_t = 15.0, value_parser = positive_minutes)]
    pub max_minutes: f64,
    #[command(flatten)]
    pub speech: SpeechOpts,
}

fn positive_minutes(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(m) if m > 0.0 && m <= 24.0 * 60.0 => Ok(m),
        _ => Err(format!(
            "`{s}` is not a number of minutes between 0 and 1440"
        )),
    }
}

/// Files longer than this show progress on a terminal.
const PROGRESS_AFTER_S: f64 = 60.0;

/// `mm:ss`.
fn clock(ms: u64) -> String {
    format!("{:02}:{:02}", ms / 60_000, ms / 1000 % 60)
}

#[derive(Serialize)]
struct SegmentOut {
    start_ms: u64,
    end_ms: u64,
    text: String,
    decode_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    rejected: Option<String>,
}

#[derive(Serialize)]
struct AsrOut {
    file: String,
    engine: &'static str,
    audio_s: f64,
    load_ms: u64,
    decode_ms: u64,
    rtf: f64,
    text: String,
    segments: Vec<SegmentOut>,
}

/// Transcribe a recording: VAD-segmented, one line of text (or JSON).
pub fn asr(a: AsrArgs) -> Result<ExitCode> {
    let (cfg, models) = a.speech.load()?;
    let limits = audio::WavLimits {
        max_duration: std::time::Duration::from_secs_f64(a.max_minutes * 60.0),
        raise_with: Some("--max-minutes"),
        ..audio::WavLimits::default()
    };
    let pcm = audio::load_wav_limited(&a.file, &limits)?.at_rate(16_000)?;
    // Progress goes to a person watching, never into a pipe or a log.
    let progress = pcm.seconds() > PROGRESS_AFTER_S && std::io::stderr().is_terminal();
    let total = clock((pcm.seconds() * 1000.0) as u64);
    let t0 = Instant::now();
    let rec = voxdial::speech::asr::Recognizer::load(cfg.asr_for(a.locale)?, &models)?;
    let load_ms = t0.elapsed().as_millis() as u64;
    if progress {
        eprintln!("{}: {total} of audio; finding speech…", a.file.display());
    }
    let segments = voxdial::speech::vad::segment(&cfg.vad, &models, &pcm.samples)?;
    let t1 = Instant::now();
    let mut out = Vec::new();
    for (i, s) in segments.iter().enumerate() {
        if progress {
            eprint!(
                "\r\x1b[2Ktranscribing segment {}/{} at {} of {total}",
                i + 1,
                segments.len(),
                clock(s.start / 16)
            );
        }
        let t = rec.transcribe(&s.samples)?;
        out.push(SegmentOut {
            start_ms: s.start / 16,
            end_ms: s.end() / 16,
            text: t.text,
            decode_ms: t.decode_ms,
            rejected: t.rejected,
        });
    }
    if progress {
        eprintln!(
            "\r\x1b[2Ktranscribed {} segments of {total} in {:.0} s",
            segments.len(),
            t1.elapsed().as_secs_f64()
        );
    }
    let decode_ms = t1.elapsed().as_millis() as u64;
    let join = if a.locale == Locale::ZhCn { "" } else { " " };
    let text = out
        .iter()
        .map(|s| s.text.as_str())
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join(join);
    if a.json {
        let r = AsrOut {
            file: a.file.display().to_string(),
            engine: rec.engine(),
            audio_s: pcm.seconds(),
            load_ms,
            decode_ms,
            rtf: decode_ms as f64 / 1000.0 / pcm.seconds().max(1e-9),
            text,
            segments: out,
        };
        println!("{}", serde_json::to_string(&r)?);
    } else {
        println!("{text}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `voxdial tts` arguments.
#[derive(clap::Args, Debug)]
pub struct TtsArgs {
    /// What to say.
    pub text: String,
    /// Language (picks the voice).
    #[arg(long, default_value = "zh-CN")]
    pub locale: Locale,
    /// Use this voice instead of the locale's: `piper` or `espeak`.
    #[arg(long)]
    pub voice: Option<String>,
    /// Output WAV.
    #[arg(short = 'o', long)]
    pub out: PathBuf,
    /// Sample rate of the file: 8000 (the call's), 16000, or the voice's own (0).
    #[arg(long, default_value_t = 8000)]
    pub rate: u32,
    /// Print timings as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub speech: SpeechOpts,
}

/// Synthesize text to a WAV file, sentence by sentence.
pub fn tts(a: TtsArgs) -> Result<ExitCode> {
    use voxdial::speech::config::TtsConfig;
    let (cfg, models) = a.speech.load()?;
    let vcfg = match a.voice.as_deref() {
        None => cfg.tts_for(a.locale)?.clone(),
        Some("espeak") => TtsConfig::Espeak {
            voice: match a.locale {
                Locale::ZhCn => "cmn-latn-pinyin".into(),
                Locale::EnUs => "en-us".into(),
            },
            wpm: 160,
        },
        Some("piper") => cfg
            .tts
            .values()
            .find(|v| matches!(v, TtsConfig::Piper { .. }))
            .cloned()
            .context("the speech config has no Piper voice")?,
        Some(other) => anyhow::bail!("unknown voice `{other}` (piper or espeak)"),
    };
    let t0 = Instant::now();
    let voice = voxdial::speech::tts::Voice::load(&vcfg, &models)?;
    let load_ms = t0.elapsed().as_millis() as u64;
    let t1 = Instant::now();
    let mut first_ms = None;
    let mut all: Vec<f32> = Vec::new();
    let mut rate = 0;
    let mut err = None;
    let timings = voxdial::speech::tts::speak(&voice, &a.text, a.locale, |c| {
        first_ms.get_or_insert(t1.elapsed().as_secs_f64() * 1e3);
        let want = if a.rate == 0 { c.pcm.rate } else { a.rate };
        match c.pcm.at_rate(want) {
            Ok(p) => {
                rate = want;
                all.extend(p.samples);
            }
            Err(e) => err = Some(e),
        }
    })?;
    if let Some(e) = err {
        return Err(e.into());
    }
    let total_ms = t1.elapsed().as_secs_f64() * 1e3;
    let pcm = Pcm {
        samples: all,
        rate: rate.max(1),
    };
    write_out(&a.out, &pcm)?;
    if a.json {
        println!(
            "{}",
            serde_json::json!({
                "voice": voice.id(), "out": a.out.display().to_string(), "audio_s": pcm.seconds(),
                "load_ms": load_ms, "first_audio_ms": first_ms, "total_ms": total_ms,
                "rtf": total_ms / 1000.0 / pcm.seconds().max(1e-9),
                "sentences": timings.iter().map(|(t, ms, s)| serde_json::json!({"text": t, "synth_ms": ms, "audio_s": s})).collect::<Vec<_>>(),
            })
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn write_out(path: &Path, pcm: &Pcm) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    audio::write_wav(path, pcm)?;
    Ok(())
}
