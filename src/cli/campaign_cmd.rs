//! `voxdial campaign ...`: import lists, manage suppression, run and inspect campaigns.

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use voxdial::campaign::import::{self, ImportOptions};
use voxdial::campaign::phone;
use voxdial::policy::PolicySource;
use voxdial::store::sqlite::SqliteStore;
use voxdial::store::Store;

/// Campaign subcommands.
#[derive(Subcommand, Debug)]
pub enum CampaignCmd {
    /// Import a CSV or XLSX list into a campaign (created if new). Idempotent.
    Import(ImportArgs),
    /// Add numbers to the do-not-call list (a file with one number per line or a phone column).
    Suppress {
        /// File of numbers.
        file: Option<PathBuf>,
        /// A number (repeatable).
        #[arg(long = "phone")]
        phones: Vec<String>,
        /// Why (kept with each number).
        #[arg(long, default_value = "dnc")]
        reason: String,
        /// Region for numbers without a country code.
        #[arg(long, default_value = "CN")]
        region: String,
    },
    /// Take numbers off the do-not-call list (each removal is kept with who, when and why).
    Unsuppress {
        /// A number (repeatable).
        #[arg(long = "phone", required = true)]
        phones: Vec<String>,
        /// Why they may be called again (kept with each removal).
        #[arg(long)]
        reason: String,
        /// Region for numbers without a country code.
        #[arg(long, default_value = "CN")]
        region: String,
    },
    /// Show a campaign's contact policy and its changes, or change it (`--set`).
    Policy {
        /// Campaign name.
        campaign: String,
        /// The new policy: a preset or a YAML file (a snapshot is stored; the change is logged).
        #[arg(long)]
        set: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Leads by status, attempts by outcome, policy blocks by rule.
    Status {
        /// Campaign name.
        campaign: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Dial a campaign's leads under its contact policy (simulated telephony for now).
    Run(Box<super::campaign_run::RunArgs>),
    /// Replay the attempt ledger against the policy; exits 1 on any violation.
    Audit {
        /// Campaign name.
        campaign: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `campaign import`'s arguments.
#[derive(clap::Args, Debug)]
pub struct ImportArgs {
    /// The list (.csv, .txt, .xlsx).
    file: PathBuf,
    /// Campaign name.
    #[arg(long)]
    campaign: String,
    /// Scenario the campaign runs: its campaign variables become required columns.
    #[arg(long)]
    scenario: Option<String>,
    /// Contact policy of a new campaign: a preset (cn-collection, us-tcpa-regf,
    /// uk-ofcom) or a YAML file [default: cn-collection]. A snapshot is stored; an
    /// existing campaign keeps its own (change it with `campaign policy --set`).
    #[arg(long)]
    policy: Option<String>,
    /// Map a variable to a column header: `--map amount_due=欠款` (repeatable).
    #[arg(long = "map", value_parser = super::parse_kv)]
    mapping: Vec<(String, String)>,
    /// A variable with the same value on every row: `--set creditor=安心消费金融`.
    #[arg(long = "set", value_parser = super::parse_kv)]
    constants: Vec<(String, String)>,
    /// Region for numbers without a country code (ISO code).
    #[arg(long, default_value = "CN")]
    region: String,
    /// XLSX sheet (default: the first).
    #[arg(long)]
    sheet: Option<String>,
    /// Row of the header, from 1; rows above it (a title line) are skipped.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    header_row: u64,
    /// Read a CSV in this encoding instead of detecting it (utf-8, gb18030, gbk, utf-16le...).
    #[arg(long)]
    encoding: Option<String>,
    /// Reject report path (default: FILE.rejects.csv).
    #[arg(long)]
    rejects: Option<PathBuf>,
    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
}

/// The database for a command that may start it (`import`, `run`, `suppress`): created owner-only
/// if missing. Every other command opens an existing one with `SqliteStore::open`, so a
/// typo in `--db` is an error instead of a new empty database.
fn open_or_create_db(db: &Path) -> Result<SqliteStore> {
    SqliteStore::create(db).with_context(|| format!("opening {}", db.display()))
}

fn import(root: &Path, db: &Path, a: ImportArgs) -> Result<ExitCode> {
    let ImportArgs {
        file,
        campaign,
        scenario,
        policy,
        mapping,
        constants,
        region,
        sheet,
        header_row,
        encoding,
        rejects,
        json,
    } = a;
    let policy_arg = policy;
    let (_, policy) = PolicySource::resolve(policy_arg.as_deref().unwrap_or("cn-collection"))?;
    let default_region = phone::region(&region)
        .with_context(|| format!("--region {region}: not an ISO country code like CN or US"))?;
    let encoding = match &encoding {
        Some(label) => Some(import::encoding::by_label(label).with_context(|| {
            format!("--encoding {label}: not an encoding name (utf-8, gb18030, gbk, big5, utf-16le, ...)")
        })?),
        None => None,
    };
    let mut store = open_or_create_db(db)?;
    let existing = match store.campaign(&campaign) {
        Ok(c) => Some(c),
        Err(voxdial::store::StoreError::NoCampaign(_)) => None,
        Err(e) => return Err(e.into()),
    };
    // Importing into a campaign without --scenario checks the rows against the scenario
    // the campaign already runs: its leads must carry what that scenario speaks.
    let scenario = scenario.or_else(|| existing.as_ref().and_then(|c| c.scenario.clone()));
    let variables = match &scenario {
        Some(id) => {
            let (lib, diags) = voxdial::scenario::library::Library::load_project(root, &[]);
            super::scenario_cmd::warn_unloaded(&diags);
            let flow = lib.flows.get(id).with_context(|| {
                format!(
                    "no scenario `{id}` under {} (run `voxdial scenario list`)",
                    root.display()
                )
            })?;
            flow.spec.variables.clone()
        }
        None => Default::default(),
    };
    let c = ensure_campaign_policy(
        &mut store,
        &campaign,
        scenario.as_deref(),
        &policy,
        policy_arg.as_deref(),
    )?;
    let rejects_path = rejects.unwrap_or_else(|| {
        let mut p = file.clone().into_os_string();
        p.push(".rejects.csv");
        PathBuf::from(p)
    });
    let opts = ImportOptions {
        variables,
        mapping,
        constants,
        default_region,
        sheet,
        header_row,
        encoding,
        rejects_path: Some(rejects_path),
        progress: std::io::stderr().is_terminal() && !json,
        now: now_unix(),
    };
    let started = std::time::Instant::now();
    let r = match import::import_file(&mut store, c.id, &file, &opts) {
        Ok(r) => r,
        Err(e) => {
            // A campaign this import created and could not fill is not left behind.
            if existing.is_none() {
                if let Err(rm) = store.remove_if_empty(c.id) {
                    tracing::warn!(error = %rm, "removing the empty campaign");
                }
            }
            return Err(e.into());
        }
    };
    if json {
        println!("{}", serde_json::to_string(&r)?);
        return Ok(ExitCode::SUCCESS);
    }
    let secs = started.elapsed().as_secs_f64();
    if r.already_imported {
        println!(
            "{}: imported before into `{campaign}` (same SHA-256); nothing changed",
            file.display()
        );
    }
    println!(
        "{} rows in {secs:.1}s: {} new leads, {} updated, {} merged duplicates, {} rejected",
        r.counts.rows, r.counts.inserted, r.counts.updated, r.counts.merged, r.counts.rejected
    );
    println!(
        "  encoding {} ({}, {:.1}% of non-ASCII characters decode)",
        r.encoding,
        r.encoding_decided_by,
        r.encoding_confidence * 100.0
    );
    if !r.undecodable_lines.is_empty() {
        let lines: Vec<String> = r.undecodable_lines.iter().map(u64::to_string).collect();
        println!(
            "  bytes that are not {} on lines {} (rows refused; --encoding forces another reading)",
            r.encoding,
            lines.join(", ")
        );
    }
    for (k, v) in &r.columns {
        println!("  {k:<16} <- {v}");
    }
    if !r.ignored_columns.is_empty() {
        println!("  not used: {}", r.ignored_columns.join(", "));
    }
    for ch in &r.first_changes {
        println!("  line {}: updated {}", ch.line, ch.variables.join(", "));
    }
    for (k, v) in &r.reject_reasons {
        println!("  rejected {v:>7}  {k}");
    }
    for rj in &r.first_rejects {
        println!("  line {}: {}", rj.line, rj.reason);
    }
    if let Some(f) = &r.rejects_file {
        println!("reject report: {f}");
    }
    Ok(ExitCode::SUCCESS)
}

fn now_unix() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Who did it, for the audit tables: the command and the login (`USER`), never more.
fn by(command: &str) -> String {
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown user".into());
    format!("voxdial campaign {command} ({user})")
}

/// Get or create the campaign for an import. A new campaign takes `policy` (snapshotted);
/// an existing one keeps its own, and an explicit `--policy` with other rules is an
/// error rather than being ignored.
fn ensure_campaign_policy(
    store: &mut SqliteStore,
    campaign: &str,
    scenario: Option<&str>,
    policy: &PolicySource,
    given: Option<&str>,
) -> Result<voxdial::store::Campaign> {
    if let (Some(arg), Ok(c)) = (given, store.campaign(campaign)) {
        let current = store.campaign_policy(&c)?;
        if current.sha256 != policy.sha256 {
            bail!(
                "campaign `{campaign}` runs under policy {} (sha256 {}); --policy {arg} (sha256 {}) has other rules and was not applied. Change it explicitly: voxdial campaign policy {campaign} --set {arg}",
                current.source,
                current.snapshot.short_hash(),
                policy.short_hash()
            );
        }
    }
    Ok(store.ensure_campaign(campaign, scenario, policy, &by("import"))?)
}

pub fn run(root: &Path, db: &Path, cmd: CampaignCmd) -> Result<ExitCode> {
    match cmd {
        CampaignCmd::Import(a) => import(root, db, a),
        CampaignCmd::Suppress {
            file,
            phones,
            reason,
            region,
        } => {
            let default_region = phone::region(&region)
                .with_context(|| format!("--region {region}: not an ISO country code"))?;
            let mut raw: Vec<(String, String)> = phones
                .into_iter()
                .map(|p| ("--phone".to_string(), p))
                .collect();
            if let Some(f) = &file {
                let text = std::fs::read(f).with_context(|| format!("reading {}", f.display()))?;
                let enc = import::detect_encoding(&text[..text.len().min(65_536)]);
                let (text, _, _) = enc.decode(&text);
                for (i, line) in text.lines().enumerate() {
                    let cell = line.split([',', '\t', ';']).next().unwrap_or("").trim();
                    if cell.is_empty() || (i == 0 && !cell.chars().any(|c| c.is_ascii_digit())) {
                        continue;
                    }
                    raw.push((format!("{}:{}", f.display(), i + 1), cell.to_string()));
                }
            }
            if raw.is_empty() {
                bail!("give a file of numbers or --phone NUMBER");
            }
            let mut ok = Vec::new();
            let mut bad = 0;
            for (place, p) in raw {
                match phone::normalize(&p, default_region) {
                    Ok(n) => ok.push(n.e164),
                    Err(e) => {
                        bad += 1;
                        eprintln!("{place}: {e}");
                    }
                }
            }
            // The do-not-call list is often loaded before any campaign exists, so adding
            // to it may start the database too.
            let mut store = open_or_create_db(db)?;
            let n = store.suppress(&ok, &reason, now_unix())?;
            println!(
                "{n} numbers added to the suppression list ({} already there, {bad} unreadable)",
                ok.len() as u64 - n
            );
            Ok(ExitCode::SUCCESS)
        }
        CampaignCmd::Unsuppress {
            phones,
            reason,
            region,
        } => {
            let default_region = phone::region(&region)
                .with_context(|| format!("--region {region}: not an ISO country code"))?;
            let mut ok = Vec::new();
            for p in &phones {
                let n = phone::normalize(p, default_region)
                    .with_context(|| format!("--phone {}", phone::mask(p)))?;
                ok.push(n.e164);
            }
            if reason.trim().is_empty() {
                bail!("--reason: say why these numbers may be called again (it is kept)");
            }
            let mut store = SqliteStore::open(db)?;
            let removed = store.unsuppress(&ok, &by("unsuppress"), &reason, now_unix())?;
            for r in &removed {
                println!(
                    "{}: removed from the suppression list (was: {})",
                    phone::mask(&r.phone),
                    r.reason
                );
            }
            for p in ok.iter().filter(|p| removed.iter().all(|r| &r.phone != *p)) {
                println!("{}: not on the suppression list", phone::mask(p));
            }
            Ok(ExitCode::SUCCESS)
        }
        CampaignCmd::Policy {
            campaign,
            set,
            json,
        } => {
            let mut store = SqliteStore::open(db)?;
            let c = store.campaign(&campaign)?;
            if let Some(new) = set {
                let (_, src) = PolicySource::resolve(&new)?;
                let ch = store.set_campaign_policy(c.id, &src, &by("policy --set"), now_unix())?;
                let from = ch.from.as_ref().map_or("none".to_string(), |v| {
                    format!("{} ({})", v.source, v.snapshot.short_hash())
                });
                tracing::info!(campaign = %campaign, from = %from, to = %ch.to.sha256, "campaign policy changed");
                if json {
                    println!("{}", serde_json::to_string(&ch)?);
                } else {
                    println!(
                        "campaign `{campaign}` policy: {from} -> {} ({}); attempts from now on are dialled and audited under it",
                        ch.to.source,
                        ch.to.snapshot.short_hash()
                    );
                }
                return Ok(ExitCode::SUCCESS);
            }
            let current = store.campaign_policy(&c)?;
            let changes = store.policy_changes(c.id)?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({"campaign": c.name, "policy": current, "changes": changes})
                );
            } else {
                println!(
                    "campaign `{}` policy: {} (sha256 {})",
                    c.name, current.source, current.sha256
                );
                for ch in &changes {
                    let when = chrono::DateTime::from_timestamp(ch.at, 0)
                        .map(|d| d.to_rfc3339())
                        .unwrap_or_default();
                    let from = ch.from.as_ref().map_or("none".to_string(), |v| {
                        format!("{} ({})", v.source, v.snapshot.short_hash())
                    });
                    println!(
                        "  {when}  {from} -> {} ({})  by {}",
                        ch.to.source,
                        ch.to.snapshot.short_hash(),
                        ch.by
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        CampaignCmd::Status { campaign, json } => {
            let store = SqliteStore::open(db)?;
            let c = store.campaign(&campaign)?;
            let s = store.stats(c.id)?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({"campaign": c, "leads": s.leads, "attempts": s.attempts, "blocks": s.blocks})
                );
            } else {
                let hash = c
                    .policy_version
                    .map(|v| store.policy_version(v))
                    .transpose()?
                    .map_or("no snapshot".to_string(), |v| {
                        format!("sha256 {}", v.snapshot.short_hash())
                    });
                println!(
                    "campaign {} (scenario {}, policy {}, {hash})",
                    c.name,
                    c.scenario.as_deref().unwrap_or("-"),
                    c.policy
                );
                for (title, m) in [
                    ("leads", &s.leads),
                    ("attempts", &s.attempts),
                    ("blocks", &s.blocks),
                ] {
                    println!("{title}:");
                    for (k, v) in m {
                        println!("  {k:<30} {v}");
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        CampaignCmd::Run(a) => super::campaign_run::run(db, *a),
        CampaignCmd::Audit { campaign, json } => super::campaign_run::audit(db, &campaign, json),
    }
}
