//! `voxdial scenario check|graph|test|list`.

use super::{today_or_now, ListFormat, ScenarioCmd};
use anyhow::{Context, Result};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use voxdial::dialogue::conversation_test;
use voxdial::scenario::diag::Diagnostic;
use voxdial::scenario::graph;
use voxdial::scenario::library::Library;
use voxdial::scenario::model::FlowKind;

use voxdial::scenario::library::under;

pub fn run(root: &Path, cmd: ScenarioCmd) -> Result<ExitCode> {
    match cmd {
        ScenarioCmd::Check {
            paths,
            json,
            deny_warnings,
        } => {
            let paths = if paths.is_empty() {
                vec![under(root, "scenarios"), under(root, "dialogs")]
            } else {
                paths
            };
            for p in &paths {
                if !p.exists() {
                    anyhow::bail!("{}: no such file or folder", p.display());
                }
            }
            // Dialogs and intents are always loaded so a single scenario can be checked alone.
            let mut all = paths.clone();
            for shared in [under(root, "dialogs")] {
                if shared.exists() && !all.iter().any(|p| shared.starts_with(p) || p == &shared) {
                    all.push(shared);
                }
            }
            let (lib, diags) = Library::load(&all);
            let errors = diags.iter().filter(|d| d.is_error()).count();
            let warnings = diags.len() - errors;
            for d in &diags {
                if json {
                    println!("{}", serde_json::to_string(d)?);
                } else {
                    println!("{d}");
                }
            }
            let scenarios = lib
                .flows
                .values()
                .filter(|f| f.spec.kind == FlowKind::Scenario)
                .count();
            let dialogs = lib.flows.len() - scenarios;
            eprintln!(
                "checked {scenarios} scenarios, {dialogs} dialogs, {} shared intents: {errors} errors, {warnings} warnings",
                lib.shared_intents.len()
            );
            Ok(if errors > 0 || (deny_warnings && warnings > 0) {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        ScenarioCmd::Graph { id, format } => {
            let (lib, diags) = Library::load_project(root, &[]);
            let flow = lib.flow(&id).with_context(|| {
                let errs: Vec<String> = diags
                    .iter()
                    .filter(|d| d.is_error())
                    .take(5)
                    .map(|d| d.to_string())
                    .collect();
                format!(
                    "no loadable scenario or dialog `{id}`{}",
                    if errs.is_empty() {
                        String::new()
                    } else {
                        format!(":\n{}", errs.join("\n"))
                    }
                )
            })?;
            warn_unloaded(&diags);
            print!("{}", graph::render(flow, format));
            Ok(ExitCode::SUCCESS)
        }
        ScenarioCmd::Test { paths, json, today } => {
            let (lib, diags) = Library::load_project(root, &paths);
            for d in diags.iter().filter(|d| d.is_error()) {
                eprintln!("{d}");
            }
            let lib = Arc::new(lib);
            let files = conversation_test::test_files(&lib, &paths);
            if files.is_empty() {
                anyhow::bail!(
                    "no conversation test files found (files with a top-level `tests:` key)"
                );
            }
            let report = conversation_test::run(&lib, &files, today_or_now(today));
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print_report(&report);
            }
            let load_errors = diags.iter().any(|d| d.is_error());
            Ok(if report.ok() && !load_errors {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        ScenarioCmd::List { format } => {
            let (lib, diags) = Library::load_project(root, &[]);
            warn_unloaded(&diags);
            let rows = voxdial::scenario::catalogue::rows(&lib);
            match format {
                ListFormat::Json => println!("{}", serde_json::to_string_pretty(&rows)?),
                ListFormat::Markdown => print!("{}", voxdial::scenario::catalogue::markdown(&rows)),
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Say on stderr what did not load, for a command that needs one scenario and keeps working
/// without the rest: a broken file elsewhere in the project (one too large or too deep to
/// parse, or a flow with errors) is skipped with a warning there, while `scenario check`
/// and `scenario test` fail on it.
pub fn warn_unloaded(diags: &[Diagnostic]) {
    const SHOWN: usize = 5;
    let errors: Vec<&Diagnostic> = diags.iter().filter(|d| d.is_error()).collect();
    if errors.is_empty() {
        return;
    }
    eprintln!(
        "warning: {} error(s) in the project; the files and flows they are in were skipped (run `voxdial scenario check`):",
        errors.len()
    );
    for d in errors.iter().take(SHOWN) {
        eprintln!("  {d}");
    }
    if errors.len() > SHOWN {
        eprintln!("  ... and {} more", errors.len() - SHOWN);
    }
}

fn print_report(r: &conversation_test::Report) {
    for e in &r.errors {
        println!("error: {e}");
    }
    for c in &r.cases {
        if c.passed() {
            println!("ok    {} [{}] {}", c.scenario, c.locale, c.name);
        } else {
            println!("FAIL  {} [{}] {}", c.scenario, c.locale, c.name);
            for f in &c.failures {
                println!("      {f}");
            }
        }
    }
    println!();
    println!("transition coverage:");
    for cov in &r.coverage {
        println!(
            "  {:<40} {:>3}/{:<3} {:5.1}%",
            cov.flow,
            cov.covered,
            cov.total,
            cov.percent()
        );
        for u in &cov.uncovered {
            println!("      not exercised: {u}");
        }
    }
    let passed = r.cases.iter().filter(|c| c.passed()).count();
    let failed = r.cases.len() - passed;
    println!();
    println!("{passed} passed, {failed} failed");
}
