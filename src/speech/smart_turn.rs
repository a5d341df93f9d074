//! The end-of-turn model: Smart Turn v3 (Pipecat's, BSD-2-Clause), an audio-only
//! classifier over Whisper encoder features that says whether a speaker has finished their
//! turn. The turn controller asks it at a short pause (`speech::turn`, `PredictEnd`), so a
//! finished answer is taken after ~200 ms of silence instead of the full endpoint, and a
//! sentence paused in the middle ("I will pay three hundred dollars ... on Friday") is
//! waited for.
//!
//! The model takes the last 8 s of 16 kHz audio, zero-padded at the front, as Whisper
//! log-mel features ([`super::mel`]) and returns the probability that the turn is
//! complete. It runs in the onnxruntime that sherpa-onnx already loaded (the `ort` crate
//! with `load-dynamic`, pointed at the same library), one session per worker thread of an
//! [`EndOfTurnService`] shared by every call, so no call's media or bot thread runs it.

use std::path::Path;
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::time::Instant;

use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use ort::value::TensorRef;

use super::config::{model_file, EndOfTurnConfig, ModelKind};
use super::mel::{LogMel, N_MELS};
use super::SpeechError;

/// Seconds of audio the model looks at.
pub const WINDOW_S: usize = 8;

/// A loaded end-of-turn model (one onnxruntime session; not shared between threads).
pub struct EndOfTurnModel {
    session: Session,
    mel: LogMel,
    path: String,
}

impl std::fmt::Debug for EndOfTurnModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndOfTurnModel")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// One model's answer, with what it cost.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EndVerdict {
    /// Probability that the speaker has finished, 0..=1.
    pub probability: f32,
    /// Wall time of the features and the inference.
    pub took_ms: f64,
}

fn model_err<'a>(path: &'a str, what: &'static str) -> impl FnOnce(ort::Error) -> SpeechError + 'a {
    move |e| SpeechError::EndModel {
        path: path.to_string(),
        what,
        source: Arc::new(e),
    }
}

/// Makes `ort` use the onnxruntime the process already has (sherpa-onnx links it, so it
/// is loaded at start-up and a second copy would only double the memory). `ort` panics
/// when it cannot load a runtime; that becomes an error here.
fn runtime() -> Result<(), SpeechError> {
    static READY: OnceLock<Result<(), String>> = OnceLock::new();
    READY
        .get_or_init(|| {
            std::panic::catch_unwind(|| {
                // By soname: the dynamic loader hands back the library already mapped.
                ort::init_from("libonnxruntime.so")
                    .with_name("voxdial")
                    .commit()
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            })
            .unwrap_or_else(|_| Err("onnxruntime could not be loaded".into()))
        })
        .clone()
        .map_err(|why| SpeechError::Model {
            path: "libonnxruntime.so".into(),
            why,
        })
}

impl EndOfTurnModel {
    /// Loads the model named by the config (checked first, so a bad path names itself)
    /// with `threads` threads for one inference.
    pub fn load(cfg: &EndOfTurnConfig, models: &Path) -> Result<EndOfTurnModel, SpeechError> {
        let file = model_file(models, &cfg.model, ModelKind::Onnx)?;
        let path = file.display().to_string();
        runtime()?;
        let threads = usize::try_from(cfg.threads.max(1)).unwrap_or(1);
        let session = std::panic::catch_unwind(|| {
            Session::builder()
                .and_then(|b| b.with_optimization_level(GraphOptimizationLevel::Level3))
                .and_then(|b| b.with_intra_threads(threads))
                .and_then(|b| b.with_inter_threads(1))
                .and_then(|b| b.commit_from_file(&file))
        })
        .map_err(|_| SpeechError::Model {
            path: path.clone(),
            why: "onnxruntime failed while loading it".into(),
        })?
        .map_err(model_err(&path, "cannot load it"))?;
        let input_ok = session.inputs.iter().any(|i| i.name == "input_features");
        if !input_ok || session.outputs.is_empty() {
            return Err(SpeechError::Model {
                path,
                why: "not an end-of-turn model (no `input_features` input)".into(),
            });
        }
        Ok(EndOfTurnModel {
            session,
            mel: LogMel::new(WINDOW_S),
            path,
        })
    }

    /// The probability that the speaker has finished, from the end of `audio` (16 kHz;
    /// only the last 8 s count, less is zero-padded at the front).
    pub fn predict(&mut self, audio: &[f32]) -> Result<EndVerdict, SpeechError> {
        let t0 = Instant::now();
        let window = self.mel.window_of(audio);
        let features = self.mel.features(&window);
        let shape = [1usize, N_MELS, self.mel.frames()];
        let path = self.path.clone();
        let input = TensorRef::from_array_view((shape, features.as_slice()))
            .map_err(model_err(&path, "cannot build its input"))?;
        let outputs = self
            .session
            .run(ort::inputs!["input_features" => input])
            .map_err(model_err(&path, "inference failed"))?;
        let (_, values) = outputs[0]
            .try_extract_tensor::<f32>()
            .map_err(model_err(&path, "unexpected output"))?;
        let p = values.first().copied().ok_or_else(|| SpeechError::Model {
            path: path.clone(),
            why: "empty output".into(),
        })?;
        if !p.is_finite() {
            return Err(SpeechError::Model {
                path,
                why: format!("output {p} is not a probability"),
            });
        }
        Ok(EndVerdict {
            probability: p.clamp(0.0, 1.0),
            took_ms: t0.elapsed().as_secs_f64() * 1e3,
        })
    }
}

/// The answer channel of one [`EndOfTurnService::submit`].
pub type VerdictReply = mpsc::Receiver<Result<EndVerdict, SpeechError>>;

type Job = (Vec<f32>, mpsc::Sender<Result<EndVerdict, SpeechError>>);

/// The end-of-turn model behind worker threads, shared by every call of a process: each
/// worker owns a session, calls queue their requests, nobody's media or bot thread runs
/// the model.
#[derive(Clone)]
pub struct EndOfTurnService {
    jobs: mpsc::Sender<Job>,
}

impl std::fmt::Debug for EndOfTurnService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndOfTurnService").finish_non_exhaustive()
    }
}

impl EndOfTurnService {
    /// Loads one session per worker (the config's `workers`) and starts them; they stop
    /// when the last clone of the service is dropped.
    pub fn start(cfg: &EndOfTurnConfig, models: &Path) -> Result<EndOfTurnService, SpeechError> {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..cfg.workers.max(1) {
            let mut model = EndOfTurnModel::load(cfg, models)?;
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("end-of-turn-{i}"))
                .spawn(move || loop {
                    let job = match rx.lock() {
                        Ok(r) => r.recv(),
                        Err(_) => return,
                    };
                    let Ok((pcm, reply)) = job else {
                        return;
                    };
                    // The caller may have stopped waiting (the call ended): nothing to do.
                    let _ = reply.send(model.predict(&pcm));
                })
                .map_err(|e| SpeechError::Model {
                    path: cfg.model.display().to_string(),
                    why: format!("cannot start a worker thread: {e}"),
                })?;
        }
        Ok(EndOfTurnService { jobs: tx })
    }

    /// Queues one judgement of the end of `pcm` (16 kHz); the answer comes on the
    /// returned channel (an error if the workers are gone).
    pub fn submit(&self, pcm: Vec<f32>) -> VerdictReply {
        let (tx, rx) = mpsc::channel();
        if let Err(mpsc::SendError((_, tx))) = self.jobs.send((pcm, tx)) {
            let _ = tx.send(Err(SpeechError::Stopped));
        }
        rx
    }
}
