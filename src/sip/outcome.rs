//! Call progress: what a final SIP response (or its absence) means to the dialer.

use crate::policy::CallOutcome;

/// How a dial attempt ended, as the dialer and its retry policy see it, with the SIP code kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DialResult {
    /// 2xx: someone (or something) picked up.
    Answered,
    /// 486 Busy Here / 600 Busy Everywhere.
    Busy,
    /// We cancelled after the ring timeout, or 408/480 from the far end.
    NoAnswer,
    /// 603 Decline, or 487 when the callee (not we) ended the ringing.
    Rejected,
    /// 404 / 484 / 410 / 604: the number does not exist.
    InvalidNumber,
    /// 503 / 502 / 504 / 480 from a trunk that is out of capacity.
    Congestion,
    /// Anything else: auth failure, 4xx/5xx we cannot act on, transport errors.
    Failed,
}

impl DialResult {
    /// Classify a final response code. `we_cancelled` says whether a 487 was our CANCEL.
    pub fn from_final(code: u16, we_cancelled: bool) -> DialResult {
        match code {
            200..=299 => DialResult::Answered,
            486 | 600 => DialResult::Busy,
            487 if we_cancelled => DialResult::NoAnswer,
            408 | 480 => DialResult::NoAnswer,
            603 | 487 => DialResult::Rejected,
            404 | 410 | 484 | 604 => DialResult::InvalidNumber,
            502..=504 => DialResult::Congestion,
            _ => DialResult::Failed,
        }
    }

    /// The outcome the contact policy counts (congestion is a network failure to it).
    pub fn to_policy(self) -> CallOutcome {
        match self {
            DialResult::Answered => CallOutcome::Connected,
            DialResult::Busy => CallOutcome::Busy,
            DialResult::NoAnswer => CallOutcome::NoAnswer,
            DialResult::Rejected => CallOutcome::Rejected,
            DialResult::InvalidNumber => CallOutcome::InvalidNumber,
            DialResult::Congestion | DialResult::Failed => CallOutcome::Failed,
        }
    }
}

/// The standard reason phrase of a SIP status code (RFC 3261 §21 and the codes a
/// dialer meets), for sipfrag lines, `Reason` headers and the words of a call's record.
pub fn status_phrase(code: u16) -> &'static str {
    match code {
        100 => "Trying",
        180 => "Ringing",
        181 => "Call Is Being Forwarded",
        182 => "Queued",
        183 => "Session Progress",
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        410 => "Gone",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        484 => "Address Incomplete",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Server Time-out",
        600 => "Busy Everywhere",
        603 => "Decline",
        604 => "Does Not Exist Anywhere",
        606 => "Not Acceptable",
        c if c < 200 => "Progress",
        c if c < 300 => "OK",
        _ => "Failed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn final_codes_map_to_dialer_outcomes() {
        let cases = [
            (200, false, DialResult::Answered),
            (486, false, DialResult::Busy),
            (600, false, DialResult::Busy),
            (487, true, DialResult::NoAnswer),
            (487, false, DialResult::Rejected),
            (480, false, DialResult::NoAnswer),
            (603, false, DialResult::Rejected),
            (404, false, DialResult::InvalidNumber),
            (484, false, DialResult::InvalidNumber),
            (503, false, DialResult::Congestion),
            (403, false, DialResult::Failed),
            (500, false, DialResult::Failed),
        ];
        for (code, c, want) in cases {
            assert_eq!(DialResult::from_final(code, c), want, "{code}");
        }
        assert_eq!(DialResult::Congestion.to_policy(), CallOutcome::Failed);
        assert_eq!(DialResult::Answered.to_policy(), CallOutcome::Connected);
    }
}
