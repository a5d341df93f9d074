//! TTS text front end: turns free prompt text into words a TTS engine cannot misread,
//! and cuts it into chunks so the first audio of a turn starts early.
//!
//! Rendered prompts already say amounts and phone tails as words (`crate::language::verbalise`), but
//! TTS is also fed free text (the `tts` CLI, scenario prompts with literal hotlines,
//! rates, times). Every number reading is delegated to `crate::language::verbalise` so a number sounds
//! the same whether the dialogue engine or this module wrote it.
//!
//! Decisions (each pinned by a test):
//!
//! * zh-CN leaves no ASCII digit behind: years before `年` (4 digits) and ISO dates are
//!   read digit by digit (`二零二七年`), months/days/counts as numbers (`十二月一日`,
//!   `第三期`), times as `十点三十分` (`十点` on the hour), decimals `三点五`,
//!   percentages `百分之三点五`, fractions `二分之一`, `¥`/`元`/`美元` amounts through
//!   `verbalise::amount_words`. A lone 2 before a measure word is `两` (`两期`, `两天`) but
//!   not after `第` or before `月`/`日`/`号`.
//! * Phone numbers, hotlines, card/account tails and codes are read digit by digit with
//!   1 as `幺`; groups are joined with `、` (zh) or `, ` (en) for the pause an agent makes
//!   between groups; an 11-digit mobile is grouped 3-4-4, a 10-digit 400/800 line
//!   3-3-4. A digit string counts as one when it has ≥ 2 `-`/space-separated groups
//!   totalling ≥ 7 digits, ≥ 7 digits, a leading 0, is a 95xxx bank short number, has a
//!   letter just before it (`Q3`, digits read plainly), or a keyword before it (电话,
//!   尾号, `ending in`…). Round numbers (`1000000`) are amounts, not identifiers.
//! * `7×24` / `7x24` is `七乘二十四` ("seven by twenty-four"); `3-5` and `9:00-18:00`
//!   are ranges (`到`, "to"); a `-` glued to nothing before a digit is `负`/"minus".
//! * en-US rewrites only what espeak-ng (and Piper, which phonemises through espeak-ng)
//!   reads wrongly: currency symbols (`$300.50` is "dollar three hundred point five
//!   zero" otherwise), percentages, ordinals (`21st`), phone numbers and tails (read
//!   "four hundred dash eight hundred…" otherwise), times (`10:00` is "ten zero zero"),
//!   small fractions and ranges (`3-5` is "three dash five"). Other integers, decimals
//!   and years stay digits: espeak-ng reads `1,234`, `3.5` and `2027` correctly.
//! * Emoji and control characters are dropped; every other character passes through,
//!   so `to_pinyin` or the TTS engine decides what to do with it.
//! * Chunks are cut per sentence and depend only on that sentence, so a sentence gets
//!   the same chunks wherever it appears and the prompt cache keeps hitting.

use chrono::NaiveDate;

use crate::language::verbalise::{self, Currency};
use crate::language::Locale;

/// Rewrites free text so the TTS engine is handed words, not digits and symbols.
///
/// zh-CN output holds no ASCII digit or `%`/`¥`/`$` sign; en-US output keeps only the
/// digits espeak-ng reads correctly (see the module comment). Never panics.
pub fn normalize(text: &str, locale: Locale) -> String {
    let chars: Vec<char> = text.chars().map(fold_width).collect();
    let mut n = Normalizer {
        chars: &chars,
        locale,
        out: String::with_capacity(text.len() * 2),
        last_number: false,
    };
    n.run();
    collapse_spaces(&n.out)
}

/// Splits text into TTS chunks: one per sentence, long sentences cut at commas.
///
/// Works on raw or normalised text (decimals, `3,500` and `Mr.` are not split). A
/// sentence above about 40 Han characters (zh-CN) or 25 words (en-US) is cut at commas
/// into near-equal pieces, so the first chunk synthesises fast. Deterministic and local
/// to each sentence, which keeps prompt-cache keys stable.
pub fn sentences(text: &str, locale: Locale) -> Vec<String> {
    let limit = match locale {
        Locale::ZhCn => ZH_CHUNK_LIMIT,
        Locale::EnUs => EN_CHUNK_LIMIT,
    };
    let mut out: Vec<String> = Vec::new();
    for sentence in split_sentences(text) {
        if weight(&sentence) == 0 {
            // Punctuation alone cannot be spoken; keep it with the sentence before it.
            if let Some(last) = out.last_mut() {
                last.push_str(&sentence);
            }
            continue;
        }
        out.extend(split_long(&sentence, limit));
    }
    out
}

/// Cuts one sentence into its phrases at clause marks (`,` `;` `:` and the dash, and
/// their full-width forms), each phrase keeping its mark.
///
/// A sentence that carries a customer's values is voiced phrase by phrase: the phrases
/// around the values read the same on every call (cached once), and the first audio of a
/// live sentence comes after its first phrase instead of the whole sentence. Marks
/// inside a word or number (`3,500`, `10:30`) do not cut, and a piece with nothing to
/// say stays with the phrase before it. Deterministic, so phrases' cache keys are stable.
pub fn phrases(sentence: &str) -> Vec<String> {
    let chars: Vec<char> = sentence.chars().collect();
    let mut out: Vec<String> = Vec::new();
    let mut cur = String::new();
    for (k, &c) in chars.iter().enumerate() {
        cur.push(c);
        // `3,500`, `a,b` and `10:30` are one word, not two phrases.
        let inside_word = k > 0
            && chars.get(k - 1).is_some_and(|p| p.is_ascii_alphanumeric())
            && chars.get(k + 1).is_some_and(|n| n.is_ascii_alphanumeric());
        let mark = matches!(c, ',' | ';' | ':' | '—' | '，' | '；' | '：');
        if mark && !inside_word {
            push_phrase(&mut out, std::mem::take(&mut cur));
        }
    }
    push_phrase(&mut out, cur);
    out
}

fn push_phrase(out: &mut Vec<String>, piece: String) {
    let piece = piece.trim();
    if piece.is_empty() {
        return;
    }
    match out.last_mut() {
        Some(last) if weight(piece) == 0 => last.push_str(piece),
        _ => out.push(piece.to_string()),
    }
}

/// What a prompt is voiced as, unit by unit: its normalised sentences, or, for a prompt
/// that carries a customer's values, their phrases (see [`phrases`]). The bot requests
/// these units and the prompt cache warms the value-free ones, so both must cut the same
/// way: this is the one place that decides it.
pub fn voiced_units(text: &str, locale: Locale, by_phrase: bool) -> Vec<String> {
    let sentences = sentences(&normalize(text, locale), locale);
    if !by_phrase {
        return sentences;
    }
    sentences.iter().flat_map(|s| phrases(s)).collect()
}

/// Normalises and chunks in one call: what a TTS engine should be fed, chunk by chunk.
///
/// Splits first, so chunk boundaries follow the text as written (and stay stable when
/// a reading changes), then normalises each chunk.
pub fn tts_chunks(text: &str, locale: Locale) -> Vec<String> {
    sentences(text, locale)
        .iter()
        .map(|s| normalize(s, locale))
        .filter(|s| !s.is_empty())
        .collect()
}

/// A zh chunk above this many Han characters (ASCII words count one each) is cut.
const ZH_CHUNK_LIMIT: usize = 40;
/// An en chunk above this many words is cut.
const EN_CHUNK_LIMIT: usize = 25;

// ---------------------------------------------------------------------------
// Normalisation

/// Full-width digits, letters and number signs behave exactly like ASCII ones in
/// prompts typed on a Chinese IME; folding them keeps one set of rules.
fn fold_width(c: char) -> char {
    match c {
        '０'..='９' | 'Ａ'..='Ｚ' | 'ａ'..='ｚ' | '％' | '＄' | '＋' | '＃' | '＊' => {
            char::from_u32(u32::from(c) - 0xFEE0).unwrap_or(c)
        }
        '￥' => '¥',
        _ => c,
    }
}

fn is_digit(c: char) -> bool {
    c.is_ascii_digit()
}

fn is_dot(c: char) -> bool {
    c == '.' || c == '．'
}

fn is_colon(c: char) -> bool {
    c == ':' || c == '：'
}

fn is_dash(c: char) -> bool {
    matches!(c, '-' | '－' | '–' | '—' | '~' | '～')
}

fn is_han(c: char) -> bool {
    matches!(u32::from(c), 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x3134F)
}

/// Emoji and invisible joiners carry nothing a voice can say.
fn is_droppable(c: char) -> bool {
    matches!(u32::from(c),
        0x1F000..=0x1FAFF | 0x2600..=0x27BF | 0xFE00..=0xFE0F | 0x200B..=0x200D | 0xE0000..=0xE007F)
        || (c.is_control() && c != '\n')
}

fn collapse_spaces(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut pending = false;
    for c in s.chars() {
        if c == '\n' {
            out.push('\n');
            pending = false;
        } else if c.is_whitespace() {
            pending = !out.is_empty() && !out.ends_with('\n');
        } else {
            if pending {
                out.push(' ');
                pending = false;
            }
            out.push(c);
        }
    }
    out.trim_end().to_string()
}

/// A number as written: integer digits (grouping commas removed) and fraction digits.
struct Num {
    int: String,
    frac: String,
    end: usize,
}

impl Num {
    fn int_value(&self) -> Option<i64> {
        self.int.parse::<i64>().ok()
    }

    /// The value in cents, when it has at most two decimals and fits.
    fn cents(&self) -> Option<i64> {
        if self.frac.len() > 2 {
            return None;
        }
        let mut frac = self.frac.clone();
        while frac.len() < 2 {
            frac.push('0');
        }
        let minor: i64 = frac.parse().ok()?;
        self.int_value()?.checked_mul(100)?.checked_add(minor)
    }
}

/// Measure words after which a lone 2 is said 两.
const ZH_MEASURES: &[char] = &[
    '个', '位', '张', '笔', '期', '次', '天', '周', '倍', '条', '项', '家', '种', '份', '台', '万',
    '亿', '千', '百', '岁', '点', '年', '名', '件', '元', '块', '小', '分', '秒', '套', '本',
];

/// Words after which a zh digit string is an identifier read digit by digit.
const ZH_DIGIT_KEYS: &[&str] = &[
    "电话",
    "热线",
    "拨打",
    "致电",
    "号码",
    "尾号",
    "卡号",
    "账号",
    "验证码",
    "编号",
    "工号",
    "客服",
    "短信",
    "手机",
    "末四位",
    "后四位",
    "分机",
];

/// Words after which an en digit string is an identifier read digit by digit.
const EN_DIGIT_KEYS: &[&str] = &[
    "ending in",
    "ending with",
    "ends in",
    "last four digits",
    "last 4 digits",
    "code",
    "extension",
    "ext.",
    "account number",
    "reference number",
    "card number",
    "call",
    "dial",
];

/// en acronyms espeak-ng reads as a word but people spell out.
const EN_SPELLED: &[&str] = &["VIP", "APR", "SSN", "ACH", "ID", "FAQ", "IRA"];

struct Normalizer<'a> {
    chars: &'a [char],
    locale: Locale,
    out: String,
    /// The last thing written was a number, so a dash after it is a range ("到").
    last_number: bool,
}

impl Normalizer<'_> {
    fn zh(&self) -> bool {
        self.locale == Locale::ZhCn
    }

    fn at(&self, i: usize) -> Option<char> {
        self.chars.get(i).copied()
    }

    fn digit_at(&self, i: usize) -> bool {
        self.at(i).is_some_and(is_digit)
    }

    fn text(&self, from: usize, to: usize) -> String {
        self.chars
            .get(from..to.min(self.chars.len()))
            .unwrap_or_default()
            .iter()
            .collect()
    }

    fn digits_end(&self, i: usize) -> usize {
        let mut e = i;
        while self.digit_at(e) {
            e += 1;
        }
        e
    }

    fn run(&mut self) {
        let mut i = 0;
        while i < self.chars.len() {
            let end = match self.token(i) {
                Some(e) if e > i => {
                    self.last_number = true;
                    e
                }
                _ => {
                    let e = self.plain(i);
                    e.max(i + 1)
                }
            };
            i = end;
        }
        if !self.zh() {
            self.out = tidy_en_spacing(&self.out);
        }
    }

    /// en words are padded with spaces; `tidy_en_spacing` removes the extra ones.
    fn push_word(&mut self, w: &str) {
        if self.zh() {
            self.out.push_str(w);
        } else {
            self.out.push(' ');
            self.out.push_str(w);
            self.out.push(' ');
        }
    }

    fn push_raw(&mut self, from: usize, to: usize) {
        let t = self.text(from, to);
        self.out.push_str(&t);
    }

    /// Reads an identifier digit by digit (phone style: 幺 for 1 in zh).
    fn push_digit_groups(&mut self, groups: &[String]) {
        let words: Vec<String> = groups
            .iter()
            .filter(|g| !g.is_empty())
            .map(|g| verbalise::digits_words(g, self.locale, true))
            .collect();
        let sep = if self.zh() { "、" } else { ", " };
        self.push_word(&words.join(sep));
    }

    /// Tries to read a number-like token at `i`; returns where it ends.
    fn token(&mut self, i: usize) -> Option<usize> {
        let c = self.at(i)?;
        match c {
            '$' | '¥' => self.currency(i),
            '+' if self.digit_at(i + 1) => {
                let (groups, end) = self.scan_groups(i + 1);
                self.push_word(if self.zh() { "加" } else { "plus" });
                self.push_digit_groups(&groups);
                Some(end)
            }
            '(' if !self.zh() => self.paren_phone(i),
            '*' if self.at(i + 1) == Some('*') => {
                // A masked card number: the stars are not read, the tail is.
                let mut j = i;
                while matches!(self.at(j), Some('*' | ' ')) {
                    j += 1;
                }
                if self.digit_at(j) {
                    let e = self.digits_end(j);
                    let tail = self.text(j, e);
                    self.push_digit_groups(&[tail]);
                    Some(e)
                } else {
                    self.out.push(' ');
                    Some(j)
                }
            }
            _ if is_digit(c) => Some(self.number(i)),
            _ => None,
        }
    }

    /// Anything that is not a number: symbols get words, the rest is copied.
    /// Returns where the next token starts.
    fn plain(&mut self, i: usize) -> usize {
        let Some(c) = self.at(i) else {
            return i + 1;
        };
        let prev_number = self.last_number;
        self.last_number = false;
        let next = self.at(i + 1);
        let next_starts_number = next.is_some_and(|n| is_digit(n) || n == '$' || n == '¥');
        if is_dash(c) && prev_number && next_starts_number {
            self.push_word(if self.zh() { "到" } else { "to" });
            return i + 1;
        }
        if c == '-' && next.is_some_and(is_digit) && self.negative_context(i) {
            self.push_word(if self.zh() { "负" } else { "minus" });
            return i + 1;
        }
        if is_droppable(c) {
            return i + 1;
        }
        // 7×24 / 7x24 is said 七乘二十四 (en: "seven by twenty-four").
        let between_digits = prev_number && next.is_some_and(is_digit);
        if c == '×' || (matches!(c, 'x' | 'X') && between_digits) {
            self.push_word(if self.zh() { "乘" } else { "by" });
            return i + 1;
        }
        let zh = self.zh();
        let word = match c {
            '%' => Some(if zh { "百分号" } else { "percent" }),
            '#' if zh => Some("井"),
            '#' => Some(if next.is_some_and(is_digit) {
                "number"
            } else {
                "pound"
            }),
            '*' => Some(if zh { "星" } else { "star" }),
            '&' => Some(if zh { "和" } else { "and" }),
            '@' => Some(if zh { "艾特" } else { "at" }),
            '=' => Some(if zh { "等于" } else { "equals" }),
            '+' => Some(if zh { "加" } else { "plus" }),
            '$' => Some(if zh { "美元" } else { "dollars" }),
            '¥' => Some(if zh { "元" } else { "yuan" }),
            _ => None,
        };
        if let Some(w) = word {
            self.push_word(w);
            return i + 1;
        }
        if !zh && c.is_ascii_uppercase() {
            if let Some(end) = self.spelled_acronym(i) {
                return end;
            }
        }
        self.out.push(c);
        i + 1
    }

    /// Writes an `EN_SPELLED` acronym starting at `i` letter by letter.
    fn spelled_acronym(&mut self, i: usize) -> Option<usize> {
        if i > 0 && self.at(i - 1).is_some_and(|p| p.is_ascii_alphanumeric()) {
            return None;
        }
        let mut e = i;
        while self.at(e).is_some_and(|c| c.is_ascii_alphabetic()) {
            e += 1;
        }
        let word = self.text(i, e);
        if !EN_SPELLED.contains(&word.as_str()) || self.digit_at(e) {
            return None;
        }
        let letters: Vec<String> = word.chars().map(String::from).collect();
        self.push_word(&letters.join(" "));
        Some(e)
    }

    /// A `-` before a digit is a minus sign when no word or number is glued before it.
    fn negative_context(&self, i: usize) -> bool {
        match i.checked_sub(1).and_then(|p| self.at(p)) {
            None => true,
            Some(p) => !(p.is_alphanumeric() || p == ')' || p == '%'),
        }
    }

    /// Digit groups joined by single `-` or space, as phone numbers are written.
    fn scan_groups(&self, i: usize) -> (Vec<String>, usize) {
        let mut groups = Vec::new();
        let mut e = self.digits_end(i);
        groups.push(self.text(i, e));
        while let Some(sep) = self.at(e) {
            if !(sep == '-' || sep == '－' || sep == ' ') || !self.digit_at(e + 1) {
                break;
            }
            let ge = self.digits_end(e + 1);
            groups.push(self.text(e + 1, ge));
            e = ge;
        }
        (groups, e)
    }

    /// en `(800) 555-1234`.
    fn paren_phone(&mut self, i: usize) -> Option<usize> {
        let area_end = self.digits_end(i + 1);
        if area_end != i + 4 || self.at(area_end) != Some(')') {
            return None;
        }
        let mut j = area_end + 1;
        if self.at(j) == Some(' ') {
            j += 1;
        }
        if !self.digit_at(j) {
            return None;
        }
        let (mut groups, end) = self.scan_groups(j);
        groups.insert(0, self.text(i + 1, area_end));
        if groups.iter().map(String::len).sum::<usize>() < 7 {
            return None;
        }
        self.push_digit_groups(&groups);
        Some(end)
    }

    /// Whether the text just before `i` announces an identifier (尾号, "ending in").
    fn digit_key_before(&self, i: usize) -> bool {
        if self.zh() {
            let before: String = self.chars[i.saturating_sub(8)..i.min(self.chars.len())]
                .iter()
                .filter(|c| !c.is_whitespace() && !is_colon(**c))
                .collect();
            ZH_DIGIT_KEYS.iter().any(|k| before.ends_with(k))
        } else {
            let before: String = self.chars[i.saturating_sub(24)..i.min(self.chars.len())]
                .iter()
                .collect::<String>()
                .to_lowercase();
            let before = before.trim_end().trim_end_matches(':').trim_end();
            EN_DIGIT_KEYS.iter().any(|k| before.ends_with(k))
        }
    }

    fn number(&mut self, i: usize) -> usize {
        let prev = i.checked_sub(1).and_then(|p| self.at(p));
        let times_sign = matches!(prev, Some('x' | 'X')) && i >= 2 && self.digit_at(i - 2);
        if prev.is_some_and(|p| p.is_ascii_alphabetic()) && !times_sign {
            // Part of a code such as Q3 or MP3: digits are names, not quantities.
            let e = self.digits_end(i);
            if self.zh() {
                let d = self.text(i, e);
                self.out
                    .push_str(&verbalise::digits_words(&d, self.locale, false));
            } else {
                self.push_raw(i, e);
            }
            return e;
        }
        if let Some(e) = self.date(i) {
            return e;
        }
        if let Some(e) = self.time(i) {
            return e;
        }
        if let Some(e) = self.phone(i) {
            return e;
        }
        let num = self.scan_number(i);
        if let Some(e) = self.fraction(&num) {
            return e;
        }
        let mut after = num.end;
        if self.at(after) == Some(' ') && self.at(after + 1) == Some('%') {
            after += 1;
        }
        if self.at(after) == Some('%') {
            let words = self.decimal_words(&num);
            if self.zh() {
                self.out.push_str("百分之");
                self.out.push_str(&words);
            } else {
                self.push_word(&words);
                self.push_word("percent");
            }
            return after + 1;
        }
        if self.zh() {
            self.zh_number(i, &num)
        } else {
            self.en_number(i, &num)
        }
    }

    fn zh_number(&mut self, i: usize, num: &Num) -> usize {
        let next = self.at(num.end);
        if self.text(num.end, num.end + 2) == "美元" {
            if let Some(c) = num.cents() {
                self.out
                    .push_str(&verbalise::amount_words(c, Currency::Usd, self.locale));
                return num.end + 2;
            }
        }
        if next == Some('元') {
            if let Some(c) = num.cents() {
                self.out
                    .push_str(&verbalise::amount_words(c, Currency::Cny, self.locale));
                return num.end + 1;
            }
        }
        if next == Some('年') && num.frac.is_empty() && num.int.len() == 4 {
            self.out
                .push_str(&verbalise::digits_words(&num.int, self.locale, false));
            return num.end;
        }
        let prev = i.checked_sub(1).and_then(|p| self.at(p));
        if num.frac.is_empty()
            && num.int == "2"
            && prev != Some('第')
            && next.is_some_and(|n| ZH_MEASURES.contains(&n))
        {
            self.out.push('两');
            return num.end;
        }
        let words = self.decimal_words(num);
        self.out.push_str(&words);
        num.end
    }

    fn en_number(&mut self, i: usize, num: &Num) -> usize {
        if num.frac.is_empty() {
            let suffix = self.text(num.end, num.end + 2).to_ascii_lowercase();
            let glued = self.at(num.end + 2).is_some_and(|c| c.is_alphanumeric());
            if matches!(suffix.as_str(), "st" | "nd" | "rd" | "th") && !glued {
                if let Ok(n) = num.int.parse::<u32>() {
                    self.push_word(&verbalise::day_ordinal_words(n, self.locale));
                    return num.end + 2;
                }
            }
        }
        self.push_raw(i, num.end);
        num.end
    }

    /// A number read as a quantity: `三点五` / `three point five`.
    fn decimal_words(&self, num: &Num) -> String {
        let mut s = match num.int_value() {
            Some(v) if !(num.int.len() > 1 && num.int.starts_with('0')) || v == 0 => {
                verbalise::integer_words(v, self.locale)
            }
            Some(v) if num.int.len() == 2 => verbalise::integer_words(v, self.locale),
            _ => verbalise::digits_words(&num.int, self.locale, false),
        };
        if !num.frac.is_empty() {
            s.push_str(if self.zh() { "点" } else { " point " });
            s.push_str(&verbalise::digits_words(&num.frac, self.locale, false));
        }
        s
    }

    fn scan_number(&self, i: usize) -> Num {
        let mut e = self.digits_end(i);
        let mut int = self.text(i, e);
        if e - i <= 3 {
            while self.at(e) == Some(',')
                && (1..=3).all(|k| self.digit_at(e + k))
                && !self.digit_at(e + 4)
            {
                int.push_str(&self.text(e + 1, e + 4));
                e += 4;
            }
        }
        let mut frac = String::new();
        if self.at(e).is_some_and(is_dot) && self.digit_at(e + 1) {
            let fe = self.digits_end(e + 1);
            frac = self.text(e + 1, fe);
            e = fe;
        }
        Num { int, frac, end: e }
    }

    /// `2027-01-05`, `2027/1/5`, `2027.1.5` and US `1/5/2027`.
    fn date(&mut self, i: usize) -> Option<usize> {
        let p1 = self.digits_end(i);
        let sep = self.at(p1)?;
        if !matches!(sep, '-' | '/' | '.') {
            return None;
        }
        let p2 = self.digits_end(p1 + 1);
        if self.at(p2) != Some(sep) {
            return None;
        }
        let p3 = self.digits_end(p2 + 1);
        if self.digit_at(p3) || p3 == p2 + 1 {
            return None;
        }
        let a = self.text(i, p1);
        let b = self.text(p1 + 1, p2);
        let c = self.text(p2 + 1, p3);
        let (y, m, d) = if a.len() == 4 && b.len() <= 2 && c.len() <= 2 {
            (&a, &b, &c)
        } else if sep == '/' && c.len() == 4 && a.len() <= 2 && b.len() <= 2 {
            (&c, &a, &b)
        } else {
            return None;
        };
        let date = NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)?;
        if self.zh() {
            let words = format!(
                "{}年{}月{}日",
                verbalise::digits_words(y, self.locale, false),
                verbalise::integer_words(i64::from(chrono::Datelike::month(&date)), self.locale),
                verbalise::integer_words(i64::from(chrono::Datelike::day(&date)), self.locale),
            );
            self.out.push_str(&words);
        } else {
            self.push_word(&verbalise::date_words_with_year(date, self.locale));
        }
        Some(p3)
    }

    /// `10:30`, `9:05:10`.
    fn time(&mut self, i: usize) -> Option<usize> {
        let he = self.digits_end(i);
        if he - i > 2 || !self.at(he).is_some_and(is_colon) {
            return None;
        }
        let me = self.digits_end(he + 1);
        if me != he + 3 {
            return None;
        }
        let hour: i64 = self.text(i, he).parse().ok()?;
        let minute: i64 = self.text(he + 1, me).parse().ok()?;
        if hour > 24 || minute > 59 {
            return None;
        }
        let mut end = me;
        let mut second = 0;
        if self.at(me).is_some_and(is_colon) && self.digits_end(me + 1) == me + 3 {
            second = self.text(me + 1, me + 3).parse().unwrap_or(0);
            end = me + 3;
        }
        if self.digit_at(end) {
            return None;
        }
        if self.zh() {
            let mut s = if hour == 2 {
                "两".to_string()
            } else {
                verbalise::integer_words(hour, self.locale)
            };
            s.push('点');
            if minute > 0 {
                if minute < 10 {
                    s.push('零');
                }
                s.push_str(&verbalise::integer_words(minute, self.locale));
                s.push('分');
            }
            if second > 0 {
                s.push_str(&verbalise::integer_words(second, self.locale));
                s.push('秒');
            }
            self.out.push_str(&s);
        } else {
            let mut s = verbalise::integer_words(hour, self.locale);
            if minute == 0 {
                let rest = self.text(end, end + 5).to_ascii_lowercase();
                let rest = rest.trim_start();
                if !(rest.starts_with("am")
                    || rest.starts_with("pm")
                    || rest.starts_with("a.m")
                    || rest.starts_with("p.m"))
                {
                    s.push_str(" o'clock");
                }
            } else {
                s.push(' ');
                if minute < 10 {
                    s.push_str("oh ");
                }
                s.push_str(&verbalise::integer_words(minute, self.locale));
            }
            self.push_word(&s);
        }
        Some(end)
    }

    /// Phone numbers, hotlines, card tails, codes: read digit by digit.
    fn phone(&mut self, i: usize) -> Option<usize> {
        let (groups, end) = self.scan_groups(i);
        let total: usize = groups.iter().map(String::len).sum();
        let first = groups.first()?;
        let next = self.at(end);
        let is_phone = if groups.len() > 1 {
            total >= 7
        } else {
            let quantity_follows = next.is_some_and(|n| {
                matches!(n, '元' | '万' | '亿' | '%' | '年')
                    || (is_dot(n) || n == ',') && self.digit_at(end + 1)
            });
            // Round numbers (1000000) are amounts typed without grouping, not phones.
            let round = first.ends_with("000") && !first.starts_with('0');
            let looks_like_id = (first.len() >= 7 && !round)
                || (first.len() >= 3 && first.starts_with('0'))
                || (first.len() == 5 && first.starts_with("95"))
                || (first.len() >= 3 && self.digit_key_before(i));
            looks_like_id && !quantity_follows
        };
        if !is_phone {
            return None;
        }
        if groups.len() == 1 && first.len() == 11 && first.starts_with('1') {
            // A mainland mobile is said 3-4-4, the way it is printed on cards.
            let g = [
                first.get(0..3).unwrap_or_default().to_string(),
                first.get(3..7).unwrap_or_default().to_string(),
                first.get(7..).unwrap_or_default().to_string(),
            ];
            self.push_digit_groups(&g);
        } else if groups.len() == 1
            && first.len() == 10
            && (first.starts_with("400") || first.starts_with("800"))
        {
            // A 400/800 hotline is said 3-3-4.
            let g = [
                first.get(0..3).unwrap_or_default().to_string(),
                first.get(3..6).unwrap_or_default().to_string(),
                first.get(6..).unwrap_or_default().to_string(),
            ];
            self.push_digit_groups(&g);
        } else {
            self.push_digit_groups(&groups);
        }
        Some(end)
    }

    /// `1/2` as a fraction, or `12/1` as a month and day.
    fn fraction(&mut self, num: &Num) -> Option<usize> {
        if !num.frac.is_empty() || self.at(num.end) != Some('/') || !self.digit_at(num.end + 1) {
            return None;
        }
        let de = self.digits_end(num.end + 1);
        if self.at(de) == Some('/') || self.at(de).is_some_and(is_dot) && self.digit_at(de + 1) {
            return None;
        }
        let a = num.int_value()?;
        let b: i64 = self.text(num.end + 1, de).parse().ok()?;
        let month_day = (1..=12).contains(&a) && (1..=31).contains(&b);
        if self.zh() {
            if a >= b && month_day {
                let s = format!(
                    "{}月{}日",
                    verbalise::integer_words(a, self.locale),
                    verbalise::integer_words(b, self.locale)
                );
                self.out.push_str(&s);
            } else if b != 0 {
                let s = format!(
                    "{}分之{}",
                    verbalise::integer_words(b, self.locale),
                    verbalise::integer_words(a, self.locale)
                );
                self.out.push_str(&s);
            } else {
                return None;
            }
            return Some(de);
        }
        if a >= 1 && a < b && b <= 10 {
            let mut s = verbalise::integer_words(a, self.locale);
            s.push(' ');
            let plural = a > 1;
            match b {
                2 => s.push_str(if plural { "halves" } else { "half" }),
                4 => s.push_str(if plural { "quarters" } else { "quarter" }),
                _ => {
                    s.push_str(&verbalise::day_ordinal_words(
                        u32::try_from(b).unwrap_or(0),
                        self.locale,
                    ));
                    if plural {
                        s.push('s');
                    }
                }
            }
            self.push_word(&s);
            return Some(de);
        }
        if a == 24 && b == 7 {
            self.push_word("twenty-four seven");
            return Some(de);
        }
        let date = NaiveDate::from_ymd_opt(2000, u32::try_from(a).ok()?, u32::try_from(b).ok()?)?;
        self.push_word(&verbalise::date_words(date, self.locale));
        Some(de)
    }

    /// `$300.50`, `¥3,500`, `$1.5 million`, `¥3.5万`.
    fn currency(&mut self, i: usize) -> Option<usize> {
        let currency = if self.at(i)? == '$' {
            Currency::Usd
        } else {
            Currency::Cny
        };
        let mut j = i + 1;
        if self.at(j) == Some(' ') {
            j += 1;
        }
        if !self.digit_at(j) {
            return None;
        }
        let num = self.scan_number(j);
        let mut end = num.end;
        let unit_word = match (currency, self.zh()) {
            (Currency::Usd, true) => "美元",
            (Currency::Cny, true) => "元",
            (Currency::Usd, false) => "dollars",
            (Currency::Cny, false) => "yuan",
        };
        if self.zh() {
            let next = self.at(end);
            if let Some(unit @ ('万' | '亿')) = next {
                let mut s = self.decimal_words(&num);
                s.push(unit);
                s.push_str(unit_word);
                self.out.push_str(&s);
                end += 1;
            } else if let Some(c) = num.cents() {
                self.out
                    .push_str(&verbalise::amount_words(c, currency, self.locale));
            } else {
                let mut s = self.decimal_words(&num);
                s.push_str(unit_word);
                self.out.push_str(&s);
            }
            // `¥3500元` would otherwise say the unit twice.
            if self.text(end, end + unit_word.chars().count()) == unit_word {
                end += unit_word.chars().count();
            }
            return Some(end);
        }
        let rest = self.text(end, end + 12).to_ascii_lowercase();
        let scale = ["thousand", "million", "billion", "trillion"]
            .into_iter()
            .find(|s| {
                rest.strip_prefix(' ').is_some_and(|r| {
                    r.starts_with(s) && !r[s.len()..].starts_with(|c: char| c.is_alphabetic())
                })
            });
        if let Some(scale) = scale {
            let s = format!("{} {scale} {unit_word}", self.decimal_words(&num));
            self.push_word(&s);
            return Some(end + 1 + scale.len());
        }
        match num.cents() {
            Some(c) => self.push_word(&verbalise::amount_words(c, currency, self.locale)),
            None => {
                let s = format!("{} {unit_word}", self.decimal_words(&num));
                self.push_word(&s);
            }
        }
        Some(end)
    }
}

/// Removes the padding `push_word` adds where it would sit before punctuation.
fn tidy_en_spacing(s: &str) -> String {
    let collapsed = collapse_spaces(s);
    let mut out = String::with_capacity(collapsed.len());
    let chars: Vec<char> = collapsed.chars().collect();
    for (k, &c) in chars.iter().enumerate() {
        if c == ' ' {
            let next = chars.get(k + 1).copied();
            let prev = k.checked_sub(1).and_then(|p| chars.get(p)).copied();
            if next.is_some_and(|n| matches!(n, ',' | '.' | ';' | ':' | '!' | '?' | ')'))
                || prev.is_some_and(|p| p == '(' || p == '\n')
            {
                continue;
            }
        }
        out.push(c);
    }
    out.trim().to_string()
}

// ---------------------------------------------------------------------------
// Sentence splitting

/// Smallest piece a long sentence is cut into: shorter ones sound clipped.
const MIN_PIECE: usize = 4;

/// Words that end with a `.` without ending a sentence.
const ABBREVIATIONS: &[&str] = &[
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "etc", "inc", "ltd", "co", "corp",
    "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "approx",
    "dept", "est", "e.g", "i.e", "a.m", "p.m", "u.s", "no", "ave", "apt",
];

fn is_terminator(c: char) -> bool {
    matches!(c, '。' | '！' | '？' | '；' | '!' | '?' | ';' | '…')
}

fn is_closer(c: char) -> bool {
    matches!(
        c,
        '”' | '’' | '"' | '\'' | '」' | '』' | '）' | ')' | '】' | '》'
    )
}

/// A `.` ends a sentence unless it sits in a number (`3.5`), a name (`voxdial.com`)
/// or after an abbreviation (`Mr.`, `U.S.`, `No. 5`).
fn is_sentence_dot(chars: &[char], i: usize) -> bool {
    let prev = i.checked_sub(1).and_then(|p| chars.get(p)).copied();
    let next = chars.get(i + 1).copied();
    if let Some(n) = next {
        if !(n.is_whitespace() || is_closer(n) || is_terminator(n) || is_han(n)) {
            return false;
        }
    }
    if prev.is_some_and(is_digit) && next.is_some_and(is_digit) {
        return false;
    }
    let mut start = i;
    while start > 0
        && chars
            .get(start - 1)
            .is_some_and(|c| c.is_ascii_alphabetic() || *c == '.')
    {
        start -= 1;
    }
    let word: String = chars[start..i].iter().collect::<String>().to_lowercase();
    let word = word.trim_start_matches('.');
    if word.len() == 1 && prev.is_some_and(|p| p.is_ascii_uppercase()) {
        return false; // an initial: "J. Smith", "U.S."
    }
    if word == "no" {
        let after = chars.get(i + 1..).unwrap_or_default();
        return !after
            .iter()
            .find(|c| !c.is_whitespace())
            .is_some_and(|c| is_digit(*c));
    }
    !ABBREVIATIONS.contains(&word)
}

fn split_sentences(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        cur.push(c);
        let boundary = match c {
            '\n' => true,
            '.' => is_sentence_dot(&chars, i),
            _ => is_terminator(c),
        };
        if boundary {
            while let Some(&n) = chars.get(i + 1) {
                if is_terminator(n) || is_closer(n) || n == '.' {
                    cur.push(n);
                    i += 1;
                } else {
                    break;
                }
            }
            push_trimmed(&mut out, &cur);
            cur.clear();
        }
        i += 1;
    }
    push_trimmed(&mut out, &cur);
    out
}

fn push_trimmed(out: &mut Vec<String>, s: &str) {
    let t = s.trim();
    if !t.is_empty() {
        out.push(t.to_string());
    }
}

/// How long a piece sounds: one per Han character, one per word of letters/digits.
fn weight(s: &str) -> usize {
    let mut w = 0;
    let mut in_word = false;
    for c in s.chars() {
        if is_han(c) {
            w += 1;
            in_word = false;
        } else if c.is_alphanumeric() {
            if !in_word {
                w += 1;
            }
            in_word = true;
        } else {
            in_word = in_word && (c == '\'' || c == '.' || c == ',');
            if c.is_whitespace() || c == '-' {
                in_word = false;
            }
        }
    }
    w
}

/// Cuts a sentence above `limit` at commas into near-equal pieces.
fn split_long(sentence: &str, limit: usize) -> Vec<String> {
    let total = weight(sentence);
    if total <= limit {
        return vec![sentence.to_string()];
    }
    let chars: Vec<char> = sentence.chars().collect();
    let mut clauses: Vec<String> = Vec::new();
    let mut cur = String::new();
    for (k, &c) in chars.iter().enumerate() {
        cur.push(c);
        let in_number = k > 0
            && chars.get(k - 1).is_some_and(|p| is_digit(*p))
            && chars.get(k + 1).is_some_and(|n| is_digit(*n));
        if matches!(c, '，' | ',' | '：' | ':') && !in_number {
            clauses.push(std::mem::take(&mut cur));
        }
    }
    if !cur.trim().is_empty() {
        clauses.push(cur);
    } else if let Some(last) = clauses.last_mut() {
        last.push_str(&cur);
    }
    let pieces_needed = total.div_ceil(limit);
    let target = total.div_ceil(pieces_needed.max(1));
    let mut pieces: Vec<(String, usize)> = Vec::new();
    let mut cur = String::new();
    let mut cur_w = 0;
    for clause in clauses {
        let w = weight(&clause);
        if cur_w >= MIN_PIECE && cur_w + w > target {
            pieces.push((std::mem::take(&mut cur), cur_w));
            cur_w = 0;
        }
        cur.push_str(&clause);
        cur_w += w;
    }
    if !cur.trim().is_empty() {
        match pieces.last_mut() {
            // A few trailing characters ("好吗？") are kept with the piece before.
            Some(last) if cur_w < MIN_PIECE => last.0.push_str(&cur),
            _ => pieces.push((cur, cur_w)),
        }
    }
    pieces
        .into_iter()
        .map(|(p, _)| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phrases_are_cut_at_clause_marks_and_keep_them() {
        assert_eq!(
            phrases("Great, so to confirm, you'll pay three hundred dollars by Friday."),
            vec![
                "Great,",
                "so to confirm,",
                "you'll pay three hundred dollars by Friday."
            ]
        );
        assert_eq!(
            phrases("The amount due is 3,500; it was due on May 1: today."),
            vec!["The amount due is 3,500;", "it was due on May 1:", "today."]
        );
        assert_eq!(
            phrases("Sorry — let me check."),
            vec!["Sorry —", "let me check."]
        );
        assert_eq!(phrases("No marks here."), vec!["No marks here."]);
        assert_eq!(phrases("a,b stays whole"), vec!["a,b stays whole"]);
        assert_eq!(phrases(""), Vec::<String>::new());
        // A bare mark has nothing to say: it stays with the phrase before it.
        assert_eq!(phrases("Okay, , fine."), vec!["Okay,,", "fine."]);
    }

    #[test]
    fn mandarin_phrases_cut_at_full_width_marks() {
        assert_eq!(
            phrases("张先生，您好；您的账单已逾期三天。"),
            vec!["张先生，", "您好；", "您的账单已逾期三天。"]
        );
        // Prompts typed with half-width marks cut the same way.
        assert_eq!(
            phrases("张先生您好,我是客服。"),
            vec!["张先生您好,", "我是客服。"]
        );
        assert_eq!(phrases("上午10:30还款。"), vec!["上午10:30还款。"]);
    }

    fn zh(s: &str) -> String {
        normalize(s, Locale::ZhCn)
    }

    fn en(s: &str) -> String {
        normalize(s, Locale::EnUs)
    }

    #[test]
    fn zh_prompt_table() {
        let table = [
            (
                "您的账单12月1日到期，应还金额三千五百元，如有疑问请拨打400-800-1234。",
                "您的账单十二月一日到期，应还金额三千五百元，如有疑问请拨打四零零、八零零、幺二三四。",
            ),
            ("利率3.5%", "利率百分之三点五"),
            ("年化利率3.65%", "年化利率百分之三点六五"),
            ("10%-20%", "百分之十到百分之二十"),
            ("10:30", "十点三十分"),
            ("10:05", "十点零五分"),
            ("9:00-18:00", "九点到十八点"),
            ("2:30", "两点三十分"),
            ("2点", "两点"),
            ("2027年", "二零二七年"),
            ("还款日：2027年1月5日", "还款日：二零二七年一月五日"),
            ("2027-01-05", "二零二七年一月五日"),
            ("2026年度", "二零二六年度"),
            ("3年期", "三年期"),
            ("01月05日", "一月五日"),
            ("第3期", "第三期"),
            ("第2期，共2期", "第二期，共两期"),
            ("共2笔，每笔2万元", "共两笔，每笔两万元"),
            ("2月2日", "二月二日"),
            ("¥3,500.50", "三千五百元五角"),
            ("总计¥3,500元", "总计三千五百元"),
            ("3500元", "三千五百元"),
            ("2元", "两元"),
            ("¥0.5", "五角"),
            ("50万元", "五十万元"),
            ("¥3.5万", "三点五万元"),
            ("$300", "三百美元"),
            ("300美元", "三百美元"),
            ("$3.999", "三点九九九美元"),
            ("1/2", "二分之一"),
            ("12/1", "十二月一日"),
            ("3-5天", "三到五天"),
            ("1.5", "一点五"),
            ("0.05", "零点零五"),
            ("1,000", "一千"),
            ("100", "一百"),
            ("-5度", "负五度"),
            ("13812345678", "幺三八、幺二三四、五六七八"),
            ("4008001234", "四零零、八零零、幺二三四"),
            ("010-12345678", "零幺零、幺二三四五六七八"),
            ("+86 138 1234 5678", "加八六、幺三八、幺二三四、五六七八"),
            ("尾号1234", "尾号幺二三四"),
            ("验证码：5121", "验证码：五幺二幺"),
            ("客服电话：95588", "客服电话：九五五八八"),
            ("007", "零零七"),
            ("****1234", "幺二三四"),
            ("按#号键", "按井号键"),
            ("Q3", "Q三"),
            ("5G", "五G"),
            ("7×24小时客服", "七乘二十四小时客服"),
            ("7x24小时", "七乘二十四小时"),
            ("额度1000000", "额度一百万"),
            ("账号1000000", "账号幺零零零零零零"),
            ("下载APP，成为VIP，OK", "下载APP，成为VIP，OK"),
        ];
        for (input, want) in table {
            assert_eq!(zh(input), want, "input: {input}");
        }
    }

    #[test]
    fn zh_leaves_no_ascii_digits() {
        let inputs = [
            "您的账单12月1日到期，请拨打400-800-1234。",
            "利率3.5%，10:30，2027年，¥3,500.50，$300，第3期，1/2",
            "99999999999999999999元",
            "3.5.6 1/0 0/5 12:60 25:00 1/2/3",
        ];
        for input in inputs {
            let out = zh(input);
            assert!(!out.chars().any(|c| c.is_ascii_digit()), "{input} -> {out}");
            assert!(!out.contains(['%', '¥', '$']), "{input} -> {out}");
        }
    }

    #[test]
    fn en_prompt_table() {
        let table = [
            (
                "Your payment of $300.50 is due on 12/1.",
                "Your payment of three hundred dollars and fifty cents is due on December first.",
            ),
            (
                "Call 400-800-1234 or (800) 555-1234.",
                "Call four zero zero, eight zero zero, one two three four or eight zero zero, five five five, one two three four.",
            ),
            (
                "Call 1-800-555-1234.",
                "Call one, eight zero zero, five five five, one two three four.",
            ),
            (
                "APR 24.99% for VIP members.",
                "A P R twenty-four point nine nine percent for V I P members.",
            ),
            ("Your 2nd installment, the 21st.", "Your second installment, the twenty-first."),
            ("At 10:00 am or 10:30, or 9:05.", "At ten am or ten thirty, or nine oh five."),
            ("See you at 10:00.", "See you at ten o'clock."),
            ("Card ending in 1234.", "Card ending in one two three four."),
            ("Your code: 5678, thanks", "Your code: five six seven eight, thanks"),
            ("$1.5 million", "one point five million dollars"),
            ("¥300", "three hundred yuan"),
            ("$1", "one dollar"),
            ("1/2 of it, 3/4, 24/7.", "one half of it, three quarters, twenty-four seven."),
            ("3-5 days", "3 to 5 days"),
            ("Due 1/5/2027.", "Due January fifth, 2027."),
            ("press # or *", "press pound or star"),
            ("OK, ID please.", "OK, I D please."),
            // Left for espeak-ng, which reads these correctly.
            ("In 2027, pay 1,234 dollars.", "In 2027, pay 1,234 dollars."),
            ("Mr. Smith paid 3.5 today.", "Mr. Smith paid 3.5 today."),
        ];
        for (input, want) in table {
            assert_eq!(en(input), want, "input: {input}");
        }
    }

    #[test]
    fn empty_garbage_and_emoji() {
        assert_eq!(zh(""), "");
        assert_eq!(en(""), "");
        assert_eq!(zh("😀好的👍"), "好的");
        assert_eq!(en("ok 👍"), "ok");
        assert_eq!(zh("\u{0}\u{7}¥"), "元");
        assert!(sentences("", Locale::ZhCn).is_empty());
        assert!(sentences("。。。", Locale::ZhCn).is_empty());
        assert!(tts_chunks("😀", Locale::EnUs).is_empty());
    }

    /// Pseudo-random strings over the characters the rules look at: nothing may panic.
    #[test]
    fn never_panics_on_noise() {
        let alphabet: Vec<char> =
            "0123456789０９.,:-/%$¥￥*#+() 元万年月日第期点号尾号电话amstndrhOKVIP。，？！…\n😀\u{0}é"
                .chars()
                .collect();
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..3000 {
            let len = (seed % 24) as usize;
            let mut s = String::new();
            for _ in 0..len {
                seed = seed
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                let k = (seed >> 33) as usize % alphabet.len();
                s.push(alphabet[k]);
            }
            for locale in Locale::ALL {
                let _ = normalize(&s, locale);
                let _ = sentences(&s, locale);
                let _ = tts_chunks(&s, locale);
            }
            seed = seed.rotate_left(7) ^ 0xA5A5;
        }
    }

    #[test]
    fn sentences_split_on_terminators_not_decimals_or_abbreviations() {
        assert_eq!(
            sentences("利率3.5%。请按时还款！好吗？", Locale::ZhCn),
            ["利率3.5%。", "请按时还款！", "好吗？"]
        );
        assert_eq!(
            sentences(
                "Mr. Smith owes $3.50. Dr. Lee paid. No. 5 is due; call us!",
                Locale::EnUs
            ),
            [
                "Mr. Smith owes $3.50.",
                "Dr. Lee paid.",
                "No. 5 is due;",
                "call us!"
            ]
        );
        assert_eq!(
            sentences("好的……那我们再联系。“谢谢！”再见", Locale::ZhCn),
            ["好的……", "那我们再联系。", "“谢谢！”", "再见"]
        );
        assert_eq!(
            sentences(
                "Visit voxdial.com today. U.S. customers only.",
                Locale::EnUs
            ),
            ["Visit voxdial.com today.", "U.S. customers only."]
        );
    }

    #[test]
    fn long_sentences_split_at_commas() {
        let zh_text = "尊敬的客户您好，您在我行办理的信用卡分期业务本期应还金额为三千五百元，最后还款日为十二月一日，为避免产生逾期记录影响您的个人征信，请您在到期日之前存入足额款项，如已还款请忽略本提示。谢谢！";
        let chunks = sentences(zh_text, Locale::ZhCn);
        assert_eq!(
            chunks,
            [
                "尊敬的客户您好，",
                "您在我行办理的信用卡分期业务本期应还金额为三千五百元，",
                "最后还款日为十二月一日，为避免产生逾期记录影响您的个人征信，",
                "请您在到期日之前存入足额款项，如已还款请忽略本提示。",
                "谢谢！",
            ]
        );
        assert!(chunks.iter().all(|c| weight(c) <= ZH_CHUNK_LIMIT));
        assert_eq!(chunks.concat(), zh_text);

        let en_text = "Hello, this is a courtesy call from Anxin Consumer Finance regarding your account, your minimum payment of $300.50 is due on December first, and if you have already paid, please disregard this message, otherwise call us back at 1-800-555-1234. Thank you.";
        let chunks = sentences(en_text, Locale::EnUs);
        assert_eq!(chunks.len(), 4);
        assert_eq!(
            chunks[0],
            "Hello, this is a courtesy call from Anxin Consumer Finance regarding your account,"
        );
        assert!(chunks.iter().all(|c| weight(c) <= EN_CHUNK_LIMIT));
        // The grouping comma in $3,500 is not a clause boundary.
        let chunks = sentences(
            "您本期账单金额为¥3,500.50元，其中本金三千元，利息五百元，手续费零元，请在十二月一日前还款，逾期将产生罚息。",
            Locale::ZhCn,
        );
        assert!(chunks.iter().all(|c| !c.ends_with("3,")), "{chunks:?}");
    }

    #[test]
    fn short_sentences_are_kept_whole() {
        let s = "您好，我是安心消费金融的客服，请问是张先生吗？";
        assert_eq!(sentences(s, Locale::ZhCn), [s]);
    }

    #[test]
    fn chunks_are_stable_and_local_to_their_sentence() {
        let a = "尊敬的客户您好，您在我行办理的信用卡分期业务本期应还金额为三千五百元，最后还款日为十二月一日，为避免产生逾期记录影响您的个人征信。";
        let b = "请您在到期日之前存入足额款项，如已还款请忽略本提示，如有疑问请拨打客服热线四零零八零零幺二三四，感谢您的配合，祝您生活愉快。";
        let joined = format!("{a}{b}");
        let first = sentences(&joined, Locale::ZhCn);
        assert_eq!(first, sentences(&joined, Locale::ZhCn));
        let mut separate = sentences(a, Locale::ZhCn);
        separate.extend(sentences(b, Locale::ZhCn));
        assert_eq!(first, separate);
    }

    #[test]
    fn tts_chunks_normalise_each_chunk() {
        assert_eq!(
            tts_chunks("利率3.5%。请拨打400-800-1234。", Locale::ZhCn),
            ["利率百分之三点五。", "请拨打四零零、八零零、幺二三四。"]
        );
        assert_eq!(
            tts_chunks("You owe $3.50. Call 800-555-1234.", Locale::EnUs),
            [
                "You owe three dollars and fifty cents.",
                "Call eight zero zero, five five five, one two three four."
            ]
        );
    }
}
