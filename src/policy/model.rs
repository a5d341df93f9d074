//! The policy file as written (serde) and its compilation into a [`Policy`].

use super::{AbandonMessage, CallOutcome, Policy};
use chrono::{NaiveDate, NaiveTime};
use chrono_tz::Tz;
use serde::Deserialize;
use std::collections::BTreeMap;

/// A policy YAML file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyFile {
    /// Policy name.
    pub name: String,
    /// What it is for and which rules it encodes.
    #[serde(default)]
    pub description: String,
    /// IANA zone used when a lead's zone cannot be told from its data or number.
    pub default_timezone: String,
    /// `all:` plus optional per-day overrides (`mon`..`sun`): `"08:00-22:00"` or `none`.
    pub calling_hours: BTreeMap<String, DayHours>,
    /// Dates with `holiday_hours` instead of the weekday's hours.
    #[serde(default)]
    pub holidays: Vec<NaiveDate>,
    /// Calling hours on holidays (default `none`: no calls).
    #[serde(default)]
    pub holiday_hours: Option<DayHours>,
    /// Caps and quiet periods.
    #[serde(default)]
    pub limits: LimitsFile,
    /// Conversation dispositions after which the debtor is never called again: a closed
    /// set, so a typo (`refusd`) is an error instead of a rule that never fires.
    #[serde(default)]
    pub stop_on: Vec<StopOn>,
    /// Retry schedule by outcome (`no_answer`, `busy`, ...).
    #[serde(default)]
    pub retry: BTreeMap<String, RetryFile>,
    /// Abandoned-call rule the pacer enforces.
    #[serde(default)]
    pub abandon: AbandonFile,
    /// Minimum ring time before giving up, seconds.
    #[serde(default = "default_min_ring")]
    pub min_ring_s: f64,
    /// What a customer whose answered call found no agent hears before the hang-up
    /// (agent-first campaigns need one).
    #[serde(default)]
    pub abandon_message: Option<AbandonMessageFile>,
}

/// The abandoned-call message as written: who calls, the number to call back, and the
/// words per locale. Rules that allow abandoned calls ask for such a message (TCPA
/// 47 CFR 64.1200(a)(7)(i)(A): the caller's name and a number to call; Ofcom: an
/// information message naming the company and a number), so the caller and the number
/// are fields of their own, checked, and every text must say both.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AbandonMessageFile {
    /// The business on whose behalf the call was placed.
    pub caller: String,
    /// A telephone number the customer can call back (not premium rate).
    pub callback: String,
    /// The message per locale (`en-US`, `zh-CN`), saying `{caller}` and `{callback}`.
    pub text: BTreeMap<String, String>,
}

/// A disposition a policy may stop on. A closed set because a misspelt name in `stop_on`
/// would silently never match and the debtor would be called again after a refusal.
/// `wrong_person` is what the shipped scenarios end with; `wrong_party` the older name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopOn {
    /// The debtor refused to talk or to pay and asked not to be called.
    Refused,
    /// The debtor asked to be taken off the list.
    OptOut,
    /// Somebody else answered (the presets' name).
    WrongParty,
    /// Somebody else answered (the scenarios' name).
    WrongPerson,
    /// The debtor has died.
    Deceased,
    /// A written cease-communication request (FDCPA).
    CeaseCommunication,
    /// The debtor is represented by an attorney.
    AttorneyRepresented,
    /// The debt is disputed.
    Dispute,
    /// The debt is disputed (past tense, as some scenarios end).
    Disputed,
    /// The debtor suspects the call is a fraud.
    SuspectedFraud,
    /// The debtor reported fraud on the account.
    FraudReported,
    /// A complaint was logged on the call.
    ComplaintLogged,
}

impl StopOn {
    /// Every name, in the order the error lists them.
    pub const ALL: [StopOn; 12] = [
        StopOn::Refused,
        StopOn::OptOut,
        StopOn::WrongParty,
        StopOn::WrongPerson,
        StopOn::Deceased,
        StopOn::CeaseCommunication,
        StopOn::AttorneyRepresented,
        StopOn::Dispute,
        StopOn::Disputed,
        StopOn::SuspectedFraud,
        StopOn::FraudReported,
        StopOn::ComplaintLogged,
    ];

    /// The disposition name as stored on an attempt.
    pub fn as_str(self) -> &'static str {
        match self {
            StopOn::Refused => "refused",
            StopOn::OptOut => "opt_out",
            StopOn::WrongParty => "wrong_party",
            StopOn::WrongPerson => "wrong_person",
            StopOn::Deceased => "deceased",
            StopOn::CeaseCommunication => "cease_communication",
            StopOn::AttorneyRepresented => "attorney_represented",
            StopOn::Dispute => "dispute",
            StopOn::Disputed => "disputed",
            StopOn::SuspectedFraud => "suspected_fraud",
            StopOn::FraudReported => "fraud_reported",
            StopOn::ComplaintLogged => "complaint_logged",
        }
    }
}

fn default_min_ring() -> f64 {
    15.0
}

/// Hours of one day: `"08:00-22:00"` or `none`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayHours(pub Option<(NaiveTime, NaiveTime)>);

impl<'de> Deserialize<'de> for DayHours {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_hours(&s)
            .map(DayHours)
            .map_err(serde::de::Error::custom)
    }
}

fn parse_hours(s: &str) -> Result<Option<(NaiveTime, NaiveTime)>, String> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    let (a, b) = s
        .split_once('-')
        .ok_or_else(|| format!("calling hours `{s}` must look like 08:00-22:00 or none"))?;
    let t = |x: &str| {
        let x = x.trim();
        if x == "24:00" {
            return NaiveTime::from_hms_opt(23, 59, 59).ok_or_else(|| "bad time".to_string());
        }
        NaiveTime::parse_from_str(x, "%H:%M").map_err(|_| format!("`{x}` is not a time like 08:00"))
    };
    let (from, to) = (t(a)?, t(b)?);
    if from >= to {
        return Err(format!("calling hours `{s}` end before they start"));
    }
    Ok(Some((from, to)))
}

/// Caps and quiet periods as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsFile {
    /// Attempts to a debtor over the whole campaign.
    pub lifetime_attempts: Option<u32>,
    /// Minimum gap between two attempts to the same debtor (`30m`).
    pub min_interval: Option<String>,
    /// Attempts per number per local day.
    pub attempts_per_number_per_day: Option<u32>,
    /// Conversations per debtor per local day.
    pub connected_per_debtor_per_day: Option<u32>,
    /// At most `max` attempts in any `window` (Reg F: 7 in 7 days).
    pub rolling_attempts: Option<RollingFile>,
    /// No call within this long after a conversation (`7d`).
    pub after_conversation: Option<String>,
    /// No call within this long after an abandoned call (`72h`).
    pub after_abandon: Option<String>,
}

/// A rolling-window cap as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RollingFile {
    /// Attempts allowed in the window.
    pub max: u32,
    /// Window length (`7d`).
    pub window: String,
}

/// Retry rule for one outcome as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryFile {
    /// Delay before the 1st, 2nd, ... retry; the last repeats (backoff).
    pub delays: Vec<String>,
    /// Attempts ending with this outcome after which the lead stops.
    pub max_tries: u32,
}

/// Abandoned-call rule as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AbandonFile {
    /// Abandoned / live-answered calls.
    #[serde(default = "default_rate")]
    pub max_rate: f64,
    /// Seconds a live answer may wait for a voice.
    #[serde(default = "default_after")]
    pub after_s: f64,
    /// The period the rate is measured over (informational: `30d`, `24h`).
    #[serde(default)]
    pub period: Option<String>,
}

fn default_rate() -> f64 {
    0.03
}
fn default_after() -> f64 {
    2.0
}

impl Default for AbandonFile {
    fn default() -> Self {
        AbandonFile {
            max_rate: default_rate(),
            after_s: default_after(),
            period: None,
        }
    }
}

/// A compiled retry rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryRule {
    /// Delays in seconds; the last one repeats.
    pub delays_s: Vec<i64>,
    /// Stop after this many attempts with the outcome.
    pub max_tries: u32,
}

/// Compiled caps.
#[derive(Debug, Clone, Default)]
pub(super) struct Limits {
    pub lifetime_attempts: Option<u32>,
    pub min_interval: Option<i64>,
    pub attempts_per_number_per_day: Option<u32>,
    pub connected_per_debtor_per_day: Option<u32>,
    pub rolling_attempts: Option<Rolling>,
    pub after_conversation: Option<i64>,
    pub after_abandon: Option<i64>,
}

#[derive(Debug, Clone)]
pub(super) struct Rolling {
    pub max: u32,
    pub window_s: i64,
}

/// `90s`, `30m`, `2h`, `7d` to seconds.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    let s = s.trim();
    let err = || format!("`{s}` is not a duration like 90s, 30m, 2h or 7d");
    let unit = s.chars().last().ok_or_else(err)?;
    let n: f64 = s[..s.len() - unit.len_utf8()]
        .trim()
        .parse()
        .map_err(|_| err())?;
    let mul = match unit {
        's' => 1.0,
        'm' => 60.0,
        'h' => 3600.0,
        'd' => 86_400.0,
        _ => return Err(err()),
    };
    if !(n >= 0.0 && n.is_finite()) {
        return Err(err());
    }
    Ok((n * mul).round() as i64)
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

impl PolicyFile {
    /// Check values and build the policy.
    pub fn compile(self) -> Result<Policy, String> {
        let default_zone: Tz = self.default_timezone.parse().map_err(|_| {
            format!(
                "default_timezone `{}` is not an IANA zone like Asia/Shanghai",
                self.default_timezone
            )
        })?;
        let mut hours = [None; 7];
        let all = self.calling_hours.get("all").map(|h| h.0);
        for k in self.calling_hours.keys() {
            if k != "all" && !DAYS.contains(&k.as_str()) {
                return Err(format!(
                    "calling_hours: unknown day `{k}` (use all, mon, tue, wed, thu, fri, sat, sun)"
                ));
            }
        }
        for (i, d) in DAYS.iter().enumerate() {
            hours[i] = match self.calling_hours.get(*d) {
                Some(h) => h.0,
                None => all.flatten(),
            };
        }
        let dur = |what: &str, v: &Option<String>| -> Result<Option<i64>, String> {
            v.as_deref()
                .map(|s| parse_duration(s).map_err(|e| format!("limits.{what}: {e}")))
                .transpose()
        };
        let l = &self.limits;
        let rolling = match &l.rolling_attempts {
            Some(r) => Some(super::model::Rolling {
                max: r.max,
                window_s: parse_duration(&r.window)
                    .map_err(|e| format!("limits.rolling_attempts.window: {e}"))?,
            }),
            None => None,
        };
        let limits = Limits {
            lifetime_attempts: l.lifetime_attempts,
            min_interval: dur("min_interval", &l.min_interval)?,
            attempts_per_number_per_day: l.attempts_per_number_per_day,
            connected_per_debtor_per_day: l.connected_per_debtor_per_day,
            rolling_attempts: rolling,
            after_conversation: dur("after_conversation", &l.after_conversation)?,
            after_abandon: dur("after_abandon", &l.after_abandon)?,
        };
        let mut retry = Vec::new();
        for (k, r) in &self.retry {
            let outcome = CallOutcome::parse(k).ok_or_else(|| {
                format!(
                    "retry: unknown outcome `{k}` (use {})",
                    CallOutcome::ALL.map(|o| o.as_str()).join(", ")
                )
            })?;
            let delays_s = r
                .delays
                .iter()
                .map(|d| parse_duration(d).map_err(|e| format!("retry.{k}: {e}")))
                .collect::<Result<Vec<_>, _>>()?;
            retry.push((
                outcome,
                RetryRule {
                    delays_s,
                    max_tries: r.max_tries,
                },
            ));
        }
        if !(0.0..=1.0).contains(&self.abandon.max_rate) {
            return Err("abandon.max_rate is a share between 0 and 1".into());
        }
        let abandon_message = self
            .abandon_message
            .map(AbandonMessageFile::compile)
            .transpose()?;
        Ok(Policy {
            name: self.name,
            default_zone,
            hours,
            holidays: self.holidays,
            holiday_hours: self.holiday_hours.and_then(|h| h.0),
            limits,
            stop_dispositions: self
                .stop_on
                .iter()
                .map(|s| s.as_str().to_string())
                .collect(),
            retry,
            max_abandon_rate: self.abandon.max_rate,
            abandon_after_s: self.abandon.after_s,
            min_ring_s: self.min_ring_s,
            abandon_message,
        })
    }
}

/// Longest caller name: a name, not a sentence.
const MAX_CALLER: usize = 80;
/// Longest message text: regulations want it short (Ofcom: an information message, TCPA:
/// limited to the identification and the number).
const MAX_MESSAGE: usize = 400;

impl AbandonMessageFile {
    fn compile(self) -> Result<AbandonMessage, String> {
        let caller = self.caller.trim().to_string();
        if caller.is_empty() || caller.chars().count() > MAX_CALLER {
            return Err(format!(
                "abandon_message.caller must name the business calling (1-{MAX_CALLER} characters)"
            ));
        }
        if caller
            .chars()
            .any(|c| c.is_control() || c == '{' || c == '}')
        {
            return Err("abandon_message.caller: no braces or control characters".into());
        }
        let callback = self.callback.trim().to_string();
        let digits = callback.chars().filter(char::is_ascii_digit).count();
        let shaped = callback
            .chars()
            .all(|c| c.is_ascii_digit() || " +-().".contains(c));
        if !shaped || !(7..=15).contains(&digits) {
            return Err(format!(
                "abandon_message.callback `{callback}` is not a telephone number (7-15 digits, spaces, + - ( ) .)"
            ));
        }
        if self.text.is_empty() {
            return Err(
                "abandon_message.text: give the message in at least one locale (en-US: \"...\")"
                    .into(),
            );
        }
        let mut text = BTreeMap::new();
        for (tag, words) in self.text {
            let locale: crate::Locale = tag
                .parse()
                .map_err(|e| format!("abandon_message.text: {e}"))?;
            let words = words.trim().to_string();
            let at = format!("abandon_message.text.{tag}");
            if words.is_empty() || words.chars().count() > MAX_MESSAGE {
                return Err(format!("{at} must be 1-{MAX_MESSAGE} characters"));
            }
            for need in ["{caller}", "{callback}"] {
                if !words.contains(need) {
                    return Err(format!(
                        "{at} must say {need}: the message identifies the caller and gives the number to call back"
                    ));
                }
            }
            let rest = words.replace("{caller}", "").replace("{callback}", "");
            if rest.contains('{') || rest.contains('}') {
                return Err(format!(
                    "{at}: only {{caller}} and {{callback}} can be filled in"
                ));
            }
            if text.insert(locale, words).is_some() {
                return Err(format!("{at}: the locale is given twice"));
            }
        }
        Ok(AbandonMessage {
            caller,
            callback,
            text,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_hours() {
        assert_eq!(parse_duration("90s"), Ok(90));
        assert_eq!(parse_duration("30m"), Ok(1800));
        assert_eq!(parse_duration("7d"), Ok(604_800));
        assert!(parse_duration("7w").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_hours("22:00-08:00").is_err());
        assert_eq!(parse_hours("none"), Ok(None));
        assert!(parse_hours("8-22").is_err());
    }

    #[test]
    fn every_stop_name_round_trips_through_serde() {
        for s in StopOn::ALL {
            let back: StopOn = serde_yaml_ng::from_str(s.as_str()).expect("a stop name parses");
            assert_eq!(back, s);
        }
    }
}
