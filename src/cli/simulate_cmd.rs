//! `voxdial simulate`: quick runs from flags, kept runs from a YAML file, strategy
//! comparisons, the Erlang C check and charts.

use anyhow::Result;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use voxdial::dialer::config::SimFile;
use voxdial::dialer::pacing::{Brake, Strategy};
use voxdial::dialer::sim::{self, SimConfig, Summary};
use voxdial::policy::Policy;

/// `voxdial simulate` flags. Unset flags take the `--config` file's value, else the default shown.
#[derive(clap::Args, Debug)]
pub struct SimulateArgs {
    /// A YAML file describing the run (keys and defaults: docs/simulation.md); flags override it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Pacing strategy [default: predictive].
    #[arg(long, value_enum)]
    pub strategy: Option<Strategy>,
    /// Human agents [default: 20].
    #[arg(long)]
    pub agents: Option<u32>,
    /// Probability that a dial is answered by a person [default: 0.3].
    #[arg(long)]
    pub answer_rate: Option<f64>,
    /// Leads in the list [default: 100000].
    #[arg(long)]
    pub leads: Option<u64>,
    /// Length of the dialing day, hours [default: 8].
    #[arg(long)]
    pub hours: Option<f64>,
    /// RNG seed: the same seed gives the same result [default: 1].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Mean talk time, seconds [default: 120].
    #[arg(long)]
    pub talk_s: Option<f64>,
    /// Mean wrap-up time, seconds [default: 15].
    #[arg(long)]
    pub wrap_s: Option<f64>,
    /// Lines per free agent for `ratio` [default: 2].
    #[arg(long)]
    pub ratio: Option<f64>,
    /// Abandon-rate target [default: the policy's, else 0.03].
    #[arg(long)]
    pub target_abandon: Option<f64>,
    /// VICIdial brake mode [default: average].
    #[arg(long, value_enum)]
    pub brake: Option<Brake>,
    /// Bots take every answer; humans take escalations only.
    #[arg(long)]
    pub bot_first: bool,
    /// Concurrent bot channels (bot-first) [default: 100].
    #[arg(long)]
    pub bot_channels: Option<u32>,
    /// Share of bot calls escalated to a human (bot-first) [default: 0.1].
    #[arg(long)]
    pub transfer_rate: Option<f64>,
    /// Trunk calls per second [default: 30].
    #[arg(long)]
    pub trunk_cps: Option<f64>,
    /// Contact policy checked before every dial (preset or YAML file); unanswered leads
    /// are retried on its schedule and blocks are counted by rule.
    #[arg(long)]
    pub policy: Option<String>,
    /// Virtual start of the day (RFC 3339) [default: 2026-11-23T09:00:00+08:00].
    #[arg(long)]
    pub start: Option<String>,
    /// Run every strategy on the same seeded population and print them side by side.
    #[arg(long)]
    pub compare: bool,
    /// Write dial level, abandon rate and occupancy charts (SVG) into this folder.
    #[arg(long)]
    pub charts: Option<PathBuf>,
    /// Erlang C validation: Poisson arrivals to c agents, exponential handle times.
    #[arg(long)]
    pub validate_erlang: bool,
    /// Arrival rate per second (validation mode).
    #[arg(long, default_value_t = 0.1)]
    pub arrival_rate: f64,
    /// Mean handle time, seconds (validation mode).
    #[arg(long, default_value_t = 180.0)]
    pub mean_handle_s: f64,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

fn config(a: &SimulateArgs) -> Result<(SimConfig, Vec<Strategy>)> {
    let mut cfg = SimConfig::default();
    let mut compare = vec![
        Strategy::Progressive,
        Strategy::Ratio,
        Strategy::Vicidial,
        Strategy::Predictive,
    ];
    if let Some(p) = &a.config {
        let path = p.display().to_string();
        let file = SimFile::load(&path)?;
        cfg = file.apply(cfg, &path)?;
        if let Some(c) = &file.compare {
            compare = c.clone();
        }
    }
    macro_rules! set {
        ($($f:ident => $t:ident),*) => { $( if let Some(v) = a.$f { cfg.$t = v; } )* };
    }
    set!(strategy => strategy, agents => agents, answer_rate => answer_rate, leads => leads,
         hours => hours, seed => seed, talk_s => talk_mean_s, wrap_s => wrap_mean_s,
         ratio => ratio, brake => brake, bot_channels => bot_channels,
         transfer_rate => transfer_rate, trunk_cps => trunk_cps);
    if a.bot_first {
        cfg.bot_first = true;
    }
    if let Some(p) = &a.policy {
        let policy = Policy::load(p)?;
        cfg.target_abandon = policy.max_abandon_rate;
        cfg.drop_after_s = policy.abandon_after_s;
        cfg.policy = Some(Arc::new(policy));
    }
    if let Some(t) = a.target_abandon {
        cfg.target_abandon = t;
    }
    if let Some(s) = &a.start {
        cfg.start_unix = chrono::DateTime::parse_from_rfc3339(s)
            .map_err(|_| anyhow::anyhow!("--start {s}: not an RFC 3339 time"))?
            .timestamp();
    }
    Ok((cfg, compare))
}

fn print_table(rows: &[Summary]) {
    println!(
        "{:<12} {:>8} {:>8} {:>8} {:>9} {:>9} {:>12} {:>10} {:>8}",
        "strategy",
        "placed",
        "connects",
        "aband.",
        "aband.%",
        "occup.%",
        "talk min/ah",
        "xfer p95 s",
        "blocks"
    );
    for r in rows {
        println!(
            "{:<12} {:>8} {:>8} {:>8} {:>8.2}% {:>8.1}% {:>12.1} {:>10.1} {:>8}",
            format!("{:?}", r.strategy).to_lowercase(),
            r.calls_placed,
            r.connects,
            r.abandoned,
            r.abandon_rate * 100.0,
            r.agent_occupancy * 100.0,
            r.talk_minutes_per_agent_hour,
            r.transfer_wait_p95_s,
            r.blocks.values().sum::<u64>()
        );
    }
}

/// One run in words, every figure with its unit (`--json` has the raw numbers).
fn print_summary(r: &Summary) {
    let pct = |x: f64| format!("{:.2}%", x * 100.0);
    println!(
        "{} over {:.1} simulated hours",
        format!("{:?}", r.strategy).to_lowercase(),
        r.simulated_s / 3600.0
    );
    let rows: [(&str, String); 12] = [
        ("dials placed", format!("{}", r.calls_placed)),
        ("answered by a person", format!("{}", r.answered)),
        ("connected", format!("{}", r.connects)),
        (
            "abandoned",
            format!("{} ({} of answered)", r.abandoned, pct(r.abandon_rate)),
        ),
        ("agent occupancy", pct(r.agent_occupancy)),
        (
            "talk per agent-hour",
            format!("{:.1} min", r.talk_minutes_per_agent_hour),
        ),
        (
            "transfers to humans",
            format!(
                "{} ({} hung up waiting)",
                r.transfers, r.transfers_abandoned
            ),
        ),
        (
            "wait for a human, p50",
            format!("{:.1} s", r.transfer_wait_p50_s),
        ),
        (
            "wait for a human, p95",
            format!("{:.1} s", r.transfer_wait_p95_s),
        ),
        ("retries", format!("{}", r.retries)),
        ("leads never dialled", format!("{}", r.leads_left)),
        (
            "policy blocks",
            format!("{}", r.blocks.values().sum::<u64>()),
        ),
    ];
    for (k, v) in rows {
        println!("  {k:<24} {v}");
    }
    for (k, v) in &r.blocks {
        println!("    {k:<22} {v}");
    }
}

pub fn run(a: SimulateArgs) -> Result<ExitCode> {
    if a.validate_erlang {
        let agents = a.agents.unwrap_or(20);
        let hours = a.hours.unwrap_or(8.0);
        let seed = a.seed.unwrap_or(1);
        let r = sim::validate_erlang(a.arrival_rate, agents, a.mean_handle_s, hours, seed)?;
        if a.json {
            println!("{}", serde_json::to_string(&r)?);
        } else {
            println!(
                "Erlang C check: {} arrivals at {} calls/s to {agents} agents, mean handle {} s, {hours} h",
                r.arrivals, a.arrival_rate, a.mean_handle_s
            );
            println!(
                "  share that waited  {:>7.2}% ± {:.2}% simulated, {:>7.2}% Erlang C",
                r.p_wait * 100.0,
                r.p_wait_se * 100.0,
                r.p_wait_theory * 100.0
            );
            println!(
                "  mean wait          {:>7.1} s ± {:.1} s simulated, {:>7.1} s Erlang C",
                r.mean_wait_s, r.mean_wait_se_s, r.mean_wait_theory_s
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let (cfg, strategies) = config(&a)?;
    let runs: Vec<Summary> = if a.compare {
        strategies
            .iter()
            .map(|s| {
                sim::simulate(&SimConfig {
                    strategy: *s,
                    ..cfg.clone()
                })
            })
            .collect::<Result<_, _>>()?
    } else {
        vec![sim::simulate(&cfg)?]
    };
    if let Some(dir) = &a.charts {
        let files = voxdial::dialer::charts::write_charts(dir, &runs, cfg.target_abandon)?;
        for f in files {
            eprintln!("chart: {}", f.display());
        }
    }
    let runs: Vec<Summary> = runs.into_iter().map(Summary::without_series).collect();
    if a.compare {
        if a.json {
            println!("{}", serde_json::to_string(&runs)?);
        } else {
            print_table(&runs);
            let blocks: std::collections::BTreeMap<&str, u64> = runs
                .iter()
                .flat_map(|r| r.blocks.iter())
                .fold(Default::default(), |mut m, (k, v)| {
                    *m.entry(k.as_str()).or_insert(0) += v;
                    m
                });
            for (k, v) in blocks {
                println!("  blocks {k}: {v} (all strategies)");
            }
        }
    } else if a.json {
        println!("{}", serde_json::to_string(&runs[0])?);
    } else {
        print_summary(&runs[0]);
    }
    Ok(ExitCode::SUCCESS)
}
