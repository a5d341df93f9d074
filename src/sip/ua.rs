//! The SIP user agent: places one outbound call on rsipstack (transactions, dialogs,
//! UDP transport), negotiates SDP, runs the call's media, and drives a blind transfer
//! by REFER. The protocol decisions (progress, transfer) live in sans-IO modules; this
//! file only wires sockets, timers and the stack together.

use super::agent::{AgentCommand, AgentMedia, CallAgent, CallEvent};
use super::outcome::DialResult;
use super::sdp::{Direction, LocalMedia, SdpError};
use super::timer::SessionTimer;
use super::transfer::{
    parse_sipfrag, refer_to_value, BlindTransfer, ReplacesDialog, TransferFailure, TransferState,
};
use crate::media::g711::G711;
use crate::media::stream::{MediaConfig, MediaHandle, MediaReport};
use crate::media::worker::MediaRuntime;
use crate::policy::CallOutcome;
use crate::time::Millis;
use rsipstack::dialog::authenticate::Credential;
use rsipstack::dialog::dialog::{DialogState, TerminatedReason};
use rsipstack::dialog::dialog_layer::DialogLayer;
use rsipstack::dialog::invitation::InviteOption;
use rsipstack::dialog::registration::Registration;
use rsipstack::sip::{Header, Method, StatusCode};
use rsipstack::transport::{udp::UdpConnection, TransportLayer};
use rsipstack::EndpointBuilder;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

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
        source: rsipstack::Error,
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
    /// The SIP stack refused an operation.
    #[error("SIP stack")]
    Stack(#[from] rsipstack::Error),
}

/// One call to place, with what to do during it.
#[derive(Clone, Debug)]
pub struct CallRequest {
    /// The callee (`sip:user@host:port`).
    pub to: String,
    /// Our identity (`sip:bot@host`); defaults to `sip:voxdial@<bind address>`.
    pub from: Option<String>,
    /// Where SIP listens (UDP); RTP binds the same IP on a free port.
    pub bind: SocketAddr,
    /// Cancel when nobody answers within this.
    pub ring_timeout: Duration,
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
}

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

/// A running SIP user agent: one UDP transport, the transaction and dialog layers, and
/// the loop that routes incoming requests. Many calls share it.
pub struct SipUa {
    layer: Arc<DialogLayer>,
    media: MediaRuntime,
    endpoint: rsipstack::transaction::endpoint::EndpointInnerRef,
    sip_addr: SocketAddr,
    token: CancellationToken,
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
        let token = CancellationToken::new();
        let transport = TransportLayer::new(token.child_token());
        let udp = UdpConnection::create_connection(bind, None, Some(token.child_token()))
            .await
            .map_err(|source| UaError::BindSip {
                what: "SIP",
                addr: bind,
                source,
            })?;
        let sip_addr = udp.get_addr().get_socketaddr().map_err(UaError::Stack)?;
        transport.add_transport(udp.into());
        // TCP on the same address, for trunks that want it (`;transport=tcp` in the URI)
        // and messages too large for UDP.
        let tcp = rsipstack::transport::TcpListenerConnection::new(sip_addr, None)
            .await
            .map_err(|source| UaError::BindSip {
                what: "SIP over TCP",
                addr: sip_addr,
                source,
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
        let mut incoming = endpoint.incoming_transactions().map_err(UaError::Stack)?;
        let ep = endpoint.inner.clone();
        tokio::spawn(async move {
            let _ = ep.serve().await;
        });
        // In-dialog requests go to their dialog; anything else gets an honest answer,
        // unless its source is flooding us.
        let l2 = layer.clone();
        tokio::spawn(async move {
            let mut limiter =
                super::ratelimit::SourceLimiter::new(UNSOLICITED_RATE, UNSOLICITED_BURST);
            let clock = crate::time::MonotonicClock::new();
            while let Some(mut tx) = incoming.recv().await {
                match l2.match_dialog(&tx) {
                    Some(mut d) => {
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
                        let code = match tx.original.method {
                            Method::Options => StatusCode::OK,
                            Method::Ack => continue,
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
            token,
        })
    }

    /// The address SIP listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.sip_addr
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
            .map_err(UaError::Stack)?;
        Ok(u16::from(resp.status_code))
    }

    /// An out-of-dialog OPTIONS (trunk keepalive): the final code, or None on timeout.
    pub async fn options(&self, target: &str) -> Result<Option<u16>, UaError> {
        use rsipstack::transaction::key::{TransactionKey, TransactionRole};
        use rsipstack::transaction::transaction::Transaction;
        let to_uri = uri(target)?;
        let via = self.endpoint.get_via(None, None).map_err(UaError::Stack)?;
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
            TransactionKey::from_request(&req, TransactionRole::Client).map_err(UaError::Stack)?;
        let mut tx = Transaction::new_client(key, req, self.endpoint.clone(), None);
        tx.send().await.map_err(UaError::Stack)?;
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
        call_on(&self.layer, &self.media, self.sip_addr, req, None).await
    }

    /// Place a call whose conversation `agent` holds once it is answered: the agent
    /// decides when to transfer (to `req.refer_to` / `req.consult`) and when to hang up.
    pub async fn call_with(
        &self,
        req: CallRequest,
        agent: Box<dyn CallAgent>,
    ) -> Result<CallReport, UaError> {
        call_on(&self.layer, &self.media, self.sip_addr, req, Some(agent)).await
    }
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
    layer: &Arc<DialogLayer>,
    runtime: &MediaRuntime,
    sip_addr: SocketAddr,
    req: CallRequest,
    agent: Option<Box<dyn CallAgent>>,
) -> Result<CallReport, UaError> {
    use tracing::Instrument;
    let span = tracing::info_span!(
        "call",
        call_id = tracing::field::Empty,
        campaign = req.campaign.as_deref(),
        lead_id = req.lead_id.as_deref(),
    );
    run_call(layer, runtime, sip_addr, req, agent)
        .instrument(span)
        .await
}

async fn run_call(
    layer: &Arc<DialogLayer>,
    runtime: &MediaRuntime,
    sip_addr: SocketAddr,
    req: CallRequest,
    mut agent: Option<Box<dyn CallAgent>>,
) -> Result<CallReport, UaError> {
    // Everything that can be wrong with the request is checked before dialling: an
    // error once the customer has answered would leave a live call without a BYE.
    for target in req.refer_to.iter().chain(req.consult.iter()) {
        uri(target)?;
    }
    let play = req.play.as_ref().map(read_wav_8k).transpose()?;
    let take_back = req.on_transfer_fail.as_ref().map(read_wav_8k).transpose()?;
    let rtp = UdpSocket::bind(SocketAddr::new(req.bind.ip(), 0))
        .await
        .map_err(|source| UaError::BindRtp {
            addr: req.bind,
            source,
        })?;
    let rtp_addr = rtp.local_addr().map_err(|source| UaError::BindRtp {
        addr: req.bind,
        source,
    })?;
    let mut rtp = Some(rtp);
    let mut rng: u64 = req.seed.unwrap_or_else(rand::random);
    let mut next_rand = || {
        // splitmix64: enough for SSRC/sequence starts, reproducible with a seed.
        rng = rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
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
    let opt = InviteOption {
        caller: uri(&from)?,
        callee: uri(&req.to)?,
        contact: uri(&contact)?,
        offer: Some(local.offer(Direction::SendRecv).into_bytes()),
        content_type: Some("application/sdp".into()),
        call_id: Some(call_id),
        credential: req.auth.as_ref().map(|(u, p)| Credential {
            username: u.clone(),
            password: p.clone(),
            realm: None,
            auth_username: None,
        }),
        ..Default::default()
    };
    let (states_tx, mut states) = layer.new_dialog_state_channel();
    let started = Instant::now();
    let (dialog, mut invite) = layer
        .do_invite_async(opt, states_tx)
        .map_err(UaError::Stack)?;
    let media_cfg = |codec, dtmf_pt, remote| MediaConfig {
        codec,
        dtmf_pt,
        remote,
        record: req.record.clone(),
        ssrc: next_rand_u32(&local),
        seq: (local.session_id >> 16) as u16,
        ts: (local.session_id >> 32) as u32,
    };

    // --- ringing ---
    let mut media: Option<MediaHandle> = None;
    let mut early_media = false;
    let mut cancelled = false;
    let ring_deadline = tokio::time::sleep(req.ring_timeout);
    tokio::pin!(ring_deadline);
    // A CANCEL waits for a provisional response (RFC 3261 §9.1); a peer that never
    // answers at all is given up a few seconds after the ring timeout.
    let give_up = tokio::time::sleep(req.ring_timeout + Duration::from_secs(4));
    tokio::pin!(give_up);
    let mut gave_up = false;
    // Early media goes to the agent, which listens for carrier announcements and tones;
    // the receiver is handed back to the media handle at the answer.
    let mut early_rx: Option<tokio::sync::mpsc::Receiver<Vec<i16>>> = None;
    let mut early_ms: u64 = 0;
    let mut early_verdict: Option<super::agent::EarlyVerdict> = None;
    let invite_result = loop {
        tokio::select! {
            r = &mut invite => break r,
            s = states.recv() => {
                if let Some(DialogState::Early(_, resp)) = s {
                    if media.is_none() && !resp.body.is_empty() {
                        if let Ok(p) = local.read_answer(&String::from_utf8_lossy(&resp.body)) {
                            if let Some(sock) = rtp.take() {
                                let mut m = runtime.start(sock, media_cfg(p.codec, p.dtmf_pt, p.remote));
                                if agent.is_some() {
                                    early_rx = Some(m.take_inbound());
                                }
                                media = Some(m);
                                early_media = true;
                            }
                        }
                    }
                }
            }
            f = recv_opt(&mut early_rx), if early_rx.is_some() && !cancelled => match f {
                Some(f) => {
                    early_ms += 20;
                    if let Some(v) = agent.as_mut().and_then(|a| a.early_frame(early_ms, &f)) {
                        tracing::info!(outcome = ?v.policy_outcome, "early media: no person to reach; sending CANCEL");
                        early_verdict = Some(v);
                        cancelled = true;
                        let d = dialog.clone();
                        tokio::spawn(async move {
                            let _ = d.cancel().await;
                        });
                    }
                }
                None => early_rx = None,
            },
            _ = &mut ring_deadline, if !cancelled => {
                cancelled = true;
                tracing::info!("ring timeout: sending CANCEL");
                let d = dialog.clone();
                tokio::spawn(async move {
                    let _ = d.cancel().await;
                });
            }
            _ = &mut give_up => {
                gave_up = true;
                invite.abort();
                break Ok(Ok((dialog.id(), None)));
            }
        }
    };
    let setup_ms = started.elapsed().as_millis() as u64;
    let resp = match invite_result {
        Ok(Ok((_, resp))) => resp,
        Ok(Err(e)) => {
            tracing::info!(error = %e, "INVITE failed");
            None
        }
        Err(e) => return Err(UaError::Stack(rsipstack::Error::Error(e.to_string()))),
    };
    let code = resp.as_ref().map(|r| u16::from(r.status_code.clone()));
    let reason = resp
        .as_ref()
        .map(|r| r.status_code.to_string())
        .unwrap_or_else(|| {
            if gave_up {
                "no response from the callee".into()
            } else if cancelled {
                "no answer before the ring timeout".into()
            } else {
                "no final response".into()
            }
        });
    let mut report = CallReport {
        sip_code: code,
        reason,
        outcome: match code {
            Some(c) => DialResult::from_final(c, cancelled),
            None if gave_up => DialResult::Failed,
            None if cancelled => DialResult::NoAnswer,
            None => DialResult::Failed,
        },
        answered: false,
        early_media,
        setup_ms,
        duration_s: 0.0,
        hangup_by: None,
        codec: None,
        sdp_error: None,
        transfer: None,
        media: None,
        reinvites: vec![],
        session_expires_s: None,
        session_expired: false,
        policy_outcome: CallOutcome::Failed,
        agent: None,
    };
    report.policy_outcome = report.outcome.to_policy();
    if let Some(v) = early_verdict.take() {
        report.reason = "cancelled: call progress on early media".into();
        report.policy_outcome = v.policy_outcome;
        report.agent = Some(serde_json::json!({ "early_media": v.detail }));
    }
    // The agent's early-media stream is the call's inbound audio again.
    if let (Some(rx), Some(m)) = (early_rx.take(), media.as_mut()) {
        m.inbound = rx;
    }
    let Some(resp) = resp.filter(|_| report.outcome == DialResult::Answered) else {
        if let Some(m) = media {
            report.media = Some(m.stop().await);
        }
        return Ok(report);
    };
    // A 2xx after our CANCEL crossed it: the stack BYEs it; treat as no answer.
    if cancelled {
        report.outcome = DialResult::NoAnswer;
        if report.agent.is_none() {
            report.policy_outcome = report.outcome.to_policy();
        }
        return Ok(report);
    }

    // --- answered ---
    report.answered = true;
    let params = match local.read_answer(&String::from_utf8_lossy(&resp.body)) {
        Ok(p) => p,
        Err(e) => {
            // RFC 3264: an unusable answer ends the call; say why.
            report.sdp_error = Some(e.to_string());
            let _ = dialog.hangup_with_reason(sdp_reason(&e)).await;
            report.hangup_by = Some("us");
            layer.remove_dialog(&dialog.id());
            if let Some(m) = media {
                report.media = Some(m.stop().await);
            }
            return Ok(report);
        }
    };
    report.codec = Some(params.codec);
    let mut media = match media {
        Some(m) => {
            m.set_remote(params.remote);
            m
        }
        None => match rtp.take() {
            Some(sock) => {
                runtime.start(sock, media_cfg(params.codec, params.dtmf_pt, params.remote))
            }
            None => {
                return Err(UaError::Stack(rsipstack::Error::Error(
                    "RTP socket already in use".into(),
                )))
            }
        },
    };
    if let Some(pcm) = &play {
        media.playout.push_8k(pcm);
    }
    if let Some(d) = &req.dtmf {
        media.send_dtmf(d);
    }
    let answered_at = Instant::now();
    let clock = crate::time::MonotonicClock::new();
    let at = |m: Millis| Instant::from_std(clock.instant_of(m));
    // The agent gets the customer's audio and the playout; the call keeps the dialog.
    let (agent_tx, mut agent_rx) = tokio::sync::mpsc::unbounded_channel::<AgentCommand>();
    let (events_tx, events_rx) = std::sync::mpsc::channel::<CallEvent>();
    let agent_thread = agent.map(|a| {
        a.start(
            AgentMedia {
                inbound: media.take_inbound(),
                playout: media.playout.clone(),
                events: events_rx,
            },
            agent_tx.clone(),
        )
    });
    let has_agent = agent_thread.is_some();
    drop(agent_tx);
    let mut agent_open = has_agent;
    let mut context = req.context.clone();
    let timer = resp.headers.iter().find_map(|h| match h {
        Header::SessionExpires(v) => SessionTimer::from_answer(v.value()),
        _ => None,
    });
    report.session_expires_s = timer.map(|t| t.interval.as_secs());
    let mut last_refresh = clock.now();
    let mut sdp_version = local.version;
    let hold_at = req.hold.map(|(after, _)| answered_at + after);
    let resume_at = req.hold.map(|(after, len)| answered_at + after + len);
    let mut holding = 0u8; // 0 not yet, 1 on hold, 2 resumed
    let mut hangup_at = req.hangup_after.map(|d| answered_at + d);
    let has_target = req.refer_to.is_some() || req.consult.is_some();
    // With an agent, the conversation decides when to transfer; without, the timer does.
    let mut refer_at = (has_target && !has_agent).then(|| answered_at + req.refer_after);
    let mut transfer: Option<(BlindTransfer, TransferReport)> = None;
    let mut consult: Option<ConsultLeg> = None;
    let (refer_tx, mut refer_rx) = tokio::sync::mpsc::unbounded_channel::<Option<u16>>();
    let far_future = answered_at + Duration::from_secs(86_400);
    loop {
        let t_deadline = transfer
            .as_ref()
            .filter(|(t, _)| !t.is_done())
            .map(|(t, _)| at(t.deadline()))
            .unwrap_or(far_future);
        let refer_due = if transfer.is_none() { refer_at } else { None };
        tokio::select! {
            s = states.recv() => match s {
                Some(DialogState::Terminated(_, why)) => {
                    report.hangup_by = Some(match why {
                        TerminatedReason::UacBye | TerminatedReason::UacCancel => "us",
                        _ => "peer",
                    });
                    break;
                }
                Some(DialogState::Notify(_, r, handle)) => {
                    let _ = handle.reply(StatusCode::OK).await;
                    let sub_state = r.headers.iter().find_map(|h| match h {
                        Header::SubscriptionState(v) => Some(v.to_string()),
                        Header::Other(n, v) if n.eq_ignore_ascii_case("subscription-state") => Some(v.clone()),
                        _ => None,
                    }).unwrap_or_default();
                    if let (Some((t, rep)), Some(c)) = (transfer.as_mut(), parse_sipfrag(&r.body)) {
                        rep.notifies.push(c);
                        t.on_notify(c, sub_state.to_ascii_lowercase().starts_with("terminated"));
                    }
                }
                Some(DialogState::Updated(_, r, handle)) if r.method == Method::Invite => {
                    // re-INVITE (hold/resume, session refresh): answer from the offer.
                    last_refresh = clock.now();
                    match local.answer(&String::from_utf8_lossy(&r.body)) {
                        Ok((sdp, p)) => {
                            media.set_remote(p.remote);
                            let _ = handle.respond(StatusCode::OK, Some(vec![Header::ContentType("application/sdp".into())]), Some(sdp.into_bytes())).await;
                        }
                        Err(e) => {
                            tracing::info!(error = %e, "re-INVITE offer refused");
                            let _ = handle.reply(StatusCode::NotAcceptableHere).await;
                        }
                    }
                }
                Some(DialogState::Updated(_, _, handle) | DialogState::Options(_, _, handle) | DialogState::Info(_, _, handle)) => {
                    let _ = handle.reply(StatusCode::OK).await;
                }
                Some(DialogState::Refer(_, _, handle)) | Some(DialogState::Message(_, _, handle)) => {
                    let _ = handle.reply(StatusCode::MethodNotAllowed).await;
                }
                Some(_) => {}
                None => break,
            },
            c = refer_rx.recv() => {
                if let (Some((t, rep)), Some(c)) = (transfer.as_mut(), c) {
                    rep.refer_code = c;
                    match c {
                        Some(code) => t.on_refer_response(code),
                        None => t.on_refer_response(408),
                    }
                }
            }
            _ = sleep_until_opt(refer_due) => {
                let mut t = BlindTransfer::new(clock.now(), req.transfer_timeout);
                let mut target = req.refer_to.clone().unwrap_or_default();
                let mut refer_to_text = refer_to_value(&target, &context, None);
                if let Some(agent) = &req.consult {
                    match consult_call(layer, runtime, sip_addr, &from, agent, req.transfer_timeout).await {
                        Ok(leg) => {
                            let id = leg.dialog.id();
                            if req.refer_to.is_none() {
                                target = leg.contact.clone().unwrap_or_else(|| agent.clone());
                            }
                            let replaces = ReplacesDialog {
                                call_id: id.call_id.clone(),
                                remote_tag: id.remote_tag.clone(),
                                local_tag: id.local_tag.clone(),
                            };
                            refer_to_text = refer_to_value(&target, &context, Some(&replaces));
                            consult = Some(leg);
                        }
                        Err(code) => t.on_consult_failed(code),
                    }
                }
                if !t.is_done() {
                    let mut headers = vec![Header::ReferredBy(format!("<{from}>").into())];
                    for (k, v) in &context {
                        headers.push(Header::Other(format!("X-Voxdial-{k}"), v.clone()));
                    }
                    let d = dialog.clone();
                    let refer_to: rsipstack::sip::headers::ReferTo = refer_to_text.into();
                    let tx = refer_tx.clone();
                    tokio::spawn(async move {
                        let r = d.refer(refer_to, Some(headers), None).await;
                        let code = r.ok().flatten().map(|r| u16::from(r.status_code));
                        let _ = tx.send(code);
                    });
                }
                transfer = Some((t, TransferReport {
                    target,
                    refer_code: None,
                    notifies: vec![],
                    result: TransferState::Requested,
                    bot_resumed: false,
                    bridged: false,
                    agent_media: None,
                    announced: false,
                }));
            }
            _ = tokio::time::sleep_until(t_deadline) => {
                if let Some((t, _)) = transfer.as_mut() {
                    t.on_time(clock.now());
                }
            }
            _ = sleep_until_opt(timer.and_then(|t| t.refresh_due(last_refresh)).map(at)) => {
                sdp_version += 1;
                let offer = LocalMedia { version: sdp_version, ..local.clone() }.offer(Direction::SendRecv);
                let t = timer.map(|t| t.header_value()).unwrap_or_default();
                let code = reinvite(&dialog, offer, Some(t)).await;
                report.reinvites.push(code);
                last_refresh = clock.now();
                if matches!(code, Some(408 | 481) | None) {
                    // RFC 4028 §10: a refresh that cannot reach the dialog ends the session.
                    let _ = dialog.bye().await;
                    report.hangup_by = Some("us");
                    report.session_expired = true;
                    break;
                }
            }
            _ = sleep_until_opt(timer.and_then(|t| t.expiry(last_refresh)).map(at)) => {
                tracing::info!("the peer stopped refreshing the session; ending it");
                let _ = dialog.bye().await;
                report.hangup_by = Some("us");
                report.session_expired = true;
                break;
            }
            _ = sleep_until_opt(if holding == 0 { hold_at } else if holding == 1 { resume_at } else { None }) => {
                sdp_version += 1;
                let dir = if holding == 0 { Direction::SendOnly } else { Direction::SendRecv };
                let offer = LocalMedia { version: sdp_version, ..local.clone() }.offer(dir);
                report.reinvites.push(reinvite(&dialog, offer, timer.map(|t| t.header_value())).await);
                holding += 1;
            }
            _ = sleep_until_opt(hangup_at) => {
                let _ = dialog.bye().await;
                report.hangup_by = Some("us");
                break;
            }
            c = agent_rx.recv(), if agent_open => match c {
                Some(AgentCommand::Transfer { reason }) => {
                    if transfer.is_some() || refer_at.is_some() {
                        tracing::info!("transfer already under way; request ignored");
                    } else if has_target {
                        context.push(("Reason".into(), reason));
                        refer_at = Some(Instant::now());
                    } else {
                        tracing::info!(%reason, "transfer requested but no queue is configured");
                        let _ = events_tx.send(CallEvent::TransferFailed("no_queue".into()));
                    }
                }
                Some(AgentCommand::Hangup { outcome }) => {
                    // Let the goodbye play out first (bounded, in case the queue is huge).
                    let tail = Duration::from_millis(media.playout.queued_ms().min(30_000) + 300);
                    tracing::info!(%outcome, "the agent ends the call");
                    let at = Instant::now() + tail;
                    hangup_at = Some(hangup_at.map_or(at, |h| h.min(at)));
                }
                None => agent_open = false,
            },
        }
        if let Some((t, rep)) = transfer.as_mut() {
            if t.is_done() && rep.result != *t.state() {
                rep.result = t.state().clone();
                match t.state() {
                    TransferState::Completed { .. } => {
                        let _ = events_tx.send(CallEvent::TransferCompleted);
                        // The customer is with the agent now: our leg ends.
                        let _ = dialog.bye().await;
                        report.hangup_by = Some("us");
                        break;
                    }
                    TransferState::Failed(TransferFailure::ReferRejected { code })
                        if req.bridge_fallback && consult.is_none() && !has_agent =>
                    {
                        // The customer's phone cannot transfer: call the agent ourselves
                        // and relay media between the two legs.
                        tracing::info!(code, "REFER refused; bridging to the agent");
                        match consult_call(
                            layer,
                            runtime,
                            sip_addr,
                            &from,
                            &rep.target,
                            req.transfer_timeout,
                        )
                        .await
                        {
                            Ok(mut leg) => {
                                if let Some(agent_media) = leg.media.as_mut() {
                                    bridge(&mut media, agent_media);
                                }
                                rep.bridged = true;
                                consult = Some(leg);
                            }
                            Err(code) => {
                                tracing::info!(?code, "bridge call failed; the bot keeps the call");
                                rep.bot_resumed = true;
                            }
                        }
                    }
                    TransferState::Failed(why) => {
                        tracing::info!(?why, "transfer failed; the bot keeps the call");
                        rep.bot_resumed = true;
                        let _ = events_tx.send(CallEvent::TransferFailed(format!("{why:?}")));
                        if let (Some(pcm), false) = (&take_back, has_agent) {
                            media.playout.flush();
                            media.playout.push_8k(pcm);
                            rep.announced = true;
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    report.duration_s = answered_at.elapsed().as_secs_f64();
    if let Some((mut t, mut rep)) = transfer {
        if !t.is_done() {
            t.on_call_ended();
        }
        rep.result = t.state().clone();
        report.transfer = Some(rep);
    }
    if let Some(leg) = consult.take() {
        let m = leg.end(layer).await;
        if let Some(t) = report.transfer.as_mut() {
            t.agent_media = m;
        }
    }
    report.media = Some(media.stop().await);
    layer.remove_dialog(&dialog.id());
    // Stopping the media closed the agent's inbound stream, so its thread is ending.
    if let Some(h) = agent_thread {
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
    Ok(report)
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

/// Relay media between two legs (the bridge fallback): each side's 16 kHz frames are
/// queued on the other side's playout.
fn bridge(a: &mut MediaHandle, b: &mut MediaHandle) {
    let (mut a_in, mut b_in) = (a.take_inbound(), b.take_inbound());
    let (a_out, b_out) = (a.playout.clone(), b.playout.clone());
    tokio::spawn(async move {
        loop {
            tokio::select! {
                f = a_in.recv() => match f { Some(f) => b_out.push_16k(&f), None => break },
                f = b_in.recv() => match f { Some(f) => a_out.push_16k(&f), None => break },
            }
        }
    });
}

/// The consultation leg of an attended transfer.
struct ConsultLeg {
    dialog: rsipstack::dialog::invite_dialog::InviteDialog,
    media: Option<MediaHandle>,
    contact: Option<String>,
}

impl ConsultLeg {
    /// Hang up the leg unless the agent already did (it BYEs it when the Replaces lands).
    async fn end(self, layer: &DialogLayer) -> Option<MediaReport> {
        for _ in 0..20 {
            if self.dialog.inner_terminated() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if !self.dialog.inner_terminated() {
            let _ = self.dialog.bye().await;
        }
        let report = match self.media {
            Some(m) => Some(m.stop().await),
            None => None,
        };
        layer.remove_dialog(&self.dialog.id());
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

/// Place the consultation call to the agent; the agent's final failure code on error.
async fn consult_call(
    layer: &Arc<DialogLayer>,
    runtime: &MediaRuntime,
    sip_addr: SocketAddr,
    from: &str,
    agent: &str,
    limit: Duration,
) -> Result<ConsultLeg, Option<u16>> {
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
        ..Default::default()
    };
    let (states_tx, _states) = layer.new_dialog_state_channel();
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
    Ok(ConsultLeg {
        dialog,
        media,
        contact,
    })
}

fn next_rand_u32(local: &LocalMedia) -> u32 {
    (local.session_id as u32) ^ 0x5EED_0000
}

fn sdp_reason(e: &SdpError) -> String {
    format!("SIP ;cause=488 ;text=\"{e}\"")
}

async fn recv_opt(rx: &mut Option<tokio::sync::mpsc::Receiver<Vec<i16>>>) -> Option<Vec<i16>> {
    match rx {
        Some(r) => r.recv().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until_opt(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}
