//! Entry point for the `scenario` fuzz target in `fuzz/` and for the corpus replay test:
//! the bytes of one scenario file, as an author (or anyone who can write to the project
//! folder) could save it, through the loader a command runs. It must never panic, abort
//! or hang: a bad file is a diagnostic, and the rest of a library still loads.

use super::graph::{render, GraphFormat};
use super::library::{read_error, Library};
use super::source::SourceFile;
use std::path::Path;

/// Load `data` as the one file of a library: limits, sniffing, typed parsing, the position
/// index, compile and lint; then draw every flow that compiled.
pub fn load(data: &[u8]) {
    let path = Path::new("fuzz.yaml");
    let text = String::from_utf8_lossy(data).into_owned();
    let src = SourceFile::parse(path, text)
        .map_err(|e| read_error(path, crate::yaml::ReadError::Yaml(e)));
    let (lib, diags) = Library::from_sources([src]);
    for d in &diags {
        assert!(
            d.line >= 1 && d.col >= 1,
            "a diagnostic points somewhere: {d}"
        );
        assert!(!d.to_string().is_empty());
    }
    for flow in lib.flows.values() {
        let _ = render(flow, GraphFormat::Dot);
        let _ = render(flow, GraphFormat::Mermaid);
    }
}
