//! Intent classification from the examples and keywords written in YAML.
//!
//! Method: every training example becomes a sparse TF-IDF vector of surface features —
//! character uni/bi/tri-grams for Chinese (robust to missing word boundaries, dialect
//! spellings and ASR homophones), word uni/bi-grams plus in-word character trigrams for
//! English (robust to typos), with contractions expanded and negators glued to the next
//! word so "not pay" and "pay" differ. A query is scored against all examples of its locale
//! through an inverted index; an intent's score mixes its best example, the mean of its top
//! three, and its centroid, plus a bonus for high-precision keywords that occur un-negated.
//! Confidence is the best score scaled by how clearly it beats the runner-up, so a
//! threshold separates "understood" from "guessing". Training is milliseconds (one model
//! per scenario); classification is microseconds; every decision names its evidence.

use super::IntentId;
use crate::language::Locale;
use std::collections::{BTreeMap, HashMap};

/// One intent as written in YAML (dialogs/intents.yaml or a scenario's own `intents:` map).
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct IntentSpec {
    /// What the intent means, for authors.
    #[serde(default)]
    pub description: Option<String>,
    /// Example utterances per locale.
    #[serde(default)]
    pub examples: BTreeMap<Locale, Vec<String>>,
    /// High-precision phrases that almost always mean this intent, per locale.
    #[serde(default)]
    pub keywords: BTreeMap<Locale, Vec<String>>,
}

/// Result of classifying one utterance.
#[derive(Debug, Clone, serde::Serialize, PartialEq)]
pub struct Classification {
    /// Best intent, or `None` below the threshold.
    pub intent: Option<String>,
    /// Confidence of the best intent, 0..=1.
    pub confidence: f32,
    /// Next best intents (up to 3) with their confidences, to explain the decision.
    pub alternatives: Vec<(String, f32)>,
    /// The training example or keyword that matched best.
    pub evidence: Option<String>,
    /// The best intent's id, `None` below the threshold; not part of the JSON contract.
    #[serde(skip)]
    pub intent_id: Option<IntentId>,
}

struct Example {
    intent: u32,
    text: String,
}

#[derive(Default)]
struct LocaleIndex {
    examples: Vec<Example>,
    /// feature -> (example, weight) with example vectors L2-normalised.
    postings: HashMap<u64, Vec<(u32, f32)>>,
    idf: HashMap<u64, f32>,
    /// feature -> (intent, weight) of the L2-normalised intent centroids.
    centroid_postings: HashMap<u64, Vec<(u32, f32)>>,
    /// Keywords: normalised text and intent.
    keywords: Vec<(String, u32)>,
    default_idf: f32,
}

/// A trained classifier over a set of intents.
pub struct IntentModel {
    names: Vec<String>,
    /// The id each intent was trained under, parallel to `names`.
    ids: Vec<IntentId>,
    locales: HashMap<Locale, LocaleIndex>,
    threshold: f32,
}

const W_TOP1: f32 = 0.5;
const W_TOP3: f32 = 0.25;
const W_CENTROID: f32 = 0.25;
const KEYWORD_BONUS: f32 = 0.2;
/// Weights of Chinese character 1-, 2- and 3-grams: single characters (的, 我, 天) match
/// almost anything, so they count for less than the bigrams that carry meaning (不是, 还了).
const ZH_NGRAM_WEIGHT: [f32; 3] = [1.0, 1.0, 1.0];
/// Weight of in-word character trigrams (typo tolerance) relative to whole words.
const EN_TRIGRAM_WEIGHT: f32 = 0.5;

impl IntentModel {
    /// Confidence below which the utterance is not understood.
    pub const DEFAULT_THRESHOLD: f32 = 0.2;

    /// Train from `(name, spec)` pairs; intents are numbered in the order given.
    pub fn train<'a>(intents: impl IntoIterator<Item = (&'a str, &'a IntentSpec)>) -> IntentModel {
        IntentModel::train_with_ids(
            intents
                .into_iter()
                .enumerate()
                .map(|(i, (name, spec))| (IntentId(i as u32), name, spec)),
        )
    }

    /// Train from `(id, name, spec)` triples, so the ids it reports match a table kept
    /// elsewhere (a library numbering every intent its flows route on).
    pub fn train_with_ids<'a>(
        intents: impl IntoIterator<Item = (IntentId, &'a str, &'a IntentSpec)>,
    ) -> IntentModel {
        let mut names = Vec::new();
        let mut ids = Vec::new();
        let mut raw: HashMap<Locale, Vec<(u32, String)>> = HashMap::new();
        let mut kws: HashMap<Locale, Vec<(String, u32)>> = HashMap::new();
        for (intent_id, name, spec) in intents {
            let id = names.len() as u32;
            names.push(name.to_string());
            ids.push(intent_id);
            for (l, ex) in &spec.examples {
                for e in ex {
                    raw.entry(*l).or_default().push((id, e.clone()));
                }
            }
            for (l, k) in &spec.keywords {
                for kw in k {
                    let n = normalize(kw, *l);
                    if !n.trim().is_empty() {
                        kws.entry(*l).or_default().push((n, id));
                    }
                }
            }
        }
        let mut locales = HashMap::new();
        for (l, exs) in raw {
            let mut idx = LocaleIndex::default();
            let feats: Vec<Vec<(u64, f32)>> =
                exs.iter().map(|(_, t)| tf(&features(t, l))).collect();
            let mut df: HashMap<u64, u32> = HashMap::new();
            for f in &feats {
                for (h, _) in f {
                    *df.entry(*h).or_default() += 1;
                }
            }
            let n = feats.len().max(1) as f32;
            idx.idf = df
                .iter()
                .map(|(h, d)| (*h, ((n + 1.0) / (*d as f32 + 1.0)).ln() + 1.0))
                .collect();
            idx.default_idf = (n + 1.0).ln() + 1.0;
            let mut centroids: HashMap<u32, HashMap<u64, f32>> = HashMap::new();
            for (i, ((intent, text), f)) in exs.into_iter().zip(feats).enumerate() {
                let v = weigh(&f, &idx.idf, idx.default_idf);
                let c = centroids.entry(intent).or_default();
                for (h, w) in &v {
                    *c.entry(*h).or_default() += w;
                    idx.postings.entry(*h).or_default().push((i as u32, *w));
                }
                idx.examples.push(Example { intent, text });
            }
            for (intent, c) in centroids {
                let norm = c.values().map(|w| w * w).sum::<f32>().sqrt().max(1e-6);
                for (h, w) in c {
                    idx.centroid_postings
                        .entry(h)
                        .or_default()
                        .push((intent, w / norm));
                }
            }
            idx.keywords = kws.remove(&l).unwrap_or_default();
            locales.insert(l, idx);
        }
        IntentModel {
            names,
            ids,
            locales,
            threshold: Self::DEFAULT_THRESHOLD,
        }
    }

    /// Use another confidence threshold.
    pub fn with_threshold(mut self, t: f32) -> Self {
        self.threshold = t.clamp(0.0, 1.0);
        self
    }

    /// The id of a known intent; for training-time wiring, not for the per-utterance path.
    pub fn id_of(&self, name: &str) -> Option<IntentId> {
        self.names
            .iter()
            .position(|n| n == name)
            .and_then(|i| self.ids.get(i).copied())
    }

    /// Intent names the model knows.
    pub fn intents(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(String::as_str)
    }

    /// Classify one utterance.
    pub fn classify(&self, text: &str, locale: Locale) -> Classification {
        let none = Classification {
            intent: None,
            confidence: 0.0,
            alternatives: Vec::new(),
            evidence: None,
            intent_id: None,
        };
        let Some(idx) = self.locales.get(&locale) else {
            return none;
        };
        // Very long input is not a turn of conversation; bound the work.
        let text: String = text.chars().take(400).collect();
        let q = weigh(&tf(&features(&text, locale)), &idx.idf, idx.default_idf);
        if q.is_empty() {
            return none;
        }
        let n_int = self.names.len();
        let mut ex_scores = vec![0f32; idx.examples.len()];
        for (h, w) in &q {
            if let Some(p) = idx.postings.get(h) {
                for (e, ew) in p {
                    ex_scores[*e as usize] += w * ew;
                }
            }
        }
        let mut centroid = vec![0f32; n_int];
        for (h, w) in &q {
            if let Some(p) = idx.centroid_postings.get(h) {
                for (i, cw) in p {
                    centroid[*i as usize] += w * cw;
                }
            }
        }
        // Top three example scores per intent.
        let mut top: Vec<[f32; 3]> = vec![[0.0; 3]; n_int];
        let mut best_ex: Vec<Option<u32>> = vec![None; n_int];
        for (e, s) in ex_scores.iter().enumerate() {
            if *s <= 0.0 {
                continue;
            }
            let i = idx.examples[e].intent as usize;
            let t = &mut top[i];
            if *s > t[0] {
                best_ex[i] = Some(e as u32);
                t[2] = t[1];
                t[1] = t[0];
                t[0] = *s;
            } else if *s > t[1] {
                t[2] = t[1];
                t[1] = *s;
            } else if *s > t[2] {
                t[2] = *s;
            }
        }
        let norm_text = normalize(&text, locale);
        let mut kw_hit: Vec<Option<&str>> = vec![None; n_int];
        for (kw, i) in &idx.keywords {
            if let Some(pos) = find_whole_number(&norm_text, kw) {
                if !negated_before(&norm_text[..pos], locale) {
                    kw_hit[*i as usize] = Some(kw.as_str());
                }
            }
        }
        let mut scores: Vec<(usize, f32)> = (0..n_int)
            .map(|i| {
                let t = top[i];
                let s =
                    W_TOP1 * t[0] + W_TOP3 * (t[0] + t[1] + t[2]) / 3.0 + W_CENTROID * centroid[i];
                let bonus = if kw_hit[i].is_some() {
                    KEYWORD_BONUS
                } else {
                    0.0
                };
                (i, (s + bonus).min(1.0))
            })
            .filter(|(_, s)| *s > 0.0)
            .collect();
        scores.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let Some(&(best, s1)) = scores.first() else {
            return none;
        };
        let s2 = scores.get(1).map(|x| x.1).unwrap_or(0.0);
        let conf = confidence(s1, s2);
        let alternatives = scores
            .iter()
            .skip(1)
            .take(3)
            .map(|(i, s)| (self.names[*i].clone(), confidence(*s, s1.max(*s))))
            .collect();
        let evidence = match (kw_hit[best], best_ex[best]) {
            (Some(kw), _) if top[best][0] < 0.5 => Some(format!("keyword: {kw}")),
            (_, Some(e)) => Some(idx.examples[e as usize].text.clone()),
            (Some(kw), None) => Some(format!("keyword: {kw}")),
            _ => None,
        };
        let understood = conf >= self.threshold;
        Classification {
            intent: understood.then(|| self.names[best].clone()),
            confidence: conf,
            alternatives,
            evidence,
            intent_id: understood.then(|| self.ids[best]),
        }
    }
}

/// Best score scaled by its margin over the runner-up: 0.6 for a clear but not perfect
/// match with no competitor, low when two intents are nearly tied.
fn confidence(s1: f32, s2: f32) -> f32 {
    if s1 <= 0.0 {
        return 0.0;
    }
    let margin = ((s1 - s2) / s1).clamp(0.0, 1.0);
    (s1.sqrt() * (0.4 + 0.6 * margin)).clamp(0.0, 1.0)
}

/// Where `kw` occurs in `text`, with a keyword that starts or ends in a digit matching only
/// a whole number: the hotline keyword "12378" must not hit inside a card number.
fn find_whole_number(text: &str, kw: &str) -> Option<usize> {
    let starts_digit = kw.starts_with(|c: char| c.is_ascii_digit());
    let ends_digit = kw.ends_with(|c: char| c.is_ascii_digit());
    let mut from = 0;
    while let Some(off) = text[from..].find(kw) {
        let pos = from + off;
        let end = pos + kw.len();
        let digit_before = text[..pos].ends_with(|c: char| c.is_ascii_digit());
        let digit_after = text[end..].starts_with(|c: char| c.is_ascii_digit());
        let inside_a_number = (starts_digit && digit_before) || (ends_digit && digit_after);
        if !inside_a_number {
            return Some(pos);
        }
        from = pos + kw.chars().next().map_or(1, char::len_utf8);
    }
    None
}

/// The characters n-grams are taken over, whitespace dropped and every run of digits folded
/// into one `#`: "打12345投诉" and "打12378投诉" share "打#投诉", and no digit n-gram links
/// an ID number to a hotline.
fn number_units(norm: &str) -> Vec<char> {
    let mut out: Vec<char> = Vec::with_capacity(norm.len());
    for c in norm.chars().filter(|c| !c.is_whitespace()) {
        if c.is_ascii_digit() {
            if out.last() != Some(&'#') {
                out.push('#');
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Maximal runs of ASCII digits (the normal form has folded full-width digits already).
fn digit_runs(norm: &str) -> impl Iterator<Item = &str> {
    norm.split(|c: char| !c.is_ascii_digit())
        .filter(|r| !r.is_empty())
}

fn negated_before(prefix: &str, locale: Locale) -> bool {
    match locale {
        Locale::ZhCn => {
            let tail: Vec<char> = prefix.chars().rev().take(2).collect();
            tail.first()
                .is_some_and(|c| matches!(c, '不' | '没' | '别' | '未' | '非'))
        }
        Locale::EnUs => prefix.split_whitespace().next_back().is_some_and(|w| {
            matches!(
                w,
                "not" | "no" | "never" | "dont" | "didnt" | "cant" | "wont"
            )
        }),
    }
}

fn tf(feats: &[(u64, f32)]) -> Vec<(u64, f32)> {
    let mut m: HashMap<u64, (f32, f32)> = HashMap::with_capacity(feats.len());
    for (f, w) in feats {
        let e = m.entry(*f).or_insert((0.0, *w));
        e.0 += 1.0;
    }
    m.into_iter()
        .map(|(h, (c, w))| (h, (1.0 + c.ln()) * w))
        .collect()
}

fn weigh(tf: &[(u64, f32)], idf: &HashMap<u64, f32>, default_idf: f32) -> Vec<(u64, f32)> {
    // Features never seen in training carry no evidence for any intent, but they do make
    // the query longer: keep them in the norm so gibberish scores low.
    let mut v: Vec<(u64, f32)> = tf
        .iter()
        .map(|(h, t)| (*h, t * idf.get(h).copied().unwrap_or(default_idf)))
        .collect();
    let norm = v.iter().map(|(_, w)| w * w).sum::<f32>().sqrt();
    if norm > 0.0 {
        for (_, w) in &mut v {
            *w /= norm;
        }
    }
    v
}

/// Lower-case, full-width to half-width, punctuation to spaces, collapsed whitespace.
pub fn normalize(text: &str, _locale: Locale) -> String {
    let mut out = String::with_capacity(text.len());
    let mut space = true;
    for c in text.chars() {
        let c = match c as u32 {
            0xFF01..=0xFF5E => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            0x3000 => ' ',
            _ => c,
        };
        let c = if c == '\u{2019}' || c == '\u{2018}' {
            '\''
        } else {
            c
        };
        if c.is_alphanumeric() || c == '\'' {
            for l in c.to_lowercase() {
                out.push(l);
            }
            space = false;
        } else if !space {
            out.push(' ');
            space = true;
        }
    }
    if out.ends_with(' ') {
        out.pop();
    }
    out
}

fn hash(parts: &[&str], kind: u8) -> u64 {
    // FNV-1a: stable across runs (no random seed), fast for short keys.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ kind as u64;
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            h ^= 0x1f;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        for b in p.bytes() {
            h ^= b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

fn is_han(c: char) -> bool {
    matches!(c as u32, 0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0xF900..=0xFAFF)
}

const EN_CONTRACTIONS: &[(&str, &str)] = &[
    ("can't", "can not"),
    ("cant", "can not"),
    ("cannot", "can not"),
    ("won't", "will not"),
    ("wont", "will not"),
    ("ain't", "am not"),
    ("aint", "am not"),
    ("n't", " not"),
    ("'m", " am"),
    ("'re", " are"),
    ("'ll", " will"),
    ("'ve", " have"),
    ("'d", " would"),
    ("gonna", "going to"),
    ("wanna", "want to"),
    ("gotta", "got to"),
    ("gimme", "give me"),
    ("lemme", "let me"),
    ("dunno", "do not know"),
    ("imma", "i am going to"),
    ("y'all", "you"),
    ("ya", "you"),
    ("u", "you"),
    ("ur", "your"),
    ("nope", "no"),
    ("nah", "no"),
    ("yep", "yes"),
    ("yup", "yes"),
    ("yeah", "yes"),
    ("ok", "okay"),
    ("'s", " s"),
];

fn expand_en(word: &str, out: &mut Vec<String>) {
    for (from, to) in EN_CONTRACTIONS {
        if word == *from {
            out.extend(to.split_whitespace().map(str::to_string));
            return;
        }
    }
    for (from, to) in EN_CONTRACTIONS {
        if from.starts_with('\'') || from.starts_with('n') && from.len() == 3 {
            if let Some(stem) = word.strip_suffix(from) {
                if !stem.is_empty() {
                    let stem = if *from == "n't" && stem == "ca" {
                        "can"
                    } else if *from == "n't" && stem == "wo" {
                        "will"
                    } else {
                        stem
                    };
                    out.push(stem.to_string());
                    out.extend(to.split_whitespace().map(str::to_string));
                    return;
                }
            }
        }
    }
    out.push(word.replace('\'', ""));
}

const EN_NEGATORS: &[&str] = &["not", "no", "never", "nothing", "nobody"];

/// Surface features of an utterance, hashed.
fn features(text: &str, locale: Locale) -> Vec<(u64, f32)> {
    let norm = normalize(text, locale);
    let mut f = Vec::with_capacity(64);
    // Chinese character n-grams (also used for mixed text in the English model).
    let han = number_units(&norm);
    let has_han = han.iter().any(|c| is_han(*c));
    if has_han {
        // A number is evidence only as the whole number ("12378" the hotline), never through
        // its digits: "12345" inside an ID number is not the 12345 hotline.
        for run in digit_runs(&norm) {
            f.push((hash(&[run], 12), 1.0));
        }
        let mut buf = [0u8; 4];
        for n in 1..=3usize {
            if han.len() < n {
                break;
            }
            for w in han.windows(n) {
                let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ (10 + n as u64);
                for c in w {
                    for b in c.encode_utf8(&mut buf).bytes() {
                        h ^= b as u64;
                        h = h.wrapping_mul(0x0100_0000_01b3);
                    }
                }
                f.push((h, ZH_NGRAM_WEIGHT[n - 1]));
            }
        }
        // Whole short utterances ("嗯", "是的") are strong evidence on their own.
        if han.len() <= 3 {
            let whole: String = han.iter().collect();
            f.push((hash(&[&whole], 9), 1.0));
        }
    }
    if locale == Locale::EnUs || !has_han {
        let mut words = Vec::new();
        for w in norm.split_whitespace() {
            expand_en(w, &mut words);
        }
        // Glue negators to the next content word: "not pay" differs from "pay".
        let mut marked: Vec<String> = Vec::with_capacity(words.len());
        let mut neg = 0;
        for w in &words {
            if EN_NEGATORS.contains(&w.as_str()) {
                neg = 2;
                marked.push(w.clone());
                continue;
            }
            if neg > 0 {
                marked.push(format!("neg_{w}"));
                neg -= 1;
            } else {
                marked.push(w.clone());
            }
        }
        for w in &marked {
            f.push((hash(&[w], 1), 1.0));
            let chars: Vec<char> = format!("<{}>", w.trim_start_matches("neg_"))
                .chars()
                .collect();
            if chars.len() >= 5 {
                for tri in chars.windows(3) {
                    let t: String = tri.iter().collect();
                    f.push((hash(&[&t], 3), EN_TRIGRAM_WEIGHT));
                }
            }
        }
        for pair in marked.windows(2) {
            f.push((hash(&[&pair[0], &pair[1]], 2), 1.0));
        }
        if marked.len() <= 2 {
            let whole = marked.join(" ");
            f.push((hash(&[&whole], 9), 1.0));
        }
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(zh: &[&str], en: &[&str]) -> IntentSpec {
        let mut s = IntentSpec::default();
        s.examples
            .insert(Locale::ZhCn, zh.iter().map(|s| s.to_string()).collect());
        s.examples
            .insert(Locale::EnUs, en.iter().map(|s| s.to_string()).collect());
        s
    }

    fn model() -> IntentModel {
        let affirm = spec(
            &["是的", "是我", "对", "嗯 是我本人"],
            &["yes", "yeah that's me", "speaking"],
        );
        let wrong = spec(
            &["不是我", "打错了", "我不是他"],
            &["wrong number", "that's not me", "he isn't here"],
        );
        let paid = spec(
            &["我已经还了", "钱还过了"],
            &["I already paid", "paid it yesterday"],
        );
        let cannot = spec(
            &["我还不了", "没钱还"],
            &["I can't pay", "I don't have the money"],
        );
        let v = [
            ("affirm", affirm),
            ("wrong_person", wrong),
            ("already_paid", paid),
            ("cannot_pay", cannot),
        ];
        let owned: Vec<(String, IntentSpec)> =
            v.into_iter().map(|(a, b)| (a.to_string(), b)).collect();
        IntentModel::train(owned.iter().map(|(a, b)| (a.as_str(), b)))
    }

    #[test]
    fn negation_and_paraphrase() {
        let m = model();
        assert_eq!(
            m.classify("嗯是我", Locale::ZhCn).intent.as_deref(),
            Some("affirm")
        );
        assert_eq!(
            m.classify("不是我啊", Locale::ZhCn).intent.as_deref(),
            Some("wrong_person")
        );
        assert_eq!(
            m.classify("我早就还了", Locale::ZhCn).intent.as_deref(),
            Some("already_paid")
        );
        assert_eq!(
            m.classify("I cannot pay this", Locale::EnUs)
                .intent
                .as_deref(),
            Some("cannot_pay")
        );
        assert_eq!(
            m.classify("I paid already", Locale::EnUs).intent.as_deref(),
            Some("already_paid")
        );
    }

    #[test]
    fn gibberish_and_odd_input_fall_back_without_panicking() {
        let m = model();
        assert_eq!(m.classify("", Locale::ZhCn).intent, None);
        assert_eq!(m.classify("🙂🙂", Locale::EnUs).intent, None);
        let long = "啊".repeat(10_000);
        let _ = m.classify(&long, Locale::ZhCn);
        let c = m.classify("purple elephants dance quietly", Locale::EnUs);
        assert!(c.intent.is_none(), "{c:?}");
    }

    #[test]
    fn normalisation_folds_width_case_and_punctuation() {
        assert_eq!(normalize("ＹＥＳ，我是！", Locale::ZhCn), "yes 我是");
        assert_eq!(normalize("  I’m   here?! ", Locale::EnUs), "i'm here");
    }
}
