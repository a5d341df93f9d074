//! The running service's figures for ops and monitoring: what the driver counts, published
//! after every turn of its loop into a snapshot that the HTTP endpoint ([`super::http`])
//! reads without touching the driver. Counts and names of campaigns and queues only: no
//! number, no lead, no agent's name.

use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

/// Upper bounds of the turn-latency histogram's buckets, in ms: around the 1 s bar a
/// bot's turn is held to, and the seconds beyond it where a load problem shows.
pub const TURN_LATENCY_BOUNDS_MS: [u32; 10] =
    [200, 400, 600, 800, 1000, 1200, 1500, 2000, 3000, 5000];

/// A cumulative-bucket histogram of turn latencies (Prometheus' shape).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LatencyHistogram {
    /// Observations at or under each of [`TURN_LATENCY_BOUNDS_MS`] (not cumulative here).
    pub buckets: [u64; TURN_LATENCY_BOUNDS_MS.len()],
    /// Observations over the last bound.
    pub over: u64,
    /// Sum of the observations, ms.
    pub sum_ms: u64,
    /// Number of observations.
    pub count: u64,
}

impl LatencyHistogram {
    /// Count one turn's latency.
    pub fn observe(&mut self, ms: u32) {
        match TURN_LATENCY_BOUNDS_MS.iter().position(|b| ms <= *b) {
            Some(i) => self.buckets[i] += 1,
            None => self.over += 1,
        }
        self.sum_ms += u64::from(ms);
        self.count += 1;
    }
}

/// One campaign's figures since the service started.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CampaignFigures {
    /// Dials placed.
    pub dials: u64,
    /// Calls answered.
    pub answered: u64,
    /// Answered calls no bot took in time.
    pub abandoned: u64,
    /// Calls handed to a person (transfer completed).
    pub handoffs: u64,
    /// Calls dialled and not yet closed.
    pub live_calls: u64,
    /// Attempts closed, by outcome.
    pub outcomes: BTreeMap<String, u64>,
    /// The bots' turn latencies (end of the customer's turn to the bot's first audio).
    pub turn_latency: LatencyHistogram,
}

/// What the driver publishes.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Snapshot {
    /// By campaign name.
    pub campaigns: BTreeMap<String, CampaignFigures>,
    /// Shutting down: no new dials, live calls draining.
    pub draining: bool,
}

/// One built-in queue's figures, read from its handle when asked.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct QueueFigures {
    /// The queue's name.
    pub name: String,
    /// Agents by state (`available`, `ringing`, `on_call`, `wrap_up`, `offline`).
    pub agents: BTreeMap<String, u64>,
    /// Customers waiting now.
    pub waiting: u64,
    /// Customers bridged to an agent so far.
    pub bridged: u64,
    /// Customers given up on so far.
    pub given_up: u64,
}

impl QueueFigures {
    /// The figures of a running queue.
    pub fn of(q: &crate::queue::QueueHandle) -> QueueFigures {
        use crate::queue::AgentState;
        let mut agents: BTreeMap<String, u64> = [
            AgentState::Available,
            AgentState::Ringing,
            AgentState::OnCall,
            AgentState::WrapUp,
            AgentState::Offline,
        ]
        .iter()
        .map(|s| (state_name(*s).to_string(), 0))
        .collect();
        for a in q.agents() {
            *agents.entry(state_name(a.state).to_string()).or_default() += 1;
        }
        let (waiting, bridged, given_up) = q
            .counters()
            .map_or((0, 0, 0), |c| (c.waiting as u64, c.answered, c.given_up));
        QueueFigures {
            name: q.name().to_string(),
            agents,
            waiting,
            bridged,
            given_up,
        }
    }
}

fn state_name(s: crate::queue::AgentState) -> &'static str {
    use crate::queue::AgentState;
    match s {
        AgentState::Available => "available",
        AgentState::Ringing => "ringing",
        AgentState::OnCall => "on_call",
        AgentState::WrapUp => "wrap_up",
        AgentState::Offline => "offline",
    }
}

/// The shared snapshot: the driver writes it, the HTTP endpoint reads it.
#[derive(Debug, Default)]
pub struct Metrics {
    snapshot: Mutex<Snapshot>,
}

impl Metrics {
    /// Replace the snapshot (the driver, once per turn of its loop).
    pub fn publish(&self, s: Snapshot) {
        if let Ok(mut g) = self.snapshot.lock() {
            *g = s;
        }
    }

    /// The latest snapshot.
    pub fn snapshot(&self) -> Snapshot {
        self.snapshot.lock().map(|g| g.clone()).unwrap_or_default()
    }
}

/// Prometheus' label-value escaping (backslash, quote, newline).
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The figures in Prometheus' text exposition format (version 0.0.4).
pub fn prometheus(s: &Snapshot, queues: &[QueueFigures]) -> String {
    let mut o = String::new();
    let family = |o: &mut String, name: &str, kind: &str, help: &str| {
        let _ = writeln!(o, "# HELP {name} {help}");
        let _ = writeln!(o, "# TYPE {name} {kind}");
    };
    type Pick = fn(&CampaignFigures) -> u64;
    let simple: [(&str, &str, &str, Pick); 5] = [
        ("voxdial_dials_total", "counter", "Dials placed.", |c| {
            c.dials
        }),
        ("voxdial_answers_total", "counter", "Calls answered.", |c| {
            c.answered
        }),
        (
            "voxdial_abandons_total",
            "counter",
            "Answered calls no bot took in time.",
            |c| c.abandoned,
        ),
        (
            "voxdial_handoffs_total",
            "counter",
            "Calls handed to a person (transfer completed).",
            |c| c.handoffs,
        ),
        (
            "voxdial_live_calls",
            "gauge",
            "Calls dialled and not yet closed.",
            |c| c.live_calls,
        ),
    ];
    for (name, kind, help, pick) in simple {
        family(&mut o, name, kind, help);
        for (camp, c) in &s.campaigns {
            let _ = writeln!(o, "{name}{{campaign=\"{}\"}} {}", label(camp), pick(c));
        }
    }
    family(
        &mut o,
        "voxdial_attempts_total",
        "counter",
        "Attempts closed, by outcome.",
    );
    for (camp, c) in &s.campaigns {
        for (outcome, n) in &c.outcomes {
            let _ = writeln!(
                o,
                "voxdial_attempts_total{{campaign=\"{}\",outcome=\"{}\"}} {n}",
                label(camp),
                label(outcome)
            );
        }
    }
    family(
        &mut o,
        "voxdial_turn_latency_seconds",
        "histogram",
        "End of the customer's turn to the bot's first audio.",
    );
    for (camp, c) in &s.campaigns {
        let h = &c.turn_latency;
        let camp = label(camp);
        let mut cumulative = 0;
        for (bound, n) in TURN_LATENCY_BOUNDS_MS.iter().zip(h.buckets) {
            cumulative += n;
            let _ = writeln!(
                o,
                "voxdial_turn_latency_seconds_bucket{{campaign=\"{camp}\",le=\"{}\"}} {cumulative}",
                f64::from(*bound) / 1000.0
            );
        }
        let _ = writeln!(
            o,
            "voxdial_turn_latency_seconds_bucket{{campaign=\"{camp}\",le=\"+Inf\"}} {}",
            h.count
        );
        let _ = writeln!(
            o,
            "voxdial_turn_latency_seconds_sum{{campaign=\"{camp}\"}} {}",
            h.sum_ms as f64 / 1000.0
        );
        let _ = writeln!(
            o,
            "voxdial_turn_latency_seconds_count{{campaign=\"{camp}\"}} {}",
            h.count
        );
    }
    family(
        &mut o,
        "voxdial_queue_agents",
        "gauge",
        "Agents of a built-in queue, by state.",
    );
    for q in queues {
        for (state, n) in &q.agents {
            let _ = writeln!(
                o,
                "voxdial_queue_agents{{queue=\"{}\",state=\"{state}\"}} {n}",
                label(&q.name)
            );
        }
    }
    type QPick = fn(&QueueFigures) -> u64;
    let queue_simple: [(&str, &str, &str, QPick); 3] = [
        (
            "voxdial_queue_waiting",
            "gauge",
            "Customers waiting in a built-in queue.",
            |q| q.waiting,
        ),
        (
            "voxdial_queue_bridged_total",
            "counter",
            "Customers a built-in queue bridged to an agent.",
            |q| q.bridged,
        ),
        (
            "voxdial_queue_given_up_total",
            "counter",
            "Customers a built-in queue gave up on.",
            |q| q.given_up,
        ),
    ];
    for (name, kind, help, pick) in queue_simple {
        family(&mut o, name, kind, help);
        for q in queues {
            let _ = writeln!(o, "{name}{{queue=\"{}\"}} {}", label(&q.name), pick(q));
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_has_cumulative_buckets_and_escaped_labels() {
        let mut c = CampaignFigures {
            dials: 3,
            answered: 2,
            live_calls: 1,
            ..Default::default()
        };
        c.outcomes.insert("connected".into(), 2);
        for ms in [150, 390, 950, 7000] {
            c.turn_latency.observe(ms);
        }
        let mut s = Snapshot::default();
        s.campaigns.insert("a\"b".into(), c);
        let q = QueueFigures {
            name: "care".into(),
            agents: [("available".to_string(), 1), ("ringing".to_string(), 0)].into(),
            ..Default::default()
        };
        let text = prometheus(&s, &[q]);
        for line in [
            "voxdial_dials_total{campaign=\"a\\\"b\"} 3",
            "voxdial_answers_total{campaign=\"a\\\"b\"} 2",
            "voxdial_live_calls{campaign=\"a\\\"b\"} 1",
            "voxdial_attempts_total{campaign=\"a\\\"b\",outcome=\"connected\"} 2",
            "voxdial_turn_latency_seconds_bucket{campaign=\"a\\\"b\",le=\"0.2\"} 1",
            "voxdial_turn_latency_seconds_bucket{campaign=\"a\\\"b\",le=\"0.4\"} 2",
            "voxdial_turn_latency_seconds_bucket{campaign=\"a\\\"b\",le=\"1\"} 3",
            "voxdial_turn_latency_seconds_bucket{campaign=\"a\\\"b\",le=\"5\"} 3",
            "voxdial_turn_latency_seconds_bucket{campaign=\"a\\\"b\",le=\"+Inf\"} 4",
            "voxdial_turn_latency_seconds_sum{campaign=\"a\\\"b\"} 8.49",
            "voxdial_turn_latency_seconds_count{campaign=\"a\\\"b\"} 4",
            "voxdial_queue_agents{queue=\"care\",state=\"available\"} 1",
            "# TYPE voxdial_turn_latency_seconds histogram",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
    }
}
