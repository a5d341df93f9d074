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
