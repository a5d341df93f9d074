//! Loading a tree of YAML files (scenarios, dialogs, the intent library, conversation
//! tests) into one compiled, cross-checked library.

use super::compile::{compile, Flow, FlowId, LibraryView, IDENTITY_VERIFIED};
use super::diag::Diagnostic;
use super::model::{FlowFile, FlowKind, IntentLibraryFile};
use super::source::{Pos, SourceFile};
use super::value::VarId;
use crate::nlu::intent::IntentSpec;
use crate::nlu::{IntentId, Nlu};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

/// The variable conditions read as the call's date.
pub const TODAY: &str = "today";

/// What a YAML file is, decided from its top-level keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// Has `nodes:`: a scenario or dialog.
    Flow,
    /// Has only `intents:`: the shared intent library.
    Intents,
    /// Has `tests:`: conversation tests.
    Tests,
}

/// A loaded, compiled set of flows plus the shared intents.
#[derive(Default)]
pub struct Library {
    /// Compiled flows by id (only those without errors).
    pub flows: BTreeMap<String, Arc<Flow>>,
    /// Shared intents (merged from every intents file).
    pub shared_intents: BTreeMap<String, IntentSpec>,
    /// Test files found while loading, for `scenario test`.
    pub test_files: Vec<PathBuf>,
    /// Every flow's source file by id, for error positions.
    pub sources: HashMap<String, SourceFile>,
    /// Compiled flows by [`FlowId`]: every parsed flow has a place, empty when it did not
    /// compile, so call nodes and digressions reach their dialog by index.
    table: Vec<Option<Arc<Flow>>>,
    /// Every intent any flow can route on, numbered: compiled flows and every NLU of the
    /// library share these ids.
    intent_ids: BTreeMap<String, IntentId>,
    /// Every variable any flow declares, plus `identity_verified` and `today`, numbered:
    /// a call keeps its variables in a table indexed by these.
    var_ids: BTreeMap<String, VarId>,
    /// The names of `var_ids`, by number.
    var_names: Vec<String>,
    nlu: HashMap<String, OnceLock<Arc<Nlu>>>,
    shared_nlu: OnceLock<Arc<Nlu>>,
}

impl std::fmt::Debug for Library {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Library")
            .field("flows", &self.flows.keys().collect::<Vec<_>>())
            .field("shared_intents", &self.shared_intents.len())
            .finish()
    }
}

/// A file or folder that could not be listed while looking for YAML files.
#[derive(Debug, thiserror::Error)]
#[error("{}", path.display())]
pub struct WalkError {
    /// The file or folder.
    pub path: PathBuf,
    /// What the file system said.
    #[source]
    pub source: std::io::Error,
}

/// Every `.yaml`/`.yml` file under the given paths, sorted, so diagnostics come in a stable order.
pub fn yaml_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, WalkError> {
    let mut out = Vec::new();
    for p in paths {
        walk(p, &mut out)?;
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn walk(p: &Path, out: &mut Vec<PathBuf>) -> Result<(), WalkError> {
    let at = |source| WalkError {
        path: p.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(p).map_err(at)?;
    if meta.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(p)
            .map_err(at)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for e in entries {
            let name = e.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.starts_with('.') {
                continue;
            }
            if e.is_dir() {
                walk(&e, out)?;
            } else if name.ends_with(".yaml") || name.ends_with(".yml") {
                out.push(e);
            }
        }
    } else {
        out.push(p.to_path_buf());
    }
    Ok(())
}

/// Decide what a file is from its top-level keys. `src` must have passed the YAML limits
/// ([`SourceFile::read`] or [`SourceFile::parse`]), as serde reads its text.
pub fn sniff(src: &SourceFile) -> Result<FileKind, Diagnostic> {
    let v: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&src.text).map_err(|e| yaml_error(src, &e))?;
    let map = v.as_mapping().ok_or_else(|| {
        Diagnostic::error(
            &src.path,
            Pos { line: 1, col: 1 },
            "not-a-mapping",
            "the file must be a YAML mapping (key: value lines at the top level)".into(),
        )
    })?;
    let has = |k: &str| map.contains_key(serde_yaml_ng::Value::String(k.into()));
    Ok(if has("tests") {
        FileKind::Tests
    } else if has("nodes") {
        FileKind::Flow
    } else if has("intents") {
        FileKind::Intents
    } else {
        return Err(Diagnostic::error(&src.path, Pos { line: 1, col: 1 }, "unknown-file", "cannot tell what this file is: a scenario or dialog has `nodes:`, an intent library `intents:`, a test file `tests:`".into()));
    })
}

/// A serde_yaml error turned into a diagnostic at its position.
pub fn yaml_error(src: &SourceFile, e: &serde_yaml_ng::Error) -> Diagnostic {
    let e = crate::yaml::YamlError::from_serde(&src.path.display().to_string(), e);
    Diagnostic::error(
        &src.path,
        Pos {
            line: e.line,
            col: e.col,
        },
        "yaml",
        e.message,
    )
}

/// A file that could not be read (or is too large or too deep to parse) as a diagnostic
/// at the place it names, so the file is reported and skipped and the others still load.
pub fn read_error(path: &Path, e: crate::yaml::ReadError) -> Diagnostic {
    match e {
        crate::yaml::ReadError::Io { source, .. } => Diagnostic::error(
            path,
            Pos { line: 1, col: 1 },
            "io",
            format!("cannot read the file: {source}"),
        ),
        crate::yaml::ReadError::Yaml(e) => Diagnostic::error(
            path,
            Pos {
                line: e.line,
                col: e.col,
            },
            "yaml",
            e.message,
        ),
    }
}

/// `root/name`, without a leading `./` so diagnostics print as `scenarios/x.yaml:3:5`.
pub fn under(root: &Path, name: &str) -> PathBuf {
    if root == Path::new(".") {
        PathBuf::from(name)
    } else {
        root.join(name)
    }
}

impl Library {
    /// A project's library: `dialogs/` and `scenarios/` under `root`, plus any extra paths
    /// (those already inside them are not loaded twice). What every command that runs
    /// scenarios loads.
    pub fn load_project(root: &Path, extra: &[PathBuf]) -> (Library, Vec<Diagnostic>) {
        let mut paths = vec![under(root, "dialogs"), under(root, "scenarios")];
        for p in extra {
            if !paths.iter().any(|q| p.starts_with(q)) {
                paths.push(p.clone());
            }
        }
        paths.retain(|p| p.exists());
        Library::load(&paths)
    }

    /// Load and compile everything under `paths`; returns the library and all diagnostics.
    /// Only flows without errors are kept, so a broken file never takes the others down.
    pub fn load(paths: &[PathBuf]) -> (Library, Vec<Diagnostic>) {
        let mut diags = Vec::new();
        let files = match yaml_files(paths) {
            Ok(f) => f,
            Err(e) => {
                diags.push(Diagnostic::error(
                    Path::new("."),
                    Pos { line: 1, col: 1 },
                    "io",
                    format!("{e}: {}", e.source),
                ));
                return (Library::default(), diags);
            }
        };
        let sources = files
            .into_iter()
            .map(|path| SourceFile::read(&path).map_err(|e| read_error(&path, e)));
        let (lib, more) = Library::from_sources(sources);
        diags.extend(more);
        (lib, diags)
    }

    /// Build a library from files already read and checked against the YAML limits
    /// ([`SourceFile::read`] or [`SourceFile::parse`]; a file that was not is passed as its
    /// diagnostic), in order.
    pub(crate) fn from_sources(
        sources: impl IntoIterator<Item = Result<SourceFile, Diagnostic>>,
    ) -> (Library, Vec<Diagnostic>) {
        let mut lib = Library::default();
        let mut diags = Vec::new();
        let mut flows: Vec<(SourceFile, FlowFile)> = Vec::new();
        for src in sources {
            let src = match src {
                Ok(s) => s,
                Err(d) => {
                    diags.push(d);
                    continue;
                }
            };
            let path = src.path.clone();
            match sniff(&src) {
                Err(d) => diags.push(d),
                Ok(FileKind::Tests) => lib.test_files.push(path),
                Ok(FileKind::Intents) => {
                    match serde_yaml_ng::from_str::<IntentLibraryFile>(&src.text) {
                        Ok(f) => {
                            for (name, spec) in f.intents {
                                if lib.shared_intents.contains_key(&name) {
                                    let p = src.key_pos(&["intents", &name]);
                                    diags.push(Diagnostic::error(&path, p, "duplicate-intent", format!("intent `{name}` is defined twice in the shared library")));
                                }
                                lib.shared_intents.insert(name, spec);
                            }
                        }
                        Err(e) => diags.push(yaml_error(&src, &e)),
                    }
                }
                Ok(FileKind::Flow) => match serde_yaml_ng::from_str::<FlowFile>(&src.text) {
                    Ok(f) => flows.push((src, f)),
                    Err(e) => diags.push(yaml_error(&src, &e)),
                },
            }
        }
        let mut seen: HashMap<String, PathBuf> = HashMap::new();
        flows.retain(|(src, f)| match seen.get(&f.id) {
            Some(first) => {
                diags.push(Diagnostic::error(
                    &src.path,
                    src.value_pos(&["id"]),
                    "duplicate-id",
                    format!("id `{}` is already used by {}", f.id, first.display()),
                ));
                false
            }
            None => {
                seen.insert(f.id.clone(), src.path.clone());
                true
            }
        });
        let shared: BTreeSet<String> = lib.shared_intents.keys().cloned().collect();
        let dialogs: HashMap<String, &FlowFile> = flows
            .iter()
            .filter(|(_, f)| f.kind == FlowKind::Dialog)
            .map(|(_, f)| (f.id.clone(), f))
            .collect();
        let intent_names: BTreeSet<&String> = lib
            .shared_intents
            .keys()
            .chain(flows.iter().flat_map(|(_, f)| f.intents.keys()))
            .collect();
        lib.intent_ids = intent_names
            .into_iter()
            .enumerate()
            .map(|(i, name)| (name.clone(), IntentId(i as u32)))
            .collect();
        let var_names: BTreeSet<&str> = flows
            .iter()
            .flat_map(|(_, f)| f.variables.keys().map(String::as_str))
            .chain([IDENTITY_VERIFIED, TODAY])
            .collect();
        lib.var_names = var_names.into_iter().map(str::to_string).collect();
        lib.var_ids = lib
            .var_names
            .iter()
            .enumerate()
            .map(|(i, name)| (name.clone(), VarId(i as u32)))
            .collect();
        let flow_ids: HashMap<String, FlowId> = flows
            .iter()
            .enumerate()
            .map(|(i, (_, f))| (f.id.clone(), FlowId(i)))
            .collect();
        let view = LibraryView {
            shared_intents: &shared,
            dialogs: &dialogs,
            flow_ids: &flow_ids,
            intent_ids: &lib.intent_ids,
            var_ids: &lib.var_ids,
        };
        let mut compiled = Vec::new();
        for (src, spec) in &flows {
            let (flow, d) = compile(src, spec, &view);
            diags.extend(d);
            if let Some(f) = flow {
                compiled.push(f);
            }
        }
        lib.table = vec![None; flows.len()];
        for (src, spec) in flows {
            lib.sources.insert(spec.id.clone(), src);
        }
        for f in compiled {
            let f = Arc::new(f);
            lib.nlu.insert(f.id().to_string(), OnceLock::new());
            lib.flows.insert(f.id().to_string(), f.clone());
            if let Some(slot) = lib.table.get_mut(f.flow_id.0) {
                *slot = Some(f);
            }
        }
        (lib, diags)
    }

    /// The flows a campaign of `scenario` can reach: the scenario itself and every shared
    /// dialog (what a prompt cache must hold before its first call).
    pub fn campaign_flows<'a>(&'a self, scenario: &'a str) -> impl Iterator<Item = &'a Flow> + 'a {
        self.flows
            .values()
            .filter(move |f| f.id() == scenario || f.spec.kind == FlowKind::Dialog)
            .map(|f| f.as_ref())
    }

    /// A flow by id.
    pub fn flow(&self, id: &str) -> Option<&Arc<Flow>> {
        self.flows.get(id)
    }

    /// A flow by its place in the table, as compiled references name it; `None` when that
    /// flow did not compile (its diagnostics say why).
    pub fn flow_at(&self, id: FlowId) -> Option<&Arc<Flow>> {
        self.table.get(id.0).and_then(Option::as_ref)
    }

    /// The library-wide intent numbering that compiled flows and NLUs share.
    pub fn intent_ids(&self) -> &BTreeMap<String, IntentId> {
        &self.intent_ids
    }

    /// The library-wide variable numbering.
    pub fn var_ids(&self) -> &BTreeMap<String, VarId> {
        &self.var_ids
    }

    /// A variable's name by number (for actions and reports, which speak names).
    pub fn var_name(&self, id: VarId) -> &str {
        self.var_names
            .get(id.0 as usize)
            .map(String::as_str)
            .unwrap_or_default()
    }

    /// Scenarios (not dialogs), in id order.
    pub fn scenarios(&self) -> impl Iterator<Item = &Arc<Flow>> {
        self.flows
            .values()
            .filter(|f| f.spec.kind == FlowKind::Scenario)
    }

    /// The NLU for a flow: shared intents plus the flow's own, trained on first use.
    pub fn nlu_for(&self, id: &str) -> Option<Arc<Nlu>> {
        let flow = self.flows.get(id)?;
        let cell = self.nlu.get(id)?;
        Some(
            cell.get_or_init(|| {
                let mut intents = self.shared_intents.clone();
                for (name, spec) in &flow.spec.intents {
                    let merged = intents.entry(name.clone()).or_default();
                    for (l, ex) in &spec.examples {
                        merged
                            .examples
                            .entry(*l)
                            .or_default()
                            .extend(ex.iter().cloned());
                    }
                    for (l, kw) in &spec.keywords {
                        merged
                            .keywords
                            .entry(*l)
                            .or_default()
                            .extend(kw.iter().cloned());
                    }
                }
                Arc::new(Nlu::train_with_ids(
                    &intents,
                    &self.intent_ids,
                    flow.spec.settings.nlu_threshold,
                ))
            })
            .clone(),
        )
    }

    /// The NLU over the shared intents only.
    pub fn shared_nlu(&self) -> Arc<Nlu> {
        self.shared_nlu
            .get_or_init(|| {
                Arc::new(Nlu::train_with_ids(
                    &self.shared_intents,
                    &self.intent_ids,
                    None,
                ))
            })
            .clone()
    }
}
