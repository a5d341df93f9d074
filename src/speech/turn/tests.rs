//! Scripted timelines: every test drives the controller frame by frame with explicit
//! timestamps, so what it checks is exactly what a call loop would see.

use super::*;

const F: u64 = 20;
/// A customer's speech level on a phone line.
const SPEECH_DB: f32 = -22.0;
/// Line noise between words.
const NOISE_DB: f32 = -65.0;

/// One call's controller with a clock and a log of every push's actions.
struct Sim {
    c: TurnController,
    now: u64,
    log: Vec<(u64, Vec<Action>)>,
}

impl Sim {
    fn new() -> Sim {
        Sim::with(TurnConfig::for_locale(TurnLocale::ZhCn))
    }

    fn with(cfg: TurnConfig) -> Sim {
        Sim {
            c: TurnController::new(cfg).expect("valid config"),
            now: 0,
            log: Vec::new(),
        }
    }

    fn push(&mut self, ev: Event) -> Vec<Action> {
        let a = self.c.push(Millis(self.now), ev);
        self.log.push((self.now, a.clone()));
        a
    }

    /// One 20 ms tick: optionally a played frame, then the received frame.
    fn tick(&mut self, voiced: bool, energy_db: f32, played_db: Option<f32>) -> Vec<Action> {
        self.now += F;
        let mut a = Vec::new();
        if let Some(e) = played_db {
            a.extend(self.push(Event::OutboundFrame { energy_db: e }));
        }
        a.extend(self.push(Event::inbound(voiced, energy_db)));
        a
    }

    fn speech(&mut self, ms: u64) -> Vec<Action> {
        (0..ms / F)
            .flat_map(|_| self.tick(true, SPEECH_DB, None))
            .collect()
    }

    fn silence(&mut self, ms: u64) -> Vec<Action> {
        (0..ms / F)
            .flat_map(|_| self.tick(false, NOISE_DB, None))
            .collect()
    }

    fn play(&mut self, barge_in: bool, text: &str) -> Vec<Action> {
        self.push(Event::PlaybackStarted {
            prompt_id: "p".into(),
            barge_in,
            text: text.into(),
        })
    }

    fn all(&self) -> Vec<Action> {
        self.log.iter().flat_map(|(_, a)| a.clone()).collect()
    }

    /// When (push time) the first action matching `f` was emitted.
    fn when(&self, f: impl Fn(&Action) -> bool) -> Option<u64> {
        self.log
            .iter()
            .find(|(_, a)| a.iter().any(&f))
            .map(|(t, _)| *t)
    }

    fn count(&self, f: impl Fn(&Action) -> bool) -> usize {
        self.all().iter().filter(|a| f(a)).count()
    }
}

fn is_start(a: &Action) -> bool {
    matches!(a, Action::StartUtterance { .. })
}
fn is_flush(a: &Action) -> bool {
    matches!(a, Action::FlushPlayout { .. })
}
fn is_end(a: &Action) -> bool {
    matches!(a, Action::EndOfUtterance { .. })
}
fn is_turn(a: &Action) -> bool {
    matches!(a, Action::UserTurn { .. })
}
fn is_no_input(a: &Action) -> bool {
    matches!(a, Action::NoInput)
}

fn first_id(s: &Sim) -> UtteranceId {
    s.all()
        .iter()
        .find_map(|a| match a {
            Action::StartUtterance { utterance, .. } => Some(*utterance),
            _ => None,
        })
        .expect("an utterance started")
}

const PROMPT_ZH: &str = "您好，这里是某某银行，您的账户有一笔款项已经逾期，请您尽快还款。";
const PROMPT_EN: &str =
    "Hello, this is the bank calling about your account. A payment of three hundred dollars is overdue.";

#[test]
fn barge_in_flushes_in_the_same_push_that_confirms_it() {
    let mut s = Sim::new();
    s.play(true, PROMPT_ZH);
    s.silence(400);
    let mut voiced = 0;
    let mut flushed_at = None;
    let mut started_at = None;
    for _ in 0..40 {
        let a = s.tick(true, SPEECH_DB, Some(-18.0));
        voiced += F;
        if a.iter().any(is_start) {
            started_at = Some(voiced);
        }
        if a.iter().any(is_flush) {
            assert!(flushed_at.is_none(), "flushed twice");
            flushed_at = Some(voiced);
            // Flush comes before anything else the loop might act on in that push.
            assert!(is_flush(&a[0]) || is_start(&a[0]), "{a:?}");
        }
    }
    assert_eq!(
        started_at,
        Some(120),
        "utterance confirmed at min_speech_ms"
    );
    assert_eq!(
        flushed_at,
        Some(320),
        "flush in the push that reaches barge_in_min_speech_ms"
    );
    assert!(!s.c.is_playing());
    assert_eq!(s.count(is_flush), 1);
    // The utterance goes on and becomes a normal turn.
    s.silence(600);
    let id = first_id(&s);
    let a = s.push(Event::AsrFinal {
        utterance: id,
        text: "我已经还了".into(),
    });
    match a.as_slice() {
        [Action::UserTurn { text, timing, .. }] => {
            assert_eq!(text, "我已经还了");
            assert!(timing.barge_in_ms.is_some());
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn protected_prompt_is_not_flushed_and_the_turn_waits_for_its_end() {
    let mut s = Sim::new();
    s.play(false, "本次通话将被录音，请知悉。");
    s.push(Event::Listen { timeout_ms: 5000 });
    for _ in 0..75 {
        s.tick(true, SPEECH_DB, Some(-18.0));
    }
    for _ in 0..40 {
        s.tick(false, NOISE_DB, Some(-18.0));
    }
    assert_eq!(s.count(is_flush), 0, "a protected prompt is never flushed");
    assert_eq!(s.count(is_end), 1);
    let id = first_id(&s);
    let a = s.push(Event::AsrFinal {
        utterance: id,
        text: "我要找人工".into(),
    });
    assert!(a.is_empty(), "held while the disclosure plays: {a:?}");
    s.tick(false, NOISE_DB, Some(-18.0));
    let a = s.push(Event::PlaybackFinished);
    assert!(
        matches!(a.as_slice(), [Action::UserTurn { text, .. }] if text == "我要找人工"),
        "{a:?}"
    );
    // The turn consumed the listen: no NoInput later.
    s.silence(8000);
    assert_eq!(s.count(is_no_input), 0);
}

#[test]
fn protected_prompt_still_drops_backchannels() {
    let mut s = Sim::new();
    s.play(false, PROMPT_ZH);
    for _ in 0..10 {
        s.tick(true, SPEECH_DB, Some(-18.0));
    }
    for _ in 0..35 {
        s.tick(false, NOISE_DB, Some(-18.0));
    }
    let id = first_id(&s);
    let a = s.push(Event::AsrFinal {
        utterance: id,
        text: "嗯嗯".into(),
    });
    assert!(matches!(
        a.as_slice(),
        [Action::DropUtterance {
            reason: DropReason::Backchannel,
            ..
        }]
    ));
    assert!(s.push(Event::PlaybackFinished).is_empty());
}

#[test]
fn a_200ms_backchannel_during_playback_neither_interrupts_nor_becomes_a_turn() {
    for (text, partial) in [("嗯", false), ("嗯", true), ("对对", false), ("好的", true)] {
        let mut s = Sim::new();
        s.play(true, PROMPT_ZH);
        s.push(Event::Listen { timeout_ms: 5000 });
        for i in 0..10 {
            s.tick(true, SPEECH_DB, Some(-18.0));
            if partial && i == 7 {
                let id = first_id(&s);
                s.push(Event::AsrPartial {
                    utterance: id,
                    text: text.into(),
                });
            }
        }
        for _ in 0..40 {
            s.tick(false, NOISE_DB, Some(-18.0));
        }
        let id = first_id(&s);
        let a = s.push(Event::AsrFinal {
            utterance: id,
            text: text.into(),
        });
        assert!(
            matches!(
                a.as_slice(),
                [Action::DropUtterance {
                    reason: DropReason::Backchannel,
                    interrupted_playback: false,
                    ..
                }]
            ),
            "{text}: {a:?}"
        );
        assert_eq!(s.count(is_flush), 0, "{text}");
        assert_eq!(s.count(is_turn), 0, "{text}");
        assert!(s.c.is_playing());
    }
}

#[test]
fn a_backchannel_after_the_prompt_is_an_answer() {
    let mut s = Sim::new();
    s.play(true, "您是张三本人吗？");
    s.tick(false, NOISE_DB, Some(-18.0));
    s.push(Event::PlaybackFinished);
    s.push(Event::Listen { timeout_ms: 5000 });
    s.silence(300);
    s.speech(200);
    s.silence(600);
    let id = first_id(&s);
    let a = s.push(Event::AsrFinal {
        utterance: id,
        text: "嗯".into(),
    });
    assert!(matches!(a.as_slice(), [Action::UserTurn { .. }]), "{a:?}");
}

#[test]
fn backchannel_partial_defers_barge_in_until_backchannel_max() {
    let mut s = Sim::new();
    s.play(true, PROMPT_ZH);
    let mut flushed_at = None;
    for i in 1..=80u64 {
        let a = s.tick(true, SPEECH_DB, Some(-18.0));
        if i == 8 {
            let id = first_id(&s);
            s.push(Event::AsrPartial {
                utterance: id,
                text: "嗯嗯嗯".into(),
            });
        }
        if a.iter().any(is_flush) {
            flushed_at = Some(i * F);
        }
    }
    assert_eq!(flushed_at, Some(1200));
}

#[test]
fn a_content_partial_interrupts_before_the_minimum_duration() {
    let mut s = Sim::new();
    s.play(true, PROMPT_ZH);
    for _ in 0..8 {
        s.tick(true, SPEECH_DB, Some(-18.0));
    }
    assert_eq!(s.count(is_flush), 0);
    let id = first_id(&s);
    let a = s.push(Event::AsrPartial {
        utterance: id,
        text: "不对".into(),
    });
    assert!(
        matches!(a.as_slice(), [Action::FlushPlayout { .. }]),
        "{a:?}"
    );
}

#[test]
fn a_short_real_reply_during_playback_interrupts_when_its_text_is_known() {
    let mut s = Sim::new();
    s.play(true, PROMPT_EN);
    for _ in 0..12 {
        s.tick(true, SPEECH_DB, Some(-18.0));
    }
    for _ in 0..30 {
        s.tick(false, NOISE_DB, Some(-18.0));
    }
    assert_eq!(
        s.count(is_flush),
        0,
        "240 ms is below barge_in_min_speech_ms"
    );
    let id = first_id(&s);
    let a = s.push(Event::AsrFinal {
        utterance: id,
        text: "不".into(),
    });
    assert!(
        matches!(a.as_slice(), [Action::FlushPlayout { .. }, Action::UserTurn { text, .. }] if text == "不"),
        "{a:?}"
    );
    assert!(!s.c.is_playing());
}

#[test]
fn a_long_utterance_during_playback_interrupts_once() {
    let mut s = Sim::new();
    s.play(true, PROMPT_ZH);
    for _ in 0..100 {
        s.tick(true, SPEECH_DB, Some(-18.0));
    }
    s.silence(700);
    assert_eq!(s.count(is_flush), 1);
    assert_eq!(s.count(is_start), 1);
    assert_eq!(s.count(is_end), 1);
}

/// A prompt-like energy contour: syllables at -14..-26 dBFS with short dips.
fn prompt_energy(i: u64) -> f32 {
    match i % 12 {
        0..=2 => -14.0,
        3..=5 => -18.0,
        6..=8 => -26.0,
        9 => -40.0,
        _ => -20.0,
    }
}

#[test]
fn echo_of_our_prompt_never_starts_an_utterance() {
    let mut s = Sim::new();
    let delay_frames = 120 / F as usize;
    s.play(true, PROMPT_ZH);
    s.push(Event::Listen { timeout_ms: 4000 });
    let mut played: Vec<f32> = Vec::new();
    // 3 s of prompt; the inbound channel carries it back 120 ms later, 15 dB down, and
    // the VAD takes it for speech.
    for i in 0..150u64 {
        let out = prompt_energy(i);
        played.push(out);
        let echo = played
            .len()
            .checked_sub(delay_frames + 1)
            .and_then(|k| played.get(k).copied());
        match echo {
            Some(e) => s.tick(true, e - 15.0, Some(out)),
            None => s.tick(false, NOISE_DB, Some(out)),
        };
    }
    s.push(Event::PlaybackFinished);
    // The echo tail after playback stops.
    for k in 0..delay_frames {
        let e = played[played.len() - delay_frames + k];
        s.tick(true, e - 15.0, None);
    }
    s.silence(4000);
    assert_eq!(s.count(is_start), 0, "{:?}", s.all());
    assert_eq!(s.count(is_flush), 0);
    assert_eq!(
        s.count(is_no_input),
        1,
        "the echo did not cancel the listen"
    );
}

#[test]
fn customer_speech_over_the_echo_still_barges_in() {
    let mut s = Sim::new();
    s.play(true, PROMPT_ZH);
    for i in 0..20u64 {
        s.tick(true, prompt_energy(i) - 15.0, Some(prompt_energy(i)));
    }
    assert_eq!(s.count(is_start), 0);
    for i in 20..60u64 {
        // Double talk: customer at -20 dBFS on top of the echo.
        s.tick(true, -20.0, Some(prompt_energy(i)));
    }
    assert_eq!(s.count(is_start), 1);
    assert_eq!(s.count(is_flush), 1);
}

/// A customer's words over the bot as a real line carries them: loud syllables and the
/// quieter sounds between them, 10 to 25 dB under the bot's loudest frames.
fn speech_over_the_bot_db(i: u64) -> f32 {
    match i % 6 {
        0 | 1 => -18.0,
        2 => -30.0,
        3 => -34.0,
        4 => -28.0,
        _ => -38.0,
    }
}

/// Plays `ms` of prompt with the inbound channel carrying `echo(played)` (VAD fooled),
/// then the customer talks over the bot; returns how long after the customer started
/// the prompt was flushed.
fn barge_in_after(cfg: TurnConfig, ms: u64, echo: impl Fn(f32) -> Option<f32>) -> Option<u64> {
    let mut s = Sim::with(cfg);
    s.play(true, PROMPT_EN);
    let frames = ms / F;
    for i in 0..frames {
        let out = prompt_energy(i);
        match echo(out) {
            Some(e) => s.tick(true, e, Some(out)),
            None => s.tick(false, NOISE_DB, Some(out)),
        };
    }
    assert_eq!(s.count(is_start), 0, "the echo alone started an utterance");
    let from = s.now;
    for i in frames..frames + 100 {
        s.tick(true, speech_over_the_bot_db(i), Some(prompt_energy(i)));
        if s.count(is_flush) > 0 {
            return Some(s.now - from);
        }
    }
    None
}

#[test]
fn on_a_line_without_echo_the_quieter_syllables_count_and_barge_in_is_prompt() {
    let en = || TurnConfig::for_locale(TurnLocale::EnUs);
    // After 3 s of the bot with nothing coming back, the gate has learned the line (1 s
    // is enough).
    let learned = barge_in_after(en(), 3000, |_| None).expect("barged in");
    assert!(
        learned <= 360,
        "flushed {learned} ms after the customer started (320 ms of speech needed)"
    );
    // The same speech judged with the fixed 10 dB assumption loses most syllables.
    let fixed = barge_in_after(
        TurnConfig {
            echo_learn_ms: 0,
            ..en()
        },
        3000,
        |_| None,
    );
    assert!(
        fixed.is_none_or(|ms| ms > 2 * learned),
        "{fixed:?} vs {learned}"
    );
    // Too little of the bot heard yet: the floor still applies.
    let early = barge_in_after(en(), 400, |_| None);
    assert!(
        early.is_none_or(|ms| ms > 2 * learned),
        "learned from 0.4 s: {early:?}"
    );
    let mut s = Sim::with(en());
    assert_eq!(s.c.echo_suppression_db(), 10.0);
    s.play(true, PROMPT_EN);
    for i in 0..40 {
        s.tick(false, NOISE_DB, Some(prompt_energy(i)));
    }
    assert_eq!(s.c.echo_suppression_db(), 10.0, "0.8 s is not enough");
    for i in 40..60 {
        s.tick(false, NOISE_DB, Some(prompt_energy(i)));
    }
    assert_eq!(s.c.echo_suppression_db(), 30.0, "capped at the maximum");
}

#[test]
fn a_line_with_echo_keeps_the_gate_at_its_floor() {
    // A 12 dB echo (one frame late) for 10 s: measured, it is never let through, and
    // the gate stays at the configured 10 dB.
    let mut s = Sim::with(TurnConfig::for_locale(TurnLocale::EnUs));
    s.play(true, PROMPT_EN);
    let mut last = NOISE_DB;
    for i in 0..500 {
        let out = prompt_energy(i);
        s.tick(true, last - 12.0, Some(out));
        last = out;
    }
    assert_eq!(s.count(is_start), 0, "{:?}", s.all());
    assert_eq!(s.c.echo_suppression_db(), 10.0);
    // A customer over that echo still barges in.
    for i in 500..540 {
        s.tick(true, -20.0, Some(prompt_energy(i)));
    }
    assert_eq!(s.count(is_flush), 1);
}

#[test]
fn echo_that_leaks_past_the_gate_is_caught_by_its_text() {
    let mut s = Sim::new();
    s.play(true, PROMPT_EN);
    // A bad hybrid: the echo is only 3 dB down, so the energy gate lets it through.
    for i in 0..10u64 {
        s.tick(true, prompt_energy(i) - 3.0, Some(prompt_energy(i)));
    }
    let id = first_id(&s);
    s.push(Event::AsrPartial {
        utterance: id,
        text: "this is the bank calling".into(),
    });
    for i in 10..60u64 {
        s.tick(true, prompt_energy(i) - 3.0, Some(prompt_energy(i)));
    }
    assert_eq!(
        s.count(is_flush),
        0,
        "an echoing partial does not interrupt"
    );
    s.silence(700);
    let a = s.push(Event::AsrFinal {
        utterance: id,
        text: "this is the bank calling about your account".into(),
    });
    assert!(
        matches!(
            a.as_slice(),
            [Action::DropUtterance {
                reason: DropReason::Echo,
                ..
            }]
        ),
        "{a:?}"
    );
}

#[test]
fn a_reply_is_not_mistaken_for_echo() {
    let prompt = Ngrams::of(PROMPT_EN);
    for reply in [
        "I already paid that last week",
        "who is this",
        "is this about my account",
        "can you call me tomorrow",
    ] {
        let r = Ngrams::of(reply).contained_in(&prompt);
        assert!(r < 0.6, "{reply}: {r}");
    }
    let prompt = Ngrams::of(PROMPT_ZH);
    for reply in ["我上周已经还了", "你是谁", "明天再打给我"] {
        let r = Ngrams::of(reply).contained_in(&prompt);
        assert!(r < 0.6, "{reply}: {r}");
    }
    let r = Ngrams::of("账户有一笔款项已经逾期").contained_in(&prompt);
    assert!(r > 0.9, "{r}");
}

#[test]
fn endpoint_after_exactly_the_trailing_silence() {
    let mut s = Sim::new();
    s.silence(200);
    s.speech(1000);
    let last_voiced = s.now;
    for k in 1..=40u64 {
        let a = s.tick(false, NOISE_DB, None);
        let end = a.iter().find_map(|a| match a {
            Action::EndOfUtterance {
                speech_ms,
                trailing_ms,
                cause,
                timing,
                ..
            } => Some((*speech_ms, *trailing_ms, *cause, *timing)),
            _ => None,
        });
        if k < 25 {
            assert!(end.is_none(), "ended after {} ms", k * F);
        } else if k == 25 {
            let (speech_ms, trailing_ms, cause, timing) = end.expect("ended at 500 ms");
            assert_eq!(speech_ms, 1000);
            assert_eq!(trailing_ms, 500);
            assert_eq!(cause, EndCause::TrailingSilence);
            assert_eq!(timing.first_voiced_ms, 200);
            assert_eq!(timing.last_voiced_ms, last_voiced);
            assert_eq!(timing.endpoint_ms, last_voiced + 500);
            assert_eq!(timing.reply_latency_ms(last_voiced + 900), 900);
        } else {
            assert!(end.is_none());
        }
    }
}

#[test]
fn pauses_shorter_than_the_trailing_silence_do_not_split() {
    let mut s = Sim::new();
    s.speech(400);
    s.silence(480);
    s.speech(400);
    s.silence(700);
    assert_eq!(s.count(is_start), 1);
    assert_eq!(s.count(is_end), 1);
}

#[test]
fn complete_partials_endpoint_sooner_and_hesitations_later() {
    for (partial, expect) in [
        ("好的。", 300),
        ("是的", 300),
        ("我下周", 500),
        ("我下周然后", 1000),
        ("我下周，", 1000),
    ] {
        // The shipped default waits as long after a finished sentence as otherwise;
        // a deployment that lowers it gets its answers sooner.
        let mut cfg = TurnConfig::for_locale(TurnLocale::ZhCn);
        cfg.complete_trailing_silence_ms = 300;
        let mut s = Sim::with(cfg);
        s.speech(600);
        let id = first_id(&s);
        s.push(Event::AsrPartial {
            utterance: id,
            text: partial.into(),
        });
        let start = s.now;
        s.silence(1200);
        let t = s.when(is_end).expect("ended");
        assert_eq!(t - start, expect, "{partial}");
    }
    let mut s = Sim::with(TurnConfig::for_locale(TurnLocale::EnUs));
    s.speech(600);
    let id = first_id(&s);
    s.push(Event::AsrPartial {
        utterance: id,
        text: "I can pay on Friday and".into(),
    });
    let start = s.now;
    s.silence(1200);
    assert_eq!(s.when(is_end).map(|t| t - start), Some(1000));
}

#[test]
fn no_input_fires_at_playback_end_plus_timeout_and_not_before() {
    let mut s = Sim::new();
    s.play(true, PROMPT_ZH);
    s.push(Event::Listen { timeout_ms: 3000 });
    while s.now < 5000 {
        s.tick(false, NOISE_DB, Some(-18.0));
    }
    s.push(Event::PlaybackFinished);
    assert_eq!(s.c.next_deadline(), Some(Millis(8000)));
    s.silence(6000);
    assert_eq!(s.when(is_no_input), Some(8000));
    assert_eq!(s.count(is_no_input), 1);
}

#[test]
fn no_input_without_playback_starts_at_listen_and_tick_fires_it() {
    let mut s = Sim::new();
    s.now = 1000;
    s.push(Event::Listen { timeout_ms: 2000 });
    s.now = 2999;
    assert!(s.push(Event::Tick).is_empty());
    s.now = 3000;
    assert_eq!(s.push(Event::Tick), vec![Action::NoInput]);
    s.now = 9000;
    assert!(s.push(Event::Tick).is_empty());
}

#[test]
fn speech_before_the_timeout_cancels_no_input() {
    let mut s = Sim::new();
    s.play(true, PROMPT_ZH);
    s.push(Event::Listen { timeout_ms: 3000 });
    s.tick(false, NOISE_DB, Some(-18.0));
    s.push(Event::PlaybackFinished);
    s.silence(2500);
    s.speech(800);
    s.silence(700);
    let id = first_id(&s);
    s.silence(1000);
    assert_eq!(
        s.count(is_no_input),
        0,
        "the timer is paused while a result is awaited"
    );
    let a = s.push(Event::AsrFinal {
        utterance: id,
        text: "我明天还".into(),
    });
    assert!(matches!(a.as_slice(), [Action::UserTurn { .. }]));
    s.silence(10_000);
    assert_eq!(s.count(is_no_input), 0, "the turn consumed the listen");
}

#[test]
fn speech_starting_just_before_the_deadline_holds_it() {
    let mut s = Sim::new();
    s.push(Event::Listen { timeout_ms: 1000 });
    // Deadline at 1000; the customer starts at 960 and is confirmed at 1080.
    s.silence(960);
    s.speech(400);
    assert_eq!(s.count(is_no_input), 0);
    assert_eq!(s.count(is_start), 1);
}

#[test]
fn a_click_does_not_cancel_no_input() {
    let mut s = Sim::new();
    s.push(Event::Listen { timeout_ms: 3000 });
    s.silence(1000);
    s.speech(60);
    s.silence(3000);
    assert_eq!(s.count(is_start), 0, "60 ms is a click");
    assert_eq!(s.when(is_no_input), Some(3000));
}

#[test]
fn a_dropped_utterance_restarts_the_full_timeout() {
    let mut s = Sim::new();
    s.push(Event::Listen { timeout_ms: 3000 });
    s.silence(1000);
    s.speech(300);
    s.silence(600);
    let id = first_id(&s);
    s.push(Event::AsrFinal {
        utterance: id,
        text: "".into(),
    });
    let dropped_at = s.now;
    assert!(s.all().iter().any(|a| matches!(
        a,
        Action::DropUtterance {
            reason: DropReason::NoText,
            ..
        }
    )));
    s.silence(4000);
    assert_eq!(s.when(is_no_input), Some(dropped_at + 3000));
}

#[test]
fn a_lost_asr_result_is_dropped_and_the_listen_resumes() {
    let mut s = Sim::new();
    s.push(Event::Listen { timeout_ms: 2000 });
    s.speech(500);
    s.silence(600);
    let ended = s.when(is_end).expect("ended");
    s.silence(6000);
    let dropped = s.when(|a| {
        matches!(
            a,
            Action::DropUtterance {
                reason: DropReason::AsrTimeout,
                ..
            }
        )
    });
    assert_eq!(dropped, Some(ended + 3000));
    assert_eq!(s.when(is_no_input), Some(ended + 3000 + 2000));
}

#[test]
fn max_utterance_cuts_and_speech_goes_on_as_a_new_utterance() {
    let mut s = Sim::new();
    s.speech(20_000);
    let cut = s.all().into_iter().find_map(|a| match a {
        Action::EndOfUtterance {
            cause, speech_ms, ..
        } => Some((cause, speech_ms)),
        _ => None,
    });
    assert_eq!(cut, Some((EndCause::MaxLength, 15_000)));
    assert_eq!(s.when(is_end), Some(15_000));
    assert_eq!(s.count(is_start), 2);
    // The continuation is confirmed after min_speech_ms of new voiced audio.
    let starts: Vec<u64> = s
        .log
        .iter()
        .filter(|(_, a)| a.iter().any(is_start))
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(starts, vec![120, 15_120]);
}

#[test]
fn clicks_and_noise_bursts_are_ignored() {
    let mut s = Sim::new();
    for _ in 0..10 {
        s.speech(80);
        s.silence(400);
    }
    // Quiet frames the VAD calls speech (line hiss) are below the energy floor.
    for _ in 0..50 {
        s.tick(true, -70.0, None);
    }
    assert_eq!(s.count(is_start), 0);
}

#[test]
fn a_weak_frame_inside_a_word_does_not_end_a_candidate() {
    let mut s = Sim::new();
    s.speech(60);
    s.silence(100);
    s.speech(60);
    assert_eq!(
        s.count(is_start),
        1,
        "120 ms of voice with a 100 ms gap is speech"
    );
}

#[test]
fn vad_hysteresis_keeps_an_utterance_voiced() {
    let mut s = Sim::new();
    s.speech(300);
    for _ in 0..50 {
        s.now += F;
        s.push(Event::InboundFrame {
            speech_prob: 0.4,
            energy_db: SPEECH_DB,
        });
    }
    assert_eq!(s.count(is_end), 0, "0.4 stays above vad_off_threshold");
    s.silence(600);
    assert_eq!(s.count(is_end), 1);
}

#[test]
fn joined_prompts_are_protected_if_any_is() {
    let mut s = Sim::new();
    s.play(true, "您好。");
    s.play(false, "本次通话将被录音。");
    s.speech(2000);
    assert_eq!(s.count(is_flush), 0);
}

#[test]
fn backchannel_lists_cover_repetitions_and_not_content() {
    let zh = TurnController::new(TurnConfig::for_locale(TurnLocale::ZhCn)).expect("config");
    for t in [
        "嗯",
        "嗯嗯",
        "嗯嗯，对对",
        "对",
        "好",
        "好的好的",
        "是",
        "是的。",
        "OK",
        "哦哦",
    ] {
        assert!(zh.is_backchannel(t), "{t}");
    }
    for t in ["不是", "对，不是", "我没钱", "", "嗯我下周还", "好几天了"] {
        assert!(!zh.is_backchannel(t), "{t}");
    }
    let en = TurnController::new(TurnConfig::for_locale(TurnLocale::EnUs)).expect("config");
    for t in [
        "uh-huh",
        "Uh huh.",
        "mm-hmm",
        "yeah",
        "Yeah, okay.",
        "okay",
        "right",
        "all right",
        "yep yep",
    ] {
        assert!(en.is_backchannel(t), "{t}");
    }
    for t in [
        "yeah but I paid",
        "no",
        "right now I can't",
        "okay so who is this",
    ] {
        assert!(!en.is_backchannel(t), "{t}");
    }
}

#[test]
fn locale_tags_parse() {
    assert_eq!("zh-CN".parse::<TurnLocale>(), Ok(TurnLocale::ZhCn));
    assert_eq!("en_us".parse::<TurnLocale>(), Ok(TurnLocale::EnUs));
    assert!("fr-FR".parse::<TurnLocale>().is_err());
}

#[test]
fn bad_configs_are_refused() {
    let base = TurnConfig::default;
    let cases: Vec<(&str, TurnConfig)> = vec![
        (
            "frame_ms",
            TurnConfig {
                frame_ms: 0,
                ..base()
            },
        ),
        (
            "vad_off_threshold",
            TurnConfig {
                vad_off_threshold: 0.9,
                ..base()
            },
        ),
        (
            "vad_on_threshold",
            TurnConfig {
                vad_on_threshold: f32::NAN,
                ..base()
            },
        ),
        (
            "echo_min_delay_ms",
            TurnConfig {
                echo_min_delay_ms: 400,
                ..base()
            },
        ),
        (
            "trailing_silence_ms",
            TurnConfig {
                trailing_silence_ms: 0,
                ..base()
            },
        ),
    ];
    for (field, cfg) in cases {
        assert_eq!(TurnController::new(cfg).err().map(|e| e.field), Some(field));
    }
    assert!(base().validate().is_ok());
}

#[test]
fn garbage_inputs_do_not_panic() {
    let mut s = Sim::new();
    for v in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, -1.0, 2.0] {
        s.now += F;
        s.push(Event::InboundFrame {
            speech_prob: v,
            energy_db: v,
        });
        s.push(Event::OutboundFrame { energy_db: v });
    }
    // Time going backwards is no time passing.
    s.now = 5;
    s.push(Event::inbound(true, SPEECH_DB));
    s.push(Event::AsrFinal {
        utterance: UtteranceId(99),
        text: "x".into(),
    });
    s.push(Event::PlaybackFinished);
    s.now = u64::MAX - 10;
    s.push(Event::Listen {
        timeout_ms: u32::MAX,
    });
    s.push(Event::Tick);
    s.push(Event::inbound(true, SPEECH_DB));
}

#[test]
fn energy_and_playout_meter() {
    assert_eq!(frame_energy_db(&[0; 320]), SILENCE_DB);
    assert_eq!(frame_energy_db(&[]), SILENCE_DB);
    let full: Vec<i16> = (0..320)
        .map(|i| if i % 2 == 0 { 32767 } else { -32768 })
        .collect();
    assert!(frame_energy_db(&full).abs() < 0.01);
    let half: Vec<i16> = full.iter().map(|s| s / 2).collect();
    assert!((frame_energy_db(&half) + 6.02).abs() < 0.05);

    let mut m = PlayoutMeter::new(16_000, 20);
    m.queued(&vec![1000; 320 * 5]);
    assert!(m.take_played(100).is_empty());
    assert_eq!(m.take_played(60).len(), 2);
    assert_eq!(
        m.take_played(50).len(),
        0,
        "a partly played frame is still queued"
    );
    assert_eq!(m.take_played(0).len(), 3);
    m.queued(&[1000; 500]);
    m.flushed();
    assert!(m.take_played(0).is_empty());
}

/// A tiny xorshift so random timelines are reproducible without a dependency.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// A random but plausible call: bursts of speech and silence, prompts that start and
/// finish, listens, partials and finals (some missing, some for stale ids).
fn random_timeline(seed: u64, steps: usize) -> Vec<(u64, Event)> {
    let mut r = XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut now = 0;
    let mut evs = Vec::new();
    let mut voiced = false;
    let mut playing = false;
    for _ in 0..steps {
        now += F;
        // Speech bursts of ~300 ms, silences of ~1.6 s.
        if r.below(if voiced { 15 } else { 80 }) == 0 {
            voiced = !voiced;
        }
        if playing {
            evs.push((
                now,
                Event::OutboundFrame {
                    energy_db: -30.0 + r.below(20) as f32,
                },
            ));
        }
        let energy = if voiced {
            -35.0 + r.below(25) as f32
        } else {
            -70.0 + r.below(20) as f32
        };
        let prob = if voiced {
            0.3 + r.below(70) as f32 / 100.0
        } else {
            r.below(60) as f32 / 100.0
        };
        evs.push((
            now,
            Event::InboundFrame {
                speech_prob: prob,
                energy_db: energy,
            },
        ));
        match r.below(60) {
            0 => {
                playing = true;
                evs.push((
                    now,
                    Event::PlaybackStarted {
                        prompt_id: format!("p{}", r.below(5)),
                        barge_in: r.below(3) != 0,
                        text: ["您好，请问是张三吗？", "this is the bank", "嗯", ""]
                            [r.below(4) as usize]
                            .to_string(),
                    },
                ));
            }
            1 => {
                playing = false;
                evs.push((now, Event::PlaybackFinished));
            }
            2 => evs.push((
                now,
                Event::Listen {
                    timeout_ms: 200 + r.below(3000) as u32,
                },
            )),
            3..=5 => evs.push((
                now,
                Event::AsrPartial {
                    utterance: UtteranceId(1 + r.below(8) as u32),
                    text: ["嗯", "不是", "this is the bank", "", "okay", "我然后"]
                        [r.below(6) as usize]
                        .to_string(),
                },
            )),
            6..=8 => evs.push((
                now,
                Event::AsrFinal {
                    utterance: UtteranceId(1 + r.below(8) as u32),
                    text: ["嗯", "不是", "this is the bank", "", "okay", "对对"]
                        [r.below(6) as usize]
                        .to_string(),
                },
            )),
            9 => evs.push((now, Event::Tick)),
            10..=11 => evs.push((
                now,
                Event::EndVerdict {
                    utterance: UtteranceId(1 + r.below(8) as u32),
                    probability: r.below(101) as f32 / 100.0,
                },
            )),
            _ => {}
        }
    }
    evs
}

fn run(timeline: &[(u64, Event)]) -> Vec<(u64, Vec<Action>)> {
    let mut c = TurnController::new(TurnConfig::default()).expect("config");
    timeline
        .iter()
        .map(|(t, e)| (*t, c.push(Millis(*t), e.clone())))
        .collect()
}

#[test]
fn same_inputs_give_the_same_outputs() {
    for seed in 1..20 {
        let tl = random_timeline(seed, 3000);
        let a = format!("{:?}", run(&tl));
        let b = format!("{:?}", run(&tl));
        assert_eq!(a, b, "seed {seed}");
    }
    // A controller cloned mid-call continues identically.
    let tl = random_timeline(7, 2000);
    let mut c = TurnController::new(TurnConfig::default()).expect("config");
    for (t, e) in &tl[..1000] {
        c.push(Millis(*t), e.clone());
    }
    let mut d = c.clone();
    for (t, e) in &tl[1000..] {
        assert_eq!(c.push(Millis(*t), e.clone()), d.push(Millis(*t), e.clone()));
    }
}

#[test]
fn random_timelines_keep_the_invariants() {
    let mut starts_seen = 0;
    // How often each kind of action came up, so the test proves it exercised them.
    let mut kinds = [0usize; 7];
    for seed in 1..300 {
        let tl = random_timeline(seed, 2500);
        // Every other call asks the end-of-turn model at its pauses.
        let mut cfg = TurnConfig::default();
        if seed % 2 == 0 {
            cfg.end_model_pause_ms = Some(100 + (seed % 5) as u32 * 60);
        }
        let mut c = TurnController::new(cfg).expect("config");
        let mut live: Option<UtteranceId> = None;
        let mut awaiting: Vec<UtteranceId> = Vec::new();
        let mut resolved: Vec<UtteranceId> = Vec::new();
        // A mirror of what the caller knows: is the bot talking, may it be interrupted.
        let mut playing: Option<bool> = None;
        let mut listening = false;
        for (t, e) in &tl {
            let actions = c.push(Millis(*t), e.clone());
            for (i, a) in actions.iter().enumerate() {
                kinds[match a {
                    Action::StartUtterance { .. } => 0,
                    Action::FlushPlayout { .. } => 1,
                    Action::EndOfUtterance { .. } => 2,
                    Action::UserTurn { .. } => 3,
                    Action::DropUtterance { .. } => 4,
                    Action::NoInput => 5,
                    Action::PredictEnd { .. } => 6,
                }] += 1;
                match *a {
                    Action::StartUtterance { utterance, .. } => {
                        assert!(live.is_none(), "seed {seed}: two starts without an end");
                        assert!(!resolved.contains(&utterance) && !awaiting.contains(&utterance));
                        live = Some(utterance);
                        starts_seen += 1;
                    }
                    Action::EndOfUtterance {
                        utterance, cause, ..
                    } => {
                        assert_eq!(
                            live.take(),
                            Some(utterance),
                            "seed {seed}: end without start"
                        );
                        if cause == EndCause::EndModel {
                            assert!(
                                matches!(e, Event::EndVerdict { utterance: u, .. } if *u == utterance),
                                "seed {seed}: the model's end comes with its verdict"
                            );
                        }
                        awaiting.push(utterance);
                    }
                    Action::PredictEnd { utterance, .. } => {
                        assert_eq!(
                            live,
                            Some(utterance),
                            "seed {seed}: asked about an utterance that is not live"
                        );
                    }
                    Action::UserTurn { utterance, .. }
                    | Action::DropUtterance { utterance, .. } => {
                        let pos = awaiting.iter().position(|u| *u == utterance);
                        assert!(
                            pos.is_some(),
                            "seed {seed}: disposition of unknown {utterance}"
                        );
                        if let Some(p) = pos {
                            awaiting.remove(p);
                        }
                        resolved.push(utterance);
                        if matches!(a, Action::UserTurn { .. }) {
                            listening = false;
                        }
                    }
                    Action::FlushPlayout { utterance, .. } => {
                        assert_eq!(
                            playing,
                            Some(true),
                            "seed {seed}: flushed a protected or stopped prompt"
                        );
                        assert!(
                            live == Some(utterance) || awaiting.contains(&utterance),
                            "seed {seed}: flush by unknown {utterance}"
                        );
                        playing = None;
                    }
                    Action::NoInput => {
                        assert!(listening, "seed {seed}: NoInput without a listen");
                        assert_eq!(i, 0, "timers fire before the event is handled");
                        assert!(
                            playing.is_none(),
                            "seed {seed}: NoInput while the bot talks"
                        );
                        assert!(
                            live.is_none() && awaiting.is_empty(),
                            "seed {seed}: NoInput while the customer has the floor"
                        );
                        listening = false;
                    }
                }
            }
            // The caller's view changes once the event is handled (timers fire first).
            match e {
                Event::PlaybackStarted { barge_in, .. } => {
                    playing = Some(playing.unwrap_or(true) && *barge_in);
                }
                Event::PlaybackFinished => playing = None,
                Event::Listen { .. } => listening = true,
                _ => {}
            }
            assert_eq!(c.is_playing(), playing.is_some(), "seed {seed} at {t}");
        }
        // Everything that ended is resolved once time passes (finals or timeouts).
        let end = tl.last().map(|(t, _)| *t).unwrap_or(0) + 60_000;
        for a in c.push(Millis(end), Event::Tick) {
            if let Action::UserTurn { utterance, .. } | Action::DropUtterance { utterance, .. } = a
            {
                awaiting.retain(|u| *u != utterance);
            }
        }
        assert!(
            awaiting.is_empty() || c.is_playing(),
            "seed {seed}: {awaiting:?} never resolved"
        );
    }
    assert!(
        starts_seen > 300,
        "the timelines exercise utterances ({starts_seen})"
    );
    eprintln!("action counts (start, flush, end, turn, drop, no-input, predict-end): {kinds:?}");
    assert!(
        kinds.iter().all(|&k| k >= 20),
        "every action kind is exercised: {kinds:?}"
    );
}

#[test]
fn joined_prompt_text_stays_bounded() {
    let mut s = Sim::new();
    for _ in 0..2000 {
        s.play(true, "您好，这里是某某银行。");
    }
    let text_len = s.c.playback.as_ref().map(|p| p.text.len());
    assert!(
        text_len.is_some_and(|n| n <= MAX_PROMPT_TEXT_BYTES),
        "{text_len:?}"
    );
}

#[test]
fn a_backchannel_overlapping_the_end_of_the_prompt_is_an_answer() {
    let mut s = Sim::new();
    s.play(true, "您是张三本人吗？");
    s.push(Event::Listen { timeout_ms: 5000 });
    // "嗯" starts 100 ms before the prompt ends and goes on 140 ms after it.
    for _ in 0..5 {
        s.tick(true, SPEECH_DB, Some(-18.0));
    }
    s.push(Event::PlaybackFinished);
    s.speech(140);
    s.silence(600);
    let id = first_id(&s);
    let a = s.push(Event::AsrFinal {
        utterance: id,
        text: "嗯".into(),
    });
    assert!(matches!(a.as_slice(), [Action::UserTurn { .. }]), "{a:?}");
}

#[test]
fn a_false_interruption_is_dropped_and_says_so() {
    let mut s = Sim::new();
    s.play(true, PROMPT_ZH);
    s.push(Event::Listen { timeout_ms: 4000 });
    // 500 ms of "嗯嗯嗯" with no partials: long enough to interrupt by duration.
    for _ in 0..25 {
        s.tick(true, SPEECH_DB, Some(-18.0));
    }
    assert_eq!(s.count(is_flush), 1);
    s.silence(600);
    let id = first_id(&s);
    let a = s.push(Event::AsrFinal {
        utterance: id,
        text: "嗯嗯嗯".into(),
    });
    assert!(
        matches!(
            a.as_slice(),
            [Action::DropUtterance {
                reason: DropReason::Backchannel,
                interrupted_playback: true,
                ..
            }]
        ),
        "{a:?}"
    );
    // Nobody talks now: the listen re-prompts after the full timeout.
    let dropped = s.now;
    s.silence(5000);
    assert_eq!(s.when(is_no_input), Some(dropped + 4000));
}

#[test]
fn speech_in_the_echo_tail_is_checked_against_the_prompt_text() {
    let mut s = Sim::with(TurnConfig::for_locale(TurnLocale::EnUs));
    s.play(true, PROMPT_EN);
    s.tick(false, NOISE_DB, Some(-18.0));
    s.push(Event::PlaybackFinished);
    // The leak starts 100 ms after playback stopped (within echo_max_delay_ms).
    s.silence(80);
    s.speech(600);
    s.silence(600);
    let id = first_id(&s);
    let a = s.push(Event::AsrFinal {
        utterance: id,
        text: "three hundred dollars is overdue".into(),
    });
    assert!(
        matches!(
            a.as_slice(),
            [Action::DropUtterance {
                reason: DropReason::Echo,
                ..
            }]
        ),
        "{a:?}"
    );
}

#[test]
fn a_held_turn_keeps_no_input_from_firing() {
    let mut s = Sim::new();
    s.play(false, PROMPT_ZH);
    s.push(Event::Listen { timeout_ms: 500 });
    for _ in 0..30 {
        s.tick(true, SPEECH_DB, Some(-18.0));
    }
    for _ in 0..40 {
        s.tick(false, NOISE_DB, Some(-18.0));
    }
    let id = first_id(&s);
    s.push(Event::AsrFinal {
        utterance: id,
        text: "我不需要".into(),
    });
    for _ in 0..100 {
        s.tick(false, NOISE_DB, Some(-18.0));
    }
    assert_eq!(s.count(is_no_input), 0);
    assert_eq!(s.count(is_turn), 0);
    let a = s.push(Event::PlaybackFinished);
    assert!(matches!(a.as_slice(), [Action::UserTurn { .. }]));
}

#[test]
fn barge_in_at_confirmation_when_the_minimums_coincide() {
    let cfg = TurnConfig {
        barge_in_min_speech_ms: 100,
        ..TurnConfig::default()
    };
    let mut s = Sim::with(cfg);
    s.play(true, PROMPT_ZH);
    let mut first = None;
    for _ in 0..10 {
        let a = s.tick(true, SPEECH_DB, Some(-18.0));
        if !a.is_empty() && first.is_none() {
            first = Some(a);
        }
    }
    assert!(
        matches!(
            first.as_deref(),
            Some([Action::StartUtterance { .. }, Action::FlushPlayout { .. }])
        ),
        "{first:?}"
    );
}

#[test]
fn an_english_backchannel_over_an_english_prompt_is_dropped() {
    let mut s = Sim::with(TurnConfig::for_locale(TurnLocale::EnUs));
    s.play(true, PROMPT_EN);
    for i in 0..12 {
        s.tick(true, SPEECH_DB, Some(-18.0));
        if i == 8 {
            let id = first_id(&s);
            s.push(Event::AsrPartial {
                utterance: id,
                text: "uh-huh".into(),
            });
        }
    }
    for _ in 0..40 {
        s.tick(false, NOISE_DB, Some(-18.0));
    }
    let id = first_id(&s);
    let a = s.push(Event::AsrFinal {
        utterance: id,
        text: "Uh-huh.".into(),
    });
    assert!(matches!(
        a.as_slice(),
        [Action::DropUtterance {
            reason: DropReason::Backchannel,
            ..
        }]
    ));
    assert_eq!(s.count(is_flush), 0);
}

/// An English controller that asks the end-of-turn model after 200 ms of silence.
fn with_end_model() -> Sim {
    let mut cfg = TurnConfig::for_locale(TurnLocale::EnUs);
    cfg.end_model_pause_ms = Some(200);
    cfg.end_model_threshold = 0.5;
    cfg.end_model_incomplete_ms = 1000;
    Sim::with(cfg)
}

fn asked(a: &Action) -> bool {
    matches!(a, Action::PredictEnd { .. })
}

fn end_cause(s: &Sim) -> Option<EndCause> {
    s.all().iter().find_map(|a| match a {
        Action::EndOfUtterance { cause, .. } => Some(*cause),
        _ => None,
    })
}

#[test]
fn a_finished_verdict_ends_the_turn_at_the_short_pause() {
    let mut s = with_end_model();
    s.silence(100);
    s.speech(800);
    let last_voiced = s.now;
    // Asked once, when the pause reaches 200 ms, about the utterance so far.
    s.silence(180);
    assert_eq!(s.count(asked), 0);
    s.silence(20);
    assert_eq!(s.when(asked), Some(last_voiced + 200));
    let id = first_id(&s);
    match s.all().iter().find(|a| asked(a)) {
        Some(Action::PredictEnd {
            utterance,
            first_voiced_ms,
            last_voiced_ms,
        }) => {
            assert_eq!(*utterance, id);
            assert_eq!(*first_voiced_ms, 100);
            assert_eq!(*last_voiced_ms, last_voiced);
        }
        other => panic!("{other:?}"),
    }
    s.silence(40);
    assert_eq!(s.count(asked), 1, "one question per pause");
    s.now += 5;
    let a = s.push(Event::EndVerdict {
        utterance: id,
        probability: 0.93,
    });
    assert!(a.iter().any(is_end), "{a:?}");
    assert_eq!(end_cause(&s), Some(EndCause::EndModel));
    match a.iter().find(|a| is_end(a)) {
        Some(Action::EndOfUtterance { trailing_ms, .. }) => assert_eq!(*trailing_ms, 245),
        other => panic!("{other:?}"),
    }
    // The turn itself comes with the final text, as with any other end.
    let a = s.push(Event::AsrFinal {
        utterance: id,
        text: "I can pay tomorrow.".into(),
    });
    assert!(a.iter().any(is_turn), "{a:?}");
}

#[test]
fn an_unfinished_verdict_waits_for_the_long_silence_and_a_resumed_sentence_stays_one() {
    let mut s = with_end_model();
    s.speech(900);
    s.silence(200);
    let id = first_id(&s);
    s.push(Event::EndVerdict {
        utterance: id,
        probability: 0.2,
    });
    // The usual 500 ms would have ended it; "not yet" holds it to 1000 ms.
    s.silence(700);
    assert_eq!(s.count(is_end), 0);
    // The customer goes on: one utterance, and the next pause is asked about anew.
    s.speech(600);
    s.silence(200);
    assert_eq!(s.count(asked), 2);
    assert_eq!(s.count(is_start), 1);
    s.push(Event::EndVerdict {
        utterance: id,
        probability: 0.1,
    });
    s.silence(780);
    assert_eq!(s.count(is_end), 0);
    s.silence(20);
    assert_eq!(s.count(is_end), 1);
    assert_eq!(end_cause(&s), Some(EndCause::TrailingSilence));
}

#[test]
fn a_stale_or_late_verdict_changes_nothing_and_no_verdict_leaves_silence_in_charge() {
    let mut s = with_end_model();
    s.speech(600);
    s.silence(220);
    let id = first_id(&s);
    // The customer resumed before the answer came back: it judged an old pause.
    s.speech(300);
    let a = s.push(Event::EndVerdict {
        utterance: id,
        probability: 0.99,
    });
    assert!(a.is_empty(), "{a:?}");
    assert_eq!(s.count(is_end), 0);
    // A verdict for another utterance is ignored too.
    s.silence(200);
    let a = s.push(Event::EndVerdict {
        utterance: UtteranceId(id.0 + 7),
        probability: 0.99,
    });
    assert!(a.is_empty(), "{a:?}");
    // Never answered: the plain 500 ms endpoint.
    s.silence(280);
    assert_eq!(s.count(is_end), 0);
    s.silence(20);
    assert_eq!(end_cause(&s), Some(EndCause::TrailingSilence));
    // After the end, a verdict finds no live utterance.
    assert!(s
        .push(Event::EndVerdict {
            utterance: id,
            probability: 0.99,
        })
        .is_empty());
}

#[test]
fn a_partial_that_trails_off_overrules_a_finished_verdict() {
    let mut s = with_end_model();
    s.speech(700);
    s.silence(100);
    let id = first_id(&s);
    s.push(Event::AsrPartial {
        utterance: id,
        text: "I will pay three hundred dollars and".into(),
    });
    s.silence(100);
    s.push(Event::EndVerdict {
        utterance: id,
        probability: 0.97,
    });
    // The hesitation's 1000 ms, not the model's "now".
    s.silence(780);
    assert_eq!(s.count(is_end), 0);
    s.silence(20);
    assert_eq!(end_cause(&s), Some(EndCause::TrailingSilence));
}

#[test]
fn without_an_end_model_nothing_is_asked_and_bad_settings_are_refused() {
    let mut s = Sim::with(TurnConfig::for_locale(TurnLocale::EnUs));
    s.speech(600);
    s.silence(600);
    assert_eq!(s.count(asked), 0);
    assert_eq!(end_cause(&s), Some(EndCause::TrailingSilence));
    let mut c = TurnConfig::for_locale(TurnLocale::EnUs);
    c.end_model_pause_ms = Some(0);
    assert_eq!(c.validate().map_err(|e| e.field), Err("end_model_pause_ms"));
    c.end_model_pause_ms = Some(300);
    c.end_model_threshold = 1.5;
    assert_eq!(
        c.validate().map_err(|e| e.field),
        Err("end_model_threshold")
    );
    c.end_model_threshold = 0.5;
    c.end_model_incomplete_ms = 200;
    assert_eq!(
        c.validate().map_err(|e| e.field),
        Err("end_model_incomplete_ms")
    );
}
