//! voxdial: an AI outbound voice bot with a predictive dialer for banks, lenders and
//! collection agencies. See ARCHITECTURE.md for the map of modules.

pub mod campaign;
pub mod dialer;
pub mod dialogue;
pub mod digest;
pub mod locale;
pub mod media;
pub mod models;
pub mod nlu;
pub mod policy;
pub mod scenario;
pub mod sip;
pub mod speak;
pub mod speech;
pub mod store;
pub mod testing;

pub use locale::Locale;
