//! `voxdial campaign run`: dial a stored campaign under its contact policy.

use anyhow::{Context, Result};
use std::path::Path;
use std::process::ExitCode;
use voxdial::campaign::runner::{self, RunConfig};
use voxdial::policy::Policy;
use voxdial::store::sqlite::SqliteStore;
use voxdial::store::Store;
use voxdial::time::{Millis, MonotonicClock};

/// `voxdial campaign run` flags.
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Campaign name.
    pub campaign: String,
    /// Simulated telephony on a virtual clock (the only mode until the SIP driver lands).
    #[arg(long, default_value_t = true)]
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
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
}

pub fn run(db: &Path, a: RunArgs) -> Result<ExitCode> {
    let mut store = SqliteStore::create(db).with_context(|| format!("opening {}", db.display()))?;
    let c = store.campaign(&a.campaign)?;
    let policy = Policy::load(&c.policy)?;
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
    let r = runner::run(&mut store, &a.campaign, &policy, &cfg)?;
    if a.json {
        println!("{}", serde_json::to_string(&r)?);
    } else {
        println!("{}", serde_json::to_string_pretty(&r)?);
    }
    Ok(ExitCode::SUCCESS)
}

pub fn audit(db: &Path, campaign: &str, json: bool) -> Result<ExitCode> {
    let store = SqliteStore::open(db)?;
    let c = store.campaign(campaign)?;
    let policy = Policy::load(&c.policy)?;
    let ledger = store.ledger(c.id)?;
    let v = runner::audit(&ledger, &policy);
    if json {
        println!(
            "{}",
            serde_json::json!({"attempts": ledger.len(), "violations": v})
        );
    } else {
        println!(
            "{} attempts replayed against policy {}: {} violations",
            ledger.len(),
            policy.name,
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
