//! The account of one call that `voxdial call --json` prints and the dialer records: what
//! the SIP side came to, filled in by the call core and completed by its driver (media
//! counters, the agent's account).

use super::super::outcome::DialResult;
use super::super::transfer::TransferState;
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
    /// What the contact policy counts: the SIP outcome, unless the call's agent found the
    /// answer was a machine or an announcement (call-progress detection).
    pub policy_outcome: CallOutcome,
    /// The agent's account of the call (transcript, turn latencies, call progress), when an
    /// agent held the conversation.
    pub agent: Option<serde_json::Value>,
}
