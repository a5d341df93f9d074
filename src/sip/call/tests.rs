//! Whole calls driven through the core with no sockets and no sleeps: time is passed in.

use super::*;
use crate::media::g711::G711;
use crate::policy::CallOutcome;
use crate::sip::sdp::MediaParams;
use crate::sip::transfer::ReplacesDialog;

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
        take_back_announcement: false,
        media_timeout: None,
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
    cfg
}

/// The agent (a test call's script at +2 s) asks for a plain transfer.
fn transfer_at(c: &mut Call, ms: u64) {
    c.handle_input(Input::Command(at(ms), Command::Transfer { reason: None }));
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
    assert_eq!(c.poll_timeout(), None, "the agent decides when");
    transfer_at(&mut c, 3000);
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
    transfer_at(&mut c, 3000);
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
            Output::Event(Event::TransferFailed(
                "REFER refused (405 Method Not Allowed)".into()
            )),
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
            Output::Event(Event::TransferFailed(
                "the transferred call failed (486 Busy Here)".into()
            ))
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
        vec![Output::Event(Event::TransferFailed(
            "the transfer did not complete in time".into()
        ))]
    );
}

#[test]
fn a_refused_refer_is_bridged_when_allowed() {
    let mut cfg = with_refer(config());
    cfg.bridge_fallback = true;
    let mut c = answered(cfg.clone(), None);
    transfer_at(&mut c, 3000);
    drain(&mut c);
    c.handle_input(Input::Response(at(3100), Response::Refer(Some(501))));
    assert_eq!(
        drain(&mut c),
        vec![
            Output::Route(AudioRoute::Paused),
            Output::Send(SipAction::Bridge {
                target: "sip:queue@127.0.0.1".into(),
                headers: vec![],
            })
        ]
    );
    c.handle_input(Input::Response(at(4000), Response::Bridge(Ok(()))));
    assert_eq!(drain(&mut c), vec![Output::Route(AudioRoute::Bridge)]);
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
    assert!(t.bridged && !t.bot_resumed && t.handed_over());
    assert_eq!(t.failure(), None);
    let b = t.bridge.expect("bridge");
    assert_eq!((b.code, b.ended_by), (Some(200), Some("customer")));
}

/// A bot call: context from the service, the hand-off reason from the bot, no take-back
/// announcement from the call (the bot says it), the bridge allowed. The bot asks for a
/// person at +3 s and the customer's phone refuses the REFER with 603.
fn bot_call_refused() -> Call {
    let mut cfg = with_refer(config());
    cfg.bridge_fallback = true;
    cfg.context = vec![("Attempt".into(), "17".into())];
    let mut c = answered(cfg.clone(), None);
    c.handle_input(Input::Command(
        at(3000),
        Command::Transfer {
            reason: Some("wants_human".into()),
        },
    ));
    assert!(matches!(
        &drain(&mut c)[..],
        [Output::Send(SipAction::Refer { .. })]
    ));
    c.handle_input(Input::Response(at(3050), Response::Refer(Some(603))));
    c
}

#[test]
fn a_refused_refer_on_a_bot_call_bridges_with_the_context_and_stands_the_bot_aside() {
    let mut c = bot_call_refused();
    assert_eq!(
        drain(&mut c),
        vec![
            // The bot hears nothing more (so it works no more and says nothing new)...
            Output::Route(AudioRoute::Paused),
            // ...while we call the queue with what the REFER would have carried.
            Output::Send(SipAction::Bridge {
                target: "sip:queue@127.0.0.1".into(),
                headers: vec![
                    ("X-Voxdial-Attempt".into(), "17".into()),
                    ("X-Voxdial-Reason".into(), "wants_human".into()),
                ],
            })
        ],
        "no TransferFailed: the bot is not taken back"
    );
    assert!(!c.is_ended());
    c.handle_input(Input::Response(at(3200), Response::Bridge(Ok(()))));
    assert_eq!(drain(&mut c), vec![Output::Route(AudioRoute::Bridge)]);
    // The agent hangs up the bridged leg with a plain BYE: the customer's call is over.
    c.handle_input(Input::Request(
        at(60_000),
        Request::AgentLegEnded { cause: None },
    ));
    assert_eq!(
        drain(&mut c),
        vec![
            bye(),
            Output::Send(SipAction::EndAgentLeg),
            Output::StopMedia,
            Output::Event(Event::Ended)
        ]
    );
    let r = c.take_report().expect("report");
    assert_eq!(r.hangup_by, Some("us"));
    let t = r.transfer.expect("transfer");
    assert_eq!(
        t.result,
        TransferState::Failed(TransferFailure::ReferRejected { code: 603 }),
        "the REFER's own result is kept"
    );
    assert!(t.handed_over() && t.by_bridge() && !t.bot_resumed);
    assert_eq!(t.bridge.expect("bridge").ended_by, Some("target"));
}

#[test]
fn a_bridge_the_target_refuses_gives_the_customer_back_to_the_bot() {
    let mut c = bot_call_refused();
    drain(&mut c);
    c.handle_input(Input::Response(at(3100), Response::Bridge(Err(Some(480)))));
    let why = "REFER refused (603 Decline); bridge refused (480 Temporarily Unavailable)";
    assert_eq!(
        drain(&mut c),
        vec![
            Output::Route(AudioRoute::Agent),
            Output::Event(Event::TransferFailed(why.into())),
        ],
        "the bot hears the customer again and is told why, in words"
    );
    assert!(!c.is_ended(), "the bot keeps the call");
    // A late answer of the failed bridge changes nothing.
    c.handle_input(Input::Response(at(3200), Response::Bridge(Ok(()))));
    assert_eq!(drain(&mut c), vec![]);
    // The bot says sorry and hangs up.
    c.handle_input(Input::Command(
        at(8000),
        Command::Hangup {
            after: Duration::ZERO,
        },
    ));
    c.handle_input(Input::Timeout(at(8000)));
    assert_eq!(drain(&mut c), [vec![bye()], ended()].concat());
    let t = c.take_report().expect("report").transfer.expect("transfer");
    assert!(t.bot_resumed && !t.bridged && !t.handed_over() && t.by_bridge());
    assert_eq!(t.failure().as_deref(), Some(why));
    assert_eq!(t.bridge.expect("bridge").code, Some(480));
}

#[test]
fn a_target_that_gives_up_after_answering_gives_the_customer_back() {
    let mut c = bot_call_refused();
    drain(&mut c);
    c.handle_input(Input::Response(at(3200), Response::Bridge(Ok(()))));
    assert_eq!(drain(&mut c), vec![Output::Route(AudioRoute::Bridge)]);
    // The queue waited, found no agent, and hung up saying 480 in its Reason.
    c.handle_input(Input::Request(
        at(63_200),
        Request::AgentLegEnded { cause: Some(480) },
    ));
    let why = "REFER refused (603 Decline); the target gave up on the bridge (480 Temporarily Unavailable)";
    assert_eq!(
        drain(&mut c),
        vec![
            Output::Route(AudioRoute::Agent),
            Output::Event(Event::TransferFailed(why.into())),
            Output::Send(SipAction::EndAgentLeg),
        ]
    );
    assert!(!c.is_ended());
    c.handle_input(Input::Request(
        at(70_000),
        Request::Terminated { by_us: false },
    ));
    assert_eq!(drain(&mut c), ended(), "the leg is not ended twice");
    let t = c.take_report().expect("report").transfer.expect("transfer");
    assert!(t.bot_resumed && t.bridged && !t.handed_over());
    assert_eq!(t.failure().as_deref(), Some(why));
}

#[test]
fn a_failed_bridge_on_a_test_call_plays_the_take_back_announcement() {
    let mut cfg = with_refer(config());
    cfg.bridge_fallback = true;
    cfg.take_back_announcement = true;
    let mut c = answered(cfg, None);
    transfer_at(&mut c, 3000);
    drain(&mut c);
    c.handle_input(Input::Response(at(3100), Response::Refer(Some(405))));
    drain(&mut c);
    c.handle_input(Input::Response(at(33_100), Response::Bridge(Err(None))));
    assert_eq!(
        drain(&mut c),
        vec![
            Output::Route(AudioRoute::Agent),
            Output::Event(Event::TransferFailed(
                "REFER refused (405 Method Not Allowed); bridge not answered in time".into()
            )),
            Output::Event(Event::AnnounceTakeBack),
        ]
    );
}

#[test]
fn a_plain_bye_from_a_consultation_leg_is_no_bridge_end() {
    let mut cfg = config();
    cfg.consult = Some("sip:agent@127.0.0.1:5300".into());
    let mut c = answered(cfg, None);
    c.handle_input(Input::Request(
        at(2000),
        Request::AgentLegEnded { cause: None },
    ));
    assert_eq!(drain(&mut c), vec![]);
    assert!(!c.is_ended());
}

#[test]
fn a_bridge_asked_at_the_answer_carries_the_context_and_ends_with_the_far_side() {
    let mut cfg = with_refer(config());
    cfg.context = vec![("Attempt".into(), "7".into())];
    let mut c = answered(cfg.clone(), None);
    c.handle_input(Input::Command(at(1200), Command::Bridge));
    assert_eq!(
        drain(&mut c),
        vec![
            Output::Route(AudioRoute::Paused),
            Output::Send(SipAction::Bridge {
                target: "sip:queue@127.0.0.1".into(),
                headers: vec![("X-Voxdial-Attempt".into(), "7".into())],
            })
        ]
    );
    // Asked again while the first is placed: nothing more.
    c.handle_input(Input::Command(at(1250), Command::Bridge));
    assert_eq!(drain(&mut c), vec![]);
    c.handle_input(Input::Response(at(1300), Response::Bridge(Ok(()))));
    assert_eq!(drain(&mut c), vec![Output::Route(AudioRoute::Bridge)]);
    // The agent hangs up: the customer is hung up too (by us).
    c.handle_input(Input::Request(
        at(9000),
        Request::AgentLegEnded { cause: None },
    ));
    // The driver still holds the ended leg: EndAgentLeg lets it collect the leg's media.
    assert_eq!(
        drain(&mut c),
        vec![
            bye(),
            Output::Send(SipAction::EndAgentLeg),
            Output::StopMedia,
            Output::Event(Event::Ended)
        ]
    );
    let r = c.take_report().expect("report");
    assert_eq!(r.hangup_by, Some("us"));
    assert!(r.transfer.is_none());
    assert_eq!(r.duration_s, 8.0);
}

#[test]
fn a_bridge_that_cannot_be_placed_is_told_to_the_agent() {
    let mut c = answered(with_refer(config()), None);
    c.handle_input(Input::Command(at(1200), Command::Bridge));
    drain(&mut c);
    c.handle_input(Input::Response(at(1300), Response::Bridge(Err(Some(480)))));
    assert_eq!(
        drain(&mut c),
        vec![
            Output::Route(AudioRoute::Agent),
            Output::Event(Event::TransferFailed(
                "bridge refused (480 Temporarily Unavailable)".into()
            ))
        ]
    );
    // The far side of a bridge that never was cannot end the call.
    c.handle_input(Input::Request(
        at(1400),
        Request::AgentLegEnded { cause: None },
    ));
    assert_eq!(drain(&mut c), vec![]);
    // Without a target there is nothing to bridge to.
    let mut c = answered(config(), None);
    c.handle_input(Input::Command(at(1200), Command::Bridge));
    assert_eq!(
        drain(&mut c),
        vec![Output::Event(Event::TransferFailed("no_queue".into()))]
    );
}

#[test]
fn attended_transfer_consults_then_refers_with_replaces() {
    let mut cfg = config();
    cfg.consult = Some("sip:agent@127.0.0.1:5300".into());
    let mut c = answered(cfg.clone(), None);
    transfer_at(&mut c, 2000);
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
    let cfg = config();
    let mut c = answered(cfg.clone(), None);
    let ask = || Command::Transfer {
        reason: Some("wants_human".into()),
    };
    c.handle_input(Input::Command(at(2000), ask()));
    assert_eq!(
        drain(&mut c),
        vec![Output::Event(Event::TransferFailed("no_queue".into()))]
    );
    let cfg = with_refer(cfg);
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
    let cfg = config();
    let mut c = answered(cfg.clone(), None);
    let offer = |version, dir| {
        LocalMedia {
            version,
            ..cfg.local.clone()
        }
        .offer(dir)
    };
    assert_eq!(c.poll_timeout(), None);
    c.handle_input(Input::Command(at(2000), Command::Hold));
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
    assert_eq!(c.poll_timeout(), None);
    c.handle_input(Input::Command(at(4000), Command::Resume));
    assert_eq!(
        drain(&mut c),
        vec![Output::Send(SipAction::Reinvite {
            offer: offer(3, Direction::SendRecv),
            session_expires: None
        })]
    );
    c.handle_input(Input::Response(at(4050), Response::Reinvite(Some(200))));
    assert_eq!(c.hold_state(), HoldState::Resumed);
    c.handle_input(Input::Command(
        at(6000),
        Command::Hangup {
            after: Duration::ZERO,
        },
    ));
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
fn a_hold_asked_during_a_session_refresh_follows_its_answer() {
    let mut c = answered(config(), Some("90;refresher=uac"));
    c.handle_input(Input::Timeout(at(46_000)));
    drain(&mut c);
    // The script's hold falls due while the refresh is in flight: it waits, not lost.
    c.handle_input(Input::Command(at(46_050), Command::Hold));
    assert_eq!(drain(&mut c), vec![], "one re-INVITE at a time");
    c.handle_input(Input::Response(at(46_100), Response::Reinvite(Some(200))));
    let out = drain(&mut c);
    assert!(
        matches!(&out[..], [Output::Send(SipAction::Reinvite { offer, .. })] if offer.contains("a=sendonly")),
        "{out:?}"
    );
    c.handle_input(Input::Response(at(46_200), Response::Reinvite(Some(200))));
    assert_eq!(c.hold_state(), HoldState::Held);
    assert_eq!(drain(&mut c), vec![]);
}

#[test]
fn the_agents_dtmf_goes_to_the_media() {
    let mut c = answered(config(), None);
    c.handle_input(Input::Command(at(1000), Command::Dtmf("12#".into())));
    assert_eq!(drain(&mut c), vec![Output::SendDtmf("12#".into())]);
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
    transfer_at(&mut c, 3000);
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
    let mut c = answered(config(), None);
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

#[test]
fn a_withdrawn_ringing_call_is_cancelled_once_and_an_answered_one_hung_up() {
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
    c.handle_input(Input::Command(at(500), Command::Withdraw));
    assert_eq!(drain(&mut c), vec![Output::Send(SipAction::Cancel)]);
    // A second withdrawal (or the ring timeout) sends no second CANCEL.
    c.handle_input(Input::Command(at(600), Command::Withdraw));
    c.handle_input(Input::Timeout(at(30_000)));
    assert_eq!(drain(&mut c), vec![]);
    c.handle_input(Input::Response(at(700), final_(487, "Request Terminated")));
    assert_eq!(drain(&mut c), vec![Output::Event(Event::Ended)]);
    let r = c.take_report().expect("report");
    assert!(!r.answered);
    assert_eq!(r.sip_code, Some(487));
    assert_eq!(r.policy_outcome, CallOutcome::NoAnswer);
    // The report names the call as the wire did, for the call's record.
    assert_eq!(r.call_id, "c1@voxdial");

    // Withdrawn after the answer crossed: a BYE at once.
    let mut c = Call::new(config());
    c.start(T0);
    drain(&mut c);
    c.handle_input(Input::Response(at(200), ok_200(31000, None)));
    drain(&mut c);
    c.handle_input(Input::Command(at(300), Command::Withdraw));
    assert_eq!(c.poll_timeout(), Some(at(300)));
    c.handle_input(Input::Timeout(at(300)));
    let out = drain(&mut c);
    assert!(
        out.contains(&Output::Send(SipAction::Bye { reason: None })),
        "{out:?}"
    );
    let r = c.take_report().expect("report");
    assert_eq!(r.hangup_by, Some("us"));
}

#[test]
fn a_peer_that_stops_sending_rtp_is_hung_up_after_the_media_timeout() {
    let cfg = CallConfig {
        media_timeout: Some(Duration::from_secs(10)),
        ..config()
    };
    let mut c = answered(cfg.clone(), None);
    // Counted from the answer until the first packet.
    assert_eq!(c.poll_timeout(), Some(at(11_000)));
    // Packets push it out; a report of an older one changes nothing.
    c.handle_input(Input::MediaReceived(at(5_000)));
    c.handle_input(Input::MediaReceived(at(4_000)));
    assert_eq!(c.poll_timeout(), Some(at(15_000)));
    assert!(drain(&mut c).is_empty());
    c.handle_input(Input::Timeout(at(15_000)));
    let mut want = vec![bye()];
    want.extend(ended());
    assert_eq!(drain(&mut c), want);
    let r = c.take_report().expect("report");
    assert!(r.media_timeout && r.hangup_by == Some("us"), "{r:?}");
    assert!(!r.session_expired);

    // On hold (ours or the peer's) the peer may send nothing: no deadline until resumed.
    let mut c = answered(cfg.clone(), None);
    c.handle_input(Input::Command(at(2_000), Command::Hold));
    drain(&mut c);
    c.handle_input(Input::Response(at(2_050), Response::Reinvite(Some(200))));
    assert_eq!(c.poll_timeout(), None);
    c.handle_input(Input::Command(at(60_000), Command::Resume));
    drain(&mut c);
    c.handle_input(Input::Response(at(60_050), Response::Reinvite(Some(200))));
    assert_eq!(c.poll_timeout(), Some(at(70_050)));
    let mut c = answered(cfg.clone(), None);
    let held = LocalMedia {
        addr: "127.0.0.1:30000".parse().expect("addr"),
        codecs: vec![G711::Alaw],
        dtmf_pt: 101,
        session_id: 7,
        version: 2,
    };
    c.handle_input(Input::Request(
        at(3_000),
        Request::Reinvite {
            id: 1,
            sdp: held.offer(Direction::SendOnly),
        },
    ));
    drain(&mut c);
    assert_eq!(c.poll_timeout(), None, "held by the peer");
    c.handle_input(Input::Request(
        at(90_000),
        Request::Reinvite {
            id: 2,
            sdp: LocalMedia { version: 3, ..held }.offer(Direction::SendRecv),
        },
    ));
    drain(&mut c);
    assert_eq!(c.poll_timeout(), Some(at(100_000)));

    // Without a media timeout nothing is ever due.
    let c = answered(config(), None);
    assert_eq!(c.poll_timeout(), None);
}
