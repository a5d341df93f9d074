//! `voxdial campaign run`: dial a stored campaign under its contact policy.

use anyhow::{bail, Context, Result};
use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;
use voxdial::campaign::runner::{self, RunConfig};
use voxdial::policy::Policy;
use voxdial::store::sqlite::SqliteStore;
use voxdial::store::LedgerRow;
use voxdial::store::Store;
use voxdial::time::{Millis, MonotonicClock};

/// `voxdial campaign run` flags.
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Campaign name.
    pub campaign: String,
    /// Dial simulated lines on a virtual clock. Required: it is the only mode until the
    /// SIP driver is wired to campaigns, and its simulated outcomes are written to this
    /// campaign's ledger (leads end up done or exhausted), so it must be asked for.
    #[arg(long)]
    pub simulate: bool,
    /// Pacing strategy.
    #[arg(long, value_enum, default_value = "predictive")]
    pub strategy: voxdial::dialer::pacing::Strategy,
    /// Agents (or bot channels) taking answered calls.
    #[arg(long, default_value_t = 20)]
    pub agents: u32,
    /// Probability a dial is answered by a person.
    #[arg(long, default_value_t = 0.3)]
    pub answer_rate: f64,
    /// RNG seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Virtual start (RFC 3339) when the campaign has not run before (default: when its
    /// first lead became due, i.e. the import; a fixed default went stale as the real
    /// clock passed it and left every lead due after the run's end).
    #[arg(long)]
    pub start: Option<String>,
    /// Virtual days to run from the campaign's clock.
    #[arg(long, default_value_t = 1.0)]
    pub days: f64,
    /// Mean talk time, seconds.
    #[arg(long, default_value_t = 90.0)]
    pub talk_s: f64,
    /// Stop after this many dials.
    #[arg(long)]
    pub max_dials: Option<u64>,
    /// Trunk calls per second.
    #[arg(long, default_value_t = 30)]
    pub cps: u32,
    /// Print the report as one JSON object on one line.
    #[arg(long)]
    pub json: bool,
}

/// The campaign's policy snapshot, compiled, with its version id.
fn campaign_policy(store: &SqliteStore, c: &voxdial::store::Campaign) -> Result<(Policy, String)> {
    let v = store.campaign_policy(c)?;
    let policy = v
        .snapshot
        .compile()
        .with_context(|| format!("campaign `{}`: its stored policy snapshot {}", c.name, v.id))?;
    Ok((
        policy,
        format!("{} (sha256 {})", v.source, v.snapshot.short_hash()),
    ))
}

fn print_counts(title: &str, m: &std::collections::BTreeMap<String, u64>) {
    if m.is_empty() {
        println!("{title}: none");
        return;
    }
    println!("{title}:");
    for (k, v) in m {
        println!("  {k:<30} {v:>8}");
    }
}

pub fn run(db: &Path, a: RunArgs) -> Result<ExitCode> {
    if !a.simulate {
        bail!(
            "campaign run dials simulated lines only (the SIP driver is not wired to campaigns yet), and writes the simulated outcomes into `{}`'s ledger; pass --simulate to do that",
            a.campaign
        );
    }
    let mut store = SqliteStore::create(db).with_context(|| format!("opening {}", db.display()))?;
    let c = store.campaign(&a.campaign)?;
    let (policy, policy_label) = campaign_policy(&store, &c)?;
    let start = match &a.start {
        Some(s) => chrono::DateTime::parse_from_rfc3339(s)
            .with_context(|| format!("--start {s}: not an RFC 3339 time"))?
            .timestamp(),
        None => store
            .next_due(c.id)?
            .unwrap_or_else(|| MonotonicClock::new().now().as_unix_secs()),
    };
    let from = c.clock.map_or(start, |t| t.max(start));
    let cfg = RunConfig {
        strategy: a.strategy,
        takers: a.agents,
        answer_rate: a.answer_rate,
        seed: a.seed,
        start: Millis::from_unix_secs(start),
        until: Millis::from_unix_secs(from + (a.days * 86_400.0) as i64),
        talk_mean_s: a.talk_s,
        ring_mean_s: 10.0,
        max_dials: a.max_dials,
        cps: a.cps,
    };
    let bar = (std::io::stderr().is_terminal() && !a.json).then(|| {
        let b = indicatif::ProgressBar::new(1000);
        b.set_style(
            indicatif::ProgressStyle::with_template("{spinner} dialling {bar:40} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    });
    let started = std::time::Instant::now();
    let r = runner::run_with_progress(&mut store, &a.campaign, &policy, &cfg, &mut |p| {
        if let Some(b) = &bar {
            let span = p.until.ms_since(p.from).max(1);
            b.set_position(p.now.ms_since(p.from) * 1000 / span);
            let at = chrono::DateTime::from_timestamp(p.now.as_unix_secs(), 0)
                .map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
                .unwrap_or_default();
            b.set_message(format!("virtual {at}, {} dials", p.dials));
        }
    })?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    if a.json {
        println!("{}", serde_json::to_string(&r)?);
        return Ok(ExitCode::SUCCESS);
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "campaign `{}`: simulated run under policy {policy_label}",
        a.campaign
    );
    println!("  virtual time {} -> {}", r.from, r.to);
    println!(
        "  {} dials in {secs:.1} s of real time ({:.0} dials/s)",
        r.dials,
        r.dials as f64 / secs.max(1e-3)
    );
    if r.recovered_interrupted > 0 {
        println!(
            "  {} attempts left in flight by an interrupted run closed as interrupted",
            r.recovered_interrupted
        );
    }
    println!("  {} leads still pending", r.pending_left);
    print_counts("outcomes", &r.outcomes);
    print_counts("policy blocks", &r.blocks);
    Ok(ExitCode::SUCCESS)
}

pub fn audit(db: &Path, campaign: &str, json: bool) -> Result<ExitCode> {
    let store = SqliteStore::open(db)?;
    let c = store.campaign(campaign)?;
    let ledger = store.ledger(c.id)?;
    // Each attempt against the snapshot it was dialled under.
    let mut policies = std::collections::BTreeMap::new();
    for v in ledger.iter().map(|r: &LedgerRow| r.policy_version) {
        if policies.contains_key(&v) {
            continue;
        }
        let (policy, label) = match v {
            Some(id) => {
                let pv = store.policy_version(id)?;
                let policy = pv.snapshot.compile().with_context(|| {
                    format!("campaign `{campaign}`: stored policy snapshot {id}")
                })?;
                (
                    policy,
                    format!("{} ({})", pv.source, pv.snapshot.short_hash()),
                )
            }
            None => {
                let (policy, label) = campaign_policy(&store, &c).with_context(|| {
                    "attempts without a policy snapshot are judged by the campaign's current policy"
                })?;
                (policy, label)
            }
        };
        policies.insert(v, (policy, label));
    }
    let v = runner::audit_with(&ledger, |v| &policies[&v].0);
    let names: Vec<&str> = policies.values().map(|(_, l)| l.as_str()).collect();
    if json {
        println!(
            "{}",
            serde_json::json!({"attempts": ledger.len(), "violations": v})
        );
    } else {
        println!(
            "{} attempts replayed, each against the policy it was dialled under ({}): {} violations",
            ledger.len(),
            if names.is_empty() { "none".to_string() } else { names.join(", ") },
            v.len()
        );
        for x in v.iter().take(20) {
            println!("  attempt {}: {} ({})", x.attempt, x.rule, x.detail);
        }
    }
    Ok(if v.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
