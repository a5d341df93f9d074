//! What talks on an answered call: the seam between the SIP user agent, which owns the
//! dialog, and whatever holds the conversation (the speech bot, or a test double).
//!
//! The agent gets the call's media and runs on its own thread (speech work blocks on
//! models; the call's async loop must not). It asks the call for a transfer or a hang-up
//! through [`AgentCommand`]s, and hears what became of a transfer through [`CallEvent`]s.

use crate::media::stream::PlayoutQueue;
use crate::policy::CallOutcome;
use tokio::sync::mpsc;

/// The answered call's media, as the agent sees it.
pub struct AgentMedia {
    /// The customer's audio: 20 ms frames of 16 kHz PCM, one per media tick (concealed or
    /// silent when RTP is missing), so counting frames is the call's audio clock, except
    /// while the agent stands aside for a bridge ([`CallEvent::Back`] says how long).
    /// Closes when the call ends.
    pub inbound: mpsc::Receiver<Vec<i16>>,
    /// The bot's audio out (8 kHz); `flush` is barge-in.
    pub playout: PlayoutQueue,
    /// What the call did about the agent's commands.
    pub events: std::sync::mpsc::Receiver<CallEvent>,
}

/// What the agent asks of the call. Whatever is specific to one kind of agent (the
/// bot's hand-off reason, its goodbye) is an explicit field here, so the call core knows
/// commands, never which agent sent them.
#[derive(Clone, Debug, PartialEq)]
pub enum AgentCommand {
    /// Hand the customer to a human (REFER to the configured queue).
    Transfer {
        /// The hand-off reason code, carried to the agent console as `X-Voxdial-Reason`
        /// (None: a plain REFER, as a test call sends).
        reason: Option<String>,
    },
    /// End the call.
    Hangup {
        /// The conversation's outcome code.
        outcome: String,
        /// Let the queued audio play out first (and 300 ms more), as after a goodbye.
        after_playout: bool,
    },
    /// End the call because what the caller came for cannot be had here (a queue with no
    /// agent for the customer): an answered inbound call's BYE says why in a
    /// `Reason: SIP;cause=<cause>` header (RFC 3326), so a caller that bridged its
    /// customer here (voxdial's own bot call) takes them back instead of hanging up on
    /// them. On an outbound call it is a plain hang-up.
    GiveUp {
        /// The SIP status code that says why (480: nobody is available).
        cause: u16,
        /// Let the queued audio (a sorry message) play out first, as `Hangup`'s.
        after_playout: bool,
    },
    /// Send these keys as RFC 4733 events.
    Dtmf {
        /// The keys (`0-9*#A-D`).
        digits: String,
    },
    /// Put the customer on hold (re-INVITE sendonly).
    Hold,
    /// Take the customer off hold.
    Resume,
    /// Call the transfer target and relay the customer's audio with it, voxdial staying
    /// in the media path (agent-first connects every answered call to its queue so).
    /// The relay reads the customer's audio from then on: an agent reading it sees its
    /// inbound stream end. A bridge that cannot be placed comes back as
    /// [`CallEvent::TransferFailed`].
    Bridge,
}

/// What the call tells the agent.
#[derive(Clone, Debug, PartialEq)]
pub enum CallEvent {
    /// The transfer failed (no queue configured, REFER refused, agent busy, timeout): the
    /// bot has the customer again.
    TransferFailed(String),
    /// The customer is with a human now.
    TransferCompleted,
    /// The customer's audio is the agent's again, after the agent stood aside this long
    /// (while a bridge was tried): `inbound` had no frames meanwhile, so an agent that
    /// counts frames as its clock (the bot) moves it on by this much. Sent before the
    /// [`CallEvent::TransferFailed`] that hands the customer back.
    Back {
        /// How long the agent heard nothing, in ms.
        away_ms: u64,
    },
}

/// What the agent reports when the call is over.
#[derive(Clone, Debug, Default)]
pub struct AgentReport {
    /// Its account of the call (transcript, turn latencies, call-progress verdict), put in
    /// the call report as is.
    pub detail: serde_json::Value,
    /// An outcome for the contact policy that overrides the SIP one: an answered call that
    /// call-progress detection found to be a voicemail or a carrier announcement is not a
    /// conversation, and must be retried (or not) by its own rule.
    pub policy_outcome: Option<CallOutcome>,
}

/// What the agent made of early media: the call cannot reach a person (a carrier
/// announcement, a special information tone, a busy tone), so it is cancelled.
#[derive(Clone, Debug, PartialEq)]
pub struct EarlyVerdict {
    /// What the contact policy counts for the attempt.
    pub policy_outcome: CallOutcome,
    /// The evidence, put in the call report's `agent` field.
    pub detail: serde_json::Value,
}

/// Something that holds the conversation of an answered call.
pub trait CallAgent: Send + 'static {
    /// One 20 ms frame (16 kHz) of early media, before any answer. Called from the call's
    /// signalling loop, so it must not block. A verdict cancels the call.
    fn early_frame(&mut self, _now_ms: u64, _pcm: &[i16]) -> Option<EarlyVerdict> {
        None
    }

    /// Called once, when the call is answered. Returns the thread that runs the
    /// conversation; it must end when `media.inbound` closes.
    fn start(
        self: Box<Self>,
        media: AgentMedia,
        commands: mpsc::UnboundedSender<AgentCommand>,
    ) -> std::thread::JoinHandle<AgentReport>;
}
