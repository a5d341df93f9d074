//! Compile a parsed flow into a graph the runtime walks, and lint it.
//!
//! Every reference is resolved here, once, to a number: nodes and edges to indices,
//! sub-dialogs to [`FlowId`], return values to [`ReturnId`], intents to the library's
//! [`IntentId`], variables to the library's [`VarId`]. So the runtime never looks anything
//! up by name on a live call. Nodes come out as a typed [`NodeKind`], one variant per node
//! type with exactly its fields. The lints (unreachable nodes, dead ends, loops without
//! exit, sensitive data before identity verification) run first on flat drafts, so a flow
//! with mistakes is still checked as a whole; only a clean flow becomes typed.

use super::diag::Diagnostic;
use super::model::{FlowFile, FlowKind, NodeSpec, NodeType, RetrySpec, SlotKind, VarType};
use super::source::{Pos, SourceFile};
use crate::language::verbalise::Currency;
use crate::language::Locale;
use crate::nlu::IntentId;
use crate::scenario::expr::Expr;
use crate::scenario::template::Template;
use crate::scenario::value::VarId;
use petgraph::graph::{DiGraph, NodeIndex};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::path::PathBuf;

/// Index of a node in [`Flow::nodes`].
pub type NodeId = usize;
/// Index of a transition in [`Flow::edges`].
pub type EdgeId = usize;

/// The variable a flow sets to mark that the customer's identity was verified.
pub const IDENTITY_VERIFIED: &str = "identity_verified";

/// Intents that every scenario should answer explicitly somewhere (node, `global:` or hand-off).
pub const MUST_HANDLE: [&str; 6] = [
    "stop_calling",
    "wrong_person",
    "busy_later",
    "request_human",
    "complaint",
    "abusive",
];

/// Intents the hand-off detector answers when a flow has a hand-off node.
pub const HANDOFF_INTENTS: [&str; 3] = ["request_human", "complaint", "abusive"];

/// Why a transition exists; also its name in coverage reports and drawings.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EdgeLabel {
    /// `next:` of a say/set node.
    Next,
    /// `on: {intent: target}` of an ask node.
    Intent(String),
    /// Retries used up without understanding.
    NoMatch,
    /// Retries used up in silence.
    NoInput,
    /// `cases[n]` of a branch node (1-based), with its condition text.
    Case(usize, String),
    /// `else:` of a branch node.
    Else,
    /// A sub-dialog's return value routed by a call node.
    Return(String),
    /// A transfer that failed.
    OnFail,
    /// A captured variable was filled by an answer no intent route took (`on_slot:`).
    Slot(String),
    /// A flow-wide intent handler (`global:`).
    Global(String),
    /// The abnormal-conversation detector's hand-off.
    Handoff,
}

impl std::fmt::Display for EdgeLabel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EdgeLabel::Next => f.write_str("next"),
            EdgeLabel::Intent(i) => write!(f, "{i}"),
            EdgeLabel::NoMatch => f.write_str("no_match"),
            EdgeLabel::NoInput => f.write_str("no_input"),
            EdgeLabel::Case(n, _) => write!(f, "case {n}"),
            EdgeLabel::Else => f.write_str("else"),
            EdgeLabel::Return(v) => write!(f, "return {v}"),
            EdgeLabel::OnFail => f.write_str("on_fail"),
            EdgeLabel::Slot(v) => write!(f, "filled {v}"),
            EdgeLabel::Global(i) => write!(f, "global {i}"),
            EdgeLabel::Handoff => f.write_str("handoff"),
        }
    }
}

/// One transition of the graph. `from` is `None` for flow-wide edges (global, hand-off),
/// which can fire from any ask node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    /// Source node, or `None` for a flow-wide edge.
    pub from: Option<NodeId>,
    /// Target node.
    pub to: NodeId,
    /// Why it is taken.
    pub label: EdgeLabel,
}

/// Re-prompt handling of an ask node, resolved.
#[derive(Debug, Clone, Default)]
pub struct Retry {
    /// Re-prompts before giving up.
    pub retries: u32,
    /// What to say when re-prompting, per locale (empty: built-in apology + node prompt).
    pub prompt: BTreeMap<Locale, Template>,
    /// Where to go when retries run out.
    pub then: Option<EdgeId>,
}

/// A node as the compiler first resolves it: flat, with every field optional, because a
/// flow with mistakes must still be linted as a whole before it is thrown away. Only a
/// clean draft becomes a typed [`Node`].
#[derive(Debug, Clone)]
struct Draft {
    /// Author's name for the node.
    id: String,
    /// What it does.
    ty: NodeType,
    /// Prompt per locale.
    prompt: BTreeMap<Locale, Template>,
    /// Whether the customer may interrupt the prompt.
    barge_in: bool,
    /// Next edge (say, set).
    next: Option<EdgeId>,
    /// Intent routes (ask).
    on: BTreeMap<String, EdgeId>,
    /// Slots captured into variables (ask).
    capture: Vec<(String, SlotKind)>,
    /// Routes on a filled captured variable (ask).
    on_slot: Vec<(String, EdgeId)>,
    /// Silence handling (ask).
    no_input: Retry,
    /// Not-understood handling (ask).
    no_match: Retry,
    /// Conditional routes (branch).
    cases: Vec<(Expr, EdgeId)>,
    /// Fallback route (branch).
    otherwise: Option<EdgeId>,
    /// Assignments on entry.
    set: Vec<(String, Expr)>,
    /// Sub-dialog (call).
    dialog: Option<String>,
    /// Return routes (call).
    returns: BTreeMap<String, EdgeId>,
    /// Transfer reason (transfer).
    reason: Option<String>,
    /// Route when the transfer fails (transfer).
    on_fail: Option<EdgeId>,
    /// Hang-up outcome (hangup).
    outcome: Option<String>,
    /// Return value (return).
    value: Option<String>,
    /// Compliance event recorded on entry.
    record: Option<String>,
    /// Where the node is written, for runtime messages.
    pos: Pos,
}

/// A flow of drafts, what the lints walk.
#[derive(Debug, Clone)]
struct DraftFlow {
    nodes: Vec<Draft>,
    index: HashMap<String, NodeId>,
    start: NodeId,
    edges: Vec<Edge>,
    global: BTreeMap<String, EdgeId>,
    digressions: BTreeMap<String, String>,
    handoff: Option<EdgeId>,
    currency: Currency,
}

impl DraftFlow {
    fn graph(&self) -> DiGraph<NodeId, EdgeId> {
        let asks: Vec<NodeId> = (0..self.nodes.len())
            .filter(|&i| self.nodes[i].ty == NodeType::Ask)
            .collect();
        edge_graph(self.nodes.len(), &asks, &self.edges)
    }
}

/// The graph of node indices shared by the lints and by tools; flow-wide edges are
/// expanded to start from every ask node, where they can fire.
fn edge_graph(nodes: usize, asks: &[NodeId], edges: &[Edge]) -> DiGraph<NodeId, EdgeId> {
    let mut g = DiGraph::new();
    let idx: Vec<NodeIndex> = (0..nodes).map(|i| g.add_node(i)).collect();
    for (eid, e) in edges.iter().enumerate() {
        match e.from {
            Some(f) => {
                g.add_edge(idx[f], idx[e.to], eid);
            }
            None => {
                for &a in asks {
                    g.add_edge(idx[a], idx[e.to], eid);
                }
            }
        }
    }
    g
}

/// Index of a flow in the library's flow table ([`crate::scenario::library::Library::flow_at`]):
/// how a `call` node or a digression names its dialog, so the engine never looks a flow
/// up by name on a live call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlowId(pub usize);

/// Index of a value in a dialog's `returns:` list: what a `return` node hands back and
/// what the caller's `call` node routes on, compared as a number rather than as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReturnId(pub usize);

/// What an `ask` node needs: routes on what the customer said, and what to do when they
/// say nothing or nothing understood.
#[derive(Debug, Clone)]
pub struct Ask {
    /// Intent routes.
    pub on: BTreeMap<IntentId, EdgeId>,
    /// Slots captured into variables.
    pub capture: Vec<(VarId, SlotKind)>,
    /// Routes on a filled captured variable, tried in order.
    pub on_slot: Vec<(VarId, EdgeId)>,
    /// Silence handling.
    pub no_input: Retry,
    /// Not-understood handling.
    pub no_match: Retry,
}

/// What a node does, with exactly the fields that kind of node has: the engine matches on
/// it and never meets a half-filled node.
#[derive(Debug, Clone)]
pub enum NodeKind {
    /// Speak, then follow `next`.
    Say {
        /// The only way on.
        next: EdgeId,
    },
    /// Assign (the node's `set`), then follow `next`.
    Set {
        /// The only way on.
        next: EdgeId,
    },
    /// Speak and listen.
    Ask(Ask),
    /// Route on conditions.
    Branch {
        /// Conditions tried in order.
        cases: Vec<(Expr, EdgeId)>,
        /// Taken when no condition holds.
        otherwise: EdgeId,
    },
    /// Run a sub-dialog and route on what it returns.
    Call {
        /// The dialog, resolved.
        dialog: FlowId,
        /// The dialog's id, for drawings and messages.
        dialog_name: String,
        /// Route per value the dialog can return, indexed by [`ReturnId`].
        returns: Vec<EdgeId>,
    },
    /// Hand the call to a human.
    Transfer {
        /// Reason code for the agent's screen pop and reports.
        reason: String,
        /// Where to go when the transfer fails; without it the call ends.
        on_fail: Option<EdgeId>,
    },
    /// End the call.
    Hangup {
        /// Outcome for the dialer's retry policy and reports.
        outcome: String,
    },
    /// Leave a dialog with a value.
    Return {
        /// Index in the dialog's `returns:` list.
        value: ReturnId,
    },
}

/// A compiled node: what every kind shares, and its kind.
#[derive(Debug, Clone)]
pub struct Node {
    /// Author's name for the node (prompt ids and test expectations use it).
    pub id: String,
    /// Prompt per locale.
    pub prompt: BTreeMap<Locale, Template>,
    /// Whether the customer may interrupt the prompt.
    pub barge_in: bool,
    /// Assignments on entry.
    pub set: Vec<(VarId, Expr)>,
    /// Compliance event recorded on entry.
    pub record: Option<String>,
    /// Where the node is written, for runtime messages.
    pub pos: Pos,
    /// What it does.
    pub kind: NodeKind,
}

impl Node {
    /// The YAML `type:` of the node, for drawings and catalogues.
    pub fn ty(&self) -> NodeType {
        match self.kind {
            NodeKind::Say { .. } => NodeType::Say,
            NodeKind::Set { .. } => NodeType::Set,
            NodeKind::Ask(_) => NodeType::Ask,
            NodeKind::Branch { .. } => NodeType::Branch,
            NodeKind::Call { .. } => NodeType::Call,
            NodeKind::Transfer { .. } => NodeType::Transfer,
            NodeKind::Hangup { .. } => NodeType::Hangup,
            NodeKind::Return { .. } => NodeType::Return,
        }
    }
}

/// A compiled, lint-clean scenario or sub-dialog: typed nodes, and every reference
/// (nodes, dialogs, return values) an index.
#[derive(Debug, Clone)]
pub struct Flow {
    /// The YAML as written (metadata, variables, intents).
    pub spec: FlowFile,
    /// File it came from.
    pub file: PathBuf,
    /// This flow's place in the library's flow table.
    pub flow_id: FlowId,
    /// Nodes in a stable order (sorted by id).
    pub nodes: Vec<Node>,
    /// First node.
    pub start: NodeId,
    /// Every transition, for coverage.
    pub edges: Vec<Edge>,
    /// Flow-wide intent handlers.
    pub global: BTreeMap<IntentId, EdgeId>,
    /// Flow-wide digressions: intent -> dialog run before resuming the interrupted question.
    pub digressions: BTreeMap<IntentId, FlowId>,
    /// The hand-off edge, when the flow has a hand-off node.
    pub handoff: Option<EdgeId>,
    /// Currency amounts are spoken in.
    pub currency: Currency,
    /// Declared type of each variable this flow declares, indexed by [`VarId`].
    pub var_types: Vec<Option<VarType>>,
}

impl Flow {
    /// The flow's id.
    pub fn id(&self) -> &str {
        &self.spec.id
    }

    /// Declared type of a variable, if declared.
    pub fn var_type(&self, name: &str) -> Option<VarType> {
        self.spec.variables.get(name).map(|v| v.ty)
    }

    /// Declared type of a variable by number, if this flow declares it.
    pub fn var_type_of(&self, var: VarId) -> Option<VarType> {
        self.var_types.get(var.0 as usize).copied().flatten()
    }

    /// The name of a value this dialog returns.
    pub fn return_name(&self, value: ReturnId) -> &str {
        self.spec
            .returns
            .get(value.0)
            .map(String::as_str)
            .unwrap_or_default()
    }

    /// A graph of node indices for analysis and drawing; flow-wide edges are expanded to
    /// start from every ask node.
    pub fn graph(&self) -> DiGraph<NodeId, EdgeId> {
        let asks: Vec<NodeId> = (0..self.nodes.len())
            .filter(|&i| matches!(self.nodes[i].kind, NodeKind::Ask(_)))
            .collect();
        edge_graph(self.nodes.len(), &asks, &self.edges)
    }
}

/// What the compiler needs to know about the rest of the library.
pub struct LibraryView<'a> {
    /// Shared intent names (from `dialogs/intents.yaml`).
    pub shared_intents: &'a BTreeSet<String>,
    /// Sub-dialogs by id.
    pub dialogs: &'a HashMap<String, &'a FlowFile>,
    /// Every flow's place in the library's flow table, so references compile to indices.
    pub flow_ids: &'a HashMap<String, FlowId>,
    /// Every intent's number, shared with the NLUs, so intent routes compile to ids.
    pub intent_ids: &'a BTreeMap<String, IntentId>,
    /// Every variable's number (all flows' declarations, `identity_verified`, `today`).
    pub var_ids: &'a BTreeMap<String, VarId>,
}

/// Compile one flow; returns the flow only when there is no error.
pub fn compile(
    src: &SourceFile,
    spec: &FlowFile,
    lib: &LibraryView<'_>,
) -> (Option<Flow>, Vec<Diagnostic>) {
    let mut c = Compiler {
        src,
        spec,
        lib,
        diags: Vec::new(),
        edges: Vec::new(),
        broken: HashSet::new(),
    };
    let flow = c.run();
    let has_error = c.diags.iter().any(|d| d.is_error());
    let mut diags = c.diags;
    diags.sort_by(|a, b| (a.line, a.col, a.code).cmp(&(b.line, b.col, b.code)));
    (if has_error { None } else { flow }, diags)
}

struct Compiler<'a> {
    src: &'a SourceFile,
    spec: &'a FlowFile,
    lib: &'a LibraryView<'a>,
    diags: Vec<Diagnostic>,
    edges: Vec<Edge>,
    /// Nodes with a reference or required field already reported, so the structural
    /// lints do not pile a second message on the same mistake.
    broken: HashSet<String>,
}

impl<'a> Compiler<'a> {
    fn err(&mut self, pos: Pos, code: &'static str, msg: String) {
        self.diags
            .push(Diagnostic::error(&self.src.path, pos, code, msg));
    }
    fn warn(&mut self, pos: Pos, code: &'static str, msg: String) {
        self.diags
            .push(Diagnostic::warning(&self.src.path, pos, code, msg));
    }
    fn vpos(&self, path: &[&str]) -> Pos {
        self.src.value_pos(path)
    }
    fn kpos(&self, path: &[&str]) -> Pos {
        self.src.key_pos(path)
    }

    /// Position of a character inside a string value, accounting for an opening quote.
    /// Exact for single-line scalars, which is what prompts and conditions are.
    fn at_offset(&self, path: &[&str], offset: usize) -> Pos {
        let p = self.vpos(path);
        let quoted = self
            .src
            .text
            .lines()
            .nth(p.line.saturating_sub(1))
            .and_then(|l| l.chars().nth(p.col.saturating_sub(1)))
            .is_some_and(|c| c == '"' || c == '\'');
        Pos {
            line: p.line,
            col: p.col + offset + usize::from(quoted),
        }
    }

    fn known_intent(&self, name: &str) -> bool {
        self.lib.shared_intents.contains(name) || self.spec.intents.contains_key(name)
    }

    fn all_intents(&self) -> BTreeSet<String> {
        let mut s: BTreeSet<String> = self.lib.shared_intents.clone();
        s.extend(self.spec.intents.keys().cloned());
        s
    }

    fn currency(&mut self) -> Currency {
        match &self.spec.currency {
            None => Currency::default_for(*self.spec.locales.first().unwrap_or(&Locale::ZhCn)),
            Some(code) => match Currency::from_code(code) {
                Some(c) => c,
                None => {
                    let p = self.vpos(&["currency"]);
                    self.err(
                        p,
                        "unknown-currency",
                        format!("currency `{code}` is not supported (use CNY or USD)"),
                    );
                    Currency::Cny
                }
            },
        }
    }

    fn run(&mut self) -> Option<Flow> {
        let spec = self.spec;
        let currency = self.currency();
        if spec.locales.is_empty() {
            let p = self.vpos(&["locales"]);
            self.err(
                p,
                "no-locale",
                "list at least one locale, e.g. [zh-CN, en-US]".into(),
            );
        }
        self.check_flow_metadata();
        let ids: Vec<&String> = spec.nodes.keys().collect();
        let index: HashMap<String, NodeId> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| ((*id).clone(), i))
            .collect();
        let start = match index.get(&spec.start) {
            Some(s) => Some(*s),
            None => {
                let p = self.vpos(&["start"]);
                let hint = suggest(&spec.start, spec.nodes.keys());
                self.err(
                    p,
                    "unknown-node",
                    format!("the start node `{}` does not exist{hint}", spec.start),
                );
                None
            }
        };
        let mut nodes = Vec::with_capacity(ids.len());
        for (i, (id, ns)) in spec.nodes.iter().enumerate() {
            nodes.push(self.node(i, id, ns, &index));
        }
        let (global, digressions) = self.global(&index);
        let handoff = self.handoff(&index);
        let start = start?;
        let draft = DraftFlow {
            nodes,
            index,
            start,
            edges: std::mem::take(&mut self.edges),
            global,
            digressions,
            handoff,
            currency,
        };
        self.structure(&draft);
        self.identity_before_debt(&draft);
        self.unhandled_intents(&draft);
        if self.diags.iter().any(Diagnostic::is_error) {
            return None;
        }
        self.finish(draft)
    }

    /// Turn a lint-clean draft into the typed flow. Every required field was checked with
    /// a diagnostic before, so a gap here is a compiler bug, reported as such rather than
    /// left for a live call to trip over.
    fn finish(&mut self, draft: DraftFlow) -> Option<Flow> {
        let Some(&own_id) = self.lib.flow_ids.get(&self.spec.id) else {
            let p = self.vpos(&["id"]);
            self.err(
                p,
                "internal",
                format!(
                    "flow `{}` has no place in the library's flow table; please report this",
                    self.spec.id
                ),
            );
            return None;
        };
        let mut nodes = Vec::with_capacity(draft.nodes.len());
        for d in draft.nodes {
            let set = d
                .set
                .iter()
                .map(|(name, e)| Some((*self.lib.var_ids.get(name)?, e.clone())))
                .collect::<Option<Vec<_>>>();
            match (self.typed_kind(&d), set) {
                (Some(kind), Some(set)) => nodes.push(Node {
                    id: d.id,
                    prompt: d.prompt,
                    barge_in: d.barge_in,
                    set,
                    record: d.record,
                    pos: d.pos,
                    kind,
                }),
                _ => {
                    self.err(
                        d.pos,
                        "internal",
                        format!("node `{}` could not be compiled although no mistake was found in it; please report this", d.id),
                    );
                    return None;
                }
            }
        }
        let mut digressions = BTreeMap::new();
        for (intent, dialog) in draft.digressions {
            let Some(&flow) = self.lib.flow_ids.get(&dialog) else {
                let p = self.vpos(&["global", &intent, "dialog"]);
                self.err(p, "internal", format!("dialog `{dialog}` has no place in the library's flow table; please report this"));
                return None;
            };
            digressions.insert(self.intent_id(&intent, &["global", &intent])?, flow);
        }
        let mut var_types = vec![None; self.lib.var_ids.len()];
        for (name, spec) in &self.spec.variables {
            if let Some(slot) = self
                .lib
                .var_ids
                .get(name)
                .and_then(|id| var_types.get_mut(id.0 as usize))
            {
                *slot = Some(spec.ty);
            }
        }
        let mut global = BTreeMap::new();
        for (intent, edge) in draft.global {
            global.insert(self.intent_id(&intent, &["global", &intent])?, edge);
        }
        Some(Flow {
            spec: self.spec.clone(),
            file: self.src.path.clone(),
            flow_id: own_id,
            nodes,
            start: draft.start,
            edges: draft.edges,
            global,
            digressions,
            handoff: draft.handoff,
            currency: draft.currency,
            var_types,
        })
    }

    /// The id of an intent the lints already found known; a gap is a compiler bug.
    fn intent_id(&mut self, name: &str, path: &[&str]) -> Option<IntentId> {
        let id = self.lib.intent_ids.get(name).copied();
        if id.is_none() {
            let p = self.kpos(path);
            self.err(p, "internal", format!("intent `{name}` has no number in the library's intent table; please report this"));
        }
        id
    }

    fn typed_kind(&mut self, d: &Draft) -> Option<NodeKind> {
        Some(match d.ty {
            NodeType::Say => NodeKind::Say { next: d.next? },
            NodeType::Set => NodeKind::Set { next: d.next? },
            NodeType::Ask => NodeKind::Ask(Ask {
                on: d
                    .on
                    .iter()
                    .map(|(intent, e)| {
                        Some((self.intent_id(intent, &["nodes", &d.id, "on", intent])?, *e))
                    })
                    .collect::<Option<BTreeMap<IntentId, EdgeId>>>()?,
                capture: d
                    .capture
                    .iter()
                    .map(|(v, k)| Some((*self.lib.var_ids.get(v)?, *k)))
                    .collect::<Option<Vec<_>>>()?,
                on_slot: d
                    .on_slot
                    .iter()
                    .map(|(v, e)| Some((*self.lib.var_ids.get(v)?, *e)))
                    .collect::<Option<Vec<_>>>()?,
                no_input: d.no_input.clone(),
                no_match: d.no_match.clone(),
            }),
            NodeType::Branch => NodeKind::Branch {
                cases: d.cases.clone(),
                otherwise: d.otherwise?,
            },
            NodeType::Call => {
                let name = d.dialog.clone()?;
                let dialog = self.lib.dialogs.get(&name)?;
                let returns = dialog
                    .returns
                    .iter()
                    .map(|v| d.returns.get(v).copied())
                    .collect::<Option<Vec<EdgeId>>>()?;
                NodeKind::Call {
                    dialog: *self.lib.flow_ids.get(&name)?,
                    dialog_name: name,
                    returns,
                }
            }
            NodeType::Transfer => NodeKind::Transfer {
                reason: d.reason.clone()?,
                on_fail: d.on_fail,
            },
            NodeType::Hangup => NodeKind::Hangup {
                outcome: d.outcome.clone()?,
            },
            NodeType::Return => {
                let value = d.value.as_deref()?;
                NodeKind::Return {
                    value: ReturnId(self.spec.returns.iter().position(|v| v == value)?),
                }
            }
        })
    }

    fn check_flow_metadata(&mut self) {
        let spec = self.spec;
        for l in &spec.locales {
            if spec.kind == FlowKind::Scenario && !spec.title.contains_key(l) {
                let p = self.kpos(&["title"]);
                self.warn(p, "missing-title", format!("the title has no {l} text"));
            }
        }
        if spec.kind == FlowKind::Dialog && spec.returns.is_empty() {
            let p = self.kpos(&["id"]);
            self.err(
                p,
                "no-returns",
                "a dialog must list the values it can return under `returns:`".into(),
            );
        }
        if spec.kind == FlowKind::Scenario && !spec.returns.is_empty() {
            let p = self.kpos(&["returns"]);
            self.err(
                p,
                "unexpected-field",
                "`returns:` is only for dialogs (kind: dialog)".into(),
            );
        }
        for (name, intent) in &spec.intents {
            for l in &spec.locales {
                if intent.examples.get(l).is_none_or(|e| e.is_empty()) {
                    let p = self.kpos(&["intents", name]);
                    self.err(
                        p,
                        "missing-examples",
                        format!("intent `{name}` has no {l} examples; the bot could never recognise it in {l}"),
                    );
                }
            }
            if self.lib.shared_intents.contains(name) {
                let p = self.kpos(&["intents", name]);
                self.warn(
                    p,
                    "shadowed-intent",
                    format!("intent `{name}` is already in the shared library; its examples are added to the shared ones"),
                );
            }
        }
    }

    fn edge(
        &mut self,
        from: Option<NodeId>,
        target: &str,
        label: EdgeLabel,
        path: &[&str],
        index: &HashMap<String, NodeId>,
    ) -> Option<EdgeId> {
        match index.get(target) {
            Some(&to) => {
                self.edges.push(Edge { from, to, label });
                Some(self.edges.len() - 1)
            }
            None => {
                if path.first() == Some(&"nodes") {
                    if let Some(n) = path.get(1) {
                        self.broken.insert((*n).to_string());
                    }
                }
                let p = self.vpos(path);
                let hint = suggest(target, self.spec.nodes.keys());
                self.err(
                    p,
                    "unknown-node",
                    format!("there is no node called `{target}`{hint}"),
                );
                None
            }
        }
    }

    fn prompts(
        &mut self,
        text: &BTreeMap<Locale, String>,
        path: &[&str],
        required: bool,
    ) -> BTreeMap<Locale, Template> {
        let mut out = BTreeMap::new();
        for l in self.spec.locales.clone() {
            if required && !text.contains_key(&l) {
                let p = self.kpos(path);
                self.err(p, "missing-prompt", format!("this prompt has no {l} text"));
            }
        }
        for (l, t) in text {
            let mut lp: Vec<&str> = path.to_vec();
            lp.push(l.tag());
            if !self.spec.locales.contains(l) {
                let p = self.kpos(&lp);
                self.warn(
                    p,
                    "extra-locale",
                    format!(
                        "{l} text is never used: the flow's locales are {:?}",
                        self.spec
                            .locales
                            .iter()
                            .map(|l| l.tag())
                            .collect::<Vec<_>>()
                    ),
                );
            }
            if t.trim().is_empty() {
                let p = self.vpos(&lp);
                self.err(p, "empty-prompt", format!("the {l} prompt is empty"));
                continue;
            }
            match Template::parse(t) {
                Ok(mut tpl) => {
                    tpl.resolve(&|name| self.lib.var_ids.get(name).copied());
                    for v in tpl.variables() {
                        if !self.spec.variables.contains_key(v) {
                            let offset = t
                                .find(&format!("{{{v}"))
                                .map(|b| t[..b].chars().count())
                                .unwrap_or(0);
                            let p = self.at_offset(&lp, offset);
                            let hint = suggest(v, self.spec.variables.keys());
                            self.err(
                                p,
                                "unknown-variable",
                                format!("the prompt uses `{{{v}}}` but no variable `{v}` is declared under `variables:`{hint}"),
                            );
                        }
                    }
                    out.insert(*l, tpl);
                }
                Err(e) => {
                    let p = self.at_offset(&lp, e.offset);
                    self.err(p, "bad-template", e.message);
                }
            }
        }
        out
    }

    fn expr(&mut self, text: &str, path: &[&str]) -> Option<Expr> {
        match Expr::parse(text) {
            Ok(mut e) => {
                e.resolve(&|name| self.lib.var_ids.get(name).copied());
                for v in e.variables() {
                    if !self.spec.variables.contains_key(v) && v != "today" {
                        let p = self.vpos(path);
                        let hint = suggest(v, self.spec.variables.keys());
                        self.err(
                            p,
                            "unknown-variable",
                            format!(
                                "the condition uses `{v}` but no such variable is declared{hint}"
                            ),
                        );
                    }
                }
                Some(e)
            }
            Err(e) => {
                let p = self.at_offset(path, e.offset);
                self.err(
                    p,
                    "bad-expression",
                    format!("cannot read the condition: {}", e.message),
                );
                None
            }
        }
    }

    fn retry(
        &mut self,
        nid: NodeId,
        id: &str,
        spec: &Option<RetrySpec>,
        field: &str,
        label: EdgeLabel,
        index: &HashMap<String, NodeId>,
    ) -> Retry {
        let Some(r) = spec else {
            return Retry {
                retries: 1,
                ..Retry::default()
            };
        };
        let prompt = match &r.prompt {
            Some(p) => self.prompts(p, &["nodes", id, field, "prompt"], true),
            None => BTreeMap::new(),
        };
        let then = r
            .then
            .as_ref()
            .and_then(|t| self.edge(Some(nid), t, label, &["nodes", id, field, "then"], index));
        Retry {
            retries: r.retries,
            prompt,
            then,
        }
    }

    fn node(
        &mut self,
        nid: NodeId,
        id: &str,
        ns: &NodeSpec,
        index: &HashMap<String, NodeId>,
    ) -> Draft {
        let np = self.kpos(&["nodes", id]);
        self.fields_for_type(id, ns);
        let ty = ns.ty;
        let prompt_required = matches!(ty, NodeType::Say | NodeType::Ask);
        let prompt = match &ns.prompt {
            Some(p) => self.prompts(p, &["nodes", id, "prompt"], true),
            None => {
                if prompt_required {
                    self.err(
                        np,
                        "missing-field",
                        format!("{} node `{id}` needs a `prompt:`", type_name(ty)),
                    );
                }
                BTreeMap::new()
            }
        };
        let mut set = Vec::new();
        for (var, e) in &ns.set {
            if !self.spec.variables.contains_key(var) && var != IDENTITY_VERIFIED {
                let p = self.kpos(&["nodes", id, "set", var]);
                self.err(
                    p,
                    "unknown-variable",
                    format!("`set:` assigns `{var}`, which is not declared under `variables:`"),
                );
            }
            if let Some(ex) = self.expr(&e.0, &["nodes", id, "set", var]) {
                set.push((var.clone(), ex));
            }
        }
        let next = ns
            .next
            .as_ref()
            .and_then(|t| self.edge(Some(nid), t, EdgeLabel::Next, &["nodes", id, "next"], index));
        let mut on = BTreeMap::new();
        for (intent, target) in &ns.on {
            if !self.known_intent(intent) {
                let p = self.kpos(&["nodes", id, "on", intent]);
                let all = self.all_intents();
                let hint = suggest(intent, all.iter());
                self.err(
                    p,
                    "unknown-intent",
                    format!(
                        "`{intent}` is not an intent of the shared library or of this flow{hint}"
                    ),
                );
                self.broken.insert(id.to_string());
                continue;
            }
            if let Some(e) = self.edge(
                Some(nid),
                target,
                EdgeLabel::Intent(intent.clone()),
                &["nodes", id, "on", intent],
                index,
            ) {
                on.insert(intent.clone(), e);
            }
        }
        let mut capture = Vec::new();
        for (var, kind) in &ns.capture {
            match self.spec.variables.get(var) {
                None => {
                    let p = self.kpos(&["nodes", id, "capture", var]);
                    self.err(p, "unknown-variable", format!("`capture:` fills `{var}`, which is not declared under `variables:` (declare it with `source: call`)"));
                }
                Some(v) => {
                    let fits = matches!(
                        (kind, v.ty),
                        (SlotKind::Date, VarType::Date)
                            | (SlotKind::Amount, VarType::Amount)
                            | (SlotKind::PhoneTail, VarType::PhoneTail)
                            | (SlotKind::YesNo, VarType::Bool)
                            | (SlotKind::DurationDays, VarType::Integer)
                    );
                    if !fits {
                        let p = self.vpos(&["nodes", id, "capture", var]);
                        self.err(
                            p,
                            "capture-type",
                            format!(
                                "`{var}` is declared as {:?} but captures a {:?} slot",
                                v.ty, kind
                            ),
                        );
                    }
                    capture.push((var.clone(), *kind));
                }
            }
        }
        let mut on_slot = Vec::new();
        for (var, target) in &ns.on_slot {
            if !ns.capture.contains_key(var) {
                let p = self.kpos(&["nodes", id, "on_slot", var]);
                self.err(
                    p,
                    "unknown-variable",
                    format!("`on_slot:` names `{var}`, which this node does not `capture:`"),
                );
                continue;
            }
            if let Some(e) = self.edge(
                Some(nid),
                target,
                EdgeLabel::Slot(var.clone()),
                &["nodes", id, "on_slot", var],
                index,
            ) {
                on_slot.push((var.clone(), e));
            }
        }
        let no_input = self.retry(nid, id, &ns.no_input, "no_input", EdgeLabel::NoInput, index);
        let no_match = self.retry(nid, id, &ns.no_match, "no_match", EdgeLabel::NoMatch, index);
        let mut cases = Vec::new();
        for (i, case) in ns.cases.iter().enumerate() {
            let is = i.to_string();
            let ex = self.expr(&case.when, &["nodes", id, "cases", &is, "when"]);
            let e = self.edge(
                Some(nid),
                &case.goto,
                EdgeLabel::Case(i + 1, case.when.clone()),
                &["nodes", id, "cases", &is, "goto"],
                index,
            );
            if let (Some(ex), Some(e)) = (ex, e) {
                cases.push((ex, e));
            }
        }
        let otherwise = ns
            .otherwise
            .as_ref()
            .and_then(|t| self.edge(Some(nid), t, EdgeLabel::Else, &["nodes", id, "else"], index));
        let mut returns = BTreeMap::new();
        if let Some(d) = &ns.dialog {
            match self.lib.dialogs.get(d) {
                None => {
                    let p = self.vpos(&["nodes", id, "dialog"]);
                    let hint = suggest(d, self.lib.dialogs.keys());
                    self.err(
                        p,
                        "unknown-dialog",
                        format!("there is no dialog `{d}` in dialogs/{hint}"),
                    );
                }
                Some(dialog) => {
                    for v in &dialog.returns {
                        if !ns.returns.contains_key(v) {
                            let p = self.kpos(&["nodes", id, "returns"]);
                            self.err(p, "unrouted-return", format!("dialog `{d}` can return `{v}` but this node does not say where to go then (add `{v}: <node>` under `returns:`)"));
                        }
                    }
                    for (var, vs) in &dialog.variables {
                        if vs.source == super::model::VarSource::Campaign
                            && vs.required
                            && !self.spec.variables.contains_key(var)
                        {
                            let p = self.vpos(&["nodes", id, "dialog"]);
                            self.err(p, "missing-variable", format!("dialog `{d}` needs variable `{var}`; declare it under `variables:`"));
                        }
                    }
                    for v in ns.returns.keys() {
                        if !dialog.returns.contains(v) {
                            let p = self.kpos(&["nodes", id, "returns", v]);
                            self.err(
                                p,
                                "unknown-return",
                                format!(
                                    "dialog `{d}` never returns `{v}` (it returns: {})",
                                    dialog.returns.join(", ")
                                ),
                            );
                        }
                    }
                }
            }
        }
        for (v, target) in &ns.returns {
            if let Some(e) = self.edge(
                Some(nid),
                target,
                EdgeLabel::Return(v.clone()),
                &["nodes", id, "returns", v],
                index,
            ) {
                returns.insert(v.clone(), e);
            }
        }
        let on_fail = ns.on_fail.as_ref().and_then(|t| {
            self.edge(
                Some(nid),
                t,
                EdgeLabel::OnFail,
                &["nodes", id, "on_fail"],
                index,
            )
        });
        if ty == NodeType::Hangup {
            if let Some(o) = &ns.outcome {
                if self.spec.kind == FlowKind::Scenario && !self.spec.outcomes.contains(o) {
                    let p = self.vpos(&["nodes", id, "outcome"]);
                    self.err(
                        p,
                        "unknown-outcome",
                        format!(
                            "outcome `{o}` is not listed under `outcomes:` at the top of the file"
                        ),
                    );
                }
            }
        }
        if ty == NodeType::Return {
            if let Some(v) = &ns.value {
                if !self.spec.returns.contains(v) {
                    let p = self.vpos(&["nodes", id, "value"]);
                    self.err(
                        p,
                        "unknown-return",
                        format!("`{v}` is not listed under `returns:` at the top of the file"),
                    );
                }
            }
            if self.spec.kind == FlowKind::Scenario {
                self.err(
                    np,
                    "unexpected-field",
                    "a scenario cannot `return`; end it with `hangup` or `transfer`".into(),
                );
            }
        }
        Draft {
            id: id.to_string(),
            ty,
            prompt,
            barge_in: ns.barge_in.unwrap_or(true),
            next,
            on,
            capture,
            on_slot,
            no_input,
            no_match,
            cases,
            otherwise,
            set,
            dialog: ns.dialog.clone(),
            returns,
            reason: ns.reason.clone(),
            on_fail,
            outcome: ns.outcome.clone(),
            value: ns.value.clone(),
            record: ns.record.clone(),
            pos: np,
        }
    }

    /// Fields that a node type needs and fields it would silently ignore.
    fn fields_for_type(&mut self, id: &str, ns: &NodeSpec) {
        use NodeType::*;
        let ty = ns.ty;
        let present: [(&str, bool, &[NodeType]); 14] = [
            ("next", ns.next.is_some(), &[Say, Set]),
            ("on", !ns.on.is_empty(), &[Ask]),
            ("capture", !ns.capture.is_empty(), &[Ask]),
            ("on_slot", !ns.on_slot.is_empty(), &[Ask]),
            ("no_input", ns.no_input.is_some(), &[Ask]),
            ("no_match", ns.no_match.is_some(), &[Ask]),
            ("cases", !ns.cases.is_empty(), &[Branch]),
            ("else", ns.otherwise.is_some(), &[Branch]),
            ("dialog", ns.dialog.is_some(), &[Call]),
            ("returns", !ns.returns.is_empty(), &[Call]),
            ("reason", ns.reason.is_some(), &[Transfer]),
            ("on_fail", ns.on_fail.is_some(), &[Transfer]),
            ("outcome", ns.outcome.is_some(), &[Hangup]),
            ("value", ns.value.is_some(), &[Return]),
        ];
        for (field, is_there, allowed) in present {
            if is_there && !allowed.contains(&ty) {
                let p = self.kpos(&["nodes", id, field]);
                self.err(
                    p,
                    "unexpected-field",
                    format!("`{field}:` does nothing on a {} node", type_name(ty)),
                );
            }
        }
        let required: &[(&str, bool)] = match ty {
            Say | Set => &[("next", ns.next.is_some())],
            Ask => &[("on", !ns.on.is_empty())],
            Branch => &[("else", ns.otherwise.is_some())],
            Call => &[("dialog", ns.dialog.is_some())],
            Transfer => &[("reason", ns.reason.is_some())],
            Hangup => &[("outcome", ns.outcome.is_some())],
            Return => &[("value", ns.value.is_some())],
        };
        for (field, ok) in required {
            if !ok {
                let p = self.kpos(&["nodes", id]);
                self.broken.insert(id.to_string());
                if matches!(*field, "next" | "on" | "else") {
                    self.err(p, "dead-end", format!("{} node `{id}` needs `{field}:`: without it the call has nowhere to go and would hang in silence", type_name(ty)));
                } else {
                    self.err(
                        p,
                        "missing-field",
                        format!("{} node `{id}` needs `{field}:`", type_name(ty)),
                    );
                }
            }
        }
        if ty == Set && ns.set.is_empty() {
            let p = self.kpos(&["nodes", id]);
            self.warn(p, "empty-set", format!("set node `{id}` assigns nothing"));
        }
        if ty == Branch && ns.cases.is_empty() {
            let p = self.kpos(&["nodes", id]);
            self.warn(
                p,
                "empty-branch",
                format!("branch node `{id}` has no `cases:`; it always goes to `else`"),
            );
        }
        if ty == Say && ns.barge_in == Some(false) && ns.prompt.is_none() {
            let p = self.kpos(&["nodes", id, "barge_in"]);
            self.warn(
                p,
                "useless-field",
                "`barge_in: false` without a prompt does nothing".into(),
            );
        }
    }

    fn global(
        &mut self,
        index: &HashMap<String, NodeId>,
    ) -> (BTreeMap<String, EdgeId>, BTreeMap<String, String>) {
        let mut out = BTreeMap::new();
        let mut digressions = BTreeMap::new();
        for (intent, route) in &self.spec.global {
            if !self.known_intent(intent) {
                let p = self.kpos(&["global", intent]);
                let all = self.all_intents();
                let hint = suggest(intent, all.iter());
                self.err(
                    p,
                    "unknown-intent",
                    format!(
                        "`{intent}` is not an intent of the shared library or of this flow{hint}"
                    ),
                );
                continue;
            }
            match route {
                super::model::GlobalRoute::Node(target) => {
                    if let Some(e) = self.edge(
                        None,
                        target,
                        EdgeLabel::Global(intent.clone()),
                        &["global", intent],
                        index,
                    ) {
                        out.insert(intent.clone(), e);
                    }
                }
                super::model::GlobalRoute::Digression { dialog } => {
                    if self.lib.dialogs.contains_key(dialog) {
                        digressions.insert(intent.clone(), dialog.clone());
                    } else {
                        let p = self.vpos(&["global", intent, "dialog"]);
                        let hint = suggest(dialog, self.lib.dialogs.keys());
                        self.err(
                            p,
                            "unknown-dialog",
                            format!("there is no dialog `{dialog}` in dialogs/{hint}"),
                        );
                    }
                }
            }
        }
        (out, digressions)
    }

    fn handoff(&mut self, index: &HashMap<String, NodeId>) -> Option<EdgeId> {
        match &self.spec.handoff.node {
            Some(t) => {
                let e = self.edge(None, t, EdgeLabel::Handoff, &["handoff", "node"], index)?;
                let to = self.edges[e].to;
                let ty = self.spec.nodes.values().nth(to).map(|n| n.ty);
                if !matches!(
                    ty,
                    Some(NodeType::Transfer | NodeType::Say | NodeType::Call)
                ) {
                    let p = self.vpos(&["handoff", "node"]);
                    self.warn(p, "handoff-target", format!("the hand-off node `{t}` should be a transfer node (or a say or call node leading to one)"));
                }
                Some(e)
            }
            None => {
                if self.spec.kind == FlowKind::Scenario {
                    let p = self.kpos(&["id"]);
                    self.warn(p, "no-handoff", "no `handoff: {node: ...}`: abnormal conversations (abuse, complaints, requests for a human) will end the call instead of reaching a human".into());
                }
                None
            }
        }
    }

    /// Unreachable nodes, dead ends and loops without exit.
    fn structure(&mut self, flow: &DraftFlow) {
        let g = flow.graph();
        let start = NodeIndex::new(flow.start);
        let mut seen = vec![false; flow.nodes.len()];
        let mut dfs = petgraph::visit::Dfs::new(&g, start);
        while let Some(n) = dfs.next(&g) {
            seen[n.index()] = true;
        }
        for (i, n) in flow.nodes.iter().enumerate() {
            if !seen[i] {
                self.warn(
                    n.pos,
                    "unreachable",
                    format!(
                        "node `{}` can never be reached from the start node `{}`",
                        n.id, flow.nodes[flow.start].id
                    ),
                );
            }
        }
        let terminal = |n: &Draft| {
            matches!(
                n.ty,
                NodeType::Hangup | NodeType::Transfer | NodeType::Return
            )
        };
        for n in &flow.nodes {
            let outgoing = g.neighbors(NodeIndex::new(flow.index[&n.id])).count();
            if outgoing == 0 && !terminal(n) && !self.broken.contains(&n.id) {
                self.err(n.pos, "dead-end", format!("node `{}` leads nowhere: the call would hang in silence. Give it somewhere to go, or end with hangup/transfer", n.id));
            }
        }
        for scc in petgraph::algo::tarjan_scc(&g) {
            let members: HashSet<usize> = scc.iter().map(|n| n.index()).collect();
            let cyclic = scc.len() > 1 || scc.first().is_some_and(|n| g.contains_edge(*n, *n));
            if !cyclic {
                continue;
            }
            let exits = scc.iter().any(|n| {
                terminal(&flow.nodes[n.index()])
                    || flow.nodes[n.index()].ty == NodeType::Ask
                        && (flow.nodes[n.index()].no_match.then.is_none() || flow.handoff.is_some())
                    || g.neighbors(*n).any(|m| !members.contains(&m.index()))
            });
            if !exits {
                let mut names: Vec<&str> = scc
                    .iter()
                    .map(|n| flow.nodes[n.index()].id.as_str())
                    .collect();
                names.sort();
                let first = flow.nodes[scc.iter().map(|n| n.index()).min().unwrap_or(0)].pos;
                self.err(first, "loop-without-exit", format!("nodes {} form a loop with no way out: add a route that leaves the loop or ends the call", names.join(" → ")));
            }
        }
    }

    /// With the `identity_before_debt` tag, no prompt may speak a sensitive variable on a
    /// path from the start that has not passed identity verification.
    fn identity_before_debt(&mut self, flow: &DraftFlow) {
        if !self
            .spec
            .compliance
            .iter()
            .any(|t| t == "identity_before_debt")
        {
            return;
        }
        let sensitive: HashSet<&str> = self
            .spec
            .variables
            .iter()
            .filter(|(_, v)| v.sensitive)
            .map(|(k, _)| k.as_str())
            .collect();
        let sets_verified = |n: &Draft| {
            n.set.iter().any(|(k, e)| {
                k == IDENTITY_VERIFIED
                    && matches!(e, Expr::Lit(crate::scenario::value::Value::Bool(true)))
            })
        };
        let verifying_return = |n: &Draft, label: &EdgeLabel| -> bool {
            let (Some(d), EdgeLabel::Return(v)) = (&n.dialog, label) else {
                return false;
            };
            self.lib.dialogs.get(d).is_some_and(|dlg| {
                dlg.nodes.values().any(|rn| {
                    rn.ty == NodeType::Return
                        && rn.value.as_deref() == Some(v)
                        && rn
                            .set
                            .iter()
                            .any(|(k, e)| k == IDENTITY_VERIFIED && e.0.trim() == "true")
                })
            })
        };
        let g = flow.graph();
        let mut parent: Vec<Option<usize>> = vec![None; flow.nodes.len()];
        let mut seen = vec![false; flow.nodes.len()];
        let mut q = VecDeque::from([flow.start]);
        seen[flow.start] = true;
        let mut reported = false;
        while let Some(i) = q.pop_front() {
            let n = &flow.nodes[i];
            if sets_verified(n) {
                continue;
            }
            let leaks: Vec<&str> = n
                .prompt
                .values()
                .chain(n.no_match.prompt.values())
                .chain(n.no_input.prompt.values())
                .flat_map(|t| t.variables())
                .filter(|v| sensitive.contains(v))
                .collect();
            if let Some(v) = leaks.first() {
                if !reported {
                    let mut path = vec![n.id.as_str()];
                    let mut cur = i;
                    while let Some(p) = parent[cur] {
                        path.push(flow.nodes[p].id.as_str());
                        cur = p;
                    }
                    path.reverse();
                    self.err(n.pos, "identity-before-debt", format!("node `{}` says `{{{v}}}` (sensitive) but can be reached before the customer's identity is verified: {}. Verify identity first (this flow is tagged identity_before_debt)", n.id, path.join(" → ")));
                    reported = true;
                }
                continue;
            }
            for e in g.edges(NodeIndex::new(i)) {
                use petgraph::visit::EdgeRef;
                let label = &flow.edges[*e.weight()].label;
                if verifying_return(n, label) {
                    continue;
                }
                let t = e.target().index();
                if !seen[t] {
                    seen[t] = true;
                    parent[t] = Some(i);
                    q.push_back(t);
                }
            }
        }
    }

    /// Intents a customer may say at an ask node that nothing handles.
    fn unhandled_intents(&mut self, flow: &DraftFlow) {
        if self.spec.kind != FlowKind::Scenario {
            return;
        }
        let handled_anywhere: HashSet<&str> = flow
            .nodes
            .iter()
            .flat_map(|n| n.on.keys().map(|s| s.as_str()))
            .chain(flow.global.keys().map(|s| s.as_str()))
            .chain(flow.digressions.keys().map(|s| s.as_str()))
            .collect();
        for name in self.spec.intents.keys() {
            if !handled_anywhere.contains(name.as_str()) {
                let p = self.kpos(&["intents", name]);
                self.warn(
                    p,
                    "unused-intent",
                    format!("intent `{name}` is declared but no node handles it"),
                );
            }
        }
        for n in &flow.nodes {
            if n.ty != NodeType::Ask {
                continue;
            }
            let missing: Vec<&str> = MUST_HANDLE
                .iter()
                .copied()
                .filter(|i| self.known_intent(i))
                .filter(|i| {
                    !n.on.contains_key(*i)
                        && !flow.global.contains_key(*i)
                        && !flow.digressions.contains_key(*i)
                })
                .filter(|i| !(flow.handoff.is_some() && HANDOFF_INTENTS.contains(i)))
                .collect();
            if !missing.is_empty() {
                self.warn(n.pos, "unhandled-intent", format!("at node `{}` nothing handles what the customer may say: {}. It would be treated as not understood; handle it in `on:` or in `global:`", n.id, missing.join(", ")));
            }
        }
    }
}

fn type_name(t: NodeType) -> &'static str {
    match t {
        NodeType::Say => "say",
        NodeType::Ask => "ask",
        NodeType::Branch => "branch",
        NodeType::Set => "set",
        NodeType::Call => "call",
        NodeType::Transfer => "transfer",
        NodeType::Hangup => "hangup",
        NodeType::Return => "return",
    }
}

/// " (did you mean `x`?)" when a known name is close to a typo.
pub fn suggest<'s>(wrong: &str, known: impl Iterator<Item = &'s String>) -> String {
    // The distance costs the product of the lengths: a name longer than any a person
    // types (a hostile file's 500 KB target) gets no suggestion rather than a hang.
    const LONGEST: usize = 64;
    let len = wrong.chars().count();
    if len > LONGEST {
        return String::new();
    }
    let near = 2.max(len / 4);
    let mut best: Option<(usize, &str)> = None;
    for k in known {
        // The distance is at least the difference in length.
        if k.chars().count().abs_diff(len) > near {
            continue;
        }
        let d = edit_distance(wrong, k);
        if d <= near && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, k));
        }
    }
    best.map(|(_, k)| format!(" (did you mean `{k}`?)"))
        .unwrap_or_default()
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_find_near_names_and_skip_hostile_long_ones() {
        let known = [
            "affirm".to_string(),
            "deny".to_string(),
            "y".repeat(300_000),
        ];
        assert_eq!(suggest("afirm", known.iter()), " (did you mean `affirm`?)");
        assert_eq!(suggest("zzzzzz", known.iter()), "");
        // On main this compared 300,000 characters with 300,000: 9e10 steps.
        assert_eq!(suggest(&"y".repeat(299_999), known.iter()), "");
    }
}
