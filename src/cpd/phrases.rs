//! Phrase rules on transcripts: the zh-CN / en-US carrier announcement and voicemail phrases
//! that name what acoustics alone cannot (which announcement, a voicemail that never beeps),
//! and the questions only a person asks. The tables are data (`phrases.yaml`, compiled in),
//! so adding a carrier's wording is an edit to a list, not to code.

use super::config::CpdError;
use super::verdict::{AnnouncementKind, Class};
use crate::language::Locale;
use crate::yaml::YamlError;
use serde::Deserialize;
use std::sync::OnceLock;

/// The shipped table and the name its errors carry.
const SHIPPED: &str = include_str!("phrases.yaml");
const SHIPPED_PATH: &str = "src/cpd/phrases.yaml";

/// Which way a phrase points.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Cue {
    Announcement(AnnouncementKind),
    Machine,
    HumanQuestion,
}

/// A phrase's meaning as the table spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Meaning {
    Machine,
    NotInService,
    PoweredOff,
    Unreachable,
    Busy,
    Suspended,
    NumberChanged,
    UnknownAnnouncement,
}

impl Meaning {
    fn cue(self) -> Cue {
        use AnnouncementKind as K;
        match self {
            Meaning::Machine => Cue::Machine,
            Meaning::NotInService => Cue::Announcement(K::NotInService),
            Meaning::PoweredOff => Cue::Announcement(K::PoweredOff),
            Meaning::Unreachable => Cue::Announcement(K::Unreachable),
            Meaning::Busy => Cue::Announcement(K::Busy),
            Meaning::Suspended => Cue::Announcement(K::Suspended),
            Meaning::NumberChanged => Cue::Announcement(K::NumberChanged),
            Meaning::UnknownAnnouncement => Cue::Announcement(K::Unknown),
        }
    }
}

/// One locale's lists, as written in the file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LocaleLists {
    strong: Vec<(String, Meaning)>,
    #[serde(default)]
    weak: Vec<(String, Meaning)>,
    #[serde(default)]
    human_questions: Vec<String>,
}

/// The file: one block per locale.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PhraseFile {
    #[serde(rename = "zh-CN")]
    zh: LocaleLists,
    #[serde(rename = "en-US")]
    en: LocaleLists,
}

/// The phrase lists in match order, phrases in the normal form the transcript is kept in.
pub(super) struct PhraseTable {
    zh_strong: Vec<(String, Cue)>,
    zh_weak: Vec<(String, Cue)>,
    zh_human: Vec<String>,
    en_strong: Vec<(String, Cue)>,
    en_weak: Vec<(String, Cue)>,
    en_human: Vec<String>,
}

impl PhraseTable {
    /// Parses a table; `path` names it in `file:line:col` errors. A phrase not written in
    /// the normal form it is matched in could never match, so it is an error too.
    pub(super) fn parse(text: &str, path: &str) -> Result<PhraseTable, YamlError> {
        let f: PhraseFile = crate::yaml::parse(text, path)?;
        let cues = |v: Vec<(String, Meaning)>| -> Vec<(String, Cue)> {
            v.into_iter().map(|(p, m)| (p, m.cue())).collect()
        };
        let t = PhraseTable {
            zh_strong: cues(f.zh.strong),
            zh_weak: cues(f.zh.weak),
            zh_human: f.zh.human_questions,
            en_strong: cues(f.en.strong),
            en_weak: cues(f.en.weak),
            en_human: f.en.human_questions,
        };
        let zh = t
            .zh_strong
            .iter()
            .chain(&t.zh_weak)
            .map(|(p, _)| p)
            .chain(&t.zh_human);
        for p in zh {
            let mut n = TextState::new(&t);
            n.append(p, Locale::ZhCn);
            if p.is_empty() || n.zh != *p {
                return Err(not_normal(text, path, p, &n.zh));
            }
        }
        let en = t
            .en_strong
            .iter()
            .chain(&t.en_weak)
            .map(|(p, _)| p)
            .chain(&t.en_human);
        for p in en {
            let mut n = TextState::new(&t);
            n.append(p, Locale::EnUs);
            if p.is_empty() || n.en.trim_end() != p {
                return Err(not_normal(text, path, p, n.en.trim_end()));
            }
        }
        Ok(t)
    }
}

fn not_normal(text: &str, path: &str, phrase: &str, normal: &str) -> YamlError {
    let line = crate::yaml::line_of(text, phrase).unwrap_or(1);
    YamlError::at(
        path,
        line,
        1,
        format!("phrase {phrase:?} would never match: write it as {normal:?}"),
    )
}

/// The compiled-in table, parsed once per process.
pub(super) fn shipped() -> Result<&'static PhraseTable, YamlError> {
    static TABLE: OnceLock<Result<PhraseTable, YamlError>> = OnceLock::new();
    TABLE
        .get_or_init(|| PhraseTable::parse(SHIPPED, SHIPPED_PATH))
        .as_ref()
        .map_err(Clone::clone)
}

/// Accumulated ASR text in both normal forms, with the weak phrase waiting for its hold.
pub(super) struct TextState<'t> {
    table: &'t PhraseTable,
    en: String,
    zh: String,
    words: usize,
    /// A weak phrase heard, and until when it waits for a stronger one.
    pub(super) weak: Option<(Cue, &'t str, crate::time::Millis)>,
}

impl<'t> TextState<'t> {
    pub(super) fn new(table: &'t PhraseTable) -> Self {
        TextState {
            table,
            en: String::new(),
            zh: String::new(),
            words: 0,
            weak: None,
        }
    }

    /// Appends one transcript segment.
    pub(super) fn append(&mut self, text: &str, locale: Locale) {
        for ch in text.chars() {
            let c = if ch == '\u{2019}' { '\'' } else { ch };
            if c.is_alphanumeric() || c == '\'' {
                for l in c.to_lowercase() {
                    self.en.push(l);
                }
                if !c.is_ascii() || c.is_ascii_alphanumeric() {
                    self.zh.push(c);
                }
            } else if !self.en.ends_with(' ') {
                self.en.push(' ');
            }
        }
        if !self.en.ends_with(' ') {
            self.en.push(' ');
        }
        self.words = match locale {
            Locale::EnUs => self.en.split_whitespace().count(),
            Locale::ZhCn => self
                .zh
                .chars()
                .filter(|c| !c.is_ascii())
                .count()
                .div_ceil(2),
        };
        // Bound memory on a runaway transcript: rules only need the start of a call.
        const MAX: usize = 4096;
        if self.en.len() > MAX {
            let cut = self.en.len() - MAX;
            let cut = (cut..self.en.len())
                .find(|i| self.en.is_char_boundary(*i))
                .unwrap_or(self.en.len());
            self.en.drain(..cut);
        }
        if self.zh.len() > MAX {
            let cut = self.zh.len() - MAX;
            let cut = (cut..self.zh.len())
                .find(|i| self.zh.is_char_boundary(*i))
                .unwrap_or(self.zh.len());
            self.zh.drain(..cut);
        }
    }

    fn has_en(&self, phrase: &str) -> bool {
        // Word boundaries: " is busy " must not match "this busy".
        let hay = format!(" {}", self.en);
        hay.contains(&format!(" {phrase} "))
    }

    /// The strongest cue in the text: strong announcement, then strong machine.
    pub(super) fn strong(&self) -> Option<(Cue, &'t str)> {
        let t = self.table;
        let mut found: Option<(Cue, &'t str)> = None;
        let zh = t
            .zh_strong
            .iter()
            .filter(|(p, _)| self.zh.contains(p.as_str()));
        let en = t.en_strong.iter().filter(|(p, _)| self.has_en(p));
        for (p, cue) in zh.chain(en) {
            match (found, *cue) {
                (None, _) => found = Some((*cue, p.as_str())),
                (Some((Cue::Machine, _)), Cue::Announcement(_)) => found = Some((*cue, p.as_str())),
                _ => {}
            }
        }
        found
    }

    /// The first weak cue in the text.
    pub(super) fn weak(&self) -> Option<(Cue, &'t str)> {
        let t = self.table;
        let zh = t
            .zh_weak
            .iter()
            .filter(|(p, _)| self.zh.contains(p.as_str()));
        let en = t.en_weak.iter().filter(|(p, _)| self.has_en(p));
        zh.chain(en).map(|(p, c)| (*c, p.as_str())).next()
    }

    /// A person's question, if the transcript is short enough to be a person's turn.
    pub(super) fn human_question(&self, max_words: usize) -> Option<&'t str> {
        if self.words > max_words {
            return None;
        }
        let t = self.table;
        t.zh_human
            .iter()
            .find(|p| self.zh.contains(p.as_str()))
            .or_else(|| t.en_human.iter().find(|p| self.has_en(p)))
            .map(String::as_str)
    }
}

/// Classify a piece of text alone with the shipped phrase tables (strong phrases first): for
/// tools and tests that want the keyword rules without a detector.
pub fn classify_text(
    text: &str,
    locale: Locale,
) -> Result<Option<(Class, &'static str)>, CpdError> {
    let mut t = TextState::new(shipped()?);
    t.append(text, locale);
    let to_class = |(cue, p): (Cue, &'static str)| match cue {
        Cue::Announcement(k) => Some((Class::Announcement(k), p)),
        Cue::Machine => Some((Class::Machine, p)),
        Cue::HumanQuestion => None,
    };
    Ok(t.strong()
        .and_then(to_class)
        .or_else(|| t.weak().and_then(to_class))
        .or_else(|| t.human_question(usize::MAX).map(|p| (Class::Human, p))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phrase_tables() {
        use AnnouncementKind::*;
        let cases: &[(&str, Locale, Class)] = &[
            (
                "您拨打的号码是空号",
                Locale::ZhCn,
                Class::Announcement(NotInService),
            ),
            (
                "您拨打的电话已关机",
                Locale::ZhCn,
                Class::Announcement(PoweredOff),
            ),
            (
                "您拨打的电话已停机",
                Locale::ZhCn,
                Class::Announcement(Suspended),
            ),
            (
                "您拨打的用户暂时无法接通",
                Locale::ZhCn,
                Class::Announcement(Unreachable),
            ),
            (
                "您拨打的电话不在服务区",
                Locale::ZhCn,
                Class::Announcement(Unreachable),
            ),
            (
                "您拨打的电话正在通话中",
                Locale::ZhCn,
                Class::Announcement(Busy),
            ),
            ("请在嘀声后留言", Locale::ZhCn, Class::Machine),
            (
                "您拨打的用户已关机，如需留言请按1",
                Locale::ZhCn,
                Class::Announcement(PoweredOff),
            ),
            (
                "We're sorry, the number you have dialed is NOT in service.",
                Locale::EnUs,
                Class::Announcement(NotInService),
            ),
            (
                "The number has been disconnected",
                Locale::EnUs,
                Class::Announcement(NotInService),
            ),
            (
                "Please leave a message after the tone",
                Locale::EnUs,
                Class::Machine,
            ),
            (
                "You\u{2019}ve reached my voicemail",
                Locale::EnUs,
                Class::Machine,
            ),
            (
                "The customer is not available",
                Locale::EnUs,
                Class::Announcement(Unreachable),
            ),
            ("Yeah, who's this?", Locale::EnUs, Class::Human),
            ("喂，哪位？", Locale::ZhCn, Class::Human),
        ];
        for (text, loc, want) in cases {
            assert_eq!(
                classify_text(text, *loc).expect("table").map(|c| c.0),
                Some(*want),
                "{text}"
            );
        }
        // Word boundaries: "this busy" is not "is busy".
        assert_eq!(
            classify_text("I am this busy today", Locale::EnUs).expect("table"),
            None
        );
        assert_eq!(classify_text("", Locale::ZhCn).expect("table"), None);
    }

    #[test]
    fn the_shipped_table_loads_with_every_list() {
        let t = shipped().expect("src/cpd/phrases.yaml");
        assert!(t.zh_strong.len() >= 20 && t.en_strong.len() >= 40);
        assert!(!t.zh_weak.is_empty() && !t.en_weak.is_empty());
        assert!(!t.zh_human.is_empty() && !t.en_human.is_empty());
        assert!(t
            .zh_strong
            .iter()
            .any(|(p, c)| p == "空号" && *c == Cue::Announcement(AnnouncementKind::NotInService)));
    }

    #[test]
    fn a_bad_table_says_file_line_and_column() {
        let bad = "zh-CN:\n  strong:\n    - [空号, vacant]\nen-US:\n  strong: []\n";
        let e = PhraseTable::parse(bad, "p.yaml")
            .err()
            .expect("unknown meaning");
        assert_eq!((e.path.as_str(), e.line), ("p.yaml", 3), "{e}");
        assert!(e.to_string().starts_with("p.yaml:3:"), "{e}");
        // A phrase that could never match (capitals, punctuation) names itself.
        let unmatched =
            "zh-CN:\n  strong: []\nen-US:\n  strong:\n    - [Leave A Message, machine]\n";
        let e = PhraseTable::parse(unmatched, "p.yaml")
            .err()
            .expect("not normal");
        assert_eq!(e.line, 5, "{e}");
        assert!(e.message.contains("leave a message"), "{e}");
    }
}
