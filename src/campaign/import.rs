//! Importing a campaign list: CSV (UTF-8, UTF-8 with BOM, UTF-16 with BOM, GBK/GB18030
//! detected) or XLSX; columns mapped to the scenario's campaign variables and checked
//! row by row; numbers normalised; duplicates merged; suppressed numbers refused. Bad
//! rows never stop an import: each goes to the reject report with its line number and
//! reason. The leads are stored in one transaction, so an interrupted import leaves
//! nothing half-done, and importing the same file again changes nothing.

use super::phone::{self, PhoneError};
use crate::policy::zones;
use crate::scenario::model::{VarSource, VarType, VariableSpec};
use crate::scenario::value::Value;
use crate::store::{ImportCounts, NewLead, Store, StoreError};
use phonenumber::country::Id;
use rayon::prelude::*;
use serde::Serialize;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::rc::Rc;

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
    /// Where the reject report goes.
    pub rejects_path: PathBuf,
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

/// What an import did.
#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    /// Counts.
    #[serde(flatten)]
    pub counts: ImportCounts,
    /// Encoding detected (CSV) or `xlsx`.
    pub encoding: String,
    /// Variable -> column used.
    pub columns: BTreeMap<String, String>,
    /// Columns present but not used.
    pub ignored_columns: Vec<String>,
    /// The file was imported before (same SHA-256); nothing changed.
    pub already_imported: bool,
    /// Reject report path (written when there are rejects).
    pub rejects_file: Option<String>,
    /// The first rejects, for the terminal.
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

/// A row as read: (line, progress position, fields).
type RawRow = (u64, u64, Vec<String>);

/// Columns resolved, the variable -> header map, and the unused headers.
type Resolved = (Columns, BTreeMap<String, String>, Vec<String>);

/// A whole table read from a file: header and rows with their line numbers.
struct Table {
    encoding: String,
    headers: Vec<String>,
    /// (line, progress position, fields); the position counts toward `size`.
    rows: Box<dyn Iterator<Item = Result<RawRow, ImportError>>>,
    size: u64,
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> ImportError + '_ {
    move |source| ImportError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Decide a CSV's encoding from its first bytes.
pub fn detect_encoding(sample: &[u8]) -> &'static encoding_rs::Encoding {
    if let Some((enc, _)) = encoding_rs::Encoding::for_bom(sample) {
        return enc;
    }
    match std::str::from_utf8(sample) {
        Ok(_) => return encoding_rs::UTF_8,
        // Valid UTF-8 cut in the middle of a character at the end of the sample.
        Err(e) if e.error_len().is_none() => return encoding_rs::UTF_8,
        Err(_) => {}
    }
    let mut det = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Deny);
    det.feed(sample, sample.len() < 65_536);
    let guess = det.guess(Some(b"cn"), chardetng::Utf8Detection::Allow);
    // GB18030 is a superset of GBK and GB2312: decode with it whatever the guess among them.
    if guess == encoding_rs::GBK {
        encoding_rs::GB18030
    } else {
        guess
    }
}

/// Notes CR and LF offsets as bytes pass, so a record's byte offset can be turned into the
/// physical line a person sees in an editor (the csv crate's own line count is off by
/// one on CRLF files, which is what spreadsheets on Windows write).
struct LineCounter<R> {
    inner: R,
    offset: u64,
    newlines: Rc<RefCell<VecDeque<(u64, bool)>>>,
}

impl<R: Read> Read for LineCounter<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut q = self.newlines.borrow_mut();
        for (i, b) in buf[..n].iter().enumerate() {
            if *b == b'\n' || *b == b'\r' {
                q.push_back((self.offset + i as u64, *b == b'\n'));
            }
        }
        self.offset += n as u64;
        Ok(n)
    }
}

/// Line of a record starting at a byte offset: 1 + LFs before its first character. Offsets arrive in increasing order,
/// so newlines already passed are dropped and only counted.
struct LineOf {
    newlines: Rc<RefCell<VecDeque<(u64, bool)>>>,
    passed: u64,
}

impl LineOf {
    fn line(&mut self, byte: u64) -> u64 {
        let mut q = self.newlines.borrow_mut();
        // The csv reader reports a record from where it started looking, which may be
        // the CR/LF ending the previous record or blank lines it skipped.
        let mut pos = byte;
        while let Some(&(at, lf)) = q.front() {
            if at > pos {
                break;
            }
            q.pop_front();
            if lf {
                self.passed += 1;
            }
            if at == pos {
                pos += 1;
            }
        }
        self.passed + 1
    }
}

fn read_csv(path: &Path) -> Result<Table, ImportError> {
    let mut f = std::fs::File::open(path).map_err(io_err(path))?;
    let size = f.metadata().map(|m| m.len()).unwrap_or(0);
    let mut sample = vec![0u8; 65_536];
    let mut n = 0;
    while n < sample.len() {
        let k = f.read(&mut sample[n..]).map_err(io_err(path))?;
        if k == 0 {
            break;
        }
        n += k;
    }
    sample.truncate(n);
    let enc = detect_encoding(&sample);
    let first_line = {
        let (text, _, _) = enc.decode(&sample);
        text.lines().next().unwrap_or("").to_string()
    };
    let delimiter = [b',', b'\t', b';', b'|']
        .into_iter()
        .max_by_key(|d| first_line.matches(*d as char).count())
        .unwrap_or(b',');
    let f = std::fs::File::open(path).map_err(io_err(path))?;
    let decoded = encoding_rs_io::DecodeReaderBytesBuilder::new()
        .encoding(Some(enc))
        .bom_override(true)
        .build(std::io::BufReader::with_capacity(1 << 20, f));
    let newlines = Rc::new(RefCell::new(VecDeque::new()));
    let decoded = LineCounter {
        inner: decoded,
        offset: 0,
        newlines: newlines.clone(),
    };
    let mut line_of = LineOf {
        newlines,
        passed: 0,
    };
    let rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(decoded);
    let p = path.display().to_string();
    let mut records = rdr.into_records();
    let headers = match records.next() {
        Some(Ok(r)) => r.iter().map(|s| s.trim().to_string()).collect(),
        Some(Err(e)) => {
            return Err(ImportError::Csv {
                path: p,
                line: 1,
                source: e,
            })
        }
        None => {
            return Err(ImportError::Header {
                path: p,
                message: "the file is empty".into(),
            })
        }
    };
    let rows = records.map(move |r| match r {
        Ok(rec) => {
            let byte = rec.position().map(|p| p.byte()).unwrap_or(0);
            Ok((
                line_of.line(byte),
                byte,
                rec.iter().map(str::to_string).collect(),
            ))
        }
        Err(e) => {
            let byte = e.position().map(|p| p.byte()).unwrap_or(0);
            let line = line_of.line(byte);
            match e.kind() {
                // Bad bytes in one row: a reject, not the end of the import.
                csv::ErrorKind::Utf8 { .. } => {
                    Ok((line, byte, vec!["\u{0}invalid text encoding".into()]))
                }
                _ => Err(ImportError::Csv {
                    path: p.clone(),
                    line,
                    source: e,
                }),
            }
        }
    });
    Ok(Table {
        encoding: enc.name().to_string(),
        headers,
        rows: Box::new(rows),
        size,
    })
}

fn cell_text(c: &calamine::Data) -> String {
    use calamine::Data;
    match c {
        Data::Empty => String::new(),
        Data::String(s) => s.clone(),
        // Phone numbers and ids typed into Excel become floats.
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e16 => format!("{}", *f as i64),
        Data::Float(f) => f.to_string(),
        Data::Int(i) => i.to_string(),
        Data::Bool(b) => b.to_string(),
        Data::DateTime(d) => match d.as_datetime() {
            Some(dt) if dt.time() == chrono::NaiveTime::MIN => dt.date().to_string(),
            Some(dt) => dt.to_string(),
            None => d.to_string(),
        },
        Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Error(e) => format!("#{e:?}"),
    }
}

fn read_xlsx(path: &Path, sheet: Option<&str>) -> Result<Table, ImportError> {
    use calamine::Reader;
    let p = path.display().to_string();
    let serr = |m: String| ImportError::Sheet {
        path: p.clone(),
        message: m,
    };
    let workbook_err = |source: calamine::Error| ImportError::Workbook {
        path: p.clone(),
        source,
    };
    let mut wb = calamine::open_workbook_auto(path).map_err(workbook_err)?;
    let names = wb.sheet_names();
    let name = match sheet {
        Some(s) => names
            .iter()
            .find(|n| n.as_str() == s)
            .cloned()
            .ok_or_else(|| serr(format!("no sheet `{s}` (sheets: {})", names.join(", "))))?,
        None => names
            .first()
            .cloned()
            .ok_or_else(|| serr("the workbook has no sheets".into()))?,
    };
    let range = wb.worksheet_range(&name).map_err(workbook_err)?;
    let start = range.start().map(|(r, _)| r as u64).unwrap_or(0);
    let mut rows = range.rows();
    let headers: Vec<String> = rows
        .next()
        .map(|r| r.iter().map(|c| cell_text(c).trim().to_string()).collect())
        .ok_or_else(|| ImportError::Header {
            path: p.clone(),
            message: format!("sheet `{name}` is empty"),
        })?;
    let data: Vec<(u64, u64, Vec<String>)> = rows
        .enumerate()
        .map(|(i, r)| {
            (
                start + i as u64 + 2,
                i as u64,
                r.iter().map(cell_text).collect(),
            )
        })
        .collect();
    let size = data.len() as u64;
    Ok(Table {
        encoding: "xlsx".into(),
        headers,
        rows: Box::new(data.into_iter().map(Ok)),
        size,
    })
}

fn sha256_file(path: &Path) -> Result<String, ImportError> {
    crate::checksum::sha256_file(path).map_err(io_err(path))
}

fn is_xlsx(path: &Path) -> bool {
    matches!(
        path.extension()
            .and_then(|e| e.to_str())
            .map(|e| e.to_ascii_lowercase())
            .as_deref(),
        Some("xlsx" | "xlsm" | "xls" | "ods")
    )
}

/// Columns resolved for a table.
struct Columns {
    phone: usize,
    customer_id: Option<usize>,
    timezone: Option<usize>,
    vars: Vec<(String, usize, VarType, bool)>,
}

fn resolve_columns(
    path: &Path,
    headers: &[String],
    opts: &ImportOptions,
) -> Result<Resolved, ImportError> {
    let explicit: HashMap<&str, &str> = opts
        .mapping
        .iter()
        .map(|(v, c)| (v.as_str(), c.as_str()))
        .collect();
    let header_err = |message: String| ImportError::Header {
        path: path.display().to_string(),
        message,
    };
    let list = headers.join(", ");
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
}

impl RowContext<'_> {
    /// Check one row and build its lead, or say why not.
    fn prepare(&self, line: u64, row: &[String]) -> Result<NewLead, String> {
        if row.first().is_some_and(|c| c.starts_with('\u{0}')) {
            return Err("invalid text encoding in this row".into());
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

/// Import `path` into `campaign`.
pub fn import_file(
    store: &mut dyn Store,
    campaign: i64,
    path: &Path,
    opts: &ImportOptions,
) -> Result<ImportReport, ImportError> {
    let mut constant_vars = serde_json::Map::new();
    for (k, v) in &opts.constants {
        if let Some(spec) = opts.variables.get(k) {
            Value::parse_typed(v.trim(), spec.ty).map_err(|e| ImportError::Header {
                path: path.display().to_string(),
                message: format!("--set {k}={v}: {e}"),
            })?;
        } else if !opts.variables.is_empty() {
            return Err(ImportError::Header {
                path: path.display().to_string(),
                message: format!("--set {k}: the scenario has no variable `{k}`"),
            });
        }
        constant_vars.insert(k.clone(), serde_json::Value::String(v.trim().to_string()));
    }
    let started = std::time::Instant::now();
    let sha = sha256_file(path)?;
    let table = if is_xlsx(path) {
        read_xlsx(path, opts.sheet.as_deref())?
    } else {
        read_csv(path)?
    };
    let (cols, columns, ignored_columns) = resolve_columns(path, &table.headers, opts)?;
    let mut report = ImportReport {
        counts: ImportCounts::default(),
        encoding: table.encoding.clone(),
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
    let mut rejects_w: Option<csv::Writer<std::fs::File>> = None;
    let mut seen: HashMap<String, (u64, String)> = HashMap::new();
    let mut leads: Vec<NewLead> = Vec::new();
    let width = table.headers.len();
    let mut counts = ImportCounts::default();
    let mut within_file_merged = 0u64;
    let headers = table.headers.clone();
    let mut reject = |line: u64,
                      reason: String,
                      row: &[String],
                      report: &mut ImportReport|
     -> Result<(), ImportError> {
        if rejects_w.is_none() {
            let mut w = csv::WriterBuilder::new()
                .flexible(true)
                .from_path(&opts.rejects_path)
                .map_err(|e| ImportError::Io {
                    path: opts.rejects_path.display().to_string(),
                    source: std::io::Error::other(e.to_string()),
                })?;
            let mut h = vec!["line".to_string(), "reason".to_string()];
            h.extend(headers.iter().cloned());
            w.write_record(&h).map_err(|e| ImportError::Io {
                path: opts.rejects_path.display().to_string(),
                source: std::io::Error::other(e.to_string()),
            })?;
            rejects_w = Some(w);
            report.rejects_file = Some(opts.rejects_path.display().to_string());
        }
        if let Some(w) = rejects_w.as_mut() {
            let mut rec = vec![line.to_string(), reason.clone()];
            rec.extend(row.iter().map(|s| s.replace('\u{0}', "")));
            w.write_record(&rec).map_err(|e| ImportError::Io {
                path: opts.rejects_path.display().to_string(),
                source: std::io::Error::other(e.to_string()),
            })?;
        }
        *report
            .reject_reasons
            .entry(reason_kind(&reason))
            .or_insert(0) += 1;
        if report.first_rejects.len() < 10 {
            report.first_rejects.push(Reject { line, reason });
        }
        Ok(())
    };
    let ctx = RowContext {
        cols: &cols,
        headers: &headers,
        width,
        region: opts.default_region,
        constants: &constant_vars,
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
                    within_file_merged += 1;
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
            leads.push(lead);
        }
    }
    if let Some(w) = rejects_w.as_mut() {
        w.flush().map_err(io_err(&opts.rejects_path))?;
    }
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    drop(seen);
    let file_name = path
        .file_name()
        .map(|f| f.to_string_lossy().to_string())
        .unwrap_or_default();
    counts.merged = within_file_merged;
    let read_s = started.elapsed().as_secs_f64();
    report.counts = store.import_leads(campaign, &leads, &file_name, &sha, &counts, opts.now)?;
    tracing::info!(
        read_and_check_s = read_s,
        store_s = started.elapsed().as_secs_f64() - read_s,
        "import timing"
    );
    Ok(report)
}
