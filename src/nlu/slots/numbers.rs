//! Number words and digits: Chinese numerals, ASCII digits, English number words.

use super::*;

/// A small exact decimal: value = m / 10^s. Keeps "1.2万" and "3500.50" exact.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Dec {
    pub(super) m: i128,
    pub(super) s: u32,
}

pub(super) const MAX_SCALE: u32 = 6;

impl Dec {
    const ZERO: Dec = Dec { m: 0, s: 0 };

    pub(super) fn int(v: i128) -> Dec {
        Dec { m: v, s: 0 }
    }

    /// The value times 10^s, if exact and in range.
    pub(super) fn rescale(self, s: u32) -> Option<i128> {
        if s >= self.s {
            self.m.checked_mul(10i128.checked_pow(s - self.s)?)
        } else {
            let d = 10i128.checked_pow(self.s - s)?;
            (self.m % d == 0).then(|| self.m / d)
        }
    }

    pub(super) fn add(self, o: Dec) -> Option<Dec> {
        let s = self.s.max(o.s);
        Some(Dec {
            m: self.rescale(s)?.checked_add(o.rescale(s)?)?,
            s,
        })
    }

    pub(super) fn mul(self, k: i128) -> Option<Dec> {
        Some(Dec {
            m: self.m.checked_mul(k)?,
            s: self.s,
        })
    }

    pub(super) fn integer(self) -> Option<i128> {
        self.rescale(0)
    }

    pub(super) fn cents(self) -> Option<i64> {
        i64::try_from(self.rescale(2)?).ok()
    }

    pub(super) fn ge(self, k: i128) -> bool {
        Dec::int(k).rescale(self.s).is_some_and(|x| self.m >= x)
    }

    pub(super) fn small_int(self) -> Option<u32> {
        u32::try_from(self.integer()?).ok()
    }
}

pub(super) fn digit_val(c: char) -> Option<u32> {
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

pub(super) fn unit_val(c: char) -> Option<i128> {
    Some(match c {
        '十' | '拾' => 10,
        '百' | '佰' => 100,
        '千' | '仟' => 1000,
        '万' | '萬' => 10_000,
        '亿' | '億' => 100_000_000,
        _ => return None,
    })
}

pub(super) fn is_numeral(c: Option<char>) -> bool {
    c.is_some_and(|c| digit_val(c).is_some() || unit_val(c).is_some())
}

/// Digits with at most one '.': "3500.50", "一二三四", "二零二六".
pub(super) fn digit_string(cs: &[char]) -> Option<Dec> {
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
pub(super) fn num_value(cs: &[char]) -> Option<Dec> {
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
pub(super) struct NumTok {
    pub(super) v: Dec,
    pub(super) end: usize,
    pub(super) has_unit: bool,
    pub(super) ascii_only: bool,
    pub(super) has_sep: bool,
    pub(super) has_point: bool,
    pub(super) digits: usize,
}

/// A numeral run starting at `i` (not in the middle of another number or ASCII word).
pub(super) fn num_at(t: &[char], i: usize) -> Option<NumTok> {
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
    pub(super) fn zh_digit_string(&self) -> bool {
        !self.has_unit && !self.ascii_only && self.digits > 1
    }
}

pub(super) fn is_ascii_digit(c: Option<char>) -> bool {
    c.is_some_and(|c| c.is_ascii_digit())
}

/// "3,500": a comma after a digit followed by exactly three digits.
pub(super) fn thousands_sep(t: &[char], j: usize) -> bool {
    is_ascii_digit(before(t, j))
        && (1..=3).all(|k| is_ascii_digit(at(t, j + k)))
        && !is_ascii_digit(at(t, j + 4))
}

/// 点 is a decimal point only in money-like numbers ("三点五万", "一点五元"), never in
/// times ("三点五十" = 3:50).
pub(super) fn zh_point_ok(t: &[char], j: usize) -> bool {
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
pub(super) fn ascii_int_at(t: &[char], i: usize) -> Option<(u32, usize, usize)> {
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

pub(super) const EN_UNITS: &[(&str, i128)] = &[
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
pub(super) const EN_TEENS: &[(&str, i128)] = &[
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
pub(super) const EN_TENS: &[(&str, i128)] = &[
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
pub(super) const EN_SCALES: &[(&str, i128)] = &[
    ("thousand", 1000),
    ("million", 1_000_000),
    ("billion", 1_000_000_000),
];

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum WordKind {
    None,
    Unit,
    Teen,
    Tens,
    Hundred,
    Scale,
}

/// English number words: "a hundred and twenty", "twelve hundred", "three thousand five
/// hundred", "twenty-five". Digit-by-digit readings stop after the first digit.
pub(super) fn en_words_num_at(t: &[char], i: usize) -> Option<(i128, usize)> {
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

pub(super) fn skip_sp_dash(t: &[char], i: usize) -> usize {
    let j = skip_sp(t, i);
    if at(t, j) == Some('-') && is_alnum(at(t, j + 1)) {
        j + 1
    } else {
        j
    }
}
