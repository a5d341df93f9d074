//! voxdial answering SIP calls (`sip::uas`) on 127.0.0.1: sipp as the caller (answer
//! with audio both ways, busy, no common codec, cancel, hold, a stray BYE), and voxdial
//! calling voxdial in one process (context headers, REFER honoured or refused). Run the
//! sipp tests under `flock /tmp/voxdial-sip.lock`: they use fixed ports.

mod common;
use common::{require_sipp, sip_dir, tone_8k, write_wav_8k, Invites};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::Duration;
use tokio::sync::mpsc;
use voxdial::media::worker::MediaRuntime;
use voxdial::sip::agent::{AgentCommand, AgentMedia, AgentReport, CallAgent};
use voxdial::sip::transfer::{TransferFailure, TransferState};
use voxdial::sip::ua::{CallRequest, SipUa, UaError};
use voxdial::sip::uas::{AnswerOptions, EndedBy, IncomingCall, Referred};

/// Start one sipp caller from tests/sip against `target` on loopback.
fn sipp(target: SocketAddr, args: &[&str]) -> Child {
    let target = target.to_string();
    let mut all = vec![target.as_str()];
    all.extend_from_slice(args);
    all.extend_from_slice(&[
        "-m",
        "1",
        "-s",
        "customer",
        "-timeout",
        "30",
        "-timeout_error",
    ]);
    common::sipp(&sip_dir(), &all)
}

async fn finish(c: Child) -> i32 {
    tokio::task::spawn_blocking(move || common::wait_exit(c, 40))
        .await
        .expect("join")
}

/// A user agent on 127.0.0.1 that hands its new INVITEs to the test.
async fn answering_ua() -> (SipUa, Invites) {
    common::answering_ua(MediaRuntime::new(1)).await
}

async fn next_call(ua: &SipUa, invites: &mut Invites) -> Result<IncomingCall, UaError> {
    let tx = tokio::time::timeout(Duration::from_secs(10), invites.recv())
        .await
        .expect("an INVITE within 10 s")
        .expect("the UA is running");
    IncomingCall::new(ua, tx)
}

/// 8 kHz sine, loud enough to tell from silence and comfort noise.
fn tone(secs: f64) -> Vec<i16> {
    tone_8k(440.0, (secs * 1000.0) as usize, 8000.0)
}

fn tone_wav(dir: &Path) -> PathBuf {
    let path = dir.join("tone.wav");
    write_wav_8k(&path, &tone(3.0));
    path
}

/// The agent of these tests: plays a tone, counts the frames it hears (and the loud
/// ones), optionally hangs up after so many frames, and says when it started.
struct Recorder {
    play: Vec<i16>,
    dtmf: Option<String>,
    hangup_after_frames: Option<u64>,
    started: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Recorder {
    fn boxed() -> Box<Recorder> {
        Box::new(Recorder {
            play: tone(2.0),
            dtmf: None,
            hangup_after_frames: None,
            started: None,
        })
    }
}

impl CallAgent for Recorder {
    fn start(
        self: Box<Self>,
        mut media: AgentMedia,
        commands: mpsc::UnboundedSender<AgentCommand>,
    ) -> std::thread::JoinHandle<AgentReport> {
        std::thread::spawn(move || {
            media.playout.push_8k(&self.play);
            if let Some(digits) = self.dtmf {
                let _ = commands.send(AgentCommand::Dtmf { digits });
            }
            if let Some(s) = self.started {
                let _ = s.send(());
            }
            let (mut frames, mut loud) = (0u64, 0u64);
            while let Some(f) = media.inbound.blocking_recv() {
                frames += 1;
                if f.iter().any(|s| s.abs() > 1000) {
                    loud += 1;
                }
                if Some(frames) == self.hangup_after_frames {
                    let _ = commands.send(AgentCommand::Hangup {
                        outcome: "test".into(),
                        after_playout: false,
                    });
                }
            }
            AgentReport {
                detail: serde_json::json!({ "frames": frames, "loud": loud }),
                policy_outcome: None,
            }
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_calls_in_we_answer_with_audio_both_ways_and_its_bye_ends_the_agent() {
    require_sipp();
    let (ua, mut invites) = answering_ua().await;
    let peer = sipp(
        ua.local_addr(),
        &["-sf", "uac_answer.xml", "-p", "5601", "-mp", "31000"],
    );
    let call = next_call(&ua, &mut invites).await.expect("offer accepted");
    assert_eq!(call.dialled_user(), "customer");
    assert_eq!(call.caller(), "+15551234567");
    assert_eq!(
        call.context(),
        &[
            ("Reason".to_string(), "wants_human".to_string()),
            ("Lead".to_string(), "42".to_string())
        ]
    );
    let dir = tempfile::tempdir().expect("tmp");
    let wav = dir.path().join("in.wav");
    let report = call
        .answer(
            Recorder::boxed(),
            AnswerOptions {
                record: Some(wav.clone()),
                ..Default::default()
            },
        )
        .await
        .expect("answered");
    assert_eq!(finish(peer).await, 0, "sipp's side of the call failed");
    assert!(report.answered);
    assert_eq!(report.ended_by, EndedBy::Remote, "sipp sent the BYE");
    assert_eq!(report.codec, Some(voxdial::media::g711::G711::Alaw));
    let media = report.media.as_ref().expect("media report");
    assert!(media.rtp.received > 40, "{media:?}");
    assert!(media.rtp.sent >= 100, "{media:?}");
    let agent = report
        .agent
        .as_ref()
        .expect("the agent thread ended and reported");
    assert!(agent["loud"].as_u64().unwrap_or(0) > 20, "{agent}");
    // The printed report never shows the caller's number whole.
    let json = serde_json::to_string(&report).expect("json");
    assert!(!json.contains("15551234567"), "{json}");
    assert!(json.contains("4567"), "{json}");
    let mut rd = hound::WavReader::open(&wav).expect("recording");
    assert_eq!(rd.spec().channels, 2);
    let samples: Vec<i16> = rd.samples::<i16>().map(|s| s.expect("sample")).collect();
    assert!(samples.chunks(2).filter(|c| c[0].abs() > 500).count() > 2000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_we_ring_then_refuse_gets_486() {
    require_sipp();
    let (ua, mut invites) = answering_ua().await;
    let peer = sipp(ua.local_addr(), &["-sf", "uac_busy.xml", "-p", "5602"]);
    let mut call = next_call(&ua, &mut invites).await.expect("offer accepted");
    call.ring();
    tokio::time::sleep(Duration::from_millis(200)).await;
    call.reject(486);
    assert_eq!(finish(peer).await, 0, "sipp expected 180 then 486");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offer_without_a_common_codec_is_refused_with_488_naming_it() {
    require_sipp();
    let (ua, mut invites) = answering_ua().await;
    let peer = sipp(ua.local_addr(), &["-sf", "uac_g729.xml", "-p", "5603"]);
    let err = next_call(&ua, &mut invites)
        .await
        .expect_err("G.729 only cannot be answered");
    let chain = format!(
        "{err}: {}",
        std::error::Error::source(&err).expect("source")
    );
    assert!(chain.contains("no common codec"), "{chain}");
    assert!(
        chain.contains("18"),
        "names the offered payload type: {chain}"
    );
    assert_eq!(finish(peer).await, 0, "sipp expected 488 with a Reason");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_that_cancels_while_ringing_ends_the_call_as_cancelled() {
    require_sipp();
    let (ua, mut invites) = answering_ua().await;
    let peer = sipp(ua.local_addr(), &["-sf", "uac_cancel.xml", "-p", "5604"]);
    let mut call = next_call(&ua, &mut invites).await.expect("offer accepted");
    call.ring();
    tokio::time::timeout(Duration::from_secs(10), call.cancelled())
        .await
        .expect("the CANCEL is seen");
    let report = call
        .answer(Recorder::boxed(), AnswerOptions::default())
        .await
        .expect("report");
    assert!(!report.answered);
    assert_eq!(report.ended_by, EndedBy::Cancelled);
    assert_eq!(finish(peer).await, 0, "sipp expected 200 to CANCEL and 487");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hold_re_invite_is_answered_recvonly_and_stray_in_dialog_requests_get_481() {
    require_sipp();
    let (ua, mut invites) = answering_ua().await;
    let stray = sipp(
        ua.local_addr(),
        &["-sf", "uac_unknown_bye.xml", "-p", "5605"],
    );
    assert_eq!(
        finish(stray).await,
        0,
        "sipp expected 481 for a stray BYE and re-INVITE"
    );
    assert!(
        invites.try_recv().is_err(),
        "a re-INVITE of an unknown dialog is not a new call"
    );
    let peer = sipp(
        ua.local_addr(),
        &["-sf", "uac_hold.xml", "-p", "5606", "-mp", "31100"],
    );
    let call = next_call(&ua, &mut invites).await.expect("offer accepted");
    let report = call
        .answer(Recorder::boxed(), AnswerOptions::default())
        .await
        .expect("answered");
    assert_eq!(
        finish(peer).await,
        0,
        "sipp expected a=recvonly in the answer"
    );
    assert_eq!(report.ended_by, EndedBy::Remote);
}

fn to(ua: &SipUa, user: &str) -> String {
    format!("sip:{user}@{}", ua.local_addr())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn voxdial_calls_voxdial_with_context_headers_and_audio_both_ways() {
    let dir = tempfile::tempdir().expect("tmp");
    let (uas, mut invites) = answering_ua().await;
    let uac = SipUa::bind("127.0.0.1:0".parse().expect("addr"), MediaRuntime::new(1))
        .await
        .expect("bind");
    let req = CallRequest {
        to: to(&uas, "+8613812345678"),
        play: Some(tone_wav(dir.path())),
        hangup_after: Some(Duration::from_secs(3)),
        invite_headers: vec![("X-Voxdial-Reason".into(), "wants_human".into())],
        ..Default::default()
    };
    let caller = tokio::spawn(async move { uac.call(req).await });
    let call = next_call(&uas, &mut invites).await.expect("offer accepted");
    assert_eq!(call.dialled_user(), "+8613812345678");
    assert_eq!(
        call.context(),
        &[("Reason".to_string(), "wants_human".to_string())]
    );
    let inbound = call
        .answer(Recorder::boxed(), AnswerOptions::default())
        .await
        .expect("answered");
    let outbound = caller.await.expect("join").expect("call");
    assert!(outbound.answered, "{outbound:?}");
    assert_eq!(inbound.ended_by, EndedBy::Remote, "the caller hung up");
    let heard_by_uas = inbound.agent.as_ref().expect("agent")["loud"]
        .as_u64()
        .unwrap_or(0);
    assert!(heard_by_uas > 50, "the answering agent heard the tone");
    let m = outbound.media.as_ref().expect("media");
    assert!(
        m.customer_audio_s > 1.0,
        "the caller heard the agent: {m:?}"
    );
}

#[tokio::test]
async fn an_invite_header_that_could_inject_lines_is_refused_before_dialling() {
    let uac = SipUa::bind("127.0.0.1:0".parse().expect("addr"), MediaRuntime::new(1))
        .await
        .expect("bind");
    for (name, value) in [
        ("X-Voxdial-Reason", "a\r\nVia: evil"),
        ("X Voxdial", "v"),
        ("Call-ID", "mine"),
    ] {
        let req = CallRequest {
            to: "sip:nobody@127.0.0.1:9".into(),
            invite_headers: vec![(name.into(), value.into())],
            ..Default::default()
        };
        let err = uac.call(req).await.expect_err("refused");
        assert!(matches!(err, UaError::Header { .. }), "{name}: {err}");
    }
}

/// The app of the transferee (UAS-A): for each REFER, place the new leg to the target
/// with the context as headers and report its final code when it is answered.
fn serve_refers(a: std::sync::Arc<SipUa>, mut refers: mpsc::UnboundedReceiver<Referred>) {
    tokio::spawn(async move {
        while let Some(r) = refers.recv().await {
            let (started_tx, started_rx) = tokio::sync::oneshot::channel();
            let agent = Box::new(Recorder {
                play: tone(1.0),
                dtmf: None,
                hangup_after_frames: Some(50),
                started: Some(started_tx),
            });
            let req = CallRequest {
                to: r.target.clone(),
                hangup_after: None,
                invite_headers: r
                    .context
                    .iter()
                    .map(|(k, v)| (format!("X-Voxdial-{k}"), v.clone()))
                    .collect(),
                ..Default::default()
            };
            let a2 = a.clone();
            let leg = tokio::spawn(async move { a2.call_with(req, agent).await });
            let code = match started_rx.await {
                Ok(()) => 200,
                Err(_) => match leg.await {
                    Ok(Ok(rep)) => rep.sip_code.unwrap_or(500),
                    _ => 500,
                },
            };
            let _ = r.result.send(code);
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refer_is_honoured_the_new_leg_carries_the_context_and_the_transferor_leaves() {
    let (ua_a, mut invites_a) = answering_ua().await;
    let ua_a = std::sync::Arc::new(ua_a);
    let (ua_b, mut invites_b) = answering_ua().await;
    let bot = SipUa::bind("127.0.0.1:0".parse().expect("addr"), MediaRuntime::new(1))
        .await
        .expect("bind");
    let queue_uri = to(&ua_b, "queue");
    let req = CallRequest {
        to: to(&ua_a, "customer"),
        refer_to: Some(queue_uri.clone()),
        refer_after: Duration::from_millis(500),
        transfer_timeout: Duration::from_secs(10),
        hangup_after: Some(Duration::from_secs(15)),
        context: vec![("Reason".into(), "wants_human".into())],
        ..Default::default()
    };
    let transferor = tokio::spawn(async move { bot.call(req).await });
    let call_a = next_call(&ua_a, &mut invites_a)
        .await
        .expect("offer accepted");
    let (refer_tx, refer_rx) = mpsc::unbounded_channel();
    serve_refers(ua_a.clone(), refer_rx);
    let answering_b = tokio::spawn(async move {
        let call_b = next_call(&ua_b, &mut invites_b).await.expect("B's offer");
        let context = call_b.context().to_vec();
        let user = call_b.dialled_user().to_string();
        let report = call_b
            .answer(Recorder::boxed(), AnswerOptions::default())
            .await
            .expect("B answered");
        (user, context, report)
    });
    let report_a = call_a
        .answer(
            Recorder::boxed(),
            AnswerOptions {
                refer: Some(refer_tx),
                ..Default::default()
            },
        )
        .await
        .expect("A answered");
    let bot_report = transferor.await.expect("join").expect("call");
    let t = bot_report.transfer.as_ref().expect("a transfer");
    assert!(
        matches!(t.result, TransferState::Completed { code: 200 }),
        "{t:?}"
    );
    assert_eq!(bot_report.hangup_by, Some("us"), "the transferor left");
    assert_eq!(report_a.ended_by, EndedBy::Remote);
    let referred = report_a.referred.as_ref().expect("the REFER honoured");
    assert_eq!(referred.target, queue_uri);
    assert_eq!(referred.code, Some(200));
    assert_eq!(
        referred.context,
        vec![("Reason".to_string(), "wants_human".to_string())]
    );
    let (user, context, report_b) = answering_b.await.expect("join");
    assert_eq!(user, "queue");
    assert_eq!(
        context,
        vec![("Reason".to_string(), "wants_human".to_string())]
    );
    assert_eq!(report_b.ended_by, EndedBy::Remote, "A's leg hung up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_refer_handling_a_refer_gets_603_and_the_caller_keeps_the_call() {
    let (ua_a, mut invites_a) = answering_ua().await;
    let bot = SipUa::bind("127.0.0.1:0".parse().expect("addr"), MediaRuntime::new(1))
        .await
        .expect("bind");
    let req = CallRequest {
        to: to(&ua_a, "customer"),
        refer_to: Some("sip:queue@127.0.0.1:9".into()),
        refer_after: Duration::from_millis(300),
        hangup_after: Some(Duration::from_secs(2)),
        context: vec![("Reason".into(), "wants_human".into())],
        ..Default::default()
    };
    let transferor = tokio::spawn(async move { bot.call(req).await });
    let call_a = next_call(&ua_a, &mut invites_a)
        .await
        .expect("offer accepted");
    let report_a = call_a
        .answer(Recorder::boxed(), AnswerOptions::default())
        .await
        .expect("A answered");
    let bot_report = transferor.await.expect("join").expect("call");
    let t = bot_report.transfer.as_ref().expect("a transfer");
    assert_eq!(t.refer_code, Some(603), "{t:?}");
    assert!(
        matches!(
            t.result,
            TransferState::Failed(TransferFailure::ReferRejected { code: 603 })
        ),
        "{t:?}"
    );
    assert!(
        bot_report.duration_s >= 1.5,
        "the caller kept the call until its own hang-up: {bot_report:?}"
    );
    assert_eq!(bot_report.hangup_by, Some("us"));
    assert_eq!(report_a.ended_by, EndedBy::Remote);
    assert!(report_a.referred.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offer_less_invite_gets_our_offer_in_the_200_and_the_ack_answers_it() {
    require_sipp();
    let (ua, mut invites) = answering_ua().await;
    let peer = sipp(
        ua.local_addr(),
        &["-sf", "uac_offerless.xml", "-p", "5607", "-mp", "31200"],
    );
    let call = next_call(&ua, &mut invites)
        .await
        .expect("an offer-less INVITE is taken");
    let report = call
        .answer(Recorder::boxed(), AnswerOptions::default())
        .await
        .expect("answered");
    assert_eq!(finish(peer).await, 0, "sipp expected our offer in the 200");
    assert_eq!(report.codec, Some(voxdial::media::g711::G711::Alaw));
    let media = report.media.as_ref().expect("media");
    assert!(media.rtp.received > 40, "{media:?}");
    assert!(media.rtp.sent >= 100, "{media:?}");
    assert_eq!(report.ended_by, EndedBy::Remote);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn early_media_plays_an_announcement_before_a_refusal() {
    let (uas, mut invites) = answering_ua().await;
    let uac = SipUa::bind("127.0.0.1:0".parse().expect("addr"), MediaRuntime::new(1))
        .await
        .expect("bind");
    let req = CallRequest {
        to: to(&uas, "customer"),
        ring_timeout: Duration::from_secs(10),
        ..Default::default()
    };
    let caller = tokio::spawn(async move { uac.call(req).await });
    let mut call = next_call(&uas, &mut invites).await.expect("offer accepted");
    call.early_media(&tone(2.0)).await.expect("183 with media");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    call.reject(480);
    let report = caller.await.expect("join").expect("call");
    assert!(!report.answered);
    assert_eq!(report.sip_code, Some(480));
    assert!(report.early_media, "{report:?}");
    let m = report.media.as_ref().expect("early media report");
    assert!(
        m.customer_audio_s > 0.5,
        "the caller heard the announcement: {m:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_that_stops_refreshing_the_session_is_hung_up_on() {
    require_sipp();
    let (ua, mut invites) = answering_ua().await;
    let peer = sipp(
        ua.local_addr(),
        &["-sf", "uac_timer_silent.xml", "-p", "5608", "-mp", "31300"],
    );
    let call = next_call(&ua, &mut invites).await.expect("offer accepted");
    let report = call
        .answer(Recorder::boxed(), AnswerOptions::default())
        .await
        .expect("answered");
    assert_eq!(
        finish(peer).await,
        0,
        "sipp expected Session-Expires: 3;refresher=uac, then our BYE"
    );
    assert_eq!(report.session_expires_s, Some(3));
    assert!(report.session_expired, "{report:?}");
    assert_eq!(report.ended_by, EndedBy::Local);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_caller_asks_us_to_refresh_we_send_a_re_invite() {
    require_sipp();
    let (ua, mut invites) = answering_ua().await;
    let peer = sipp(
        ua.local_addr(),
        &["-sf", "uac_timer_refresh.xml", "-p", "5609", "-mp", "31400"],
    );
    let call = next_call(&ua, &mut invites).await.expect("offer accepted");
    let report = call
        .answer(Recorder::boxed(), AnswerOptions::default())
        .await
        .expect("answered");
    assert_eq!(
        finish(peer).await,
        0,
        "sipp expected refresher=uas in the 200 and our refreshing re-INVITE"
    );
    assert!(!report.session_expired);
    assert_eq!(report.ended_by, EndedBy::Remote);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_answering_agent_sends_dtmf_and_hangs_up() {
    let (uas, mut invites) = answering_ua().await;
    let uac = SipUa::bind("127.0.0.1:0".parse().expect("addr"), MediaRuntime::new(1))
        .await
        .expect("bind");
    let req = CallRequest {
        to: to(&uas, "agent"),
        hangup_after: Some(Duration::from_secs(20)),
        ..Default::default()
    };
    let caller = tokio::spawn(async move { uac.call(req).await });
    let call = next_call(&uas, &mut invites).await.expect("offer accepted");
    let agent = Box::new(Recorder {
        play: tone(0.5),
        dtmf: Some("5#".into()),
        hangup_after_frames: Some(75),
        started: None,
    });
    let inbound = call
        .answer(agent, AnswerOptions::default())
        .await
        .expect("answered");
    let outbound = caller.await.expect("join").expect("call");
    assert_eq!(inbound.ended_by, EndedBy::Local);
    assert_eq!(outbound.hangup_by, Some("peer"), "{outbound:?}");
    let m = outbound.media.as_ref().expect("media");
    assert_eq!(m.dtmf_received, "5#", "{m:?}");
}

/// Apps run each call on a task of its own: the call and its answer must be `Send`.
#[allow(dead_code)]
fn calls_can_be_answered_on_spawned_tasks(mut call: IncomingCall) {
    fn send<T: Send>(_: T) {}
    send(call.cancelled());
    send(call.early_media(&[]));
    send(call.answer(Recorder::boxed(), AnswerOptions::default()));
}
