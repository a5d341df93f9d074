//! Where every value in a YAML file came from.
//!
//! serde gives us typed structs but forgets positions once a file parses. Authors need
//! `file:line:col` on *semantic* errors too (an unknown node named in `on:`), so each
//! file is also walked once with yaml-rust2's marked event parser to build an index
//! from a path (`nodes.greet.on.affirm`) to the position of that key and its value.

use crate::yaml::{ReadError, YamlError};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use yaml_rust2::parser::{Event, Parser};
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
    index: Index,
}

impl SourceFile {
    /// Index `text`. A YAML syntax error leaves the index partial (serde reports it with
    /// its own position); a text over the limits of [`crate::yaml::check`] is not indexed
    /// at all. [`SourceFile::parse`] says why.
    pub fn new(path: impl Into<PathBuf>, text: String) -> SourceFile {
        let path = path.into();
        let index = if crate::yaml::check(&text, &path.display().to_string()).is_ok() {
            Index::build(&text)
        } else {
            Index::default()
        };
        SourceFile { path, text, index }
    }

    /// Index `text`, refusing it over the size and depth limits every YAML file has.
    pub fn parse(path: impl Into<PathBuf>, text: String) -> Result<SourceFile, YamlError> {
        let path = path.into();
        crate::yaml::check(&text, &path.display().to_string())?;
        let index = Index::build(&text);
        Ok(SourceFile { path, text, index })
    }

    /// Read and index a file from disk, refusing it over the limits before parsing.
    pub fn read(path: &Path) -> Result<SourceFile, ReadError> {
        let text = crate::yaml::read(path)?;
        let index = Index::build(&text);
        Ok(SourceFile {
            path: path.to_path_buf(),
            text,
            index,
        })
    }

    /// Position of the value at `path` (e.g. `["nodes", "greet", "next"]`), or of the nearest
    /// enclosing value that has one, so a message always points somewhere useful.
    pub fn value_pos(&self, path: &[&str]) -> Pos {
        self.index
            .lookup(path)
            .map_or(Pos { line: 1, col: 1 }, |s| s.1)
    }

    /// Position of the key at `path` (the start of `greet:`), falling back like [`Self::value_pos`].
    pub fn key_pos(&self, path: &[&str]) -> Pos {
        self.index
            .lookup(path)
            .map_or(Pos { line: 1, col: 1 }, |s| s.0)
    }
}

fn pos(m: Marker) -> Pos {
    Pos {
        line: m.line(),
        col: m.col() + 1,
    }
}

/// Positions as a tree: each entry is a (parent, segment) pair, so memory grows with the
/// file and not with the depth times the length of the keys above each value.
#[derive(Debug, Clone, Default)]
struct Index {
    children: HashMap<(usize, String), usize>,
    /// (key, value) positions by entry; entry 0 is the document, `None` until seen.
    spans: Vec<Option<(Pos, Pos)>>,
}

impl Index {
    fn build(text: &str) -> Index {
        let mut ix = Indexer {
            index: Index {
                children: HashMap::new(),
                spans: vec![None],
            },
            stack: Vec::new(),
        };
        // Events are pulled in a loop rather than through `Parser::load`, which recurses
        // once per level. A syntax error ends the walk: serde reports it with a position,
        // and positions for the part that did parse are still useful.
        let mut parser = Parser::new_from_str(text);
        while let Ok((ev, mark)) = parser.next_token() {
            if matches!(ev, Event::StreamEnd) {
                break;
            }
            ix.on_event(ev, mark);
        }
        ix.index
    }

    /// The span of the longest prefix of `path` that was seen.
    fn lookup(&self, path: &[&str]) -> Option<(Pos, Pos)> {
        let mut node = 0;
        let mut best = self.spans.first().copied().flatten();
        for seg in path {
            match self.children.get(&(node, (*seg).to_string())) {
                Some(&child) => {
                    node = child;
                    if let Some(s) = self.spans.get(node).copied().flatten() {
                        best = Some(s);
                    }
                }
                None => break,
            }
        }
        best
    }

    fn child(&mut self, parent: usize, seg: String) -> usize {
        let next = self.spans.len();
        let id = *self.children.entry((parent, seg)).or_insert(next);
        if id == next {
            self.spans.push(None);
        }
        id
    }
}

enum Frame {
    /// A mapping at an index entry; `Some(key)` once the key scalar was read and its
    /// value is pending.
    Map(usize, Option<(String, Pos)>),
    /// A sequence at an index entry, with the index of the next item.
    Seq(usize, usize),
}

struct Indexer {
    index: Index,
    stack: Vec<Frame>,
}

impl Indexer {
    /// Called when a value (scalar or collection start) begins at `at`; records it and
    /// returns its index entry.
    fn begin_value(&mut self, at: Pos, collection: bool) -> usize {
        let (entry, span) = match self.stack.last_mut() {
            Some(Frame::Map(parent, pending)) => {
                let parent = *parent;
                match pending.take() {
                    Some((k, kpos)) => {
                        // Block collections are marked where their first entry starts,
                        // which reads oddly in messages; point at the key instead.
                        let vpos = if collection { kpos } else { at };
                        (self.index.child(parent, k), Some((kpos, vpos)))
                    }
                    // A collection used as a mapping key is not something our files
                    // do; it gets no entry of its own.
                    None => (parent, None),
                }
            }
            Some(Frame::Seq(parent, i)) => {
                let (parent, idx) = (*parent, *i);
                *i += 1;
                (self.index.child(parent, idx.to_string()), Some((at, at)))
            }
            None => (0, Some((at, at))),
        };
        if let (Some(span), Some(slot)) = (span, self.index.spans.get_mut(entry)) {
            *slot = Some(span);
        }
        entry
    }

    fn on_event(&mut self, ev: Event, mark: Marker) {
        let at = pos(mark);
        match ev {
            Event::Scalar(value, ..) => {
                if let Some(Frame::Map(_, pending @ None)) = self.stack.last_mut() {
                    *pending = Some((value, at));
                    return;
                }
                self.begin_value(at, false);
            }
            Event::Alias(_) => {
                self.begin_value(at, false);
            }
            Event::MappingStart(..) => {
                let entry = self.begin_value(at, true);
                self.stack.push(Frame::Map(entry, None));
            }
            Event::SequenceStart(..) => {
                let entry = self.begin_value(at, true);
                self.stack.push(Frame::Seq(entry, 0));
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
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
    fn deep_text_is_refused_and_never_indexed_recursively() {
        let text = "- ".repeat(10_000) + "x\n";
        let e = SourceFile::parse("deep.yaml", text.clone()).unwrap_err();
        assert_eq!((e.line, e.col), (1, 129), "{e}");
        let f = SourceFile::new("deep.yaml", text);
        assert_eq!(f.value_pos(&["0", "0"]), Pos { line: 1, col: 1 });
    }

    #[test]
    fn long_keys_above_many_values_cost_no_more_than_the_file() {
        // Each value's place is stored once, not with the whole key path above it.
        let key = "k".repeat(100_000);
        let text = format!("? {key}\n:\n  a:\n{}", "    - 1\n".repeat(50_000));
        let f = SourceFile::parse("wide.yaml", text).unwrap();
        assert!(f.index.children.keys().map(|(_, s)| s.len()).sum::<usize>() < 400_000);
        assert_eq!(
            f.value_pos(&[&key, "a", "49999"]),
            Pos {
                line: 50_003,
                col: 7
            }
        );
    }

    #[test]
    fn broken_yaml_does_not_panic() {
        let f = SourceFile::new("x.yaml", "a: [1, 2\nb: {".to_string());
        assert!(f.value_pos(&["zzz"]).line >= 1);
    }
}
