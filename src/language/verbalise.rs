//! How typed values (amounts, dates, integers, digit strings) are said inside a prompt.
//!
//! A rendered prompt is shown as chat text and then fed to TTS, so every form here must
//! read naturally as written text *and* be spoken unambiguously by a TTS engine that
//! is given nothing but that text. Everything writes into one pre-sized `String` from
//! `&'static str` tables: these run on every prompt render.
//!
//! Decisions on rules the spec leaves open (each one is pinned by a unit test):
//!
//! * zh-CN `两` vs `二`: `两` for a 2 that is the first spoken digit of a four-digit
//!   group in the 千 or 百 place (`两千`, `两百`, `一万两千`, `一万零两百`; we choose the
//!   colloquial `两百` over `二百` for every number), and for a lone leading 2 that counts
//!   a unit directly: `两万`, `两亿`, `两元`, `两角`, `两分`, `两美元`. Everywhere else
//!   `二`: `二十二元`, `一百二十元`, `一千二百元`, `一万零二元`, `十二万`, and a bare
//!   `integer_words(2)` is `二` (no measure word follows it).
//! * zh-CN `十`: a number that starts in the tens place drops the `一` (`十元`, `十五元`,
//!   `十万元`); inside a number it is kept (`一百一十元`, `一万零一十`).
//! * zh-CN `零`: one `零` per run of skipped places, including across 万/亿 groups
//!   (`一千零五`, `一万零五十`, `一百万零一百`, `一亿零五千`); never trailing.
//! * zh-CN big units are four-digit groups: 万, 亿, 万亿 (10^12), 亿亿 (10^16); that
//!   covers the whole `i64` range (`i64::MAX` is 922亿亿…). No `整` after whole amounts.
//! * zh-CN USD: `美元` and `美分`, the cents read as one number: `三千五百美元五十美分`.
//! * en-US CNY: `yuan` (same in singular and plural) and the minor part counted in `fen`:
//!   `three thousand five hundred yuan and fifty fen` — simpler to hear than jiao + fen.
//! * en-US integers: American style, no "and" inside the integer part, 21–99 hyphenated,
//!   scales up to quintillion. Negative values start with `minus` (amounts and integers
//!   alike), zh-CN with `负`.
//! * Dates keep their numbers as digits, as the spec's examples do (`12月1日`,
//!   `January fifth, 2027`): TTS engines read those well and the chat text stays compact.
//!   Day ordinals are words in en-US. A proleptic negative year is written `-44`.
//! * `digits_words` reads ASCII and full-width digits and skips everything else
//!   (spaces, `-`, `*` masks), so `"**** 1234"` reads as the four digits. en-US ignores
//!   `phone_style` (`zero` is already unambiguous on the phone).

use chrono::{Datelike, NaiveDate};

use crate::language::Locale;

/// Currency of an amount, decides the unit words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Currency {
    /// Chinese yuan (renminbi): 元/角/分, "yuan"/"fen".
    Cny,
    /// US dollar: "dollars"/"cents", 美元/美分.
    Usd,
}

impl Currency {
    /// The currency a scenario speaks in when it declares none: the locale's home currency.
    pub fn default_for(locale: Locale) -> Currency {
        match locale {
            Locale::ZhCn => Currency::Cny,
            Locale::EnUs => Currency::Usd,
        }
    }

    /// Parses an ISO 4217 code from scenario YAML (`"CNY"`, `"usd"`; case-insensitive,
    /// surrounding whitespace ignored). `None` for anything we cannot speak.
    pub fn from_code(code: &str) -> Option<Currency> {
        let code = code.trim();
        if code.eq_ignore_ascii_case("CNY") {
            Some(Currency::Cny)
        } else if code.eq_ignore_ascii_case("USD") {
            Some(Currency::Usd)
        } else {
            None
        }
    }
}

/// Says an amount given in minor units (cents/分), so prompts never read `3500.50` aloud.
///
/// 350050 cents → zh-CN `三千五百元五角`, en-US (USD)
/// `three thousand five hundred dollars and fifty cents`.
pub fn amount_words(cents: i64, currency: Currency, locale: Locale) -> String {
    let mut out = String::with_capacity(96);
    match locale {
        Locale::ZhCn => push_zh_amount(&mut out, cents, currency),
        Locale::EnUs => push_en_amount(&mut out, cents, currency),
    }
    out
}

/// Says a date in the current year the way an agent would: zh-CN `12月1日`,
/// en-US `December first`.
pub fn date_words(date: NaiveDate, locale: Locale) -> String {
    let mut out = String::with_capacity(32);
    match locale {
        Locale::ZhCn => push_zh_month_day(&mut out, date),
        Locale::EnUs => push_en_month_day(&mut out, date),
    }
    out
}

/// Says a date outside the current year, where the year must be heard:
/// zh-CN `2027年1月5日`, en-US `January fifth, 2027`.
pub fn date_words_with_year(date: NaiveDate, locale: Locale) -> String {
    let mut out = String::with_capacity(40);
    match locale {
        Locale::ZhCn => {
            push_decimal_i64(&mut out, i64::from(date.year()));
            out.push('年');
            push_zh_month_day(&mut out, date);
        }
        Locale::EnUs => {
            push_en_month_day(&mut out, date);
            out.push_str(", ");
            push_decimal_i64(&mut out, i64::from(date.year()));
        }
    }
    out
}

/// Says a count or quantity as words: zh-CN `一万两千三百四十五`,
/// en-US `twelve thousand three hundred forty-five`. Covers the whole `i64` range.
pub fn integer_words(n: i64, locale: Locale) -> String {
    let mut out = String::with_capacity(64);
    match locale {
        Locale::ZhCn => {
            if n < 0 {
                out.push('负');
            }
            push_zh_uint(&mut out, n.unsigned_abs(), false);
        }
        Locale::EnUs => {
            if n < 0 {
                out.push_str("minus ");
            }
            push_en_uint(&mut out, n.unsigned_abs());
        }
    }
    out
}

/// Reads digits one by one, for phone numbers and card/account tails fed to TTS.
///
/// zh-CN `"1234"` → `一二三四`, or `幺二三四` when `phone_style` (the way 1 is said in
/// phone numbers so it is not misheard as 七). en-US → `one two three four`.
/// Written prompt text keeps such digits as-is; this form is for the TTS feed.
/// Non-digit characters (spaces, `-`, `*` masks) are skipped.
pub fn digits_words(digits: &str, locale: Locale, phone_style: bool) -> String {
    let mut out = String::with_capacity(digits.len().min(64) * 6);
    for d in digits.chars().filter_map(digit_value) {
        match locale {
            Locale::ZhCn => out.push_str(if phone_style && d == 1 {
                "幺"
            } else {
                ZH_DIGITS[d]
            }),
            Locale::EnUs => {
                if !out.is_empty() {
                    out.push(' ');
                }
                out.push_str(EN_ONES[d]);
            }
        }
    }
    out
}

/// Says a day of the month as agents do: en-US `first` … `thirty-first`; zh-CN `1日`.
/// Any `u32` is accepted (en-US falls back to the general ordinal, e.g. `zeroth`).
pub fn day_ordinal_words(day: u32, locale: Locale) -> String {
    let mut out = String::with_capacity(24);
    match locale {
        Locale::ZhCn => {
            push_decimal_u64(&mut out, u64::from(day));
            out.push('日');
        }
        Locale::EnUs => push_en_ordinal(&mut out, u64::from(day)),
    }
    out
}

// ---------------------------------------------------------------------------
// zh-CN

const ZH_DIGITS: [&str; 10] = ["零", "一", "二", "三", "四", "五", "六", "七", "八", "九"];
/// Places inside a four-digit group, most significant first.
const ZH_PLACES: [&str; 4] = ["千", "百", "十", ""];
/// Units of the four-digit groups of a `u64`, most significant first (5 groups hold 20 digits).
const ZH_GROUP_UNITS: [&str; 5] = ["亿亿", "万亿", "亿", "万", ""];

/// Writes `n` in Chinese numerals. `counts_unit`: a measure word (元, 角, 分…) follows,
/// so a lone 2 is `两` rather than `二`.
fn push_zh_uint(out: &mut String, n: u64, counts_unit: bool) {
    if n == 0 {
        out.push('零');
        return;
    }
    let mut groups = [0u16; 5];
    let mut rest = n;
    for slot in groups.iter_mut().rev() {
        // Always < 10_000, so the narrowing is exact.
        *slot = (rest % 10_000) as u16;
        rest /= 10_000;
    }
    let mut started = false;
    let mut pending_zero = false;
    for (&group, unit) in groups.iter().zip(ZH_GROUP_UNITS) {
        if group == 0 {
            pending_zero |= started;
            continue;
        }
        if started && group < 1000 {
            pending_zero = true;
        }
        if pending_zero {
            out.push('零');
            pending_zero = false;
        }
        let lone_two = !started && group == 2 && (counts_unit || !unit.is_empty());
        push_zh_group(out, group, !started, lone_two);
        out.push_str(unit);
        started = true;
    }
}

/// Writes one group `1..=9999` with its 千/百/十 places. `number_start`: nothing was
/// said before it (so `十` drops its `一`); `lone_two`: the group is a 2 counting a unit.
fn push_zh_group(out: &mut String, group: u16, number_start: bool, lone_two: bool) {
    let digits = [group / 1000, group / 100 % 10, group / 10 % 10, group % 10];
    let mut seen = false;
    let mut zero = false;
    for (place, (&d, unit)) in digits.iter().zip(ZH_PLACES).enumerate() {
        if d == 0 {
            zero |= seen;
            continue;
        }
        if zero {
            out.push('零');
            zero = false;
        }
        let word = match (place, d) {
            (0 | 1, 2) if !seen => "两",
            (2, 1) if !seen && number_start => "",
            (3, 2) if lone_two => "两",
            _ => ZH_DIGITS[usize::from(d % 10)],
        };
        out.push_str(word);
        out.push_str(unit);
        seen = true;
    }
}

fn push_zh_amount(out: &mut String, cents: i64, currency: Currency) {
    if cents < 0 {
        out.push('负');
    }
    let abs = cents.unsigned_abs();
    let (major, minor) = (abs / 100, abs % 100);
    match currency {
        Currency::Cny => {
            let (jiao, fen) = (minor / 10, minor % 10);
            if major > 0 || minor == 0 {
                push_zh_uint(out, major, true);
                out.push('元');
            }
            if jiao > 0 {
                push_zh_uint(out, jiao, true);
                out.push('角');
            }
            if fen > 0 {
                if major > 0 && jiao == 0 {
                    out.push('零');
                }
                push_zh_uint(out, fen, true);
                out.push('分');
            }
        }
        Currency::Usd => {
            if major > 0 || minor == 0 {
                push_zh_uint(out, major, true);
                out.push_str("美元");
            }
            if minor > 0 {
                push_zh_uint(out, minor, true);
                out.push_str("美分");
            }
        }
    }
}

fn push_zh_month_day(out: &mut String, date: NaiveDate) {
    push_decimal_u64(out, u64::from(date.month()));
    out.push('月');
    push_decimal_u64(out, u64::from(date.day()));
    out.push('日');
}

// ---------------------------------------------------------------------------
// en-US

const EN_ONES: [&str; 20] = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
];
const EN_TENS: [&str; 10] = [
    "", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
];
/// Scales of the three-digit groups of a `u64`, most significant first (7 groups hold 21 digits).
const EN_SCALES: [&str; 7] = [
    "quintillion",
    "quadrillion",
    "trillion",
    "billion",
    "million",
    "thousand",
    "",
];
const EN_MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

fn push_en_uint(out: &mut String, n: u64) {
    if n == 0 {
        out.push_str("zero");
        return;
    }
    let mut groups = [0u16; 7];
    let mut rest = n;
    for slot in groups.iter_mut().rev() {
        // Always < 1000, so the narrowing is exact.
        *slot = (rest % 1000) as u16;
        rest /= 1000;
    }
    let mut first = true;
    for (&group, scale) in groups.iter().zip(EN_SCALES) {
        if group == 0 {
            continue;
        }
        if !first {
            out.push(' ');
        }
        push_en_below_thousand(out, group);
        if !scale.is_empty() {
            out.push(' ');
            out.push_str(scale);
        }
        first = false;
    }
}

/// Writes `1..=999`: "one hundred twenty-one" (American style, no "and").
fn push_en_below_thousand(out: &mut String, group: u16) {
    let (hundreds, rest) = (usize::from(group / 100 % 10), usize::from(group % 100));
    if hundreds > 0 {
        out.push_str(EN_ONES[hundreds]);
        out.push_str(" hundred");
        if rest > 0 {
            out.push(' ');
        }
    }
    if rest >= 20 {
        out.push_str(EN_TENS[rest / 10]);
        if rest % 10 > 0 {
            out.push('-');
            out.push_str(EN_ONES[rest % 10]);
        }
    } else if rest > 0 {
        out.push_str(EN_ONES[rest]);
    }
}

/// Writes the ordinal of `n` by turning the last word of its cardinal into an ordinal.
fn push_en_ordinal(out: &mut String, n: u64) {
    let start = out.len();
    push_en_uint(out, n);
    let word_start = out[start..]
        .rfind([' ', '-'])
        .map_or(start, |i| start + i + 1);
    let irregular = match &out[word_start..] {
        "one" => Some("first"),
        "two" => Some("second"),
        "three" => Some("third"),
        "five" => Some("fifth"),
        "eight" => Some("eighth"),
        "nine" => Some("ninth"),
        "twelve" => Some("twelfth"),
        _ => None,
    };
    if let Some(word) = irregular {
        out.truncate(word_start);
        out.push_str(word);
    } else if out.ends_with('y') {
        out.pop();
        out.push_str("ieth");
    } else {
        out.push_str("th");
    }
}

fn push_en_amount(out: &mut String, cents: i64, currency: Currency) {
    if cents < 0 {
        out.push_str("minus ");
    }
    let abs = cents.unsigned_abs();
    let (major, minor) = (abs / 100, abs % 100);
    let (one_major, many_major, one_minor, many_minor) = match currency {
        Currency::Usd => ("dollar", "dollars", "cent", "cents"),
        Currency::Cny => ("yuan", "yuan", "fen", "fen"),
    };
    if major > 0 || minor == 0 {
        push_en_uint(out, major);
        out.push(' ');
        out.push_str(if major == 1 { one_major } else { many_major });
    }
    if minor > 0 {
        if major > 0 {
            out.push_str(" and ");
        }
        push_en_uint(out, minor);
        out.push(' ');
        out.push_str(if minor == 1 { one_minor } else { many_minor });
    }
}

fn push_en_month_day(out: &mut String, date: NaiveDate) {
    let month = usize::try_from(date.month0()).unwrap_or(0);
    out.push_str(EN_MONTHS.get(month).copied().unwrap_or(""));
    out.push(' ');
    push_en_ordinal(out, u64::from(date.day()));
}

// ---------------------------------------------------------------------------
// shared

/// Value of an ASCII or full-width (`０`–`９`) decimal digit.
fn digit_value(c: char) -> Option<usize> {
    match c {
        '0'..='9' => Some(c as usize - '0' as usize),
        '０'..='９' => Some(c as usize - '０' as usize),
        _ => None,
    }
}

/// Writes `n` in ASCII digits without going through `fmt`.
fn push_decimal_u64(out: &mut String, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        // `n % 10` < 10, so the narrowing is exact.
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 || i == 0 {
            break;
        }
    }
    for &b in &buf[i..] {
        out.push(char::from(b));
    }
}

fn push_decimal_i64(out: &mut String, n: i64) {
    if n < 0 {
        out.push('-');
    }
    push_decimal_u64(out, n.unsigned_abs());
}

#[cfg(test)]
mod tests {
    use super::*;

    const ZH: Locale = Locale::ZhCn;
    const EN: Locale = Locale::EnUs;

    fn zh_cny(cents: i64) -> String {
        amount_words(cents, Currency::Cny, ZH)
    }
    fn en_usd(cents: i64) -> String {
        amount_words(cents, Currency::Usd, EN)
    }
    fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("valid test date")
    }

    // --- test-only parsers: turn the words back into numbers -------------------------

    fn zh_digit(c: char) -> Option<u64> {
        "零一二三四五六七八九"
            .chars()
            .position(|d| d == c)
            .map(|p| p as u64)
            .or(if c == '两' { Some(2) } else { None })
    }

    /// Parses the Chinese numerals this module writes, checking the big units descend.
    fn zh_parse_uint(s: &str) -> Option<u128> {
        if s == "零" {
            return Some(0);
        }
        let chars: Vec<char> = s.chars().collect();
        let (mut total, mut group, mut digit) = (0u128, 0u128, None::<u64>);
        let mut last_exp = u32::MAX;
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            let next = chars.get(i + 1).copied();
            match c {
                '零' => {
                    if digit.is_some() {
                        return None;
                    }
                }
                '十' => group += u128::from(digit.take().unwrap_or(1)) * 10,
                '百' => group += u128::from(digit.take()?) * 100,
                '千' => group += u128::from(digit.take()?) * 1000,
                '万' | '亿' => {
                    group += u128::from(digit.take().unwrap_or(0));
                    let exp = match (c, next) {
                        ('万', Some('亿')) => 12,
                        ('亿', Some('亿')) => 16,
                        ('亿', _) => 8,
                        _ => 4,
                    };
                    if exp >= 12 {
                        i += 1;
                    }
                    if group == 0 || group >= 10_000 || exp >= last_exp {
                        return None;
                    }
                    last_exp = exp;
                    total += group * 10u128.pow(exp);
                    group = 0;
                }
                _ => {
                    if digit.is_some() {
                        return None;
                    }
                    digit = Some(zh_digit(c)?);
                }
            }
            i += 1;
        }
        Some(total + group + u128::from(digit.unwrap_or(0)))
    }

    fn zh_parse_int(s: &str) -> Option<i128> {
        match s.strip_prefix('负') {
            Some(rest) => zh_parse_uint(rest).map(|v| -(v as i128)),
            None => zh_parse_uint(s).map(|v| v as i128),
        }
    }

    /// Parses `…元…角…分` back into cents.
    fn zh_parse_cny(s: &str) -> Option<i128> {
        let (neg, mut s) = match s.strip_prefix('负') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let mut cents = 0i128;
        if let Some((yuan, rest)) = s.split_once('元') {
            cents += zh_parse_uint(yuan)? as i128 * 100;
            s = rest.strip_prefix('零').unwrap_or(rest);
        }
        if let Some((jiao, rest)) = s.split_once('角') {
            cents += zh_parse_uint(jiao)? as i128 * 10;
            s = rest;
        }
        if let Some((fen, rest)) = s.split_once('分') {
            cents += zh_parse_uint(fen)? as i128;
            s = rest;
        }
        if !s.is_empty() {
            return None;
        }
        Some(if neg { -cents } else { cents })
    }

    fn en_parse_uint(s: &str) -> Option<u128> {
        if s == "zero" {
            return Some(0);
        }
        let (mut total, mut current) = (0u128, 0u128);
        for tok in s.split([' ', '-']) {
            if let Some(v) = EN_ONES.iter().position(|w| *w == tok) {
                if v == 0 {
                    return None;
                }
                current += v as u128;
            } else if let Some(v) = EN_TENS.iter().position(|w| !w.is_empty() && *w == tok) {
                current += v as u128 * 10;
            } else if tok == "hundred" {
                current *= 100;
            } else if let Some(k) = EN_SCALES.iter().position(|w| !w.is_empty() && *w == tok) {
                total += current * 1000u128.pow(6 - k as u32);
                current = 0;
            } else {
                return None;
            }
        }
        Some(total + current)
    }

    fn en_parse_int(s: &str) -> Option<i128> {
        match s.strip_prefix("minus ") {
            Some(rest) => en_parse_uint(rest).map(|v| -(v as i128)),
            None => en_parse_uint(s).map(|v| v as i128),
        }
    }

    /// Deterministic spread of values over the whole `i64` range.
    fn sample_i64s() -> impl Iterator<Item = i64> {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        (0..20_000).map(move |i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Vary the magnitude so small and mid-size values are well covered too.
            let shift = i % 64;
            (x >> shift) as i64
        })
    }

    fn extremes() -> [i64; 8] {
        [0, 1, -1, 100, -100, i64::MAX, i64::MIN, i64::MIN + 1]
    }

    // --- Currency ---------------------------------------------------------------------

    #[test]
    fn currency_defaults_and_codes() {
        assert_eq!(Currency::default_for(ZH), Currency::Cny);
        assert_eq!(Currency::default_for(EN), Currency::Usd);
        assert_eq!(Currency::from_code("CNY"), Some(Currency::Cny));
        assert_eq!(Currency::from_code("cny"), Some(Currency::Cny));
        assert_eq!(Currency::from_code("Usd"), Some(Currency::Usd));
        assert_eq!(Currency::from_code(" USD "), Some(Currency::Usd));
        assert_eq!(Currency::from_code("RMB"), None);
        assert_eq!(Currency::from_code(""), None);
        assert_eq!(Currency::from_code("ＵＳＤ"), None);
    }

    // --- zh-CN amounts ----------------------------------------------------------------

    #[test]
    fn zh_amount_jiao_fen() {
        assert_eq!(zh_cny(350050), "三千五百元五角");
        assert_eq!(zh_cny(350000), "三千五百元");
        assert_eq!(zh_cny(350005), "三千五百元零五分");
        assert_eq!(zh_cny(350055), "三千五百元五角五分");
        assert_eq!(zh_cny(50), "五角");
        assert_eq!(zh_cny(5), "五分");
        assert_eq!(zh_cny(55), "五角五分");
        assert_eq!(zh_cny(105), "一元零五分");
        assert_eq!(zh_cny(0), "零元");
    }

    #[test]
    fn zh_amount_brief_table() {
        assert_eq!(zh_cny(205000), "两千零五十元");
        assert_eq!(zh_cny(1200000), "一万两千元");
        assert_eq!(zh_cny(10000000), "十万元");
        assert_eq!(zh_cny(1000), "十元");
        assert_eq!(zh_cny(1500), "十五元");
        assert_eq!(zh_cny(11000), "一百一十元");
        assert_eq!(zh_cny(100000000), "一百万元");
        assert_eq!(zh_cny(10000000000), "一亿元");
        assert_eq!(zh_cny(100010000), "一百万零一百元");
    }

    #[test]
    fn zh_amount_zero_rules() {
        assert_eq!(zh_cny(100500), "一千零五元");
        assert_eq!(zh_cny(1005000), "一万零五十元");
        assert_eq!(zh_cny(10050000), "十万零五百元");
        assert_eq!(zh_cny(1001000), "一万零一十元");
        assert_eq!(zh_cny(10000500000), "一亿零五千元");
        assert_eq!(zh_cny(10100000000), "一亿零一百万元");
        assert_eq!(zh_cny(10001000000), "一亿零一万元");
        assert_eq!(zh_cny(10000000500), "一亿零五元");
        assert_eq!(zh_cny(100100000), "一百万一千元");
    }

    #[test]
    fn zh_amount_liang_vs_er() {
        // 两 for a leading 2 in the 千/百 place of a group, and for a lone 2 counting a unit.
        assert_eq!(zh_cny(200000), "两千元");
        assert_eq!(zh_cny(20000), "两百元");
        assert_eq!(zh_cny(2000000), "两万元");
        assert_eq!(zh_cny(20000000000), "两亿元");
        assert_eq!(zh_cny(200), "两元");
        assert_eq!(zh_cny(20), "两角");
        assert_eq!(zh_cny(2), "两分");
        assert_eq!(zh_cny(222), "两元两角两分");
        assert_eq!(zh_cny(2200000), "两万两千元");
        assert_eq!(zh_cny(1020000), "一万零两百元");
        assert_eq!(zh_cny(220000000), "两百二十万元");
        // 二 in the tens and units places, and for a non-leading 百.
        assert_eq!(zh_cny(2200), "二十二元");
        assert_eq!(zh_cny(12000), "一百二十元");
        assert_eq!(zh_cny(120000), "一千二百元");
        assert_eq!(zh_cny(220000), "两千二百元");
        assert_eq!(zh_cny(1200), "十二元");
        assert_eq!(zh_cny(20200), "两百零二元");
        assert_eq!(zh_cny(1000200), "一万零二元");
        assert_eq!(zh_cny(12000000), "十二万元");
        assert_eq!(zh_cny(2000), "二十元");
    }

    #[test]
    fn zh_amount_negative_and_extremes() {
        assert_eq!(zh_cny(-350050), "负三千五百元五角");
        assert_eq!(zh_cny(-5), "负五分");
        assert_eq!(
            zh_cny(i64::MAX),
            "九亿亿两千二百三十三万亿七千二百零三亿六千八百五十四万七千七百五十八元零七分"
        );
        assert_eq!(
            zh_cny(i64::MIN),
            "负九亿亿两千二百三十三万亿七千二百零三亿六千八百五十四万七千七百五十八元零八分"
        );
    }

    #[test]
    fn zh_amount_usd() {
        let zh_usd = |c| amount_words(c, Currency::Usd, ZH);
        assert_eq!(zh_usd(350050), "三千五百美元五十美分");
        assert_eq!(zh_usd(100), "一美元");
        assert_eq!(zh_usd(200), "两美元");
        assert_eq!(zh_usd(5), "五美分");
        assert_eq!(zh_usd(0), "零美元");
        assert_eq!(zh_usd(-1), "负一美分");
    }

    #[test]
    fn zh_amount_roundtrips() {
        let check = |c: i64| {
            let w = zh_cny(c);
            assert_eq!(zh_parse_cny(&w), Some(i128::from(c)), "{c} -> {w}");
            assert!(!w.contains("零零"), "{c} -> {w}");
            assert!(
                !w.contains("一十元") || c.unsigned_abs() >= 10_000,
                "{c} -> {w}"
            );
        };
        (-2_000..=300_000).for_each(check);
        sample_i64s().for_each(check);
        extremes().into_iter().for_each(check);
    }

    // --- en-US amounts ----------------------------------------------------------------

    #[test]
    fn en_amount_usd() {
        assert_eq!(
            en_usd(350050),
            "three thousand five hundred dollars and fifty cents"
        );
        assert_eq!(en_usd(100), "one dollar");
        assert_eq!(en_usd(1), "one cent");
        assert_eq!(en_usd(5000), "fifty dollars");
        assert_eq!(en_usd(0), "zero dollars");
        assert_eq!(en_usd(12000), "one hundred twenty dollars");
        assert_eq!(en_usd(4500), "forty-five dollars");
        assert_eq!(en_usd(101), "one dollar and one cent");
        assert_eq!(en_usd(199), "one dollar and ninety-nine cents");
        assert_eq!(en_usd(-250), "minus two dollars and fifty cents");
        assert_eq!(en_usd(-1), "minus one cent");
    }

    #[test]
    fn en_amount_cny() {
        let en_cny = |c| amount_words(c, Currency::Cny, EN);
        assert_eq!(
            en_cny(350050),
            "three thousand five hundred yuan and fifty fen"
        );
        assert_eq!(en_cny(100), "one yuan");
        assert_eq!(en_cny(200), "two yuan");
        assert_eq!(en_cny(1), "one fen");
        assert_eq!(en_cny(0), "zero yuan");
    }

    #[test]
    fn en_amount_extremes() {
        assert_eq!(
            en_usd(i64::MAX),
            "ninety-two quadrillion two hundred thirty-three trillion seven hundred twenty billion \
             three hundred sixty-eight million five hundred forty-seven thousand seven hundred \
             fifty-eight dollars and seven cents"
        );
        assert!(en_usd(i64::MIN).starts_with("minus ninety-two quadrillion"));
        assert!(en_usd(i64::MIN).ends_with("dollars and eight cents"));
    }

    #[test]
    fn en_amount_never_has_inner_and() {
        for c in sample_i64s().chain(extremes()).chain(0..=50_000) {
            let w = en_usd(c);
            assert!(w.matches(" and ").count() <= 1, "{c} -> {w}");
            if c.unsigned_abs() % 100 == 0 {
                assert!(!w.contains(" and "), "{c} -> {w}");
            }
        }
    }

    // --- integers ---------------------------------------------------------------------

    #[test]
    fn zh_integers() {
        assert_eq!(integer_words(12345, ZH), "一万两千三百四十五");
        assert_eq!(integer_words(0, ZH), "零");
        assert_eq!(integer_words(2, ZH), "二");
        assert_eq!(integer_words(10, ZH), "十");
        assert_eq!(integer_words(-10, ZH), "负十");
        assert_eq!(integer_words(20000, ZH), "两万");
        assert_eq!(integer_words(100_000_000, ZH), "一亿");
        assert_eq!(integer_words(1_000_000_000_000, ZH), "一万亿");
        assert_eq!(integer_words(10_000_000_000_000, ZH), "十万亿");
        assert_eq!(integer_words(1_000_000_010_000, ZH), "一万亿零一万");
        assert_eq!(integer_words(10_000_000_000_000_000, ZH), "一亿亿");
        assert_eq!(integer_words(200_000_000_000_000_000, ZH), "二十亿亿");
        assert_eq!(
            integer_words(i64::MAX, ZH),
            "九百二十二亿亿三千三百七十二万亿零三百六十八亿五千四百七十七万五千八百零七"
        );
        assert_eq!(
            integer_words(i64::MIN, ZH),
            "负九百二十二亿亿三千三百七十二万亿零三百六十八亿五千四百七十七万五千八百零八"
        );
    }

    #[test]
    fn en_integers() {
        assert_eq!(
            integer_words(12345, EN),
            "twelve thousand three hundred forty-five"
        );
        assert_eq!(integer_words(0, EN), "zero");
        assert_eq!(integer_words(-7, EN), "minus seven");
        assert_eq!(integer_words(21, EN), "twenty-one");
        assert_eq!(integer_words(99, EN), "ninety-nine");
        assert_eq!(integer_words(40, EN), "forty");
        assert_eq!(integer_words(100, EN), "one hundred");
        assert_eq!(integer_words(1_000_001, EN), "one million one");
        assert_eq!(integer_words(1_000_000_000, EN), "one billion");
        assert_eq!(integer_words(1_000_000_000_000, EN), "one trillion");
        assert_eq!(integer_words(1_000_000_000_000_000, EN), "one quadrillion");
        assert_eq!(
            integer_words(i64::MAX, EN),
            "nine quintillion two hundred twenty-three quadrillion three hundred seventy-two \
             trillion thirty-six billion eight hundred fifty-four million seven hundred \
             seventy-five thousand eight hundred seven"
        );
        assert_eq!(
            integer_words(i64::MIN, EN),
            "minus nine quintillion two hundred twenty-three quadrillion three hundred \
             seventy-two trillion thirty-six billion eight hundred fifty-four million seven \
             hundred seventy-five thousand eight hundred eight"
        );
    }

    #[test]
    fn en_hyphenates_21_to_99_only() {
        for n in 1..100i64 {
            let w = integer_words(n, EN);
            assert_eq!(w.contains('-'), n > 20 && n % 10 != 0, "{n} -> {w}");
            assert!(!w.contains(' '), "{n} -> {w}");
        }
    }

    #[test]
    fn integers_roundtrip_both_locales() {
        let check = |n: i64| {
            let zh = integer_words(n, ZH);
            assert_eq!(zh_parse_int(&zh), Some(i128::from(n)), "{n} -> {zh}");
            assert!(
                !zh.contains("零零") && (n == 0 || !zh.ends_with('零')),
                "{n} -> {zh}"
            );
            let en = integer_words(n, EN);
            assert_eq!(en_parse_int(&en), Some(i128::from(n)), "{n} -> {en}");
            assert!(!en.contains(" and ") && !en.contains("  "), "{n} -> {en}");
        };
        (-1_000..=120_000).for_each(check);
        sample_i64s().for_each(check);
        extremes().into_iter().for_each(check);
    }

    // --- dates and ordinals -----------------------------------------------------------

    #[test]
    fn dates() {
        assert_eq!(date_words(ymd(2026, 12, 1), ZH), "12月1日");
        assert_eq!(date_words(ymd(2026, 12, 1), EN), "December first");
        assert_eq!(date_words(ymd(2026, 11, 22), EN), "November twenty-second");
        assert_eq!(date_words(ymd(2026, 3, 3), EN), "March third");
        assert_eq!(date_words(ymd(2026, 5, 31), EN), "May thirty-first");
        assert_eq!(date_words_with_year(ymd(2027, 1, 5), ZH), "2027年1月5日");
        assert_eq!(
            date_words_with_year(ymd(2027, 1, 5), EN),
            "January fifth, 2027"
        );
    }

    #[test]
    fn dates_at_chrono_limits() {
        let min = NaiveDate::MIN;
        let max = NaiveDate::MAX;
        assert!(date_words_with_year(min, ZH).starts_with('-'));
        assert!(date_words_with_year(min, EN).contains(", -"));
        assert!(date_words_with_year(max, ZH).ends_with("12月31日"));
        assert!(date_words_with_year(max, EN).starts_with("December thirty-first, "));
        assert_eq!(date_words_with_year(ymd(0, 2, 29), ZH), "0年2月29日");
    }

    #[test]
    fn every_day_of_a_leap_year_renders() {
        let mut d = ymd(2028, 1, 1);
        while d.year() == 2028 {
            for l in Locale::ALL {
                assert!(!date_words(d, l).is_empty());
            }
            let en = date_words(d, EN);
            assert!(
                en.ends_with("st")
                    || en.ends_with("nd")
                    || en.ends_with("rd")
                    || en.ends_with("th"),
                "{en}"
            );
            d = d.succ_opt().expect("2028 is far from chrono's limits");
        }
    }

    #[test]
    fn day_ordinals() {
        let expect = [
            "first",
            "second",
            "third",
            "fourth",
            "fifth",
            "sixth",
            "seventh",
            "eighth",
            "ninth",
            "tenth",
            "eleventh",
            "twelfth",
            "thirteenth",
            "fourteenth",
            "fifteenth",
            "sixteenth",
            "seventeenth",
            "eighteenth",
            "nineteenth",
            "twentieth",
            "twenty-first",
            "twenty-second",
            "twenty-third",
            "twenty-fourth",
            "twenty-fifth",
            "twenty-sixth",
            "twenty-seventh",
            "twenty-eighth",
            "twenty-ninth",
            "thirtieth",
            "thirty-first",
        ];
        for (day, want) in (1..).zip(expect) {
            assert_eq!(day_ordinal_words(day, EN), want);
            assert_eq!(day_ordinal_words(day, ZH), format!("{day}日"));
        }
        assert_eq!(day_ordinal_words(0, EN), "zeroth");
        assert_eq!(day_ordinal_words(100, EN), "one hundredth");
        assert_eq!(day_ordinal_words(112, EN), "one hundred twelfth");
        assert_eq!(day_ordinal_words(1_000_000, EN), "one millionth");
        assert_eq!(
            day_ordinal_words(u32::MAX, EN),
            "four billion two hundred ninety-four million nine hundred sixty-seven thousand \
             two hundred ninety-fifth"
        );
        assert_eq!(day_ordinal_words(u32::MAX, ZH), "4294967295日");
        assert_eq!(day_ordinal_words(0, ZH), "0日");
    }

    // --- digits -----------------------------------------------------------------------

    #[test]
    fn digits() {
        assert_eq!(digits_words("1234", ZH, false), "一二三四");
        assert_eq!(digits_words("1234", ZH, true), "幺二三四");
        assert_eq!(digits_words("1234", EN, false), "one two three four");
        assert_eq!(digits_words("1234", EN, true), "one two three four");
        assert_eq!(digits_words("0200", ZH, true), "零二零零");
        assert_eq!(
            digits_words("138-0013 8000", ZH, true),
            "幺三八零零幺三八零零零"
        );
        assert_eq!(digits_words("**** 5678", EN, false), "five six seven eight");
        assert_eq!(digits_words("１２", ZH, false), "一二");
        assert_eq!(digits_words("", ZH, true), "");
        assert_eq!(digits_words("abc", EN, false), "");
        assert_eq!(digits_words("٣x", EN, false), "");
        let long = "9".repeat(10_000);
        assert_eq!(digits_words(&long, ZH, false).chars().count(), 10_000);
    }

    #[test]
    fn decimal_writer() {
        let mut s = String::new();
        push_decimal_u64(&mut s, u64::MAX);
        s.push(' ');
        push_decimal_i64(&mut s, i64::MIN);
        s.push(' ');
        push_decimal_u64(&mut s, 0);
        assert_eq!(s, "18446744073709551615 -9223372036854775808 0");
    }
}
