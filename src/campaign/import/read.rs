//! Reading a list into rows with the line numbers a person sees: CSV through the
//! encoding decided by [`super::encoding`] and the `csv` crate (with our own line count),
//! spreadsheets through `calamine`; from a file or from bytes in memory.

use super::encoding;
use super::ImportError;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::Read;
use std::path::Path;
use std::rc::Rc;

/// A row as read: (line, progress position, fields).
pub(super) type RawRow = (u64, u64, Vec<String>);

/// A whole table read from a list: header and rows with their line numbers.
pub(super) struct Table<'a> {
    pub(super) encoding: String,
    pub(super) decided_by: String,
    pub(super) confidence: f64,
    pub(super) undecodable: Vec<u64>,
    pub(super) headers: Vec<String>,
    /// (line, progress position, fields); the position counts toward `size`.
    pub(super) rows: Box<dyn Iterator<Item = Result<RawRow, ImportError>> + 'a>,
    pub(super) size: u64,
}

/// Where a list comes from: a file, or bytes in memory (fuzzing, tests).
#[derive(Clone, Copy)]
pub enum Input<'a> {
    /// A file; `.xlsx`/`.xlsm`/`.xls`/`.ods` are spreadsheets, anything else CSV.
    Path(&'a Path),
    /// CSV text.
    CsvBytes(&'a [u8]),
    /// A spreadsheet file's bytes.
    SheetBytes(&'a [u8]),
}

impl<'a> Input<'a> {
    pub(super) fn name(&self) -> String {
        match self {
            Input::Path(p) => p.display().to_string(),
            Input::CsvBytes(_) | Input::SheetBytes(_) => "<list>".into(),
        }
    }
    fn open(&self) -> std::io::Result<Box<dyn Read + 'a>> {
        match *self {
            Input::Path(p) => Ok(Box::new(std::io::BufReader::with_capacity(
                1 << 20,
                std::fs::File::open(p)?,
            ))),
            Input::CsvBytes(b) | Input::SheetBytes(b) => Ok(Box::new(b)),
        }
    }
    fn len(&self) -> u64 {
        match self {
            Input::Path(p) => std::fs::metadata(p).map(|m| m.len()).unwrap_or(0),
            Input::CsvBytes(b) | Input::SheetBytes(b) => b.len() as u64,
        }
    }
    pub(super) fn is_sheet(&self) -> bool {
        match self {
            Input::Path(p) => is_xlsx(p),
            Input::CsvBytes(_) => false,
            Input::SheetBytes(_) => true,
        }
    }
    fn io_err(&self) -> impl Fn(std::io::Error) -> ImportError {
        let path = self.name();
        move |source| ImportError::Io {
            path: path.clone(),
            source,
        }
    }
    pub(super) fn sha256(&self) -> Result<String, ImportError> {
        match self {
            Input::Path(p) => crate::checksum::sha256_file(p).map_err(self.io_err()),
            Input::CsvBytes(b) | Input::SheetBytes(b) => {
                use sha2::Digest;
                let d = sha2::Sha256::digest(b);
                Ok(d.iter().map(|x| format!("{x:02x}")).collect())
            }
        }
    }
}

/// Decide a CSV's encoding from bytes in memory (the suppression command's files).
pub fn detect_encoding(bytes: &[u8]) -> &'static encoding_rs::Encoding {
    encoding::detect_bytes(bytes)
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

/// Marks a row whose text did not decode; `prepare` turns it into a reject.
pub(super) const UNDECODABLE: &str = "\u{0}undecodable";

pub(super) fn read_csv<'a>(
    input: Input<'a>,
    forced: Option<&'static encoding_rs::Encoding>,
    header_row: u64,
) -> Result<Table<'a>, ImportError> {
    let size = input.len();
    let detected = encoding::detect(&mut || input.open(), forced).map_err(input.io_err())?;
    let enc = detected.encoding;
    let mut sample = vec![0u8; 65_536];
    let n = {
        let mut r = input.open().map_err(input.io_err())?;
        let mut n = 0;
        while n < sample.len() {
            let k = r.read(&mut sample[n..]).map_err(input.io_err())?;
            if k == 0 {
                break;
            }
            n += k;
        }
        n
    };
    sample.truncate(n);
    let header_line = {
        let (text, _, _) = enc.decode(&sample);
        text.lines()
            .nth(header_row.saturating_sub(1) as usize)
            .unwrap_or("")
            .to_string()
    };
    let delimiter = [b',', b'\t', b';', b'|']
        .into_iter()
        .max_by_key(|d| header_line.matches(*d as char).count())
        .unwrap_or(b',');
    let decoded = encoding_rs_io::DecodeReaderBytesBuilder::new()
        .encoding(Some(enc))
        .bom_override(true)
        .build(input.open().map_err(input.io_err())?);
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
    let p = input.name();
    let mut records = rdr.into_records();
    let mut header = None;
    for _ in 0..header_row.max(1) {
        header = records.next();
    }
    let headers = match header {
        Some(Ok(r)) => r.iter().map(|s| s.trim().to_string()).collect(),
        Some(Err(e)) => {
            let line = e.position().map(|p| p.line()).unwrap_or(header_row);
            return Err(ImportError::Csv {
                path: p,
                line,
                source: e,
            });
        }
        None => {
            return Err(ImportError::Header {
                path: p,
                message: if header_row > 1 {
                    format!("no header: the file has fewer than {header_row} rows")
                } else {
                    "the file is empty".into()
                },
            })
        }
    };
    let rows = records.map(move |r| match r {
        Ok(rec) => {
            let byte = rec.position().map(|p| p.byte()).unwrap_or(0);
            let fields: Vec<String> = rec.iter().map(str::to_string).collect();
            // Bytes that did not decode arrive as U+FFFD: the row is refused, not
            // stored with a garbled name.
            let fields = if fields.iter().any(|f| f.contains('\u{fffd}')) {
                vec![UNDECODABLE.to_string()]
            } else {
                fields
            };
            Ok((line_of.line(byte), byte, fields))
        }
        Err(e) => {
            let byte = e.position().map(|p| p.byte()).unwrap_or(0);
            let line = line_of.line(byte);
            match e.kind() {
                csv::ErrorKind::Utf8 { .. } => Ok((line, byte, vec![UNDECODABLE.to_string()])),
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
        decided_by: detected.how.to_string(),
        confidence: detected.confidence,
        undecodable: detected.bad_lines,
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

pub(super) fn read_xlsx<'a>(
    input: Input<'a>,
    sheet: Option<&str>,
    header_row: u64,
) -> Result<Table<'a>, ImportError> {
    let p = input.name();
    let workbook_err = |source: calamine::Error| ImportError::Workbook {
        path: p.clone(),
        source,
    };
    match input {
        Input::Path(path) => read_sheets(
            calamine::open_workbook_auto(path).map_err(workbook_err)?,
            &p,
            sheet,
            header_row,
        ),
        Input::CsvBytes(b) | Input::SheetBytes(b) => read_sheets(
            calamine::open_workbook_auto_from_rs(std::io::Cursor::new(b)).map_err(workbook_err)?,
            &p,
            sheet,
            header_row,
        ),
    }
}

fn read_sheets<'a, RS: std::io::Read + std::io::Seek>(
    mut wb: calamine::Sheets<RS>,
    p: &str,
    sheet: Option<&str>,
    header_row: u64,
) -> Result<Table<'a>, ImportError> {
    use calamine::Reader;
    let names = wb.sheet_names();
    let name = pick_sheet(&names, sheet).map_err(|message| ImportError::Sheet {
        path: p.to_string(),
        message,
    })?;
    let range = wb
        .worksheet_range(&name)
        .map_err(|source| ImportError::Workbook {
            path: p.to_string(),
            source,
        })?;
    table_from_range(p, &name, &range, header_row)
}

fn pick_sheet(names: &[String], sheet: Option<&str>) -> Result<String, String> {
    match sheet {
        Some(s) => names
            .iter()
            .find(|n| n.as_str() == s)
            .cloned()
            .ok_or_else(|| format!("no sheet `{s}` (sheets: {})", names.join(", "))),
        None => names
            .first()
            .cloned()
            .ok_or_else(|| "the workbook has no sheets".into()),
    }
}

fn table_from_range<'a>(
    p: &str,
    name: &str,
    range: &calamine::Range<calamine::Data>,
    header_row: u64,
) -> Result<Table<'a>, ImportError> {
    let start = range.start().map(|(r, _)| r as u64).unwrap_or(0);
    // `header_row` counts sheet rows as Excel shows them (1 = the first row).
    let skip = (header_row.max(1) - 1).saturating_sub(start);
    let mut rows = range.rows().skip(skip as usize);
    let headers: Vec<String> = rows
        .next()
        .map(|r| r.iter().map(|c| cell_text(c).trim().to_string()).collect())
        .ok_or_else(|| ImportError::Header {
            path: p.to_string(),
            message: format!("sheet `{name}` has no row {}", header_row.max(1)),
        })?;
    let first_data = start + skip + 2;
    let data: Vec<(u64, u64, Vec<String>)> = rows
        .enumerate()
        .map(|(i, r)| {
            (
                first_data + i as u64,
                i as u64,
                r.iter().map(cell_text).collect(),
            )
        })
        .collect();
    let size = data.len() as u64;
    Ok(Table {
        encoding: "xlsx".into(),
        decided_by: "xlsx".into(),
        confidence: 1.0,
        undecodable: Vec::new(),
        headers,
        rows: Box::new(data.into_iter().map(Ok)),
        size,
    })
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
