//! The dialogue engine as a sans-IO state machine: events in, actions out.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use voxdial::dialogue::engine::{Action, Conversation, Event, Status};
use voxdial::scenario::library::Library;
use voxdial::Locale;

fn lib() -> Arc<Library> {
    static LIB: OnceLock<Arc<Library>> = OnceLock::new();
    LIB.get_or_init(|| {
        let (lib, diags) = Library::load(&[
            PathBuf::from("dialogs"),
            PathBuf::from("scenarios"),
            PathBuf::from("tests/fixtures/flows"),
        ]);
        let errors: Vec<String> = diags
            .iter()
            .filter(|d| d.is_error())
            .map(|d| d.to_string())
            .collect();
        assert!(errors.is_empty(), "{}", errors.join("\n"));
        Arc::new(lib)
    })
    .clone()
}

fn today() -> chrono::NaiveDate {
    chrono::NaiveDate::from_ymd_opt(2026, 11, 22).expect("date")
}

fn conv(id: &str, locale: Locale) -> Conversation {
    let vars = voxdial::dialogue::engine::with_examples(&lib(), id, &BTreeMap::new());
    Conversation::new(lib(), id, locale, today(), &vars).expect("starts")
}

fn run(id: &str, locale: Locale, events: &[Event]) -> Vec<Action> {
    let mut c = conv(id, locale);
    let mut all = c.handle(Event::Start).actions;
    for e in events {
        all.extend(c.handle(e.clone()).actions);
    }
    all
}

#[test]
fn same_events_give_the_same_actions() {
    let events = [
        Event::Utterance("嗯是我".into()),
        Event::NoInput,
        Event::Utterance("下周五还两千".into()),
    ];
    let a = run("collection_m1_overdue", Locale::ZhCn, &events);
    let b = run("collection_m1_overdue", Locale::ZhCn, &events);
    assert_eq!(a, b);
    assert!(a.len() > 5);
}

#[test]
fn disclosure_cannot_be_interrupted_and_is_recorded_after_identity() {
    let actions = run(
        "collection_m1_overdue",
        Locale::ZhCn,
        &[Event::Utterance("是我本人".into())],
    );
    let verified = actions
        .iter()
        .position(|a| matches!(a, Action::Record { event, .. } if event == "identity_verified"))
        .expect("identity recorded");
    let disclosed = actions
        .iter()
        .position(|a| matches!(a, Action::Record { event, .. } if event == "debt_disclosed"))
        .expect("disclosure recorded");
    assert!(verified < disclosed);
    let say = actions
        .iter()
        .find(|a| matches!(a, Action::Say { node, .. } if node == "disclose"))
        .expect("disclosure said");
    assert!(matches!(
        say,
        Action::Say {
            barge_in: false,
            is_static: false,
            ..
        }
    ));
}

#[test]
fn campaign_variables_are_typed_and_validated() {
    let mut vars = BTreeMap::new();
    vars.insert("amount_due".to_string(), "lots".to_string());
    let err = Conversation::new(lib(), "collection_m1_overdue", Locale::ZhCn, today(), &vars)
        .err()
        .expect("bad amount rejected");
    assert!(err.to_string().contains("amount_due"), "{err}");
    let err = Conversation::new(lib(), "nope", Locale::ZhCn, today(), &BTreeMap::new())
        .err()
        .expect("unknown");
    assert!(err.to_string().contains("nope"));
}

#[test]
fn who_is_calling_digression_resumes_the_interrupted_question() {
    let mut c = conv("collection_m1_overdue", Locale::ZhCn);
    c.handle(Event::Start);
    c.handle(Event::Utterance("是我".into()));
    let t = c.handle(Event::Utterance("你们是哪个公司的".into()));
    assert_eq!(t.node, "disclose", "back at the interrupted question");
    let text = t.text();
    assert!(text.contains("官方来电"), "{text}");
    assert!(matches!(t.control(), Some(Action::Listen { .. })));
}

#[test]
fn silence_escalates_to_a_human_and_a_failed_transfer_ends_politely() {
    let mut c = conv("collection_m1_overdue", Locale::EnUs);
    c.handle(Event::Start);
    c.handle(Event::Utterance("yes speaking".into()));
    assert!(matches!(
        c.handle(Event::NoInput).control(),
        Some(Action::Listen { .. })
    ));
    assert!(matches!(
        c.handle(Event::NoInput).control(),
        Some(Action::Listen { .. })
    ));
    let t = c.handle(Event::NoInput);
    assert!(
        matches!(t.control(), Some(Action::Transfer { reason, .. }) if reason == "long_silence"),
        "{t:?}"
    );
    assert_eq!(c.status(), &Status::Transferring);
    // Speech while the transfer runs changes nothing.
    assert!(c
        .handle(Event::Utterance("hello?".into()))
        .actions
        .is_empty());
    let t = c.handle(Event::TransferFailed("486 Busy Here".into()));
    assert!(t.actions.iter().any(
        |a| matches!(a, Action::Record { event, .. } if event.starts_with("transfer_failed"))
    ));
    assert_eq!(c.status(), &Status::Ended("agent_unavailable".into()));
    assert!(
        c.handle(Event::Utterance("hello".into()))
            .actions
            .is_empty(),
        "ended calls ignore events"
    );
}

#[test]
fn not_understood_retries_then_hands_off() {
    let mut c = conv("collection_m1_overdue", Locale::ZhCn);
    c.handle(Event::Start);
    c.handle(Event::Utterance("是我".into()));
    let t = c.handle(Event::Utterance("蓝色的大象在月亮上跳舞".into()));
    assert_eq!(
        t.understanding.as_ref().map(|u| u.intent.as_str()),
        Some("nlu_fallback")
    );
    assert!(
        t.text().contains("我再确认一下"),
        "node's own no_match prompt: {}",
        t.text()
    );
    let t = c.handle(Event::Utterance("紫色的石头唱歌跳舞".into()));
    assert_eq!(t.handoff, None);
    let t = c.handle(Event::Utterance("量子力学很难懂".into()));
    assert!(
        matches!(t.control(), Some(Action::Transfer { reason, .. }) if reason == "repeated_no_match"),
        "{t:?}"
    );
}

#[test]
fn a_question_loop_is_cut_off() {
    let mut c = conv("fixture_loop", Locale::EnUs);
    c.handle(Event::Start);
    let mut last = None;
    for _ in 0..20 {
        let t = c.handle(Event::Utterance("yes".into()));
        last = Some(t);
        if matches!(c.status(), Status::Ended(_) | Status::Transferring) {
            break;
        }
    }
    assert_eq!(c.status(), &Status::Ended("ended_loop".into()), "{last:?}");
}

#[test]
fn prompts_speak_amounts_and_dates_in_each_locale() {
    let mut c = conv("collection_m1_overdue", Locale::EnUs);
    c.handle(Event::Start);
    let t = c.handle(Event::Utterance("yes".into()));
    let text = t.text();
    assert!(
        text.contains("three thousand five hundred yuan and fifty fen"),
        "{text}"
    );
    let mut c = conv("collection_m1_overdue", Locale::ZhCn);
    c.handle(Event::Start);
    c.handle(Event::Utterance("是的".into()));
    let t = c.handle(Event::Utterance("欠多少钱".into()));
    assert!(t.text().contains("11月15日"), "{}", t.text());
}

#[test]
fn recognised_intents_with_no_route_count_towards_the_not_understood_streak() {
    let mut c = conv("collection_m1_overdue", Locale::ZhCn);
    c.handle(Event::Start);
    c.handle(Event::Utterance("嗯是我".into()));
    // "你好" is understood (greeting) but nothing at the disclosure question handles it.
    let mut last = None;
    for _ in 0..3 {
        last = Some(c.handle(Event::Utterance("你好".into())));
    }
    let t = last.expect("turn");
    assert!(
        matches!(t.control(), Some(Action::Transfer { reason, .. }) if reason == "repeated_no_match"),
        "{:?}",
        t.actions
    );
}

#[test]
fn a_live_call_never_falls_back_to_example_values() {
    // Examples are for tests and the chat tool; a campaign row missing a required
    // variable is an error, not a call that speaks the example amount.
    let err = Conversation::new(
        lib(),
        "collection_m1_overdue",
        Locale::ZhCn,
        today(),
        &BTreeMap::new(),
    )
    .err()
    .expect("missing campaign variables refused");
    assert!(err.to_string().contains("required"), "{err}");
    // With the examples filled in, variables the call fills itself start empty.
    let vars =
        voxdial::dialogue::engine::with_examples(&lib(), "collection_m1_overdue", &BTreeMap::new());
    assert!(vars.contains_key("amount_due"));
    assert!(
        !vars.contains_key("ptp_date"),
        "call-filled variables are not pre-set"
    );
}

#[test]
fn compiled_references_are_indices_that_resolve_to_what_the_yaml_named() {
    use voxdial::scenario::compile::{EdgeLabel, NodeKind};
    let lib = lib();
    let mut calls = 0;
    let mut routes = 0;
    for flow in lib.flows.values() {
        assert_eq!(
            lib.flow_at(flow.flow_id).map(|f| f.id()),
            Some(flow.id()),
            "a flow's own id is its place in the table"
        );
        for node in &flow.nodes {
            for tpl in node.prompt.values() {
                for v in tpl.var_refs() {
                    assert!(v.id.is_some(), "`{}` numbered", v.name);
                    assert_eq!(lib.var_ids().get(&v.name).copied(), v.id);
                }
            }
            for (var, _) in &node.set {
                let name = lib.var_name(*var);
                assert!(name == "identity_verified" || flow.var_type(name).is_some());
            }
            if let NodeKind::Ask(ask) = &node.kind {
                for (var, _) in &ask.capture {
                    let name = lib.var_name(*var);
                    assert!(flow.var_type_of(*var).is_some(), "`{name}` declared");
                    assert_eq!(flow.var_type_of(*var), flow.var_type(name));
                }
            }
            match &node.kind {
                NodeKind::Call {
                    dialog,
                    dialog_name,
                    returns,
                } => {
                    calls += 1;
                    let d = lib.flow_at(*dialog).expect("called dialog compiled");
                    assert_eq!(d.id(), dialog_name);
                    assert_eq!(returns.len(), d.spec.returns.len(), "every return routed");
                    for (i, e) in returns.iter().enumerate() {
                        assert_eq!(
                            flow.edges[*e].label,
                            EdgeLabel::Return(d.spec.returns[i].clone()),
                            "return routes are indexed like the dialog's `returns:`"
                        );
                    }
                }
                NodeKind::Ask(ask) => {
                    for (intent, e) in &ask.on {
                        routes += 1;
                        let EdgeLabel::Intent(name) = &flow.edges[*e].label else {
                            panic!("an intent route is labelled with its intent");
                        };
                        assert_eq!(lib.intent_ids().get(name), Some(intent));
                    }
                }
                NodeKind::Return { value } => {
                    assert!(value.0 < flow.spec.returns.len());
                }
                _ => {}
            }
        }
        for d in flow.digressions.values() {
            assert!(lib.flow_at(*d).is_some(), "digression dialog resolves");
        }
    }
    assert!(
        calls > 0 && routes > 0,
        "the library exercises calls and routes"
    );
}

#[test]
fn the_nlu_reports_the_library_intent_ids_that_flows_route_on() {
    let lib = lib();
    let nlu = lib.nlu_for("collection_m1_overdue").expect("nlu");
    for (text, locale) in [
        ("好的没问题", Locale::ZhCn),
        ("不行啊", Locale::ZhCn),
        ("yes", Locale::EnUs),
    ] {
        let u = nlu.understand(text, locale, today());
        let want = u
            .intent()
            .and_then(|name| lib.intent_ids().get(name))
            .copied();
        assert!(want.is_some(), "«{text}» understood as a library intent");
        assert_eq!(u.intent_id, want, "«{text}»: id and name agree");
    }
}

#[test]
fn a_call_to_a_dialog_that_did_not_compile_ends_the_call_instead_of_looking_it_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("broken_dialog.yaml"),
        "id: broken_dialog\nkind: dialog\nlocales: [en-US]\nreturns: [done]\nstart: a\nnodes:\n  a: {type: say, prompt: {en-US: Hi.}, next: nowhere}\n",
    )
    .expect("write dialog");
    std::fs::write(
        dir.path().join("caller.yaml"),
        "id: caller\ntitle: {en-US: Caller}\nlocales: [en-US]\noutcomes: [ok]\nstart: go\nnodes:\n  go: {type: call, dialog: broken_dialog, returns: {done: end}}\n  end: {type: hangup, outcome: ok}\n",
    )
    .expect("write scenario");
    let (lib, diags) = Library::load(&[dir.path().to_path_buf()]);
    assert!(
        diags
            .iter()
            .any(|d| d.is_error() && d.code == "unknown-node"),
        "the dialog's mistake is reported"
    );
    assert!(lib.flow("broken_dialog").is_none());
    let lib = Arc::new(lib);
    let mut c = Conversation::new(lib, "caller", Locale::EnUs, today(), &BTreeMap::new())
        .expect("the caller itself compiled");
    let t = c.handle(Event::Start);
    assert!(
        matches!(t.control(), Some(Action::Hangup { outcome }) if outcome == "flow_error"),
        "{:?}",
        t.actions
    );
    assert_eq!(c.status(), &Status::Ended("flow_error".into()));
}

/// What the customer gave is what a collector acts on: the call's values (the scenario's
/// `source: call` variables) carry the promised amount and the date it resolved to;
/// campaign values never appear there.
#[test]
fn a_promise_leaves_its_date_and_amount_in_the_calls_values() {
    let mut c = conv("collection_m1_overdue", Locale::EnUs);
    c.handle(Event::Start);
    assert!(c.call_values().is_empty());
    c.handle(Event::Utterance("yes this is me".into()));
    let t = c.handle(Event::Utterance(
        "I can pay two hundred dollars on Friday".into(),
    ));
    assert!(
        matches!(t.control(), Some(Action::Hangup { outcome }) if outcome == "partial_promise"),
        "{:?}",
        t.actions
    );
    let v: BTreeMap<String, String> = c
        .call_values()
        .into_iter()
        .map(|(k, v)| (k, v.to_string()))
        .collect();
    // Sunday the 22nd: "on Friday" is the 27th.
    assert_eq!(
        v,
        BTreeMap::from([
            ("ptp_amount".to_string(), "200.00".to_string()),
            ("ptp_date".to_string(), "2026-11-27".to_string()),
        ])
    );
}

/// The line going away mid-conversation ends it with an outcome that says so.
#[test]
fn a_hang_up_mid_conversation_is_the_conversations_outcome() {
    let mut c = conv("collection_m1_overdue", Locale::EnUs);
    c.handle(Event::Start);
    c.handle(Event::Utterance("yes this is me".into()));
    assert_eq!(c.status(), &Status::Listening);
    c.handle(Event::RemoteHangup);
    assert_eq!(c.status(), &Status::Ended("customer_hangup".into()));
}

/// The bot voices a call's prompts with the customer's values while the phone rings,
/// nearest first: the walk ahead of the conversation lists each prompt once with the
/// turns before it can be said, in order of distance, within the limit asked for.
#[test]
fn prompts_with_the_customers_values_are_listed_nearest_first_within_the_turns_asked() {
    let c = conv("collection_m1_overdue", Locale::EnUs);
    let near = c.variable_prompts_ahead(0);
    let far = c.variable_prompts_ahead(3);
    assert!(!near.is_empty(), "the greeting names the customer");
    assert!(near.iter().all(|(d, _)| *d == 0), "{near:?}");
    assert!(
        near.iter()
            .any(|(_, p)| p.contains("may I speak with 张伟")),
        "the greeting, rendered with the example name: {near:?}"
    );
    // The amount due is said after the customer confirms who they are: one turn away.
    assert!(
        far.iter()
            .any(|(d, p)| *d == 1 && p.contains("the amount due is three thousand five hundred")),
        "{far:?}"
    );
    assert!(far.len() > near.len(), "later turns add prompts: {far:?}");
    assert!(
        far.windows(2).all(|w| w[0].0 <= w[1].0),
        "nearest first: {far:?}"
    );
    assert!(far.iter().all(|(d, _)| *d <= 3), "{far:?}");
    for p in &near {
        assert!(far.contains(p), "{p:?} is within 3 turns too");
    }
    // Nothing still holds a placeholder: every listed prompt rendered all its values.
    assert!(far.iter().all(|(_, p)| !p.contains('{')), "{far:?}");
}
