//! voxdial: an AI outbound voice bot with a predictive dialer for banks, lenders and
//! collection agencies. See ARCHITECTURE.md for the map of modules.

pub mod bot;
pub mod campaign;
pub mod checksum;
pub mod cpd;
pub mod dialer;
pub mod dialogue;
pub mod language;
pub mod media;
pub mod models;
pub mod nlu;
pub mod phone;
pub mod policy;
pub mod queue;
pub mod scenario;
pub mod sched;
pub mod service;
pub mod sip;
pub mod speech;
pub mod store;
pub mod time;
pub mod yaml;

pub use language::Locale;
