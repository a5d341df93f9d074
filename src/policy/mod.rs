//! The contact-policy engine: declarative YAML rules (calling windows in the debtor's
//! local time, holidays, per-day and rolling caps, quiet periods, stop conditions) and
//! the retry schedule by call outcome. Pure functions of a contact's history and the
//! time, so the live scheduler, the simulator and the tests evaluate the same rules.
//! Every refusal names its rule and when it could lift, so a blocked lead is parked
//! until then instead of being asked again every tick.

mod model;
pub mod zones;

pub use model::{parse_duration, DayHours, PolicyFile, RetryRule, StopOn};

use crate::time::Millis;
use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use std::path::Path;

/// What happened on one dial, as the policy counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallOutcome {
    /// A person answered and was connected (bot or agent): a conversation took place.
    Connected,
    /// A person answered and nobody took the call in time (the 2 s rule).
    Abandoned,
    /// Rang out.
    NoAnswer,
    /// Busy signal (486/600).
    Busy,
    /// Declined by the callee (603) or hung up while ringing.
    Rejected,
    /// Answering machine, voicemail, or an operator announcement.
    Voicemail,
    /// The number does not exist (404/484, "空号").
    InvalidNumber,
    /// Network or trunk failure (5xx, timeouts).
    Failed,
    /// The dialer stopped (crash, kill) while the call was in flight: whether it
    /// connected is unknown, so the policy counts it as connected (the strict reading).
    Interrupted,
}

impl CallOutcome {
    /// Every outcome, for reports.
    pub const ALL: [CallOutcome; 9] = [
        CallOutcome::Connected,
        CallOutcome::Abandoned,
        CallOutcome::NoAnswer,
        CallOutcome::Busy,
        CallOutcome::Rejected,
        CallOutcome::Voicemail,
        CallOutcome::InvalidNumber,
        CallOutcome::Failed,
        CallOutcome::Interrupted,
    ];

    /// Stable name (`no_answer`), as stored and configured.
    pub fn as_str(self) -> &'static str {
        match self {
            CallOutcome::Connected => "connected",
            CallOutcome::Abandoned => "abandoned",
            CallOutcome::NoAnswer => "no_answer",
            CallOutcome::Busy => "busy",
            CallOutcome::Rejected => "rejected",
            CallOutcome::Voicemail => "voicemail",
            CallOutcome::InvalidNumber => "invalid_number",
            CallOutcome::Failed => "failed",
            CallOutcome::Interrupted => "interrupted",
        }
    }

    /// Parse a stored name.
    pub fn parse(s: &str) -> Option<CallOutcome> {
        CallOutcome::ALL.into_iter().find(|o| o.as_str() == s)
    }

    /// Whether the policy counts this as a conversation with the debtor.
    pub fn is_conversation(self) -> bool {
        matches!(self, CallOutcome::Connected | CallOutcome::Interrupted)
    }
}

/// One past dial of a debtor (any of their numbers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PastAttempt {
    /// When the dial started.
    pub at: Millis,
    /// E.164 number dialled.
    pub phone: String,
    /// What happened (in-flight attempts count as `Interrupted`).
    pub outcome: CallOutcome,
}

/// What the policy needs to know about the debtor and the number about to be dialled.
#[derive(Debug, Clone)]
pub struct Contact<'a> {
    /// E.164 number to dial.
    pub phone: &'a str,
    /// Time zones the debtor may be in; the window must hold in every one (an
    /// unknown US number could be anywhere from New York to Honolulu).
    pub zones: &'a [Tz],
    /// Every earlier attempt to this debtor, oldest first.
    pub history: &'a [PastAttempt],
    /// A disposition from an earlier conversation (`refused`, `opt_out`), if any.
    pub disposition: Option<&'a str>,
    /// The number is on a suppression / do-not-call list.
    pub suppressed: bool,
}

/// Which rule refused a dial.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// On a suppression / DNC list.
    Suppressed,
    /// The debtor refused or opted out earlier.
    StopDisposition,
    /// Lifetime attempt cap reached.
    LifetimeAttempts,
    /// A holiday with no calling hours.
    Holiday,
    /// Outside calling hours in the debtor's local time.
    CallingWindow,
    /// Too soon after the last attempt.
    MinInterval,
    /// Attempts to this number today reached the cap.
    AttemptsPerNumberPerDay,
    /// Conversations with this debtor today reached the cap.
    ConnectedPerDebtorPerDay,
    /// Attempts in the rolling window (7-in-7) reached the cap.
    RollingAttempts,
    /// Within the quiet period after a conversation.
    AfterConversation,
    /// Within the quiet period after an abandoned call.
    AfterAbandon,
}

impl Rule {
    /// Stable name, as stored in the block log.
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::Suppressed => "suppressed",
            Rule::StopDisposition => "stop_disposition",
            Rule::LifetimeAttempts => "lifetime_attempts",
            Rule::Holiday => "holiday",
            Rule::CallingWindow => "calling_window",
            Rule::MinInterval => "min_interval",
            Rule::AttemptsPerNumberPerDay => "attempts_per_number_per_day",
            Rule::ConnectedPerDebtorPerDay => "connected_per_debtor_per_day",
            Rule::RollingAttempts => "rolling_attempts",
            Rule::AfterConversation => "after_conversation",
            Rule::AfterAbandon => "after_abandon",
        }
    }
}

/// The policy's answer for one dial.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Dial now.
    Allow,
    /// Do not dial.
    Block {
        /// The rule that refused.
        rule: Rule,
        /// Human-readable reason with the numbers involved.
        detail: String,
        /// Earliest instant the rule could allow a dial; `None` for never.
        until: Option<Millis>,
    },
}

/// What to do with a lead after an attempt ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Try again no earlier than this instant.
    RetryAt(Millis),
    /// Finished: a conversation took place.
    Done,
    /// No more tries for this outcome (the schedule is exhausted or says stop).
    Exhausted,
}

/// Errors loading a policy.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The file could not be read.
    #[error("{path}")]
    Io {
        /// File.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// YAML syntax or an unknown/missing key.
    #[error(transparent)]
    Yaml(#[from] crate::yaml::YamlError),
    /// A value that parses but makes no sense.
    #[error("{path}: {message}")]
    Invalid {
        /// File.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// Neither a preset nor a file.
    #[error("no policy `{0}`: use a preset ({presets}) or a YAML file", presets = PRESETS.iter().map(|p| p.0).collect::<Vec<_>>().join(", "))]
    Unknown(String),
}

/// Built-in presets: name and YAML text (the same files ship in `policies/`).
pub const PRESETS: [(&str, &str); 3] = [
    (
        "cn-collection",
        include_str!("../../policies/cn-collection.yaml"),
    ),
    (
        "us-tcpa-regf",
        include_str!("../../policies/us-tcpa-regf.yaml"),
    ),
    ("uk-ofcom", include_str!("../../policies/uk-ofcom.yaml")),
];

/// A policy's exact text and where it came from, so a campaign can keep a snapshot of the
/// rules it was dialled under: the file may move, change or vanish afterwards, and an
/// audit must still judge each attempt by the rules in force when it was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicySource {
    /// A preset's name, or the file's absolute path (a relative one breaks when a
    /// command runs from another folder).
    pub source: String,
    /// The YAML text as loaded.
    pub text: String,
    /// SHA-256 of `text` in lowercase hex: two sources with the same hash are the same rules.
    pub sha256: String,
}

impl PolicySource {
    /// Text from `source`, hashed.
    pub fn new(source: &str, text: &str) -> PolicySource {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(text.as_bytes());
        PolicySource {
            source: source.to_string(),
            text: text.to_string(),
            sha256: digest.iter().map(|b| format!("{b:02x}")).collect(),
        }
    }

    /// A preset by name or a YAML file by path, read, checked and compiled.
    pub fn resolve(name_or_path: &str) -> Result<(Policy, PolicySource), PolicyError> {
        if let Some((name, text)) = PRESETS.iter().find(|(n, _)| *n == name_or_path) {
            let policy = Policy::from_yaml(text, &format!("policies/{name}.yaml"))?;
            return Ok((policy, PolicySource::new(name, text)));
        }
        let p = Path::new(name_or_path);
        if !p.exists() {
            return Err(PolicyError::Unknown(name_or_path.to_string()));
        }
        let io = |source| PolicyError::Io {
            path: name_or_path.to_string(),
            source,
        };
        let text = std::fs::read_to_string(p).map_err(io)?;
        let abs = std::path::absolute(p).map_err(io)?;
        let policy = Policy::from_yaml(&text, name_or_path)?;
        Ok((policy, PolicySource::new(&abs.display().to_string(), &text)))
    }

    /// Compile the snapshot (it was checked when stored; a newer voxdial may be stricter).
    pub fn compile(&self) -> Result<Policy, PolicyError> {
        let name = if PRESETS.iter().any(|(n, _)| *n == self.source) {
            format!("policies/{}.yaml", self.source)
        } else {
            self.source.clone()
        };
        Policy::from_yaml(&self.text, &name)
    }

    /// The first 12 hex digits of the hash, for people.
    pub fn short_hash(&self) -> &str {
        &self.sha256[..self.sha256.len().min(12)]
    }
}

/// A compiled contact policy.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Name from the file.
    pub name: String,
    /// Zone used when neither the lead nor its number says where the debtor is.
    pub default_zone: Tz,
    hours: [Option<(NaiveTime, NaiveTime)>; 7],
    holidays: Vec<NaiveDate>,
    holiday_hours: Option<(NaiveTime, NaiveTime)>,
    limits: model::Limits,
    stop_dispositions: Vec<String>,
    retry: Vec<(CallOutcome, RetryRule)>,
    /// Abandoned / live-answered calls the pacer must stay under.
    pub max_abandon_rate: f64,
    /// Seconds an answered call may wait for a live voice before it counts as abandoned.
    pub abandon_after_s: f64,
    /// Minimum ring time before a dial may give up, seconds.
    pub min_ring_s: f64,
    /// What an abandoned call hears before the hang-up (agent-first campaigns need it).
    pub abandon_message: Option<AbandonMessage>,
}

/// The checked abandoned-call message: it always names the caller and the number to
/// call back, in every locale it is written in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbandonMessage {
    /// The business calling.
    pub caller: String,
    /// The number to call back, as written.
    pub callback: String,
    /// The words per locale, `{caller}` and `{callback}` still in them.
    pub text: std::collections::BTreeMap<crate::Locale, String>,
}

impl AbandonMessage {
    /// The message as written, filled in (for records and people).
    pub fn written(&self, locale: crate::Locale) -> Option<String> {
        self.text.get(&locale).map(|t| {
            t.replace("{caller}", &self.caller)
                .replace("{callback}", &self.callback)
        })
    }

    /// The message as a voice should read it: the callback number digit by digit, the
    /// way a number to write down is said.
    pub fn spoken(&self, locale: crate::Locale) -> Option<String> {
        let digits = crate::language::verbalise::digits_words(&self.callback, locale, true);
        self.text.get(&locale).map(|t| {
            t.replace("{caller}", &self.caller)
                .replace("{callback}", &digits)
        })
    }
}

impl Policy {
    /// A preset by name, or a YAML file by path.
    pub fn load(name_or_path: &str) -> Result<Policy, PolicyError> {
        PolicySource::resolve(name_or_path).map(|(p, _)| p)
    }

    /// Parse and check a policy; `path` names the source in errors.
    pub fn from_yaml(text: &str, path: &str) -> Result<Policy, PolicyError> {
        let file: PolicyFile = crate::yaml::parse(text, path)?;
        file.compile().map_err(|message| PolicyError::Invalid {
            path: path.to_string(),
            message,
        })
    }

    /// The zones to check for a number: the lead's own zone if known, else the zones
    /// its country spans, else the policy default.
    pub fn zones_for(&self, phone_e164: &str, lead_zone: Option<Tz>) -> Vec<Tz> {
        if let Some(z) = lead_zone {
            return vec![z];
        }
        let z = zones::for_number(phone_e164);
        if z.is_empty() {
            vec![self.default_zone]
        } else {
            z
        }
    }

    /// May `c` be dialled at `now`? Rules are checked from the permanent to the
    /// temporary, so the reported rule is the one that matters most. Rules count in whole
    /// seconds (limits and calling hours are written in them).
    pub fn check(&self, c: &Contact<'_>, now: Millis) -> Decision {
        let now = now.as_unix_secs();
        let block = |rule: Rule, detail: String, until: Option<i64>| Decision::Block {
            rule,
            detail,
            until: until.map(Millis::from_unix_secs),
        };
        if c.suppressed {
            return block(
                Rule::Suppressed,
                "number is on a suppression list".into(),
                None,
            );
        }
        if let Some(d) = c.disposition {
            if self.stop_dispositions.iter().any(|s| s == d) {
                return block(
                    Rule::StopDisposition,
                    format!("debtor's earlier call ended `{d}`"),
                    None,
                );
            }
        }
        let l = &self.limits;
        if let Some(max) = l.lifetime_attempts {
            if c.history.len() as u32 >= max {
                return block(
                    Rule::LifetimeAttempts,
                    format!("{} attempts, lifetime cap {max}", c.history.len()),
                    None,
                );
            }
        }
        let zone = c.zones.first().copied().unwrap_or(self.default_zone);
        if let Some(d) = self.window_block(c.zones, now) {
            return d;
        }
        if let (Some(gap), Some(last)) = (l.min_interval, c.history.last()) {
            let until = last.at.as_unix_secs() + gap;
            if now < until {
                return block(
                    Rule::MinInterval,
                    format!(
                        "last attempt {}s ago, minimum interval {gap}s",
                        now - last.at.as_unix_secs()
                    ),
                    Some(until),
                );
            }
        }
        let day_start = local_midnight(zone, now);
        let next_day = next_local_midnight(zone, now);
        if let Some(max) = l.attempts_per_number_per_day {
            let n = c
                .history
                .iter()
                .filter(|a| a.at.as_unix_secs() >= day_start && a.phone == c.phone)
                .count() as u32;
            if n >= max {
                return block(
                    Rule::AttemptsPerNumberPerDay,
                    format!("{n} attempts to this number today, cap {max}"),
                    Some(next_day),
                );
            }
        }
        if let Some(max) = l.connected_per_debtor_per_day {
            let n = c
                .history
                .iter()
                .filter(|a| a.at.as_unix_secs() >= day_start && a.outcome.is_conversation())
                .count() as u32;
            if n >= max {
                return block(
                    Rule::ConnectedPerDebtorPerDay,
                    format!("{n} conversations with this debtor today, cap {max}"),
                    Some(next_day),
                );
            }
        }
        if let Some(r) = &l.rolling_attempts {
            let from = now - r.window_s;
            let inside: Vec<&PastAttempt> = c
                .history
                .iter()
                .filter(|a| a.at.as_unix_secs() > from)
                .collect();
            if inside.len() as u32 >= r.max {
                // Lifts when enough of the oldest attempts leave the window.
                let k = inside.len() - r.max as usize;
                let until = inside[k].at.as_unix_secs() + r.window_s;
                return block(
                    Rule::RollingAttempts,
                    format!(
                        "{} attempts in the last {} days, cap {}",
                        inside.len(),
                        r.window_s / 86_400,
                        r.max
                    ),
                    Some(until),
                );
            }
        }
        if let Some(q) = l.after_conversation {
            if let Some(last) = c
                .history
                .iter()
                .rev()
                .find(|a| a.outcome == CallOutcome::Connected)
            {
                if now < last.at.as_unix_secs() + q {
                    return block(
                        Rule::AfterConversation,
                        format!(
                            "conversation {}h ago, quiet period {}h",
                            (now - last.at.as_unix_secs()) / 3600,
                            q / 3600
                        ),
                        Some(last.at.as_unix_secs() + q),
                    );
                }
            }
        }
        if let Some(q) = l.after_abandon {
            if let Some(last) = c
                .history
                .iter()
                .rev()
                .find(|a| a.outcome == CallOutcome::Abandoned)
            {
                if now < last.at.as_unix_secs() + q {
                    return block(
                        Rule::AfterAbandon,
                        format!(
                            "abandoned call {}h ago, quiet period {}h",
                            (now - last.at.as_unix_secs()) / 3600,
                            q / 3600
                        ),
                        Some(last.at.as_unix_secs() + q),
                    );
                }
            }
        }
        Decision::Allow
    }

    /// After an attempt with `outcome` that ended at `now`, when to try again. `tries`
    /// is how many attempts (this one included) ended with the same outcome.
    pub fn next_after(&self, outcome: CallOutcome, tries: u32, now: Millis) -> Next {
        if outcome == CallOutcome::Connected {
            return Next::Done;
        }
        let Some((_, rule)) = self.retry.iter().find(|(o, _)| *o == outcome) else {
            return Next::Exhausted;
        };
        if tries >= rule.max_tries || rule.delays_s.is_empty() {
            return Next::Exhausted;
        }
        let i = (tries.max(1) as usize - 1).min(rule.delays_s.len() - 1);
        Next::RetryAt(Millis::from_unix_secs(
            now.as_unix_secs() + rule.delays_s[i],
        ))
    }

    fn hours_on(&self, day: NaiveDate) -> Option<(NaiveTime, NaiveTime)> {
        if self.holidays.contains(&day) {
            return self.holiday_hours;
        }
        self.hours[day.weekday().num_days_from_monday() as usize]
    }

    /// Inside calling hours in `zone` at `now`? Otherwise the next opening.
    fn window_in(&self, zone: Tz, now: i64) -> Result<(), Option<i64>> {
        let Some(t) = DateTime::<Utc>::from_timestamp(now, 0) else {
            return Err(None);
        };
        let local = t.with_timezone(&zone);
        let today = local.date_naive();
        for offset in 0..15 {
            let day = today + chrono::Days::new(offset);
            let Some((from, to)) = self.hours_on(day) else {
                continue;
            };
            let open = local_instant(zone, day, from);
            let close = local_instant(zone, day, to);
            if offset == 0 && now >= open && now < close {
                return Ok(());
            }
            if open > now {
                return Err(Some(open));
            }
        }
        Err(None)
    }

    fn window_block(&self, zones: &[Tz], now: i64) -> Option<Decision> {
        let zones: &[Tz] = if zones.is_empty() {
            std::slice::from_ref(&self.default_zone)
        } else {
            zones
        };
        let mut t = now;
        // The first instant inside the window of every zone: jump to the latest next
        // opening until all agree (a handful of rounds at most).
        for round in 0..16 {
            let mut latest: Option<i64> = None;
            let mut never = false;
            for z in zones {
                match self.window_in(*z, t) {
                    Ok(()) => {}
                    Err(Some(open)) => latest = Some(latest.map_or(open, |l: i64| l.max(open))),
                    Err(None) => never = true,
                }
            }
            if never {
                return Some(self.window_decision(zones, now, None));
            }
            match latest {
                None if round == 0 => return None,
                None => return Some(self.window_decision(zones, now, Some(t))),
                Some(l) => t = l,
            }
        }
        Some(self.window_decision(zones, now, None))
    }

    fn window_decision(&self, zones: &[Tz], now: i64, until: Option<i64>) -> Decision {
        let zone = zones[0];
        let local = DateTime::<Utc>::from_timestamp(now, 0)
            .map(|t| {
                t.with_timezone(&zone)
                    .format("%Y-%m-%d %H:%M %Z")
                    .to_string()
            })
            .unwrap_or_default();
        let day =
            DateTime::<Utc>::from_timestamp(now, 0).map(|t| t.with_timezone(&zone).date_naive());
        let (rule, what) = match day {
            Some(d) if self.holidays.contains(&d) && self.holiday_hours.is_none() => {
                (Rule::Holiday, "a holiday with no calling hours")
            }
            _ => (Rule::CallingWindow, "outside calling hours"),
        };
        let zones_txt = if zones.len() > 1 {
            format!(" (must hold in all {} zones of the number)", zones.len())
        } else {
            String::new()
        };
        Decision::Block {
            rule,
            detail: format!("{local} is {what}{zones_txt}"),
            until: until.map(Millis::from_unix_secs),
        }
    }
}

/// Unix second of a local wall-clock time; in a DST gap, the first instant after it.
fn local_instant(zone: Tz, day: NaiveDate, t: NaiveTime) -> i64 {
    let naive = day.and_time(t);
    match zone.from_local_datetime(&naive) {
        chrono::LocalResult::Single(x) => x.timestamp(),
        chrono::LocalResult::Ambiguous(a, _) => a.timestamp(),
        chrono::LocalResult::None => zone
            .from_local_datetime(&(naive + chrono::Duration::hours(1)))
            .earliest()
            .map(|x| x.timestamp())
            .unwrap_or_else(|| naive.and_utc().timestamp()),
    }
}

/// Start of the debtor's local day containing `now`.
pub fn local_midnight(zone: Tz, now: i64) -> i64 {
    let day = DateTime::<Utc>::from_timestamp(now, 0)
        .map(|t| t.with_timezone(&zone).date_naive())
        .unwrap_or_default();
    local_instant(zone, day, NaiveTime::MIN)
}

/// Start of the debtor's next local day.
pub fn next_local_midnight(zone: Tz, now: i64) -> i64 {
    let day = DateTime::<Utc>::from_timestamp(now, 0)
        .map(|t| t.with_timezone(&zone).date_naive())
        .unwrap_or_default();
    local_instant(zone, day + chrono::Days::new(1), NaiveTime::MIN)
}

#[cfg(test)]
mod tests;
