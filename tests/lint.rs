//! Every kind of scenario mistake gives a diagnostic at the right file:line:col.
//! The fixtures in tests/fixtures/lint each carry `# expect:` lines.

use std::path::{Path, PathBuf};
use voxdial::scenario::diag::Severity;
use voxdial::scenario::library::Library;

fn expectations(path: &Path) -> Vec<(Severity, String, usize, usize)> {
    let text = std::fs::read_to_string(path).expect("fixture readable");
    text.lines()
        .filter_map(|l| l.strip_prefix("# expect: "))
        .map(|l| {
            let parts: Vec<&str> = l.split_whitespace().collect();
            let sev = if parts[0] == "error" {
                Severity::Error
            } else {
                Severity::Warning
            };
            let (line, col) = parts[2].split_once(':').expect("line:col");
            (
                sev,
                parts[1].to_string(),
                line.parse().expect("line"),
                col.parse().expect("col"),
            )
        })
        .collect()
}

#[test]
fn each_broken_fixture_reports_its_mistake_where_it_is() {
    let dir = Path::new("tests/fixtures/lint");
    let mut fixtures: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("fixture dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    fixtures.sort();
    assert!(
        fixtures.len() >= 15,
        "expected a fixture per kind of mistake"
    );
    for f in fixtures {
        let want = expectations(&f);
        assert!(!want.is_empty(), "{} has no # expect: line", f.display());
        let (_, diags) = Library::load(&[PathBuf::from("dialogs"), f.clone()]);
        let mine: Vec<_> = diags.iter().filter(|d| d.file == f).collect();
        for (sev, code, line, col) in &want {
            assert!(
                mine.iter().any(|d| d.severity == *sev
                    && d.code == code
                    && d.line == *line
                    && d.col == *col),
                "{}: expected {sev:?} {code} at {line}:{col}, got:\n{}",
                f.display(),
                mine.iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join("\n")
            );
        }
        for d in mine.iter().filter(|d| d.is_error()) {
            assert!(
                want.iter().any(|(_, code, ..)| code == d.code),
                "{}: unexpected error {d}",
                f.display()
            );
        }
        // The message itself is printed as file:line:col: level[code]: text.
        let first = mine.first().expect("at least one diagnostic").to_string();
        assert!(first.starts_with(&format!("{}:", f.display())), "{first}");
    }
}

#[test]
fn shipped_dialogs_and_scenarios_are_clean() {
    let (lib, diags) = Library::load(&[PathBuf::from("dialogs"), PathBuf::from("scenarios")]);
    let errors: Vec<String> = diags
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.to_string())
        .collect();
    assert!(errors.is_empty(), "errors:\n{}", errors.join("\n"));
    let warnings: Vec<String> = diags.iter().map(|d| d.to_string()).collect();
    assert!(warnings.is_empty(), "warnings:\n{}", warnings.join("\n"));
    assert!(lib.flow("collection_m1_overdue").is_some());
    for required in [
        "affirm",
        "deny",
        "busy_later",
        "wrong_person",
        "ask_identity",
        "request_human",
        "complaint",
        "abusive",
        "promise_to_pay",
        "already_paid",
        "cannot_pay",
        "dispute",
        "ask_amount",
        "ask_due_date",
        "ask_repeat",
        "stop_calling",
    ] {
        assert!(
            lib.shared_intents.contains_key(required),
            "shared intent {required} missing"
        );
    }
}
