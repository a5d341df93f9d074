//! The dialer side: the one sans-IO dialer core ([`Dialer`]) with its pacing controllers,
//! the lines it dials on, queueing formulas, the campaign simulator that drives the core
//! on a virtual clock, its YAML configuration and charts. Campaign lists and the runner
//! (the store-backed driver of the same core) are in `campaign`, the contact policy in
//! `policy`, storage in `store`.

pub mod charts;
pub mod config;
pub mod core;
pub mod erlang;
pub mod lines;
pub mod pacing;
pub mod sim;

pub use self::core::Dialer;
