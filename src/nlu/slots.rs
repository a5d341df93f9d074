//! PLACEHOLDER until the real slot extractor lands (same API).
use crate::locale::Locale;
use chrono::NaiveDate;

/// Slots.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Slots {
    /// Date.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date: Option<NaiveDate>,
    /// Amount.
    #[serde(skip_serializing_if = "Option::is_none", rename = "amount")]
    pub amount_cents: Option<i64>,
    /// Tail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_tail: Option<String>,
    /// Yes/no.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub yes_no: Option<bool>,
    /// Days.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_days: Option<u32>,
}
/// Extract.
pub fn extract_slots(text: &str, _locale: Locale, today: NaiveDate) -> Slots {
    let mut s = Slots::default();
    if text.contains("明天") || text.contains("tomorrow") {
        s.date = today.succ_opt();
    }
    s
}
