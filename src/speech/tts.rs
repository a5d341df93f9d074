//! Speech synthesis: a voice per locale, sentence by sentence so the first audio is ready
//! while the rest is still being made.
//!
//! Piper voices run in sherpa-onnx's VITS runtime (the same onnxruntime the recognizer
//! already loaded) with phonemes from espeak-ng's IPA output; espeak-ng itself is the
//! always-there voice, and Mandarin reaches it as pinyin with tone numbers because its
//! `cmn` voice misreads Han characters.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use super::audio::Pcm;
use super::config::{model_file, ModelKind, TtsConfig};
use super::SpeechError;
use crate::language::normalise as text;
use crate::Locale;

/// A loaded voice.
pub enum Voice {
    /// A Piper voice.
    Piper {
        /// The runtime.
        tts: sherpa_onnx::OfflineTts,
        /// espeak-ng voice for phonemes (from the voice's `.onnx.json`).
        espeak_voice: String,
        /// Speaking rate.
        speed: f32,
        /// Cache identity.
        id: String,
    },
    /// espeak-ng.
    Espeak {
        /// espeak-ng voice name.
        voice: String,
        /// Words per minute.
        wpm: u32,
        /// Cache identity.
        id: String,
    },
}

impl Voice {
    /// Loads a configured voice; model files are checked first.
    pub fn load(cfg: &TtsConfig, models: &Path) -> Result<Voice, SpeechError> {
        match cfg {
            TtsConfig::Piper { model, speed } => {
                let path = model_file(models, model, ModelKind::Onnx)?;
                let tokens =
                    model_file(models, &model.with_file_name("tokens.txt"), ModelKind::Text)?;
                let json_path = path.with_extension("onnx.json");
                let json: serde_json::Value = std::fs::read_to_string(&json_path)
                    .ok()
                    .and_then(|t| serde_json::from_str(&t).ok())
                    .ok_or_else(|| SpeechError::Model {
                        path: json_path.display().to_string(),
                        why: "missing or not JSON (the Piper voice's config)".into(),
                    })?;
                let espeak_voice = json["espeak"]["voice"]
                    .as_str()
                    .unwrap_or("en-us")
                    .to_string();
                let mut c = sherpa_onnx::OfflineTtsConfig::default();
                c.model.vits.model = Some(path.display().to_string());
                c.model.vits.tokens = Some(tokens.display().to_string());
                c.model.num_threads = 1;
                c.max_num_sentences = 1;
                let tts =
                    sherpa_onnx::OfflineTts::create(&c).ok_or_else(|| SpeechError::Model {
                        path: path.display().to_string(),
                        why: "sherpa-onnx could not load this voice (its own message is on stderr)"
                            .into(),
                    })?;
                let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or("piper");
                Ok(Voice::Piper {
                    tts,
                    espeak_voice,
                    speed: *speed,
                    id: format!("piper:{name}@{speed}"),
                })
            }
            TtsConfig::Espeak { voice, wpm } => {
                espeak(&["--version"], "")?;
                Ok(Voice::Espeak {
                    voice: voice.clone(),
                    wpm: *wpm,
                    id: format!("espeak:{voice}@{wpm}"),
                })
            }
        }
    }

    /// Stable identity for caches: engine, voice and rate.
    pub fn id(&self) -> &str {
        match self {
            Voice::Piper { id, .. } | Voice::Espeak { id, .. } => id,
        }
    }

    /// Synthesizes one chunk of already-normalised text at the voice's own rate.
    pub fn synthesize(&self, chunk: &str, locale: Locale) -> Result<Pcm, SpeechError> {
        match self {
            Voice::Piper {
                tts,
                espeak_voice,
                speed,
                ..
            } => {
                let ipa = ipa(chunk, espeak_voice)?;
                if ipa.is_empty() {
                    return Ok(Pcm {
                        samples: Vec::new(),
                        rate: tts.sample_rate() as u32,
                    });
                }
                let g = sherpa_onnx::GenerationConfig {
                    phoneme_codepoints: Some(vec![ipa.chars().map(|c| c as i32).collect()]),
                    speed: *speed,
                    silence_scale: 0.0,
                    ..Default::default()
                };
                let audio = tts
                    .generate_with_config::<fn(&[f32], f32) -> bool>("", &g, None)
                    .ok_or_else(|| SpeechError::Synthesis {
                        why: "the Piper voice produced no audio".into(),
                    })?;
                Ok(Pcm {
                    samples: audio.samples().to_vec(),
                    rate: audio.sample_rate() as u32,
                })
            }
            Voice::Espeak { voice, wpm, .. } => {
                let input = match locale {
                    Locale::ZhCn if voice.contains("pinyin") => {
                        crate::language::pinyin::to_pinyin(chunk)
                    }
                    _ => chunk.to_string(),
                };
                let wav = espeak(
                    &["-v", voice, "-s", &wpm.to_string(), "--stdout", "--stdin"],
                    &input,
                )?;
                parse_stream_wav(&wav)
            }
        }
    }
}

/// One synthesized chunk and what it cost.
#[derive(Clone, Debug)]
pub struct Chunk {
    /// The text it says.
    pub text: String,
    /// The audio at the voice's rate.
    pub pcm: Pcm,
    /// Wall time to make it.
    pub synth_ms: f64,
}

/// Normalises text for the locale, splits it into sentences, and synthesizes them one by
/// one, handing each to `sink` as soon as it exists (the caller queues it for playout
/// while the next is made). Returns the chunks' timings.
pub fn speak(
    voice: &Voice,
    text_in: &str,
    locale: Locale,
    mut sink: impl FnMut(&Chunk),
) -> Result<Vec<(String, f64, f64)>, SpeechError> {
    let normal = text::normalize(text_in, locale);
    let mut timings = Vec::new();
    for sentence in text::sentences(&normal, locale) {
        let t0 = Instant::now();
        let pcm = voice.synthesize(&sentence, locale)?;
        let chunk = Chunk {
            synth_ms: t0.elapsed().as_secs_f64() * 1e3,
            text: sentence,
            pcm,
        };
        sink(&chunk);
        timings.push((chunk.text.clone(), chunk.synth_ms, chunk.pcm.seconds()));
    }
    Ok(timings)
}

/// Runs espeak-ng with text on stdin (never as an argument, so text can never be read
/// as an option).
fn espeak(args: &[&str], input: &str) -> Result<Vec<u8>, SpeechError> {
    let mut child = Command::new("espeak-ng")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| SpeechError::Espeak {
            what: "start",
            source: std::sync::Arc::new(e),
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input.as_bytes())
            .map_err(|e| SpeechError::Espeak {
                what: "stdin",
                source: std::sync::Arc::new(e),
            })?;
    }
    let out = child.wait_with_output().map_err(|e| SpeechError::Espeak {
        what: "wait",
        source: std::sync::Arc::new(e),
    })?;
    if !out.status.success() {
        return Err(SpeechError::Synthesis {
            why: format!(
                "espeak-ng failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
    Ok(out.stdout)
}

/// IPA for a Piper voice. espeak-ng prints one line per clause and drops the
/// punctuation Piper was trained with, so clauses are joined with commas and the
/// sentence's own final mark is put back (it shapes the intonation; a phrase's comma
/// too).
fn ipa(chunk: &str, voice: &str) -> Result<String, SpeechError> {
    let out = espeak(&["-q", "--ipa", "-v", voice, "--stdin"], chunk)?;
    let text = String::from_utf8_lossy(&out);
    let clauses: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let mut s = clauses.join(", ");
    if s.is_empty() {
        return Ok(s);
    }
    let end = chunk.trim_end().chars().last();
    // A phrase cut at a clause mark keeps its rising, unfinished tune: the rest of the
    // sentence follows it (see `normalise::phrases`).
    s.push(match end {
        Some('?') | Some('？') => '?',
        Some('!') | Some('！') => '!',
        Some(',' | ';' | ':' | '—' | '，' | '；' | '：') => ',',
        _ => '.',
    });
    Ok(s)
}

/// espeak-ng's `--stdout` WAV is written as a stream (its sizes are placeholders), so
/// the header is read by hand: format from `fmt `, then every byte after `data`.
fn parse_stream_wav(b: &[u8]) -> Result<Pcm, SpeechError> {
    let bad = |why: &str| SpeechError::Synthesis {
        why: format!("espeak-ng output: {why}"),
    };
    if b.len() < 12 || &b[0..4] != b"RIFF" || &b[8..12] != b"WAVE" {
        return Err(bad("not a WAV stream"));
    }
    let mut i = 12;
    let mut rate = 0u32;
    while i + 8 <= b.len() {
        let id = &b[i..i + 4];
        let len = u32::from_le_bytes([b[i + 4], b[i + 5], b[i + 6], b[i + 7]]) as usize;
        let body = i + 8;
        if id == b"fmt " {
            let f = b
                .get(body..body + 16)
                .ok_or_else(|| bad("short fmt chunk"))?;
            let bits = u16::from_le_bytes([f[14], f[15]]);
            let channels = u16::from_le_bytes([f[2], f[3]]);
            if bits != 16 || channels != 1 {
                return Err(bad("expected 16-bit mono"));
            }
            rate = u32::from_le_bytes([f[4], f[5], f[6], f[7]]);
        } else if id == b"data" {
            if rate == 0 {
                return Err(bad("data before fmt"));
            }
            let samples = b[body..]
                .chunks_exact(2)
                .map(|p| f32::from(i16::from_le_bytes([p[0], p[1]])) / 32768.0)
                .collect();
            return Ok(Pcm { samples, rate });
        }
        i = body.saturating_add(len + (len & 1));
    }
    Err(bad("no data chunk"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streamed_wav_headers_are_read_by_hand() {
        let mut b = b"RIFF\xff\xff\xff\x7fWAVEfmt \x10\x00\x00\x00".to_vec();
        b.extend_from_slice(&[1, 0, 1, 0]);
        b.extend_from_slice(&22050u32.to_le_bytes());
        b.extend_from_slice(&44100u32.to_le_bytes());
        b.extend_from_slice(&[2, 0, 16, 0]);
        b.extend_from_slice(b"data\x00\xf0\xff\x7f");
        b.extend_from_slice(&16384i16.to_le_bytes());
        b.extend_from_slice(&(-16384i16).to_le_bytes());
        let p = parse_stream_wav(&b).expect("wav");
        assert_eq!(p.rate, 22050);
        assert_eq!(p.samples, vec![0.5, -0.5]);
        assert!(parse_stream_wav(b"RIFF").is_err());
        assert!(parse_stream_wav(&b[..30]).is_err());
    }
}
