//! `voxdial simulate --config FILE`: a simulated campaign described in YAML, so a run
//! can be kept, reviewed and rerun. Every key is optional; command-line flags given
//! explicitly override the file.

use super::pacing::{Brake, Strategy};
use super::sim::SimConfig;
use crate::policy::Policy;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The YAML file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimFile {
    /// Pacing strategy.
    pub strategy: Option<Strategy>,
    /// Strategies for `--compare` (default: all four).
    pub compare: Option<Vec<Strategy>>,
    /// Human agents.
    pub agents: Option<u32>,
    /// Probability a dial is answered by a person.
    pub answer_rate: Option<f64>,
    /// Leads.
    pub leads: Option<u64>,
    /// Hours of the day simulated.
    pub hours: Option<f64>,
    /// Seed.
    pub seed: Option<u64>,
    /// Mean ring time of answered calls, s.
    pub ring_mean_s: Option<f64>,
    /// Ring time of unanswered calls before giving up, s.
    pub no_answer_s: Option<f64>,
    /// Mean talk time, s.
    pub talk_mean_s: Option<f64>,
    /// Mean wrap-up, s.
    pub wrap_mean_s: Option<f64>,
    /// Lines per free agent for `ratio`.
    pub ratio: Option<f64>,
    /// Maximum dial level for `vicidial`.
    pub max_level: Option<f64>,
    /// VICIdial brake.
    pub brake: Option<Brake>,
    /// Abandon-rate target (default: the policy's, else 3%).
    pub target_abandon: Option<f64>,
    /// Bot-first mode.
    pub bot_first: Option<bool>,
    /// Bot channels.
    pub bot_channels: Option<u32>,
    /// Share of bot calls escalated.
    pub transfer_rate: Option<f64>,
    /// Mean bot conversation, s.
    pub bot_talk_mean_s: Option<f64>,
    /// Patience of an escalated customer, s.
    pub transfer_patience_s: Option<f64>,
    /// Trunk calls per second.
    pub trunk_cps: Option<f64>,
    /// Contact policy preset or file.
    pub policy: Option<String>,
    /// Virtual start (RFC 3339).
    pub start: Option<String>,
    /// Population zones with weights: `{Asia/Shanghai: 0.9, Asia/Urumqi: 0.1}`.
    pub timezones: Option<BTreeMap<String, f64>>,
}

/// Errors in a simulation file.
#[derive(Debug, thiserror::Error)]
pub enum SimFileError {
    /// Unreadable.
    #[error("{path}")]
    Io {
        /// File.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// Bad YAML or value, with its place.
    #[error(transparent)]
    Yaml(#[from] crate::yaml::YamlError),
    /// The policy the file names does not load.
    #[error("{path}: policy")]
    Policy {
        /// File.
        path: String,
        /// Cause.
        #[source]
        source: crate::policy::PolicyError,
    },
    /// A value that parses but is wrong.
    #[error("{path}: {message}")]
    Invalid {
        /// File.
        path: String,
        /// Cause.
        message: String,
    },
}

impl SimFile {
    /// Read and parse a file.
    pub fn load(path: &str) -> Result<SimFile, SimFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| SimFileError::Io {
            path: path.to_string(),
            source,
        })?;
        Ok(crate::yaml::parse(&text, path)?)
    }

    /// Lay the file over `base`.
    pub fn apply(&self, base: SimConfig, path: &str) -> Result<SimConfig, SimFileError> {
        let invalid = |message: String| SimFileError::Invalid {
            path: path.to_string(),
            message,
        };
        let mut c = base;
        macro_rules! set {
            ($($f:ident => $t:ident),*) => { $( if let Some(v) = self.$f { c.$t = v; } )* };
        }
        set!(strategy => strategy, agents => agents, answer_rate => answer_rate, leads => leads,
             hours => hours, seed => seed, ring_mean_s => ring_mean_s, no_answer_s => no_answer_s,
             talk_mean_s => talk_mean_s, wrap_mean_s => wrap_mean_s, ratio => ratio,
             max_level => max_level, brake => brake, bot_first => bot_first,
             bot_channels => bot_channels, transfer_rate => transfer_rate,
             bot_talk_mean_s => bot_talk_mean_s, transfer_patience_s => transfer_patience_s,
             trunk_cps => trunk_cps, target_abandon => target_abandon);
        if let Some(p) = &self.policy {
            let policy = Policy::load(p).map_err(|source| SimFileError::Policy {
                path: path.to_string(),
                source,
            })?;
            if self.target_abandon.is_none() {
                c.target_abandon = policy.max_abandon_rate;
            }
            c.drop_after_s = policy.abandon_after_s;
            c.policy = Some(Arc::new(policy));
        }
        if let Some(s) = &self.start {
            c.start_unix = chrono::DateTime::parse_from_rfc3339(s)
                .map_err(|_| {
                    invalid(format!(
                        "start: `{s}` is not an RFC 3339 time like 2026-11-23T08:00:00+08:00"
                    ))
                })?
                .timestamp();
        }
        if let Some(z) = &self.timezones {
            c.zones = z
                .iter()
                .map(|(k, w)| {
                    k.parse()
                        .map(|tz| (tz, *w))
                        .map_err(|_| invalid(format!("timezones: `{k}` is not an IANA zone")))
                })
                .collect::<Result<_, _>>()?;
        }
        Ok(c)
    }
}
