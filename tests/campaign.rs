//! Campaign lists and the ledger through the real binary: messy files in, reject
//! reports with line numbers out, idempotent re-imports, suppression, and a campaign
//! killed with SIGKILL mid-run that loses nothing and breaks no policy rule.

use std::path::Path;
use std::process::{Command, Output};
use voxdial::store::sqlite::SqliteStore;
use voxdial::store::Store;

fn voxdial(db: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_voxdial"))
        .args(args)
        .arg("--db")
        .arg(db)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("voxdial runs")
}

/// Attempts in the ledger so far, read without writing (the run under test holds the
/// database; WAL lets a reader look at the committed state).
fn attempts_in_ledger(db: &Path) -> i64 {
    let Ok(c) =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
    else {
        return 0;
    };
    c.query_row("SELECT count(*) FROM attempts", [], |r| r.get(0))
        .unwrap_or(0)
}

fn json(o: &Output) -> serde_json::Value {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).expect("one JSON object")
}

const HEADER: &str = "客户编号,姓名,手机号,欠款金额,到期日,逾期天数,产品,备注";

/// A list as ops get it: Chinese headers, a bad number, a bad amount, a short row, a
/// duplicate of the same customer (merged) and of another customer (refused).
fn messy_rows() -> Vec<String> {
    let mut rows = vec![HEADER.to_string()];
    for i in 0..40 {
        rows.push(format!(
            "C{i:03},张{i},1380013{i:04},{}.50,2026-11-0{},{},随心贷,",
            1000 + i,
            1 + i % 9,
            3 + i % 20
        ));
    }
    rows.push("C900,李四,12345,100,2026-11-01,3,随心贷,坏号码".into()); // line 42
    rows.push("C901,王五,13900139000,abc,2026-11-01,3,随心贷,坏金额".into()); // line 43
    rows.push("C902,赵六,13900139001,100,2026-11-01,3,随心贷".into()); // line 44
    rows.push("C001,张1,138-0013-0001,1001.50,2026-11-02,4,随心贷,同一人".into()); // line 45
    rows.push("C903,周八,13800130002,100,2026-11-01,3,随心贷,他人".into()); // line 46
    rows
}

fn import_args<'a>(file: &'a str, campaign: &'a str) -> Vec<&'a str> {
    vec![
        "campaign",
        "import",
        file,
        "--campaign",
        campaign,
        "--scenario",
        "collection_m1_overdue",
        "--set",
        "creditor=安心消费金融",
        "--json",
    ]
}

#[test]
fn gbk_list_with_crlf_imports_with_line_numbered_rejects_and_is_idempotent() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("v.db");
    let file = dir.path().join("list.csv");
    let text = messy_rows().join("\r\n") + "\r\n";
    let (gbk, _, _) = encoding_rs::GBK.encode(&text);
    std::fs::write(&file, &gbk).expect("write");
    let f = file.to_str().expect("utf8 path");
    let r = json(&voxdial(&db, &import_args(f, "m1")));
    assert_eq!(r["encoding"], "gb18030");
    assert_eq!(r["rows"], 45);
    assert_eq!(r["inserted"], 40);
    assert_eq!(r["merged"], 1);
    assert_eq!(r["rejected"], 4);
    assert_eq!(r["columns"]["phone"], "手机号");
    assert_eq!(r["columns"]["amount_due"], "欠款金额");
    let lines: Vec<u64> = r["first_rejects"]
        .as_array()
        .expect("rejects")
        .iter()
        .map(|x| x["line"].as_u64().expect("line"))
        .collect();
    assert_eq!(lines, vec![42, 43, 44, 46]);
    let report = std::fs::read_to_string(dir.path().join("list.csv.rejects.csv")).expect("report");
    assert!(
        report.starts_with("\u{feff}line,reason,客户编号"),
        "{report}"
    );
    assert!(
        report.contains("43,amount_due: `abc` is not a valid amount"),
        "{report}"
    );
    assert!(
        report.contains("46,duplicate: number already on line 4"),
        "{report}"
    );
    // No unmasked number in what the terminal shows.
    assert!(
        !String::from_utf8_lossy(&voxdial(&db, &import_args(f, "m1")).stdout)
            .contains("13800130002")
    );

    let again = json(&voxdial(&db, &import_args(f, "m1")));
    assert_eq!(again["already_imported"], true);
    assert_eq!(again["inserted"], 0);
    // The same rows in another file (UTF-8 with BOM, LF) merge into the same leads.
    let bom = dir.path().join("list-utf8.csv");
    std::fs::write(&bom, format!("\u{feff}{}\n", messy_rows().join("\n"))).expect("write");
    let r = json(&voxdial(&db, &import_args(bom.to_str().expect("p"), "m1")));
    assert_eq!(r["encoding"], "UTF-8");
    assert_eq!(
        (r["inserted"].as_u64(), r["merged"].as_u64()),
        (Some(0), Some(41))
    );
    let store = SqliteStore::open(&db).expect("db");
    let c = store.campaign("m1").expect("campaign");
    assert_eq!(store.all_leads(c.id).expect("leads").len(), 40);
}

#[test]
fn missing_columns_and_bad_settings_are_clear_errors() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("v.db");
    let file = dir.path().join("l.csv");
    std::fs::write(&file, "name,amount\n张三,100\n").expect("write");
    let o = voxdial(
        &db,
        &[
            "campaign",
            "import",
            file.to_str().expect("p"),
            "--campaign",
            "x",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("l.csv:1: no phone column"), "{err}");
    std::fs::write(&file, "phone,name\n13800138000,张三\n").expect("write");
    let o = voxdial(
        &db,
        &[
            "campaign",
            "import",
            file.to_str().expect("p"),
            "--campaign",
            "x",
            "--scenario",
            "collection_m1_overdue",
        ],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("the scenario needs amount_due, creditor, days_overdue, due_date"),
        "{err}"
    );
    let o = voxdial(
        &db,
        &[
            "campaign",
            "import",
            file.to_str().expect("p"),
            "--campaign",
            "x",
            "--policy",
            "nowhere",
        ],
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("no policy `nowhere`"));
}

#[test]
fn xlsx_lists_import_with_numbers_typed_as_numbers() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("v.db");
    let path = dir.path().join("list.xlsx");
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    for (c, h) in ["手机号", "客户编号", "时区"].iter().enumerate() {
        ws.write_string(0, c as u16, *h).expect("cell");
    }
    // Excel users type numbers as numbers: 13800138000 arrives as a float.
    ws.write_number(1, 0, 13800138000.0).expect("cell");
    ws.write_string(1, 1, "A1").expect("cell");
    ws.write_string(2, 0, "+1 (202) 555-0143").expect("cell");
    ws.write_string(2, 1, "A2").expect("cell");
    ws.write_string(2, 2, "America/Chicago").expect("cell");
    ws.write_string(3, 0, "not a number").expect("cell");
    ws.write_string(3, 1, "A3").expect("cell");
    ws.write_number(4, 0, 13800138001.0).expect("cell");
    ws.write_string(4, 2, "Mars/Olympus").expect("cell");
    wb.save(&path).expect("save");
    let r = json(&voxdial(
        &db,
        &[
            "campaign",
            "import",
            path.to_str().expect("p"),
            "--campaign",
            "x",
            "--json",
            "--region",
            "US",
        ],
    ));
    assert_eq!(r["encoding"], "xlsx");
    // 13800138000 read in region US is not a valid US number: refused, line 2.
    let lines: Vec<u64> = r["first_rejects"]
        .as_array()
        .expect("rejects")
        .iter()
        .map(|x| x["line"].as_u64().expect("line"))
        .collect();
    assert_eq!(lines, vec![2, 4, 5], "{r}");
    assert_eq!(r["inserted"], 1);
    let r = json(&voxdial(
        &db,
        &[
            "campaign",
            "import",
            path.to_str().expect("p"),
            "--campaign",
            "y",
            "--json",
        ],
    ));
    assert_eq!(r["inserted"], 2, "{r}");
    let store = SqliteStore::open(&db).expect("db");
    let leads = store
        .all_leads(store.campaign("y").expect("c").id)
        .expect("leads");
    assert_eq!(leads[0].phone, "+8613800138000");
    assert_eq!(leads[0].zones, "Asia/Shanghai");
    assert_eq!(leads[1].phone, "+12025550143");
    assert_eq!(leads[1].zones, "America/Chicago");
}

#[test]
fn suppressed_numbers_are_refused_at_import_and_blocked_at_dial_time() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("v.db");
    let file = dir.path().join("l.csv");
    std::fs::write(&file, "phone\n13800138000\n13800138001\n13800138002\n").expect("write");
    // Only `import` and `run` create a database: start it with another campaign.
    let first = dir.path().join("first.csv");
    std::fs::write(&first, "phone\n13900139000\n").expect("write");
    let f = first.to_str().expect("p");
    json(&voxdial(
        &db,
        &["campaign", "import", f, "--campaign", "t", "--json"],
    ));
    let o = voxdial(&db, &["campaign", "suppress", "--phone", "138 0013 8000"]);
    assert!(o.status.success());
    let r = json(&voxdial(
        &db,
        &[
            "campaign",
            "import",
            file.to_str().expect("p"),
            "--campaign",
            "s",
            "--json",
        ],
    ));
    assert_eq!(
        (r["inserted"].as_u64(), r["rejected"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(r["first_rejects"][0]["line"], 2);
    // Added to the list after the import: the policy blocks it before any dial.
    let o = voxdial(
        &db,
        &[
            "campaign",
            "suppress",
            "--phone",
            "+8613800138001",
            "--reason",
            "complaint",
        ],
    );
    assert!(o.status.success());
    let r = json(&voxdial(
        &db,
        &[
            "campaign",
            "run",
            "s",
            "--simulate",
            "--days",
            "1",
            "--json",
            "--answer-rate",
            "1",
        ],
    ));
    assert_eq!(r["blocks"]["suppressed"], 1, "{r}");
    assert_eq!(r["dials"], 1);
}

#[cfg(unix)]
#[test]
fn a_campaign_killed_with_sigkill_loses_no_lead_and_breaks_no_rule() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("v.db");
    let file = dir.path().join("l.csv");
    let mut text = String::from("customer_id,phone\n");
    for i in 0..300 {
        // Some debtors have two numbers: the per-debtor caps span both.
        text.push_str(&format!("D{},1390000{:04}\n", i % 250, i));
    }
    std::fs::write(&file, text).expect("write");
    let r = json(&voxdial(
        &db,
        &[
            "campaign",
            "import",
            file.to_str().expect("p"),
            "--campaign",
            "k",
            "--json",
        ],
    ));
    assert_eq!(r["inserted"], 300);
    let run_args = [
        "campaign",
        "run",
        "k",
        "--simulate",
        "--days",
        "3",
        "--agents",
        "10",
        "--answer-rate",
        "0.35",
        "--json",
    ];
    let mut kills = 0;
    // Each kill lands a moment after the run has begun dialling (a fixed delay from spawn
    // lands before the first dial on a loaded machine, and then proves nothing).
    for delay_ms in [0u64, 10, 40, 100] {
        let before = attempts_in_ledger(&db);
        let mut child = Command::new(env!("CARGO_BIN_EXE_voxdial"))
            .args(run_args)
            .arg("--db")
            .arg(&db)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("spawn");
        let started = std::time::Instant::now();
        while attempts_in_ledger(&db) <= before
            && child.try_wait().expect("wait").is_none()
            && started.elapsed() < std::time::Duration::from_secs(60)
        {
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        if child.try_wait().expect("wait").is_none() {
            child.kill().expect("SIGKILL");
            kills += 1;
        }
        let _ = child.wait();
    }
    assert!(kills >= 1, "the run finished too fast to be killed");
    // Restart and finish.
    let last = json(&voxdial(&db, &run_args));
    assert!(last["recovered_interrupted"].as_u64().is_some());
    let store = SqliteStore::open(&db).expect("db");
    let c = store.campaign("k").expect("campaign");
    let leads = store.all_leads(c.id).expect("leads");
    assert_eq!(leads.len(), 300, "no lead lost");
    assert!(leads
        .iter()
        .all(|l| l.status != voxdial::store::LeadStatus::InFlight));
    let ledger = store.ledger(c.id).expect("ledger");
    assert!(!ledger.is_empty());
    // Every attempt is accounted for on its lead.
    for l in &leads {
        let n = ledger.iter().filter(|a| a.lead == l.id).count() as u32;
        assert_eq!(n, l.attempts, "lead {} attempts", l.id);
    }
    let stats = store.stats(c.id).expect("stats");
    assert!(!stats.attempts.contains_key("in_flight"), "{stats:?}");
    // The kills hit calls in flight, and recovery closed them as interrupted.
    assert!(
        stats.attempts.get("interrupted").copied().unwrap_or(0) >= 1,
        "{stats:?}"
    );
    // Replaying the ledger through the policy finds no dial it should have refused,
    // interrupted calls counted as conversations.
    let audit = voxdial(&db, &["campaign", "audit", "k", "--json"]);
    let a = json(&audit);
    assert_eq!(a["violations"].as_array().map(Vec::len), Some(0), "{a}");
}

// ---- issue 20 items 4 and 9 (h-policy): policy snapshots, run output, unsuppress ----

fn voxdial_in(dir: &Path, db: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_voxdial"))
        .args(args)
        .arg("--db")
        .arg(db)
        .current_dir(dir)
        .output()
        .expect("voxdial runs")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn small_list(dir: &Path, name: &str, first: u32) -> std::path::PathBuf {
    let file = dir.join(name);
    let mut t = String::from("customer_id,phone\n");
    for i in first..first + 20 {
        t.push_str(&format!("D{i},1390000{i:04}\n"));
    }
    std::fs::write(&file, t).expect("write");
    file
}

const CN: &str = include_str!("../policies/cn-collection.yaml");

#[test]
fn a_file_policy_is_snapshotted_so_runs_and_audits_work_anywhere_and_edits_rewrite_nothing() {
    let dir = tempfile::tempdir().expect("tmp");
    let work = dir.path().join("ops");
    std::fs::create_dir(&work).expect("mkdir");
    let db = dir.path().join("v.db");
    std::fs::write(
        work.join("p.yaml"),
        CN.replace("name: cn-collection", "name: ours"),
    )
    .expect("policy");
    small_list(&work, "l.csv", 0);
    // A typo in stop_on is refused with its place.
    std::fs::write(work.join("typo.yaml"), CN.replace("[refused,", "[refusd,")).expect("typo");
    let o = voxdial_in(
        &work,
        &db,
        &[
            "campaign",
            "import",
            "l.csv",
            "--campaign",
            "t",
            "--policy",
            "typo.yaml",
        ],
    );
    let (_, err) = text(&o);
    assert!(!o.status.success());
    assert!(
        err.contains("typo.yaml:") && err.contains("refusd") && err.contains("opt_out"),
        "{err}"
    );
    // Imported from `ops/` with a relative path ...
    let o = voxdial_in(
        &work,
        &db,
        &[
            "campaign",
            "import",
            "l.csv",
            "--campaign",
            "p",
            "--policy",
            "p.yaml",
            "--json",
        ],
    );
    assert_eq!(json(&o)["inserted"], 20);
    // ... run from another folder.
    let r = json(&voxdial(
        &db,
        &[
            "campaign",
            "run",
            "p",
            "--simulate",
            "--days",
            "1",
            "--answer-rate",
            "0.5",
            "--json",
        ],
    ));
    assert!(r["dials"].as_u64().unwrap_or(0) > 0, "{r}");
    // Editing the file (no calls at all now) and then deleting it changes no verdict.
    std::fs::write(
        work.join("p.yaml"),
        CN.replace("all: \"08:00-22:00\"", "all: none"),
    )
    .expect("edit");
    let a = json(&voxdial(&db, &["campaign", "audit", "p", "--json"]));
    assert_eq!(a["violations"].as_array().map(Vec::len), Some(0), "{a}");
    std::fs::remove_file(work.join("p.yaml")).expect("rm");
    let a = json(&voxdial(&db, &["campaign", "audit", "p", "--json"]));
    assert_eq!(a["violations"].as_array().map(Vec::len), Some(0), "{a}");
    let o = voxdial(&db, &["campaign", "status", "p"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(out.contains("sha256"), "{out}");
}

#[test]
fn changing_a_campaigns_policy_is_explicit_logged_and_audited_per_attempt() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("v.db");
    let l1 = small_list(dir.path(), "a.csv", 0);
    let l2 = small_list(dir.path(), "b.csv", 100);
    let import = |f: &Path, extra: &[&str]| {
        let mut args = vec![
            "campaign",
            "import",
            f.to_str().expect("p"),
            "--campaign",
            "c",
            "--json",
        ];
        args.extend_from_slice(extra);
        voxdial(&db, &args)
    };
    json(&import(&l1, &[]));
    json(&voxdial(
        &db,
        &[
            "campaign",
            "run",
            "c",
            "--simulate",
            "--days",
            "1",
            "--answer-rate",
            "0.5",
            "--json",
        ],
    ));
    // --policy on an existing campaign with other rules is an error that says how to change it.
    let o = import(&l2, &["--policy", "us-tcpa-regf"]);
    let (_, err) = text(&o);
    assert!(!o.status.success(), "silently ignored: {err}");
    assert!(
        err.contains("voxdial campaign policy c --set us-tcpa-regf"),
        "{err}"
    );
    // The same rules again are fine.
    json(&import(&l2, &["--policy", "cn-collection"]));
    // The explicit change prints old -> new hashes and is logged.
    let strict = dir.path().join("never.yaml");
    std::fs::write(&strict, CN.replace("all: \"08:00-22:00\"", "all: none")).expect("w");
    let o = voxdial(
        &db,
        &[
            "campaign",
            "policy",
            "c",
            "--set",
            strict.to_str().expect("p"),
        ],
    );
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        out.contains("cn-collection (") && out.contains("-> ") && out.contains("never.yaml"),
        "{out}"
    );
    let o = voxdial(&db, &["campaign", "policy", "c"]);
    let (out, _) = text(&o);
    assert!(out.contains("never.yaml"), "{out}");
    assert_eq!(
        out.lines().filter(|l| l.contains("->")).count(),
        2,
        "creation and change: {out}"
    );
    // Attempts dialled under cn-collection are still judged by it: no violations,
    // although the policy now in force would refuse every one of them.
    let a = json(&voxdial(&db, &["campaign", "audit", "c", "--json"]));
    assert!(a["attempts"].as_u64().unwrap_or(0) > 0, "{a}");
    assert_eq!(a["violations"].as_array().map(Vec::len), Some(0), "{a}");
    // And the new policy is the one dialled under now: nothing is allowed.
    let r = json(&voxdial(
        &db,
        &[
            "campaign",
            "run",
            "c",
            "--simulate",
            "--days",
            "1",
            "--json",
        ],
    ));
    assert_eq!(r["dials"], 0, "{r}");
}

#[test]
fn run_prints_a_plain_summary_by_default_one_json_line_with_json_and_wants_simulate() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("v.db");
    let l = small_list(dir.path(), "a.csv", 0);
    json(&voxdial(
        &db,
        &[
            "campaign",
            "import",
            l.to_str().expect("p"),
            "--campaign",
            "r",
            "--json",
        ],
    ));
    // Without --simulate nothing is dialled and the error says why.
    let o = voxdial(&db, &["campaign", "run", "r", "--days", "1"]);
    let (_, err) = text(&o);
    assert!(!o.status.success());
    assert!(err.contains("--simulate"), "{err}");
    assert_eq!(attempts_in_ledger(&db), 0);
    let o = voxdial(&db, &["campaign", "run", "r", "--simulate", "--days", "1"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        serde_json::from_str::<serde_json::Value>(&out).is_err(),
        "JSON without --json: {out}"
    );
    assert!(
        out.contains("dials") && out.contains("dials/s") && out.contains("outcomes"),
        "{out}"
    );
    let o = voxdial(
        &db,
        &[
            "campaign",
            "run",
            "r",
            "--simulate",
            "--days",
            "1",
            "--json",
        ],
    );
    let (out, _) = text(&o);
    assert_eq!(out.trim().lines().count(), 1, "{out}");
    json(&o);
}

#[test]
fn unsuppress_takes_numbers_off_the_list_with_a_reason_and_masked_output() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("v.db");
    let o = voxdial(
        &db,
        &[
            "campaign",
            "suppress",
            "--phone",
            "13800138000",
            "--reason",
            "complaint",
        ],
    );
    assert!(o.status.success());
    let o = voxdial(&db, &["campaign", "unsuppress", "--phone", "13800138000"]);
    assert!(!o.status.success(), "a removal needs a reason");
    let o = voxdial(
        &db,
        &[
            "campaign",
            "unsuppress",
            "--phone",
            "13800138000",
            "--reason",
            "complaint withdrawn",
        ],
    );
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        !out.contains("13800138000") && out.contains("****"),
        "unmasked: {out}"
    );
    assert!(
        out.contains("removed") && out.contains("complaint"),
        "{out}"
    );
    let store = SqliteStore::open(&db).expect("db");
    assert!(!store.is_suppressed("+8613800138000").expect("q"));
    // Imported now, the number is accepted again.
    let l = dir.path().join("l.csv");
    std::fs::write(&l, "phone\n13800138000\n").expect("w");
    let r = json(&voxdial(
        &db,
        &[
            "campaign",
            "import",
            l.to_str().expect("p"),
            "--campaign",
            "u",
            "--json",
        ],
    ));
    assert_eq!(r["inserted"], 1, "{r}");
}

#[test]
fn a_locked_database_is_said_once() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("v.db");
    let o = voxdial(&db, &["campaign", "suppress", "--phone", "13800138000"]);
    assert!(o.status.success());
    let c = rusqlite::Connection::open(&db).expect("open");
    c.execute_batch("BEGIN EXCLUSIVE; INSERT INTO suppression VALUES ('x', 'y', 0);")
        .expect("hold the write lock");
    let o = voxdial(&db, &["campaign", "suppress", "--phone", "13800138001"]);
    let (_, err) = text(&o);
    assert!(!o.status.success());
    assert_eq!(err.matches("database is locked").count(), 1, "{err}");
    c.execute_batch("ROLLBACK").expect("release");
}
