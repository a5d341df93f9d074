//! The embedded SQLite store: WAL journal, `synchronous=FULL` (a committed attempt
//! survives power loss, not only a killed process), schema migrations numbered by
//! `PRAGMA user_version` and applied in one transaction each.

use super::{
    AttemptEnd, CallDetail, CallFilter, CallSummary, CallView, Campaign, CampaignStats,
    ComplianceEvent, Handoff, ImportCounts, Lead, LeadStatus, LeadUpdate, LedgerRow, NewLead,
    PolicyChange, PolicyVersion, Result, Store, StoreError, TranscriptEntry, Unsuppressed,
};
use crate::language::redact::mask_account_numbers;
use crate::policy::{CallOutcome, Next, PastAttempt, PolicySource, Rule};
use crate::time::Millis;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use std::path::Path;

/// Tighten a data file to owner-only: SQLite makes its `-wal` and `-shm` files with the
/// database's mode, so this covers them too. A database from before this rule was
/// world-readable.
fn restrict(path: &Path, mode: u32) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let io = |source| StoreError::Io {
            path: path.display().to_string(),
            source,
        };
        let meta = std::fs::metadata(path).map_err(io)?;
        if meta.permissions().mode() & 0o777 & !mode != 0 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(io)?;
        }
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

/// Schema migrations, oldest first; never edit one that has shipped, add a new one.
const MIGRATIONS: &[&str] = &[
    // 1: the initial schema.
    r#"
    CREATE TABLE campaigns (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        scenario TEXT,
        policy TEXT NOT NULL,
        clock INTEGER,
        created_at INTEGER NOT NULL
    );
    CREATE TABLE leads (
        id INTEGER PRIMARY KEY,
        campaign_id INTEGER NOT NULL REFERENCES campaigns(id),
        debtor_id TEXT NOT NULL,
        phone TEXT NOT NULL,
        zones TEXT NOT NULL,
        vars TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        next_due_at INTEGER NOT NULL DEFAULT 0,
        source_line INTEGER NOT NULL,
        UNIQUE (campaign_id, phone)
    );
    CREATE INDEX leads_due ON leads (campaign_id, status, next_due_at);
    CREATE INDEX leads_debtor ON leads (debtor_id);
    CREATE TABLE attempts (
        id INTEGER PRIMARY KEY,
        lead_id INTEGER NOT NULL REFERENCES leads(id),
        campaign_id INTEGER NOT NULL,
        debtor_id TEXT NOT NULL,
        phone TEXT NOT NULL,
        started_at INTEGER NOT NULL,
        ended_at INTEGER,
        outcome TEXT NOT NULL DEFAULT 'in_flight',
        sip_code INTEGER,
        disposition TEXT,
        talk_s REAL
    );
    CREATE INDEX attempts_debtor ON attempts (debtor_id, started_at);
    CREATE INDEX attempts_lead ON attempts (lead_id);
    CREATE INDEX attempts_open ON attempts (campaign_id, outcome);
    CREATE TABLE blocks (
        id INTEGER PRIMARY KEY,
        campaign_id INTEGER NOT NULL,
        lead_id INTEGER NOT NULL,
        at INTEGER NOT NULL,
        rule TEXT NOT NULL,
        detail TEXT NOT NULL,
        until INTEGER
    );
    CREATE INDEX blocks_campaign ON blocks (campaign_id, rule);
    CREATE TABLE suppression (
        phone TEXT PRIMARY KEY,
        reason TEXT NOT NULL,
        added_at INTEGER NOT NULL
    );
    CREATE TABLE imports (
        id INTEGER PRIMARY KEY,
        campaign_id INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        file TEXT NOT NULL,
        at INTEGER NOT NULL,
        rows INTEGER NOT NULL,
        inserted INTEGER NOT NULL,
        merged INTEGER NOT NULL,
        rejected INTEGER NOT NULL,
        UNIQUE (campaign_id, sha256)
    );
    "#,
    // 2: a corrected list changes a lead's variables; the values it replaced are kept
    // (an attempt made before `at` spoke `old_vars`).
    r#"
    CREATE TABLE lead_changes (
        id INTEGER PRIMARY KEY,
        lead_id INTEGER NOT NULL REFERENCES leads(id),
        import_sha256 TEXT NOT NULL,
        at INTEGER NOT NULL,
        source_line INTEGER NOT NULL,
        old_vars TEXT NOT NULL,
        new_vars TEXT NOT NULL
    );
    CREATE INDEX lead_changes_lead ON lead_changes (lead_id);
    ALTER TABLE imports ADD COLUMN updated INTEGER NOT NULL DEFAULT 0;
    "#,
    // 3: policy snapshots: a campaign points at the exact policy text in force and every
    // attempt at the one it was dialled under, so moving or editing the file rewrites
    // nothing. Campaigns already stored get a snapshot of their policy as it loads at
    // the upgrade (see `snapshot_legacy_policies`); their earlier attempts point at it.
    // Removals from the do-not-call list are kept for audit.
    r#"
    CREATE TABLE policy_versions (
        id INTEGER PRIMARY KEY,
        source TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        text TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        created_by TEXT NOT NULL,
        UNIQUE (source, sha256)
    );
    CREATE TABLE policy_changes (
        id INTEGER PRIMARY KEY,
        campaign_id INTEGER NOT NULL REFERENCES campaigns(id),
        from_version INTEGER REFERENCES policy_versions(id),
        to_version INTEGER NOT NULL REFERENCES policy_versions(id),
        at INTEGER NOT NULL,
        by TEXT NOT NULL
    );
    CREATE INDEX policy_changes_campaign ON policy_changes (campaign_id, id);
    ALTER TABLE campaigns ADD COLUMN policy_version INTEGER REFERENCES policy_versions(id);
    ALTER TABLE attempts ADD COLUMN policy_version INTEGER REFERENCES policy_versions(id);
    CREATE TABLE suppression_removed (
        id INTEGER PRIMARY KEY,
        phone TEXT NOT NULL,
        reason TEXT NOT NULL,
        added_at INTEGER NOT NULL,
        removed_at INTEGER NOT NULL,
        removed_by TEXT NOT NULL,
        why TEXT NOT NULL
    );
    CREATE INDEX suppression_removed_phone ON suppression_removed (phone);
    "#,
    // 4: a call's account beside its attempt (one row per attempt that has one, written
    // in the transaction that closes the attempt). The transcript, compliance events,
    // latencies and hand-off are JSON: read whole, never queried into. `calls list`
    // filters attempts by campaign, outcome and start and lists the newest first.
    r#"
    CREATE TABLE calls (
        attempt_id INTEGER PRIMARY KEY REFERENCES attempts(id),
        answered_at_ms INTEGER,
        ended_at_ms INTEGER NOT NULL,
        cpd TEXT,
        handoff TEXT,
        transcript TEXT NOT NULL,
        compliance TEXT NOT NULL,
        turn_latencies_ms TEXT NOT NULL,
        recording TEXT,
        sip_call_id TEXT
    );
    CREATE INDEX attempts_started ON attempts (started_at, id);
    CREATE INDEX attempts_campaign_started ON attempts (campaign_id, started_at, id);
    CREATE INDEX attempts_outcome_started ON attempts (outcome, started_at, id);
    "#,
    // 5: what the customer gave on the call (a promised date and amount, a callback
    // date): the scenario's call-filled values, a JSON object of text beside the
    // disposition they qualify.
    r#"
    ALTER TABLE calls ADD COLUMN captured TEXT NOT NULL DEFAULT '{}';
    "#,
];

/// What the policy-snapshot migration writes as the author of the snapshots it takes.
const LEGACY_SNAPSHOT_BY: &str =
    "schema upgrade: snapshot of the policy as it loaded then; earlier attempts are audited against it";

/// Give every campaign without a policy snapshot one, from its policy as it loads now
/// (a preset, or the file the stored path names from the current folder), and point its
/// earlier attempts at it. A policy that no longer loads is left without a snapshot:
/// the campaign then says how to set one.
fn snapshot_legacy_policies(tx: &rusqlite::Transaction<'_>) -> Result<()> {
    let todo: Vec<(i64, String)> = {
        let mut st = tx.prepare("SELECT id, policy FROM campaigns WHERE policy_version IS NULL")?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<std::result::Result<_, _>>()?
    };
    let now = chrono::Utc::now().timestamp();
    for (campaign, policy) in todo {
        let Ok((_, src)) = PolicySource::resolve(&policy) else {
            tracing::warn!(campaign, policy = %policy, "policy could not be snapshotted at the upgrade");
            continue;
        };
        let v = insert_policy_version(tx, &src, LEGACY_SNAPSHOT_BY, now)?;
        tx.execute(
            "UPDATE campaigns SET policy_version=?, policy=? WHERE id=?",
            params![v, src.source, campaign],
        )?;
        tx.execute(
            "UPDATE attempts SET policy_version=? WHERE campaign_id=? AND policy_version IS NULL",
            params![v, campaign],
        )?;
    }
    Ok(())
}

/// Store a snapshot (or find the identical one) and return its id.
fn insert_policy_version(conn: &Connection, src: &PolicySource, by: &str, now: i64) -> Result<i64> {
    conn.execute(
        "INSERT INTO policy_versions (source, sha256, text, created_at, created_by)
         VALUES (?, ?, ?, ?, ?) ON CONFLICT(source, sha256) DO NOTHING",
        params![src.source, src.sha256, src.text, now, by],
    )?;
    Ok(conn.query_row(
        "SELECT id FROM policy_versions WHERE source=? AND sha256=?",
        params![src.source, src.sha256],
        |r| r.get(0),
    )?)
}

fn read_policy_version(conn: &Connection, id: i64) -> Result<PolicyVersion> {
    let (source, sha256, text, created_at, created_by): (String, String, String, i64, String) =
        conn.query_row(
            "SELECT source, sha256, text, created_at, created_by FROM policy_versions WHERE id=?",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )?;
    let snapshot = PolicySource::new(&source, &text);
    if snapshot.sha256 != sha256 {
        return Err(StoreError::Corrupt(format!(
            "policy version {id}: its text no longer matches its SHA-256"
        )));
    }
    Ok(PolicyVersion {
        id,
        snapshot,
        source,
        sha256,
        created_at,
        created_by,
    })
}

/// SQLite-backed [`Store`].
pub struct SqliteStore {
    conn: Connection,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SqliteStore")
    }
}

impl SqliteStore {
    /// Open (and migrate) the existing database at `path`. A missing file is an error,
    /// not a new empty database: a typo in `--db` must not look like an empty campaign
    /// store (and suppressions written there would protect nobody).
    pub fn open(path: &Path) -> Result<SqliteStore> {
        if !path.is_file() {
            return Err(StoreError::NoDatabase(path.display().to_string()));
        }
        restrict(path, 0o600)?;
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_URI
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        Self::init(conn)
    }

    /// Open the database at `path`, creating it (owner-only, `0600`, in a `0700` folder
    /// when the folder is new) if it does not exist: for the commands that start a
    /// campaign (`campaign import`, `campaign run`).
    pub fn create(path: &Path) -> Result<SqliteStore> {
        let io = |source| StoreError::Io {
            path: path.display().to_string(),
            source,
        };
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() && !dir.exists() {
                let mut b = std::fs::DirBuilder::new();
                b.recursive(true);
                #[cfg(unix)]
                {
                    use std::os::unix::fs::DirBuilderExt;
                    b.mode(0o700);
                }
                b.create(dir).map_err(io)?;
            }
        }
        let mut o = std::fs::OpenOptions::new();
        o.write(true).create(true).truncate(false);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            o.mode(0o600);
        }
        o.open(path).map_err(io)?;
        Self::open(path)
    }

    /// An in-memory database, for tests and benchmarks.
    pub fn memory() -> Result<SqliteStore> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> Result<SqliteStore> {
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        let mut s = SqliteStore { conn };
        s.migrate()?;
        Ok(s)
    }

    fn migrate(&mut self) -> Result<()> {
        let v: i64 = self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))?;
        let known = MIGRATIONS.len() as i64;
        if v > known {
            return Err(StoreError::TooNew { found: v, known });
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(v as usize) {
            let tx = self.conn.transaction()?;
            tx.execute_batch(sql)?;
            if sql.contains("CREATE TABLE policy_versions") {
                snapshot_legacy_policies(&tx)?;
            }
            tx.pragma_update(None, "user_version", (i + 1) as i64)?;
            tx.commit()?;
        }
        Ok(())
    }

    /// Schema version in use.
    pub fn schema_version(&self) -> Result<i64> {
        Ok(self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))?)
    }

    /// Attempts of a lead, oldest first: (outcome, started_at), for reports and tests.
    pub fn lead_attempts(&self, lead: i64) -> Result<Vec<(String, i64)>> {
        let mut st = self.conn.prepare_cached(
            "SELECT outcome, started_at FROM attempts WHERE lead_id=? ORDER BY id",
        )?;
        let rows = st.query_map([lead], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// Every lead of a campaign (id, phone, status, attempts), for audits and tests.
    pub fn all_leads(&self, campaign: i64) -> Result<Vec<Lead>> {
        let mut st = self.conn.prepare_cached(
            "SELECT id, debtor_id, phone, zones, vars, status, attempts, next_due_at
             FROM leads WHERE campaign_id=? ORDER BY id",
        )?;
        let rows = st.query_map([campaign], lead_row)?;
        rows.map(|r| r.map_err(StoreError::from).and_then(|x| x))
            .collect()
    }
}

fn lead_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<Lead>> {
    let status: String = r.get(5)?;
    let Some(status) = LeadStatus::parse(&status) else {
        return Ok(Err(StoreError::Corrupt(format!("lead status `{status}`"))));
    };
    Ok(Ok(Lead {
        id: r.get(0)?,
        debtor_id: r.get(1)?,
        phone: r.get(2)?,
        zones: r.get(3)?,
        vars_json: r.get(4)?,
        status,
        attempts: r.get(6)?,
        next_due_at: r.get(7)?,
    }))
}

fn campaign_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Campaign> {
    Ok(Campaign {
        id: r.get(0)?,
        name: r.get(1)?,
        scenario: r.get(2)?,
        policy: r.get(3)?,
        clock: r.get(4)?,
        policy_version: r.get(5)?,
    })
}

fn next_status(next: &Next) -> (LeadStatus, Option<i64>) {
    match next {
        Next::RetryAt(t) => (LeadStatus::Pending, Some(t.as_unix_secs())),
        Next::Done => (LeadStatus::Done, None),
        Next::Exhausted => (LeadStatus::Exhausted, None),
    }
}

/// Close an in-flight attempt and move its lead on, inside the caller's transaction.
fn close_attempt(
    tx: &rusqlite::Transaction<'_>,
    attempt: i64,
    end: &AttemptEnd,
    now: i64,
) -> Result<()> {
    let lead: i64 = tx
        .query_row(
            "SELECT lead_id FROM attempts WHERE id=? AND outcome='in_flight'",
            [attempt],
            |r| r.get(0),
        )
        .optional()?
        .ok_or(StoreError::NotInFlight(attempt))?;
    tx.execute(
        "UPDATE attempts SET ended_at=?, outcome=?, sip_code=?, disposition=?, talk_s=? WHERE id=?",
        params![
            now,
            end.outcome.as_str(),
            end.sip_code,
            end.disposition,
            end.talk_s,
            attempt
        ],
    )?;
    let (status, due) = next_status(&end.next);
    tx.execute(
        "UPDATE leads SET status=?, next_due_at=COALESCE(?, next_due_at) WHERE id=?",
        params![status.as_str(), due, lead],
    )?;
    Ok(())
}

/// Store a call's detail, its free text through `language::redact` (a kept record never
/// holds an ID, card or phone number a customer read out).
fn insert_call(tx: &rusqlite::Transaction<'_>, attempt: i64, call: &CallDetail) -> Result<()> {
    let transcript: Vec<TranscriptEntry> = call
        .transcript
        .iter()
        .map(|t| TranscriptEntry {
            text: mask_account_numbers(&t.text).into_owned(),
            ..t.clone()
        })
        .collect();
    let compliance: Vec<ComplianceEvent> = call
        .compliance
        .iter()
        .map(|c| ComplianceEvent {
            detail: mask_account_numbers(&c.detail).into_owned(),
            ..c.clone()
        })
        .collect();
    let captured: std::collections::BTreeMap<&String, String> = call
        .captured
        .iter()
        .map(|(k, v)| (k, mask_account_numbers(v).into_owned()))
        .collect();
    tx.execute(
        "INSERT INTO calls (attempt_id, answered_at_ms, ended_at_ms, cpd, handoff, transcript,
                            compliance, turn_latencies_ms, recording, sip_call_id, captured)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        params![
            attempt,
            call.answered_at_ms,
            call.ended_at_ms,
            call.cpd,
            call.handoff.as_ref().map(to_json).transpose()?,
            to_json(&transcript)?,
            to_json(&compliance)?,
            to_json(&call.turn_latencies_ms)?,
            call.recording,
            call.sip_call_id,
            to_json(&captured)?,
        ],
    )?;
    Ok(())
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|source| StoreError::Json {
        what: "call detail".into(),
        source,
    })
}

fn from_json<T: serde::de::DeserializeOwned>(attempt: i64, column: &str, text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|source| StoreError::Json {
        what: format!("call {attempt}: column `{column}`"),
        source,
    })
}

/// The columns `calls` and `call` read: the attempt, its campaign and its detail's headline.
const CALL_SELECT: &str = "SELECT a.id, c.name, a.lead_id, a.phone, a.started_at, a.ended_at,
        a.outcome, a.sip_code, a.disposition, a.talk_s, k.attempt_id IS NOT NULL, k.cpd, k.handoff
    FROM attempts a JOIN campaigns c ON c.id = a.campaign_id
    LEFT JOIN calls k ON k.attempt_id = a.id";

/// A row of [`CALL_SELECT`] before its stored names and JSON are checked.
struct CallRow {
    attempt: i64,
    campaign: String,
    lead: i64,
    phone: String,
    started_at: i64,
    ended_at: Option<i64>,
    outcome: String,
    sip_code: Option<u16>,
    disposition: Option<String>,
    talk_s: Option<f64>,
    has_detail: bool,
    cpd: Option<String>,
    handoff: Option<String>,
}

fn call_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<CallRow> {
    Ok(CallRow {
        attempt: r.get(0)?,
        campaign: r.get(1)?,
        lead: r.get(2)?,
        phone: r.get(3)?,
        started_at: r.get(4)?,
        ended_at: r.get(5)?,
        outcome: r.get(6)?,
        sip_code: r.get(7)?,
        disposition: r.get(8)?,
        talk_s: r.get(9)?,
        has_detail: r.get(10)?,
        cpd: r.get(11)?,
        handoff: r.get(12)?,
    })
}

impl CallRow {
    fn into_summary(self) -> Result<CallSummary> {
        let outcome = match self.outcome.as_str() {
            "in_flight" => None,
            o => Some(CallOutcome::parse(o).ok_or_else(|| {
                StoreError::Corrupt(format!("attempt {} outcome `{o}`", self.attempt))
            })?),
        };
        let handoff = self
            .handoff
            .as_deref()
            .map(|h| from_json::<Handoff>(self.attempt, "handoff", h))
            .transpose()?;
        Ok(CallSummary {
            attempt: self.attempt,
            campaign: self.campaign,
            lead: self.lead,
            phone: self.phone,
            started_at: self.started_at,
            ended_at: self.ended_at,
            outcome,
            sip_code: self.sip_code,
            disposition: self.disposition,
            talk_s: self.talk_s,
            has_detail: self.has_detail,
            cpd: self.cpd,
            handoff_reason: handoff.as_ref().map(|h| h.reason.clone()),
            handoff_result: handoff.map(|h| h.result),
        })
    }
}

impl Store for SqliteStore {
    fn ensure_campaign(
        &mut self,
        name: &str,
        scenario: Option<&str>,
        policy: &PolicySource,
        by: &str,
    ) -> Result<Campaign> {
        let now = chrono::Utc::now().timestamp();
        let tx = self.conn.transaction()?;
        let exists = tx
            .prepare_cached("SELECT 1 FROM campaigns WHERE name=?")?
            .exists([name])?;
        if exists {
            tx.execute(
                "UPDATE campaigns SET scenario = COALESCE(?2, scenario) WHERE name=?1",
                params![name, scenario],
            )?;
        } else {
            let v = insert_policy_version(&tx, policy, by, now)?;
            tx.execute(
                "INSERT INTO campaigns (name, scenario, policy, policy_version, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![name, scenario, policy.source, v, now],
            )?;
            let id = tx.last_insert_rowid();
            tx.execute(
                "INSERT INTO policy_changes (campaign_id, from_version, to_version, at, by)
                 VALUES (?, NULL, ?, ?, ?)",
                params![id, v, now, by],
            )?;
        }
        tx.commit()?;
        self.campaign(name)
    }

    fn policy_version(&self, id: i64) -> Result<PolicyVersion> {
        read_policy_version(&self.conn, id)
    }

    fn set_campaign_policy(
        &mut self,
        campaign: i64,
        policy: &PolicySource,
        by: &str,
        now: i64,
    ) -> Result<PolicyChange> {
        let tx = self.conn.transaction()?;
        let from: Option<i64> = tx.query_row(
            "SELECT policy_version FROM campaigns WHERE id=?",
            [campaign],
            |r| r.get(0),
        )?;
        let to = insert_policy_version(&tx, policy, by, now)?;
        tx.execute(
            "UPDATE campaigns SET policy=?, policy_version=? WHERE id=?",
            params![policy.source, to, campaign],
        )?;
        tx.execute(
            "INSERT INTO policy_changes (campaign_id, from_version, to_version, at, by)
             VALUES (?, ?, ?, ?, ?)",
            params![campaign, from, to, now, by],
        )?;
        let change = PolicyChange {
            from: from.map(|f| read_policy_version(&tx, f)).transpose()?,
            to: read_policy_version(&tx, to)?,
            at: now,
            by: by.to_string(),
        };
        tx.commit()?;
        Ok(change)
    }

    fn policy_changes(&self, campaign: i64) -> Result<Vec<PolicyChange>> {
        let rows: Vec<(Option<i64>, i64, i64, String)> = {
            let mut st = self.conn.prepare(
                "SELECT from_version, to_version, at, by FROM policy_changes
                 WHERE campaign_id=? ORDER BY id",
            )?;
            let rows = st.query_map([campaign], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })?;
            rows.collect::<std::result::Result<_, _>>()?
        };
        rows.into_iter()
            .map(|(from, to, at, by)| {
                Ok(PolicyChange {
                    from: from.map(|f| self.policy_version(f)).transpose()?,
                    to: self.policy_version(to)?,
                    at,
                    by,
                })
            })
            .collect()
    }

    fn unsuppress(
        &mut self,
        phones: &[String],
        by: &str,
        why: &str,
        now: i64,
    ) -> Result<Vec<Unsuppressed>> {
        let tx = self.conn.transaction()?;
        let mut out = Vec::new();
        for p in phones {
            let row: Option<(String, i64)> = tx
                .query_row(
                    "SELECT reason, added_at FROM suppression WHERE phone=?",
                    [p],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            let Some((reason, added_at)) = row else {
                continue;
            };
            tx.execute(
                "INSERT INTO suppression_removed (phone, reason, added_at, removed_at, removed_by, why)
                 VALUES (?, ?, ?, ?, ?, ?)",
                params![p, reason, added_at, now, by, why],
            )?;
            tx.execute("DELETE FROM suppression WHERE phone=?", [p])?;
            out.push(Unsuppressed {
                phone: p.clone(),
                reason,
                added_at,
            });
        }
        tx.commit()?;
        Ok(out)
    }

    fn campaign(&self, name: &str) -> Result<Campaign> {
        self.conn
            .query_row(
                "SELECT id, name, scenario, policy, clock, policy_version FROM campaigns WHERE name=?",
                [name],
                campaign_row,
            )
            .optional()?
            .ok_or_else(|| StoreError::NoCampaign(name.to_string()))
    }

    fn remove_if_empty(&mut self, campaign: i64) -> Result<bool> {
        let tx = self.conn.transaction()?;
        let empty: bool = tx.query_row(
            "SELECT NOT EXISTS (SELECT 1 FROM leads WHERE campaign_id=?1)
                AND NOT EXISTS (SELECT 1 FROM imports WHERE campaign_id=?1)
                AND NOT EXISTS (SELECT 1 FROM attempts WHERE campaign_id=?1)",
            [campaign],
            |r| r.get(0),
        )?;
        if !empty {
            return Ok(false);
        }
        // The campaign never held anything: the log of the policy it was created with
        // goes with it (the snapshot itself stays, other campaigns may share it).
        tx.execute(
            "DELETE FROM policy_changes WHERE campaign_id=?1",
            [campaign],
        )?;
        let n = tx.execute("DELETE FROM campaigns WHERE id=?1", [campaign])?;
        tx.commit()?;
        Ok(n == 1)
    }

    fn lead_by_phone(&self, campaign: i64, phone: &str) -> Result<Option<Lead>> {
        let mut st = self.conn.prepare_cached(
            "SELECT id, debtor_id, phone, zones, vars, status, attempts, next_due_at
             FROM leads WHERE campaign_id=? AND phone=?",
        )?;
        st.query_row(params![campaign, phone], lead_row)
            .optional()?
            .transpose()
    }

    fn import_seen(&self, campaign: i64, sha256: &str) -> Result<Option<ImportCounts>> {
        Ok(self
            .conn
            .query_row(
                "SELECT rows, inserted, merged, rejected, updated FROM imports WHERE campaign_id=? AND sha256=?",
                params![campaign, sha256],
                |r| {
                    Ok(ImportCounts {
                        rows: r.get::<_, i64>(0)? as u64,
                        inserted: r.get::<_, i64>(1)? as u64,
                        merged: r.get::<_, i64>(2)? as u64,
                        rejected: r.get::<_, i64>(3)? as u64,
                        updated: r.get::<_, i64>(4)? as u64,
                    })
                },
            )
            .optional()?)
    }

    fn import_leads(
        &mut self,
        campaign: i64,
        leads: &[NewLead],
        updates: &[LeadUpdate],
        file: &str,
        sha256: &str,
        counts: &ImportCounts,
        now: i64,
    ) -> Result<ImportCounts> {
        // Numbers arrive in random order, so the unique index is written all over: a
        // page cache that holds it keeps a million-row import from thrashing.
        self.conn.pragma_update(None, "cache_size", -131_072)?;
        let tx = self.conn.transaction()?;
        let mut out = counts.clone();
        {
            let mut ins = tx.prepare_cached(
                "INSERT INTO leads (campaign_id, debtor_id, phone, zones, vars, next_due_at, source_line)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(campaign_id, phone) DO NOTHING",
            )?;
            for l in leads {
                let n = ins.execute(params![
                    campaign,
                    l.debtor_id,
                    l.phone,
                    l.zones,
                    l.vars_json,
                    now,
                    l.source_line as i64
                ])?;
                if n == 1 {
                    out.inserted += 1;
                } else {
                    out.merged += 1;
                }
            }
            let mut upd = tx.prepare_cached("UPDATE leads SET vars=?1 WHERE id=?2")?;
            let mut log = tx.prepare_cached(
                "INSERT INTO lead_changes (lead_id, import_sha256, at, source_line, old_vars, new_vars)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for u in updates {
                upd.execute(params![u.vars_json, u.lead])?;
                log.execute(params![
                    u.lead,
                    sha256,
                    now,
                    u.source_line as i64,
                    u.old_vars_json,
                    u.vars_json
                ])?;
                out.updated += 1;
            }
        }
        tx.execute(
            "INSERT INTO imports (campaign_id, sha256, file, at, rows, inserted, merged, rejected, updated)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT(campaign_id, sha256) DO UPDATE SET at=excluded.at",
            params![
                campaign,
                sha256,
                file,
                now,
                out.rows as i64,
                out.inserted as i64,
                out.merged as i64,
                out.rejected as i64,
                out.updated as i64
            ],
        )?;
        tx.commit()?;
        self.conn.pragma_update(None, "cache_size", -8_192)?;
        Ok(out)
    }

    fn suppress(&mut self, phones: &[String], reason: &str, now: i64) -> Result<u64> {
        let tx = self.conn.transaction()?;
        let mut n = 0;
        {
            let mut st = tx.prepare_cached(
                "INSERT INTO suppression (phone, reason, added_at) VALUES (?, ?, ?) ON CONFLICT(phone) DO NOTHING",
            )?;
            for p in phones {
                n += st.execute(params![p, reason, now])? as u64;
            }
        }
        tx.commit()?;
        Ok(n)
    }

    fn is_suppressed(&self, phone: &str) -> Result<bool> {
        let mut st = self
            .conn
            .prepare_cached("SELECT 1 FROM suppression WHERE phone=?")?;
        Ok(st.exists([phone])?)
    }

    fn due_leads(&self, campaign: i64, now: i64, limit: usize) -> Result<Vec<Lead>> {
        let mut st = self.conn.prepare_cached(
            "SELECT id, debtor_id, phone, zones, vars, status, attempts, next_due_at FROM leads
             WHERE campaign_id=? AND status='pending' AND next_due_at<=?
             ORDER BY next_due_at, id LIMIT ?",
        )?;
        let rows = st.query_map(params![campaign, now, limit as i64], lead_row)?;
        rows.map(|r| r.map_err(StoreError::from).and_then(|x| x))
            .collect()
    }

    fn next_due(&self, campaign: i64) -> Result<Option<i64>> {
        Ok(self.conn.query_row(
            "SELECT MIN(next_due_at) FROM leads WHERE campaign_id=? AND status='pending'",
            [campaign],
            |r| r.get(0),
        )?)
    }

    fn history(&self, debtor_id: &str) -> Result<Vec<PastAttempt>> {
        let mut st = self.conn.prepare_cached(
            "SELECT started_at, phone, outcome FROM attempts WHERE debtor_id=? ORDER BY started_at, id",
        )?;
        let rows = st.query_map([debtor_id], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (at, phone, outcome) = row?;
            // An attempt still open is, for the policy, a call that may have connected.
            let outcome = if outcome == "in_flight" {
                CallOutcome::Interrupted
            } else {
                CallOutcome::parse(&outcome)
                    .ok_or_else(|| StoreError::Corrupt(format!("attempt outcome `{outcome}`")))?
            };
            out.push(PastAttempt {
                at: Millis::from_unix_secs(at),
                phone,
                outcome,
            });
        }
        Ok(out)
    }

    fn disposition(&self, debtor_id: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row(
                "SELECT disposition FROM attempts WHERE debtor_id=? AND disposition IS NOT NULL
                 ORDER BY id DESC LIMIT 1",
                [debtor_id],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn start_attempt(
        &mut self,
        lead: &Lead,
        campaign: i64,
        policy_version: Option<i64>,
        now: i64,
    ) -> Result<i64> {
        let tx = self.conn.transaction()?;
        let changed = tx.execute(
            "UPDATE leads SET status='in_flight', attempts=attempts+1 WHERE id=? AND status='pending'",
            [lead.id],
        )?;
        if changed != 1 {
            return Err(StoreError::Corrupt(format!(
                "lead {} is not pending; refusing to dial it twice",
                lead.id
            )));
        }
        tx.execute(
            "INSERT INTO attempts (lead_id, campaign_id, debtor_id, phone, started_at, policy_version)
             VALUES (?, ?, ?, ?, ?, ?)",
            params![lead.id, campaign, lead.debtor_id, lead.phone, now, policy_version],
        )?;
        let id = tx.last_insert_rowid();
        tx.execute(
            "UPDATE campaigns SET clock=MAX(COALESCE(clock,0), ?) WHERE id=?",
            params![now, campaign],
        )?;
        tx.commit()?;
        Ok(id)
    }

    fn finish_attempt(&mut self, attempt: i64, end: &AttemptEnd, now: i64) -> Result<()> {
        let tx = self.conn.transaction()?;
        close_attempt(&tx, attempt, end, now)?;
        tx.commit()?;
        Ok(())
    }

    fn finish_attempt_with_call(
        &mut self,
        attempt: i64,
        end: &AttemptEnd,
        call: &CallDetail,
        now: i64,
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        close_attempt(&tx, attempt, end, now)?;
        insert_call(&tx, attempt, call)?;
        tx.commit()?;
        Ok(())
    }

    fn calls(&self, filter: &CallFilter) -> Result<Vec<CallSummary>> {
        let mut sql = format!("{CALL_SELECT} WHERE 1=1");
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        if let Some(name) = &filter.campaign {
            let c = self.campaign(name)?;
            sql.push_str(" AND a.campaign_id=?");
            args.push(c.id.into());
        }
        if let Some(o) = filter.outcome {
            sql.push_str(" AND a.outcome=?");
            args.push(o.as_str().to_string().into());
        }
        if let Some(t) = filter.since {
            sql.push_str(" AND a.started_at>=?");
            args.push(t.into());
        }
        sql.push_str(" ORDER BY a.started_at DESC, a.id DESC");
        if let Some(n) = filter.limit {
            sql.push_str(" LIMIT ?");
            args.push(i64::try_from(n).unwrap_or(i64::MAX).into());
        }
        let mut st = self.conn.prepare(&sql)?;
        let rows = st.query_map(rusqlite::params_from_iter(args), call_row)?;
        let mut out = Vec::new();
        for row in rows {
            out.push(row?.into_summary()?);
        }
        Ok(out)
    }

    fn call(&self, attempt: i64) -> Result<Option<CallView>> {
        let sql = format!("{CALL_SELECT} WHERE a.id=?");
        let Some(row) = self.conn.query_row(&sql, [attempt], call_row).optional()? else {
            return Ok(None);
        };
        let (debtor_id, zones, status, policy_version): (String, String, String, Option<i64>) =
            self.conn.query_row(
                "SELECT l.debtor_id, l.zones, l.status, a.policy_version
                 FROM attempts a JOIN leads l ON l.id = a.lead_id WHERE a.id=?",
                [attempt],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )?;
        let lead_status = LeadStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("lead status `{status}`")))?;
        let detail = self
            .conn
            .query_row(
                "SELECT answered_at_ms, ended_at_ms, cpd, handoff, transcript, compliance,
                        turn_latencies_ms, recording, sip_call_id, captured
                 FROM calls WHERE attempt_id=?",
                [attempt],
                |r| {
                    Ok((
                        r.get::<_, Option<i64>>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, Option<String>>(2)?,
                        r.get::<_, Option<String>>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, String>(5)?,
                        r.get::<_, String>(6)?,
                        r.get::<_, Option<String>>(7)?,
                        r.get::<_, Option<String>>(8)?,
                        r.get::<_, String>(9)?,
                    ))
                },
            )
            .optional()?;
        let detail = match detail {
            None => None,
            Some((
                answered_at_ms,
                ended_at_ms,
                cpd,
                handoff,
                transcript,
                compliance,
                latencies,
                recording,
                sip_call_id,
                captured,
            )) => Some(CallDetail {
                answered_at_ms,
                ended_at_ms,
                cpd,
                handoff: handoff
                    .map(|h| from_json::<Handoff>(attempt, "handoff", &h))
                    .transpose()?,
                transcript: from_json(attempt, "transcript", &transcript)?,
                compliance: from_json(attempt, "compliance", &compliance)?,
                turn_latencies_ms: from_json(attempt, "turn_latencies_ms", &latencies)?,
                recording,
                sip_call_id,
                captured: from_json(attempt, "captured", &captured)?,
            }),
        };
        Ok(Some(CallView {
            call: row.into_summary()?,
            debtor_id,
            zones,
            lead_status,
            policy_version,
            detail,
        }))
    }

    fn block(
        &mut self,
        lead: &Lead,
        campaign: i64,
        rule: Rule,
        detail: &str,
        until: Option<i64>,
        now: i64,
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO blocks (campaign_id, lead_id, at, rule, detail, until) VALUES (?, ?, ?, ?, ?, ?)",
            params![campaign, lead.id, now, rule.as_str(), detail, until],
        )?;
        match until {
            Some(t) => tx.execute(
                "UPDATE leads SET next_due_at=? WHERE id=?",
                params![t.max(now + 1), lead.id],
            )?,
            None => tx.execute("UPDATE leads SET status='stopped' WHERE id=?", [lead.id])?,
        };
        tx.commit()?;
        Ok(())
    }

    fn recover_interrupted(
        &mut self,
        campaign: i64,
        now: i64,
        next: &dyn Fn(u32, i64) -> Next,
    ) -> Result<u64> {
        let tx = self.conn.transaction()?;
        let open: Vec<(i64, i64)> = {
            let mut st = tx.prepare(
                "SELECT id, lead_id FROM attempts WHERE campaign_id=? AND outcome='in_flight'",
            )?;
            let rows = st.query_map([campaign], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect::<std::result::Result<_, _>>()?
        };
        for (attempt, lead) in &open {
            tx.execute(
                "UPDATE attempts SET outcome='interrupted', ended_at=? WHERE id=?",
                params![now, attempt],
            )?;
            let tries: u32 = tx.query_row(
                "SELECT COUNT(*) FROM attempts WHERE lead_id=? AND outcome='interrupted'",
                [lead],
                |r| r.get(0),
            )?;
            let (status, due) = next_status(&next(tries, now));
            tx.execute(
                "UPDATE leads SET status=?, next_due_at=COALESCE(?, next_due_at) WHERE id=?",
                params![status.as_str(), due, lead],
            )?;
        }
        // A lead marked in flight with no open attempt cannot happen (one transaction
        // writes both), but a store edited by hand should not strand leads either.
        tx.execute(
            "UPDATE leads SET status='pending' WHERE campaign_id=? AND status='in_flight'
             AND NOT EXISTS (SELECT 1 FROM attempts a WHERE a.lead_id=leads.id AND a.outcome='in_flight')",
            [campaign],
        )?;
        tx.commit()?;
        Ok(open.len() as u64)
    }

    fn set_clock(&mut self, campaign: i64, now: i64) -> Result<()> {
        self.conn.execute(
            "UPDATE campaigns SET clock=MAX(COALESCE(clock,0), ?) WHERE id=?",
            params![now, campaign],
        )?;
        Ok(())
    }

    fn stats(&self, campaign: i64) -> Result<CampaignStats> {
        let mut s = CampaignStats::default();
        let q = |sql: &str, into: &mut std::collections::BTreeMap<String, u64>| -> Result<()> {
            let mut st = self.conn.prepare(sql)?;
            let rows = st.query_map([campaign], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
            })?;
            for row in rows {
                let (k, v) = row?;
                into.insert(k, v as u64);
            }
            Ok(())
        };
        q(
            "SELECT status, COUNT(*) FROM leads WHERE campaign_id=? GROUP BY status",
            &mut s.leads,
        )?;
        q(
            "SELECT outcome, COUNT(*) FROM attempts WHERE campaign_id=? GROUP BY outcome",
            &mut s.attempts,
        )?;
        q(
            "SELECT rule, COUNT(*) FROM blocks WHERE campaign_id=? GROUP BY rule",
            &mut s.blocks,
        )?;
        Ok(s)
    }

    fn ledger(&self, campaign: i64) -> Result<Vec<LedgerRow>> {
        let mut st = self.conn.prepare(
            "SELECT a.id, a.lead_id, a.debtor_id, a.phone, l.zones, a.started_at, a.outcome, a.disposition,
                    a.policy_version
             FROM attempts a JOIN leads l ON l.id = a.lead_id WHERE a.campaign_id=? ORDER BY a.id",
        )?;
        let rows = st.query_map([campaign], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, i64>(5)?,
                r.get::<_, String>(6)?,
                r.get::<_, Option<String>>(7)?,
                r.get::<_, Option<i64>>(8)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (
                attempt,
                lead,
                debtor_id,
                phone,
                zones,
                started_at,
                outcome,
                disposition,
                policy_version,
            ) = row?;
            let outcome = if outcome == "in_flight" {
                CallOutcome::Interrupted
            } else {
                CallOutcome::parse(&outcome)
                    .ok_or_else(|| StoreError::Corrupt(format!("attempt outcome `{outcome}`")))?
            };
            out.push(LedgerRow {
                attempt,
                lead,
                debtor_id,
                phone,
                zones,
                started_at,
                outcome,
                disposition,
                policy_version,
            });
        }
        Ok(out)
    }

    fn outcome_count(&self, lead: i64, outcome: CallOutcome) -> Result<u32> {
        let mut st = self
            .conn
            .prepare_cached("SELECT COUNT(*) FROM attempts WHERE lead_id=? AND outcome=?")?;
        Ok(st.query_row(params![lead, outcome.as_str()], |r| r.get(0))?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn preset(name: &str) -> PolicySource {
        PolicySource::resolve(name).expect("preset").1
    }

    fn lead(phone: &str) -> NewLead {
        NewLead {
            debtor_id: format!("D{phone}"),
            phone: phone.into(),
            zones: "Asia/Shanghai".into(),
            vars_json: "{}".into(),
            source_line: 2,
        }
    }

    #[test]
    fn ledger_round_trip_and_recovery() {
        let mut s = SqliteStore::memory().expect("db");
        assert_eq!(s.schema_version().expect("v"), MIGRATIONS.len() as i64);
        let c = s
            .ensure_campaign("c1", None, &preset("cn-collection"), "test")
            .expect("campaign");
        let counts = ImportCounts {
            rows: 3,
            ..Default::default()
        };
        let r = s
            .import_leads(
                c.id,
                &[
                    lead("+8613800000001"),
                    lead("+8613800000002"),
                    lead("+8613800000001"),
                ],
                &[],
                "f.csv",
                "abc",
                &counts,
                100,
            )
            .expect("import");
        assert_eq!((r.inserted, r.merged), (2, 1));
        let due = s.due_leads(c.id, 100, 10).expect("due");
        assert_eq!(due.len(), 2);
        let a = s
            .start_attempt(&due[0], c.id, c.policy_version, 100)
            .expect("start");
        // The same lead cannot be started twice.
        assert!(s
            .start_attempt(&due[0], c.id, c.policy_version, 101)
            .is_err());
        assert_eq!(s.due_leads(c.id, 100, 10).expect("due").len(), 1);
        assert_eq!(
            s.history(&due[0].debtor_id).expect("h")[0].outcome,
            CallOutcome::Interrupted
        );
        // Crash: recovery closes it as interrupted and reschedules.
        let n = s
            .recover_interrupted(c.id, 200, &|_, now| {
                Next::RetryAt(Millis::from_unix_secs(now + 60))
            })
            .expect("recover");
        assert_eq!(n, 1);
        assert_eq!(s.lead_attempts(due[0].id).expect("a")[0].0, "interrupted");
        let _ = a;
        assert!(s
            .due_leads(c.id, 259, 10)
            .expect("due")
            .iter()
            .all(|l| l.id != due[0].id));
        assert_eq!(s.due_leads(c.id, 260, 10).expect("due").len(), 2);
        let b = s
            .start_attempt(&due[1], c.id, c.policy_version, 300)
            .expect("start");
        s.finish_attempt(
            b,
            &AttemptEnd {
                outcome: CallOutcome::Connected,
                sip_code: Some(200),
                disposition: Some("refused".into()),
                talk_s: 30.0,
                next: Next::Done,
            },
            330,
        )
        .expect("finish");
        assert_eq!(
            s.disposition(&due[1].debtor_id).expect("d").as_deref(),
            Some("refused")
        );
        let st = s.stats(c.id).expect("stats");
        assert_eq!(st.leads.get("done"), Some(&1));
        assert_eq!(st.attempts.get("interrupted"), Some(&1));
    }

    // ---- issue 20 item 4 and 9: policy snapshots, unsuppress ----

    #[test]
    fn a_campaign_keeps_its_policy_snapshot_and_each_attempt_the_one_it_ran_under() {
        let mut s = SqliteStore::memory().expect("db");
        let cn = preset("cn-collection");
        let c = s
            .ensure_campaign("c", None, &cn, "import")
            .expect("campaign");
        let v1 = s.campaign_policy(&c).expect("snapshot");
        assert_eq!(
            (v1.sha256.as_str(), v1.snapshot.text.as_str()),
            (cn.sha256.as_str(), cn.text.as_str())
        );
        // Importing again under another policy does not change it.
        let us = preset("us-tcpa-regf");
        let again = s
            .ensure_campaign("c", None, &us, "import")
            .expect("campaign");
        assert_eq!(again.policy_version, c.policy_version);
        s.import_leads(
            c.id,
            &[lead("+8613800000001")],
            &[],
            "f",
            "h",
            &ImportCounts::default(),
            0,
        )
        .expect("import");
        let l = s.due_leads(c.id, 10, 1).expect("due").remove(0);
        let a = s
            .start_attempt(&l, c.id, c.policy_version, 10)
            .expect("start");
        let end = AttemptEnd {
            outcome: CallOutcome::NoAnswer,
            sip_code: Some(480),
            disposition: None,
            talk_s: 0.0,
            next: Next::RetryAt(Millis::from_unix_secs(20)),
        };
        s.finish_attempt(a, &end, 15).expect("finish");
        let change = s
            .set_campaign_policy(c.id, &us, "policy --set", 16)
            .expect("set");
        assert_eq!(change.from.as_ref().map(|v| v.id), c.policy_version);
        assert_eq!(change.to.sha256, us.sha256);
        let c2 = s.campaign("c").expect("c");
        assert_eq!(c2.policy_version, Some(change.to.id));
        let l = s.due_leads(c.id, 20, 1).expect("due").remove(0);
        s.start_attempt(&l, c.id, c2.policy_version, 20)
            .expect("start");
        let ledger = s.ledger(c.id).expect("ledger");
        assert_eq!(ledger[0].policy_version, c.policy_version);
        assert_eq!(ledger[1].policy_version, c2.policy_version);
        let log = s.policy_changes(c.id).expect("log");
        assert_eq!(log.len(), 2, "creation and the change are logged");
        assert_eq!(log[1].by, "policy --set");
    }

    #[test]
    fn an_older_database_gets_snapshots_of_its_campaigns_policies() {
        let dir = tempfile::tempdir().expect("tmp");
        let db = dir.path().join("old.db");
        {
            let conn = Connection::open(&db).expect("open");
            conn.execute_batch(MIGRATIONS[0]).expect("v1");
            conn.pragma_update(None, "user_version", 1).expect("v");
            conn.execute_batch(
                "INSERT INTO campaigns (id, name, policy, created_at) VALUES (1, 'old', 'cn-collection', 0), (2, 'lost', '/nonexistent/p.yaml', 0);
                 INSERT INTO leads (id, campaign_id, debtor_id, phone, zones, vars, source_line) VALUES (1, 1, 'D', '+8613800000001', '', '{}', 2);
                 INSERT INTO attempts (lead_id, campaign_id, debtor_id, phone, started_at, outcome) VALUES (1, 1, 'D', '+8613800000001', 5, 'no_answer');",
            )
            .expect("old rows");
        }
        let s = SqliteStore::open(&db).expect("upgrade");
        let c = s.campaign("old").expect("old");
        let v = s.campaign_policy(&c).expect("snapshotted at the upgrade");
        assert_eq!(v.sha256, preset("cn-collection").sha256);
        assert!(v.created_by.contains("upgrade"), "{}", v.created_by);
        assert_eq!(
            s.ledger(c.id).expect("ledger")[0].policy_version,
            Some(v.id)
        );
        // A policy that cannot be read is left without a snapshot, and says how to set one.
        let lost = s.campaign("lost").expect("lost");
        let e = s
            .campaign_policy(&lost)
            .expect_err("no snapshot")
            .to_string();
        assert!(e.contains("voxdial campaign policy lost --set"), "{e}");
    }

    #[test]
    fn unsuppress_removes_numbers_and_keeps_who_when_and_why() {
        let mut s = SqliteStore::memory().expect("db");
        let p = "+8613800000001".to_string();
        s.suppress(std::slice::from_ref(&p), "complaint", 5)
            .expect("suppress");
        assert!(s.is_suppressed(&p).expect("q"));
        let out = s
            .unsuppress(
                &[p.clone(), "+8613800000009".into()],
                "ops",
                "complaint withdrawn",
                9,
            )
            .expect("unsuppress");
        assert_eq!(out.len(), 1, "only listed numbers are removed");
        assert_eq!((out[0].reason.as_str(), out[0].added_at), ("complaint", 5));
        assert!(!s.is_suppressed(&p).expect("q"));
        let kept: (String, i64, String, String) = s
            .conn
            .query_row(
                "SELECT reason, removed_at, removed_by, why FROM suppression_removed WHERE phone=?",
                [&p],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .expect("kept");
        assert_eq!(
            kept,
            (
                "complaint".into(),
                9,
                "ops".into(),
                "complaint withdrawn".into()
            )
        );
    }

    // ---- issue 14: per-call records ----

    #[test]
    fn a_version_3_database_gets_the_calls_table_and_keeps_its_rows() {
        let dir = tempfile::tempdir().expect("tmp");
        let db = dir.path().join("v3.db");
        {
            let conn = Connection::open(&db).expect("open");
            for m in &MIGRATIONS[..3] {
                conn.execute_batch(m).expect("migration");
            }
            conn.pragma_update(None, "user_version", 3).expect("v");
            conn.execute_batch(
                "INSERT INTO campaigns (id, name, policy, created_at) VALUES (1, 'old', 'cn-collection', 0);
                 INSERT INTO leads (id, campaign_id, debtor_id, phone, zones, vars, status, source_line)
                    VALUES (1, 1, 'D', '+8613800000001', '', '{}', 'done', 2);
                 INSERT INTO attempts (id, lead_id, campaign_id, debtor_id, phone, started_at, ended_at, outcome, sip_code)
                    VALUES (7, 1, 1, 'D', '+8613800000001', 5, 9, 'no_answer', 480);",
            )
            .expect("old rows");
        }
        let s = SqliteStore::open(&db).expect("upgrade");
        assert_eq!(s.schema_version().expect("v"), MIGRATIONS.len() as i64);
        let c = s.campaign("old").expect("campaign kept");
        assert_eq!(s.ledger(c.id).expect("ledger").len(), 1);
        let v = s.call(7).expect("read").expect("the old attempt is a call");
        assert_eq!(v.call.outcome, Some(CallOutcome::NoAnswer));
        assert_eq!(v.call.sip_code, Some(480));
        assert!(v.detail.is_none(), "no record from before call records");
        assert_eq!(
            s.calls(&crate::store::CallFilter::default())
                .expect("list")
                .len(),
            1
        );
    }
}
