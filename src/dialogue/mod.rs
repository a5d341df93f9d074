//! The dialogue runtime: a deterministic, sans-IO state machine over a compiled flow.

pub mod abnormal;
pub mod conversation_test;
pub mod engine;
