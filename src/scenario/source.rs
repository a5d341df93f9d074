//! Where every value in a YAML file came from.
//!
//! serde gives us typed structs but forgets positions once a file parses. Authors need
//! `file:line:col` on *semantic* errors too (an unknown node named in `on:`), so each
//! file is also walked once with yaml-rust2's marked event parser to build an index
//! from a path (`nodes.greet.on.affirm`) to the position of that key and its value.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// A 1-based line and column in a source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, PartialOrd, Ord)]
pub struct Pos {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, counted in characters.
    pub col: usize,
}

/// One loaded YAML file: its path, text and position index.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Path as given by the caller (kept relative so messages stay short).
    pub path: PathBuf,
    /// The file's text.
    pub text: String,
    spans: HashMap<String, (Pos, Pos)>,
}

impl SourceFile {
    /// Index `text`. A YAML syntax error leaves the index empty: serde reports it with its own position.
    pub fn new(path: impl Into<PathBuf>, text: String) -> SourceFile {
        let mut rx = Indexer::default();
        let mut parser = Parser::new_from_str(&text);
        // A scan error is reported by serde with a position; positions for the part
        // that did parse are still useful, so keep what was gathered.
        let _ = parser.load(&mut rx, false);
        SourceFile {
            path: path.into(),
            text,
            spans: rx.spans,
        }
    }

    /// Read and index a file from disk.
    pub fn read(path: &Path) -> std::io::Result<SourceFile> {
        let text = std::fs::read_to_string(path)?;
        Ok(SourceFile::new(path, text))
    }

    /// Position of the value at `path` (e.g. `["nodes", "greet", "next"]`), or of the nearest
    /// enclosing value that has one, so a message always points somewhere useful.
    pub fn value_pos(&self, path: &[&str]) -> Pos {
        self.lookup(path, false)
    }

    /// Position of the key at `path` (the start of `greet:`), falling back like [`Self::value_pos`].
    pub fn key_pos(&self, path: &[&str]) -> Pos {
        self.lookup(path, true)
    }

    fn lookup(&self, path: &[&str], key: bool) -> Pos {
        let mut n = path.len();
        loop {
            let joined = join(&path[..n]);
            if let Some((k, v)) = self.spans.get(&joined) {
                return if key { *k } else { *v };
            }
            if n == 0 {
                return Pos { line: 1, col: 1 };
            }
            n -= 1;
        }
    }
}

fn join<S: AsRef<str>>(parts: &[S]) -> String {
    let mut s = String::new();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            s.push('\u{1f}');
        }
        s.push_str(p.as_ref());
    }
    s
}

fn pos(m: Marker) -> Pos {
    Pos {
        line: m.line(),
        col: m.col() + 1,
    }
}

enum Frame {
    /// In a mapping; `Some(key)` once the key scalar was read and its value is pending.
    Map(Option<(String, Pos)>, bool),
    /// In a sequence, with the index of the next item.
    Seq(usize, bool),
}

#[derive(Default)]
struct Indexer {
    stack: Vec<Frame>,
    path: Vec<String>,
    spans: HashMap<String, (Pos, Pos)>,
}

impl Indexer {
    /// Called when a value (scalar or collection start) begins at `at`; records it and
    /// returns whether a path segment was pushed for it.
    fn begin_value(&mut self, at: Pos, collection: bool) -> bool {
        match self.stack.last_mut() {
            Some(Frame::Map(pending, _)) => match pending.take() {
                Some((k, kpos)) => {
                    self.path.push(k);
                    // Block collections are marked where their first entry starts, which
                    // reads oddly in messages; point at the key instead.
                    let vpos = if collection { kpos } else { at };
                    self.spans.insert(join(&self.path), (kpos, vpos));
                    true
                }
                None => false,
            },
            Some(Frame::Seq(i, _)) => {
                let idx = *i;
                *i += 1;
                self.path.push(idx.to_string());
                self.spans.insert(join(&self.path), (at, at));
                true
            }
            None => {
                self.spans.insert(String::new(), (at, at));
                false
            }
        }
    }
}

impl MarkedEventReceiver for Indexer {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let at = pos(mark);
        match ev {
            Event::Scalar(value, ..) => {
                if let Some(Frame::Map(pending @ None, _)) = self.stack.last_mut() {
                    *pending = Some((value, at));
                    return;
                }
                if self.begin_value(at, false) {
                    self.path.pop();
                }
            }
            Event::Alias(_) if self.begin_value(at, false) => {
                self.path.pop();
            }
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                // A collection used as a mapping key is not something our files do; it
                // gets no path segment, which keeps the walk balanced.
                let pushed = self.begin_value(at, true);
                self.stack.push(if matches!(ev, Event::MappingStart(..)) {
                    Frame::Map(None, pushed)
                } else {
                    Frame::Seq(0, pushed)
                });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                if let Some(Frame::Map(_, true) | Frame::Seq(_, true)) = self.stack.pop() {
                    self.path.pop();
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_keys_values_and_sequence_items() {
        let text = "id: demo\nnodes:\n  greet:\n    type: ask\n    on:\n      affirm: done\n  list:\n    - a\n    - b\n";
        let f = SourceFile::new("x.yaml", text.to_string());
        assert_eq!(f.value_pos(&["id"]), Pos { line: 1, col: 5 });
        assert_eq!(f.key_pos(&["nodes", "greet"]), Pos { line: 3, col: 3 });
        assert_eq!(
            f.value_pos(&["nodes", "greet", "on", "affirm"]),
            Pos { line: 6, col: 15 }
        );
        assert_eq!(
            f.value_pos(&["nodes", "list", "1"]),
            Pos { line: 9, col: 7 }
        );
        assert_eq!(f.value_pos(&["nodes", "greet"]), Pos { line: 3, col: 3 });
        // Unknown path falls back to the nearest known parent.
        assert_eq!(
            f.value_pos(&["nodes", "greet", "missing"]),
            f.value_pos(&["nodes", "greet"])
        );
    }

    #[test]
    fn broken_yaml_does_not_panic() {
        let f = SourceFile::new("x.yaml", "a: [1, 2\nb: {".to_string());
        assert!(f.value_pos(&["zzz"]).line >= 1);
    }
}
