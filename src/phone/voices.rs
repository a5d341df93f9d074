//! The customers' voices: every text a personas file may speak is synthesized once, with
//! the locale's voice, into a WAV cache keyed by SHA-256 of (voice id, text), and loaded as
//! 8 kHz PCM before the first call. No synthesis happens during calls, so a load test's
//! customers cost only their playout.

use crate::speech::audio::{self, Pcm};
use crate::speech::SpeechError;
use crate::Locale;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The wire's rate: clips are kept at it, ready for the playout queue.
pub const CLIP_RATE: u32 = 8000;

/// Something that turns text into speech (the locale's TTS voice; a tone in tests).
pub trait Synthesizer {
    /// A stable identity (engine, voice, rate): part of the cache key, so changing the
    /// voice makes new clips.
    fn id(&self) -> &str;
    /// The text spoken, at the synthesizer's own rate.
    fn synthesize(&self, text: &str, locale: Locale) -> Result<Pcm, SpeechError>;
}

/// A voice that needs no model: each text becomes syllable-like tone bursts (120 ms of a
/// voiced tone, 60 ms apart, one per character pair), about as long as the words would
/// be. The bot's energy detector and turn-taking hear it as speech, its recognizer hears
/// nothing it understands: for load runs that measure the telephony and turn-taking, and
/// for builds without the `speech` feature.
#[derive(Clone, Copy, Debug, Default)]
pub struct ToneVoice;

impl Synthesizer for ToneVoice {
    fn id(&self) -> &str {
        "tone@1"
    }

    fn synthesize(&self, text: &str, _locale: Locale) -> Result<Pcm, SpeechError> {
        let syllables = text
            .chars()
            .filter(|c| !c.is_whitespace())
            .count()
            .div_ceil(2);
        let mut samples = Vec::new();
        for i in 0..syllables.max(1) {
            // A falling pitch per syllable, like a voice, so it is not a steady tone
            // (which call-progress detection would take for a network tone).
            let f0 = 180.0 + 40.0 * ((i % 5) as f32);
            for n in 0..1920 {
                let t = n as f32 / 16000.0;
                let env = (std::f32::consts::PI * n as f32 / 1920.0).sin();
                let f = f0 * (1.0 - 0.2 * n as f32 / 1920.0);
                let s = (2.0 * std::f32::consts::PI * f * t).sin()
                    + 0.5 * (4.0 * std::f32::consts::PI * f * t).sin()
                    + 0.25 * (6.0 * std::f32::consts::PI * f * t).sin();
                samples.push(0.2 * env * s);
            }
            samples.extend(std::iter::repeat_n(0.0, 960));
        }
        Ok(Pcm {
            samples,
            rate: 16000,
        })
    }
}

/// A TTS voice, sentence by sentence with a short pause between sentences, as it would
/// read the text.
#[cfg(feature = "speech")]
impl Synthesizer for crate::speech::tts::Voice {
    fn id(&self) -> &str {
        crate::speech::tts::Voice::id(self)
    }

    fn synthesize(&self, text: &str, locale: Locale) -> Result<Pcm, SpeechError> {
        let mut out = Pcm::default();
        let mut failed = None;
        crate::speech::tts::speak(self, text, locale, |chunk| {
            if failed.is_some() {
                return;
            }
            if out.rate == 0 {
                out.rate = chunk.pcm.rate;
            }
            match chunk.pcm.at_rate(out.rate) {
                Ok(p) => {
                    if !out.samples.is_empty() {
                        out.samples
                            .extend(std::iter::repeat_n(0.0, out.rate as usize / 5));
                    }
                    out.samples.extend(p.samples);
                }
                Err(e) => failed = Some(e),
            }
        })?;
        match failed {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }
}

/// Why the voices could not be made or loaded.
#[derive(Debug, thiserror::Error)]
pub enum VoicesError {
    /// No voice was given for a locale the personas speak.
    #[error("no voice for {0}: the personas have lines in it")]
    NoVoice(Locale),
    /// The voice failed on a text.
    #[error("synthesizing {locale} {text:?}")]
    Synthesis {
        /// The locale.
        locale: Locale,
        /// The text (persona lines are scripted, not personal data).
        text: String,
        /// The voice's error.
        #[source]
        source: SpeechError,
    },
    /// The voice produced nothing for a text.
    #[error("the {locale} voice produced no audio for {text:?}")]
    Empty {
        /// The locale.
        locale: Locale,
        /// The text.
        text: String,
    },
    /// The cache folder or a file in it could not be written.
    #[error("voice cache {}", path.display())]
    Cache {
        /// The file or folder.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A cached clip could not be read or converted.
    #[error("voice cache {}", path.display())]
    Clip {
        /// The file.
        path: PathBuf,
        /// The reader's error.
        #[source]
        source: SpeechError,
    },
}

/// Every clip a run may play, at 8 kHz, by (locale, text).
#[derive(Clone, Debug, Default)]
pub struct Clips {
    by_text: HashMap<(Locale, String), Arc<Vec<i16>>>,
}

impl Clips {
    /// The clip of a text, if it was prepared.
    pub fn get(&self, locale: Locale, text: &str) -> Option<Arc<Vec<i16>>> {
        self.by_text.get(&(locale, text.to_string())).cloned()
    }

    /// A clip made some other way (tests, tones).
    pub fn insert(&mut self, locale: Locale, text: &str, pcm_8k: Vec<i16>) {
        self.by_text
            .insert((locale, text.to_string()), Arc::new(pcm_8k));
    }

    /// How many clips there are.
    pub fn len(&self) -> usize {
        self.by_text.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.by_text.is_empty()
    }
}

/// The cache file name of a text in a voice: SHA-256 of the voice id, a newline and the
/// text, in hex.
pub fn cache_key(voice_id: &str, text: &str) -> String {
    let mut h = Sha256::new();
    h.update(voice_id.as_bytes());
    h.update(b"\n");
    h.update(text.as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Makes (or finds in `cache_dir`) a clip for every (locale, text) and loads them all at
/// 8 kHz. A clip is written to a temporary file and renamed, so a run cut short never
/// leaves a truncated clip behind for the next one.
pub fn prepare(
    texts: &[(Locale, String)],
    voices: &BTreeMap<Locale, &dyn Synthesizer>,
    cache_dir: &Path,
) -> Result<Clips, VoicesError> {
    std::fs::create_dir_all(cache_dir).map_err(|source| VoicesError::Cache {
        path: cache_dir.to_path_buf(),
        source,
    })?;
    let mut clips = Clips::default();
    for (locale, text) in texts {
        let voice = voices.get(locale).ok_or(VoicesError::NoVoice(*locale))?;
        let path = cache_dir.join(format!("{}.wav", cache_key(voice.id(), text)));
        if !path.exists() {
            let pcm = voice
                .synthesize(text, *locale)
                .map_err(|source| VoicesError::Synthesis {
                    locale: *locale,
                    text: text.clone(),
                    source,
                })?;
            if pcm.samples.is_empty() {
                return Err(VoicesError::Empty {
                    locale: *locale,
                    text: text.clone(),
                });
            }
            let tmp = path.with_extension(format!("wav.{}.tmp", std::process::id()));
            audio::write_wav(&tmp, &pcm).map_err(|source| VoicesError::Clip {
                path: tmp.clone(),
                source,
            })?;
            std::fs::rename(&tmp, &path).map_err(|source| VoicesError::Cache {
                path: path.clone(),
                source,
            })?;
        }
        let clip = audio::load_wav(&path)
            .and_then(|p| p.at_rate(CLIP_RATE))
            .map_err(|source| VoicesError::Clip {
                path: path.clone(),
                source,
            })?;
        clips.insert(*locale, text, audio::to_i16(&clip.samples));
    }
    Ok(clips)
}

/// A pure tone at 8 kHz, for beeps and information tones.
pub fn tone_8k(hz: f32, ms: u32, level: f32) -> Vec<i16> {
    let n = (CLIP_RATE * ms / 1000) as usize;
    (0..n)
        .map(|i| {
            let t = i as f32 / CLIP_RATE as f32;
            (level * 32767.0 * (2.0 * std::f32::consts::PI * hz * t).sin()) as i16
        })
        .collect()
}

/// Silence at 8 kHz.
pub fn silence_8k(ms: u32) -> Vec<i16> {
    vec![0; (CLIP_RATE * ms / 1000) as usize]
}

/// The voicemail beep after the greeting: 1 kHz for half a second.
pub fn beep_8k() -> Vec<i16> {
    tone_8k(1000.0, 500, 0.3)
}

/// The special information tone before a carrier announcement (ITU-T E.180: 913.8,
/// 1370.6 and 1776.7 Hz, ~330 ms each), which call-progress detection recognizes.
pub fn sit_8k() -> Vec<i16> {
    let mut out = Vec::new();
    for hz in [913.8, 1370.6, 1776.7] {
        out.extend(tone_8k(hz, 330, 0.3));
    }
    out.extend(silence_8k(300));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    /// A "voice" that says every text as 100 ms of tone per character, counting calls.
    struct Beeper {
        calls: Cell<usize>,
    }

    impl Synthesizer for Beeper {
        fn id(&self) -> &str {
            "beeper@1"
        }
        fn synthesize(&self, text: &str, _locale: Locale) -> Result<Pcm, SpeechError> {
            self.calls.set(self.calls.get() + 1);
            let n = 1600 * text.chars().count();
            Ok(Pcm {
                samples: (0..n).map(|i| 0.3 * (i as f32 * 0.2).sin()).collect(),
                rate: 16000,
            })
        }
    }

    #[test]
    fn each_text_is_synthesized_once_and_loaded_at_8k() {
        let dir = tempfile::tempdir().unwrap();
        let beeper = Beeper {
            calls: Cell::new(0),
        };
        let mut voices: BTreeMap<Locale, &dyn Synthesizer> = BTreeMap::new();
        voices.insert(Locale::EnUs, &beeper);
        let texts = vec![
            (Locale::EnUs, "hi".to_string()),
            (Locale::EnUs, "yes".into()),
        ];
        let clips = prepare(&texts, &voices, dir.path()).unwrap();
        assert_eq!(beeper.calls.get(), 2);
        // 2 characters x 100 ms at 8 kHz.
        assert_eq!(clips.get(Locale::EnUs, "hi").unwrap().len(), 1600);
        let files = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(files, 2, "no temporary files left");
        // A second run finds them in the cache.
        let again = prepare(&texts, &voices, dir.path()).unwrap();
        assert_eq!(beeper.calls.get(), 2);
        assert_eq!(
            again.get(Locale::EnUs, "yes"),
            clips.get(Locale::EnUs, "yes")
        );
        assert!(dir
            .path()
            .join(format!("{}.wav", cache_key("beeper@1", "hi")))
            .exists());
    }

    #[test]
    fn the_tone_voice_is_heard_as_speech_for_about_as_long_as_the_words() {
        let pcm = ToneVoice
            .synthesize("yes this is me", Locale::EnUs)
            .unwrap();
        // 11 letters: 6 syllables of 180 ms.
        assert_eq!(pcm.samples.len(), 6 * 2880);
        let i16s = audio::to_i16(&pcm.samples);
        let voiced = i16s
            .chunks(320)
            .filter(|f| crate::speech::turn::frame_energy_db(f) >= super::super::customer::VOICE_DB)
            .count();
        assert!(voiced >= 6 * 4, "{voiced} voiced frames");
    }

    #[test]
    fn a_locale_without_a_voice_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let voices: BTreeMap<Locale, &dyn Synthesizer> = BTreeMap::new();
        let e = prepare(&[(Locale::ZhCn, "是".into())], &voices, dir.path()).unwrap_err();
        assert!(e.to_string().contains("zh-CN"), "{e}");
    }

    #[test]
    fn the_key_depends_on_voice_and_text() {
        assert_ne!(cache_key("a", "hi"), cache_key("b", "hi"));
        assert_ne!(cache_key("a", "hi"), cache_key("a", "ho"));
        // The separator keeps ("ab", "c") and ("a", "bc") apart.
        assert_ne!(cache_key("ab", "c"), cache_key("a", "bc"));
        assert_eq!(cache_key("a", "hi").len(), 64);
    }
}
