//! Speech recognition: one loaded model per locale, shared by every call.
//!
//! `Recognizer` wraps the engines the speech config can name (any sherpa-onnx offline
//! model on VAD-segmented utterances, a sherpa-onnx streaming model, Whisper through
//! whisper.cpp). `AsrService` puts one recognizer behind worker threads so many calls
//! share its memory, and decodes utterances that are waiting at the same time as one
//! batch where the engine allows it.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
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
    /// How long the utterance waited for a free worker before its decode began.
    pub queue_ms: u64,
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

    /// Whether several utterances decode as one batch (sherpa-onnx) rather than one
    /// after another (Whisper), which decides how many jobs a worker takes at once.
    pub fn batches(&self) -> bool {
        !matches!(self, Recognizer::Whisper(_))
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

/// The answer channel of one submitted utterance.
pub type TranscriptRx = tokio::sync::oneshot::Receiver<Result<Transcript, SpeechError>>;

struct Job {
    pcm: Vec<f32>,
    reply: Reply,
    asked: Instant,
    urgent: Arc<AtomicBool>,
}

/// Moves one submitted decode ahead of the non-urgent ones once its caller has to wait
/// for it (a decode started at a pause becomes the turn's final text at the endpoint).
#[derive(Clone, Debug, Default)]
pub struct Urgency(Arc<AtomicBool>);

impl Urgency {
    /// The caller now waits for this decode.
    pub fn raise(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// What the recognizer's workers did so far, for load runs: how many decodes were asked
/// for, how many were wasted, and how long they waited in the queue.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct AsrStats {
    /// Utterances submitted.
    pub submitted: u64,
    /// Of those, submitted as urgent (a caller waits) or raised to urgent later.
    pub urgent: u64,
    /// Dropped unseen: the caller had stopped waiting before a worker reached them.
    pub skipped_stale: u64,
    /// Decoded.
    pub decoded: u64,
    /// Decoded, but nobody took the answer any more (wasted compute).
    pub unused: u64,
    /// Sum of the decodes' wall time, ms.
    pub decode_ms: u64,
    /// Sum of the time decoded jobs spent queued, ms.
    pub queue_ms: u64,
    /// The longest any urgent job was queued, ms.
    pub max_urgent_queue_ms: u64,
}

#[derive(Default)]
struct Counters {
    submitted: AtomicU64,
    urgent: AtomicU64,
    skipped_stale: AtomicU64,
    decoded: AtomicU64,
    unused: AtomicU64,
    decode_ms: AtomicU64,
    queue_ms: AtomicU64,
    max_urgent_queue_ms: AtomicU64,
}

struct Shared {
    queue: Mutex<Queue>,
    ready: Condvar,
    counters: Counters,
    max_batch: usize,
}

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    stopped: bool,
}

// The service's last clone going away stops the workers once the queue is empty.
struct Owner(Arc<Shared>);

impl Drop for Owner {
    fn drop(&mut self) {
        if let Ok(mut q) = self.0.queue.lock() {
            q.stopped = true;
        }
        self.0.ready.notify_all();
    }
}

/// One recognizer shared by many calls: utterances queue up and worker threads take
/// them, urgent ones first (a caller is waiting: the customer's turn has ended), then
/// the others (decodes started at a pause, in case it is the end) oldest first. Engines
/// that decode several streams as one batch (sherpa-onnx) get every waiting job up to
/// `max_batch`; Whisper decodes one at a time, so one worker never holds a queue of jobs
/// another idle worker could have taken. A job whose caller stopped waiting is dropped
/// unseen.
#[derive(Clone)]
pub struct AsrService {
    owner: Arc<Owner>,
    engine: &'static str,
}

impl AsrService {
    /// Starts `workers` threads over one recognizer.
    pub fn start(rec: Recognizer, workers: usize, max_batch: usize) -> AsrService {
        let engine = rec.engine();
        let max_batch = if rec.batches() { max_batch.max(1) } else { 1 };
        let rec = Arc::new(rec);
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            ready: Condvar::new(),
            counters: Counters::default(),
            max_batch,
        });
        for i in 0..workers.max(1) {
            let (rec, shared) = (rec.clone(), shared.clone());
            let spawned = std::thread::Builder::new()
                .name(format!("asr-{i}"))
                .spawn(move || worker(&rec, &shared));
            if let Err(e) = spawned {
                tracing::error!("cannot start ASR worker: {e}");
            }
        }
        AsrService {
            owner: Arc::new(Owner(shared)),
            engine,
        }
    }

    /// Queues an utterance its caller waits for; the answer arrives on the returned
    /// channel.
    pub fn submit(&self, pcm: Vec<f32>) -> TranscriptRx {
        let urgency = Urgency(Arc::new(AtomicBool::new(true)));
        self.enqueue(pcm, urgency)
    }

    /// Queues an utterance nobody waits for yet (a decode started at a pause): urgent
    /// jobs go first; [`Urgency::raise`] once the caller must wait.
    pub fn submit_background(&self, pcm: Vec<f32>) -> (TranscriptRx, Urgency) {
        let urgency = Urgency::default();
        (self.enqueue(pcm, urgency.clone()), urgency)
    }

    fn enqueue(&self, pcm: Vec<f32>, urgency: Urgency) -> TranscriptRx {
        let (reply, rx) = tokio::sync::oneshot::channel();
        let shared = &self.owner.0;
        shared.counters.submitted.fetch_add(1, Ordering::Relaxed);
        let job = Job {
            pcm,
            reply,
            asked: Instant::now(),
            urgent: urgency.0,
        };
        match shared.queue.lock() {
            Ok(mut q) => {
                q.jobs.push_back(job);
                drop(q);
                shared.ready.notify_one();
            }
            Err(_) => {
                let _ = job.reply.send(Err(SpeechError::Stopped));
            }
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

    /// What the workers did so far.
    pub fn stats(&self) -> AsrStats {
        let c = &self.owner.0.counters;
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        AsrStats {
            submitted: g(&c.submitted),
            urgent: g(&c.urgent),
            skipped_stale: g(&c.skipped_stale),
            decoded: g(&c.decoded),
            unused: g(&c.unused),
            decode_ms: g(&c.decode_ms),
            queue_ms: g(&c.queue_ms),
            max_urgent_queue_ms: g(&c.max_urgent_queue_ms),
        }
    }
}

/// Takes the next jobs: urgent ones first, then the oldest; jobs whose caller stopped
/// waiting are dropped on the way. `None` once the service is gone and the queue empty.
fn take(shared: &Shared) -> Option<Vec<Job>> {
    let mut q = shared.queue.lock().ok()?;
    loop {
        let before = q.jobs.len();
        q.jobs.retain(|j| !j.reply.is_closed());
        let dropped = (before - q.jobs.len()) as u64;
        if dropped > 0 {
            shared
                .counters
                .skipped_stale
                .fetch_add(dropped, Ordering::Relaxed);
        }
        if !q.jobs.is_empty() {
            let mut jobs = Vec::new();
            while jobs.len() < shared.max_batch {
                let at = q
                    .jobs
                    .iter()
                    .position(|j| j.urgent.load(Ordering::Relaxed))
                    .unwrap_or(0);
                match q.jobs.remove(at) {
                    Some(j) => jobs.push(j),
                    None => break,
                }
            }
            return Some(jobs);
        }
        if q.stopped {
            return None;
        }
        q = shared.ready.wait(q).ok()?;
    }
}

fn worker(rec: &Recognizer, shared: &Shared) {
    let c = &shared.counters;
    while let Some(jobs) = take(shared) {
        let started = Instant::now();
        let mut queued = Vec::with_capacity(jobs.len());
        for j in &jobs {
            let waited = started.duration_since(j.asked).as_millis() as u64;
            c.queue_ms.fetch_add(waited, Ordering::Relaxed);
            if j.urgent.load(Ordering::Relaxed) {
                c.urgent.fetch_add(1, Ordering::Relaxed);
                c.max_urgent_queue_ms.fetch_max(waited, Ordering::Relaxed);
            }
            queued.push(waited);
        }
        let clips: Vec<&[f32]> = jobs.iter().map(|j| j.pcm.as_slice()).collect();
        let result = rec.transcribe_batch(&clips);
        c.decoded.fetch_add(jobs.len() as u64, Ordering::Relaxed);
        c.decode_ms
            .fetch_add(started.elapsed().as_millis() as u64, Ordering::Relaxed);
        let answer = |j: Job, r: Result<Transcript, SpeechError>| {
            if j.reply.send(r).is_err() {
                c.unused.fetch_add(1, Ordering::Relaxed);
            }
        };
        match result {
            Ok(ts) => {
                for ((j, mut t), q) in jobs.into_iter().zip(ts).zip(queued) {
                    t.queue_ms = q;
                    answer(j, Ok(t));
                }
            }
            Err(e) => {
                for j in jobs {
                    answer(j, Err(e.clone()));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(urgent: bool) -> (Job, TranscriptRx, Urgency) {
        let (reply, rx) = tokio::sync::oneshot::channel();
        let u = Urgency(Arc::new(AtomicBool::new(urgent)));
        let j = Job {
            pcm: vec![urgent as u8 as f32],
            reply,
            asked: Instant::now(),
            urgent: u.0.clone(),
        };
        (j, rx, u)
    }

    fn shared(max_batch: usize, jobs: Vec<Job>) -> Shared {
        Shared {
            queue: Mutex::new(Queue {
                jobs: jobs.into(),
                stopped: true,
            }),
            ready: Condvar::new(),
            counters: Counters::default(),
            max_batch,
        }
    }

    /// Which of the queued jobs each `take` returned, by their position in `all`.
    fn order(s: &Shared, all: &[*const f32]) -> Vec<Vec<usize>> {
        let mut out = Vec::new();
        while let Some(jobs) = take(s) {
            out.push(
                jobs.iter()
                    .map(|j| {
                        all.iter()
                            .position(|p| *p == j.pcm.as_ptr())
                            .unwrap_or(usize::MAX)
                    })
                    .collect(),
            );
        }
        out
    }

    #[test]
    fn urgent_decodes_go_first_and_stale_ones_are_dropped_unseen() {
        let (b0, _r0, _) = job(false);
        let (u1, _r1, _) = job(true);
        let (b2, r2, _) = job(false);
        let (u3, _r3, _) = job(true);
        let (b4, _r4, raise4) = job(false);
        let jobs = vec![b0, u1, b2, u3, b4];
        let ptrs: Vec<*const f32> = jobs.iter().map(|j| j.pcm.as_ptr()).collect();
        // The caller of the third stopped waiting; the fifth's turn ended meanwhile.
        drop(r2);
        raise4.raise();
        let s = shared(1, jobs);
        assert_eq!(order(&s, &ptrs), vec![vec![1], vec![3], vec![4], vec![0]]);
        assert_eq!(s.counters.skipped_stale.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn a_batching_engine_takes_every_waiting_job_up_to_its_batch_urgent_first() {
        let (b0, _r0, _) = job(false);
        let (b1, _r1, _) = job(false);
        let (u2, _r2, _) = job(true);
        let (b3, _r3, _) = job(false);
        let jobs = vec![b0, b1, u2, b3];
        let ptrs: Vec<*const f32> = jobs.iter().map(|j| j.pcm.as_ptr()).collect();
        let s = shared(3, jobs);
        assert_eq!(order(&s, &ptrs), vec![vec![2, 0, 1], vec![3]]);
    }
}
