//! Speech recognition: one loaded model per locale, shared by every call.
//!
//! `Recognizer` wraps the engines the speech config can name (any sherpa-onnx offline
//! model on VAD-segmented utterances, a sherpa-onnx streaming model, Whisper through
//! whisper.cpp). `AsrService` puts one recognizer behind worker threads so many calls
//! share its memory, and decodes utterances that are waiting at the same time as one
//! batch where the engine allows it.

use std::path::Path;
use std::sync::{mpsc, Arc, Mutex};
use std::time::Instant;

use serde::Serialize;

use super::config::{model_file, AsrConfig, ModelKind};
use super::SpeechError;

/// What the recognizer heard in one utterance.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Transcript {
    /// The text ("" when nothing usable was heard).
    pub text: String,
    /// Length of the audio.
    pub audio_ms: u64,
    /// Wall time of the decode.
    pub decode_ms: u64,
    /// Why the engine's guards refused the output (Whisper hallucination checks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejected: Option<String>,
}

/// A loaded recognizer.
pub enum Recognizer {
    /// sherpa-onnx offline model (Moonshine, SenseVoice, Paraformer, offline transducer).
    Offline(sherpa_onnx::OfflineRecognizer),
    /// sherpa-onnx streaming model.
    Online(sherpa_onnx::OnlineRecognizer),
    /// whisper.cpp.
    Whisper(Box<super::whisper::WhisperRecognizer>),
}

fn path_str(p: &Path) -> Option<String> {
    Some(p.display().to_string())
}

impl Recognizer {
    /// Loads the configured engine; every file is checked first so a bad path names
    /// itself, and a model the runtime refuses is an error, never a crash.
    pub fn load(cfg: &AsrConfig, models: &Path) -> Result<Recognizer, SpeechError> {
        let refused = |what: &Path| SpeechError::Model {
            path: what.display().to_string(),
            why: "sherpa-onnx could not load this model (its own message is on stderr)".into(),
        };
        match cfg {
            AsrConfig::SherpaOffline {
                moonshine,
                transducer,
                sense_voice,
                paraformer,
                tokens,
                threads,
            } => {
                let mut c = sherpa_onnx::OfflineRecognizerConfig::default();
                let mc = &mut c.model_config;
                let first;
                if let Some(m) = moonshine {
                    let enc = model_file(models, &m.encoder, ModelKind::Onnx)?;
                    let dec = model_file(models, &m.merged_decoder, ModelKind::Onnx)?;
                    mc.moonshine.encoder = path_str(&enc);
                    mc.moonshine.merged_decoder = path_str(&dec);
                    first = enc;
                } else if let Some(t) = transducer {
                    let enc = model_file(models, &t.encoder, ModelKind::Onnx)?;
                    mc.transducer.encoder = path_str(&enc);
                    mc.transducer.decoder =
                        path_str(&model_file(models, &t.decoder, ModelKind::Onnx)?);
                    mc.transducer.joiner =
                        path_str(&model_file(models, &t.joiner, ModelKind::Onnx)?);
                    first = enc;
                } else if let Some(m) = sense_voice {
                    let p = model_file(models, m, ModelKind::Onnx)?;
                    mc.sense_voice.model = path_str(&p);
                    first = p;
                } else if let Some(m) = paraformer {
                    let p = model_file(models, m, ModelKind::Onnx)?;
                    mc.paraformer.model = path_str(&p);
                    first = p;
                } else {
                    return Err(SpeechError::Config {
                        at: "asr".into(),
                        why: "sherpa_offline needs one of moonshine, transducer, sense_voice, paraformer".into(),
                    });
                }
                mc.tokens = path_str(&model_file(models, tokens, ModelKind::Text)?);
                mc.num_threads = (*threads).max(1);
                sherpa_onnx::OfflineRecognizer::create(&c)
                    .map(Recognizer::Offline)
                    .ok_or_else(|| refused(&first))
            }
            AsrConfig::SherpaOnline {
                transducer,
                tokens,
                threads,
            } => {
                let mut c = sherpa_onnx::OnlineRecognizerConfig::default();
                let enc = model_file(models, &transducer.encoder, ModelKind::Onnx)?;
                let mc = &mut c.model_config;
                mc.transducer.encoder = path_str(&enc);
                mc.transducer.decoder =
                    path_str(&model_file(models, &transducer.decoder, ModelKind::Onnx)?);
                mc.transducer.joiner =
                    path_str(&model_file(models, &transducer.joiner, ModelKind::Onnx)?);
                mc.tokens = path_str(&model_file(models, tokens, ModelKind::Text)?);
                mc.num_threads = (*threads).max(1);
                c.decoding_method = Some("greedy_search".into());
                sherpa_onnx::OnlineRecognizer::create(&c)
                    .map(Recognizer::Online)
                    .ok_or_else(|| refused(&enc))
            }
            AsrConfig::Whisper {
                model,
                language,
                prompt,
                threads,
                ..
            } => {
                // `voxdial models install` converted the shipped CTranslate2 weights; here
                // the ggml file is only found and validated (a missing one says to install).
                let path = model_file(models, model, ModelKind::Ggml)?;
                let mut wc = match language.as_deref() {
                    Some("en") => super::whisper::WhisperConfig::english(path),
                    _ => super::whisper::WhisperConfig::mandarin(path),
                };
                wc.language = language.clone();
                wc.threads = (*threads).max(1) as usize;
                if prompt.is_some() {
                    wc.initial_prompt = prompt.clone();
                }
                super::whisper::WhisperRecognizer::load(wc)
                    .map(|w| Recognizer::Whisper(Box::new(w)))
                    .map_err(whisper_err)
            }
        }
    }

    /// Short name for reports.
    pub fn engine(&self) -> &'static str {
        match self {
            Recognizer::Offline(_) => "sherpa_offline",
            Recognizer::Online(_) => "sherpa_online",
            Recognizer::Whisper(_) => "whisper",
        }
    }

    /// Transcribes one utterance (16 kHz mono).
    pub fn transcribe(&self, pcm: &[f32]) -> Result<Transcript, SpeechError> {
        Ok(self.transcribe_batch(&[pcm])?.pop().unwrap_or_default())
    }

    /// Transcribes several utterances; sherpa-onnx decodes them as one batch.
    pub fn transcribe_batch(&self, clips: &[&[f32]]) -> Result<Vec<Transcript>, SpeechError> {
        let t0 = Instant::now();
        let audio_ms = |c: &[f32]| (c.len() as u64) / 16;
        let mut out = match self {
            Recognizer::Offline(r) => {
                let streams: Vec<_> = clips
                    .iter()
                    .map(|c| {
                        let s = r.create_stream();
                        s.accept_waveform(16_000, c);
                        s
                    })
                    .collect();
                let refs: Vec<_> = streams.iter().collect();
                r.decode_multiple_streams(&refs);
                streams
                    .iter()
                    .zip(clips)
                    .map(|(s, c)| Transcript {
                        text: s
                            .get_result()
                            .map(|x| x.text.trim().to_string())
                            .unwrap_or_default(),
                        audio_ms: audio_ms(c),
                        ..Default::default()
                    })
                    .collect::<Vec<_>>()
            }
            Recognizer::Online(r) => {
                // A streaming model given whole utterances: feed, pad the tail so the
                // last frames leave the encoder, then decode until it has nothing left.
                let tail = vec![0.0f32; 8_000];
                let streams: Vec<_> = clips
                    .iter()
                    .map(|c| {
                        let s = r.create_stream();
                        s.accept_waveform(16_000, c);
                        s.accept_waveform(16_000, &tail);
                        s.input_finished();
                        s
                    })
                    .collect();
                loop {
                    let ready: Vec<_> = streams.iter().filter(|s| r.is_ready(s)).collect();
                    if ready.is_empty() {
                        break;
                    }
                    r.decode_multiple_streams(&ready);
                }
                streams
                    .iter()
                    .zip(clips)
                    .map(|(s, c)| Transcript {
                        text: r
                            .get_result(s)
                            .map(|x| x.text.trim().to_string())
                            .unwrap_or_default(),
                        audio_ms: audio_ms(c),
                        ..Default::default()
                    })
                    .collect()
            }
            Recognizer::Whisper(w) => {
                let mut v = Vec::with_capacity(clips.len());
                for c in clips {
                    let t = w.transcribe(c).map_err(whisper_err)?;
                    v.push(Transcript {
                        text: t.text,
                        audio_ms: audio_ms(c),
                        rejected: t.rejected.map(|r| r.to_string()),
                        ..Default::default()
                    });
                }
                v
            }
        };
        let ms = t0.elapsed().as_millis() as u64;
        for t in &mut out {
            t.decode_ms = ms;
        }
        Ok(out)
    }
}

fn whisper_err(e: super::whisper::WhisperError) -> SpeechError {
    use super::whisper::WhisperError as W;
    match e {
        W::Model(g) => SpeechError::WhisperModel(Arc::new(g)),
        other => SpeechError::Whisper(Arc::new(other)),
    }
}

type Reply = tokio::sync::oneshot::Sender<Result<Transcript, SpeechError>>;

struct Job {
    pcm: Vec<f32>,
    reply: Reply,
}

/// One recognizer shared by many calls: utterances queue up, worker threads take every
/// waiting one (up to `max_batch`) and decode them together.
#[derive(Clone)]
pub struct AsrService {
    tx: mpsc::Sender<Job>,
    engine: &'static str,
}

impl AsrService {
    /// Starts `workers` threads over one recognizer.
    pub fn start(rec: Recognizer, workers: usize, max_batch: usize) -> AsrService {
        let engine = rec.engine();
        let rec = Arc::new(rec);
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..workers.max(1) {
            let (rec, rx) = (rec.clone(), rx.clone());
            let spawned = std::thread::Builder::new()
                .name(format!("asr-{i}"))
                .spawn(move || worker(&rec, &rx, max_batch.max(1)));
            if let Err(e) = spawned {
                tracing::error!("cannot start ASR worker: {e}");
            }
        }
        AsrService { tx, engine }
    }

    /// Queues an utterance; the answer arrives on the returned channel.
    pub fn submit(
        &self,
        pcm: Vec<f32>,
    ) -> tokio::sync::oneshot::Receiver<Result<Transcript, SpeechError>> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        if let Err(mpsc::SendError(job)) = self.tx.send(Job { pcm, reply }) {
            let _ = job.reply.send(Err(SpeechError::Stopped));
        }
        rx
    }

    /// Blocking convenience for tools and tests.
    pub fn transcribe_blocking(&self, pcm: Vec<f32>) -> Result<Transcript, SpeechError> {
        self.submit(pcm)
            .blocking_recv()
            .map_err(|_| SpeechError::Stopped)?
    }

    /// The engine's name.
    pub fn engine(&self) -> &'static str {
        self.engine
    }
}

fn worker(rec: &Recognizer, rx: &Mutex<mpsc::Receiver<Job>>, max_batch: usize) {
    loop {
        let mut jobs = Vec::new();
        {
            let Ok(guard) = rx.lock() else { return };
            match guard.recv() {
                Ok(j) => jobs.push(j),
                Err(_) => return,
            }
            while jobs.len() < max_batch {
                match guard.try_recv() {
                    Ok(j) => jobs.push(j),
                    Err(_) => break,
                }
            }
        }
        // A caller that stopped waiting (the customer resumed after a pause, so the
        // decode started there is stale) costs nothing: its job is skipped.
        jobs.retain(|j| !j.reply.is_closed());
        if jobs.is_empty() {
            continue;
        }
        let clips: Vec<&[f32]> = jobs.iter().map(|j| j.pcm.as_slice()).collect();
        match rec.transcribe_batch(&clips) {
            Ok(ts) => {
                for (j, t) in jobs.into_iter().zip(ts) {
                    let _ = j.reply.send(Ok(t));
                }
            }
            Err(e) => {
                for j in jobs {
                    let _ = j.reply.send(Err(e.clone()));
                }
            }
        }
    }
}
