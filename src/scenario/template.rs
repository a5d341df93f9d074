//! Prompt templates: `您本期应还{amount_due}` with variables rendered the way a person says them.

use super::value::{Value, VarId, VarRef};
use crate::language::verbalise::{self, Currency};
use crate::language::Locale;
use crate::scenario::model::VarType;

/// Looks up a variable's value and declared type while rendering.
pub type VarLookup<'a> = dyn Fn(&VarRef) -> Option<(Value, Option<VarType>)> + 'a;

/// A piece of a prompt template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Literal text.
    Text(String),
    /// `{name}`: a variable, spoken by its declared type.
    Var(VarRef),
}

/// A prompt parsed once at compile time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    /// The pieces in order.
    pub segments: Vec<Segment>,
}

/// A malformed placeholder, with the character offset where it starts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (at character {offset})")]
pub struct TemplateError {
    /// Character offset in the prompt text.
    pub offset: usize,
    /// What is wrong.
    pub message: String,
}

impl Template {
    /// Parse `{var}` placeholders; `{{` and `}}` are literal braces.
    pub fn parse(src: &str) -> Result<Template, TemplateError> {
        let mut segments = Vec::new();
        let mut text = String::new();
        let mut chars = src.chars().enumerate().peekable();
        while let Some((i, c)) = chars.next() {
            match c {
                '{' if chars.peek().map(|(_, c)| *c) == Some('{') => {
                    chars.next();
                    text.push('{');
                }
                '}' if chars.peek().map(|(_, c)| *c) == Some('}') => {
                    chars.next();
                    text.push('}');
                }
                '{' => {
                    let mut name = String::new();
                    let mut closed = false;
                    for (_, c) in chars.by_ref() {
                        if c == '}' {
                            closed = true;
                            break;
                        }
                        name.push(c);
                    }
                    let name = name.trim().to_string();
                    if !closed {
                        return Err(TemplateError {
                            offset: i,
                            message: "a `{` is not closed by `}`".into(),
                        });
                    }
                    if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || c == '_') {
                        return Err(TemplateError {
                            offset: i,
                            message: format!("`{{{name}}}` is not a variable name"),
                        });
                    }
                    if !text.is_empty() {
                        segments.push(Segment::Text(std::mem::take(&mut text)));
                    }
                    segments.push(Segment::Var(VarRef::named(name)));
                }
                '}' => {
                    return Err(TemplateError {
                        offset: i,
                        message: "a `}` has no matching `{` (write `}}` for a literal brace)"
                            .into(),
                    })
                }
                c => text.push(c),
            }
        }
        if !text.is_empty() {
            segments.push(Segment::Text(text));
        }
        Ok(Template { segments })
    }

    /// Variables the template reads.
    pub fn variables(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Var(v) => Some(v.name.as_str()),
            Segment::Text(_) => None,
        })
    }

    /// The variables the template reads, with their numbers once compiled.
    pub fn var_refs(&self) -> impl Iterator<Item = &VarRef> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Var(v) => Some(v),
            Segment::Text(_) => None,
        })
    }

    /// Number every variable of the template; unknown names stay unnumbered.
    pub fn resolve(&mut self, ids: &dyn Fn(&str) -> Option<VarId>) {
        for s in &mut self.segments {
            if let Segment::Var(v) = s {
                v.id = ids(&v.name);
            }
        }
    }

    /// Whether the template has no variables (a static prompt: cacheable as audio).
    pub fn is_static(&self) -> bool {
        self.variables().next().is_none()
    }

    /// Render with values; `lookup` gives a variable's value and declared type.
    pub fn render(&self, locale: Locale, currency: Currency, lookup: &VarLookup<'_>) -> String {
        let mut out = String::new();
        for seg in &self.segments {
            match seg {
                Segment::Text(t) => out.push_str(t),
                // An unset variable renders empty rather than as `{name}`: the linter
                // catches undeclared names, and a missing slot must not be read aloud as code.
                Segment::Var(var) => {
                    if let Some((v, ty)) = lookup(var) {
                        out.push_str(&speak_value(&v, ty, locale, currency));
                    }
                }
            }
        }
        out
    }
}

/// How a value is said inside a prompt.
pub fn speak_value(v: &Value, ty: Option<VarType>, locale: Locale, currency: Currency) -> String {
    match v {
        Value::Amount(c) => verbalise::amount_words(*c, currency, locale),
        Value::Number(n) if ty == Some(VarType::Amount) => {
            verbalise::amount_words((n * 100.0).round() as i64, currency, locale)
        }
        Value::Date(d) => verbalise::date_words(*d, locale),
        Value::Bool(b) => match (locale, b) {
            (Locale::ZhCn, true) => "是".into(),
            (Locale::ZhCn, false) => "否".into(),
            (Locale::EnUs, true) => "yes".into(),
            (Locale::EnUs, false) => "no".into(),
        },
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_placeholders_and_escapes() {
        let t = Template::parse("您好{name},{{注意}}").expect("parses");
        assert_eq!(
            t.segments,
            vec![
                Segment::Text("您好".into()),
                Segment::Var(VarRef::named("name")),
                Segment::Text(",{注意}".into())
            ]
        );
        assert!(!t.is_static());
        assert_eq!(Template::parse("a {b").unwrap_err().offset, 2);
        assert_eq!(Template::parse("a } b").unwrap_err().offset, 2);
        assert!(Template::parse("{a b}").is_err());
    }
}
