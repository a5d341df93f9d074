//! The scenario language: YAML model, loading, compilation, lint and drawing.

pub mod catalogue;
pub mod compile;
pub mod diag;
pub mod graph;
pub mod library;
pub mod model;
pub mod source;
