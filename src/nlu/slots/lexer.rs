//! The left-to-right lexer: mentions, recogniser priority, negation and picking.

use super::*;

/// A relative or absolute date as said, resolved against `today` later.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum DateExpr {
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
pub(super) enum MonthPos {
    Day(u32),
    Start,
    Mid,
    End,
}

/// One recognised stretch of the utterance and what it means.
#[derive(Clone, Debug, Default)]
pub(super) struct Mention {
    pub(super) start: usize,
    pub(super) end: usize,
    pub(super) date: Option<DateExpr>,
    pub(super) days: Option<u32>,
    pub(super) amount: Option<i64>,
    pub(super) tail: Option<String>,
}

impl Mention {
    pub(super) fn date(start: usize, end: usize, d: DateExpr) -> Mention {
        Mention {
            start,
            end,
            date: Some(d),
            ..Mention::default()
        }
    }
}

pub(super) fn scan(t: &[char], locale: Locale) -> Vec<Mention> {
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

pub(super) fn recognize(t: &[char], i: usize, zh_first: bool) -> Option<Mention> {
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
pub(super) fn negated(t: &[char], start: usize) -> bool {
    let mut e = start;
    while e > 0 && at(t, e - 1) == Some(' ') {
        e -= 1;
    }
    if e >= 2 && at(t, e - 2) == Some('不') && at(t, e - 1) == Some('是') {
        return !(e >= 3 && at(t, e - 3) == Some('是'));
    }
    prev_word(t, e).is_some_and(|(s, pe)| slice_is(t, s, pe, "not"))
}

pub(super) fn pick_date(t: &[char], ms: &[Mention], today: NaiveDate) -> Option<NaiveDate> {
    ms.iter()
        .filter(|m| !negated(t, m.start))
        .find_map(|m| resolve(m.date?, today))
}

pub(super) fn pick_amount(t: &[char], ms: &[Mention]) -> Option<i64> {
    ms.iter()
        .filter(|m| !negated(t, m.start))
        .find_map(|m| m.amount)
}

/// Spans are often context before the request ("locked down for three weeks, can I push
/// it back two weeks"): prefer the first span right after a deferral cue, else the last.
pub(super) fn pick_duration(t: &[char], ms: &[Mention]) -> Option<u32> {
    let spans = || {
        ms.iter()
            .filter(|m| m.days.is_some() && !negated(t, m.start))
    };
    spans()
        .find(|m| deferral_cue_before(t, m.start))
        .or_else(|| spans().next_back())
        .and_then(|m| m.days)
}

pub(super) const DEFERRAL_CUES: &[&str] = &[
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

pub(super) fn deferral_cue_before(t: &[char], start: usize) -> bool {
    let from = start.saturating_sub(16);
    let window: String = t.get(from..start).unwrap_or_default().iter().collect();
    DEFERRAL_CUES.iter().any(|c| window.contains(c))
}

pub(super) fn pick_tail(t: &[char], ms: &[Mention]) -> Option<String> {
    ms.iter()
        .find_map(|m| m.tail.clone())
        .or_else(|| whole_utterance_digits(t))
}
