//! The conversation-test runner (Rasa-style end-to-end stories) and transition coverage.
//!
//! A test file names a scenario and lists conversations: customer lines and what the bot
//! must do in answer (node reached, intent recognised, text spoken, variables set, final
//! outcome). Running them drives the real engine and NLU, and records every transition
//! taken, so a scenario's coverage is the share of its graph's edges some test exercised.
//!
//! It sits on top of [`crate::dialogue::engine`], which it drives like any other caller;
//! nothing in the runtime imports it (`voxdial scenario test` does).

use crate::dialogue::engine::{Action, Conversation, Event, Status, Turn};
use crate::language::Locale;
use crate::scenario::compile::{EdgeLabel, Flow};
use crate::scenario::library::{yaml_error, Library};
use crate::scenario::model::ScalarText;
use crate::scenario::source::SourceFile;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A file of conversation tests for one scenario.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestFile {
    /// Scenario under test.
    pub scenario: String,
    /// The date the conversation happens on (relative dates resolve against it).
    #[serde(default)]
    pub today: Option<NaiveDate>,
    /// Campaign variables shared by all tests of the file.
    #[serde(default)]
    pub variables: BTreeMap<String, ScalarText>,
    /// The conversations.
    pub tests: Vec<TestCase>,
}

/// One conversation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestCase {
    /// What the conversation shows.
    pub name: String,
    /// Locale it runs in.
    pub locale: Locale,
    /// Variables overriding the file's.
    #[serde(default)]
    pub variables: BTreeMap<String, ScalarText>,
    /// Turns in order.
    pub steps: Vec<Step>,
    /// How the call must end.
    #[serde(default)]
    pub end: Option<End>,
}

/// A non-speech event a step can inject.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum StepEvent {
    /// The customer stays silent until the timer fires.
    NoInput,
    /// The transfer to a human fails.
    TransferFailed,
    /// The transfer completes.
    TransferCompleted,
    /// The customer hangs up.
    Hangup,
}

/// Text that must appear: one string or several.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    /// One substring (a number is taken as its text).
    One(ScalarText),
    /// Several substrings, all required.
    Many(Vec<ScalarText>),
}

impl OneOrMany {
    fn items(&self) -> Vec<&str> {
        match self {
            OneOrMany::One(s) => vec![s.0.as_str()],
            OneOrMany::Many(v) => v.iter().map(|s| s.0.as_str()).collect(),
        }
    }
}

/// One turn: what the customer does, and what the bot must do in answer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// What the customer says.
    #[serde(default)]
    pub user: Option<String>,
    /// Or a non-speech event.
    #[serde(default)]
    pub event: Option<StepEvent>,
    /// Node where the bot's turn comes to rest.
    #[serde(default)]
    pub bot: Option<String>,
    /// Intent the NLU must recognise (`nlu_fallback` for none).
    #[serde(default)]
    pub intent: Option<String>,
    /// Text the bot must say (substrings).
    #[serde(default)]
    pub says: Option<OneOrMany>,
    /// Text the bot must not say.
    #[serde(default)]
    pub not_says: Option<OneOrMany>,
    /// Variables that must hold these values after the turn.
    #[serde(default)]
    pub vars: BTreeMap<String, ScalarText>,
    /// `listen`, `transfer` or `hangup`.
    #[serde(default)]
    pub action: Option<String>,
    /// Transfer reason expected on this turn.
    #[serde(default)]
    pub reason: Option<String>,
    /// Hang-up outcome expected on this turn.
    #[serde(default)]
    pub outcome: Option<String>,
}

/// How the call must end.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct End {
    /// Hang-up outcome.
    #[serde(default)]
    pub outcome: Option<String>,
    /// Transfer reason.
    #[serde(default)]
    pub transfer: Option<String>,
}

/// Result of one conversation test.
#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    /// Test file.
    pub file: PathBuf,
    /// Test name.
    pub name: String,
    /// Scenario id.
    pub scenario: String,
    /// Locale.
    pub locale: Locale,
    /// What went wrong, each with `file:line:col`; empty when the test passed.
    pub failures: Vec<String>,
}

impl CaseResult {
    /// Whether the test passed.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// Transition coverage of one flow.
#[derive(Debug, Clone, Serialize)]
pub struct Coverage {
    /// Flow id.
    pub flow: String,
    /// Edges exercised.
    pub covered: usize,
    /// All edges.
    pub total: usize,
    /// Each uncovered edge as `from --label--> to`.
    pub uncovered: Vec<String>,
}

impl Coverage {
    /// Percentage covered (100 for a flow without edges).
    pub fn percent(&self) -> f64 {
        if self.total == 0 {
            100.0
        } else {
            self.covered as f64 * 100.0 / self.total as f64
        }
    }
}

/// Everything a test run found.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Report {
    /// Per-test results.
    pub cases: Vec<CaseResult>,
    /// Per-flow coverage.
    pub coverage: Vec<Coverage>,
    /// Problems reading test files.
    pub errors: Vec<String>,
}

impl Report {
    /// Whether everything passed.
    pub fn ok(&self) -> bool {
        self.errors.is_empty() && self.cases.iter().all(CaseResult::passed)
    }
}

/// Describe an edge for people: `greet --affirm--> disclose`.
pub fn describe_edge(flow: &Flow, edge: usize) -> String {
    let e = &flow.edges[edge];
    let from = e.from.map(|f| flow.nodes[f].id.as_str()).unwrap_or("*");
    let label = match &e.label {
        EdgeLabel::Case(n, c) => format!("case {n} ({c})"),
        l => l.to_string(),
    };
    format!("{from} --{label}--> {}", flow.nodes[e.to].id)
}

/// Run every test file; `today_default` is used where a file names no date.
pub fn run(lib: &Arc<Library>, files: &[PathBuf], today_default: NaiveDate) -> Report {
    let mut report = Report::default();
    let mut taken: BTreeMap<String, BTreeSet<usize>> = BTreeMap::new();
    let mut tested_flows: BTreeSet<String> = BTreeSet::new();
    for path in files {
        let src = match SourceFile::read(path) {
            Ok(s) => s,
            Err(e) => {
                report
                    .errors
                    .push(format!("{}: cannot read: {e}", path.display()));
                continue;
            }
        };
        let tf: TestFile = match serde_yaml_ng::from_str(&src.text) {
            Ok(t) => t,
            Err(e) => {
                report.errors.push(yaml_error(&src, &e).to_string());
                continue;
            }
        };
        if lib.flow(&tf.scenario).is_none() {
            let p = src.value_pos(&["scenario"]);
            report.errors.push(format!(
                "{}:{}:{}: scenario `{}` is not loaded (missing, or it has errors: run `voxdial scenario check`)",
                path.display(),
                p.line,
                p.col,
                tf.scenario
            ));
            continue;
        }
        tested_flows.insert(tf.scenario.clone());
        for (ti, case) in tf.tests.iter().enumerate() {
            let (result, trace) = run_case(lib, &src, &tf, ti, case, today_default);
            for t in trace {
                if let Some(flow) = lib.flow_at(t.flow) {
                    taken
                        .entry(flow.id().to_string())
                        .or_default()
                        .insert(t.edge);
                }
            }
            report.cases.push(result);
        }
    }
    for (id, flow) in &lib.flows {
        let is_dialog = flow.spec.kind == crate::scenario::model::FlowKind::Dialog;
        if !(tested_flows.contains(id) || is_dialog && taken.contains_key(id)) {
            continue;
        }
        let hit = taken.get(id).cloned().unwrap_or_default();
        let uncovered = (0..flow.edges.len())
            .filter(|e| !hit.contains(e))
            .map(|e| describe_edge(flow, e))
            .collect();
        report.coverage.push(Coverage {
            flow: id.clone(),
            covered: hit.len(),
            total: flow.edges.len(),
            uncovered,
        });
    }
    report
}

/// A variable check in a test: `null` means unset, numbers compare by value
/// (`1000` = `1000.00`), anything else by text.
fn same_value(got: &str, want: &str) -> bool {
    if want == "null" {
        return got.is_empty() || got == "null";
    }
    match (got.parse::<f64>(), want.parse::<f64>()) {
        (Ok(a), Ok(b)) => (a - b).abs() < 1e-9,
        _ => got == want,
    }
}

fn vars_of(tf: &TestFile, case: &TestCase) -> BTreeMap<String, String> {
    let mut v: BTreeMap<String, String> = tf
        .variables
        .iter()
        .map(|(k, s)| (k.clone(), s.0.clone()))
        .collect();
    v.extend(case.variables.iter().map(|(k, s)| (k.clone(), s.0.clone())));
    v
}

fn run_case(
    lib: &Arc<Library>,
    src: &SourceFile,
    tf: &TestFile,
    ti: usize,
    case: &TestCase,
    today_default: NaiveDate,
) -> (CaseResult, Vec<crate::dialogue::engine::Taken>) {
    let tis = ti.to_string();
    let mut result = CaseResult {
        file: src.path.clone(),
        name: case.name.clone(),
        scenario: tf.scenario.clone(),
        locale: case.locale,
        failures: Vec::new(),
    };
    let at = |path: &[&str]| {
        let p = src.value_pos(path);
        format!("{}:{}:{}", src.path.display(), p.line, p.col)
    };
    let today = tf.today.unwrap_or(today_default);
    let mut conv = match Conversation::new(
        lib.clone(),
        &tf.scenario,
        case.locale,
        today,
        &crate::dialogue::engine::with_examples(lib, &tf.scenario, &vars_of(tf, case)),
    ) {
        Ok(c) => c,
        Err(e) => {
            result
                .failures
                .push(format!("{}: {}", at(&["tests", &tis]), with_causes(&e)));
            return (result, Vec::new());
        }
    };
    let mut started = false;
    for (si, step) in case.steps.iter().enumerate() {
        let sis = si.to_string();
        let here = at(&["tests", &tis, "steps", &sis]);
        let event = match (&step.user, step.event) {
            (Some(_), Some(_)) => {
                result.failures.push(format!(
                    "{here}: a step has either `user:` or `event:`, not both"
                ));
                break;
            }
            (Some(text), None) => Event::Utterance(text.clone()),
            (None, Some(StepEvent::NoInput)) => Event::NoInput,
            (None, Some(StepEvent::TransferFailed)) => Event::TransferFailed("test".into()),
            (None, Some(StepEvent::TransferCompleted)) => Event::TransferCompleted,
            (None, Some(StepEvent::Hangup)) => Event::RemoteHangup,
            (None, None) => Event::Start,
        };
        if event == Event::Start {
            if started {
                result.failures.push(format!("{here}: only the first step may omit `user:`/`event:` (it checks the greeting)"));
                break;
            }
        } else if !started {
            conv.handle(Event::Start);
        }
        started = true;
        if matches!(conv.status(), Status::Ended(_)) {
            result.failures.push(format!(
                "{here}: the call has already ended ({:?}) but the test goes on",
                conv.status()
            ));
            break;
        }
        let turn = conv.handle(event);
        check_step(&mut result.failures, &here, step, &turn, &conv);
        if !result.failures.is_empty() {
            break;
        }
    }
    if result.failures.is_empty() {
        if let Some(end) = &case.end {
            let here = at(&["tests", &tis, "end"]);
            let status = conv.status().clone();
            match (&end.outcome, &end.transfer) {
                (Some(o), _) => {
                    if status != Status::Ended(o.clone()) {
                        result.failures.push(format!("{here}: expected the call to end with outcome `{o}`, but it is {status:?}"));
                    }
                }
                (None, Some(r)) => {
                    if status != Status::Transferring
                        || last_transfer_reason(&conv).as_deref() != Some(r.as_str())
                    {
                        result.failures.push(format!("{here}: expected a transfer with reason `{r}`, but the call is {status:?} (last transfer reason: {:?})", last_transfer_reason(&conv)));
                    }
                }
                (None, None) => {}
            }
        }
    }
    let trace = conv.trace().to_vec();
    (result, trace)
}

fn last_transfer_reason(conv: &Conversation) -> Option<String> {
    conv.last_transfer_reason().map(str::to_string)
}

fn check_step(
    failures: &mut Vec<String>,
    here: &str,
    step: &Step,
    turn: &Turn,
    conv: &Conversation,
) {
    let said = turn.text();
    let got_intent = turn
        .understanding
        .as_ref()
        .map(|u| u.intent.as_str())
        .unwrap_or("-");
    let context = || {
        format!(
            "(bot at `{}`, intent `{got_intent}`, said «{said}»)",
            turn.node
        )
    };
    if let Some(node) = &step.bot {
        if &turn.node != node {
            failures.push(format!(
                "{here}: expected the bot at node `{node}` {}",
                context()
            ));
        }
    }
    if let Some(i) = &step.intent {
        if got_intent != i {
            let conf = turn
                .understanding
                .as_ref()
                .map(|u| u.confidence)
                .unwrap_or(0.0);
            failures.push(format!(
                "{here}: expected intent `{i}`, got `{got_intent}` ({conf:.2}) for «{}»",
                step.user.clone().unwrap_or_default()
            ));
        }
    }
    if let Some(s) = &step.says {
        for want in s.items() {
            if !said.contains(want) {
                failures.push(format!(
                    "{here}: expected the bot to say «{want}» {}",
                    context()
                ));
            }
        }
    }
    if let Some(s) = &step.not_says {
        for bad in s.items() {
            if said.contains(bad) {
                failures.push(format!(
                    "{here}: the bot must not say «{bad}» {}",
                    context()
                ));
            }
        }
    }
    for (k, want) in &step.vars {
        let got = conv
            .variables()
            .get(k)
            .map(|v| v.to_string())
            .unwrap_or_default();
        if !same_value(&got, &want.0) {
            failures.push(format!(
                "{here}: expected variable `{k}` = `{}`, got `{got}`",
                want.0
            ));
        }
    }
    let control = turn.control();
    if let Some(a) = &step.action {
        let got = match control {
            Some(Action::Listen { .. }) => "listen",
            Some(Action::Transfer { .. }) => "transfer",
            Some(Action::Hangup { .. }) => "hangup",
            _ => "none",
        };
        if got != a {
            failures.push(format!(
                "{here}: expected action `{a}`, got `{got}` {}",
                context()
            ));
        }
    }
    if let Some(r) = &step.reason {
        match control {
            Some(Action::Transfer { reason, .. }) if reason == r => {}
            _ => failures.push(format!(
                "{here}: expected a transfer with reason `{r}` {}",
                context()
            )),
        }
    }
    if let Some(o) = &step.outcome {
        match control {
            Some(Action::Hangup { outcome }) if outcome == o => {}
            _ => failures.push(format!(
                "{here}: expected hang-up with outcome `{o}` {}",
                context()
            )),
        }
    }
}

/// Test files named by `paths`, or every test file the library found.
pub fn test_files(lib: &Library, paths: &[PathBuf]) -> Vec<PathBuf> {
    if paths.is_empty() {
        return lib.test_files.clone();
    }
    lib.test_files
        .iter()
        .filter(|f| {
            paths
                .iter()
                .any(|p| f.starts_with(p) || f.as_path() == Path::new(p))
        })
        .cloned()
        .collect()
}

/// An error and its causes on one line: errors print only their own context (the causes
/// are their `source()`), and a test failure is read without anyhow's chain printing.
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

#[cfg(test)]
mod value_check_tests {
    use super::same_value;

    #[test]
    fn variable_checks_compare_numbers_by_value_and_null_as_unset() {
        assert!(same_value("1000.00", "1000"));
        assert!(same_value("3500.5", "3500.50"));
        assert!(!same_value("1000.01", "1000"));
        assert!(same_value("", "null"));
        assert!(!same_value("2026-11-27", "null"));
        assert!(same_value("2026-11-27", "2026-11-27"));
        assert!(!same_value("2026-11-27", "2026-11-28"));
    }
}
