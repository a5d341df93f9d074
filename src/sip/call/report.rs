//! The account of one call that `voxdial call --json` prints and the dialer records: what
//! the SIP side came to, filled in by the call core and completed by its driver (media
//! counters, the agent's account).

use super::super::outcome::DialResult;
use super::super::transfer::{BridgeFailure, TransferState};
use crate::media::g711::G711;
use crate::media::stream::MediaReport;
use crate::policy::CallOutcome;

/// What a transfer attempt came to.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TransferReport {
    /// The target.
    pub target: String,
    /// The response code to the REFER, if one came.
    pub refer_code: Option<u16>,
    /// Sipfrag codes in the order the NOTIFYs carried them.
    pub notifies: Vec<u16>,
    /// Final state (completed or failed with the reason).
    pub result: TransferState,
    /// Whether the bot kept the call after a failure.
    pub bot_resumed: bool,
    /// Whether we bridged the customer to the agent ourselves (both legs kept, media
    /// relayed) because the customer's side refused REFER.
    pub bridged: bool,
    /// Media of our leg to the agent (consultation or bridge), when there was one.
    pub agent_media: Option<MediaReport>,
    /// Whether the bot told the customer the transfer failed (played `on_transfer_fail`).
    pub announced: bool,
    /// The bridge fallback, when the REFER was refused and we called the target ourselves.
    pub bridge: Option<BridgeReport>,
}

/// What the bridge fallback came to: voxdial calls the target itself and relays media
/// between the customer and it, because the customer's phone refused REFER.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct BridgeReport {
    /// The target's final code to our INVITE (None: none came in time, or not yet).
    pub code: Option<u16>,
    /// Why the customer was not left with the target, when it failed (the agent took
    /// the customer back).
    pub failure: Option<BridgeFailure>,
    /// Who ended the bridged call once connected: `customer` or `target`.
    pub ended_by: Option<&'static str>,
}

impl TransferReport {
    /// Whether the customer was handed over: the REFER completed, or the bridge
    /// connected and did not fail (the target, not the agent, ended up with them).
    pub fn handed_over(&self) -> bool {
        match &self.bridge {
            Some(b) => self.bridged && b.failure.is_none(),
            None => matches!(self.result, TransferState::Completed { .. }),
        }
    }

    /// Whether the hand-off went by bridge (the REFER was refused) rather than by REFER.
    pub fn by_bridge(&self) -> bool {
        self.bridge.is_some()
    }

    /// Why the hand-off failed, in words (`REFER refused (603 Decline); bridge refused
    /// (480 Temporarily Unavailable)`); None when the customer was handed over.
    pub fn failure(&self) -> Option<String> {
        if self.handed_over() {
            return None;
        }
        let refer = match &self.result {
            TransferState::Failed(f) => f.to_string(),
            TransferState::Requested | TransferState::Accepted { .. } => {
                "the transfer had not completed when the call ended".to_string()
            }
            TransferState::Completed { .. } => return None,
        };
        Some(
            match self.bridge.as_ref().and_then(|b| b.failure.as_ref()) {
                Some(b) => format!("{refer}; {b}"),
                None if self.bridge.is_some() => {
                    format!("{refer}; the customer hung up before the bridge connected")
                }
                None => refer,
            },
        )
    }
}

/// The outcome of one call, printed by `voxdial call --json`.
#[derive(Clone, Debug, serde::Serialize)]
pub struct CallReport {
    /// The SIP Call-ID of the INVITE: what a trunk's logs and a capture know the call by.
    pub call_id: String,
    /// The final response code to the INVITE (None when nothing came back).
    pub sip_code: Option<u16>,
    /// Its reason phrase or our explanation.
    pub reason: String,
    /// The dialer outcome.
    pub outcome: DialResult,
    /// Whether the call was answered.
    pub answered: bool,
    /// Whether early media (183 with SDP) started before answer.
    pub early_media: bool,
    /// INVITE to final response, in ms.
    pub setup_ms: u64,
    /// Answer to hang-up, in seconds.
    pub duration_s: f64,
    /// Who ended the call: `us`, `peer`, or null when it never connected.
    pub hangup_by: Option<&'static str>,
    /// The codec used.
    pub codec: Option<G711>,
    /// The SDP problem, when the answer was unusable.
    pub sdp_error: Option<String>,
    /// The transfer, when one was requested.
    pub transfer: Option<TransferReport>,
    /// Media counters.
    pub media: Option<MediaReport>,
    /// Final codes of the re-INVITEs we sent (hold, resume, session refreshes), in order.
    pub reinvites: Vec<Option<u16>>,
    /// The negotiated session-timer interval in seconds, when the peer asked for one.
    pub session_expires_s: Option<u64>,
    /// Whether the call ended because the peer stopped refreshing the session.
    pub session_expired: bool,
    /// Whether the call ended because the peer's RTP stopped ([`CallConfig::media_timeout`]).
    pub media_timeout: bool,
    /// What the contact policy counts: the SIP outcome, unless the call's agent found the
    /// answer was a machine or an announcement (call-progress detection).
    pub policy_outcome: CallOutcome,
    /// The agent's account of the call (transcript, turn latencies, call progress), when an
    /// agent held the conversation.
    pub agent: Option<serde_json::Value>,
}
