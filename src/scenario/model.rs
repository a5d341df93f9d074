//! The scenario language as written in YAML: what an author may type, nothing more.
//!
//! Nodes are one flat struct with a `type` field rather than a serde enum: serde's
//! "did not match any variant" is useless to a business author, while a flat struct lets
//! the compiler say exactly which field a `say` node is missing, at its position.
//! `deny_unknown_fields` everywhere turns typos (`nxt:`) into errors with a position.

use crate::language::Locale;
use crate::nlu::intent::IntentSpec;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Text per locale. Used for prompts, titles and descriptions.
pub type LocalizedText = BTreeMap<Locale, String>;

/// What a YAML file holds; decided from its top-level keys (see `library`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum FlowKind {
    /// A whole business call, started by the dialer.
    #[default]
    Scenario,
    /// A reusable sub-dialog in `dialogs/`, entered by a `call` node and left by `return`.
    Dialog,
}

/// A scenario or a sub-dialog file.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FlowFile {
    /// Unique id across the library; what campaigns and `voxdial chat` name.
    pub id: String,
    /// Scenario (default) or reusable dialog.
    #[serde(default)]
    pub kind: FlowKind,
    /// Human title per locale, shown in the catalogue.
    #[serde(default)]
    pub title: LocalizedText,
    /// Business line folder, e.g. `credit_card`, `collection`.
    #[serde(default)]
    pub business_line: Option<String>,
    /// One sentence on why a bank makes this call.
    #[serde(default)]
    pub purpose: Option<String>,
    /// Locales every prompt must be written in.
    pub locales: Vec<Locale>,
    /// Compliance tags; some are checked by the linter (e.g. `identity_before_debt`).
    #[serde(default)]
    pub compliance: Vec<String>,
    /// Currency for amount variables (ISO code, default by locale).
    #[serde(default)]
    pub currency: Option<String>,
    /// Variables the call uses: from the campaign list, or filled during the call.
    #[serde(default)]
    pub variables: BTreeMap<String, VariableSpec>,
    /// Scenario-specific intents on top of the shared library.
    #[serde(default)]
    pub intents: BTreeMap<String, IntentSpec>,
    /// Outcomes this flow may end with (hang-up outcomes); for reports and the catalogue.
    #[serde(default)]
    pub outcomes: Vec<String>,
    /// For dialogs: the values a `return` node may hand back to the caller.
    #[serde(default)]
    pub returns: Vec<String>,
    /// Intent handlers that apply at every `ask` node that does not handle the intent itself:
    /// go to a node, or run a dialog and then resume the interrupted question.
    #[serde(default)]
    pub global: BTreeMap<String, GlobalRoute>,
    /// When the conversation is abnormal and must go to a human.
    #[serde(default)]
    pub handoff: HandoffSpec,
    /// Timers and thresholds.
    #[serde(default)]
    pub settings: Settings,
    /// Id of the first node.
    pub start: String,
    /// The dialogue graph.
    pub nodes: BTreeMap<String, NodeSpec>,
}

/// Where a flow-wide intent handler goes.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(untagged)]
pub enum GlobalRoute {
    /// Jump to a node of the flow.
    Node(String),
    /// A digression: run a dialog, then ask the interrupted question again.
    Digression {
        /// Dialog id.
        dialog: String,
    },
}

/// Declared type of a variable: decides how it is parsed from a campaign list and spoken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VarType {
    /// A person's name (masked in logs).
    Name,
    /// Money, spoken as words in the locale's currency.
    Amount,
    /// A calendar date, spoken as "12月1日" / "December first".
    Date,
    /// A product name.
    Product,
    /// Last digits of a phone or card number.
    PhoneTail,
    /// Free text.
    Text,
    /// A whole number (days overdue, instalments).
    Integer,
    /// Yes/no flag.
    Bool,
}

/// Where a variable's value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum VarSource {
    /// A column of the campaign list; must be present before the call starts.
    #[default]
    Campaign,
    /// Filled during the call (slot capture or `set`).
    Call,
}

/// One declared variable.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct VariableSpec {
    /// Value type.
    #[serde(rename = "type")]
    pub ty: VarType,
    /// Campaign column or filled during the call.
    #[serde(default)]
    pub source: VarSource,
    /// Debt details and other personal data: may only be spoken after identity is verified
    /// when the flow carries the `identity_before_debt` tag; masked for agents.
    #[serde(default)]
    pub sensitive: bool,
    /// Campaign variables are required unless this is false.
    #[serde(default = "yes")]
    pub required: bool,
    /// Example value, used by `voxdial chat` and tests when none is given.
    #[serde(default)]
    pub example: Option<String>,
}

fn yes() -> bool {
    true
}

/// Abnormal-conversation hand-off configuration.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HandoffSpec {
    /// Node that transfers to a human; hand-offs decided by the detector go there.
    #[serde(default)]
    pub node: Option<String>,
    /// Consecutive not-understood turns before hand-off.
    #[serde(default = "default_max_no_match")]
    pub max_no_match: u32,
    /// Consecutive silent turns before hand-off.
    #[serde(default = "default_max_no_input")]
    pub max_no_input: u32,
    /// Abusive utterances tolerated (the bot stays calm) before hand-off.
    #[serde(default)]
    pub abuse_tolerance: u32,
    /// Times the customer may question who we are before it counts as an identity dispute.
    #[serde(default = "default_identity_questions")]
    pub max_identity_questions: u32,
}

fn default_max_no_match() -> u32 {
    3
}
fn default_max_no_input() -> u32 {
    3
}
fn default_identity_questions() -> u32 {
    3
}

impl Default for HandoffSpec {
    fn default() -> Self {
        HandoffSpec {
            node: None,
            max_no_match: default_max_no_match(),
            max_no_input: default_max_no_input(),
            abuse_tolerance: 0,
            max_identity_questions: default_identity_questions(),
        }
    }
}

/// Timers and thresholds of a flow.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// How long to wait for the customer before a no-input event.
    #[serde(default = "default_no_input_ms")]
    pub no_input_timeout_ms: u32,
    /// NLU confidence below which an utterance counts as not understood.
    #[serde(default)]
    pub nlu_threshold: Option<f32>,
}

fn default_no_input_ms() -> u32 {
    7000
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            no_input_timeout_ms: default_no_input_ms(),
            nlu_threshold: None,
        }
    }
}

/// What a node does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeType {
    /// Speak a prompt, then go to `next`.
    Say,
    /// Speak a prompt and listen; route on the recognised intent.
    Ask,
    /// Route on conditions over variables and slots.
    Branch,
    /// Assign variables, then go to `next`.
    Set,
    /// Run a shared sub-dialog; route on what it returns.
    Call,
    /// Transfer to a human with a reason code.
    Transfer,
    /// End the call with an outcome.
    Hangup,
    /// Leave a sub-dialog with a value.
    Return,
}

/// A kind of value the NLU can pull out of an utterance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlotKind {
    /// An absolute or relative date (明天, next Friday).
    Date,
    /// A money amount (三千五, $350).
    Amount,
    /// Last digits of a phone or card number.
    PhoneTail,
    /// A yes or a no.
    YesNo,
    /// A span of days (三天, two weeks).
    DurationDays,
}

/// Retry handling when the customer is silent or not understood.
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RetrySpec {
    /// How many times to re-prompt before giving up.
    #[serde(default = "one")]
    pub retries: u32,
    /// What to say when re-prompting (default: a short apology plus the node's prompt).
    #[serde(default)]
    pub prompt: Option<LocalizedText>,
    /// Where to go when retries are used up (default: the hand-off detector decides).
    #[serde(default)]
    pub then: Option<String>,
}

fn one() -> u32 {
    1
}

/// One conditional route of a `branch` node.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CaseSpec {
    /// Condition, e.g. `ptp_amount >= amount_due and ptp_date <= due_date + 7`.
    pub when: String,
    /// Target node.
    pub goto: String,
}

/// A node of the dialogue graph, with the union of all node types' fields.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    /// What the node does.
    #[serde(rename = "type")]
    pub ty: NodeType,
    /// What the bot says on entering the node.
    #[serde(default)]
    pub prompt: Option<LocalizedText>,
    /// Whether the customer may interrupt the prompt (a legal disclosure may forbid it).
    #[serde(default)]
    pub barge_in: Option<bool>,
    /// Next node for `say`, `set`.
    #[serde(default)]
    pub next: Option<String>,
    /// Intent routes for `ask`.
    #[serde(default)]
    pub on: BTreeMap<String, String>,
    /// Slots to capture into variables on `ask`: variable name -> slot kind.
    #[serde(default)]
    pub capture: BTreeMap<String, SlotKind>,
    /// Routes taken when the answer filled a captured variable but its intent is not in
    /// `on:` (a bare "下个月15号" answering "when can you pay?"): variable -> node.
    #[serde(default)]
    pub on_slot: BTreeMap<String, String>,
    /// Silence handling for `ask`.
    #[serde(default)]
    pub no_input: Option<RetrySpec>,
    /// Not-understood handling for `ask`.
    #[serde(default)]
    pub no_match: Option<RetrySpec>,
    /// Conditional routes for `branch`, tried in order.
    #[serde(default)]
    pub cases: Vec<CaseSpec>,
    /// Fallback route for `branch`.
    #[serde(default, rename = "else")]
    pub otherwise: Option<String>,
    /// Assignments made on entering the node: variable -> expression.
    #[serde(default)]
    pub set: BTreeMap<String, ScalarText>,
    /// Sub-dialog id for `call`.
    #[serde(default)]
    pub dialog: Option<String>,
    /// Routes on the sub-dialog's return value for `call`.
    #[serde(default)]
    pub returns: BTreeMap<String, String>,
    /// Reason code for `transfer`.
    #[serde(default)]
    pub reason: Option<String>,
    /// Where to go when a transfer fails (no agent, REFER refused).
    #[serde(default)]
    pub on_fail: Option<String>,
    /// Outcome for `hangup`.
    #[serde(default)]
    pub outcome: Option<String>,
    /// Return value for `return`.
    #[serde(default)]
    pub value: Option<String>,
    /// Compliance event recorded on entering the node (e.g. `debt_disclosed`).
    #[serde(default)]
    pub record: Option<String>,
}

/// A shared intent library file (`dialogs/intents.yaml`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IntentLibraryFile {
    /// Intent name -> examples and keywords.
    pub intents: BTreeMap<String, IntentSpec>,
}

/// A YAML scalar of any type kept as its text, so `set: {verified: true}` and
/// `set: {verified: "true"}` mean the same expression.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct ScalarText(pub String);

impl<'de> Deserialize<'de> for ScalarText {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Any {
            Bool(bool),
            Int(i64),
            Float(f64),
            Text(String),
            Null(()),
        }
        Ok(ScalarText(match Any::deserialize(d)? {
            // YAML `null` / `~` is the null value, as the quoted "null" already is.
            Any::Null(()) => "null".to_string(),
            Any::Bool(b) => b.to_string(),
            Any::Int(i) => i.to_string(),
            Any::Float(f) => f.to_string(),
            Any::Text(s) => s,
        }))
    }
}
