//! Accuracy of the shared-intent NLU on a labelled TSV (locale, intent, text, context):
//! `cargo run --release --example nlu_eval -- tests/data/nlu_heldout.tsv`.
//! The held-out file is written independently of dialogs/intents.yaml and never trained on.

use std::collections::BTreeMap;
use std::path::PathBuf;
use voxdial::scenario::library::Library;
use voxdial::Locale;

fn main() -> anyhow::Result<()> {
    let path = std::env::args().nth(1).unwrap_or_else(|| "tests/data/nlu_heldout.tsv".into());
    let text = std::fs::read_to_string(&path)?;
    let (lib, _) = Library::load(&[PathBuf::from("dialogs")]);
    let nlu = lib.shared_nlu();
    let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 22).ok_or_else(|| anyhow::anyhow!("date"))?;
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
            *confusions.entry((want.to_string(), u.intent.clone())).or_default() += 1;
            misses.push(format!("{locale}\t{want}\t->\t{}\t{:.2}\t{}", u.intent, u.confidence, cols[2]));
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
        println!("  {l} {intent:<18} {ok:>3}/{n:<3} {:5.1}%", *ok as f64 * 100.0 / *n as f64);
    }
    let mut conf: Vec<_> = confusions.into_iter().collect();
    conf.sort_by(|a, b| b.1.cmp(&a.1));
    println!("most frequent confusions (expected -> got):");
    for ((a, b), n) in conf.iter().take(12) {
        println!("  {a} -> {b}: {n}");
    }
    let (mut ok_all, mut n_all) = (0, 0);
    for (l, (ok, n)) in &per_locale {
        ok_all += ok;
        n_all += n;
        println!("accuracy {l}: {ok}/{n} = {:.1}%", *ok as f64 * 100.0 / *n as f64);
    }
    if n_all > 0 {
        println!("accuracy overall: {ok_all}/{n_all} = {:.1}%", ok_all as f64 * 100.0 / n_all as f64);
    }
    Ok(())
}
