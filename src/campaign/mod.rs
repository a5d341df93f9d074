//! Campaign lists: reading what ops upload (CSV/XLSX), normalising numbers, and the
//! campaign runner that dials stored leads under the contact policy.

pub mod import;
pub mod phone;
pub mod runner;
