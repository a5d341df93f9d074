//! The detector: the sans-IO state machine of one call leg. It takes inbound PCM, ASR text
//! and the stage change, each with the caller's `time::Millis`, runs them through the front
//! end, the tone, speech-timing and phrase rules, and returns a [`Verdict`] when one is
//! decided or revised. Its only wall-clock deadline (a weak phrase's hold) is reported by
//! [`Detector::poll_timeout`]; it never reads a clock, sleeps or spawns.

use super::config::{CpdConfig, CpdError};
use super::frontend::{Frontend, FRAME_MS};
use super::machine::SpeechTiming;
use super::phrases::{self, Cue, TextState};
use super::tones::{ToneAnalyzer, ToneTracker};
use super::verdict::{AnnouncementKind, Class, Hit, Rule, Stage, ToneKind, Verdict};
use crate::language::Locale;
use crate::time::Millis;

/// The call-progress detector for one call leg. Create it when early media or the answer
/// starts, push every inbound frame, and call [`Detector::finish`] at the deadline.
pub struct Detector {
    cfg: CpdConfig,
    stage: Stage,
    front: Frontend,
    tone_an: ToneAnalyzer,
    tones: ToneTracker,
    speech: SpeechTiming,
    /// Frames analysed since the detector started.
    frame: u64,
    text: TextState<'static>,
    verdict: Option<Verdict>,
    fresh: bool,
    now: Millis,
}

impl Detector {
    /// A detector for a leg in `stage` (use [`Stage::EarlyMedia`] from the 183 and call
    /// [`Detector::answered`] on the 200, or start in [`Stage::Answered`]).
    pub fn new(cfg: CpdConfig, stage: Stage) -> Result<Self, CpdError> {
        cfg.validate()?;
        Ok(Detector {
            front: Frontend::new(cfg.sample_rate_hz),
            tone_an: ToneAnalyzer::new(),
            tones: ToneTracker::new(cfg.clone()),
            speech: SpeechTiming::new(cfg.clone()),
            text: TextState::new(phrases::shipped()?),
            cfg,
            stage,
            frame: 0,
            verdict: None,
            fresh: false,
            now: Millis::ZERO,
        })
    }

    /// The latest verdict, if any.
    pub fn verdict(&self) -> Option<&Verdict> {
        self.verdict.as_ref()
    }

    /// Audio analysed so far (ms).
    pub fn audio_ms(&self) -> u64 {
        self.frame * FRAME_MS
    }

    /// Feed inbound PCM (any length, at the configured rate) and the caller's clock. Returns a
    /// verdict when this audio produced one (first decision or a revision; the latest if a long
    /// buffer produced several). Keeps listening after a verdict so a beep, a SIT or a keyword
    /// can still revise it; stop pushing once the verdict is good enough for the caller.
    pub fn push(&mut self, pcm: &[i16], now: Millis) -> Option<Verdict> {
        self.now = now;
        self.fresh = false;
        let resampled = self.front.resample(pcm);
        for &s in resampled.as_deref().unwrap_or(pcm) {
            if self.front.push_sample(s) {
                self.on_frame();
            }
        }
        if let Some(buf) = resampled {
            self.front.recycle(buf);
        }
        self.take_fresh()
    }

    /// Feed ASR text heard on the leg (final segments, appended in order). Carrier and voicemail
    /// phrases decide at once; weak ones wait `weak_keyword_hold_ms` for something stronger.
    pub fn push_transcript(&mut self, text: &str, locale: Locale, now: Millis) -> Option<Verdict> {
        self.now = now;
        self.fresh = false;
        self.text.append(text, locale);
        self.text_rules();
        self.take_fresh()
    }

    /// When the detector next wants [`Detector::handle_timeout`] without new audio: the end
    /// of a weak phrase's hold. Everything else it decides is timed by the audio itself.
    pub fn poll_timeout(&self) -> Option<Millis> {
        self.text.weak.map(|(_, _, until)| until)
    }

    /// The clock reached `now`: a weak phrase whose hold is over decides. Returns the verdict
    /// if that produced one.
    pub fn handle_timeout(&mut self, now: Millis) -> Option<Verdict> {
        self.now = now;
        self.fresh = false;
        self.weak_due();
        self.take_fresh()
    }

    /// Whether we are playing a prompt to this leg now (a bot's greeting), given before
    /// the frames heard meanwhile: a person waits for our first prompt to end before
    /// answering it and a recording talks over it, so speech that begins only after it
    /// is a person ([`Rule::RepliedToPrompt`]) and dead air counts from its end.
    pub fn prompt_playing(&mut self, now: Millis, talking: bool) {
        self.now = now;
        self.speech.prompt(talking, self.frame);
    }

    /// The far end answered (200 OK): speech timing restarts, and a verdict that only described
    /// the ringing (ringback, silence) is dropped so the answer gets its own.
    pub fn answered(&mut self, now: Millis) {
        self.now = now;
        self.stage = Stage::Answered;
        self.speech.answered(self.frame);
        self.tones.answered();
        let ringing = matches!(
            self.verdict.as_ref().map(|v| v.class),
            Some(Class::Tone(ToneKind::Ringback) | Class::Silence)
        );
        if ringing {
            self.verdict = None;
        }
    }

    /// The deadline: decide from whatever evidence there is. Idempotent.
    pub fn finish(&mut self, now: Millis) -> Verdict {
        self.now = now;
        for h in self.tones.flush(self.frame, self.speech.speech_ms()) {
            self.emit(h);
        }
        if let Some((cue, p, _)) = self.text.weak.take() {
            self.emit_cue(cue, p, Rule::WeakKeyword);
        }
        if let Some(v) = &self.verdict {
            return v.clone();
        }
        let hit = self.deadline_guess();
        self.emit(hit);
        self.verdict
            .clone()
            .unwrap_or_else(|| self.make(Hit::new(Class::Undecided, Rule::Deadline), 0))
    }

    fn take_fresh(&mut self) -> Option<Verdict> {
        if self.fresh {
            self.fresh = false;
            self.verdict.clone()
        } else {
            None
        }
    }

    /// One 20 ms frame is in the front end's window.
    fn on_frame(&mut self) {
        let level = self.front.level(&self.cfg);
        let obs = self.tone_an.observe(self.front.window(), &level, &self.cfg);
        self.front.advance();
        // Tones first: a tone frame is neither speech nor silence.
        let hits = self.tones.frame(obs, self.frame, self.speech.speech_ms());
        self.speech.frame(&level, obs.is_some(), self.frame);
        self.frame += 1;
        for h in hits {
            self.emit(h);
        }
        self.weak_due();
        // Speech rules decide once, except that a person who speaks after a dead-air verdict
        // still gets to be heard.
        let open = self
            .verdict
            .as_ref()
            .is_none_or(|v| v.class == Class::Silence);
        if open {
            if let Some(h) = self
                .speech
                .rules(self.frame, self.stage, self.tones.tracking())
            {
                self.emit(h);
            }
        }
    }

    /// A weak phrase whose hold is over decides.
    fn weak_due(&mut self) {
        if let Some((cue, p, until)) = self.text.weak {
            if self.now >= until {
                self.text.weak = None;
                self.emit_cue(cue, p, Rule::WeakKeyword);
            }
        }
    }

    fn text_rules(&mut self) {
        if let Some((cue, p)) = self.text.strong() {
            self.text.weak = None;
            self.emit_cue(cue, p, Rule::Keyword);
            return;
        }
        if self.text.weak.is_none() {
            if let Some((cue, p)) = self.text.weak() {
                let until = self.now.plus_ms(self.cfg.weak_keyword_hold_ms);
                self.text.weak = Some((cue, p, until));
            }
        }
        if let Some(p) = self.text.human_question(self.cfg.human_question_max_words) {
            self.emit_cue(Cue::HumanQuestion, p, Rule::HumanQuestion);
        }
    }

    fn emit_cue(&mut self, cue: Cue, phrase: &'static str, rule: Rule) {
        let class = match cue {
            Cue::Announcement(k) => Class::Announcement(k),
            Cue::Machine => Class::Machine,
            Cue::HumanQuestion => Class::Human,
        };
        let mut h = Hit::new(class, rule);
        h.keyword = Some(phrase);
        self.emit(h);
    }

    /// Whether later evidence may overturn the current verdict: only stronger kinds of evidence,
    /// and only in the directions where the first rule is known to err.
    fn may_revise(&self, cur: &Verdict, h: &Hit) -> bool {
        if cur.class == h.class || cur.revision >= self.cfg.max_revisions {
            return false;
        }
        let acoustic_machine = cur.class == Class::Machine
            && matches!(
                cur.rule,
                Rule::LongGreeting | Rule::MaxWords | Rule::Deadline
            );
        match (h.class, h.rule) {
            (Class::Announcement(_), Rule::Sit | Rule::Keyword) => true,
            (Class::Announcement(_), Rule::WeakKeyword) => {
                acoustic_machine || cur.rule == Rule::EarlyMediaSpeech
            }
            (Class::Machine, Rule::Beep | Rule::Keyword | Rule::WeakKeyword) => {
                matches!(cur.class, Class::Human | Class::Silence)
                    || (cur.class == Class::Announcement(AnnouncementKind::Unknown)
                        && h.rule != Rule::Beep)
            }
            (Class::Human, Rule::HumanQuestion) => acoustic_machine,
            (
                Class::Human | Class::Machine,
                Rule::AfterGreetingSilence
                | Rule::LongGreeting
                | Rule::MaxWords
                | Rule::RepliedToPrompt,
            ) => cur.class == Class::Silence,
            (Class::Fax, _) => cur.class == Class::Silence,
            _ => false,
        }
    }

    fn emit(&mut self, h: Hit) {
        let revision = match &self.verdict {
            None => 0,
            Some(cur) if self.may_revise(cur, &h) => cur.revision + 1,
            Some(_) => return,
        };
        self.verdict = Some(self.make(h, revision));
        self.fresh = true;
    }

    fn make(&self, h: Hit, revision: u8) -> Verdict {
        let mut evidence = self.speech.evidence();
        evidence.tone_hz = h.tone.map(|t| t.0);
        evidence.tone_on_ms = h.tone.map(|t| t.1);
        evidence.tone_off_ms = h.tone.and_then(|t| t.2);
        evidence.sit = h.sit;
        evidence.keyword = h.keyword.map(str::to_string);
        Verdict {
            class: h.class,
            rule: h.rule,
            decided_at: self.now,
            audio_ms: self.frame * FRAME_MS,
            stage: self.stage,
            revision,
            evidence,
        }
    }

    fn deadline_guess(&self) -> Hit {
        if let Some(h) = self.speech.deadline_guess(self.stage) {
            return h;
        }
        if let Some(h) = self.tones.deadline_guess() {
            return h;
        }
        if self.tones.heard_segments() || self.speech.heard_tone() {
            return Hit::new(Class::Undecided, Rule::Deadline);
        }
        Hit::new(Class::Silence, Rule::Deadline)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpd::{CpdOutcome, SitCode};
    use std::f32::consts::PI;

    const SR: u32 = 8000;

    /// Deterministic xorshift noise, so failures reproduce.
    struct Rng(u32);
    impl Rng {
        fn next(&mut self) -> f32 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 17;
            self.0 ^= self.0 << 5;
            (self.0 as f32 / u32::MAX as f32) * 2.0 - 1.0
        }
    }

    fn n(ms: u64, sr: u32) -> usize {
        (ms * sr as u64 / 1000) as usize
    }

    fn to_i16(x: f32) -> i16 {
        (x * 32767.0).clamp(-32768.0, 32767.0) as i16
    }

    fn silence(ms: u64) -> Vec<i16> {
        vec![0; n(ms, SR)]
    }

    fn tones(freqs: &[f32], ms: u64, amp: f32, sr: u32) -> Vec<i16> {
        (0..n(ms, sr))
            .map(|i| {
                let t = i as f32 / sr as f32;
                let v: f32 = freqs.iter().map(|f| (2.0 * PI * f * t).sin()).sum();
                to_i16(amp * v / freqs.len() as f32)
            })
            .collect()
    }

    fn tone(f: f32, ms: u64) -> Vec<i16> {
        tones(&[f], ms, 0.3, SR)
    }

    fn cadence(freqs: &[f32], on: u64, off: u64, cycles: usize) -> Vec<i16> {
        let mut v = Vec::new();
        for _ in 0..cycles {
            v.extend(tones(freqs, on, 0.3, SR));
            v.extend(silence(off));
        }
        v
    }

    fn noise(ms: u64, amp: f32, seed: u32) -> Vec<i16> {
        let mut r = Rng(seed);
        (0..n(ms, SR)).map(|_| to_i16(amp * r.next())).collect()
    }

    /// A speech-like burst: a harmonic series with vibrato under two formant bumps,
    /// amplitude-modulated at a syllable rate of 5 Hz, plus a little noise.
    fn speech(ms: u64, f0: f32, seed: u32, sr: u32) -> Vec<i16> {
        let mut r = Rng(seed);
        let mut phase = 0.0f32;
        (0..n(ms, sr))
            .map(|i| {
                let t = i as f32 / sr as f32;
                let f = f0 * (1.0 + 0.08 * (2.0 * PI * 3.0 * t).sin());
                phase += 2.0 * PI * f / sr as f32;
                let mut v = 0.0;
                for k in 1..=15 {
                    let fk = k as f32 * f;
                    let env = (-((fk - 600.0) / 300.0).powi(2)).exp()
                        + 0.5 * (-((fk - 1700.0) / 400.0).powi(2)).exp();
                    v += env * (k as f32 * phase).sin();
                }
                let syl = (PI * t / 0.2).sin().powi(2);
                to_i16(0.15 * (0.15 + 0.85 * syl) * v + 0.003 * r.next())
            })
            .collect()
    }

    fn cat(parts: &[Vec<i16>]) -> Vec<i16> {
        parts.concat()
    }

    /// Push in 20 ms chunks; return every verdict seen and the final one.
    fn run_cfg(cfg: CpdConfig, stage: Stage, pcm: &[i16]) -> (Vec<Verdict>, Verdict) {
        let per = (cfg.sample_rate_hz / 50) as usize;
        let mut d = Detector::new(cfg, stage).unwrap();
        let mut seen = Vec::new();
        for (i, c) in pcm.chunks(per).enumerate() {
            seen.extend(d.push(c, Millis((i as u64 + 1) * 20)));
        }
        let fin = d.finish(Millis(pcm.len() as u64 * 1000 / (per as u64 * 50)));
        (seen, fin)
    }

    fn run(pcm: &[i16]) -> (Vec<Verdict>, Verdict) {
        run_cfg(CpdConfig::default(), Stage::Answered, pcm)
    }

    #[test]
    fn ced_answer_tone_is_fax_within_a_second() {
        let (seen, v) = run(&cat(&[silence(300), tone(2100.0, 3000)]));
        assert_eq!(v.class, Class::Fax);
        assert_eq!(v.rule, Rule::Ced);
        assert!(seen[0].audio_ms <= 900, "{}", seen[0].audio_ms);
        assert!((v.evidence.tone_hz.unwrap() - 2100.0).abs() < 10.0);
    }

    #[test]
    fn cng_calling_tone_is_fax() {
        let v = run(&cat(&[silence(500), tone(1100.0, 500), silence(3000)])).1;
        assert_eq!((v.class, v.rule), (Class::Fax, Rule::Cng));
    }

    fn sit(f1: f32, d1: u64, f2: f32, d2: u64) -> Vec<i16> {
        cat(&[tone(f1, d1), tone(f2, d2), tone(1776.7, 380)])
    }

    #[test]
    fn sit_intercept_decides_not_in_service_before_the_words() {
        let pcm = cat(&[
            silence(300),
            sit(913.8, 274, 1370.6, 274),
            silence(200),
            speech(2500, 180.0, 1, SR),
        ]);
        let (seen, v) = run(&pcm);
        assert_eq!(v.class, Class::Announcement(AnnouncementKind::NotInService));
        assert_eq!(v.evidence.sit, Some(SitCode::Intercept));
        assert!(seen[0].audio_ms < 1400, "{}", seen[0].audio_ms);
    }

    #[test]
    fn sit_codes_follow_telcordia() {
        let nc = run(&cat(&[sit(985.2, 380, 1428.5, 380), silence(500)])).1;
        assert_eq!(nc.evidence.sit, Some(SitCode::NoCircuit));
        assert_eq!(nc.class, Class::Announcement(AnnouncementKind::Unreachable));
        let vc = run(&cat(&[sit(985.2, 380, 1370.6, 274), silence(500)])).1;
        assert_eq!(vc.evidence.sit, Some(SitCode::VacantCode));
        let ro = run(&cat(&[sit(913.8, 274, 1428.5, 380), silence(500)])).1;
        assert_eq!(ro.evidence.sit, Some(SitCode::Reorder));
        let itu = run(&cat(&[
            tone(950.0, 330),
            tone(1400.0, 330),
            tone(1800.0, 330),
        ]))
        .1;
        assert_eq!(itu.class, Class::Announcement(AnnouncementKind::Unknown));
        assert_eq!(itu.evidence.sit, Some(SitCode::Uncoded));
    }

    #[test]
    fn busy_and_reorder_cadences() {
        let cases = [
            (cadence(&[450.0], 350, 350, 4), ToneKind::Busy),
            (cadence(&[480.0, 620.0], 500, 500, 3), ToneKind::Busy),
            (cadence(&[480.0, 620.0], 250, 250, 4), ToneKind::Reorder),
            (cadence(&[450.0], 700, 700, 3), ToneKind::Reorder),
        ];
        for (i, (pcm, kind)) in cases.into_iter().enumerate() {
            let v = run_cfg(CpdConfig::default(), Stage::EarlyMedia, &pcm).1;
            assert_eq!(v.class, Class::Tone(kind), "case {i}: {v:?}");
            assert_eq!(v.rule, Rule::ToneCadence);
        }
    }

    #[test]
    fn ringback_china_and_us() {
        let cn = run_cfg(
            CpdConfig::default(),
            Stage::EarlyMedia,
            &cat(&[silence(200), tone(450.0, 1000), silence(4000)]),
        );
        assert_eq!(cn.1.class, Class::Tone(ToneKind::Ringback));
        let us = run_cfg(
            CpdConfig::default(),
            Stage::EarlyMedia,
            &cat(&[tones(&[440.0, 480.0], 2000, 0.2, SR), silence(1000)]),
        );
        assert_eq!(us.1.class, Class::Tone(ToneKind::Ringback));
        assert!(us.0[0].audio_ms <= 1000, "{}", us.0[0].audio_ms);
        assert_eq!(us.1.outcome(), CpdOutcome::NoAnswer);
    }

    #[test]
    fn short_greeting_then_pause_is_human() {
        let pcm = cat(&[silence(500), speech(600, 140.0, 2, SR), silence(2000)]);
        let (seen, v) = run(&pcm);
        assert_eq!(
            (v.class, v.rule),
            (Class::Human, Rule::AfterGreetingSilence)
        );
        // Decided 0.8 s after the greeting, not at the deadline.
        assert!(seen[0].audio_ms <= 2000, "{}", seen[0].audio_ms);
        assert!(v.evidence.words >= 1);
        assert_eq!(v.evidence.initial_silence_ms.map(|s| s / 100), Some(5));
        assert_eq!(v.outcome(), CpdOutcome::Live);
    }

    #[test]
    fn two_hellos_with_a_pause_are_human() {
        let pcm = cat(&[
            silence(400),
            speech(400, 200.0, 3, SR),
            silence(1500),
            speech(400, 210.0, 4, SR),
            silence(1500),
        ]);
        assert_eq!(run(&pcm).1.class, Class::Human);
    }

    #[test]
    fn long_greeting_is_machine() {
        let pcm = cat(&[
            silence(400),
            speech(1200, 120.0, 5, SR),
            silence(150),
            speech(1500, 125.0, 6, SR),
        ]);
        let (seen, v) = run(&pcm);
        assert_eq!((v.class, v.rule), (Class::Machine, Rule::LongGreeting));
        assert!(v.evidence.greeting_ms >= 1800);
        assert!(seen[0].audio_ms <= 2400, "{}", seen[0].audio_ms);
    }

    #[test]
    fn short_greeting_then_beep_is_machine() {
        let pcm = cat(&[
            silence(400),
            speech(700, 160.0, 7, SR),
            silence(300),
            tone(1000.0, 500),
            silence(1000),
        ]);
        let v = run(&pcm).1;
        assert_eq!((v.class, v.rule), (Class::Machine, Rule::Beep));
        assert_eq!(v.outcome(), CpdOutcome::Voicemail);
    }

    #[test]
    fn beep_after_a_human_verdict_revises_it() {
        let pcm = cat(&[
            silence(400),
            speech(600, 160.0, 8, SR),
            silence(1200),
            tone(1400.0, 400),
            silence(500),
        ]);
        let (seen, v) = run(&pcm);
        assert_eq!(seen[0].class, Class::Human);
        assert_eq!(
            (v.class, v.rule, v.revision),
            (Class::Machine, Rule::Beep, 1)
        );
    }

    #[test]
    fn an_1100_hz_tone_after_a_greeting_is_a_beep_not_a_fax() {
        let pcm = cat(&[
            silence(300),
            speech(700, 150.0, 17, SR),
            silence(300),
            tone(1100.0, 500),
            silence(1000),
        ]);
        assert_eq!(run(&pcm).1.class, Class::Machine);
    }

    #[test]
    fn clipped_loud_greeting_is_still_human() {
        let loud: Vec<i16> = speech(600, 150.0, 18, SR)
            .into_iter()
            .map(|s| s.saturating_mul(12))
            .collect();
        let v = run(&cat(&[silence(400), loud, silence(1500)])).1;
        assert_eq!(v.class, Class::Human);
    }

    #[test]
    fn noise_bursts_are_not_speech() {
        let mut pcm = Vec::new();
        for i in 0..6 {
            pcm.extend(noise(300, 0.3, 11 + i));
            pcm.extend(noise(400, 0.003, 99 + i));
        }
        let v = run(&pcm).1;
        assert!(
            !matches!(v.class, Class::Human | Class::Machine),
            "noise classified as {v:?}"
        );
    }

    #[test]
    fn dead_air_is_silence_at_the_initial_silence_limit() {
        let (seen, v) = run(&cat(&[noise(5000, 0.002, 5)]));
        assert_eq!((v.class, v.rule), (Class::Silence, Rule::InitialSilence));
        assert_eq!(seen[0].audio_ms, 3500);
        assert_eq!(v.outcome(), CpdOutcome::NoAnswer);
    }

    #[test]
    fn speech_after_a_dead_air_verdict_revises_it() {
        let pcm = cat(&[silence(4000), speech(500, 150.0, 19, SR), silence(1200)]);
        let (seen, v) = run(&pcm);
        assert_eq!(seen[0].class, Class::Silence);
        assert_eq!((v.class, v.revision), (Class::Human, 1));
    }

    #[test]
    fn early_media_speech_is_an_announcement_and_text_names_it() {
        let pcm = cat(&[silence(300), speech(2500, 220.0, 12, SR)]);
        let mut d = Detector::new(CpdConfig::default(), Stage::EarlyMedia).unwrap();
        let mut first = None;
        for (i, c) in pcm.chunks(160).enumerate() {
            if let Some(v) = d.push(c, Millis(i as u64 * 20)) {
                first.get_or_insert(v);
            }
        }
        let first = first.unwrap();
        assert_eq!(first.class, Class::Announcement(AnnouncementKind::Unknown));
        assert_eq!(first.rule, Rule::EarlyMediaSpeech);
        let v = d
            .push_transcript("您拨打的号码是空号", Locale::ZhCn, Millis(3000))
            .unwrap();
        assert_eq!(v.class, Class::Announcement(AnnouncementKind::NotInService));
        assert_eq!((v.rule, v.revision), (Rule::Keyword, 1));
        assert_eq!(v.evidence.keyword.as_deref(), Some("空号"));
        assert_eq!(v.outcome(), CpdOutcome::BadNumber);
        assert_eq!(d.finish(Millis(5000)), v);
    }

    #[test]
    fn weak_phrase_waits_for_a_stronger_one() {
        let mut d = Detector::new(CpdConfig::default(), Stage::Answered).unwrap();
        assert!(d
            .push_transcript(
                "The person you are calling is not available.",
                Locale::EnUs,
                Millis(1000)
            )
            .is_none());
        let v = d
            .push_transcript(
                "Please leave a message after the beep.",
                Locale::EnUs,
                Millis(2500),
            )
            .unwrap();
        assert_eq!((v.class, v.rule), (Class::Machine, Rule::Keyword));

        let mut d = Detector::new(CpdConfig::default(), Stage::Answered).unwrap();
        d.push_transcript(
            "The wireless customer is not available",
            Locale::EnUs,
            Millis(1000),
        );
        assert!(d.push(&silence(20), Millis(3000)).is_none());
        let v = d.push(&silence(20), Millis(4000)).unwrap();
        assert_eq!(v.class, Class::Announcement(AnnouncementKind::Unreachable));
        assert_eq!(v.rule, Rule::WeakKeyword);
    }

    #[test]
    fn a_weak_phrase_names_its_deadline_and_decides_at_it_without_audio() {
        let mut d = Detector::new(CpdConfig::default(), Stage::Answered).unwrap();
        assert_eq!(d.poll_timeout(), None);
        d.push_transcript(
            "The subscriber is not available",
            Locale::EnUs,
            Millis(10_000),
        );
        assert_eq!(d.poll_timeout(), Some(Millis(13_000)));
        assert!(d.handle_timeout(Millis(12_999)).is_none());
        let v = d.handle_timeout(Millis(13_000)).expect("due");
        assert_eq!(
            (v.class, v.rule),
            (
                Class::Announcement(AnnouncementKind::Unreachable),
                Rule::WeakKeyword
            )
        );
        assert_eq!(v.decided_at, Millis(13_000));
        assert_eq!(d.poll_timeout(), None);
        // A stronger phrase before the deadline takes the deadline away.
        let mut d = Detector::new(CpdConfig::default(), Stage::Answered).unwrap();
        d.push_transcript("The subscriber is not available", Locale::EnUs, Millis(0));
        d.push_transcript("please leave a message", Locale::EnUs, Millis(500));
        assert_eq!(d.poll_timeout(), None);
        assert!(d.handle_timeout(Millis(5_000)).is_none());
    }

    #[test]
    fn a_persons_question_overturns_an_acoustic_machine() {
        let pcm = cat(&[silence(300), speech(2500, 130.0, 13, SR)]);
        let mut d = Detector::new(CpdConfig::default(), Stage::Answered).unwrap();
        for (i, c) in pcm.chunks(160).enumerate() {
            d.push(c, Millis(i as u64 * 20));
        }
        assert_eq!(d.verdict().map(|v| v.class), Some(Class::Machine));
        let v = d
            .push_transcript(
                "Hello, yes, this is Mike, who is calling please?",
                Locale::EnUs,
                Millis(3000),
            )
            .unwrap();
        assert_eq!((v.class, v.rule), (Class::Human, Rule::HumanQuestion));
    }

    #[test]
    fn sixteen_khz_input() {
        let cfg = CpdConfig {
            sample_rate_hz: 16000,
            ..CpdConfig::default()
        };
        let fax = cat(&[vec![0; 3200], tones(&[2100.0], 2000, 0.3, 16000)]);
        assert_eq!(
            run_cfg(cfg.clone(), Stage::Answered, &fax).1.class,
            Class::Fax
        );
        let hello = cat(&[vec![0; 8000], speech(600, 150.0, 14, 16000), vec![0; 32000]]);
        let v = run_cfg(cfg, Stage::Answered, &hello).1;
        assert_eq!(v.class, Class::Human);
        // Timings are in real milliseconds whatever the input rate.
        assert_eq!(v.evidence.initial_silence_ms.map(|s| s / 100), Some(5));
    }

    #[test]
    fn no_panic_on_hostile_input_and_chunking_does_not_matter() {
        let mut d = Detector::new(CpdConfig::default(), Stage::Answered).unwrap();
        assert!(d.push(&[], Millis(0)).is_none());
        assert!(d.push_transcript("", Locale::EnUs, Millis(0)).is_none());
        let extremes: Vec<i16> = (0..8000)
            .map(|i| if i % 2 == 0 { i16::MAX } else { i16::MIN })
            .collect();
        d.push(&extremes, Millis(1000));
        let square: Vec<i16> = (0..16000)
            .map(|i| if (i / 20) % 2 == 0 { 32767 } else { -32768 })
            .collect();
        d.push(&square, Millis(3000));
        let mut r = Rng(7);
        let huge: Vec<i16> = (0..8000 * 60).map(|_| to_i16(r.next())).collect();
        d.push(&huge, Millis(63_000));
        d.push_transcript(&"空号 ".repeat(5000), Locale::ZhCn, Millis(63_000));
        let _ = d.finish(Millis(64_000));
        let _ = d.finish(Millis(64_000));

        let pcm = cat(&[silence(300), speech(700, 170.0, 15, SR), silence(1500)]);
        let whole = {
            let mut d = Detector::new(CpdConfig::default(), Stage::Answered).unwrap();
            d.push(&pcm, Millis(0));
            d.finish(Millis(0))
        };
        let mut d = Detector::new(CpdConfig::default(), Stage::Answered).unwrap();
        for s in &pcm {
            d.push(std::slice::from_ref(s), Millis(0));
        }
        let one_by_one = d.finish(Millis(0));
        assert_eq!(whole, one_by_one);
    }

    #[test]
    fn answer_after_ringback_gets_its_own_verdict() {
        let mut d = Detector::new(CpdConfig::default(), Stage::EarlyMedia).unwrap();
        let ring = cat(&[tones(&[440.0, 480.0], 2000, 0.2, SR), silence(500)]);
        d.push(&ring, Millis(2500));
        assert_eq!(
            d.verdict().map(|v| v.class),
            Some(Class::Tone(ToneKind::Ringback))
        );
        d.answered(Millis(2500));
        assert!(d.verdict().is_none());
        let v = d
            .push(
                &cat(&[silence(300), speech(500, 150.0, 16, SR), silence(1200)]),
                Millis(4500),
            )
            .unwrap();
        assert_eq!((v.class, v.stage), (Class::Human, Stage::Answered));
        assert_eq!(v.evidence.initial_silence_ms.map(|s| s / 100), Some(3));
    }

    #[test]
    fn config_is_validated() {
        let rate = CpdConfig {
            sample_rate_hz: 44100,
            ..CpdConfig::default()
        };
        assert_eq!(
            Detector::new(rate, Stage::Answered).err(),
            Some(CpdError::SampleRate(44100))
        );
        let purity = CpdConfig {
            tone_purity: 2.0,
            ..CpdConfig::default()
        };
        assert!(matches!(
            purity.validate(),
            Err(CpdError::Config {
                field: "tone_purity",
                ..
            })
        ));
        assert!(CpdConfig::default().validate().is_ok());
    }
}
