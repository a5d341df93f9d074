//! Phone numbers as they arrive in real lists (full-width digits from Chinese input
//! methods, Excel floats, `0086`, landlines with area codes and dashes) normalised to
//! E.164 with the `phonenumber` crate (libphonenumber's metadata), and masked for
//! anything a person reads.

use phonenumber::country::Id;
use phonenumber::{Mode, Type};

/// Why a number was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    /// Nothing to parse.
    #[error("phone number is empty")]
    Empty,
    /// Not a phone number at all.
    #[error("`{0}` is not a phone number")]
    Unparsable(String),
    /// Parses but no such number exists in the numbering plan.
    #[error("{0} is not a valid number in its numbering plan")]
    Invalid(String),
    /// A number we must not dial (premium rate, shared cost, pager).
    #[error("{0} is a {1} number, not dialled")]
    NotDialable(String, &'static str),
}

/// A normalised number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phone {
    /// `+8613800138000`.
    pub e164: String,
    /// Country, when the numbering plan says.
    pub region: Option<Id>,
    /// Mobile, landline, ...
    pub kind: &'static str,
}

/// Digits and the few symbols a number may carry, with full-width forms folded and
/// spreadsheet artefacts (`1.38001380E+10`, `13800138000.0`, a leading `'`) undone.
pub fn clean(raw: &str) -> String {
    let s: String = raw
        .trim()
        .trim_start_matches('\'')
        .chars()
        .map(|c| match c {
            '０'..='９' => char::from_u32(c as u32 - '０' as u32 + '0' as u32).unwrap_or(c),
            '＋' => '+',
            c => c,
        })
        .collect();
    // Excel exported a number as a float.
    if let Some((mant, exp)) = s.split_once(['E', 'e']) {
        if let (Ok(m), Ok(e)) = (
            mant.parse::<f64>(),
            exp.trim_start_matches('+').parse::<i32>(),
        ) {
            let v = m * 10f64.powi(e);
            if v.fract() == 0.0 && v > 0.0 && v < 1e16 {
                return format!("{}", v as u64);
            }
        }
    }
    let s = s.strip_suffix(".0").unwrap_or(&s).to_string();
    s.chars()
        .filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.' | '/' | '\u{3000}' | '\u{a0}'))
        .collect()
}

/// Normalise `raw` to E.164, reading national formats in `default_region`.
pub fn normalize(raw: &str, default_region: Id) -> Result<Phone, PhoneError> {
    let s = clean(raw);
    if s.is_empty() {
        return Err(PhoneError::Empty);
    }
    if !s.chars().any(|c| c.is_ascii_digit()) {
        return Err(PhoneError::Unparsable(mask_raw(raw)));
    }
    let n = phonenumber::parse(Some(default_region), &s)
        .map_err(|_| PhoneError::Unparsable(mask_raw(raw)))?;
    let e164 = n.format().mode(Mode::E164).to_string();
    if !n.is_valid() {
        return Err(PhoneError::Invalid(mask(&e164)));
    }
    let kind = match n.number_type(&phonenumber::metadata::DATABASE) {
        Type::Mobile => "mobile",
        Type::FixedLine => "landline",
        Type::FixedLineOrMobile => "landline_or_mobile",
        Type::TollFree => "toll_free",
        Type::Voip => "voip",
        Type::PersonalNumber => "personal",
        Type::Uan => "uan",
        Type::PremiumRate => return Err(PhoneError::NotDialable(mask(&e164), "premium-rate")),
        Type::SharedCost => return Err(PhoneError::NotDialable(mask(&e164), "shared-cost")),
        Type::Pager => return Err(PhoneError::NotDialable(mask(&e164), "pager")),
        _ => "other",
    };
    Ok(Phone {
        region: n.country().id(),
        e164,
        kind,
    })
}

/// `+86138****8000`: enough to tell numbers apart in a log, not enough to call one.
pub fn mask(e164: &str) -> String {
    let chars: Vec<char> = e164.chars().collect();
    if chars.len() <= 6 {
        return "*".repeat(chars.len());
    }
    let keep_head = if e164.starts_with('+') { 6 } else { 3 }.min(chars.len() - 4);
    let tail: String = chars[chars.len() - 4..].iter().collect();
    let head: String = chars[..keep_head].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - keep_head - 4))
}

fn mask_raw(raw: &str) -> String {
    let t = raw.trim();
    if t.chars().filter(|c| c.is_ascii_digit()).count() >= 7 {
        mask(t)
    } else {
        t.chars().take(20).collect()
    }
}

/// A region from its ISO code (`CN`, `us`).
pub fn region(code: &str) -> Option<Id> {
    code.trim().to_ascii_uppercase().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(raw: &str) -> Result<String, PhoneError> {
        normalize(raw, Id::CN).map(|p| p.e164)
    }

    #[test]
    fn chinese_numbers_in_the_forms_lists_use() {
        for raw in [
            "13800138000",
            "138 0013 8000",
            "138-0013-8000",
            "+86 138 0013 8000",
            "008613800138000",
            "８６１３８００１３８０００",
            "１３８００１３８０００",
            "1.3800138E+10",
            "13800138000.0",
            "'13800138000",
        ] {
            assert_eq!(e(raw).as_deref(), Ok("+8613800138000"), "{raw}");
        }
        // Beijing landline with its trunk prefix.
        assert_eq!(e("010-6552 9988").as_deref(), Ok("+861065529988"));
        assert_eq!(
            normalize("010-65529988", Id::CN).map(|p| p.kind),
            Ok("landline")
        );
        assert_eq!(
            normalize("13800138000", Id::CN).map(|p| p.kind),
            Ok("mobile")
        );
    }

    #[test]
    fn bad_numbers_are_refused_with_a_reason() {
        assert_eq!(e(""), Err(PhoneError::Empty));
        assert!(matches!(e("n/a"), Err(PhoneError::Unparsable(_))));
        assert!(matches!(e("1380013800"), Err(PhoneError::Invalid(_))));
        assert!(matches!(
            e("12345"),
            Err(PhoneError::Invalid(_) | PhoneError::Unparsable(_))
        ));
        // US numbers need their own region or a +1.
        assert_eq!(
            normalize("(202) 555-0143", Id::US).map(|p| p.e164),
            Ok("+12025550143".to_string())
        );
    }

    #[test]
    fn masking_hides_the_middle() {
        assert_eq!(mask("+8613800138000"), "+86138****8000");
        assert_eq!(mask("+12025550143"), "+12025**0143");
        assert!(!mask("+8613800138000").contains("0013"));
    }
}
