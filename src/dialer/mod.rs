//! The dialer side: pacing controllers, queueing formulas, the campaign simulator, its
//! YAML configuration and charts. Campaign lists and the runner are in `campaign`, the
//! contact policy in `policy`, storage in `store`.

pub mod charts;
pub mod config;
pub mod erlang;
pub mod pacing;
pub mod sim;
