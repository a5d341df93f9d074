//! `voxdial chat`: a scenario in the terminal, or a scripted conversation as JSON lines.

use anyhow::{Context, Result};
use chrono::NaiveDate;
use serde_json::json;
use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use voxdial::dialogue::engine::{Action, Conversation, Event, Status, Turn};
use voxdial::Locale;

/// What a customer line may be besides speech.
fn event_of(line: &str) -> Event {
    match line.trim() {
        "/silence" | "<silence>" | "/noinput" => Event::NoInput,
        "/transfer-failed" => Event::TransferFailed("agent_busy".into()),
        "/transfer-ok" => Event::TransferCompleted,
        "/hangup" => Event::RemoteHangup,
        text => Event::Utterance(text.to_string()),
    }
}

fn turn_json(turn: &Turn) -> serde_json::Value {
    let (action, detail) = match turn.control() {
        Some(Action::Listen { timeout_ms, .. }) => ("listen", json!({ "timeout_ms": timeout_ms })),
        Some(Action::Transfer { reason, .. }) => ("transfer", json!({ "reason": reason })),
        Some(Action::Hangup { outcome }) => ("hangup", json!({ "outcome": outcome })),
        _ => ("none", json!({})),
    };
    let mut v = json!({
        "node": turn.node,
        "text": turn.text(),
        "intent": turn.understanding.as_ref().map(|u| u.intent.clone()),
        "confidence": turn.understanding.as_ref().map(|u| u.confidence),
        "slots": turn.understanding.as_ref().map(|u| &u.slots),
        "action": action,
    });
    if let (Some(obj), Some(d)) = (v.as_object_mut(), detail.as_object()) {
        for (k, val) in d {
            obj.insert(k.clone(), val.clone());
        }
        let records: Vec<&str> = turn
            .actions
            .iter()
            .filter_map(|a| match a {
                Action::Record { event, .. } => Some(event.as_str()),
                _ => None,
            })
            .collect();
        if !records.is_empty() {
            obj.insert("records".into(), json!(records));
        }
    }
    v
}

pub fn run(
    root: &Path,
    scenario: &str,
    locale: Locale,
    script: Option<PathBuf>,
    vars: Vec<(String, String)>,
    today: NaiveDate,
    force_json: bool,
) -> Result<ExitCode> {
    let (lib, diags) = voxdial::scenario::library::Library::load_project(root, &[]);
    if lib.flow(scenario).is_none() {
        for d in diags.iter().filter(|d| d.is_error()) {
            eprintln!("{d}");
        }
    } else {
        super::scenario_cmd::warn_unloaded(&diags);
    }
    let lib = Arc::new(lib);
    let vars: BTreeMap<String, String> = vars.into_iter().collect();
    let vars = voxdial::dialogue::engine::with_examples(&lib, scenario, &vars);
    let mut conv = Conversation::new(lib, scenario, locale, today, &vars)?;
    let interactive = script.is_none() && std::io::stdin().is_terminal() && !force_json;
    let reader: Box<dyn BufRead> = match &script {
        Some(p) => Box::new(std::io::BufReader::new(
            std::fs::File::open(p)
                .with_context(|| format!("cannot open script {}", p.display()))?,
        )),
        None => Box::new(std::io::BufReader::new(std::io::stdin())),
    };
    let mut out = std::io::stdout().lock();
    let show = |out: &mut dyn Write, turn: &Turn| -> Result<()> {
        if interactive {
            if let Some(u) = &turn.understanding {
                writeln!(out, "  · {} ({:.2})", u.intent, u.confidence)?;
            }
            for a in &turn.actions {
                match a {
                    Action::Say { text, .. } => writeln!(out, "bot> {text}")?,
                    Action::Transfer { reason, .. } => {
                        writeln!(out, "  → transfer to a human ({reason})")?
                    }
                    Action::Hangup { outcome } => writeln!(out, "  → hang up ({outcome})")?,
                    _ => {}
                }
            }
        } else {
            writeln!(out, "{}", serde_json::to_string(&turn_json(turn))?)?;
        }
        Ok(())
    };
    let first = conv.handle(Event::Start);
    show(&mut out, &first)?;
    if interactive {
        writeln!(out, "(type what the customer says; /silence, /transfer-failed, /transfer-ok, /hangup; Ctrl-D ends)")?;
        write!(out, "you> ")?;
        out.flush()?;
    }
    for line in reader.lines() {
        let line = line.context("reading customer lines")?;
        if line.trim().is_empty() {
            continue;
        }
        if matches!(conv.status(), Status::Ended(_)) {
            break;
        }
        let turn = conv.handle(event_of(&line));
        show(&mut out, &turn)?;
        if interactive && !matches!(conv.status(), Status::Ended(_)) {
            write!(out, "you> ")?;
            out.flush()?;
        }
    }
    if interactive {
        writeln!(out, "(call {:?})", conv.status())?;
    }
    Ok(ExitCode::SUCCESS)
}
