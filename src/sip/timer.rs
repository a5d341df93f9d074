//! Session timers (RFC 4028), sans-IO: read the negotiated `Session-Expires` and say when
//! we must refresh (we are the refresher) or when the session is dead (the peer was
//! supposed to refresh and did not).

use crate::time::Millis;
use std::time::Duration;

/// Who refreshes the session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refresher {
    /// We (the caller) send the refreshing re-INVITE.
    Us,
    /// The peer does; we only watch.
    Peer,
}

/// A negotiated session timer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionTimer {
    /// The session interval.
    pub interval: Duration,
    /// Who refreshes.
    pub refresher: Refresher,
}

impl SessionTimer {
    /// Read a `Session-Expires` value from the 2xx to our INVITE (we are the UAC).
    /// Without a refresher parameter the UAC refreshes (RFC 4028 §7.2 lets the UAS pick;
    /// a 2xx without it means the UAS left it to us).
    pub fn from_answer(value: &str) -> Option<SessionTimer> {
        let mut parts = value.split(';').map(str::trim);
        let secs: u64 = parts.next()?.parse().ok()?;
        if secs == 0 {
            return None;
        }
        let mut refresher = Refresher::Us;
        for p in parts {
            if let Some((k, v)) = p.split_once('=') {
                if k.trim().eq_ignore_ascii_case("refresher")
                    && v.trim().eq_ignore_ascii_case("uas")
                {
                    refresher = Refresher::Peer;
                }
            }
        }
        Some(SessionTimer {
            interval: Duration::from_secs(secs),
            refresher,
        })
    }

    /// When (after the last refresh at `since`) we must send the next refresh: half the
    /// interval, as RFC 4028 §10 recommends.
    pub fn refresh_due(&self, since: Millis) -> Option<Millis> {
        (self.refresher == Refresher::Us).then(|| since + self.interval / 2)
    }

    /// When (after the last refresh at `since`) a silent peer refresher means the session
    /// is gone: the interval minus min(32 s, a third of it) (RFC 4028 §10).
    pub fn expiry(&self, since: Millis) -> Option<Millis> {
        let margin = (self.interval / 3).min(Duration::from_secs(32));
        (self.refresher == Refresher::Peer).then(|| since + self.interval - margin)
    }

    /// The header value to send on our refresh.
    pub fn header_value(&self) -> String {
        format!("{};refresher=uac", self.interval.as_secs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresher_and_deadlines() {
        let us = SessionTimer::from_answer("1800;refresher=uac").expect("timer");
        assert_eq!(us.refresher, Refresher::Us);
        assert_eq!(us.refresh_due(Millis(10_000)), Some(Millis(910_000)));
        assert_eq!(us.expiry(Millis::ZERO), None);
        let peer = SessionTimer::from_answer(" 90 ; refresher = UAS").expect("timer");
        assert_eq!(peer.refresher, Refresher::Peer);
        assert_eq!(peer.expiry(Millis::ZERO), Some(Millis(60_000)));
        assert_eq!(peer.refresh_due(Millis::ZERO), None);
        assert_eq!(
            SessionTimer::from_answer("600").map(|t| t.refresher),
            Some(Refresher::Us)
        );
        for bad in ["", "abc", "0", "-5;refresher=uac"] {
            assert_eq!(SessionTimer::from_answer(bad), None, "{bad:?}");
        }
    }
}
