//! The speech configuration (`voices/speech.yaml`): recognizer, voice and endpointing per
//! locale. A deployment swaps models by editing this file alone; errors name the file,
//! line and column, and model files are checked before any runtime sees them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::SpeechError;
use crate::Locale;

/// The whole file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpeechConfig {
    /// Voice activity detection and endpointing.
    pub vad: VadConfig,
    /// Recognizer per locale.
    pub asr: BTreeMap<Locale, AsrConfig>,
    /// Voice per locale.
    pub tts: BTreeMap<Locale, TtsConfig>,
    /// Folders of recorded prompts (`<pack>/<locale>/<prompt_id>.wav`), first wins.
    #[serde(default)]
    pub prompt_packs: Vec<PathBuf>,
    /// End-of-turn model per locale; a locale without one endpoints on silence alone.
    #[serde(default)]
    pub end_of_turn: BTreeMap<Locale, EndOfTurnConfig>,
}

/// The end-of-turn model (Smart Turn) for one locale, and when the turn controller asks it.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndOfTurnConfig {
    /// Whether live calls use it. Off, the model is still provisioned and measured (the
    /// turn-set test, the speech bench), and utterances end on silence alone.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The ONNX model.
    pub model: PathBuf,
    /// Probability of "finished" that ends the turn.
    #[serde(default = "half")]
    pub threshold: f32,
    /// Silence after the last word before the model is asked.
    #[serde(default = "pause")]
    pub pause_ms: u32,
    /// Silence that ends a turn the model called unfinished.
    #[serde(default = "incomplete")]
    pub incomplete_silence_ms: u32,
    /// Threads per inference.
    #[serde(default = "one")]
    pub threads: i32,
    /// Sessions (worker threads) shared by the process's calls.
    #[serde(default = "one_usize")]
    pub workers: usize,
}

fn yes() -> bool {
    true
}
fn half() -> f32 {
    0.5
}
fn pause() -> u32 {
    200
}
fn incomplete() -> u32 {
    1000
}
fn one_usize() -> usize {
    1
}

impl EndOfTurnConfig {
    /// Turns the model on in a turn controller's config.
    pub fn apply(&self, turn: &mut super::turn::TurnConfig) {
        turn.end_model_pause_ms = Some(self.pause_ms);
        turn.end_model_threshold = self.threshold;
        turn.end_model_incomplete_ms = self.incomplete_silence_ms;
    }
}

/// Silero VAD settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VadConfig {
    /// The Silero model.
    pub model: PathBuf,
    /// Speech probability threshold.
    #[serde(default = "default_threshold")]
    pub threshold: f32,
    /// Shorter bursts are noise, not speech.
    #[serde(default = "default_min_speech")]
    pub min_speech_ms: u32,
    /// Silence that ends an utterance (the endpoint).
    #[serde(default = "default_trailing")]
    pub trailing_silence_ms: u32,
    /// Longer speech is cut into pieces.
    #[serde(default = "default_max_utt")]
    pub max_utterance_ms: u32,
}

fn default_threshold() -> f32 {
    0.5
}
fn default_min_speech() -> u32 {
    200
}
fn default_trailing() -> u32 {
    500
}
fn default_max_utt() -> u32 {
    15_000
}

/// Encoder/decoder/joiner of a transducer (zipformer) model.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransducerFiles {
    /// Encoder.
    pub encoder: PathBuf,
    /// Decoder.
    pub decoder: PathBuf,
    /// Joiner.
    pub joiner: PathBuf,
}

/// Moonshine's two files.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MoonshineFiles {
    /// Encoder.
    pub encoder: PathBuf,
    /// Merged decoder (Moonshine v2 layout).
    pub merged_decoder: PathBuf,
}

/// One recognizer.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "engine", rename_all = "snake_case", deny_unknown_fields)]
pub enum AsrConfig {
    /// A sherpa-onnx offline model run on VAD-segmented utterances.
    SherpaOffline {
        /// Moonshine files.
        #[serde(default)]
        moonshine: Option<MoonshineFiles>,
        /// A transducer (offline zipformer).
        #[serde(default)]
        transducer: Option<TransducerFiles>,
        /// A single-file model: SenseVoice.
        #[serde(default)]
        sense_voice: Option<PathBuf>,
        /// A single-file model: Paraformer.
        #[serde(default)]
        paraformer: Option<PathBuf>,
        /// Token table.
        tokens: PathBuf,
        /// Threads per decode.
        #[serde(default = "one")]
        threads: i32,
    },
    /// A sherpa-onnx streaming model: partial results while the customer speaks.
    SherpaOnline {
        /// A streaming transducer (zipformer).
        transducer: TransducerFiles,
        /// Token table.
        tokens: PathBuf,
        /// Threads per decode.
        #[serde(default = "one")]
        threads: i32,
    },
    /// Whisper through whisper.cpp (ggml weights).
    Whisper {
        /// ggml model file.
        model: PathBuf,
        /// The CTranslate2 folder `model` is made from. `voxdial models install` converts
        /// it (the catalogue's `ggml` step); the recognizer never does, so this only
        /// documents where the file comes from.
        #[serde(default)]
        convert_from: Option<PathBuf>,
        /// Language code (`zh`, `en`); auto-detect when absent.
        #[serde(default)]
        language: Option<String>,
        /// Initial prompt (a Mandarin sentence makes it write Simplified characters).
        #[serde(default)]
        prompt: Option<String>,
        /// Threads per decode.
        #[serde(default = "two")]
        threads: i32,
    },
}

fn one() -> i32 {
    1
}
fn two() -> i32 {
    2
}

/// One voice.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "engine", rename_all = "snake_case", deny_unknown_fields)]
pub enum TtsConfig {
    /// A Piper (VITS) voice run by sherpa-onnx, phonemes from espeak-ng.
    Piper {
        /// The voice's `.onnx` (its `.onnx.json` and `tokens.txt` beside it).
        model: PathBuf,
        /// Speaking rate (1.0 = the voice's own).
        #[serde(default = "unit")]
        speed: f32,
    },
    /// espeak-ng itself: always there, tiny, robotic.
    Espeak {
        /// espeak-ng voice name (`cmn-latn-pinyin` reads our pinyin front end's output).
        voice: String,
        /// Words per minute.
        #[serde(default = "wpm")]
        wpm: u32,
    },
}

fn unit() -> f32 {
    1.0
}
fn wpm() -> u32 {
    160
}

/// The configuration shipped in `voices/speech.yaml`, compiled in so a binary works
/// from any directory.
pub const DEFAULT_YAML: &str = include_str!("../../voices/speech.yaml");

impl SpeechConfig {
    /// Parses a configuration; `origin` names the file in errors.
    pub fn parse(yaml: &str, origin: &str) -> Result<SpeechConfig, SpeechError> {
        Ok(crate::yaml::parse(yaml, origin)?)
    }

    /// Reads a configuration file.
    pub fn load(path: &Path) -> Result<SpeechConfig, SpeechError> {
        let text = std::fs::read_to_string(path).map_err(|e| SpeechError::FileRead {
            path: path.display().to_string(),
            source: std::sync::Arc::new(e),
        })?;
        SpeechConfig::parse(&text, &path.display().to_string())
    }

    /// The compiled-in default.
    pub fn default_config() -> Result<SpeechConfig, SpeechError> {
        SpeechConfig::parse(DEFAULT_YAML, "voices/speech.yaml")
    }

    /// The recognizer for a locale.
    pub fn asr_for(&self, locale: Locale) -> Result<&AsrConfig, SpeechError> {
        self.asr.get(&locale).ok_or(SpeechError::NoEngine {
            what: "recognizer",
            locale,
        })
    }

    /// The end-of-turn model for a locale, if it has one.
    pub fn end_of_turn_for(&self, locale: Locale) -> Option<&EndOfTurnConfig> {
        self.end_of_turn.get(&locale)
    }

    /// The end-of-turn model live calls in a locale use: configured and enabled.
    pub fn live_end_of_turn_for(&self, locale: Locale) -> Option<&EndOfTurnConfig> {
        self.end_of_turn_for(locale).filter(|c| c.enabled)
    }

    /// The voice for a locale.
    pub fn tts_for(&self, locale: Locale) -> Result<&TtsConfig, SpeechError> {
        self.tts.get(&locale).ok_or(SpeechError::NoEngine {
            what: "voice",
            locale,
        })
    }
}

/// Resolves a model path against the models folder and checks that it is a readable,
/// non-empty file that looks like what the runtime expects, so a wrong path or a
/// truncated download is reported by name instead of deep inside a C++ runtime.
pub fn model_file(models: &Path, rel: &Path, kind: ModelKind) -> Result<PathBuf, SpeechError> {
    let path = if rel.is_absolute() {
        rel.to_path_buf()
    } else {
        models.join(rel)
    };
    let bad = |why: String| SpeechError::Model {
        path: path.display().to_string(),
        why,
    };
    let meta = std::fs::metadata(&path).map_err(|e| SpeechError::ModelMissing {
        path: path.display().to_string(),
        source: std::sync::Arc::new(e),
    })?;
    if !meta.is_file() {
        return Err(bad("not a file".into()));
    }
    if meta.len() == 0 {
        return Err(bad("empty file".into()));
    }
    let mut head = [0u8; 8];
    if let ModelKind::Onnx | ModelKind::Ggml = kind {
        use std::io::Read;
        let mut f = std::fs::File::open(&path).map_err(|e| SpeechError::FileRead {
            path: path.display().to_string(),
            source: std::sync::Arc::new(e),
        })?;
        f.read_exact(&mut head)
            .map_err(|_| bad("too short to be a model".into()))?;
    }
    match kind {
        // An ONNX protobuf starts with field 1 (ir_version, varint): 0x08. An ORT
        // flatbuffer carries "ORTM" at offset 4.
        ModelKind::Onnx if head[0] != 0x08 && &head[4..8] != b"ORTM" => {
            Err(bad("not an ONNX or ORT model".into()))
        }
        // whisper.cpp's files start with the ggml magic 0x67676d6c, little-endian.
        ModelKind::Ggml if head[..4] != [0x6c, 0x6d, 0x67, 0x67] => {
            Err(bad("not a ggml model".into()))
        }
        _ => Ok(path),
    }
}

/// What a model file should contain.
#[derive(Clone, Copy, Debug)]
pub enum ModelKind {
    /// ONNX or ORT.
    Onnx,
    /// whisper.cpp ggml.
    Ggml,
    /// A text table (tokens).
    Text,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_config_parses_and_covers_both_locales() {
        let c = SpeechConfig::default_config().expect("default");
        for l in [Locale::ZhCn, Locale::EnUs] {
            c.asr_for(l).expect("asr");
            c.tts_for(l).expect("tts");
        }
        assert_eq!(c.vad.trailing_silence_ms, 500);
        // The end-of-turn model is provisioned and measured, but live calls end turns on
        // silence until it stops cutting paused sentences (see voices/speech.yaml).
        assert!(c.end_of_turn_for(Locale::EnUs).is_some());
        assert!(c.live_end_of_turn_for(Locale::EnUs).is_none());
    }

    #[test]
    fn config_errors_name_file_line_and_column() {
        let yaml = "vad:\n  model: v.onnx\nasr:\n  en-US:\n    engine: sherpa_offline\n    tokenz: t.txt\ntts: {}\n";
        let e = SpeechConfig::parse(yaml, "my.yaml").expect_err("typo");
        let s = e.to_string();
        assert!(s.contains("my.yaml:"), "{s}");
        assert!(s.contains("tokenz"), "{s}");
        let e = SpeechConfig::parse(
            "vad: {model: v}\nasr:\n  en-US: {engine: kaldi}\ntts: {}\n",
            "x.yaml",
        )
        .expect_err("engine");
        assert!(e.to_string().contains("x.yaml:3"), "{e}");
    }

    #[test]
    fn model_files_are_checked_before_a_runtime_sees_them() {
        let dir = tempfile::tempdir().expect("tmp");
        let e = model_file(dir.path(), Path::new("asr/none.onnx"), ModelKind::Onnx)
            .expect_err("missing");
        assert!(e.to_string().contains("asr/none.onnx"), "{e}");
        assert!(e.to_string().contains("models install"), "{e}");
        std::fs::write(dir.path().join("junk.onnx"), b"not a model at all").expect("w");
        let e = model_file(dir.path(), Path::new("junk.onnx"), ModelKind::Onnx).expect_err("junk");
        assert!(e.to_string().contains("not an ONNX"), "{e}");
        std::fs::write(
            dir.path().join("m.onnx"),
            [0x08, 0x07, 0x12, 0, 0, 0, 0, 0, 1],
        )
        .expect("w");
        model_file(dir.path(), Path::new("m.onnx"), ModelKind::Onnx).expect("onnx");
        std::fs::write(dir.path().join("g.bin"), b"lmggxxxxxxxx").expect("w");
        model_file(dir.path(), Path::new("g.bin"), ModelKind::Ggml).expect("ggml");
    }
}
