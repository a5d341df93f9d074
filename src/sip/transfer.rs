//! Blind transfer by REFER (RFC 3515) as a sans-IO state machine: fed the REFER's
//! response, each NOTIFY's sipfrag and the time, it says when the transfer succeeded,
//! failed (and why), or timed out, so the call can go back to the bot.
//!
//! RFC 3515 lets the first NOTIFY overtake the 202, so a NOTIFY is accepted in any
//! state before the end.
//!
//! The REFER's `Refer-To` value (target, transfer context, RFC 3891 `Replaces` for an
//! attended transfer) is built here too, so the call core only says what it refers.

use crate::time::Millis;
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

impl std::fmt::Display for TransferFailure {
    /// The failure in words, for the call's record and the agent (a person reads them in
    /// `voxdial calls show`; the Debug form is for logs).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let coded = |code: u16| format!("{code} {}", super::outcome::status_phrase(code));
        match self {
            TransferFailure::ReferRejected { code } => {
                write!(f, "REFER refused ({})", coded(*code))
            }
            TransferFailure::TargetFailed { code } => {
                write!(f, "the transferred call failed ({})", coded(*code))
            }
            TransferFailure::Timeout => f.write_str("the transfer did not complete in time"),
            TransferFailure::CallEnded => f.write_str("the customer hung up during the transfer"),
            TransferFailure::ConsultFailed { code: Some(code) } => {
                write!(f, "the consultation call failed ({})", coded(*code))
            }
            TransferFailure::ConsultFailed { code: None } => {
                f.write_str("the consultation call was not answered in time")
            }
        }
    }
}

/// Why the bridge fallback (voxdial calling the target itself and relaying the media,
/// after the customer's phone refused REFER) did not leave the customer with a person.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "reason")]
pub enum BridgeFailure {
    /// Our INVITE to the target failed.
    Refused {
        /// Its final code (None: no final response in time).
        code: Option<u16>,
    },
    /// The target answered, then hung up saying it could not serve the customer: the
    /// cause of its BYE's `Reason` header (480 when a queue gave up waiting for an agent).
    GaveUp {
        /// The `Reason` header's SIP cause.
        cause: u16,
    },
}

impl std::fmt::Display for BridgeFailure {
    /// The failure in words, as [`TransferFailure`]'s.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let phrase = super::outcome::status_phrase;
        match self {
            BridgeFailure::Refused { code: Some(c) } => {
                write!(f, "bridge refused ({c} {})", phrase(*c))
            }
            BridgeFailure::Refused { code: None } => f.write_str("bridge not answered in time"),
            BridgeFailure::GaveUp { cause } => {
                write!(
                    f,
                    "the target gave up on the bridge ({cause} {})",
                    phrase(*cause)
                )
            }
        }
    }
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
    deadline: Millis,
}

impl BlindTransfer {
    /// A REFER sent at `now`, that must reach a final sipfrag within `limit`.
    pub fn new(now: Millis, limit: Duration) -> Self {
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
    pub fn deadline(&self) -> Millis {
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
    pub fn on_time(&mut self, now: Millis) {
        if !self.is_done() && now >= self.deadline {
            self.state = TransferState::Failed(TransferFailure::Timeout);
        }
    }
}

/// The dialog an attended transfer replaces (RFC 3891): our consultation call to the
/// agent, as identified from our side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplacesDialog {
    /// Its Call-ID.
    pub call_id: String,
    /// The agent's tag (the `to-tag` of the Replaces header).
    pub remote_tag: String,
    /// Our tag (the `from-tag`).
    pub local_tag: String,
}

/// The `Refer-To` header value for a REFER to `target`: the transfer context rides in the
/// URI's header part, because RFC 3515 has the customer's phone copy those headers into
/// its INVITE to the agent, which is where the agent console reads them; an attended
/// transfer adds `Replaces` so the agent's phone swaps our consultation leg for the
/// customer.
pub fn refer_to_value(
    target: &str,
    context: &[(String, String)],
    replaces: Option<&ReplacesDialog>,
) -> String {
    let mut headers: Vec<String> = Vec::new();
    if let Some(r) = replaces {
        let value = format!(
            "{};to-tag={};from-tag={}",
            r.call_id, r.remote_tag, r.local_tag
        );
        headers.push(format!("Replaces={}", escape_uri_header(&value)));
    }
    for (k, v) in context {
        headers.push(format!("X-Voxdial-{k}={}", escape_uri_header(v)));
    }
    if headers.is_empty() {
        format!("<{target}>")
    } else {
        format!("<{target}?{}>", headers.join("&"))
    }
}

/// Escape a header value for the `?name=value` part of a SIP URI (RFC 3261 §19.1.1).
pub fn escape_uri_header(v: &str) -> String {
    let mut out = String::with_capacity(v.len() * 2);
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()[]/:+$".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
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

/// The SIP cause of a `Reason` header value (RFC 3326: `SIP ;cause=480 ;text="..."`),
/// the way a peer that hangs up says why. None for another protocol (`Q.850`), or a
/// value without a usable cause. Reads at most the first 256 characters: the value comes
/// from the network.
pub fn reason_cause(value: &str) -> Option<u16> {
    let end = value
        .char_indices()
        .nth(256)
        .map_or(value.len(), |(i, _)| i);
    let head = &value[..end];
    let mut parts = head.split(';');
    if !parts.next()?.trim().eq_ignore_ascii_case("SIP") {
        return None;
    }
    let cause = parts.find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("cause")
            .then(|| v.trim().parse::<u16>().ok())?
    })?;
    (100..=699).contains(&cause).then_some(cause)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(n: u64) -> Millis {
        Millis(n * 1000)
    }

    fn limit() -> Duration {
        Duration::from_secs(30)
    }

    #[test]
    fn happy_path_with_notify_before_202() {
        let mut t = BlindTransfer::new(s(0), limit());
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
        let mut busy = BlindTransfer::new(s(0), limit());
        busy.on_refer_response(202);
        busy.on_notify(486, true);
        assert_eq!(
            busy.state(),
            &TransferState::Failed(TransferFailure::TargetFailed { code: 486 })
        );
        let mut refused = BlindTransfer::new(s(0), limit());
        refused.on_refer_response(405);
        assert_eq!(
            refused.state(),
            &TransferState::Failed(TransferFailure::ReferRejected { code: 405 })
        );
        let mut silent = BlindTransfer::new(s(0), limit());
        silent.on_refer_response(202);
        silent.on_time(s(29));
        assert!(!silent.is_done());
        silent.on_time(s(30));
        assert_eq!(
            silent.state(),
            &TransferState::Failed(TransferFailure::Timeout)
        );
        let mut gone = BlindTransfer::new(s(0), limit());
        gone.on_call_ended();
        assert_eq!(
            gone.state(),
            &TransferState::Failed(TransferFailure::CallEnded)
        );
        let mut gave_up = BlindTransfer::new(s(0), limit());
        gave_up.on_notify(100, true);
        assert!(matches!(gave_up.state(), TransferState::Failed(_)));
    }

    #[test]
    fn refer_to_carries_context_and_escaped_replaces() {
        assert_eq!(refer_to_value("sip:q@h", &[], None), "<sip:q@h>");
        let ctx = vec![("Reason".to_string(), "wants human".to_string())];
        assert_eq!(
            refer_to_value("sip:q@h", &ctx, None),
            "<sip:q@h?X-Voxdial-Reason=wants%20human>"
        );
        let r = ReplacesDialog {
            call_id: "abc@h".into(),
            remote_tag: "t1".into(),
            local_tag: "t2".into(),
        };
        assert_eq!(
            refer_to_value("sip:agent@h", &ctx, Some(&r)),
            "<sip:agent@h?Replaces=abc%40h%3Bto-tag%3Dt1%3Bfrom-tag%3Dt2&X-Voxdial-Reason=wants%20human>"
        );
    }

    #[test]
    fn failures_read_as_words() {
        assert_eq!(
            TransferFailure::ReferRejected { code: 603 }.to_string(),
            "REFER refused (603 Decline)"
        );
        assert_eq!(
            TransferFailure::TargetFailed { code: 486 }.to_string(),
            "the transferred call failed (486 Busy Here)"
        );
        assert_eq!(
            BridgeFailure::Refused { code: Some(480) }.to_string(),
            "bridge refused (480 Temporarily Unavailable)"
        );
        assert_eq!(
            BridgeFailure::Refused { code: None }.to_string(),
            "bridge not answered in time"
        );
        assert_eq!(
            BridgeFailure::GaveUp { cause: 480 }.to_string(),
            "the target gave up on the bridge (480 Temporarily Unavailable)"
        );
    }

    #[test]
    fn reason_header_causes() {
        assert_eq!(reason_cause("SIP;cause=480;text=\"No agent\""), Some(480));
        assert_eq!(reason_cause("SIP ;cause=488 ;text=\"x\""), Some(488));
        assert_eq!(reason_cause("sip; text=\"a\"; Cause = 200"), Some(200));
        for bad in [
            "Q.850;cause=16;text=\"Normal call clearing\"",
            "SIP;cause=99",
            "SIP;cause=abc",
            "SIP",
            "",
            "SIP;cause=70000",
        ] {
            assert_eq!(reason_cause(bad), None, "{bad:?}");
        }
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
