//! The dialogue runtime: a deterministic, sans-IO state machine over a compiled flow.

pub mod abnormal;
pub mod engine;
pub mod expr;
pub mod prompt;
pub mod value;
