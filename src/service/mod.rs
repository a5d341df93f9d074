//! `voxdial run`: the product as one long-running process. Its config
//! ([`config`], `voxdial.yaml`) and the live driver ([`run`]) of the same
//! `dialer::Dialer` core the simulated campaign runner drives, over SIP lines, with a
//! bot on every answered call.

pub mod agent_first;
pub mod agents;
pub mod config;
pub mod http;
pub mod lock;
pub mod metrics;
pub mod queues;
pub mod run;
