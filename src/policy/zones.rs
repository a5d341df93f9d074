//! Where a debtor may be, from their number, when the list does not say. Calling hours
//! are local to the debtor; a country spanning several zones gives all of them, and the
//! policy then requires the window to hold in every one (the careful reading of TCPA
//! for a number whose area is unknown).

use chrono_tz::Tz;
use phonenumber::country::Id;

/// Zones of a country, most populous first.
pub fn for_country(id: Id) -> Vec<Tz> {
    use chrono_tz::America as Am;
    use chrono_tz::Asia;
    use chrono_tz::Europe;
    match id {
        Id::CN => vec![Asia::Shanghai],
        Id::HK => vec![Asia::Hong_Kong],
        Id::MO => vec![Asia::Macau],
        Id::TW => vec![Asia::Taipei],
        Id::SG => vec![Asia::Singapore],
        Id::JP => vec![Asia::Tokyo],
        Id::GB => vec![Europe::London],
        Id::IE => vec![Europe::Dublin],
        Id::DE => vec![Europe::Berlin],
        Id::FR => vec![Europe::Paris],
        Id::US => vec![
            Am::New_York,
            Am::Chicago,
            Am::Denver,
            Am::Phoenix,
            Am::Los_Angeles,
            Am::Anchorage,
            chrono_tz::Pacific::Honolulu,
        ],
        Id::CA => vec![
            Am::Toronto,
            Am::Vancouver,
            Am::Edmonton,
            Am::Winnipeg,
            Am::Halifax,
            Am::St_Johns,
        ],
        _ => Vec::new(),
    }
}

/// Zones for an E.164 number; empty when unknown (the policy default then applies).
pub fn for_number(e164: &str) -> Vec<Tz> {
    match phonenumber::parse(None, e164) {
        Ok(n) => n.country().id().map(for_country).unwrap_or_default(),
        Err(_) => Vec::new(),
    }
}

/// Parse a comma-separated list of IANA zones (as stored with a lead).
pub fn parse_list(s: &str) -> Result<Vec<Tz>, String> {
    s.split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(|x| {
            x.parse::<Tz>()
                .map_err(|_| format!("`{x}` is not an IANA time zone like Asia/Shanghai"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_map_to_zones() {
        assert_eq!(
            for_number("+8613800138000"),
            vec![chrono_tz::Asia::Shanghai]
        );
        assert_eq!(for_number("+12025550143").len(), 7);
        assert_eq!(for_number("+442079460958"), vec![chrono_tz::Europe::London]);
        assert!(for_number("garbage").is_empty());
        assert!(parse_list("Asia/Shanghai, Mars/Olympus").is_err());
    }
}
