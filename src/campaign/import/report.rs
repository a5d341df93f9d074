//! The reject report ops open in Excel to fix rows: written to a temporary file beside
//! the target and renamed into place only when the import has committed (a killed or
//! failed import leaves the previous report whole), created `0600` (it holds phone
//! numbers), with a UTF-8 BOM so Chinese Excel reads it, and only the columns the
//! import used (an ID-number column nobody asked for is not copied out).

use super::ImportError;
use std::fs::File;
use std::path::{Path, PathBuf};

/// Writes refused rows; see the module comment.
pub(super) struct RejectWriter {
    target: PathBuf,
    tmp: PathBuf,
    header: Vec<String>,
    columns: Vec<usize>,
    out: Option<csv::Writer<File>>,
}

fn report_err(path: &Path) -> impl Fn(csv::Error) -> ImportError + '_ {
    move |source| ImportError::Report {
        path: path.display().to_string(),
        source,
    }
}

/// Create `path` readable by its owner only (a stale file from a killed run is
/// replaced, not reused with its old mode).
pub(crate) fn create_private(path: &Path) -> std::io::Result<File> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path)
}

impl RejectWriter {
    /// A writer for `target` copying the `columns` (indices into `headers`) of each row.
    pub(super) fn new(target: PathBuf, headers: &[String], columns: Vec<usize>) -> RejectWriter {
        let mut tmp = target.clone().into_os_string();
        tmp.push(format!(".tmp-{}", std::process::id()));
        let mut header = vec!["line".to_string(), "reason".to_string()];
        header.extend(columns.iter().map(|&i| headers[i].clone()));
        RejectWriter {
            target,
            tmp: PathBuf::from(tmp),
            header,
            columns,
            out: None,
        }
    }

    /// Add one refused row.
    pub(super) fn write(
        &mut self,
        line: u64,
        reason: &str,
        row: &[String],
    ) -> Result<(), ImportError> {
        if self.out.is_none() {
            let mut f = create_private(&self.tmp).map_err(|source| ImportError::Io {
                path: self.tmp.display().to_string(),
                source,
            })?;
            // Excel takes a CSV without a BOM for the machine's ANSI code page (GBK in China).
            std::io::Write::write_all(&mut f, "\u{feff}".as_bytes()).map_err(|source| {
                ImportError::Io {
                    path: self.tmp.display().to_string(),
                    source,
                }
            })?;
            let mut w = csv::WriterBuilder::new().flexible(true).from_writer(f);
            w.write_record(&self.header)
                .map_err(report_err(&self.tmp))?;
            self.out = Some(w);
        }
        if let Some(w) = self.out.as_mut() {
            let mut rec = vec![line.to_string(), reason.to_string()];
            rec.extend(self.columns.iter().map(|&i| {
                row.get(i)
                    .map(|s| s.replace('\u{0}', ""))
                    .unwrap_or_default()
            }));
            w.write_record(&rec).map_err(report_err(&self.tmp))?;
        }
        Ok(())
    }

    /// Put the report in place (after the import committed); `None` when no row was refused.
    pub(super) fn finish(mut self) -> Result<Option<PathBuf>, ImportError> {
        let Some(w) = self.out.take() else {
            return Ok(None);
        };
        let io = |source| ImportError::Io {
            path: self.tmp.display().to_string(),
            source,
        };
        let f = w.into_inner().map_err(|e| io(e.into_error()))?;
        f.sync_all().map_err(io)?;
        drop(f);
        std::fs::rename(&self.tmp, &self.target).map_err(|source| ImportError::Io {
            path: self.target.display().to_string(),
            source,
        })?;
        Ok(Some(self.target.clone()))
    }
}

impl Drop for RejectWriter {
    fn drop(&mut self) {
        // Not finished: the import failed; the previous report stays as it was.
        if self.out.take().is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// A reject reason as the terminal shows it: every value quoted in backticks starred
/// out (names, amounts and ID numbers stay in the 0600 report file, not on screens).
pub fn mask_reason(reason: &str) -> String {
    let mut out = String::with_capacity(reason.len());
    let mut parts = reason.split('`');
    if let Some(first) = parts.next() {
        out.push_str(first);
    }
    let rest: Vec<&str> = parts.collect();
    for (k, p) in rest.iter().enumerate() {
        // Even pieces of the rest are inside backticks, unless the last backtick is unpaired.
        if k % 2 == 0 && k + 1 < rest.len() {
            out.push('`');
            // A fixed width: the length of a name or an ID says something too.
            out.push_str("***");
            out.push('`');
        } else if k % 2 == 0 {
            out.push('`');
            out.push_str(p);
        } else {
            out.push_str(p);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_reasons_hide_quoted_values() {
        assert_eq!(
            mask_reason("amount_due: `张伟欠3500` is not a valid amount (column 欠款金额)"),
            "amount_due: `***` is not a valid amount (column 欠款金额)"
        );
        assert_eq!(mask_reason("phone: empty"), "phone: empty");
        assert_eq!(mask_reason("a `b"), "a `b");
    }

    #[cfg(unix)]
    #[test]
    fn reports_are_private_bom_prefixed_and_only_with_used_columns() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tmp");
        let target = dir.path().join("r.csv");
        std::fs::write(&target, "old report\n").expect("old");
        let headers = vec![
            "手机号".to_string(),
            "身份证号".to_string(),
            "姓名".to_string(),
        ];
        let mut w = RejectWriter::new(target.clone(), &headers, vec![0, 2]);
        let row = ["13800138000", "110105199001012345", "张伟"].map(String::from);
        w.write(2, "why", &row).expect("write");
        // Until the import commits the old report is untouched.
        assert_eq!(std::fs::read_to_string(&target).expect("r"), "old report\n");
        drop(w);
        assert_eq!(std::fs::read_to_string(&target).expect("r"), "old report\n");
        assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 1);
        let mut w = RejectWriter::new(target.clone(), &headers, vec![0, 2]);
        w.write(2, "why", &row).expect("write");
        assert_eq!(w.finish().expect("finish"), Some(target.clone()));
        let text = std::fs::read_to_string(&target).expect("r");
        assert_eq!(
            text,
            "\u{feff}line,reason,手机号,姓名\n2,why,13800138000,张伟\n"
        );
        let mode = std::fs::metadata(&target).expect("m").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
