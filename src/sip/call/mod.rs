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

mod messages;
mod report;
#[cfg(test)]
mod tests;

pub use messages::{
    AudioRoute, CallConfig, Command, ConsultLeg, Event, Input, OtherRequest, Output, Request,
    RequestId, Response, SipAction,
};
pub use report::{BridgeReport, CallReport, TransferReport};

use super::agent::EarlyVerdict;
use super::outcome::DialResult;
use super::sdp::{Direction, LocalMedia, SdpError};
use super::timer::SessionTimer;
use super::transfer::{
    refer_to_value, BlindTransfer, BridgeFailure, TransferFailure, TransferState,
};
use crate::time::Millis;
use std::collections::VecDeque;
use std::time::Duration;

/// How long after the ring timeout a peer that sent nothing at all is given up: a CANCEL
/// waits for a provisional response (RFC 3261 §9.1), which such a peer never sends.
const GIVE_UP_AFTER_RING: Duration = Duration::from_secs(4);

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
    /// When the peer's media was last received (or could first be expected: the answer,
    /// the end of a hold).
    last_media: Millis,
    /// The peer's latest SDP says it sends media (not sendonly-to-us hold or inactive).
    peer_sends: bool,
    timer: Option<SessionTimer>,
    last_refresh: Millis,
    sdp_version: u64,
    hold: HoldState,
    /// Where the agent wants the hold to be; reached by re-INVITE once no other
    /// re-INVITE is in flight (a refresh goes first, the hold follows).
    hold_wanted: HoldState,
    hangup_at: Option<Millis>,
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
            last_media: Millis::ZERO,
            peer_sends: true,
            timer: None,
            last_refresh: Millis::ZERO,
            sdp_version,
            hold: HoldState::Active,
            hold_wanted: HoldState::Active,
            hangup_at: None,
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
                self.transfer
                    .as_ref()
                    .filter(|(t, _)| !t.is_done())
                    .map(|(t, _)| t.deadline()),
                self.refresh_due(),
                self.timer.and_then(|t| t.expiry(self.last_refresh)),
                self.hold_due(),
                self.media_deadline(),
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
            Input::MediaReceived(at) => self.last_media = self.last_media.max(at),
        }
    }

    /// When the peer's silence on RTP ends the call, if it should be sending.
    fn media_deadline(&self) -> Option<Millis> {
        let timeout = self.cfg.media_timeout?;
        let on_hold = self.hold == HoldState::Held || !self.peer_sends;
        (self.phase == Phase::Answered && !on_hold).then(|| self.last_media + timeout)
    }

    fn send(&mut self, action: SipAction) {
        self.out.push_back(Output::Send(action));
    }

    fn event(&mut self, e: Event) {
        self.out.push_back(Output::Event(e));
    }

    fn refresh_due(&self) -> Option<Millis> {
        if self.reinvite_pending.is_some() {
            return None;
        }
        self.timer.and_then(|t| t.refresh_due(self.last_refresh))
    }

    /// Whether the agent asked for a hold change that is not yet on its way.
    fn hold_due(&self) -> Option<Millis> {
        if self.reinvite_pending.is_some() || self.phase != Phase::Answered {
            return None;
        }
        let held = self.hold == HoldState::Held;
        match self.hold_wanted {
            HoldState::Held if !held => Some(Millis::ZERO),
            HoldState::Resumed if held => Some(Millis::ZERO),
            _ => None,
        }
    }

    /// Send the re-INVITE the agent's hold request needs, unless one is in flight.
    fn advance_hold(&mut self) {
        if self.hold_due().is_none() {
            return;
        }
        if self.hold_wanted == HoldState::Held {
            self.reinvite(Direction::SendOnly, ReinvitePurpose::Hold);
        } else {
            self.reinvite(Direction::SendRecv, ReinvitePurpose::Resume);
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
        if self.media_deadline().is_some_and(|t| now >= t) {
            tracing::warn!(
                silent_s = now.since(self.last_media).as_secs(),
                "no RTP from the peer; ending the call"
            );
            self.send(SipAction::Bye { reason: None });
            if let Some(r) = self.report.as_mut() {
                r.media_timeout = true;
            }
            self.end(now, Some("us"));
            return;
        }
        if let Some((t, _)) = self.transfer.as_mut() {
            t.on_time(now);
        }
        if self.refresh_due().is_some_and(|t| now >= t) {
            self.reinvite(Direction::SendRecv, ReinvitePurpose::Refresh);
        } else {
            self.advance_hold();
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
                    ReinvitePurpose::Hold => {
                        self.hold = HoldState::Held;
                        self.advance_hold();
                    }
                    ReinvitePurpose::Resume => {
                        self.hold = HoldState::Resumed;
                        // The peer sends again from now: its silence is measured anew.
                        self.last_media = self.last_media.max(now);
                        self.advance_hold();
                    }
                    ReinvitePurpose::Refresh => {
                        self.last_refresh = now;
                        self.advance_hold();
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
                if self.agent_leg != AgentLeg::Bridging || self.phase != Phase::Answered {
                    return;
                }
                match result {
                    Ok(()) => {
                        tracing::info!("bridge answered; relaying the customer to it");
                        self.agent_leg = AgentLeg::Bridged;
                        if let Some((_, rep)) = self.transfer.as_mut() {
                            rep.bridged = true;
                            if let Some(b) = rep.bridge.as_mut() {
                                b.code = Some(200);
                            }
                        }
                        self.out.push_back(Output::Route(AudioRoute::Bridge));
                    }
                    Err(code) => {
                        tracing::info!(?code, "bridge call failed; the agent takes the call back");
                        self.agent_leg = AgentLeg::None;
                        if let Some(b) = self.transfer.as_mut().and_then(|(_, r)| r.bridge.as_mut())
                        {
                            b.code = code;
                        }
                        self.bridge_failed(BridgeFailure::Refused { code });
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
            call_id: self.cfg.call_id.clone(),
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
            media_timeout: false,
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
        self.last_media = self.last_media.max(now);
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
            bridge: None,
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

    /// The transfer context as `X-Voxdial-*` headers, the same on a REFER and on the
    /// bridge's INVITE.
    fn context_headers(&self) -> Vec<(String, String)> {
        self.context
            .iter()
            .map(|(k, v)| (format!("X-Voxdial-{k}"), v.clone()))
            .collect()
    }

    fn send_refer(&mut self, refer_to: String) {
        let headers = self.context_headers();
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
                    if self.agent_leg == AgentLeg::Bridged && !by_us {
                        if let Some(b) = self.transfer.as_mut().and_then(|(_, r)| r.bridge.as_mut())
                        {
                            b.ended_by = Some("customer");
                        }
                    }
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
            Request::AgentLegEnded { cause } => {
                if self.agent_leg != AgentLeg::Bridged || self.phase != Phase::Answered {
                    return;
                }
                match cause.filter(|c| *c >= 300) {
                    Some(cause) => {
                        // The target could not serve the customer (a queue with no agent):
                        // the agent takes them back rather than hang up on them.
                        tracing::info!(cause, "the bridged target gave up; taking the call back");
                        self.agent_leg = AgentLeg::None;
                        self.bridge_failed(BridgeFailure::GaveUp { cause });
                        self.send(SipAction::EndAgentLeg);
                    }
                    None => {
                        // The person on the other leg hung up: the customer's call is over.
                        if let Some(b) = self.transfer.as_mut().and_then(|(_, r)| r.bridge.as_mut())
                        {
                            b.ended_by = Some("target");
                        }
                        self.send(SipAction::Bye { reason: None });
                        self.end(now, Some("us"));
                    }
                }
            }
            Request::Reinvite { id, sdp } => {
                self.last_refresh = now;
                match self.cfg.local.answer(&sdp) {
                    Ok((answer, p)) => {
                        // A peer that holds us (sendonly, inactive) may send nothing until it
                        // resumes.
                        let sends = p.direction == Direction::SendRecv;
                        if sends && !self.peer_sends {
                            // Taken off the peer's hold: its silence is measured anew.
                            self.last_media = self.last_media.max(now);
                        }
                        self.peer_sends = sends;
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
            Command::Withdraw => match self.phase {
                Phase::Ringing if !self.cancelled => {
                    tracing::info!("the call is no longer wanted: sending CANCEL");
                    self.cancelled = true;
                    self.send(SipAction::Cancel);
                }
                // As a hang-up with nothing left to play: the deadline is due now.
                Phase::Answered => self.hangup_at = Some(now),
                _ => {}
            },
            _ if self.phase != Phase::Answered => {}
            Command::Transfer { reason } => {
                if self.transfer.is_some() {
                    tracing::info!("transfer already under way; request ignored");
                } else if self.has_target() {
                    if let Some(reason) = reason {
                        self.context.push(("Reason".into(), reason));
                    }
                    self.begin_transfer(now);
                    self.check_transfer(now);
                } else {
                    tracing::info!(?reason, "transfer requested but no queue is configured");
                    self.event(Event::TransferFailed("no_queue".into()));
                }
            }
            Command::Hangup { after } => {
                let at = now + after;
                self.hangup_at = Some(self.hangup_at.map_or(at, |h| h.min(at)));
            }
            Command::Hold => {
                self.hold_wanted = HoldState::Held;
                self.advance_hold();
            }
            Command::Resume => {
                self.hold_wanted = HoldState::Resumed;
                self.advance_hold();
            }
            Command::Dtmf(digits) => self.out.push_back(Output::SendDtmf(digits)),
            Command::Bridge => match self.cfg.refer_to.clone() {
                Some(target) if self.agent_leg == AgentLeg::None && self.transfer.is_none() => {
                    self.agent_leg = AgentLeg::Bridging;
                    // Whoever held the customer's audio stands aside while the leg is placed.
                    self.out.push_back(Output::Route(AudioRoute::Paused));
                    self.send(SipAction::Bridge {
                        target,
                        headers: self.context_headers(),
                    });
                }
                Some(_) => {
                    tracing::info!("bridge requested while a transfer is under way; ignored")
                }
                None => {
                    tracing::info!("bridge requested but no target is configured");
                    self.event(Event::TransferFailed("no_queue".into()));
                }
            },
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
                if self.cfg.bridge_fallback && self.agent_leg == AgentLeg::None =>
            {
                // The customer's phone cannot transfer: call the target ourselves, with
                // the context the REFER carried, and relay media between the two legs.
                // The agent stands aside meanwhile; it gets the customer back if the
                // bridge fails.
                tracing::info!(code, "REFER refused; bridging to the target ourselves");
                let target = rep.target.clone();
                rep.bridge = Some(BridgeReport::default());
                self.agent_leg = AgentLeg::Bridging;
                let headers = self.context_headers();
                self.out.push_back(Output::Route(AudioRoute::Paused));
                self.send(SipAction::Bridge { target, headers });
            }
            TransferState::Failed(why) => {
                tracing::info!(?why, "transfer failed; the bot keeps the call");
                self.take_back(why.to_string());
            }
            _ => {}
        }
    }

    /// The bridge did not leave the customer with a person: the agent has them again.
    fn bridge_failed(&mut self, why: BridgeFailure) {
        self.out.push_back(Output::Route(AudioRoute::Agent));
        let Some((_, rep)) = self.transfer.as_mut() else {
            // A bridge asked for at once (agent-first): its agent hears why.
            self.event(Event::TransferFailed(why.to_string()));
            return;
        };
        if let Some(b) = rep.bridge.as_mut() {
            b.failure = Some(why);
        }
        let words = rep.failure().unwrap_or_default();
        self.take_back(words);
    }

    /// A failed transfer: the agent keeps the customer, and is told why in words.
    fn take_back(&mut self, why: String) {
        let announce = self.cfg.take_back_announcement;
        if let Some((_, rep)) = self.transfer.as_mut() {
            rep.bot_resumed = true;
            rep.announced = announce;
        }
        self.event(Event::TransferFailed(why));
        if announce {
            self.event(Event::AnnounceTakeBack);
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
