//! Blind transfer by REFER (RFC 3515) as a sans-IO state machine: fed the REFER's
//! response, each NOTIFY's sipfrag and the time, it says when the transfer succeeded,
//! failed (and why), or timed out, so the call can go back to the bot.
//!
//! RFC 3515 lets the first NOTIFY overtake the 202, so a NOTIFY is accepted in any
//! state before the end.

use std::time::Duration;

/// Why a transfer did not complete.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "reason")]
pub enum TransferFailure {
    /// The customer's phone refused the REFER itself (405/501: it cannot transfer; 4xx/5xx).
    ReferRejected {
        /// The response code to the REFER.
        code: u16,
    },
    /// The transfer target answered the referred INVITE with a failure (e.g. 486 busy agent).
    TargetFailed {
        /// The final sipfrag status.
        code: u16,
    },
    /// No final NOTIFY within the time limit.
    Timeout,
    /// The customer hung up while the transfer was pending.
    CallEnded,
    /// Attended transfer: the consultation call to the agent did not connect.
    ConsultFailed {
        /// The consultation INVITE's final code (None: no answer in time).
        code: Option<u16>,
    },
}

/// Where a transfer stands.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum TransferState {
    /// REFER sent, nothing back yet.
    Requested,
    /// 202 Accepted (or a provisional sipfrag seen); waiting for the final sipfrag.
    Accepted {
        /// The last provisional sipfrag code (100 Trying, 180 Ringing), if any.
        last: Option<u16>,
    },
    /// Final 2xx sipfrag: the customer is now talking to the target.
    Completed {
        /// The final sipfrag code.
        code: u16,
    },
    /// It did not work; the bot keeps the call.
    Failed(TransferFailure),
}

/// One REFER's life.
#[derive(Clone, Debug)]
pub struct BlindTransfer {
    state: TransferState,
    deadline: Duration,
}

impl BlindTransfer {
    /// A REFER sent at `now`, that must reach a final sipfrag within `limit`.
    pub fn new(now: Duration, limit: Duration) -> Self {
        BlindTransfer {
            state: TransferState::Requested,
            deadline: now + limit,
        }
    }

    /// The current state.
    pub fn state(&self) -> &TransferState {
        &self.state
    }

    /// Whether the transfer has ended one way or the other.
    pub fn is_done(&self) -> bool {
        matches!(
            self.state,
            TransferState::Completed { .. } | TransferState::Failed(_)
        )
    }

    /// When the caller must call `on_time` next.
    pub fn deadline(&self) -> Duration {
        self.deadline
    }

    /// The final response to the REFER.
    pub fn on_refer_response(&mut self, code: u16) {
        if self.is_done() {
            return;
        }
        match code {
            200..=299 => {
                if self.state == TransferState::Requested {
                    self.state = TransferState::Accepted { last: None };
                }
            }
            100..=199 => {}
            _ => self.state = TransferState::Failed(TransferFailure::ReferRejected { code }),
        }
    }

    /// A NOTIFY in the refer subscription: its sipfrag status code and whether its
    /// Subscription-State is terminated.
    pub fn on_notify(&mut self, sipfrag_code: u16, terminated: bool) {
        if self.is_done() {
            return;
        }
        self.state = match sipfrag_code {
            100..=199 if !terminated => TransferState::Accepted {
                last: Some(sipfrag_code),
            },
            200..=299 => TransferState::Completed { code: sipfrag_code },
            code @ 300..=699 => TransferState::Failed(TransferFailure::TargetFailed { code }),
            // A terminated subscription with only a provisional status: it gave up.
            code => TransferState::Failed(TransferFailure::TargetFailed { code }),
        };
    }

    /// Attended transfer: the consultation call failed before any REFER was sent.
    pub fn on_consult_failed(&mut self, code: Option<u16>) {
        if !self.is_done() {
            self.state = TransferState::Failed(TransferFailure::ConsultFailed { code });
        }
    }

    /// The customer's leg ended.
    pub fn on_call_ended(&mut self) {
        if !self.is_done() {
            self.state = TransferState::Failed(TransferFailure::CallEnded);
        }
    }

    /// Time passes.
    pub fn on_time(&mut self, now: Duration) {
        if !self.is_done() && now >= self.deadline {
            self.state = TransferState::Failed(TransferFailure::Timeout);
        }
    }
}

/// Read the status line of a `message/sipfrag` body (RFC 3420): `SIP/2.0 180 Ringing`.
pub fn parse_sipfrag(body: &[u8]) -> Option<u16> {
    let text = std::str::from_utf8(body).ok()?;
    let line = text.lines().map(str::trim).find(|l| !l.is_empty())?;
    let mut parts = line.split_whitespace();
    if !parts.next()?.eq_ignore_ascii_case("SIP/2.0") {
        return None;
    }
    let code: u16 = parts.next()?.parse().ok()?;
    (100..=699).contains(&code).then_some(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn happy_path_with_notify_before_202() {
        let mut t = BlindTransfer::new(s(0), s(30));
        t.on_notify(100, false);
        assert_eq!(t.state(), &TransferState::Accepted { last: Some(100) });
        t.on_refer_response(202);
        assert_eq!(t.state(), &TransferState::Accepted { last: Some(100) });
        t.on_notify(180, false);
        t.on_notify(200, true);
        assert_eq!(t.state(), &TransferState::Completed { code: 200 });
        t.on_time(s(100));
        assert!(t.is_done() && matches!(t.state(), TransferState::Completed { .. }));
    }

    #[test]
    fn failures_say_why() {
        let mut busy = BlindTransfer::new(s(0), s(30));
        busy.on_refer_response(202);
        busy.on_notify(486, true);
        assert_eq!(
            busy.state(),
            &TransferState::Failed(TransferFailure::TargetFailed { code: 486 })
        );
        let mut refused = BlindTransfer::new(s(0), s(30));
        refused.on_refer_response(405);
        assert_eq!(
            refused.state(),
            &TransferState::Failed(TransferFailure::ReferRejected { code: 405 })
        );
        let mut silent = BlindTransfer::new(s(0), s(30));
        silent.on_refer_response(202);
        silent.on_time(s(29));
        assert!(!silent.is_done());
        silent.on_time(s(30));
        assert_eq!(
            silent.state(),
            &TransferState::Failed(TransferFailure::Timeout)
        );
        let mut gone = BlindTransfer::new(s(0), s(30));
        gone.on_call_ended();
        assert_eq!(
            gone.state(),
            &TransferState::Failed(TransferFailure::CallEnded)
        );
        let mut gave_up = BlindTransfer::new(s(0), s(30));
        gave_up.on_notify(100, true);
        assert!(matches!(gave_up.state(), TransferState::Failed(_)));
    }

    #[test]
    fn sipfrag_bodies() {
        assert_eq!(parse_sipfrag(b"SIP/2.0 200 OK\r\n"), Some(200));
        assert_eq!(parse_sipfrag(b"\r\nSIP/2.0 180 Ringing"), Some(180));
        assert_eq!(
            parse_sipfrag(b"sip/2.0 486 Busy Here\r\nContact: x\r\n"),
            Some(486)
        );
        for bad in [
            &b""[..],
            b"HTTP/1.1 200 OK",
            b"SIP/2.0 abc",
            b"SIP/2.0 99 x",
            b"\xff\xfe",
        ] {
            assert_eq!(parse_sipfrag(bad), None, "{bad:?}");
        }
    }
}
