//! Drawing a flow as Graphviz dot or Mermaid, so authors can see the graph they wrote.

use super::compile::{EdgeLabel, Flow, NodeKind};
use super::model::NodeType;
use std::fmt::Write;

/// Output format of `voxdial scenario graph`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GraphFormat {
    /// Graphviz dot.
    Dot,
    /// Mermaid flowchart (renders in GitLab/GitHub markdown).
    Mermaid,
}

fn shape(t: NodeType) -> (&'static str, &'static str, &'static str) {
    // (dot shape, mermaid open, mermaid close)
    match t {
        NodeType::Say => ("box", "[", "]"),
        NodeType::Ask => ("box", "([", "])"),
        NodeType::Branch => ("diamond", "{", "}"),
        NodeType::Set => ("note", "[/", "/]"),
        NodeType::Call => ("component", "[[", "]]"),
        NodeType::Transfer => ("doubleoctagon", "{{", "}}"),
        NodeType::Hangup | NodeType::Return => ("doublecircle", "((", "))"),
    }
}

fn label_text(l: &EdgeLabel) -> String {
    match l {
        EdgeLabel::Case(n, cond) => format!("{n}: {cond}"),
        other => other.to_string(),
    }
}

fn esc(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "'")
}

/// Render `flow` in `format`. Flow-wide edges (global handlers, hand-off) start from a
/// pseudo-node `*` ("from any question").
pub fn render(flow: &Flow, format: GraphFormat) -> String {
    let mut out = String::new();
    let any = flow.edges.iter().any(|e| e.from.is_none());
    let node_label = |i: usize| {
        let n = &flow.nodes[i];
        match &n.kind {
            NodeKind::Hangup { outcome } => format!("{} ({outcome})", n.id),
            NodeKind::Transfer { reason, .. } => format!("{} (transfer: {reason})", n.id),
            NodeKind::Call { dialog_name, .. } => format!("{} (dialog {dialog_name})", n.id),
            _ => n.id.clone(),
        }
    };
    match format {
        GraphFormat::Dot => {
            let _ = writeln!(out, "digraph \"{}\" {{", esc(flow.id()));
            let _ = writeln!(
                out,
                "  rankdir=LR;\n  node [fontname=\"Noto Sans CJK SC,sans-serif\"];"
            );
            let _ = writeln!(out, "  \"__start\" [shape=point];");
            for (i, n) in flow.nodes.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "  \"{}\" [shape={}, label=\"{}\"];",
                    esc(&n.id),
                    shape(n.ty()).0,
                    esc(&node_label(i))
                );
            }
            if any {
                let _ = writeln!(out, "  \"*\" [shape=plaintext, label=\"any question\"];");
            }
            let _ = writeln!(
                out,
                "  \"__start\" -> \"{}\";",
                esc(&flow.nodes[flow.start].id)
            );
            for e in &flow.edges {
                let from = e.from.map(|f| flow.nodes[f].id.as_str()).unwrap_or("*");
                let style = if e.from.is_none() {
                    ", style=dashed"
                } else {
                    ""
                };
                let _ = writeln!(
                    out,
                    "  \"{}\" -> \"{}\" [label=\"{}\"{style}];",
                    esc(from),
                    esc(&flow.nodes[e.to].id),
                    esc(&label_text(&e.label))
                );
            }
            out.push_str("}\n");
        }
        GraphFormat::Mermaid => {
            out.push_str("flowchart LR\n");
            let id = |i: usize| format!("n{i}");
            let _ = writeln!(out, "  start((start)) --> {}", id(flow.start));
            for (i, n) in flow.nodes.iter().enumerate() {
                let (_, o, c) = shape(n.ty());
                let _ = writeln!(
                    out,
                    "  {}{o}\"{}\"{c}",
                    id(i),
                    node_label(i).replace('"', "'")
                );
            }
            if any {
                out.push_str("  any[\"any question\"]\n");
            }
            for e in &flow.edges {
                let from = e.from.map(id).unwrap_or_else(|| "any".into());
                let arrow = if e.from.is_none() { "-.->" } else { "-->" };
                let text = label_text(&e.label).replace('"', "'").replace('|', "/");
                let _ = writeln!(out, "  {from} {arrow}|\"{text}\"| {}", id(e.to));
            }
        }
    }
    out
}
