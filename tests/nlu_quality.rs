//! NLU quality floor on the held-out set (written independently of the training
//! examples, never trained on) and on out-of-domain chatter. A regression guard, not a
//! tuning target: the figures are reported by `cargo run --release --example nlu_eval`.

use std::path::PathBuf;
use voxdial::scenario::library::Library;
use voxdial::Locale;

#[test]
fn held_out_accuracy_stays_above_ninety_percent_per_locale_and_chatter_is_mostly_rejected() {
    let (lib, _) = Library::load(&[PathBuf::from("dialogs")]);
    let nlu = lib.shared_nlu();
    let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 22).expect("date");
    let text = std::fs::read_to_string("tests/data/nlu_heldout.tsv").expect("held-out set");
    let mut per = std::collections::BTreeMap::<Locale, (usize, usize)>::new();
    for line in text.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let locale: Locale = cols[0].parse().expect("locale");
        let e = per.entry(locale).or_default();
        e.1 += 1;
        if nlu.understand(cols[2], locale, today).intent == cols[1] {
            e.0 += 1;
        }
    }
    for (l, (ok, n)) in &per {
        let acc = *ok as f64 / *n as f64;
        assert!(*n >= 500, "{l}: held-out set too small ({n})");
        assert!(acc >= 0.90, "{l}: held-out accuracy {acc:.3} below 0.90");
    }
    let ood = std::fs::read_to_string("tests/data/nlu_ood.tsv").expect("ood set");
    let (mut rejected, mut n) = (0, 0);
    for line in ood.lines().skip(1) {
        let (l, t) = line.split_once('\t').expect("two columns");
        n += 1;
        if nlu
            .understand(t, l.parse().expect("locale"), today)
            .intent()
            .is_none()
        {
            rejected += 1;
        }
    }
    assert!(
        rejected * 2 >= n,
        "only {rejected}/{n} out-of-domain utterances fell back"
    );
}

#[test]
fn a_negated_yes_word_is_a_deny_and_the_yes_no_reading_agrees() {
    let (lib, _) = Library::load(&[PathBuf::from("dialogs")]);
    let nlu = lib.shared_nlu();
    let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 22).expect("date");
    for (l, t, want) in [
        (Locale::ZhCn, "不行啊", "deny"),
        (Locale::ZhCn, "不行", "deny"),
        (Locale::ZhCn, "行啊", "affirm"),
        (Locale::ZhCn, "是的是我", "affirm"),
        (Locale::EnUs, "no not really", "deny"),
        (Locale::EnUs, "yeah that works", "affirm"),
    ] {
        let u = nlu.understand(t, l, today);
        assert_eq!(u.intent, want, "{l} {t:?}: {u:?}");
    }
}

/// A number the customer says (an amount, an ID or card number, a date) is not evidence for
/// an intent unless the intent is about that number: "12345" inside an ID number must not
/// read as the 12345 complaint hotline, while "I'll call 12378 to complain" still does.
#[test]
fn numbers_are_not_evidence_for_an_intent_unless_it_is_about_them() {
    let (lib, _) = Library::load(&[PathBuf::from("dialogs")]);
    let nlu = lib.shared_nlu();
    let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 22).expect("date");
    for (l, t) in [
        (Locale::ZhCn, "2345"),
        (Locale::ZhCn, "12345"),
        (Locale::ZhCn, "123456"),
        (Locale::ZhCn, "是我,我身份证号110105199001012345"),
        (Locale::ZhCn, "卡号6222021234567812378"),
        (Locale::ZhCn, "尾号2345"),
        (Locale::EnUs, "12345"),
        (Locale::EnUs, "my account number is 4012378123"),
    ] {
        let u = nlu.understand(t, l, today);
        assert_ne!(u.intent, "complaint", "{l} {t:?}: {u:?}");
    }
    let u = nlu.understand("是我,我身份证号110105199001012345", Locale::ZhCn, today);
    assert_eq!(u.intent, "affirm", "{u:?}");
    for (l, t) in [
        (Locale::ZhCn, "我打12345投诉你们"),
        (Locale::ZhCn, "我要打12378"),
        (Locale::ZhCn, "再打我就打12315投诉"),
    ] {
        let u = nlu.understand(t, l, today);
        assert_eq!(u.intent, "complaint", "{l} {t:?}: {u:?}");
    }
}
