//! English dates and spans (next Friday, the 15th, in two weeks).

use super::*;

pub(super) const EN_WEEKDAYS: &[(&str, Weekday)] = &[
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

pub(super) const EN_MONTHS: &[(&str, u32)] = &[
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

pub(super) const EN_ORDINALS: &[(&str, u32)] = &[
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

pub(super) const EN_FIXED_DATES: &[(&str, DateExpr)] = &[
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
pub(super) enum EnWeekRef {
    This,
    Next,
    Last,
}

pub(super) const EN_WEEK_PREFIX: &[(&str, EnWeekRef)] = &[
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
pub(super) const EN_FOLLOW_OK: &[&str] = &[
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

pub(super) fn en_follow_ok(t: &[char], e: usize) -> bool {
    let q = skip_sp(t, e);
    match at(t, q) {
        None => true,
        Some(c) if c.is_ascii_alphabetic() => EN_FOLLOW_OK.iter().any(|w| el(t, q, w).is_some()),
        Some(c) if c.is_ascii_digit() => false,
        Some(c) => !is_cjk(Some(c)) && !matches!(c, '%' | ':' | '/'),
    }
}

pub(super) fn en_date_at(t: &[char], i: usize) -> Option<Mention> {
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

pub(super) fn en_date_core(t: &[char], j: usize, had_the: bool) -> Option<Mention> {
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
pub(super) fn with_year(t: &[char], e: usize, m: u32, d: u32) -> (DateExpr, usize) {
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
pub(super) fn en_day_at(t: &[char], q: usize) -> Option<(u32, usize)> {
    if let Some(r) = en_ordinal_at(t, q) {
        return Some(r);
    }
    let (d, n, e) = ascii_int_at(t, q)?;
    (n <= 2 && (1..=31).contains(&d) && !is_alnum(at(t, e))).then_some((d, e))
}

/// "15th", "1st", "fifteenth", "twenty-first".
pub(super) fn en_ordinal_at(t: &[char], j: usize) -> Option<(u32, usize)> {
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
pub(super) fn en_span_at(t: &[char], j: usize) -> Option<(u32, DateExpr, usize)> {
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
