//! Whole calls driven faster than real time: a scripted recognizer (the text it returns
//! for each decode is the test's), a voice that returns a tone of fixed length per
//! sentence, a simulated playout queue, and frames fed with explicit `Millis`.

use std::collections::{BTreeMap, VecDeque};

use super::*;
use crate::bot::voice_activity::EnergyDetector;
use crate::scenario::library::Library;

const FRAME: u64 = 20;

/// One scripted decode: what the recognizer returns, and how long it takes.
#[derive(Clone)]
struct Decode {
    text: String,
    delay_ms: u64,
}

/// A call: the pipeline with a scripted recognizer, a tone voice and a playout queue.
struct Call {
    bot: BotPipeline,
    now: u64,
    /// Decodes the recognizer will return, in the order they are asked for.
    script: VecDeque<Decode>,
    /// Decodes under way: id, due time, result.
    decoding: Vec<(RequestId, u64, Decode)>,
    /// Every decode request: (time, speculative).
    asked: Vec<(u64, bool)>,
    /// Length of each voiced sentence.
    sentence_ms: u64,
    /// Where the voice says its sentences come from, and how long each took.
    voice_source: Source,
    voice_took_ms: f64,
    /// Audio queued for playout (ms), and whether the bot is talking.
    queued_ms: u64,
    playing: bool,
    /// Call-facing outputs with the time they came out.
    log: Vec<(u64, Output)>,
    /// Times a flush found audio still queued.
    barge_ins: u32,
    /// What a driver would measure for every pipeline call that could answer a turn.
    engine_ms: f64,
    /// End-of-turn verdicts the model will give, in order (`None`: the model fails), and
    /// every question asked: (time, samples of audio given).
    verdicts: VecDeque<Option<f32>>,
    asked_end: Vec<(u64, usize)>,
    /// Every unit the bot asked the voice for, in order.
    voiced: Vec<String>,
}

/// The project's scenarios, loaded once for every test.
fn library() -> Arc<Library> {
    static LIB: std::sync::OnceLock<Arc<Library>> = std::sync::OnceLock::new();
    LIB.get_or_init(|| {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let (lib, _) = Library::load_project(root, &[]);
        Arc::new(lib)
    })
    .clone()
}

impl Call {
    fn new(script: &[(&str, u64)]) -> Call {
        Call::with_turn(script, turn::TurnConfig::for_locale(Locale::EnUs.into()))
    }

    fn with_turn(script: &[(&str, u64)], turn_cfg: turn::TurnConfig) -> Call {
        let lib = library();
        let scenario = "collection_m1_overdue";
        let given: BTreeMap<String, String> = [
            ("customer_name", "John Smith"),
            ("creditor", "Acme Lending"),
            ("product", "personal loan"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let vars = crate::dialogue::engine::with_examples(&lib, scenario, &given);
        let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 22).expect("date");
        let conv = Conversation::new(lib, scenario, Locale::EnUs, today, &vars).expect("conv");
        let bot = BotPipeline::new(
            Box::new(EnergyDetector::default()),
            turn_cfg,
            conv,
            Locale::EnUs,
        )
        .expect("pipeline");
        Call {
            bot,
            now: 0,
            script: script
                .iter()
                .map(|(t, d)| Decode {
                    text: t.to_string(),
                    delay_ms: *d,
                })
                .collect(),
            decoding: Vec::new(),
            asked: Vec::new(),
            sentence_ms: 1_000,
            voice_source: Source::Disk,
            voice_took_ms: 2.0,
            queued_ms: 0,
            playing: false,
            log: Vec::new(),
            barge_ins: 0,
            engine_ms: 1.5,
            verdicts: VecDeque::new(),
            asked_end: Vec::new(),
            voiced: Vec::new(),
        }
    }

    fn at(&self) -> Millis {
        Millis(self.now)
    }

    /// Carries out the pipeline's requests (voice at once, decodes when due) and the
    /// call's part of the rest.
    fn handle(&mut self, outs: Vec<Output>) {
        let mut work: VecDeque<Output> = outs.into();
        while let Some(o) = work.pop_front() {
            let now = self.at();
            let more = match o {
                Output::Transcribe {
                    id, speculative, ..
                } => {
                    self.asked.push((self.now, speculative));
                    // Every decode reads the utterance the script is at; a heard turn
                    // moves the script on.
                    let d = self.script.front().cloned().unwrap_or(Decode {
                        text: String::new(),
                        delay_ms: 0,
                    });
                    self.decoding.push((id, self.now + d.delay_ms, d));
                    Vec::new()
                }
                Output::Synthesize { id, sentence, .. } => {
                    self.voiced.push(sentence);
                    let pcm = Arc::new(vec![3000i16; (self.sentence_ms * 8) as usize]);
                    let voiced = Voiced {
                        pcm,
                        source: self.voice_source,
                        took_ms: self.voice_took_ms,
                    };
                    self.bot
                        .synthesized(now, id, Ok(voiced))
                        .expect("synthesized")
                }
                Output::LookUpRecording { id, .. } => {
                    self.bot.recorded(now, id, Ok(None)).expect("recorded")
                }
                Output::PredictEnd { id, pcm } => {
                    self.asked_end.push((self.now, pcm.len()));
                    match self.verdicts.pop_front() {
                        Some(Some(p)) => self.bot.end_predicted(now, id, Ok(p)),
                        Some(None) => self.bot.end_predicted(
                            now,
                            id,
                            Err(SpeechError::Recognition {
                                why: "scripted failure".into(),
                            }),
                        ),
                        // Unanswered: the call goes on without a verdict.
                        None => Ok(Vec::new()),
                    }
                    .expect("verdict")
                }
                other => {
                    match &other {
                        Output::Play { pcm, .. } => {
                            self.queued_ms += pcm.len() as u64 / 8;
                            self.playing = true;
                        }
                        Output::Flush => {
                            if self.queued_ms > 0 {
                                self.barge_ins += 1;
                            }
                            self.queued_ms = 0;
                        }
                        Output::Heard(t) if self.script.front().is_some_and(|d| d.text == *t) => {
                            self.script.pop_front();
                        }
                        _ => {}
                    }
                    self.log.push((self.now, other));
                    Vec::new()
                }
            };
            work.extend(more);
        }
    }

    fn start(&mut self) {
        let outs = self.bot.start(self.at()).expect("start");
        self.handle(outs);
    }

    /// One 20 ms tick: due decodes come back, a frame of the queue plays, then the
    /// customer's frame goes in.
    fn tick(&mut self, frame: &[i16]) {
        self.now += FRAME;
        let now = self.at();
        let due: Vec<_> = {
            let (due, later) = self
                .decoding
                .drain(..)
                .partition(|(_, at, _)| *at <= self.now);
            self.decoding = later;
            due
        };
        for (id, _, d) in due {
            let t = Transcript {
                text: d.text.clone(),
                took_ms: d.delay_ms as f64,
                queued_ms: 0.0,
            };
            let outs = self.bot.transcribed(now, id, Ok(t)).expect("transcribed");
            self.bot.add_engine_ms(self.engine_ms);
            self.handle(outs);
        }
        if self.queued_ms > 0 {
            self.queued_ms = self.queued_ms.saturating_sub(FRAME);
            self.bot.played(now, -20.0);
        }
        if self.playing && self.queued_ms == 0 && !self.bot.has_pending_audio() {
            self.playing = false;
            let outs = self.bot.playback_finished(now).expect("finished");
            self.handle(outs);
        }
        let outs = self.bot.push_inbound(now, frame).expect("push");
        self.bot.add_engine_ms(self.engine_ms);
        self.handle(outs);
    }

    fn speech(&mut self, ms: u64) {
        // A 300 Hz tone at about -20 dBFS: speech to the energy detector.
        let frame: Vec<i16> = (0..320)
            .map(|i| {
                (3000.0 * (i as f32 * 2.0 * std::f32::consts::PI * 300.0 / 16000.0).sin()) as i16
            })
            .collect();
        for _ in 0..ms / FRAME {
            self.tick(&frame);
        }
    }

    fn silence(&mut self, ms: u64) {
        let frame = [0i16; 320];
        for _ in 0..ms / FRAME {
            self.tick(&frame);
        }
    }

    /// Silence until the bot has finished talking (and at most `limit_ms`).
    fn until_quiet(&mut self, limit_ms: u64) {
        let end = self.now + limit_ms;
        while (self.playing || self.bot.has_pending_audio()) && self.now < end {
            self.silence(FRAME);
        }
    }

    fn heard(&self) -> Vec<String> {
        self.log
            .iter()
            .filter_map(|(_, o)| match o {
                Output::Heard(t) => Some(t.clone()),
                _ => None,
            })
            .collect()
    }

    fn prompts(&self) -> Vec<String> {
        let mut ids: Vec<String> = Vec::new();
        for (_, o) in &self.log {
            if let Output::Play { prompt_id, .. } = o {
                if ids.last() != Some(prompt_id) {
                    ids.push(prompt_id.clone());
                }
            }
        }
        ids
    }

    fn when(&self, f: impl Fn(&Output) -> bool) -> Vec<u64> {
        self.log
            .iter()
            .filter(|(_, o)| f(o))
            .map(|(t, _)| *t)
            .collect()
    }
}

fn is_play(o: &Output) -> bool {
    matches!(o, Output::Play { .. })
}

#[test]
fn a_collection_call_runs_from_greeting_to_hang_up() {
    let mut c = Call::new(&[("yeah this is John", 100), ("I'll pay it next Friday", 100)]);
    c.start();
    assert!(
        c.prompts()
            .first()
            .is_some_and(|p| p.contains("ask_is_customer")),
        "{:?}",
        c.prompts()
    );
    c.until_quiet(30_000);
    c.silence(200);
    c.speech(900);
    c.silence(600);
    c.until_quiet(60_000);
    c.silence(200);
    c.speech(1200);
    c.silence(600);
    c.until_quiet(60_000);
    assert_eq!(c.heard(), ["yeah this is John", "I'll pay it next Friday"]);
    let prompts = c.prompts();
    assert!(
        prompts.iter().any(|p| p.ends_with("disclose")),
        "{prompts:?}"
    );
    let hangups: Vec<&Output> = c
        .log
        .iter()
        .map(|(_, o)| o)
        .filter(|o| matches!(o, Output::Hangup { .. }))
        .collect();
    assert!(
        matches!(hangups.as_slice(), [Output::Hangup { outcome }] if outcome == "promise_to_pay"),
        "{hangups:?}"
    );
    // The goodbye is said before the hang-up.
    let last_play = c.log.iter().rposition(|(_, o)| is_play(o)).expect("plays");
    let hangup = c
        .log
        .iter()
        .position(|(_, o)| matches!(o, Output::Hangup { .. }))
        .expect("hang-up");
    assert!(last_play < hangup);
    // Both turns were measured, each from a decode started at the pause.
    assert_eq!(c.bot.latencies().len(), 2);
    assert!(c.bot.latencies().iter().all(|l| l.speculative));
}

/// A call through the greeting and the customer's "yes, it's me" (the script's first
/// line), to the end of the disclosure that follows.
fn past_identity(script: &[(&str, u64)]) -> Call {
    let mut c = Call::new(script);
    c.start();
    c.until_quiet(30_000);
    c.silence(200);
    c.speech(900);
    c.silence(600);
    c.until_quiet(60_000);
    c
}

#[test]
fn a_prompt_with_values_is_voiced_phrase_by_phrase() {
    let c = past_identity(&[("yeah this is John", 100)]);
    // "Hello, may I speak with {customer_name}, please?" and the disclosure: the phrases
    // without a value are the same on every call (the cache's), the rest are voiced.
    let want = [
        "Hello,",
        "may I speak with John Smith,",
        "please?",
        "Thanks,",
        "John Smith.",
        "I'm calling from Acme Lending,",
        "and this call is recorded.",
    ];
    assert_eq!(&c.voiced[..want.len()], want, "{:?}", c.voiced);
    // Units are asked for one at a time, in order, and the static ones are warmed from
    // the same cut.
    let lib = library();
    let warmed: Vec<String> = lib
        .flows
        .values()
        .flat_map(|f| f.nodes.iter())
        .filter_map(|n| n.prompt.get(&Locale::EnUs))
        .flat_map(|t| static_units(t, Locale::EnUs))
        .collect();
    for unit in ["Hello,", "please?", "Thanks,", "and this call is recorded."] {
        assert!(warmed.iter().any(|w| w == unit), "{unit} is not warmed");
    }
    assert!(!warmed.iter().any(|w| w.contains("John")));
}

#[test]
fn barge_in_flushes_playback_in_the_frame_that_confirms_speech() {
    let mut c = Call::new(&[("wait who is this", 100)]);
    // A long greeting: each sentence plays 3 s.
    c.sentence_ms = 3_000;
    c.start();
    c.silence(500);
    assert!(c.playing);
    let onset = c.now;
    c.speech(600);
    let flushes = c.when(|o| matches!(o, Output::Flush));
    assert_eq!(flushes.len(), 1, "{:?}", c.log);
    // barge_in_min_speech_ms (320 ms) of voiced frames after the onset, not later.
    assert!(
        flushes[0] > onset && flushes[0] <= onset + 340,
        "{flushes:?} onset {onset}"
    );
    assert_eq!(c.barge_ins, 1);
    assert_eq!(c.queued_ms, 0);
    // What the greeting had not yet said is dropped, not played after the flush.
    let greeting = c.prompts()[0].clone();
    c.silence(800);
    let later: Vec<u64> = c
        .log
        .iter()
        .filter(|(t, o)| {
            *t >= flushes[0]
                && matches!(o, Output::Play { prompt_id, .. } if *prompt_id == greeting)
        })
        .map(|(t, _)| *t)
        .collect();
    assert!(later.is_empty(), "{later:?}");
    assert_eq!(c.heard(), ["wait who is this"]);
}

#[test]
fn no_flush_while_the_customer_is_silent() {
    let mut c = Call::new(&[]);
    c.sentence_ms = 3_000;
    c.start();
    c.silence(2_000);
    assert!(c.when(|o| matches!(o, Output::Flush)).is_empty());
}

#[test]
fn a_transfer_waits_behind_the_audio_queued_before_it() {
    let mut c = Call::new(&[
        ("speaking", 100),
        ("I lost my job I really can't pay right now", 100),
        ("yes please", 100),
    ]);
    c.start();
    for ms in [700, 1500, 700] {
        c.until_quiet(60_000);
        c.silence(200);
        c.speech(ms);
        // Every sentence from now on is synthesized live: the next one waits a frame.
        c.voice_source = Source::Synthesized;
        c.silence(600);
    }
    c.silence(200);
    let transfer = c
        .log
        .iter()
        .position(|(_, o)| matches!(o, Output::Transfer { reason } if reason == "repayment_plan"))
        .expect("transfer");
    let (t_at, _) = c.log[transfer];
    // The hand-off prompt ("... specialist. One moment please.") has two sentences: the
    // second is voiced a frame after the first, and the transfer only follows it.
    let before: Vec<&(u64, Output)> = c.log[..transfer]
        .iter()
        .rev()
        .take_while(|(_, o)| !matches!(o, Output::Heard(_)))
        .filter(|(_, o)| is_play(o))
        .collect();
    assert_eq!(
        before.len(),
        2,
        "{:?}",
        &c.log[transfer.saturating_sub(4)..=transfer]
    );
    let first_sentence_at = before[1].0;
    assert!(
        t_at > first_sentence_at,
        "transfer at {t_at}, first sentence at {first_sentence_at}"
    );
    assert!(c.log[transfer + 1..].iter().all(|(_, o)| !is_play(o)));
}

#[test]
fn a_stale_decode_is_skipped() {
    // The first decode (started at the customer's first pause) comes back after they
    // resumed, during the silence after their last word, while the decode started at
    // that last pause is under way: its text must not be taken, the later one's is.
    let mut c = Call::new(&[("no", 1_200), ("yeah this is John", 600)]);
    c.start();
    c.until_quiet(30_000);
    c.silence(200);
    c.speech(600);
    c.silence(200);
    // The first speculative decode was asked for at this pause.
    assert_eq!(c.asked.iter().filter(|(_, s)| *s).count(), 1);
    // Advance the script past the stale decode as the recognizer would read new audio.
    c.script.pop_front();
    c.speech(600);
    c.silence(800);
    assert_eq!(c.heard(), ["yeah this is John"]);
    let l = &c.bot.latencies()[0];
    assert!(l.speculative, "{l:?}");
    assert_eq!(l.text, "yeah this is John");
}

#[test]
fn gaps_between_words_start_no_decode_and_a_pause_starts_one() {
    let mut c = Call::new(&[("I get paid on the fifteenth", 100)]);
    c.start();
    c.until_quiet(30_000);
    c.silence(200);
    // Words with 60-100 ms gaps between them (the speech flag drops in each).
    for gap in [60, 100, 80, 60] {
        c.speech(300);
        c.silence(gap);
    }
    assert!(c.asked.is_empty(), "{:?}", c.asked);
    c.speech(300);
    c.silence(800);
    assert_eq!(c.heard(), ["I get paid on the fifteenth"]);
    assert_eq!(c.asked.len(), 1, "{:?}", c.asked);
    let l = &c.bot.latencies()[0];
    assert!(l.speculative && l.decodes == 1, "{l:?}");
    // A pause that outlasts the gaps but not the endpoint: its decode is dropped when
    // the customer goes on, and the turn counts both.
    let mut d = Call::new(&[("yes", 100), ("yes that is right", 100)]);
    d.start();
    d.until_quiet(30_000);
    d.silence(200);
    d.speech(400);
    d.silence(300);
    assert_eq!(d.asked.len(), 1);
    d.script.pop_front();
    d.speech(600);
    d.silence(800);
    assert_eq!(d.heard(), ["yes that is right"]);
    assert_eq!(d.bot.latencies()[0].decodes, 2);
}

#[test]
fn silence_after_a_question_reprompts_after_the_no_input_timeout() {
    // The greeting is identity_check's question; its flow keeps the default 7 s timeout,
    // counted from the end of the greeting's playback.
    const TIMEOUT_MS: u64 = 7_000;
    let mut c = Call::new(&[]);
    c.start();
    c.until_quiet(30_000);
    let quiet_from = c.now;
    let plays_before = c.when(is_play).len();
    c.silence(TIMEOUT_MS - 200);
    assert_eq!(
        c.when(is_play).len(),
        plays_before,
        "nothing before the timeout"
    );
    c.silence(400);
    let reprompt = c.when(is_play);
    assert!(
        reprompt.len() > plays_before,
        "a reprompt after the timeout"
    );
    assert_eq!(reprompt[plays_before], quiet_from + TIMEOUT_MS);
    assert!(c
        .prompts()
        .last()
        .is_some_and(|p| p.contains("ask_is_customer")));
    assert!(c.heard().is_empty());
    // The deadline is announced to a driver that has no frames to feed.
    let mut d = Call::new(&[]);
    d.start();
    d.until_quiet(30_000);
    let quiet_from = d.now;
    d.silence(20);
    let due = Millis(quiet_from + TIMEOUT_MS);
    assert_eq!(d.bot.poll_timeout(), Some(due));
    let outs = d.bot.handle_timeout(due).expect("timeout");
    d.handle(outs);
    assert!(d.when(is_play).len() > plays_before);
}

#[test]
fn turn_latency_is_recorded_from_the_last_voiced_sample() {
    // A decode slower than the endpoint silence: the wait after the endpoint counts.
    let mut c = Call::new(&[("yeah this is John", 900)]);
    c.voice_took_ms = 40.0;
    c.start();
    c.until_quiet(30_000);
    c.silence(200);
    c.speech(900);
    let pause = c.now;
    c.silence(1_500);
    let l = c.bot.latencies().first().expect("a turn").clone();
    assert!(l.speculative, "{l:?}");
    assert_eq!(l.speech_ms, 900, "{l:?}");
    assert!(l.endpoint_ms >= 500 && l.endpoint_ms <= 520, "{l:?}");
    // Asked once the pause outlasted a gap between words, 900 ms to decode, the endpoint
    // came ~380 ms into it.
    let asked = c.asked[0].0;
    assert!(
        asked >= pause + SPECULATE_AFTER_MS - 20 && asked <= pause + SPECULATE_AFTER_MS + 20,
        "{asked} vs {pause}"
    );
    assert!(l.asr_ms >= 480.0 && l.asr_ms <= 560.0, "{l:?}");
    assert_eq!(l.decodes, 1, "{l:?}");
    assert_eq!(l.tts_first_ms, 40.0);
    // Only the call that answered the turn counts as the engine's time.
    assert_eq!(l.nlu_ms, 1.5);
    assert_eq!(l.tts_source, Some(Source::Disk));
    assert_eq!(
        l.total_ms,
        l.endpoint_ms as f64 + l.asr_ms + l.nlu_ms + l.tts_first_ms
    );
    // A decode that finished during the silence costs nothing at the endpoint.
    let mut f = Call::new(&[("yeah this is John", 60)]);
    f.start();
    f.until_quiet(30_000);
    f.silence(200);
    f.speech(900);
    f.silence(800);
    let l = f.bot.latencies().first().expect("a turn");
    assert!(l.speculative && l.asr_ms == 0.0, "{l:?}");
    assert_eq!(l.nlu_ms, 1.5);
}

/// Counts how often the model runs and how often it is reset.
struct Counting {
    inner: EnergyDetector,
    runs: Arc<std::sync::atomic::AtomicUsize>,
    resets: Arc<std::sync::atomic::AtomicUsize>,
}

impl SpeechDetector for Counting {
    fn speech_prob(&mut self, frame: &[f32]) -> f32 {
        self.runs.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.inner.speech_prob(frame)
    }

    fn reset(&mut self) {
        self.resets
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

#[test]
fn the_detector_rests_in_long_quiet_stretches_and_hears_the_dips_between_words() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let lib = library();
    let scenario = "collection_m1_overdue";
    let vars = crate::dialogue::engine::with_examples(&lib, scenario, &BTreeMap::new());
    let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 22).expect("date");
    let conv = Conversation::new(lib, scenario, Locale::EnUs, today, &vars).expect("conv");
    let (runs, resets) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let det = Counting {
        inner: EnergyDetector::default(),
        runs: runs.clone(),
        resets: resets.clone(),
    };
    let cfg = turn::TurnConfig::for_locale(Locale::EnUs.into());
    let floor = cfg.min_speech_energy_db;
    let mut bot = BotPipeline::new(Box::new(det), cfg, conv, Locale::EnUs).expect("pipeline");
    let _ = bot.start(Millis(0)).expect("start");
    // Line noise 5 dB under the floor, then a voice, then digital silence.
    let level = |db: f32| {
        let amp = 32768.0 * 10f32.powf(db / 20.0) * std::f32::consts::SQRT_2;
        (0..320)
            .map(|i| (amp * (i as f32 * 0.3).sin()) as i16)
            .collect::<Vec<i16>>()
    };
    let (noise, voice, silence) = (level(floor - 5.0), level(-20.0), vec![0i16; 320]);
    let mut now = 0;
    let mut feed = |bot: &mut BotPipeline, f: &[i16], n: usize| {
        for _ in 0..n {
            now += FRAME;
            let _ = bot.push_inbound(Millis(now), f).expect("push");
        }
    };
    feed(&mut bot, &noise, 50);
    // The first 300 ms of quiet could be a dip between words: the model hears them.
    assert_eq!(
        runs.load(Ordering::Relaxed),
        15,
        "quiet frames ran the model"
    );
    assert_eq!(resets.load(Ordering::Relaxed), 1);
    feed(&mut bot, &voice, 30);
    assert_eq!(runs.load(Ordering::Relaxed), 45);
    // Words with short dips between them: one stream, never restarted.
    for _ in 0..5 {
        feed(&mut bot, &silence, 4);
        feed(&mut bot, &voice, 10);
    }
    assert_eq!(runs.load(Ordering::Relaxed), 45 + 70);
    assert_eq!(resets.load(Ordering::Relaxed), 1, "restarted in a dip");
    feed(&mut bot, &silence, 40);
    feed(&mut bot, &voice, 10);
    assert_eq!(runs.load(Ordering::Relaxed), 115 + 15 + 10);
    // One restart per quiet stretch.
    assert_eq!(resets.load(Ordering::Relaxed), 2);
}

/// English turn-taking with the end-of-turn model asked after 200 ms of silence.
fn end_model_turns() -> turn::TurnConfig {
    let mut t = turn::TurnConfig::for_locale(Locale::EnUs.into());
    t.end_model_pause_ms = Some(200);
    t
}

/// A call past its greeting, quiet, ready for the customer's first answer.
fn past_greeting(script: &[(&str, u64)], turn_cfg: turn::TurnConfig) -> Call {
    let mut c = Call::with_turn(script, turn_cfg);
    c.start();
    c.until_quiet(30_000);
    c.silence(400);
    c
}

#[test]
fn a_finished_verdict_answers_at_the_short_pause_from_the_decode_started_there() {
    let mut c = past_greeting(&[("yeah this is John", 150)], end_model_turns());
    c.verdicts.push_back(Some(0.9));
    let onset = c.now;
    c.speech(1000);
    let last_voiced = c.now;
    c.silence(400);
    assert_eq!(c.heard(), ["yeah this is John"]);
    // Asked once, 200 ms into the pause, about the utterance with up to 500 ms before it
    // (the greeting's silence) and the pause: 1.7 s of 16 kHz audio.
    assert_eq!(c.asked_end.len(), 1, "{:?}", c.asked_end);
    let (asked_at, samples) = c.asked_end[0];
    assert_eq!(asked_at, last_voiced + 200);
    assert_eq!(samples as u64, (asked_at - (onset - 500)) * 16);
    // The reply waited for the decode started 120 ms into the pause (it takes 150 ms),
    // not for the 500 ms of silence: heard at the first frame after it came back.
    let heard_at = c.when(|o| matches!(o, Output::Heard(_)));
    assert_eq!(heard_at, [last_voiced + SPECULATE_AFTER_MS + 160]);
    let l = &c.bot.latencies()[0];
    assert_eq!(l.ended_by, turn::EndCause::EndModel);
    assert_eq!(l.end_probability, Some(0.9));
    assert_eq!(l.endpoint_ms, 200);
    assert!(l.speculative);
    // Only the decode at the pause ran: the end did not ask for another.
    assert_eq!(c.asked.iter().filter(|(_, spec)| !spec).count(), 0);
}

#[test]
fn an_unfinished_verdict_keeps_listening_through_a_mid_sentence_pause() {
    let mut c = past_greeting(
        &[("I will pay three hundred dollars on Friday", 100)],
        end_model_turns(),
    );
    c.verdicts.extend([Some(0.2), Some(0.95)]);
    c.speech(1400);
    // "I will pay three hundred dollars" ... 700 ms ... "on Friday"
    c.silence(700);
    assert!(c.heard().is_empty(), "cut off at the pause: {:?}", c.log);
    c.speech(600);
    let last_voiced = c.now;
    c.silence(400);
    assert_eq!(c.heard(), ["I will pay three hundred dollars on Friday"]);
    assert_eq!(c.asked_end.len(), 2);
    let l = &c.bot.latencies()[0];
    assert_eq!(l.ended_by, turn::EndCause::EndModel);
    // The verdict came at 200 ms; the text when the pause's decode (120 ms + 100 ms) did.
    assert_eq!(
        c.when(|o| matches!(o, Output::Heard(_))),
        [last_voiced + SPECULATE_AFTER_MS + 100]
    );
}

#[test]
fn a_failed_or_missing_verdict_leaves_the_silence_endpoint() {
    for verdict in [Some(None), None] {
        let mut c = past_greeting(&[("I can pay tomorrow", 100)], end_model_turns());
        c.verdicts.extend(verdict);
        c.speech(900);
        let last_voiced = c.now;
        c.silence(700);
        assert_eq!(c.heard(), ["I can pay tomorrow"]);
        assert_eq!(c.asked_end.len(), 1);
        let l = &c.bot.latencies()[0];
        assert_eq!(l.ended_by, turn::EndCause::TrailingSilence);
        assert_eq!(l.end_probability, None);
        assert_eq!(
            c.when(|o| matches!(o, Output::Heard(_))),
            [last_voiced + 500]
        );
    }
}

#[test]
fn without_an_end_model_nothing_is_asked() {
    let mut c = past_greeting(
        &[("I can pay tomorrow", 100)],
        turn::TurnConfig::for_locale(Locale::EnUs.into()),
    );
    c.speech(900);
    c.silence(700);
    assert_eq!(c.heard(), ["I can pay tomorrow"]);
    assert!(c.asked_end.is_empty());
    assert_eq!(
        c.bot.latencies()[0].ended_by,
        turn::EndCause::TrailingSilence
    );
}

#[test]
fn speech_over_a_protected_prompt_asked_again_is_answered_after_it() {
    let mut c = past_identity(&[("yeah this is John", 100), ("I'll pay it next Friday", 100)]);
    let disclosures = |c: &Call| {
        c.log
            .iter()
            .filter(|(_, o)| matches!(o, Output::Play { prompt_id, .. } if prompt_id.ends_with("disclose")))
            .count()
    };
    let first = disclosures(&c);
    assert!(first > 0, "{:?}", c.prompts());
    // Nothing said: the disclosure is asked again after the no-input timeout.
    let mut waited = 0;
    while disclosures(&c) == first && waited < 20_000 {
        c.silence(FRAME);
        waited += FRAME;
    }
    assert!(disclosures(&c) > first, "asked again: {:?}", c.prompts());
    // The customer answers over it, a second in.
    c.silence(1000);
    c.speech(1200);
    c.silence(600);
    c.until_quiet(60_000);
    c.silence(2000);
    c.until_quiet(60_000);
    assert_eq!(c.heard(), ["yeah this is John", "I'll pay it next Friday"]);
    let hangups = c
        .log
        .iter()
        .filter(|(_, o)| matches!(o, Output::Hangup { .. }))
        .count();
    assert_eq!(hangups, 1, "prompts {:?}", c.prompts());
}
