//! Builds the end-of-turn utterance set in `tests/data/turn_set` (the fixture of
//! `tests/end_of_turn.rs`): complete short answers, and sentences with a pause in the
//! middle ("I will pay three hundred dollars, ... on Friday."), voiced by our own voices
//! (Piper for en-US, espeak-ng for zh-CN) and passed through a call's 8 kHz G.711 µ-law, as
//! a customer's voice arrives.
//!
//! A pause is written as a comma in the text, so the voice says the first half with the
//! rising, unfinished melody a speaker has mid-sentence; the comma's own short gap is then
//! found in the audio and stretched to the pause wanted. Piper draws its prosody at random
//! on every run, so the set is kept as WAV files rather than made at test time: the test
//! checks the model's verdicts on exactly these clips.
//!
//! `cargo run --release --example turn_set -- tests/data/turn_set`

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use voxdial::media::g711::G711;
use voxdial::speech::audio::{self, Pcm};
use voxdial::speech::config::SpeechConfig;
use voxdial::speech::tts::{self, Voice};
use voxdial::Locale;

/// `(text, pause in ms)`: a comma in the text marks where the speaker pauses; 0 = a
/// complete answer said in one go.
const EN: &[(&str, u64)] = &[
    ("Yes, speaking.", 0),
    ("Yes, this is me.", 0),
    ("I can pay tomorrow.", 0),
    ("I already paid last week.", 0),
    ("Who is calling, please?", 0),
    ("How much do I owe?", 0),
    ("No, that is not me.", 0),
    ("Please stop calling me.", 0),
    ("Can you call me back later?", 0),
    ("I want to talk to a real person.", 0),
    ("I will pay three hundred dollars on Friday.", 0),
    ("Okay.", 0),
    ("No.", 0),
    ("What is this about?", 0),
    ("I will pay three hundred dollars, on Friday.", 700),
    ("I can pay, maybe next week.", 600),
    ("My name is, John Smith.", 700),
    ("I want to, pay half of it now.", 800),
    ("I lost my job, and I cannot pay right now.", 700),
    ("I already paid, last Tuesday.", 600),
    ("Can you call me, after five o'clock?", 800),
    ("I think, I can pay tomorrow.", 700),
    ("The problem is, I do not have the money.", 800),
    ("I could send, two hundred dollars today.", 600),
    ("Let me check, my calendar first.", 700),
    ("If I pay today, will you stop calling?", 800),
    ("I was going to pay, but my salary is late.", 700),
    ("So what you are saying is, I owe more than that?", 600),
];

const ZH: &[(&str, u64)] = &[
    ("是我。", 0),
    ("对，是我本人。", 0),
    ("我明天还。", 0),
    ("我已经还了。", 0),
    ("你们是哪里？", 0),
    ("我现在不方便。", 0),
    ("我明天，还三千五。", 700),
    ("我想，下个月再还。", 700),
    ("我的工资，还没发。", 600),
    ("你们能不能，晚点再打？", 800),
];

/// Frames of 10 ms below this level (dBFS) are silence between words.
const GAP_DB: f32 = -45.0;

fn energy_db(s: &[f32]) -> f32 {
    let e = s.iter().map(|x| x * x).sum::<f32>() / s.len().max(1) as f32;
    if e <= 0.0 {
        -100.0
    } else {
        10.0 * e.log10()
    }
}

/// Trims the clip to its voiced part and, for a paused sentence, stretches the gap at the
/// comma to `pause_ms`: of the gaps between words (≥ 40 ms), the one nearest to where the
/// comma falls by its share of the text (`at`, 0..1). Returns the clip and where the pause
/// starts and ends (ms into the clip).
fn shape(pcm: &[f32], rate: u32, pause_ms: u64, at: f64) -> Result<(Vec<f32>, u64, u64), String> {
    let hop = (rate / 100) as usize;
    let voiced: Vec<bool> = pcm.chunks(hop).map(|f| energy_db(f) > GAP_DB).collect();
    let first = voiced.iter().position(|v| *v).ok_or("no speech")?;
    let last = voiced.iter().rposition(|v| *v).ok_or("no speech")?;
    let clip = &pcm[first * hop..((last + 1) * hop).min(pcm.len())];
    if pause_ms == 0 {
        return Ok((clip.to_vec(), 0, 0));
    }
    let v = &voiced[first..=last];
    let mut gaps = Vec::new();
    let mut run_start = None;
    for (i, on) in v.iter().enumerate() {
        match (on, run_start) {
            (false, None) => run_start = Some(i),
            (true, Some(s)) => {
                if i - s >= 4 {
                    gaps.push((s, i));
                }
                run_start = None;
            }
            _ => {}
        }
    }
    let want = at * v.len() as f64;
    let (g0, g1) = gaps
        .iter()
        .copied()
        .min_by(|a, b| {
            let d = |g: &(usize, usize)| ((g.0 + g.1) as f64 / 2.0 - want).abs();
            d(a).total_cmp(&d(b))
        })
        .ok_or("no gap between words")?;
    let gap_ms = (g1 - g0) as u64 * 10;
    let cut = g0 * hop;
    let extra = (pause_ms.saturating_sub(gap_ms) * u64::from(rate) / 1000) as usize;
    let mut out = clip[..cut].to_vec();
    out.extend(std::iter::repeat_n(0.0, extra));
    out.extend_from_slice(&clip[cut..]);
    let start = g0 as u64 * 10;
    Ok((out, start, start + gap_ms.max(pause_ms)))
}

/// Through the call: 8 kHz, µ-law and back.
fn through_call(pcm: &Pcm) -> Result<Vec<i16>, String> {
    let p8 = pcm.at_rate(8000).map_err(|e| e.to_string())?;
    let mut codes = Vec::new();
    G711::Ulaw.encode(&audio::to_i16(&p8.samples), &mut codes);
    let mut out = Vec::new();
    G711::Ulaw.decode(&codes, &mut out);
    Ok(out)
}

fn main() -> Result<(), String> {
    let out = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "tests/data/turn_set".into()),
    );
    std::fs::create_dir_all(&out).map_err(|e| e.to_string())?;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let models = root.join("data/models");
    let cfg = SpeechConfig::default_config().map_err(|e| e.to_string())?;
    let mut index = String::from("# file\tlocale\tpause_from_ms\tpause_to_ms\ttext\n");
    for (locale, set, tag) in [(Locale::EnUs, EN, "en"), (Locale::ZhCn, ZH, "zh")] {
        let voice = Voice::load(cfg.tts_for(locale).map_err(|e| e.to_string())?, &models)
            .map_err(|e| e.to_string())?;
        for (k, (text, pause)) in set.iter().enumerate() {
            let mut samples = Vec::new();
            let mut rate = 0;
            tts::speak(&voice, text, locale, |c| {
                rate = c.pcm.rate;
                samples.extend_from_slice(&c.pcm.samples);
            })
            .map_err(|e| e.to_string())?;
            let comma = text
                .find([',', '，'])
                .map_or(0, |i| text[..i].chars().count());
            let share = comma as f64 / text.chars().count().max(1) as f64;
            let (clip, from, to) =
                shape(&samples, rate, *pause, share).map_err(|e| format!("{text}: {e}"))?;
            let pcm8 = through_call(&Pcm {
                samples: clip,
                rate,
            })?;
            let name = format!("{tag}{:02}.wav", k + 1);
            audio::write_wav(
                &out.join(&name),
                &Pcm {
                    samples: audio::from_i16(&pcm8),
                    rate: 8000,
                },
            )
            .map_err(|e| e.to_string())?;
            let _ = writeln!(index, "{name}\t{locale}\t{from}\t{to}\t{text}");
            println!(
                "{name} {:.1} s pause {from}-{to} ms  {text}",
                pcm8.len() as f64 / 8000.0
            );
        }
    }
    std::fs::write(out.join("set.tsv"), index).map_err(|e| e.to_string())?;
    Ok(())
}
