//! The list importer through the real binary, on what issue 20 found: encodings decided
//! from the whole file, re-imports into existing campaigns, data files and reports that
//! only their owner reads, and a `--db` typo that must not create a database.

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

fn ok_json(o: &Output) -> serde_json::Value {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).expect("one JSON object")
}

fn failed(o: &Output) -> String {
    assert!(
        !o.status.success(),
        "expected a failure\nstdout: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    String::from_utf8_lossy(&o.stderr).to_string()
}

const HEADER: &str = "客户编号,姓名,身份证号,手机号,欠款金额,到期日,逾期天数,产品";

fn row(i: usize, amount: &str) -> String {
    format!("C{i:03},张伟{i},11010519900101{i:04},1380013{i:04},{amount},2026-11-05,12,随心贷")
}

fn list(n: usize) -> String {
    let mut s = format!("{HEADER}\n");
    for i in 0..n {
        s.push_str(&row(i, &format!("{}.50", 1000 + i)));
        s.push('\n');
    }
    s
}

fn import<'a>(file: &'a str, campaign: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec![
        "campaign",
        "import",
        file,
        "--campaign",
        campaign,
        "--set",
        "creditor=安心消费金融",
        "--json",
    ];
    v.extend_from_slice(extra);
    v
}

const SCENARIO: [&str; 2] = ["--scenario", "collection_m1_overdue"];

fn vars(db: &Path, campaign: &str) -> Vec<serde_json::Value> {
    let store = SqliteStore::open(db).expect("db");
    let c = store.campaign(campaign).expect("campaign");
    store
        .all_leads(c.id)
        .expect("leads")
        .iter()
        .map(|l| serde_json::from_str(&l.vars_json).expect("json"))
        .collect()
}

#[test]
fn a_utf8_list_with_one_bad_byte_stays_utf8_and_only_that_row_is_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("v.db");
    let file = dir.path().join("l.csv");
    let mut bytes = list(30).into_bytes();
    // One stray byte in the name on line 6 (the 5th data row).
    let at = bytes
        .windows("张伟4".len())
        .position(|w| w == "张伟4".as_bytes())
        .expect("row");
    bytes.insert(at + 3, 0xB7);
    std::fs::write(&file, &bytes).expect("write");
    let f = file.to_str().expect("p");
    let r = ok_json(&voxdial(&db, &import(f, "u", &SCENARIO)));
    assert_eq!(r["encoding"], "UTF-8", "{r}");
    assert_eq!(r["encoding_decided_by"], "utf8");
    let conf = r["encoding_confidence"].as_f64().expect("confidence");
    assert!(conf > 0.95 && conf < 1.0, "{r}");
    assert_eq!(r["undecodable_lines"], serde_json::json!([6]));
    assert_eq!(
        (r["inserted"].as_u64(), r["rejected"].as_u64()),
        (Some(29), Some(1))
    );
    assert_eq!(r["first_rejects"][0]["line"], 6);
    assert!(r["first_rejects"][0]["reason"]
        .as_str()
        .expect("reason")
        .starts_with("text encoding"));
    let names: Vec<String> = vars(&db, "u")
        .iter()
        .map(|v| v["customer_name"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(names.iter().all(|n| n.starts_with("张伟")), "{names:?}");

    // --encoding forces the reading (and names the flag when it is wrong).
    let gbk_file = dir.path().join("gbk.csv");
    let (gbk, _, _) = encoding_rs::GBK.encode("phone,note\n13800138000,张伟\n13800138001,ok\n");
    std::fs::write(&gbk_file, &gbk).expect("write");
    let g = gbk_file.to_str().expect("p");
    let r = ok_json(&voxdial(
        &db,
        &import(g, "forced", &["--encoding", "utf-8"]),
    ));
    assert_eq!(
        (r["encoding"].as_str(), r["encoding_decided_by"].as_str()),
        (Some("UTF-8"), Some("forced")),
        "{r}"
    );
    assert_eq!(
        (r["inserted"].as_u64(), r["rejected"].as_u64()),
        (Some(1), Some(1))
    );
    let r = ok_json(&voxdial(&db, &import(g, "detected", &[])));
    assert_eq!(r["encoding"], "gb18030", "{r}");
    let err = failed(&voxdial(&db, &import(f, "k", &["--encoding", "klingon"])));
    assert!(err.contains("--encoding klingon"), "{err}");
}

#[test]
fn importing_into_an_existing_campaign_checks_rows_against_its_scenario() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("v.db");
    let file = dir.path().join("l.csv");
    std::fs::write(&file, list(3)).expect("write");
    let f = file.to_str().expect("p");
    ok_json(&voxdial(&db, &import(f, "m1", &SCENARIO)));
    // More numbers, no amount column, no --scenario: the campaign's scenario needs it.
    let more = dir.path().join("more.csv");
    std::fs::write(&more, "手机号,姓名\n13900139000,李四\n").expect("write");
    let m = more.to_str().expect("p");
    let err = failed(&voxdial(&db, &import(m, "m1", &[])));
    assert!(err.contains("the scenario needs amount_due"), "{err}");
    assert_eq!(vars(&db, "m1").len(), 3);
    assert!(vars(&db, "m1").iter().all(|v| v["amount_due"].is_string()));
}

#[test]
fn a_corrected_amount_updates_the_lead_and_keeps_the_old_value_on_record() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("v.db");
    let file = dir.path().join("l.csv");
    std::fs::write(&file, list(3)).expect("write");
    let f = file.to_str().expect("p");
    ok_json(&voxdial(&db, &import(f, "m1", &SCENARIO)));
    // Customer 1 paid part: the corrected file says 200.00.
    let fixed = format!(
        "{HEADER}\n{}\n{}\n{}\n",
        row(0, "1000.50"),
        row(1, "200.00"),
        row(2, "1002.50")
    );
    let file2 = dir.path().join("l2.csv");
    std::fs::write(&file2, fixed).expect("write");
    let r = ok_json(&voxdial(
        &db,
        &import(file2.to_str().expect("p"), "m1", &[]),
    ));
    assert_eq!(
        (
            r["updated"].as_u64(),
            r["merged"].as_u64(),
            r["inserted"].as_u64()
        ),
        (Some(1), Some(2), Some(0)),
        "{r}"
    );
    assert_eq!(
        r["first_changes"],
        serde_json::json!([{"line": 3, "variables": ["amount_due"]}])
    );
    assert_eq!(vars(&db, "m1")[1]["amount_due"], "200.00");
    let c = rusqlite::Connection::open(&db).expect("db");
    let (old, new): (String, String) = c
        .query_row("SELECT old_vars, new_vars FROM lead_changes", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .expect("one change on record");
    assert!(
        old.contains("1001.50") && new.contains("200.00"),
        "{old} {new}"
    );
    // The terminal report says what changed, not the amounts.
    let file3 = dir.path().join("l3.csv");
    std::fs::write(&file3, format!("{HEADER}\n{}\n", row(1, "150.00"))).expect("write");
    let o = voxdial(
        &db,
        &[
            "campaign",
            "import",
            file3.to_str().expect("p"),
            "--campaign",
            "m1",
            "--set",
            "creditor=安心消费金融",
        ],
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("line 2: updated amount_due"), "{out}");
    assert!(!out.contains("150.00"), "{out}");
}

#[test]
fn a_failed_import_leaves_no_empty_campaign_behind() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("v.db");
    let file = dir.path().join("l.csv");
    std::fs::write(&file, "姓名\n张三\n").expect("write");
    let err = failed(&voxdial(&db, &import(file.to_str().expect("p"), "x", &[])));
    assert!(err.contains("no phone column"), "{err}");
    let store = SqliteStore::open(&db).expect("db");
    assert!(store.campaign("x").is_err(), "the campaign stayed");
}

#[cfg(unix)]
#[test]
fn data_files_and_reports_are_owner_only_and_reports_hold_used_columns_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("data/v.db");
    let file = dir.path().join("l.csv");
    let text = format!("{}{}\n", list(2), row(7, "3500元整"));
    std::fs::write(&file, text).expect("write");
    let o = voxdial(&db, &import(file.to_str().expect("p"), "m1", &SCENARIO));
    let r = ok_json(&o);
    // The terminal never shows the refused value; the owner-only report does.
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(!out.contains("3500元整"), "{out}");
    assert!(
        out.contains("amount_due: `***` is not a valid amount"),
        "{out}"
    );
    let report_path = r["rejects_file"].as_str().expect("a report");
    let report = std::fs::read_to_string(report_path).expect("report");
    assert!(report.starts_with('\u{feff}'), "Excel needs the BOM");
    assert!(report.contains("3500元整"), "{report}");
    // 身份证号 is not a column the scenario uses: it is not copied out.
    assert!(!report.contains("身份证号"), "{report}");
    assert!(!report.contains("110105199001010007"), "{report}");
    let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode(&db), 0o600);
    assert_eq!(mode(db.parent().expect("dir")), 0o700);
    assert_eq!(mode(Path::new(report_path)), 0o600);
    for side in ["v.db-wal", "v.db-shm"] {
        let p = dir.path().join("data").join(side);
        if p.exists() {
            assert_eq!(mode(&p), 0o600, "{side}");
        }
    }
}

#[test]
fn a_mistyped_db_is_an_error_not_a_new_database() {
    let dir = tempfile::tempdir().expect("tmp");
    let typo = dir.path().join("voxdail.db");
    for args in [
        &["campaign", "status", "m1"][..],
        &["campaign", "audit", "m1"][..],
        &["campaign", "policy", "m1"][..],
        &[
            "campaign",
            "unsuppress",
            "--phone",
            "13800138000",
            "--reason",
            "typo",
        ][..],
    ] {
        let err = failed(&voxdial(&typo, args));
        assert!(err.contains("no database at"), "{args:?}: {err}");
        assert!(!typo.exists(), "{args:?} created {}", typo.display());
    }
}

#[test]
fn map_of_an_unknown_variable_is_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("v.db");
    let file = dir.path().join("l.csv");
    std::fs::write(&file, list(2)).expect("write");
    let f = file.to_str().expect("p");
    let err = failed(&voxdial(
        &db,
        &import(
            f,
            "m1",
            &[
                "--scenario",
                "collection_m1_overdue",
                "--map",
                "amount_dew=欠款金额",
            ],
        ),
    ));
    assert!(
        err.contains("--map amount_dew=欠款金额: no variable `amount_dew`"),
        "{err}"
    );
    let err = failed(&voxdial(
        &db,
        &import(f, "m2", &["--map", "amount_due=欠款金额"]),
    ));
    assert!(err.contains("give --scenario"), "{err}");
}

#[test]
fn an_xlsx_title_row_is_skipped_with_header_row() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("v.db");
    let path = dir.path().join("list.xlsx");
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    ws.write_string(0, 0, "2026年12月 催收名单").expect("cell");
    for (c, h) in ["手机号", "客户编号"].iter().enumerate() {
        ws.write_string(1, c as u16, *h).expect("cell");
    }
    ws.write_number(2, 0, 13800138000.0).expect("cell");
    ws.write_string(2, 1, "A1").expect("cell");
    ws.write_string(3, 0, "not a number").expect("cell");
    ws.write_string(3, 1, "A2").expect("cell");
    wb.save(&path).expect("save");
    let p = path.to_str().expect("p");
    let args = ["campaign", "import", p, "--campaign", "x", "--json"];
    let err = failed(&voxdial(&db, &args));
    assert!(err.contains("no phone column"), "{err}");
    let mut with = args.to_vec();
    with.extend(["--header-row", "2"]);
    let r = ok_json(&voxdial(&db, &with));
    assert_eq!(r["inserted"], 1, "{r}");
    // Lines are the sheet's row numbers as Excel shows them.
    assert_eq!(r["first_rejects"][0]["line"], 4, "{r}");
}

#[cfg(unix)]
#[test]
fn a_killed_import_leaves_the_previous_reject_report_whole() {
    use std::os::unix::process::ExitStatusExt;
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("v.db");
    let file = dir.path().join("l.csv");
    // The first row is refused at once; the other 100k keep the import busy.
    let mut text = String::from("phone,id\n12345,X\n");
    for i in 0..100_000 {
        text.push_str(&format!("1380{i:07},C{i}\n"));
    }
    std::fs::write(&file, text).expect("write");
    let report = dir.path().join("l.csv.rejects.csv");
    std::fs::write(&report, "the previous import's report\n").expect("old report");
    let mut child = Command::new(env!("CARGO_BIN_EXE_voxdial"))
        .args([
            "campaign",
            "import",
            file.to_str().expect("p"),
            "--campaign",
            "k",
        ])
        .arg("--db")
        .arg(&db)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    // Kill it as soon as it has started writing rejects (a temporary file beside the
    // report, or the report itself as before the fix).
    let started_rejects = || {
        std::fs::read_to_string(&report).ok().as_deref() != Some("the previous import's report\n")
            || std::fs::read_dir(dir.path())
                .expect("ls")
                .filter_map(|e| e.ok())
                .any(|e| e.file_name().to_string_lossy().contains(".rejects.csv.tmp"))
    };
    for _ in 0..60_000 {
        if started_rejects() || child.try_wait().expect("wait").is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    let _ = child.kill();
    let status = child.wait().expect("wait");
    let now = std::fs::read_to_string(&report).expect("report");
    if status.signal() == Some(9) {
        assert_eq!(now, "the previous import's report\n");
    } else {
        // It finished before the kill: the new report is whole.
        assert!(now.starts_with("\u{feff}line,reason,phone"), "{now}");
    }
}
