//! Turning a date expression into a calendar day relative to `today`.

use super::*;

pub(super) fn add_days(d: NaiveDate, n: i64) -> Option<NaiveDate> {
    if n >= 0 {
        d.checked_add_days(Days::new(u64::try_from(n).ok()?))
    } else {
        d.checked_sub_days(Days::new(n.unsigned_abs()))
    }
}

pub(super) fn add_months(d: NaiveDate, k: i32) -> Option<NaiveDate> {
    if k >= 0 {
        d.checked_add_months(Months::new(u32::try_from(k).ok()?))
    } else {
        d.checked_sub_months(Months::new(k.unsigned_abs()))
    }
}

pub(super) fn wd_index(w: Weekday) -> i64 {
    i64::from(w.num_days_from_monday())
}

pub(super) fn resolve(e: DateExpr, today: NaiveDate) -> Option<NaiveDate> {
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
pub(super) fn nearest_month_day(m: u32, d: u32, today: NaiveDate) -> Option<NaiveDate> {
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
