//! Campaign storage: campaigns, leads, the attempt ledger, policy blocks, suppression
//! lists and import records. [`Store`] is what the importer and the scheduler need, in
//! domain terms, so a PostgreSQL backend (several dialer nodes leasing leads with
//! `FOR UPDATE SKIP LOCKED`) can implement it later; [`sqlite::SqliteStore`] is the
//! embedded default.
//!
//! The ledger invariant that makes a campaign survive `kill -9`: an attempt row is
//! committed *before* the dial is handed to telephony, and the lead is marked in flight
//! in the same transaction. After a crash every attempt still in flight is closed as
//! `interrupted` (which the policy counts as a conversation, the strict reading), so no
//! lead is lost and none is dialled again beyond what the policy allows.

pub mod sqlite;

use crate::policy::{CallOutcome, Next, PastAttempt, PolicySource, Rule};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Storage errors.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused an operation.
    #[error("database")]
    Db(#[from] rusqlite::Error),
    /// The database file was written by a newer voxdial.
    #[error("database schema version {found} is newer than this voxdial understands ({known})")]
    TooNew {
        /// Version in the file.
        found: i64,
        /// Newest version known here.
        known: i64,
    },
    /// No such campaign.
    #[error(
        "no campaign `{0}` (import a list first: voxdial campaign import FILE --campaign NAME)"
    )]
    NoCampaign(String),
    /// `--db` names no database (only the commands that load data create one).
    #[error("no database at {0} (check --db; `voxdial campaign import` creates one)")]
    NoDatabase(String),
    /// The database file or its folder could not be created or protected.
    #[error("{path}")]
    Io {
        /// File or folder.
        path: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// A campaign from an older database whose policy could not be snapshotted.
    #[error("campaign `{campaign}` has no stored snapshot of its policy `{policy}` (it could not be read when the database was upgraded); set one: voxdial campaign policy {campaign} --set FILE|PRESET")]
    NoPolicySnapshot {
        /// Campaign.
        campaign: String,
        /// The policy as it was named.
        policy: String,
    },
    /// An attempt closed twice (or one that does not exist): the caller's bookkeeping is
    /// off, and the first end (and its record) stands.
    #[error("attempt {0} is not in flight (already closed, or no such attempt)")]
    NotInFlight(i64),
    /// A stored value could not be read back.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// A call detail's JSON column could not be written or read back.
    #[error("{what}: JSON")]
    Json {
        /// Which value (call and column).
        what: String,
        /// Cause.
        #[source]
        source: serde_json::Error,
    },
}

/// Shorthand.
pub type Result<T> = std::result::Result<T, StoreError>;

/// A campaign's settings.
#[derive(Debug, Clone, Serialize)]
pub struct Campaign {
    /// Row id.
    pub id: i64,
    /// Unique name ops use.
    pub name: String,
    /// Scenario the bot runs on answered calls.
    pub scenario: Option<String>,
    /// Contact policy (preset name or absolute file path) as it was given.
    pub policy: String,
    /// The snapshot of the policy in force (`policy_versions`); `None` only for a
    /// campaign of an older database whose policy could not be read at the upgrade.
    pub policy_version: Option<i64>,
    /// Virtual clock of simulated runs (unix seconds); survives restarts.
    pub clock: Option<i64>,
}

/// A lead to insert.
#[derive(Debug, Clone)]
pub struct NewLead {
    /// Debtor / customer id (several numbers may share one).
    pub debtor_id: String,
    /// E.164 number.
    pub phone: String,
    /// Comma-separated IANA zones the debtor may be in.
    pub zones: String,
    /// Campaign variables as a JSON object of strings.
    pub vars_json: String,
    /// Line of the source file, for support.
    pub source_line: u64,
}

/// A stored lead whose variables a corrected list changes; the old values are kept
/// with the change so the ledger can still say what an earlier call spoke.
#[derive(Debug, Clone)]
pub struct LeadUpdate {
    /// Lead row id.
    pub lead: i64,
    /// The variables as stored before (JSON).
    pub old_vars_json: String,
    /// The variables from now on (JSON).
    pub vars_json: String,
    /// Line of the source file.
    pub source_line: u64,
}

/// Where a lead is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeadStatus {
    /// Waiting for its next due time.
    Pending,
    /// An attempt is in progress.
    InFlight,
    /// A conversation took place.
    Done,
    /// The retry schedule ran out.
    Exhausted,
    /// A permanent policy block (suppressed, refused, lifetime cap).
    Stopped,
}

impl LeadStatus {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            LeadStatus::Pending => "pending",
            LeadStatus::InFlight => "in_flight",
            LeadStatus::Done => "done",
            LeadStatus::Exhausted => "exhausted",
            LeadStatus::Stopped => "stopped",
        }
    }
    fn parse(s: &str) -> Option<LeadStatus> {
        [
            LeadStatus::Pending,
            LeadStatus::InFlight,
            LeadStatus::Done,
            LeadStatus::Exhausted,
            LeadStatus::Stopped,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }
}

/// A stored lead.
#[derive(Debug, Clone)]
pub struct Lead {
    /// Row id.
    pub id: i64,
    /// Debtor id.
    pub debtor_id: String,
    /// E.164 number.
    pub phone: String,
    /// Comma-separated zones.
    pub zones: String,
    /// Variables (JSON).
    pub vars_json: String,
    /// Status.
    pub status: LeadStatus,
    /// Attempts so far.
    pub attempts: u32,
    /// Not before this unix second.
    pub next_due_at: i64,
}

/// What a finished import did.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct ImportCounts {
    /// Data rows read.
    pub rows: u64,
    /// New leads stored.
    pub inserted: u64,
    /// Rows already stored (a re-import) or repeated in the file: merged into one lead.
    pub merged: u64,
    /// Rows of leads already stored whose variables changed (a corrected list).
    #[serde(default)]
    pub updated: u64,
    /// Rows refused (see the reject report).
    pub rejected: u64,
}

/// Counters for a campaign, for progress and reports.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CampaignStats {
    /// Leads by status.
    pub leads: BTreeMap<String, u64>,
    /// Attempts by outcome (`in_flight` for open ones).
    pub attempts: BTreeMap<String, u64>,
    /// Policy blocks by rule.
    pub blocks: BTreeMap<String, u64>,
}

/// What the importer and the scheduler need from storage.
pub trait Store {
    /// Get or create a campaign. A new campaign gets `policy` as its first snapshot; an
    /// existing one keeps its policy (changing it is [`Store::set_campaign_policy`]).
    fn ensure_campaign(
        &mut self,
        name: &str,
        scenario: Option<&str>,
        policy: &PolicySource,
        by: &str,
    ) -> Result<Campaign>;
    /// A stored policy snapshot.
    fn policy_version(&self, id: i64) -> Result<PolicyVersion>;
    /// The snapshot a campaign runs under now.
    fn campaign_policy(&self, campaign: &Campaign) -> Result<PolicyVersion> {
        match campaign.policy_version {
            Some(v) => self.policy_version(v),
            None => Err(StoreError::NoPolicySnapshot {
                campaign: campaign.name.clone(),
                policy: campaign.policy.clone(),
            }),
        }
    }
    /// Make `policy` the campaign's policy from now on, and log the change.
    fn set_campaign_policy(
        &mut self,
        campaign: i64,
        policy: &PolicySource,
        by: &str,
        now: i64,
    ) -> Result<PolicyChange>;
    /// Every policy change of a campaign, oldest first.
    fn policy_changes(&self, campaign: i64) -> Result<Vec<PolicyChange>>;
    /// A campaign by name.
    fn campaign(&self, name: &str) -> Result<Campaign>;
    /// Remove a campaign that has no leads, imports or attempts (one an import created
    /// and then failed to fill); returns whether it was removed.
    fn remove_if_empty(&mut self, campaign: i64) -> Result<bool>;
    /// Whether this exact file (by SHA-256) was imported into the campaign already.
    fn import_seen(&self, campaign: i64, sha256: &str) -> Result<Option<ImportCounts>>;
    /// The campaign's lead with this number, if any (a re-import compares with it).
    fn lead_by_phone(&self, campaign: i64, phone: &str) -> Result<Option<Lead>>;
    /// Store leads, variable corrections and the import record atomically: all or
    /// nothing. Leads whose number the campaign already has are merged (left as they
    /// are); `updates` replace stored variables and keep the old ones in a change log.
    #[allow(clippy::too_many_arguments)]
    fn import_leads(
        &mut self,
        campaign: i64,
        leads: &[NewLead],
        updates: &[LeadUpdate],
        file: &str,
        sha256: &str,
        counts: &ImportCounts,
        now: i64,
    ) -> Result<ImportCounts>;
    /// Add numbers to the suppression (do-not-call) list.
    fn suppress(&mut self, phones: &[String], reason: &str, now: i64) -> Result<u64>;
    /// Take numbers off the suppression list; each removal is kept (number, original
    /// reason, who, when, why) so an audit can tell why a suppressed number was dialled.
    fn unsuppress(
        &mut self,
        phones: &[String],
        by: &str,
        why: &str,
        now: i64,
    ) -> Result<Vec<Unsuppressed>>;
    /// Whether a number is suppressed.
    fn is_suppressed(&self, phone: &str) -> Result<bool>;
    /// Pending leads due at `now`, oldest due first.
    fn due_leads(&self, campaign: i64, now: i64, limit: usize) -> Result<Vec<Lead>>;
    /// Earliest due time of any pending lead.
    fn next_due(&self, campaign: i64) -> Result<Option<i64>>;
    /// Every attempt to a debtor (all campaigns: one creditor's callers count together).
    fn history(&self, debtor_id: &str) -> Result<Vec<PastAttempt>>;
    /// The debtor's latest conversation disposition, if any.
    fn disposition(&self, debtor_id: &str) -> Result<Option<String>>;
    /// Commit an attempt as in flight before dialling, under the policy snapshot the
    /// dialler is applying; returns its id.
    fn start_attempt(
        &mut self,
        lead: &Lead,
        campaign: i64,
        policy_version: Option<i64>,
        now: i64,
    ) -> Result<i64>;
    /// Close an attempt and move its lead on.
    fn finish_attempt(&mut self, attempt: i64, end: &AttemptEnd, now: i64) -> Result<()>;
    /// Close the attempt AND store its call detail in one transaction (so a kill -9 never
    /// leaves a finished attempt without its record, or a record without its attempt).
    /// Transcript and compliance text is stored through `language::redact`, whoever
    /// wrote it: the record is kept, so account-shaped numbers in it must already be masked.
    fn finish_attempt_with_call(
        &mut self,
        attempt: i64,
        end: &AttemptEnd,
        call: &CallDetail,
        now: i64,
    ) -> Result<()>;
    /// Calls (attempts, with their detail when they have one), newest first: what ops
    /// read with `voxdial calls list`. An unknown campaign in the filter is an error,
    /// not an empty list.
    fn calls(&self, filter: &CallFilter) -> Result<Vec<CallSummary>>;
    /// One call: its attempt row, its lead and its detail (if it has one).
    fn call(&self, attempt: i64) -> Result<Option<CallView>>;
    /// Log a policy block and park (or stop) the lead.
    fn block(
        &mut self,
        lead: &Lead,
        campaign: i64,
        rule: Rule,
        detail: &str,
        until: Option<i64>,
        now: i64,
    ) -> Result<()>;
    /// After a restart: close in-flight attempts as interrupted and reschedule their
    /// leads with `next`. Returns how many were closed.
    fn recover_interrupted(
        &mut self,
        campaign: i64,
        now: i64,
        next: &dyn Fn(u32, i64) -> Next,
    ) -> Result<u64>;
    /// Persist a simulated run's virtual clock.
    fn set_clock(&mut self, campaign: i64, now: i64) -> Result<()>;
    /// Counters.
    fn stats(&self, campaign: i64) -> Result<CampaignStats>;
    /// Every attempt of a campaign in the order they were made.
    fn ledger(&self, campaign: i64) -> Result<Vec<LedgerRow>>;
    /// How many attempts with `outcome` the lead has had.
    fn outcome_count(&self, lead: i64, outcome: CallOutcome) -> Result<u32>;
}

/// One attempt of the ledger, for audits.
#[derive(Debug, Clone, Serialize)]
pub struct LedgerRow {
    /// Attempt id.
    pub attempt: i64,
    /// Lead id.
    pub lead: i64,
    /// Debtor.
    pub debtor_id: String,
    /// Number dialled.
    pub phone: String,
    /// The lead's zones.
    pub zones: String,
    /// Unix second the dial started.
    pub started_at: i64,
    /// Outcome (open attempts read as interrupted).
    pub outcome: CallOutcome,
    /// Conversation disposition.
    pub disposition: Option<String>,
    /// The policy snapshot the attempt was dialled under.
    pub policy_version: Option<i64>,
}

/// One stored snapshot of a contact policy.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyVersion {
    /// Row id (what campaigns and attempts point at).
    pub id: i64,
    /// Where it came from and its exact text and hash.
    #[serde(skip)]
    pub snapshot: PolicySource,
    /// Preset name or absolute path, for reports.
    pub source: String,
    /// SHA-256 of the text.
    pub sha256: String,
    /// Unix second it was first stored.
    pub created_at: i64,
    /// Which command (and user) stored it.
    pub created_by: String,
}

/// A campaign's policy change, as logged.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyChange {
    /// The version before (`None` if the campaign had none).
    pub from: Option<PolicyVersion>,
    /// The version now in force.
    pub to: PolicyVersion,
    /// Unix second of the change.
    pub at: i64,
    /// Which command (and user) made it.
    pub by: String,
}

/// A number taken off the do-not-call list, as kept for audit.
#[derive(Debug, Clone, Serialize)]
pub struct Unsuppressed {
    /// E.164 number.
    pub phone: String,
    /// Why it was suppressed.
    pub reason: String,
    /// Unix second it was added.
    pub added_at: i64,
}

/// How an attempt ended.
#[derive(Debug, Clone)]
pub struct AttemptEnd {
    /// Outcome.
    pub outcome: CallOutcome,
    /// SIP final response code, when there was one.
    pub sip_code: Option<u16>,
    /// Conversation disposition (`promise_to_pay`, `refused`...).
    pub disposition: Option<String>,
    /// Seconds talked.
    pub talk_s: f64,
    /// Where the lead goes next.
    pub next: Next,
}

/// One call's account beside its attempt row: what happened on the line after the dial,
/// for ops, QC and the demo report. Written once, with the attempt's end
/// ([`Store::finish_attempt_with_call`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CallDetail {
    /// When the call was answered (unix ms); `None` if it never was.
    #[serde(default)]
    pub answered_at_ms: Option<i64>,
    /// When the call ended (unix ms).
    pub ended_at_ms: i64,
    /// Call-progress verdict (`human`, `voicemail`, `announcement`, `fax`, ...).
    #[serde(default)]
    pub cpd: Option<String>,
    /// The hand-off to a person, if the call had one.
    #[serde(default)]
    pub handoff: Option<Handoff>,
    /// Who said what, in time order.
    #[serde(default)]
    pub transcript: Vec<TranscriptEntry>,
    /// Compliance events on the call (blocks, violations).
    #[serde(default)]
    pub compliance: Vec<ComplianceEvent>,
    /// Turn latencies (end of the customer's turn to the bot's first audio), ms.
    #[serde(default)]
    pub turn_latencies_ms: Vec<u32>,
    /// Path of the stereo WAV recording.
    #[serde(default)]
    pub recording: Option<String>,
    /// SIP Call-ID, to find the call in a trunk's or a capture's logs.
    #[serde(default)]
    pub sip_call_id: Option<String>,
    /// What the customer gave on the call, by the scenario's variable name (`ptp_date`,
    /// `ptp_amount`, `callback_date`), as text: the substance of the disposition (a
    /// promise to pay is worth its date). Stored through `language::redact`.
    #[serde(default)]
    pub captured: std::collections::BTreeMap<String, String>,
}

impl CallDetail {
    /// Nearest-rank percentile (`p` in 0..=100) of the turn latencies: the figure the
    /// issue's targets are stated in (p50, p95); `None` without turns.
    pub fn turn_latency_percentile(&self, p: f64) -> Option<u32> {
        percentile(&self.turn_latencies_ms, p)
    }
}

/// Nearest-rank percentile of `values` (`p` in 0..=100), shared by one call's figures and
/// the reports that pool many calls.
pub fn percentile<T: Copy + Ord>(values: &[T], p: f64) -> Option<T> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_unstable();
    let rank = ((p.clamp(0.0, 100.0) / 100.0) * v.len() as f64).ceil() as usize;
    v.get(rank.max(1) - 1).copied()
}

/// A call's hand-off to a person: why, where to, who took it and how it went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Handoff {
    /// The hand-off reason code (`wants_human`, `angry`, ...).
    pub reason: String,
    /// The queue (a name, or the external SIP address) it was sent to.
    #[serde(default)]
    pub queue: Option<String>,
    /// The agent who took it, if one did.
    #[serde(default)]
    pub agent: Option<String>,
    /// How long the customer waited for a person, ms.
    #[serde(default)]
    pub waited_ms: Option<u64>,
    /// How it ended.
    pub result: HandoffResult,
    /// Why it failed (a SIP code and phrase, "no agent within 60 s"), when it did.
    #[serde(default)]
    pub failure: Option<String>,
    /// The recording of the human part (the built-in queue's stereo WAV), when made.
    #[serde(default)]
    pub recording: Option<String>,
    /// How the customer was handed over; `None` in records from before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<HandoffMethod>,
}

/// How a hand-off reached the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HandoffMethod {
    /// The customer's phone honoured our REFER and called the queue itself.
    Refer,
    /// The customer's phone refused REFER: voxdial called the queue and relayed the media
    /// between the two legs.
    Bridge,
}

impl HandoffMethod {
    /// Stable name, as stored and printed.
    pub fn as_str(self) -> &'static str {
        match self {
            HandoffMethod::Refer => "refer",
            HandoffMethod::Bridge => "bridge",
        }
    }
}

/// How a hand-off ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HandoffResult {
    /// An agent took the call.
    ReachedAgent,
    /// The transfer failed (refused REFER, busy queue, no agent); the bot kept the call.
    Failed,
    /// The customer hung up before an agent answered.
    Abandoned,
}

impl HandoffResult {
    /// Stable name, as stored and printed.
    pub fn as_str(self) -> &'static str {
        match self {
            HandoffResult::ReachedAgent => "reached_agent",
            HandoffResult::Failed => "failed",
            HandoffResult::Abandoned => "abandoned",
        }
    }
}

/// Who spoke a transcript line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// The customer (ASR text).
    Customer,
    /// The bot (the prompt it played).
    Bot,
    /// A human agent (once transcribed).
    Agent,
}

impl Channel {
    /// Stable name, as stored and printed.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Customer => "customer",
            Channel::Bot => "bot",
            Channel::Agent => "agent",
        }
    }
}

/// One line of a call's transcript.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TranscriptEntry {
    /// Milliseconds from the answer.
    pub at_ms: u64,
    /// Who spoke.
    pub channel: Channel,
    /// What was said (account-shaped numbers masked when stored).
    pub text: String,
    /// The scenario prompt the bot played, for bot lines.
    #[serde(default)]
    pub prompt_id: Option<String>,
}

/// A compliance event during a call (a block, a violation), for QC and audits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComplianceEvent {
    /// Milliseconds from the answer.
    pub at_ms: u64,
    /// The rule concerned.
    pub rule: String,
    /// What happened.
    pub detail: String,
}

/// Which calls `calls` returns; every field narrows, `Default` is everything.
#[derive(Debug, Clone, Default)]
pub struct CallFilter {
    /// Only this campaign (by name).
    pub campaign: Option<String>,
    /// Only calls that ended with this outcome.
    pub outcome: Option<CallOutcome>,
    /// Only calls started at or after this unix second.
    pub since: Option<i64>,
    /// At most this many (the newest).
    pub limit: Option<usize>,
}

/// One line of `calls list`: the attempt and the headline of its detail. `phone` is the
/// full E.164 number: whoever shows it to a person masks it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallSummary {
    /// Attempt id (what `calls show` takes).
    pub attempt: i64,
    /// Campaign name.
    pub campaign: String,
    /// Lead id.
    pub lead: i64,
    /// Number dialled (E.164).
    pub phone: String,
    /// Unix second the dial started.
    pub started_at: i64,
    /// Unix second the attempt was closed; `None` while in flight.
    pub ended_at: Option<i64>,
    /// Outcome; `None` while the call is in flight.
    pub outcome: Option<CallOutcome>,
    /// SIP final response code.
    pub sip_code: Option<u16>,
    /// Conversation disposition.
    pub disposition: Option<String>,
    /// Seconds talked.
    pub talk_s: Option<f64>,
    /// Whether a call detail was stored (not for interrupted or in-flight calls).
    pub has_detail: bool,
    /// Call-progress verdict.
    pub cpd: Option<String>,
    /// Hand-off reason, if there was one.
    pub handoff_reason: Option<String>,
    /// How the hand-off ended.
    pub handoff_result: Option<HandoffResult>,
}

/// One call in full for `calls show`: the attempt, its lead and its detail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallView {
    /// The attempt, as listed.
    pub call: CallSummary,
    /// The lead's debtor id.
    pub debtor_id: String,
    /// The lead's zones.
    pub zones: String,
    /// The lead's status now.
    pub lead_status: LeadStatus,
    /// The policy snapshot the attempt was dialled under.
    pub policy_version: Option<i64>,
    /// The call's detail, `None` for a call without one (interrupted, in flight, or from
    /// before call records).
    pub detail: Option<CallDetail>,
}
