//! One test per rule, with the edges where they usually go wrong: window boundaries to
//! the second, local midnight in the debtor's zone (not the server's), DST, and zones
//! that disagree.

use super::*;

fn ts(s: &str) -> Millis {
    Millis::from_datetime(&DateTime::parse_from_rfc3339(s).expect("test time"))
}

/// `t` moved by whole seconds.
fn plus(t: Millis, s: i64) -> Millis {
    Millis::from_unix_secs(t.as_unix_secs() + s)
}

fn cn() -> Policy {
    Policy::load("cn-collection").expect("preset")
}

const SH: [Tz; 1] = [chrono_tz::Asia::Shanghai];
const PHONE: &str = "+8613800138000";

fn contact<'a>(history: &'a [PastAttempt], zones: &'a [Tz]) -> Contact<'a> {
    Contact {
        phone: PHONE,
        zones,
        history,
        disposition: None,
        suppressed: false,
    }
}

fn att(at: &str, outcome: CallOutcome) -> PastAttempt {
    PastAttempt {
        at: ts(at),
        phone: PHONE.to_string(),
        outcome,
    }
}

fn rule(d: &Decision) -> Option<Rule> {
    match d {
        Decision::Allow => None,
        Decision::Block { rule, .. } => Some(*rule),
    }
}

fn until(d: &Decision) -> Option<Millis> {
    match d {
        Decision::Block { until, .. } => *until,
        Decision::Allow => None,
    }
}

#[test]
fn presets_load() {
    for (name, _) in PRESETS {
        let p = Policy::load(name).expect(name);
        assert_eq!(p.name, name);
        assert!((p.max_abandon_rate - 0.03).abs() < 1e-9);
    }
}

#[test]
fn calling_window_edges_in_local_time() {
    let p = cn();
    let c = contact(&[], &SH);
    assert_eq!(
        rule(&p.check(&c, ts("2026-11-23T07:59:59+08:00"))),
        Some(Rule::CallingWindow)
    );
    assert_eq!(
        p.check(&c, ts("2026-11-23T08:00:00+08:00")),
        Decision::Allow
    );
    assert_eq!(
        p.check(&c, ts("2026-11-23T21:59:59+08:00")),
        Decision::Allow
    );
    let late = p.check(&c, ts("2026-11-23T22:00:00+08:00"));
    assert_eq!(rule(&late), Some(Rule::CallingWindow));
    // Parked until 08:00 the next local morning.
    assert_eq!(until(&late), Some(ts("2026-11-24T08:00:00+08:00")));
    // The server's zone does not matter: 23:30 UTC is 07:30 in Shanghai.
    assert_eq!(
        rule(&p.check(&c, ts("2026-11-22T23:30:00Z"))),
        Some(Rule::CallingWindow)
    );
}

#[test]
fn unknown_us_number_must_be_inside_every_zone() {
    let p = Policy::load("us-tcpa-regf").expect("preset");
    let zones = p.zones_for("+12025550143", None);
    assert_eq!(zones.len(), 7);
    let c = Contact {
        phone: "+12025550143",
        zones: &zones,
        history: &[],
        disposition: None,
        suppressed: false,
    };
    // 09:00 in New York is 04:00 in Honolulu (winter): blocked.
    let d = p.check(&c, ts("2026-11-23T09:00:00-05:00"));
    assert_eq!(rule(&d), Some(Rule::CallingWindow));
    // Honolulu opens at 08:00 HST = 13:00 EST; New York still open until 21:00.
    assert_eq!(until(&d), Some(ts("2026-11-23T08:00:00-10:00")));
    assert_eq!(
        p.check(&c, ts("2026-11-23T13:00:00-05:00")),
        Decision::Allow
    );
    // 20:30 EST is 17:30 PST but 21:00 closes New York at 21:00 EST.
    assert_eq!(
        rule(&p.check(&c, ts("2026-11-23T21:00:00-05:00"))),
        Some(Rule::CallingWindow)
    );
    // A lead whose zone is known is judged in that zone only.
    let la = [chrono_tz::America::Los_Angeles];
    let c = Contact { zones: &la, ..c };
    assert_eq!(
        p.check(&c, ts("2026-11-23T20:30:00-08:00")),
        Decision::Allow
    );
}

#[test]
fn dst_spring_forward_window() {
    let p = Policy::load("us-tcpa-regf").expect("preset");
    let ny = [chrono_tz::America::New_York];
    let c = Contact {
        phone: "+12125550100",
        zones: &ny,
        history: &[],
        disposition: None,
        suppressed: false,
    };
    // 2026-03-08 clocks jump 02:00 -> 03:00 in New York; 08:00 EDT is 12:00 UTC.
    assert_eq!(
        rule(&p.check(&c, ts("2026-03-08T11:59:59Z"))),
        Some(Rule::CallingWindow)
    );
    assert_eq!(p.check(&c, ts("2026-03-08T12:00:00Z")), Decision::Allow);
    let d = p.check(&c, ts("2026-03-08T06:30:00Z")); // 01:30 EST
    assert_eq!(until(&d), Some(ts("2026-03-08T12:00:00Z")));
}

#[test]
fn attempts_per_number_reset_at_local_midnight() {
    let p = cn();
    let h: Vec<PastAttempt> = (0..6)
        .map(|i| {
            att(
                &format!("2026-11-23T{:02}:00:00+08:00", 9 + 2 * i),
                CallOutcome::NoAnswer,
            )
        })
        .collect();
    let c = contact(&h, &SH);
    let d = p.check(&c, ts("2026-11-23T21:30:00+08:00"));
    assert_eq!(rule(&d), Some(Rule::AttemptsPerNumberPerDay));
    assert_eq!(until(&d), Some(ts("2026-11-24T00:00:00+08:00")));
    // Next local day (window opens 08:00): allowed again.
    assert_eq!(
        p.check(&c, ts("2026-11-24T08:00:00+08:00")),
        Decision::Allow
    );
    // Another number of the same debtor has its own count.
    let other = Contact {
        phone: "+8613900139000",
        ..c.clone()
    };
    assert_eq!(
        p.check(&other, ts("2026-11-23T21:30:00+08:00")),
        Decision::Allow
    );
}

#[test]
fn day_boundary_is_the_debtors_not_utc() {
    // 6 attempts between 00:30 and 05:30 UTC on the 23rd = 08:30-13:30 Shanghai on the
    // 23rd; at 16:30 UTC on the 23rd (00:30 on the 24th in Shanghai) a new day began
    // there, but the window is closed until 08:00.
    let mut p = cn();
    p.hours = [Some((
        NaiveTime::MIN,
        NaiveTime::from_hms_opt(23, 59, 59).expect("t"),
    )); 7];
    let h: Vec<PastAttempt> = (0..6)
        .map(|i| {
            att(
                &format!("2026-11-23T{:02}:30:00Z", i),
                CallOutcome::NoAnswer,
            )
        })
        .collect();
    let c = contact(&h, &SH);
    assert_eq!(
        rule(&p.check(&c, ts("2026-11-23T15:59:00Z"))),
        Some(Rule::AttemptsPerNumberPerDay)
    );
    assert_eq!(p.check(&c, ts("2026-11-23T16:00:00Z")), Decision::Allow);
}

#[test]
fn connected_per_debtor_counts_all_numbers_and_interrupted_calls() {
    let p = cn();
    let mut h = vec![
        att("2026-11-23T09:00:00+08:00", CallOutcome::Connected),
        att("2026-11-23T10:00:00+08:00", CallOutcome::Connected),
        att("2026-11-23T11:00:00+08:00", CallOutcome::Interrupted),
    ];
    h[1].phone = "+8613900139000".into();
    let c = contact(&h, &SH);
    let d = p.check(&c, ts("2026-11-23T15:00:00+08:00"));
    assert_eq!(rule(&d), Some(Rule::ConnectedPerDebtorPerDay), "{d:?}");
    h[2].outcome = CallOutcome::NoAnswer;
    let c = contact(&h, &SH);
    assert_eq!(
        p.check(&c, ts("2026-11-23T15:00:00+08:00")),
        Decision::Allow
    );
}

#[test]
fn min_interval() {
    let p = cn();
    let h = [att("2026-11-23T09:00:00+08:00", CallOutcome::Busy)];
    let c = contact(&h, &SH);
    let d = p.check(&c, ts("2026-11-23T09:29:59+08:00"));
    assert_eq!(rule(&d), Some(Rule::MinInterval));
    assert_eq!(until(&d), Some(ts("2026-11-23T09:30:00+08:00")));
    assert_eq!(
        p.check(&c, ts("2026-11-23T09:30:00+08:00")),
        Decision::Allow
    );
}

#[test]
fn reg_f_seven_in_seven_and_quiet_after_conversation() {
    let p = Policy::load("us-tcpa-regf").expect("preset");
    let ny = [chrono_tz::America::New_York];
    let h: Vec<PastAttempt> = (0..7)
        .map(|i| {
            att(
                &format!("2026-11-{:02}T10:00:00-05:00", 16 + i),
                CallOutcome::NoAnswer,
            )
        })
        .collect();
    let c = Contact {
        zones: &ny,
        ..contact(&h, &ny)
    };
    let d = p.check(&c, ts("2026-11-22T15:00:00-05:00"));
    assert_eq!(rule(&d), Some(Rule::RollingAttempts));
    // The oldest (16th 10:00) leaves the 7-day window on the 23rd at 10:00.
    assert_eq!(until(&d), Some(ts("2026-11-23T10:00:00-05:00")));
    assert_eq!(
        p.check(&c, ts("2026-11-23T10:00:00-05:00")),
        Decision::Allow
    );

    let h = [att("2026-11-20T10:00:00-05:00", CallOutcome::Connected)];
    let c = Contact {
        zones: &ny,
        ..contact(&h, &ny)
    };
    let d = p.check(&c, ts("2026-11-26T10:00:00-05:00"));
    assert_eq!(rule(&d), Some(Rule::AfterConversation));
    assert_eq!(
        p.check(&c, ts("2026-11-27T10:00:00-05:00")),
        Decision::Allow
    );
}

#[test]
fn ofcom_72h_after_abandon() {
    let p = Policy::load("uk-ofcom").expect("preset");
    let ldn = [chrono_tz::Europe::London];
    let h = [att("2026-11-20T10:00:00Z", CallOutcome::Abandoned)];
    let c = Contact {
        zones: &ldn,
        ..contact(&h, &ldn)
    };
    let d = p.check(&c, ts("2026-11-23T09:59:59Z"));
    assert_eq!(rule(&d), Some(Rule::AfterAbandon));
    assert_eq!(until(&d), Some(ts("2026-11-23T10:00:00Z")));
    assert_eq!(p.check(&c, ts("2026-11-23T10:00:00Z")), Decision::Allow);
}

#[test]
fn suppression_stop_and_lifetime_are_permanent() {
    let p = cn();
    let t = ts("2026-11-23T10:00:00+08:00");
    let c = Contact {
        suppressed: true,
        ..contact(&[], &SH)
    };
    let d = p.check(&c, t);
    assert_eq!((rule(&d), until(&d)), (Some(Rule::Suppressed), None));
    let c = Contact {
        disposition: Some("refused"),
        ..contact(&[], &SH)
    };
    assert_eq!(rule(&p.check(&c, t)), Some(Rule::StopDisposition));
    let c = Contact {
        disposition: Some("ptp"),
        ..contact(&[], &SH)
    };
    assert_eq!(p.check(&c, t), Decision::Allow);
    let h: Vec<PastAttempt> = (0..60)
        .map(|i| PastAttempt {
            at: plus(t, -86_400 * (61 - i)),
            phone: PHONE.into(),
            outcome: CallOutcome::NoAnswer,
        })
        .collect();
    let c = contact(&h, &SH);
    let d = p.check(&c, t);
    assert_eq!((rule(&d), until(&d)), (Some(Rule::LifetimeAttempts), None));
}

#[test]
fn holidays_have_their_own_hours() {
    let yaml = r#"
name: test
default_timezone: Asia/Shanghai
calling_hours: { all: "08:00-22:00", sun: none }
holidays: [2026-10-01]
holiday_hours: "10:00-18:00"
"#;
    let p = Policy::from_yaml(yaml, "t.yaml").expect("parses");
    let c = contact(&[], &SH);
    assert_eq!(
        rule(&p.check(&c, ts("2026-10-01T09:00:00+08:00"))),
        Some(Rule::CallingWindow)
    );
    assert_eq!(
        p.check(&c, ts("2026-10-01T10:00:00+08:00")),
        Decision::Allow
    );
    // Sunday 2026-11-22 has no hours: parked until Monday 08:00.
    let d = p.check(&c, ts("2026-11-22T12:00:00+08:00"));
    assert_eq!(until(&d), Some(ts("2026-11-23T08:00:00+08:00")));
    let none = yaml.replace("holiday_hours: \"10:00-18:00\"", "");
    let p = Policy::from_yaml(&none, "t.yaml").expect("parses");
    assert_eq!(
        rule(&p.check(&c, ts("2026-10-01T12:00:00+08:00"))),
        Some(Rule::Holiday)
    );
}

#[test]
fn retry_schedule_backs_off_then_stops() {
    let p = cn();
    let t = Millis::from_unix_secs(1_000_000);
    assert_eq!(p.next_after(CallOutcome::Connected, 1, t), Next::Done);
    assert_eq!(
        p.next_after(CallOutcome::NoAnswer, 1, t),
        Next::RetryAt(plus(t, 3600))
    );
    assert_eq!(
        p.next_after(CallOutcome::NoAnswer, 2, t),
        Next::RetryAt(plus(t, 7200))
    );
    assert_eq!(
        p.next_after(CallOutcome::NoAnswer, 5, t),
        Next::RetryAt(plus(t, 4 * 3600))
    );
    assert_eq!(p.next_after(CallOutcome::NoAnswer, 12, t), Next::Exhausted);
    assert_eq!(
        p.next_after(CallOutcome::InvalidNumber, 1, t),
        Next::Exhausted
    );
}

#[test]
fn bad_policy_files_name_the_place() {
    let e = Policy::from_yaml(
        "name: x\ndefault_timezone: UTC\ncalling_hours: {all: \"08:00-22:00\"}\nlimts: {}\n",
        "p.yaml",
    )
    .expect_err("unknown key");
    let msg = e.to_string();
    assert!(msg.starts_with("p.yaml:4:1: unknown key `limts`"), "{msg}");
    let e = Policy::from_yaml(
        "name: x\ndefault_timezone: Mars/Base\ncalling_hours: {all: \"08:00-22:00\"}\n",
        "p.yaml",
    )
    .expect_err("bad zone");
    assert!(e.to_string().contains("Mars/Base"), "{e}");
    let e = Policy::from_yaml(
        "name: x\ndefault_timezone: UTC\ncalling_hours: {all: \"22:00-08:00\"}\n",
        "p.yaml",
    )
    .expect_err("bad hours");
    assert!(e.to_string().contains("p.yaml:3:"), "{e}");
    let e = Policy::from_yaml("name: x\ndefault_timezone: UTC\ncalling_hours: {all: \"08:00-22:00\"}\nretry: {nope: {delays: [1h], max_tries: 2}}\n", "p.yaml")
        .expect_err("bad outcome");
    assert!(e.to_string().contains("unknown outcome `nope`"), "{e}");
    assert!(matches!(
        Policy::load("no-such-preset"),
        Err(PolicyError::Unknown(_))
    ));
}

// ---- issue 20 item 4: policy handling ----

#[test]
fn a_misspelt_stop_disposition_is_an_error_at_its_place_listing_the_names() {
    let text = PRESETS[0]
        .1
        .replace("stop_on: [refused,", "stop_on: [refusd,");
    let e = Policy::from_yaml(&text, "p.yaml").expect_err("typo accepted");
    let PolicyError::Yaml(y) = &e else {
        panic!("not a YAML error: {e}");
    };
    let line = text
        .lines()
        .position(|l| l.contains("refusd"))
        .expect("line")
        + 1;
    assert_eq!(y.line, line, "{e}");
    assert!(y.col > 1, "{e}");
    let msg = e.to_string();
    assert!(msg.contains("`refusd`"), "{msg}");
    for name in ["refused", "opt_out", "wrong_party", "deceased"] {
        assert!(msg.contains(name), "{msg} does not list {name}");
    }
}

#[test]
fn a_file_policy_is_named_by_its_absolute_path_and_hashed() {
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("p.yaml");
    std::fs::write(&file, PRESETS[0].1).expect("write");
    let (_, src) = PolicySource::resolve(file.to_str().expect("p")).expect("loads");
    assert!(Path::new(&src.source).is_absolute(), "{}", src.source);
    assert_eq!(src.text, PRESETS[0].1);
    assert_eq!(src.sha256.len(), 64);
    let (_, preset) = PolicySource::resolve(PRESETS[0].0).expect("preset");
    assert_eq!(preset.source, PRESETS[0].0);
    // Same rules, same hash, wherever they came from.
    assert_eq!(preset.sha256, src.sha256);
    assert_eq!(preset.compile().expect("compiles").name, PRESETS[0].0);
}

const MESSAGE_POLICY: &str = "name: x\ndefault_timezone: UTC\ncalling_hours: {all: \"08:00-22:00\"}\nabandon_message:\n  caller: Acme Recovery\n  callback: \"+1 800 555 0100\"\n  text:\n    en-US: \"This is {caller}. Please call us back on {callback}.\"\n";

#[test]
fn the_abandon_message_names_the_caller_and_the_number_in_every_locale() {
    let p = Policy::from_yaml(MESSAGE_POLICY, "p.yaml").expect("parses");
    let m = p.abandon_message.expect("a message");
    assert_eq!(
        m.written(crate::Locale::EnUs).as_deref(),
        Some("This is Acme Recovery. Please call us back on +1 800 555 0100.")
    );
    // A voice reads the number digit by digit.
    assert_eq!(
        m.spoken(crate::Locale::EnUs).as_deref(),
        Some("This is Acme Recovery. Please call us back on one eight zero zero five five five zero one zero zero.")
    );
    assert_eq!(m.written(crate::Locale::ZhCn), None);
    // The presets name no caller: they carry no message.
    assert!(cn().abandon_message.is_none());
}

#[test]
fn an_abandon_message_that_hides_who_calls_is_refused() {
    let cases = [
        (
            MESSAGE_POLICY.replace("This is {caller}. ", ""),
            "abandon_message.text.en-US must say {caller}",
        ),
        (
            MESSAGE_POLICY.replace(" on {callback}", ""),
            "abandon_message.text.en-US must say {callback}",
        ),
        (
            MESSAGE_POLICY.replace("+1 800 555 0100", "call us"),
            "abandon_message.callback `call us` is not a telephone number",
        ),
        (
            MESSAGE_POLICY.replace("+1 800 555 0100", "555"),
            "abandon_message.callback `555` is not a telephone number",
        ),
        (
            MESSAGE_POLICY.replace("Acme Recovery", "\"  \""),
            "abandon_message.caller must name the business",
        ),
        (
            MESSAGE_POLICY.replace("en-US:", "fr-FR:"),
            "abandon_message.text: unknown locale `fr-FR`",
        ),
        (
            MESSAGE_POLICY.replace("Please", "{name}, please"),
            "abandon_message.text.en-US: only {caller} and {callback}",
        ),
    ];
    for (text, want) in cases {
        let e = Policy::from_yaml(&text, "p.yaml")
            .expect_err("accepted")
            .to_string();
        assert!(e.contains(want), "want {want:?} in {e:?}");
    }
}
