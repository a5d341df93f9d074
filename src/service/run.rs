//! The live driver: each campaign's `dialer::Dialer` core (the same core the simulated
//! runner drives on a virtual clock) driven in real time over SIP lines.
//!
//! One task owns the store and the cores; calls run as tasks of their own on one shared
//! [`SipUa`] and report back on a channel: the answer *when it happens* (the agent's
//! `start()` runs at the answer and sends it), the end with the call's report. The store
//! side (offers with contact history, ledger before dial, retries, blocks) is
//! `campaign::runner::Ledger`, shared with the simulated runner.

use super::agent_first::{self, Connector, Reached};
use super::agents::{AgentFactory, CampaignInfo};
use super::config::{CampaignConfig, Loaded, Mode};
use super::metrics::{CampaignFigures, LatencyHistogram, Metrics, Snapshot};
use crate::campaign::runner::{self, Committed, Finish, Ledger};
use crate::dialer::core::{CallId, Dialer, DialerConfig, Input, LineResult, Output};
use crate::media::stream::PlayoutQueue;
use crate::policy::{CallOutcome, Policy};
use crate::queue::{HandoffRecord, HandoffResult as QueueResult, QueueHandle};
use crate::sip::agent::{AgentCommand, AgentMedia, CallAgent, EarlyVerdict};
use crate::sip::trunk::{Refusal, TrunkGate};
use crate::sip::ua::{CallReport, CallRequest, SipUa, UaError};
use crate::store::{
    CallDetail, Channel, ComplianceEvent, Handoff, HandoffMethod, HandoffResult, Lead, Store,
    StoreError, TranscriptEntry,
};
use crate::time::{Millis, MonotonicClock};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Why the service stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A campaign's stored policy snapshot does not compile.
    #[error("campaign {campaign}: its stored policy snapshot")]
    Policy {
        /// Campaign.
        campaign: String,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A trunk's proxy has no address.
    #[error(transparent)]
    Trunk(#[from] crate::sip::trunk::TrunkError),
    /// voxdial's SIP address cannot be bound.
    #[error("sip.listen {listen}")]
    Sip {
        /// The configured address.
        listen: std::net::SocketAddr,
        /// Why.
        #[source]
        source: UaError,
    },
    /// A built-in queue cannot start (its hold audio).
    #[error(transparent)]
    Queue(#[from] crate::queue::QueueError),
    /// An agent-first campaign cannot run: its policy has no abandon message in the
    /// campaign's locale, the message has no audio, or its queue is not running.
    #[error("campaign {campaign}: {why}")]
    AgentFirst {
        /// Campaign.
        campaign: String,
        /// What is missing.
        why: String,
    },
    /// The recordings folder cannot be made.
    #[error("recordings folder {path}")]
    Recordings {
        /// Folder.
        path: PathBuf,
        /// OS error.
        #[source]
        source: std::io::Error,
    },
}

/// What to do besides running until told to stop.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Stop once no call is live and no lead is due now (tests, a one-shot batch);
    /// retries scheduled later stay in the database for the next run.
    pub exit_when_idle: bool,
    /// The running built-in queues (`service::queues::bind`): agent-first campaigns'
    /// agents, whose states pace them.
    pub queues: Vec<QueueHandle>,
    /// Agent-first campaigns' abandon message voiced (8 kHz), by campaign: the policy's
    /// `abandon_message` in the campaign's locale ([`abandon_texts`]), voiced once
    /// before the first dial so no call waits on a voice.
    pub abandon_audio: BTreeMap<String, AbandonAudio>,
    /// Where the live figures are published for the operations endpoint, if one runs.
    pub metrics: Option<Arc<Metrics>>,
}

/// A voiced abandon message (8 kHz PCM); its length, not its samples, in debug output.
#[derive(Clone)]
pub struct AbandonAudio(pub Arc<Vec<i16>>);

impl std::fmt::Debug for AbandonAudio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AbandonAudio({} ms)", self.0.len() / 8)
    }
}

/// One agent-first campaign's abandon message, to be voiced before the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbandonText {
    /// Campaign.
    pub campaign: String,
    /// The campaign's locale (the voice to use).
    pub locale: crate::Locale,
    /// The words as a voice reads them (the callback number digit by digit).
    pub spoken: String,
}

/// The abandon message of every agent-first campaign of `cfg`, from its stored policy
/// snapshot: an error naming the campaign when the policy has none in its locale, since
/// abandoning a call without identifying the caller is what the rules forbid.
pub fn abandon_texts(cfg: &Loaded, store: &dyn Store) -> Result<Vec<AbandonText>, ServiceError> {
    let mut out = Vec::new();
    for c in cfg
        .config
        .campaigns
        .iter()
        .filter(|c| c.mode == Mode::AgentFirst)
    {
        let (_, policy) = campaign_policy(store, &c.name)?;
        let spoken = policy
            .abandon_message
            .as_ref()
            .and_then(|m| m.spoken(c.locale))
            .ok_or_else(|| ServiceError::AgentFirst {
                campaign: c.name.clone(),
                why: format!(
                    "agent_first abandons calls no agent takes in time, and its policy {} has no abandon_message in {} (who calls, a number to call back): set a policy with one (campaign policy {} --set FILE)",
                    policy.name, c.locale, c.name
                ),
            })?;
        out.push(AbandonText {
            campaign: c.name.clone(),
            locale: c.locale,
            spoken,
        });
    }
    Ok(out)
}

/// Per-campaign counters, logged every minute and returned at the end.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Counters {
    /// Dials placed.
    pub dials: u64,
    /// Calls answered.
    pub answered: u64,
    /// Answered calls no bot (agent-first: no agent) took in time.
    pub abandoned: u64,
    /// Agent-first: calls that reached an agent.
    pub connected: u64,
    /// Agent-first: seconds the agents talked with customers (the queue's records).
    pub agent_talk_s: f64,
    /// Calls handed to a person.
    pub transferred: u64,
    /// Attempts closed, by outcome.
    pub outcomes: BTreeMap<String, u64>,
    /// Policy blocks, by rule.
    pub blocks: BTreeMap<String, u64>,
    /// Times a bot's playout ran dry mid-prompt, over all calls (`MediaReport`): gaps the
    /// customers heard, which a load run must keep at zero.
    pub playout_underruns: u64,
    /// Media ticks sent late, over all calls: the media workers falling behind.
    pub late_media_ticks: u64,
}

/// What a run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ServiceReport {
    /// Counters by campaign.
    pub campaigns: BTreeMap<String, Counters>,
    /// Attempts an earlier run left in flight, closed as interrupted at start.
    pub recovered_interrupted: u64,
    /// Whether the run ended on a shutdown request (SIGTERM, Ctrl-C).
    pub drained: bool,
    /// Calls still live at the drain limit, hung up or given up on.
    pub cut_at_drain: u64,
}

/// From a call's task to the driver.
enum Event {
    Answered {
        camp: usize,
        call: CallId,
        commands: mpsc::UnboundedSender<AgentCommand>,
        playout: PlayoutQueue,
        at: Millis,
    },
    /// Agent-first: what the call's connector found.
    Reached {
        camp: usize,
        call: CallId,
        reached: Reached,
    },
    Ended {
        camp: usize,
        call: CallId,
        report: Box<Result<CallReport, UaError>>,
    },
}

/// The agent as the driver wraps it: its `start()` is the answer, reported at once.
struct Answering {
    inner: Box<dyn CallAgent>,
    tx: mpsc::UnboundedSender<Event>,
    camp: usize,
    call: CallId,
    clock: MonotonicClock,
}

impl CallAgent for Answering {
    fn early_frame(&mut self, now_ms: u64, pcm: &[i16]) -> Option<EarlyVerdict> {
        self.inner.early_frame(now_ms, pcm)
    }

    fn start(
        self: Box<Self>,
        media: AgentMedia,
        commands: mpsc::UnboundedSender<AgentCommand>,
    ) -> std::thread::JoinHandle<crate::sip::agent::AgentReport> {
        let _ = self.tx.send(Event::Answered {
            camp: self.camp,
            call: self.call,
            commands: commands.clone(),
            playout: media.playout.clone(),
            at: self.clock.now(),
        });
        self.inner.start(media, commands)
    }
}

/// One call the driver knows of, from its dial to its attempt's close.
struct Live {
    lead: Lead,
    attempt: i64,
    trunk: Option<usize>,
    task: Option<tokio::task::JoinHandle<()>>,
    commands: Option<mpsc::UnboundedSender<AgentCommand>>,
    answered_at: Option<Millis>,
    /// The call's outbound audio (agent-first plays the abandon message on it).
    playout: Option<PlayoutQueue>,
    /// Agent-first: when call progress found a person, the answer the core counts.
    person_at: Option<Millis>,
    /// Agent-first: the abandon message was started (the attempt closes at the end).
    abandoned_at: Option<Millis>,
    /// Agent-first: the call was asked to bridge to the queue.
    bridge_asked: bool,
    connected: bool,
    /// The attempt is closed in the ledger.
    closed: bool,
    /// The call's task has ended.
    ended: bool,
    /// Its report, when it produced one (kept for a close that waits on the core).
    report: Option<CallReport>,
    sip_code: Option<u16>,
    recording: Option<PathBuf>,
    /// Why this driver hung the call up itself (the drain's limit), for its disposition.
    hung_up_for: Option<&'static str>,
}

/// One campaign's core, ledger and calls.
struct Camp<'p> {
    info: CampaignInfo,
    id: i64,
    core: Dialer<'p, ()>,
    ledger: Ledger<'p>,
    trunks: Vec<usize>,
    /// Where the bot's REFER goes.
    queue: Option<String>,
    /// The queue as the call's record names it (a built-in queue's name, an external
    /// queue's address).
    queue_label: Option<String>,
    /// The hand-off queue is built in: its record completes the call's.
    builtin_queue: bool,
    live: HashMap<CallId, Live>,
    pending: VecDeque<CallId>,
    /// Earliest moment a trunk may take the next pending dial.
    retry_at: Option<Millis>,
    /// How long a dial rings: the config's, but never under the policy's minimum ring.
    ring_timeout: Duration,
    /// How long an answered customer may send no RTP (None: for ever).
    media_timeout: Option<Duration>,
    counters: Counters,
    /// Agent-first: the queue, the abandon message and the agents' wrap-up.
    agent_first: Option<AgentFirst>,
    /// The bots' turn latencies, for the operations endpoint.
    turn_latency: LatencyHistogram,
}

/// What an agent-first campaign's driver needs beyond a bot-first one's.
struct AgentFirst {
    queue: QueueHandle,
    abandon: Arc<Vec<i16>>,
    /// The message as written, for the call's record.
    written: String,
    wrap_up_ms: u64,
}

struct Trunk {
    cfg: crate::sip::trunk::TrunkConfig,
    gate: TrunkGate,
    auth: Option<(String, String)>,
}

/// The running service.
struct Driver<'s, 'p> {
    store: &'s mut dyn Store,
    ua: Arc<SipUa>,
    factory: Arc<dyn AgentFactory>,
    camps: Vec<Camp<'p>>,
    trunks: Vec<Trunk>,
    tx: mpsc::UnboundedSender<Event>,
    clock: MonotonicClock,
    recordings: Option<PathBuf>,
    draining: bool,
    /// Attempts handed to a built-in queue, waiting for its record (by attempt id).
    parked: HashMap<i64, Parked>,
    /// Queue records that came before their call's end (by attempt id).
    early: HashMap<i64, HandoffRecord>,
    /// How long a parked attempt waits for its queue's record.
    park_for_ms: u64,
    /// Where the figures are published after every turn of the loop.
    metrics: Option<Arc<Metrics>>,
}

/// An attempt whose call was handed to a built-in queue, closed once the queue's record
/// of the human part arrives (or `until` passes).
struct Parked {
    camp: usize,
    lead: i64,
    outcome: CallOutcome,
    sip_code: Option<u16>,
    disposition: Option<String>,
    talk_s: f64,
    detail: CallDetail,
    until: Millis,
    /// An agent-first call: the queue's record says whether an agent took it.
    agent_first: bool,
}

/// The campaign's stored policy, compiled (what every dial is judged by).
pub fn campaign_policy(
    store: &dyn Store,
    name: &str,
) -> Result<(crate::store::Campaign, Policy), ServiceError> {
    let c = store.campaign(name)?;
    let v = store.campaign_policy(&c)?;
    let policy = v.snapshot.compile().map_err(|e| ServiceError::Policy {
        campaign: name.to_string(),
        source: Box::new(e),
    })?;
    Ok((c, policy))
}

/// Run every campaign of `cfg` until `shutdown` is cancelled (then drain: no new dials,
/// live calls get up to `drain_timeout_s`, the rest are hung up) or, with
/// `opts.exit_when_idle`, until nothing is live and nothing is due.
pub async fn run(
    cfg: &Loaded,
    store: &mut dyn Store,
    ua: Arc<SipUa>,
    factory: Arc<dyn AgentFactory>,
    shutdown: CancellationToken,
    opts: RunOptions,
    mut handoffs: Option<mpsc::UnboundedReceiver<HandoffRecord>>,
) -> Result<ServiceReport, ServiceError> {
    let clock = MonotonicClock::new();
    let start = clock.now();
    let mut policies = Vec::new();
    let mut rows = Vec::new();
    for c in &cfg.config.campaigns {
        let (row, policy) = campaign_policy(store, &c.name)?;
        policies.push(policy);
        rows.push(row);
    }
    let mut report = ServiceReport::default();
    for (row, policy) in rows.iter().zip(&policies) {
        report.recovered_interrupted += runner::recover(store, row.id, policy, start)?;
    }
    let trunks = cfg
        .config
        .trunks
        .iter()
        .zip(&cfg.trunk_passwords)
        .map(|(t, p)| Trunk {
            cfg: t.clone(),
            gate: TrunkGate::new(t.channels, t.cps),
            auth: match (&t.username, p) {
                (Some(u), Some(p)) => Some((u.clone(), p.clone())),
                _ => None,
            },
        })
        .collect::<Vec<_>>();
    let mut firsts = Vec::new();
    for (c, policy) in cfg.config.campaigns.iter().zip(&policies) {
        firsts.push(match c.mode {
            Mode::AgentFirst => Some(agent_first_of(cfg, c, policy, &opts)?),
            Mode::BotFirst => None,
        });
    }
    let camps = cfg
        .config
        .campaigns
        .iter()
        .zip(rows)
        .zip(&policies)
        .zip(firsts)
        .map(|(((c, row), policy), first)| {
            camp(cfg, c, row, policy, start, &trunks, ua.local_addr(), first)
        })
        .collect();
    let recordings = cfg.config.recordings.as_ref().map(|p| cfg.path(p));
    if let Some(dir) = &recordings {
        std::fs::create_dir_all(dir).map_err(|source| ServiceError::Recordings {
            path: dir.clone(),
            source,
        })?;
    }
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut d = Driver {
        store,
        ua,
        factory,
        camps,
        trunks,
        tx,
        clock,
        recordings,
        draining: false,
        parked: HashMap::new(),
        early: HashMap::new(),
        park_for_ms: park_for_ms(cfg),
        metrics: opts.metrics.clone(),
    };
    let drain_for = Duration::from_secs_f64(cfg.config.drain_timeout_s);
    let mut drain_until: Option<Millis> = None;
    let mut cut = false;
    let mut next_log = start.plus_ms(60_000);
    loop {
        let now = d.clock.now();
        for ci in 0..d.camps.len() {
            d.count_takers(ci, now)?;
            d.step(ci, now)?;
        }
        d.unpark_expired(now)?;
        if now >= next_log {
            next_log = now.plus_ms(60_000);
            d.log_counters();
        }
        let live: usize = d.camps.iter().map(|c| c.live.len()).sum::<usize>() + d.parked.len();
        d.publish();
        if d.draining && live == 0 {
            break;
        }
        if opts.exit_when_idle && !d.draining && live == 0 && d.idle(now)? {
            break;
        }
        if let Some(until) = drain_until {
            if now >= until && !cut {
                cut = true;
                report.cut_at_drain = live as u64;
                d.hang_up_all();
                d.unpark_all(now)?;
                // Calls that do not end within a few seconds of their BYE (a ringing
                // INVITE cannot be hung up through its agent) are given up on.
                drain_until = Some(now.plus_ms(5_000));
            } else if now >= until && cut {
                d.abandon_all(now)?;
                break;
            }
        }
        let mut wake = next_log;
        for c in &mut d.camps {
            if let Some(t) = c.core.poll_timeout() {
                wake = wake.min(t);
            }
            if let Some(t) = c.retry_at {
                wake = wake.min(t);
            }
        }
        if let Some(t) = drain_until {
            wake = wake.min(t);
        }
        if let Some(t) = d.parked.values().map(|p| p.until).min() {
            wake = wake.min(t);
        }
        if d.camps.iter().any(|c| c.agent_first.is_some()) {
            // The queue's agents free up on its own clock (wrap-up ends, rings fail):
            // look at its states often enough to connect a waiting answer in time.
            wake = wake.min(d.clock.now().plus_ms(TAKERS_POLL_MS));
        }
        let sleep = tokio::time::sleep_until(d.clock.instant_of(wake).into());
        tokio::select! {
            ev = rx.recv() => {
                if let Some(ev) = ev {
                    let now = d.clock.now();
                    d.on_event(ev, now)?;
                }
            }
            rec = recv_handoff(&mut handoffs) => {
                match rec {
                    Some(rec) => {
                        let now = d.clock.now();
                        d.on_handoff(rec, now)?;
                    }
                    None => handoffs = None,
                }
            }
            _ = sleep => {}
            _ = shutdown.cancelled(), if !d.draining => {
                tracing::info!(live, "shutdown: no new dials, draining live calls");
                d.draining = true;
                report.drained = true;
                drain_until = Some(d.clock.now() + drain_for);
                let now = d.clock.now();
                d.drop_pending(now)?;
            }
        }
    }
    d.log_counters();
    d.publish();
    for c in &d.camps {
        let mut k = c.counters.clone();
        k.outcomes = c.ledger.outcomes.clone();
        k.blocks = c.ledger.blocks.clone();
        report.campaigns.insert(c.info.name.clone(), k);
    }
    Ok(report)
}

/// An agent-first campaign's queue, message and wrap-up, or why it cannot run.
fn agent_first_of(
    cfg: &Loaded,
    c: &CampaignConfig,
    policy: &Policy,
    opts: &RunOptions,
) -> Result<AgentFirst, ServiceError> {
    let why = |why: String| ServiceError::AgentFirst {
        campaign: c.name.clone(),
        why,
    };
    let name = c.queue.as_deref().unwrap_or_default();
    let queue = opts
        .queues
        .iter()
        .find(|q| q.name() == name)
        .cloned()
        .ok_or_else(|| why(format!("its queue {name} is not running")))?;
    let written = policy
        .abandon_message
        .as_ref()
        .and_then(|m| m.written(c.locale))
        .ok_or_else(|| {
            why(format!(
                "its policy {} has no abandon_message in {}",
                policy.name, c.locale
            ))
        })?;
    let abandon = opts
        .abandon_audio
        .get(&c.name)
        .filter(|a| !a.0.is_empty())
        .map(|a| a.0.clone())
        .ok_or_else(|| why("its abandon message has not been voiced".into()))?;
    let wrap_up_ms = cfg
        .builtin_queues
        .iter()
        .find(|q| q.name == name)
        .map_or(0, |q| u64::from(q.wrap_up_s) * 1000);
    Ok(AgentFirst {
        queue,
        abandon,
        written,
        wrap_up_ms,
    })
}

/// How often agent-first campaigns read their queue's free agents (the abandon limit is
/// two seconds: a freed agent is seen within a tenth of it).
const TAKERS_POLL_MS: u64 = 200;

/// The next queue record, or never when there are no built-in queues.
async fn recv_handoff(
    rx: &mut Option<mpsc::UnboundedReceiver<HandoffRecord>>,
) -> Option<HandoffRecord> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// How long a call handed to a built-in queue waits for the queue's record: the longest
/// wait and ring of any built-in queue plus an hour of talk (a longer talk is written
/// without the human part).
fn park_for_ms(cfg: &Loaded) -> u64 {
    let worst = cfg
        .builtin_queues
        .iter()
        .map(|q| {
            u64::from(q.max_wait_s) + u64::from(q.ring_timeout_s) * (q.agents.len() as u64 + 1)
        })
        .max()
        .unwrap_or(0);
    (worst + 3600) * 1000
}

#[allow(clippy::too_many_arguments)]
fn camp<'p>(
    cfg: &Loaded,
    c: &CampaignConfig,
    row: crate::store::Campaign,
    policy: &'p Policy,
    start: Millis,
    trunks: &[Trunk],
    sip_addr: std::net::SocketAddr,
    agent_first: Option<AgentFirst>,
) -> Camp<'p> {
    let trunk_ix: Vec<usize> = if c.trunks.is_empty() {
        (0..trunks.len()).collect()
    } else {
        c.trunks
            .iter()
            .filter_map(|n| trunks.iter().position(|t| &t.cfg.name == n))
            .collect()
    };
    let cps: f64 = trunk_ix.iter().map(|i| trunks[*i].cfg.cps).sum();
    let pacing = c
        .pacing
        .pacing(policy.max_abandon_rate, agent_first.is_none());
    // Agent-first: the queue's agents take every answer, counted live from its states.
    let takers = match &agent_first {
        Some(a) => u32::try_from(a.queue.agents().len()).unwrap_or(u32::MAX),
        None => c.bots,
    };
    let core = Dialer::new(
        DialerConfig {
            start,
            stop_at: Millis::NEVER,
            tick_ms: 1000,
            takers,
            // Bot-first: the bots take every answer; the pacer's human side is the queue,
            // which this process does not see yet, so it is not allowed to throttle.
            humans: takers,
            max_dials_per_tick: (cps.ceil() as u32).max(1),
            abandon_after_ms: (policy.abandon_after_s * 1000.0) as u64,
            max_dials: None,
            tick_while_calls_live: true,
            live_takers: agent_first.is_some(),
        },
        pacing.pacer(),
        Some(policy),
    );
    let q = c
        .queue
        .as_ref()
        .and_then(|q| cfg.config.queues.iter().find(|x| &x.name == q));
    // A built-in queue is voxdial's own address: the REFER (and a bridge) come back here.
    let queue = q.map(|x| match &x.uri {
        Some(uri) => uri.clone(),
        None => format!("sip:{}@{sip_addr}", x.name),
    });
    let builtin_queue = q.is_some_and(|x| x.built_in());
    let queue_label = q.map(|x| x.uri.clone().unwrap_or_else(|| x.name.clone()));
    Camp {
        info: CampaignInfo {
            name: c.name.clone(),
            scenario: row.scenario.clone(),
            locale: c.locale,
            cpd: c.cpd,
        },
        id: row.id,
        core,
        ledger: Ledger::new(policy, row.id, row.policy_version).with_max_sleep_ms(10_000),
        trunks: trunk_ix,
        queue,
        queue_label,
        builtin_queue,
        live: HashMap::new(),
        pending: VecDeque::new(),
        retry_at: None,
        ring_timeout: Duration::from_secs_f64(cfg.config.ring_timeout_s.max(policy.min_ring_s)),
        media_timeout: (cfg.config.media_timeout_s > 0.0)
            .then(|| Duration::from_secs_f64(cfg.config.media_timeout_s)),
        counters: Counters::default(),
        agent_first,
        turn_latency: LatencyHistogram::default(),
    }
}

impl Driver<'_, '_> {
    /// Agent-first: give the core the queue's free agents now.
    fn count_takers(&mut self, ci: usize, now: Millis) -> Result<(), ServiceError> {
        let c = &mut self.camps[ci];
        let Some(a) = &c.agent_first else {
            return Ok(());
        };
        let connected: Vec<i64> = c
            .live
            .values()
            .filter(|l| l.connected && !l.ended && l.abandoned_at.is_none())
            .map(|l| l.attempt)
            .collect();
        let (free, total) = agent_first::takers(&a.queue, &connected);
        c.core.handle(now, Input::Takers { free, total });
        self.drain(ci, now)
    }

    /// Agent-first: the customer hears the policy's message, then the call ends; its
    /// attempt is closed as abandoned when it has.
    fn play_abandon(&mut self, ci: usize, call: CallId, now: Millis) {
        let c = &mut self.camps[ci];
        let (Some(a), Some(l)) = (&c.agent_first, c.live.get_mut(&call)) else {
            return;
        };
        if l.abandoned_at.is_some() {
            return;
        }
        l.abandoned_at = Some(now);
        c.counters.abandoned += 1;
        tracing::info!(campaign = %c.info.name, lead_id = l.lead.id, "no agent in time: the abandon message, then the hang-up");
        if let Some(p) = &l.playout {
            p.flush();
            p.push_8k(&a.abandon);
        }
        if let Some(cmd) = &l.commands {
            let _ = cmd.send(AgentCommand::Hangup {
                outcome: "abandoned".into(),
                after_playout: true,
            });
        }
    }

    /// Fire the campaign's due timers, act on its outputs, start dials a trunk takes.
    fn step(&mut self, ci: usize, now: Millis) -> Result<(), ServiceError> {
        while self.camps[ci].core.poll_timeout().is_some_and(|t| t <= now) {
            self.camps[ci].core.handle_timeout(now);
            self.drain(ci, now)?;
        }
        self.drain(ci, now)?;
        if self.camps[ci].retry_at.is_none_or(|t| t <= now) {
            self.start_pending(ci, now)?;
        }
        Ok(())
    }

    /// A person answered: the dialer core counts it for pacing (bot-first at the
    /// answer, agent-first once call progress heard a person).
    fn count_answer(&mut self, ci: usize, call: CallId, now: Millis) -> Result<(), ServiceError> {
        self.camps[ci].core.handle(
            now,
            Input::LineResult {
                call,
                result: LineResult::Answered,
            },
        );
        self.drain(ci, now)
    }

    fn drain(&mut self, ci: usize, now: Millis) -> Result<(), ServiceError> {
        while let Some(out) = self.camps[ci].core.poll_output() {
            self.react(ci, now, out)?;
        }
        Ok(())
    }

    fn react(&mut self, ci: usize, now: Millis, out: Output<()>) -> Result<(), ServiceError> {
        match out {
            Output::Launch { .. } => {
                if !self.draining {
                    let mut looked = 0;
                    loop {
                        let c = &mut self.camps[ci];
                        if !c
                            .ledger
                            .offer_next(self.store, &mut c.core, now, &mut looked)?
                        {
                            break;
                        }
                        self.drain(ci, now)?;
                    }
                }
                let c = &mut self.camps[ci];
                if self.draining {
                    c.core
                        .handle(now, Input::LaunchDone(crate::dialer::core::LeadsDue::Never));
                } else {
                    c.ledger.launch_done(self.store, &mut c.core, now)?;
                }
            }
            Output::Block {
                rule,
                detail,
                until,
                ..
            } => self.camps[ci]
                .ledger
                .block(self.store, rule, &detail, until, now)?,
            Output::Dial { call, .. } => {
                let c = &mut self.camps[ci];
                // Ledger before dial: committed here, dialled when a trunk takes it.
                if let Some(Committed { lead, attempt }) = c.ledger.dial(self.store, now)? {
                    c.counters.dials += 1;
                    c.live.insert(
                        call,
                        Live {
                            lead,
                            attempt,
                            trunk: None,
                            task: None,
                            commands: None,
                            answered_at: None,
                            playout: None,
                            person_at: None,
                            abandoned_at: None,
                            bridge_asked: false,
                            connected: false,
                            closed: false,
                            ended: false,
                            report: None,
                            sip_code: None,
                            recording: None,
                            hung_up_for: None,
                        },
                    );
                    c.pending.push_back(call);
                }
            }
            Output::Connect { call, .. } => {
                let first = self.camps[ci].agent_first.is_some();
                let finished = match self.camps[ci].live.get_mut(&call) {
                    Some(l) => {
                        l.connected = true;
                        if first && !l.ended {
                            // Agent-first: bridge the customer to the queue, whose
                            // longest-idle free agent takes the call.
                            l.bridge_asked = true;
                            if let Some(cmd) = &l.commands {
                                let _ = cmd.send(AgentCommand::Bridge);
                            }
                        }
                        l.ended
                    }
                    None => false,
                };
                // The customer hung up while waiting for a bot: close it now.
                if finished {
                    self.close_answered(ci, call, now)?;
                }
            }
            Output::Ended {
                call,
                outcome: CallOutcome::Abandoned,
            } if self.camps[ci].agent_first.is_some()
                && self.camps[ci]
                    .live
                    .get(&call)
                    .is_some_and(|l| !l.ended && !l.closed) =>
            {
                // The customer is still on the line: the message first, the record when
                // the call has ended.
                self.play_abandon(ci, call, now);
            }
            Output::Ended { call, outcome } => {
                let c = &mut self.camps[ci];
                let Some(l) = c.live.get_mut(&call) else {
                    return Ok(());
                };
                if !l.closed {
                    l.closed = true;
                    let sip_code = match outcome {
                        CallOutcome::Abandoned => Some(200),
                        _ => l.sip_code,
                    };
                    if outcome == CallOutcome::Abandoned {
                        c.counters.abandoned += 1;
                        if let Some(cmd) = &l.commands {
                            let _ = cmd.send(AgentCommand::Hangup {
                                outcome: "abandoned".into(),
                                after_playout: false,
                            });
                        }
                    }
                    let (lead, attempt) = (l.lead.id, l.attempt);
                    let detail = l.ended.then(|| {
                        detail_of(
                            l.report.as_ref(),
                            l.answered_at,
                            now,
                            l.recording.as_ref(),
                            c.queue_label.as_deref(),
                        )
                    });
                    let f = Finish {
                        lead,
                        attempt,
                        outcome,
                        sip_code,
                        disposition: None,
                        talk_s: 0.0,
                    };
                    close(self.store, &mut c.ledger, &f, detail.as_ref(), now)?;
                }
                if l.ended {
                    c.live.remove(&call);
                }
            }
            Output::Wake(()) => {}
        }
        Ok(())
    }

    /// Hand pending dials to the first trunk of the campaign that takes them.
    fn start_pending(&mut self, ci: usize, now: Millis) -> Result<(), ServiceError> {
        self.camps[ci].retry_at = None;
        while let Some(&call) = self.camps[ci].pending.front() {
            let mut taken = None;
            let mut retry: Option<u64> = None;
            for &ti in &self.camps[ci].trunks {
                match self.trunks[ti].gate.try_start(now) {
                    Ok(()) => {
                        taken = Some(ti);
                        break;
                    }
                    Err(Refusal::Cps { retry_after_ms }) => {
                        retry = Some(retry.map_or(retry_after_ms, |r| r.min(retry_after_ms)));
                    }
                    Err(Refusal::ChannelsFull) => {}
                }
            }
            let Some(ti) = taken else {
                // Channels full: a call's end frees one (and wakes the loop); cps: wait.
                self.camps[ci].retry_at = retry.map(|ms| now.plus_ms(ms.max(1)));
                return Ok(());
            };
            self.camps[ci].pending.pop_front();
            self.spawn(ci, call, ti, now)?;
        }
        Ok(())
    }

    fn spawn(
        &mut self,
        ci: usize,
        call: CallId,
        ti: usize,
        now: Millis,
    ) -> Result<(), ServiceError> {
        let c = &mut self.camps[ci];
        let Some(l) = c.live.get_mut(&call) else {
            self.trunks[ti].gate.release();
            return Ok(());
        };
        l.trunk = Some(ti);
        type Made = Result<Box<dyn CallAgent>, Box<dyn std::error::Error + Send + Sync>>;
        let made: Made = match &c.agent_first {
            // Agent-first: no bot; the connector listens until a person is found.
            Some(_) => {
                let tx = self.tx.clone();
                let report = Box::new(move |reached| {
                    let _ = tx.send(Event::Reached {
                        camp: ci,
                        call,
                        reached,
                    });
                });
                match Connector::new(c.info.cpd, report) {
                    Ok(a) => Ok(Box::new(a)),
                    Err(e) => Err(Box::new(e)),
                }
            }
            None => self
                .factory
                .agent(&c.info, &l.lead)
                .map_err(|e| Box::new(e) as _),
        };
        let agent = match made {
            Ok(a) => a,
            Err(e) => {
                tracing::error!(campaign = %c.info.name, lead_id = l.lead.id, error = %ErrorChain(&*e), "no agent for the call; not dialled");
                self.trunks[ti].gate.release();
                l.trunk = None;
                l.ended = true;
                c.core.handle(
                    now,
                    Input::LineResult {
                        call,
                        result: LineResult::NotAnswered(CallOutcome::Failed),
                    },
                );
                return self.drain(ci, now);
            }
        };
        let recording = self.recordings.as_ref().map(|dir| {
            dir.join(sanitize(&c.info.name))
                .join(format!("{}.wav", l.attempt))
        });
        if let Some(parent) = recording.as_ref().and_then(|p| p.parent()) {
            if let Err(e) = std::fs::create_dir_all(parent) {
                tracing::warn!(error = %e, "cannot create the recordings folder; not recording");
            }
        }
        let recording = recording.filter(|p| p.parent().is_some_and(|d| d.is_dir()));
        l.recording = recording.clone();
        let trunk = &self.trunks[ti];
        let req = CallRequest {
            to: trunk.cfg.uri_for(&l.lead.phone),
            from: None,
            bind: self.ua.local_addr(),
            ring_timeout: c.ring_timeout,
            media_timeout: c.media_timeout,
            play: None,
            record: recording,
            refer_to: c.queue.clone(),
            refer_after: Duration::ZERO,
            transfer_timeout: Duration::from_secs(30),
            hangup_after: None,
            dtmf: None,
            context: vec![
                ("Campaign".into(), c.info.name.clone()),
                ("Lead".into(), l.lead.id.to_string()),
                ("Attempt".into(), l.attempt.to_string()),
            ],
            seed: None,
            auth: trunk.auth.clone(),
            consult: None,
            bridge_fallback: true,
            hold: None,
            on_transfer_fail: None,
            campaign: Some(c.info.name.clone()),
            invite_headers: Vec::new(),
            withdraw: None,
            lead_id: Some(l.lead.id.to_string()),
        };
        let agent = Box::new(Answering {
            inner: agent,
            tx: self.tx.clone(),
            camp: ci,
            call,
            clock: self.clock,
        });
        let ua = self.ua.clone();
        let tx = self.tx.clone();
        l.task = Some(tokio::spawn(async move {
            let report = ua.call_with(req, agent).await;
            let _ = tx.send(Event::Ended {
                camp: ci,
                call,
                report: Box::new(report),
            });
        }));
        Ok(())
    }

    fn on_event(&mut self, ev: Event, now: Millis) -> Result<(), ServiceError> {
        match ev {
            Event::Answered {
                camp,
                call,
                commands,
                playout,
                at,
            } => {
                let c = &mut self.camps[camp];
                let Some(l) = c.live.get_mut(&call) else {
                    return Ok(());
                };
                l.commands = Some(commands);
                l.playout = Some(playout);
                l.answered_at = Some(at);
                c.counters.answered += 1;
                if c.agent_first.is_some() {
                    // Agent-first: the answer counts once call progress finds a person.
                    return Ok(());
                }
                self.count_answer(camp, call, now)?;
            }
            Event::Reached {
                camp,
                call,
                reached,
            } => {
                let c = &mut self.camps[camp];
                let Some(l) = c.live.get_mut(&call) else {
                    return Ok(());
                };
                match reached {
                    Reached::Person if l.person_at.is_none() && !l.ended => {
                        l.person_at = Some(now);
                        self.count_answer(camp, call, now)?;
                    }
                    Reached::Person => {}
                    Reached::NoAgent(why) => {
                        tracing::warn!(campaign = %c.info.name, lead_id = l.lead.id, %why, "the bridge to the queue failed");
                        self.play_abandon(camp, call, now);
                    }
                }
            }
            Event::Ended { camp, call, report } => {
                let report = *report;
                let c = &mut self.camps[camp];
                if let Some(m) = report.as_ref().ok().and_then(|r| r.media.as_ref()) {
                    c.counters.playout_underruns += m.playout_underruns;
                    c.counters.late_media_ticks += m.late_ticks;
                }
                if let Some(turns) = report
                    .as_ref()
                    .ok()
                    .and_then(|r| r.agent.as_ref())
                    .and_then(|a| a.get("turns"))
                    .and_then(|t| t.as_array())
                {
                    log_turn_timings(&c.info.name, turns);
                    for ms in turns
                        .iter()
                        .filter_map(|t| t.get("total_ms").and_then(|v| v.as_f64()))
                    {
                        c.turn_latency
                            .observe(ms.round().clamp(0.0, u32::MAX as f64) as u32);
                    }
                }
                let Some(l) = c.live.get_mut(&call) else {
                    return Ok(());
                };
                if let Some(ti) = l.trunk.take() {
                    self.trunks[ti].gate.release();
                }
                l.task = None;
                if let Err(e) = &report {
                    tracing::warn!(campaign = %c.info.name, lead_id = l.lead.id, error = %ErrorChain(e), "call failed");
                }
                let answered = report.as_ref().is_ok_and(|r| r.answered);
                l.sip_code = report.as_ref().ok().and_then(|r| r.sip_code);
                let first = c.agent_first.is_some();
                if answered && l.answered_at.is_none() && first {
                    // Agent-first: answered, but no person was found (no usable SDP).
                    l.answered_at = Some(now);
                    c.counters.answered += 1;
                }
                if answered && l.answered_at.is_none() {
                    // Answered but the agent never started (no usable SDP): the core
                    // still needs to know the line was picked up.
                    l.answered_at = Some(now);
                    l.ended = true;
                    l.report = report.ok();
                    c.counters.answered += 1;
                    c.core.handle(
                        now,
                        Input::LineResult {
                            call,
                            result: LineResult::Answered,
                        },
                    );
                    self.drain(camp, now)?;
                } else {
                    l.ended = true;
                    l.report = report.ok();
                }
                let c = &mut self.camps[camp];
                let Some(l) = c.live.get_mut(&call) else {
                    return Ok(());
                };
                // The answer the core counted: agent-first's is call progress's person.
                let counted = if first {
                    l.person_at.is_some()
                } else {
                    l.answered_at.is_some()
                };
                if counted {
                    if first && l.abandoned_at.is_some() && !l.closed {
                        self.close_abandoned(camp, call, now)?;
                    } else if l.connected && !l.closed {
                        self.close_answered(camp, call, now)?;
                    } else if l.closed {
                        c.live.remove(&call);
                    }
                    // Not yet connected: the core connects or abandons it, and the
                    // attempt is closed then.
                } else {
                    let outcome = l
                        .report
                        .as_ref()
                        .map_or(CallOutcome::Failed, |r| r.policy_outcome);
                    c.core.handle(
                        now,
                        Input::LineResult {
                            call,
                            result: LineResult::NotAnswered(outcome),
                        },
                    );
                    self.drain(camp, now)?;
                    // A result the core no longer expected (the call was already over)
                    // still closes the attempt.
                    let c = &mut self.camps[camp];
                    if let Some(l) = c.live.get(&call) {
                        if !l.closed {
                            let f = Finish {
                                lead: l.lead.id,
                                attempt: l.attempt,
                                outcome,
                                sip_code: l.sip_code,
                                disposition: None,
                                talk_s: 0.0,
                            };
                            let mut detail = detail_of(None, None, now, None, None);
                            detail.sip_call_id = l.report.as_ref().map(|r| r.call_id.clone());
                            close(self.store, &mut c.ledger, &f, Some(&detail), now)?;
                        }
                        c.live.remove(&call);
                    }
                }
            }
        }
        Ok(())
    }

    /// Agent-first: close a call that heard the abandon message, as abandoned, with the
    /// message in its record.
    fn close_abandoned(
        &mut self,
        ci: usize,
        call: CallId,
        now: Millis,
    ) -> Result<(), ServiceError> {
        let c = &mut self.camps[ci];
        let Some(l) = c.live.remove(&call) else {
            return Ok(());
        };
        let (Some(a), Some(at)) = (&c.agent_first, l.abandoned_at) else {
            return Ok(());
        };
        let mut detail = detail_of(
            l.report.as_ref(),
            l.answered_at,
            now,
            l.recording.as_ref(),
            c.queue_label.as_deref(),
        );
        let at_ms = at.ms_since(l.answered_at.unwrap_or(at));
        let waited_ms = at.ms_since(l.person_at.unwrap_or(at));
        detail.transcript.push(TranscriptEntry {
            at_ms,
            channel: Channel::Bot,
            text: a.written.clone(),
            prompt_id: Some("abandon_message".into()),
        });
        detail.compliance.push(ComplianceEvent {
            at_ms,
            rule: "abandon_message".into(),
            detail: format!(
                "no agent took the call {:.1} s after the person answered: the abandon message was played and the call hung up",
                waited_ms as f64 / 1000.0
            ),
        });
        let f = Finish {
            lead: l.lead.id,
            attempt: l.attempt,
            outcome: CallOutcome::Abandoned,
            sip_code: Some(200),
            disposition: None,
            talk_s: 0.0,
        };
        close(self.store, &mut c.ledger, &f, Some(&detail), now)?;
        if l.connected {
            // Connected, but the bridge failed: the core still holds a taker for it.
            c.core.handle(
                now,
                Input::CallDone {
                    call,
                    wrap_up_ms: 0,
                },
            );
        }
        self.drain(ci, now)
    }

    /// Agent-first: what the queue's record of a call says about its outcome and the
    /// campaign's figures: a call no agent talked to was abandoned after all.
    fn note_agent_first(&mut self, ci: usize, rec: &HandoffRecord, outcome: &mut CallOutcome) {
        let k = &mut self.camps[ci].counters;
        if rec.result == QueueResult::Bridged {
            k.connected += 1;
            k.agent_talk_s += rec.talk_ms as f64 / 1000.0;
        } else if *outcome == CallOutcome::Connected {
            k.abandoned += 1;
            *outcome = CallOutcome::Abandoned;
        }
    }

    /// Close an answered call a bot held, and free the bot.
    fn close_answered(&mut self, ci: usize, call: CallId, now: Millis) -> Result<(), ServiceError> {
        let c = &mut self.camps[ci];
        let Some(l) = c.live.remove(&call) else {
            return Ok(());
        };
        let r = l.report.as_ref();
        let mut outcome = r.map_or(CallOutcome::Interrupted, |r| r.policy_outcome);
        let wrap_up_ms = c.agent_first.as_ref().map(|a| a.wrap_up_ms);
        // By REFER or by bridge: the customer was handed to the queue.
        let transferred = r
            .and_then(|r| r.transfer.as_ref())
            .is_some_and(|t| t.handed_over());
        if transferred {
            c.counters.transferred += 1;
        }
        let disposition = Some(disposition_of(r, l.hung_up_for));
        let detail = detail_of(
            r,
            l.answered_at,
            now,
            l.recording.as_ref(),
            c.queue_label.as_deref(),
        );
        let mut detail = detail;
        // Agent-first: a call bridged to the queue is a hand-off the queue's record
        // completes (which agent, how long the customer waited, the talk).
        let bridged = wrap_up_ms.is_some() && l.bridge_asked;
        if bridged {
            detail.handoff.get_or_insert_with(|| Handoff {
                reason: "agent_first".into(),
                method: Some(HandoffMethod::Bridge),
                queue: c.queue_label.clone(),
                agent: None,
                waited_ms: None,
                result: HandoffResult::Failed,
                failure: Some("no record from the queue".into()),
                recording: None,
            });
        }
        let sip_code = r.and_then(|r| r.sip_code).or(Some(200));
        let talk_s = r.map_or(0.0, |r| r.duration_s);
        let early = self.early.remove(&l.attempt);
        if (transferred || bridged) && c.builtin_queue && early.is_none() {
            // The bot's part is over; the queue's record of the human part completes it.
            self.parked.insert(
                l.attempt,
                Parked {
                    camp: ci,
                    lead: l.lead.id,
                    outcome,
                    sip_code,
                    disposition,
                    talk_s,
                    detail,
                    until: now.plus_ms(self.park_for_ms),
                    agent_first: bridged,
                },
            );
        } else {
            if let Some(rec) = &early {
                apply_handoff(&mut detail, rec);
                if bridged {
                    self.note_agent_first(ci, rec, &mut outcome);
                }
            }
            let c = &mut self.camps[ci];
            let f = Finish {
                lead: l.lead.id,
                attempt: l.attempt,
                outcome,
                sip_code,
                disposition: disposition.as_deref(),
                talk_s,
            };
            close(self.store, &mut c.ledger, &f, Some(&detail), now)?;
        }
        let c = &mut self.camps[ci];
        match wrap_up_ms {
            Some(wrap_up_ms) => c.core.handle(now, Input::CallDone { call, wrap_up_ms }),
            None => c.core.handle(now, Input::BotFree { call, transferred }),
        }
        self.drain(ci, now)
    }

    /// A built-in queue finished a hand-off: complete its call's record.
    fn on_handoff(&mut self, rec: HandoffRecord, now: Millis) -> Result<(), ServiceError> {
        let attempt = rec
            .context
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("Attempt"))
            .and_then(|(_, v)| v.parse::<i64>().ok());
        let Some(attempt) = attempt else {
            tracing::info!(queue = %rec.queue, result = ?rec.result, "a hand-off of no call of this run (no X-Voxdial-Attempt)");
            return Ok(());
        };
        if let Some(mut p) = self.parked.remove(&attempt) {
            apply_handoff(&mut p.detail, &rec);
            if p.agent_first {
                self.note_agent_first(p.camp, &rec, &mut p.outcome);
            }
            return self.close_parked(attempt, p, now);
        }
        let live = self
            .camps
            .iter()
            .any(|c| c.live.values().any(|l| l.attempt == attempt && !l.closed));
        if live {
            // The queue finished before the bot's call ended (its end is on its way).
            self.early.insert(attempt, rec);
        } else {
            tracing::info!(attempt, queue = %rec.queue, "a hand-off record for an attempt already closed");
        }
        Ok(())
    }

    fn close_parked(&mut self, attempt: i64, p: Parked, now: Millis) -> Result<(), ServiceError> {
        let c = &mut self.camps[p.camp];
        let f = Finish {
            lead: p.lead,
            attempt,
            outcome: p.outcome,
            sip_code: p.sip_code,
            disposition: p.disposition.as_deref(),
            talk_s: p.talk_s,
        };
        close(self.store, &mut c.ledger, &f, Some(&p.detail), now)?;
        Ok(())
    }

    /// Parked attempts whose queue record did not come in time are written as they are.
    fn unpark_expired(&mut self, now: Millis) -> Result<(), ServiceError> {
        let due: Vec<i64> = self
            .parked
            .iter()
            .filter(|(_, p)| p.until <= now)
            .map(|(a, _)| *a)
            .collect();
        for a in due {
            if let Some(mut p) = self.parked.remove(&a) {
                if let Some(h) = &mut p.detail.handoff {
                    h.failure
                        .get_or_insert_with(|| "no record from the queue in time".into());
                }
                self.close_parked(a, p, now)?;
            }
        }
        Ok(())
    }

    /// At the drain limit: write every parked attempt as it is.
    fn unpark_all(&mut self, now: Millis) -> Result<(), ServiceError> {
        for (a, p) in std::mem::take(&mut self.parked) {
            self.close_parked(a, p, now)?;
        }
        Ok(())
    }

    /// Whether the campaigns have nothing live, nothing pending and nothing due now.
    fn idle(&mut self, now: Millis) -> Result<bool, ServiceError> {
        if !self.parked.is_empty() {
            return Ok(false);
        }
        for c in &self.camps {
            if !c.live.is_empty() || !c.pending.is_empty() || c.core.live_calls() > 0 {
                return Ok(false);
            }
            if !self
                .store
                .due_leads(c.id, now.as_unix_secs(), 1)?
                .is_empty()
            {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// On shutdown: dials committed but not yet handed to a trunk are closed as failed
    /// (never dialled; the policy retries a failure soon).
    fn drop_pending(&mut self, now: Millis) -> Result<(), ServiceError> {
        for ci in 0..self.camps.len() {
            while let Some(call) = self.camps[ci].pending.pop_front() {
                let c = &mut self.camps[ci];
                if let Some(l) = c.live.get_mut(&call) {
                    l.ended = true;
                }
                c.core.handle(
                    now,
                    Input::LineResult {
                        call,
                        result: LineResult::NotAnswered(CallOutcome::Failed),
                    },
                );
                self.drain(ci, now)?;
            }
        }
        Ok(())
    }

    /// At the drain limit: hang up every answered call.
    fn hang_up_all(&mut self) {
        for c in &mut self.camps {
            for l in c.live.values_mut() {
                if let Some(cmd) = &l.commands {
                    l.hung_up_for = Some("shutdown");
                    let _ = cmd.send(AgentCommand::Hangup {
                        outcome: "shutdown".into(),
                        after_playout: false,
                    });
                }
            }
        }
    }

    /// Past the drain limit and its grace: stop the calls that are left and close their
    /// attempts as interrupted (they may have reached a person).
    fn abandon_all(&mut self, now: Millis) -> Result<(), ServiceError> {
        for c in &mut self.camps {
            for (_, l) in c.live.drain() {
                if let Some(t) = &l.task {
                    t.abort();
                }
                if let Some(ti) = l.trunk {
                    self.trunks[ti].gate.release();
                }
                if !l.closed {
                    let f = Finish {
                        lead: l.lead.id,
                        attempt: l.attempt,
                        outcome: CallOutcome::Interrupted,
                        sip_code: None,
                        disposition: None,
                        talk_s: 0.0,
                    };
                    close(self.store, &mut c.ledger, &f, None, now)?;
                }
            }
        }
        Ok(())
    }

    /// Publish the figures for the operations endpoint (a few campaigns' counters: cheap
    /// enough for every turn of the loop).
    fn publish(&self) {
        let Some(m) = &self.metrics else {
            return;
        };
        let campaigns = self
            .camps
            .iter()
            .map(|c| {
                let k = &c.counters;
                let f = CampaignFigures {
                    dials: k.dials,
                    answered: k.answered,
                    abandoned: k.abandoned,
                    handoffs: k.transferred,
                    live_calls: c.live.len() as u64,
                    outcomes: c.ledger.outcomes.clone(),
                    turn_latency: c.turn_latency.clone(),
                };
                (c.info.name.clone(), f)
            })
            .collect();
        m.publish(Snapshot {
            campaigns,
            draining: self.draining,
        });
    }

    fn log_counters(&self) {
        for c in &self.camps {
            let k = &c.counters;
            tracing::info!(
                campaign = %c.info.name,
                dials = k.dials,
                answered = k.answered,
                abandoned = k.abandoned,
                transferred = k.transferred,
                live = c.live.len(),
                outcomes = ?c.ledger.outcomes,
                blocks = ?c.ledger.blocks,
                "campaign counters"
            );
        }
    }
}

/// Close an attempt, with its call record when there is one (one transaction).
fn close(
    store: &mut dyn Store,
    ledger: &mut Ledger<'_>,
    f: &Finish<'_>,
    detail: Option<&CallDetail>,
    now: Millis,
) -> Result<(), StoreError> {
    match detail {
        Some(d) => {
            let end = ledger.end_of(store, f, now)?;
            store.finish_attempt_with_call(f.attempt, &end, d, now.as_unix_secs())?;
            ledger.count(f.outcome);
            Ok(())
        }
        None => ledger.finish(store, f, now),
    }
}

/// Where each turn's time went (endpoint silence, ASR wait, NLU, first TTS sentence), at
/// debug level: what a load run reads to say why latency grows with the number of calls.
/// Numbers only: the turn's text is never logged.
fn log_turn_timings(campaign: &str, turns: &[serde_json::Value]) {
    let f = |t: &serde_json::Value, k: &str| t.get(k).and_then(|v| v.as_f64()).unwrap_or(-1.0);
    for t in turns {
        tracing::debug!(
            campaign,
            endpoint_ms = f(t, "endpoint_ms"),
            ended_by = t.get("ended_by").and_then(|v| v.as_str()).unwrap_or("none"),
            asr_ms = f(t, "asr_ms"),
            asr_queue_ms = f(t, "asr_queue_ms"),
            lag_ms = f(t, "lag_ms"),
            decodes = f(t, "decodes"),
            speculative = t
                .get("speculative")
                .and_then(|v| v.as_bool())
                .unwrap_or(false),
            nlu_ms = f(t, "nlu_ms"),
            tts_first_ms = f(t, "tts_first_ms"),
            tts_source = t
                .get("tts_source")
                .and_then(|v| v.as_str())
                .unwrap_or("none"),
            total_ms = f(t, "total_ms"),
            "turn timing"
        );
    }
}

/// What became of an answered call a bot held, in a word, for its attempt's disposition:
/// the conversation's own outcome when it ended (`promise_to_pay`, `transferred`,
/// `cpd_voicemail`, `bot_error`), else who ended the line in the middle of it. Every
/// answered call gets one, so a report never has to guess what a blank means.
fn disposition_of(r: Option<&CallReport>, hung_up_for: Option<&str>) -> String {
    let Some(r) = r else {
        // The call's task failed after the answer: no report to read.
        return "call_error".into();
    };
    let agent = r.agent.as_ref();
    if let Some(o) = agent
        .and_then(|a| a.get("outcome"))
        .and_then(|o| o.as_str())
    {
        return o.to_string();
    }
    if r.transfer.as_ref().is_some_and(|t| t.handed_over()) {
        return "transferred".into();
    }
    if let Some(why) = hung_up_for {
        return why.to_string();
    }
    if r.hangup_by == Some("peer") {
        return "customer_hangup".into();
    }
    if r.session_expired {
        return "session_expired".into();
    }
    if r.sdp_error.is_some() {
        return "media_refused".into();
    }
    if agent
        .and_then(|a| a.get("error"))
        .is_some_and(|e| !e.is_null())
    {
        return "bot_error".into();
    }
    "agent_hangup".into()
}

/// The call's record from its report and the agent's account.
fn detail_of(
    r: Option<&CallReport>,
    answered_at: Option<Millis>,
    now: Millis,
    recording: Option<&PathBuf>,
    queue: Option<&str>,
) -> CallDetail {
    let ms = |m: Millis| i64::try_from(m.0).unwrap_or(i64::MAX);
    let agent = r.and_then(|r| r.agent.as_ref());
    let s = |v: Option<&serde_json::Value>| v.and_then(|x| x.as_str()).map(str::to_string);
    let transcript = agent
        .and_then(|a| a.get("transcript"))
        .and_then(|t| t.as_array())
        .map(|lines| {
            lines
                .iter()
                .map(|l| {
                    let bot = l.get("who").and_then(|w| w.as_str()) == Some("bot");
                    let prompt_id = s(l.get("prompt_id"));
                    TranscriptEntry {
                        at_ms: l.get("at_ms").and_then(|v| v.as_u64()).unwrap_or(0),
                        channel: if bot { Channel::Bot } else { Channel::Customer },
                        text: s(l.get("text"))
                            .or_else(|| prompt_id.clone())
                            .unwrap_or_default(),
                        prompt_id,
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let turn_latencies_ms = agent
        .and_then(|a| a.get("turns"))
        .and_then(|t| t.as_array())
        .map(|t| {
            t.iter()
                .filter_map(|x| x.get("total_ms").and_then(|v| v.as_f64()))
                .map(|v| v.round().clamp(0.0, u32::MAX as f64) as u32)
                .collect()
        })
        .unwrap_or_default();
    let handoff = r.and_then(|r| r.transfer.as_ref()).map(|t| {
        let result = if t.handed_over() {
            HandoffResult::ReachedAgent
        } else {
            HandoffResult::Failed
        };
        Handoff {
            reason: s(agent.and_then(|a| a.get("transfer_reason")))
                .unwrap_or_else(|| "unspecified".into()),
            queue: queue.map(str::to_string).or_else(|| Some(t.target.clone())),
            agent: None,
            waited_ms: None,
            result,
            failure: t.failure(),
            recording: None,
            method: Some(if t.by_bridge() {
                HandoffMethod::Bridge
            } else {
                HandoffMethod::Refer
            }),
        }
    });
    CallDetail {
        answered_at_ms: answered_at.map(ms),
        ended_at_ms: ms(now),
        cpd: s(agent.and_then(|a| a.get("cpd_outcome"))),
        handoff,
        transcript,
        compliance: Vec::new(),
        turn_latencies_ms,
        recording: answered_at.and(recording).map(|p| p.display().to_string()),
        sip_call_id: r.map(|r| r.call_id.clone()),
        captured: agent
            .and_then(|a| a.get("captured"))
            .and_then(|c| c.as_object())
            .map(|c| {
                c.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// Complete a call's hand-off with the built-in queue's record of it.
fn apply_handoff(detail: &mut CallDetail, rec: &HandoffRecord) {
    let reason = rec
        .context
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("Reason"))
        .map(|(_, v)| v.clone());
    let h = detail.handoff.get_or_insert_with(|| Handoff {
        reason: reason.clone().unwrap_or_else(|| "unspecified".into()),
        queue: None,
        agent: None,
        waited_ms: None,
        result: HandoffResult::Failed,
        failure: None,
        recording: None,
        method: None,
    });
    if h.reason == "unspecified" {
        if let Some(r) = reason {
            h.reason = r;
        }
    }
    h.queue = Some(rec.queue.clone());
    h.agent = rec.agent.clone();
    h.waited_ms = Some(rec.waited_ms);
    let (result, failure) = match &rec.result {
        QueueResult::Bridged => (HandoffResult::ReachedAgent, None),
        QueueResult::NoAgent => (
            HandoffResult::Failed,
            Some(match rec.give_up {
                Some(crate::queue::GiveUpReason::NoAgents) => "no agent logged in".to_string(),
                _ => format!("no agent free within {} s", rec.waited_ms / 1000),
            }),
        ),
        QueueResult::AgentFailed(code) => (
            HandoffResult::Failed,
            Some(format!("the agent's phone answered {code}")),
        ),
        QueueResult::CustomerLeft => (
            HandoffResult::Abandoned,
            Some("the customer hung up waiting for an agent".to_string()),
        ),
    };
    h.result = result;
    h.failure = match (h.failure.take(), failure) {
        // A bridge that failed keeps the call's side too: the REFER's refusal and what
        // became of our INVITE, then the queue's reason.
        (Some(ours), Some(queue)) if h.method == Some(HandoffMethod::Bridge) => {
            Some(format!("{ours}; queue: {queue}"))
        }
        (_, queue) => queue,
    };
    h.recording = rec.recording.as_ref().map(|p| p.display().to_string());
}

/// A campaign name as a folder name.
fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// An error with its sources, for one log line, numbers masked.
struct ErrorChain<'a>(&'a dyn std::error::Error);

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut text = self.0.to_string();
        let mut s = self.0.source();
        while let Some(e) = s {
            text.push_str(": ");
            text.push_str(&e.to_string());
            s = e.source();
        }
        // A call's error may quote its request URI, which holds the customer's number.
        f.write_str(&crate::language::redact::mask_account_numbers(&text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::GiveUpReason;

    fn record(result: QueueResult, give_up: Option<GiveUpReason>) -> HandoffRecord {
        HandoffRecord {
            queue: "care".into(),
            context: vec![
                ("Reason".into(), "wants_human".into()),
                ("Attempt".into(), "7".into()),
            ],
            agent: Some("1001".into()),
            waited_ms: 4_200,
            result,
            give_up,
            talk_ms: 9_000,
            recording: Some(PathBuf::from("rec/queues/care-1.wav")),
        }
    }

    fn answered(hangup_by: &'static str, agent: serde_json::Value) -> CallReport {
        CallReport {
            call_id: "a84b4c76e66710@127.0.0.1".into(),
            sip_code: Some(200),
            reason: "OK".into(),
            outcome: crate::sip::outcome::DialResult::Answered,
            answered: true,
            early_media: false,
            setup_ms: 1_500,
            duration_s: 12.0,
            hangup_by: Some(hangup_by),
            codec: None,
            sdp_error: None,
            transfer: None,
            media: None,
            reinvites: vec![],
            session_expires_s: None,
            session_expired: false,
            media_timeout: false,
            policy_outcome: CallOutcome::Connected,
            agent: Some(agent),
        }
    }

    /// Every answered call says what happened: the conversation's outcome when it has
    /// one, else who ended the line in the middle of it (the bot's report then has none).
    #[test]
    fn an_answered_call_always_gets_a_disposition() {
        let ended = serde_json::json!({"outcome": "promise_to_pay", "captured": {}});
        let cut = serde_json::json!({"outcome": null, "transcript": []});
        assert_eq!(
            disposition_of(Some(&answered("us", ended)), None),
            "promise_to_pay"
        );
        assert_eq!(
            disposition_of(Some(&answered("peer", cut.clone())), None),
            "customer_hangup"
        );
        assert_eq!(
            disposition_of(Some(&answered("us", cut.clone())), Some("shutdown")),
            "shutdown"
        );
        let mut expired = answered("us", cut.clone());
        expired.session_expired = true;
        assert_eq!(disposition_of(Some(&expired), None), "session_expired");
        let failed = serde_json::json!({"outcome": null, "error": "whisper failed"});
        assert_eq!(
            disposition_of(Some(&answered("us", failed)), None),
            "bot_error"
        );
        assert_eq!(
            disposition_of(Some(&answered("us", cut)), None),
            "agent_hangup"
        );
        assert_eq!(disposition_of(None, None), "call_error");
    }

    #[test]
    fn the_bots_captured_values_reach_the_record() {
        let agent = serde_json::json!({
            "outcome": "promise_to_pay",
            "captured": {"ptp_date": "2026-12-11", "ptp_amount": "300.00"}
        });
        let r = answered("us", agent);
        let d = detail_of(Some(&r), Some(Millis(1_000)), Millis(9_000), None, None);
        assert_eq!(
            d.captured.get("ptp_date").map(String::as_str),
            Some("2026-12-11")
        );
        assert_eq!(
            d.captured.get("ptp_amount").map(String::as_str),
            Some("300.00")
        );
    }

    #[test]
    fn the_queues_record_completes_the_calls_hand_off() {
        let mut d = detail_of(None, Some(Millis(1_000)), Millis(5_000), None, Some("care"));
        apply_handoff(&mut d, &record(QueueResult::Bridged, None));
        let h = d.handoff.unwrap();
        assert_eq!(h.reason, "wants_human");
        assert_eq!(h.queue.as_deref(), Some("care"));
        assert_eq!(h.agent.as_deref(), Some("1001"));
        assert_eq!(h.waited_ms, Some(4_200));
        assert_eq!(h.result, HandoffResult::ReachedAgent);
        assert_eq!(h.failure, None);
        assert_eq!(h.recording.as_deref(), Some("rec/queues/care-1.wav"));

        let cases = [
            (
                QueueResult::NoAgent,
                Some(GiveUpReason::NoAgents),
                HandoffResult::Failed,
                "no agent logged in",
            ),
            (
                QueueResult::AgentFailed(486),
                None,
                HandoffResult::Failed,
                "the agent's phone answered 486",
            ),
            (
                QueueResult::CustomerLeft,
                None,
                HandoffResult::Abandoned,
                "the customer hung up",
            ),
        ];
        for (r, g, want, why) in cases {
            let mut d = detail_of(None, Some(Millis(1_000)), Millis(5_000), None, None);
            apply_handoff(&mut d, &record(r, g));
            let h = d.handoff.unwrap();
            assert_eq!(h.result, want);
            assert!(h.failure.as_deref().unwrap_or("").starts_with(why), "{h:?}");
        }
    }
}
