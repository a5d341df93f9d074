//! The human queue on 127.0.0.1: agents' phones register with digest auth, a customer's
//! hand-off INVITE reaches the queue, hears hold audio, is bridged to the registered
//! agent (who sees the `X-Voxdial-*` context), and audio flows both ways; a busy agent
//! and a customer given up on after the maximum wait.

mod common;
use common::tone_8k;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use voxdial::media::worker::MediaRuntime;
use voxdial::queue::{
    AgentAccount, AgentState, GiveUpReason, HandoffResult, QueueConfig, ServeOptions,
};
use voxdial::sip::agent::{AgentCommand, AgentMedia, AgentReport, CallAgent};
use voxdial::sip::registrar::{serve_registrar, Registrar, RegistrarConfig};
use voxdial::sip::ua::{CallRequest, InboundRoutes, SipUa};
use voxdial::sip::uas::{AnswerOptions, EndedBy, IncomingCall};
use voxdial::time::MonotonicClock;

const LOCAL: &str = "127.0.0.1:0";

/// What a test phone heard.
#[derive(Debug, Default)]
struct Heard {
    frames: u64,
    /// Frames dominated by the other side's tone.
    tone: u64,
    /// Loud frames before the first tone frame (hold audio, on the customer's side).
    before_tone: u64,
}

/// A phone that plays a steady tone and listens for another; hangs up after hearing
/// the other tone for `hang_up_after` frames, if set.
struct TonePhone {
    play_hz: f64,
    listen_hz: f64,
    hang_up_after: Option<u64>,
    /// Hang up after this many frames whatever was heard (a customer tired of waiting).
    give_up_after: Option<u64>,
    heard: Arc<Mutex<Heard>>,
}

/// The share of a 16 kHz frame's energy at `hz` (Goertzel).
fn tone_share(frame: &[i16], hz: f64) -> f64 {
    let n = frame.len() as f64;
    let w = 2.0 * std::f64::consts::PI * hz / 16000.0;
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    let mut energy = 0.0;
    for &x in frame {
        let x = f64::from(x);
        energy += x * x;
        let s = x + 2.0 * w.cos() * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    let power = s1 * s1 + s2 * s2 - 2.0 * w.cos() * s1 * s2;
    if energy < 1e6 {
        return 0.0;
    }
    2.0 * power / (n * energy)
}

impl CallAgent for TonePhone {
    fn start(
        self: Box<Self>,
        mut media: AgentMedia,
        commands: mpsc::UnboundedSender<AgentCommand>,
    ) -> std::thread::JoinHandle<AgentReport> {
        std::thread::spawn(move || {
            let tone = tone_8k(self.play_hz, 20, 8000.0);
            let mut hung_up = false;
            while let Some(f) = media.inbound.blocking_recv() {
                while media.playout.queued_ms() < 100 {
                    media.playout.push_8k(&tone);
                }
                let mut h = self.heard.lock().unwrap();
                h.frames += 1;
                let loud =
                    f.iter().map(|&s| f64::from(s).abs()).sum::<f64>() / f.len() as f64 > 100.0;
                if tone_share(&f, self.listen_hz) > 0.5 {
                    h.tone += 1;
                } else if loud && h.tone == 0 {
                    h.before_tone += 1;
                }
                if !hung_up
                    && (self.hang_up_after.is_some_and(|n| h.tone >= n)
                        || self.give_up_after.is_some_and(|n| h.frames >= n))
                {
                    hung_up = true;
                    let _ = commands.send(AgentCommand::Hangup {
                        outcome: "done".into(),
                        after_playout: false,
                    });
                }
            }
            AgentReport::default()
        })
    }
}

/// What the agent's phone saw of the calls it was offered.
#[derive(Debug, Default)]
struct PhoneLog {
    invites: u32,
    /// Answered calls that are over.
    ended: u32,
    /// Calls the caller CANCELled before the phone picked up.
    cancelled: u32,
    contexts: Vec<Vec<(String, String)>>,
}

/// An agent's phone: registers as `user`, then answers every INVITE after 800 ms with a
/// tone phone, or refuses it with `busy`.
async fn agent_phone(
    media: MediaRuntime,
    registrar: &str,
    user: &str,
    password: &str,
    busy: Option<u16>,
    heard: Arc<Mutex<Heard>>,
) -> (Arc<SipUa>, Arc<Mutex<PhoneLog>>, u16) {
    // A person takes a moment to pick up: the customer hears hold audio.
    let pick_up = Duration::from_millis(800);
    agent_phone_picking_up(media, registrar, user, password, busy, heard, pick_up).await
}

/// [`agent_phone`] picking up after `pick_up`, unless the caller CANCELs first.
async fn agent_phone_picking_up(
    media: MediaRuntime,
    registrar: &str,
    user: &str,
    password: &str,
    busy: Option<u16>,
    heard: Arc<Mutex<Heard>>,
    pick_up: Duration,
) -> (Arc<SipUa>, Arc<Mutex<PhoneLog>>, u16) {
    let (ua, mut rx) = common::answering_ua(media).await;
    let ua = Arc::new(ua);
    // An empty registrar: a desk phone at a fixed address, which does not register.
    let code = if registrar.is_empty() {
        0
    } else {
        ua.register(registrar, user, password, 60).await.unwrap()
    };
    let log = Arc::new(Mutex::new(PhoneLog::default()));
    let (ua2, log2) = (ua.clone(), log.clone());
    tokio::spawn(async move {
        while let Some(t) = rx.recv().await {
            let mut call = IncomingCall::new(&ua2, t).unwrap();
            {
                let mut l = log2.lock().unwrap();
                l.invites += 1;
                l.contexts.push(call.context().to_vec());
            }
            if let Some(code) = busy {
                call.reject(code);
                continue;
            }
            call.ring();
            let heard = heard.clone();
            let log3 = log2.clone();
            tokio::spawn(async move {
                tokio::select! {
                    _ = tokio::time::sleep(pick_up) => {}
                    _ = call.cancelled() => {}
                }
                let phone = TonePhone {
                    play_hz: 1800.0,
                    listen_hz: 700.0,
                    hang_up_after: None,
                    give_up_after: None,
                    heard,
                };
                let r = call.answer(Box::new(phone), AnswerOptions::default()).await;
                let mut l = log3.lock().unwrap();
                if r.is_ok_and(|r| r.ended_by == EndedBy::Cancelled && !r.answered) {
                    l.cancelled += 1;
                } else {
                    l.ended += 1;
                }
            });
        }
    });
    (ua, log, code)
}

/// voxdial's side: one user agent serving the registrar and the queue `care`.
struct Voxdial {
    ua: Arc<SipUa>,
    registrar: Arc<Mutex<Registrar>>,
    queue: voxdial::queue::QueueHandle,
    records: mpsc::UnboundedReceiver<voxdial::queue::HandoffRecord>,
}

async fn voxdial(
    media: MediaRuntime,
    config: QueueConfig,
    record_dir: &std::path::Path,
) -> Voxdial {
    let (inv_tx, mut inv_rx) = mpsc::unbounded_channel();
    let (reg_tx, reg_rx) = mpsc::unbounded_channel();
    let ua = Arc::new(
        SipUa::bind_with(
            LOCAL.parse().unwrap(),
            media,
            InboundRoutes {
                invite: Some(inv_tx),
                register: Some(reg_tx),
            },
        )
        .await
        .unwrap(),
    );
    let accounts = config
        .agents
        .iter()
        .map(|a| (a.user.clone(), a.password.clone()));
    let registrar = Arc::new(Mutex::new(Registrar::new(
        RegistrarConfig::default(),
        accounts,
        42,
    )));
    tokio::spawn(serve_registrar(reg_rx, registrar.clone()));
    let (queue, records) = voxdial::queue::start(
        ua.clone(),
        &config,
        Some(registrar.clone()),
        ServeOptions {
            record_dir: Some(record_dir.to_path_buf()),
            sorry_audio: None,
        },
    )
    .unwrap();
    let (ua2, q2) = (ua.clone(), queue.clone());
    tokio::spawn(async move {
        while let Some(t) = inv_rx.recv().await {
            match IncomingCall::new(&ua2, t) {
                Ok(call) if call.dialled_user() == q2.name() => q2.take(call),
                Ok(call) => call.reject(404),
                Err(_) => {}
            }
        }
    });
    Voxdial {
        ua,
        registrar,
        queue,
        records,
    }
}

fn config(max_wait_s: u32, ring_timeout_s: u32) -> QueueConfig {
    QueueConfig {
        name: "care".into(),
        max_wait_s,
        ring_timeout_s,
        wrap_up_s: 30,
        hold_audio: concat!(env!("CARGO_MANIFEST_DIR"), "/voices/hold/hold.wav").into(),
        agents: vec![AgentAccount {
            user: "1001".into(),
            password: "open sesame".into(),
            contact: None,
        }],
    }
}

/// Wait (bounded) until the queue sees the agent online.
async fn until_available(q: &voxdial::queue::QueueHandle) {
    for _ in 0..50 {
        if q.agents().iter().any(|a| a.state == AgentState::Available) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "the registered agent never became available: {:?}",
        q.agents()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_register_with_digest_auth() {
    let media = MediaRuntime::new(1);
    let dir = tempfile::tempdir().unwrap();
    let vx = voxdial(media.clone(), config(60, 10), dir.path()).await;
    let registrar_uri = format!("sip:{}", vx.ua.local_addr());
    let heard = Arc::new(Mutex::new(Heard::default()));
    let (_bad, _, code) = agent_phone(
        media.clone(),
        &registrar_uri,
        "1001",
        "wrong",
        None,
        heard.clone(),
    )
    .await;
    assert_eq!(code, 403, "a wrong password is refused after the challenge");
    let (_stranger, _, code) = agent_phone(
        media.clone(),
        &registrar_uri,
        "9999",
        "x",
        None,
        heard.clone(),
    )
    .await;
    assert_eq!(code, 403, "an unknown user is refused");
    let clock = MonotonicClock::new();
    assert_eq!(
        vx.registrar.lock().unwrap().contact("1001", clock.now()),
        None
    );
    let (phone, _, code) = agent_phone(
        media.clone(),
        &registrar_uri,
        "1001",
        "open sesame",
        None,
        heard,
    )
    .await;
    assert_eq!(code, 200);
    let now = clock.now();
    let r = vx.registrar.lock().unwrap();
    assert_eq!(
        r.contact("1001", now),
        Some(format!("sip:1001@{}", phone.local_addr()).as_str())
    );
    // Granted the 60 s asked for: gone after that.
    assert!(r.contact("1001", now + Duration::from_secs(59)).is_some());
    assert_eq!(r.contact("1001", now + Duration::from_secs(61)), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handoff_reaches_the_registered_agent_with_its_context_and_audio_both_ways() {
    let media = MediaRuntime::new(1);
    let dir = tempfile::tempdir().unwrap();
    let mut vx = voxdial(media.clone(), config(60, 10), dir.path()).await;
    let agent_heard = Arc::new(Mutex::new(Heard::default()));
    let (_phone, log, code) = agent_phone(
        media.clone(),
        &format!("sip:{}", vx.ua.local_addr()),
        "1001",
        "open sesame",
        None,
        agent_heard.clone(),
    )
    .await;
    assert_eq!(code, 200);
    until_available(&vx.queue).await;

    // The customer's phone, honouring the bot's REFER, calls the queue with the context.
    let customer = SipUa::bind(LOCAL.parse().unwrap(), media.clone())
        .await
        .unwrap();
    let customer_heard = Arc::new(Mutex::new(Heard::default()));
    let phone = TonePhone {
        play_hz: 700.0,
        listen_hz: 1800.0,
        hang_up_after: Some(50),
        give_up_after: None,
        heard: customer_heard.clone(),
    };
    let req = CallRequest {
        to: format!("sip:care@{}", vx.ua.local_addr()),
        bind: customer.local_addr(),
        ring_timeout: Duration::from_secs(10),
        invite_headers: vec![
            ("X-Voxdial-Reason".into(), "wants_human".into()),
            ("X-Voxdial-Lead".into(), "42".into()),
        ],
        ..Default::default()
    };
    let report = tokio::time::timeout(
        Duration::from_secs(30),
        customer.call_with(req, Box::new(phone)),
    )
    .await
    .expect("the call ends")
    .unwrap();
    assert!(report.answered, "{report:?}");

    let record = tokio::time::timeout(Duration::from_secs(10), vx.records.recv())
        .await
        .expect("a hand-off record")
        .unwrap();
    assert_eq!(record.result, HandoffResult::Bridged, "{record:?}");
    assert_eq!(record.agent.as_deref(), Some("1001"));
    let ctx = vec![
        ("Reason".to_string(), "wants_human".to_string()),
        ("Lead".to_string(), "42".to_string()),
    ];
    assert_eq!(record.context, ctx);
    assert!(record.talk_ms >= 500, "{record:?}");
    // The agent's phone got the context as headers on the queue's INVITE.
    let log = log.lock().unwrap();
    assert_eq!(log.invites, 1);
    assert_eq!(log.contexts[0], ctx);
    // Hold audio first, then the agent's voice; and the customer's voice at the agent.
    let c = customer_heard.lock().unwrap();
    assert!(c.before_tone >= 10, "hold audio before the agent: {c:?}");
    assert!(c.tone >= 50, "{c:?}");
    let a = agent_heard.lock().unwrap();
    assert!(a.tone >= 25, "the agent heard the customer: {a:?}");
    // The human part is recorded in stereo.
    let path = record.recording.expect("a recording");
    let wav = hound::WavReader::open(&path).unwrap();
    assert_eq!(wav.spec().channels, 2);
    assert!(wav.duration() > 8000, "{}", wav.duration());
    // The agent is wrapping up, one call taken.
    let agent = vx.queue.agents().remove(0);
    assert_eq!(
        (agent.state, agent.calls),
        (AgentState::WrapUp, 1),
        "{agent:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_agent_leaves_the_customer_waiting_until_the_queue_gives_up() {
    let media = MediaRuntime::new(1);
    let dir = tempfile::tempdir().unwrap();
    let mut vx = voxdial(media.clone(), config(3, 2), dir.path()).await;
    let (_phone, log, code) = agent_phone(
        media.clone(),
        &format!("sip:{}", vx.ua.local_addr()),
        "1001",
        "open sesame",
        Some(486),
        Arc::new(Mutex::new(Heard::default())),
    )
    .await;
    assert_eq!(code, 200);
    until_available(&vx.queue).await;
    let customer = SipUa::bind(LOCAL.parse().unwrap(), media.clone())
        .await
        .unwrap();
    let heard = Arc::new(Mutex::new(Heard::default()));
    let phone = TonePhone {
        play_hz: 700.0,
        listen_hz: 1800.0,
        hang_up_after: None,
        give_up_after: None,
        heard: heard.clone(),
    };
    let req = CallRequest {
        to: format!("sip:care@{}", vx.ua.local_addr()),
        bind: customer.local_addr(),
        ring_timeout: Duration::from_secs(10),
        invite_headers: vec![("X-Voxdial-Reason".into(), "dispute".into())],
        ..Default::default()
    };
    let report = tokio::time::timeout(
        Duration::from_secs(30),
        customer.call_with(req, Box::new(phone)),
    )
    .await
    .expect("the queue ends the call")
    .unwrap();
    assert!(report.answered);
    assert_eq!(report.hangup_by, Some("peer"), "{report:?}");
    let record = tokio::time::timeout(Duration::from_secs(10), vx.records.recv())
        .await
        .expect("a hand-off record")
        .unwrap();
    assert_eq!(record.result, HandoffResult::AgentFailed(486), "{record:?}");
    assert_eq!(record.give_up, Some(GiveUpReason::MaxWait));
    assert_eq!(record.agent.as_deref(), Some("1001"));
    assert!(record.waited_ms >= 3000, "{record:?}");
    assert_eq!(record.talk_ms, 0);
    assert_eq!(
        log.lock().unwrap().invites,
        1,
        "rung once, then the penalty"
    );
    let h = heard.lock().unwrap();
    assert!(h.before_tone >= 50, "hold audio while waiting: {h:?}");
    assert_eq!(h.tone, 0);
    let agent = vx.queue.agents().remove(0);
    assert_eq!(
        (agent.state, agent.calls, agent.missed),
        (AgentState::Available, 0, 1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_who_hangs_up_while_the_agent_rings_is_recorded_and_the_agents_ring_cancelled() {
    let media = MediaRuntime::new(1);
    let dir = tempfile::tempdir().unwrap();
    let mut vx = voxdial(media.clone(), config(60, 10), dir.path()).await;
    let agent_heard = Arc::new(Mutex::new(Heard::default()));
    // The agent's phone rings for 8 s (within the queue's 10 s ring timeout) unless the
    // queue CANCELs it; the customer hangs up after 200 ms of hold.
    let (_phone, log, code) = agent_phone_picking_up(
        media.clone(),
        &format!("sip:{}", vx.ua.local_addr()),
        "1001",
        "open sesame",
        None,
        agent_heard.clone(),
        Duration::from_secs(8),
    )
    .await;
    assert_eq!(code, 200);
    until_available(&vx.queue).await;
    let customer = SipUa::bind(LOCAL.parse().unwrap(), media.clone())
        .await
        .unwrap();
    let phone = TonePhone {
        play_hz: 700.0,
        listen_hz: 1800.0,
        hang_up_after: None,
        give_up_after: Some(10),
        heard: Arc::new(Mutex::new(Heard::default())),
    };
    let req = CallRequest {
        to: format!("sip:care@{}", vx.ua.local_addr()),
        bind: customer.local_addr(),
        ring_timeout: Duration::from_secs(10),
        ..Default::default()
    };
    let report = tokio::time::timeout(
        Duration::from_secs(30),
        customer.call_with(req, Box::new(phone)),
    )
    .await
    .expect("the call ends")
    .unwrap();
    assert_eq!(report.hangup_by, Some("us"), "{report:?}");
    let record = tokio::time::timeout(Duration::from_secs(10), vx.records.recv())
        .await
        .expect("a hand-off record")
        .unwrap();
    assert_eq!(record.result, HandoffResult::CustomerLeft, "{record:?}");
    assert_eq!(record.talk_ms, 0);
    // The agent's phone got the queue's CANCEL over the wire while it rang, and was
    // never answered: without the CANCEL it would pick up at 8 s and be hung up.
    for _ in 0..100 {
        let done = {
            let l = log.lock().unwrap();
            l.cancelled + l.ended > 0
        };
        if done {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let l = log.lock().unwrap();
    assert_eq!(
        (l.invites, l.cancelled, l.ended),
        (1, 1, 0),
        "the ring is CANCELled"
    );
    let a = agent_heard.lock().unwrap();
    assert_eq!(a.frames, 0, "never answered: {a:?}");
    let agent = vx.queue.agents().remove(0);
    assert_eq!(
        (agent.state, agent.calls, agent.missed),
        (AgentState::Available, 0, 1),
        "{agent:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_agent_logged_in_the_handoff_is_refused_before_the_answer() {
    let media = MediaRuntime::new(1);
    let dir = tempfile::tempdir().unwrap();
    let mut vx = voxdial(media.clone(), config(60, 10), dir.path()).await;
    let customer = SipUa::bind(LOCAL.parse().unwrap(), media.clone())
        .await
        .unwrap();
    let req = CallRequest {
        to: format!("sip:care@{}", vx.ua.local_addr()),
        bind: customer.local_addr(),
        ring_timeout: Duration::from_secs(10),
        invite_headers: vec![("X-Voxdial-Reason".into(), "wants_human".into())],
        ..Default::default()
    };
    let phone = TonePhone {
        play_hz: 700.0,
        listen_hz: 1800.0,
        hang_up_after: None,
        give_up_after: None,
        heard: Arc::new(Mutex::new(Heard::default())),
    };
    let report = tokio::time::timeout(
        Duration::from_secs(30),
        customer.call_with(req, Box::new(phone)),
    )
    .await
    .expect("the call ends")
    .unwrap();
    // Not answered, so the transferor (the bot) hears the failure and keeps the customer.
    assert!(!report.answered);
    assert_eq!(report.sip_code, Some(480), "{report:?}");
    let record = vx.records.recv().await.unwrap();
    assert_eq!(
        (
            record.result,
            record.give_up,
            record.agent,
            record.recording
        ),
        (
            HandoffResult::NoAgent,
            Some(GiveUpReason::NoAgents),
            None,
            None
        )
    );
    assert_eq!(
        record.context,
        vec![("Reason".to_string(), "wants_human".to_string())]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_with_a_fixed_contact_takes_calls_without_registering() {
    let media = MediaRuntime::new(1);
    let dir = tempfile::tempdir().unwrap();
    let agent_heard = Arc::new(Mutex::new(Heard::default()));
    let (desk, log, _) =
        agent_phone(media.clone(), "", "desk", "", None, agent_heard.clone()).await;
    let mut cfg = config(60, 10);
    cfg.agents = vec![AgentAccount {
        user: "desk".into(),
        password: String::new(),
        contact: Some(format!("sip:desk@{}", desk.local_addr())),
    }];
    let mut vx = voxdial(media.clone(), cfg, dir.path()).await;
    assert_eq!(vx.queue.agents()[0].state, AgentState::Available);
    let customer = SipUa::bind(LOCAL.parse().unwrap(), media.clone())
        .await
        .unwrap();
    let phone = TonePhone {
        play_hz: 700.0,
        listen_hz: 1800.0,
        hang_up_after: Some(25),
        give_up_after: None,
        heard: Arc::new(Mutex::new(Heard::default())),
    };
    let req = CallRequest {
        to: format!("sip:care@{}", vx.ua.local_addr()),
        bind: customer.local_addr(),
        ring_timeout: Duration::from_secs(10),
        ..Default::default()
    };
    let report = tokio::time::timeout(
        Duration::from_secs(30),
        customer.call_with(req, Box::new(phone)),
    )
    .await
    .expect("the call ends")
    .unwrap();
    assert!(report.answered);
    let record = vx.records.recv().await.unwrap();
    assert_eq!(record.result, HandoffResult::Bridged, "{record:?}");
    assert_eq!(record.agent.as_deref(), Some("desk"));
    assert_eq!(log.lock().unwrap().invites, 1);
    assert!(agent_heard.lock().unwrap().tone > 0);
}

/// A REGISTER as a broken or hostile phone sends it, straight over UDP.
fn raw_register(
    to: std::net::SocketAddr,
    from: std::net::SocketAddr,
    authorization: &str,
) -> String {
    format!(
        "REGISTER sip:{to} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {from};branch=z9hG4bK-raw{n}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:1001@{to}>;tag=raw\r\n\
         To: <sip:1001@{to}>\r\n\
         Call-ID: raw-{n}@127.0.0.1\r\n\
         CSeq: 1 REGISTER\r\n\
         Contact: <sip:1001@{from}>\r\n\
         Authorization: {authorization}\r\n\
         Expires: 60\r\n\
         Content-Length: 0\r\n\r\n",
        n = authorization.len()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_authorization_header_is_answered_400_over_the_wire() {
    let media = MediaRuntime::new(1);
    let dir = tempfile::tempdir().unwrap();
    let vx = voxdial(media, config(60, 10), dir.path()).await;
    let sock = tokio::net::UdpSocket::bind(LOCAL).await.unwrap();
    let from = sock.local_addr().unwrap();
    for auth in [
        "Digest username=\"1001",
        "Digest username=\"1001\", realm=\"voxdial\", nonce=\"x\", uri=\"sip:h\", response=\"nothex\"",
        "Basic MTAwMTpwdw==",
    ] {
        let msg = raw_register(vx.ua.local_addr(), from, auth);
        sock.send_to(msg.as_bytes(), vx.ua.local_addr()).await.unwrap();
        let mut buf = vec![0u8; 4096];
        let (n, _) = tokio::time::timeout(Duration::from_secs(5), sock.recv_from(&mut buf))
            .await
            .expect("an answer")
            .unwrap();
        let text = String::from_utf8_lossy(&buf[..n]);
        assert!(text.starts_with("SIP/2.0 400"), "{auth}: {text}");
        assert!(text.contains("Warning: 399 voxdial \"Authorization header"), "{text}");
    }
}
