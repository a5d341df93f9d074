//! Personas: who picks up a synthetic customer's phone and how they behave, as a YAML
//! file a tester edits (`demo/personas.yaml`). A run is reproducible: a dialled number
//! gets the persona the file's `numbers:` map names, else one drawn by weight from a
//! hash of (seed, number), so the same seed gives the same population.

use crate::yaml::YamlError;
use crate::Locale;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;

/// How the line answers the INVITE, before anybody speaks.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    /// Rings `ring_s`, then a person answers.
    #[default]
    Answer,
    /// Rings `ring_s`, then 486 Busy Here.
    Busy,
    /// Rings until the caller cancels.
    NoAnswer,
    /// Answers after `ring_s` and plays a voicemail greeting and a beep: the bot's
    /// call-progress detection must hear a machine.
    Voicemail,
    /// A carrier announcement ("the number you have dialled is not in service"), as early
    /// media or after an answer (`early_media`).
    Announcement,
}

/// How the person behaves once the call is up. The lines say it; the behaviour decides
/// the timing (a barge-in speaker talks over the bot, a silent one never speaks).
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Behaviour {
    /// Confirms identity and agrees to pay.
    Cooperative,
    /// Promises a date.
    PromiseToPay,
    /// Says the debt is paid.
    AlreadyPaid,
    /// Is not the debtor.
    WrongPerson,
    /// Swears at the bot.
    Angry,
    /// Never says a word.
    Silent,
    /// Wants a person.
    AsksForHuman,
    /// Denies the debt.
    Disputes,
    /// Cannot pay.
    Hardship,
    /// Starts talking about a second into every bot prompt.
    BargesIn,
}

/// What the phone does with a REFER from the bot.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum OnRefer {
    /// Accepts (202) and calls the target, carrying the `X-Voxdial-*` context on.
    #[default]
    Honour,
    /// Refuses (603), as many handsets and trunks do: the bot must bridge or take back.
    Refuse,
}

/// One kind of customer.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Persona {
    /// Share of the drawn population (0: only reached through `numbers:`).
    #[serde(default = "one")]
    pub weight: u32,
    /// How the line answers.
    #[serde(default)]
    pub answer: Answer,
    /// Seconds of ringing before the answer (or the busy).
    #[serde(default = "default_ring_s")]
    pub ring_s: f64,
    /// How the person behaves.
    pub behaviour: Behaviour,
    /// What the person says to the bot, turn by turn, per locale.
    #[serde(default)]
    pub lines: BTreeMap<Locale, Vec<String>>,
    /// What the person says to the human agent after a REFER, turn by turn.
    #[serde(default)]
    pub agent_lines: BTreeMap<Locale, Vec<String>>,
    /// What the phone does with a REFER.
    #[serde(default)]
    pub on_refer: OnRefer,
    /// The voicemail greeting or the announcement's words (defaults built in).
    #[serde(default)]
    pub greeting: BTreeMap<Locale, String>,
    /// An announcement played as early media (183) instead of after an answer.
    #[serde(default)]
    pub early_media: bool,
    /// Seconds to wait after the last line (and the bot's reply to it) before hanging up.
    #[serde(default = "default_hangup_after_s")]
    pub hangup_after_s: f64,
    /// Seconds after the answer when the person hangs up whatever happens.
    #[serde(default = "default_max_call_s")]
    pub max_call_s: f64,
}

fn one() -> u32 {
    1
}
fn default_ring_s() -> f64 {
    1.0
}
fn default_hangup_after_s() -> f64 {
    6.0
}
fn default_max_call_s() -> f64 {
    120.0
}
fn default_locale() -> Locale {
    Locale::EnUs
}

/// The personas file as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersonaFile {
    /// The locale of numbers outside China (`+86…` / `86…` numbers speak zh-CN).
    #[serde(default = "default_locale")]
    pub locale: Locale,
    /// Dialled number (user part of the Request-URI) -> persona name.
    #[serde(default)]
    pub numbers: BTreeMap<String, String>,
    /// The personas by name.
    pub personas: BTreeMap<String, Persona>,
}

/// A personas file that cannot be used, with its place.
#[derive(Debug, thiserror::Error)]
pub enum PersonaError {
    /// The file cannot be read (missing, too large, not UTF-8).
    #[error("personas file {}", path.display())]
    Read {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: crate::yaml::ReadError,
    },
    /// Bad YAML or a bad value, at `file:line:col`.
    #[error(transparent)]
    Invalid(#[from] YamlError),
}

/// A checked personas file, ready to pick personas for dialled numbers.
#[derive(Clone, Debug)]
pub struct Personas {
    file: PersonaFile,
    /// Names with a positive weight, in name order, with their cumulative weights.
    drawn: Vec<(String, u64)>,
}

/// The longest ring, wait or call a persona may ask for, in seconds: a typo of `6000`
/// must not keep a test phone off-hook for hours.
const MAX_SECONDS: f64 = 3600.0;

/// The built-in voicemail greeting, when a persona gives none.
pub fn default_greeting(locale: Locale) -> &'static str {
    match locale {
        Locale::EnUs => {
            "Hi, you've reached my voicemail. I can't take your call right now. \
             Please leave a message after the tone."
        }
        Locale::ZhCn => "您好,您拨打的用户暂时无法接听,请在提示音后留言。",
    }
}

/// The built-in carrier announcement, when a persona gives none.
pub fn default_announcement(locale: Locale) -> &'static str {
    match locale {
        Locale::EnUs => {
            "We're sorry. The number you have dialed is not in service. \
             Please check the number and try again."
        }
        Locale::ZhCn => "您好,您拨打的号码是空号,请查证后再拨。",
    }
}

impl Personas {
    /// Read and check a personas file.
    pub fn load(path: &Path) -> Result<Personas, PersonaError> {
        let text = crate::yaml::read(path).map_err(|source| PersonaError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Personas::parse(&text, &path.display().to_string())?)
    }

    /// Parse and check a personas file's text; `path` names it in errors.
    pub fn parse(text: &str, path: &str) -> Result<Personas, YamlError> {
        let file: PersonaFile = crate::yaml::parse(text, path)?;
        if file.personas.is_empty() {
            return Err(YamlError::at(
                path,
                key_line(text, "personas").unwrap_or(1),
                1,
                "no personas: name at least one under `personas:`",
            ));
        }
        for (name, p) in &file.personas {
            check_persona(text, path, name, p)?;
        }
        for (number, name) in &file.numbers {
            if !file.personas.contains_key(name) {
                let line = key_line(text, number).unwrap_or(1);
                return Err(YamlError::at(
                    path,
                    line,
                    1,
                    format!(
                        "numbers: {} names persona {name:?}, which the file does not define \
                         (personas: {})",
                        super::mask_number(number),
                        file.personas.keys().cloned().collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
        }
        let mut total = 0u64;
        let mut drawn = Vec::new();
        for (name, p) in &file.personas {
            if p.weight > 0 {
                total += u64::from(p.weight);
                drawn.push((name.clone(), total));
            }
        }
        if drawn.is_empty() {
            return Err(YamlError::at(
                path,
                key_line(text, "personas").unwrap_or(1),
                1,
                "every persona has weight 0: give at least one a positive weight, or numbers \
                 outside `numbers:` have nobody to answer",
            ));
        }
        Ok(Personas { file, drawn })
    }

    /// The file as written.
    pub fn file(&self) -> &PersonaFile {
        &self.file
    }

    /// A persona by name.
    pub fn get(&self, name: &str) -> Option<&Persona> {
        self.file.personas.get(name)
    }

    /// The persona that answers `number` (the Request-URI's user part): the `numbers:`
    /// entry (with or without a leading `+`), else a draw by weight that depends only on
    /// (seed, number).
    pub fn pick(&self, seed: u64, number: &str) -> (&str, &Persona) {
        let bare = number.trim_start_matches('+');
        let listed = [number.to_string(), bare.to_string(), format!("+{bare}")]
            .into_iter()
            .find_map(|n| self.file.numbers.get(&n));
        if let Some(name) = listed {
            if let Some((k, p)) = self.file.personas.get_key_value(name) {
                return (k, p);
            }
        }
        let total = self.drawn.last().map_or(1, |(_, w)| *w).max(1);
        let mut h = Sha256::new();
        h.update(seed.to_be_bytes());
        h.update(bare.as_bytes());
        let d = h.finalize();
        let mut b = [0u8; 8];
        b.copy_from_slice(&d[..8]);
        let ticket = u64::from_be_bytes(b) % total;
        let name = self
            .drawn
            .iter()
            .find(|(_, upto)| ticket < *upto)
            .map_or(&self.drawn[0].0, |(n, _)| n);
        let (k, p) = self
            .file
            .personas
            .get_key_value(name)
            .unwrap_or_else(|| unreachable_persona(&self.file));
        (k, p)
    }

    /// The locale a number speaks: Chinese numbers (`+86`, `86`) Mandarin, others the
    /// file's `locale`.
    pub fn locale_for(&self, number: &str) -> Locale {
        let bare = number.trim_start_matches('+');
        if bare.starts_with("86") && bare.len() >= 11 {
            Locale::ZhCn
        } else {
            self.file.locale
        }
    }

    /// Every text a run may have to speak, per locale: lines, agent lines, greetings and
    /// announcements. Voices are made for these once, before any call.
    pub fn texts(&self) -> Vec<(Locale, String)> {
        let mut out = Vec::new();
        for p in self.file.personas.values() {
            for locale in Locale::ALL {
                if let Some(t) = p.spoken_intro(locale) {
                    out.push((locale, t));
                }
                for l in p.lines.get(&locale).into_iter().flatten() {
                    out.push((locale, l.clone()));
                }
                for l in p.agent_lines.get(&locale).into_iter().flatten() {
                    out.push((locale, l.clone()));
                }
            }
        }
        out.sort();
        out.dedup();
        out
    }
}

/// `drawn` only holds names of `personas`; this is never reached.
fn unreachable_persona(file: &PersonaFile) -> (&String, &Persona) {
    // Parse refuses a file without personas, so there is a first one.
    file.personas
        .iter()
        .next()
        .unwrap_or_else(|| unreachable!("a checked personas file has a persona"))
}

impl Persona {
    /// The lines said to the bot in `locale` (none when the file gives none).
    pub fn lines_for(&self, locale: Locale) -> &[String] {
        self.lines.get(&locale).map_or(&[], Vec::as_slice)
    }

    /// The lines said to a human agent after a REFER.
    pub fn agent_lines_for(&self, locale: Locale) -> &[String] {
        self.agent_lines.get(&locale).map_or(&[], Vec::as_slice)
    }

    /// The voicemail greeting or the announcement, for personas that play one.
    pub fn spoken_intro(&self, locale: Locale) -> Option<String> {
        let default = match self.answer {
            Answer::Voicemail => default_greeting(locale),
            Answer::Announcement => default_announcement(locale),
            _ => return None,
        };
        Some(
            self.greeting
                .get(&locale)
                .cloned()
                .unwrap_or_else(|| default.to_string()),
        )
    }
}

/// The line of `key:` as a mapping key (first match), for errors found after parsing.
fn key_line(text: &str, key: &str) -> Option<usize> {
    let plain = format!("{key}:");
    let quoted = format!("\"{key}\":");
    let single = format!("'{key}':");
    text.lines()
        .position(|l| {
            let t = l.trim_start();
            t.starts_with(&plain) || t.starts_with(&quoted) || t.starts_with(&single)
        })
        .map(|i| i + 1)
}

fn check_persona(text: &str, path: &str, name: &str, p: &Persona) -> Result<(), YamlError> {
    let line = key_line(text, name).unwrap_or(1);
    let bad = |why: String| YamlError::at(path, line, 1, format!("persona {name}: {why}"));
    for (what, v) in [
        ("ring_s", p.ring_s),
        ("hangup_after_s", p.hangup_after_s),
        ("max_call_s", p.max_call_s),
    ] {
        if !(v.is_finite() && (0.0..=MAX_SECONDS).contains(&v)) {
            return Err(bad(format!(
                "{what} must be between 0 and {MAX_SECONDS} seconds, not {v}"
            )));
        }
    }
    if p.max_call_s < 1.0 {
        return Err(bad("max_call_s must be at least 1 second".into()));
    }
    if p.early_media && p.answer != Answer::Announcement {
        return Err(bad(
            "early_media is for `answer: announcement` only (early media is what a carrier \
             plays before an answer)"
                .into(),
        ));
    }
    if !p.greeting.is_empty() && !matches!(p.answer, Answer::Voicemail | Answer::Announcement) {
        return Err(bad(
            "greeting is for `answer: voicemail` or `answer: announcement` only".into(),
        ));
    }
    let speaks = p.answer == Answer::Answer;
    if p.behaviour == Behaviour::Silent && !p.lines.is_empty() {
        return Err(bad(
            "a silent persona has no lines: remove `lines:` or choose another behaviour".into(),
        ));
    }
    if speaks && p.behaviour != Behaviour::Silent {
        for locale in Locale::ALL {
            if p.lines_for(locale).is_empty() {
                return Err(bad(format!(
                    "no lines for {locale}: a {:?} persona that answers needs what it says, \
                     in en-US and zh-CN",
                    p.behaviour
                )));
            }
        }
    }
    let all = p
        .lines
        .values()
        .chain(p.agent_lines.values())
        .flatten()
        .chain(p.greeting.values());
    for l in all {
        if l.trim().is_empty() {
            return Err(bad("an empty line: every line must say something".into()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "\
locale: en-US
numbers:
  \"+15550000486\": busy
personas:
  busy:
    weight: 0
    answer: busy
    behaviour: cooperative
  nice:
    weight: 3
    behaviour: cooperative
    lines:
      en-US: [\"yes speaking\", \"okay sure\"]
      zh-CN: [\"是我\", \"可以的\"]
  quiet:
    weight: 1
    behaviour: silent
";

    #[test]
    fn a_listed_number_gets_its_persona_with_or_without_plus() {
        let p = Personas::parse(FILE, "p.yaml").unwrap();
        assert_eq!(p.pick(1, "+15550000486").0, "busy");
        assert_eq!(p.pick(1, "15550000486").0, "busy");
    }

    #[test]
    fn the_draw_is_reproducible_and_follows_the_weights() {
        let p = Personas::parse(FILE, "p.yaml").unwrap();
        let mut counts = BTreeMap::new();
        for i in 0..4000 {
            let n = format!("1666{i:07}");
            let a = p.pick(7, &n).0.to_string();
            assert_eq!(p.pick(7, &n).0, a, "same seed and number, same persona");
            *counts.entry(a).or_insert(0) += 1;
        }
        // Weight 0 is never drawn; 3:1 comes out near 3000:1000.
        assert_eq!(counts.get("busy"), None);
        let nice = counts["nice"];
        assert!((2800..3200).contains(&nice), "{counts:?}");
        // Another seed gives another population.
        let differs = (0..200).any(|i| {
            let n = format!("1555{i:07}");
            p.pick(7, &n).0 != p.pick(8, &n).0
        });
        assert!(differs);
    }

    #[test]
    fn unknown_keys_and_values_are_placed() {
        let e = Personas::parse("personas:\n  a:\n    behaviour: nice\n", "p.yaml").unwrap_err();
        assert_eq!((e.line, e.path.as_str()), (3, "p.yaml"), "{e}");
        let e = Personas::parse("personas:\n  a:\n    behavior: silent\n", "p.yaml").unwrap_err();
        assert!(e.message.contains("unknown key"), "{e}");
        assert_eq!(e.line, 3);
    }

    #[test]
    fn a_number_naming_a_missing_persona_is_an_error_at_its_line_without_the_number() {
        let text = "numbers:\n  \"+15550001234\": ghost\npersonas:\n  a:\n    behaviour: silent\n";
        let e = Personas::parse(text, "p.yaml").unwrap_err();
        assert_eq!(e.line, 2, "{e}");
        assert!(e.message.contains("ghost"), "{e}");
        assert!(!e.message.contains("5550001234"), "number masked: {e}");
    }

    #[test]
    fn semantic_mistakes_are_refused_at_the_persona() {
        let cases = [
            // A speaking persona without zh-CN lines.
            "personas:\n  a:\n    behaviour: cooperative\n    lines:\n      en-US: [hi]\n",
            // A silent one with lines.
            "personas:\n  a:\n    behaviour: silent\n    lines:\n      en-US: [hi]\n",
            // A ring of a day.
            "personas:\n  a:\n    behaviour: silent\n    ring_s: 86400\n",
            // Early media on a person.
            "personas:\n  a:\n    behaviour: silent\n    early_media: true\n",
            // An empty line.
            "personas:\n  a:\n    behaviour: cooperative\n    lines:\n      en-US: [\" \"]\n      zh-CN: [是]\n",
            // Nobody to draw.
            "personas:\n  a:\n    weight: 0\n    behaviour: silent\n",
        ];
        for c in cases {
            let e = Personas::parse(c, "p.yaml").unwrap_err();
            assert!(e.line >= 1 && e.line <= 2, "{c}: {e}");
            assert!(e.to_string().starts_with("p.yaml:"), "{e}");
        }
    }

    #[test]
    fn chinese_numbers_speak_mandarin() {
        let p = Personas::parse(FILE, "p.yaml").unwrap();
        assert_eq!(p.locale_for("+8613800138000"), Locale::ZhCn);
        assert_eq!(p.locale_for("8613800138000"), Locale::ZhCn);
        assert_eq!(p.locale_for("+15550001234"), Locale::EnUs);
    }

    #[test]
    fn texts_cover_lines_and_greetings_once() {
        let text = "personas:\n  vm:\n    answer: voicemail\n    behaviour: silent\n  a:\n    behaviour: cooperative\n    lines:\n      en-US: [hi, hi]\n      zh-CN: [是]\n";
        let p = Personas::parse(text, "p.yaml").unwrap();
        let t = p.texts();
        assert!(t.contains(&(Locale::EnUs, "hi".into())));
        assert_eq!(t.iter().filter(|(_, s)| s == "hi").count(), 1);
        assert!(t.contains(&(Locale::EnUs, default_greeting(Locale::EnUs).into())));
    }

    /// The demo personas talk to the demo scenario: each behaviour's lines, said turn by
    /// turn, must end where that behaviour should (a promise, a transfer...), in both
    /// locales and on every day of the week (a promised date is resolved against the
    /// call's day: "next Friday" is more than a week out from a Monday, which the scenario
    /// refuses as too late), or the demo's customers would be misunderstood.
    #[test]
    fn the_demo_personas_lines_are_what_the_demo_scenario_understands() {
        use crate::dialogue::engine::{Action, Conversation, Event, Status};
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let (lib, _) = crate::scenario::library::Library::load_project(root, &[]);
        let lib = std::sync::Arc::new(lib);
        let scenario = "collection_m1_overdue";
        let vars = crate::dialogue::engine::with_examples(&lib, scenario, &BTreeMap::new());
        let p = Personas::load(&root.join("demo/personas.yaml")).unwrap();
        let mut checked = 0;
        // Monday 2026-11-16 to Sunday 2026-11-22.
        let week = (16..=22).map(|d| chrono::NaiveDate::from_ymd_opt(2026, 11, d).unwrap());
        for (today, (name, persona)) in
            week.flat_map(|d| p.file().personas.iter().map(move |np| (d, np)))
        {
            for locale in Locale::ALL {
                let lines = persona.lines_for(locale);
                if lines.is_empty() {
                    continue;
                }
                let mut conv =
                    Conversation::new(lib.clone(), scenario, locale, today, &vars).unwrap();
                let mut turn = conv.handle(Event::Start);
                for l in lines {
                    assert!(
                        !matches!(conv.status(), Status::Ended(_)),
                        "{name} {locale}: the call ended before {l:?}"
                    );
                    turn = conv.handle(Event::Utterance(l.clone()));
                }
                let end = turn.control().cloned();
                let ok = match (persona.behaviour, &end) {
                    (
                        Behaviour::Cooperative | Behaviour::PromiseToPay | Behaviour::BargesIn,
                        Some(Action::Hangup { outcome }),
                    ) => outcome == "promise_to_pay",
                    (Behaviour::AlreadyPaid, Some(Action::Hangup { outcome })) => {
                        outcome == "already_paid"
                    }
                    (Behaviour::WrongPerson, Some(Action::Hangup { outcome })) => {
                        outcome == "wrong_person"
                    }
                    (
                        Behaviour::Angry
                        | Behaviour::AsksForHuman
                        | Behaviour::Disputes
                        | Behaviour::Hardship,
                        Some(Action::Transfer { .. }),
                    ) => true,
                    _ => false,
                };
                assert!(
                    ok,
                    "{name} {locale} on {today} ({}): {:?} ended with {end:?}",
                    today.format("%A"),
                    persona.behaviour
                );
                checked += 1;
            }
        }
        assert!(checked >= 7 * 18, "{checked}");
    }

    #[test]
    fn the_demo_file_loads() {
        let p = Personas::load(Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/demo/personas.yaml"
        )))
        .unwrap();
        assert!(p.file().personas.len() >= 10);
    }
}
