//! The scenario language: YAML model, the expressions, values and prompt templates it is
//! written in, loading, compilation, lint and drawing.

pub mod catalogue;
pub mod compile;
pub mod diag;
pub mod expr;
pub mod fuzzing;
pub mod graph;
pub mod library;
pub mod model;
pub mod source;
pub mod template;
pub mod value;
