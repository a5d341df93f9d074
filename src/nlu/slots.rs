//! Slot extraction from one customer utterance: dates, amounts, phone tails, yes/no and
//! relative durations, for zh-CN and en-US ASR text (no punctuation, fillers, mixed
//! languages such as "我明天还3500" or "下周五 pay").
//!
//! How it works: the text is normalised once (full-width to ASCII, lower case, runs of
//! spaces collapsed) into a `Vec<char>`, then a small left-to-right lexer tries, at each
//! position, the recognisers in priority order: phone-tail cue, date/duration, amount.
//! A recogniser that matches consumes its span, so "五号" (a date), "三天" (a span) or
//! "尾号1234" (a tail) can never be read again as an amount. Both languages' recognisers
//! always run; the call's locale only decides which one is tried first at a position.
//! Yes/no is a separate, deliberately conservative cue scan. Everything is hand-written,
//! allocation-light and linear in the input; no regex, nothing compiled per call.
//!
//! Decisions about ambiguous phrases (all relative to `today`):
//! - Weeks are ISO weeks (Monday..Sunday). "this X"/"这周X"/"本周X" and bare "周X" = X in
//!   the current week if not already past (today counts), else X a week later. "next X" /
//!   "下周X" / "下个星期X" / "下礼拜X" = X in the following ISO week. So on Sunday
//!   2026-11-22 both "this Friday" and "next Friday" are 2026-11-27. An English bare
//!   "Friday" / "on Friday" is the next Friday strictly after today. "last X"/"上周X" = X
//!   in the previous ISO week.
//! - "next week"/"下周" with no weekday = Monday of next week. "周末"/"this weekend" = the
//!   coming Saturday (Saturday of this week, or next week's once it is past);
//!   "下周末"/"next weekend" = Saturday of next ISO week. "这周"/"this week" alone and
//!   "下个月"/"next month" alone are too vague to be dates (None).
//! - "15号"/"the 15th" = the 15th of this month if not yet past (today counts), else of the
//!   first following month that has that day. "下个月5号" = day 5 of next month.
//! - "12月1日"/"Dec 1"/"12/1" (always month/day) take the year that makes the date the
//!   nearest future one, unless the past occurrence is less than half as far away (so
//!   "11月15号" said on 2026-11-22 is 2026-11-15, "1月5号" is 2027-01-05).
//! - "月初" = today if it is the 1st, else the 1st of next month; "月底"/"end of the month"
//!   = last day of this month; "年底" = Dec 31 this year.
//! - A relative span sets `duration_days` (days 1, weeks 7, months 30, "半个月" 15). When
//!   it is also a point in time ("三天后", "过两天", "三天内", "in a week", "3 days from
//!   now", "within 3 days") it sets `date` too (months are calendar months for the date).
//!   "三天前"/"3 days ago" set only the date.
//! - A bare number (no currency word) is an amount only if it is >= 10, is written with a
//!   unit (十/百/千/万) or in ASCII digits (Chinese digit strings like 一二三四 are digit
//!   strings, not sums), is not a 7+ digit run without separators (phone numbers), and is
//!   not followed by a measure/date/time word (号, 天, 个, 点, 半, "days", "pm", ...). "3.5k",
//!   "1.2w" and "$…" are amounts whatever follows. So "还一半" and "五号" are not amounts.
//! - Phone tail: only after a tail cue (尾号, 后四位, "last four", "ending in", ...) with
//!   3..=6 digits, after a weak cue (手机/号码/"phone"/"number") with exactly 4 digits
//!   ("that's my work phone it's 3721"), or when the whole utterance is exactly 4 digits
//!   (spoken or written, fillers like 那/是/吧/"it's" allowed). In
//!   the latter case a written number like "3500" is also reported as an amount: the
//!   dialogue captures whichever slot it asked for.
//! - When several mentions of one kind occur, the first one wins, except that a mention
//!   directly negated ("不是明天 是后天", "not tomorrow, Friday") is skipped. Durations
//!   are the exception: the first span right after a deferral cue (延, 宽限, "push it
//!   back", "give me", ...) wins, else the last one (context tends to come first: "locked
//!   down for three weeks, can I push it back two weeks" -> 14).
//! - Yes/no: the first decisive cue wins ("不是 我是他老婆" -> false, "对 我没有钱" ->
//!   true); question forms ("是不是", "对吗", "who is this", a clause ending in 吗 or ?)
//!   give None; single-character cues (是/对/好/行) only count at the start of a clause;
//!   "嗯" is yes only when the utterance is nothing but 嗯; "no" only counts at the start
//!   or the end of the utterance ("I have no money" is not a no); 不用/不要/没有 only at
//!   the head of a clause ("那个号好久不用了" is not a no).
//! - Input is capped at `MAX_CHARS` (1000) characters to bound the work per ASR turn.

use crate::language::Locale;
use chrono::{Datelike, Days, Months, NaiveDate, Weekday};
use serde::Serializer;

/// Everything we could pull out of one utterance.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Slots {
    /// A calendar day the customer named (promise-to-pay or callback date); ISO in JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date: Option<NaiveDate>,
    /// A sum of money in cents; serialized as `"amount"` in currency units (3500.5).
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "serialize_amount",
        rename = "amount"
    )]
    pub amount_cents: Option<i64>,
    /// The phone-number tail the customer read out for identity checks, as digits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_tail: Option<String>,
    /// The answer to a yes/no question, when the utterance clearly gives one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub yes_no: Option<bool>,
    /// A relative span in days ("三天", "两周", "in a week"), e.g. a deferral request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_days: Option<u32>,
}

/// Writes cents as a JSON number in currency units so callers see 3500.5, not 350050.
fn serialize_amount<S: Serializer>(v: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        // Exact for any realistic amount (< 2^53 cents).
        Some(c) => s.serialize_f64(*c as f64 / 100.0),
        None => s.serialize_none(),
    }
}

/// Longest input (in chars) looked at; ASR turns are far shorter, this bounds the cost.
const MAX_CHARS: usize = 1000;

/// Pull every slot out of one utterance, sharing one normalisation and one lexer pass.
pub fn extract_slots(text: &str, locale: Locale, today: NaiveDate) -> Slots {
    let t = normalize(text);
    let ms = scan(&t, locale);
    Slots {
        date: pick_date(&t, &ms, today),
        amount_cents: pick_amount(&t, &ms),
        phone_tail: pick_tail(&t, &ms),
        yes_no: yes_no_scan(&t),
        duration_days: pick_duration(&t, &ms),
    }
}

/// The date the utterance names, resolved against `today`; None if none or impossible.
pub fn parse_date(text: &str, locale: Locale, today: NaiveDate) -> Option<NaiveDate> {
    let t = normalize(text);
    let ms = scan(&t, locale);
    pick_date(&t, &ms, today)
}

/// The amount of money the utterance names, in cents; dates, spans and tails excluded.
pub fn parse_amount_cents(text: &str, locale: Locale) -> Option<i64> {
    let t = normalize(text);
    let ms = scan(&t, locale);
    pick_amount(&t, &ms)
}

/// The phone tail digits after a tail cue, or a whole utterance of exactly 4 digits.
pub fn parse_phone_tail(text: &str, locale: Locale) -> Option<String> {
    let t = normalize(text);
    let ms = scan(&t, locale);
    pick_tail(&t, &ms)
}

/// Yes/no answer; None when the utterance is a question or gives no clear answer.
pub fn parse_yes_no(text: &str, locale: Locale) -> Option<bool> {
    // Both languages' cues are checked whatever the locale; they never conflict.
    let _ = locale;
    yes_no_scan(&normalize(text))
}

/// Chinese numerals (incl. 两, 幺, 〇/零, 十/百/千/万/亿, and colloquial elision 三千五=3500,
/// 一万二=12000, 两百五=250, 十五=15) or ASCII digits with separators -> integer; None if
/// not a number.
pub fn parse_chinese_number(s: &str) -> Option<i64> {
    let t = normalize(s);
    let buf: Vec<char> = t
        .iter()
        .filter(|c| !matches!(c, ' ' | ',' | '_'))
        .map(|&c| if c == '点' { '.' } else { c })
        .collect();
    let v = num_value(&buf)?;
    i64::try_from(v.integer()?).ok()
}

// ---------------------------------------------------------------------------------------
// Normalisation and char helpers
// ---------------------------------------------------------------------------------------

fn normalize(text: &str) -> Vec<char> {
    let mut out: Vec<char> = Vec::with_capacity(text.len().min(MAX_CHARS));
    for ch in text.chars().take(MAX_CHARS) {
        let ch = match ch {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(ch as u32 - 0xFEE0).unwrap_or(' '),
            '￥' => '¥',
            '。' => '.',
            '、' => ',',
            '‘' | '’' | '`' | '´' => '\'',
            '“' | '”' | '"' | '「' | '」' | '《' | '》' | '【' | '】' => ' ',
            '—' | '–' | '‐' | '‑' => '-',
            '…' => '.',
            c if c.is_whitespace() || c.is_control() => ' ',
            c => c,
        };
        let ch = ch.to_ascii_lowercase();
        if ch == ' ' && out.last().is_none_or(|&p| p == ' ') {
            continue;
        }
        out.push(ch);
    }
    while out.last() == Some(&' ') {
        out.pop();
    }
    out
}

fn at(t: &[char], i: usize) -> Option<char> {
    t.get(i).copied()
}

fn before(t: &[char], i: usize) -> Option<char> {
    i.checked_sub(1).and_then(|k| at(t, k))
}

fn skip_sp(t: &[char], mut i: usize) -> usize {
    while at(t, i) == Some(' ') {
        i += 1;
    }
    i
}

fn is_alnum(c: Option<char>) -> bool {
    c.is_some_and(|c| c.is_ascii_alphanumeric())
}

fn is_cjk(c: Option<char>) -> bool {
    c.is_some_and(|c| ('\u{3400}'..='\u{9FFF}').contains(&c))
}

fn word_start(t: &[char], i: usize) -> bool {
    !is_alnum(before(t, i))
}

/// Chinese literal: the pattern's chars in order; spaces in the text between them ignored.
fn zl(t: &[char], i: usize, pat: &str) -> Option<usize> {
    let mut j = i;
    for (k, p) in pat.chars().enumerate() {
        if k > 0 {
            j = skip_sp(t, j);
        }
        if at(t, j)? != p {
            return None;
        }
        j += 1;
    }
    Some(j)
}

/// First pattern of `table` (put longer ones first) that matches at `i`, Chinese style.
fn zl_pick<V: Copy>(t: &[char], i: usize, table: &[(&str, V)]) -> Option<(V, usize)> {
    table.iter().find_map(|&(p, v)| zl(t, i, p).map(|e| (v, e)))
}

/// English phrase at a word start: a pattern space matches spaces or a hyphen; the phrase
/// must end at a word boundary.
fn el(t: &[char], i: usize, pat: &str) -> Option<usize> {
    if !word_start(t, i) {
        return None;
    }
    let mut j = i;
    for p in pat.chars() {
        if p == ' ' {
            let c = at(t, j)?;
            if c != ' ' && c != '-' {
                return None;
            }
            j = skip_sp(t, j + 1);
        } else {
            if at(t, j)? != p {
                return None;
            }
            j += 1;
        }
    }
    if is_alnum(at(t, j)) {
        return None;
    }
    Some(j)
}

/// First English phrase of `table` that matches at `i`.
fn el_pick<V: Copy>(t: &[char], i: usize, table: &[(&str, V)]) -> Option<(V, usize)> {
    if !is_alnum(at(t, i)) || !word_start(t, i) {
        return None;
    }
    table.iter().find_map(|&(p, v)| el(t, i, p).map(|e| (v, e)))
}

/// Where the lexer tries next after a failure: skip a whole ASCII word/number at once.
fn next_start(t: &[char], i: usize) -> usize {
    if is_alnum(at(t, i)) {
        let mut j = i;
        while is_alnum(at(t, j)) {
            j += 1;
        }
        j
    } else {
        i + 1
    }
}

/// End of the previous ASCII word before `i` (skipping spaces), with its start.
fn prev_word(t: &[char], i: usize) -> Option<(usize, usize)> {
    let mut e = i;
    while e > 0 && at(t, e - 1) == Some(' ') {
        e -= 1;
    }
    let mut s = e;
    while s > 0 && (is_alnum(at(t, s - 1)) || at(t, s - 1) == Some('\'')) {
        s -= 1;
    }
    (s < e).then_some((s, e))
}

fn slice_is(t: &[char], s: usize, e: usize, w: &str) -> bool {
    t.get(s..e).is_some_and(|x| x.iter().copied().eq(w.chars()))
}

// ---------------------------------------------------------------------------------------
// Numbers
// ---------------------------------------------------------------------------------------

/// A small exact decimal: value = m / 10^s. Keeps "1.2万" and "3500.50" exact.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Dec {
    m: i128,
    s: u32,
}

const MAX_SCALE: u32 = 6;

impl Dec {
    const ZERO: Dec = Dec { m: 0, s: 0 };

    fn int(v: i128) -> Dec {
        Dec { m: v, s: 0 }
    }

    /// The value times 10^s, if exact and in range.
    fn rescale(self, s: u32) -> Option<i128> {
        if s >= self.s {
            self.m.checked_mul(10i128.checked_pow(s - self.s)?)
        } else {
            let d = 10i128.checked_pow(self.s - s)?;
            (self.m % d == 0).then(|| self.m / d)
        }
    }

    fn add(self, o: Dec) -> Option<Dec> {
        let s = self.s.max(o.s);
        Some(Dec {
            m: self.rescale(s)?.checked_add(o.rescale(s)?)?,
            s,
        })
    }

    fn mul(self, k: i128) -> Option<Dec> {
        Some(Dec {
            m: self.m.checked_mul(k)?,
            s: self.s,
        })
    }

    fn integer(self) -> Option<i128> {
        self.rescale(0)
    }

    fn cents(self) -> Option<i64> {
        i64::try_from(self.rescale(2)?).ok()
    }

    fn ge(self, k: i128) -> bool {
        Dec::int(k).rescale(self.s).is_some_and(|x| self.m >= x)
    }

    fn small_int(self) -> Option<u32> {
        u32::try_from(self.integer()?).ok()
    }
}

fn digit_val(c: char) -> Option<u32> {
    Some(match c {
        '0'..='9' => c as u32 - '0' as u32,
        '零' | '〇' => 0,
        '一' | '壹' | '幺' => 1,
        '二' | '贰' | '两' => 2,
        '三' | '叁' => 3,
        '四' | '肆' => 4,
        '五' | '伍' => 5,
        '六' | '陆' => 6,
        '七' | '柒' => 7,
        '八' | '捌' => 8,
        '九' | '玖' => 9,
        _ => return None,
    })
}

fn unit_val(c: char) -> Option<i128> {
    Some(match c {
        '十' | '拾' => 10,
        '百' | '佰' => 100,
        '千' | '仟' => 1000,
        '万' | '萬' => 10_000,
        '亿' | '億' => 100_000_000,
        _ => return None,
    })
}

fn is_numeral(c: Option<char>) -> bool {
    c.is_some_and(|c| digit_val(c).is_some() || unit_val(c).is_some())
}

/// Digits with at most one '.': "3500.50", "一二三四", "二零二六".
fn digit_string(cs: &[char]) -> Option<Dec> {
    let (mut m, mut s, mut point, mut nd) = (0i128, 0u32, false, 0usize);
    for &c in cs {
        if c == '.' {
            if point {
                return None;
            }
            point = true;
            continue;
        }
        let d = digit_val(c)?;
        m = m.checked_mul(10)?.checked_add(i128::from(d))?;
        nd += 1;
        if point {
            s += 1;
            if s > MAX_SCALE {
                return None;
            }
        }
    }
    (nd > 0).then_some(Dec { m, s })
}

/// Value of a numeral run (digits, units, '.' as decimal point, no separators).
fn num_value(cs: &[char]) -> Option<Dec> {
    if !cs.iter().any(|&c| unit_val(c).is_some()) {
        return digit_string(cs);
    }
    let (mut yi, mut wan, mut section) = (Dec::ZERO, Dec::ZERO, Dec::ZERO);
    let mut wan_set = false;
    let mut cur: Option<(Dec, bool)> = None;
    let (mut last_unit, mut prev_small) = (0i128, 10_000i128);
    let mut zero = false;
    let mut k = 0;
    while let Some(&c) = cs.get(k) {
        if c == '零' || c == '〇' {
            if cur.is_some() {
                return None;
            }
            zero = true;
            k += 1;
            continue;
        }
        if digit_val(c).is_some() || c == '.' {
            let st = k;
            while cs
                .get(k)
                .is_some_and(|&c| digit_val(c).is_some() || c == '.')
            {
                k += 1;
            }
            let run = cs.get(st..k)?;
            let single = run.len() == 1;
            let zh = run.iter().any(|c| !c.is_ascii_digit() && *c != '.');
            if zh && !single && !run.contains(&'.') {
                return None; // "十二三": a range, not a number
            }
            if cur.is_some() {
                return None;
            }
            cur = Some((digit_string(run)?, single));
            continue;
        }
        let u = unit_val(c)?;
        if u < 10_000 {
            let base = match cur.take() {
                Some((v, _)) => v,
                None if u == 10 => Dec::int(1),
                None => return None,
            };
            if u >= prev_small {
                return None;
            }
            section = section.add(base.mul(u)?)?;
            prev_small = u;
        } else if u == 10_000 {
            let v = match cur.take() {
                Some((v, _)) => section.add(v)?,
                None => section,
            };
            if v.m == 0 || wan_set {
                return None;
            }
            wan = v.mul(u)?;
            wan_set = true;
            section = Dec::ZERO;
            prev_small = 10_000;
        } else {
            let v = wan.add(section)?;
            let v = match cur.take() {
                Some((c, _)) => v.add(c)?,
                None => v,
            };
            if v.m == 0 || yi.m != 0 {
                return None;
            }
            yi = v.mul(u)?;
            wan = Dec::ZERO;
            wan_set = false;
            section = Dec::ZERO;
            prev_small = 10_000;
        }
        last_unit = u;
        zero = false;
        k += 1;
    }
    let mut total = yi.add(wan)?.add(section)?;
    if let Some((v, single)) = cur {
        let tail = if single && !zero && last_unit >= 10 {
            // Colloquial elision: 三千五 = 3000 + 5*100.
            v.mul(last_unit / 10)?
        } else {
            if last_unit > 0 && v.ge(last_unit) {
                return None;
            }
            v
        };
        total = total.add(tail)?;
    }
    Some(total)
}

/// A numeral run found in the text.
#[derive(Clone, Copy, Debug)]
struct NumTok {
    v: Dec,
    end: usize,
    has_unit: bool,
    ascii_only: bool,
    has_sep: bool,
    has_point: bool,
    digits: usize,
}

/// A numeral run starting at `i` (not in the middle of another number or ASCII word).
fn num_at(t: &[char], i: usize) -> Option<NumTok> {
    let c0 = at(t, i)?;
    if digit_val(c0).is_none() && c0 != '十' && c0 != '拾' {
        return None;
    }
    if let Some(p) = before(t, i) {
        if p.is_ascii_alphanumeric() || is_numeral(Some(p)) {
            return None;
        }
        if (p == '.' || p == ',') && is_numeral(before(t, i - 1)) {
            return None;
        }
    }
    let mut buf: Vec<char> = Vec::new();
    let (mut has_unit, mut ascii_only, mut has_sep, mut has_point) = (false, true, false, false);
    let mut digits = 0usize;
    let mut j = i;
    while let Some(c) = at(t, j) {
        if digit_val(c).is_some() {
            if !c.is_ascii_digit() {
                ascii_only = false;
            }
            digits += 1;
            buf.push(c);
        } else if unit_val(c).is_some() {
            has_unit = true;
            ascii_only = false;
            buf.push(c);
        } else if c == '.'
            && !has_point
            && is_ascii_digit(before(t, j))
            && is_ascii_digit(at(t, j + 1))
        {
            has_point = true;
            buf.push('.');
        } else if c == '点' && !has_point && zh_point_ok(t, j) {
            has_point = true;
            ascii_only = false;
            buf.push('.');
        } else if c == ',' && thousands_sep(t, j) {
            has_sep = true;
        } else {
            break;
        }
        j += 1;
    }
    let v = num_value(&buf)?;
    Some(NumTok {
        v,
        end: j,
        has_unit,
        ascii_only,
        has_sep,
        has_point,
        digits,
    })
}

impl NumTok {
    /// "两三", "三五": adjacent Chinese digits without a unit are a range or a digit
    /// string (years, tails), never a count or a day.
    fn zh_digit_string(&self) -> bool {
        !self.has_unit && !self.ascii_only && self.digits > 1
    }
}

fn is_ascii_digit(c: Option<char>) -> bool {
    c.is_some_and(|c| c.is_ascii_digit())
}

/// "3,500": a comma after a digit followed by exactly three digits.
fn thousands_sep(t: &[char], j: usize) -> bool {
    is_ascii_digit(before(t, j))
        && (1..=3).all(|k| is_ascii_digit(at(t, j + k)))
        && !is_ascii_digit(at(t, j + 4))
}

/// 点 is a decimal point only in money-like numbers ("三点五万", "一点五元"), never in
/// times ("三点五十" = 3:50).
fn zh_point_ok(t: &[char], j: usize) -> bool {
    if !is_numeral(before(t, j)) {
        return false;
    }
    let mut k = j + 1;
    while at(t, k).is_some_and(|c| digit_val(c).is_some()) {
        k += 1;
    }
    k > j + 1 && matches!(at(t, k), Some('万' | '亿' | '千' | '元' | '块' | 'w'))
}

/// A plain ASCII integer (no separators) at `i`: value and digit count.
fn ascii_int_at(t: &[char], i: usize) -> Option<(u32, usize, usize)> {
    if !is_ascii_digit(at(t, i)) || is_alnum(before(t, i)) {
        return None;
    }
    let mut j = i;
    let mut v: u32 = 0;
    while let Some(d) = at(t, j).and_then(|c| c.to_digit(10)) {
        v = v.checked_mul(10)?.checked_add(d)?;
        j += 1;
    }
    Some((v, j - i, j))
}

const EN_UNITS: &[(&str, i128)] = &[
    ("one", 1),
    ("two", 2),
    ("three", 3),
    ("four", 4),
    ("five", 5),
    ("six", 6),
    ("seven", 7),
    ("eight", 8),
    ("nine", 9),
];
const EN_TEENS: &[(&str, i128)] = &[
    ("ten", 10),
    ("eleven", 11),
    ("twelve", 12),
    ("thirteen", 13),
    ("fourteen", 14),
    ("fifteen", 15),
    ("sixteen", 16),
    ("seventeen", 17),
    ("eighteen", 18),
    ("nineteen", 19),
];
const EN_TENS: &[(&str, i128)] = &[
    ("twenty", 20),
    ("thirty", 30),
    ("forty", 40),
    ("fourty", 40),
    ("fifty", 50),
    ("sixty", 60),
    ("seventy", 70),
    ("eighty", 80),
    ("ninety", 90),
];
const EN_SCALES: &[(&str, i128)] = &[
    ("thousand", 1000),
    ("million", 1_000_000),
    ("billion", 1_000_000_000),
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum WordKind {
    None,
    Unit,
    Teen,
    Tens,
    Hundred,
    Scale,
}

/// English number words: "a hundred and twenty", "twelve hundred", "three thousand five
/// hundred", "twenty-five". Digit-by-digit readings stop after the first digit.
fn en_words_num_at(t: &[char], i: usize) -> Option<(i128, usize)> {
    if !word_start(t, i) || !at(t, i).is_some_and(|c| c.is_ascii_alphabetic()) {
        return None;
    }
    let (mut total, mut cur) = (0i128, 0i128);
    let mut last = WordKind::None;
    let mut prev_scale = i128::MAX;
    let mut end = None;
    let mut j = i;
    loop {
        let w = if end.is_none() { j } else { skip_sp_dash(t, j) };
        if let Some((v, e)) = el_pick(t, w, EN_UNITS) {
            if !matches!(
                last,
                WordKind::None | WordKind::Tens | WordKind::Hundred | WordKind::Scale
            ) {
                break;
            }
            if last == WordKind::Tens && cur % 10 != 0 {
                break;
            }
            cur += v;
            last = WordKind::Unit;
            end = Some(e);
            j = e;
        } else if let Some((v, e)) = el_pick(t, w, EN_TEENS).or_else(|| el_pick(t, w, EN_TENS)) {
            if !matches!(last, WordKind::None | WordKind::Hundred | WordKind::Scale) {
                break;
            }
            cur += v;
            last = if v < 20 {
                WordKind::Teen
            } else {
                WordKind::Tens
            };
            end = Some(e);
            j = e;
        } else if let Some(e) = el(t, w, "hundred") {
            if cur == 0 && last == WordKind::None {
                break;
            }
            if !matches!(last, WordKind::Unit | WordKind::Teen | WordKind::Tens) || cur >= 100 {
                break;
            }
            cur = cur.checked_mul(100)?;
            last = WordKind::Hundred;
            end = Some(e);
            j = e;
        } else if let Some((s, e)) = el_pick(t, w, EN_SCALES) {
            if last == WordKind::None || last == WordKind::Scale || s >= prev_scale || cur == 0 {
                break;
            }
            total = total.checked_add(cur.checked_mul(s)?)?;
            cur = 0;
            prev_scale = s;
            last = WordKind::Scale;
            end = Some(e);
            j = e;
        } else if end.is_none() && (el(t, w, "a").is_some() || el(t, w, "an").is_some()) {
            // "a hundred", "a thousand": only when a scale word follows.
            let e = el(t, w, "a").or_else(|| el(t, w, "an"))?;
            let n = skip_sp(t, e);
            let v = if let Some(e2) = el(t, n, "hundred") {
                cur = 100;
                last = WordKind::Hundred;
                e2
            } else {
                let (s, e2) = el_pick(t, n, EN_SCALES)?;
                total = s;
                cur = 0;
                prev_scale = s;
                last = WordKind::Scale;
                e2
            };
            end = Some(v);
            j = v;
        } else if end.is_some()
            && matches!(last, WordKind::Hundred | WordKind::Scale)
            && el(t, w, "and").is_some()
        {
            let e = el(t, w, "and")?;
            let n = skip_sp(t, e);
            if el_pick(t, n, EN_UNITS).is_none()
                && el_pick(t, n, EN_TEENS).is_none()
                && el_pick(t, n, EN_TENS).is_none()
            {
                break;
            }
            j = e;
        } else {
            break;
        }
    }
    let end = end?;
    Some((total.checked_add(cur)?, end))
}

fn skip_sp_dash(t: &[char], i: usize) -> usize {
    let j = skip_sp(t, i);
    if at(t, j) == Some('-') && is_alnum(at(t, j + 1)) {
        j + 1
    } else {
        j
    }
}

// ---------------------------------------------------------------------------------------
// Lexer
// ---------------------------------------------------------------------------------------

/// A relative or absolute date as said, resolved against `today` later.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DateExpr {
    Offset(i64),
    InMonths(u32),
    ThisWeekday(Weekday),
    WeekdayInWeek(Weekday, i64),
    NextOccurrence(Weekday),
    MonthEnd(i32),
    MonthStart(i32),
    EarlyMonth,
    DayOfMonth(u32),
    DayInMonth(i32, u32),
    MonthDay(u32, u32),
    Ymd(i32, u32, u32),
    YearEnd,
    /// A named month with a position in it ("二月底", "明年3月5号"): the year offset from
    /// this year when said (明年 = 1), else the next time that month comes round.
    NamedMonth(Option<i32>, u32, MonthPos),
    /// Said as a date but impossible ("13月1日"): consumes the words, resolves to None.
    Invalid,
}

/// Where in a named month a date falls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MonthPos {
    Day(u32),
    Start,
    Mid,
    End,
}

/// One recognised stretch of the utterance and what it means.
#[derive(Clone, Debug, Default)]
struct Mention {
    start: usize,
    end: usize,
    date: Option<DateExpr>,
    days: Option<u32>,
    amount: Option<i64>,
    tail: Option<String>,
}

impl Mention {
    fn date(start: usize, end: usize, d: DateExpr) -> Mention {
        Mention {
            start,
            end,
            date: Some(d),
            ..Mention::default()
        }
    }
}

fn scan(t: &[char], locale: Locale) -> Vec<Mention> {
    let zh_first = locale == Locale::ZhCn;
    let mut out = Vec::new();
    let mut i = 0;
    while i < t.len() {
        match recognize(t, i, zh_first) {
            Some(m) if m.end > i => {
                i = m.end;
                out.push(m);
            }
            _ => i = next_start(t, i),
        }
    }
    out
}

fn recognize(t: &[char], i: usize, zh_first: bool) -> Option<Mention> {
    let c = at(t, i)?;
    if c == ' ' {
        return None;
    }
    if let Some(m) = zh_tail_at(t, i).or_else(|| en_tail_at(t, i)) {
        return Some(m);
    }
    if let Some((d, e)) = digit_date_at(t, i) {
        return Some(Mention::date(i, e, d));
    }
    let date = if zh_first {
        zh_date_at(t, i).or_else(|| en_date_at(t, i))
    } else {
        en_date_at(t, i).or_else(|| zh_date_at(t, i))
    };
    if date.is_some() {
        return date;
    }
    let amount = if zh_first {
        zh_amount_at(t, i).or_else(|| en_amount_at(t, i))
    } else {
        en_amount_at(t, i).or_else(|| zh_amount_at(t, i))
    };
    amount.map(|(cents, end)| Mention {
        start: i,
        end,
        amount: Some(cents),
        ..Mention::default()
    })
}

/// Directly negated mention: "不是明天", "not tomorrow" (but not the question "是不是").
fn negated(t: &[char], start: usize) -> bool {
    let mut e = start;
    while e > 0 && at(t, e - 1) == Some(' ') {
        e -= 1;
    }
    if e >= 2 && at(t, e - 2) == Some('不') && at(t, e - 1) == Some('是') {
        return !(e >= 3 && at(t, e - 3) == Some('是'));
    }
    prev_word(t, e).is_some_and(|(s, pe)| slice_is(t, s, pe, "not"))
}

fn pick_date(t: &[char], ms: &[Mention], today: NaiveDate) -> Option<NaiveDate> {
    ms.iter()
        .filter(|m| !negated(t, m.start))
        .find_map(|m| resolve(m.date?, today))
}

fn pick_amount(t: &[char], ms: &[Mention]) -> Option<i64> {
    ms.iter()
        .filter(|m| !negated(t, m.start))
        .find_map(|m| m.amount)
}

/// Spans are often context before the request ("locked down for three weeks, can I push
/// it back two weeks"): prefer the first span right after a deferral cue, else the last.
fn pick_duration(t: &[char], ms: &[Mention]) -> Option<u32> {
    let spans = || {
        ms.iter()
            .filter(|m| m.days.is_some() && !negated(t, m.start))
    };
    spans()
        .find(|m| deferral_cue_before(t, m.start))
        .or_else(|| spans().next_back())
        .and_then(|m| m.days)
}

const DEFERRAL_CUES: &[&str] = &[
    "延",
    "宽限",
    "缓",
    "推迟",
    "推后",
    "给我",
    "再给",
    "需要",
    "push it back",
    "push back",
    "push that back",
    "extend",
    "extension",
    "defer",
    "delay",
    "give me",
    "get",
    "need",
    "more time",
];

fn deferral_cue_before(t: &[char], start: usize) -> bool {
    let from = start.saturating_sub(16);
    let window: String = t.get(from..start).unwrap_or_default().iter().collect();
    DEFERRAL_CUES.iter().any(|c| window.contains(c))
}

fn pick_tail(t: &[char], ms: &[Mention]) -> Option<String> {
    ms.iter()
        .find_map(|m| m.tail.clone())
        .or_else(|| whole_utterance_digits(t))
}

// ---------------------------------------------------------------------------------------
// Date resolution
// ---------------------------------------------------------------------------------------

fn add_days(d: NaiveDate, n: i64) -> Option<NaiveDate> {
    if n >= 0 {
        d.checked_add_days(Days::new(u64::try_from(n).ok()?))
    } else {
        d.checked_sub_days(Days::new(n.unsigned_abs()))
    }
}

fn add_months(d: NaiveDate, k: i32) -> Option<NaiveDate> {
    if k >= 0 {
        d.checked_add_months(Months::new(u32::try_from(k).ok()?))
    } else {
        d.checked_sub_months(Months::new(k.unsigned_abs()))
    }
}

fn wd_index(w: Weekday) -> i64 {
    i64::from(w.num_days_from_monday())
}

fn resolve(e: DateExpr, today: NaiveDate) -> Option<NaiveDate> {
    let monday = add_days(today, -wd_index(today.weekday()))?;
    let first = today.with_day(1)?;
    match e {
        DateExpr::Offset(n) => add_days(today, n),
        DateExpr::InMonths(k) => today.checked_add_months(Months::new(k)),
        DateExpr::ThisWeekday(w) => {
            let d = add_days(monday, wd_index(w))?;
            if d >= today {
                Some(d)
            } else {
                add_days(d, 7)
            }
        }
        DateExpr::WeekdayInWeek(w, k) => {
            add_days(monday, k.checked_mul(7)?.checked_add(wd_index(w))?)
        }
        DateExpr::NextOccurrence(w) => {
            let diff = (wd_index(w) - wd_index(today.weekday())).rem_euclid(7);
            add_days(today, if diff == 0 { 7 } else { diff })
        }
        DateExpr::MonthEnd(k) => add_months(first, k.checked_add(1)?)?.pred_opt(),
        DateExpr::MonthStart(k) => add_months(first, k),
        DateExpr::EarlyMonth => {
            if today.day() == 1 {
                Some(today)
            } else {
                add_months(first, 1)
            }
        }
        DateExpr::DayOfMonth(d) => {
            (0..3).find_map(|k| add_months(first, k)?.with_day(d).filter(|x| *x >= today))
        }
        DateExpr::DayInMonth(k, d) => add_months(first, k)?.with_day(d),
        DateExpr::MonthDay(m, d) => nearest_month_day(m, d, today),
        DateExpr::Ymd(y, m, d) => NaiveDate::from_ymd_opt(y, m, d),
        DateExpr::YearEnd => NaiveDate::from_ymd_opt(today.year(), 12, 31),
        DateExpr::NamedMonth(year, m, pos) => {
            let on = |y: i32| -> Option<NaiveDate> {
                let first = NaiveDate::from_ymd_opt(y, m, 1)?;
                match pos {
                    MonthPos::Day(d) => first.with_day(d),
                    MonthPos::Start => Some(first),
                    MonthPos::Mid => first.with_day(15),
                    MonthPos::End => add_months(first, 1)?.pred_opt(),
                }
            };
            match year {
                Some(k) => on(today.year().checked_add(k)?),
                // Unsaid year: this year's if it is still ahead, else next year's.
                None => on(today.year())
                    .filter(|x| *x >= today)
                    .or_else(|| on(today.year().checked_add(1)?)),
            }
        }
        DateExpr::Invalid => None,
    }
}

/// Month/day without a year: the next occurrence, unless the last one is much closer.
fn nearest_month_day(m: u32, d: u32, today: NaiveDate) -> Option<NaiveDate> {
    let y = today.year();
    let future = [y, y.checked_add(1)?]
        .into_iter()
        .find_map(|yy| NaiveDate::from_ymd_opt(yy, m, d).filter(|x| *x >= today));
    let past = [y, y.checked_sub(1)?]
        .into_iter()
        .find_map(|yy| NaiveDate::from_ymd_opt(yy, m, d).filter(|x| *x < today));
    match (past, future) {
        (Some(p), Some(f)) => {
            let back = today.signed_duration_since(p).num_days();
            let ahead = f.signed_duration_since(today).num_days();
            Some(if back.saturating_mul(2) < ahead { p } else { f })
        }
        (p, f) => f.or(p),
    }
}

// ---------------------------------------------------------------------------------------
// Dates and spans: shared digit formats
// ---------------------------------------------------------------------------------------

/// 2026-12-01, 2026/12/01, 2026.12.01, 12/1, 12/1/2026.
fn digit_date_at(t: &[char], i: usize) -> Option<(DateExpr, usize)> {
    let (a, an, ae) = ascii_int_at(t, i)?;
    let sep = at(t, ae)?;
    if !matches!(sep, '-' | '/' | '.') {
        return None;
    }
    let (b, bn, be) = ascii_int_at(t, ae + 1)?;
    if bn > 2 {
        return None;
    }
    if an == 4 {
        if at(t, be) != Some(sep) {
            return None;
        }
        let (c, cn, ce) = ascii_int_at(t, be + 1)?;
        if cn > 2 || is_alnum(at(t, ce)) || !(1..=12).contains(&b) || !(1..=31).contains(&c) {
            return None;
        }
        return Some((DateExpr::Ymd(i32::try_from(a).ok()?, b, c), ce));
    }
    if sep != '/' || an > 2 || !(1..=12).contains(&a) || !(1..=31).contains(&b) {
        return None;
    }
    if at(t, be) == Some('/') {
        let (c, cn, ce) = ascii_int_at(t, be + 1)?;
        if is_alnum(at(t, ce)) {
            return None;
        }
        let y = match cn {
            4 => c,
            2 => 2000 + c,
            _ => return None,
        };
        return Some((DateExpr::Ymd(i32::try_from(y).ok()?, a, b), ce));
    }
    if is_alnum(at(t, be)) || at(t, be) == Some('.') && is_ascii_digit(at(t, be + 1)) {
        return None;
    }
    Some((DateExpr::MonthDay(a, b), be))
}

// ---------------------------------------------------------------------------------------
// Dates and spans: Chinese
// ---------------------------------------------------------------------------------------

const ZH_REL_DAYS: &[(&str, i64)] = &[
    ("大后天", 3),
    ("大前天", -3),
    ("后天", 2),
    ("前天", -2),
    ("明天", 1),
    ("明日", 1),
    ("明儿", 1),
    ("明早", 1),
    ("明晚", 1),
    ("今天", 0),
    ("今日", 0),
    ("今儿", 0),
    ("今晚", 0),
    ("昨天", -1),
    ("昨日", -1),
    ("昨儿", -1),
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum WeekRef {
    This,
    Bare,
    Rel(i64),
}

const ZH_WEEK_PREFIX: &[(&str, WeekRef)] = &[
    ("下下个星期", WeekRef::Rel(2)),
    ("下下个礼拜", WeekRef::Rel(2)),
    ("下下星期", WeekRef::Rel(2)),
    ("下下礼拜", WeekRef::Rel(2)),
    ("下下周", WeekRef::Rel(2)),
    ("下个星期", WeekRef::Rel(1)),
    ("下个礼拜", WeekRef::Rel(1)),
    ("下个周", WeekRef::Rel(1)),
    ("下星期", WeekRef::Rel(1)),
    ("下礼拜", WeekRef::Rel(1)),
    ("下周", WeekRef::Rel(1)),
    ("上个星期", WeekRef::Rel(-1)),
    ("上个礼拜", WeekRef::Rel(-1)),
    ("上个周", WeekRef::Rel(-1)),
    ("上星期", WeekRef::Rel(-1)),
    ("上礼拜", WeekRef::Rel(-1)),
    ("上周", WeekRef::Rel(-1)),
    ("这个星期", WeekRef::This),
    ("这个礼拜", WeekRef::This),
    ("这个周", WeekRef::This),
    ("这星期", WeekRef::This),
    ("这礼拜", WeekRef::This),
    ("这周", WeekRef::This),
    ("本星期", WeekRef::This),
    ("本礼拜", WeekRef::This),
    ("本周", WeekRef::This),
    ("星期", WeekRef::Bare),
    ("礼拜", WeekRef::Bare),
    ("周", WeekRef::Bare),
];

const ZH_MONTH_PREFIX: &[(&str, i32)] = &[
    ("下个月", 1),
    ("下月", 1),
    ("上个月", -1),
    ("上月", -1),
    ("这个月", 0),
    ("这月", 0),
    ("本月", 0),
];

fn zh_weekday(c: char) -> Option<Weekday> {
    Some(match c {
        '一' | '1' => Weekday::Mon,
        '二' | '2' => Weekday::Tue,
        '三' | '3' => Weekday::Wed,
        '四' | '4' => Weekday::Thu,
        '五' | '5' => Weekday::Fri,
        '六' | '6' => Weekday::Sat,
        '日' | '天' | '7' => Weekday::Sun,
        _ => return None,
    })
}

fn zh_date_at(t: &[char], i: usize) -> Option<Mention> {
    let c = at(t, i)?;
    if c.is_ascii() {
        // Only ASCII digits can start a Chinese date ("15号", "3天后").
        if !c.is_ascii_digit() {
            return None;
        }
        return zh_number_date_at(t, i);
    }
    if let Some((n, e)) = zl_pick(t, i, ZH_REL_DAYS) {
        return Some(Mention::date(i, e, DateExpr::Offset(n)));
    }
    if let Some((k, e)) = zl_pick(t, i, &[("今年", 0), ("明年", 1), ("后年", 2)]) {
        // "明年二月底", "明年3月5号": the month words carry the date, the prefix the year.
        let p = skip_sp(t, e);
        let p = zl(t, p, "的").map_or(p, |x| skip_sp(t, x));
        let m = zh_number_date_at(t, p)?;
        let date = match m.date? {
            DateExpr::MonthDay(mo, d) => DateExpr::NamedMonth(Some(k), mo, MonthPos::Day(d)),
            DateExpr::NamedMonth(None, mo, pos) => DateExpr::NamedMonth(Some(k), mo, pos),
            _ => return None,
        };
        return Some(Mention::date(i, m.end, date));
    }
    if let Some((k, e)) = zl_pick(t, i, ZH_MONTH_PREFIX) {
        let p = skip_sp(t, e);
        let p = zl(t, p, "的").map_or(p, |x| skip_sp(t, x));
        if let Some((d, e2)) = zl_pick(
            t,
            p,
            &[
                ("底", DateExpr::MonthEnd(k)),
                ("末", DateExpr::MonthEnd(k)),
                ("初", DateExpr::MonthStart(k)),
                ("中旬", DateExpr::DayInMonth(k, 15)),
                ("中", DateExpr::DayInMonth(k, 15)),
            ],
        ) {
            return Some(Mention::date(i, e2, d));
        }
        let n = num_at(t, p).filter(|n| !n.zh_digit_string() && !n.has_point)?;
        let d = n.v.small_int().filter(|d| (1..=31).contains(d))?;
        let q = skip_sp(t, n.end);
        let (_, e2) = zl_pick(t, q, &[("号", ()), ("日", ())])?;
        return Some(Mention::date(i, e2, DateExpr::DayInMonth(k, d)));
    }
    if let Some((d, e)) = zl_pick(
        t,
        i,
        &[
            ("月底", DateExpr::MonthEnd(0)),
            ("月末", DateExpr::MonthEnd(0)),
            ("月初", DateExpr::EarlyMonth),
            ("月中", DateExpr::DayOfMonth(15)),
            ("年底", DateExpr::YearEnd),
            ("年末", DateExpr::YearEnd),
        ],
    ) {
        return Some(Mention::date(i, e, d));
    }
    if let Some((w, e)) = zl_pick(t, i, ZH_WEEK_PREFIX) {
        if let Some(m) = zh_week_rest(t, i, e, w) {
            return Some(m);
        }
    }
    if c == '过' {
        // 过两天 / 再过三天 / 过一周: a point in time even without 后.
        let p = skip_sp(t, i + 1);
        let (days, point, _, end) = zh_span_at(t, p)?;
        return Some(Mention {
            start: i,
            end,
            date: Some(point),
            days: Some(days),
            ..Mention::default()
        });
    }
    if c == '半' {
        return zh_span_mention(t, i);
    }
    if is_numeral(Some(c)) {
        return zh_number_date_at(t, i);
    }
    None
}

fn zh_week_rest(t: &[char], i: usize, e: usize, w: WeekRef) -> Option<Mention> {
    let p = skip_sp(t, e);
    let c = at(t, p);
    let day = if c == Some('末') {
        Some((Weekday::Sat, p + 1))
    } else {
        // "下周三千" is next week + 3000, not Wednesday.
        c.and_then(zh_weekday)
            .filter(|_| !is_numeral(at(t, p + 1)) && !is_alnum(at(t, p + 1)))
            .map(|d| (d, p + 1))
    };
    let expr = match (w, day) {
        (WeekRef::Rel(k), Some((d, _))) => DateExpr::WeekdayInWeek(d, k),
        (WeekRef::This | WeekRef::Bare, Some((d, _))) => DateExpr::ThisWeekday(d),
        (WeekRef::Rel(k), None) if k > 0 => DateExpr::WeekdayInWeek(Weekday::Mon, k),
        _ => return None,
    };
    let end = day.map_or(e, |(_, x)| x);
    Some(Mention::date(i, end, expr))
}

/// Number-led Chinese dates and spans: 2026年12月1日, 12月1号, 15号, 三天后, 两周, 一个月.
fn zh_number_date_at(t: &[char], i: usize) -> Option<Mention> {
    let n = num_at(t, i)?;
    let p = skip_sp(t, n.end);
    if let Some(e) = zl(t, p, "年") {
        let y = n.v.small_int()?;
        let y = match n.digits {
            4 if (1900..=2200).contains(&y) => y,
            2 => 2000 + y,
            _ => return None,
        };
        let mn = num_at(t, skip_sp(t, e))?;
        // Out-of-range month/day stay in: the date then resolves to None.
        let m = mn.v.small_int()?;
        let e2 = zl(t, skip_sp(t, mn.end), "月")?;
        let dn = num_at(t, skip_sp(t, e2))?;
        let d = dn.v.small_int()?;
        let q = skip_sp(t, dn.end);
        let end = zl_pick(t, q, &[("日", ()), ("号", ())]).map_or(dn.end, |(_, x)| x);
        return Some(Mention::date(
            i,
            end,
            DateExpr::Ymd(i32::try_from(y).ok()?, m, d),
        ));
    }
    if n.zh_digit_string() {
        return None;
    }
    if let Some(e) = zl(t, p, "月") {
        let month =
            n.v.small_int()
                .filter(|m| (1..=12).contains(m) && !n.has_point);
        if let (Some(m), Some((pos, e2))) = (
            month,
            zl_pick(
                t,
                skip_sp(t, e),
                &[
                    ("底", MonthPos::End),
                    ("末", MonthPos::End),
                    ("初", MonthPos::Start),
                    ("中旬", MonthPos::Mid),
                    ("中", MonthPos::Mid),
                ],
            ),
        ) {
            return Some(Mention::date(i, e2, DateExpr::NamedMonth(None, m, pos)));
        }
        let dn = num_at(t, skip_sp(t, e))?;
        if dn.zh_digit_string() {
            return None;
        }
        let q = skip_sp(t, dn.end);
        let (Some(m), Some(d)) = (
            n.v.small_int()
                .filter(|m| (1..=12).contains(m) && !n.has_point),
            dn.v.small_int()
                .filter(|d| (1..=31).contains(d) && !dn.has_point),
        ) else {
            // "13月1日": a date that cannot be; keep its digits out of the amounts.
            let (_, end) = zl_pick(t, q, &[("日", ()), ("号", ())])?;
            return Some(Mention::date(i, end, DateExpr::Invalid));
        };
        let end = match zl_pick(t, q, &[("日", ()), ("号", ())]) {
            Some((_, x)) => x,
            // "十二月一" without 号: only if no other unit follows the day.
            None if !is_cjk(at(t, q)) || zh_elision_follow_ok(t, dn.end) => dn.end,
            None => return None,
        };
        return Some(Mention::date(i, end, DateExpr::MonthDay(m, d)));
    }
    if let Some(m) = zh_span_mention(t, i) {
        return Some(m);
    }
    let is_day = zl(t, p, "号")
        .filter(|&e| at(t, e) != Some('码'))
        .or_else(|| zl(t, p, "日"));
    if let Some(e) = is_day {
        let d = n.v.small_int().filter(|d| (1..=31).contains(d))?;
        if n.has_point {
            return None;
        }
        return Some(Mention::date(i, e, DateExpr::DayOfMonth(d)));
    }
    None
}

/// A Chinese span at `i` as a mention: duration always, date when it is a point in time.
fn zh_span_mention(t: &[char], i: usize) -> Option<Mention> {
    let (days, point, kind, end) = zh_span_at(t, i)?;
    Some(Mention {
        start: i,
        end,
        date: match kind {
            SpanKind::Plain => None,
            SpanKind::After | SpanKind::Ago => Some(point),
        },
        days: (kind != SpanKind::Ago).then_some(days),
        ..Mention::default()
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum SpanKind {
    Plain,
    After,
    Ago,
}

/// "三天", "三天后", "两周以后", "一个星期", "一个月后", "半个月", "三日内", "三天前".
/// Returns (days, the point in time it names, kind, end).
fn zh_span_at(t: &[char], i: usize) -> Option<(u32, DateExpr, SpanKind, usize)> {
    let (count, p, half) = if at(t, i) == Some('半') {
        (0u32, i + 1, true)
    } else {
        let n = num_at(t, i)?;
        if n.has_point || n.zh_digit_string() {
            return None;
        }
        (n.v.small_int()?, n.end, false)
    };
    let p = skip_sp(t, p);
    // Unit: days, weeks, months.
    let (days, point, e) = if let Some(e) = zl(t, p, "天").filter(|_| !half) {
        (count, DateExpr::Offset(i64::from(count)), e)
    } else if let Some(e) = zl(t, p, "日").filter(|_| !half) {
        // "十五日" is the 15th: 日 is a span only with 后/内/前 after it.
        let q = skip_sp(t, e);
        zl_pick(t, q, SPAN_SUFFIX)?;
        (count, DateExpr::Offset(i64::from(count)), e)
    } else if let Some((_, e)) = zl_pick(
        t,
        p,
        &[
            ("个星期", ()),
            ("个礼拜", ()),
            ("星期", ()),
            ("礼拜", ()),
            ("周", ()),
        ],
    )
    .filter(|_| !half)
    {
        let d = count.checked_mul(7)?;
        (d, DateExpr::Offset(i64::from(d)), e)
    } else if let Some(e) = zl(t, p, "个月") {
        if half {
            (15, DateExpr::Offset(15), e)
        } else {
            (count.checked_mul(30)?, DateExpr::InMonths(count), e)
        }
    } else {
        return None;
    };
    if days == 0 && !half {
        return None;
    }
    let q = skip_sp(t, e);
    Some(match zl_pick(t, q, SPAN_SUFFIX) {
        Some((SpanKind::Ago, e2)) => (days, DateExpr::Offset(-i64::from(days)), SpanKind::Ago, e2),
        Some((k, e2)) => (days, point, k, e2),
        None => (days, point, SpanKind::Plain, e),
    })
}

const SPAN_SUFFIX: &[(&str, SpanKind)] = &[
    ("以后", SpanKind::After),
    ("之后", SpanKind::After),
    ("过后", SpanKind::After),
    ("以内", SpanKind::After),
    ("之内", SpanKind::After),
    ("后", SpanKind::After),
    ("内", SpanKind::After),
    ("以前", SpanKind::Ago),
    ("之前", SpanKind::Ago),
    ("前", SpanKind::Ago),
];

// ---------------------------------------------------------------------------------------
// Dates and spans: English
// ---------------------------------------------------------------------------------------

const EN_WEEKDAYS: &[(&str, Weekday)] = &[
    ("monday", Weekday::Mon),
    ("tuesday", Weekday::Tue),
    ("tues", Weekday::Tue),
    ("wednesday", Weekday::Wed),
    ("thursday", Weekday::Thu),
    ("thurs", Weekday::Thu),
    ("thur", Weekday::Thu),
    ("friday", Weekday::Fri),
    ("fri", Weekday::Fri),
    ("saturday", Weekday::Sat),
    ("sunday", Weekday::Sun),
];

const EN_MONTHS: &[(&str, u32)] = &[
    ("january", 1),
    ("jan", 1),
    ("february", 2),
    ("feb", 2),
    ("march", 3),
    ("mar", 3),
    ("april", 4),
    ("apr", 4),
    ("may", 5),
    ("june", 6),
    ("jun", 6),
    ("july", 7),
    ("jul", 7),
    ("august", 8),
    ("aug", 8),
    ("september", 9),
    ("sept", 9),
    ("sep", 9),
    ("october", 10),
    ("oct", 10),
    ("november", 11),
    ("nov", 11),
    ("december", 12),
    ("dec", 12),
];

const EN_ORDINALS: &[(&str, u32)] = &[
    ("first", 1),
    ("second", 2),
    ("third", 3),
    ("fourth", 4),
    ("fifth", 5),
    ("sixth", 6),
    ("seventh", 7),
    ("eighth", 8),
    ("ninth", 9),
    ("tenth", 10),
    ("eleventh", 11),
    ("twelfth", 12),
    ("thirteenth", 13),
    ("fourteenth", 14),
    ("fifteenth", 15),
    ("sixteenth", 16),
    ("seventeenth", 17),
    ("eighteenth", 18),
    ("nineteenth", 19),
    ("twentieth", 20),
    ("thirtieth", 30),
];

const EN_FIXED_DATES: &[(&str, DateExpr)] = &[
    ("day after tomorrow", DateExpr::Offset(2)),
    ("day before yesterday", DateExpr::Offset(-2)),
    ("today", DateExpr::Offset(0)),
    ("tonight", DateExpr::Offset(0)),
    ("tomorrow", DateExpr::Offset(1)),
    ("tomorrow's", DateExpr::Offset(1)),
    ("tmrw", DateExpr::Offset(1)),
    ("tmr", DateExpr::Offset(1)),
    ("yesterday", DateExpr::Offset(-1)),
    ("end of the month", DateExpr::MonthEnd(0)),
    ("end of this month", DateExpr::MonthEnd(0)),
    ("end of month", DateExpr::MonthEnd(0)),
    ("end of next month", DateExpr::MonthEnd(1)),
    ("end of the next month", DateExpr::MonthEnd(1)),
    ("end of the year", DateExpr::YearEnd),
    ("end of this year", DateExpr::YearEnd),
    ("end of year", DateExpr::YearEnd),
    ("beginning of next month", DateExpr::MonthStart(1)),
    ("beginning of the next month", DateExpr::MonthStart(1)),
    ("start of next month", DateExpr::MonthStart(1)),
    ("start of the next month", DateExpr::MonthStart(1)),
    ("early next month", DateExpr::MonthStart(1)),
    ("middle of next month", DateExpr::DayInMonth(1, 15)),
    ("mid next month", DateExpr::DayInMonth(1, 15)),
    ("middle of the month", DateExpr::DayOfMonth(15)),
    ("middle of this month", DateExpr::DayInMonth(0, 15)),
    ("mid month", DateExpr::DayOfMonth(15)),
    ("next weekend", DateExpr::WeekdayInWeek(Weekday::Sat, 1)),
    ("last weekend", DateExpr::WeekdayInWeek(Weekday::Sat, -1)),
    ("this coming weekend", DateExpr::ThisWeekday(Weekday::Sat)),
    ("this weekend", DateExpr::ThisWeekday(Weekday::Sat)),
    ("weekend", DateExpr::ThisWeekday(Weekday::Sat)),
    ("week after next", DateExpr::WeekdayInWeek(Weekday::Mon, 2)),
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum EnWeekRef {
    This,
    Next,
    Last,
}

const EN_WEEK_PREFIX: &[(&str, EnWeekRef)] = &[
    ("this coming", EnWeekRef::This),
    ("this upcoming", EnWeekRef::This),
    ("coming", EnWeekRef::This),
    ("upcoming", EnWeekRef::This),
    ("this", EnWeekRef::This),
    ("next", EnWeekRef::Next),
    ("last", EnWeekRef::Last),
];

/// Words that may follow a bare number or ordinal without turning it into a count of
/// something else ("500 on friday", "the second payment" is rejected).
const EN_FOLLOW_OK: &[&str] = &[
    "and",
    "down",
    "towards",
    "toward",
    "off",
    "up",
    "more",
    "extra",
    "maximum",
    "like",
    "from",
    "as",
    "on",
    "by",
    "before",
    "after",
    "today",
    "tonight",
    "tomorrow",
    "yesterday",
    "next",
    "this",
    "last",
    "now",
    "later",
    "soon",
    "already",
    "back",
    "right",
    "please",
    "then",
    "for",
    "in",
    "to",
    "ok",
    "okay",
    "or",
    "maybe",
    "if",
    "but",
    "so",
    "a",
    "per",
    "each",
    "every",
    "of",
    "at",
    "is",
    "was",
    "would",
    "will",
    "should",
    "can",
    "could",
    "i",
    "i'll",
    "we",
    "you",
    "it",
    "that",
    "instead",
    "total",
    "max",
    "tops",
    "only",
    "no",
    "yes",
    "thanks",
    "thank",
    "um",
    "uh",
    "dollars",
    "first",
    "upfront",
    "until",
    "when",
    "once",
];

fn en_follow_ok(t: &[char], e: usize) -> bool {
    let q = skip_sp(t, e);
    match at(t, q) {
        None => true,
        Some(c) if c.is_ascii_alphabetic() => EN_FOLLOW_OK.iter().any(|w| el(t, q, w).is_some()),
        Some(c) if c.is_ascii_digit() => false,
        Some(c) => !is_cjk(Some(c)) && !matches!(c, '%' | ':' | '/'),
    }
}

fn en_date_at(t: &[char], i: usize) -> Option<Mention> {
    if !is_alnum(at(t, i)) || !word_start(t, i) {
        return None;
    }
    if let Some(e) = el(t, i, "the") {
        if let Some(mut m) = en_date_core(t, skip_sp(t, e), true) {
            m.start = i;
            return Some(m);
        }
        return None;
    }
    en_date_core(t, i, false)
}

fn en_date_core(t: &[char], j: usize, had_the: bool) -> Option<Mention> {
    if let Some((d, e)) = el_pick(t, j, EN_FIXED_DATES) {
        return Some(Mention::date(j, e, d));
    }
    if let Some(e) = el(t, j, "next week") {
        let q = skip_sp(t, e);
        let q = el(t, q, "on").map_or(q, |x| skip_sp(t, x));
        return Some(match el_pick(t, q, EN_WEEKDAYS) {
            Some((w, e2)) => Mention::date(j, e2, DateExpr::WeekdayInWeek(w, 1)),
            None => Mention::date(j, e, DateExpr::WeekdayInWeek(Weekday::Mon, 1)),
        });
    }
    if let Some((r, e)) = el_pick(t, j, EN_WEEK_PREFIX) {
        if let Some((w, e2)) = el_pick(t, skip_sp(t, e), EN_WEEKDAYS) {
            let d = match r {
                EnWeekRef::This => DateExpr::ThisWeekday(w),
                EnWeekRef::Next => DateExpr::WeekdayInWeek(w, 1),
                EnWeekRef::Last => DateExpr::WeekdayInWeek(w, -1),
            };
            return Some(Mention::date(j, e2, d));
        }
    }
    if let Some((w, e)) = el_pick(t, j, EN_WEEKDAYS) {
        let q = skip_sp(t, e);
        if let Some(e2) = el(t, q, "next week") {
            return Some(Mention::date(j, e2, DateExpr::WeekdayInWeek(w, 1)));
        }
        if let Some(e2) = el(t, q, "this week") {
            return Some(Mention::date(j, e2, DateExpr::ThisWeekday(w)));
        }
        return Some(Mention::date(j, e, DateExpr::NextOccurrence(w)));
    }
    if let Some((m, e)) = el_pick(t, j, EN_MONTHS) {
        let mut q = e;
        if at(t, q) == Some('.') {
            q += 1;
        }
        let q = skip_sp(t, q);
        let q = el(t, q, "the").map_or(q, |x| skip_sp(t, x));
        let (d, e2) = en_day_at(t, q)?;
        let (expr, end) = with_year(t, e2, m, d);
        return Some(Mention::date(j, end, expr));
    }
    if let Some((d, e)) = en_ordinal_at(t, j) {
        let q = skip_sp(t, e);
        if let Some(o) = el(t, q, "of") {
            let q2 = skip_sp(t, o);
            if let Some(e3) = el(t, q2, "next month").or_else(|| el(t, q2, "the next month")) {
                return Some(Mention::date(j, e3, DateExpr::DayInMonth(1, d)));
            }
            if let Some(e3) = el(t, q2, "this month") {
                return Some(Mention::date(j, e3, DateExpr::DayInMonth(0, d)));
            }
            if let Some(e3) = el(t, q2, "the month") {
                return Some(Mention::date(j, e3, DateExpr::DayOfMonth(d)));
            }
            if let Some((m, e3)) = el_pick(t, q2, EN_MONTHS) {
                let (expr, end) = with_year(t, e3, m, d);
                return Some(Mention::date(j, end, expr));
            }
        }
        if let Some((m, e3)) = el_pick(t, q, EN_MONTHS) {
            let (expr, end) = with_year(t, e3, m, d);
            return Some(Mention::date(j, end, expr));
        }
        // Spelled ordinals are common words ("first I need..."): only "the fifteenth".
        let spelled = at(t, j).is_some_and(|c| c.is_ascii_alphabetic());
        if !spelled || (had_the && en_follow_ok(t, e)) {
            return Some(Mention::date(j, e, DateExpr::DayOfMonth(d)));
        }
        return None;
    }
    if let Some(e) = el(t, j, "in").or_else(|| el(t, j, "within")) {
        let (days, point, e2) = en_span_at(t, skip_sp(t, e))?;
        return Some(Mention {
            start: j,
            end: e2,
            date: Some(point),
            days: Some(days),
            ..Mention::default()
        });
    }
    let (days, point, e) = en_span_at(t, j)?;
    let q = skip_sp(t, e);
    if let Some(e2) = ["from now", "from today", "later"]
        .iter()
        .find_map(|p| el(t, q, p))
    {
        return Some(Mention {
            start: j,
            end: e2,
            date: Some(point),
            days: Some(days),
            ..Mention::default()
        });
    }
    if let Some(e2) = el(t, q, "ago") {
        return Some(Mention::date(j, e2, DateExpr::Offset(-i64::from(days))));
    }
    Some(Mention {
        start: j,
        end: e,
        days: Some(days),
        ..Mention::default()
    })
}

/// Optional ", 2026" after a month and day.
fn with_year(t: &[char], e: usize, m: u32, d: u32) -> (DateExpr, usize) {
    let q = if at(t, e) == Some(',') { e + 1 } else { e };
    let q = skip_sp(t, q);
    if let Some((y, 4, ye)) = ascii_int_at(t, q) {
        if (1900..=2200).contains(&y) && !is_alnum(at(t, ye)) {
            if let Ok(y) = i32::try_from(y) {
                return (DateExpr::Ymd(y, m, d), ye);
            }
        }
    }
    (DateExpr::MonthDay(m, d), e)
}

/// Day after a month name: "1", "1st", "first", "twenty-first".
fn en_day_at(t: &[char], q: usize) -> Option<(u32, usize)> {
    if let Some(r) = en_ordinal_at(t, q) {
        return Some(r);
    }
    let (d, n, e) = ascii_int_at(t, q)?;
    (n <= 2 && (1..=31).contains(&d) && !is_alnum(at(t, e))).then_some((d, e))
}

/// "15th", "1st", "fifteenth", "twenty-first".
fn en_ordinal_at(t: &[char], j: usize) -> Option<(u32, usize)> {
    if let Some((d, n, e)) = ascii_int_at(t, j) {
        if n > 2 || !(1..=31).contains(&d) {
            return None;
        }
        let sfx: String = t.get(e..(e + 2).min(t.len()))?.iter().collect();
        if matches!(sfx.as_str(), "st" | "nd" | "rd" | "th") && !is_alnum(at(t, e + 2)) {
            return Some((d, e + 2));
        }
        return None;
    }
    for (tens_w, tens) in [("twenty", 20u32), ("thirty", 30)] {
        if let Some(e) = el(t, j, tens_w) {
            let q = skip_sp_dash(t, e);
            if let Some((u, e2)) = el_pick(t, q, EN_ORDINALS).filter(|(u, _)| *u < 10) {
                let d = tens + u;
                return (d <= 31).then_some((d, e2));
            }
        }
    }
    el_pick(t, j, EN_ORDINALS)
}

/// "3 days", "three days", "a week", "two weeks", "a couple of days", "another week",
/// "a month". Returns (days, the point in time, end).
fn en_span_at(t: &[char], j: usize) -> Option<(u32, DateExpr, usize)> {
    let (count, q, article) = if let Some((n, e)) = el_pick(
        t,
        j,
        &[
            ("a couple of", 2u32),
            ("couple of", 2),
            ("a couple", 2),
            ("couple", 2),
            ("another", 1),
            ("one more", 1),
            ("a", 1),
            ("an", 1),
        ],
    ) {
        (
            n,
            e,
            n == 1 && el(t, j, "a").or_else(|| el(t, j, "an")).is_some(),
        )
    } else if let Some((n, digits, e)) = ascii_int_at(t, j) {
        if digits > 5 || n == 0 {
            return None;
        }
        (n, e, false)
    } else {
        let (n, e) = en_words_num_at(t, j)?;
        (u32::try_from(n).ok().filter(|n| *n > 0)?, e, false)
    };
    if article {
        // "500 a month", "twice a week": a rate, not a span.
        if let Some((s, e)) = prev_word(t, j) {
            let rate = is_ascii_digit(at(t, e.saturating_sub(1)))
                || [
                    "once", "twice", "times", "per", "dollars", "bucks", "hundred", "thousand",
                ]
                .iter()
                .any(|w| slice_is(t, s, e, w));
            if rate {
                return None;
            }
        }
    }
    let q = skip_sp(t, q);
    let q = el(t, q, "more").map_or(q, |x| skip_sp(t, x));
    let (unit, e) = el_pick(
        t,
        q,
        &[
            ("days", 1u32),
            ("day", 1),
            ("weeks", 7),
            ("week", 7),
            ("fortnight", 14),
            ("months", 30),
            ("month", 30),
        ],
    )?;
    let days = count.checked_mul(unit)?;
    let point = if unit == 30 {
        DateExpr::InMonths(count)
    } else {
        DateExpr::Offset(i64::from(days))
    };
    Some((days, point, e))
}

// ---------------------------------------------------------------------------------------
// Amounts
// ---------------------------------------------------------------------------------------

const ZH_YUAN: &[(&str, ())] = &[
    ("块钱", ()),
    ("元钱", ()),
    ("块", ()),
    ("元", ()),
    ("圆", ()),
    ("人民币", ()),
];
const ZH_JIAO: &[(&str, ())] = &[("毛钱", ()), ("角钱", ()), ("毛", ()), ("角", ())];
const ZH_FEN: &[(&str, ())] = &[("分钱", ()), ("分", ())];

/// Measure words and date/time units that make a bare number a count, not money.
fn zh_bare_stop(c: char) -> bool {
    "号日月年天周星礼个点半岁期次分秒小钟位楼层级倍折成人张件条家遍下些起直定样会笔部台辆口斤公米度集届所本份款项招把只名".contains(c)
}

/// After an elided 毛 ("三块五") the digit must not start something else ("三块五号").
fn zh_elision_follow_ok(t: &[char], k: usize) -> bool {
    match at(t, k) {
        None => true,
        Some(c) => !(zh_bare_stop(c) || is_numeral(Some(c)) || c.is_ascii_alphanumeric()),
    }
}

/// A single-char digit 0..=9 not starting a longer numeral.
fn small_digit_at(t: &[char], q: usize) -> Option<(i64, usize)> {
    let d = at(t, q).and_then(digit_val)?;
    if is_numeral(at(t, q + 1)) {
        return None;
    }
    Some((i64::from(d), q + 1))
}

fn zh_amount_at(t: &[char], i: usize) -> Option<(i64, usize)> {
    let mut j = i;
    let mut prefixed = false;
    if matches!(at(t, j), Some('¥')) {
        prefixed = true;
        j = skip_sp(t, j + 1);
    } else if let Some(e) = zl(t, j, "人民币") {
        prefixed = true;
        j = skip_sp(t, e);
    }
    let n = num_at(t, j)?;
    let mut v = n.v;
    let mut end = n.end;
    let mut slang = false;
    if at(t, end) == Some('w') && !is_alnum(at(t, end + 1)) {
        // Chat/ASR slang: 1.2w = 12000.
        v = v.mul(10_000)?;
        end += 1;
        slang = true;
    }
    let p = skip_sp(t, end);
    let yuan = zl_pick(t, p, ZH_YUAN)
        .map(|(_, e)| e)
        .or_else(|| ["rmb", "yuan", "kuai"].iter().find_map(|w| el(t, p, w)));
    if let Some(e) = yuan {
        let mut cents = v.cents()?;
        let mut k = e;
        let q = skip_sp(t, k);
        if let Some((jv, je)) = small_digit_at(t, q) {
            let r = skip_sp(t, je);
            if let Some((_, e2)) = zl_pick(t, r, ZH_JIAO) {
                cents = cents.checked_add(jv * 10)?;
                k = e2;
                if let Some((fv, fe)) = small_digit_at(t, skip_sp(t, k)) {
                    if let Some((_, e3)) = zl_pick(t, skip_sp(t, fe), ZH_FEN) {
                        cents = cents.checked_add(fv)?;
                        k = e3;
                    } else if zh_elision_follow_ok(t, fe) {
                        cents = cents.checked_add(fv)?;
                        k = fe;
                    }
                }
            } else if zh_elision_follow_ok(t, je) {
                // 三块五 = 3.50
                cents = cents.checked_add(jv * 10)?;
                k = je;
            }
        }
        return Some((cents, k));
    }
    if let Some((_, e)) = zl_pick(t, p, ZH_JIAO) {
        // 五毛 = 0.50, 五毛二 = 0.52
        let mut cents = i64::try_from(v.integer()?).ok()?.checked_mul(10)?;
        let mut k = e;
        if let Some((fv, fe)) = small_digit_at(t, skip_sp(t, k)) {
            if let Some((_, e3)) = zl_pick(t, skip_sp(t, fe), ZH_FEN) {
                cents = cents.checked_add(fv)?;
                k = e3;
            } else if zh_elision_follow_ok(t, fe) {
                cents = cents.checked_add(fv)?;
                k = fe;
            }
        }
        return Some((cents, k));
    }
    if prefixed || slang {
        return Some((v.cents()?, end));
    }
    if !zh_bare_ok(t, j, &n) {
        return None;
    }
    Some((v.cents()?, n.end))
}

fn zh_bare_ok(t: &[char], i: usize, n: &NumTok) -> bool {
    if !(n.has_unit || n.ascii_only) || !n.v.ge(10) {
        return false;
    }
    if n.ascii_only && !n.has_sep && !n.has_point && n.digits > 6 {
        return false; // a phone or account number
    }
    let q = skip_sp(t, n.end);
    match at(t, q) {
        Some(c) if zh_bare_stop(c) || c.is_ascii_alphabetic() => return false,
        Some('%' | ':' | '/' | '-' | '.') => return false,
        _ => {}
    }
    // Preceders that make it an ordinal, a ratio or an identifier.
    let mut s = i;
    while s > 0 && at(t, s - 1) == Some(' ') {
        s -= 1;
    }
    let prev = before(t, s);
    if matches!(prev, Some('第' | '#' | ':' | '/' | '-')) {
        return false;
    }
    if prev == Some('点') && is_numeral(before(t, s.saturating_sub(1))) {
        return false; // 三点五十: a clock time
    }
    let prev2: String = [before(t, s.saturating_sub(1)), prev]
        .iter()
        .flatten()
        .collect();
    !matches!(
        prev2.as_str(),
        "分之" | "号码" | "电话" | "手机" | "卡号" | "账号" | "编号" | "单号"
    )
}

const EN_DOLLARS: &[(&str, ())] = &[
    ("us dollars", ()),
    ("dollars", ()),
    ("dollar", ()),
    ("bucks", ()),
    ("buck", ()),
    ("usd", ()),
];

fn en_amount_at(t: &[char], i: usize) -> Option<(i64, usize)> {
    let mut j = i;
    let mut prefixed = false;
    if at(t, j) == Some('$') {
        prefixed = true;
        j = skip_sp(t, j + 1);
    }
    let (mut v, mut end, words, tok) = match num_at(t, j) {
        Some(n) if n.ascii_only => (n.v, n.end, false, Some(n)),
        Some(_) => return None,
        None => {
            let (w, e) = en_words_num_at(t, j)?;
            (Dec::int(w), e, true, None)
        }
    };
    let mut scaled = false;
    if at(t, end) == Some('k') && !is_alnum(at(t, end + 1)) && !words {
        v = v.mul(1000)?;
        end += 1;
        scaled = true;
    } else {
        let q = skip_sp(t, end);
        let table: &[(&str, i128)] = if words {
            &[("grand", 1000)]
        } else {
            &[
                ("grand", 1000),
                ("thousand", 1000),
                ("hundred", 100),
                ("million", 1_000_000),
            ]
        };
        if let Some((m, e)) = el_pick(t, q, table) {
            v = v.mul(m)?;
            end = e;
            scaled = true;
        }
    }
    let p = skip_sp(t, end);
    if let Some((_, e)) = el_pick(t, p, EN_DOLLARS) {
        let mut cents = v.cents()?;
        let mut k = e;
        let q = skip_sp(t, k);
        let q = el(t, q, "and").map_or(q, |x| skip_sp(t, x));
        if let Some((c, ce)) = en_cents_at(t, q) {
            cents = cents.checked_add(c)?;
            k = ce;
        }
        return Some((cents, k));
    }
    if let Some(e) = el(t, p, "cents").or_else(|| el(t, p, "cent")) {
        let c = i64::try_from(v.integer()?).ok()?;
        return Some((c, e));
    }
    if prefixed || scaled {
        return Some((v.cents()?, end));
    }
    // Bare number.
    if !v.ge(10) || !en_follow_ok(t, end) || at(t, end) == Some('.') && is_alnum(at(t, end + 1)) {
        return None;
    }
    if let Some(n) = tok {
        if !n.has_sep && !n.has_point && n.digits > 6 {
            return None;
        }
    }
    if let Some((s, e)) = prev_word(t, j) {
        let bad = [
            "at",
            "number",
            "room",
            "page",
            "line",
            "option",
            "press",
            "extension",
            "ext",
            "around",
        ]
        .iter()
        .any(|w| slice_is(t, s, e, w));
        if bad || (slice_is(t, s, e, "the") && !v.ge(32)) {
            return None;
        }
    }
    if matches!(before(t, j), Some('#' | ':' | '/')) {
        return None;
    }
    Some((v.cents()?, end))
}

/// "fifty cents", "50 cents" after a dollar amount.
fn en_cents_at(t: &[char], q: usize) -> Option<(i64, usize)> {
    let (v, e) = match num_at(t, q) {
        Some(n) if n.ascii_only => (n.v.integer()?, n.end),
        Some(_) => return None,
        None => en_words_num_at(t, q)?,
    };
    let p = skip_sp(t, e);
    let e2 = el(t, p, "cents").or_else(|| el(t, p, "cent"))?;
    if !(0..100).contains(&v) {
        return None;
    }
    Some((i64::try_from(v).ok()?, e2))
}

// ---------------------------------------------------------------------------------------
// Phone tails
// ---------------------------------------------------------------------------------------

const ZH_TAIL_CUES: &[(&str, ())] = &[
    ("最后四位", ()),
    ("最后4位", ()),
    ("最后几位", ()),
    ("后四位", ()),
    ("后4位", ()),
    ("后几位", ()),
    ("末四位", ()),
    ("末4位", ()),
    ("尾号", ()),
    ("尾数", ()),
];

const EN_TAIL_CUES: &[(&str, ())] = &[
    ("last four", ()),
    ("last 4", ()),
    ("final four", ()),
    ("last digits", ()),
    ("ending in", ()),
    ("ending with", ()),
    ("ends in", ()),
    ("ends with", ()),
    ("end in", ()),
    ("end with", ()),
];

const TAIL_FILLERS_ZH: &[(&str, ())] = &[
    ("号码", ()),
    ("数字", ()),
    ("就是", ()),
    ("那个", ()),
    ("是", ()),
    ("为", ()),
    ("的", ()),
    ("嗯", ()),
    ("呃", ()),
    (":", ()),
    (",", ()),
];

const TAIL_FILLERS_EN: &[(&str, ())] = &[
    ("digits", ()),
    ("digit", ()),
    ("numbers", ()),
    ("number", ()),
    ("are", ()),
    ("is", ()),
    ("of", ()),
    ("my", ()),
    ("the", ()),
    ("phone", ()),
    ("cell", ()),
    ("card", ()),
    ("it's", ()),
    ("its", ()),
    ("it", ()),
    ("was", ()),
    ("should", ()),
    ("be", ()),
    ("uh", ()),
    ("um", ()),
];

fn tail_after_cue(t: &[char], i: usize, e: usize) -> Option<Mention> {
    let mut q = skip_sp(t, e);
    for _ in 0..8 {
        match zl_pick(t, q, TAIL_FILLERS_ZH).or_else(|| el_pick(t, q, TAIL_FILLERS_EN)) {
            Some((_, x)) => q = skip_sp(t, x),
            None => break,
        }
    }
    let (s, end) = read_digit_seq(t, q)?;
    (3..=6).contains(&s.len()).then(|| Mention {
        start: i,
        end,
        tail: Some(s),
        ..Mention::default()
    })
}

fn zh_tail_at(t: &[char], i: usize) -> Option<Mention> {
    if let Some((_, e)) = zl_pick(t, i, ZH_TAIL_CUES) {
        return tail_after_cue(t, i, e);
    }
    // Weak cue: "手机号是1234": a phone word then exactly four digits.
    let (_, e) = zl_pick(
        t,
        i,
        &[("手机号", ()), ("手机", ()), ("号码", ()), ("电话", ())],
    )?;
    tail_after_cue(t, i, e).filter(|m| m.tail.as_ref().is_some_and(|s| s.len() == 4))
}

fn en_tail_at(t: &[char], i: usize) -> Option<Mention> {
    if let Some((_, e)) = el_pick(t, i, EN_TAIL_CUES) {
        return tail_after_cue(t, i, e);
    }
    // Weak cue: "my work phone, it's 3721" - a phone word then exactly four digits.
    let (_, e) = el_pick(t, i, &[("phone", ()), ("number", ()), ("digits", ())])?;
    tail_after_cue(t, i, e).filter(|m| m.tail.as_ref().is_some_and(|s| s.len() == 4))
}

const EN_DIGIT_WORDS: &[(&str, char)] = &[
    ("zero", '0'),
    ("oh", '0'),
    ("o", '0'),
    ("one", '1'),
    ("two", '2'),
    ("three", '3'),
    ("four", '4'),
    ("five", '5'),
    ("six", '6'),
    ("seven", '7'),
    ("eight", '8'),
    ("nine", '9'),
];

/// Digits read one by one: "1234", "12 34", "幺二三四", "one two three four",
/// "twelve thirty-four", "double five". Stops at anything else.
fn read_digit_seq(t: &[char], i: usize) -> Option<(String, usize)> {
    let mut s = String::new();
    let mut end = i;
    let mut j = i;
    loop {
        let mut k = j;
        if !s.is_empty() {
            while matches!(at(t, k), Some(' ' | ',' | '-' | '.')) {
                k += 1;
            }
        }
        if let Some(d) = at(t, k).and_then(digit_val) {
            s.push(char::from_digit(d, 10)?);
            end = k + 1;
        } else if let Some((d, e)) = el_pick(t, k, EN_DIGIT_WORDS) {
            s.push(d);
            end = e;
        } else if let Some((v, e)) = el_pick(t, k, EN_TEENS) {
            s.push_str(&v.to_string());
            end = e;
        } else if let Some((v, e)) = el_pick(t, k, EN_TENS) {
            let q = skip_sp_dash(t, e);
            match el_pick(t, q, EN_DIGIT_WORDS).filter(|(d, _)| *d != '0') {
                Some((d, e2)) => {
                    s.push_str(&(v / 10).to_string());
                    s.push(d);
                    end = e2;
                }
                None => {
                    s.push_str(&v.to_string());
                    end = e;
                }
            }
        } else if let Some((n, e)) = el_pick(t, k, &[("double", 2usize), ("triple", 3)]) {
            let (d, e2) = el_pick(t, skip_sp(t, e), EN_DIGIT_WORDS).or_else(|| {
                at(t, skip_sp(t, e))
                    .filter(char::is_ascii_digit)
                    .map(|c| (c, skip_sp(t, e) + 1))
            })?;
            for _ in 0..n {
                s.push(d);
            }
            end = e2;
        } else {
            break;
        }
        j = end;
        if s.len() > 16 {
            return None;
        }
    }
    (!s.is_empty()).then_some((s, end))
}

fn is_filler_char(c: char) -> bool {
    matches!(
        c,
        ' ' | ',' | '.' | '!' | '?' | ';' | '嗯' | '呃' | '啊' | '吧' | '哦' | '额'
    )
}

const WHOLE_FILLERS: &[(&str, ())] = &[
    ("应该是", ()),
    ("好像是", ()),
    ("好像", ()),
    ("就是", ()),
    ("那个", ()),
    ("是", ()),
    ("那", ()),
    ("呢", ()),
];

fn skip_fill(t: &[char], mut i: usize) -> usize {
    loop {
        if at(t, i).is_some_and(is_filler_char) {
            i += 1;
        } else if let Some((_, e)) = zl_pick(t, i, WHOLE_FILLERS).or_else(|| {
            el_pick(
                t,
                i,
                &[
                    ("uh", ()),
                    ("um", ()),
                    ("umm", ()),
                    ("it's", ()),
                    ("its", ()),
                    ("it is", ()),
                ],
            )
        }) {
            i = e;
        } else {
            return i;
        }
    }
}

/// The whole utterance is exactly four digits ("1234", "幺二三四", "one two three four").
fn whole_utterance_digits(t: &[char]) -> Option<String> {
    let i = skip_fill(t, 0);
    let (s, e) = read_digit_seq(t, i)?;
    (skip_fill(t, e) >= t.len() && s.len() == 4).then_some(s)
}

// ---------------------------------------------------------------------------------------
// Yes / no
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Yn {
    Yes,
    No,
    Question,
    Skip,
}

/// Chinese cues, longest first where one contains another. Order matters: neutral and
/// question forms come before the yes/no cues they contain.
const ZH_YN: &[(&str, Yn)] = &[
    ("不好意思", Yn::Skip),
    ("不知道", Yn::Skip),
    ("不清楚", Yn::Skip),
    ("不确定", Yn::Skip),
    ("不一定", Yn::Skip),
    ("不记得", Yn::Skip),
    ("对不起", Yn::Skip),
    ("是不是", Yn::Question),
    ("对不对", Yn::Question),
    ("好不好", Yn::Question),
    ("行不行", Yn::Question),
    ("可不可以", Yn::Question),
    ("能不能", Yn::Question),
    ("要不要", Yn::Question),
    ("有没有", Yn::Question),
    ("没什么问题", Yn::Yes),
    ("没有问题", Yn::Yes),
    ("没问题", Yn::Yes),
    ("没错", Yn::Yes),
    ("没毛病", Yn::Yes),
    ("不可以", Yn::No),
    ("不需要", Yn::No),
    ("不同意", Yn::No),
    ("不愿意", Yn::No),
    ("不是", Yn::No),
    ("不对", Yn::No),
    ("不行", Yn::No),
    ("不用", Yn::No),
    ("不要", Yn::No),
    ("没有", Yn::No),
    ("可以吗", Yn::Question),
    ("是吗", Yn::Question),
    ("对吗", Yn::Question),
    ("好吗", Yn::Question),
    ("行吗", Yn::Question),
    ("是么", Yn::Question),
    ("对么", Yn::Question),
    ("是否", Yn::Question),
    ("为什么", Yn::Question),
    ("为啥", Yn::Question),
    ("什么", Yn::Question),
    ("怎么", Yn::Question),
    ("多少", Yn::Question),
    ("几号", Yn::Question),
    ("谁", Yn::Question),
    ("哪", Yn::Question),
    ("对于", Yn::Skip),
    ("对方", Yn::Skip),
    ("对面", Yn::Skip),
    ("对象", Yn::Skip),
    ("银行", Yn::Skip),
    ("进行", Yn::Skip),
    ("执行", Yn::Skip),
    ("行为", Yn::Skip),
    ("还是", Yn::Skip),
    ("但是", Yn::Skip),
    ("可是", Yn::Skip),
    ("要是", Yn::Skip),
    ("只是", Yn::Skip),
    ("于是", Yn::Skip),
    ("总是", Yn::Skip),
    ("而是", Yn::Skip),
    ("老是", Yn::Skip),
    ("真是", Yn::Skip),
    ("像是", Yn::Skip),
    ("算是", Yn::Skip),
    ("倒是", Yn::Skip),
    ("好像", Yn::Skip),
    ("还好", Yn::Skip),
    ("最好", Yn::Skip),
    ("可能", Yn::Skip),
    ("是的", Yn::Yes),
    ("对的", Yn::Yes),
    ("好的", Yn::Yes),
    ("好吧", Yn::Yes),
    ("好啊", Yn::Yes),
    ("好呀", Yn::Yes),
    ("好嘞", Yn::Yes),
    ("行吧", Yn::Yes),
    ("行啊", Yn::Yes),
    ("可以", Yn::Yes),
    ("当然", Yn::Yes),
    ("同意", Yn::Yes),
    ("确认", Yn::Yes),
    ("就是我", Yn::Yes),
    ("我就是", Yn::Yes),
    ("是我", Yn::Yes),
    ("本人", Yn::Yes),
];

/// English cues (word-bounded), same ordering rule as [`ZH_YN`].
const EN_YN: &[(&str, Yn)] = &[
    ("i don't really know", Yn::Skip),
    ("i dont really know", Yn::Skip),
    ("i really don't know", Yn::Skip),
    ("i don't know", Yn::Skip),
    ("i dont know", Yn::Skip),
    ("i do not know", Yn::Skip),
    ("i don't remember", Yn::Skip),
    ("i'm not sure", Yn::Skip),
    ("not sure", Yn::Skip),
    ("no problem", Yn::Yes),
    ("no worries", Yn::Yes),
    ("not a problem", Yn::Yes),
    ("that's not me", Yn::No),
    ("thats not me", Yn::No),
    ("that is not me", Yn::No),
    ("it's not me", Yn::No),
    ("that's not right", Yn::No),
    ("that's wrong", Yn::No),
    ("not really", Yn::No),
    ("not correct", Yn::No),
    ("not right", Yn::No),
    ("not me", Yn::No),
    ("i don't", Yn::No),
    ("i dont", Yn::No),
    ("i do not", Yn::No),
    ("incorrect", Yn::No),
    ("wrong number", Yn::No),
    ("wrong person", Yn::No),
    ("no way", Yn::No),
    ("no thanks", Yn::No),
    ("no thank you", Yn::No),
    ("nope", Yn::No),
    ("nah", Yn::No),
    ("that's right", Yn::Yes),
    ("thats right", Yn::Yes),
    ("that is right", Yn::Yes),
    ("that's me", Yn::Yes),
    ("thats me", Yn::Yes),
    ("it's me", Yn::Yes),
    ("this is he", Yn::Yes),
    ("this is him", Yn::Yes),
    ("this is she", Yn::Yes),
    ("this is her", Yn::Yes),
    ("this is me", Yn::Yes),
    ("speaking", Yn::Yes),
    ("of course", Yn::Yes),
    ("sounds good", Yn::Yes),
    ("go ahead", Yn::Yes),
    ("you got it", Yn::Yes),
    ("uh huh", Yn::Yes),
    ("mm hmm", Yn::Yes),
    ("mhm", Yn::Yes),
    ("yes", Yn::Yes),
    ("yeah", Yn::Yes),
    ("yep", Yn::Yes),
    ("yup", Yn::Yes),
    ("yea", Yn::Yes),
    ("sure", Yn::Yes),
    ("correct", Yn::Yes),
    ("ok", Yn::Yes),
    ("okay", Yn::Yes),
    ("alright", Yn::Yes),
    ("all right", Yn::Yes),
    ("absolutely", Yn::Yes),
    ("definitely", Yn::Yes),
    ("certainly", Yn::Yes),
    ("who", Yn::Question),
    ("what", Yn::Question),
    ("where", Yn::Question),
    ("when", Yn::Question),
    ("why", Yn::Question),
    ("how", Yn::Question),
    ("which", Yn::Question),
];

const EN_CLAUSE_QUESTIONS: &[(&str, Yn)] = &[
    ("is this", Yn::Question),
    ("is it", Yn::Question),
    ("are you", Yn::Question),
    ("do you", Yn::Question),
    ("can you", Yn::Question),
    ("could you", Yn::Question),
    ("would you", Yn::Question),
];

const ZH_FILLERS: &[(&str, ())] = &[
    ("就是说", ()),
    ("那个", ()),
    ("这个", ()),
    ("你好", ()),
    ("您好", ()),
    ("然后", ()),
    ("嗯", ()),
    ("恩", ()),
    ("呃", ()),
    ("额", ()),
    ("啊", ()),
    ("哦", ()),
    ("噢", ()),
    ("喔", ()),
    ("喂", ()),
    ("诶", ()),
    ("哎", ()),
    ("唉", ()),
];

const EN_FILLERS: &[(&str, ())] = &[
    ("uh", ()),
    ("uhh", ()),
    ("um", ()),
    ("umm", ()),
    ("er", ()),
    ("erm", ()),
    ("hmm", ()),
    ("hm", ()),
    ("well", ()),
    ("oh", ()),
    ("so", ()),
    ("hello", ()),
    ("hi", ()),
    ("hey", ()),
];

fn is_clause_break(c: char) -> bool {
    matches!(c, ' ' | ',' | '.' | '!' | ';' | '?' | '~')
}

/// A clause boundary at `i`: punctuation, or a space next to Chinese text (ASR output
/// spaces Chinese chunks; between English words a space is just a word gap).
fn clause_break_at(t: &[char], i: usize) -> bool {
    match at(t, i) {
        Some(' ') => is_cjk(before(t, i)) || is_cjk(at(t, i + 1)),
        Some(c) => is_clause_break(c),
        None => true,
    }
}

/// Single-char cue (是/对/好/行) at a clause start, followed by something that keeps it
/// an answer ("是我", "对对", "好的") rather than the start of a sentence ("好多钱").
fn zh_single_yes(t: &[char], i: usize) -> Option<usize> {
    let c = at(t, i)?;
    if !matches!(c, '是' | '对' | '好' | '行') {
        return None;
    }
    let ok = match at(t, i + 1) {
        None => true,
        Some(f) if is_clause_break(f) || f == c => true,
        Some(f) if "啊呀的吧嘞哈滴哒呢啦嘛".contains(f) => f != '嘛' || c != '是',
        Some(f) => matches!(c, '是' | '对') && "我是对本".contains(f),
    };
    ok.then_some(i + 1)
}

fn yes_no_scan(t: &[char]) -> Option<bool> {
    let mut i = 0;
    let mut clause_start = true;
    // Where the current clause's first real word starts (after fillers).
    let mut clause_pos = 0;
    while let Some(c) = at(t, i) {
        if c == ' ' && !clause_break_at(t, i) {
            i += 1;
            continue;
        }
        if is_clause_break(c) {
            clause_start = true;
            i += 1;
            continue;
        }
        // Cue tables first ("uh huh" is a yes, not the filler "uh" + "huh").
        let table_hit = zl_pick(t, i, ZH_YN).or_else(|| el_pick(t, i, EN_YN));
        if table_hit.is_none() {
            if let Some((_, e)) = zl_pick(t, i, ZH_FILLERS).or_else(|| el_pick(t, i, EN_FILLERS)) {
                i = e;
                continue;
            }
        }
        if clause_start {
            clause_pos = i;
        }
        // 不用/不要/没有 are also ordinary verbs mid-sentence ("那个号好久不用了"): they
        // only answer at the head of a clause, optionally after 我.
        let head = clause_start || (i == clause_pos + 1 && at(t, clause_pos) == Some('我'));
        let table_hit = table_hit.filter(|&(v, e)| {
            v != Yn::No
                || head
                || !t
                    .get(i..e)
                    .is_some_and(|w| WEAK_NO.iter().any(|x| x.chars().eq(w.iter().copied())))
        });
        let hit = table_hit
            .or_else(|| {
                if clause_start {
                    el_pick(t, i, EN_CLAUSE_QUESTIONS)
                        .or_else(|| zh_single_yes(t, i).map(|e| (Yn::Yes, e)))
                } else {
                    None
                }
            })
            .or_else(|| en_no_at(t, i, clause_start).map(|e| (Yn::No, e)))
            .or_else(|| {
                // "right" alone is an answer; "right now" is not.
                let e = el(t, i, "right")?;
                (clause_start && skip_fill(t, e) >= t.len()).then_some((Yn::Yes, e))
            });
        match hit {
            Some((Yn::Skip, e)) => {
                i = e;
                clause_start = false;
            }
            Some((Yn::Question, _)) => return None,
            Some((v, e)) => {
                return if clause_is_question(t, e) {
                    None
                } else {
                    Some(v == Yn::Yes)
                };
            }
            None => {
                clause_start = false;
                i = next_start(t, i);
            }
        }
    }
    only_mm(t).then_some(true)
}

const WEAK_NO: &[&str] = &["不用", "不要", "没有", "不需要"];

/// "no" is a determiner too ("I have no money"): it only counts at a clause start or as
/// the last word.
fn en_no_at(t: &[char], i: usize, clause_start: bool) -> Option<usize> {
    let e = el(t, i, "no")?;
    (clause_start || skip_fill(t, e) >= t.len()).then_some(e)
}

/// The clause that holds the cue ends in 吗/么 or '?': it is being asked, not answered.
fn clause_is_question(t: &[char], mut e: usize) -> bool {
    while let Some(c) = at(t, e) {
        if c == '?' {
            return true;
        }
        if clause_break_at(t, e) {
            break;
        }
        e += 1;
    }
    matches!(before(t, e), Some('吗' | '么'))
}

/// The utterance is nothing but 嗯 (and punctuation): a murmured yes.
fn only_mm(t: &[char]) -> bool {
    let mut seen = false;
    let mut i = 0;
    while let Some(c) = at(t, i) {
        if c == '嗯' || c == '恩' {
            seen = true;
            i += 1;
        } else if is_clause_break(c) {
            i += 1;
        } else if let Some((_, e)) = el_pick(t, i, &[("mm", ()), ("mmm", ()), ("en", ())]) {
            seen = true;
            i = e;
        } else {
            return false;
        }
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;
    use Locale::{EnUs, ZhCn};

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).expect("valid test date")
    }

    /// Sunday.
    fn today() -> NaiveDate {
        d(2026, 11, 22)
    }

    fn zd(s: &str) -> Option<NaiveDate> {
        parse_date(s, ZhCn, today())
    }

    fn ed(s: &str) -> Option<NaiveDate> {
        parse_date(s, EnUs, today())
    }

    fn za(s: &str) -> Option<i64> {
        parse_amount_cents(s, ZhCn)
    }

    fn ea(s: &str) -> Option<i64> {
        parse_amount_cents(s, EnUs)
    }

    // ---- Chinese dates ------------------------------------------------------------

    #[test]
    fn zh_relative_days() {
        assert_eq!(zd("今天"), Some(d(2026, 11, 22)));
        assert_eq!(zd("我明天还"), Some(d(2026, 11, 23)));
        assert_eq!(zd("后天吧"), Some(d(2026, 11, 24)));
        assert_eq!(zd("大后天"), Some(d(2026, 11, 25)));
        assert_eq!(zd("明天下午吧"), Some(d(2026, 11, 23)));
        assert_eq!(zd("我昨天已经还了"), Some(d(2026, 11, 21)));
    }

    #[test]
    fn zh_next_week_weekday() {
        for s in [
            "下周五",
            "下个星期五",
            "下礼拜五",
            "下个礼拜五",
            "下星期五",
            "那个 下周五吧",
        ] {
            assert_eq!(zd(s), Some(d(2026, 11, 27)), "{s}");
        }
        assert_eq!(zd("下周一"), Some(d(2026, 11, 23)));
        assert_eq!(zd("下周日"), Some(d(2026, 11, 29)));
        assert_eq!(zd("下下周五"), Some(d(2026, 12, 4)));
    }

    #[test]
    fn zh_this_week_weekday_rolls_over_when_past() {
        for s in ["这周五", "本周五", "周五", "星期五", "礼拜五"] {
            assert_eq!(zd(s), Some(d(2026, 11, 27)), "{s}");
        }
        // Wednesday 18th: this Friday is still ahead, next Friday is the week after.
        let wed = d(2026, 11, 18);
        assert_eq!(parse_date("这周五", ZhCn, wed), Some(d(2026, 11, 20)));
        assert_eq!(parse_date("周五", ZhCn, wed), Some(d(2026, 11, 20)));
        assert_eq!(parse_date("下周五", ZhCn, wed), Some(d(2026, 11, 27)));
        // On the Friday itself "周五" is today.
        assert_eq!(
            parse_date("周五", ZhCn, d(2026, 11, 20)),
            Some(d(2026, 11, 20))
        );
        // Today (Sunday) is not past.
        assert_eq!(zd("周日"), Some(d(2026, 11, 22)));
    }

    #[test]
    fn zh_weekend_is_the_coming_saturday() {
        assert_eq!(zd("周末"), Some(d(2026, 11, 28)));
        assert_eq!(zd("这周末"), Some(d(2026, 11, 28)));
        assert_eq!(
            parse_date("周末", ZhCn, d(2026, 11, 18)),
            Some(d(2026, 11, 21))
        );
        assert_eq!(
            parse_date("下周末", ZhCn, d(2026, 11, 18)),
            Some(d(2026, 11, 28))
        );
    }

    #[test]
    fn zh_next_week_alone_is_monday() {
        assert_eq!(zd("下周吧"), Some(d(2026, 11, 23)));
        assert_eq!(zd("这周"), None);
    }

    #[test]
    fn zh_month_end_and_start() {
        assert_eq!(zd("月底"), Some(d(2026, 11, 30)));
        assert_eq!(zd("这个月底"), Some(d(2026, 11, 30)));
        assert_eq!(zd("下个月初"), Some(d(2026, 12, 1)));
        assert_eq!(zd("下月初"), Some(d(2026, 12, 1)));
        assert_eq!(zd("下个月底吧"), Some(d(2026, 12, 31)));
        assert_eq!(zd("月初"), Some(d(2026, 12, 1)));
        assert_eq!(zd("年底"), Some(d(2026, 12, 31)));
        assert_eq!(zd("明年二月底"), Some(d(2027, 2, 28)));
        assert_eq!(zd("明年的3月5号吧"), Some(d(2027, 3, 5)));
        assert_eq!(zd("二月初"), Some(d(2027, 2, 1)));
        assert_eq!(zd("十二月中旬"), Some(d(2026, 12, 15)));
        assert_eq!(zd("今年十二月底"), Some(d(2026, 12, 31)));
        assert_eq!(zd("十一月底"), Some(d(2026, 11, 30)));
        assert_eq!(zd("明年"), None);
        assert_eq!(
            parse_date("月底", ZhCn, d(2028, 2, 3)),
            Some(d(2028, 2, 29))
        );
    }

    #[test]
    fn zh_day_of_next_month() {
        assert_eq!(zd("下个月5号"), Some(d(2026, 12, 5)));
        assert_eq!(zd("下月5号"), Some(d(2026, 12, 5)));
        assert_eq!(zd("下个月五号"), Some(d(2026, 12, 5)));
        assert_eq!(zd("下个月的十五号"), Some(d(2026, 12, 15)));
        assert_eq!(zd("下个月"), None);
    }

    #[test]
    fn zh_day_of_month_this_or_next() {
        assert_eq!(zd("15号"), Some(d(2026, 12, 15)));
        assert_eq!(zd("十五号"), Some(d(2026, 12, 15)));
        assert_eq!(zd("二十五号还"), Some(d(2026, 11, 25)));
        assert_eq!(zd("22号"), Some(d(2026, 11, 22)));
        assert_eq!(zd("三十一号"), Some(d(2026, 12, 31)));
        assert_eq!(
            parse_date("15号", ZhCn, d(2026, 11, 10)),
            Some(d(2026, 11, 15))
        );
    }

    #[test]
    fn zh_month_day() {
        for s in ["12月1日", "十二月一号", "12月1号", "十二月一日", "12月1"] {
            assert_eq!(zd(s), Some(d(2026, 12, 1)), "{s}");
        }
        assert_eq!(zd("1月5号"), Some(d(2027, 1, 5)));
        assert_eq!(zd("我11月15号就还了"), Some(d(2026, 11, 15)));
    }

    #[test]
    fn zh_full_dates() {
        assert_eq!(zd("2026年12月1日"), Some(d(2026, 12, 1)));
        assert_eq!(zd("二零二六年十二月一日"), Some(d(2026, 12, 1)));
        assert_eq!(zd("2026-12-01"), Some(d(2026, 12, 1)));
        assert_eq!(zd("2026/12/01"), Some(d(2026, 12, 1)));
        assert_eq!(zd("12/1"), Some(d(2026, 12, 1)));
        assert_eq!(ed("12/1"), Some(d(2026, 12, 1)));
        assert_eq!(ed("12/1/2027"), Some(d(2027, 12, 1)));
    }

    #[test]
    fn zh_relative_spans_as_dates() {
        assert_eq!(zd("三天后"), Some(d(2026, 11, 25)));
        assert_eq!(zd("三天以后"), Some(d(2026, 11, 25)));
        assert_eq!(zd("三天之后再说"), Some(d(2026, 11, 25)));
        assert_eq!(zd("过两天"), Some(d(2026, 11, 24)));
        assert_eq!(zd("再过三天"), Some(d(2026, 11, 25)));
        assert_eq!(zd("一周后"), Some(d(2026, 11, 29)));
        assert_eq!(zd("一个星期后"), Some(d(2026, 11, 29)));
        assert_eq!(zd("两周以后"), Some(d(2026, 12, 6)));
        assert_eq!(zd("一个月后"), Some(d(2026, 12, 22)));
        assert_eq!(zd("三天内还清"), Some(d(2026, 11, 25)));
        assert_eq!(zd("三天前"), Some(d(2026, 11, 19)));
        // A bare span is a duration, not a date.
        assert_eq!(zd("宽限三天"), None);
        assert_eq!(zd("过几天"), None);
    }

    #[test]
    fn zh_payday_is_not_a_date() {
        assert_eq!(zd("发工资那天"), None);
        assert_eq!(zd("等我发工资那天再还"), None);
    }

    #[test]
    fn zh_negated_date_is_skipped() {
        assert_eq!(zd("不是明天 是后天"), Some(d(2026, 11, 24)));
        assert_eq!(zd("是不是明天"), Some(d(2026, 11, 23)));
    }

    // ---- English dates ------------------------------------------------------------

    #[test]
    fn en_relative_days() {
        assert_eq!(ed("today"), Some(d(2026, 11, 22)));
        assert_eq!(ed("I'll pay tomorrow"), Some(d(2026, 11, 23)));
        assert_eq!(ed("the day after tomorrow"), Some(d(2026, 11, 24)));
        assert_eq!(ed("day after tomorrow works"), Some(d(2026, 11, 24)));
    }

    #[test]
    fn en_next_and_this_weekday_use_iso_weeks() {
        // Sunday the 22nd: the week Mon 23..Sun 29 is "next week".
        assert_eq!(ed("I'll pay it next Friday"), Some(d(2026, 11, 27)));
        assert_eq!(ed("this Friday"), Some(d(2026, 11, 27)));
        assert_eq!(ed("next week friday"), Some(d(2026, 11, 27)));
        assert_eq!(ed("friday next week"), Some(d(2026, 11, 27)));
        let wed = d(2026, 11, 18);
        assert_eq!(parse_date("this friday", EnUs, wed), Some(d(2026, 11, 20)));
        assert_eq!(parse_date("next friday", EnUs, wed), Some(d(2026, 11, 27)));
        assert_eq!(parse_date("next monday", EnUs, wed), Some(d(2026, 11, 23)));
        assert_eq!(parse_date("last friday", EnUs, wed), Some(d(2026, 11, 13)));
    }

    #[test]
    fn en_bare_weekday_is_strictly_after_today() {
        assert_eq!(ed("Friday"), Some(d(2026, 11, 27)));
        assert_eq!(ed("on Friday"), Some(d(2026, 11, 27)));
        assert_eq!(ed("sunday"), Some(d(2026, 11, 29)));
        let fri = d(2026, 11, 20);
        assert_eq!(parse_date("on friday", EnUs, fri), Some(d(2026, 11, 27)));
        assert_eq!(parse_date("monday", EnUs, fri), Some(d(2026, 11, 23)));
    }

    #[test]
    fn en_day_of_month() {
        assert_eq!(ed("the 15th"), Some(d(2026, 12, 15)));
        assert_eq!(ed("on the 15th"), Some(d(2026, 12, 15)));
        assert_eq!(ed("15th"), Some(d(2026, 12, 15)));
        assert_eq!(ed("on the fifteenth"), Some(d(2026, 12, 15)));
        assert_eq!(ed("the 25th"), Some(d(2026, 11, 25)));
        assert_eq!(ed("the twenty-fifth"), Some(d(2026, 11, 25)));
        assert_eq!(
            parse_date("the 15th", EnUs, d(2026, 11, 3)),
            Some(d(2026, 11, 15))
        );
        // A spelled ordinal without "the" is an ordinary word.
        assert_eq!(ed("first I need to check"), None);
    }

    #[test]
    fn en_month_and_day() {
        for s in [
            "December 1st",
            "Dec 1",
            "dec. 1",
            "1st of December",
            "the first of december",
            "december first",
            "December the 1st",
            "12/1",
        ] {
            assert_eq!(ed(s), Some(d(2026, 12, 1)), "{s}");
        }
        assert_eq!(ed("December 1st, 2027"), Some(d(2027, 12, 1)));
        assert_eq!(ed("January 5"), Some(d(2027, 1, 5)));
    }

    #[test]
    fn en_month_boundaries() {
        assert_eq!(ed("end of the month"), Some(d(2026, 11, 30)));
        assert_eq!(ed("by the end of the month"), Some(d(2026, 11, 30)));
        assert_eq!(ed("end of month"), Some(d(2026, 11, 30)));
        assert_eq!(ed("first of next month"), Some(d(2026, 12, 1)));
        assert_eq!(ed("the first of next month"), Some(d(2026, 12, 1)));
        assert_eq!(ed("the 5th of next month"), Some(d(2026, 12, 5)));
        assert_eq!(ed("end of next month"), Some(d(2026, 12, 31)));
    }

    #[test]
    fn en_spans_as_dates() {
        assert_eq!(ed("in 3 days"), Some(d(2026, 11, 25)));
        assert_eq!(ed("in three days"), Some(d(2026, 11, 25)));
        assert_eq!(ed("in a week"), Some(d(2026, 11, 29)));
        assert_eq!(ed("in two weeks"), Some(d(2026, 12, 6)));
        assert_eq!(ed("in a couple of days"), Some(d(2026, 11, 24)));
        assert_eq!(ed("3 days from now"), Some(d(2026, 11, 25)));
        assert_eq!(ed("in a month"), Some(d(2026, 12, 22)));
        assert_eq!(ed("give me a week"), None);
    }

    #[test]
    fn en_next_week_and_weekend() {
        assert_eq!(ed("next week"), Some(d(2026, 11, 23)));
        assert_eq!(
            parse_date("next week", EnUs, d(2026, 11, 18)),
            Some(d(2026, 11, 23))
        );
        assert_eq!(ed("this weekend"), Some(d(2026, 11, 28)));
        assert_eq!(
            parse_date("this weekend", EnUs, d(2026, 11, 18)),
            Some(d(2026, 11, 21))
        );
        assert_eq!(ed("over the weekend"), Some(d(2026, 11, 28)));
        assert_eq!(ed("this week"), None);
    }

    #[test]
    fn en_payday_is_not_a_date() {
        assert_eq!(ed("payday"), None);
        assert_eq!(ed("when I get paid on payday"), None);
    }

    #[test]
    fn impossible_dates_are_none() {
        assert_eq!(zd("2月30日"), None);
        assert_eq!(zd("二月三十号"), None);
        assert_eq!(ed("Feb 30"), None);
        assert_eq!(ed("February 30th"), None);
        assert_eq!(zd("2026-02-30"), None);
        assert_eq!(ed("2/30"), None);
        assert_eq!(parse_date("下个月31号", ZhCn, d(2026, 10, 5)), None);
        assert_eq!(zd("13月1日"), None);
        assert_eq!(zd("12月99日"), None);
        assert_eq!(zd("2026年13月1日"), None);
        assert_eq!(za("2026年13月1日"), None);
        // Still not taken as amounts.
        assert_eq!(za("2月30日"), None);
    }

    #[test]
    fn mixed_language_dates() {
        assert_eq!(ed("下周五 pay"), Some(d(2026, 11, 27)));
        assert_eq!(zd("我 tomorrow 还"), Some(d(2026, 11, 23)));
        assert_eq!(zd("next friday 还两千"), Some(d(2026, 11, 27)));
    }

    // ---- Chinese amounts ----------------------------------------------------------

    #[test]
    fn zh_amounts() {
        assert_eq!(za("三千五"), Some(350_000));
        assert_eq!(za("三千五百元"), Some(350_000));
        assert_eq!(za("3500元"), Some(350_000));
        assert_eq!(za("3,500元"), Some(350_000));
        assert_eq!(za("3500块"), Some(350_000));
        assert_eq!(za("三千五百块五毛"), Some(350_050));
        assert_eq!(za("三千五百元五角"), Some(350_050));
        assert_eq!(za("两百"), Some(20_000));
        assert_eq!(za("两百五"), Some(25_000));
        assert_eq!(za("一万二"), Some(1_200_000));
        assert_eq!(za("一万二千三百"), Some(1_230_000));
        assert_eq!(za("1.2万"), Some(1_200_000));
        assert_eq!(za("5千"), Some(500_000));
        assert_eq!(za("五百块钱"), Some(50_000));
        assert_eq!(za("十块"), Some(1000));
        assert_eq!(za("三块五"), Some(350));
        assert_eq!(za("五毛"), Some(50));
        assert_eq!(za("3500.50元"), Some(350_050));
        assert_eq!(za("¥3500"), Some(350_000));
        assert_eq!(za("三点五万"), Some(3_500_000));
        assert_eq!(za("1.2w"), Some(1_200_000));
        assert_eq!(za("我明天还3500"), Some(350_000));
        assert_eq!(za("那这周五先还两千"), Some(200_000));
    }

    #[test]
    fn zh_not_amounts() {
        assert_eq!(za("还一半"), None);
        assert_eq!(za("五号"), None);
        assert_eq!(za("三天"), None);
        assert_eq!(za("十五号还"), None);
        assert_eq!(za("尾号1234"), None);
        assert_eq!(za("尾号是幺二三四"), None);
        assert_eq!(za("明天下午三点"), None);
        assert_eq!(za("三点五十"), None);
        assert_eq!(za("分三期"), None);
        assert_eq!(za("我一直在还"), None);
        assert_eq!(za("万一还不上"), None);
        assert_eq!(za("千万别打了"), None);
        assert_eq!(za("十分感谢"), None);
        assert_eq!(za("13812345678"), None);
        assert_eq!(za("第二期"), None);
        assert_eq!(za("一二三四"), None);
    }

    #[test]
    fn amount_next_to_date_and_tail() {
        let s = extract_slots("我明天还三千五", ZhCn, today());
        assert_eq!(s.date, Some(d(2026, 11, 23)));
        assert_eq!(s.amount_cents, Some(350_000));
        let s = extract_slots("尾号1234 下周三千", ZhCn, today());
        assert_eq!(s.phone_tail.as_deref(), Some("1234"));
        assert_eq!(s.date, Some(d(2026, 11, 23)));
        assert_eq!(s.amount_cents, Some(300_000));
        let s = extract_slots("五号还两千", ZhCn, today());
        assert_eq!(s.date, Some(d(2026, 12, 5)));
        assert_eq!(s.amount_cents, Some(200_000));
    }

    // ---- English amounts ----------------------------------------------------------

    #[test]
    fn en_amounts() {
        assert_eq!(ea("3,500 dollars"), Some(350_000));
        assert_eq!(ea("$3,500.50"), Some(350_050));
        assert_eq!(ea("two hundred bucks"), Some(20_000));
        assert_eq!(ea("three thousand five hundred"), Some(350_000));
        assert_eq!(ea("3.5k"), Some(350_000));
        assert_eq!(ea("500"), Some(50_000));
        assert_eq!(ea("I can pay 500 on friday"), Some(50_000));
        assert_eq!(ea("I paid 500 last friday"), Some(50_000));
        assert_eq!(ea("I can put 200 down by Wednesday"), Some(20_000));
        assert_eq!(ea("fifty cents"), Some(50));
        assert_eq!(ea("a hundred and twenty"), Some(12_000));
        assert_eq!(ea("twelve hundred"), Some(120_000));
        assert_eq!(ea("five dollars and fifty cents"), Some(550));
        assert_eq!(ea("twenty-five dollars"), Some(2500));
        assert_eq!(ea("2 hundred"), Some(20_000));
        assert_eq!(ea("5 grand"), Some(500_000));
    }

    #[test]
    fn en_not_amounts() {
        assert_eq!(ea("the 15th"), None);
        assert_eq!(ea("on the 15th"), None);
        assert_eq!(ea("in 3 days"), None);
        assert_eq!(ea("at 5 pm"), None);
        assert_eq!(ea("10 am"), None);
        assert_eq!(ea("last four 1234"), None);
        assert_eq!(ea("one two three four"), None);
        assert_eq!(ea("I have two kids"), None);
        assert_eq!(ea("fifteen minutes"), None);
        assert_eq!(ea("20 percent"), None);
    }

    #[test]
    fn en_sentence_with_amount_and_date() {
        let s = extract_slots("I'll pay two hundred bucks on the 15th", EnUs, today());
        assert_eq!(s.amount_cents, Some(20_000));
        assert_eq!(s.date, Some(d(2026, 12, 15)));
    }

    // ---- Phone tails --------------------------------------------------------------

    fn zt(s: &str) -> Option<String> {
        parse_phone_tail(s, ZhCn)
    }

    fn et(s: &str) -> Option<String> {
        parse_phone_tail(s, EnUs)
    }

    #[test]
    fn zh_phone_tails() {
        assert_eq!(zt("尾号1234").as_deref(), Some("1234"));
        assert_eq!(zt("尾号是幺二三四").as_deref(), Some("1234"));
        assert_eq!(zt("后四位5678").as_deref(), Some("5678"));
        assert_eq!(zt("最后四位是 五六七八").as_deref(), Some("5678"));
        assert_eq!(zt("手机尾号 零零八六").as_deref(), Some("0086"));
        assert_eq!(zt("我手机尾号是 嗯 1 2 3 4").as_deref(), Some("1234"));
    }

    #[test]
    fn en_phone_tails() {
        assert_eq!(et("last four 1234").as_deref(), Some("1234"));
        assert_eq!(et("ending in 5678").as_deref(), Some("5678"));
        assert_eq!(
            et("last four digits are one two three four").as_deref(),
            Some("1234")
        );
        assert_eq!(et("ends with 12 34").as_deref(), Some("1234"));
        assert_eq!(et("it ends in twelve thirty-four").as_deref(), Some("1234"));
        assert_eq!(
            et("last four are five oh six seven").as_deref(),
            Some("5067")
        );
    }

    #[test]
    fn phone_tail_needs_cue_or_exact_four_digits() {
        assert_eq!(zt("1234").as_deref(), Some("1234"));
        assert_eq!(zt("幺二三四").as_deref(), Some("1234"));
        assert_eq!(et("one two three four").as_deref(), Some("1234"));
        assert_eq!(et("12 34").as_deref(), Some("1234"));
        assert_eq!(zt("嗯 1234").as_deref(), Some("1234"));
        assert_eq!(zt("12345"), None);
        assert_eq!(zt("我明天还1234"), None);
        assert_eq!(zt("三千五"), None);
        assert_eq!(et("I owe 1234"), None);
        assert_eq!(zt("尾号"), None);
        assert_eq!(zt("那 5502").as_deref(), Some("5502"));
        assert_eq!(zt("1234吧好像").as_deref(), Some("1234"));
        // Weak cue: a phone word, then exactly four digits.
        assert_eq!(
            et("oh sorry that's my work phone it's 3721").as_deref(),
            Some("3721")
        );
        assert_eq!(zt("手机号是5502").as_deref(), Some("5502"));
        assert_eq!(zt("手机号是13812345678"), None);
        assert_eq!(ea("oh sorry that's my work phone it's 3721"), None);
    }

    // ---- Yes / no -----------------------------------------------------------------

    fn zy(s: &str) -> Option<bool> {
        parse_yes_no(s, ZhCn)
    }

    fn ey(s: &str) -> Option<bool> {
        parse_yes_no(s, EnUs)
    }

    #[test]
    fn zh_yes() {
        for s in [
            "是",
            "是的",
            "对",
            "对的",
            "嗯",
            "嗯嗯",
            "好的",
            "可以",
            "没错",
            "行",
            "嗯 是我",
            "对 是我",
            "是我",
            "对对对",
            "好",
            "没问题",
            "对 我没有钱",
        ] {
            assert_eq!(zy(s), Some(true), "{s}");
        }
    }

    #[test]
    fn zh_no() {
        for s in [
            "不是",
            "不对",
            "没有",
            "不行",
            "不可以",
            "不用",
            "不要",
            "不是 我是他老婆",
            "我不是本人",
            "不是的",
            "不用了谢谢",
            "我不要",
            "我没有",
        ] {
            assert_eq!(zy(s), Some(false), "{s}");
        }
    }

    #[test]
    fn zh_unclear_or_question_is_none() {
        for s in [
            "是不是",
            "是不是你们公司",
            "你是哪里啊",
            "我是他老婆",
            "嗯 那个 我明天还",
            "好多钱啊",
            "我银行卡还了",
            "不知道",
            "不好意思",
            "对不起",
            "是你们公司吗",
            "",
            "我在开车呢",
            "哎呀 那个号好久不用了 我想不起来了",
        ] {
            assert_eq!(zy(s), None, "{s}");
        }
    }

    #[test]
    fn en_yes_no() {
        for s in [
            "yes",
            "yeah",
            "yep",
            "sure",
            "correct",
            "that's right",
            "ok",
            "okay",
            "yeah this is John",
            "yes please",
            "speaking",
            "uh yeah",
            "no problem",
        ] {
            assert_eq!(ey(s), Some(true), "{s}");
        }
        for s in [
            "no",
            "nope",
            "not really",
            "that's not me",
            "I don't",
            "no it's his wife",
            "um no",
            "I don't think so",
        ] {
            assert_eq!(ey(s), Some(false), "{s}");
        }
        for s in [
            "who is this",
            "I don't know",
            "I have no money",
            "I'll pay tomorrow",
            "right now I can't",
            "is this about my loan?",
            "not sure",
            "hmm I mean I don't really know",
        ] {
            assert_eq!(ey(s), None, "{s}");
        }
    }

    // ---- Durations ----------------------------------------------------------------

    #[test]
    fn durations() {
        let dur = |s: &str, l| extract_slots(s, l, today()).duration_days;
        assert_eq!(dur("能不能宽限三天", ZhCn), Some(3));
        assert_eq!(dur("两周", ZhCn), Some(14));
        assert_eq!(dur("再给我一个星期", ZhCn), Some(7));
        assert_eq!(dur("半个月", ZhCn), Some(15));
        assert_eq!(dur("两三天吧", ZhCn), None);
        let long = "yeah we were on lockdown for like three weeks can I push it back two weeks";
        assert_eq!(dur(long, EnUs), Some(14));
        assert_eq!(dur("厂子停了三个月了 能不能延两个月", ZhCn), Some(60));
        assert_eq!(dur("封了两个礼拜 又停了三天", ZhCn), Some(3));
        assert_eq!(dur("三天后", ZhCn), Some(3));
        assert_eq!(dur("in a week", EnUs), Some(7));
        assert_eq!(dur("give me two more weeks", EnUs), Some(14));
        assert_eq!(dur("a couple of days", EnUs), Some(2));
        assert_eq!(dur("I can do 500 a month", EnUs), None);
        assert_eq!(dur("明天", ZhCn), None);
        let s = extract_slots("宽限三天", ZhCn, today());
        assert_eq!((s.date, s.amount_cents), (None, None));
    }

    // ---- Numbers ------------------------------------------------------------------

    #[test]
    fn chinese_numbers() {
        let cases: &[(&str, i64)] = &[
            ("三千五", 3500),
            ("一万二", 12_000),
            ("两百五", 250),
            ("十五", 15),
            ("十", 10),
            ("二十五", 25),
            ("一百零五", 105),
            ("三千零五十", 3050),
            ("一千二百三十四", 1234),
            ("幺二三四", 1234),
            ("二〇二六", 2026),
            ("两万五", 25_000),
            ("十万", 100_000),
            ("一亿两千万", 120_000_000),
            ("3,500", 3500),
            ("3500", 3500),
            ("1.2万", 12_000),
            ("5千", 5000),
            ("三万五千二", 35_200),
            ("壹仟贰佰", 1200),
            ("零", 0),
        ];
        for (s, v) in cases {
            assert_eq!(parse_chinese_number(s), Some(*v), "{s}");
        }
        for s in [
            "",
            "万",
            "百五",
            "abc",
            "三五十",
            "十二三",
            "1.5",
            "一百两百",
            "99999999999999999999999",
        ] {
            assert_eq!(parse_chinese_number(s), None, "{s}");
        }
    }

    // ---- Whole-utterance extraction and JSON --------------------------------------

    #[test]
    fn extract_combines_slots() {
        let s = extract_slots("好的 那这周五先还两千", ZhCn, today());
        assert_eq!(
            s,
            Slots {
                date: Some(d(2026, 11, 27)),
                amount_cents: Some(200_000),
                phone_tail: None,
                yes_no: Some(true),
                duration_days: None,
            }
        );
        assert_eq!(extract_slots("", ZhCn, today()), Slots::default());
    }

    #[test]
    fn serializes_amount_in_units_and_date_iso() {
        let s = Slots {
            date: Some(d(2026, 12, 1)),
            amount_cents: Some(350_050),
            phone_tail: Some("1234".into()),
            yes_no: None,
            duration_days: Some(3),
        };
        let v = serde_json::to_value(&s).expect("serialize");
        assert_eq!(v["date"], "2026-12-01");
        assert_eq!(v["amount"].as_f64(), Some(3500.5));
        assert_eq!(v["phone_tail"], "1234");
        assert_eq!(v["duration_days"], 3);
        assert!(v.get("yes_no").is_none());
        assert!(v.get("amount_cents").is_none());
        assert_eq!(
            serde_json::to_string(&Slots::default()).expect("serialize"),
            "{}"
        );
    }

    // ---- Robustness ---------------------------------------------------------------

    fn run_all(s: &str) {
        for l in Locale::ALL {
            for day in [today(), NaiveDate::MIN, NaiveDate::MAX, d(2028, 2, 29)] {
                let _ = extract_slots(s, l, day);
                let _ = parse_date(s, l, day);
            }
            let _ = parse_amount_cents(s, l);
            let _ = parse_phone_tail(s, l);
            let _ = parse_yes_no(s, l);
        }
        let _ = parse_chinese_number(s);
    }

    #[test]
    fn never_panics_on_odd_input() {
        let huge_digits = "9".repeat(5000);
        let huge_zh = "九".repeat(3000);
        let units = "万亿".repeat(500);
        let odd = [
            "",
            " ",
            "\u{0}",
            "\u{200b}\u{feff}",
            "🙂🙂🙂",
            "e\u{301}",
            "ﷺ",
            "\u{10FFFF}",
            "１２３４",
            "尾号",
            "尾号是",
            "last four",
            "$",
            "¥",
            "3,",
            ",3",
            "3.",
            ".5",
            "1/",
            "/1",
            "2026-",
            "2026-12-",
            "99/99/9999",
            "0/0",
            "99999999999999999999999999999999999999999元",
            "十十十十",
            "零零零",
            "点点点",
            "三点",
            "半",
            "过",
            "in",
            "the",
            "a hundred and",
            "a",
            "in 4294967295 days",
            "in 99999 weeks",
            "99999999个月后",
            "4294967296天后",
            "第",
            "号",
            "the 99th",
            "december 99",
            "12月99日",
            "99年1月1日",
            "9999年99月99日",
            "double",
            "double double",
            "twenty-",
            "-",
            "k",
            "1k",
            "1w",
            "吗",
            "?",
            "不是不是不是",
            "是是是吗",
            &huge_digits,
            &huge_zh,
            &units,
        ];
        for s in odd {
            run_all(s);
        }
        assert_eq!(za(&huge_digits), None);
        assert_eq!(parse_chinese_number(&huge_digits), None);
        assert_eq!(parse_chinese_number(&units), None);
    }

    #[test]
    fn never_panics_on_generated_soup() {
        // Deterministic pseudo-random strings over the characters the parsers care about.
        let alphabet: Vec<char> = "0123456789,./-:$¥ 一二两三四五六七八九十百千万亿零〇幺点号日月年天周星期礼拜末底初后前内过半个块元钱毛角分尾是不对吗好行嗯下上这本今明大abcdefghijklmnopqrstuvwxyz'🙂\u{301}"
            .chars()
            .collect();
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..3000 {
            let mut s = String::new();
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = (seed % 24) as usize;
            for _ in 0..len {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let k = (seed % alphabet.len() as u64) as usize;
                if let Some(c) = alphabet.get(k) {
                    s.push(*c);
                }
            }
            run_all(&s);
        }
    }

    #[test]
    fn long_input_is_bounded() {
        let long = "我明天还三千五 ".repeat(10_000);
        let s = extract_slots(&long, ZhCn, today());
        assert_eq!(s.amount_cents, Some(350_000));
    }

    /// `cargo test --release -- --ignored --nocapture per_call_latency` prints µs/call.
    #[test]
    #[ignore]
    fn per_call_latency() {
        let utterances: &[(Locale, &str)] = &[
            (ZhCn, "嗯 是我"),
            (ZhCn, "我明天就还三千五"),
            (ZhCn, "那个 我现在手头有点紧 还不上啊"),
            (ZhCn, "尾号是幺二三四 下周五还两千五百块"),
            (EnUs, "yeah this is him"),
            (EnUs, "I'll pay two hundred bucks on the 15th"),
            (EnUs, "I lost my job, I can't pay right now"),
            (EnUs, "last four digits are one two three four"),
        ];
        let n = 20_000;
        let start = std::time::Instant::now();
        for k in 0..n {
            let (l, t) = utterances[k % utterances.len()];
            std::hint::black_box(extract_slots(std::hint::black_box(t), l, today()));
        }
        let per = start.elapsed().as_secs_f64() * 1e6 / n as f64;
        println!("extract_slots: {per:.2} µs/call");
        assert!(per < 20.0, "{per}");
    }
}
