//! Replays the committed fuzz corpus (`fuzz/corpus/<target>/`) through every parser we
//! own, then a seeded stream of mutations of it, so a parser panic fails the ordinary
//! test suite even where `cargo fuzz` (nightly) is not run.

use rand::{Rng, SeedableRng};
use voxdial::sip::fuzzing;

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    assert!(files.len() >= 4, "{target}: corpus too small");
    files
        .iter()
        .map(|p| std::fs::read(p).expect("read"))
        .collect()
}

fn mutate(rng: &mut rand_chacha::ChaCha8Rng, seed: &[u8]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for _ in 0..rng.random_range(1..8) {
        match rng.random_range(0..5) {
            0 if !v.is_empty() => {
                let i = rng.random_range(0..v.len());
                v[i] = rng.random();
            }
            1 if !v.is_empty() => {
                let i = rng.random_range(0..v.len());
                v.truncate(i);
            }
            2 => {
                let i = rng.random_range(0..=v.len());
                let b: u8 = rng.random();
                v.insert(i, b);
            }
            3 if v.len() > 2 => {
                let i = rng.random_range(0..v.len() - 1);
                let j = rng.random_range(i..v.len());
                let chunk = v[i..j].to_vec();
                v.extend_from_slice(&chunk);
            }
            _ => v.extend((0..rng.random_range(0..16)).map(|_| rng.random::<u8>())),
        }
    }
    v
}

fn run(target: &str, f: fn(&[u8]), rounds: usize) {
    let seeds = corpus(target);
    for s in &seeds {
        f(s);
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0xF022);
    for i in 0..rounds {
        let m = mutate(&mut rng, &seeds[i % seeds.len()]);
        f(&m);
    }
}

#[test]
fn sdp_parser_survives_the_corpus_and_its_mutations() {
    run("sdp", fuzzing::sdp, 100_000);
}

#[test]
fn sipfrag_parser_survives_the_corpus_and_its_mutations() {
    run("sipfrag", fuzzing::sipfrag, 100_000);
}

#[test]
fn reason_header_parser_survives_the_corpus_and_its_mutations() {
    run("reason", fuzzing::reason, 100_000);
}

#[test]
fn rtp_session_survives_the_corpus_and_its_mutations() {
    run("rtp", fuzzing::rtp, 100_000);
}

#[test]
fn sip_uri_check_survives_the_corpus_and_its_mutations() {
    run("sip_uri", fuzzing::sip_uri, 100_000);
}

/// The list importer (CSV in any encoding, XLSX) into an in-memory store: each input
/// goes through two imports and SQLite, so fewer rounds than the wire parsers.
#[test]
fn list_importer_survives_the_corpus_and_its_mutations() {
    run("import", voxdial::campaign::import::fuzzing, 1_500);
}

/// The scenario loader: real files trimmed and the hostile ones of issue 20 (ten thousand
/// `- ` on a line, a hundred block levels, five thousand `[`, a nest after a syntax
/// error, conditions nested three thousand deep). Fewer rounds than the wire parsers:
/// each one compiles a flow.
#[test]
fn scenario_loader_survives_the_corpus_and_its_mutations() {
    run("scenario", voxdial::scenario::fuzzing::load, 2_000);
}
