//! Machine detection from speech timing (AMD, as Asterisk's `app_amd` does it): frames
//! loud enough above a tracked noise floor, and not broadband noise, are voice; voiced runs
//! become words; the silence before the first word, the greeting's length, the word count
//! and the pause after the greeting tell a person from a recording.

use super::config::CpdConfig;
use super::frontend::{Level, FRAME_MS};
use super::verdict::{AnnouncementKind, Class, Evidence, Hit, Rule, Stage};
use std::collections::VecDeque;

/// Noise-floor memory in frames (2 s): long enough to span a word, short enough to follow a line.
const FLOOR_FRAMES: usize = 100;

/// Speech timing since the origin (start or answer), in frames.
#[derive(Default, Clone)]
struct Amd {
    origin: u64,
    voiced_run: u64,
    silent_run: u64,
    in_word: bool,
    words: u32,
    first_voice: Option<u64>,
    last_voice: u64,
    speech_frames: u64,
    tone_frames: u64,
    // Our own first prompt on this leg (a bot's greeting): the frames it started and
    // ended at.
    prompt_from: Option<u64>,
    prompt_to: Option<u64>,
}

/// Our first prompt must have played this long for a reply after it to count as a
/// person's ([`Rule::RepliedToPrompt`]): a voicemail greeting starts within about a second
/// of the answer, so it is already talking over a prompt this long.
pub const REPLY_MIN_PROMPT_MS: u64 = 1_500;

/// The speech side of one call leg: noise floor and word timing.
pub(super) struct SpeechTiming {
    cfg: CpdConfig,
    floor: VecDeque<f32>,
    amd: Amd,
}

impl SpeechTiming {
    pub(super) fn new(cfg: CpdConfig) -> Self {
        SpeechTiming {
            cfg,
            floor: VecDeque::with_capacity(FLOOR_FRAMES),
            amd: Amd::default(),
        }
    }

    /// Voiced time since the origin (ms).
    pub(super) fn speech_ms(&self) -> u64 {
        self.amd.speech_frames * FRAME_MS
    }

    /// Whether any frame since the origin was a tone.
    pub(super) fn heard_tone(&self) -> bool {
        self.amd.tone_frames > 0
    }

    /// The answer: timing restarts at frame `frame` (the noise floor is kept, the line is
    /// the same).
    pub(super) fn answered(&mut self, frame: u64) {
        self.amd = Amd {
            origin: frame,
            ..Amd::default()
        };
    }

    /// Whether we are playing a prompt to the line at frame `frame` (the bot's greeting):
    /// only the first prompt is kept. What the other side does around it tells a person,
    /// who waits for it to end, from a recording, which talks over it.
    pub(super) fn prompt(&mut self, talking: bool, frame: u64) {
        let a = &mut self.amd;
        match (talking, a.prompt_from, a.prompt_to) {
            (true, None, _) => a.prompt_from = Some(frame),
            (false, Some(_), None) => a.prompt_to = Some(frame),
            _ => {}
        }
    }

    /// The first word began after our first prompt, long enough to be talked over, had
    /// ended.
    fn replied_to_prompt(&self) -> bool {
        let a = &self.amd;
        match (a.first_voice, a.prompt_from, a.prompt_to) {
            (Some(first), Some(from), Some(to)) => {
                from >= a.origin && first >= to && (to - from) * FRAME_MS >= REPLY_MIN_PROMPT_MS
            }
            _ => false,
        }
    }

    /// One frame (number `frame`): a tone frame is neither speech nor silence.
    pub(super) fn frame(&mut self, level: &Level, tone: bool, frame: u64) {
        if tone {
            self.amd.tone_frames += 1;
        } else {
            if self.floor.len() == FLOOR_FRAMES {
                self.floor.pop_front();
            }
            self.floor.push_back(level.db.max(-100.0));
        }
        let floor = self.floor.iter().copied().fold(f32::INFINITY, f32::min);
        let c = &self.cfg;
        let noise_like = level.flat >= c.noise_flatness && level.zcr >= c.noise_zcr;
        let voice = !tone
            && !noise_like
            && level.db >= c.min_speech_dbfs
            && level.db >= floor + c.speech_snr_db;
        self.step(voice, tone, frame);
    }

    fn step(&mut self, voice: bool, tone: bool, frame: u64) {
        let a = &mut self.amd;
        let min_word = self.cfg.min_word_ms / FRAME_MS;
        let between = self.cfg.between_words_ms.div_ceil(FRAME_MS);
        if voice {
            a.voiced_run += 1;
            a.speech_frames += 1;
            if a.voiced_run >= min_word {
                if !a.in_word {
                    a.in_word = true;
                    a.words += 1;
                    if a.first_voice.is_none() {
                        a.first_voice = Some(frame + 1 - a.voiced_run);
                    }
                }
                // Clicks shorter than a word do not break a silence.
                a.silent_run = 0;
            }
            if a.in_word {
                a.last_voice = frame;
            }
        } else {
            a.voiced_run = 0;
            if tone {
                a.in_word = false;
            } else {
                a.silent_run += 1;
                if a.silent_run >= between {
                    a.in_word = false;
                }
            }
        }
    }

    /// The timing rules after `frames` frames in `stage`; `tone_on` says a tone run is going
    /// on (dead air is only dead when no tone was ever heard).
    pub(super) fn rules(&self, frames: u64, stage: Stage, tone_on: bool) -> Option<Hit> {
        let a = &self.amd;
        let c = &self.cfg;
        let Some(first) = a.first_voice else {
            // Dead air is counted from the end of our own first prompt: a person waits
            // for it before saying anything.
            let quiet_from = match (a.prompt_from, a.prompt_to) {
                (Some(_), None) => return None,
                (_, Some(to)) => to.max(a.origin),
                _ => a.origin,
            };
            let quiet_ms = frames.saturating_sub(quiet_from) * FRAME_MS;
            let no_tone = a.tone_frames == 0 && !tone_on;
            return (stage == Stage::Answered && no_tone && quiet_ms >= c.max_initial_silence_ms)
                .then(|| Hit::new(Class::Silence, Rule::InitialSilence));
        };
        if stage == Stage::EarlyMedia {
            return (a.speech_frames * FRAME_MS >= c.early_speech_ms).then(|| {
                Hit::new(
                    Class::Announcement(AnnouncementKind::Unknown),
                    Rule::EarlyMediaSpeech,
                )
            });
        }
        if stage == Stage::Answered && self.replied_to_prompt() {
            return Some(Hit::new(Class::Human, Rule::RepliedToPrompt));
        }
        let greeting = (a.last_voice + 1 - first) * FRAME_MS;
        if greeting >= c.max_greeting_ms {
            return Some(Hit::new(Class::Machine, Rule::LongGreeting));
        }
        if c.max_words > 0 && a.words >= c.max_words {
            return Some(Hit::new(Class::Machine, Rule::MaxWords));
        }
        if a.silent_run * FRAME_MS >= c.after_greeting_silence_ms {
            return Some(Hit::new(Class::Human, Rule::AfterGreetingSilence));
        }
        None
    }

    /// The deadline's guess when someone spoke: still talking at the deadline, or talked
    /// long, is a recording; else a person. `None` when nobody spoke.
    pub(super) fn deadline_guess(&self, stage: Stage) -> Option<Hit> {
        let a = &self.amd;
        let first = a.first_voice?;
        if stage == Stage::EarlyMedia {
            return Some(Hit::new(
                Class::Announcement(AnnouncementKind::Unknown),
                Rule::Deadline,
            ));
        }
        let greeting = (a.last_voice + 1 - first) * FRAME_MS;
        let talking = a.silent_run * FRAME_MS < self.cfg.after_greeting_silence_ms;
        let class = if talking && greeting >= self.cfg.max_greeting_ms / 2 {
            Class::Machine
        } else {
            Class::Human
        };
        Some(Hit::new(class, Rule::Deadline))
    }

    /// The timing measurements of a verdict (the tone and phrase fields left empty).
    pub(super) fn evidence(&self) -> Evidence {
        let a = &self.amd;
        Evidence {
            initial_silence_ms: a.first_voice.map(|f| (f - a.origin.min(f)) * FRAME_MS),
            greeting_ms: a
                .first_voice
                .map(|f| (a.last_voice + 1).saturating_sub(f) * FRAME_MS)
                .unwrap_or(0),
            words: a.words,
            speech_ms: a.speech_frames * FRAME_MS,
            trailing_silence_ms: if a.first_voice.is_some() {
                a.silent_run * FRAME_MS
            } else {
                0
            },
            ..Evidence::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn level(db: f32) -> Level {
        Level {
            db,
            flat: 0.2,
            zcr: 0.1,
        }
    }

    /// Frames `from..to` of one kind.
    fn feed(t: &mut SpeechTiming, from: u64, to: u64, db: f32) {
        for f in from..to {
            t.frame(&level(db), false, f);
        }
    }

    #[test]
    fn a_short_word_then_a_pause_is_a_person_and_a_long_one_a_machine() {
        let cfg = CpdConfig::default();
        let mut t = SpeechTiming::new(cfg.clone());
        feed(&mut t, 0, 25, -70.0);
        feed(&mut t, 25, 55, -20.0);
        assert!(t.rules(55, Stage::Answered, false).is_none());
        feed(&mut t, 55, 95, -70.0);
        let h = t.rules(95, Stage::Answered, false).expect("decided");
        assert_eq!(
            (h.class, h.rule),
            (Class::Human, Rule::AfterGreetingSilence)
        );
        let e = t.evidence();
        assert_eq!(e.initial_silence_ms, Some(500));
        assert_eq!((e.words, e.greeting_ms), (1, 600));

        let mut t = SpeechTiming::new(cfg);
        feed(&mut t, 0, 10, -70.0);
        feed(&mut t, 10, 110, -20.0);
        let h = t.rules(110, Stage::Answered, false).expect("decided");
        assert_eq!((h.class, h.rule), (Class::Machine, Rule::LongGreeting));
    }

    /// A bot's greeting of `frames` frames from frame 0, then silence to `to`.
    fn greeting_then_quiet(t: &mut SpeechTiming, frames: u64, to: u64) {
        for f in 0..to {
            t.prompt(f < frames, f);
            t.frame(&level(-70.0), false, f);
        }
    }

    #[test]
    fn a_person_who_waits_for_the_bots_greeting_and_answers_at_length_is_a_person() {
        // The bot greets for 2.5 s; the person waits 0.8 s more, then talks for 2.6 s
        // ("no, I'm his brother, you have the wrong number"): greeting-length rules alone
        // call that a machine (see the test above).
        let mut t = SpeechTiming::new(CpdConfig::default());
        greeting_then_quiet(&mut t, 125, 165);
        assert!(t.rules(165, Stage::Answered, false).is_none());
        feed(&mut t, 165, 175, -20.0);
        let h = t
            .rules(175, Stage::Answered, false)
            .expect("decided at the first word");
        assert_eq!((h.class, h.rule), (Class::Human, Rule::RepliedToPrompt));
        feed(&mut t, 175, 295, -20.0);
        let h = t.rules(295, Stage::Answered, false).expect("still");
        assert_eq!(h.class, Class::Human);
    }

    #[test]
    fn a_recording_that_talks_over_the_greeting_is_still_a_machine() {
        let mut t = SpeechTiming::new(CpdConfig::default());
        // A voicemail greeting from 0.6 s, over the bot's 2.5 s greeting.
        for f in 0..200 {
            t.prompt(f < 125, f);
            let db = if f >= 30 { -20.0 } else { -70.0 };
            t.frame(&level(db), false, f);
            if let Some(h) = t.rules(f + 1, Stage::Answered, false) {
                assert_eq!((h.class, h.rule), (Class::Machine, Rule::LongGreeting));
                return;
            }
        }
        panic!("no verdict");
    }

    #[test]
    fn after_a_short_prompt_the_greeting_rules_still_judge() {
        // 1 s of prompt is too short to be talked over by a machine's greeting: what
        // follows it is judged as on a silent line.
        let mut t = SpeechTiming::new(CpdConfig::default());
        greeting_then_quiet(&mut t, 50, 60);
        feed(&mut t, 60, 160, -20.0);
        let h = t.rules(160, Stage::Answered, false).expect("decided");
        assert_eq!((h.class, h.rule), (Class::Machine, Rule::LongGreeting));
    }

    #[test]
    fn dead_air_is_counted_from_the_end_of_the_bots_greeting() {
        let mut t = SpeechTiming::new(CpdConfig::default());
        // The bot greets for 4 s: 3.5 s after the answer nobody has had a turn yet, and
        // dead air is 3.5 s after the greeting (frame 375).
        for f in 0..375 {
            t.prompt(f < 200, f);
            t.frame(&level(-70.0), false, f);
            let h = t.rules(f + 1, Stage::Answered, false);
            if f + 1 < 375 {
                assert!(h.is_none(), "frame {f}");
            } else {
                let h = h.expect("3.5 s after the greeting");
                assert_eq!(h.rule, Rule::InitialSilence);
            }
        }
    }

    #[test]
    fn broadband_noise_is_not_voice_and_dead_air_waits_for_its_limit() {
        let mut t = SpeechTiming::new(CpdConfig::default());
        for f in 0..174 {
            let noise = Level {
                db: if f % 20 < 10 { -15.0 } else { -70.0 },
                flat: 0.9,
                zcr: 0.5,
            };
            t.frame(&noise, false, f);
        }
        assert_eq!(t.speech_ms(), 0);
        assert!(t.rules(174, Stage::Answered, false).is_none());
        let h = t.rules(175, Stage::Answered, false).expect("dead air");
        assert_eq!(h.rule, Rule::InitialSilence);
        // A tone going on is not dead air.
        assert!(t.rules(175, Stage::Answered, true).is_none());
    }
}
