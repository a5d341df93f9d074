//! Accuracy and latency of the Whisper recognizer on clips/clips.tsv.
//!
//! `cargo run --release --example whisper_eval -- [--model FILE] [--clips DIR]
//!     [--threads 1,2] [--ctx full,32,64,128] [--reps 1] [--concurrent 1] [--verbose]
//!     [--only <file prefix>] [--temps 0,0.2,0.4] [--auto]`
//!
//! `--flash` / `--no-flash` override the config's flash attention (default off).
//! `--auto` runs every clip through one recognizer with language detection (zh or en) instead.
//!
//! `--ctx` values: `full` (30 s window) or a margin in encoder positions for the scaled rule
//! (50 positions per second of audio + margin, min 128, multiple of 32). Prints one line per clip
//! with --verbose, and a summary per setting: Mandarin CER, English WER (punctuation ignored),
//! non-speech clips rejected, latency p50/p95/max, RTF, and peak RSS.
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use voxdial::speech::whisper::{AudioCtx, Transcript, WhisperConfig, WhisperRecognizer};

struct Clip {
    file: String,
    locale: String,
    reference: String,
    pcm: Vec<f32>,
}

fn load_clips(dir: &Path) -> Result<Vec<Clip>, Box<dyn std::error::Error>> {
    let tsv = std::fs::read_to_string(dir.join("clips.tsv"))?;
    let mut clips = Vec::new();
    for line in tsv.lines().filter(|l| !l.trim().is_empty()) {
        let mut f = line.splitn(3, '\t');
        let file = f.next().unwrap_or_default().to_string();
        let locale = f.next().unwrap_or_default().to_string();
        let reference = f.next().unwrap_or_default().to_string();
        let mut r = hound::WavReader::open(dir.join(&file))?;
        let spec = r.spec();
        if spec.sample_rate != 16_000 || spec.channels != 1 || spec.bits_per_sample != 16 {
            return Err(format!("{file}: need 16 kHz mono 16-bit, got {spec:?}").into());
        }
        let pcm = r
            .samples::<i16>()
            .map(|s| s.map(|v| v as f32 / 32768.0))
            .collect::<Result<Vec<_>, _>>()?;
        clips.push(Clip {
            file,
            locale,
            reference,
            pcm,
        });
    }
    Ok(clips)
}

fn edit_distance<T: PartialEq>(a: &[T], b: &[T]) -> usize {
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, x) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, y) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(x != y))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

fn chars(s: &str) -> Vec<char> {
    s.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(|c| c.to_lowercase())
        .collect()
}

fn words(s: &str) -> Vec<String> {
    s.split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .filter(|w| !w.is_empty())
        .map(|w| w.to_lowercase())
        .collect()
}

fn rss_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Process CPU time (user + system) in ms, from /proc (100 Hz ticks). With --concurrent 1 the
/// per-clip difference is the CPU one decode cost, which the shared machine's load does not inflate.
fn cpu_ms() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let rest = s.rsplit_once(')')?.1.to_string();
            let f: Vec<&str> = rest.split_whitespace().collect();
            let u: f64 = f.get(11)?.parse().ok()?;
            let k: f64 = f.get(12)?.parse().ok()?;
            Some((u + k) * 10.0)
        })
        .unwrap_or(0.0)
}

fn load_avg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error")),
        )
        .with_writer(std::io::stderr)
        .init();
    let mut model = PathBuf::from("data/models/asr/whisper-base/ggml-base-q8_0.bin");
    let mut clips_dir = PathBuf::from("tests/data/whisper_clips");
    let mut threads = vec![1usize, 2];
    let mut ctxs = vec!["full".to_string(), "64".to_string()];
    let mut reps = 1usize;
    let mut concurrent = 1usize;
    let mut verbose = false;
    let mut only = String::new();
    let mut auto = false;
    let mut flash: Option<bool> = None;
    let mut temps: Option<Vec<f32>> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--model" => model = PathBuf::from(val()?),
            "--clips" => clips_dir = PathBuf::from(val()?),
            "--threads" => {
                threads = val()?
                    .split(',')
                    .map(str::parse)
                    .collect::<Result<_, _>>()?
            }
            "--ctx" => ctxs = val()?.split(',').map(str::to_string).collect(),
            "--reps" => reps = val()?.parse()?,
            "--concurrent" => concurrent = val()?.parse()?,
            "--verbose" => verbose = true,
            "--only" => only = val()?,
            "--auto" => auto = true,
            "--no-flash" => flash = Some(false),
            "--flash" => flash = Some(true),
            "--temps" => {
                temps = Some(
                    val()?
                        .split(',')
                        .map(str::parse)
                        .collect::<Result<_, _>>()?,
                )
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let mut clips = load_clips(&clips_dir)?;
    clips.retain(|c| c.file.starts_with(only.as_str()) || c.locale == "none");
    let clips = Arc::new(clips);
    println!(
        "{} clips, model {}, reps {reps}, concurrent {concurrent}",
        clips.len(),
        model.display()
    );
    println!(
        "{:<8} {:>3} {:>6} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>6} {:>9}",
        "lang", "thr", "ctx", "err%", "rejects", "p50ms", "p95ms", "maxms", "RTF", "conc", "rss MB"
    );
    for &thr in &threads {
        for ctx in &ctxs {
            let audio_ctx = if ctx == "full" {
                AudioCtx::Full
            } else {
                AudioCtx::Scaled {
                    positions_per_second: 50.0,
                    margin: ctx.parse()?,
                    min: 128,
                    multiple: 32,
                }
            };
            let langs: &[&str] = if auto { &["auto"] } else { &["zh", "en"] };
            for &lang in langs {
                let mut cfg = match lang {
                    "zh" => WhisperConfig::mandarin(&model),
                    "en" => WhisperConfig::english(&model),
                    _ => WhisperConfig {
                        language: None,
                        ..WhisperConfig::mandarin(&model)
                    },
                };
                cfg.threads = thr;
                cfg.audio_ctx = audio_ctx;
                cfg.max_concurrent = concurrent;
                if let Some(f) = flash {
                    cfg.flash_attn = f;
                }
                if let Some(t) = &temps {
                    cfg.temperatures = t.clone();
                }
                let rec = Arc::new(WhisperRecognizer::load(cfg)?);
                let locale = match lang {
                    "zh" => "zh-CN",
                    "en" => "en-US",
                    _ => "any",
                };
                // The language's clips plus the non-speech ones.
                let idx: Vec<usize> = (0..clips.len())
                    .filter(|&i| {
                        locale == "any" || clips[i].locale == locale || clips[i].locale == "none"
                    })
                    .collect();
                if idx.iter().all(|&i| clips[i].locale == "none") {
                    continue;
                }
                // Warm-up so one-time allocations do not count as latency.
                let _ = rec.transcribe(&clips[idx[0]].pcm)?;
                let results = std::sync::Mutex::new(Vec::<(usize, Transcript, f64, f64)>::new());
                let wall = Instant::now();
                std::thread::scope(|s| -> Result<(), String> {
                    let mut handles = Vec::new();
                    for worker in 0..concurrent {
                        let rec = Arc::clone(&rec);
                        let clips = Arc::clone(&clips);
                        let idx = idx.clone();
                        let results = &results;
                        handles.push(s.spawn(move || -> Result<(), String> {
                            for rep in 0..reps {
                                for (k, &i) in idx.iter().enumerate() {
                                    if (k + rep) % concurrent != worker {
                                        continue;
                                    }
                                    let t = Instant::now();
                                    let c0 = cpu_ms();
                                    let tr =
                                        rec.transcribe(&clips[i].pcm).map_err(|e| e.to_string())?;
                                    let ms = t.elapsed().as_secs_f64() * 1000.0;
                                    let cpu = cpu_ms() - c0;
                                    results
                                        .lock()
                                        .map_err(|_| "poisoned".to_string())?
                                        .push((i, tr, ms, cpu));
                                }
                            }
                            Ok(())
                        }));
                    }
                    for h in handles {
                        h.join().map_err(|_| "worker panicked".to_string())??;
                    }
                    Ok(())
                })?;
                let wall_s = wall.elapsed().as_secs_f64();
                let results = results.into_inner().map_err(|_| "poisoned")?;
                let (mut errs, mut total, mut rejects, mut none_total, mut none_rejected) =
                    (0usize, 0usize, 0usize, 0usize, 0usize);
                let mut raw_errs = 0usize;
                let (mut lang_ok, mut lang_n) = (0usize, 0usize);
                let mut lat = Vec::new();
                let mut cpus = Vec::new();
                let mut audio_s = 0.0;
                for (i, tr, ms, cpu) in &results {
                    let c = &clips[*i];
                    if c.locale == "none" {
                        none_total += 1;
                        none_rejected += usize::from(tr.rejected.is_some());
                    } else {
                        lat.push(*ms);
                        cpus.push(*cpu);
                        audio_s += c.pcm.len() as f64 / 16_000.0;
                        rejects += usize::from(tr.rejected.is_some());
                        let raw = if tr.rejected.is_some() {
                            &tr.candidate
                        } else {
                            &tr.text
                        };
                        lang_n += 1;
                        lang_ok += usize::from(c.locale.starts_with(tr.language.as_str()));
                        let (e, raw_e, n) = if c.locale == "zh-CN" {
                            let (r, h, hr) = (chars(&c.reference), chars(&tr.text), chars(raw));
                            (edit_distance(&r, &h), edit_distance(&r, &hr), r.len())
                        } else {
                            let (r, h, hr) = (words(&c.reference), words(&tr.text), words(raw));
                            (edit_distance(&r, &h), edit_distance(&r, &hr), r.len())
                        };
                        errs += e;
                        raw_errs += raw_e;
                        total += n;
                    }
                    if verbose {
                        println!(
                            "  {:<22} {:>5.0}ms cpu={:>5.0}ms ctx={:<4} t={:.1} lp={:>6.2} nsp={:.2} {:?} -> {:?}{}",
                            c.file,
                            ms,
                            cpu,
                            tr.audio_ctx,
                            tr.temperature,
                            tr.avg_logprob,
                            tr.no_speech_prob,
                            c.reference,
                            tr.text,
                            tr.rejected
                                .as_ref()
                                .map(|r| format!(" REJECTED({r}; said {:?})", tr.candidate))
                                .unwrap_or_default()
                        );
                    }
                }
                lat.sort_by(f64::total_cmp);
                cpus.sort_by(f64::total_cmp);
                let busy_ms: f64 = lat.iter().sum();
                println!(
                    "{:<8} {:>3} {:>6} {:>6.1}% {:>3}/{:<3} {:>7.0} {:>7.0} {:>7.0} {:>7.3} {:>6} {:>9.0}   cpu p50 {:.0} p95 {:.0} ms, err% before guards {:.1}%, language right {}/{} (speech rejected {rejects}, non-speech rejected {none_rejected}/{none_total}, wall {wall_s:.1}s, load {})",
                    lang,
                    thr,
                    ctx,
                    100.0 * errs as f64 / total.max(1) as f64,
                    none_rejected,
                    none_total,
                    pct(&lat, 50.0),
                    pct(&lat, 95.0),
                    lat.last().copied().unwrap_or(0.0),
                    busy_ms / 1000.0 / audio_s.max(1e-9),
                    concurrent,
                    rss_kb("VmHWM:") as f64 / 1024.0,
                    pct(&cpus, 50.0),
                    pct(&cpus, 95.0),
                    100.0 * raw_errs as f64 / total.max(1) as f64,
                    lang_ok,
                    lang_n,
                    load_avg(),
                );
            }
        }
    }
    Ok(())
}
