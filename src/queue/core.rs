//! The queue's decisions, sans-IO: which customer waits, which agent is rung, when a ring
//! or a wait has lasted too long, and what each agent is doing.
//!
//! Modelled on what contact centres run (Asterisk app_queue's `leastrecent` strategy,
//! FreeSWITCH mod_callcenter's `longest-idle-agent`): customers are served first come,
//! first served; the free agent idle longest gets the next one; an agent who lets it ring
//! out or is busy sits out a short penalty while the customer is offered to the next; after
//! each call the agent has wrap-up time before the next. The driver feeds what happens on
//! the lines and executes [`QueueOutput`]s; time comes in as [`Millis`].

use crate::time::Millis;
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};

/// A waiting customer, as numbered by the queue (arrival order).
pub type CustomerId = u64;

/// The queue's timings.
#[derive(Clone, Debug, PartialEq)]
pub struct QueueSettings {
    /// A customer waiting longer than this is given up on (the caller takes the call back).
    pub max_wait_ms: u64,
    /// An agent's phone rings at most this long.
    pub ring_timeout_ms: u64,
    /// After a call the agent finishes notes for this long before the next one.
    pub wrap_up_ms: u64,
    /// An agent who did not answer (or was busy) is skipped for this long.
    pub ring_penalty_ms: u64,
}

impl Default for QueueSettings {
    fn default() -> Self {
        QueueSettings {
            max_wait_ms: 120_000,
            ring_timeout_ms: 20_000,
            wrap_up_ms: 10_000,
            ring_penalty_ms: 5_000,
        }
    }
}

/// What an agent is doing, for routing and for the supervisor's console.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentState {
    /// Logged in and free (possibly sitting out a ring penalty, see `ready_at`).
    Available,
    /// Their phone is ringing with a customer.
    Ringing,
    /// Talking to a customer.
    OnCall,
    /// Finishing the last call's notes.
    WrapUp,
    /// Not logged in (no registration, or logged out).
    Offline,
}

/// One agent's state and counters, for a console and for tests.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AgentStatus {
    /// The agent's user name (their SIP account).
    pub user: String,
    /// What they are doing.
    pub state: AgentState,
    /// Since when.
    pub since: Millis,
    /// The customer rung or talked to.
    pub customer: Option<CustomerId>,
    /// Calls taken.
    pub calls: u32,
    /// Time spent talking, in ms.
    pub talk_ms: u64,
    /// Rings not answered (no answer, busy, failure).
    pub missed: u32,
}

/// One customer in the queue, for a console and for agent-first pacing (which matches
/// its calls to the queue's customers by their `X-Voxdial-Attempt`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CustomerStatus {
    /// The queue's number for them.
    pub id: CustomerId,
    /// The `X-Voxdial-*` context they arrived with.
    pub context: Vec<(String, String)>,
    /// When they arrived.
    pub arrived: Millis,
    /// The agent rung for them or talking to them.
    pub agent: Option<String>,
    /// Talking to that agent.
    pub bridged: bool,
}

/// Why the queue gave up on a customer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GiveUpReason {
    /// They waited `max_wait` without an agent answering.
    MaxWait,
    /// No agent is logged in, so waiting is pointless.
    NoAgents,
}

/// What the queue asks its driver to do.
#[derive(Clone, Debug, PartialEq)]
pub enum QueueOutput {
    /// Call this agent's phone for this customer.
    Ring {
        /// The waiting customer.
        customer: CustomerId,
        /// The agent to call.
        agent: String,
    },
    /// Stop ringing (ring timeout, or the customer left or was given up on).
    CancelRing {
        /// The customer the ring was for.
        customer: CustomerId,
        /// The agent being rung.
        agent: String,
    },
    /// Stop waiting for an agent: play the sorry message or hand the call back.
    GiveUp {
        /// The customer.
        customer: CustomerId,
        /// Why.
        reason: GiveUpReason,
        /// How long they waited.
        waited_ms: u64,
    },
}

/// The queue's figures now (for pacing and the console).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct QueueCounters {
    /// Customers waiting (including those whose agent is ringing).
    pub waiting: usize,
    /// How long the longest-waiting customer has waited, in ms.
    pub longest_wait_ms: u64,
    /// Agents free to take a call now.
    pub available: usize,
    /// Customers given up on so far.
    pub given_up: u64,
    /// Customers bridged to an agent so far.
    pub answered: u64,
}

#[derive(Clone, Debug)]
struct Agent {
    state: AgentState,
    since: Millis,
    logged_in: bool,
    /// Longest-idle ordering: when they last became free after a call (or logged in).
    idle_since: Millis,
    /// Not offered a customer before this (ring penalty).
    ready_at: Millis,
    /// Ring deadline or wrap-up end.
    until: Millis,
    customer: Option<CustomerId>,
    answered_at: Millis,
    calls: u32,
    talk_ms: u64,
    missed: u32,
}

#[derive(Clone, Debug)]
struct Customer {
    arrived: Millis,
    context: Vec<(String, String)>,
    /// The agent ringing for them, or talking to them.
    agent: Option<String>,
    bridged: bool,
}

/// The sans-IO queue core.
#[derive(Debug)]
pub struct Queue {
    settings: QueueSettings,
    agents: BTreeMap<String, Agent>,
    customers: BTreeMap<CustomerId, Customer>,
    next_id: CustomerId,
    outputs: VecDeque<QueueOutput>,
    now: Millis,
    given_up: u64,
    answered: u64,
}

impl Queue {
    /// An empty queue with these timings.
    pub fn new(settings: QueueSettings) -> Queue {
        Queue {
            settings,
            agents: BTreeMap::new(),
            customers: BTreeMap::new(),
            next_id: 1,
            outputs: VecDeque::new(),
            now: Millis::ZERO,
            given_up: 0,
            answered: 0,
        }
    }

    /// Know this agent (from the config); they start offline until [`Queue::agent_online`].
    pub fn add_agent(&mut self, user: &str, now: Millis) {
        self.now = self.now.max(now);
        self.agents.entry(user.to_string()).or_insert(Agent {
            state: AgentState::Offline,
            since: now,
            logged_in: false,
            idle_since: now,
            ready_at: now,
            until: now,
            customer: None,
            answered_at: now,
            calls: 0,
            talk_ms: 0,
            missed: 0,
        });
    }

    /// The agent can be reached (registered, or has a configured contact). An unknown
    /// user is added.
    pub fn agent_online(&mut self, user: &str, now: Millis) {
        self.add_agent(user, now);
        let Some(a) = self.agents.get_mut(user) else {
            return;
        };
        a.logged_in = true;
        if a.state == AgentState::Offline {
            a.state = AgentState::Available;
            a.since = now;
            a.idle_since = now;
            a.ready_at = now;
        }
        self.dispatch(now);
    }

    /// The agent cannot be reached any more (registration lapsed, logged out). A call in
    /// progress goes on; they go offline when it ends. A ring in progress is cancelled.
    pub fn agent_offline(&mut self, user: &str, now: Millis) {
        self.now = self.now.max(now);
        let Some(a) = self.agents.get_mut(user) else {
            return;
        };
        a.logged_in = false;
        match a.state {
            AgentState::Available | AgentState::WrapUp => {
                a.state = AgentState::Offline;
                a.since = now;
            }
            AgentState::Ringing => {
                let customer = a.customer.take();
                a.state = AgentState::Offline;
                a.since = now;
                if let Some(c) = customer {
                    self.outputs.push_back(QueueOutput::CancelRing {
                        customer: c,
                        agent: user.to_string(),
                    });
                    if let Some(cu) = self.customers.get_mut(&c) {
                        cu.agent = None;
                    }
                }
            }
            AgentState::OnCall | AgentState::Offline => {}
        }
        self.dispatch(now);
    }

    /// A customer enters the queue with their hand-off context (`X-Voxdial-*` values).
    pub fn customer_arrives(&mut self, context: Vec<(String, String)>, now: Millis) -> CustomerId {
        self.now = self.now.max(now);
        let id = self.next_id;
        self.next_id += 1;
        self.customers.insert(
            id,
            Customer {
                arrived: now,
                context,
                agent: None,
                bridged: false,
            },
        );
        self.dispatch(now);
        id
    }

    /// The customer hung up (or the call broke) before or during the bridge. Ends a ring
    /// for them, or the agent's call (as [`Queue::call_ended`] does).
    pub fn customer_left(&mut self, customer: CustomerId, now: Millis) {
        self.now = self.now.max(now);
        let Some(c) = self.customers.get(&customer) else {
            return;
        };
        match (c.agent.clone(), c.bridged) {
            (Some(agent), true) => self.call_ended(&agent, customer, now),
            (Some(agent), false) => {
                self.customers.remove(&customer);
                self.outputs.push_back(QueueOutput::CancelRing {
                    customer,
                    agent: agent.clone(),
                });
                self.ring_failed(&agent, now);
                self.dispatch(now);
            }
            (None, _) => {
                self.customers.remove(&customer);
            }
        }
    }

    /// The agent answered the ring for `customer`. False when that ring is no longer
    /// wanted (it timed out or the customer left meanwhile): the driver hangs the agent up.
    pub fn agent_answered(&mut self, agent: &str, customer: CustomerId, now: Millis) -> bool {
        self.now = self.now.max(now);
        if !self.is_ringing(agent, customer) {
            return false;
        }
        if let Some(a) = self.agents.get_mut(agent) {
            a.state = AgentState::OnCall;
            a.since = now;
            a.answered_at = now;
            a.calls += 1;
        }
        if let Some(c) = self.customers.get_mut(&customer) {
            c.bridged = true;
        }
        self.answered += 1;
        true
    }

    /// The ring for `customer` failed (busy, declined, unreachable, or cancelled after a
    /// timeout): the agent sits out the penalty and the customer waits for the next.
    /// Ignored when the queue had already moved on.
    pub fn agent_failed(&mut self, agent: &str, customer: CustomerId, now: Millis) {
        self.now = self.now.max(now);
        if !self.is_ringing(agent, customer) {
            return;
        }
        if let Some(c) = self.customers.get_mut(&customer) {
            c.agent = None;
        }
        self.ring_failed(agent, now);
        self.dispatch(now);
    }

    /// The bridged call between `agent` and `customer` ended (either side hung up): the
    /// agent goes to wrap-up, and the customer leaves the queue.
    pub fn call_ended(&mut self, agent: &str, customer: CustomerId, now: Millis) {
        self.now = self.now.max(now);
        let bridged = self
            .customers
            .get(&customer)
            .is_some_and(|c| c.bridged && c.agent.as_deref() == Some(agent));
        if !bridged {
            return;
        }
        self.customers.remove(&customer);
        let wrap = self.settings.wrap_up_ms;
        if let Some(a) = self.agents.get_mut(agent) {
            a.talk_ms += now.ms_since(a.answered_at);
            a.customer = None;
            a.since = now;
            if !a.logged_in {
                a.state = AgentState::Offline;
            } else if wrap == 0 {
                a.state = AgentState::Available;
                a.idle_since = now;
                a.ready_at = now;
            } else {
                a.state = AgentState::WrapUp;
                a.until = now + std::time::Duration::from_millis(wrap);
            }
        }
        self.dispatch(now);
    }

    /// Run the timers due at `now` (ring timeouts, wrap-up ends, penalties, max wait).
    pub fn handle_timeout(&mut self, now: Millis) {
        self.now = self.now.max(now);
        let mut rung_out = Vec::new();
        for (user, a) in self.agents.iter_mut() {
            match a.state {
                AgentState::WrapUp if a.until <= now => {
                    a.state = AgentState::Available;
                    a.since = a.until;
                    a.idle_since = a.until;
                    a.ready_at = a.until;
                }
                AgentState::Ringing if a.until <= now => {
                    if let Some(c) = a.customer {
                        rung_out.push((user.clone(), c));
                    }
                }
                _ => {}
            }
        }
        for (agent, customer) in rung_out {
            self.outputs.push_back(QueueOutput::CancelRing {
                customer,
                agent: agent.clone(),
            });
            if let Some(c) = self.customers.get_mut(&customer) {
                c.agent = None;
            }
            self.ring_failed(&agent, now);
        }
        let max_wait = self.settings.max_wait_ms;
        let late: Vec<CustomerId> = self
            .customers
            .iter()
            .filter(|(_, c)| !c.bridged && now.ms_since(c.arrived) >= max_wait)
            .map(|(id, _)| *id)
            .collect();
        for id in late {
            self.give_up(id, GiveUpReason::MaxWait, now);
        }
        self.dispatch(now);
    }

    /// The next output to execute.
    pub fn poll_output(&mut self) -> Option<QueueOutput> {
        self.outputs.pop_front()
    }

    /// When [`Queue::handle_timeout`] is next due.
    pub fn poll_timeout(&self) -> Option<Millis> {
        let waiting = self.customers.values().any(|c| c.agent.is_none());
        let agents = self.agents.values().filter_map(|a| match a.state {
            AgentState::Ringing | AgentState::WrapUp => Some(a.until),
            // A penalty's end matters only to someone waiting.
            AgentState::Available if waiting && a.ready_at > self.now => Some(a.ready_at),
            _ => None,
        });
        let waits = self
            .customers
            .values()
            .filter(|c| !c.bridged)
            .map(|c| c.arrived + std::time::Duration::from_millis(self.settings.max_wait_ms));
        agents.chain(waits).min()
    }

    /// Every agent's state, by user name.
    pub fn agents(&self) -> Vec<AgentStatus> {
        self.agents
            .iter()
            .map(|(user, a)| AgentStatus {
                user: user.clone(),
                state: a.state,
                since: a.since,
                customer: a.customer,
                calls: a.calls,
                talk_ms: a.talk_ms,
                missed: a.missed,
            })
            .collect()
    }

    /// Every customer in the queue, waiting or talking, in arrival order.
    pub fn customers(&self) -> Vec<CustomerStatus> {
        self.customers
            .iter()
            .map(|(id, c)| CustomerStatus {
                id: *id,
                context: c.context.clone(),
                arrived: c.arrived,
                agent: c.agent.clone(),
                bridged: c.bridged,
            })
            .collect()
    }

    /// The context a customer arrived with.
    pub fn context(&self, customer: CustomerId) -> Option<&[(String, String)]> {
        self.customers.get(&customer).map(|c| c.context.as_slice())
    }

    /// The queue's figures at `now`.
    pub fn counters(&self, now: Millis) -> QueueCounters {
        let waiting: Vec<_> = self.customers.values().filter(|c| !c.bridged).collect();
        QueueCounters {
            waiting: waiting.len(),
            longest_wait_ms: waiting
                .iter()
                .map(|c| now.ms_since(c.arrived))
                .max()
                .unwrap_or(0),
            available: self
                .agents
                .values()
                .filter(|a| a.state == AgentState::Available && a.ready_at <= now)
                .count(),
            given_up: self.given_up,
            answered: self.answered,
        }
    }

    fn is_ringing(&self, agent: &str, customer: CustomerId) -> bool {
        self.agents
            .get(agent)
            .is_some_and(|a| a.state == AgentState::Ringing && a.customer == Some(customer))
    }

    fn ring_failed(&mut self, agent: &str, now: Millis) {
        let penalty = self.settings.ring_penalty_ms;
        if let Some(a) = self.agents.get_mut(agent) {
            a.customer = None;
            a.missed += 1;
            a.since = now;
            if a.logged_in {
                a.state = AgentState::Available;
                a.ready_at = now + std::time::Duration::from_millis(penalty);
            } else {
                a.state = AgentState::Offline;
            }
        }
    }

    fn give_up(&mut self, customer: CustomerId, reason: GiveUpReason, now: Millis) {
        let Some(c) = self.customers.remove(&customer) else {
            return;
        };
        if let Some(agent) = c.agent {
            self.outputs.push_back(QueueOutput::CancelRing {
                customer,
                agent: agent.clone(),
            });
            self.ring_failed(&agent, now);
        }
        self.given_up += 1;
        self.outputs.push_back(QueueOutput::GiveUp {
            customer,
            reason,
            waited_ms: now.ms_since(c.arrived),
        });
    }

    /// Offer waiting customers, first come first served, to the agents idle longest.
    fn dispatch(&mut self, now: Millis) {
        if !self.agents.values().any(|a| a.logged_in) {
            let waiting: Vec<_> = self
                .customers
                .iter()
                .filter(|(_, c)| !c.bridged && c.agent.is_none())
                .map(|(id, _)| *id)
                .collect();
            for id in waiting {
                self.give_up(id, GiveUpReason::NoAgents, now);
            }
            return;
        }
        let waiting: Vec<CustomerId> = self
            .customers
            .iter()
            .filter(|(_, c)| c.agent.is_none())
            .map(|(id, _)| *id)
            .collect();
        let ring_until = now + std::time::Duration::from_millis(self.settings.ring_timeout_ms);
        for id in waiting {
            let pick = self
                .agents
                .iter()
                .filter(|(_, a)| a.state == AgentState::Available && a.ready_at <= now)
                .min_by_key(|(user, a)| (a.idle_since, (*user).clone()))
                .map(|(user, _)| user.clone());
            let Some(user) = pick else {
                break;
            };
            if let Some(a) = self.agents.get_mut(&user) {
                a.state = AgentState::Ringing;
                a.since = now;
                a.until = ring_until;
                a.customer = Some(id);
            }
            if let Some(c) = self.customers.get_mut(&id) {
                c.agent = Some(user.clone());
            }
            self.outputs.push_back(QueueOutput::Ring {
                customer: id,
                agent: user,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use std::collections::{HashMap, HashSet};

    fn settings() -> QueueSettings {
        QueueSettings {
            max_wait_ms: 60_000,
            ring_timeout_ms: 15_000,
            wrap_up_ms: 5_000,
            ring_penalty_ms: 3_000,
        }
    }

    fn outputs(q: &mut Queue) -> Vec<QueueOutput> {
        std::iter::from_fn(|| q.poll_output()).collect()
    }

    fn ring(customer: CustomerId, agent: &str) -> QueueOutput {
        QueueOutput::Ring {
            customer,
            agent: agent.into(),
        }
    }

    fn state(q: &Queue, user: &str) -> AgentState {
        q.agents()
            .into_iter()
            .find(|a| a.user == user)
            .unwrap()
            .state
    }

    #[test]
    fn the_longest_idle_agent_takes_the_first_customer() {
        let mut q = Queue::new(settings());
        q.agent_online("bob", Millis(2_000));
        q.agent_online("ann", Millis(1_000));
        q.agent_online("cid", Millis(3_000));
        let c1 = q.customer_arrives(
            vec![("Reason".into(), "wants_human".into())],
            Millis(10_000),
        );
        let c2 = q.customer_arrives(vec![], Millis(10_001));
        assert_eq!(outputs(&mut q), vec![ring(c1, "ann"), ring(c2, "bob")]);
        assert_eq!(
            q.context(c1),
            Some(&[("Reason".to_string(), "wants_human".to_string())][..])
        );
        assert_eq!(state(&q, "ann"), AgentState::Ringing);
        assert_eq!(state(&q, "cid"), AgentState::Available);
        // ann answers and talks; bob answers and hangs up first, so bob becomes free
        // (after wrap-up) before ann and is idle longer by the time the next one comes.
        assert!(q.agent_answered("ann", c1, Millis(12_000)));
        assert!(q.agent_answered("bob", c2, Millis(12_000)));
        q.call_ended("bob", c2, Millis(20_000));
        q.call_ended("ann", c1, Millis(30_000));
        q.handle_timeout(Millis(40_000));
        let c3 = q.customer_arrives(vec![], Millis(40_000));
        let c4 = q.customer_arrives(vec![], Millis(40_000));
        let c5 = q.customer_arrives(vec![], Millis(40_000));
        // cid has been idle since 3 s, bob since 25 s (wrap-up end), ann since 35 s.
        assert_eq!(
            outputs(&mut q),
            vec![ring(c3, "cid"), ring(c4, "bob"), ring(c5, "ann")]
        );
    }

    #[test]
    fn customers_are_served_in_arrival_order() {
        let mut q = Queue::new(settings());
        q.agent_online("ann", Millis(0));
        let c1 = q.customer_arrives(vec![], Millis(1_000));
        let c2 = q.customer_arrives(vec![], Millis(2_000));
        let c3 = q.customer_arrives(vec![], Millis(3_000));
        assert_eq!(outputs(&mut q), vec![ring(c1, "ann")]);
        assert!(q.agent_answered("ann", c1, Millis(4_000)));
        q.call_ended("ann", c1, Millis(5_000));
        assert_eq!(state(&q, "ann"), AgentState::WrapUp);
        assert!(outputs(&mut q).is_empty(), "nobody is rung during wrap-up");
        assert_eq!(q.poll_timeout(), Some(Millis(10_000)));
        q.handle_timeout(Millis(10_000));
        assert_eq!(outputs(&mut q), vec![ring(c2, "ann")]);
        let _ = c3;
        let n = q.counters(Millis(10_000));
        assert_eq!((n.waiting, n.longest_wait_ms, n.answered), (2, 8_000, 1));
    }

    #[test]
    fn a_ring_timeout_cancels_and_offers_the_customer_to_the_next_agent() {
        let mut q = Queue::new(settings());
        q.agent_online("ann", Millis(0));
        q.agent_online("bob", Millis(1));
        let c = q.customer_arrives(vec![], Millis(1_000));
        assert_eq!(outputs(&mut q), vec![ring(c, "ann")]);
        assert_eq!(q.poll_timeout(), Some(Millis(16_000)));
        q.handle_timeout(Millis(16_000));
        assert_eq!(
            outputs(&mut q),
            vec![
                QueueOutput::CancelRing {
                    customer: c,
                    agent: "ann".into()
                },
                ring(c, "bob")
            ]
        );
        // The cancelled leg's failure arrives late: ignored.
        q.agent_failed("ann", c, Millis(16_100));
        assert!(outputs(&mut q).is_empty());
        // Her answer crossing the CANCEL is refused, so the driver hangs her up.
        assert!(!q.agent_answered("ann", c, Millis(16_200)));
        let a = q.agents().into_iter().find(|a| a.user == "ann").unwrap();
        assert_eq!((a.state, a.missed), (AgentState::Available, 1));
    }

    #[test]
    fn a_busy_agent_sits_out_the_penalty_then_gets_the_customer_again() {
        let mut q = Queue::new(settings());
        q.agent_online("ann", Millis(0));
        let c = q.customer_arrives(vec![], Millis(1_000));
        assert_eq!(outputs(&mut q), vec![ring(c, "ann")]);
        q.agent_failed("ann", c, Millis(2_000));
        assert!(outputs(&mut q).is_empty());
        assert_eq!(q.poll_timeout(), Some(Millis(5_000)));
        assert_eq!(q.counters(Millis(2_000)).available, 0);
        q.handle_timeout(Millis(5_000));
        assert_eq!(outputs(&mut q), vec![ring(c, "ann")]);
    }

    #[test]
    fn max_wait_gives_up_with_the_reason_and_cancels_a_ring() {
        let mut q = Queue::new(settings());
        q.agent_online("ann", Millis(0));
        let c1 = q.customer_arrives(vec![], Millis(0));
        let c2 = q.customer_arrives(vec![], Millis(10_000));
        assert!(q.agent_answered("ann", c1, Millis(1_000)));
        outputs(&mut q);
        assert_eq!(q.poll_timeout(), Some(Millis(70_000)));
        q.handle_timeout(Millis(70_000));
        assert_eq!(
            outputs(&mut q),
            vec![QueueOutput::GiveUp {
                customer: c2,
                reason: GiveUpReason::MaxWait,
                waited_ms: 60_000
            }]
        );
        // The bridged customer is not timed out by the queue.
        assert_eq!(state(&q, "ann"), AgentState::OnCall);
        // A customer given up while their agent rings: the ring is cancelled first.
        q.call_ended("ann", c1, Millis(80_000));
        q.handle_timeout(Millis(85_000));
        let c3 = q.customer_arrives(vec![], Millis(100_000));
        let c4 = q.customer_arrives(vec![], Millis(100_000));
        outputs(&mut q);
        q.agent_failed("ann", c3, Millis(100_500));
        q.handle_timeout(Millis(103_500));
        assert_eq!(outputs(&mut q), vec![ring(c3, "ann")]);
        q.handle_timeout(Millis(160_000));
        let out = outputs(&mut q);
        assert_eq!(out.len(), 3, "{out:?}");
        assert_eq!(
            out[0],
            QueueOutput::CancelRing {
                customer: c3,
                agent: "ann".into()
            }
        );
        assert!(out.contains(&QueueOutput::GiveUp {
            customer: c4,
            reason: GiveUpReason::MaxWait,
            waited_ms: 60_000
        }));
        assert_eq!(q.counters(Millis(160_000)).given_up, 3);
    }

    #[test]
    fn with_no_agent_logged_in_the_customer_is_given_up_at_once() {
        let mut q = Queue::new(settings());
        q.add_agent("ann", Millis(0));
        let c = q.customer_arrives(vec![], Millis(5));
        assert_eq!(
            outputs(&mut q),
            vec![QueueOutput::GiveUp {
                customer: c,
                reason: GiveUpReason::NoAgents,
                waited_ms: 0
            }]
        );
        // The last agent logging out gives up on those still waiting.
        q.agent_online("ann", Millis(10));
        let c1 = q.customer_arrives(vec![], Millis(20));
        let c2 = q.customer_arrives(vec![], Millis(20));
        outputs(&mut q);
        q.agent_offline("ann", Millis(30));
        let out = outputs(&mut q);
        assert_eq!(
            out,
            vec![
                QueueOutput::CancelRing {
                    customer: c1,
                    agent: "ann".into()
                },
                QueueOutput::GiveUp {
                    customer: c1,
                    reason: GiveUpReason::NoAgents,
                    waited_ms: 10
                },
                QueueOutput::GiveUp {
                    customer: c2,
                    reason: GiveUpReason::NoAgents,
                    waited_ms: 10
                }
            ]
        );
        assert_eq!(state(&q, "ann"), AgentState::Offline);
    }

    #[test]
    fn wrap_up_follows_each_call_and_talk_time_is_counted() {
        let mut q = Queue::new(settings());
        q.agent_online("ann", Millis(0));
        let c = q.customer_arrives(vec![], Millis(0));
        assert!(q.agent_answered("ann", c, Millis(2_000)));
        q.customer_left(c, Millis(32_000));
        let a = q.agents().remove(0);
        assert_eq!(
            (a.state, a.calls, a.talk_ms, a.since),
            (AgentState::WrapUp, 1, 30_000, Millis(32_000))
        );
        q.handle_timeout(Millis(37_000));
        assert_eq!(state(&q, "ann"), AgentState::Available);
        // Logged out mid-call: the call goes on, then the agent is offline.
        let c = q.customer_arrives(vec![], Millis(40_000));
        assert!(q.agent_answered("ann", c, Millis(41_000)));
        q.agent_offline("ann", Millis(42_000));
        assert_eq!(state(&q, "ann"), AgentState::OnCall);
        q.call_ended("ann", c, Millis(50_000));
        assert_eq!(state(&q, "ann"), AgentState::Offline);
    }

    #[test]
    fn a_customer_leaving_while_rung_cancels_the_ring() {
        let mut q = Queue::new(settings());
        q.agent_online("ann", Millis(0));
        let c = q.customer_arrives(vec![], Millis(0));
        outputs(&mut q);
        q.customer_left(c, Millis(1_000));
        assert_eq!(
            outputs(&mut q),
            vec![QueueOutput::CancelRing {
                customer: c,
                agent: "ann".into()
            }]
        );
        assert_eq!(q.counters(Millis(1_000)).waiting, 0);
    }

    /// Random arrivals, departures, answers, failures, log-ins and time steps, seeded: an
    /// agent is never rung while ringing or talking, and a customer never has two agents.
    #[test]
    fn no_agent_is_ever_on_two_calls() {
        for seed in 0..200u64 {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            let mut q = Queue::new(QueueSettings {
                max_wait_ms: 30_000,
                ring_timeout_ms: 8_000,
                wrap_up_ms: rng.random_range(0..4_000),
                ring_penalty_ms: 2_000,
            });
            let users = ["a", "b", "c", "d"];
            let mut now = 0u64;
            // What the driver would see: agent -> (customer, answered).
            let mut busy: HashMap<String, (CustomerId, bool)> = HashMap::new();
            let mut customers: HashSet<CustomerId> = HashSet::new();
            for _ in 0..400 {
                now += rng.random_range(0..3_000);
                let t = Millis(now);
                match rng.random_range(0..9) {
                    0 => q.agent_online(users[rng.random_range(0..4)], t),
                    1 => q.agent_offline(users[rng.random_range(0..4)], t),
                    2 | 3 => {
                        customers.insert(q.customer_arrives(vec![], t));
                    }
                    4 => {
                        if let Some(&c) = customers.iter().min() {
                            q.customer_left(c, t);
                            busy.retain(|_, (b, _)| *b != c);
                        }
                    }
                    5 | 6 => {
                        let ringing: Vec<_> = busy
                            .iter()
                            .filter(|(_, (_, answered))| !answered)
                            .map(|(a, (c, _))| (a.clone(), *c))
                            .collect();
                        if let Some((a, c)) = ringing.first() {
                            if rng.random_bool(0.7) {
                                if q.agent_answered(a, *c, t) {
                                    busy.insert(a.clone(), (*c, true));
                                }
                            } else {
                                q.agent_failed(a, *c, t);
                                busy.remove(a);
                            }
                        }
                    }
                    7 => {
                        let talking: Vec<_> = busy
                            .iter()
                            .filter(|(_, (_, answered))| *answered)
                            .map(|(a, (c, _))| (a.clone(), *c))
                            .collect();
                        if let Some((a, c)) = talking.first() {
                            q.call_ended(a, *c, t);
                            busy.remove(a);
                        }
                    }
                    _ => {
                        q.handle_timeout(t);
                        // Nothing due is left behind, so the driver never spins.
                        if let Some(d) = q.poll_timeout() {
                            assert!(d > t, "seed {seed}: deadline {d:?} not after {t:?}");
                        }
                    }
                }
                // Sync the driver's view with the queue's, checking every output.
                for o in std::iter::from_fn(|| q.poll_output()) {
                    match o {
                        QueueOutput::Ring { customer, agent } => {
                            assert!(
                                !busy.contains_key(&agent),
                                "seed {seed}: {agent} rung while busy"
                            );
                            assert!(
                                !busy.values().any(|(c, _)| *c == customer),
                                "seed {seed}: customer {customer} offered twice"
                            );
                            busy.insert(agent, (customer, false));
                        }
                        QueueOutput::CancelRing { agent, customer } => {
                            // Unless the driver already knows (the customer it hung up on).
                            if let Some(b) = busy.remove(&agent) {
                                assert_eq!(b, (customer, false), "seed {seed}");
                            }
                        }
                        QueueOutput::GiveUp { customer, .. } => {
                            customers.remove(&customer);
                        }
                    }
                }
                // Calls the queue closed itself (customer left, failure) leave the view.
                let states: HashMap<_, _> = q
                    .agents()
                    .into_iter()
                    .map(|a| (a.user.clone(), a))
                    .collect();
                busy.retain(|a, (c, _)| states[a].customer == Some(*c));
                customers.retain(|c| q.context(*c).is_some());
                let mut seen = HashSet::new();
                for a in states.values() {
                    match a.state {
                        AgentState::Ringing | AgentState::OnCall => {
                            let c = a.customer.expect("busy agents have a customer");
                            assert!(seen.insert(c), "seed {seed}: customer {c} on two agents");
                        }
                        _ => assert_eq!(a.customer, None, "seed {seed}"),
                    }
                }
            }
        }
    }
}
