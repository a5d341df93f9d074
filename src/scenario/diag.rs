//! Diagnostics for scenario authors: one line each, `file:line:col: level[code]: message`.

use super::source::Pos;
use serde::Serialize;
use std::fmt;
use std::path::PathBuf;

/// How bad a finding is: errors stop `scenario check`, warnings do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The flow cannot run correctly.
    Error,
    /// The flow runs but probably not as the author meant.
    Warning,
}

/// One finding about a scenario file, with where it is and a plain message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// Stable short code (`unknown-node`), for tests and suppression.
    pub code: &'static str,
    /// File the finding is about.
    pub file: PathBuf,
    /// Position in the file.
    pub line: usize,
    /// Column in the file.
    pub col: usize,
    /// What is wrong and what to do, in words a business author understands.
    pub message: String,
}

impl Diagnostic {
    /// An error at `pos`.
    pub fn error(file: &std::path::Path, pos: Pos, code: &'static str, message: String) -> Self {
        Self::new(Severity::Error, file, pos, code, message)
    }

    /// A warning at `pos`.
    pub fn warning(file: &std::path::Path, pos: Pos, code: &'static str, message: String) -> Self {
        Self::new(Severity::Warning, file, pos, code, message)
    }

    fn new(
        severity: Severity,
        file: &std::path::Path,
        pos: Pos,
        code: &'static str,
        message: String,
    ) -> Self {
        Diagnostic {
            severity,
            code,
            file: file.to_path_buf(),
            line: pos.line,
            col: pos.col,
            message,
        }
    }

    /// Whether this finding is an error.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(
            f,
            "{}:{}:{}: {}[{}]: {}",
            self.file.display(),
            self.line,
            self.col,
            level,
            self.code,
            self.message
        )
    }
}
