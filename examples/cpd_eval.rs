//! Runs the call-progress detector over the generated set (`make_set.sh`) and prints per-class
//! precision/recall, the confusion matrix, outcome accuracy and decision times, in four modes:
//! acoustic only with every clip treated as answered ("blind"), the same plus perfect ASR text,
//! acoustic with the SIP stage (early media vs answered) the call path knows, and stage + ASR.
//!
//! `cargo run --release --example cpd_eval -- set [heldout|tune|all] [-v]`
//!
//! `CPD_RATE=16000` feeds every clip upsampled to 16 kHz (as the bot's call path does), so
//! the detector's own 16 -> 8 kHz front end is measured too.

use std::collections::HashMap;
use std::path::Path;
use std::process::ExitCode;
use voxdial::cpd::{AnnouncementKind, Class, CpdConfig, CpdOutcome, Detector, Stage, Verdict};
use voxdial::time::Millis;
use voxdial::Locale;

const CLASSES: [&str; 6] = ["human", "machine", "announcement", "fax", "tone", "silence"];
/// Perfect ASR still needs time to emit a word after it is spoken.
const ASR_LAG_MS: u64 = 300;

struct Clip {
    file: String,
    label: String,
    early: bool,
    split: String,
    pcm: Vec<i16>,
    text: Option<(Locale, u64, u64, String)>,
}

struct Run {
    last: Verdict,
    first_ms: u64,
}

fn class_name(c: Class) -> &'static str {
    match c {
        Class::Human => "human",
        Class::Machine => "machine",
        Class::Announcement(_) => "announcement",
        Class::Fax => "fax",
        Class::Tone(_) => "tone",
        Class::Silence => "silence",
        Class::Undecided => "undecided",
    }
}

fn expected_outcome(label: &str) -> CpdOutcome {
    let (class, kind) = label.split_once('/').unwrap_or((label, ""));
    match (class, kind) {
        ("human", _) => CpdOutcome::Live,
        ("machine", _) => CpdOutcome::Voicemail,
        ("fax", _) | ("tone", "modem") => CpdOutcome::Fax,
        ("announcement", "not_in_service" | "number_changed" | "suspended") => {
            CpdOutcome::BadNumber
        }
        ("announcement", "powered_off") => CpdOutcome::PoweredOff,
        ("announcement", "busy") | ("tone", "busy") => CpdOutcome::Busy,
        ("tone", "ringback") | ("silence", _) => CpdOutcome::NoAnswer,
        _ => CpdOutcome::Unreachable,
    }
}

fn kind_name(k: AnnouncementKind) -> &'static str {
    match k {
        AnnouncementKind::NotInService => "not_in_service",
        AnnouncementKind::PoweredOff => "powered_off",
        AnnouncementKind::Unreachable => "unreachable",
        AnnouncementKind::Busy => "busy",
        AnnouncementKind::Suspended => "suspended",
        AnnouncementKind::NumberChanged => "number_changed",
        AnnouncementKind::Unknown => "unknown",
    }
}

fn load(dir: &Path) -> Result<Vec<Clip>, String> {
    let labels = std::fs::read_to_string(dir.join("labels.tsv")).map_err(|e| e.to_string())?;
    let trans = std::fs::read_to_string(dir.join("transcripts.tsv")).unwrap_or_default();
    let mut texts = HashMap::new();
    for line in trans.lines().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() < 5 {
            continue;
        }
        let (Ok(loc), Ok(s), Ok(e)) = (f[1].parse::<Locale>(), f[2].parse(), f[3].parse()) else {
            continue;
        };
        texts.insert(f[0].to_string(), (loc, s, e, f[4].to_string()));
    }
    let mut clips = Vec::new();
    for line in labels.lines().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() < 3 {
            continue;
        }
        let notes = f[2];
        let note = |k: &str| {
            notes
                .split_whitespace()
                .find_map(|kv| kv.strip_prefix(k))
                .unwrap_or("")
                .to_string()
        };
        let mut r = hound::WavReader::open(dir.join(f[0])).map_err(|e| format!("{}: {e}", f[0]))?;
        let pcm: Vec<i16> = r.samples::<i16>().filter_map(Result::ok).collect();
        clips.push(Clip {
            file: f[0].to_string(),
            label: f[1].to_string(),
            early: note("stage=") == "early",
            split: note("split="),
            pcm,
            text: texts.get(f[0]).cloned(),
        });
    }
    Ok(clips)
}

fn run(clip: &Clip, use_stage: bool, asr: bool) -> Run {
    let stage = if use_stage && clip.early {
        Stage::EarlyMedia
    } else {
        Stage::Answered
    };
    let mut det = match Detector::new(config(), stage) {
        Ok(d) => d,
        Err(e) => panic!("default config is valid: {e}"),
    };
    let tokens: Vec<String> = match &clip.text {
        Some((Locale::ZhCn, _, _, t)) => zh_tokens(t),
        Some((_, _, _, t)) => t.split_whitespace().map(str::to_string).collect(),
        None => Vec::new(),
    };
    let mut sent = 0;
    let mut first_ms = None;
    let (pcm, per_frame) = if det_rate() == 16000 {
        let mut up = Vec::with_capacity(clip.pcm.len() * 2);
        voxdial::media::resample::Upsampler::default().process(&clip.pcm, &mut up);
        (up, 320)
    } else {
        (clip.pcm.clone(), 160)
    };
    for (i, chunk) in pcm.chunks(per_frame).enumerate() {
        let now = (i as u64 + 1) * 20;
        if let Some(v) = det.push(chunk, Millis(now)) {
            first_ms.get_or_insert(v.audio_ms);
        }
        if let (true, Some((loc, start, end, _))) = (asr, &clip.text) {
            let span = end.saturating_sub(*start).max(1);
            let heard = now.saturating_sub(start + ASR_LAG_MS).min(span);
            let k = (tokens.len() as u64 * heard / span) as usize;
            if k > sent {
                let sep = if *loc == Locale::EnUs { " " } else { "" };
                let piece = tokens[sent..k].join(sep);
                sent = k;
                if let Some(v) = det.push_transcript(&piece, *loc, Millis(now)) {
                    first_ms.get_or_insert(v.audio_ms);
                }
            }
        }
    }
    let end = clip.pcm.len() as u64 / 8;
    // The deadline waits for the recogniser's final result on the audio heard so far (the
    // clips are cut short to keep the set small; a real call would run on).
    if let (true, Some((loc, start, stop, _))) = (asr, &clip.text) {
        let span = stop.saturating_sub(*start).max(1);
        let heard = end.saturating_sub(*start).min(span);
        let k = (tokens.len() as u64 * heard / span) as usize;
        if k > sent {
            let sep = if *loc == Locale::EnUs { " " } else { "" };
            det.push_transcript(&tokens[sent..k].join(sep), *loc, Millis(end));
        }
    }
    let last = det.finish(Millis(end));
    Run {
        first_ms: first_ms.unwrap_or(last.audio_ms),
        last,
    }
}

/// Mandarin ASR output arrives a character at a time; embedded English a word at a time.
fn zh_tokens(t: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    for c in t.chars() {
        if c.is_ascii_alphanumeric() || c == '\'' {
            word.push(c);
            continue;
        }
        if !word.is_empty() {
            out.push(std::mem::take(&mut word) + " ");
        }
        if !c.is_whitespace() {
            out.push(c.to_string());
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

/// Defaults, with `CPD_<FIELD>=value` overrides for the timing thresholds (tuning sweeps on the
/// tuning half only).
fn config() -> CpdConfig {
    let mut c = CpdConfig {
        sample_rate_hz: det_rate(),
        ..CpdConfig::default()
    };
    let get = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u64>().ok());
    if let Some(v) = get("CPD_MAX_GREETING_MS") {
        c.max_greeting_ms = v;
    }
    if let Some(v) = get("CPD_AFTER_GREETING_SILENCE_MS") {
        c.after_greeting_silence_ms = v;
    }
    if let Some(v) = get("CPD_BETWEEN_WORDS_MS") {
        c.between_words_ms = v;
    }
    if let Some(v) = get("CPD_MAX_WORDS") {
        c.max_words = v as u32;
    }
    if let Some(v) = get("CPD_EARLY_SPEECH_MS") {
        c.early_speech_ms = v;
    }
    c
}

/// The rate clips are fed at: 8000 (as recorded) or 16000 (`CPD_RATE=16000`).
fn det_rate() -> u32 {
    match std::env::var("CPD_RATE").ok().as_deref() {
        Some("16000") => 16000,
        _ => 8000,
    }
}

fn median(v: &mut [u64]) -> u64 {
    if v.is_empty() {
        return 0;
    }
    v.sort_unstable();
    v[v.len() / 2]
}

fn report(name: &str, clips: &[&Clip], use_stage: bool, asr: bool, verbose: bool) -> usize {
    let mut conf: HashMap<(&str, &str), usize> = HashMap::new();
    let mut outcome_ok = 0;
    let mut kind_ok = 0;
    let mut kind_n = 0;
    let mut times: HashMap<&str, Vec<u64>> = HashMap::new();
    let mut firsts = Vec::new();
    let mut after_greeting = Vec::new();
    let mut lasts = Vec::new();
    let mut correct = 0;
    for c in clips {
        let r = run(c, use_stage, asr);
        let truth = c.label.split('/').next().unwrap_or("");
        let pred = class_name(r.last.class);
        *conf.entry((truth, pred)).or_default() += 1;
        if truth == pred {
            correct += 1;
            times.entry(truth).or_default().push(r.last.audio_ms);
            if let ("human", Some((_, _, end, _))) = (truth, &c.text) {
                after_greeting.push(r.first_ms.saturating_sub(*end));
            }
        }
        firsts.push(r.first_ms);
        lasts.push(r.last.audio_ms);
        if r.last.outcome() == expected_outcome(&c.label) {
            outcome_ok += 1;
        }
        if let (Some(k), Class::Announcement(p)) =
            (c.label.strip_prefix("announcement/"), r.last.class)
        {
            kind_n += 1;
            if kind_name(p) == k {
                kind_ok += 1;
            }
        }
        if verbose && (truth != pred || r.last.outcome() != expected_outcome(&c.label)) {
            println!(
                "  MISS {:<34} {:<28} -> {:?} by {:?} at {} ms (rev {}) {:?}",
                c.file,
                c.label,
                r.last.class,
                r.last.rule,
                r.last.audio_ms,
                r.last.revision,
                r.last.evidence
            );
        }
    }
    println!(
        "\n=== {name}: {} clips, accuracy {}/{} = {:.1}%",
        clips.len(),
        correct,
        clips.len(),
        100.0 * correct as f64 / clips.len().max(1) as f64
    );
    println!(
        "{:<13} {:>5} {:>5} {:>5} {:>6} {:>6} {:>9}",
        "class", "n", "tp", "pred", "P", "R", "med_ms"
    );
    for cl in CLASSES {
        let n: usize = conf
            .iter()
            .filter(|((t, _), _)| *t == cl)
            .map(|(_, v)| v)
            .sum();
        let pred: usize = conf
            .iter()
            .filter(|((_, p), _)| *p == cl)
            .map(|(_, v)| v)
            .sum();
        let tp = conf.get(&(cl, cl)).copied().unwrap_or(0);
        let p = if pred > 0 {
            format!("{:.2}", tp as f64 / pred as f64)
        } else {
            "-".into()
        };
        let r = if n > 0 {
            format!("{:.2}", tp as f64 / n as f64)
        } else {
            "-".into()
        };
        let mut t = times.get(cl).cloned().unwrap_or_default();
        println!(
            "{cl:<13} {n:>5} {tp:>5} {pred:>5} {p:>6} {r:>6} {:>9}",
            median(&mut t)
        );
    }
    let cols: Vec<&str> = CLASSES.iter().copied().chain(["undecided"]).collect();
    print!("confusion (rows truth, cols predicted)\n{:<13}", "");
    for c in &cols {
        print!(" {:>6}", &c[..c.len().min(6)]);
    }
    println!();
    for t in CLASSES {
        print!("{t:<13}");
        for p in &cols {
            print!(" {:>6}", conf.get(&(t, *p)).copied().unwrap_or(0));
        }
        println!();
    }
    println!(
        "dialer outcome correct: {outcome_ok}/{}; announcement kind correct: {kind_ok}/{kind_n}; \
         median decision (all clips): first verdict {} ms, final verdict {} ms; \
         humans: first verdict {} ms after their last word",
        clips.len(),
        median(&mut firsts),
        median(&mut lasts),
        median(&mut after_greeting)
    );
    correct
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = args.first().map(String::as_str).unwrap_or("tests/data/cpd");
    let split = args.get(1).map(String::as_str).unwrap_or("heldout");
    let verbose = args.iter().any(|a| a == "-v");
    let clips = match load(Path::new(dir)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("cannot load set from {dir}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let chosen: Vec<&Clip> = clips
        .iter()
        .filter(|c| split == "all" || c.split == split)
        .collect();
    println!(
        "set {dir}, split {split}: {} of {} clips",
        chosen.len(),
        clips.len()
    );
    // Cost: the acoustic path alone over every chosen clip, single-threaded.
    let t0 = std::time::Instant::now();
    let mut frames = 0u64;
    for c in &chosen {
        frames += c.pcm.len() as u64 / 160;
        std::hint::black_box(run(c, true, false));
    }
    let el = t0.elapsed().as_secs_f64();
    println!(
        "cost: {:.1} s of audio in {:.3} s = {:.0}x real time, {:.1} us per 20 ms frame",
        frames as f64 / 50.0,
        el,
        frames as f64 / 50.0 / el.max(1e-9),
        el * 1e6 / frames.max(1) as f64
    );
    report(
        "A. acoustic, blind (all clips as answered)",
        &chosen,
        false,
        false,
        verbose,
    );
    report(
        "B. A + perfect ASR transcripts",
        &chosen,
        false,
        true,
        verbose,
    );
    report(
        "C. acoustic + SIP stage (early media vs answered)",
        &chosen,
        true,
        false,
        verbose,
    );
    report(
        "D. C + perfect ASR transcripts",
        &chosen,
        true,
        true,
        verbose,
    );
    ExitCode::SUCCESS
}
