//! Accuracy of the shared-intent NLU on a labelled TSV (locale, intent, text, context):
//! `cargo run --release --example nlu_eval -- tests/data/nlu_heldout.tsv`.
//! The held-out file is written independently of dialogs/intents.yaml and never trained on.

use std::collections::BTreeMap;
use std::path::PathBuf;
use voxdial::scenario::library::Library;
use voxdial::Locale;

fn main() -> anyhow::Result<()> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "tests/data/nlu_heldout.tsv".into());
    let text = std::fs::read_to_string(&path)?;
    let (lib, _) = Library::load(&[PathBuf::from("dialogs")]);
    // THRESHOLD=0.2 evaluates another confidence threshold than the default.
    let nlu = match std::env::var("THRESHOLD")
        .ok()
        .and_then(|t| t.parse::<f32>().ok())
    {
        Some(t) => std::sync::Arc::new(voxdial::nlu::Nlu::train(&lib.shared_intents, Some(t))),
        None => lib.shared_nlu(),
    };
    let today =
        chrono::NaiveDate::from_ymd_opt(2026, 11, 22).ok_or_else(|| anyhow::anyhow!("date"))?;
    let mut per_locale: BTreeMap<Locale, (usize, usize)> = BTreeMap::new();
    let mut per_intent: BTreeMap<(Locale, String), (usize, usize)> = BTreeMap::new();
    let mut confusions: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut misses = Vec::new();
    for (i, line) in text.lines().enumerate().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        if cols.len() < 3 {
            anyhow::bail!("{path}:{}: expected locale<TAB>intent<TAB>text", i + 1);
        }
        let locale: Locale = cols[0].parse()?;
        let want = cols[1];
        let u = nlu.understand(cols[2], locale, today);
        let ok = u.intent == want;
        let e = per_locale.entry(locale).or_default();
        e.1 += 1;
        let pi = per_intent.entry((locale, want.to_string())).or_default();
        pi.1 += 1;
        if ok {
            e.0 += 1;
            pi.0 += 1;
        } else {
            *confusions
                .entry((want.to_string(), u.intent.clone()))
                .or_default() += 1;
            misses.push(format!(
                "{locale}\t{want}\t->\t{}\t{:.2}\t{}",
                u.intent, u.confidence, cols[2]
            ));
        }
    }
    let verbose = std::env::var_os("VERBOSE").is_some();
    if verbose {
        for m in &misses {
            println!("miss\t{m}");
        }
    }
    println!("per intent (correct/total):");
    for ((l, intent), (ok, n)) in &per_intent {
        println!(
            "  {l} {intent:<18} {ok:>3}/{n:<3} {:5.1}%",
            *ok as f64 * 100.0 / *n as f64
        );
    }
    let mut conf: Vec<_> = confusions.into_iter().collect();
    conf.sort_by_key(|c| std::cmp::Reverse(c.1));
    println!("most frequent confusions (expected -> got):");
    for ((a, b), n) in conf.iter().take(12) {
        println!("  {a} -> {b}: {n}");
    }
    let (mut ok_all, mut n_all) = (0, 0);
    for (l, (ok, n)) in &per_locale {
        ok_all += ok;
        n_all += n;
        println!(
            "accuracy {l}: {ok}/{n} = {:.1}%",
            *ok as f64 * 100.0 / *n as f64
        );
    }
    if n_all > 0 {
        println!(
            "accuracy overall: {ok_all}/{n_all} = {:.1}%",
            ok_all as f64 * 100.0 / n_all as f64
        );
    }
    // Out-of-domain utterances must fall back rather than be forced into an intent.
    if let Ok(ood) = std::fs::read_to_string("tests/data/nlu_ood.tsv") {
        let (mut rejected, mut n) = (0, 0);
        for line in ood.lines().skip(1) {
            let Some((l, t)) = line.split_once('\t') else {
                continue;
            };
            let u = nlu.understand(t, l.parse()?, today);
            n += 1;
            if u.intent().is_none() {
                rejected += 1;
            } else if verbose {
                println!("ood accepted\t{}\t{:.2}\t{t}", u.intent, u.confidence);
            }
        }
        println!("out-of-domain rejected: {rejected}/{n}");
    }
    if std::env::args().any(|a| a == "--cv") {
        cross_validate(&lib.shared_intents, today)?;
    }
    Ok(())
}

/// 5-fold cross-validation on the training examples themselves: the honest way to tune.
fn cross_validate(
    intents: &BTreeMap<String, voxdial::nlu::intent::IntentSpec>,
    today: chrono::NaiveDate,
) -> anyhow::Result<()> {
    let threshold = std::env::var("THRESHOLD")
        .ok()
        .and_then(|t| t.parse::<f32>().ok());
    let (mut ok, mut n) = (0usize, 0usize);
    for fold in 0..5 {
        let mut train = intents.clone();
        let mut held = Vec::new();
        for (name, spec) in train.iter_mut() {
            for (l, ex) in spec.examples.iter_mut() {
                let mut keep = Vec::new();
                for (i, e) in ex.drain(..).enumerate() {
                    if i % 5 == fold {
                        held.push((*l, name.clone(), e));
                    } else {
                        keep.push(e);
                    }
                }
                *ex = keep;
            }
        }
        let nlu = voxdial::nlu::Nlu::train(&train, threshold);
        for (l, want, text) in held {
            n += 1;
            if nlu.understand(&text, l, today).intent == want {
                ok += 1;
            }
        }
    }
    println!(
        "5-fold cross-validation on training examples: {ok}/{n} = {:.1}%",
        ok as f64 * 100.0 / n.max(1) as f64
    );
    Ok(())
}
