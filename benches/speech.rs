//! Speech benchmarks (bench binary): ASR real-time factor for one stream and for N
//! concurrent streams sharing one model, TTS real-time factor and time to first audio,
//! prompt-cache hit latency, and the speech path's turn latency (last voiced sample of
//! the customer to the first sample of the reply, NLU and dialogue engine included).
//!
//! `cargo bench --bench speech` (models from `voxdial models install`). Customer speech
//! is synthesized by our own voices and passed through the call's 8 kHz, so the run is
//! reproducible on any machine.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use voxdial::bot::driver::BotDriver;
use voxdial::bot::pipeline::TurnLatency;
use voxdial::bot::prompts::PromptCache;
use voxdial::dialogue::engine::{with_examples, Conversation};
use voxdial::scenario::library::Library;
use voxdial::speech::asr::{AsrService, Recognizer};
use voxdial::speech::audio::Pcm;
use voxdial::speech::config::SpeechConfig;
use voxdial::speech::mel::LogMel;
use voxdial::speech::smart_turn::{EndOfTurnModel, EndOfTurnService};
use voxdial::speech::tts::{self, Voice};
use voxdial::speech::turn::{EndCause, TurnConfig};
use voxdial::speech::vad::Vad;
use voxdial::time::Millis;
use voxdial::Locale;

const EN: &[&str] = &[
    "Yes, speaking.",
    "Yes, this is me.",
    "I can pay tomorrow.",
    "I already paid last week.",
    "Who is calling, please?",
    "I lost my job and I cannot pay right now.",
    "Can you call me back later?",
    "I want to talk to a real person.",
    "How much do I owe?",
    "I will pay three hundred dollars on Friday.",
    "No, that is not me.",
    "Please stop calling me.",
];

/// The endpointing a turn-latency row runs with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Endpointing {
    /// 500 ms, 300 ms after a finished-sounding partial, 1000 ms after a hesitation.
    Partial300,
    /// One fixed trailing silence.
    Fixed(u32),
    /// voices/speech.yaml as shipped: the end-of-turn model at a short pause.
    Shipped,
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i.min(v.len() - 1)]
}

fn synth(voice: &Voice, text: &str, locale: Locale) -> Pcm {
    let mut all = Vec::new();
    let mut rate = 16000;
    tts::speak(voice, text, locale, |c| {
        rate = c.pcm.rate;
        all.extend_from_slice(&c.pcm.samples);
    })
    .expect("speak");
    // Through the call's 8 kHz, as a customer's voice arrives.
    Pcm { samples: all, rate }
        .at_rate(8000)
        .and_then(|p| p.at_rate(16000))
        .expect("rates")
}

/// Moonshine base-en in sherpa-onnx (the design's first choice for en-US).
const MOONSHINE_EN: &str = "vad: {model: vad/silero_vad.onnx}
tts: {}
asr:
  en-US:
    engine: sherpa_offline
    moonshine:
      encoder: asr/moonshine-base-en/encoder_model.ort
      merged_decoder: asr/moonshine-base-en/decoder_model_merged.ort
    tokens: asr/moonshine-base-en/tokens.txt
";

/// Whisper base (multilingual weights) fixed to English, one thread per decode.
const WHISPER_EN: &str = "vad: {model: vad/silero_vad.onnx}
tts: {}
asr:
  en-US:
    engine: whisper
    model: asr/whisper-base/ggml-base-q8_0.bin
    convert_from: asr/whisper-base
    language: en
    threads: 1
";

fn main() {
    // `cargo test --all-targets` runs bench binaries without `--bench`: nothing to do then.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let models = root.join("data/models");
    let cfg = SpeechConfig::default_config().expect("config");
    // `VOXDIAL_BENCH=asr,turn` runs only those parts (asr, concurrent, tts, cache, turn, zh,
    // calls, eot).
    let only: Vec<String> = std::env::var("VOXDIAL_BENCH")
        .unwrap_or_default()
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    let want = |name: &str| only.is_empty() || only.iter().any(|o| name.contains(o.as_str()));

    if want("eot") {
        // The end-of-turn model's cost per judgement on one thread: Whisper features of
        // the 8 s window, then the inference, on the bench's customer sentences.
        let c = cfg
            .end_of_turn_for(Locale::EnUs)
            .expect("an en-US end-of-turn model in voices/speech.yaml");
        let mut c1 = c.clone();
        c1.threads = 1;
        let mut m = EndOfTurnModel::load(&c1, &models).expect("end-of-turn model");
        let piper0 = Voice::load(cfg.tts_for(Locale::EnUs).expect("tts"), &models).expect("piper");
        let clips: Vec<Pcm> = EN.iter().map(|s| synth(&piper0, s, Locale::EnUs)).collect();
        let lm = LogMel::new(8);
        let (mut total, mut feats) = (Vec::new(), Vec::new());
        for round in 0..6 {
            for p in &clips {
                let t0 = Instant::now();
                let _ = lm.features(&lm.window_of(&p.samples));
                let f = t0.elapsed().as_secs_f64() * 1e3;
                let v = m.predict(&p.samples).expect("predict");
                if round > 0 {
                    feats.push(f);
                    total.push(v.took_ms);
                }
            }
        }
        println!(
            "end-of-turn model (Smart Turn v3.2, 1 thread), {} judgements of an 8 s window: features + inference p50 {:.1} ms p95 {:.1} ms (features alone p50 {:.1} ms)",
            total.len(),
            pct(&mut total.clone(), 0.5),
            pct(&mut total, 0.95),
            pct(&mut feats, 0.5)
        );
    }

    let t = Instant::now();
    let piper =
        Arc::new(Voice::load(cfg.tts_for(Locale::EnUs).expect("tts"), &models).expect("piper"));
    println!(
        "piper voice load: {:.0} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    let espeak =
        Arc::new(Voice::load(cfg.tts_for(Locale::ZhCn).expect("tts"), &models).expect("espeak"));
    let en: Vec<Pcm> = EN.iter().map(|s| synth(&piper, s, Locale::EnUs)).collect();
    let en_audio_s: f64 = en.iter().map(Pcm::seconds).sum();

    // The shipped en-US recognizer and the other one a config line away, side by side.
    let moonshine_cfg = SpeechConfig::parse(MOONSHINE_EN, "bench").expect("moonshine config");
    let whisper_cfg = SpeechConfig::parse(WHISPER_EN, "bench").expect("whisper config");
    let asr_engines: Vec<(&str, &voxdial::speech::config::AsrConfig)> = vec![
        ("shipped", cfg.asr_for(Locale::EnUs).expect("asr")),
        (
            "whisper-base-en",
            whisper_cfg.asr_for(Locale::EnUs).expect("asr"),
        ),
        (
            "moonshine-base-en",
            moonshine_cfg.asr_for(Locale::EnUs).expect("asr"),
        ),
    ];
    let mut services = Vec::new();
    for (label, acfg) in &asr_engines {
        let t = Instant::now();
        let rec = Recognizer::load(acfg, &models).expect("asr");
        println!(
            "en-US recognizer {label} ({}) load: {:.0} ms",
            rec.engine(),
            t.elapsed().as_secs_f64() * 1e3
        );
        let _ = rec.transcribe(&en[0].samples); // warm-up
        if *label == "shipped" {
            // The shipped one is measured under its own name below.
            services.push((*label, AsrService::start(rec, 2, 16)));
            continue;
        }
        if want("asr") {
            let mut ms = Vec::new();
            let t = Instant::now();
            for p in &en {
                let t0 = Instant::now();
                let _ = rec.transcribe(&p.samples).expect("asr");
                ms.push(t0.elapsed().as_secs_f64() * 1e3);
            }
            let wall = t.elapsed().as_secs_f64();
            println!(
                "asr en-US {label}, one stream: {} utterances, {:.1} s audio, RTF {:.3}, per utterance p50 {:.0} ms p95 {:.0} ms",
                en.len(),
                en_audio_s,
                wall / en_audio_s,
                pct(&mut ms.clone(), 0.5),
                pct(&mut ms, 0.95)
            );
        }
        let svc = AsrService::start(rec, 2, 16);
        if want("concurrent") {
            for n in [1usize, 2, 4, 8, 10, 16] {
                let clips: Vec<&Pcm> = (0..n).map(|i| &en[i % en.len()]).collect();
                let audio: f64 = clips.iter().map(|p| p.seconds()).sum::<f64>() / n as f64;
                let t = Instant::now();
                let rx: Vec<_> = clips
                    .iter()
                    .map(|p| svc.submit(p.samples.clone()))
                    .collect();
                for r in rx {
                    let _ = r.blocking_recv();
                }
                let wall = t.elapsed().as_secs_f64();
                println!(
                    "asr en-US {label}, {n:>2} concurrent utterances (mean {audio:.2} s each): all decoded in {wall:.2} s -> {} (aggregate RTF {:.3})",
                    if wall <= audio { "real time" } else { "behind real time" },
                    wall / (audio * n as f64)
                );
            }
        }
        services.push((*label, svc));
    }
    if want("tts") {
        for (name, voice, locale, texts) in [
            ("piper en-US", &piper, Locale::EnUs, &["Hello, this is Anxin Bank calling about your credit card.", "Your payment of three hundred dollars was due on December first. Can you pay it today?"][..]),
            ("espeak zh-CN", &espeak, Locale::ZhCn, &["您好，这里是安心消费金融。", "您本期应还三千五百元，已逾期五天，请问今天能还上吗？"][..]),
        ] {
            let (mut first, mut rtf) = (Vec::new(), Vec::new());
            for _ in 0..3 {
                for text in texts {
                    let t0 = Instant::now();
                    let mut f = None;
                    let mut audio = 0.0;
                    tts::speak(voice, text, locale, |c| {
                        f.get_or_insert(t0.elapsed().as_secs_f64() * 1e3);
                        audio += c.pcm.seconds();
                    })
                    .expect("tts");
                    first.push(f.unwrap_or(f64::NAN));
                    rtf.push(t0.elapsed().as_secs_f64() / audio);
                }
            }
            println!(
                "tts {name}: first audio p50 {:.0} ms p95 {:.0} ms, RTF p50 {:.3}",
                pct(&mut first.clone(), 0.5),
                pct(&mut first, 0.95),
                pct(&mut rtf, 0.5)
            );
        }
    }
    let cache_dir = tempfile_dir();
    let cache = Arc::new(PromptCache::new(&cache_dir, vec![]));
    if want("cache") {
        let text = "Hello, this is Anxin Bank calling about your credit card.";
        let _ = cache.sentence(&piper, Locale::EnUs, text).expect("fill");
        let mut mem = Vec::new();
        for _ in 0..1000 {
            mem.push(cache.sentence(&piper, Locale::EnUs, text).expect("hit").ms);
        }
        let cold = PromptCache::new(&cache_dir, vec![]);
        let disk = cold.sentence(&piper, Locale::EnUs, text).expect("disk").ms;
        println!(
            "prompt cache hit: memory p50 {:.3} ms p95 {:.3} ms; disk (first use in a new process) {:.2} ms; live synthesis of the same sentence ~{:.0} ms",
            pct(&mut mem.clone(), 0.5),
            pct(&mut mem, 0.95),
            disk,
            {
                let t0 = Instant::now();
                let _ = piper.synthesize(text, Locale::EnUs);
                t0.elapsed().as_secs_f64() * 1e3
            }
        );
    }
    if want("turn") {
        let (lib, _) = Library::load(&[root.join("scenarios"), root.join("dialogs")]);
        let lib = Arc::new(lib);
        let scenario = "collection_m1_overdue";
        let t = Instant::now();
        let flows = lib.campaign_flows(scenario);
        let w = cache.warm_flows(flows, &piper, Locale::EnUs).expect("warm");
        println!(
            "prompt cache warm-up en-US: {} prompts, {} sentences synthesized, {} already cached, {:.1} s",
            w.prompts,
            w.synthesized,
            w.cached,
            t.elapsed().as_secs_f64()
        );
        let vars = with_examples(&lib, scenario, &BTreeMap::new());
        let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 22).expect("date");
        let mut lat: Vec<TurnLatency> = Vec::new();
        let engines: Vec<(&str, AsrService)> = services
            .iter()
            .filter(|(l, _)| *l != "shipped")
            .map(|(l, s)| (*l, s.clone()))
            .collect();
        // The shipped end-of-turn model, when the config has one for en-US.
        let end_model = cfg.end_of_turn_for(Locale::EnUs).map(|c| {
            (
                c.clone(),
                EndOfTurnService::start(c, &models).expect("end-of-turn model"),
            )
        });
        for ((engine, svc), endpointing) in engines.iter().flat_map(|e| {
            [
                Endpointing::Partial300,
                Endpointing::Fixed(500),
                Endpointing::Fixed(400),
                Endpointing::Shipped,
            ]
            .map(|t| (e.clone(), t))
        }) {
            if endpointing == Endpointing::Shipped && end_model.is_none() {
                continue;
            }
            let trailing = match endpointing {
                Endpointing::Fixed(t) => Some(t),
                Endpointing::Partial300 | Endpointing::Shipped => None,
            };
            let mut this = Vec::new();
            for (i, p) in en.iter().enumerate() {
                let conv = Conversation::new(lib.clone(), scenario, Locale::EnUs, today, &vars)
                    .expect("conv");
                // None: the shipped endpointing (500 ms, 1000 ms after a hesitation) with
                // the option of 300 ms once the decode started at the pause reads as a
                // finished sentence; Some(t): one fixed trailing silence.
                let mut tc = TurnConfig::for_locale(Locale::EnUs.into());
                if endpointing == Endpointing::Partial300 {
                    tc.complete_trailing_silence_ms = 300;
                }
                if let (Endpointing::Shipped, Some((c, _))) = (endpointing, &end_model) {
                    c.apply(&mut tc);
                }
                if let Some(t) = trailing {
                    tc.trailing_silence_ms = t;
                    tc.complete_trailing_silence_ms = t;
                    tc.unfinished_trailing_silence_ms = t;
                }
                let vad = Vad::for_frames(&cfg.vad, &models).expect("vad");
                let mut bot = BotDriver::new(
                    vad,
                    tc,
                    conv,
                    svc.clone(),
                    cache.clone(),
                    piper.clone(),
                    Locale::EnUs,
                )
                .expect("bot");
                if let (Endpointing::Shipped, Some((_, m))) = (endpointing, &end_model) {
                    bot = bot.with_end_model(m.clone());
                }
                match feed_turn(&mut bot, &voxdial::speech::audio::to_i16(&p.samples)) {
                    Some(t) => this.push(t),
                    None => println!("  utterance {i} ({:?}) produced no reply", EN[i]),
                }
            }
            let mut wall: Vec<f64> = this.iter().map(|(_, w)| *w).collect();
            let spec = this.iter().filter(|(l, _)| l.speculative).count();
            let by_model = this
                .iter()
                .filter(|(l, _)| l.ended_by == EndCause::EndModel)
                .count();
            let this: Vec<TurnLatency> = this.into_iter().map(|(l, _)| l).collect();
            println!(
                "turn latency en-US, {engine} (real-time feed), endpointing {}: last voiced sample -> first reply sample p50 {:.0} ms p95 {:.0} ms; speculative decode used on {spec} of {} turns; ended by the end-of-turn model: {by_model}",
                match endpointing {
                    Endpointing::Partial300 => "500 ms, 300 after a finished-sounding partial, 1000 after a hesitation".to_string(),
                    Endpointing::Fixed(500) => "fixed 500 ms (the silence rule shipped before the end-of-turn model, but for the 1000 ms after a hesitation)".to_string(),
                    Endpointing::Fixed(t) => format!("fixed {t} ms"),
                    Endpointing::Shipped => end_model.as_ref().map_or(String::new(), |(c, _)| format!(
                        "shipped: end-of-turn model asked after {} ms (threshold {}, {} ms when unfinished), else 500 ms",
                        c.pause_ms, c.threshold, c.incomplete_silence_ms
                    )),
                },
                pct(&mut wall.clone(), 0.5),
                pct(&mut wall, 0.95),
                this.len()
            );
            let mut total: Vec<f64> = this.iter().map(|l| l.total_ms).collect();
            let mut asr: Vec<f64> = this.iter().map(|l| l.asr_ms).collect();
            let mut tts_ms: Vec<f64> = this.iter().map(|l| l.tts_first_ms).collect();
            let ep: Vec<f64> = this.iter().map(|l| l.endpoint_ms as f64).collect();
            println!(
                "  breakdown, {} turns: endpoint mean {:.0} ms + ASR wait at the endpoint p50 {:.0} ms p95 {:.0} ms + first reply audio p50 {:.1} ms (sum p50 {:.0} ms p95 {:.0} ms)",
                this.len(),
                ep.iter().sum::<f64>() / ep.len().max(1) as f64,
                pct(&mut asr.clone(), 0.5),
                pct(&mut asr, 0.95),
                pct(&mut tts_ms, 0.5),
                pct(&mut total.clone(), 0.5),
                pct(&mut total, 0.95),
            );
            lat.extend(this);
        }
        if std::env::var_os("VOXDIAL_BENCH_JSON").is_some() {
            for l in &lat {
                println!("{}", serde_json::to_string(l).unwrap_or_default());
            }
        }
    }
    if want("zh") {
        // Mandarin turns: the shipped zh-CN recognizer (Whisper, language fixed) on the
        // test clips of tests/data/whisper_clips (espeak-ng Mandarin, 1-4 s). Their words are
        // poorly recognized (see the note in ARCHITECTURE.md), so this measures time only.
        let zh_svc = AsrService::start(
            Recognizer::load(cfg.asr_for(Locale::ZhCn).expect("asr"), &models).expect("asr"),
            2,
            4,
        );
        let (lib, _) = Library::load(&[root.join("scenarios"), root.join("dialogs")]);
        let lib = Arc::new(lib);
        let scenario = "collection_m1_overdue";
        let vars = with_examples(&lib, scenario, &BTreeMap::new());
        let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 22).expect("date");
        let mut wall = Vec::new();
        let mut longest: f64 = 0.0;
        for k in 1..=16 {
            let path = root.join(format!("tests/data/whisper_clips/zh{k:02}.wav"));
            let Ok(clip) = voxdial::speech::audio::load_wav(&path) else {
                continue;
            };
            let clip = clip
                .at_rate(8000)
                .and_then(|p| p.at_rate(16000))
                .expect("rates");
            longest = longest.max(clip.seconds());
            let conv =
                Conversation::new(lib.clone(), scenario, Locale::ZhCn, today, &vars).expect("conv");
            let vad = Vad::for_frames(&cfg.vad, &models).expect("vad");
            let tc = TurnConfig::for_locale(Locale::ZhCn.into());
            let mut bot = BotDriver::new(
                vad,
                tc,
                conv,
                zh_svc.clone(),
                cache.clone(),
                espeak.clone(),
                Locale::ZhCn,
            )
            .expect("bot");
            match feed_turn(&mut bot, &voxdial::speech::audio::to_i16(&clip.samples)) {
                Some((_, w)) => wall.push(w),
                None => println!("  zh{k:02} produced no reply"),
            }
        }
        println!(
            "turn latency zh-CN, whisper (real-time feed), {} turns of up to {longest:.1} s: last voiced sample -> first reply sample p50 {:.0} ms p95 {:.0} ms",
            wall.len(),
            pct(&mut wall.clone(), 0.5),
            pct(&mut wall, 0.95)
        );
    }
    if want("calls") {
        // Concurrent calls rather than concurrent utterances: each call's customer says
        // three of the utterances with the bot's turn (4 s) between them, in real time, on
        // its own thread; calls start staggered. The question is how many calls the shared
        // recognizer carries before turn latency leaves its budget.
        let (lib, _) = Library::load(&[root.join("scenarios"), root.join("dialogs")]);
        let lib = Arc::new(lib);
        let scenario = "collection_m1_overdue";
        let flows = lib.campaign_flows(scenario);
        cache.warm_flows(flows, &piper, Locale::EnUs).expect("warm");
        let vars = with_examples(&lib, scenario, &BTreeMap::new());
        let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 22).expect("date");
        let svc = services
            .iter()
            .find(|(l, _)| *l == "shipped")
            .map(|(_, s)| s.clone())
            .expect("shipped recognizer");
        let clips: Arc<Vec<Vec<i16>>> = Arc::new(
            en.iter()
                .map(|p| voxdial::speech::audio::to_i16(&p.samples))
                .collect(),
        );
        // `VOXDIAL_BENCH_CALLS=1,10` picks the call counts.
        let counts: Vec<usize> = std::env::var("VOXDIAL_BENCH_CALLS")
            .ok()
            .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
            .unwrap_or_else(|| vec![1, 4, 8, 10, 12, 16]);
        let pool =
            voxdial::bot::synth::SynthPool::start(cache.clone(), piper.clone(), Locale::EnUs, 2, 1);
        for n in counts {
            let handles: Vec<_> = (0..n)
                .map(|c| {
                    let (lib, vars, svc, cache, piper, clips, pool) = (
                        lib.clone(),
                        vars.clone(),
                        svc.clone(),
                        cache.clone(),
                        piper.clone(),
                        clips.clone(),
                        pool.clone(),
                    );
                    let models = models.clone();
                    let vad_cfg = cfg.vad.clone();
                    std::thread::spawn(move || {
                        let conv = Conversation::new(lib, scenario, Locale::EnUs, today, &vars)
                            .expect("conv");
                        let vad = Vad::for_frames(&vad_cfg, &models).expect("vad");
                        let tc = TurnConfig::for_locale(Locale::EnUs.into());
                        let mut bot =
                            BotDriver::new(vad, tc, conv, svc, cache, piper, Locale::EnUs)
                                .expect("bot")
                                .with_synthesis(pool);
                        // Ringing: the customer's sentences are voiced meanwhile.
                        if let Some(t) = bot.prefetch() {
                            t.wait();
                        }
                        let _ = bot.start(Millis(0));
                        let _ = bot.playback_finished(Millis(0));
                        let silence = vec![0i16; 320];
                        let mut frames: Vec<&[i16]> = Vec::new();
                        let mut last_voiced = Vec::new();
                        let lead = (c * 173) % 2000 / 20 + 10;
                        frames.extend(std::iter::repeat_n(&silence[..], lead));
                        for k in 0..3 {
                            let clip = &clips[(c * 3 + k) % clips.len()];
                            frames.extend(clip.chunks(320));
                            let lv = frames
                                .iter()
                                .rposition(|f| voxdial::speech::turn::frame_energy_db(f) > -45.0)
                                .unwrap_or(0);
                            last_voiced.push(lv);
                            frames.extend(std::iter::repeat_n(&silence[..], 200));
                        }
                        let t0 = Instant::now();
                        let mut voiced_at: Option<Instant> = None;
                        let mut waits = Vec::new();
                        for (k, f) in frames.iter().enumerate() {
                            let due = t0 + std::time::Duration::from_millis(20 * (k as u64 + 1));
                            if let Some(w) = due.checked_duration_since(Instant::now()) {
                                std::thread::sleep(w);
                            }
                            if last_voiced.contains(&k) {
                                voiced_at = Some(Instant::now());
                            }
                            let outs = bot
                                .push_inbound(Millis(20 * (k as u64 + 1)), f)
                                .expect("push");
                            let plays = outs
                                .iter()
                                .any(|o| matches!(o, voxdial::bot::pipeline::Output::Play { .. }));
                            if plays {
                                if let Some(v) = voiced_at.take() {
                                    waits.push(v.elapsed().as_secs_f64() * 1e3);
                                }
                                // The bot's prompt is taken as played at once.
                                let _ = bot.playback_finished(Millis(20 * (k as u64 + 1)));
                            }
                        }
                        if std::env::var_os("VOXDIAL_BENCH_JSON").is_some() {
                            for l in bot.latencies() {
                                println!("{}", serde_json::to_string(l).unwrap_or_default());
                            }
                        }
                        waits
                    })
                })
                .collect();
            let mut all: Vec<f64> = handles
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_default())
                .collect();
            if std::env::var_os("VOXDIAL_BENCH_JSON").is_some() {
                println!("{}", serde_json::to_string(&all).unwrap_or_default());
            }
            let answered = all.len();
            println!(
                "concurrent calls en-US (shipped recognizer), {n:>2} calls x 3 turns: {answered} replies after the customer's last word (a turn that ended the conversation or was cut at a pause has none); turn latency p50 {:.0} ms p95 {:.0} ms",
                pct(&mut all.clone(), 0.5),
                pct(&mut all, 0.95)
            );
        }
    }
    let _ = std::fs::remove_dir_all(&cache_dir);
}

/// Feed one customer utterance to a fresh bot in real time (one frame every 20 ms of wall
/// clock, as from the media worker, so a decode started at the pause really runs during the
/// silence): the turn's latency record and the wall time from the frame holding the clip's
/// last voiced sample (above -45 dBFS) to the first reply audio.
fn feed_turn(bot: &mut BotDriver, pcm: &[i16]) -> Option<(TurnLatency, f64)> {
    // No synthesis ahead here (a fresh bot per turn, no ringing): a reply whose first
    // sentence names the customer is voiced live, the worst case. `calls` voices ahead.
    let _ = bot.start(Millis(0)).expect("start");
    let _ = bot.playback_finished(Millis(0));
    let silence = vec![0i16; 320];
    let frames: Vec<&[i16]> = std::iter::repeat_n(&silence[..], 15)
        .chain(pcm.chunks(320))
        .chain(std::iter::repeat_n(&silence[..], 100))
        .collect();
    let last_voiced = frames
        .iter()
        .rposition(|f| voxdial::speech::turn::frame_energy_db(f) > -45.0)
        .unwrap_or(0);
    let t0 = Instant::now();
    let mut voiced_at = None;
    let mut wire = None;
    for (k, f) in frames.iter().enumerate() {
        let due = t0 + std::time::Duration::from_millis(20 * (k as u64 + 1));
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        if k == last_voiced {
            voiced_at = Some(Instant::now());
        }
        let outs = bot
            .push_inbound(Millis(20 * (k as u64 + 1)), f)
            .expect("push");
        if wire.is_none() && k >= last_voiced {
            let plays = outs
                .iter()
                .any(|o| matches!(o, voxdial::bot::pipeline::Output::Play { .. }));
            if plays {
                wire = voiced_at.map(|v: Instant| v.elapsed().as_secs_f64() * 1e3);
            }
        }
    }
    Some((bot.latencies().first()?.clone(), wire?))
}

fn tempfile_dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("voxdial-speech-bench-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&d);
    d
}
