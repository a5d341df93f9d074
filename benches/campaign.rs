//! Campaign benchmarks (a bench binary: one-shot heavy runs, not criterion samples).
//!
//! 1. Import: a generated 1,000,000-row GBK CSV with ~2% bad rows, into a fresh SQLite
//!    file: wall time and peak memory (VmHWM), against the targets < 20 s and < 1 GB.
//! 2. Scheduler: next-lead decisions per second with 1M leads stored, each decision the
//!    real path (due lead, debtor history, disposition, suppression, policy check,
//!    ledger write), and the policy check alone.
//! 3. Simulator: an 8-hour, 100,000-lead, 50-agent day, per strategy.
//!
//! `cargo bench --bench campaign` (ROWS=200000 for a shorter run).

use std::io::Write;
use std::time::Instant;
use voxdial::campaign::import::{import_file, ImportOptions};
use voxdial::policy::{CallOutcome, Contact, Next, PastAttempt, Policy};
use voxdial::store::sqlite::SqliteStore;
use voxdial::store::{AttemptEnd, Store};
use voxdial::time::Millis;

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn generate(path: &std::path::Path, rows: u64) -> u64 {
    let f = std::fs::File::create(path).expect("create");
    let mut w = std::io::BufWriter::new(f);
    let mut text = String::from("客户编号,姓名,手机号,欠款金额,到期日,逾期天数,产品\r\n");
    let mut bad = 0;
    let prefixes = ["138", "139", "150", "186", "187", "135", "177", "199"];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..rows {
        // xorshift: deterministic, no dependency on the RNG crates' streams.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let p = prefixes[(x % prefixes.len() as u64) as usize];
        let kind = x % 100;
        let phone = match kind {
            0 => "12345".to_string(),                         // bad number
            1 => format!("{p}{:08}", (x >> 8) % 100_000_000), // fine
            _ => format!("{p}{:08}", (x >> 8) % 100_000_000),
        };
        let amount = if kind == 2 {
            "n/a".to_string()
        } else {
            format!("{}.{:02}", 100 + (x >> 20) % 50_000, (x >> 3) % 100)
        };
        if kind == 0 || kind == 2 {
            bad += 1;
        }
        text.push_str(&format!(
            "C{i:08},客户{},{phone},{amount},2026-11-{:02},{},随心贷\r\n",
            i % 1000,
            1 + (x >> 11) % 28,
            1 + (x >> 5) % 90
        ));
        if text.len() > 1 << 20 {
            let (b, _, _) = encoding_rs::GBK.encode(&text);
            w.write_all(&b).expect("write");
            text.clear();
        }
    }
    let (b, _, _) = encoding_rs::GBK.encode(&text);
    w.write_all(&b).expect("write");
    w.flush().expect("flush");
    bad
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` would run us with no args.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("VOXDIAL_LOG"))
        .init();
    let rows: u64 = std::env::var("ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().expect("tmp");
    let csv = dir.path().join("list.csv");
    let t = Instant::now();
    let bad = generate(&csv, rows);
    let size_mb = std::fs::metadata(&csv).map(|m| m.len()).unwrap_or(0) as f64 / 1e6;
    println!(
        "generated {rows} rows ({size_mb:.0} MB GBK, {bad} bad) in {:.1}s",
        t.elapsed().as_secs_f64()
    );
    let rss_before = peak_rss_mb();

    let lib = voxdial::scenario::library::Library::load(&[
        std::path::PathBuf::from("dialogs"),
        std::path::PathBuf::from("scenarios"),
    ])
    .0;
    let variables = lib
        .flows
        .get("collection_m1_overdue")
        .map(|f| f.spec.variables.clone())
        .unwrap_or_default();
    let db = dir.path().join("v.db");
    let mut store = SqliteStore::create(&db).expect("db");
    let c = store
        .ensure_campaign(
            "bench",
            Some("collection_m1_overdue"),
            &voxdial::policy::PolicySource::resolve("cn-collection")
                .expect("preset")
                .1,
            "bench",
        )
        .expect("campaign");
    let opts = ImportOptions {
        variables,
        mapping: Vec::new(),
        constants: vec![("creditor".into(), "安心消费金融".into())],
        default_region: phonenumber::country::Id::CN,
        sheet: None,
        header_row: 1,
        encoding: None,
        rejects_path: Some(dir.path().join("rejects.csv")),
        progress: false,
        now: 1_795_395_600,
    };
    let t = Instant::now();
    let r = import_file(&mut store, c.id, &csv, &opts).expect("import");
    let secs = t.elapsed().as_secs_f64();
    let peak = peak_rss_mb();
    println!(
        "import: {} rows in {secs:.2}s ({:.0} rows/s): {} leads, {} merged, {} rejected; peak RSS {peak:.0} MB (before {rss_before:.0} MB) — targets < 20 s, < 1024 MB: {}",
        r.counts.rows,
        r.counts.rows as f64 / secs,
        r.counts.inserted,
        r.counts.merged,
        r.counts.rejected,
        if secs < 20.0 && peak < 1024.0 { "met" } else { "MISSED" }
    );
    let t = Instant::now();
    let again = import_file(&mut store, c.id, &csv, &opts).expect("re-import");
    println!(
        "re-import of the same file: {:.2}s, {} new",
        t.elapsed().as_secs_f64(),
        again.counts.inserted
    );

    // Scheduler: decisions against the 1M-lead store.
    let policy = Policy::load("cn-collection").expect("preset");
    let now = 1_795_395_600 + 3600; // 10:00 Shanghai
                                    // The read side alone: next due leads, each debtor's history, disposition and
                                    // suppression, and the policy's answer (what a node does before it commits).
    let t = Instant::now();
    let mut decided = 0usize;
    let mut allowed_ro = 0usize;
    let batch = store.due_leads(c.id, now, 100_000).expect("due");
    for lead in &batch {
        let history = store.history(&lead.debtor_id).expect("history");
        let disp = store.disposition(&lead.debtor_id).expect("disp");
        let zones = voxdial::policy::zones::parse_list(&lead.zones).unwrap_or_default();
        let contact = Contact {
            phone: &lead.phone,
            zones: &zones,
            history: &history,
            disposition: disp.as_deref(),
            suppressed: store.is_suppressed(&lead.phone).expect("dnc"),
        };
        if policy.check(&contact, Millis::from_unix_secs(now)) == voxdial::policy::Decision::Allow {
            allowed_ro += 1;
        }
        decided += 1;
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "scheduler (read + policy, no commit): {decided} decisions over {} stored leads in {secs:.2}s = {:.0} decisions/s ({allowed_ro} allowed)",
        r.counts.inserted,
        decided as f64 / secs
    );
    let n = 20_000usize;
    let t = Instant::now();
    let mut allowed = 0;
    let mut blocked = 0;
    let mut done = 0;
    while done < n {
        let batch = store.due_leads(c.id, now, 256).expect("due");
        if batch.is_empty() {
            break;
        }
        for lead in batch {
            let history = store.history(&lead.debtor_id).expect("history");
            let disp = store.disposition(&lead.debtor_id).expect("disp");
            let zones = voxdial::policy::zones::parse_list(&lead.zones).unwrap_or_default();
            let contact = Contact {
                phone: &lead.phone,
                zones: &zones,
                history: &history,
                disposition: disp.as_deref(),
                suppressed: store.is_suppressed(&lead.phone).expect("dnc"),
            };
            match policy.check(&contact, Millis::from_unix_secs(now)) {
                voxdial::policy::Decision::Allow => {
                    let a = store
                        .start_attempt(&lead, c.id, c.policy_version, now)
                        .expect("start");
                    store
                        .finish_attempt(
                            a,
                            &AttemptEnd {
                                outcome: CallOutcome::NoAnswer,
                                sip_code: Some(487),
                                disposition: None,
                                talk_s: 0.0,
                                next: Next::RetryAt(Millis::from_unix_secs(now + 3600)),
                            },
                            now,
                        )
                        .expect("finish");
                    allowed += 1;
                }
                voxdial::policy::Decision::Block {
                    rule,
                    detail,
                    until,
                } => {
                    store
                        .block(
                            &lead,
                            c.id,
                            rule,
                            &detail,
                            until.map(Millis::as_unix_secs),
                            now,
                        )
                        .expect("block");
                    blocked += 1;
                }
            }
            done += 1;
        }
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "scheduler: {done} next-lead decisions with {} leads stored in {secs:.2}s = {:.0} decisions/s ({allowed} dialled with start+finish commits, {blocked} blocked), fsync per commit (synchronous=FULL)",
        r.counts.inserted,
        done as f64 / secs
    );
    // The policy check alone, on a debtor with a day's history.
    let zones = [chrono_tz::Asia::Shanghai];
    let history: Vec<PastAttempt> = (0..5)
        .map(|i| PastAttempt {
            at: Millis::from_unix_secs(now - 7200 * (i + 1)),
            phone: "+8613800138000".into(),
            outcome: CallOutcome::NoAnswer,
        })
        .collect();
    let contact = Contact {
        phone: "+8613800138000",
        zones: &zones,
        history: &history,
        disposition: None,
        suppressed: false,
    };
    let m = 1_000_000;
    let t = Instant::now();
    let mut ok = 0u64;
    for i in 0..m {
        if policy.check(&contact, Millis::from_unix_secs(now + (i % 3600) as i64))
            == voxdial::policy::Decision::Allow
        {
            ok += 1;
        }
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "policy check alone: {:.2} M decisions/s ({ok} allowed)",
        m as f64 / secs / 1e6
    );

    // The simulated day the issue names.
    for s in [
        voxdial::dialer::pacing::Strategy::Vicidial,
        voxdial::dialer::pacing::Strategy::Predictive,
    ] {
        let cfg = voxdial::dialer::sim::SimConfig {
            strategy: s,
            agents: 50,
            leads: 100_000,
            hours: 8.0,
            answer_rate: 0.3,
            seed: 7,
            ..Default::default()
        };
        let t = Instant::now();
        let r = voxdial::dialer::sim::simulate(&cfg).expect("sim");
        println!(
            "simulated 8 h, 100,000 leads, 50 agents ({s:?}): {:.3}s wall, {} calls, {:.2}% abandoned, {:.1} talk min/agent-hour",
            t.elapsed().as_secs_f64(),
            r.calls_placed,
            r.abandon_rate * 100.0,
            r.talk_minutes_per_agent_hour
        );
    }
}
