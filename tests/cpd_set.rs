//! Regression guard over the labelled call-progress set (tests/data/cpd, built by
//! scripts/make_cpd_set.sh): the held-out half must keep its figures.

use std::path::Path;
use voxdial::cpd::{Class, CpdConfig, Detector, Stage};
use voxdial::time::Millis;
use voxdial::Locale;

fn class_name(c: Class) -> &'static str {
    match c {
        Class::Human => "human",
        Class::Machine => "machine",
        Class::Announcement(_) => "announcement",
        Class::Fax => "fax",
        Class::Tone(_) => "tone",
        Class::Silence => "silence",
        Class::Undecided => "undecided",
    }
}

/// (clips, correct) for the held-out half, acoustic only with the SIP stage.
fn heldout_accuracy(dir: &Path) -> Option<(usize, usize)> {
    let labels = std::fs::read_to_string(dir.join("labels.tsv")).ok()?;
    let (mut n, mut ok) = (0, 0);
    for line in labels.lines().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() < 3 || !f[2].contains("split=heldout") {
            continue;
        }
        let stage = if f[2].contains("stage=early") {
            Stage::EarlyMedia
        } else {
            Stage::Answered
        };
        let mut r = hound::WavReader::open(dir.join(f[0])).ok()?;
        let pcm: Vec<i16> = r.samples::<i16>().filter_map(Result::ok).collect();
        let mut d = Detector::new(CpdConfig::default(), stage).ok()?;
        for (i, c) in pcm.chunks(160).enumerate() {
            d.push(c, Millis((i as u64 + 1) * 20));
        }
        let v = d.finish(Millis(pcm.len() as u64 / 8));
        n += 1;
        if class_name(v.class) == f[1].split('/').next().unwrap_or("") {
            ok += 1;
        }
    }
    Some((n, ok))
}

#[test]
fn heldout_figures_hold() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/cpd");
    // The set is committed; a missing set is a failure, not a skip.
    let (n, ok) =
        heldout_accuracy(&dir).expect("tests/data/cpd (scripts/make_cpd_set.sh rebuilds it)");
    assert!(n >= 40, "held-out half has {n} clips");
    // 44/48 when this guard was written; allow one clip of slack.
    assert!(ok + 5 >= n, "held-out accuracy fell to {ok}/{n}");
}

#[test]
fn transcript_rules_decide_the_kind() {
    let mut d = Detector::new(CpdConfig::default(), Stage::EarlyMedia).expect("valid config");
    let v = d.push_transcript("您拨打的电话已关机", Locale::ZhCn, Millis(1200));
    assert_eq!(
        v.map(|v| v.outcome()),
        Some(voxdial::cpd::CpdOutcome::PoweredOff)
    );
}
