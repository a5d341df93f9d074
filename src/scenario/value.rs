//! Runtime values of scenario variables, and how campaign-list text becomes one.

use crate::scenario::model::VarType;
use chrono::NaiveDate;
use serde::Serialize;
use std::cmp::Ordering;
use std::fmt;

/// A variable's number in its library's variable table: how compiled expressions,
/// prompts, captures and assignments name a variable, so a live call reads and writes
/// variables by index, never by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VarId(pub u32);

/// A variable named in an expression or a prompt: the name as written, for the linter and
/// for messages, and its number once the flow is compiled (`None` only before that).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VarRef {
    /// The name as written.
    pub name: String,
    /// The number the compiler gave it.
    pub id: Option<VarId>,
}

impl VarRef {
    /// A reference as parsed, not yet numbered.
    pub fn named(name: impl Into<String>) -> VarRef {
        VarRef {
            name: name.into(),
            id: None,
        }
    }
}

/// A variable's value during a call.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Not set.
    Null,
    /// Yes/no.
    Bool(bool),
    /// Whole number or decimal (expression literals, counters).
    Number(f64),
    /// Money in cents: exact, spoken in words.
    Amount(i64),
    /// A calendar date.
    Date(NaiveDate),
    /// Text (names, products, phone tails).
    Text(String),
}

/// Why a campaign value could not be used for a declared variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a valid {expected}")]
pub struct ValueError {
    /// The offending text (callers mask it when it is personal data).
    pub value: String,
    /// What was expected, in words.
    pub expected: &'static str,
}

impl Value {
    /// Parse campaign-list text for a variable of type `ty`.
    pub fn parse_typed(text: &str, ty: VarType) -> Result<Value, ValueError> {
        let t = text.trim();
        let err = |expected| ValueError {
            value: t.to_string(),
            expected,
        };
        match ty {
            VarType::Amount => parse_amount(t)
                .map(Value::Amount)
                .ok_or(err("amount such as 3500.50")),
            VarType::Date => parse_date(t)
                .map(Value::Date)
                .ok_or(err("date such as 2026-12-01")),
            VarType::Integer => t
                .parse::<i64>()
                .map(|n| Value::Number(n as f64))
                .map_err(|_| err("whole number")),
            VarType::Bool => match t.to_ascii_lowercase().as_str() {
                "true" | "yes" | "y" | "1" | "是" => Ok(Value::Bool(true)),
                "false" | "no" | "n" | "0" | "否" => Ok(Value::Bool(false)),
                _ => Err(err("yes/no value")),
            },
            VarType::PhoneTail => {
                if !t.is_empty() && t.len() <= 6 && t.chars().all(|c| c.is_ascii_digit()) {
                    Ok(Value::Text(t.to_string()))
                } else {
                    Err(err("tail of 1-6 digits"))
                }
            }
            VarType::Name | VarType::Product | VarType::Text => {
                if t.is_empty() {
                    Err(err("non-empty text"))
                } else {
                    Ok(Value::Text(t.to_string()))
                }
            }
        }
    }

    /// Truthiness for conditions: null, false, 0 and "" are false.
    pub fn truthy(&self) -> bool {
        match self {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::Number(n) => *n != 0.0,
            Value::Amount(c) => *c != 0,
            Value::Date(_) => true,
            Value::Text(s) => !s.is_empty(),
        }
    }

    /// Order two values where that makes sense (numbers with amounts, dates with ISO text).
    pub fn compare(&self, other: &Value) -> Option<Ordering> {
        use Value::*;
        match (self, other) {
            (Number(a), Number(b)) => a.partial_cmp(b),
            (Amount(a), Amount(b)) => Some(a.cmp(b)),
            (Amount(a), Number(b)) => (*a as f64 / 100.0).partial_cmp(b),
            (Number(a), Amount(b)) => a.partial_cmp(&(*b as f64 / 100.0)),
            (Date(a), Date(b)) => Some(a.cmp(b)),
            (Date(a), Text(t)) => parse_date(t).map(|b| a.cmp(&b)),
            (Text(t), Date(b)) => parse_date(t).map(|a| a.cmp(b)),
            (Text(a), Text(b)) => Some(a.cmp(b)),
            (Bool(a), Bool(b)) => Some(a.cmp(b)),
            (Null, Null) => Some(Ordering::Equal),
            _ => None,
        }
    }

    /// Equality across compatible representations (an amount equals the same number).
    pub fn loosely_equals(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Null, Value::Null) => true,
            (Value::Null, _) | (_, Value::Null) => false,
            _ => self.compare(other) == Some(Ordering::Equal),
        }
    }

    /// Short type name for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "nothing",
            Value::Bool(_) => "yes/no",
            Value::Number(_) => "number",
            Value::Amount(_) => "amount",
            Value::Date(_) => "date",
            Value::Text(_) => "text",
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str(""),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Number(n) => {
                if n.fract() == 0.0 && n.abs() < 1e15 {
                    write!(f, "{}", *n as i64)
                } else {
                    write!(f, "{n}")
                }
            }
            Value::Amount(c) => {
                let sign = if *c < 0 { "-" } else { "" };
                let a = c.unsigned_abs();
                write!(f, "{sign}{}.{:02}", a / 100, a % 100)
            }
            Value::Date(d) => write!(f, "{}", d.format("%Y-%m-%d")),
            Value::Text(s) => f.write_str(s),
        }
    }
}

impl Serialize for Value {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => s.serialize_none(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Number(n) => s.serialize_f64(*n),
            Value::Amount(c) => s.serialize_f64(*c as f64 / 100.0),
            Value::Date(_) | Value::Text(_) => s.collect_str(self),
        }
    }
}

/// Parse a money amount written in a campaign list: `3500.50`, `3,500.5`, `¥3500`, `$12`.
pub fn parse_amount(t: &str) -> Option<i64> {
    let cleaned: String = t
        .trim()
        .trim_start_matches(['¥', '$', '￥'])
        .trim_end_matches(['元', '圆'])
        .chars()
        .filter(|c| *c != ',' && *c != '_' && !c.is_whitespace())
        .collect();
    let (neg, body) = match cleaned.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, cleaned.as_str()),
    };
    let (int, frac) = match body.split_once('.') {
        Some((i, f)) => (i, f),
        None => (body, ""),
    };
    if int.is_empty() && frac.is_empty()
        || !int.chars().all(|c| c.is_ascii_digit())
        || !frac.chars().all(|c| c.is_ascii_digit())
        || frac.len() > 2
    {
        return None;
    }
    let units: i64 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let cents: i64 = match frac.len() {
        0 => 0,
        1 => frac.parse::<i64>().ok()? * 10,
        _ => frac.parse().ok()?,
    };
    let v = units.checked_mul(100)?.checked_add(cents)?;
    Some(if neg { -v } else { v })
}

/// Parse a date written in a campaign list: `2026-12-01`, `2026/12/1`, `20261201`, `2026年12月1日`.
pub fn parse_date(t: &str) -> Option<NaiveDate> {
    let t = t.trim();
    for fmt in ["%Y-%m-%d", "%Y/%m/%d", "%Y%m%d", "%Y.%m.%d", "%Y年%m月%d日"] {
        if let Ok(d) = NaiveDate::parse_from_str(t, fmt) {
            return Some(d);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn campaign_amounts_parse_exactly() {
        assert_eq!(parse_amount("3500.50"), Some(350050));
        assert_eq!(parse_amount("3,500.5"), Some(350050));
        assert_eq!(parse_amount("¥12"), Some(1200));
        assert_eq!(parse_amount("-1.05"), Some(-105));
        assert_eq!(parse_amount("12.345"), None);
        assert_eq!(parse_amount("abc"), None);
        assert_eq!(parse_amount(""), None);
        assert_eq!(parse_amount("99999999999999999999999"), None);
    }

    #[test]
    fn typed_values_reject_bad_text() {
        assert!(Value::parse_typed("2026-02-30", VarType::Date).is_err());
        assert_eq!(
            Value::parse_typed("2026/12/1", VarType::Date),
            Ok(Value::Date(NaiveDate::from_ymd_opt(2026, 12, 1).unwrap()))
        );
        assert!(Value::parse_typed("12a4", VarType::PhoneTail).is_err());
        assert!(Value::parse_typed("  ", VarType::Name).is_err());
    }

    #[test]
    fn amounts_compare_with_numbers_and_dates_with_iso_text() {
        assert!(Value::Amount(350050).compare(&Value::Number(3500.0)) == Some(Ordering::Greater));
        let d = Value::Date(NaiveDate::from_ymd_opt(2026, 12, 1).unwrap());
        assert!(d.loosely_equals(&Value::Text("2026-12-01".into())));
        assert_eq!(Value::Amount(-5).to_string(), "-0.05");
    }
}
