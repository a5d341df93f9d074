//! The conversation state machine: events in, actions out, no I/O and no clock.
//!
//! Like quinn-proto or str0m, the engine never touches a socket, a timer or an audio
//! device: the caller (terminal chat, test runner, the telephony loop) turns the world into
//! [`Event`]s and carries out the [`Action`]s. Timers are the caller's: the engine asks
//! for `Listen { timeout_ms }` and is told `NoInput` when it expires. Given the same
//! flow, variables, `today` and events, it produces the same actions, byte for byte.

use super::abnormal::{AbnormalDetector, HandoffReason, Verdict};
use crate::language::Locale;
use crate::nlu::{Nlu, Understanding};
use crate::scenario::compile::{EdgeId, Flow, FlowId, NodeId, NodeKind, Retry, IDENTITY_VERIFIED};
use crate::scenario::library::{Library, TODAY};
use crate::scenario::model::SlotKind;
use crate::scenario::template::Template;
use crate::scenario::value::{Value, ValueError, VarId, VarRef};
use chrono::NaiveDate;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// How many nodes may be entered without waiting for the customer before the engine
/// decides the flow is looping (say → branch → say ... forever).
const MAX_STEPS_PER_TURN: usize = 64;
/// How often one node may be entered in a call before it counts as a loop.
const MAX_VISITS_PER_NODE: u32 = 8;

/// Something that happened on the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The customer answered; the bot speaks first.
    Start,
    /// The customer said something (final ASR text, or typed in chat).
    Utterance(String),
    /// The listen timer expired in silence.
    NoInput,
    /// The transfer to a human failed (busy agents, REFER refused, timeout).
    TransferFailed(String),
    /// The transfer completed: the call has left the bot.
    TransferCompleted,
    /// The customer hung up.
    RemoteHangup,
}

/// Something the caller must do.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Speak text. `prompt_id` names the prompt for recorded prompt packs and caches.
    Say {
        /// Node that speaks.
        node: String,
        /// Rendered text.
        text: String,
        /// Prompt id (`flow.node` or `flow.node.no_match`, or `builtin.x`).
        prompt_id: String,
        /// Whether the customer may interrupt.
        barge_in: bool,
        /// No variables: the audio can be cached.
        is_static: bool,
    },
    /// Wait for the customer; report `NoInput` after the timeout.
    Listen {
        /// Node that listens.
        node: String,
        /// Silence timeout.
        timeout_ms: u32,
    },
    /// A variable changed (slot capture or `set`).
    SetVar {
        /// Variable name.
        name: String,
        /// New value.
        value: Value,
    },
    /// Transfer to a human.
    Transfer {
        /// Node that transfers.
        node: String,
        /// Reason code for the agent's screen pop and reports.
        reason: String,
    },
    /// End the call.
    Hangup {
        /// Outcome for the dialer's retry policy and reports.
        outcome: String,
    },
    /// A compliance-relevant fact to store (identity verified, debt disclosed, opt-out...).
    Record {
        /// Event name.
        event: String,
        /// Node where it happened.
        node: String,
    },
}

/// One transition taken, for coverage: which flow and which of its edges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Taken {
    /// The flow, by its place in the library ([`Library::flow_at`]).
    pub flow: FlowId,
    /// Edge index in that flow.
    pub edge: EdgeId,
}

/// What one event produced.
#[derive(Debug, Clone, Default)]
pub struct Turn {
    /// Actions in order.
    pub actions: Vec<Action>,
    /// What the NLU understood, for utterance events.
    pub understanding: Option<Understanding>,
    /// The node where the turn came to rest (listening, transferring or ended).
    pub node: String,
    /// Hand-off decided by the detector in this turn.
    pub handoff: Option<HandoffReason>,
}

impl Turn {
    /// All spoken text of the turn, joined.
    pub fn text(&self) -> String {
        let mut s = String::new();
        for a in &self.actions {
            if let Action::Say { text, .. } = a {
                if !s.is_empty() {
                    s.push(' ');
                }
                s.push_str(text);
            }
        }
        s
    }

    /// The last control action: listen, transfer or hangup.
    pub fn control(&self) -> Option<&Action> {
        self.actions.iter().rev().find(|a| {
            matches!(
                a,
                Action::Listen { .. } | Action::Transfer { .. } | Action::Hangup { .. }
            )
        })
    }
}

/// Where the call stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Not started.
    Idle,
    /// Waiting for the customer at an ask node.
    Listening,
    /// Waiting for the transfer result.
    Transferring,
    /// Over, with an outcome.
    Ended(String),
}

#[derive(Debug, Clone)]
struct Frame {
    flow: Arc<Flow>,
    node: NodeId,
    /// A digression: when this dialog returns, ask the caller's interrupted question again.
    resume: bool,
}

/// Errors that stop a conversation from starting.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// No compiled flow has this id.
    #[error("no scenario `{0}` (is it loaded and free of errors? run `voxdial scenario check`)")]
    UnknownFlow(String),
    /// The flow does not carry this locale.
    #[error("scenario `{0}` has no {1} prompts")]
    Locale(String, Locale),
    /// A campaign variable the scenario requires was not given.
    #[error("variable `{name}`: required by the scenario but not given")]
    MissingVariable {
        /// Variable name.
        name: String,
    },
    /// A campaign value is not a value of its declared type.
    #[error("variable `{name}`")]
    InvalidVariable {
        /// Variable name.
        name: String,
        /// The parse failure, with the offending text.
        #[source]
        source: ValueError,
    },
    /// A personal campaign value (sensitive, or a name) is not of its declared type. The
    /// text is left out, and no source carries it, so logs and error chains stay clean.
    #[error("variable `{name}`: not a valid {expected}")]
    InvalidPersonalVariable {
        /// Variable name.
        name: String,
        /// What was expected, in words.
        expected: &'static str,
    },
}

/// One live conversation.
pub struct Conversation {
    lib: Arc<Library>,
    nlu: Arc<Nlu>,
    locale: Locale,
    today: NaiveDate,
    stack: Vec<Frame>,
    /// The call's variables, indexed by the library's variable numbers.
    vars: Vec<Option<Value>>,
    /// The number of `today`, which conditions read as the call's date.
    today_var: Option<VarId>,
    /// The number of `identity_verified`, which the hand-off detector consults.
    identity_var: Option<VarId>,
    status: Status,
    detector: AbnormalDetector,
    node_no_match: u32,
    node_no_input: u32,
    visits: HashMap<(FlowId, NodeId), u32>,
    pending_reason: Option<HandoffReason>,
    last_transfer: Option<String>,
    trace: Vec<Taken>,
}

/// The campaign variables a test or a chat session starts with: the given values, plus
/// each campaign variable's declared `example` where none was given. Variables the call
/// itself fills (`source: call`) start empty, as on a live call.
pub fn with_examples(
    lib: &Library,
    scenario: &str,
    given: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut vars = given.clone();
    if let Some(flow) = lib.flow(scenario) {
        for (name, spec) in &flow.spec.variables {
            if spec.source != crate::scenario::model::VarSource::Campaign {
                continue;
            }
            if let (false, Some(ex)) = (vars.contains_key(name), spec.example.as_ref()) {
                vars.insert(name.clone(), ex.clone());
            }
        }
    }
    vars
}

impl Conversation {
    /// Prepare a conversation. `variables` are campaign values as text (CSV cells); each
    /// is parsed by its declared type, and missing required ones are an error.
    pub fn new(
        lib: Arc<Library>,
        scenario: &str,
        locale: Locale,
        today: NaiveDate,
        variables: &BTreeMap<String, String>,
    ) -> Result<Conversation, StartError> {
        let flow = lib
            .flow(scenario)
            .cloned()
            .ok_or_else(|| StartError::UnknownFlow(scenario.to_string()))?;
        if !flow.spec.locales.contains(&locale) {
            return Err(StartError::Locale(scenario.to_string(), locale));
        }
        let mut vars = vec![None; lib.var_ids().len()];
        for (name, spec) in &flow.spec.variables {
            // Only what the campaign gave: a declared `example` is for tests and the chat
            // tool (see `with_examples`), never a silent stand-in for a live call's data.
            let raw = variables.get(name);
            match raw {
                Some(text) => {
                    let personal =
                        spec.sensitive || matches!(spec.ty, crate::scenario::model::VarType::Name);
                    let v = Value::parse_typed(text, spec.ty).map_err(|e| {
                        if personal {
                            StartError::InvalidPersonalVariable {
                                name: name.clone(),
                                expected: e.expected,
                            }
                        } else {
                            StartError::InvalidVariable {
                                name: name.clone(),
                                source: e,
                            }
                        }
                    })?;
                    if let Some(slot) = lib
                        .var_ids()
                        .get(name)
                        .and_then(|id| vars.get_mut(id.0 as usize))
                    {
                        *slot = Some(v);
                    }
                }
                None if spec.required
                    && spec.source == crate::scenario::model::VarSource::Campaign =>
                {
                    return Err(StartError::MissingVariable { name: name.clone() })
                }
                None => {}
            }
        }
        let nlu = lib
            .nlu_for(scenario)
            .ok_or_else(|| StartError::UnknownFlow(scenario.to_string()))?;
        let detector = AbnormalDetector::new(flow.spec.handoff.clone());
        Ok(Conversation {
            nlu,
            locale,
            today,
            stack: vec![Frame {
                node: flow.start,
                flow,
                resume: false,
            }],
            vars,
            today_var: lib.var_ids().get(TODAY).copied(),
            identity_var: lib.var_ids().get(IDENTITY_VERIFIED).copied(),
            status: Status::Idle,
            detector,
            node_no_match: 0,
            node_no_input: 0,
            visits: HashMap::new(),
            pending_reason: None,
            last_transfer: None,
            trace: Vec::new(),
            lib,
        })
    }

    /// Current status.
    pub fn status(&self) -> &Status {
        &self.status
    }

    /// Current variables by name (for tests and tools; the call itself reads by number).
    pub fn variables(&self) -> BTreeMap<String, Value> {
        self.vars
            .iter()
            .enumerate()
            .filter_map(|(i, v)| {
                let v = v.as_ref()?;
                Some((self.lib.var_name(VarId(i as u32)).to_string(), v.clone()))
            })
            .collect()
    }

    /// What the call itself produced: the values of the scenario's `source: call`
    /// variables that are set (a promised date and amount, a callback date). The call's
    /// record keeps them beside the outcome, because "promise_to_pay" without its date is
    /// not something a collector can act on.
    pub fn call_values(&self) -> BTreeMap<String, Value> {
        let Some(root) = self.stack.first() else {
            return BTreeMap::new();
        };
        root.flow
            .spec
            .variables
            .iter()
            .filter(|(_, spec)| spec.source == crate::scenario::model::VarSource::Call)
            .filter_map(|(name, _)| {
                let id = self.lib.var_ids().get(name)?;
                let v = self.vars.get(id.0 as usize)?.as_ref()?;
                (*v != Value::Null).then(|| (name.clone(), v.clone()))
            })
            .collect()
    }

    fn var(&self, v: &VarRef) -> Option<&Value> {
        v.id.and_then(|id| self.vars.get(id.0 as usize))
            .and_then(Option::as_ref)
    }

    /// What a condition reads: the call's date for `today`, else the variable.
    fn condition_var(&self, v: &VarRef) -> Option<Value> {
        if v.id.is_some() && v.id == self.today_var {
            return Some(Value::Date(self.today));
        }
        self.var(v).cloned()
    }

    /// Reason of the latest transfer request, if any.
    pub fn last_transfer_reason(&self) -> Option<&str> {
        self.last_transfer.as_deref()
    }

    /// Every transition taken so far.
    pub fn trace(&self) -> &[Taken] {
        &self.trace
    }

    /// The prompts with variables this call can say within `max_turns` customer turns of
    /// where it stands, rendered with what is known now (the campaign's values), each
    /// with the number of turns before it can be said, nearest first: the speech bot
    /// synthesizes them while the call is young, the next reply's before the later ones,
    /// so a reply that names the customer does not wait for its voice. Prompts needing a
    /// value captured later in the call are left out, and so are dialogs the scenario
    /// never calls. Distances are a walk of the graph, not of the conversation: every
    /// route out of a question counts as one turn, a sub-dialog as at least one.
    pub fn variable_prompts_ahead(&self, max_turns: u32) -> Vec<(u32, String)> {
        let Some(top) = self.top() else {
            return Vec::new();
        };
        let mut seen: HashMap<(FlowId, NodeId), u32> = HashMap::new();
        let mut queue: std::collections::VecDeque<(Arc<Flow>, NodeId, u32)> =
            std::collections::VecDeque::new();
        queue.push_back((top.flow.clone(), top.node, 0));
        while let Some((flow, node, d)) = queue.pop_front() {
            if d > max_turns || seen.contains_key(&(flow.flow_id, node)) {
                continue;
            }
            seen.insert((flow.flow_id, node), d);
            // Same-turn steps go to the front, a turn later to the back: the queue stays
            // in order of distance (a 0-1 breadth-first walk).
            let mut next = Vec::new();
            let edge = |e: EdgeId| flow.edges.get(e).map(|x| x.to);
            let start_of = |f: FlowId| self.lib.flow_at(f).map(|d| (d.clone(), d.start));
            match &flow.nodes[node].kind {
                NodeKind::Say { next: e } | NodeKind::Set { next: e } => {
                    next.extend(edge(*e).map(|to| (flow.clone(), to, 0)));
                }
                NodeKind::Branch { cases, otherwise } => {
                    for e in cases.iter().map(|(_, e)| *e).chain([*otherwise]) {
                        next.extend(edge(e).map(|to| (flow.clone(), to, 0)));
                    }
                }
                NodeKind::Ask(ask) => {
                    let routes = ask
                        .on
                        .values()
                        .chain(ask.on_slot.iter().map(|(_, e)| e))
                        .chain(ask.no_input.then.iter())
                        .chain(ask.no_match.then.iter())
                        .chain(flow.global.values())
                        .chain(flow.handoff.iter());
                    for e in routes {
                        next.extend(edge(*e).map(|to| (flow.clone(), to, 1)));
                    }
                    for dialog in flow.digressions.values() {
                        next.extend(start_of(*dialog).map(|(f, n)| (f, n, 1)));
                    }
                }
                NodeKind::Call {
                    dialog, returns, ..
                } => {
                    next.extend(start_of(*dialog).map(|(f, n)| (f, n, 0)));
                    for e in returns {
                        next.extend(edge(*e).map(|to| (flow.clone(), to, 1)));
                    }
                }
                NodeKind::Transfer { on_fail, .. } => {
                    if let Some(e) = on_fail {
                        next.extend(edge(*e).map(|to| (flow.clone(), to, 1)));
                    }
                }
                NodeKind::Hangup { .. } | NodeKind::Return { .. } => {}
            }
            for (f, n, cost) in next.into_iter().rev() {
                if cost == 0 {
                    queue.push_front((f, n, d));
                } else {
                    queue.push_back((f, n, d + cost));
                }
            }
        }
        let mut found: Vec<((FlowId, NodeId), u32)> = seen.into_iter().collect();
        found.sort_by_key(|&((f, n), d)| (d, f.0, n));
        let mut out = Vec::new();
        for ((flow_id, node), d) in found {
            let Some(flow) = self.lib.flow_at(flow_id) else {
                continue;
            };
            let Some(tpl) = flow.nodes[node].prompt.get(&self.locale) else {
                continue;
            };
            if tpl.is_static() || !tpl.var_refs().all(|v| self.var(v).is_some()) {
                continue;
            }
            let lookup = |v: &VarRef| {
                self.var(v)
                    .map(|val| (val.clone(), v.id.and_then(|id| flow.var_type_of(id))))
            };
            out.push((d, tpl.render(self.locale, flow.currency, &lookup)));
        }
        out
    }

    /// The NLU this conversation uses.
    pub fn nlu(&self) -> &Nlu {
        &self.nlu
    }

    fn top(&self) -> Option<&Frame> {
        self.stack.last()
    }

    fn node_id(&self) -> String {
        self.top()
            .map(|f| f.flow.nodes[f.node].id.clone())
            .unwrap_or_default()
    }

    /// Feed one event; get what to do.
    pub fn handle(&mut self, event: Event) -> Turn {
        let mut turn = Turn::default();
        match (&self.status, event) {
            (Status::Ended(_), _) => {}
            (_, Event::RemoteHangup) => {
                self.status = Status::Ended("customer_hangup".into());
            }
            (Status::Idle, Event::Start) => {
                if let Some(f) = self.top().cloned() {
                    self.enter(f.node, &mut turn);
                }
            }
            (Status::Listening, Event::Utterance(text)) => self.on_utterance(&text, &mut turn),
            (Status::Listening, Event::NoInput) => self.on_no_input(&mut turn),
            (Status::Transferring, Event::TransferFailed(why)) => {
                self.on_transfer_failed(&why, &mut turn)
            }
            (Status::Transferring, Event::TransferCompleted) => {
                self.status = Status::Ended("transferred".into());
            }
            // Anything else (speech during a transfer, a second Start) changes nothing.
            _ => {}
        }
        turn.node = self.node_id();
        turn
    }

    fn identity_verified(&self) -> bool {
        self.identity_var
            .and_then(|id| self.vars.get(id.0 as usize))
            .and_then(Option::as_ref)
            .is_some_and(Value::truthy)
    }

    fn on_utterance(&mut self, text: &str, turn: &mut Turn) {
        let u = self.nlu.understand(text, self.locale, self.today);
        let intent = u.intent().map(str::to_string);
        let intent_id = u.intent_id;
        let verdict = self
            .detector
            .on_utterance(intent.as_deref(), self.identity_verified());
        self.node_no_input = 0;
        let Some(frame) = self.top().cloned() else {
            return;
        };
        // Only an ask node listens, so only an ask node hears an utterance.
        let NodeKind::Ask(ask) = &frame.flow.nodes[frame.node].kind else {
            return;
        };
        let mut filled: Vec<VarId> = Vec::new();
        for (var, kind) in &ask.capture {
            let v = match kind {
                SlotKind::Date => u.slots.date.map(Value::Date),
                SlotKind::Amount => u.slots.amount_cents.map(Value::Amount),
                SlotKind::PhoneTail => u.slots.phone_tail.clone().map(Value::Text),
                SlotKind::YesNo => u.slots.yes_no.map(Value::Bool),
                SlotKind::DurationDays => u.slots.duration_days.map(|d| Value::Number(d as f64)),
            };
            if let Some(v) = v {
                self.set_var(*var, v, turn);
                filled.push(*var);
            }
        }
        turn.understanding = Some(u);
        let slot_route = ask
            .on_slot
            .iter()
            .find(|(v, _)| filled.contains(v))
            .map(|(_, e)| *e);
        let handled_here = intent_id.is_some_and(|i| ask.on.contains_key(&i));
        if let (Some(e), false) = (slot_route, handled_here) {
            // The answer carried what the question asked for ("下个月15号"), whatever
            // intent the sentence looked like on its own.
            if !matches!(verdict, Verdict::Handoff(_)) || intent.is_none() {
                self.detector.note_understood();
                self.node_no_match = 0;
                self.follow(&frame.flow, e, turn);
                return;
            }
        }
        if let Some(intent) = intent.as_deref() {
            if let Some(&e) = intent_id.and_then(|i| ask.on.get(&i)) {
                self.detector.note_understood();
                self.node_no_match = 0;
                self.follow(&frame.flow, e, turn);
                return;
            }
            // A repeated identity challenge is abnormal even when a flow-wide handler
            // answers it: the count, not the single question, is what matters.
            if verdict == Verdict::Handoff(HandoffReason::IdentityDispute)
                && intent == "ask_identity"
            {
                return self.handoff(HandoffReason::IdentityDispute, turn);
            }
            // Flow-wide handlers, innermost flow first: a dialog's own, then its caller's.
            for depth in (0..self.stack.len()).rev() {
                let flow = self.stack[depth].flow.clone();
                if let Some(&e) = intent_id.and_then(|i| flow.global.get(&i)) {
                    self.detector.note_understood();
                    self.stack.truncate(depth + 1);
                    self.node_no_match = 0;
                    self.follow(&flow, e, turn);
                    return;
                }
                if let Some(&d) = intent_id.and_then(|i| flow.digressions.get(&i)) {
                    if let Some(dialog) = self.lib.flow_at(d).cloned() {
                        self.detector.note_understood();
                        self.node_no_match = 0;
                        let start = dialog.start;
                        self.stack.push(Frame {
                            flow: dialog,
                            node: start,
                            resume: true,
                        });
                        self.enter(start, turn);
                        return;
                    }
                }
            }
            match verdict {
                Verdict::Handoff(reason) => return self.handoff(reason, turn),
                Verdict::CalmDown => {
                    self.detector.note_understood();
                    self.builtin_say(Builtin::CalmDown, turn);
                    self.reprompt(&frame, None, turn);
                    return;
                }
                Verdict::Continue => {}
            }
            if intent == "ask_repeat" {
                self.detector.note_understood();
                self.reprompt(&frame, None, turn);
                return;
            }
            // Recognised, but nothing here handles it: part of the not-understood streak.
            if let Verdict::Handoff(reason) = self.detector.note_unrouted() {
                return self.handoff(reason, turn);
            }
        }
        if let Verdict::Handoff(reason) = verdict {
            return self.handoff(reason, turn);
        }
        self.node_no_match += 1;
        let retry = ask.no_match.clone();
        self.retry_or_escalate(
            &frame,
            &retry,
            self.node_no_match,
            HandoffReason::RepeatedNoMatch,
            Builtin::NotUnderstood,
            turn,
        );
    }

    fn on_no_input(&mut self, turn: &mut Turn) {
        let verdict = self.detector.on_no_input();
        let Some(frame) = self.top().cloned() else {
            return;
        };
        if let Verdict::Handoff(reason) = verdict {
            return self.handoff(reason, turn);
        }
        let NodeKind::Ask(ask) = &frame.flow.nodes[frame.node].kind else {
            return;
        };
        self.node_no_input += 1;
        let retry = ask.no_input.clone();
        self.retry_or_escalate(
            &frame,
            &retry,
            self.node_no_input,
            HandoffReason::LongSilence,
            Builtin::StillThere,
            turn,
        );
    }

    fn retry_or_escalate(
        &mut self,
        frame: &Frame,
        retry: &Retry,
        count: u32,
        reason: HandoffReason,
        apology: Builtin,
        turn: &mut Turn,
    ) {
        if count <= retry.retries {
            if retry.prompt.is_empty() {
                self.builtin_say(apology, turn);
                self.reprompt(frame, None, turn);
            } else {
                let suffix = if reason == HandoffReason::LongSilence {
                    "no_input"
                } else {
                    "no_match"
                };
                self.reprompt(frame, Some((retry, suffix)), turn);
            }
        } else if let Some(e) = retry.then {
            self.follow(&frame.flow, e, turn);
        } else {
            // No `then:`: keep asking; the detector's call-wide streak (max_no_match /
            // max_no_input) decides when this becomes a hand-off.
            self.builtin_say(apology, turn);
            self.reprompt(frame, None, turn);
        }
    }

    /// Say the node's prompt again (or the retry prompt) and listen.
    fn reprompt(&mut self, frame: &Frame, retry: Option<(&Retry, &str)>, turn: &mut Turn) {
        let node = &frame.flow.nodes[frame.node];
        match retry {
            Some((r, suffix)) => self.say(&frame.flow, frame.node, &r.prompt, Some(suffix), turn),
            None => self.say(&frame.flow, frame.node, &node.prompt, None, turn),
        }
        turn.actions.push(Action::Listen {
            node: node.id.clone(),
            timeout_ms: frame.flow.spec.settings.no_input_timeout_ms,
        });
        self.status = Status::Listening;
    }

    fn on_transfer_failed(&mut self, why: &str, turn: &mut Turn) {
        let Some(frame) = self.top().cloned() else {
            return;
        };
        let node = &frame.flow.nodes[frame.node];
        turn.actions.push(Action::Record {
            event: format!("transfer_failed:{why}"),
            node: node.id.clone(),
        });
        self.pending_reason = None;
        let on_fail = match &node.kind {
            NodeKind::Transfer { on_fail, .. } => *on_fail,
            _ => None,
        };
        match on_fail {
            Some(e) => self.follow(&frame.flow, e, turn),
            None => {
                self.builtin_say(Builtin::TransferFailed, turn);
                self.end("transfer_failed", turn);
            }
        }
    }

    fn handoff(&mut self, reason: HandoffReason, turn: &mut Turn) {
        turn.handoff = Some(reason);
        turn.actions.push(Action::Record {
            event: format!("handoff:{}", reason.code()),
            node: self.node_id(),
        });
        for depth in (0..self.stack.len()).rev() {
            let flow = self.stack[depth].flow.clone();
            if let Some(e) = flow.handoff {
                self.stack.truncate(depth + 1);
                self.pending_reason = Some(reason);
                self.follow(&flow, e, turn);
                return;
            }
        }
        self.builtin_say(Builtin::Goodbye, turn);
        self.end(&format!("ended_{}", reason.code()), turn);
    }

    fn end(&mut self, outcome: &str, turn: &mut Turn) {
        turn.actions.push(Action::Hangup {
            outcome: outcome.to_string(),
        });
        self.status = Status::Ended(outcome.to_string());
    }

    fn follow(&mut self, flow: &Arc<Flow>, edge: EdgeId, turn: &mut Turn) {
        self.trace.push(Taken {
            flow: flow.flow_id,
            edge,
        });
        let to = flow.edges[edge].to;
        if let Some(top) = self.stack.last_mut() {
            top.node = to;
        }
        self.enter(to, turn);
    }

    fn set_var(&mut self, var: VarId, v: Value, turn: &mut Turn) {
        turn.actions.push(Action::SetVar {
            name: self.lib.var_name(var).to_string(),
            value: v.clone(),
        });
        if let Some(slot) = self.vars.get_mut(var.0 as usize) {
            *slot = Some(v);
        }
    }

    /// Enter a node and run until the conversation needs the customer or ends.
    fn enter(&mut self, first: NodeId, turn: &mut Turn) {
        let mut node_id = first;
        for _ in 0..MAX_STEPS_PER_TURN {
            let Some(frame) = self.top().cloned() else {
                return;
            };
            let flow = frame.flow.clone();
            let node = &flow.nodes[node_id];
            let visits = self.visits.entry((flow.flow_id, node_id)).or_insert(0);
            *visits += 1;
            if *visits > MAX_VISITS_PER_NODE && self.pending_reason != Some(HandoffReason::Loop) {
                // Enter the hand-off once; if that loops too, end the call.
                return self.handoff(HandoffReason::Loop, turn);
            }
            self.node_no_match = 0;
            self.node_no_input = 0;
            for (var, e) in &node.set {
                let v = e
                    .eval(&|v: &VarRef| self.condition_var(v))
                    .unwrap_or(Value::Null);
                self.set_var(*var, v, turn);
            }
            if let Some(r) = &node.record {
                turn.actions.push(Action::Record {
                    event: r.clone(),
                    node: node.id.clone(),
                });
            }
            match &node.kind {
                NodeKind::Say { next } | NodeKind::Set { next } => {
                    self.say(&flow, node_id, &node.prompt, None, turn);
                    self.trace.push(Taken {
                        flow: flow.flow_id,
                        edge: *next,
                    });
                    node_id = flow.edges[*next].to;
                }
                NodeKind::Ask(_) => {
                    self.say(&flow, node_id, &node.prompt, None, turn);
                    turn.actions.push(Action::Listen {
                        node: node.id.clone(),
                        timeout_ms: flow.spec.settings.no_input_timeout_ms,
                    });
                    self.status = Status::Listening;
                    self.set_top(node_id);
                    return;
                }
                NodeKind::Branch { cases, otherwise } => {
                    let lookup = |v: &VarRef| self.condition_var(v);
                    let e = cases
                        .iter()
                        .find(|(ex, _)| ex.eval(&lookup).map(|v| v.truthy()).unwrap_or(false))
                        .map_or(*otherwise, |(_, e)| *e);
                    self.trace.push(Taken {
                        flow: flow.flow_id,
                        edge: e,
                    });
                    node_id = flow.edges[e].to;
                }
                NodeKind::Call { dialog, .. } => {
                    // A dialog that did not compile has an empty place in the table.
                    let Some(dialog) = self.lib.flow_at(*dialog).cloned() else {
                        return self.end("flow_error", turn);
                    };
                    self.set_top(node_id);
                    node_id = dialog.start;
                    self.stack.push(Frame {
                        flow: dialog,
                        node: node_id,
                        resume: false,
                    });
                    continue;
                }
                NodeKind::Transfer { reason, .. } => {
                    self.say(&flow, node_id, &node.prompt, None, turn);
                    let reason = match self.pending_reason.take() {
                        Some(r) => r.code().to_string(),
                        None => reason.clone(),
                    };
                    self.last_transfer = Some(reason.clone());
                    turn.actions.push(Action::Transfer {
                        node: node.id.clone(),
                        reason,
                    });
                    self.status = Status::Transferring;
                    self.set_top(node_id);
                    return;
                }
                NodeKind::Hangup { outcome } => {
                    self.say(&flow, node_id, &node.prompt, None, turn);
                    self.set_top(node_id);
                    return self.end(outcome, turn);
                }
                NodeKind::Return { value } => {
                    self.say(&flow, node_id, &node.prompt, None, turn);
                    if self.stack.len() <= 1 {
                        return self.end(&format!("returned_{}", flow.return_name(*value)), turn);
                    }
                    let finished = self.stack.pop();
                    if finished.is_some_and(|f| f.resume) {
                        let Some(caller) = self.top().cloned() else {
                            return;
                        };
                        return self.reprompt(&caller, None, turn);
                    }
                    let Some(caller) = self.top().cloned() else {
                        return;
                    };
                    // The caller's call node routes every value its dialog returns, by the
                    // same index.
                    let route = match &caller.flow.nodes[caller.node].kind {
                        NodeKind::Call { returns, .. } => returns.get(value.0).copied(),
                        _ => None,
                    };
                    let Some(e) = route else {
                        return self.end("flow_error", turn);
                    };
                    self.trace.push(Taken {
                        flow: caller.flow.flow_id,
                        edge: e,
                    });
                    node_id = caller.flow.edges[e].to;
                }
            }
            self.set_top(node_id);
        }
        // The flow kept moving without ever waiting for the customer.
        self.handoff(HandoffReason::Loop, turn);
    }

    fn set_top(&mut self, node: NodeId) {
        if let Some(top) = self.stack.last_mut() {
            top.node = node;
        }
    }

    fn say(
        &mut self,
        flow: &Flow,
        node: NodeId,
        prompt: &BTreeMap<Locale, Template>,
        suffix: Option<&str>,
        turn: &mut Turn,
    ) {
        let Some(tpl) = prompt.get(&self.locale) else {
            return;
        };
        let n = &flow.nodes[node];
        let lookup = |v: &VarRef| {
            self.var(v)
                .map(|val| (val.clone(), v.id.and_then(|id| flow.var_type_of(id))))
        };
        let text = tpl.render(self.locale, flow.currency, &lookup);
        let mut prompt_id = format!("{}.{}", flow.id(), n.id);
        if let Some(s) = suffix {
            prompt_id.push('.');
            prompt_id.push_str(s);
        }
        turn.actions.push(Action::Say {
            node: n.id.clone(),
            text,
            prompt_id,
            barge_in: n.barge_in,
            is_static: tpl.is_static(),
        });
    }

    fn builtin_say(&mut self, b: Builtin, turn: &mut Turn) {
        let (id, zh, en) = b.text();
        turn.actions.push(Action::Say {
            node: self.node_id(),
            text: match self.locale {
                Locale::ZhCn => zh.to_string(),
                Locale::EnUs => en.to_string(),
            },
            prompt_id: format!("builtin.{id}"),
            barge_in: true,
            is_static: true,
        });
    }
}

/// Prompts the engine needs when a flow does not provide its own.
#[derive(Debug, Clone, Copy)]
enum Builtin {
    NotUnderstood,
    StillThere,
    CalmDown,
    TransferFailed,
    Goodbye,
}

impl Builtin {
    fn text(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Builtin::NotUnderstood => ("not_understood", "抱歉,我没有听清楚。", "Sorry, I didn't quite catch that."),
            Builtin::StillThere => ("still_there", "喂,您好,请问您还在听吗?", "Hello, are you still there?"),
            Builtin::CalmDown => (
                "calm_down",
                "理解您的心情,我们是来帮您解决问题的,请您文明沟通。",
                "I understand you're upset. I'm here to help, so let's keep this respectful.",
            ),
            Builtin::TransferFailed => (
                "transfer_failed",
                "非常抱歉,人工客服暂时都在忙,我们会尽快给您回电。再见。",
                "I'm sorry, all our agents are busy right now. We'll call you back as soon as we can. Goodbye.",
            ),
            Builtin::Goodbye => (
                "goodbye",
                "抱歉打扰您了,我们稍后再与您联系,再见。",
                "Sorry to have bothered you. We'll be in touch later. Goodbye.",
            ),
        }
    }
}
