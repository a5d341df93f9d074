//! The queue's driver: customers' INVITEs to the queue's address come in as
//! [`IncomingCall`]s, are answered with a relay agent that plays hold audio, and the
//! [`Queue`] core decides which agent's phone to ring ([`SipUa::call_with`], the
//! hand-off context as `X-Voxdial-*` headers). When the agent answers, both relays pass
//! each side's 16 kHz frames to the other side's playout: voxdial stays in the media
//! path, and the customer's leg is recorded as a stereo WAV. Every hand-off ends in a
//! [`HandoffRecord`] on a channel, for the service to store.
//!
//! One tokio task owns the core and reads time through [`MonotonicClock`]; each call
//! leg is a task of its own and reports back on the task's event channel. The relays run
//! on the agent threads of the [`CallAgent`] seam and never block the task.

use super::config::{QueueConfig, QueueConfigError};
use super::core::{
    AgentStatus, CustomerId, CustomerStatus, GiveUpReason, Queue, QueueCounters, QueueOutput,
    QueueSettings,
};
use super::{HandoffRecord, HandoffResult};
use crate::media::stream::PlayoutQueue;
use crate::sip::agent::{AgentCommand, AgentMedia, AgentReport, CallAgent};
use crate::sip::registrar::Registrar;
use crate::sip::ua::{read_wav_8k, CallRequest, SipUa, UaError};
use crate::sip::uas::{AnswerOptions, IncomingCall, CONTEXT_PREFIX};
use crate::time::{Millis, MonotonicClock};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// The core's own ring timeout is a backstop this much after the SIP leg's, which
/// CANCELs the ring itself and reports the failure first.
const RING_BACKSTOP_MS: u64 = 3_000;
/// How often registrations are looked at (an agent whose phone registered becomes
/// available within this).
const REGISTRAR_POLL: Duration = Duration::from_millis(500);
/// Hold audio kept queued ahead on the customer's playout.
const HOLD_AHEAD_MS: u64 = 200;
/// The SIP cause a give-up's BYE carries: nobody is available (as the 480 a customer
/// gets when nobody is logged in at all).
const NO_AGENT_CAUSE: u16 = 480;

/// Why a queue could not start.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The queue's settings cannot work.
    #[error(transparent)]
    Config(#[from] QueueConfigError),
    /// The hold or sorry audio cannot be played.
    #[error("queue {queue:?}: audio")]
    Audio {
        /// The queue's name.
        queue: String,
        /// The reader's error (it names the file).
        #[source]
        source: UaError,
    },
}

/// What the driver needs beyond the queue's config.
#[derive(Clone, Debug, Default)]
pub struct ServeOptions {
    /// Where the stereo recordings of hand-offs go (`<queue>-<call id>.wav`); None: no
    /// recording.
    pub record_dir: Option<PathBuf>,
    /// Played to a customer the queue gives up on, before it hangs up (WAV, any rate).
    pub sorry_audio: Option<PathBuf>,
}

/// The running queue, for the service (hand it the INVITEs for the queue's address) and
/// a later console (agent states, counters).
#[derive(Clone, Debug)]
pub struct QueueHandle {
    name: String,
    arrivals: mpsc::UnboundedSender<IncomingCall>,
    snapshot: Arc<Mutex<Snapshot>>,
}

#[derive(Clone, Debug)]
struct Snapshot {
    agents: Vec<AgentStatus>,
    counters: QueueCounters,
    customers: Vec<CustomerStatus>,
}

impl QueueHandle {
    /// The queue's name (the user part of its address).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Hand a customer's INVITE to the queue. If the queue has stopped, the call is
    /// dropped, which answers it 480.
    pub fn take(&self, call: IncomingCall) {
        let _ = self.arrivals.send(call);
    }

    /// Every agent's state now.
    pub fn agents(&self) -> Vec<AgentStatus> {
        self.snapshot
            .lock()
            .map(|s| s.agents.clone())
            .unwrap_or_default()
    }

    /// The customers in the queue now (waiting, rung for, or talking).
    pub fn customers(&self) -> Vec<CustomerStatus> {
        self.snapshot
            .lock()
            .map(|s| s.customers.clone())
            .unwrap_or_default()
    }

    /// The queue's figures now.
    pub fn counters(&self) -> Option<QueueCounters> {
        self.snapshot.lock().ok().map(|s| s.counters.clone())
    }
}

/// Start the queue on `ua` (within a tokio runtime). Agents with a `contact` in the
/// config are available at once; the others when `registrar` has a binding for them.
/// Returns the handle and the channel of finished hand-offs.
pub fn start(
    ua: Arc<SipUa>,
    config: &QueueConfig,
    registrar: Option<Arc<Mutex<Registrar>>>,
    options: ServeOptions,
) -> Result<(QueueHandle, mpsc::UnboundedReceiver<HandoffRecord>), QueueError> {
    config.validate()?;
    let audio = |p: &PathBuf| {
        read_wav_8k(p).map_err(|source| QueueError::Audio {
            queue: config.name.clone(),
            source,
        })
    };
    let hold = Arc::new(audio(&config.hold_audio)?);
    let sorry = options.sorry_audio.as_ref().map(audio).transpose()?;
    let clock = MonotonicClock::new();
    let now = clock.now();
    let settings = config.settings();
    let sip_ring = Duration::from_millis(settings.ring_timeout_ms);
    let mut core = Queue::new(QueueSettings {
        ring_timeout_ms: settings.ring_timeout_ms + RING_BACKSTOP_MS,
        ..settings
    });
    let mut fixed = HashMap::new();
    for a in &config.agents {
        core.add_agent(&a.user, now);
        if let Some(c) = &a.contact {
            fixed.insert(a.user.clone(), c.clone());
            core.agent_online(&a.user, now);
        }
    }
    let snapshot = Arc::new(Mutex::new(Snapshot {
        agents: core.agents(),
        counters: core.counters(now),
        customers: core.customers(),
    }));
    let (arrivals_tx, arrivals) = mpsc::unbounded_channel();
    let (records_tx, records) = mpsc::unbounded_channel();
    let (events_tx, events) = mpsc::unbounded_channel();
    let driver = Driver {
        name: config.name.clone(),
        ua,
        core,
        clock,
        registrar,
        fixed,
        hold,
        sorry: sorry.map(Arc::new),
        record_dir: options.record_dir,
        sip_ring,
        customers: HashMap::new(),
        legs: HashMap::new(),
        events_tx,
        records: records_tx,
        finished: Vec::new(),
        snapshot: snapshot.clone(),
    };
    tokio::spawn(driver.run(arrivals, events));
    Ok((
        QueueHandle {
            name: config.name.clone(),
            arrivals: arrivals_tx,
            snapshot,
        },
        records,
    ))
}

/// What a relay thread is told.
enum Control {
    /// Relay the inbound frames to this playout (the other side's), and stop hold audio.
    Bridge(PlayoutQueue),
    /// End the call, after playing this (the sorry message) if given.
    Hangup(Option<Arc<Vec<i16>>>),
    /// The queue gave up on the customer: end the call saying so (480 in the BYE's
    /// Reason, which a caller that bridged the customer here reads as "take them back"),
    /// after playing the sorry message if given.
    GiveUp(Option<Arc<Vec<i16>>>),
}

/// What the legs report to the driver's task.
enum Event {
    /// The customer's call is answered and its relay runs.
    CustomerUp {
        id: CustomerId,
        playout: PlayoutQueue,
    },
    /// The customer's call is over.
    CustomerGone { id: CustomerId },
    /// The agent answered; its relay runs.
    AgentUp {
        id: CustomerId,
        agent: String,
        playout: PlayoutQueue,
        control: std::sync::mpsc::Sender<Control>,
    },
    /// The agent's leg is over: never answered (with its final code), or hung up.
    AgentGone {
        id: CustomerId,
        agent: String,
        code: Option<u16>,
        answered: bool,
    },
}

/// The driver's view of one customer.
struct CustomerIo {
    context: Vec<(String, String)>,
    arrived: Millis,
    control: std::sync::mpsc::Sender<Control>,
    playout: Option<PlayoutQueue>,
    /// The agent who answered, its relay's control and playout (until bridged).
    agent: Option<(
        String,
        std::sync::mpsc::Sender<Control>,
        Option<PlayoutQueue>,
    )>,
    rung: Option<String>,
    /// The last agent rung, named in the record when nobody answered.
    last_agent: Option<String>,
    last_fail: Option<u16>,
    bridged_at: Option<Millis>,
    ended_at: Option<Millis>,
    gave_up: Option<(GiveUpReason, Millis)>,
    recording: Option<PathBuf>,
}

struct Driver {
    name: String,
    ua: Arc<SipUa>,
    core: Queue,
    clock: MonotonicClock,
    registrar: Option<Arc<Mutex<Registrar>>>,
    fixed: HashMap<String, String>,
    hold: Arc<Vec<i16>>,
    sorry: Option<Arc<Vec<i16>>>,
    record_dir: Option<PathBuf>,
    sip_ring: Duration,
    customers: HashMap<CustomerId, CustomerIo>,
    /// Agent → the customer of its SIP leg still in progress, and the token that
    /// withdraws it. A leg whose customer left (or was given up on) is CANCELled; it
    /// stays here until its 487 ends it, so the agent is not rung again meanwhile: their
    /// phone would get a second call.
    legs: HashMap<String, (CustomerId, CancellationToken)>,
    events_tx: mpsc::UnboundedSender<Event>,
    records: mpsc::UnboundedSender<HandoffRecord>,
    /// Records of this turn of the loop, sent once the snapshot shows their effects, so
    /// whoever reads a record and then the agents' states sees both agree.
    finished: Vec<HandoffRecord>,
    snapshot: Arc<Mutex<Snapshot>>,
}

impl Driver {
    async fn run(
        mut self,
        mut arrivals: mpsc::UnboundedReceiver<IncomingCall>,
        mut events: mpsc::UnboundedReceiver<Event>,
    ) {
        let mut poll = tokio::time::interval(REGISTRAR_POLL);
        let mut open = true;
        loop {
            let wake = self
                .core
                .poll_timeout()
                .map(|d| tokio::time::Instant::from_std(self.clock.instant_of(d)));
            tokio::select! {
                call = arrivals.recv(), if open => match call {
                    Some(call) => self.arrive(call),
                    None => open = false,
                },
                Some(e) = events.recv() => self.on_event(e),
                _ = poll.tick() => self.sync_registrations(),
                _ = sleep_until(wake) => self.core.handle_timeout(self.clock.now()),
            }
            self.execute();
            if let Ok(mut s) = self.snapshot.lock() {
                let now = self.clock.now();
                s.agents = self.core.agents();
                s.counters = self.core.counters(now);
                s.customers = self.core.customers();
            }
            for r in self.finished.drain(..) {
                let _ = self.records.send(r);
            }
            if !open && self.customers.is_empty() {
                break;
            }
        }
    }

    /// Agents without a fixed contact are online while their phone is registered.
    fn sync_registrations(&mut self) {
        let Some(reg) = &self.registrar else {
            return;
        };
        let now = self.clock.now();
        let wanted: Vec<(String, bool, bool)> = match reg.lock() {
            Ok(r) => self
                .core
                .agents()
                .into_iter()
                .filter(|a| !self.fixed.contains_key(&a.user))
                .map(|a| {
                    let registered = r.contact(&a.user, now).is_some();
                    let online = a.state != super::core::AgentState::Offline;
                    (a.user, registered, online)
                })
                .collect(),
            Err(_) => return,
        };
        for (user, registered, online) in wanted {
            if registered && !online {
                tracing::info!(queue = %self.name, agent = %user, "agent online");
                self.core.agent_online(&user, now);
            } else if !registered && online {
                tracing::info!(queue = %self.name, agent = %user, "agent offline");
                self.core.agent_offline(&user, now);
            }
        }
    }

    fn arrive(&mut self, call: IncomingCall) {
        let now = self.clock.now();
        let context = call.context().to_vec();
        let id = self.core.customer_arrives(context.clone(), now);
        // Nobody logged in: refuse before answering, so the transferor (the bot) hears
        // the failure in its NOTIFY and keeps the customer.
        let refused = self.core.poll_output();
        if let Some(QueueOutput::GiveUp { reason, .. }) = &refused {
            tracing::info!(queue = %self.name, ?reason, "no agent: hand-off refused");
            call.reject(480);
            self.record(HandoffRecord {
                queue: self.name.clone(),
                context,
                agent: None,
                waited_ms: 0,
                result: HandoffResult::NoAgent,
                give_up: Some(*reason),
                talk_ms: 0,
                recording: None,
            });
            return;
        }
        let (control_tx, control_rx) = std::sync::mpsc::channel();
        let recording = self.record_dir.as_ref().map(|d| {
            let safe: String = call
                .call_id()
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .take(64)
                .collect();
            d.join(format!("{}-{safe}.wav", self.name))
        });
        self.customers.insert(
            id,
            CustomerIo {
                context,
                arrived: now,
                control: control_tx,
                playout: None,
                agent: None,
                rung: None,
                last_agent: None,
                last_fail: None,
                bridged_at: None,
                ended_at: None,
                gave_up: None,
                recording: recording.clone(),
            },
        );
        let relay = Relay {
            side: Side::Customer { id },
            hold: Some(self.hold.clone()),
            control: control_rx,
            events: self.events_tx.clone(),
        };
        let events = self.events_tx.clone();
        let name = self.name.clone();
        tokio::spawn(async move {
            let opts = AnswerOptions {
                record: recording,
                ..Default::default()
            };
            if let Err(e) = call.answer(Box::new(relay), opts).await {
                tracing::warn!(queue = %name, error = %e, "customer's call to the queue failed");
            }
            let _ = events.send(Event::CustomerGone { id });
        });
        // Outputs of the arrival (a Ring) are run by the loop.
        if let Some(o) = refused {
            self.run_output(o);
        }
    }

    fn on_event(&mut self, e: Event) {
        let now = self.clock.now();
        match e {
            Event::CustomerUp { id, playout } => {
                if let Some(c) = self.customers.get_mut(&id) {
                    c.playout = Some(playout);
                }
                self.try_bridge(id, now);
            }
            Event::CustomerGone { id } => {
                self.core.customer_left(id, now);
                if let Some(mut c) = self.customers.remove(&id) {
                    c.ended_at = Some(now);
                    if let Some((_, control, _)) = &c.agent {
                        let _ = control.send(Control::Hangup(None));
                    }
                    self.finish(c, now);
                }
            }
            Event::AgentUp {
                id,
                agent,
                playout,
                control,
            } => {
                if !self.core.agent_answered(&agent, id, now) {
                    // The ring had been given up (timeout, customer gone): not wanted.
                    let _ = control.send(Control::Hangup(None));
                    return;
                }
                tracing::info!(queue = %self.name, agent = %agent, "agent answered");
                if let Some(c) = self.customers.get_mut(&id) {
                    c.agent = Some((agent, control, Some(playout)));
                    c.rung = None;
                }
                self.try_bridge(id, now);
            }
            Event::AgentGone {
                id,
                agent,
                code,
                answered,
            } => {
                if self.legs.get(&agent).is_some_and(|(c, _)| *c == id) {
                    self.legs.remove(&agent);
                }
                if answered {
                    let bridged = self
                        .customers
                        .get(&id)
                        .and_then(|c| c.agent.as_ref())
                        .is_some_and(|(a, _, _)| *a == agent);
                    if bridged {
                        // The agent hung up: the customer's call ends too.
                        self.core.call_ended(&agent, id, now);
                        if let Some(c) = self.customers.get(&id) {
                            let _ = c.control.send(Control::Hangup(None));
                        }
                    }
                } else {
                    if let Some(c) = self.customers.get_mut(&id) {
                        if c.rung.as_deref() == Some(agent.as_str()) {
                            // After a give-up the ring ends with our own CANCEL's 487: that is
                            // the give-up's doing, not the agent's, and must not replace it.
                            if c.gave_up.is_none() {
                                c.last_fail = Some(code.unwrap_or(408));
                            }
                            c.rung = None;
                        }
                    }
                    tracing::info!(queue = %self.name, agent = %agent, code, "agent did not answer");
                    self.core.agent_failed(&agent, id, now);
                }
            }
        }
    }

    /// Once both the customer's and the answering agent's relays run, connect them.
    fn try_bridge(&mut self, id: CustomerId, now: Millis) {
        let Some(c) = self.customers.get_mut(&id) else {
            return;
        };
        let (Some(customer_out), Some((_, agent_control, agent_out))) =
            (c.playout.clone(), c.agent.as_mut())
        else {
            return;
        };
        let Some(agent_out) = agent_out.take() else {
            return;
        };
        let _ = c.control.send(Control::Bridge(agent_out));
        let _ = agent_control.send(Control::Bridge(customer_out));
        c.bridged_at = Some(now);
    }

    fn execute(&mut self) {
        while let Some(o) = self.core.poll_output() {
            self.run_output(o);
        }
    }

    fn run_output(&mut self, o: QueueOutput) {
        let now = self.clock.now();
        match o {
            QueueOutput::Ring { customer, agent } => self.ring(customer, agent, now),
            // The customer left, was given up on, or the agent went offline: CANCEL the
            // agent's ringing phone. (At the ring timeout the SIP leg has CANCELled its
            // own ring already; withdrawing it again does nothing.) An answer that
            // crosses the CANCEL is hung up (see AgentUp).
            QueueOutput::CancelRing { customer, agent } => {
                tracing::debug!(queue = %self.name, customer, agent = %agent, "ring abandoned");
                if let Some((c, withdraw)) = self.legs.get(&agent) {
                    if *c == customer {
                        withdraw.cancel();
                    }
                }
            }
            QueueOutput::GiveUp {
                customer, reason, ..
            } => {
                tracing::info!(queue = %self.name, ?reason, "gave up on a customer");
                if let Some(c) = self.customers.get_mut(&customer) {
                    c.gave_up = Some((reason, now));
                    let _ = c.control.send(Control::GiveUp(self.sorry.clone()));
                }
            }
        }
    }

    fn ring(&mut self, id: CustomerId, agent: String, now: Millis) {
        let contact = match self.fixed.get(&agent) {
            Some(c) => Some(c.clone()),
            None => self.registrar.as_ref().and_then(|r| {
                r.lock()
                    .ok()
                    .and_then(|r| r.contact(&agent, now).map(str::to_string))
            }),
        };
        let Some(c) = self.customers.get_mut(&id) else {
            return;
        };
        if self.legs.contains_key(&agent) {
            tracing::debug!(queue = %self.name, agent = %agent, "agent's phone still rings for an earlier customer");
            self.core.agent_failed(&agent, id, now);
            return;
        }
        let Some(contact) = contact else {
            c.last_agent = Some(agent.clone());
            c.last_fail = Some(480);
            self.core.agent_failed(&agent, id, now);
            return;
        };
        c.rung = Some(agent.clone());
        c.last_agent = Some(agent.clone());
        let withdraw = CancellationToken::new();
        self.legs.insert(agent.clone(), (id, withdraw.clone()));
        tracing::info!(queue = %self.name, agent = %agent, "ringing agent");
        let (control_tx, control_rx) = std::sync::mpsc::channel();
        let relay = Relay {
            side: Side::Agent {
                id,
                agent: agent.clone(),
                control: control_tx,
            },
            hold: None,
            control: control_rx,
            events: self.events_tx.clone(),
        };
        let bind = self.ua.local_addr();
        let req = CallRequest {
            to: contact,
            from: Some(format!("sip:{}@{bind}", self.name)),
            bind,
            ring_timeout: self.sip_ring,
            invite_headers: c
                .context
                .iter()
                .map(|(k, v)| (format!("{CONTEXT_PREFIX}{k}"), v.clone()))
                .collect(),
            withdraw: Some(withdraw),
            ..Default::default()
        };
        let ua = self.ua.clone();
        let events = self.events_tx.clone();
        tokio::spawn(async move {
            let (code, answered) = match ua.call_with(req, Box::new(relay)).await {
                Ok(r) => (r.sip_code, r.answered),
                Err(e) => {
                    tracing::warn!(agent = %agent, error = %e, "agent leg failed");
                    (None, false)
                }
            };
            let _ = events.send(Event::AgentGone {
                id,
                agent,
                code,
                answered,
            });
        });
    }

    /// The customer's call is over: its hand-off record.
    fn finish(&mut self, c: CustomerIo, now: Millis) {
        let agent = c
            .agent
            .as_ref()
            .map(|(a, _, _)| a.clone())
            .or(c.last_agent.clone());
        let (result, waited_to) = match (c.bridged_at, c.gave_up) {
            (Some(t), _) => (HandoffResult::Bridged, t),
            (None, Some((_, t))) => match c.last_fail {
                Some(code) => (HandoffResult::AgentFailed(code), t),
                None => (HandoffResult::NoAgent, t),
            },
            (None, None) => (HandoffResult::CustomerLeft, c.ended_at.unwrap_or(now)),
        };
        let talk_ms = c
            .bridged_at
            .map(|t| c.ended_at.unwrap_or(now).ms_since(t))
            .unwrap_or(0);
        self.record(HandoffRecord {
            queue: self.name.clone(),
            context: c.context,
            agent,
            waited_ms: waited_to.ms_since(c.arrived),
            result,
            give_up: c.gave_up.map(|g| g.0),
            talk_ms,
            recording: c.recording,
        });
    }

    fn record(&mut self, r: HandoffRecord) {
        self.finished.push(r);
    }
}

async fn sleep_until(t: Option<tokio::time::Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

enum Side {
    Customer {
        id: CustomerId,
    },
    Agent {
        id: CustomerId,
        agent: String,
        control: std::sync::mpsc::Sender<Control>,
    },
}

/// The `CallAgent` on each leg of a hand-off: plays hold audio (customer side) until
/// bridged, then relays its inbound frames to the other side's playout.
struct Relay {
    side: Side,
    hold: Option<Arc<Vec<i16>>>,
    control: std::sync::mpsc::Receiver<Control>,
    events: mpsc::UnboundedSender<Event>,
}

impl CallAgent for Relay {
    fn start(
        self: Box<Self>,
        media: AgentMedia,
        commands: mpsc::UnboundedSender<AgentCommand>,
    ) -> std::thread::JoinHandle<AgentReport> {
        let Relay {
            side,
            hold,
            control,
            events,
        } = *self;
        let up = match side {
            Side::Customer { id } => Event::CustomerUp {
                id,
                playout: media.playout.clone(),
            },
            Side::Agent { id, agent, control } => Event::AgentUp {
                id,
                agent,
                playout: media.playout.clone(),
                control,
            },
        };
        let _ = events.send(up);
        std::thread::spawn(move || relay(media, commands, control, hold))
    }
}

fn relay(
    mut media: AgentMedia,
    commands: mpsc::UnboundedSender<AgentCommand>,
    control: std::sync::mpsc::Receiver<Control>,
    hold: Option<Arc<Vec<i16>>>,
) -> AgentReport {
    let mut peer: Option<PlayoutQueue> = None;
    let (mut hold_pos, mut frames, mut relayed) = (0usize, 0u64, 0u64);
    let mut hanging_up = false;
    while let Some(frame) = media.inbound.blocking_recv() {
        frames += 1;
        while let Ok(c) = control.try_recv() {
            let gave_up = matches!(c, Control::GiveUp(_));
            match c {
                Control::Bridge(p) => {
                    media.playout.flush();
                    peer = Some(p);
                }
                Control::Hangup(sorry) | Control::GiveUp(sorry) if !hanging_up => {
                    hanging_up = true;
                    peer = None;
                    media.playout.flush();
                    if let Some(s) = &sorry {
                        media.playout.push_8k(s);
                    }
                    let after_playout = sorry.is_some();
                    let _ = commands.send(if gave_up {
                        AgentCommand::GiveUp {
                            cause: NO_AGENT_CAUSE,
                            after_playout,
                        }
                    } else {
                        AgentCommand::Hangup {
                            outcome: "queue".into(),
                            after_playout,
                        }
                    });
                }
                Control::Hangup(_) | Control::GiveUp(_) => {}
            }
        }
        if let Some(p) = &peer {
            p.push_16k(&frame);
            relayed += 1;
        } else if let (Some(h), false) = (&hold, hanging_up) {
            // Keep a little hold audio queued, looping the tune.
            while !h.is_empty() && media.playout.queued_ms() < HOLD_AHEAD_MS {
                let end = (hold_pos + 160).min(h.len());
                media.playout.push_8k(&h[hold_pos..end]);
                hold_pos = if end == h.len() { 0 } else { end };
            }
        }
    }
    AgentReport {
        detail: serde_json::json!({ "frames": frames, "relayed": relayed }),
        policy_outcome: None,
    }
}
