//! Amounts of money (三千五, 3.5k, $350, three hundred fifty dollars).

use super::*;

pub(super) const ZH_YUAN: &[(&str, ())] = &[
    ("块钱", ()),
    ("元钱", ()),
    ("块", ()),
    ("元", ()),
    ("圆", ()),
    ("人民币", ()),
];
pub(super) const ZH_JIAO: &[(&str, ())] = &[("毛钱", ()), ("角钱", ()), ("毛", ()), ("角", ())];
pub(super) const ZH_FEN: &[(&str, ())] = &[("分钱", ()), ("分", ())];

/// Measure words and date/time units that make a bare number a count, not money.
pub(super) fn zh_bare_stop(c: char) -> bool {
    "号日月年天周星礼个点半岁期次分秒小钟位楼层级倍折成人张件条家遍下些起直定样会笔部台辆口斤公米度集届所本份款项招把只名".contains(c)
}

/// After an elided 毛 ("三块五") the digit must not start something else ("三块五号").
pub(super) fn zh_elision_follow_ok(t: &[char], k: usize) -> bool {
    match at(t, k) {
        None => true,
        Some(c) => !(zh_bare_stop(c) || is_numeral(Some(c)) || c.is_ascii_alphanumeric()),
    }
}

/// A single-char digit 0..=9 not starting a longer numeral.
pub(super) fn small_digit_at(t: &[char], q: usize) -> Option<(i64, usize)> {
    let d = at(t, q).and_then(digit_val)?;
    if is_numeral(at(t, q + 1)) {
        return None;
    }
    Some((i64::from(d), q + 1))
}

pub(super) fn zh_amount_at(t: &[char], i: usize) -> Option<(i64, usize)> {
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

pub(super) fn zh_bare_ok(t: &[char], i: usize, n: &NumTok) -> bool {
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

pub(super) const EN_DOLLARS: &[(&str, ())] = &[
    ("us dollars", ()),
    ("dollars", ()),
    ("dollar", ()),
    ("bucks", ()),
    ("buck", ()),
    ("usd", ()),
];

pub(super) fn en_amount_at(t: &[char], i: usize) -> Option<(i64, usize)> {
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
pub(super) fn en_cents_at(t: &[char], q: usize) -> Option<(i64, usize)> {
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
