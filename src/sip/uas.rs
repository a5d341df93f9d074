//! Answering SIP calls: the user-agent-server side of voxdial. The human queue answers
//! the customer's REFER-driven INVITE here, the synthetic customer phones answer the
//! dialer's INVITEs here, and agents' phones answer the queue's calls here.
//!
//! [`super::ua::SipUa::bind_with`] hands each new INVITE's transaction to the app;
//! [`IncomingCall::new`] builds the server dialog on rsipstack's dialog layer and checks
//! the offer; the app then rings, rejects or answers. An answered call runs the same
//! [`CallAgent`] seam as an outbound one: 16 kHz frames in, a playout queue out,
//! [`AgentCommand::Hangup`] ends it. A REFER on an answered call is handed to the app
//! (which places the new leg and reports how it went) when [`AnswerOptions::refer`] is
//! set, and refused with 603 otherwise.
//!
//! The inbound side has no sans-IO core of its own: answering is a straight line (offer
//! in, answer out, wait for either side to end), and every decision that has rules (the
//! offer/answer, the sipfrag) is in [`super::sdp`] and the small parsers below.

use super::agent::{AgentCommand, AgentMedia, CallAgent, CallEvent};
use super::sdp::{Direction, LocalMedia, MediaParams, SdpError};
use super::timer::{Refresher, SessionTimer};
use super::ua::{SipUa, UaError};
use crate::media::g711::G711;
use crate::media::stream::{MediaConfig, MediaHandle, MediaReport};
use crate::media::worker::MediaRuntime;
use crate::time::{Millis, MonotonicClock};
use rsipstack::dialog::dialog::{
    DialogState, DialogStateReceiver, TerminatedReason, TransactionHandle,
};
use rsipstack::dialog::dialog_layer::DialogLayer;
use rsipstack::dialog::invite_dialog::InviteDialog;
use rsipstack::sip::prelude::HeadersExt;
use rsipstack::sip::{Header, Method, StatusCode};
use rsipstack::transaction::transaction::Transaction;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;

/// The prefix of the transfer-context headers (`X-Voxdial-Reason: wants_human`).
pub const CONTEXT_PREFIX: &str = "X-Voxdial-";

/// At most this many context headers are kept from one request: the context is a few
/// fields for the agent console, and a peer must not make us keep an unbounded list.
const MAX_CONTEXT: usize = 32;

/// At most this many characters of one context value are kept.
const MAX_CONTEXT_VALUE: usize = 1024;

/// The largest SDP offer we read. A phone's offer is a few hundred bytes; over TCP a
/// peer could send far more, which the SDP parser must never see.
const MAX_SDP: usize = 16 * 1024;

/// How long the app may take to report a referred leg's final code before the
/// transferor hears 408 in the final NOTIFY.
const REFER_RESULT_LIMIT: Duration = Duration::from_secs(120);

/// How the answered call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EndedBy {
    /// Our agent hung up (BYE from us).
    Local,
    /// The caller hung up (BYE from them), or the dialog died (no ACK).
    Remote,
    /// The caller gave up before the answer (CANCEL).
    Cancelled,
}

/// A REFER the app is asked to honour: place a new leg to `target` (with `context` as
/// `X-Voxdial-*` headers on its INVITE, see [`super::ua::CallRequest::invite_headers`])
/// and send its final code on `result`, which becomes the transferor's final NOTIFY.
/// Dropping `result` reports 503.
#[derive(Debug)]
pub struct Referred {
    /// The Refer-To URI, without its header part (`sip:queue@host:port`).
    pub target: String,
    /// The Refer-To URI's `X-Voxdial-*` header parameters, decoded, prefix removed.
    pub context: Vec<(String, String)>,
    /// Where the app reports the new leg's final code (200 when it was answered).
    pub result: oneshot::Sender<u16>,
}

/// What the app wants of an answered call beyond its agent. Build it with
/// `..Default::default()`: fields are added as the inbound side grows.
#[derive(Debug, Default)]
pub struct AnswerOptions {
    /// Record both directions into this stereo WAV.
    pub record: Option<PathBuf>,
    /// Accept REFER (202) and hand it to the app here; without it REFER gets 603.
    pub refer: Option<mpsc::UnboundedSender<Referred>>,
}

/// The REFER an answered call honoured.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ReferReport {
    /// The Refer-To target, without headers.
    pub target: String,
    /// The context it carried.
    pub context: Vec<(String, String)>,
    /// The final code the app reported for the new leg (None: the call ended before).
    pub code: Option<u16>,
}

/// The account of one inbound call, for the app's call record.
#[derive(Clone, Debug, serde::Serialize)]
pub struct InboundReport {
    /// The SIP Call-ID.
    pub call_id: String,
    /// Who called (the From URI's user part), masked to its last four digits when it is
    /// serialized: reports are printed and stored.
    #[serde(serialize_with = "serialize_masked")]
    pub caller: String,
    /// The Request-URI's user part (a customer number, a queue name), masked likewise.
    #[serde(serialize_with = "serialize_masked")]
    pub dialled_user: String,
    /// The `X-Voxdial-*` headers of the INVITE, prefix removed.
    pub context: Vec<(String, String)>,
    /// Whether we sent 200.
    pub answered: bool,
    /// Seconds from the answer to the end (0 when not answered).
    pub duration_s: f64,
    /// Who ended the call.
    pub ended_by: EndedBy,
    /// The codec agreed.
    pub codec: Option<G711>,
    /// What the media did.
    pub media: Option<MediaReport>,
    /// The agent's own account ([`super::agent::AgentReport::detail`]).
    pub agent: Option<serde_json::Value>,
    /// The REFER honoured, if any.
    pub referred: Option<ReferReport>,
    /// The session interval agreed with the caller (RFC 4028), if any.
    pub session_expires_s: Option<u64>,
    /// The caller was to refresh the session and did not: we hung up.
    pub session_expired: bool,
}

/// Keep only the last four digits of a phone-like identifier (`+8613812345678` →
/// `+*********5678`), for logs and printed reports. Identifiers with four digits or
/// fewer (queue names, short extensions) stay as they are.
pub fn mask_user(user: &str) -> String {
    let digits = user.chars().filter(char::is_ascii_digit).count();
    if digits <= 4 {
        return user.to_string();
    }
    let mut seen = 0;
    user.chars()
        .map(|c| {
            if c.is_ascii_digit() {
                seen += 1;
                if seen <= digits - 4 {
                    return '*';
                }
            }
            c
        })
        .collect()
}

/// A SIP URI with its user part masked by [`mask_user`] (the host stays readable).
pub fn mask_uri(uri: &str) -> String {
    match uri.split_once('@') {
        Some((user, host)) => {
            let (scheme, name) = user.split_once(':').unwrap_or(("", user));
            let sep = if scheme.is_empty() { "" } else { ":" };
            format!("{scheme}{sep}{}@{host}", mask_user(name))
        }
        None => uri.to_string(),
    }
}

fn serialize_masked<S: serde::Serializer>(v: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&mask_user(v))
}

/// A new INVITE, not yet answered: its dialog on the stack, what it asks for, and the
/// channel its dialog's states arrive on. Dropped without an answer, it is rejected
/// with 480 so the caller is never left ringing.
pub struct IncomingCall {
    layer: Arc<DialogLayer>,
    runtime: MediaRuntime,
    sip_addr: SocketAddr,
    dialog: InviteDialog,
    states: DialogStateReceiver,
    call_id: String,
    caller: String,
    dialled_user: String,
    context: Vec<(String, String)>,
    offer: String,
    timer: Option<SessionTimer>,
    early: Option<Early>,
    span: tracing::Span,
    cancelled: bool,
    done: bool,
}

/// Media answered in a 183, before the call is answered or refused.
struct Early {
    media: MediaHandle,
    local: LocalMedia,
    answer: String,
    params: MediaParams,
}

impl std::fmt::Debug for IncomingCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IncomingCall")
            .field("call_id", &self.call_id)
            .field("caller", &mask_user(&self.caller))
            .field("dialled_user", &mask_user(&self.dialled_user))
            .field("context", &self.context)
            .finish_non_exhaustive()
    }
}

impl IncomingCall {
    /// Take a new INVITE from [`super::ua::InboundRoutes::invite`]: build its server
    /// dialog (the stack sends 100 Trying) and check its offer. An offer we cannot
    /// answer (malformed, too large, no common codec) is refused here with 488
    /// and a `Reason` naming what was offered, and the error says the same.
    pub fn new(ua: &SipUa, tx: Transaction) -> Result<IncomingCall, UaError> {
        let layer = ua.dialog_layer();
        let sip_addr = ua.local_addr();
        let req = tx.original.clone();
        let call_id = req
            .call_id_header()
            .map(|h| h.value().to_string())
            .unwrap_or_default();
        let dialled_user = req.uri.user().unwrap_or_default().to_string();
        let caller = req
            .from_header()
            .ok()
            .and_then(|f| f.uri().ok())
            .map(|u| {
                u.user()
                    .map(str::to_string)
                    .unwrap_or_else(|| u.to_string())
            })
            .unwrap_or_default();
        let context = context_headers(req.headers.iter().map(|h| (h.name(), h.value())));
        let span = tracing::info_span!(
            "call",
            call_id = call_id.as_str(),
            dialled_user = mask_user(&dialled_user).as_str(),
            direction = "inbound",
        );
        let (states_tx, states) = layer.new_dialog_state_channel();
        let contact = super::ua::check_uri(&format!("sip:voxdial@{sip_addr}"))?;
        let dialog = match layer.get_or_create_server_invite(&tx, states_tx, None, Some(contact)) {
            Ok(d) => d,
            Err(e) => {
                // No dialog, so nothing else will answer this INVITE: say so.
                let mut tx = tx;
                tokio::spawn(async move {
                    let _ = tx.reply(StatusCode::ServerInternalError).await;
                });
                return Err(e.into());
            }
        };
        let mut handler = dialog.clone();
        let mut tx = tx;
        // The INVITE server transaction lives in this task until the ACK or CANCEL: it
        // sends what the dialog queues (100, 180, the final) and absorbs retransmissions.
        tokio::spawn(
            async move {
                if let Err(e) = handler.handle(&mut tx).await {
                    tracing::debug!(error = %e, "INVITE transaction ended with an error");
                }
            }
            .instrument(span.clone()),
        );
        let offer = String::from_utf8_lossy(&req.body).into_owned();
        let call = IncomingCall {
            layer,
            runtime: ua.media_runtime().clone(),
            sip_addr,
            dialog,
            states,
            call_id,
            caller,
            dialled_user,
            context,
            timer: session_timer_of(&req),
            offer,
            early: None,
            span,
            cancelled: false,
            done: false,
        };
        if let Err(source) = check_offer(&call.offer, sip_addr) {
            let mut call = call;
            call.done = true;
            call.span
                .in_scope(|| tracing::info!(error = %source, "offer refused with 488"));
            let reason = format!(
                "SIP ;cause=488 ;text=\"{}\"",
                quoted_text(&source.to_string())
            );
            call.refuse(StatusCode::NotAcceptableHere, Some(reason));
            return Err(UaError::Offer {
                call_id: call.call_id.clone(),
                source,
            });
        }
        Ok(call)
    }

    /// The caller: the From URI's user part (the whole URI when it has none).
    pub fn caller(&self) -> &str {
        &self.caller
    }

    /// The Request-URI's user part: a customer number, a queue name, an agent.
    pub fn dialled_user(&self) -> &str {
        &self.dialled_user
    }

    /// The INVITE's `X-Voxdial-*` headers, prefix removed: `("Reason", "wants_human")`.
    pub fn context(&self) -> &[(String, String)] {
        &self.context
    }

    /// The SIP Call-ID.
    pub fn call_id(&self) -> &str {
        &self.call_id
    }

    /// The `call` span of this call, for the app's own log lines about it.
    pub fn span(&self) -> &tracing::Span {
        &self.span
    }

    /// Send 180 Ringing.
    pub fn ring(&mut self) {
        if let Err(e) = self.dialog.ringing(None, None) {
            let _g = self.span.enter();
            tracing::debug!(error = %e, "180 not sent");
        }
    }

    /// Resolves when the caller gives up (CANCEL) before an answer, so an app that
    /// waits (for an agent, a ring delay) can stop waiting; cancel-safe in a `select!`.
    pub async fn cancelled(&mut self) {
        while !self.cancelled {
            match self.states.recv().await {
                Some(DialogState::Terminated(..)) | None => self.cancelled = true,
                Some(_) => {}
            }
        }
    }

    /// Refuse the call with `code` (486 busy, 480 unavailable, 603 decline...). A code
    /// that is not a final failure (outside 300-699) is sent as 500, so the caller still
    /// gets an answer.
    pub fn reject(mut self, code: u16) {
        let code = if (300..=699).contains(&code) {
            code
        } else {
            let _g = self.span.enter();
            tracing::warn!(
                code,
                "reject with a code that is not a failure: sending 500"
            );
            500
        };
        self.refuse(StatusCode::from(code), None);
        self.done = true;
    }

    fn refuse(&mut self, code: StatusCode, reason: Option<String>) {
        self.stop_early();
        if let Err(e) = self.dialog.reject(Some(code), reason) {
            let _g = self.span.enter();
            tracing::debug!(error = %e, "rejection not sent");
        }
        self.layer.remove_dialog(&self.dialog.id());
    }

    /// Answer (200 with the SDP answer), run `agent` on the call's media, and return
    /// when either side hangs up. A call the caller cancelled before this returns an
    /// unanswered report with `ended_by: cancelled`.
    pub async fn answer(
        mut self,
        agent: Box<dyn CallAgent>,
        opts: AnswerOptions,
    ) -> Result<InboundReport, UaError> {
        self.done = true;
        let span = self.span.clone();
        self.run(agent, opts).instrument(span).await
    }

    fn accept(&self, sdp: String) -> Result<(), UaError> {
        self.dialog
            .accept(Some(sdp_headers(self.timer)), Some(sdp.into_bytes()))?;
        Ok(())
    }

    /// Our side of the media: a fresh RTP socket on the SIP address.
    async fn local_media(&self) -> Result<(UdpSocket, LocalMedia), UaError> {
        let (sock, addr) = bind_rtp(SocketAddr::new(self.sip_addr.ip(), 0)).await?;
        Ok((
            sock,
            LocalMedia {
                addr,
                codecs: vec![G711::Ulaw, G711::Alaw],
                dtmf_pt: 101,
                session_id: rand::random::<u64>() >> 1,
                version: 1,
            },
        ))
    }

    fn start_media(
        &self,
        sock: UdpSocket,
        params: &MediaParams,
        record: Option<PathBuf>,
    ) -> MediaHandle {
        self.runtime.start(
            sock,
            MediaConfig {
                codec: params.codec,
                dtmf_pt: params.dtmf_pt,
                remote: params.remote,
                record,
                ssrc: rand::random(),
                seq: rand::random(),
                ts: rand::random(),
            },
        )
    }

    /// Send the 200 and start the media: with the answer to the INVITE's offer, or, for
    /// an offer-less INVITE, with our offer, whose answer the ACK brings (RFC 3261
    /// §13.2.1). None when the caller's ACK never came.
    async fn setup_media(
        &mut self,
        record: Option<PathBuf>,
    ) -> Result<Option<(LocalMedia, MediaHandle, MediaParams)>, UaError> {
        let (sock, local) = match self.local_media().await {
            Ok(m) => m,
            Err(e) => {
                self.refuse(StatusCode::ServerInternalError, None);
                return Err(e);
            }
        };
        let offer_error = |this: &Self, source| UaError::Offer {
            call_id: this.call_id.clone(),
            source,
        };
        if !self.offer.trim().is_empty() {
            let (answer, params) = match local.answer(&self.offer) {
                Ok(a) => a,
                Err(source) => {
                    self.refuse(StatusCode::NotAcceptableHere, None);
                    return Err(offer_error(self, source));
                }
            };
            self.accept(answer)?;
            let media = self.start_media(sock, &params, record);
            return Ok(Some((local, media, params)));
        }
        self.accept(local.offer(Direction::SendRecv))?;
        loop {
            match self.states.recv().await {
                Some(DialogState::Confirmed(..)) => break,
                Some(DialogState::Terminated(..)) | None => return Ok(None),
                Some(_) => {}
            }
        }
        let ack = self
            .dialog
            .last_remote_ack()
            .map(|a| a.body)
            .unwrap_or_default();
        let answer = String::from_utf8_lossy(&ack).into_owned();
        let checked = if answer.len() > MAX_SDP {
            Err(SdpError::Malformed(
                "the answer in the ACK is too large".into(),
            ))
        } else {
            local.read_answer(&answer)
        };
        match checked {
            Ok(params) => {
                let media = self.start_media(sock, &params, record);
                Ok(Some((local, media, params)))
            }
            Err(source) => {
                // The call is up but cannot carry audio: end it rather than sit silent.
                if let Err(e) = self.dialog.bye().await {
                    tracing::info!(error = %e, "BYE failed");
                }
                self.layer.remove_dialog(&self.dialog.id());
                Err(offer_error(self, source))
            }
        }
    }

    /// Answer the offer in a 183 Session Progress and play `pcm` (8 kHz) to the caller
    /// before any answer: a carrier announcement, a ringback tone. Called again, it
    /// queues more audio on the same media. A later [`IncomingCall::answer`] keeps this
    /// media (its `record` option is then not applied); [`IncomingCall::reject`] stops
    /// it. An offer-less INVITE cannot have early media.
    pub async fn early_media(&mut self, pcm: &[i16]) -> Result<(), UaError> {
        if self.early.is_none() {
            if self.offer.trim().is_empty() {
                return Err(UaError::Offer {
                    call_id: self.call_id.clone(),
                    source: SdpError::Malformed(
                        "early media needs the INVITE's offer, and this INVITE has none".into(),
                    ),
                });
            }
            let (sock, local) = self.local_media().await?;
            let (answer, params) = local.answer(&self.offer).map_err(|source| UaError::Offer {
                call_id: self.call_id.clone(),
                source,
            })?;
            self.dialog.ringing(
                Some(vec![Header::ContentType("application/sdp".into())]),
                Some(answer.clone().into_bytes()),
            )?;
            let media = self.start_media(sock, &params, None);
            self.early = Some(Early {
                media,
                local,
                answer,
                params,
            });
        }
        if let Some(e) = &self.early {
            e.media.playout.push_8k(pcm);
        }
        Ok(())
    }

    /// Stop early media that will not become the call's.
    fn stop_early(&mut self) {
        if let Some(e) = self.early.take() {
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(e.media.stop());
            }
        }
    }

    fn report(&self, answered: bool, ended_by: EndedBy) -> InboundReport {
        InboundReport {
            call_id: self.call_id.clone(),
            caller: self.caller.clone(),
            dialled_user: self.dialled_user.clone(),
            context: self.context.clone(),
            answered,
            duration_s: 0.0,
            ended_by,
            codec: None,
            media: None,
            agent: None,
            referred: None,
            session_expires_s: self.timer.map(|t| t.interval.as_secs()),
            session_expired: false,
        }
    }

    async fn run(
        &mut self,
        agent: Box<dyn CallAgent>,
        opts: AnswerOptions,
    ) -> Result<InboundReport, UaError> {
        // A CANCEL may have come while the app was deciding.
        while let Ok(s) = self.states.try_recv() {
            if matches!(s, DialogState::Terminated(..)) {
                self.cancelled = true;
            }
        }
        if self.cancelled || matches!(self.dialog.state(), DialogState::Terminated(..)) {
            self.layer.remove_dialog(&self.dialog.id());
            tracing::info!("cancelled before the answer");
            return Ok(self.report(false, EndedBy::Cancelled));
        }
        let (mut local, mut media, params) = match self.early.take() {
            // Early media already answered the offer (183): the 200 repeats that answer
            // and the media goes on; what the caller said during it is not the call's.
            Some(e) => {
                self.accept(e.answer)?;
                let mut media = e.media;
                while media.inbound.try_recv().is_ok() {}
                (e.local, media, e.params)
            }
            None => match self.setup_media(opts.record.clone()).await? {
                Some(m) => m,
                None => {
                    // The caller left before our offer's answer came back in its ACK.
                    self.layer.remove_dialog(&self.dialog.id());
                    return Ok(self.report(true, EndedBy::Remote));
                }
            },
        };
        let clock = MonotonicClock::new();
        let answered_at = clock.now();
        tracing::info!(codec = ?params.codec, "answered");
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel::<AgentCommand>();
        let (events_tx, events_rx) = std::sync::mpsc::channel::<CallEvent>();
        let thread = agent.start(
            AgentMedia {
                inbound: media.take_inbound(),
                playout: media.playout.clone(),
                events: events_rx,
            },
            cmd_tx,
        );
        // Later offers (hold, resume, a refresh) keep the codec the media runs: the
        // stream cannot switch codecs mid-call, so an offer without it gets 488.
        local.codecs = vec![params.codec];
        let mut live = Live {
            dialog: self.dialog.clone(),
            local: &mut local,
            media: &media,
            events: events_tx,
            refer: opts.refer,
            referred: None,
            refer_done: mpsc::unbounded_channel(),
            timer: self.timer,
            clock,
            last_refresh: answered_at,
            direction: Direction::SendRecv,
            expired: false,
        };
        let ended_by = live.until_end(&mut self.states, cmd_rx).await;
        let referred = live.referred.take();
        let session_expired = live.expired;
        drop(live);
        let duration_s = clock.now().since(answered_at).as_secs_f64();
        tracing::info!(?ended_by, duration_s, "call ended");
        let media_report = stop_media(media).await;
        // Stopping the media closed the agent's inbound stream, so its thread is ending.
        let agent_detail = match tokio::task::spawn_blocking(move || thread.join()).await {
            Ok(Ok(a)) => Some(a.detail),
            _ => {
                tracing::warn!("the call's agent thread panicked");
                None
            }
        };
        self.layer.remove_dialog(&self.dialog.id());
        let mut report = self.report(true, ended_by);
        report.duration_s = duration_s;
        report.codec = Some(params.codec);
        report.media = Some(media_report);
        report.agent = agent_detail;
        report.referred = referred;
        report.session_expired = session_expired;
        Ok(report)
    }
}

impl Drop for IncomingCall {
    fn drop(&mut self) {
        if !self.done && !self.cancelled {
            self.refuse(StatusCode::TemporarilyUnavailable, None);
        }
    }
}

async fn stop_media(media: MediaHandle) -> MediaReport {
    media.stop().await
}

async fn bind_rtp(addr: SocketAddr) -> Result<(UdpSocket, SocketAddr), UaError> {
    let sock = UdpSocket::bind(addr)
        .await
        .map_err(|source| UaError::BindRtp { addr, source })?;
    let local = sock
        .local_addr()
        .map_err(|source| UaError::BindRtp { addr, source })?;
    Ok((sock, local))
}

/// Whether we can answer `offer`: there is one, it is not huge, and it has an audio
/// stream with a codec we speak.
fn check_offer(offer: &str, sip_addr: SocketAddr) -> Result<Option<MediaParams>, SdpError> {
    if offer.trim().is_empty() {
        // An offer-less INVITE: our offer goes in the 200, its answer in the ACK.
        return Ok(None);
    }
    if offer.len() > MAX_SDP {
        return Err(SdpError::Malformed(format!(
            "the offer is {} bytes, more than the {MAX_SDP} we read",
            offer.len()
        )));
    }
    let probe = LocalMedia {
        addr: SocketAddr::new(sip_addr.ip(), 9),
        codecs: vec![G711::Ulaw, G711::Alaw],
        dtmf_pt: 101,
        session_id: 1,
        version: 1,
    };
    probe.answer(offer).map(|(_, p)| Some(p))
}

/// The session timer the caller asks for (RFC 4028 §9), from our side: the caller
/// refreshes when it says so or, supporting timers, leaves it to us to choose; otherwise
/// we refresh. None without a usable `Session-Expires`.
fn session_timer_of(req: &rsipstack::sip::Request) -> Option<SessionTimer> {
    let value = req
        .header_value("Session-Expires")
        .or_else(|| req.header_value("x"))?;
    let mut parts = value.split(';').map(str::trim);
    let secs: u64 = parts.next()?.parse().ok()?;
    if secs == 0 || secs > 86_400 {
        return None;
    }
    let asked = parts.find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("refresher")
            .then(|| v.trim().to_ascii_lowercase())
    });
    let supports = [req.header_value("Supported"), req.header_value("k")]
        .into_iter()
        .flatten()
        .any(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("timer")));
    let refresher = match asked.as_deref() {
        Some("uas") => Refresher::Us,
        _ if supports => Refresher::Peer,
        _ => Refresher::Us,
    };
    Some(SessionTimer {
        interval: Duration::from_secs(secs),
        refresher,
    })
}

/// The session-timer headers of a 2xx (RFC 4028 §9): the interval and who refreshes,
/// and `Require: timer` when it is the caller.
fn timer_headers(timer: Option<SessionTimer>) -> Vec<Header> {
    let Some(t) = timer else { return vec![] };
    let who = match t.refresher {
        Refresher::Us => "uas",
        Refresher::Peer => "uac",
    };
    let mut h = vec![Header::SessionExpires(
        format!("{};refresher={who}", t.interval.as_secs()).into(),
    )];
    if t.refresher == Refresher::Peer {
        h.push(Header::Require("timer".into()));
    }
    h
}

/// The headers of a re-INVITE we send: we are its UAC, so `refresher=uac` names us.
fn reinvite_headers(timer: Option<SessionTimer>) -> Vec<Header> {
    let mut h = vec![Header::ContentType("application/sdp".into())];
    if let Some(t) = timer {
        let who = match t.refresher {
            Refresher::Us => "uac",
            Refresher::Peer => "uas",
        };
        h.push(Header::SessionExpires(
            format!("{};refresher={who}", t.interval.as_secs()).into(),
        ));
        h.push(Header::Supported("timer".into()));
    }
    h
}

/// The headers of a 2xx carrying SDP on this call.
fn sdp_headers(timer: Option<SessionTimer>) -> Vec<Header> {
    let mut h = vec![Header::ContentType("application/sdp".into())];
    h.extend(timer_headers(timer));
    h
}

/// Text made safe for a quoted-string in a header: no quotes, backslashes or controls,
/// and short.
fn quoted_text(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c == '"' || c == '\\' || c.is_control() {
                '\''
            } else {
                c
            }
        })
        .take(200)
        .collect()
}

/// The `X-Voxdial-*` headers among `headers`, prefix removed, at most [`MAX_CONTEXT`].
fn context_headers<'a>(headers: impl Iterator<Item = (&'a str, &'a str)>) -> Vec<(String, String)> {
    headers
        .filter_map(|(name, value)| {
            let key = strip_prefix_ci(name, CONTEXT_PREFIX)?;
            // A context value is a code or a short note for the agent console; a peer
            // must not make us keep (and store) kilobytes of it.
            let value: String = value.trim().chars().take(MAX_CONTEXT_VALUE).collect();
            (!key.is_empty()).then(|| (key.to_string(), value))
        })
        .take(MAX_CONTEXT)
        .collect()
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// Split a Refer-To value (`<sip:q@h?X-Voxdial-Reason=wants%20human>;param`) into the
/// target URI and its decoded `X-Voxdial-*` header parameters. None when there is no
/// SIP URI in it.
pub fn parse_refer_to(value: &str) -> Option<(String, Vec<(String, String)>)> {
    let v = value.trim();
    let inner = match v.find('<') {
        Some(start) => {
            let rest = &v[start + 1..];
            &rest[..rest.find('>')?]
        }
        // Without angle brackets a URI cannot carry headers or parameters of its own.
        None => v.split(';').next().unwrap_or(v),
    };
    let (uri, headers) = match inner.split_once('?') {
        Some((u, h)) => (u, h),
        None => (inner, ""),
    };
    let uri = uri.trim();
    let lower = uri.to_ascii_lowercase();
    if !(lower.starts_with("sip:") || lower.starts_with("sips:")) || uri.len() <= 4 {
        return None;
    }
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    let pairs: Vec<(String, String)> = headers
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect();
    let context = context_headers(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    Some((uri.to_string(), context))
}

/// The reason phrase of a sipfrag status line.
fn reason_phrase(code: u16) -> &'static str {
    super::outcome::status_phrase(code)
}

/// The NOTIFY of a REFER's implicit subscription carrying `code` as its sipfrag.
async fn notify_sipfrag(dialog: &InviteDialog, code: u16) {
    let state = if code < 200 {
        "active;expires=60"
    } else {
        "terminated;reason=noresource"
    };
    let headers = vec![
        Header::Event("refer".into()),
        Header::SubscriptionState(state.into()),
        Header::ContentType("message/sipfrag".into()),
    ];
    let body = format!("SIP/2.0 {code} {}\r\n", reason_phrase(code)).into_bytes();
    if let Err(e) = dialog.notify(Some(headers), Some(body)).await {
        tracing::info!(error = %e, code, "NOTIFY not delivered");
    }
}

/// The answered call, while it lasts.
struct Live<'a> {
    dialog: InviteDialog,
    local: &'a mut LocalMedia,
    media: &'a MediaHandle,
    events: std::sync::mpsc::Sender<CallEvent>,
    refer: Option<mpsc::UnboundedSender<Referred>>,
    referred: Option<ReferReport>,
    refer_done: (mpsc::UnboundedSender<u16>, mpsc::UnboundedReceiver<u16>),
    timer: Option<SessionTimer>,
    clock: MonotonicClock,
    /// The last session refresh (the answer, or a re-INVITE / UPDATE either way).
    last_refresh: Millis,
    /// The direction of our last offer (a refresh repeats it: a refresh is not a resume).
    direction: Direction,
    expired: bool,
}

impl Live<'_> {
    /// Serve the dialog and the agent until one side ends the call.
    async fn until_end(
        &mut self,
        states: &mut DialogStateReceiver,
        mut commands: mpsc::UnboundedReceiver<AgentCommand>,
    ) -> EndedBy {
        let mut commands_open = true;
        let mut hangup_at: Option<tokio::time::Instant> = None;
        // The `Reason` of the BYE a give-up sends (RFC 3326).
        let mut bye_reason: Option<String> = None;
        loop {
            let timer_at = self.timer.and_then(|t| {
                t.refresh_due(self.last_refresh)
                    .or(t.expiry(self.last_refresh))
            });
            let timer_wake =
                timer_at.map(|d| tokio::time::Instant::from_std(self.clock.instant_of(d)));
            tokio::select! {
                s = states.recv() => match s {
                    Some(DialogState::Terminated(_, why)) => {
                        return match why {
                            TerminatedReason::UasBye => EndedBy::Local,
                            TerminatedReason::UacCancel => EndedBy::Cancelled,
                            _ => EndedBy::Remote,
                        };
                    }
                    Some(s) => self.on_state(s).await,
                    None => return EndedBy::Remote,
                },
                c = commands.recv(), if commands_open => match c {
                    Some(c @ (AgentCommand::Hangup { .. } | AgentCommand::GiveUp { .. })) => {
                        let after_playout = match c {
                            AgentCommand::Hangup { outcome, after_playout } => {
                                tracing::info!(%outcome, "the agent ends the call");
                                after_playout
                            }
                            AgentCommand::GiveUp { cause, after_playout } => {
                                tracing::info!(cause, "the agent gives up on the call");
                                bye_reason = Some(format!(
                                    "SIP;cause={cause};text=\"{}\"",
                                    super::outcome::status_phrase(cause)
                                ));
                                after_playout
                            }
                            _ => false,
                        };
                        let wait = if after_playout {
                            Duration::from_millis(self.media.playout.queued_ms().min(30_000) + 300)
                        } else {
                            Duration::ZERO
                        };
                        if wait.is_zero() {
                            self.bye_with(bye_reason.take()).await;
                            return EndedBy::Local;
                        }
                        hangup_at = Some(tokio::time::Instant::now() + wait);
                    }
                    Some(AgentCommand::Dtmf { digits }) => self.media.send_dtmf(&digits),
                    Some(AgentCommand::Hold) => self.reoffer(Direction::SendOnly),
                    Some(AgentCommand::Resume) => self.reoffer(Direction::SendRecv),
                    Some(AgentCommand::Transfer { .. } | AgentCommand::Bridge) => {
                        // Transfer is the outbound bot's hand-off; nobody asks it of an
                        // answered inbound call yet, so say so rather than hang.
                        let _ = self.events.send(CallEvent::TransferFailed(
                            "transfer is not supported on an inbound call".into(),
                        ));
                    }
                    None => commands_open = false,
                },
                Some(code) = self.refer_done.1.recv() => {
                    if let Some(r) = self.referred.as_mut() {
                        r.code = Some(code);
                    }
                }
                _ = sleep_until_opt(hangup_at) => {
                    self.bye_with(bye_reason.take()).await;
                    return EndedBy::Local;
                }
                _ = sleep_until_opt(timer_wake) => {
                    let Some(t) = self.timer else { continue };
                    if t.refresher == Refresher::Us {
                        self.reoffer(self.direction);
                    } else {
                        tracing::info!("the caller stopped refreshing the session: hanging up");
                        self.expired = true;
                        self.bye().await;
                        return EndedBy::Local;
                    }
                }
            }
        }
    }

    async fn bye(&self) {
        self.bye_with(None).await;
    }

    /// BYE, with a `Reason` header when there is one.
    async fn bye_with(&self, reason: Option<String>) {
        let sent = match reason {
            Some(r) => self.dialog.bye_with_reason(r).await,
            None => self.dialog.bye().await,
        };
        if let Err(e) = sent {
            tracing::info!(error = %e, "BYE failed");
        }
    }

    /// Hold or resume from our side: a re-INVITE with a new offer, in the background
    /// (its answer changes nothing we need; a failure leaves the call as it was).
    fn reoffer(&mut self, direction: Direction) {
        self.direction = direction;
        self.last_refresh = self.clock.now();
        self.local.version += 1;
        let offer = self.local.offer(direction);
        let d = self.dialog.clone();
        let timer = self.timer;
        tokio::spawn(
            async move {
                let headers = reinvite_headers(timer);
                if let Err(e) = d.reinvite(Some(headers), Some(offer.into_bytes())).await {
                    tracing::info!(error = %e, "re-INVITE failed");
                }
            }
            .instrument(tracing::Span::current()),
        );
    }

    async fn on_state(&mut self, s: DialogState) {
        match s {
            DialogState::Updated(_, req, handle) => {
                // Either way a re-INVITE or UPDATE refreshes the session (RFC 4028 §10).
                self.last_refresh = self.clock.now();
                if req.body.is_empty() && req.method == Method::Update {
                    let _ = handle
                        .respond(StatusCode::OK, Some(timer_headers(self.timer)), None)
                        .await;
                } else {
                    self.on_offer(&req, handle).await;
                }
            }
            DialogState::Refer(_, req, handle) => self.on_refer(&req, handle).await,
            DialogState::Options(_, _, handle) | DialogState::Info(_, _, handle) => {
                let _ = handle.reply(StatusCode::OK).await;
            }
            // We subscribe to nothing: a NOTIFY belongs to no subscription of ours.
            DialogState::Notify(_, _, handle) => {
                let _ = handle.reply(StatusCode::CallTransactionDoesNotExist).await;
            }
            DialogState::Message(_, _, handle) | DialogState::Publish(_, _, handle) => {
                let _ = handle.reply(StatusCode::MethodNotAllowed).await;
            }
            _ => {}
        }
    }

    /// A re-INVITE or UPDATE with a new offer (hold, resume, a moved address): answer
    /// it with the mirrored direction and follow the peer's address. An offer-less
    /// re-INVITE gets our offer.
    async fn on_offer(&mut self, req: &rsipstack::sip::Request, handle: TransactionHandle) {
        let sdp = String::from_utf8_lossy(&req.body).into_owned();
        let timer = self.timer;
        let sdp_header = || Some(sdp_headers(timer));
        self.local.version += 1;
        if sdp.trim().is_empty() {
            let offer = self.local.offer(Direction::SendRecv);
            let _ = handle
                .respond(StatusCode::OK, sdp_header(), Some(offer.into_bytes()))
                .await;
            return;
        }
        let checked = if sdp.len() > MAX_SDP {
            Err(SdpError::Malformed("offer too large".into()))
        } else {
            self.local.answer(&sdp)
        };
        match checked {
            Ok((answer, params)) => {
                tracing::info!(direction = ?params.direction, "re-INVITE answered");
                self.media.set_remote(params.remote);
                let _ = handle
                    .respond(StatusCode::OK, sdp_header(), Some(answer.into_bytes()))
                    .await;
            }
            Err(e) => {
                tracing::info!(error = %e, "re-INVITE offer refused");
                let _ = handle.reply(StatusCode::NotAcceptableHere).await;
            }
        }
    }

    /// A REFER: hand it to the app if it takes them (202, NOTIFY 100 at once, the
    /// final sipfrag when the app reports), else 603.
    async fn on_refer(&mut self, req: &rsipstack::sip::Request, handle: TransactionHandle) {
        let Some(to_app) = self.refer.clone() else {
            tracing::info!("REFER declined: this call does not take transfers");
            let _ = handle.reply(StatusCode::Decline).await;
            return;
        };
        if self.referred.is_some() {
            let _ = handle.reply(StatusCode::RequestPending).await;
            return;
        }
        let value = req
            .header_value("Refer-To")
            .or_else(|| req.header_value("r"));
        let Some((target, context)) = value.as_deref().and_then(parse_refer_to) else {
            tracing::info!("REFER without a usable Refer-To");
            let _ = handle.reply(StatusCode::BadRequest).await;
            return;
        };
        let _ = handle.reply(StatusCode::Accepted).await;
        tracing::info!(target = mask_uri(&target).as_str(), "REFER accepted");
        self.referred = Some(ReferReport {
            target: target.clone(),
            context: context.clone(),
            code: None,
        });
        let (result_tx, result_rx) = oneshot::channel();
        let app_has_it = to_app
            .send(Referred {
                target,
                context,
                result: result_tx,
            })
            .is_ok();
        let dialog = self.dialog.clone();
        let done = self.refer_done.0.clone();
        tokio::spawn(
            async move {
                notify_sipfrag(&dialog, 100).await;
                let code = if app_has_it {
                    match tokio::time::timeout(REFER_RESULT_LIMIT, result_rx).await {
                        Ok(Ok(code)) if (100..=699).contains(&code) => code.max(200),
                        Ok(Ok(_)) => 500,
                        Ok(Err(_)) => 503,
                        Err(_) => 408,
                    }
                } else {
                    503
                };
                let _ = done.send(code);
                notify_sipfrag(&dialog, code).await;
            }
            .instrument(tracing::Span::current()),
        );
    }
}

async fn sleep_until_opt(t: Option<tokio::time::Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refer_to_gives_the_target_and_the_decoded_context() {
        let (t, c) = parse_refer_to(
            "<sip:queue@127.0.0.1:5070?X-Voxdial-Reason=wants%20human&Replaces=x%40y>",
        )
        .expect("parsed");
        assert_eq!(t, "sip:queue@127.0.0.1:5070");
        assert_eq!(c, vec![("Reason".to_string(), "wants human".to_string())]);
        let (t, c) = parse_refer_to("sip:q@h;method=INVITE").expect("bare URI");
        assert_eq!((t.as_str(), c.len()), ("sip:q@h", 0));
        assert_eq!(parse_refer_to("<tel:+123>"), None);
        assert_eq!(parse_refer_to("<sip:"), None);
        assert_eq!(parse_refer_to(""), None);
        let many: String = (0..100)
            .map(|i| format!("X-Voxdial-K{i}=v"))
            .collect::<Vec<_>>()
            .join("&");
        let (_, c) = parse_refer_to(&format!("<sip:q@h?{many}>")).expect("parsed");
        assert_eq!(c.len(), MAX_CONTEXT, "the context is bounded");
        let long = "y".repeat(5000);
        let (_, c) = parse_refer_to(&format!("<sip:q@h?X-Voxdial-Note={long}>")).expect("parsed");
        assert_eq!(c[0].1.len(), MAX_CONTEXT_VALUE, "each value is bounded");
    }

    #[test]
    fn phone_like_users_keep_their_last_four_digits() {
        assert_eq!(mask_user("+8613812345678"), "+*********5678");
        assert_eq!(mask_user("queue"), "queue");
        assert_eq!(mask_user("1001"), "1001");
        assert_eq!(
            mask_uri("sip:+8613812345678@10.0.0.1:5060"),
            "sip:+*********5678@10.0.0.1:5060"
        );
        assert_eq!(mask_uri("sip:queue@127.0.0.1"), "sip:queue@127.0.0.1");
    }

    #[test]
    fn offers_we_cannot_answer_say_why() {
        let addr: SocketAddr = "127.0.0.1:5060".parse().expect("addr");
        assert_eq!(check_offer("", addr), Ok(None), "offer-less: we offer");
        assert!(check_offer("v=0\r\nm=garbage\r\n", addr).is_err());
        assert!(check_offer(&"x".repeat(MAX_SDP + 1), addr).is_err());
        let g729 = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n";
        let e = check_offer(g729, addr).expect_err("no common codec");
        assert!(
            e.to_string().contains("G729") || e.to_string().contains("18"),
            "{e}"
        );
    }

    fn invite_with(headers: &str) -> rsipstack::sip::Request {
        let text = format!(
            "INVITE sip:q@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:q@h>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n{headers}Content-Length: 0\r\n\r\n"
        );
        match rsipstack::sip::SipMessage::try_from(text.as_str()).expect("parses") {
            rsipstack::sip::SipMessage::Request(r) => r,
            _ => panic!("a request"),
        }
    }

    #[test]
    fn the_caller_refreshes_the_session_only_when_it_can() {
        let t = session_timer_of(&invite_with(
            "Supported: timer\r\nSession-Expires: 90;refresher=uac\r\n",
        ))
        .expect("timer");
        assert_eq!((t.interval.as_secs(), t.refresher), (90, Refresher::Peer));
        let h = timer_headers(Some(t));
        assert!(h.iter().any(|h| h.to_string().contains("90;refresher=uac")));
        assert!(h.iter().any(|h| h.to_string().contains("Require: timer")));
        // Left to us, and the caller supports timers: it refreshes.
        let t = session_timer_of(&invite_with("k: timer\r\nx: 120\r\n")).expect("timer");
        assert_eq!(t.refresher, Refresher::Peer);
        // It cannot refresh (no Supported: timer), or asks us to: we do.
        let t = session_timer_of(&invite_with("Session-Expires: 120\r\n")).expect("timer");
        assert_eq!(t.refresher, Refresher::Us);
        let t = session_timer_of(&invite_with(
            "Supported: timer\r\nSession-Expires: 120;refresher=uas\r\n",
        ))
        .expect("timer");
        assert_eq!(t.refresher, Refresher::Us);
        assert!(timer_headers(Some(t))
            .iter()
            .all(|h| !h.to_string().contains("Require")));
        for bad in ["", "Session-Expires: 0\r\n", "Session-Expires: soon\r\n"] {
            assert_eq!(session_timer_of(&invite_with(bad)), None, "{bad:?}");
        }
    }

    #[test]
    fn sipfrag_reasons() {
        assert_eq!(reason_phrase(486), "Busy Here");
        assert_eq!(reason_phrase(299), "OK");
    }
}
