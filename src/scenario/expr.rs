//! The small condition language of `branch` cases and `set` assignments.
//!
//! Authors write `ptp_amount >= amount_due and ptp_date <= due_date + 7`. It is
//! deliberately tiny (comparisons, and/or/not, `+`/`-` on numbers and on dates by days)
//! so that business staff can read it and the linter can list every variable it uses.

use super::value::{Value, VarId, VarRef};
use chrono::Duration;
use std::fmt;

/// A parsed expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A literal value.
    Lit(Value),
    /// A variable reference.
    Var(VarRef),
    /// `not e`.
    Not(Box<Expr>),
    /// Binary operation.
    Bin(BinOp, Box<Expr>, Box<Expr>),
}

/// Binary operators, lowest precedence first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    /// Logical or.
    Or,
    /// Logical and.
    And,
    /// `==`.
    Eq,
    /// `!=`.
    Ne,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
    /// `+` (numbers, amounts, date + days).
    Add,
    /// `-` (numbers, amounts, date - days, date - date in days).
    Sub,
}

/// The most parts (names, values, operators, parentheses) one condition may have. A
/// condition people write has a handful; the parser, the linter and the engine walk an
/// expression recursively, so its size bounds their depth (a file of ten thousand `(`
/// in one condition would otherwise overflow the stack and abort every command).
pub const MAX_TOKENS: usize = 256;

/// A syntax error in an expression, with the 0-based character offset where it was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (at character {offset})")]
pub struct ExprError {
    /// Character offset in the expression text.
    pub offset: usize,
    /// What is wrong.
    pub message: String,
}

/// An evaluation failure (type mismatch), reported at run time and by tests.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct EvalError(pub String);

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Num(f64),
    Str(String),
    Op(&'static str),
    LParen,
    RParen,
}

fn lex(src: &str) -> Result<Vec<(Tok, usize)>, ExprError> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c.is_alphabetic() || c == '_' {
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push((Tok::Ident(chars[start..i].iter().collect()), start));
            continue;
        }
        if c.is_ascii_digit() {
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            let text: String = chars[start..i].iter().collect();
            let n = text.parse::<f64>().map_err(|_| ExprError {
                offset: start,
                message: format!("`{text}` is not a number"),
            })?;
            out.push((Tok::Num(n), start));
            continue;
        }
        if c == '\'' || c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != c {
                i += 1;
            }
            if i >= chars.len() {
                return Err(ExprError {
                    offset: start,
                    message: "text in quotes is not closed".into(),
                });
            }
            out.push((Tok::Str(chars[start + 1..i].iter().collect()), start));
            i += 1;
            continue;
        }
        let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
        let op = match two.as_str() {
            "==" => Some("=="),
            "!=" => Some("!="),
            "<=" => Some("<="),
            ">=" => Some(">="),
            "&&" => Some("and"),
            "||" => Some("or"),
            _ => None,
        };
        if let Some(op) = op {
            out.push((Tok::Op(op), start));
            i += 2;
            continue;
        }
        let tok = match c {
            '<' => Tok::Op("<"),
            '>' => Tok::Op(">"),
            '+' => Tok::Op("+"),
            '-' => Tok::Op("-"),
            '!' => Tok::Op("not"),
            '(' => Tok::LParen,
            ')' => Tok::RParen,
            _ => {
                return Err(ExprError {
                    offset: start,
                    message: format!("unexpected character `{c}`"),
                })
            }
        };
        out.push((tok, start));
        i += 1;
    }
    Ok(out)
}

struct Parser {
    toks: Vec<(Tok, usize)>,
    at: usize,
    end: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at).map(|(t, _)| t)
    }
    fn offset(&self) -> usize {
        self.toks.get(self.at).map(|(_, o)| *o).unwrap_or(self.end)
    }
    fn binop(&self) -> Option<BinOp> {
        Some(match self.peek()? {
            Tok::Ident(w) if w == "or" => BinOp::Or,
            Tok::Ident(w) if w == "and" => BinOp::And,
            Tok::Op("or") => BinOp::Or,
            Tok::Op("and") => BinOp::And,
            Tok::Op("==") => BinOp::Eq,
            Tok::Op("!=") => BinOp::Ne,
            Tok::Op("<") => BinOp::Lt,
            Tok::Op("<=") => BinOp::Le,
            Tok::Op(">") => BinOp::Gt,
            Tok::Op(">=") => BinOp::Ge,
            Tok::Op("+") => BinOp::Add,
            Tok::Op("-") => BinOp::Sub,
            _ => return None,
        })
    }

    fn expr(&mut self, min_prec: u8) -> Result<Expr, ExprError> {
        let mut lhs = self.unary()?;
        while let Some(op) = self.binop() {
            let prec = precedence(op);
            if prec < min_prec {
                break;
            }
            self.at += 1;
            let rhs = self.expr(prec + 1)?;
            lhs = Expr::Bin(op, Box::new(lhs), Box::new(rhs));
        }
        Ok(lhs)
    }

    fn unary(&mut self) -> Result<Expr, ExprError> {
        let offset = self.offset();
        let Some((tok, _)) = self.toks.get(self.at).cloned() else {
            return Err(ExprError {
                offset,
                message: "expected a value here".into(),
            });
        };
        self.at += 1;
        Ok(match tok {
            Tok::Ident(w) if w == "not" => Expr::Not(Box::new(self.unary()?)),
            Tok::Op("not") => Expr::Not(Box::new(self.unary()?)),
            Tok::Op("-") => match self.unary()? {
                Expr::Lit(Value::Number(n)) => Expr::Lit(Value::Number(-n)),
                e => Expr::Bin(
                    BinOp::Sub,
                    Box::new(Expr::Lit(Value::Number(0.0))),
                    Box::new(e),
                ),
            },
            Tok::Ident(w) => match w.as_str() {
                "true" => Expr::Lit(Value::Bool(true)),
                "false" => Expr::Lit(Value::Bool(false)),
                "null" => Expr::Lit(Value::Null),
                "and" | "or" => {
                    return Err(ExprError {
                        offset,
                        message: format!("`{w}` needs a condition before it"),
                    })
                }
                _ => Expr::Var(VarRef::named(w)),
            },
            Tok::Num(n) => Expr::Lit(Value::Number(n)),
            Tok::Str(s) => Expr::Lit(Value::Text(s)),
            Tok::LParen => {
                let e = self.expr(0)?;
                if self.peek() != Some(&Tok::RParen) {
                    return Err(ExprError {
                        offset: self.offset(),
                        message: "missing `)`".into(),
                    });
                }
                self.at += 1;
                e
            }
            Tok::RParen | Tok::Op(_) => {
                return Err(ExprError {
                    offset,
                    message: "expected a value here".into(),
                })
            }
        })
    }
}

fn precedence(op: BinOp) -> u8 {
    match op {
        BinOp::Or => 1,
        BinOp::And => 2,
        BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => 3,
        BinOp::Add | BinOp::Sub => 4,
    }
}

impl Expr {
    /// Parse an expression; errors carry the character offset for file:line:col reporting.
    pub fn parse(src: &str) -> Result<Expr, ExprError> {
        let toks = lex(src)?;
        if let Some((_, offset)) = toks.get(MAX_TOKENS) {
            return Err(ExprError {
                offset: *offset,
                message: format!(
                    "the condition is too long: at most {MAX_TOKENS} names, values and operators; split it with a branch"
                ),
            });
        }
        let end = src.chars().count();
        if toks.is_empty() {
            return Err(ExprError {
                offset: 0,
                message: "the condition is empty".into(),
            });
        }
        let mut p = Parser { toks, at: 0, end };
        let e = p.expr(0)?;
        if p.at < p.toks.len() {
            return Err(ExprError {
                offset: p.offset(),
                message: "unexpected text after the end of the condition".into(),
            });
        }
        Ok(e)
    }

    /// Every variable the expression reads, for the linter.
    pub fn variables(&self) -> Vec<&str> {
        let mut out = Vec::new();
        self.collect_vars(&mut out);
        out
    }

    fn collect_vars<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            Expr::Lit(_) => {}
            Expr::Var(v) => out.push(&v.name),
            Expr::Not(e) => e.collect_vars(out),
            Expr::Bin(_, a, b) => {
                a.collect_vars(out);
                b.collect_vars(out);
            }
        }
    }

    /// Number every variable the expression reads; names `ids` does not know stay
    /// unnumbered (the linter reports them).
    pub fn resolve(&mut self, ids: &dyn Fn(&str) -> Option<VarId>) {
        match self {
            Expr::Lit(_) => {}
            Expr::Var(v) => v.id = ids(&v.name),
            Expr::Not(e) => e.resolve(ids),
            Expr::Bin(_, a, b) => {
                a.resolve(ids);
                b.resolve(ids);
            }
        }
    }

    /// Evaluate against variables; unknown variables are `Null`.
    pub fn eval(&self, vars: &dyn Fn(&VarRef) -> Option<Value>) -> Result<Value, EvalError> {
        match self {
            Expr::Lit(v) => Ok(v.clone()),
            Expr::Var(var) => Ok(vars(var).unwrap_or(Value::Null)),
            Expr::Not(e) => Ok(Value::Bool(!e.eval(vars)?.truthy())),
            Expr::Bin(BinOp::And, a, b) => Ok(Value::Bool(
                a.eval(vars)?.truthy() && b.eval(vars)?.truthy(),
            )),
            Expr::Bin(BinOp::Or, a, b) => Ok(Value::Bool(
                a.eval(vars)?.truthy() || b.eval(vars)?.truthy(),
            )),
            Expr::Bin(op, a, b) => binary(*op, a.eval(vars)?, b.eval(vars)?),
        }
    }
}

fn binary(op: BinOp, a: Value, b: Value) -> Result<Value, EvalError> {
    use std::cmp::Ordering::*;
    let cmp = |want: &[std::cmp::Ordering]| -> Value {
        // Comparing with an unset variable is false rather than an error: a slot the
        // customer did not give is simply not >= anything.
        Value::Bool(a.compare(&b).is_some_and(|o| want.contains(&o)))
    };
    Ok(match op {
        BinOp::Eq => Value::Bool(a.loosely_equals(&b)),
        BinOp::Ne => Value::Bool(!a.loosely_equals(&b)),
        BinOp::Lt => cmp(&[Less]),
        BinOp::Le => cmp(&[Less, Equal]),
        BinOp::Gt => cmp(&[Greater]),
        BinOp::Ge => cmp(&[Greater, Equal]),
        BinOp::Add | BinOp::Sub => arith(op, a, b)?,
        BinOp::And | BinOp::Or => unreachable_logic(),
    })
}

fn unreachable_logic() -> Value {
    // And/Or short-circuit in `eval`; reaching here would be a parser bug, and a
    // false condition is the safe answer in a live call.
    Value::Bool(false)
}

fn arith(op: BinOp, a: Value, b: Value) -> Result<Value, EvalError> {
    let sign = if op == BinOp::Add { 1 } else { -1 };
    let days = |n: f64| -> Result<Duration, EvalError> {
        if n.fract() != 0.0 || n.abs() > 100_000.0 {
            return Err(EvalError(format!("{n} is not a whole number of days")));
        }
        Ok(Duration::days(n as i64 * sign))
    };
    Ok(match (&a, &b) {
        (Value::Null, _) | (_, Value::Null) => Value::Null,
        (Value::Number(x), Value::Number(y)) => Value::Number(x + y * sign as f64),
        (Value::Amount(x), Value::Amount(y)) => {
            Value::Amount(x.saturating_add(y.saturating_mul(sign)))
        }
        (Value::Amount(x), Value::Number(y)) => {
            Value::Amount(x.saturating_add((y * 100.0).round() as i64 * sign))
        }
        (Value::Date(d), Value::Number(n)) => d
            .checked_add_signed(days(*n)?)
            .map(Value::Date)
            .ok_or_else(|| EvalError("date out of range".into()))?,
        (Value::Date(x), Value::Date(y)) if op == BinOp::Sub => {
            Value::Number((*x - *y).num_days() as f64)
        }
        _ => {
            return Err(EvalError(format!(
                "cannot {} {} and {}",
                if op == BinOp::Add { "add" } else { "subtract" },
                a.type_name(),
                b.type_name()
            )))
        }
    })
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Lit(Value::Text(s)) => write!(f, "'{s}'"),
            Expr::Lit(Value::Null) => f.write_str("null"),
            Expr::Lit(v) => write!(f, "{v}"),
            Expr::Var(v) => f.write_str(&v.name),
            Expr::Not(e) => write!(f, "not ({e})"),
            Expr::Bin(op, a, b) => {
                let s = match op {
                    BinOp::Or => "or",
                    BinOp::And => "and",
                    BinOp::Eq => "==",
                    BinOp::Ne => "!=",
                    BinOp::Lt => "<",
                    BinOp::Le => "<=",
                    BinOp::Gt => ">",
                    BinOp::Ge => ">=",
                    BinOp::Add => "+",
                    BinOp::Sub => "-",
                };
                write!(f, "({a} {s} {b})")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn env(name: &str) -> Option<Value> {
        match name {
            "amount_due" => Some(Value::Amount(350050)),
            "ptp_amount" => Some(Value::Amount(350050)),
            "due_date" => Some(Value::Date(NaiveDate::from_ymd_opt(2026, 12, 1)?)),
            "ptp_date" => Some(Value::Date(NaiveDate::from_ymd_opt(2026, 12, 5)?)),
            "verified" => Some(Value::Bool(true)),
            _ => None,
        }
    }

    fn by_name(v: &VarRef) -> Option<Value> {
        env(&v.name)
    }

    fn eval(s: &str) -> Value {
        Expr::parse(s)
            .expect("parses")
            .eval(&by_name)
            .expect("evaluates")
    }

    #[test]
    fn comparisons_logic_and_date_arithmetic() {
        assert_eq!(eval("ptp_amount >= amount_due"), Value::Bool(true));
        assert_eq!(eval("ptp_date <= due_date + 7"), Value::Bool(true));
        assert_eq!(eval("ptp_date <= due_date + 3"), Value::Bool(false));
        assert_eq!(eval("ptp_date - due_date"), Value::Number(4.0));
        assert_eq!(
            eval("verified and not (amount_due < 100)"),
            Value::Bool(true)
        );
        assert_eq!(eval("missing == null"), Value::Bool(true));
        assert_eq!(eval("missing >= 3"), Value::Bool(false));
        assert_eq!(eval("1 + 2 == 3 or false"), Value::Bool(true));
        assert_eq!(eval("2 - 3 == 0 - 1"), Value::Bool(true));
        assert_eq!(eval("due_date == '2026-12-01'"), Value::Bool(true));
    }

    #[test]
    fn precedence_binds_comparison_tighter_than_and() {
        let e = Expr::parse("a > 1 and b < 2 or c").expect("parses");
        assert_eq!(e.to_string(), "(((a > 1) and (b < 2)) or c)");
        assert_eq!(e.variables(), vec!["a", "b", "c"]);
    }

    #[test]
    fn syntax_errors_point_at_the_offending_character() {
        assert_eq!(Expr::parse("a >= ").unwrap_err().offset, 5);
        assert_eq!(Expr::parse("a # b").unwrap_err().offset, 2);
        assert_eq!(Expr::parse("(a > 1").unwrap_err().message, "missing `)`");
        assert!(Expr::parse("'open").is_err());
        assert!(Expr::parse("").is_err());
        assert!(Expr::parse("a b").is_err());
        assert!(Expr::parse("1.2.3").is_err());
    }

    #[test]
    fn deep_or_long_conditions_are_refused_where_they_grow_too_long() {
        let deep = "(".repeat(10_000) + "a" + &")".repeat(10_000);
        let e = Expr::parse(&deep).unwrap_err();
        assert_eq!(e.offset, MAX_TOKENS, "{e}");
        assert!(e.message.contains("too long"), "{e}");
        let chain = "not ".repeat(5_000) + "a";
        assert_eq!(Expr::parse(&chain).unwrap_err().offset, 4 * MAX_TOKENS);
        let ors = "a".to_string() + &" or a".repeat(5_000);
        assert!(Expr::parse(&ors).is_err());
        // At the limit it still parses and evaluates.
        let ok = "a".to_string() + &" or a".repeat((MAX_TOKENS - 1) / 2);
        let e = Expr::parse(&ok).expect("parses");
        assert_eq!(e.eval(&by_name).expect("evaluates"), Value::Bool(false));
    }

    #[test]
    fn type_errors_are_errors_not_panics() {
        let e = Expr::parse("due_date + verified").expect("parses");
        assert!(e.eval(&by_name).is_err());
        let e = Expr::parse("due_date + 100000000").expect("parses");
        assert!(e.eval(&by_name).is_err());
    }

    #[test]
    fn resolved_variables_are_read_by_number() {
        let mut e = Expr::parse("a > 1 and b").expect("parses");
        e.resolve(&|n| (n == "a").then_some(VarId(7)));
        let by_id = |v: &VarRef| match v.id {
            Some(VarId(7)) => Some(Value::Number(2.0)),
            _ => None,
        };
        // `b` is unnumbered, so it reads as null whatever its name.
        assert_eq!(e.eval(&by_id).expect("evaluates"), Value::Bool(false));
        let e2 = Expr::parse("a > 1").expect("parses");
        assert_eq!(
            e2.eval(&by_id).expect("evaluates"),
            Value::Bool(false),
            "not resolved: not read"
        );
    }
}
