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

mod amounts;
mod date_digits;
mod date_en;
mod date_resolve;
mod date_zh;
mod lexer;
mod numbers;
mod phone_tail;
#[cfg(test)]
mod tests;
mod text;
mod yes_no;

use amounts::*;
use date_digits::*;
use date_en::*;
use date_resolve::*;
use date_zh::*;
use lexer::*;
use numbers::*;
use phone_tail::*;
use text::*;
use yes_no::*;

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
