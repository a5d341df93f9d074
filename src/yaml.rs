//! One YAML loader for every file a person writes (policies, trunks, the speech config,
//! simulation configs, scenarios): typed parsing with serde, and errors that say
//! `file:line:col: message` in the words of the file's author ("unknown key", not serde's
//! "unknown field"), because the people who edit these files are not programmers.

use serde::de::DeserializeOwned;
use std::io::Read;
use std::path::{Path, PathBuf};
use yaml_rust2::scanner::{Scanner, TokenType};

/// The largest YAML file any loader accepts, in bytes. The biggest file a person writes
/// today is the shared intent library (under 100 KB) and a scenario is under 25 KB; 1 MiB
/// leaves ten times room while keeping a hostile file's cost (three parses, a position
/// index, a compile) to about a second instead of the minutes and gigabytes a 29 MB file
/// took.
pub const MAX_BYTES: usize = 1 << 20;

/// The deepest nesting any loader accepts, counted in the scanner's collection starts
/// (block mappings and sequences, flow `[` and `{`). The deepest shipped file nests 6;
/// 64 is far beyond what a person writes, keeps the recursive parsers (yaml-rust2's
/// `load`, serde's deserializer, `Drop`) shallow, and caps libyaml's cost, which grows
/// with the square of flow depth.
pub const MAX_DEPTH: usize = 64;

/// A YAML file that could not be read as the type it should hold, with the place.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}:{line}:{col}: {message}")]
pub struct YamlError {
    /// The file (or the name the text came from).
    pub path: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub col: usize,
    /// What is wrong, without serde's trailing " at line X column Y".
    pub message: String,
}

impl YamlError {
    /// An error at a known place, for checks made after parsing.
    pub fn at(path: &str, line: usize, col: usize, message: impl Into<String>) -> YamlError {
        YamlError {
            path: path.to_string(),
            line: line.max(1),
            col: col.max(1),
            message: message.into(),
        }
    }

    /// serde's error, placed and reworded.
    pub fn from_serde(path: &str, e: &serde_yaml_ng::Error) -> YamlError {
        let (line, col) = e.location().map_or((1, 1), |l| (l.line(), l.column()));
        let mut message = e.to_string();
        // serde_yaml appends " at line X column Y"; the position is already in front.
        if let Some(i) = message.find(" at line ") {
            message.truncate(i);
        }
        YamlError::at(path, line, col, plain_message(&message))
    }
}

/// Parse `text` as a `T`; `path` names the source in errors. The text is checked against
/// [`MAX_BYTES`] and [`MAX_DEPTH`] first, so no recursive parser ever sees a hostile file.
pub fn parse<T: DeserializeOwned>(text: &str, path: &str) -> Result<T, YamlError> {
    check(text, path)?;
    serde_yaml_ng::from_str(text).map_err(|e| YamlError::from_serde(path, &e))
}

/// A file that could not be read as YAML text.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file system refused; the caller names the file.
    #[error("{source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the file system said.
        #[source]
        source: std::io::Error,
    },
    /// Too large, not UTF-8, or nested too deep, with the place.
    #[error(transparent)]
    Yaml(#[from] YamlError),
}

/// Read a file a person wrote, reading no more than [`MAX_BYTES`] and one byte, so a
/// huge file (or `/dev/zero`) costs nothing, and [`check`] it. Not UTF-8 is an error at
/// the first bad byte.
pub fn read(path: &Path) -> Result<String, ReadError> {
    let name = path.display().to_string();
    let io = |source| ReadError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut bytes = Vec::new();
    file.take(MAX_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() > MAX_BYTES {
        let prefix = String::from_utf8_lossy(&bytes);
        let (line, col) = place_of_byte(&prefix, MAX_BYTES);
        return Err(YamlError::at(
            &name,
            line,
            col,
            format!("the file is larger than {MAX_BYTES} bytes ({} MiB), the most a YAML file may have: split it", MAX_BYTES >> 20),
        )
        .into());
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        let valid = e.utf8_error().valid_up_to();
        let prefix = String::from_utf8_lossy(e.as_bytes());
        let (line, col) = place_of_byte(&prefix[..valid], valid);
        YamlError::at(
            &name,
            line,
            col,
            "the file is not UTF-8 text here: save it as UTF-8",
        )
    })?;
    check(&text, &name)?;
    Ok(text)
}

/// Refuse a text over [`MAX_BYTES`] or nested deeper than [`MAX_DEPTH`], with the place
/// where the limit was crossed. Every parser of a file a person writes must run this
/// first: yaml-rust2's `load` recurses once per level with no limit (a 20 KB line of
/// `- - - …` overflows the stack and aborts the process), and libyaml, under serde, scans
/// a whole flow nest before serde's own depth limit applies, in time quadratic in its
/// depth. The check walks yaml-rust2's token scanner, which is a loop, not a recursion,
/// and stops at the first level past the limit, so it costs one linear pass.
pub fn check(text: &str, path: &str) -> Result<(), YamlError> {
    if text.len() > MAX_BYTES {
        let (line, col) = place_of_byte(text, MAX_BYTES);
        return Err(YamlError::at(
            path,
            line,
            col,
            format!(
                "the file is {} bytes; a YAML file may have at most {MAX_BYTES} ({} MiB): split it",
                text.len(),
                MAX_BYTES >> 20
            ),
        ));
    }
    let mut scanner = Scanner::new(text.chars());
    let mut depth = 0usize;
    // Where the last token seen starts, and the depth there: the scanner holds tokens back
    // while a simple key may still be coming, so on an error the ones not yet seen lie
    // after this mark.
    let mut last = (0usize, 1usize, 1usize, 0usize);
    while let Some(token) = scanner.next() {
        let m = token.0;
        last = (m.index(), m.line(), m.col() + 1, depth);
        match token.1 {
            TokenType::BlockMappingStart
            | TokenType::BlockSequenceStart
            | TokenType::FlowMappingStart
            | TokenType::FlowSequenceStart => {
                depth += 1;
                if depth > MAX_DEPTH {
                    // A block mapping is marked at its first `:`; its key says better
                    // where the level begins.
                    let at = match (&token.1, scanner.next()) {
                        (TokenType::BlockMappingStart, Some(k)) if k.1 == TokenType::Key => k.0,
                        _ => m,
                    };
                    return Err(too_deep(path, at.line(), at.col() + 1));
                }
            }
            TokenType::BlockEnd | TokenType::FlowMappingEnd | TokenType::FlowSequenceEnd => {
                depth = depth.saturating_sub(1);
            }
            _ => {}
        }
    }
    if scanner.get_error().is_some() {
        // A syntax error: the parser that reads the file reports it in its own words.
        // Beyond this point the scanners may disagree, and libyaml can go on opening
        // flow levels, but only at a `[` or `{`: if there are too few left to cross the
        // limit, the text is safe to hand over.
        let (index, mut line, mut col, mut opened) = last;
        for c in text.chars().skip(index) {
            match c {
                '[' | '{' => {
                    opened += 1;
                    if opened > MAX_DEPTH {
                        return Err(too_deep(path, line, col));
                    }
                }
                '\n' => {
                    line += 1;
                    col = 0;
                }
                _ => {}
            }
            col += 1;
        }
    }
    Ok(())
}

fn too_deep(path: &str, line: usize, col: usize) -> YamlError {
    YamlError::at(
        path,
        line,
        col,
        format!(
            "nested more than {MAX_DEPTH} levels deep here (lists and mappings inside one another); flatten it"
        ),
    )
}

/// The 1-based line and column (in characters) of byte `at`.
fn place_of_byte(text: &str, at: usize) -> (usize, usize) {
    let mut cut = at.min(text.len());
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let before = &text[..cut];
    let line = before.matches('\n').count() + 1;
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[start..].chars().count() + 1)
}

/// serde's wording in the words of a file's author.
pub fn plain_message(msg: &str) -> String {
    let msg = msg
        .replace("unknown variant", "unknown value")
        .replace("unknown field", "unknown key");
    if let Some(rest) = msg.strip_prefix("missing field ") {
        return format!("missing key {rest}");
    }
    msg
}

/// The 1-based line of the first line that mentions `needle`, for errors found after
/// parsing (serde forgets positions once a value is built).
pub fn line_of(text: &str, needle: &str) -> Option<usize> {
    text.lines().position(|l| l.contains(needle)).map(|i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Conf {
        name: String,
        #[serde(default)]
        size: u32,
    }

    #[test]
    fn unknown_key_is_placed_and_worded_for_authors() {
        let e = parse::<Conf>("name: a\nsiez: 3\n", "c.yaml").unwrap_err();
        assert_eq!((e.line, e.col), (2, 1));
        assert!(e.message.starts_with("unknown key `siez`"), "{}", e.message);
        assert!(e.to_string().starts_with("c.yaml:2:1: unknown key"));
        assert!(!e.message.contains(" at line "));
    }

    #[test]
    fn missing_key_and_wrong_type() {
        let e = parse::<Conf>("size: 3\n", "c.yaml").unwrap_err();
        assert!(e.message.starts_with("missing key `name`"), "{}", e.message);
        let e = parse::<Conf>("name: a\nsize: big\n", "c.yaml").unwrap_err();
        assert_eq!(e.line, 2);
    }

    fn deep_message(e: &YamlError) -> bool {
        e.message.contains("nested more than 64 levels")
    }

    #[test]
    fn one_line_of_ten_thousand_dashes_is_refused_where_it_gets_too_deep() {
        let text = "- ".repeat(10_000) + "x\n";
        let e = parse::<serde_yaml_ng::Value>(&text, "s.yaml").unwrap_err();
        assert!(deep_message(&e), "{e}");
        // The 65th `- ` starts at column 2 * 64 + 1.
        assert_eq!((e.line, e.col), (1, 129), "{e}");
        assert!(e.to_string().starts_with("s.yaml:1:129: nested more than"));
    }

    #[test]
    fn indented_block_levels_are_counted_too() {
        let text: String = (0..100)
            .map(|i| format!("{}k{i}:\n", " ".repeat(i)))
            .collect();
        let e = check(&text, "s.yaml").unwrap_err();
        assert!(deep_message(&e), "{e}");
        assert_eq!((e.line, e.col), (65, 65), "{e}");
        // The same shape at the limit is fine.
        let ok: String = (0..63)
            .map(|i| format!("{}k{i}:\n", " ".repeat(i)))
            .collect();
        check(&(ok + &" ".repeat(63) + "leaf: 1\n"), "s.yaml").unwrap();
    }

    #[test]
    fn a_hundred_thousand_brackets_are_refused_at_once() {
        let text = "a: ".to_string() + &"[".repeat(100_000) + "\n";
        let e = check(&text, "s.yaml").unwrap_err();
        assert!(deep_message(&e), "{e}");
        // `a: ` opens the block mapping (level 1); the 64th `[` is level 65.
        assert_eq!((e.line, e.col), (1, 4 + 63), "{e}");
    }

    #[test]
    fn brackets_after_a_syntax_error_still_count() {
        // yaml-rust2 stops at the tab; libyaml would read on into the nest.
        let text = "a: 1\n\tb: 2\nc: ".to_string() + &"[".repeat(1000) + "\n";
        let e = check(&text, "s.yaml").unwrap_err();
        assert!(deep_message(&e), "{e}");
        assert_eq!(e.line, 3, "{e}");
        // A plain syntax error is left to serde, which says it in its own words.
        check("a: [1, 2\nb: {", "s.yaml").unwrap();
        assert!(parse::<serde_yaml_ng::Value>("a: [1, 2\nb: {", "s.yaml").is_err());
    }

    #[test]
    fn an_oversize_file_is_refused_before_parsing() {
        let line = "k: 0123456789012345678901234567890123456789\n";
        let text = line.repeat(MAX_BYTES / line.len() + 1);
        let e = check(&text, "big.yaml").unwrap_err();
        assert!(e.message.contains("at most 1048576"), "{e}");
        assert_eq!(e.line, MAX_BYTES / line.len() + 1, "{e}");
        assert!(e.col >= 1);
        // Every loader goes through the check.
        assert!(parse::<Conf>(&text, "big.yaml").is_err());
    }

    #[test]
    fn read_stops_at_the_cap_and_names_bad_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.yaml");
        std::fs::write(&big, "a: 1\n".repeat(MAX_BYTES / 5 + 1)).unwrap();
        let e = read(&big).unwrap_err();
        let ReadError::Yaml(e) = e else { panic!("{e}") };
        assert_eq!(e.line, MAX_BYTES / 5 + 1, "{e}");
        assert!(e.message.contains("larger than"), "{e}");
        let bad = dir.path().join("bad.yaml");
        std::fs::write(&bad, b"a: 1\nb: \xff\n").unwrap();
        let e = read(&bad).unwrap_err().to_string();
        assert!(
            e.ends_with("bad.yaml:2:4: the file is not UTF-8 text here: save it as UTF-8"),
            "{e}"
        );
        assert!(matches!(
            read(&dir.path().join("missing.yaml")),
            Err(ReadError::Io { .. })
        ));
    }

    #[test]
    fn line_of_finds_the_first_mention() {
        assert_eq!(line_of("a: 1\nb: x\nc: x\n", "x"), Some(2));
        assert_eq!(line_of("a: 1\n", "zz"), None);
    }
}
