//! The one time type of every sans-IO core (the call, the dialer, the bot pipeline, turn
//! taking, call progress, the contact policy): `Millis`, an instant in whole milliseconds
//! since the Unix epoch. Cores take it as input and return deadlines in it; they never read
//! a clock. One type for all of them means a simulation drives the same code as a live
//! call with a seeded virtual clock, and the policy can read civil time (calling hours in
//! the debtor's zone) from the same instant the pacer schedules on.
//!
//! Only drivers read the real clock, through [`MonotonicClock`]: Unix time read once, then
//! advanced by `std::time::Instant`, so a wall-clock step (NTP) never fires a call's timer
//! early or twice.

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::ops::{Add, AddAssign, Sub};
use std::time::Duration;

/// An instant: milliseconds since 1970-01-01T00:00:00Z.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Millis(pub u64);

impl Millis {
    /// The epoch; also the start of a clock that only differences are read from.
    pub const ZERO: Millis = Millis(0);
    /// Later than any real instant: a deadline that never comes.
    pub const NEVER: Millis = Millis(u64::MAX);

    /// From whole seconds since the epoch (negative clamps to the epoch).
    pub fn from_unix_secs(s: i64) -> Millis {
        Millis(u64::try_from(s).unwrap_or(0).saturating_mul(1000))
    }

    /// Whole seconds since the epoch, rounded down.
    pub fn as_unix_secs(self) -> i64 {
        i64::try_from(self.0 / 1000).unwrap_or(i64::MAX)
    }

    /// From a UTC date-time (before the epoch clamps to the epoch).
    pub fn from_datetime<T: TimeZone>(t: &DateTime<T>) -> Millis {
        Millis(u64::try_from(t.timestamp_millis()).unwrap_or(0))
    }

    /// As a UTC date-time, for civil-time rules (calling hours, days).
    pub fn to_datetime(self) -> DateTime<Utc> {
        i64::try_from(self.0)
            .ok()
            .and_then(|ms| Utc.timestamp_millis_opt(ms).single())
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    /// The time from `earlier` to `self`, zero if `earlier` is later.
    pub fn since(self, earlier: Millis) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }

    /// Milliseconds from `earlier` to `self`, zero if `earlier` is later.
    pub fn ms_since(self, earlier: Millis) -> u64 {
        self.0.saturating_sub(earlier.0)
    }

    /// `self` plus `ms` milliseconds, saturating.
    pub fn plus_ms(self, ms: u64) -> Millis {
        Millis(self.0.saturating_add(ms))
    }

    /// `self` minus `ms` milliseconds, clamped at the epoch.
    pub fn minus_ms(self, ms: u64) -> Millis {
        Millis(self.0.saturating_sub(ms))
    }
}

impl Add<Duration> for Millis {
    type Output = Millis;
    fn add(self, d: Duration) -> Millis {
        self.plus_ms(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }
}

impl AddAssign<Duration> for Millis {
    fn add_assign(&mut self, d: Duration) {
        *self = *self + d;
    }
}

impl Sub<Duration> for Millis {
    type Output = Millis;
    fn sub(self, d: Duration) -> Millis {
        self.minus_ms(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }
}

impl Sub for Millis {
    type Output = Duration;
    /// Saturating: an instant before `rhs` gives zero.
    fn sub(self, rhs: Millis) -> Duration {
        self.since(rhs)
    }
}

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_datetime().format("%Y-%m-%dT%H:%M:%S%.3fZ"))
    }
}

/// The drivers' clock: Unix time read once, then advanced monotonically.
#[derive(Clone, Copy, Debug)]
pub struct MonotonicClock {
    base: std::time::Instant,
    base_unix: Millis,
}

impl MonotonicClock {
    /// A clock anchored at the system's wall time now.
    pub fn new() -> MonotonicClock {
        let unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        MonotonicClock {
            base: std::time::Instant::now(),
            base_unix: Millis(unix),
        }
    }

    /// Now, in the cores' time.
    pub fn now(&self) -> Millis {
        self.at(std::time::Instant::now())
    }

    /// A `std::time::Instant` of this process in the cores' time.
    pub fn at(&self, t: std::time::Instant) -> Millis {
        self.base_unix + t.saturating_duration_since(self.base)
    }

    /// When the core's deadline `at` falls on this process's `Instant` clock, for a
    /// driver's sleep.
    pub fn instant_of(&self, at: Millis) -> std::time::Instant {
        self.base + at.since(self.base_unix)
    }
}

impl Default for MonotonicClock {
    fn default() -> Self {
        MonotonicClock::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates() {
        let t = Millis(1_000);
        assert_eq!(t + Duration::from_millis(500), Millis(1_500));
        assert_eq!(t - Duration::from_secs(5), Millis::ZERO);
        assert_eq!(Millis(300) - t, Duration::ZERO);
        assert_eq!(t - Millis(250), Duration::from_millis(750));
        assert_eq!(Millis::NEVER.plus_ms(1), Millis::NEVER);
    }

    #[test]
    fn civil_time_round_trips() {
        let d = Utc.with_ymd_and_hms(2026, 12, 6, 22, 30, 0).unwrap();
        let m = Millis::from_datetime(&d);
        assert_eq!(m.to_datetime(), d);
        assert_eq!(m.as_unix_secs(), d.timestamp());
        assert_eq!(Millis::from_unix_secs(d.timestamp()), m);
        assert_eq!(m.to_string(), "2026-12-06T22:30:00.000Z");
    }

    #[test]
    fn clock_is_monotonic_and_maps_back() {
        let c = MonotonicClock::new();
        let a = c.now();
        let b = c.now();
        assert!(b >= a);
        let later = a.plus_ms(40);
        let i = c.instant_of(later);
        assert_eq!(c.at(i), later);
    }
}
