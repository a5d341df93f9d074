//! One YAML loader for every file a person writes (policies, trunks, the speech config,
//! simulation configs, scenarios): typed parsing with serde, and errors that say
//! `file:line:col: message` in the words of the file's author ("unknown key", not serde's
//! "unknown field"), because the people who edit these files are not programmers.

use serde::de::DeserializeOwned;

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

/// Parse `text` as a `T`; `path` names the source in errors.
pub fn parse<T: DeserializeOwned>(text: &str, path: &str) -> Result<T, YamlError> {
    serde_yaml_ng::from_str(text).map_err(|e| YamlError::from_serde(path, &e))
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

    #[test]
    fn line_of_finds_the_first_mention() {
        assert_eq!(line_of("a: 1\nb: x\nc: x\n", "x"), Some(2));
        assert_eq!(line_of("a: 1\n", "zz"), None);
    }
}
