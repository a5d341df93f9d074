//! The built-in human queue: a SIP address voxdial answers for the bot's hand-offs. It
//! plays hold audio, rings the longest-idle free agent's phone, bridges the customer and
//! the agent (voxdial stays in the media path, so the human part is recorded), and tracks
//! each agent's state.
//!
//! `core` decides (sans-IO, time as `Millis`); `serve` is its tokio driver over
//! `sip::uas` and `SipUa::call_with`; `config` is the shape `voxdial.yaml` embeds;
//! `hold` generates the hold tune. Agents' phones register with `sip::registrar`.

pub mod config;
pub mod core;
pub mod hold;
pub mod serve;

pub use config::{AgentAccount, QueueConfig, QueueConfigError};
pub use core::{
    AgentState, AgentStatus, CustomerId, CustomerStatus, GiveUpReason, Queue, QueueCounters,
    QueueOutput, QueueSettings,
};
pub use serve::{start, QueueError, QueueHandle, ServeOptions};

use serde::Serialize;
use std::path::PathBuf;

/// How a hand-off ended, for the call's record.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HandoffResult {
    /// The customer talked to an agent.
    Bridged,
    /// No agent was free (or logged in) within the wait; no agent was rung.
    NoAgent,
    /// Agents were rung but none answered; the last one's final SIP code (486 busy, 487
    /// when the ring timed out and was cancelled, 480 when the agent had no contact).
    AgentFailed(u16),
    /// The customer hung up before an agent answered.
    CustomerLeft,
}

/// One hand-off through the queue, reported to the service for the call's record.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HandoffRecord {
    /// The queue's name.
    pub queue: String,
    /// The `X-Voxdial-*` context the customer arrived with (key without the prefix).
    pub context: Vec<(String, String)>,
    /// The agent who took the call (or was rung last).
    pub agent: Option<String>,
    /// How long the customer waited before an agent answered or the wait ended.
    pub waited_ms: u64,
    /// How it ended.
    pub result: HandoffResult,
    /// Why the queue gave up, when it did (max wait, nobody logged in).
    pub give_up: Option<GiveUpReason>,
    /// How long the customer and the agent talked.
    pub talk_ms: u64,
    /// The stereo recording of the human part (customer left, agent right).
    pub recording: Option<PathBuf>,
}
