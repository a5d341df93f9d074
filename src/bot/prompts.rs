//! The prompt cache: what the bot says is synthesized once and replayed from then on.
//!
//! The unit is one TTS sentence, keyed by sha256 of (voice identity, sentence text), on
//! disk as 8 kHz 16-bit WAV (the call's rate) and in memory once used. Static sentences
//! of every loaded scenario are rendered ahead (`warm`), so on a call only sentences that
//! carry a campaign variable are synthesized live. A recorded prompt pack
//! (`<pack>/<locale>/<prompt_id>.wav`) replaces a whole static prompt when present:
//! Chinese deployments often record their fixed prompts.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use sha2::{Digest, Sha256};

use crate::language::normalise as text;
use crate::scenario::library::Library;
use crate::speech::audio::{self, Pcm};
use crate::speech::tts::Voice;
use crate::speech::SpeechError;
use crate::Locale;

/// The rate everything in the cache is stored at: the call's.
pub const CACHE_RATE: u32 = 8_000;

pub use super::pipeline::{static_units, Source};

/// Silence kept before a synthesized sentence or phrase's first sound and after its last:
/// two phrases of one sentence then join with about a clause's pause (160 ms), where the
/// voice's own padding made it ~270 ms, and a reply's first sound leaves at once (the
/// customer is waiting for it; what is cut is under -40 dBFS).
const KEEP_LEAD_MS: u32 = 10;
const KEEP_TRAIL_MS: u32 = 150;

/// One step of a prompt's playout (see [`PromptCache::plan`]).
#[derive(Clone, Debug)]
pub enum Planned {
    /// Audio at hand (a pack recording).
    Ready(Piece),
    /// A sentence still to fetch or synthesize.
    Sentence(String),
}

/// One sentence ready to play.
#[derive(Clone, Debug)]
pub struct Piece {
    /// Its text (or the prompt id for a pack recording).
    pub text: String,
    /// 8 kHz audio.
    pub pcm: Arc<Vec<i16>>,
    /// Where it came from.
    pub source: Source,
    /// Wall time to get it.
    pub ms: f64,
}

/// The cache.
pub struct PromptCache {
    dir: PathBuf,
    packs: Vec<PathBuf>,
    mem: Mutex<HashMap<String, Arc<Vec<i16>>>>,
}

impl PromptCache {
    /// A cache in `dir` with recorded packs searched in order.
    pub fn new(dir: &Path, packs: Vec<PathBuf>) -> PromptCache {
        PromptCache {
            dir: dir.to_path_buf(),
            packs,
            mem: Mutex::new(HashMap::new()),
        }
    }

    /// The key of a sentence for a voice.
    pub fn key(voice_id: &str, sentence: &str) -> String {
        let mut h = Sha256::new();
        h.update(b"voxdial-prompt-v3\0");
        h.update(voice_id.as_bytes());
        h.update([0]);
        h.update(CACHE_RATE.to_le_bytes());
        h.update(sentence.as_bytes());
        let d = h.finalize();
        d.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// A recorded prompt for this id, if a pack has one.
    pub fn pack_recording(
        &self,
        locale: Locale,
        prompt_id: &str,
    ) -> Result<Option<Piece>, SpeechError> {
        // Prompt ids are `flow.node[.suffix]`; anything else never names a file.
        if prompt_id.is_empty()
            || !prompt_id
                .chars()
                .all(|c| c.is_alphanumeric() || c == '_' || c == '.' || c == '-')
            || prompt_id.contains("..")
        {
            return Ok(None);
        }
        for pack in &self.packs {
            let path = pack
                .join(locale.to_string())
                .join(format!("{prompt_id}.wav"));
            if !path.is_file() {
                continue;
            }
            let t0 = Instant::now();
            let key = format!("pack:{}", path.display());
            if let Some(p) = self.mem_get(&key) {
                return Ok(Some(piece(prompt_id, p, Source::Memory, t0)));
            }
            let pcm = audio::load_wav(&path)?.at_rate(CACHE_RATE)?;
            let pcm = Arc::new(audio::to_i16(&pcm.samples));
            self.mem_put(&key, pcm.clone());
            return Ok(Some(piece(prompt_id, pcm, Source::Pack, t0)));
        }
        Ok(None)
    }

    /// One sentence (already normalised) in this voice: memory, disk, or synthesized
    /// and stored.
    pub fn sentence(
        &self,
        voice: &Voice,
        locale: Locale,
        sentence: &str,
    ) -> Result<Piece, SpeechError> {
        self.fetch(voice, locale, sentence, true)
    }

    /// A prompt cut into what it plays: a pack recording (static prompts that have one),
    /// or its normalised sentences, to be fetched one by one with [`PromptCache::fetch`].
    pub fn plan(
        &self,
        locale: Locale,
        prompt_id: &str,
        is_static: bool,
        text_in: &str,
    ) -> Result<Vec<Planned>, SpeechError> {
        if is_static {
            if let Some(p) = self.pack_recording(locale, prompt_id)? {
                return Ok(vec![Planned::Ready(p)]);
            }
        }
        Ok(text::sentences(&text::normalize(text_in, locale), locale)
            .into_iter()
            .map(Planned::Sentence)
            .collect())
    }

    /// [`PromptCache::sentence`], keeping a synthesized sentence only when `persist`: a
    /// sentence of a prompt with variables may carry a customer's name or amount, which
    /// must not pile up on disk (its static sentences were rendered at warm-up and hit).
    pub fn fetch(
        &self,
        voice: &Voice,
        locale: Locale,
        sentence: &str,
        persist: bool,
    ) -> Result<Piece, SpeechError> {
        let t0 = Instant::now();
        if let Some(p) = self.cached(voice, sentence) {
            return Ok(p);
        }
        let key = PromptCache::key(voice.id(), sentence);
        let path = self.dir.join(&key[..2]).join(format!("{key}.wav"));
        let raw = voice.synthesize(sentence, locale)?;
        let pcm = raw
            .at_rate(CACHE_RATE)?
            .trimmed(KEEP_LEAD_MS, KEEP_TRAIL_MS);
        if !persist {
            let pcm = Arc::new(audio::to_i16(&pcm.samples));
            return Ok(piece(sentence, pcm, Source::Synthesized, t0));
        }
        self.store(&path, &pcm)?;
        let pcm = Arc::new(audio::to_i16(&pcm.samples));
        self.mem_put(&key, pcm.clone());
        Ok(piece(sentence, pcm, Source::Synthesized, t0))
    }

    /// The sentence from memory or the disk cache, without synthesizing: a driver that
    /// must not block on the voice takes cache hits at once and sends only the rest to
    /// be synthesized. A damaged entry reads as missing (synthesis replaces it).
    pub fn cached(&self, voice: &Voice, sentence: &str) -> Option<Piece> {
        let t0 = Instant::now();
        let key = PromptCache::key(voice.id(), sentence);
        if let Some(p) = self.mem_get(&key) {
            return Some(piece(sentence, p, Source::Memory, t0));
        }
        let path = self.dir.join(&key[..2]).join(format!("{key}.wav"));
        if path.is_file() {
            if let Ok(pcm) = audio::load_wav(&path) {
                if pcm.rate == CACHE_RATE {
                    let pcm = Arc::new(audio::to_i16(&pcm.samples));
                    self.mem_put(&key, pcm.clone());
                    return Some(piece(sentence, pcm, Source::Disk, t0));
                }
            }
        }
        None
    }

    /// Everything a prompt says, sentence by sentence, handed to `sink` as each is ready
    /// so playout starts with the first. A static prompt with a recording plays that.
    pub fn speak(
        &self,
        voice: &Voice,
        locale: Locale,
        prompt_id: &str,
        is_static: bool,
        text_in: &str,
        mut sink: impl FnMut(&Piece),
    ) -> Result<Vec<Source>, SpeechError> {
        let mut sources = Vec::new();
        for planned in self.plan(locale, prompt_id, is_static, text_in)? {
            let p = match planned {
                Planned::Ready(p) => p,
                Planned::Sentence(s) => self.fetch(voice, locale, &s, is_static)?,
            };
            sources.push(p.source);
            sink(&p);
        }
        Ok(sources)
    }

    /// Renders every static sentence of every loaded scenario's prompts for `locale`
    /// into the disk cache (sentences that carry a variable are left for the call).
    pub fn warm(
        &self,
        lib: &Library,
        voice: &Voice,
        locale: Locale,
    ) -> Result<WarmReport, SpeechError> {
        self.warm_flows(lib.flows.values().map(|f| f.as_ref()), voice, locale)
    }

    /// `warm` for some flows only (one campaign's scenario and the dialogs it calls).
    pub fn warm_flows<'a>(
        &self,
        flows: impl Iterator<Item = &'a crate::scenario::compile::Flow>,
        voice: &Voice,
        locale: Locale,
    ) -> Result<WarmReport, SpeechError> {
        let t0 = Instant::now();
        let mut r = WarmReport::default();
        let mut seen = std::collections::HashSet::new();
        for flow in flows {
            for node in &flow.nodes {
                let Some(tpl) = node.prompt.get(&locale) else {
                    continue;
                };
                r.prompts += 1;
                if tpl.is_static()
                    && self
                        .pack_recording(locale, &format!("{}.{}", flow.id(), node.id))?
                        .is_some()
                {
                    r.from_pack += 1;
                    continue;
                }
                for s in static_units(tpl, locale) {
                    if !seen.insert(s.clone()) {
                        continue;
                    }
                    match self.sentence(voice, locale, &s)?.source {
                        Source::Synthesized => r.synthesized += 1,
                        _ => r.cached += 1,
                    }
                }
            }
        }
        r.ms = t0.elapsed().as_millis() as u64;
        Ok(r)
    }

    fn store(&self, path: &Path, pcm: &Pcm) -> Result<(), SpeechError> {
        let err = |e: std::io::Error| SpeechError::CacheIo {
            path: path.display().to_string(),
            source: Arc::new(e),
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        // Another process may be warming the same cache: write aside, then rename.
        let tmp = path.with_extension(format!("{}.partial", std::process::id()));
        audio::write_wav(&tmp, pcm)?;
        std::fs::rename(&tmp, path).map_err(err)
    }

    fn mem_get(&self, key: &str) -> Option<Arc<Vec<i16>>> {
        self.mem.lock().ok()?.get(key).cloned()
    }

    fn mem_put(&self, key: &str, pcm: Arc<Vec<i16>>) {
        if let Ok(mut m) = self.mem.lock() {
            m.insert(key.to_string(), pcm);
        }
    }
}

fn piece(text: &str, pcm: Arc<Vec<i16>>, source: Source, t0: Instant) -> Piece {
    Piece {
        text: text.to_string(),
        pcm,
        source,
        ms: t0.elapsed().as_secs_f64() * 1e3,
    }
}

/// What `warm` did.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct WarmReport {
    /// Prompts looked at.
    pub prompts: usize,
    /// Prompts a recorded pack covers.
    pub from_pack: usize,
    /// Sentences synthesized now.
    pub synthesized: usize,
    /// Sentences already cached.
    pub cached: usize,
    /// Wall time.
    pub ms: u64,
}
