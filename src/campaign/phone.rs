//! Phone numbers as they arrive in real lists (full-width digits from Chinese input
//! methods, Excel floats, `0086`, landlines with area codes and dashes) normalised to
//! E.164 with the `phonenumber` crate (libphonenumber's metadata), and masked for
//! anything a person reads.

use phonenumber::country::Id;
use phonenumber::Type;

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
    // E.164 is `+`, the country code and the national significant number; writing it
    // directly is a fifth of the cost of the crate's formatter.
    let e164 = format!("+{}{}", n.code().value(), n.national());
    // Valid means the numbering plan gives the number a type: one lookup for both.
    let kind = match number_type(&n) {
        // As written, not as parsed: libphonenumber may have stripped a carrier prefix.
        Type::Unknown => return Err(PhoneError::Invalid(mask_raw(raw))),
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

/// One region's number-type patterns from libphonenumber's metadata, compiled once
/// into plain `regex::Regex`es. The `phonenumber` crate matches the same patterns
/// through a global, mutex-guarded LRU cache that hashes each pattern string on every
/// lookup, which costs ~10 µs per number and serialises threads; a million-row list
/// needs better. The order of checks is libphonenumber's (`getNumberTypeHelper`).
struct RegionTypes {
    general: Matcher,
    ordered: Vec<(Type, Matcher)>,
    fixed_line: Option<Matcher>,
    mobile: Option<Matcher>,
    fixed_equals_mobile: bool,
}

struct Matcher {
    lengths: Vec<u16>,
    re: regex::Regex,
}

impl Matcher {
    fn new(d: &phonenumber::metadata::Descriptor) -> Option<Matcher> {
        let re = regex::RegexBuilder::new(&format!("^(?:{})", d.national_number().as_str()))
            .ignore_whitespace(true)
            .build()
            .ok()?;
        Some(Matcher {
            lengths: d.possible_length().to_vec(),
            re,
        })
    }
    fn is_match(&self, v: &str) -> bool {
        (self.lengths.is_empty() || self.lengths.contains(&(v.len() as u16))) && self.re.is_match(v)
    }
}

impl RegionTypes {
    fn new(meta: &phonenumber::metadata::Metadata) -> Option<RegionTypes> {
        let d = meta.descriptors();
        let ordered = [
            (Type::PremiumRate, d.premium_rate()),
            (Type::TollFree, d.toll_free()),
            (Type::SharedCost, d.shared_cost()),
            (Type::Voip, d.voip()),
            (Type::PersonalNumber, d.personal_number()),
            (Type::Pager, d.pager()),
            (Type::Uan, d.uan()),
            (Type::Voicemail, d.voicemail()),
        ]
        .into_iter()
        .filter_map(|(t, d)| d.and_then(Matcher::new).map(|m| (t, m)))
        .collect();
        let fixed_equals_mobile = match (d.fixed_line(), d.mobile()) {
            (Some(f), Some(m)) => f.national_number().as_str() == m.national_number().as_str(),
            _ => false,
        };
        Some(RegionTypes {
            general: Matcher::new(d.general())?,
            ordered,
            fixed_line: d.fixed_line().and_then(Matcher::new),
            mobile: d.mobile().and_then(Matcher::new),
            fixed_equals_mobile,
        })
    }

    fn kind(&self, v: &str) -> Type {
        if !self.general.is_match(v) {
            return Type::Unknown;
        }
        for (t, m) in &self.ordered {
            if m.is_match(v) {
                return *t;
            }
        }
        if self.fixed_line.as_ref().is_some_and(|m| m.is_match(v)) {
            if self.fixed_equals_mobile || self.mobile.as_ref().is_some_and(|m| m.is_match(v)) {
                return Type::FixedLineOrMobile;
            }
            return Type::FixedLine;
        }
        if self.mobile.as_ref().is_some_and(|m| m.is_match(v)) {
            return Type::Mobile;
        }
        Type::Unknown
    }
}

type TypeCache = std::sync::RwLock<std::collections::HashMap<String, std::sync::Arc<RegionTypes>>>;

fn type_cache() -> &'static TypeCache {
    static CACHE: std::sync::OnceLock<TypeCache> = std::sync::OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// The number's type under its region's numbering plan (`Unknown` = not a valid number).
fn number_type(n: &phonenumber::PhoneNumber) -> Type {
    let Some(meta) = n.metadata(&phonenumber::metadata::DATABASE) else {
        return Type::Unknown;
    };
    let id = meta.id();
    let cached = type_cache().read().ok().and_then(|m| m.get(id).cloned());
    let types = match cached {
        Some(t) => t,
        None => match RegionTypes::new(meta) {
            Some(t) => {
                let t = std::sync::Arc::new(t);
                if let Ok(mut m) = type_cache().write() {
                    m.insert(id.to_string(), t.clone());
                }
                t
            }
            // A pattern our regex engine cannot compile: ask the crate.
            None => return n.number_type(&phonenumber::metadata::DATABASE),
        },
    };
    // The national significant number, leading zeros included (Italy).
    types.kind(&n.national().to_string())
}

/// `+86138****8000`: enough to tell numbers apart in a log, not enough to call one.
pub fn mask(e164: &str) -> String {
    let chars: Vec<char> = e164.chars().collect();
    let n = chars.len();
    if n <= 6 {
        return "*".repeat(n);
    }
    // At least four characters are always hidden, however short the number.
    let tail = if n >= 11 { 4 } else { 2 };
    let keep_head = if e164.starts_with('+') { 6 } else { 3 }.min(n - tail - 4);
    let tail: String = chars[n - tail..].iter().collect();
    let head: String = chars[..keep_head].iter().collect();
    format!(
        "{head}{}{tail}",
        "*".repeat(n - keep_head - tail.chars().count())
    )
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
    fn e164_matches_the_crates_formatter() {
        for (raw, region) in [
            ("13800138000", Id::CN),
            ("010-65529988", Id::CN),
            ("(202) 555-0143", Id::US),
            ("020 7946 0958", Id::GB),
        ] {
            let n = phonenumber::parse(Some(region), clean(raw)).expect("parses");
            let want = n.format().mode(phonenumber::Mode::E164).to_string();
            assert_eq!(normalize(raw, region).map(|p| p.e164), Ok(want), "{raw}");
        }
        // Italian numbers keep their leading zero in the national number.
        let n = phonenumber::parse(None, "+39 02 1234 5678").expect("parses");
        assert_eq!(
            format!("+{}{}", n.code().value(), n.national()),
            n.format().mode(phonenumber::Mode::E164).to_string()
        );
    }

    #[test]
    fn number_types_agree_with_the_crate() {
        // Random national numbers of plausible lengths in our markets: our compiled
        // matchers must classify every one exactly as the crate does.
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut checked = 0;
        let mut valid = 0;
        let mut kinds = std::collections::BTreeSet::new();
        for (region, prefixes) in [
            (
                Id::CN,
                &["1", "10", "20", "21", "400", "800", "95", "17", "19", "0"][..],
            ),
            (Id::US, &["2", "8", "9", "5", "3"][..]),
            (Id::GB, &["7", "20", "800", "9", "3", "5"][..]),
            (Id::HK, &["5", "9", "2", "8"][..]),
        ] {
            for _ in 0..3000 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let p = prefixes[(x % prefixes.len() as u64) as usize];
                let len = 7 + (x >> 8) % 6;
                let digits: String = (0..len)
                    .map(|i| char::from(b'0' + ((x >> (i * 3 % 60)) % 10) as u8))
                    .collect();
                let raw = format!("{p}{digits}");
                let Ok(n) = phonenumber::parse(Some(region), &raw) else {
                    continue;
                };
                let ours = number_type(&n);
                assert_eq!(
                    ours,
                    n.number_type(&phonenumber::metadata::DATABASE),
                    "{region:?} {raw}"
                );
                checked += 1;
                if ours != Type::Unknown {
                    kinds.insert(format!("{ours:?}"));
                    valid += 1;
                }
            }
        }
        assert!(checked > 10_000);
        // Valid numbers of several types were among them, not only rejects.
        assert!(valid > 1_000 && kinds.len() >= 6, "{valid} {kinds:?}");
    }

    #[test]
    fn refused_numbers_are_shown_masked_as_written() {
        // libphonenumber strips `11111` as a carrier-selection prefix and validates the
        // rest as +86 111111: the message showed that whole (too short to mask).
        let err = e("11111111111").expect_err("not a number").to_string();
        assert!(!err.contains("111111"), "{err}");
        assert!(err.contains("111****1111"), "{err}");
        for short in ["+86111111", "+8612345", "1234567"] {
            let m = mask(short);
            assert!(m.matches('*').count() >= 4, "{short} -> {m}");
        }
    }

    #[test]
    fn masking_hides_the_middle() {
        assert_eq!(mask("+8613800138000"), "+86138****8000");
        assert_eq!(mask("+12025550143"), "+120****0143");
        assert!(!mask("+8613800138000").contains("0013"));
    }
}
