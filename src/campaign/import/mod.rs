//! Importing a campaign list: CSV (UTF-8, UTF-8 with BOM, UTF-16 with BOM, GBK/GB18030,
//! decided from the whole file by [`encoding`]) or XLSX; columns mapped to the scenario's
//! campaign variables and checked row by row; numbers normalised; duplicates merged;
//! suppressed numbers refused. Bad rows never stop an import: each goes to the reject
//! report ([`report`]) with its line number and reason. The leads are stored in one
//! transaction, so an interrupted import leaves nothing half-done, and importing the same
//! file again changes nothing. A corrected file updates the variables of leads already
//! stored, and the store keeps the values they replaced (a call made before the
//! correction spoke the old amount; the ledger must be able to say so).

pub mod encoding;
mod read;
mod report;

pub use report::mask_reason;

use super::phone::{self, PhoneError};
use crate::policy::zones;
use crate::scenario::model::{VarSource, VarType, VariableSpec};
use crate::scenario::value::Value;
use crate::store::{ImportCounts, LeadUpdate, NewLead, Store, StoreError};
use phonenumber::country::Id;
use rayon::prelude::*;
pub use read::{detect_encoding, Input};
use read::{read_csv, read_xlsx, RawRow};
use report::RejectWriter;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// Errors that stop an import before any row is stored.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file could not be read.
    #[error("{path}")]
    Io {
        /// File.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The spreadsheet could not be opened or has no such sheet.
    #[error("{path}: not a readable spreadsheet: {message}")]
    Sheet {
        /// File.
        path: String,
        /// What is wrong with it.
        message: String,
    },
    /// The spreadsheet reader failed on the file.
    #[error("{path}: not a readable spreadsheet")]
    Workbook {
        /// File.
        path: String,
        /// Cause.
        #[source]
        source: calamine::Error,
    },
    /// The reject report could not be written.
    #[error("{path}: {source}")]
    Report {
        /// File.
        path: String,
        /// Cause.
        #[source]
        source: csv::Error,
    },
    /// A command-line setting does not fit the list or the scenario.
    #[error("{0}")]
    Setting(String),
    /// A CSV record could not be read at all.
    #[error("{path}:{line}")]
    Csv {
        /// File.
        path: String,
        /// Line.
        line: u64,
        /// Cause.
        #[source]
        source: csv::Error,
    },
    /// The header does not provide a required column.
    #[error("{path}:1: {message}")]
    Header {
        /// File.
        path: String,
        /// What is missing and what is there.
        message: String,
    },
    /// Storage failed; nothing was stored.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How to read and map a list.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Campaign variables the scenario needs (empty: phone and id only).
    pub variables: BTreeMap<String, VariableSpec>,
    /// Explicit `variable -> column header` mappings (override the automatic ones).
    pub mapping: Vec<(String, String)>,
    /// Values the same for every row (`creditor=安心消费金融`), checked once.
    pub constants: Vec<(String, String)>,
    /// Region for numbers written without a country code.
    pub default_region: Id,
    /// XLSX sheet (default: the first).
    pub sheet: Option<String>,
    /// Row of the header, from 1: the rows above it (a title, a date line) are skipped.
    pub header_row: u64,
    /// Read CSV text in this encoding instead of detecting it (`--encoding`).
    pub encoding: Option<&'static encoding_rs::Encoding>,
    /// Where the reject report goes (`None`: nowhere, for fuzzing and benchmarks).
    pub rejects_path: Option<PathBuf>,
    /// Draw a progress bar on a terminal.
    pub progress: bool,
    /// Import time (unix seconds): new leads are due from then.
    pub now: i64,
}

/// One refused row.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Reject {
    /// Line in the file (CSV physical line; XLSX row number).
    pub line: u64,
    /// Why.
    pub reason: String,
}

/// A stored lead whose variables a re-import changed.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Change {
    /// Line in the file.
    pub line: u64,
    /// Variables whose value changed (names only: the values stay in the store).
    pub variables: Vec<String>,
}

/// What an import did.
#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    /// Counts.
    #[serde(flatten)]
    pub counts: ImportCounts,
    /// Encoding detected (CSV) or `xlsx`.
    pub encoding: String,
    /// How the encoding was decided: `bom`, `forced`, `utf8`, `ascii`, `guessed`, `xlsx`.
    pub encoding_decided_by: String,
    /// Share of the non-ASCII characters that decode cleanly in that encoding.
    pub encoding_confidence: f64,
    /// First lines with bytes that do not decode (their rows are refused).
    pub undecodable_lines: Vec<u64>,
    /// The first leads a corrected file changed.
    pub first_changes: Vec<Change>,
    /// Variable -> column used.
    pub columns: BTreeMap<String, String>,
    /// Columns present but not used.
    pub ignored_columns: Vec<String>,
    /// The file was imported before (same SHA-256); nothing changed.
    pub already_imported: bool,
    /// Reject report path (written when there are rejects).
    pub rejects_file: Option<String>,
    /// The first rejects, for the terminal (values in reasons masked).
    pub first_rejects: Vec<Reject>,
    /// Rejects by reason kind.
    pub reject_reasons: BTreeMap<String, u64>,
}

/// Header words that mean the same column, after lower-casing and dropping spaces,
/// underscores and dashes.
const ALIASES: &[(&str, &[&str])] = &[
    (
        "phone",
        &[
            "phone",
            "mobile",
            "phonenumber",
            "mobilephone",
            "mobileno",
            "tel",
            "telephone",
            "cell",
            "手机",
            "手机号",
            "手机号码",
            "电话",
            "电话号码",
            "联系电话",
            "联系方式",
        ],
    ),
    (
        "customer_id",
        &[
            "customerid",
            "customer",
            "customerno",
            "debtorid",
            "accountid",
            "accountno",
            "account",
            "id",
            "客户编号",
            "客户号",
            "客户id",
            "客户代码",
            "借据号",
            "合同号",
            "账户",
        ],
    ),
    ("timezone", &["timezone", "tz", "时区"]),
    (
        "customer_name",
        &[
            "name",
            "customername",
            "fullname",
            "姓名",
            "客户姓名",
            "客户名称",
        ],
    ),
    (
        "amount_due",
        &[
            "amount",
            "amountdue",
            "balance",
            "金额",
            "欠款金额",
            "应还金额",
            "逾期金额",
        ],
    ),
    (
        "due_date",
        &[
            "duedate",
            "paymentdate",
            "到期日",
            "还款日",
            "应还日期",
            "到期日期",
        ],
    ),
    (
        "days_overdue",
        &["daysoverdue", "dpd", "overduedays", "逾期天数"],
    ),
    ("product", &["product", "productname", "产品", "产品名称"]),
];

fn norm_header(h: &str) -> String {
    h.trim()
        .trim_start_matches('\u{feff}')
        .to_lowercase()
        .chars()
        .filter(|c| !matches!(c, ' ' | '_' | '-' | '\u{3000}'))
        .collect()
}

fn find_column(headers: &[String], var: &str) -> Option<usize> {
    let normed: Vec<String> = headers.iter().map(|h| norm_header(h)).collect();
    let want = norm_header(var);
    if let Some(i) = normed.iter().position(|h| *h == want) {
        return Some(i);
    }
    let aliases = ALIASES.iter().find(|(v, _)| *v == var)?.1;
    aliases
        .iter()
        .find_map(|a| normed.iter().position(|h| h == a))
}

/// Columns resolved, the variable -> header map, and the unused headers.
type Resolved = (Columns, BTreeMap<String, String>, Vec<String>);

/// Columns resolved for a table.
struct Columns {
    phone: usize,
    customer_id: Option<usize>,
    timezone: Option<usize>,
    vars: Vec<(String, usize, VarType, bool)>,
}

impl Columns {
    /// Indices of the columns the import reads, in file order.
    fn used(&self) -> Vec<usize> {
        let mut v: Vec<usize> = [Some(self.phone), self.customer_id, self.timezone]
            .into_iter()
            .flatten()
            .chain(self.vars.iter().map(|v| v.1))
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }
}

/// Columns every list may map whatever the scenario.
const BUILT_IN: [&str; 3] = ["phone", "customer_id", "timezone"];

/// A `--map` naming a variable nothing reads would be dropped silently: refuse it.
fn check_mapping(opts: &ImportOptions) -> Result<(), ImportError> {
    let campaign_vars: Vec<&str> = opts
        .variables
        .iter()
        .filter(|(_, s)| s.source == VarSource::Campaign)
        .map(|(k, _)| k.as_str())
        .collect();
    for (var, col) in &opts.mapping {
        if BUILT_IN.contains(&var.as_str()) || campaign_vars.contains(&var.as_str()) {
            continue;
        }
        let known: Vec<&str> = BUILT_IN
            .iter()
            .copied()
            .chain(campaign_vars.iter().copied())
            .collect();
        let why = if opts.variables.is_empty() {
            " (no scenario: give --scenario to map its variables)".to_string()
        } else if opts.variables.contains_key(var) {
            format!(" (`{var}` is filled during the call, not from the list)")
        } else {
            String::new()
        };
        return Err(ImportError::Setting(format!(
            "--map {var}={col}: no variable `{var}` to map{why}; variables: {}",
            known.join(", ")
        )));
    }
    Ok(())
}

fn resolve_columns(
    path: &str,
    headers: &[String],
    opts: &ImportOptions,
) -> Result<Resolved, ImportError> {
    let explicit: HashMap<&str, &str> = opts
        .mapping
        .iter()
        .map(|(v, c)| (v.as_str(), c.as_str()))
        .collect();
    let header_err = |message: String| ImportError::Header {
        path: path.to_string(),
        message,
    };
    // A list without a header row shows its first row here: no numbers on screens.
    let list = headers
        .iter()
        .map(|h| {
            if h.chars().filter(char::is_ascii_digit).count() >= 7 {
                phone::mask(h)
            } else {
                h.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    let find = |var: &str| -> Result<Option<usize>, ImportError> {
        match explicit.get(var) {
            Some(col) => headers
                .iter()
                .position(|h| h.trim() == col.trim() || norm_header(h) == norm_header(col))
                .map(Some)
                .ok_or_else(|| {
                    header_err(format!(
                        "--map {var}={col}: no column `{col}` (columns: {list})"
                    ))
                }),
            None => Ok(find_column(headers, var)),
        }
    };
    let mut used = BTreeMap::new();
    let phone = find("phone")?.ok_or_else(|| {
        header_err(format!(
            "no phone column (looked for phone, mobile, 手机号, 电话...; columns: {list}); map one with --map phone=COLUMN"
        ))
    })?;
    used.insert("phone".to_string(), headers[phone].clone());
    let customer_id = find("customer_id")?;
    if let Some(i) = customer_id {
        used.insert("customer_id".into(), headers[i].clone());
    }
    let timezone = find("timezone")?;
    if let Some(i) = timezone {
        used.insert("timezone".into(), headers[i].clone());
    }
    let mut vars = Vec::new();
    let mut missing = Vec::new();
    for (name, spec) in &opts.variables {
        if spec.source != VarSource::Campaign || opts.constants.iter().any(|(k, _)| k == name) {
            continue;
        }
        match find(name)? {
            Some(i) => {
                used.insert(name.clone(), headers[i].clone());
                vars.push((name.clone(), i, spec.ty, spec.required));
            }
            None if spec.required => missing.push(name.clone()),
            None => {}
        }
    }
    if !missing.is_empty() {
        return Err(header_err(format!(
            "the scenario needs {} but no column matches (columns: {list}); map with --map VARIABLE=COLUMN",
            missing.join(", ")
        )));
    }
    let taken: Vec<usize> = [Some(phone), customer_id, timezone]
        .into_iter()
        .flatten()
        .chain(vars.iter().map(|v| v.1))
        .collect();
    let ignored = headers
        .iter()
        .enumerate()
        .filter(|(i, h)| !taken.contains(i) && !h.is_empty())
        .map(|(_, h)| h.clone())
        .collect();
    Ok((
        Columns {
            phone,
            customer_id,
            timezone,
            vars,
        },
        used,
        ignored,
    ))
}

/// Rows handed to the worker threads at a time.
const CHUNK: usize = 8192;

/// What checking one row needs; shared read-only by the worker threads.
struct RowContext<'a> {
    cols: &'a Columns,
    headers: &'a [String],
    width: usize,
    region: Id,
    constants: &'a serde_json::Map<String, serde_json::Value>,
    encoding: &'a str,
}

impl RowContext<'_> {
    /// Check one row and build its lead, or say why not.
    fn prepare(&self, line: u64, row: &[String]) -> Result<NewLead, String> {
        if row.first().is_some_and(|c| c.starts_with('\u{0}')) {
            return Err(format!(
                "text encoding: bytes that are not {} in this row (the list was read as {}; see --encoding)",
                self.encoding, self.encoding
            ));
        }
        if row.len() != self.width {
            return Err(format!(
                "row has {} fields, the header has {}",
                row.len(),
                self.width
            ));
        }
        let ph = phone::normalize(&row[self.cols.phone], self.region).map_err(|e| match e {
            PhoneError::Empty => "phone: empty".to_string(),
            e => format!("phone: {e}"),
        })?;
        let debtor = self
            .cols
            .customer_id
            .map(|i| row[i].trim().to_string())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| ph.e164.clone());
        let zone_list = match self
            .cols
            .timezone
            .map(|i| row[i].trim())
            .filter(|s| !s.is_empty())
        {
            Some(z) => {
                zones::parse_list(z).map_err(|e| format!("timezone: {e}"))?;
                z.to_string()
            }
            None => ph
                .region
                .map(zones::for_country)
                .unwrap_or_default()
                .iter()
                .map(|z| z.name())
                .collect::<Vec<_>>()
                .join(","),
        };
        let mut vars = self.constants.clone();
        for (name, i, ty, required) in &self.cols.vars {
            let v = row[*i].trim();
            if v.is_empty() {
                if *required {
                    return Err(format!("{name}: empty (column {})", self.headers[*i]));
                }
                continue;
            }
            Value::parse_typed(v, *ty)
                .map_err(|e| format!("{name}: {e} (column {})", self.headers[*i]))?;
            vars.insert(name.clone(), serde_json::Value::String(v.to_string()));
        }
        Ok(NewLead {
            debtor_id: debtor,
            phone: ph.e164,
            zones: zone_list,
            vars_json: serde_json::Value::Object(vars).to_string(),
            source_line: line,
        })
    }
}

fn reason_kind(r: &str) -> String {
    r.split([':', '(']).next().unwrap_or(r).trim().to_string()
}

/// Variables of a stored lead after a corrected row: the row's values over the stored
/// ones (a column left out of the new file erases nothing); `None` when nothing changed.
fn changed_vars(old: &str, new: &str) -> Option<(String, Vec<String>)> {
    let mut merged: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(old).unwrap_or_default();
    let new: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(new).unwrap_or_default();
    let mut changed = Vec::new();
    for (k, v) in new {
        if merged.get(&k) != Some(&v) {
            changed.push(k.clone());
            merged.insert(k, v);
        }
    }
    if changed.is_empty() {
        None
    } else {
        Some((serde_json::Value::Object(merged).to_string(), changed))
    }
}

/// Import `path` into `campaign`.
pub fn import_file(
    store: &mut dyn Store,
    campaign: i64,
    path: &Path,
    opts: &ImportOptions,
) -> Result<ImportReport, ImportError> {
    import_input(store, campaign, Input::Path(path), opts)
}

/// Import a list from a file or from memory into `campaign`.
pub fn import_input(
    store: &mut dyn Store,
    campaign: i64,
    input: Input<'_>,
    opts: &ImportOptions,
) -> Result<ImportReport, ImportError> {
    let name = input.name();
    check_mapping(opts)?;
    let mut constant_vars = serde_json::Map::new();
    for (k, v) in &opts.constants {
        if let Some(spec) = opts.variables.get(k) {
            Value::parse_typed(v.trim(), spec.ty).map_err(|e| {
                ImportError::Setting(format!("--set {k}=…: {}", mask_reason(&e.to_string())))
            })?;
        } else if !opts.variables.is_empty() {
            return Err(ImportError::Setting(format!(
                "--set {k}: the scenario has no variable `{k}`"
            )));
        }
        constant_vars.insert(k.clone(), serde_json::Value::String(v.trim().to_string()));
    }
    let started = std::time::Instant::now();
    let sha = input.sha256()?;
    let table = if input.is_sheet() {
        read_xlsx(input, opts.sheet.as_deref(), opts.header_row)?
    } else {
        read_csv(input, opts.encoding, opts.header_row)?
    };
    let (cols, columns, ignored_columns) = resolve_columns(&name, &table.headers, opts)?;
    let mut report = ImportReport {
        counts: ImportCounts::default(),
        encoding: table.encoding.clone(),
        encoding_decided_by: table.decided_by.clone(),
        encoding_confidence: table.confidence,
        undecodable_lines: table.undecodable.clone(),
        first_changes: Vec::new(),
        columns,
        ignored_columns,
        already_imported: false,
        rejects_file: None,
        first_rejects: Vec::new(),
        reject_reasons: BTreeMap::new(),
    };
    if let Some(prev) = store.import_seen(campaign, &sha)? {
        report.counts = ImportCounts {
            rows: prev.rows,
            merged: prev.rows - prev.rejected,
            rejected: prev.rejected,
            inserted: 0,
            updated: 0,
        };
        report.already_imported = true;
        return Ok(report);
    }
    let bar = if opts.progress && table.size > 0 {
        let b = indicatif::ProgressBar::new(table.size);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} importing {bar:40} {percent}% {rate} eta {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            // The bar counts bytes of a CSV and rows of a sheet: say which.
            .with_key("rate", {
                let rows = table.encoding == "xlsx";
                move |s: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = match rows {
                        true => write!(w, "{:.0} rows/s", s.per_sec()),
                        false => write!(w, "{}/s", indicatif::BinaryBytes(s.per_sec() as u64)),
                    };
                }
            }),
        );
        Some(b)
    } else {
        None
    };
    let headers = table.headers.clone();
    let mut rejects_w = opts
        .rejects_path
        .clone()
        .map(|p| RejectWriter::new(p, &headers, cols.used()));
    let mut seen: HashMap<String, (u64, String)> = HashMap::new();
    let mut leads: Vec<NewLead> = Vec::new();
    let mut updates: Vec<LeadUpdate> = Vec::new();
    let width = table.headers.len();
    let mut counts = ImportCounts::default();
    let mut merged = 0u64;
    let mut reject = |line: u64,
                      reason: String,
                      row: &[String],
                      report: &mut ImportReport|
     -> Result<(), ImportError> {
        if let Some(w) = rejects_w.as_mut() {
            w.write(line, &reason, row)?;
        }
        *report
            .reject_reasons
            .entry(reason_kind(&reason))
            .or_insert(0) += 1;
        if report.first_rejects.len() < 10 {
            report.first_rejects.push(Reject {
                line,
                reason: mask_reason(&reason),
            });
        }
        Ok(())
    };
    let ctx = RowContext {
        cols: &cols,
        headers: &headers,
        width,
        region: opts.default_region,
        constants: &constant_vars,
        encoding: &table.encoding,
    };
    let mut rows = table.rows;
    let mut chunk: Vec<RawRow> = Vec::with_capacity(CHUNK);
    loop {
        chunk.clear();
        for row in rows.by_ref() {
            let row = row?;
            // Blank lines are not rows.
            if row.2.iter().all(|c| c.trim().is_empty()) {
                continue;
            }
            chunk.push(row);
            if chunk.len() == CHUNK {
                break;
            }
        }
        if chunk.is_empty() {
            break;
        }
        // Number parsing and value checks dominate: spread them over the cores, then
        // merge in file order so results do not depend on scheduling.
        let prepared: Vec<Result<NewLead, String>> = chunk
            .par_iter()
            .map(|(line, _, row)| ctx.prepare(*line, row))
            .collect();
        if let (Some(b), Some(last)) = (&bar, chunk.last()) {
            b.set_position(last.1.min(table.size));
        }
        for ((line, _, row), lead) in chunk.iter().zip(prepared) {
            let line = *line;
            counts.rows += 1;
            let lead = match lead {
                Ok(l) => l,
                Err(why) => {
                    counts.rejected += 1;
                    reject(line, why, row, &mut report)?;
                    continue;
                }
            };
            if store.is_suppressed(&lead.phone)? {
                counts.rejected += 1;
                reject(
                    line,
                    "suppressed: number is on the do-not-call list".into(),
                    row,
                    &mut report,
                )?;
                continue;
            }
            if let Some((first, owner)) = seen.get(&lead.phone) {
                if *owner == lead.debtor_id {
                    merged += 1;
                } else {
                    counts.rejected += 1;
                    reject(
                        line,
                        format!("duplicate: number already on line {first} for another customer (contact only the debtor)"),
                        row,
                        &mut report,
                    )?;
                }
                continue;
            }
            seen.insert(lead.phone.clone(), (line, lead.debtor_id.clone()));
            match store.lead_by_phone(campaign, &lead.phone)? {
                None => leads.push(lead),
                Some(old) if old.debtor_id != lead.debtor_id => {
                    counts.rejected += 1;
                    reject(
                        line,
                        "duplicate: number already in this campaign for another customer (contact only the debtor)".into(),
                        row,
                        &mut report,
                    )?;
                }
                Some(old) => match changed_vars(&old.vars_json, &lead.vars_json) {
                    None => merged += 1,
                    Some((vars_json, variables)) => {
                        if report.first_changes.len() < 10 {
                            report.first_changes.push(Change {
                                line,
                                variables: variables.clone(),
                            });
                        }
                        updates.push(LeadUpdate {
                            lead: old.id,
                            old_vars_json: old.vars_json,
                            vars_json,
                            source_line: line,
                        });
                    }
                },
            }
        }
    }
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    drop(seen);
    let file_name = match input {
        Input::Path(p) => p
            .file_name()
            .map(|f| f.to_string_lossy().to_string())
            .unwrap_or_default(),
        _ => name,
    };
    counts.merged = merged;
    let read_s = started.elapsed().as_secs_f64();
    report.counts = store.import_leads(
        campaign, &leads, &updates, &file_name, &sha, &counts, opts.now,
    )?;
    // Only now, with the leads committed, does the new report replace the old one.
    if let Some(w) = rejects_w {
        report.rejects_file = w.finish()?.map(|p| p.display().to_string());
    }
    tracing::info!(
        read_and_check_s = read_s,
        store_s = started.elapsed().as_secs_f64() - read_s,
        "import timing"
    );
    Ok(report)
}

/// The preset the fuzzer's and the tests' campaigns run under.
fn cn_collection_policy() -> Result<crate::policy::PolicySource, crate::policy::PolicyError> {
    crate::policy::PolicySource::resolve("cn-collection").map(|(_, source)| source)
}

/// The fuzz target's entry point (`fuzz/fuzz_targets/import.rs`, replayed by
/// `tests/fuzz_corpus.rs`): list bytes (a ZIP header means a spreadsheet) through the
/// whole importer into an in-memory store, with a scenario's typed variables. It must
/// never panic; errors are fine.
pub fn fuzzing(bytes: &[u8]) {
    let Ok(cn_collection) = cn_collection_policy() else {
        return;
    };
    let cn_collection = || cn_collection.clone();
    use crate::store::sqlite::SqliteStore;
    let Ok(mut store) = SqliteStore::memory() else {
        return;
    };
    let Ok(c) = store.ensure_campaign("fuzz", None, &cn_collection(), "fuzz") else {
        return;
    };
    let spec = |ty, required| VariableSpec {
        ty,
        source: VarSource::Campaign,
        sensitive: false,
        required,
        example: None,
    };
    let variables = BTreeMap::from([
        ("amount_due".to_string(), spec(VarType::Amount, true)),
        ("due_date".to_string(), spec(VarType::Date, false)),
        ("customer_name".to_string(), spec(VarType::Text, false)),
    ]);
    let opts = ImportOptions {
        variables,
        mapping: Vec::new(),
        constants: Vec::new(),
        default_region: Id::CN,
        sheet: None,
        header_row: 1,
        encoding: None,
        rejects_path: None,
        progress: false,
        now: 1_795_395_600,
    };
    let input = if bytes.starts_with(b"PK\x03\x04") {
        Input::SheetBytes(bytes)
    } else {
        Input::CsvBytes(bytes)
    };
    // Twice: the second run is the re-import path (merges and updates).
    let _ = import_input(&mut store, c.id, input, &opts);
    let mut changed = bytes.to_vec();
    changed.push(b'\n');
    let again = if input.is_sheet() {
        input
    } else {
        Input::CsvBytes(&changed)
    };
    let _ = import_input(&mut store, c.id, again, &opts);
}

#[cfg(test)]
mod tests {
    fn cn_collection() -> crate::policy::PolicySource {
        super::cn_collection_policy().expect("preset")
    }
    use super::*;
    use crate::store::sqlite::SqliteStore;

    fn corpus(name: &str) -> Vec<u8> {
        std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("fuzz/corpus/import")
                .join(name),
        )
        .expect("corpus file")
    }

    fn opts() -> ImportOptions {
        ImportOptions {
            variables: BTreeMap::new(),
            mapping: Vec::new(),
            constants: Vec::new(),
            default_region: Id::CN,
            sheet: None,
            header_row: 1,
            encoding: None,
            rejects_path: None,
            progress: false,
            now: 0,
        }
    }

    fn run(input: Input<'_>) -> ImportReport {
        let mut store = SqliteStore::memory().expect("db");
        let c = store
            .ensure_campaign("t", None, &cn_collection(), "test")
            .expect("c");
        import_input(&mut store, c.id, input, &opts()).expect("import")
    }

    #[test]
    fn lists_in_memory_import_like_files() {
        let x = corpus("tiny.xlsx");
        let r = run(Input::SheetBytes(&x));
        assert_eq!((r.counts.inserted, r.counts.rejected), (2, 1));
        assert_eq!(r.first_rejects[0].line, 3);
        let bad = corpus("utf8_bad_byte.csv");
        let r = run(Input::CsvBytes(&bad));
        assert_eq!(r.encoding, "UTF-8");
        assert_eq!(r.undecodable_lines, vec![3]);
        assert_eq!(r.first_rejects[0].line, 3);
        let gb = corpus("gb18030.csv");
        assert_eq!(run(Input::CsvBytes(&gb)).encoding, "gb18030");
    }

    #[test]
    fn a_list_without_a_header_shows_no_number_in_the_error() {
        let mut store = SqliteStore::memory().expect("db");
        let c = store
            .ensure_campaign("t", None, &cn_collection(), "test")
            .expect("c");
        let list = "13800138000,张三\n13800138001,李四\n";
        let err = import_input(&mut store, c.id, Input::CsvBytes(list.as_bytes()), &opts())
            .expect_err("no phone column")
            .to_string();
        assert!(err.contains("no phone column"), "{err}");
        assert!(!err.contains("13800138000"), "{err}");
    }

    #[test]
    fn corrections_keep_values_the_new_file_leaves_out() {
        assert_eq!(
            changed_vars(r#"{"a":"1","b":"2"}"#, r#"{"a":"3"}"#),
            Some((r#"{"a":"3","b":"2"}"#.to_string(), vec!["a".to_string()]))
        );
        assert_eq!(changed_vars(r#"{"a":"1","b":"2"}"#, r#"{"b":"2"}"#), None);
    }
}
