//! Per-source rate limiting of unsolicited SIP requests (scanners, floods): a token
//! bucket per source IP, sans-IO (time is passed in). Requests over the limit are
//! dropped without an answer, because answering would amplify the flood.

use crate::time::Millis;
use std::collections::HashMap;
use std::net::IpAddr;

/// A token bucket per source address.
#[derive(Debug)]
pub struct SourceLimiter {
    rate_per_s: f64,
    burst: f64,
    buckets: HashMap<IpAddr, (f64, Millis)>,
    max_sources: usize,
}

impl SourceLimiter {
    /// `rate_per_s` requests per second on average, `burst` at once, per source.
    pub fn new(rate_per_s: f64, burst: f64) -> Self {
        SourceLimiter {
            rate_per_s,
            burst,
            buckets: HashMap::new(),
            max_sources: 10_000,
        }
    }

    /// Whether a request from `src` at `now` may be processed.
    pub fn allow(&mut self, src: IpAddr, now: Millis) -> bool {
        if self.buckets.len() >= self.max_sources && !self.buckets.contains_key(&src) {
            // Forget sources whose buckets have refilled: they carry no state worth keeping.
            let (rate, burst) = (self.rate_per_s, self.burst);
            self.buckets
                .retain(|_, (tokens, at)| *tokens + now.since(*at).as_secs_f64() * rate < burst);
            if self.buckets.len() >= self.max_sources {
                return false;
            }
        }
        let (tokens, at) = self.buckets.entry(src).or_insert((self.burst, now));
        *tokens = (*tokens + now.since(*at).as_secs_f64() * self.rate_per_s).min(self.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_is_cut_to_the_rate_and_other_sources_are_unaffected() {
        let mut l = SourceLimiter::new(10.0, 20.0);
        let bad: IpAddr = "127.0.0.2".parse().expect("ip");
        let good: IpAddr = "127.0.0.3".parse().expect("ip");
        let mut allowed = 0;
        // 1000 requests in one second from one source.
        for i in 0..1000u64 {
            if l.allow(bad, Millis(i)) {
                allowed += 1;
            }
        }
        assert!((20..=31).contains(&allowed), "allowed {allowed}");
        assert!(l.allow(good, Millis(999)));
        // After a quiet second the flooder gets its burst back.
        assert!(l.allow(bad, Millis(3000)));
    }
}
