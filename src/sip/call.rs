//! One outbound call as a sans-IO state machine, in the style of str0m's `Rtc` and
//! quinn-proto's `Connection`: the driver feeds it what the SIP stack reported
//! ([`Input::Response`], [`Input::Request`]), what the agent asked ([`Input::Command`]) and
//! the time ([`Input::Timeout`]); it answers with [`Output`]s to execute and the instant it
//! next wants to be woken ([`Call::poll_timeout`]). It never reads a clock, sleeps, spawns
//! or touches a socket, so whole calls are tested by feeding it messages.
//!
//! rsipstack owns transactions and dialogs, so [`Output::Send`] carries a typed SIP action
//! (INVITE, CANCEL, BYE, REFER, re-INVITE, a response) rather than bytes: every decision
//! (ring timeout, what a final code means, early media, hold, session refresh, transfer,
//! take-back, the report) is made here; the driver only performs it.

use super::agent::EarlyVerdict;
use super::outcome::DialResult;
use super::sdp::{Direction, LocalMedia, MediaParams, SdpError};
use super::timer::SessionTimer;
use super::transfer::{
    refer_to_value, BlindTransfer, ReplacesDialog, TransferFailure, TransferState,
};
use crate::media::g711::G711;
use crate::media::stream::MediaReport;
use crate::policy::CallOutcome;
use crate::time::Millis;
use std::collections::VecDeque;
use std::time::Duration;

/// How long after the ring timeout a peer that sent nothing at all is given up: a CANCEL
/// waits for a provisional response (RFC 3261 §9.1), which such a peer never sends.
const GIVE_UP_AFTER_RING: Duration = Duration::from_secs(4);

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
    /// Bridge the agent ourselves when the customer's side refuses REFER.
    pub bridge_fallback: bool,
    /// Transfer context for the agent console (`X-Voxdial-*`).
    pub context: Vec<(String, String)>,
    /// Whether an agent holds the conversation (it then decides when to transfer and
    /// hang up, and announces a failed transfer itself).
    pub has_agent: bool,
    /// Whether there is a take-back announcement to play when a transfer fails.
    pub take_back_announcement: bool,
    /// The test-call script: timings relative to the answer.
    pub script: Script,
}

/// Timed actions of a test call, relative to the answer (`voxdial call` flags).
#[derive(Clone, Debug, Default)]
pub struct Script {
    /// Send the REFER this long after answer (only without an agent).
    pub refer_after: Duration,
    /// Hang up this long after answer.
    pub hangup_after: Option<Duration>,
    /// Put the customer on hold this long after answer, for this long.
    pub hold: Option<(Duration, Duration)>,
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
        /// The hand-off reason, carried to the agent console.
        reason: String,
    },
    /// Hang up once this much queued audio has played.
    Hangup {
        /// How long the goodbye still needs.
        after: Duration,
    },
    /// Early media showed there is no person to reach: cancel.
    CancelEarly(EarlyVerdict),
    /// Put the customer on hold (re-INVITE sendonly).
    Hold,
    /// Take the customer off hold.
    Resume,
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
    /// Tell the driver or the agent something.
    Event(Event),
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
    /// Call the target and relay media between the legs (the bridge fallback).
    Bridge {
        /// The target.
        target: String,
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
    /// The call was answered: start the agent, play the script's audio and DTMF.
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

/// Where the call's hold stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HoldState {
    /// Not put on hold.
    Active,
    /// On hold (we sent sendonly).
    Held,
    /// Taken off hold again.
    Resumed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Idle,
    Ringing,
    Answered,
    Ended,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ReinvitePurpose {
    Hold,
    Resume,
    Refresh,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AgentLeg {
    None,
    Consulting,
    Consulted,
    Bridging,
    Bridged,
}

/// One outbound call (see the module doc).
#[derive(Debug)]
pub struct Call {
    cfg: CallConfig,
    phase: Phase,
    out: VecDeque<Output>,
    report: Option<CallReport>,
    started: Millis,
    ring_deadline: Millis,
    give_up: Millis,
    cancelled: bool,
    early_media: bool,
    media_started: bool,
    early_verdict: Option<EarlyVerdict>,
    answered_at: Millis,
    timer: Option<SessionTimer>,
    last_refresh: Millis,
    sdp_version: u64,
    hold: HoldState,
    hold_at: Option<Millis>,
    resume_at: Option<Millis>,
    hangup_at: Option<Millis>,
    refer_at: Option<Millis>,
    reinvite_pending: Option<ReinvitePurpose>,
    context: Vec<(String, String)>,
    transfer: Option<(BlindTransfer, TransferReport)>,
    agent_leg: AgentLeg,
}

impl Call {
    /// A call that dials when first given time or [`Call::start`].
    pub fn new(cfg: CallConfig) -> Call {
        let context = cfg.context.clone();
        let sdp_version = cfg.local.version;
        Call {
            cfg,
            phase: Phase::Idle,
            out: VecDeque::new(),
            report: None,
            started: Millis::ZERO,
            ring_deadline: Millis::NEVER,
            give_up: Millis::NEVER,
            cancelled: false,
            early_media: false,
            media_started: false,
            early_verdict: None,
            answered_at: Millis::ZERO,
            timer: None,
            last_refresh: Millis::ZERO,
            sdp_version,
            hold: HoldState::Active,
            hold_at: None,
            resume_at: None,
            hangup_at: None,
            refer_at: None,
            reinvite_pending: None,
            context,
            transfer: None,
            agent_leg: AgentLeg::None,
        }
    }

    /// Send the INVITE at `now`.
    pub fn start(&mut self, now: Millis) {
        if self.phase != Phase::Idle {
            return;
        }
        self.phase = Phase::Ringing;
        self.started = now;
        self.ring_deadline = now + self.cfg.ring_timeout;
        self.give_up = now + self.cfg.ring_timeout + GIVE_UP_AFTER_RING;
        self.send(SipAction::Invite {
            offer: self.cfg.local.offer(Direction::SendRecv),
            call_id: self.cfg.call_id.clone(),
            authenticate: self.cfg.credentials,
        });
    }

    /// Whether the call is over.
    pub fn is_ended(&self) -> bool {
        self.phase == Phase::Ended
    }

    /// The hold state.
    pub fn hold_state(&self) -> HoldState {
        self.hold
    }

    /// The final report, once [`Event::Ended`] was emitted.
    pub fn take_report(&mut self) -> Option<CallReport> {
        self.report.take()
    }

    /// The next thing to do.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// When the call next needs [`Input::Timeout`]; None once it is over.
    pub fn poll_timeout(&self) -> Option<Millis> {
        match self.phase {
            Phase::Idle | Phase::Ended => None,
            Phase::Ringing => Some(if self.cancelled {
                self.give_up
            } else {
                self.ring_deadline.min(self.give_up)
            }),
            Phase::Answered => [
                self.hangup_at,
                self.refer_due(),
                self.transfer
                    .as_ref()
                    .filter(|(t, _)| !t.is_done())
                    .map(|(t, _)| t.deadline()),
                self.refresh_due(),
                self.timer.and_then(|t| t.expiry(self.last_refresh)),
                self.hold_due(),
            ]
            .into_iter()
            .flatten()
            .min(),
        }
    }

    /// Feed one input.
    pub fn handle_input(&mut self, input: Input) {
        match input {
            Input::Timeout(now) => self.on_timeout(now),
            Input::Response(now, r) => self.on_response(now, r),
            Input::Request(now, r) => self.on_request(now, r),
            Input::Command(now, c) => self.on_command(now, c),
        }
    }

    fn send(&mut self, action: SipAction) {
        self.out.push_back(Output::Send(action));
    }

    fn event(&mut self, e: Event) {
        self.out.push_back(Output::Event(e));
    }

    fn refer_due(&self) -> Option<Millis> {
        self.refer_at.filter(|_| self.transfer.is_none())
    }

    fn refresh_due(&self) -> Option<Millis> {
        if self.reinvite_pending.is_some() {
            return None;
        }
        self.timer.and_then(|t| t.refresh_due(self.last_refresh))
    }

    fn hold_due(&self) -> Option<Millis> {
        if self.reinvite_pending.is_some() {
            return None;
        }
        match self.hold {
            HoldState::Active => self.hold_at,
            HoldState::Held => self.resume_at,
            HoldState::Resumed => None,
        }
    }

    fn on_timeout(&mut self, now: Millis) {
        match self.phase {
            Phase::Idle => self.start(now),
            Phase::Ringing => {
                if now >= self.give_up {
                    self.send(SipAction::Abandon);
                    let reason = "no response from the callee".to_string();
                    self.finish_unanswered(now, None, reason, DialResult::Failed);
                } else if now >= self.ring_deadline && !self.cancelled {
                    tracing::info!("ring timeout: sending CANCEL");
                    self.cancelled = true;
                    self.send(SipAction::Cancel);
                }
            }
            Phase::Answered => self.on_answered_timeout(now),
            Phase::Ended => {}
        }
    }

    fn on_answered_timeout(&mut self, now: Millis) {
        if self.hangup_at.is_some_and(|t| now >= t) {
            self.send(SipAction::Bye { reason: None });
            self.end(now, Some("us"));
            return;
        }
        if self
            .timer
            .and_then(|t| t.expiry(self.last_refresh))
            .is_some_and(|t| now >= t)
        {
            tracing::info!("the peer stopped refreshing the session; ending it");
            self.send(SipAction::Bye { reason: None });
            if let Some(r) = self.report.as_mut() {
                r.session_expired = true;
            }
            self.end(now, Some("us"));
            return;
        }
        if self.refer_due().is_some_and(|t| now >= t) {
            self.begin_transfer(now);
        }
        if let Some((t, _)) = self.transfer.as_mut() {
            t.on_time(now);
        }
        if self.refresh_due().is_some_and(|t| now >= t) {
            self.reinvite(Direction::SendRecv, ReinvitePurpose::Refresh);
        } else if self.hold_due().is_some_and(|t| now >= t) {
            match self.hold {
                HoldState::Active => self.reinvite(Direction::SendOnly, ReinvitePurpose::Hold),
                HoldState::Held => self.reinvite(Direction::SendRecv, ReinvitePurpose::Resume),
                HoldState::Resumed => {}
            }
        }
        self.check_transfer(now);
    }

    fn reinvite(&mut self, dir: Direction, purpose: ReinvitePurpose) {
        self.sdp_version += 1;
        let offer = LocalMedia {
            version: self.sdp_version,
            ..self.cfg.local.clone()
        }
        .offer(dir);
        self.reinvite_pending = Some(purpose);
        self.send(SipAction::Reinvite {
            offer,
            session_expires: self.timer.map(|t| t.header_value()),
        });
    }

    fn on_response(&mut self, now: Millis, r: Response) {
        match r {
            Response::Provisional { sdp, .. } => {
                if self.phase != Phase::Ringing || self.media_started {
                    return;
                }
                if let Some(Ok(params)) = sdp.map(|b| self.cfg.local.read_answer(&b)) {
                    self.media_started = true;
                    self.early_media = true;
                    self.out.push_back(Output::StartMedia {
                        params,
                        early: true,
                    });
                }
            }
            Response::Final {
                code,
                reason,
                sdp,
                session_expires,
            } => {
                if self.phase == Phase::Ringing {
                    self.on_final(now, code, reason, sdp, session_expires);
                }
            }
            Response::NoFinal => {
                if self.phase == Phase::Ringing {
                    let reason = if self.cancelled {
                        "no answer before the ring timeout"
                    } else {
                        "no final response"
                    };
                    let outcome = if self.cancelled {
                        DialResult::NoAnswer
                    } else {
                        DialResult::Failed
                    };
                    self.finish_unanswered(now, None, reason.into(), outcome);
                }
            }
            Response::Refer(code) => {
                if let Some((t, rep)) = self.transfer.as_mut() {
                    rep.refer_code = code;
                    t.on_refer_response(code.unwrap_or(408));
                }
                self.check_transfer(now);
            }
            Response::Reinvite(code) => {
                let Some(purpose) = self.reinvite_pending.take() else {
                    return;
                };
                if self.phase != Phase::Answered {
                    return;
                }
                if let Some(r) = self.report.as_mut() {
                    r.reinvites.push(code);
                }
                match purpose {
                    ReinvitePurpose::Hold => self.hold = HoldState::Held,
                    ReinvitePurpose::Resume => self.hold = HoldState::Resumed,
                    ReinvitePurpose::Refresh => {
                        self.last_refresh = now;
                        if matches!(code, Some(408 | 481) | None) {
                            // RFC 4028 §10: a refresh that cannot reach the dialog ends
                            // the session.
                            self.send(SipAction::Bye { reason: None });
                            if let Some(r) = self.report.as_mut() {
                                r.session_expired = true;
                            }
                            self.end(now, Some("us"));
                        }
                    }
                }
            }
            Response::Consult(result) => {
                if self.agent_leg != AgentLeg::Consulting || self.phase != Phase::Answered {
                    return;
                }
                match result {
                    Ok(leg) => {
                        self.agent_leg = AgentLeg::Consulted;
                        if let Some((_, rep)) = self.transfer.as_mut() {
                            if self.cfg.refer_to.is_none() {
                                rep.target = leg
                                    .contact
                                    .clone()
                                    .or_else(|| self.cfg.consult.clone())
                                    .unwrap_or_default();
                            }
                            let refer_to =
                                refer_to_value(&rep.target, &self.context, Some(&leg.dialog));
                            self.send_refer(refer_to);
                        }
                    }
                    Err(code) => {
                        self.agent_leg = AgentLeg::None;
                        if let Some((t, _)) = self.transfer.as_mut() {
                            t.on_consult_failed(code);
                        }
                    }
                }
                self.check_transfer(now);
            }
            Response::Bridge(result) => {
                if self.agent_leg != AgentLeg::Bridging {
                    return;
                }
                match result {
                    Ok(()) => {
                        self.agent_leg = AgentLeg::Bridged;
                        if let Some((_, rep)) = self.transfer.as_mut() {
                            rep.bridged = true;
                        }
                    }
                    Err(code) => {
                        tracing::info!(?code, "bridge call failed; the bot keeps the call");
                        self.agent_leg = AgentLeg::None;
                        if let Some((_, rep)) = self.transfer.as_mut() {
                            rep.bot_resumed = true;
                        }
                    }
                }
            }
        }
    }

    fn new_report(
        &self,
        now: Millis,
        code: Option<u16>,
        reason: String,
        outcome: DialResult,
    ) -> CallReport {
        CallReport {
            sip_code: code,
            reason,
            outcome,
            answered: false,
            early_media: self.early_media,
            setup_ms: now.ms_since(self.started),
            duration_s: 0.0,
            hangup_by: None,
            codec: None,
            sdp_error: None,
            transfer: None,
            media: None,
            reinvites: vec![],
            session_expires_s: None,
            session_expired: false,
            policy_outcome: outcome.to_policy(),
            agent: None,
        }
    }

    /// The call ends before an answer: say why, stop early media.
    fn finish_unanswered(
        &mut self,
        now: Millis,
        code: Option<u16>,
        reason: String,
        outcome: DialResult,
    ) {
        let mut report = self.new_report(now, code, reason, outcome);
        self.apply_early_verdict(&mut report);
        self.report = Some(report);
        if self.media_started {
            self.out.push_back(Output::StopMedia);
        }
        self.phase = Phase::Ended;
        self.event(Event::Ended);
    }

    fn apply_early_verdict(&mut self, report: &mut CallReport) {
        if let Some(v) = self.early_verdict.take() {
            report.reason = "cancelled: call progress on early media".into();
            report.policy_outcome = v.policy_outcome;
            report.agent = Some(serde_json::json!({ "early_media": v.detail }));
        }
    }

    fn on_final(
        &mut self,
        now: Millis,
        code: u16,
        reason: String,
        sdp: Option<String>,
        session_expires: Option<String>,
    ) {
        let outcome = DialResult::from_final(code, self.cancelled);
        if outcome != DialResult::Answered {
            self.finish_unanswered(now, Some(code), reason, outcome);
            return;
        }
        let mut report = self.new_report(now, Some(code), reason, outcome);
        self.apply_early_verdict(&mut report);
        if self.cancelled {
            // A 2xx after our CANCEL crossed it: the stack BYEs it; treat as no answer.
            report.outcome = DialResult::NoAnswer;
            if report.agent.is_none() {
                report.policy_outcome = report.outcome.to_policy();
            }
            self.report = Some(report);
            self.phase = Phase::Ended;
            self.event(Event::Ended);
            return;
        }
        report.answered = true;
        self.phase = Phase::Answered;
        self.answered_at = now;
        let params = match self.cfg.local.read_answer(sdp.as_deref().unwrap_or("")) {
            Ok(p) => p,
            Err(e) => {
                // RFC 3264: an unusable answer ends the call; say why.
                report.sdp_error = Some(e.to_string());
                self.report = Some(report);
                self.send(SipAction::Bye {
                    reason: Some(sdp_reason(&e)),
                });
                self.end(now, Some("us"));
                return;
            }
        };
        report.codec = Some(params.codec);
        self.timer = session_expires
            .as_deref()
            .and_then(SessionTimer::from_answer);
        report.session_expires_s = self.timer.map(|t| t.interval.as_secs());
        self.report = Some(report);
        self.media_started = true;
        self.out.push_back(Output::StartMedia {
            params,
            early: false,
        });
        self.event(Event::Answered);
        self.last_refresh = now;
        let script = &self.cfg.script;
        self.hold_at = script.hold.map(|(after, _)| now + after);
        self.resume_at = script.hold.map(|(after, len)| now + after + len);
        self.hangup_at = script.hangup_after.map(|d| now + d);
        // With an agent, the conversation decides when to transfer; without, the script.
        self.refer_at =
            (self.has_target() && !self.cfg.has_agent).then(|| now + script.refer_after);
    }

    fn has_target(&self) -> bool {
        self.cfg.refer_to.is_some() || self.cfg.consult.is_some()
    }

    fn begin_transfer(&mut self, now: Millis) {
        let t = BlindTransfer::new(now, self.cfg.transfer_timeout);
        let target = self.cfg.refer_to.clone().unwrap_or_default();
        let rep = TransferReport {
            target: target.clone(),
            refer_code: None,
            notifies: vec![],
            result: TransferState::Requested,
            bot_resumed: false,
            bridged: false,
            agent_media: None,
            announced: false,
        };
        self.transfer = Some((t, rep));
        match self.cfg.consult.clone() {
            Some(agent) => {
                self.agent_leg = AgentLeg::Consulting;
                self.send(SipAction::Consult { target: agent });
            }
            None => {
                let refer_to = refer_to_value(&target, &self.context, None);
                self.send_refer(refer_to);
            }
        }
    }

    fn send_refer(&mut self, refer_to: String) {
        let headers = self
            .context
            .iter()
            .map(|(k, v)| (format!("X-Voxdial-{k}"), v.clone()))
            .collect();
        self.send(SipAction::Refer {
            refer_to,
            referred_by: format!("<{}>", self.cfg.from),
            headers,
        });
    }

    fn on_request(&mut self, now: Millis, r: Request) {
        match r {
            Request::Terminated { by_us } => {
                if self.phase == Phase::Answered {
                    self.end(now, Some(if by_us { "us" } else { "peer" }));
                }
            }
            Request::Notify {
                id,
                sipfrag,
                terminated,
            } => {
                self.send(SipAction::Respond {
                    id,
                    code: 200,
                    sdp: None,
                });
                if let (Some((t, rep)), Some(c)) = (self.transfer.as_mut(), sipfrag) {
                    rep.notifies.push(c);
                    t.on_notify(c, terminated);
                }
                self.check_transfer(now);
            }
            Request::Reinvite { id, sdp } => {
                self.last_refresh = now;
                match self.cfg.local.answer(&sdp) {
                    Ok((answer, p)) => {
                        self.out.push_back(Output::MoveMedia(p.remote));
                        self.send(SipAction::Respond {
                            id,
                            code: 200,
                            sdp: Some(answer),
                        });
                    }
                    Err(e) => {
                        tracing::info!(error = %e, "re-INVITE offer refused");
                        self.send(SipAction::Respond {
                            id,
                            code: 488,
                            sdp: None,
                        });
                    }
                }
            }
            Request::Other { id, kind } => {
                let code = match kind {
                    OtherRequest::Benign => 200,
                    OtherRequest::Unsupported => 405,
                };
                self.send(SipAction::Respond {
                    id,
                    code,
                    sdp: None,
                });
            }
        }
    }

    fn on_command(&mut self, now: Millis, c: Command) {
        match c {
            Command::CancelEarly(v) => {
                if self.phase == Phase::Ringing && !self.cancelled {
                    tracing::info!(outcome = ?v.policy_outcome, "early media: no person to reach; sending CANCEL");
                    self.early_verdict = Some(v);
                    self.cancelled = true;
                    self.send(SipAction::Cancel);
                }
            }
            _ if self.phase != Phase::Answered => {}
            Command::Transfer { reason } => {
                if self.transfer.is_some() || self.refer_at.is_some() {
                    tracing::info!("transfer already under way; request ignored");
                } else if self.has_target() {
                    self.context.push(("Reason".into(), reason));
                    self.refer_at = Some(now);
                    self.begin_transfer(now);
                    self.check_transfer(now);
                } else {
                    tracing::info!(%reason, "transfer requested but no queue is configured");
                    self.event(Event::TransferFailed("no_queue".into()));
                }
            }
            Command::Hangup { after } => {
                let at = now + after;
                self.hangup_at = Some(self.hangup_at.map_or(at, |h| h.min(at)));
            }
            Command::Hold => {
                if self.hold != HoldState::Held && self.reinvite_pending.is_none() {
                    self.reinvite(Direction::SendOnly, ReinvitePurpose::Hold);
                }
            }
            Command::Resume => {
                if self.hold == HoldState::Held && self.reinvite_pending.is_none() {
                    self.reinvite(Direction::SendRecv, ReinvitePurpose::Resume);
                }
            }
        }
    }

    /// Act on a transfer that has just reached its end.
    fn check_transfer(&mut self, now: Millis) {
        if self.phase != Phase::Answered {
            return;
        }
        let Some((t, rep)) = self.transfer.as_mut() else {
            return;
        };
        if !t.is_done() || rep.result == *t.state() {
            return;
        }
        rep.result = t.state().clone();
        match t.state().clone() {
            TransferState::Completed { .. } => {
                self.event(Event::TransferCompleted);
                // The customer is with the agent now: our leg ends.
                self.send(SipAction::Bye { reason: None });
                self.end(now, Some("us"));
            }
            TransferState::Failed(TransferFailure::ReferRejected { code })
                if self.cfg.bridge_fallback
                    && self.agent_leg == AgentLeg::None
                    && !self.cfg.has_agent =>
            {
                // The customer's phone cannot transfer: call the agent ourselves and
                // relay media between the two legs.
                tracing::info!(code, "REFER refused; bridging to the agent");
                let target = rep.target.clone();
                self.agent_leg = AgentLeg::Bridging;
                self.send(SipAction::Bridge { target });
            }
            TransferState::Failed(why) => {
                tracing::info!(?why, "transfer failed; the bot keeps the call");
                rep.bot_resumed = true;
                let announce = self.cfg.take_back_announcement && !self.cfg.has_agent;
                if announce {
                    rep.announced = true;
                }
                self.event(Event::TransferFailed(format!("{why:?}")));
                if announce {
                    self.event(Event::AnnounceTakeBack);
                }
            }
            _ => {}
        }
    }

    /// The answered call is over: close the transfer, the agent's leg and the media.
    fn end(&mut self, now: Millis, by: Option<&'static str>) {
        if self.phase == Phase::Ended {
            return;
        }
        self.phase = Phase::Ended;
        let mut transfer = self.transfer.take().map(|(mut t, mut rep)| {
            if !t.is_done() {
                t.on_call_ended();
            }
            rep.result = t.state().clone();
            rep
        });
        if let Some(r) = self.report.as_mut() {
            r.hangup_by = by;
            r.duration_s = now.since(self.answered_at).as_secs_f64();
            r.transfer = transfer.take();
        }
        if matches!(self.agent_leg, AgentLeg::Consulted | AgentLeg::Bridged) {
            self.send(SipAction::EndAgentLeg);
        }
        self.out.push_back(Output::StopMedia);
        self.event(Event::Ended);
    }
}

fn sdp_reason(e: &SdpError) -> String {
    format!("SIP ;cause=488 ;text=\"{e}\"")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::g711::G711;

    const T0: Millis = Millis(1_000_000);

    fn at(ms: u64) -> Millis {
        T0.plus_ms(ms)
    }

    fn local() -> LocalMedia {
        LocalMedia {
            addr: "127.0.0.1:40000".parse().expect("addr"),
            codecs: vec![G711::Ulaw, G711::Alaw],
            dtmf_pt: 101,
            session_id: 42,
            version: 1,
        }
    }

    /// The peer's SDP: PCMA only, at its own RTP address.
    fn peer_sdp(port: u16) -> String {
        LocalMedia {
            addr: format!("127.0.0.1:{port}").parse().expect("addr"),
            codecs: vec![G711::Alaw],
            dtmf_pt: 101,
            session_id: 7,
            version: 1,
        }
        .offer(Direction::SendRecv)
    }

    fn peer_params(port: u16) -> MediaParams {
        local().read_answer(&peer_sdp(port)).expect("answer")
    }

    fn config() -> CallConfig {
        CallConfig {
            local: local(),
            call_id: "c1@voxdial".into(),
            from: "sip:bot@127.0.0.1".into(),
            ring_timeout: Duration::from_secs(30),
            credentials: false,
            refer_to: None,
            consult: None,
            transfer_timeout: Duration::from_secs(10),
            bridge_fallback: false,
            context: vec![],
            has_agent: false,
            take_back_announcement: false,
            script: Script::default(),
        }
    }

    fn drain(c: &mut Call) -> Vec<Output> {
        std::iter::from_fn(|| c.poll_output()).collect()
    }

    fn invite(cfg: &CallConfig) -> Output {
        Output::Send(SipAction::Invite {
            offer: cfg.local.offer(Direction::SendRecv),
            call_id: cfg.call_id.clone(),
            authenticate: cfg.credentials,
        })
    }

    fn ok_200(port: u16, se: Option<&str>) -> Response {
        Response::Final {
            code: 200,
            reason: "OK".into(),
            sdp: Some(peer_sdp(port)),
            session_expires: se.map(str::to_string),
        }
    }

    fn final_(code: u16, reason: &str) -> Response {
        Response::Final {
            code,
            reason: reason.into(),
            sdp: None,
            session_expires: None,
        }
    }

    /// Dial and answer at +1 s; returns the call with its outputs drained.
    fn answered(cfg: CallConfig, se: Option<&str>) -> Call {
        let mut c = Call::new(cfg.clone());
        c.start(T0);
        assert_eq!(drain(&mut c), vec![invite(&cfg)]);
        c.handle_input(Input::Response(at(1000), ok_200(30000, se)));
        assert_eq!(
            drain(&mut c),
            vec![
                Output::StartMedia {
                    params: peer_params(30000),
                    early: false
                },
                Output::Event(Event::Answered),
            ]
        );
        c
    }

    fn ended() -> Vec<Output> {
        vec![Output::StopMedia, Output::Event(Event::Ended)]
    }

    fn bye() -> Output {
        Output::Send(SipAction::Bye { reason: None })
    }

    fn with_refer(mut cfg: CallConfig) -> CallConfig {
        cfg.refer_to = Some("sip:queue@127.0.0.1".into());
        cfg.script.refer_after = Duration::from_secs(2);
        cfg
    }

    fn refer_sent(cfg: &CallConfig) -> Output {
        Output::Send(SipAction::Refer {
            refer_to: "<sip:queue@127.0.0.1>".into(),
            referred_by: format!("<{}>", cfg.from),
            headers: vec![],
        })
    }

    fn notify(id: RequestId, code: u16, terminated: bool) -> Input {
        Input::Request(
            at(4000 + id),
            Request::Notify {
                id,
                sipfrag: Some(code),
                terminated,
            },
        )
    }

    fn respond_ok(id: RequestId) -> Output {
        Output::Send(SipAction::Respond {
            id,
            code: 200,
            sdp: None,
        })
    }

    #[test]
    fn answered_call_then_remote_bye() {
        let mut c = answered(config(), None);
        assert_eq!(c.poll_timeout(), None, "nothing scheduled on a plain call");
        c.handle_input(Input::Request(
            at(6000),
            Request::Terminated { by_us: false },
        ));
        assert_eq!(drain(&mut c), ended());
        assert!(c.is_ended());
        let r = c.take_report().expect("report");
        assert_eq!(r.sip_code, Some(200));
        assert_eq!(r.outcome, DialResult::Answered);
        assert!(r.answered && !r.early_media);
        assert_eq!(r.setup_ms, 1000);
        assert_eq!(r.duration_s, 5.0);
        assert_eq!(r.hangup_by, Some("peer"));
        assert_eq!(r.codec, Some(G711::Alaw));
        assert_eq!(r.policy_outcome, CallOutcome::Connected);
    }

    #[test]
    fn failure_codes_map_to_outcomes() {
        for (code, text, outcome, policy) in [
            (486, "Busy Here", DialResult::Busy, CallOutcome::Busy),
            (603, "Decline", DialResult::Rejected, CallOutcome::Rejected),
            (
                404,
                "Not Found",
                DialResult::InvalidNumber,
                CallOutcome::InvalidNumber,
            ),
            (
                503,
                "Service Unavailable",
                DialResult::Congestion,
                CallOutcome::Failed,
            ),
        ] {
            let mut c = Call::new(config());
            c.start(T0);
            drain(&mut c);
            c.handle_input(Input::Response(at(300), final_(code, text)));
            assert_eq!(drain(&mut c), vec![Output::Event(Event::Ended)], "{code}");
            let r = c.take_report().expect("report");
            assert_eq!(
                (r.sip_code, r.reason.as_str(), r.outcome, r.policy_outcome),
                (Some(code), text, outcome, policy)
            );
            assert!(!r.answered && r.hangup_by.is_none() && r.setup_ms == 300);
            assert_eq!(c.poll_timeout(), None);
        }
    }

    #[test]
    fn ring_timeout_sends_cancel_and_the_487_is_no_answer() {
        let mut c = Call::new(config());
        c.start(T0);
        drain(&mut c);
        c.handle_input(Input::Response(
            at(100),
            Response::Provisional {
                code: 180,
                sdp: None,
            },
        ));
        assert_eq!(c.poll_timeout(), Some(at(30_000)));
        c.handle_input(Input::Timeout(at(29_999)));
        assert_eq!(drain(&mut c), vec![]);
        c.handle_input(Input::Timeout(at(30_000)));
        assert_eq!(drain(&mut c), vec![Output::Send(SipAction::Cancel)]);
        // Still waiting for the 487, but not forever.
        assert_eq!(c.poll_timeout(), Some(at(34_000)));
        c.handle_input(Input::Response(
            at(30_050),
            final_(487, "Request Terminated"),
        ));
        assert_eq!(drain(&mut c), vec![Output::Event(Event::Ended)]);
        let r = c.take_report().expect("report");
        assert_eq!(r.outcome, DialResult::NoAnswer);
        assert_eq!(r.policy_outcome, CallOutcome::NoAnswer);
        assert_eq!(r.sip_code, Some(487));
    }

    #[test]
    fn a_silent_peer_is_given_up_after_the_ring_timeout() {
        let mut c = Call::new(config());
        c.start(T0);
        drain(&mut c);
        c.handle_input(Input::Timeout(at(30_000)));
        assert_eq!(drain(&mut c), vec![Output::Send(SipAction::Cancel)]);
        c.handle_input(Input::Timeout(at(34_000)));
        assert_eq!(
            drain(&mut c),
            vec![
                Output::Send(SipAction::Abandon),
                Output::Event(Event::Ended)
            ]
        );
        let r = c.take_report().expect("report");
        assert_eq!(r.sip_code, None);
        assert_eq!(r.reason, "no response from the callee");
        assert_eq!(r.outcome, DialResult::Failed);
    }

    #[test]
    fn a_challenged_invite_carries_credentials_and_a_second_challenge_fails() {
        let mut cfg = config();
        cfg.credentials = true;
        // The stack answers the first 401 with the digest; a second challenge is final.
        let mut c = answered(cfg.clone(), None);
        c.handle_input(Input::Request(
            at(2000),
            Request::Terminated { by_us: false },
        ));
        assert_eq!(c.take_report().expect("report").sip_code, Some(200));
        let mut c = Call::new(cfg.clone());
        c.start(T0);
        assert_eq!(drain(&mut c), vec![invite(&cfg)]);
        c.handle_input(Input::Response(
            at(200),
            final_(407, "Proxy Authentication Required"),
        ));
        assert_eq!(
            drain(&mut c),
            vec![Output::Event(Event::Ended)],
            "no third INVITE"
        );
        let r = c.take_report().expect("report");
        assert_eq!((r.sip_code, r.outcome), (Some(407), DialResult::Failed));
    }

    #[test]
    fn early_media_starts_before_the_answer_and_carries_on() {
        let cfg = config();
        let mut c = Call::new(cfg.clone());
        c.start(T0);
        drain(&mut c);
        c.handle_input(Input::Response(
            at(200),
            Response::Provisional {
                code: 183,
                sdp: Some(peer_sdp(31000)),
            },
        ));
        assert_eq!(
            drain(&mut c),
            vec![Output::StartMedia {
                params: peer_params(31000),
                early: true
            }]
        );
        // A second 183 does not restart media.
        c.handle_input(Input::Response(
            at(300),
            Response::Provisional {
                code: 183,
                sdp: Some(peer_sdp(31000)),
            },
        ));
        assert_eq!(drain(&mut c), vec![]);
        c.handle_input(Input::Response(at(2000), ok_200(31002, None)));
        assert_eq!(
            drain(&mut c),
            vec![
                Output::StartMedia {
                    params: peer_params(31002),
                    early: false
                },
                Output::Event(Event::Answered)
            ]
        );
        c.handle_input(Input::Request(
            at(3000),
            Request::Terminated { by_us: false },
        ));
        let r = c.take_report().expect("report");
        assert!(r.early_media && r.answered);
        assert_eq!(r.setup_ms, 2000);
    }

    #[test]
    fn early_media_verdict_cancels_with_the_agents_outcome() {
        let mut c = Call::new(config());
        c.start(T0);
        drain(&mut c);
        c.handle_input(Input::Response(
            at(200),
            Response::Provisional {
                code: 183,
                sdp: Some(peer_sdp(31000)),
            },
        ));
        drain(&mut c);
        let verdict = EarlyVerdict {
            policy_outcome: CallOutcome::InvalidNumber,
            detail: serde_json::json!({"class": "sit"}),
        };
        c.handle_input(Input::Command(at(2000), Command::CancelEarly(verdict)));
        assert_eq!(drain(&mut c), vec![Output::Send(SipAction::Cancel)]);
        c.handle_input(Input::Response(at(2100), final_(487, "Request Terminated")));
        assert_eq!(
            drain(&mut c),
            vec![Output::StopMedia, Output::Event(Event::Ended)]
        );
        let r = c.take_report().expect("report");
        assert_eq!(r.outcome, DialResult::NoAnswer);
        assert_eq!(r.policy_outcome, CallOutcome::InvalidNumber);
        assert_eq!(r.reason, "cancelled: call progress on early media");
        assert_eq!(
            r.agent,
            Some(serde_json::json!({"early_media": {"class": "sit"}}))
        );
    }

    #[test]
    fn an_unusable_answer_ends_the_call_with_a_reason() {
        let mut c = Call::new(config());
        c.start(T0);
        drain(&mut c);
        c.handle_input(Input::Response(
            at(500),
            Response::Final {
                code: 200,
                reason: "OK".into(),
                sdp: Some("v=0\r\n".into()),
                session_expires: None,
            },
        ));
        let out = drain(&mut c);
        assert!(
            matches!(&out[0], Output::Send(SipAction::Bye { reason: Some(r) }) if r.starts_with("SIP ;cause=488")),
            "{out:?}"
        );
        assert_eq!(out[1..], ended()[..]);
        let r = c.take_report().expect("report");
        assert!(r.answered && r.sdp_error.is_some() && r.hangup_by == Some("us"));
    }

    #[test]
    fn blind_transfer_completes_on_the_final_notify() {
        let cfg = with_refer(config());
        let mut c = answered(cfg.clone(), None);
        assert_eq!(c.poll_timeout(), Some(at(3000)));
        c.handle_input(Input::Timeout(at(3000)));
        assert_eq!(drain(&mut c), vec![refer_sent(&cfg)]);
        assert_eq!(c.poll_timeout(), Some(at(13_000)), "transfer deadline");
        c.handle_input(Input::Response(at(3100), Response::Refer(Some(202))));
        c.handle_input(notify(1, 100, false));
        assert_eq!(drain(&mut c), vec![respond_ok(1)]);
        c.handle_input(notify(2, 200, true));
        assert_eq!(
            drain(&mut c),
            vec![
                respond_ok(2),
                Output::Event(Event::TransferCompleted),
                bye(),
                Output::StopMedia,
                Output::Event(Event::Ended)
            ]
        );
        let r = c.take_report().expect("report");
        let t = r.transfer.expect("transfer");
        assert_eq!(t.refer_code, Some(202));
        assert_eq!(t.notifies, vec![100, 200]);
        assert_eq!(t.result, TransferState::Completed { code: 200 });
        assert!(!t.bot_resumed && !t.bridged);
        assert_eq!(r.hangup_by, Some("us"));
    }

    fn failed_transfer(
        cfg: CallConfig,
        feed: impl FnOnce(&mut Call),
        why: TransferFailure,
    ) -> (Vec<Output>, CallReport) {
        let mut c = answered(cfg.clone(), None);
        c.handle_input(Input::Timeout(at(3000)));
        assert_eq!(drain(&mut c), vec![refer_sent(&cfg)]);
        feed(&mut c);
        let out = drain(&mut c);
        assert!(!c.is_ended(), "the bot keeps the call");
        c.handle_input(Input::Request(
            at(20_000),
            Request::Terminated { by_us: false },
        ));
        drain(&mut c);
        let r = c.take_report().expect("report");
        let t = r.transfer.as_ref().expect("transfer");
        assert_eq!(t.result, TransferState::Failed(why));
        assert!(t.bot_resumed);
        (out, r)
    }

    #[test]
    fn a_refused_refer_takes_the_call_back_with_the_announcement() {
        let mut cfg = with_refer(config());
        cfg.take_back_announcement = true;
        let (out, r) = failed_transfer(
            cfg,
            |c| c.handle_input(Input::Response(at(3100), Response::Refer(Some(405)))),
            TransferFailure::ReferRejected { code: 405 },
        );
        assert_eq!(
            out,
            vec![
                Output::Event(Event::TransferFailed("ReferRejected { code: 405 }".into())),
                Output::Event(Event::AnnounceTakeBack)
            ]
        );
        let t = r.transfer.expect("transfer");
        assert!(t.announced && !t.bridged);
        assert_eq!(t.refer_code, Some(405));
    }

    #[test]
    fn a_busy_agent_in_the_notify_fails_the_transfer() {
        let (out, r) = failed_transfer(
            with_refer(config()),
            |c| {
                c.handle_input(Input::Response(at(3100), Response::Refer(Some(202))));
                c.handle_input(notify(1, 100, false));
                c.handle_input(notify(2, 486, true));
            },
            TransferFailure::TargetFailed { code: 486 },
        );
        assert_eq!(
            out,
            vec![
                respond_ok(1),
                respond_ok(2),
                Output::Event(Event::TransferFailed("TargetFailed { code: 486 }".into()))
            ]
        );
        assert_eq!(r.transfer.expect("transfer").notifies, vec![100, 486]);
    }

    #[test]
    fn a_transfer_without_a_final_notify_times_out() {
        let (out, _) = failed_transfer(
            with_refer(config()),
            |c| {
                c.handle_input(Input::Response(at(3100), Response::Refer(Some(202))));
                c.handle_input(Input::Timeout(at(12_999)));
                assert_eq!(drain(c), vec![]);
                assert_eq!(c.poll_timeout(), Some(at(13_000)));
                c.handle_input(Input::Timeout(at(13_000)));
            },
            TransferFailure::Timeout,
        );
        assert_eq!(
            out,
            vec![Output::Event(Event::TransferFailed("Timeout".into()))]
        );
    }

    #[test]
    fn a_refused_refer_is_bridged_when_allowed() {
        let mut cfg = with_refer(config());
        cfg.bridge_fallback = true;
        let mut c = answered(cfg.clone(), None);
        c.handle_input(Input::Timeout(at(3000)));
        drain(&mut c);
        c.handle_input(Input::Response(at(3100), Response::Refer(Some(501))));
        assert_eq!(
            drain(&mut c),
            vec![Output::Send(SipAction::Bridge {
                target: "sip:queue@127.0.0.1".into()
            })]
        );
        c.handle_input(Input::Response(at(4000), Response::Bridge(Ok(()))));
        c.handle_input(Input::Request(
            at(9000),
            Request::Terminated { by_us: false },
        ));
        assert_eq!(
            drain(&mut c),
            vec![
                Output::Send(SipAction::EndAgentLeg),
                Output::StopMedia,
                Output::Event(Event::Ended)
            ]
        );
        let t = c.take_report().expect("report").transfer.expect("transfer");
        assert!(t.bridged && !t.bot_resumed);
    }

    #[test]
    fn attended_transfer_consults_then_refers_with_replaces() {
        let mut cfg = config();
        cfg.consult = Some("sip:agent@127.0.0.1:5300".into());
        cfg.script.refer_after = Duration::from_secs(1);
        let mut c = answered(cfg.clone(), None);
        c.handle_input(Input::Timeout(at(2000)));
        assert_eq!(
            drain(&mut c),
            vec![Output::Send(SipAction::Consult {
                target: "sip:agent@127.0.0.1:5300".into()
            })]
        );
        let leg = ConsultLeg {
            dialog: ReplacesDialog {
                call_id: "k@h".into(),
                remote_tag: "a".into(),
                local_tag: "b".into(),
            },
            contact: Some("sip:agent@127.0.0.1:5301".into()),
        };
        c.handle_input(Input::Response(at(2500), Response::Consult(Ok(leg))));
        assert_eq!(
            drain(&mut c),
            vec![Output::Send(SipAction::Refer {
                refer_to: "<sip:agent@127.0.0.1:5301?Replaces=k%40h%3Bto-tag%3Da%3Bfrom-tag%3Db>"
                    .into(),
                referred_by: format!("<{}>", cfg.from),
                headers: vec![],
            })]
        );
        c.handle_input(Input::Response(at(2600), Response::Refer(Some(202))));
        c.handle_input(notify(1, 200, true));
        let out = drain(&mut c);
        assert_eq!(
            out[out.len() - 4..],
            [
                bye(),
                Output::Send(SipAction::EndAgentLeg),
                Output::StopMedia,
                Output::Event(Event::Ended)
            ]
        );
        let t = c.take_report().expect("report").transfer.expect("transfer");
        assert_eq!(t.target, "sip:agent@127.0.0.1:5301");
        assert_eq!(t.result, TransferState::Completed { code: 200 });
    }

    #[test]
    fn the_agent_asks_for_a_transfer_and_hears_when_there_is_no_queue() {
        let mut cfg = config();
        cfg.has_agent = true;
        let mut c = answered(cfg.clone(), None);
        let ask = || Command::Transfer {
            reason: "wants_human".into(),
        };
        c.handle_input(Input::Command(at(2000), ask()));
        assert_eq!(
            drain(&mut c),
            vec![Output::Event(Event::TransferFailed("no_queue".into()))]
        );
        let mut cfg = with_refer(cfg);
        cfg.has_agent = true;
        let mut c = answered(cfg.clone(), None);
        assert_eq!(c.poll_timeout(), None, "the agent decides when");
        c.handle_input(Input::Command(at(2000), ask()));
        assert_eq!(
            drain(&mut c),
            vec![Output::Send(SipAction::Refer {
                refer_to: "<sip:queue@127.0.0.1?X-Voxdial-Reason=wants_human>".into(),
                referred_by: format!("<{}>", cfg.from),
                headers: vec![("X-Voxdial-Reason".into(), "wants_human".into())],
            })]
        );
        c.handle_input(Input::Command(at(2100), ask()));
        assert_eq!(drain(&mut c), vec![], "one transfer at a time");
    }

    #[test]
    fn hold_and_resume_by_re_invite() {
        let mut cfg = config();
        cfg.script.hold = Some((Duration::from_secs(1), Duration::from_secs(2)));
        cfg.script.hangup_after = Some(Duration::from_secs(5));
        let mut c = answered(cfg.clone(), None);
        let offer = |version, dir| {
            LocalMedia {
                version,
                ..cfg.local.clone()
            }
            .offer(dir)
        };
        assert_eq!(c.poll_timeout(), Some(at(2000)));
        c.handle_input(Input::Timeout(at(2000)));
        assert_eq!(
            drain(&mut c),
            vec![Output::Send(SipAction::Reinvite {
                offer: offer(2, Direction::SendOnly),
                session_expires: None
            })]
        );
        assert_eq!(c.hold_state(), HoldState::Active, "until the answer");
        c.handle_input(Input::Response(at(2050), Response::Reinvite(Some(200))));
        assert_eq!(c.hold_state(), HoldState::Held);
        assert_eq!(c.poll_timeout(), Some(at(4000)));
        c.handle_input(Input::Timeout(at(4000)));
        assert_eq!(
            drain(&mut c),
            vec![Output::Send(SipAction::Reinvite {
                offer: offer(3, Direction::SendRecv),
                session_expires: None
            })]
        );
        c.handle_input(Input::Response(at(4050), Response::Reinvite(Some(200))));
        assert_eq!(c.hold_state(), HoldState::Resumed);
        assert_eq!(c.poll_timeout(), Some(at(6000)));
        c.handle_input(Input::Timeout(at(6000)));
        let mut want = vec![bye()];
        want.extend(ended());
        assert_eq!(drain(&mut c), want);
        let r = c.take_report().expect("report");
        assert_eq!(r.reinvites, vec![Some(200), Some(200)]);
        assert_eq!(r.hangup_by, Some("us"));
    }

    #[test]
    fn a_peer_re_invite_is_answered_from_its_offer_and_moves_media() {
        let mut c = answered(config(), None);
        c.handle_input(Input::Request(
            at(2000),
            Request::Reinvite {
                id: 9,
                sdp: peer_sdp(32000),
            },
        ));
        let out = drain(&mut c);
        assert_eq!(
            out[0],
            Output::MoveMedia("127.0.0.1:32000".parse().expect("addr"))
        );
        assert!(
            matches!(
                &out[1],
                Output::Send(SipAction::Respond {
                    id: 9,
                    code: 200,
                    sdp: Some(_)
                })
            ),
            "{out:?}"
        );
        c.handle_input(Input::Request(
            at(2100),
            Request::Reinvite {
                id: 10,
                sdp: "garbage".into(),
            },
        ));
        assert_eq!(
            drain(&mut c),
            vec![Output::Send(SipAction::Respond {
                id: 10,
                code: 488,
                sdp: None
            })]
        );
        c.handle_input(Input::Request(
            at(2200),
            Request::Other {
                id: 11,
                kind: OtherRequest::Unsupported,
            },
        ));
        assert_eq!(
            drain(&mut c),
            vec![Output::Send(SipAction::Respond {
                id: 11,
                code: 405,
                sdp: None
            })]
        );
    }

    #[test]
    fn we_refresh_the_session_at_half_the_interval() {
        let mut c = answered(config(), Some("90;refresher=uac"));
        assert_eq!(c.poll_timeout(), Some(at(46_000)));
        c.handle_input(Input::Timeout(at(46_000)));
        let out = drain(&mut c);
        assert!(
            matches!(&out[..], [Output::Send(SipAction::Reinvite { session_expires: Some(se), .. })] if se == "90;refresher=uac"),
            "{out:?}"
        );
        assert_eq!(c.poll_timeout(), None, "one re-INVITE at a time");
        c.handle_input(Input::Response(at(46_100), Response::Reinvite(Some(200))));
        assert_eq!(c.poll_timeout(), Some(at(91_100)));
        // A refresh that gets no answer ends the session.
        c.handle_input(Input::Timeout(at(91_100)));
        drain(&mut c);
        c.handle_input(Input::Response(at(91_200), Response::Reinvite(None)));
        let mut want = vec![bye()];
        want.extend(ended());
        assert_eq!(drain(&mut c), want);
        let r = c.take_report().expect("report");
        assert_eq!(r.session_expires_s, Some(90));
        assert_eq!(r.reinvites, vec![Some(200), None]);
        assert!(r.session_expired);
    }

    #[test]
    fn a_session_the_peer_stops_refreshing_expires() {
        let mut c = answered(config(), Some("90;refresher=uas"));
        assert_eq!(c.poll_timeout(), Some(at(61_000)));
        // The peer's refresh pushes expiry out.
        c.handle_input(Input::Request(
            at(40_000),
            Request::Reinvite {
                id: 1,
                sdp: peer_sdp(30000),
            },
        ));
        drain(&mut c);
        assert_eq!(c.poll_timeout(), Some(at(100_000)));
        c.handle_input(Input::Timeout(at(100_000)));
        let mut want = vec![bye()];
        want.extend(ended());
        assert_eq!(drain(&mut c), want);
        let r = c.take_report().expect("report");
        assert!(r.session_expired && r.hangup_by == Some("us"));
        assert!(r.reinvites.is_empty());
    }

    #[test]
    fn the_customer_hanging_up_during_a_transfer_ends_it() {
        let cfg = with_refer(config());
        let mut c = answered(cfg.clone(), None);
        c.handle_input(Input::Timeout(at(3000)));
        c.handle_input(Input::Response(at(3100), Response::Refer(Some(202))));
        c.handle_input(notify(1, 180, false));
        drain(&mut c);
        c.handle_input(Input::Request(
            at(5000),
            Request::Terminated { by_us: false },
        ));
        assert_eq!(drain(&mut c), ended());
        let r = c.take_report().expect("report");
        let t = r.transfer.expect("transfer");
        assert_eq!(t.result, TransferState::Failed(TransferFailure::CallEnded));
        assert_eq!(r.hangup_by, Some("peer"));
        assert_eq!(c.poll_timeout(), None);
    }

    #[test]
    fn the_agent_hangs_up_after_its_goodbye_plays() {
        let mut cfg = config();
        cfg.has_agent = true;
        let mut c = answered(cfg, None);
        c.handle_input(Input::Command(
            at(5000),
            Command::Hangup {
                after: Duration::from_millis(1300),
            },
        ));
        assert_eq!(c.poll_timeout(), Some(at(6300)));
        c.handle_input(Input::Timeout(at(6300)));
        assert_eq!(drain(&mut c)[0], bye());
        assert_eq!(c.take_report().expect("report").duration_s, 5.3);
    }
}
