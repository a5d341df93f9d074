//! Dates written in digits (12/1, 2026-12-01), shared by both languages.

use super::*;

/// 2026-12-01, 2026/12/01, 2026.12.01, 12/1, 12/1/2026.
pub(super) fn digit_date_at(t: &[char], i: usize) -> Option<(DateExpr, usize)> {
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
