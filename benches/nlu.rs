//! NLU classification latency and throughput on one core:
//! `cargo bench --bench nlu`. Target: p99 < 1 ms, >= 20,000 classifications/s.
//! Prints p50/p99 over a fixed mixed zh-CN/en-US utterance set after the criterion runs.

use criterion::{criterion_group, Criterion};
use std::hint::black_box;
use std::path::PathBuf;
use std::time::Instant;
use voxdial::scenario::library::Library;
use voxdial::Locale;

const UTTERANCES: &[(Locale, &str)] = &[
    (Locale::ZhCn, "嗯 是我"),
    (Locale::ZhCn, "我明天就还三千五"),
    (Locale::ZhCn, "那个 我现在手头有点紧 还不上啊"),
    (Locale::ZhCn, "你们是哪个公司的 怎么有我电话"),
    (Locale::ZhCn, "我已经在app上还过了"),
    (Locale::ZhCn, "打错了 我不认识这个人"),
    (Locale::ZhCn, "转人工 我要找你们领导"),
    (Locale::ZhCn, "以后别再给我打电话了 烦不烦"),
    (Locale::EnUs, "yeah this is him"),
    (Locale::EnUs, "I'll pay it next Friday"),
    (Locale::EnUs, "I lost my job, I can't pay right now"),
    (Locale::EnUs, "who is this and how'd you get my number"),
    (Locale::EnUs, "I already paid that last week"),
    (Locale::EnUs, "you've got the wrong number"),
    (Locale::EnUs, "let me talk to a real person"),
    (Locale::EnUs, "stop calling me"),
];

fn setup() -> std::sync::Arc<voxdial::nlu::Nlu> {
    let (lib, _) = Library::load(&[PathBuf::from("dialogs")]);
    lib.shared_nlu()
}

fn bench(c: &mut Criterion) {
    let nlu = setup();
    let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 22).expect("date");
    c.bench_function("nlu_understand_mixed", |b| {
        let mut i = 0;
        b.iter(|| {
            let (l, t) = UTTERANCES[i % UTTERANCES.len()];
            i += 1;
            black_box(nlu.understand(black_box(t), l, today))
        })
    });
}

criterion_group!(benches, bench);

fn percentiles() {
    let nlu = setup();
    let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 22).expect("date");
    let rounds = 2_000;
    let mut samples = Vec::with_capacity(rounds * UTTERANCES.len());
    let start = Instant::now();
    for _ in 0..rounds {
        for (l, t) in UTTERANCES {
            let t0 = Instant::now();
            black_box(nlu.understand(black_box(t), *l, today));
            samples.push(t0.elapsed().as_nanos() as u64);
        }
    }
    let total = start.elapsed();
    samples.sort_unstable();
    let p = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize] as f64 / 1000.0;
    println!(
        "nlu understand (intent + slots), one thread: n={} p50={:.1}us p99={:.1}us max={:.1}us throughput={:.0}/s",
        samples.len(),
        p(0.50),
        p(0.99),
        *samples.last().unwrap_or(&0) as f64 / 1000.0,
        samples.len() as f64 / total.as_secs_f64()
    );
}

fn main() {
    benches();
    percentiles();
    Criterion::default().configure_from_args().final_summary();
}
