//! Chinese dates and spans (下周五, 15号, 三天后, 半个月).

use super::*;

pub(super) const ZH_REL_DAYS: &[(&str, i64)] = &[
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
pub(super) enum WeekRef {
    This,
    Bare,
    Rel(i64),
}

pub(super) const ZH_WEEK_PREFIX: &[(&str, WeekRef)] = &[
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

pub(super) const ZH_MONTH_PREFIX: &[(&str, i32)] = &[
    ("下个月", 1),
    ("下月", 1),
    ("上个月", -1),
    ("上月", -1),
    ("这个月", 0),
    ("这月", 0),
    ("本月", 0),
];

pub(super) fn zh_weekday(c: char) -> Option<Weekday> {
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

pub(super) fn zh_date_at(t: &[char], i: usize) -> Option<Mention> {
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

pub(super) fn zh_week_rest(t: &[char], i: usize, e: usize, w: WeekRef) -> Option<Mention> {
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
pub(super) fn zh_number_date_at(t: &[char], i: usize) -> Option<Mention> {
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
pub(super) fn zh_span_mention(t: &[char], i: usize) -> Option<Mention> {
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
pub(super) enum SpanKind {
    Plain,
    After,
    Ago,
}

/// "三天", "三天后", "两周以后", "一个星期", "一个月后", "半个月", "三日内", "三天前".
/// Returns (days, the point in time it names, kind, end).
pub(super) fn zh_span_at(t: &[char], i: usize) -> Option<(u32, DateExpr, SpanKind, usize)> {
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

pub(super) const SPAN_SUFFIX: &[(&str, SpanKind)] = &[
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
