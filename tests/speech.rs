//! The speech path with the real models (installed by scripts/setup.sh): a Piper voice
//! heard back by the recognizer, the espeak-ng Mandarin voice, the prompt cache and
//! recorded packs, and config errors that name the bad model.
#![cfg(feature = "speech")]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use voxdial::bot::prompts::{PromptCache, Source};
use voxdial::speech::asr::{AsrService, Recognizer};
use voxdial::speech::audio::{self, Pcm};
use voxdial::speech::config::{AsrConfig, SpeechConfig, TransducerFiles};
use voxdial::speech::tts::{self, Voice};
use voxdial::speech::SpeechError;
use voxdial::Locale;

fn models() -> PathBuf {
    let m = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/models");
    assert!(
        m.join("vad/silero_vad.onnx").is_file(),
        "speech models missing: run scripts/setup.sh (or voxdial models install)"
    );
    m
}

fn cfg() -> SpeechConfig {
    SpeechConfig::default_config().expect("config")
}

fn say(voice: &Voice, text: &str, locale: Locale) -> Pcm {
    let mut all = Vec::new();
    let mut rate = 0;
    tts::speak(voice, text, locale, |c| {
        rate = c.pcm.rate;
        all.extend_from_slice(&c.pcm.samples);
    })
    .expect("speak");
    Pcm { samples: all, rate }
}

fn words(s: &str) -> Vec<String> {
    s.to_lowercase()
        .split(|c: char| !c.is_alphanumeric() && c != '\'')
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn piper_speech_is_heard_back_by_the_recognizer_through_the_call_rate() {
    let m = models();
    let c = cfg();
    let voice = Voice::load(c.tts_for(Locale::EnUs).expect("tts"), &m).expect("piper");
    let text = "Yes, I can pay the full amount tomorrow morning.";
    // Through 8 kHz, as on a call, then up to the recognizer's 16 kHz.
    let pcm = say(&voice, text, Locale::EnUs)
        .at_rate(8000)
        .and_then(|p| p.at_rate(16000))
        .expect("rates");
    assert!(
        pcm.seconds() > 1.5 && pcm.seconds() < 6.0,
        "{}",
        pcm.seconds()
    );
    let segs = voxdial::speech::vad::segment(&c.vad, &m, &pcm.samples).expect("vad");
    assert!(!segs.is_empty(), "VAD found no speech");
    let rec = Recognizer::load(c.asr_for(Locale::EnUs).expect("asr"), &m).expect("moonshine");
    let heard: Vec<String> = segs
        .iter()
        .flat_map(|s| words(&rec.transcribe(&s.samples).expect("asr").text))
        .collect();
    let want = words(text);
    let hits = want.iter().filter(|w| heard.contains(w)).count();
    assert!(hits * 10 >= want.len() * 8, "heard {heard:?} for {want:?}");
    // Silence is not speech.
    let quiet = vec![0.0f32; 16000 * 2];
    assert!(voxdial::speech::vad::segment(&c.vad, &m, &quiet)
        .expect("vad")
        .is_empty());
}

#[test]
fn shared_service_answers_concurrent_utterances_in_order_of_submission() {
    let m = models();
    let c = cfg();
    let voice = Voice::load(c.tts_for(Locale::EnUs).expect("tts"), &m).expect("piper");
    let a = say(&voice, "I already paid.", Locale::EnUs)
        .at_rate(16000)
        .expect("a");
    let b = say(&voice, "Who is calling?", Locale::EnUs)
        .at_rate(16000)
        .expect("b");
    let rec = Recognizer::load(c.asr_for(Locale::EnUs).expect("asr"), &m).expect("asr");
    let svc = AsrService::start(rec, 2, 4);
    let rx: Vec<_> = [&a, &b, &a, &b]
        .iter()
        .map(|p| svc.submit(p.samples.clone()))
        .collect();
    let texts: Vec<String> = rx
        .into_iter()
        .map(|r| {
            r.blocking_recv()
                .expect("reply")
                .expect("asr")
                .text
                .to_lowercase()
        })
        .collect();
    for (i, t) in texts.iter().enumerate() {
        let want = if i % 2 == 0 { "paid" } else { "calling" };
        assert!(t.contains(want), "{i}: {t:?}");
    }
}

#[test]
fn mandarin_prompts_reach_espeak_as_pinyin_and_come_out_at_the_call_rate() {
    let m = models();
    let voice = Voice::load(cfg().tts_for(Locale::ZhCn).expect("tts"), &m).expect("espeak");
    let pcm = say(&voice, "您好，您本期应还3,500.50元。", Locale::ZhCn);
    // Two clauses of Mandarin at espeak's rate: a few seconds, not a misread blip.
    assert!(
        pcm.seconds() > 2.0 && pcm.seconds() < 12.0,
        "{}",
        pcm.seconds()
    );
    let call = pcm.at_rate(8000).expect("8k");
    assert_eq!(call.rate, 8000);
    assert!(call.samples.iter().any(|s| s.abs() > 0.1));
}

#[test]
fn bad_models_are_refused_with_their_file_named() {
    let m = models();
    let dir = tempfile::tempdir().expect("tmp");
    // Looks like ONNX to the first byte, garbage after: sherpa-onnx itself refuses it.
    let junk = dir.path().join("encoder.onnx");
    let mut bytes = vec![0x08u8, 0x07];
    bytes.extend((0..5000u32).map(|i| (i * 7919 % 251) as u8));
    std::fs::write(&junk, &bytes).expect("junk");
    let files = TransducerFiles {
        encoder: junk.clone(),
        decoder: junk.clone(),
        joiner: junk.clone(),
    };
    let tokens = dir.path().join("tokens.txt");
    std::fs::write(&tokens, "a 0\nb 1\n").expect("tokens");
    // The streaming-zipformer path a Chinese deployment configures.
    let online = AsrConfig::SherpaOnline {
        transducer: files,
        tokens: tokens.clone(),
        threads: 1,
    };
    let e = Recognizer::load(&online, &m).err().expect("refused");
    assert!(matches!(e, SpeechError::Model { .. }), "{e}");
    assert!(e.to_string().contains("encoder.onnx"), "{e}");
    // A missing file is named before any runtime is involved.
    let yaml = format!(
        "vad: {{model: vad/silero_vad.onnx}}\nasr:\n  zh-CN:\n    engine: sherpa_online\n    transducer: {{encoder: asr/zh/enc.onnx, decoder: asr/zh/dec.onnx, joiner: asr/zh/join.onnx}}\n    tokens: {}\ntts: {{}}\n",
        tokens.display()
    );
    let c = SpeechConfig::parse(&yaml, "speech.yaml").expect("parses");
    let e = Recognizer::load(c.asr_for(Locale::ZhCn).expect("zh"), &m)
        .err()
        .expect("missing");
    assert!(e.to_string().contains("asr/zh/enc.onnx"), "{e}");
    // A Piper voice that is not a model.
    let e = Voice::load(
        &voxdial::speech::config::TtsConfig::Piper {
            model: junk,
            speed: 1.0,
        },
        &m,
    )
    .err()
    .expect("voice refused");
    assert!(
        e.to_string().contains("tokens.txt") || e.to_string().contains("encoder.onnx"),
        "{e}"
    );
}

#[test]
fn prompt_cache_renders_once_then_replays_and_recorded_packs_win() {
    let m = models();
    let dir = tempfile::tempdir().expect("tmp");
    let voice = Voice::load(cfg().tts_for(Locale::ZhCn).expect("tts"), &m).expect("espeak");
    let packs = dir.path().join("packs");
    let cache = PromptCache::new(&dir.path().join("cache"), vec![packs.clone()]);
    let text = "您好，这里是安心消费金融。请问您现在方便接听吗？";
    let first = cache
        .speak(&voice, Locale::ZhCn, "demo.greet", true, text, |_| {})
        .expect("first");
    assert_eq!(first, vec![Source::Synthesized, Source::Synthesized]);
    let again = cache
        .speak(&voice, Locale::ZhCn, "demo.greet", true, text, |_| {})
        .expect("again");
    assert_eq!(again, vec![Source::Memory, Source::Memory]);
    // A fresh process finds it on disk.
    let cold = PromptCache::new(&dir.path().join("cache"), vec![packs.clone()]);
    let mut got = Vec::new();
    let disk = cold
        .speak(&voice, Locale::ZhCn, "demo.greet", true, text, |p| {
            got.push(p.pcm.clone())
        })
        .expect("disk");
    assert_eq!(disk, vec![Source::Disk, Source::Disk]);
    assert!(got.iter().all(|p| !p.is_empty()));
    // A recording for the prompt id replaces the synthesized prompt (any rate: resampled).
    std::fs::create_dir_all(packs.join("zh-CN")).expect("pack");
    let rec = Pcm {
        samples: vec![0.25; 16000],
        rate: 16000,
    };
    audio::write_wav(&packs.join("zh-CN/demo.greet.wav"), &rec).expect("wav");
    let mut pcm = Arc::new(Vec::new());
    let src = cold
        .speak(&voice, Locale::ZhCn, "demo.greet", true, text, |p| {
            pcm = p.pcm.clone()
        })
        .expect("pack");
    assert_eq!(src, vec![Source::Pack]);
    assert_eq!(pcm.len(), 8000);
    // Ids never escape the pack folder.
    assert!(cold
        .pack_recording(Locale::ZhCn, "../zh-CN/demo.greet")
        .expect("id")
        .is_none());
}

#[test]
fn warming_a_scenario_caches_its_static_sentences_only() {
    let m = models();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (lib, _) = voxdial::scenario::library::Library::load(&[
        root.join("scenarios/collection/m1_overdue.yaml"),
        root.join("dialogs"),
    ]);
    let dir = tempfile::tempdir().expect("tmp");
    let voice = Voice::load(cfg().tts_for(Locale::ZhCn).expect("tts"), &m).expect("espeak");
    let cache = PromptCache::new(dir.path(), vec![]);
    let r = cache.warm(&lib, &voice, Locale::ZhCn).expect("warm");
    assert!(r.prompts >= 10, "{r:?}");
    assert!(r.synthesized >= 10, "{r:?}");
    let again = cache.warm(&lib, &voice, Locale::ZhCn).expect("again");
    assert_eq!(again.synthesized, 0, "{again:?}");
    assert_eq!(again.cached, r.synthesized + r.cached);
}

#[test]
fn a_call_pipeline_hears_the_customer_and_replies_from_the_prompt_cache() {
    use voxdial::bot::driver::BotDriver;
    use voxdial::bot::pipeline::Output;
    use voxdial::time::Millis;
    let m = models();
    let c = cfg();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (lib, _) = voxdial::scenario::library::Library::load(&[
        root.join("scenarios/collection/m1_overdue.yaml"),
        root.join("dialogs"),
    ]);
    let lib = Arc::new(lib);
    let scenario = "collection_m1_overdue";
    let vars = voxdial::dialogue::engine::with_examples(&lib, scenario, &Default::default());
    let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 22).expect("date");
    let conv =
        voxdial::dialogue::engine::Conversation::new(lib, scenario, Locale::EnUs, today, &vars)
            .expect("conversation");
    let voice = Arc::new(Voice::load(c.tts_for(Locale::EnUs).expect("tts"), &m).expect("piper"));
    let asr = AsrService::start(
        Recognizer::load(c.asr_for(Locale::EnUs).expect("asr"), &m).expect("asr"),
        1,
        4,
    );
    let dir = tempfile::tempdir().expect("tmp");
    let cache = Arc::new(PromptCache::new(dir.path(), vec![]));
    let vad = voxdial::speech::vad::Vad::for_frames(&c.vad, &m).expect("vad");
    let turn = voxdial::speech::turn::TurnConfig::for_locale(Locale::EnUs.into());
    let mut bot =
        BotDriver::new(vad, turn, conv, asr, cache, voice.clone(), Locale::EnUs).expect("bot");
    let greeting = bot.start(Millis(0)).expect("start");
    assert!(
        greeting.iter().any(|o| matches!(o, Output::Play { .. })),
        "the bot speaks first"
    );
    let _ = bot.playback_finished(Millis(0)).expect("played");
    let said = say(&voice, "Yes, this is me.", Locale::EnUs)
        .at_rate(16000)
        .expect("16k");
    let pcm = audio::to_i16(&said.samples);
    let silence = vec![0i16; 320];
    let mut outs = Vec::new();
    let frames = std::iter::repeat_n(&silence[..], 10)
        .chain(pcm.chunks(320))
        .chain(std::iter::repeat_n(&silence[..], 75));
    for (k, f) in frames.enumerate() {
        outs.extend(
            bot.push_inbound(Millis(20 * (k as u64 + 1)), f)
                .expect("push"),
        );
    }
    let heard: Vec<&String> = outs
        .iter()
        .filter_map(|o| match o {
            Output::Heard(t) => Some(t),
            _ => None,
        })
        .collect();
    assert_eq!(heard.len(), 1, "{outs:?}");
    assert!(heard[0].to_lowercase().contains("me"), "{heard:?}");
    assert!(
        outs.iter().any(|o| matches!(o, Output::Play { .. })),
        "the bot answers"
    );
    let l = &bot.latencies()[0];
    // The decode started at the pause and was used at the endpoint.
    assert!(l.speculative, "{l:?}");
    assert!(l.endpoint_ms >= 300 && l.endpoint_ms <= 1000, "{l:?}");
}
