//! What flows in and out of the call core: inputs the driver observed, outputs it must
//! perform, and the SIP actions it executes through the stack. Kept apart from the state
//! machine so drivers and tests read the protocol of the core in one place.

use super::super::agent::EarlyVerdict;
use super::super::sdp::{LocalMedia, MediaParams};
use super::super::transfer::ReplacesDialog;
use crate::time::Millis;
use std::time::Duration;

/// What the call is configured to do; fixed before dialling.
#[derive(Clone, Debug)]
pub struct CallConfig {
    /// Our side of the session (RTP address, codecs, SDP version).
    pub local: LocalMedia,
    /// The Call-ID to use (drawn by the driver, seeded for reproducible tests).
    pub call_id: String,
    /// Our identity, for Referred-By.
    pub from: String,
    /// Cancel when nobody answers within this.
    pub ring_timeout: Duration,
    /// Whether digest credentials are configured, so a challenged INVITE can be answered.
    pub credentials: bool,
    /// Blind-transfer target.
    pub refer_to: Option<String>,
    /// Attended transfer: the agent to consult first.
    pub consult: Option<String>,
    /// How long a transfer may take to reach a final NOTIFY.
    pub transfer_timeout: Duration,
    /// Call the target ourselves when the customer's side refuses REFER, and relay the
    /// media between the two legs (voxdial stays in the path, so the human part is
    /// recorded); whoever held the customer's audio (the bot) stands aside meanwhile and
    /// gets the customer back if the bridge fails.
    pub bridge_fallback: bool,
    /// Transfer context for the agent console (`X-Voxdial-*`).
    pub context: Vec<(String, String)>,
    /// Whether there is a take-back announcement to play when a transfer fails (off
    /// when the agent announces a failed transfer itself, as the bot does).
    pub take_back_announcement: bool,
    /// End an answered call when the peer has sent no RTP for this long while it should
    /// be sending (not on hold): a peer that vanished without a BYE (a crashed gateway, a
    /// NAT binding gone) would otherwise hold a channel, a bot and perhaps a human agent
    /// for ever. None never ends it.
    pub media_timeout: Option<Duration>,
}

/// An in-dialog request the driver must answer; the id pairs it with [`SipAction::Respond`].
pub type RequestId = u64;

/// What happened on the wire, as the driver saw it.
#[derive(Clone, Debug)]
pub enum Input {
    /// A response (or the stack's verdict) to something we sent, received at an instant.
    Response(Millis, Response),
    /// A request from the peer, in our dialog, received at an instant.
    Request(Millis, Request),
    /// Time has reached this instant.
    Timeout(Millis),
    /// The peer's media was last received at this instant (the driver reports it when it
    /// has moved on, at the latest when the call's media deadline wakes it).
    MediaReceived(Millis),
    /// The agent (or the driver on its behalf) asks for something at an instant.
    Command(Millis, Command),
}

/// Responses to our requests.
#[derive(Clone, Debug)]
pub enum Response {
    /// A provisional response to the INVITE, with its SDP (early media) if any.
    Provisional {
        /// Its status code (180, 183...).
        code: u16,
        /// Its SDP body.
        sdp: Option<String>,
    },
    /// The final response to the INVITE.
    Final {
        /// Its status code.
        code: u16,
        /// Its status line text, for the report.
        reason: String,
        /// Its SDP body (the answer, on a 2xx).
        sdp: Option<String>,
        /// Its `Session-Expires` value.
        session_expires: Option<String>,
    },
    /// The stack ended the INVITE transaction without any final response.
    NoFinal,
    /// The final code of our REFER (None: no answer).
    Refer(Option<u16>),
    /// The final code of our re-INVITE (None: no answer).
    Reinvite(Option<u16>),
    /// The consultation call to the agent: connected, or its failure code.
    Consult(Result<ConsultLeg, Option<u16>>),
    /// The bridge call to the agent: connected, or its failure code.
    Bridge(Result<(), Option<u16>>),
}

/// The consultation leg as the call core needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsultLeg {
    /// Its dialog, for the Replaces header.
    pub dialog: ReplacesDialog,
    /// The agent's Contact, the default Refer-To target.
    pub contact: Option<String>,
}

/// Requests from the peer.
#[derive(Clone, Debug)]
pub enum Request {
    /// The dialog ended: the peer's BYE (or ours, confirmed by the stack).
    Terminated {
        /// Whether we ended it.
        by_us: bool,
    },
    /// A NOTIFY of the refer subscription.
    Notify {
        /// To answer it.
        id: RequestId,
        /// Its sipfrag status, when the body has one.
        sipfrag: Option<u16>,
        /// Whether its Subscription-State is terminated.
        terminated: bool,
    },
    /// Our consultation or bridge leg ended from its far side (its BYE, or the dialog
    /// died).
    AgentLegEnded {
        /// The SIP cause of its BYE's `Reason` header (RFC 3326), when it gave one: a
        /// target that hangs up because it cannot serve the customer (a queue with no
        /// agent: 480) says so there.
        cause: Option<u16>,
    },
    /// A re-INVITE (hold/resume or session refresh from the peer).
    Reinvite {
        /// To answer it.
        id: RequestId,
        /// Its SDP offer.
        sdp: String,
    },
    /// Another in-dialog request.
    Other {
        /// To answer it.
        id: RequestId,
        /// What it is.
        kind: OtherRequest,
    },
}

/// In-dialog requests the call only acknowledges or refuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OtherRequest {
    /// UPDATE, OPTIONS, INFO: acknowledged.
    Benign,
    /// REFER or MESSAGE to us: not something a bot does.
    Unsupported,
}

/// What an agent asks of the call.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// Hand the customer to a human.
    Transfer {
        /// The hand-off reason, carried to the agent console (`X-Voxdial-Reason`); none
        /// for a plain REFER.
        reason: Option<String>,
    },
    /// Hang up once this much queued audio has played.
    Hangup {
        /// How long the goodbye still needs.
        after: Duration,
    },
    /// Early media showed there is no person to reach: cancel.
    CancelEarly(EarlyVerdict),
    /// The app no longer wants the call (the queue's customer left while the agent's
    /// phone rang): CANCEL it while it rings, hang up at once if it was answered.
    Withdraw,
    /// Put the customer on hold (re-INVITE sendonly).
    Hold,
    /// Take the customer off hold.
    Resume,
    /// Send DTMF keys on the call's media.
    Dtmf(String),
    /// Call the transfer target now and relay media between the legs (agent-first's
    /// connection of an answered call to its queue), instead of a REFER.
    Bridge,
}

/// What the driver must do.
#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    /// Perform a SIP action through the stack.
    Send(SipAction),
    /// Start media with these parameters, or re-point running media at `params.remote`.
    StartMedia {
        /// What offer/answer settled.
        params: MediaParams,
        /// Whether this is early media (before the answer).
        early: bool,
    },
    /// Point running media at a new address (a re-INVITE moved it).
    MoveMedia(std::net::SocketAddr),
    /// Stop the call's media and put its counters in the report.
    StopMedia,
    /// Send these keys as RFC 4733 events on the call's media.
    SendDtmf(String),
    /// Send the customer's audio (and take what they hear) here from now on.
    Route(AudioRoute),
    /// Tell the driver or the agent something.
    Event(Event),
}

/// Who hears the customer, and whose audio the customer hears.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AudioRoute {
    /// The agent (the bot, a test call's script): the answered call's ordinary state.
    Agent,
    /// Nobody: the agent stands aside while the customer is bridged. It hears nothing, so
    /// it does no work and says nothing new; what it had queued still plays.
    Paused,
    /// The bridged leg: each side hears the other, relayed through us; the agent still
    /// hears nothing.
    Bridge,
}

/// A SIP action the driver performs through rsipstack.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SipAction {
    /// The initial INVITE with our offer.
    Invite {
        /// The SDP offer.
        offer: String,
        /// The Call-ID.
        call_id: String,
        /// Answer a 401/407 challenge with the configured digest credentials.
        authenticate: bool,
    },
    /// CANCEL the ringing INVITE.
    Cancel,
    /// Stop waiting for the INVITE (the peer never answered at all).
    Abandon,
    /// End the dialog, with a Reason header when there is one.
    Bye {
        /// RFC 3326 Reason value.
        reason: Option<String>,
    },
    /// A REFER in the dialog.
    Refer {
        /// The Refer-To value.
        refer_to: String,
        /// The Referred-By value.
        referred_by: String,
        /// Extra headers (`X-Voxdial-*`).
        headers: Vec<(String, String)>,
    },
    /// A re-INVITE with a new offer.
    Reinvite {
        /// The SDP offer.
        offer: String,
        /// The Session-Expires value, when a session timer runs.
        session_expires: Option<String>,
    },
    /// Place the consultation call to the agent (attended transfer).
    Consult {
        /// The agent.
        target: String,
    },
    /// Call the target with an INVITE of our own (the bridge fallback); the media is
    /// relayed once [`Output::Route`] says [`AudioRoute::Bridge`].
    Bridge {
        /// The target.
        target: String,
        /// Headers of the INVITE: the `X-Voxdial-*` context a REFER would have carried
        /// in its Refer-To, so the queue and the agent's phone see the same.
        headers: Vec<(String, String)>,
    },
    /// Hang up the consultation or bridge leg (unless the agent already did).
    EndAgentLeg,
    /// Answer an in-dialog request.
    Respond {
        /// Which request.
        id: RequestId,
        /// The status code.
        code: u16,
        /// An SDP answer.
        sdp: Option<String>,
    },
}

/// Things the call tells its driver and agent.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// The call was answered: start the agent.
    Answered,
    /// The transfer failed; the bot has the customer again.
    TransferFailed(String),
    /// The customer is with a human now.
    TransferCompleted,
    /// Play the take-back announcement (flushing what was queued).
    AnnounceTakeBack,
    /// The call is over; the report is ready ([`Call::take_report`]).
    Ended,
}
