//! The SIP user agent: places one outbound call on rsipstack (transactions, dialogs,
//! UDP transport), negotiates SDP, runs the call's media, and drives a blind transfer
//! by REFER. The protocol decisions (progress, transfer) live in sans-IO modules; this
//! file only wires sockets, timers and the stack together.

use super::agent::{AgentCommand, AgentMedia, CallAgent, CallEvent};
use super::call::{
    AudioRoute, Call, CallConfig, Command, ConsultLeg, Event, Input, OtherRequest, Output, Request,
    RequestId, Response, SipAction,
};
use super::scripted::{Script, ScriptedAgent};
use super::sdp::{Direction, LocalMedia, MediaParams};
use super::transfer::{parse_sipfrag, reason_cause, ReplacesDialog};
use crate::media::g711::G711;
use crate::media::stream::{MediaConfig, MediaHandle, MediaReport, Sink};
use crate::media::worker::MediaRuntime;
use crate::time::{Millis, MonotonicClock};
use rsipstack::dialog::authenticate::Credential;
use rsipstack::dialog::dialog::{Dialog, DialogState, DialogStateReceiver, TerminatedReason};
use rsipstack::dialog::dialog_layer::DialogLayer;
use rsipstack::dialog::invitation::InviteOption;
use rsipstack::dialog::registration::Registration;
use rsipstack::dialog::DialogId;
use rsipstack::sip::{Header, Method, StatusCode};
use rsipstack::transport::{udp::UdpConnection, TransportLayer};
use rsipstack::EndpointBuilder;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// Why a call could not even be attempted, or broke in a way the outcome cannot express.
#[derive(Debug, thiserror::Error)]
pub enum UaError {
    /// A URI from the command line or the config fails our checks.
    #[error("invalid SIP URI {uri:?}: {why}")]
    Uri {
        /// The text given.
        uri: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A URI passes our checks but not the SIP parser.
    #[error("invalid SIP URI {uri:?}")]
    UriSyntax {
        /// The text given.
        uri: String,
        /// The parser's complaint.
        #[source]
        source: rsipstack::sip::Error,
    },
    /// The SIP transport could not be bound.
    #[error("cannot bind {what} on {addr}")]
    BindSip {
        /// SIP over UDP or TCP.
        what: &'static str,
        /// The address.
        addr: SocketAddr,
        /// The stack's error.
        #[source]
        source: Box<rsipstack::Error>,
    },
    /// The call's RTP socket could not be bound.
    #[error("cannot bind RTP on {addr}")]
    BindRtp {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The audio file to play cannot be read.
    #[error("cannot play {path}")]
    PlayRead {
        /// The file.
        path: PathBuf,
        /// The WAV reader's error.
        #[source]
        source: hound::Error,
    },
    /// The audio file to play is not in a format we play.
    #[error("cannot play {path}: {why}")]
    Play {
        /// The file.
        path: PathBuf,
        /// Why.
        why: String,
    },
    /// An incoming call's SDP offer cannot be answered (it was refused with 488).
    #[error("call {call_id}: offer refused")]
    Offer {
        /// The SIP Call-ID.
        call_id: String,
        /// What is wrong with the offer.
        #[source]
        source: super::sdp::SdpError,
    },
    /// A header to add to an INVITE is not a valid SIP header.
    #[error("invalid INVITE header {name:?}: {why}")]
    Header {
        /// The header's name.
        name: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// The SIP stack refused an operation.
    #[error("SIP stack")]
    Stack(#[source] Box<rsipstack::Error>),
}

impl From<rsipstack::Error> for UaError {
    fn from(e: rsipstack::Error) -> Self {
        UaError::Stack(Box::new(e))
    }
}

/// One call to place, with what to do during it.
#[derive(Clone, Debug)]
pub struct CallRequest {
    /// The callee (`sip:user@host:port`).
    pub to: String,
    /// Our identity (`sip:bot@host`); defaults to `sip:voxdial@<bind address>`.
    pub from: Option<String>,
    /// Where SIP listens (UDP); RTP binds the same IP on a free port (the user agent's
    /// IP when this one is unspecified).
    pub bind: SocketAddr,
    /// Cancel when nobody answers within this.
    pub ring_timeout: Duration,
    /// Hang up an answered call whose peer has sent no RTP for this long (not while on
    /// hold); None never does.
    pub media_timeout: Option<Duration>,
    /// Audio to play after answer (WAV, mono or stereo, any rate).
    pub play: Option<PathBuf>,
    /// Stereo WAV to record into.
    pub record: Option<PathBuf>,
    /// Blind-transfer target.
    pub refer_to: Option<String>,
    /// Seconds after answer to send the REFER.
    pub refer_after: Duration,
    /// How long the transfer may take to reach a final NOTIFY.
    pub transfer_timeout: Duration,
    /// Hang up this long after answer (if the peer has not).
    pub hangup_after: Option<Duration>,
    /// DTMF to send after answer.
    pub dtmf: Option<String>,
    /// Transfer context for the agent console (`X-Voxdial-*` headers on the REFER).
    pub context: Vec<(String, String)>,
    /// Seed for SSRC, sequence and timestamp starts (None: random).
    pub seed: Option<u64>,
    /// Digest credentials (user, password) for a trunk that challenges INVITEs.
    pub auth: Option<(String, String)>,
    /// Attended transfer: call this agent first, then REFER the customer to it with
    /// Replaces (`refer_to` overrides the agent's Contact as the Refer-To target).
    pub consult: Option<String>,
    /// When the customer's side refuses REFER, call the target and relay media instead.
    pub bridge_fallback: bool,
    /// Put the customer on hold (re-INVITE sendonly) this long after answer, for this long.
    pub hold: Option<(Duration, Duration)>,
    /// Audio the bot plays when it takes the call back after a failed transfer ("sorry,
    /// nobody is free right now..."); the dialogue engine supplies this on live calls.
    pub on_transfer_fail: Option<PathBuf>,
    /// The campaign the call belongs to, so its log lines can be told apart.
    pub campaign: Option<String>,
    /// The lead (not the phone number) the call is for, for the same reason.
    pub lead_id: Option<String>,
    /// Headers added to the INVITE, full names (`X-Voxdial-Reason`): the transfer
    /// context a REFER carried, passed on to the agent's phone by the leg the queue
    /// places (see `sip::uas`).
    pub invite_headers: Vec<(String, String)>,
    /// Cancelled when the app no longer wants the call (the queue's customer hung up
    /// while this agent's phone rang): a ringing call is CANCELled, an answered one
    /// hung up.
    pub withdraw: Option<CancellationToken>,
}

impl Default for CallRequest {
    /// A call to nowhere yet: set `to`, keep the rest. `bind` is unspecified, so a call
    /// placed on a running [`SipUa`] binds its RTP on that agent's address.
    fn default() -> Self {
        CallRequest {
            to: String::new(),
            from: None,
            bind: SocketAddr::from(([0, 0, 0, 0], 0)),
            ring_timeout: Duration::from_secs(30),
            media_timeout: Some(DEFAULT_MEDIA_TIMEOUT),
            play: None,
            record: None,
            refer_to: None,
            refer_after: Duration::ZERO,
            transfer_timeout: Duration::from_secs(30),
            hangup_after: None,
            dtmf: None,
            context: vec![],
            seed: None,
            auth: None,
            consult: None,
            bridge_fallback: false,
            hold: None,
            on_transfer_fail: None,
            campaign: None,
            lead_id: None,
            invite_headers: vec![],
            withdraw: None,
        }
    }
}

/// Check a header the app adds to an INVITE: a token name (RFC 3261 §25.1) that is not
/// one the stack writes itself, and a value without line breaks, so nothing can be
/// injected into the message.
fn check_header(name: &str, value: &str) -> Result<(), UaError> {
    let bad = |why| UaError::Header {
        name: name.to_string(),
        why,
    };
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b))
    {
        return Err(bad("the name must be a SIP token"));
    }
    const OURS: [&str; 10] = [
        "via",
        "from",
        "to",
        "call-id",
        "cseq",
        "contact",
        "content-type",
        "content-length",
        "max-forwards",
        "route",
    ];
    if OURS.iter().any(|h| h.eq_ignore_ascii_case(name)) {
        return Err(bad("the stack writes this header itself"));
    }
    if value.chars().any(|c| c.is_control() && c != '\t') || value.len() > 1024 {
        return Err(bad("the value must be one line of at most 1024 bytes"));
    }
    Ok(())
}

pub use super::call::{CallReport, TransferReport};

/// Validate and parse a SIP URI (the stack's parser alone accepts garbage).
pub fn check_uri(text: &str) -> Result<rsipstack::sip::Uri, UaError> {
    uri(text)
}

fn uri(text: &str) -> Result<rsipstack::sip::Uri, UaError> {
    let bad = |why: &'static str| UaError::Uri {
        uri: text.to_string(),
        why,
    };
    // The stack's parser is lenient; a dialer must not send an INVITE to garbage.
    let lower = text.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("sip:")
        .or_else(|| lower.strip_prefix("sips:"))
        .ok_or_else(|| bad("must start with sip: or sips:"))?;
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("contains spaces or control characters"));
    }
    let host = rest.rsplit('@').next().unwrap_or("");
    let host = host.split([';', '?']).next().unwrap_or("");
    if host.is_empty() || host.starts_with(':') {
        return Err(bad("no host"));
    }
    rsipstack::sip::Uri::try_from(text).map_err(|source| UaError::UriSyntax {
        uri: text.to_string(),
        source,
    })
}

/// Read a WAV for playout as 8 kHz mono (first channel; linear interpolation for rates
/// other than 8 and 16 kHz).
pub fn read_wav_8k(path: &PathBuf) -> Result<Vec<i16>, UaError> {
    let err = |why: String| UaError::Play {
        path: path.clone(),
        why,
    };
    let read_err = |source| UaError::PlayRead {
        path: path.clone(),
        source,
    };
    let mut r = hound::WavReader::open(path).map_err(read_err)?;
    let spec = r.spec();
    if spec.sample_format != hound::SampleFormat::Int || spec.bits_per_sample != 16 {
        return Err(err(format!(
            "{}-bit {:?} samples; 16-bit PCM is needed",
            spec.bits_per_sample, spec.sample_format
        )));
    }
    let ch = usize::from(spec.channels.max(1));
    let all: Vec<i16> = r
        .samples::<i16>()
        .collect::<Result<_, _>>()
        .map_err(read_err)?;
    let mono: Vec<i16> = all.chunks(ch).map(|c| c[0]).collect();
    Ok(match spec.sample_rate {
        8000 => mono,
        16000 => {
            let mut d = crate::media::resample::Downsampler::default();
            let mut out = Vec::with_capacity(mono.len() / 2);
            d.process(&mono, &mut out);
            out
        }
        rate if rate > 0 => {
            let n = (mono.len() as u64 * 8000 / u64::from(rate)) as usize;
            (0..n)
                .map(|i| {
                    let x = i as f64 * f64::from(rate) / 8000.0;
                    let k = x as usize;
                    let f = x - k as f64;
                    let a = f64::from(mono.get(k).copied().unwrap_or(0));
                    let b = f64::from(mono.get(k + 1).copied().unwrap_or(0));
                    (a + (b - a) * f) as i16
                })
                .collect()
        }
        _ => return Err(err("sample rate 0".into())),
    })
}

/// Where a user agent sends requests that belong to no dialog. A dialer-only agent
/// leaves both empty (new INVITEs and REGISTERs get 405); a service that answers calls
/// (the human queue, the synthetic phones) or registers agents takes them here.
#[derive(Default, Clone)]
pub struct InboundRoutes {
    /// New INVITEs (the transaction, not yet answered).
    pub invite: Option<
        tokio::sync::mpsc::UnboundedSender<rsipstack::transaction::transaction::Transaction>,
    >,
    /// REGISTER requests.
    pub register: Option<
        tokio::sync::mpsc::UnboundedSender<rsipstack::transaction::transaction::Transaction>,
    >,
}

/// A running SIP user agent: one UDP transport, the transaction and dialog layers, and
/// the loop that routes incoming requests. Many calls share it.
pub struct SipUa {
    layer: Arc<DialogLayer>,
    media: MediaRuntime,
    endpoint: rsipstack::transaction::endpoint::EndpointInnerRef,
    sip_addr: SocketAddr,
    byes: ByeReasons,
    token: CancellationToken,
}

/// The `Reason` of BYEs that bridge legs wait for, by dialog. The stack hands an
/// in-dialog BYE to its dialog without its headers, so the loop that routes requests
/// notes the Reason for the leg that asked: a target hanging up because it cannot serve
/// the customer says so there, and the customer is taken back instead of hung up on.
#[derive(Clone, Default)]
struct ByeReasons(Arc<Mutex<HashMap<DialogId, tokio::sync::oneshot::Sender<Option<String>>>>>);

impl ByeReasons {
    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<DialogId, tokio::sync::oneshot::Sender<Option<String>>>>
    {
        // A panic while holding this lock leaves a map of senders, never a broken one.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The Reason of the next BYE the peer sends in this dialog.
    fn watch(&self, id: DialogId) -> tokio::sync::oneshot::Receiver<Option<String>> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.lock().insert(id, tx);
        rx
    }

    /// The leg is over: nobody waits any more.
    fn forget(&self, id: &DialogId) {
        self.lock().remove(id);
    }

    /// A BYE came in this dialog, with this Reason header value (if any).
    fn deliver(&self, id: &DialogId, reason: Option<String>) {
        let watcher = self.lock().remove(id);
        if let Some(tx) = watcher {
            let _ = tx.send(reason);
        }
    }
}

/// A request's `Reason` header value, cut to 256 characters (it comes from the network).
fn reason_header(req: &rsipstack::sip::Request) -> Option<String> {
    req.headers.iter().find_map(|h| match h {
        Header::Reason(v) => Some(v.value().chars().take(256).collect()),
        Header::Other(n, v) if n.eq_ignore_ascii_case("reason") => {
            Some(v.chars().take(256).collect())
        }
        _ => None,
    })
}

impl Drop for SipUa {
    fn drop(&mut self) {
        self.token.cancel();
    }
}

/// Unsolicited requests allowed per source IP: 20/s on average, bursts of 50.
const UNSOLICITED_RATE: f64 = 20.0;
const UNSOLICITED_BURST: f64 = 50.0;

impl SipUa {
    /// Start a user agent listening on `bind` (UDP); its calls' media run on `media`.
    pub async fn bind(bind: SocketAddr, media: MediaRuntime) -> Result<SipUa, UaError> {
        Self::bind_with(bind, media, InboundRoutes::default()).await
    }

    /// Start a user agent that hands new INVITEs and REGISTERs to `routes`.
    pub async fn bind_with(
        bind: SocketAddr,
        media: MediaRuntime,
        routes: InboundRoutes,
    ) -> Result<SipUa, UaError> {
        let token = CancellationToken::new();
        let transport = TransportLayer::new(token.child_token());
        let udp = UdpConnection::create_connection(bind, None, Some(token.child_token()))
            .await
            .map_err(|source| UaError::BindSip {
                what: "SIP",
                addr: bind,
                source: Box::new(source),
            })?;
        let sip_addr = udp.get_addr().get_socketaddr().map_err(UaError::from)?;
        transport.add_transport(udp.into());
        // TCP on the same address, for trunks that want it (`;transport=tcp` in the URI)
        // and messages too large for UDP.
        let tcp = rsipstack::transport::TcpListenerConnection::new(sip_addr, None)
            .await
            .map_err(|source| UaError::BindSip {
                what: "SIP over TCP",
                addr: sip_addr,
                source: Box::new(source),
            })?;
        transport.add_transport(tcp.into());
        let endpoint = EndpointBuilder::new()
            .with_user_agent(concat!("voxdial/", env!("CARGO_PKG_VERSION")))
            .with_transport_layer(transport)
            .with_cancel_token(token.child_token())
            .with_option(rsipstack::transaction::endpoint::EndpointOption {
                // The stack's default Call-ID suffix names its vendor; ours names us.
                callid_suffix: Some("voxdial".into()),
                ..Default::default()
            })
            .build();
        let layer = Arc::new(DialogLayer::new(endpoint.inner.clone()));
        let mut incoming = endpoint.incoming_transactions().map_err(UaError::from)?;
        let ep = endpoint.inner.clone();
        tokio::spawn(async move {
            let _ = ep.serve().await;
        });
        // In-dialog requests go to their dialog; anything else gets an honest answer,
        // unless its source is flooding us.
        let l2 = layer.clone();
        let byes = ByeReasons::default();
        let byes2 = byes.clone();
        tokio::spawn(async move {
            let mut limiter =
                super::ratelimit::SourceLimiter::new(UNSOLICITED_RATE, UNSOLICITED_BURST);
            let clock = crate::time::MonotonicClock::new();
            while let Some(tx) = incoming.recv().await {
                match l2.match_dialog(&tx) {
                    Some(mut d) => {
                        if tx.original.method == Method::Bye {
                            if let Dialog::Invite(inv) = &d {
                                if inv.role()
                                    == rsipstack::transaction::key::TransactionRole::Client
                                {
                                    byes2.deliver(&d.id(), reason_header(&tx.original));
                                }
                            }
                        }
                        let mut tx = tx;
                        tokio::spawn(async move {
                            let _ = d.handle(&mut tx).await;
                        });
                    }
                    None => {
                        let src = tx
                            .connection
                            .as_ref()
                            .and_then(|c| c.get_addr().get_socketaddr().ok())
                            .map(|a| a.ip());
                        if let Some(ip) = src {
                            if !limiter.allow(ip, clock.now()) {
                                tracing::debug!(%ip, method = %tx.original.method, "unsolicited request dropped (rate limit)");
                                continue;
                            }
                        }
                        // An INVITE with a To tag is a re-INVITE: of a dialog we no
                        // longer (or never) had, so 481, never a new call for the app.
                        let in_dialog = {
                            use rsipstack::sip::prelude::HeadersExt;
                            tx.original
                                .to_header()
                                .ok()
                                .and_then(|t| t.tag().ok().flatten())
                                .is_some()
                        };
                        let route = match tx.original.method {
                            Method::Invite if in_dialog => None,
                            Method::Invite => routes.invite.as_ref(),
                            Method::Register => routes.register.as_ref(),
                            _ => None,
                        };
                        let tx = match route {
                            Some(to) => match to.send(tx) {
                                Ok(()) => continue,
                                // The taker has gone (shutting down): answer as if none.
                                Err(e) => e.0,
                            },
                            None => tx,
                        };
                        let mut tx = tx;
                        let code = match tx.original.method {
                            Method::Options => StatusCode::OK,
                            Method::Ack => continue,
                            Method::Invite if in_dialog => StatusCode::CallTransactionDoesNotExist,
                            Method::Invite | Method::Register | Method::Subscribe => {
                                StatusCode::MethodNotAllowed
                            }
                            _ => StatusCode::CallTransactionDoesNotExist,
                        };
                        let _ = tx.reply(code).await;
                    }
                }
            }
        });
        Ok(SipUa {
            layer,
            endpoint: endpoint.inner.clone(),
            media,
            sip_addr,
            byes,
            token,
        })
    }

    /// The address SIP listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.sip_addr
    }

    /// The dialog layer, for code that answers INVITEs taken from [`InboundRoutes`].
    pub fn dialog_layer(&self) -> Arc<DialogLayer> {
        self.layer.clone()
    }

    /// The media runtime this agent's calls run on.
    pub fn media_runtime(&self) -> &MediaRuntime {
        &self.media
    }

    /// The transaction endpoint (server-side REGISTER replies, out-of-dialog requests).
    pub fn endpoint(&self) -> rsipstack::transaction::endpoint::EndpointInnerRef {
        self.endpoint.clone()
    }

    /// REGISTER with digest authentication; returns the registrar's final code.
    pub async fn register(
        &self,
        registrar: &str,
        username: &str,
        password: &str,
        expires_s: u32,
    ) -> Result<u16, UaError> {
        let cred = Credential {
            username: username.to_string(),
            password: password.to_string(),
            realm: None,
            auth_username: None,
        };
        let mut reg = Registration::new(self.endpoint.clone(), Some(cred));
        let resp = reg
            .register(uri(registrar)?, Some(expires_s))
            .await
            .map_err(UaError::from)?;
        Ok(u16::from(resp.status_code))
    }

    /// An out-of-dialog OPTIONS (trunk keepalive): the final code, or None on timeout.
    pub async fn options(&self, target: &str) -> Result<Option<u16>, UaError> {
        use rsipstack::transaction::key::{TransactionKey, TransactionRole};
        use rsipstack::transaction::transaction::Transaction;
        let to_uri = uri(target)?;
        let via = self.endpoint.get_via(None, None).map_err(UaError::from)?;
        let me = uri(&format!("sip:voxdial@{}", self.sip_addr))?;
        let from = rsipstack::sip::typed::From {
            display_name: None,
            uri: me,
            params: vec![],
        }
        .with_tag(rsipstack::transaction::make_tag());
        let to = rsipstack::sip::typed::To {
            display_name: None,
            uri: to_uri.clone(),
            params: vec![],
        };
        let req = self
            .endpoint
            .make_request(Method::Options, to_uri, via, from, to, 1, None);
        let key =
            TransactionKey::from_request(&req, TransactionRole::Client).map_err(UaError::from)?;
        let mut tx = Transaction::new_client(key, req, self.endpoint.clone(), None);
        tx.send().await.map_err(UaError::from)?;
        while let Some(msg) = tx.receive().await {
            if let rsipstack::sip::SipMessage::Response(r) = msg {
                let code = u16::from(r.status_code);
                if code >= 200 {
                    return Ok(Some(code));
                }
            }
        }
        Ok(None)
    }

    /// Place one call on this user agent and follow it to its end.
    pub async fn call(&self, req: CallRequest) -> Result<CallReport, UaError> {
        call_on(self.line(), req, None).await
    }

    /// Place a call whose conversation `agent` holds once it is answered: the agent
    /// decides when to transfer (to `req.refer_to` / `req.consult`) and when to hang up.
    pub async fn call_with(
        &self,
        req: CallRequest,
        agent: Box<dyn CallAgent>,
    ) -> Result<CallReport, UaError> {
        call_on(self.line(), req, Some(agent)).await
    }

    fn line(&self) -> Line<'_> {
        Line {
            layer: &self.layer,
            runtime: &self.media,
            sip_addr: self.sip_addr,
            byes: &self.byes,
        }
    }
}

/// What a call borrows of its user agent.
#[derive(Clone, Copy)]
struct Line<'a> {
    layer: &'a Arc<DialogLayer>,
    runtime: &'a MediaRuntime,
    sip_addr: SocketAddr,
    byes: &'a ByeReasons,
}

/// Place one call on a user agent of its own (the `voxdial call` path).
pub async fn place_call(req: CallRequest, media: MediaRuntime) -> Result<CallReport, UaError> {
    let ua = SipUa::bind(req.bind, media).await?;
    ua.call(req).await
}

/// Place one call with an agent holding the conversation (`voxdial call --scenario`).
pub async fn place_call_with(
    req: CallRequest,
    agent: Box<dyn CallAgent>,
    media: MediaRuntime,
) -> Result<CallReport, UaError> {
    let ua = SipUa::bind(req.bind, media).await?;
    ua.call_with(req, agent).await
}

/// Everything one call does runs inside a `call` span (call id, campaign, lead id; never
/// the phone number), so the logs of a thousand concurrent calls can be told apart.
async fn call_on(
    line: Line<'_>,
    req: CallRequest,
    agent: Option<Box<dyn CallAgent>>,
) -> Result<CallReport, UaError> {
    let span = tracing::info_span!(
        "call",
        call_id = tracing::field::Empty,
        campaign = req.campaign.as_deref(),
        lead_id = req.lead_id.as_deref(),
    );
    run_call(line, req, agent).instrument(span).await
}

async fn run_call(
    line: Line<'_>,
    req: CallRequest,
    agent: Option<Box<dyn CallAgent>>,
) -> Result<CallReport, UaError> {
    let Line {
        layer,
        runtime,
        sip_addr,
        byes,
    } = line;
    // Everything that can be wrong with the request is checked before dialling: an
    // error once the customer has answered would leave a live call without a BYE.
    for target in req.refer_to.iter().chain(req.consult.iter()) {
        uri(target)?;
    }
    for (name, value) in &req.invite_headers {
        check_header(name, value)?;
    }
    if req.bridge_fallback {
        // The context goes on the bridge's INVITE as headers, not escaped in a URI.
        for (key, value) in &req.context {
            check_header(&format!("X-Voxdial-{key}"), value)?;
        }
    }
    let play = req.play.as_ref().map(read_wav_8k).transpose()?;
    let take_back = req.on_transfer_fail.as_ref().map(read_wav_8k).transpose()?;
    // A request that names no address (the default) uses the user agent's own.
    let rtp_ip = if req.bind.ip().is_unspecified() {
        sip_addr.ip()
    } else {
        req.bind.ip()
    };
    let rtp = UdpSocket::bind(SocketAddr::new(rtp_ip, 0))
        .await
        .map_err(|source| UaError::BindRtp {
            addr: req.bind,
            source,
        })?;
    let rtp_addr = rtp.local_addr().map_err(|source| UaError::BindRtp {
        addr: req.bind,
        source,
    })?;
    // The same seeded generator as the rest of the code base: a seed makes a test call's
    // identifiers reproducible.
    let mut rng = {
        use rand::SeedableRng;
        rand_chacha::ChaCha8Rng::seed_from_u64(req.seed.unwrap_or_else(rand::random))
    };
    let mut next_rand = || rand::RngCore::next_u64(&mut rng);
    let local = LocalMedia {
        addr: rtp_addr,
        codecs: vec![G711::Ulaw, G711::Alaw],
        dtmf_pt: 101,
        session_id: next_rand() >> 1,
        version: 1,
    };
    let from = req
        .from
        .clone()
        .unwrap_or_else(|| format!("sip:voxdial@{sip_addr}"));
    let contact = format!("sip:voxdial@{sip_addr}");
    let call_id = format!("{:016x}@voxdial", next_rand());
    tracing::Span::current().record("call_id", call_id.as_str());
    let (caller, callee, contact_uri) = (uri(&from)?, uri(&req.to)?, uri(&contact)?);
    let clock = MonotonicClock::new();
    let mut call = Call::new(CallConfig {
        local: local.clone(),
        call_id,
        from: from.clone(),
        ring_timeout: req.ring_timeout,
        media_timeout: req.media_timeout,
        credentials: req.auth.is_some(),
        refer_to: req.refer_to.clone(),
        consult: req.consult.clone(),
        transfer_timeout: req.transfer_timeout,
        bridge_fallback: req.bridge_fallback,
        context: req.context.clone(),
        // The bot announces a failed transfer itself; a test call's script does not.
        take_back_announcement: take_back.is_some() && agent.is_none(),
    });
    // Without an agent the test-call script holds the call, inline (no thread per call).
    let script = agent.is_none().then(|| {
        let has_target = req.refer_to.is_some() || req.consult.is_some();
        ScriptedAgent::new(Script {
            play,
            dtmf: req.dtmf.clone(),
            refer_after: has_target.then_some(req.refer_after),
            hold: req.hold,
            hangup_after: req.hangup_after,
        })
    });
    let mut io = CallIo {
        layer: layer.clone(),
        runtime: runtime.clone(),
        sip_addr,
        byes: byes.clone(),
        from,
        transfer_timeout: req.transfer_timeout,
        caller,
        callee,
        contact: contact_uri,
        auth: req.auth.clone(),
        invite_headers: req.invite_headers.clone(),
        record: req.record.clone(),
        local,
        rtp: Some(rtp),
        dialog: None,
        invite: None,
        states: None,
        media: None,
        media_report: None,
        early_rx: None,
        early_ms: 0,
        cancel_sent: false,
        agent,
        agent_thread: None,
        agent_rx: None,
        events_tx: None,
        script,
        answered_at: None,
        clock,
        take_back,
        pending: HashMap::new(),
        next_request: 0,
        replies: tokio::sync::mpsc::unbounded_channel(),
        leg: None,
        leg_media: None,
        aside_since: None,
        fired: None,
        media_seen: None,
        withdraw: req.withdraw.clone(),
    };
    call.start(clock.now());
    loop {
        while let Some(o) = call.poll_output() {
            io.execute(o).await?;
        }
        if call.is_ended() {
            break;
        }
        let input = io.next_input(&clock, call.poll_timeout()).await?;
        call.handle_input(input);
    }
    let mut report = call.take_report().ok_or_else(|| {
        UaError::from(rsipstack::Error::Error(
            "the call ended without a report".into(),
        ))
    })?;
    io.finish(&mut report).await;
    Ok(report)
}

/// What a spawned SIP operation came back with.
enum Reply {
    Refer(Option<u16>),
    Reinvite(Option<u16>),
    Consult(Result<AgentLegIo, Option<u16>>),
    Bridge(Result<AgentLegIo, Option<u16>>),
}

/// The I/O half of one call: the stack's dialog, the sockets, the media and the agent.
/// It executes what [`Call`] decides and turns what happens into its inputs.
struct CallIo {
    layer: Arc<DialogLayer>,
    runtime: MediaRuntime,
    sip_addr: SocketAddr,
    byes: ByeReasons,
    from: String,
    transfer_timeout: Duration,
    caller: rsipstack::sip::Uri,
    callee: rsipstack::sip::Uri,
    contact: rsipstack::sip::Uri,
    auth: Option<(String, String)>,
    invite_headers: Vec<(String, String)>,
    record: Option<PathBuf>,
    local: LocalMedia,
    rtp: Option<UdpSocket>,
    dialog: Option<rsipstack::dialog::invite_dialog::InviteDialog>,
    invite: Option<tokio::task::JoinHandle<rsipstack::dialog::invitation::InviteAsyncResult>>,
    states: Option<rsipstack::dialog::dialog::DialogStateReceiver>,
    media: Option<MediaHandle>,
    media_report: Option<MediaReport>,
    early_rx: Option<tokio::sync::mpsc::Receiver<Vec<i16>>>,
    early_ms: u64,
    cancel_sent: bool,
    agent: Option<Box<dyn CallAgent>>,
    agent_thread: Option<std::thread::JoinHandle<super::agent::AgentReport>>,
    agent_rx: Option<tokio::sync::mpsc::UnboundedReceiver<AgentCommand>>,
    events_tx: Option<std::sync::mpsc::Sender<CallEvent>>,
    /// The test-call script, when no agent was given: asked at its deadlines.
    script: Option<ScriptedAgent>,
    answered_at: Option<Millis>,
    clock: MonotonicClock,
    take_back: Option<Vec<i16>>,
    pending: HashMap<RequestId, rsipstack::dialog::dialog::TransactionHandle>,
    next_request: RequestId,
    replies: (
        tokio::sync::mpsc::UnboundedSender<Reply>,
        tokio::sync::mpsc::UnboundedReceiver<Reply>,
    ),
    leg: Option<AgentLegIo>,
    leg_media: Option<MediaReport>,
    /// Since when the agent has stood aside for a bridge (its inbound quiet).
    aside_since: Option<Millis>,
    /// The last deadline fed at once, without a timer (see [`fire_at_once`]).
    fired: Option<Millis>,
    /// The peer's last RTP arrival the call core was told about.
    media_seen: Option<Millis>,
    /// The app's withdrawal, until it has been fed to the core (once).
    withdraw: Option<CancellationToken>,
}

/// Whether the core's deadline is already due, so the driver feeds the timeout at once
/// instead of arming a tokio timer: a timer in the past still waits for the timer
/// driver's next millisecond tick and costs a registration and a wakeup, and a call that
/// hangs up or refers at the answer (the call-setup benchmark, `--hangup-after-s 0`)
/// would pay both. A deadline fed at once and returned again unchanged goes through the
/// timer, so a core that keeps asking for a past instant is paced, never spun.
/// How long an answered call's peer may send no RTP before we hang up, by default: long
/// enough for any silence-suppressing endpoint (they send comfort noise or keep-alives
/// well within it), short enough that a vanished peer frees its channel and agent.
pub const DEFAULT_MEDIA_TIMEOUT: Duration = Duration::from_secs(60);

fn fire_at_once(deadline: Option<Millis>, now: Millis, fired: Option<Millis>) -> bool {
    deadline.is_some_and(|d| d <= now) && deadline != fired
}

impl CallIo {
    /// The peer's last RTP arrival, when the call core has not been told of it yet: a
    /// deadline is only trusted once the core knows (its media timeout counts from it).
    fn fresh_media(&mut self) -> Option<Millis> {
        let seen = self.media.as_ref().and_then(MediaHandle::last_received);
        if seen > self.media_seen {
            self.media_seen = seen;
            return seen;
        }
        None
    }

    fn media_cfg(&self, p: &MediaParams) -> MediaConfig {
        MediaConfig {
            codec: p.codec,
            dtmf_pt: p.dtmf_pt,
            remote: p.remote,
            record: self.record.clone(),
            ssrc: next_rand_u32(&self.local),
            seq: (self.local.session_id >> 16) as u16,
            ts: (self.local.session_id >> 32) as u32,
        }
    }

    async fn execute(&mut self, o: Output) -> Result<(), UaError> {
        match o {
            Output::Send(a) => self.send(a).await?,
            Output::StartMedia { params, early } => {
                match self.media.as_mut() {
                    Some(m) => m.set_remote(params.remote),
                    None => match self.rtp.take() {
                        Some(sock) => {
                            let mut m = self.runtime.start(sock, self.media_cfg(&params));
                            if early && self.agent.is_some() {
                                // Early media goes to the agent, which listens for carrier
                                // announcements and tones.
                                self.early_rx = Some(m.take_inbound());
                            }
                            self.media = Some(m);
                        }
                        None => {
                            return Err(UaError::from(rsipstack::Error::Error(
                                "RTP socket already in use".into(),
                            )))
                        }
                    },
                }
                if !early {
                    // The agent's early-media stream is the call's inbound audio again.
                    if let (Some(rx), Some(m)) = (self.early_rx.take(), self.media.as_mut()) {
                        m.inbound = rx;
                    }
                }
            }
            Output::MoveMedia(addr) => {
                if let Some(m) = &self.media {
                    m.set_remote(addr);
                }
            }
            Output::StopMedia => {
                self.early_rx = None;
                if let Some(m) = self.media.take() {
                    self.media_report = Some(m.stop().await);
                }
            }
            Output::SendDtmf(digits) => {
                if let Some(m) = &self.media {
                    m.send_dtmf(&digits);
                }
            }
            Output::Route(r) => self.route(r),
            Output::Event(e) => self.on_event(e),
        }
        Ok(())
    }

    fn on_event(&mut self, e: Event) {
        match e {
            Event::Answered => self.answered(),
            Event::TransferFailed(why) => self.tell_agent(CallEvent::TransferFailed(why)),
            Event::TransferCompleted => self.tell_agent(CallEvent::TransferCompleted),
            Event::AnnounceTakeBack => {
                if let (Some(pcm), Some(m)) = (&self.take_back, &self.media) {
                    m.playout.flush();
                    m.playout.push_8k(pcm);
                }
            }
            Event::Ended => {}
        }
    }

    /// Point the customer's audio where the core says. The relay of a bridge runs on
    /// the media workers (each leg's received frames go straight onto the other leg's
    /// playout), so relaying costs no task and no thread; the agent, whose inbound stream
    /// goes quiet meanwhile, waits without working.
    fn route(&mut self, r: AudioRoute) {
        let Some(m) = self.media.as_ref() else {
            return;
        };
        let leg = self.leg.as_ref().and_then(|l| l.media.as_ref());
        match r {
            AudioRoute::Agent => {
                m.route_received(Sink::Inbound);
                if let Some(l) = leg {
                    l.route_received(Sink::Nowhere);
                }
                if let Some(t) = self.aside_since.take() {
                    let away_ms = self.clock.now().ms_since(t);
                    self.tell_agent(CallEvent::Back { away_ms });
                }
            }
            AudioRoute::Paused => {
                m.route_received(Sink::Nowhere);
                self.aside_since.get_or_insert(self.clock.now());
            }
            AudioRoute::Bridge => match leg {
                Some(l) => {
                    m.route_received(Sink::Relay(l.playout.clone()));
                    l.route_received(Sink::Relay(m.playout.clone()));
                }
                None => tracing::warn!("bridge answered without usable media; nothing to relay"),
            },
        }
    }

    fn tell_agent(&self, e: CallEvent) {
        if let Some(tx) = &self.events_tx {
            let _ = tx.send(e);
        }
    }

    /// The answer: start the script's timeline, or hand the media to the agent.
    fn answered(&mut self) {
        let Some(media) = self.media.as_mut() else {
            return;
        };
        if let Some(s) = self.script.as_mut() {
            s.answered(&media.playout);
            self.answered_at = Some(self.clock.now());
        }
        if let Some(agent) = self.agent.take() {
            let (agent_tx, agent_rx) = tokio::sync::mpsc::unbounded_channel::<AgentCommand>();
            let (events_tx, events_rx) = std::sync::mpsc::channel::<CallEvent>();
            self.agent_thread = Some(agent.start(
                AgentMedia {
                    inbound: media.take_inbound(),
                    playout: media.playout.clone(),
                    events: events_rx,
                },
                agent_tx,
            ));
            self.agent_rx = Some(agent_rx);
            self.events_tx = Some(events_tx);
        }
    }

    async fn send(&mut self, a: SipAction) -> Result<(), UaError> {
        match a {
            SipAction::Invite {
                offer,
                call_id,
                authenticate,
            } => {
                let opt = InviteOption {
                    caller: self.caller.clone(),
                    callee: self.callee.clone(),
                    contact: self.contact.clone(),
                    offer: Some(offer.into_bytes()),
                    content_type: Some("application/sdp".into()),
                    call_id: Some(call_id),
                    headers: (!self.invite_headers.is_empty()).then(|| {
                        self.invite_headers
                            .iter()
                            .map(|(k, v)| Header::Other(k.clone(), v.clone()))
                            .collect()
                    }),
                    // The stack answers one 401/407 with these; the core reads the outcome.
                    credential: self.auth.as_ref().filter(|_| authenticate).map(|(u, p)| {
                        Credential {
                            username: u.clone(),
                            password: p.clone(),
                            realm: None,
                            auth_username: None,
                        }
                    }),
                    ..Default::default()
                };
                let (states_tx, states) = self.layer.new_dialog_state_channel();
                let (dialog, invite) = self.layer.do_invite_async(opt, states_tx)?;
                self.dialog = Some(dialog);
                self.invite = Some(invite);
                self.states = Some(states);
            }
            SipAction::Cancel => {
                self.cancel_sent = true;
                if let Some(d) = self.dialog.clone() {
                    tokio::spawn(
                        async move {
                            let _ = d.cancel().await;
                        }
                        .instrument(tracing::Span::current()),
                    );
                }
            }
            SipAction::Abandon => {
                if let Some(i) = self.invite.take() {
                    i.abort();
                }
            }
            SipAction::Bye { reason } => {
                if let Some(d) = &self.dialog {
                    let _ = match reason {
                        Some(r) => d.hangup_with_reason(r).await,
                        None => d.bye().await,
                    };
                }
            }
            SipAction::Refer {
                refer_to,
                referred_by,
                headers,
            } => {
                let Some(d) = self.dialog.clone() else {
                    return Ok(());
                };
                let mut hdrs = vec![Header::ReferredBy(referred_by.into())];
                for (k, v) in headers {
                    hdrs.push(Header::Other(k, v));
                }
                let refer_to: rsipstack::sip::headers::ReferTo = refer_to.into();
                let tx = self.replies.0.clone();
                tokio::spawn(
                    async move {
                        let r = d.refer(refer_to, Some(hdrs), None).await;
                        let code = r.ok().flatten().map(|r| u16::from(r.status_code));
                        let _ = tx.send(Reply::Refer(code));
                    }
                    .instrument(tracing::Span::current()),
                );
            }
            SipAction::Reinvite {
                offer,
                session_expires,
            } => {
                let Some(d) = self.dialog.clone() else {
                    return Ok(());
                };
                let tx = self.replies.0.clone();
                tokio::spawn(
                    async move {
                        let code = reinvite(&d, offer, session_expires).await;
                        let _ = tx.send(Reply::Reinvite(code));
                    }
                    .instrument(tracing::Span::current()),
                );
            }
            SipAction::Consult { target } => self.spawn_leg(target, vec![], false),
            SipAction::Bridge { target, headers } => self.spawn_leg(target, headers, true),
            SipAction::EndAgentLeg => {
                if let Some(leg) = self.leg.take() {
                    self.leg_media = leg.end(&self.layer, &self.byes).await;
                }
            }
            SipAction::Respond { id, code, sdp } => {
                if let Some(h) = self.pending.remove(&id) {
                    let status = StatusCode::from(code);
                    let _ = match sdp {
                        Some(body) => {
                            h.respond(
                                status,
                                Some(vec![Header::ContentType("application/sdp".into())]),
                                Some(body.into_bytes()),
                            )
                            .await
                        }
                        None => h.reply(status).await,
                    };
                }
            }
        }
        Ok(())
    }

    /// What an agent's command asks of the call core.
    fn command_of(&self, c: AgentCommand) -> Command {
        match c {
            AgentCommand::Transfer { reason } => Command::Transfer { reason },
            AgentCommand::Hangup {
                outcome,
                after_playout,
            } => {
                tracing::info!(%outcome, "the agent ends the call");
                let after = if after_playout {
                    // Let the goodbye play out first (bounded, in case the queue is huge).
                    let queued = self.media.as_ref().map_or(0, |m| m.playout.queued_ms());
                    Duration::from_millis(queued.min(30_000) + 300)
                } else {
                    Duration::ZERO
                };
                Command::Hangup { after }
            }
            AgentCommand::GiveUp {
                cause,
                after_playout,
            } => {
                // The cause goes on the BYE of an answered inbound call (`sip::uas`), where
                // a bridging caller reads it; an outbound call just hangs up.
                tracing::info!(cause, "the agent gives up on the call");
                let after = if after_playout {
                    let queued = self.media.as_ref().map_or(0, |m| m.playout.queued_ms());
                    Duration::from_millis(queued.min(30_000) + 300)
                } else {
                    Duration::ZERO
                };
                Command::Hangup { after }
            }
            AgentCommand::Dtmf { digits } => Command::Dtmf(digits),
            AgentCommand::Hold => Command::Hold,
            AgentCommand::Resume => Command::Resume,
            AgentCommand::Bridge => Command::Bridge,
        }
    }

    /// Call the agent (consultation) or the target (bridge) without holding up the
    /// signalling loop. A leg that connects after its call is over is hung up here.
    ///
    /// A bridge waits for what the agent queued before the hand-off (the bot's "please
    /// hold", all of it queued by then) to play out: the target's audio is relayed onto
    /// the same playout, and an agent who answers at once must not be talked over or lost.
    fn spawn_leg(&self, target: String, headers: Vec<(String, String)>, bridge: bool) {
        let (layer, runtime, sip_addr) = (self.layer.clone(), self.runtime.clone(), self.sip_addr);
        let queued_ms = match (&self.media, bridge) {
            (Some(m), true) => m.playout.queued_ms().min(30_000),
            _ => 0,
        };
        let (from, limit, tx, byes) = (
            self.from.clone(),
            self.transfer_timeout,
            self.replies.0.clone(),
            self.byes.clone(),
        );
        tokio::spawn(
            async move {
                if queued_ms > 0 {
                    tokio::time::sleep(Duration::from_millis(queued_ms)).await;
                }
                let leg = LegRequest {
                    from: &from,
                    target: &target,
                    headers,
                    limit,
                    watch: bridge.then_some(&byes),
                };
                let r = agent_call(&layer, &runtime, sip_addr, leg).await;
                let reply = if bridge {
                    Reply::Bridge(r)
                } else {
                    Reply::Consult(r)
                };
                if let Err(tokio::sync::mpsc::error::SendError(
                    Reply::Bridge(Ok(leg)) | Reply::Consult(Ok(leg)),
                )) = tx.send(reply)
                {
                    leg.end(&layer, &byes).await;
                }
            }
            .instrument(tracing::Span::current()),
        );
    }

    /// Wait for the next thing that happens to the call, or its deadline.
    async fn next_input(
        &mut self,
        clock: &MonotonicClock,
        deadline: Option<Millis>,
    ) -> Result<Input, UaError> {
        let now = clock.now();
        let mut deadline = deadline;
        if let (Some(s), Some(t0)) = (self.script.as_mut(), self.answered_at) {
            if let Some(c) = s.due(now.since(t0)) {
                return Ok(Input::Command(now, self.command_of(c)));
            }
            let next = s.next_due().map(|d| t0 + d);
            deadline = deadline.into_iter().chain(next).min();
        }
        if fire_at_once(deadline, now, self.fired) {
            if let Some(at) = self.fresh_media() {
                return Ok(Input::MediaReceived(at));
            }
            self.fired = deadline;
            return Ok(Input::Timeout(now));
        }
        let wake = deadline.map(|d| Instant::from_std(clock.instant_of(d)));
        loop {
            tokio::select! {
                r = async { self.invite.as_mut().expect("guarded").await }, if self.invite.is_some() => {
                    self.invite = None;
                    let resp = match r {
                        Ok(Ok((_, resp))) => resp,
                        Ok(Err(e)) => {
                            // The stack's error may quote the Request-URI, the customer's number.
                            let e = e.to_string();
                            tracing::info!(error = %crate::language::redact::mask_account_numbers(&e), "INVITE failed");
                            None
                        }
                        Err(e) => return Err(UaError::from(rsipstack::Error::Error(e.to_string()))),
                    };
                    let now = clock.now();
                    return Ok(match resp {
                        Some(r) => Input::Response(now, Response::Final {
                            code: u16::from(r.status_code.clone()),
                            reason: r.status_code.to_string(),
                            sdp: body_text(&r.body),
                            session_expires: r.headers.iter().find_map(|h| match h {
                                Header::SessionExpires(v) => Some(v.value().to_string()),
                                _ => None,
                            }),
                        }),
                        None => Input::Response(now, Response::NoFinal),
                    });
                }
                s = async { self.states.as_mut().expect("guarded").recv().await }, if self.states.is_some() => {
                    if let Some(input) = self.on_dialog_state(clock.now(), s).await {
                        return Ok(input);
                    }
                }
                f = async { self.early_rx.as_mut().expect("guarded").recv().await }, if self.early_rx.is_some() && !self.cancel_sent => {
                    match f {
                        Some(f) => {
                            self.early_ms += 20;
                            if let Some(v) = self.agent.as_mut().and_then(|a| a.early_frame(self.early_ms, &f)) {
                                return Ok(Input::Command(clock.now(), Command::CancelEarly(v)));
                            }
                        }
                        None => self.early_rx = None,
                    }
                }
                r = self.replies.1.recv() => {
                    let now = clock.now();
                    match r {
                        Some(Reply::Refer(code)) => return Ok(Input::Response(now, Response::Refer(code))),
                        Some(Reply::Reinvite(code)) => return Ok(Input::Response(now, Response::Reinvite(code))),
                        Some(Reply::Consult(r)) => {
                            let r = r.map(|leg| {
                                let id = leg.dialog.id();
                                let core = ConsultLeg {
                                    dialog: ReplacesDialog {
                                        call_id: id.call_id.clone(),
                                        remote_tag: id.remote_tag.clone(),
                                        local_tag: id.local_tag.clone(),
                                    },
                                    contact: leg.contact.clone(),
                                };
                                self.leg = Some(leg);
                                core
                            });
                            return Ok(Input::Response(now, Response::Consult(r)));
                        }
                        Some(Reply::Bridge(r)) => {
                            let r = r.map(|leg| {
                                self.leg = Some(leg);
                            });
                            return Ok(Input::Response(now, Response::Bridge(r)));
                        }
                        None => {}
                    }
                }
                s = async { self.leg.as_mut().and_then(|l| l.states.as_mut()).expect("guarded").recv().await },
                    if self.leg.as_ref().is_some_and(|l| l.states.is_some()) =>
                {
                    if matches!(s, None | Some(DialogState::Terminated(..))) {
                        let cause = self.leg.as_mut().and_then(AgentLegIo::ended_by_peer);
                        return Ok(Input::Request(clock.now(), Request::AgentLegEnded { cause }));
                    }
                }
                c = async { self.agent_rx.as_mut().expect("guarded").recv().await }, if self.agent_rx.is_some() => {
                    let now = clock.now();
                    match c {
                        Some(c) => return Ok(Input::Command(now, self.command_of(c))),
                        None => self.agent_rx = None,
                    }
                }
                _ = async { self.withdraw.as_ref().expect("guarded").cancelled().await }, if self.withdraw.is_some() => {
                    self.withdraw = None;
                    return Ok(Input::Command(clock.now(), Command::Withdraw));
                }
                _ = sleep_until_opt(wake) => {
                    return Ok(match self.fresh_media() {
                        Some(at) => Input::MediaReceived(at),
                        None => Input::Timeout(clock.now()),
                    });
                }
            }
        }
    }

    /// Turn what the dialog layer reports into the core's input (None: nothing for it).
    async fn on_dialog_state(&mut self, now: Millis, s: Option<DialogState>) -> Option<Input> {
        let remember = |this: &mut Self, h| {
            let id = this.next_request;
            this.next_request += 1;
            this.pending.insert(id, h);
            id
        };
        match s {
            Some(DialogState::Early(_, resp)) => Some(Input::Response(
                now,
                Response::Provisional {
                    code: u16::from(resp.status_code.clone()),
                    sdp: body_text(&resp.body),
                },
            )),
            Some(DialogState::Terminated(_, why)) => Some(Input::Request(
                now,
                Request::Terminated {
                    by_us: matches!(why, TerminatedReason::UacBye | TerminatedReason::UacCancel),
                },
            )),
            Some(DialogState::Notify(_, r, handle)) => {
                let terminated = r
                    .headers
                    .iter()
                    .find_map(|h| match h {
                        Header::SubscriptionState(v) => Some(v.to_string()),
                        Header::Other(n, v) if n.eq_ignore_ascii_case("subscription-state") => {
                            Some(v.clone())
                        }
                        _ => None,
                    })
                    .unwrap_or_default()
                    .to_ascii_lowercase()
                    .starts_with("terminated");
                let id = remember(self, handle);
                Some(Input::Request(
                    now,
                    Request::Notify {
                        id,
                        sipfrag: parse_sipfrag(&r.body),
                        terminated,
                    },
                ))
            }
            Some(DialogState::Updated(_, r, handle)) if r.method == Method::Invite => {
                let id = remember(self, handle);
                let sdp = String::from_utf8_lossy(&r.body).into_owned();
                Some(Input::Request(now, Request::Reinvite { id, sdp }))
            }
            Some(
                DialogState::Updated(_, _, handle)
                | DialogState::Options(_, _, handle)
                | DialogState::Info(_, _, handle),
            ) => {
                let id = remember(self, handle);
                Some(Input::Request(
                    now,
                    Request::Other {
                        id,
                        kind: OtherRequest::Benign,
                    },
                ))
            }
            Some(DialogState::Refer(_, _, handle) | DialogState::Message(_, _, handle)) => {
                let id = remember(self, handle);
                Some(Input::Request(
                    now,
                    Request::Other {
                        id,
                        kind: OtherRequest::Unsupported,
                    },
                ))
            }
            Some(_) => None,
            None => {
                // The dialog layer dropped the call: nothing more will come from it.
                self.states = None;
                Some(Input::Request(now, Request::Terminated { by_us: false }))
            }
        }
    }

    /// The call is over: put the media, the agent's leg and the agent's account in the
    /// report, and let go of the dialog.
    async fn finish(mut self, report: &mut CallReport) {
        if let Some(leg) = self.leg.take() {
            self.leg_media = leg.end(&self.layer, &self.byes).await;
        }
        // A leg still being placed hangs itself up when it connects (see `spawn_leg`);
        // one that connected just now is hung up here.
        self.replies.1.close();
        while let Ok(r) = self.replies.1.try_recv() {
            if let Reply::Bridge(Ok(leg)) | Reply::Consult(Ok(leg)) = r {
                leg.end(&self.layer, &self.byes).await;
            }
        }
        if let Some(t) = report.transfer.as_mut() {
            t.agent_media = self.leg_media.take();
        }
        if let Some(m) = self.media_report.take() {
            report.media = Some(m);
        }
        if report.answered {
            if let Some(d) = &self.dialog {
                self.layer.remove_dialog(&d.id());
            }
        }
        // Stopping the media closed the agent's inbound stream, so its thread is ending.
        if let Some(h) = self.agent_thread.take() {
            match tokio::task::spawn_blocking(move || h.join()).await {
                Ok(Ok(a)) => {
                    if let Some(o) = a.policy_outcome {
                        report.policy_outcome = o;
                    }
                    report.agent = Some(a.detail);
                }
                _ => tracing::warn!("the call's agent thread panicked"),
            }
        }
    }
}

fn body_text(body: &[u8]) -> Option<String> {
    (!body.is_empty()).then(|| String::from_utf8_lossy(body).into_owned())
}

/// Send a re-INVITE with a new offer; its final code (None when nothing came back).
async fn reinvite(
    dialog: &rsipstack::dialog::invite_dialog::InviteDialog,
    offer: String,
    session_expires: Option<String>,
) -> Option<u16> {
    let mut headers = vec![Header::ContentType("application/sdp".into())];
    if let Some(v) = session_expires {
        headers.push(Header::SessionExpires(v.into()));
    }
    match dialog
        .reinvite(Some(headers), Some(offer.into_bytes()))
        .await
    {
        Ok(Some(r)) => Some(u16::from(r.status_code)),
        Ok(None) => None,
        Err(e) => {
            tracing::info!(error = %e, "re-INVITE failed");
            None
        }
    }
}

/// Our own leg to an agent: the consultation call of an attended transfer, or the
/// bridge's call to the target.
struct AgentLegIo {
    dialog: rsipstack::dialog::invite_dialog::InviteDialog,
    media: Option<MediaHandle>,
    contact: Option<String>,
    /// A bridge leg's dialog states, watched for its end (a consultation leg's end is
    /// the Replaces landing, which the REFER's NOTIFYs report).
    states: Option<DialogStateReceiver>,
    /// The Reason of the far side's BYE, for a bridge leg.
    bye_reason: Option<tokio::sync::oneshot::Receiver<Option<String>>>,
    /// A consultation leg: the agent's phone hangs it up itself once the Replaces lands.
    replaced: bool,
}

impl AgentLegIo {
    /// The far side ended the leg: the SIP cause its BYE gave, if any.
    fn ended_by_peer(&mut self) -> Option<u16> {
        self.states = None;
        let mut rx = self.bye_reason.take()?;
        rx.try_recv()
            .ok()
            .flatten()
            .as_deref()
            .and_then(reason_cause)
    }

    /// Hang up the leg unless the agent already did (a consultation leg is BYE'd by the
    /// agent's phone when the Replaces lands: it gets two seconds to do so).
    async fn end(self, layer: &DialogLayer, byes: &ByeReasons) -> Option<MediaReport> {
        let id = self.dialog.id();
        byes.forget(&id);
        if self.replaced {
            for _ in 0..20 {
                if self.dialog.inner_terminated() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        if !self.dialog.inner_terminated() {
            let _ = self.dialog.bye().await;
        }
        let report = match self.media {
            Some(m) => Some(m.stop().await),
            None => None,
        };
        layer.remove_dialog(&id);
        report
    }
}

trait Terminated {
    fn inner_terminated(&self) -> bool;
}

impl Terminated for rsipstack::dialog::invite_dialog::InviteDialog {
    fn inner_terminated(&self) -> bool {
        matches!(self.state(), DialogState::Terminated(..))
    }
}

/// A leg to place to an agent or a target.
struct LegRequest<'a> {
    from: &'a str,
    target: &'a str,
    /// Extra INVITE headers (the bridge's `X-Voxdial-*` context).
    headers: Vec<(String, String)>,
    /// Give up when no final answer came within this.
    limit: Duration,
    /// Watch the leg's end and its BYE's Reason here (a bridge leg).
    watch: Option<&'a ByeReasons>,
}

/// Place a call to an agent (consultation) or a target (bridge); its final failure code
/// on error (None: no final answer within the limit, or nothing could be sent).
async fn agent_call(
    layer: &Arc<DialogLayer>,
    runtime: &MediaRuntime,
    sip_addr: SocketAddr,
    leg: LegRequest<'_>,
) -> Result<AgentLegIo, Option<u16>> {
    let LegRequest {
        from,
        target: agent,
        headers,
        limit,
        watch,
    } = leg;
    let rtp = UdpSocket::bind(SocketAddr::new(sip_addr.ip(), 0))
        .await
        .map_err(|_| None)?;
    let rtp_addr = rtp.local_addr().map_err(|_| None)?;
    let local = LocalMedia {
        addr: rtp_addr,
        codecs: vec![G711::Ulaw, G711::Alaw],
        dtmf_pt: 101,
        session_id: rand::random::<u64>() >> 1,
        version: 1,
    };
    let opt = InviteOption {
        caller: uri(from).map_err(|_| None)?,
        callee: uri(agent).map_err(|_| None)?,
        contact: uri(&format!("sip:voxdial@{sip_addr}")).map_err(|_| None)?,
        offer: Some(local.offer(Direction::SendRecv).into_bytes()),
        content_type: Some("application/sdp".into()),
        headers: (!headers.is_empty()).then(|| {
            headers
                .into_iter()
                .map(|(k, v)| Header::Other(k, v))
                .collect()
        }),
        ..Default::default()
    };
    let (states_tx, states) = layer.new_dialog_state_channel();
    let r = tokio::time::timeout(limit, layer.do_invite(opt, states_tx)).await;
    let (dialog, resp) = match r {
        Ok(Ok((d, Some(resp)))) => (d, resp),
        Ok(Ok((_, None))) | Ok(Err(_)) => return Err(None),
        Err(_) => return Err(None),
    };
    let code = u16::from(resp.status_code.clone());
    if !(200..300).contains(&code) {
        return Err(Some(code));
    }
    let contact = resp.headers.iter().find_map(|h| match h {
        Header::Contact(c) => {
            let v = c.to_string();
            let start = v.find('<').map(|i| i + 1).unwrap_or(0);
            let end = v[start..].find('>').map(|i| start + i).unwrap_or(v.len());
            Some(v[start..end].to_string())
        }
        _ => None,
    });
    let media = local
        .read_answer(&String::from_utf8_lossy(&resp.body))
        .ok()
        .map(|p| {
            runtime.start(
                rtp,
                MediaConfig {
                    codec: p.codec,
                    dtmf_pt: p.dtmf_pt,
                    remote: p.remote,
                    record: None,
                    ssrc: rand::random(),
                    seq: rand::random(),
                    ts: rand::random(),
                },
            )
        });
    // Watched from the answer on: a BYE can only come once the dialog is confirmed.
    let bye_reason = watch.map(|byes| byes.watch(dialog.id()));
    Ok(AgentLegIo {
        states: watch.is_some().then_some(states),
        bye_reason,
        replaced: watch.is_none(),
        dialog,
        media,
        contact,
    })
}

fn next_rand_u32(local: &LocalMedia) -> u32 {
    (local.session_id as u32) ^ 0x5EED_0000
}

async fn sleep_until_opt(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_due_deadline_is_fed_at_once_but_a_repeated_one_waits_for_the_timer() {
        let now = Millis(10_000);
        assert!(fire_at_once(Some(now), now, None));
        assert!(fire_at_once(Some(Millis(9_000)), now, Some(Millis(8_000))));
        // The core asked again for the instant it was just given: pace it.
        assert!(!fire_at_once(Some(Millis(9_000)), now, Some(Millis(9_000))));
        assert!(!fire_at_once(Some(Millis(10_001)), now, None));
        assert!(!fire_at_once(None, now, None));
    }
}
