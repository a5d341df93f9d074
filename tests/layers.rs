//! The house's layers, checked on every test run so a design rule cannot rot into a
//! comment: modules sit on floors (ARCHITECTURE.md draws them), an import may point to its
//! own floor or below, never up; there is no import cycle between modules nor between the
//! files of the library; and no module folder holds more than a fifth of the code.
//!
//! Imports are read with `syn` from every `use` and every path in the code (`crate::…`,
//! `super::…`, `voxdial::…` in the binary), leaving out `#[cfg(test)]` items. A folder's
//! `mod.rs` re-exporting its children (`pub use child::X`) is the folder's front door, not a
//! dependency, so it is not counted.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use syn::visit::Visit;

/// Floors, bottom first. A module may import from its floor or any floor below.
const FLOORS: &[(&str, u8)] = &[
    // foundation: the vocabulary every core speaks
    ("time", 0),
    ("yaml", 0),
    ("checksum", 0),
    ("sched", 0),
    // language and media, and the contact rules (pure data and functions)
    ("language", 1),
    ("media", 1),
    ("policy", 1),
    // understanding and the scenario language
    ("nlu", 2),
    ("scenario", 3),
    ("dialogue", 4),
    // protocol and speech
    ("sip", 5),
    ("speech", 5),
    ("cpd", 5),
    ("models", 5),
    ("store", 5),
    // the bot and the dialer
    ("bot", 6),
    ("dialer", 6),
    // the human queue (agents, hold, bridging) and the synthetic phones (customers, agents)
    ("queue", 6),
    ("phone", 6),
    ("campaign", 7),
    // the long-running service (`voxdial run`), then its CLI (the binary)
    ("service", 8),
    ("cli", 9),
];

fn floor(module: &str) -> Option<u8> {
    FLOORS.iter().find(|(m, _)| *m == module).map(|(_, f)| *f)
}

/// `src/a/b.rs` -> `["a", "b"]`; `src/a/mod.rs` -> `["a"]`; `src/lib.rs` -> `[]`.
fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).expect("under src");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().expect("a file");
    let stem = last.trim_end_matches(".rs").to_string();
    if stem != "mod" && stem != "lib" && stem != "main" {
        parts.push(stem);
    }
    parts
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read src")
        .map(|e| e.expect("entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

fn is_cfg_test(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("cfg")
            && a.meta
                .require_list()
                .map(|l| l.tokens.to_string().replace(' ', "").contains("test"))
                .unwrap_or(false)
    })
}

/// Every path a file names, as written (`crate::a::b`, `super::x`, `voxdial::y`).
#[derive(Default)]
struct Paths {
    found: Vec<Vec<String>>,
    is_facade: bool,
}

impl Paths {
    fn use_tree(&mut self, prefix: &mut Vec<String>, tree: &syn::UseTree) {
        match tree {
            syn::UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                self.use_tree(prefix, &p.tree);
                prefix.pop();
            }
            syn::UseTree::Name(n) => {
                let mut full = prefix.clone();
                if n.ident != "self" {
                    full.push(n.ident.to_string());
                }
                self.found.push(full);
            }
            syn::UseTree::Rename(r) => {
                let mut full = prefix.clone();
                if r.ident != "self" {
                    full.push(r.ident.to_string());
                }
                self.found.push(full);
            }
            syn::UseTree::Glob(_) => self.found.push(prefix.clone()),
            syn::UseTree::Group(g) => {
                for t in &g.items {
                    self.use_tree(prefix, t);
                }
            }
        }
    }
}

impl<'ast> Visit<'ast> for Paths {
    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        if !is_cfg_test(&m.attrs) {
            syn::visit::visit_item_mod(self, m);
        }
    }
    fn visit_item_fn(&mut self, f: &'ast syn::ItemFn) {
        if !is_cfg_test(&f.attrs) {
            syn::visit::visit_item_fn(self, f);
        }
    }
    fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
        if is_cfg_test(&u.attrs) {
            return;
        }
        let public = matches!(u.vis, syn::Visibility::Public(_));
        if public && self.is_facade {
            return;
        }
        self.use_tree(&mut Vec::new(), &u.tree);
    }
    fn visit_path(&mut self, p: &'ast syn::Path) {
        let segs: Vec<String> = p.segments.iter().map(|s| s.ident.to_string()).collect();
        if matches!(
            segs.first().map(String::as_str),
            Some("crate" | "super" | "voxdial")
        ) {
            self.found.push(segs);
        }
        syn::visit::visit_path(self, p);
    }
}

struct House {
    /// File -> files it imports.
    edges: BTreeMap<PathBuf, BTreeSet<PathBuf>>,
    /// Top module -> lines of code.
    lines: BTreeMap<String, usize>,
    /// Top module of each file.
    top: BTreeMap<PathBuf, String>,
}

fn read_house() -> House {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    // The library's modules, and the binary's (src/main.rs + src/cli) under "cli".
    let mut modules: BTreeMap<Vec<String>, PathBuf> = BTreeMap::new();
    for f in &files {
        modules.insert(module_path(&src, f), f.clone());
    }
    let mut house = House {
        edges: BTreeMap::new(),
        lines: BTreeMap::new(),
        top: BTreeMap::new(),
    };
    for f in &files {
        let me = module_path(&src, f);
        let in_bin = f.ends_with("main.rs") || me.first().is_some_and(|m| m == "cli");
        let top = if f.ends_with("main.rs") {
            "cli".to_string()
        } else {
            me.first().cloned().unwrap_or_default()
        };
        let text = std::fs::read_to_string(f).expect("read");
        *house.lines.entry(top.clone()).or_default() += text.lines().count();
        house.top.insert(f.clone(), top);
        let ast = syn::parse_file(&text).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let mut v = Paths {
            is_facade: f.ends_with("mod.rs"),
            ..Paths::default()
        };
        v.visit_file(&ast);
        let targets = house.edges.entry(f.clone()).or_default();
        for path in v.found {
            let Some(abs) = absolute(&me, &path, in_bin) else {
                continue;
            };
            // The longest prefix that is a module file.
            let mut n = abs.len();
            let hit = loop {
                if let Some(file) = modules.get(&abs[..n]) {
                    break Some(file);
                }
                if n == 0 {
                    break None;
                }
                n -= 1;
            };
            if let Some(t) = hit {
                if t != f && !abs[..n].is_empty() {
                    targets.insert(t.clone());
                }
            }
        }
    }
    house
}

/// A path as written in module `me`, made absolute from the library root; `None` for paths
/// outside the crate (std, other crates).
fn absolute(me: &[String], path: &[String], in_bin: bool) -> Option<Vec<String>> {
    let first = path.first()?;
    match first.as_str() {
        "voxdial" => Some(path[1..].to_vec()),
        "crate" if in_bin => {
            let mut p = vec!["cli".to_string()];
            p.extend(path[1..].iter().skip_while(|s| *s == "cli").cloned());
            Some(p)
        }
        "crate" => Some(path[1..].to_vec()),
        "super" => {
            let mut base = me.to_vec();
            let mut rest = path;
            while rest.first().is_some_and(|s| s == "super") {
                base.pop();
                rest = &rest[1..];
            }
            base.extend(rest.iter().cloned());
            Some(base)
        }
        _ => None,
    }
}

fn name(f: &Path) -> String {
    let s = f.to_string_lossy();
    s[s.find("/src/").map_or(0, |i| i + 1)..].to_string()
}

/// Strongly connected components with more than one member (Tarjan, iterative enough for
/// a few hundred nodes).
fn cycles<N: Ord + Clone>(edges: &BTreeMap<N, BTreeSet<N>>) -> Vec<Vec<N>> {
    struct T<'a, N: Ord> {
        edges: &'a BTreeMap<N, BTreeSet<N>>,
        index: BTreeMap<N, usize>,
        low: BTreeMap<N, usize>,
        stack: Vec<N>,
        on: BTreeSet<N>,
        next: usize,
        out: Vec<Vec<N>>,
    }
    fn strong<N: Ord + Clone>(t: &mut T<'_, N>, v: &N) {
        t.index.insert(v.clone(), t.next);
        t.low.insert(v.clone(), t.next);
        t.next += 1;
        t.stack.push(v.clone());
        t.on.insert(v.clone());
        let succ: Vec<N> = t
            .edges
            .get(v)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default();
        for w in succ {
            if !t.index.contains_key(&w) {
                strong(t, &w);
                let lw = t.low[&w];
                let lv = t.low.get_mut(v).expect("low");
                *lv = (*lv).min(lw);
            } else if t.on.contains(&w) {
                let iw = t.index[&w];
                let lv = t.low.get_mut(v).expect("low");
                *lv = (*lv).min(iw);
            }
        }
        if t.low[v] == t.index[v] {
            let mut comp = Vec::new();
            loop {
                let w = t.stack.pop().expect("stack");
                t.on.remove(&w);
                comp.push(w.clone());
                if &w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                t.out.push(comp);
            }
        }
    }
    let mut t = T {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in edges.keys() {
        if !t.index.contains_key(v) {
            strong(&mut t, v);
        }
    }
    t.out
}

#[test]
fn every_module_has_a_floor_and_imports_point_down() {
    let house = read_house();
    let mut wrong = Vec::new();
    for top in house.top.values() {
        if !top.is_empty() && floor(top).is_none() {
            wrong.push(format!("module `{top}` has no floor in tests/layers.rs"));
        }
    }
    for (from, tos) in &house.edges {
        let a = &house.top[from];
        for to in tos {
            let b = &house.top[to];
            if let (Some(fa), Some(fb)) = (floor(a), floor(b)) {
                if fb > fa {
                    wrong.push(format!(
                        "{} (floor {fa}) imports {} (floor {fb}), a floor up",
                        name(from),
                        name(to)
                    ));
                }
            }
        }
    }
    wrong.sort();
    wrong.dedup();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn no_import_cycles_between_modules_or_files() {
    let house = read_house();
    let mut modules: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, tos) in &house.edges {
        let a = &house.top[from];
        let entry = modules.entry(a.clone()).or_default();
        for to in tos {
            let b = &house.top[to];
            if a != b && !a.is_empty() && !b.is_empty() {
                entry.insert(b.clone());
            }
        }
    }
    let mut wrong: Vec<String> = cycles(&modules)
        .into_iter()
        .map(|c| format!("modules in a cycle: {}", c.join(", ")))
        .collect();
    wrong.extend(cycles(&house.edges).into_iter().map(|c| {
        let names: Vec<String> = c.iter().map(|f| name(f)).collect();
        format!("files in a cycle: {}", names.join(", "))
    }));
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn no_module_folder_holds_more_than_a_fifth_of_the_code() {
    let house = read_house();
    let total: usize = house.lines.values().sum();
    let big: Vec<String> = house
        .lines
        .iter()
        .filter(|(_, n)| **n * 5 > total)
        .map(|(m, n)| format!("{m}: {n} of {total} lines"))
        .collect();
    assert!(big.is_empty(), "{}", big.join("\n"));
}

#[test]
fn the_checker_sees_cycles_and_resolves_relative_paths() {
    let mut g: BTreeMap<u8, BTreeSet<u8>> = BTreeMap::new();
    g.entry(1).or_default().insert(2);
    g.entry(2).or_default().insert(3);
    g.entry(3).or_default().insert(1);
    g.entry(3).or_default().insert(4);
    let c = cycles(&g);
    assert_eq!(c.len(), 1);
    assert_eq!(
        c[0].iter().copied().collect::<BTreeSet<u8>>(),
        [1, 2, 3].into()
    );
    let me = vec!["speech".to_string(), "asr".to_string()];
    let p = |s: &str| s.split("::").map(String::from).collect::<Vec<_>>();
    assert_eq!(
        absolute(&me, &p("super::vad::Vad"), false),
        Some(p("speech::vad::Vad"))
    );
    assert_eq!(
        absolute(&me, &p("crate::media::rtp"), false),
        Some(p("media::rtp"))
    );
    assert_eq!(absolute(&me, &p("std::fs"), false), None);
    assert!(floor("sip") > floor("media"));
}
