//! The parsed `$filter` tree and its canonical printed form.
//!
//! Printing is fully parenthesized, so `parse(print(e)) == e` for every tree
//! the parser can produce; the property tests rely on that.
//!
//! Chains of `and` / `or` are n-ary ([`Expr::And`] / [`Expr::Or`] hold every
//! operand of one chain), so a filter of thousands of clauses is a wide,
//! shallow tree: nothing that walks it (printing, binding, evaluating,
//! dropping) recurses once per clause. Depth comes only from parentheses,
//! `not` and calls, which the parser caps.

use std::fmt;

/// A literal value as written in a URL.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer: `42`, `-7`, `10L`.
    Int(i64),
    /// A non-integral number: `1.5`, `2e3`, `10m`.
    Num(f64),
    /// `'text'` (with `''` unescaped).
    Str(String),
    /// An unquoted date-time, e.g. `2024-01-31T00:00:00Z` (or a date,
    /// taken as midnight UTC), as UTC milliseconds since the Unix epoch.
    DateTime(i64),
    /// `Namespace.EnumType'Member'`.
    Enum {
        /// Qualified enum type name.
        ty: String,
        /// Member name.
        member: String,
    },
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `eq`.
    Eq,
    /// `ne`.
    Ne,
    /// `gt`.
    Gt,
    /// `ge`.
    Ge,
    /// `lt`.
    Lt,
    /// `le`.
    Le,
}

impl CmpOp {
    /// The operator for a keyword, if it is one.
    pub fn from_keyword(word: &str) -> Option<Self> {
        Some(match word {
            "eq" => Self::Eq,
            "ne" => Self::Ne,
            "gt" => Self::Gt,
            "ge" => Self::Ge,
            "lt" => Self::Lt,
            "le" => Self::Le,
            _ => return None,
        })
    }

    /// The keyword, e.g. `eq`.
    pub fn keyword(self) -> &'static str {
        match self {
            Self::Eq => "eq",
            Self::Ne => "ne",
            Self::Gt => "gt",
            Self::Ge => "ge",
            Self::Lt => "lt",
            Self::Le => "le",
        }
    }

    /// The operator kind .NET names in error messages, e.g. `Equal`.
    pub fn kind_name(self) -> &'static str {
        match self {
            Self::Eq => "Equal",
            Self::Ne => "NotEqual",
            Self::Gt => "GreaterThan",
            Self::Ge => "GreaterThanOrEqual",
            Self::Lt => "LessThan",
            Self::Le => "LessThanOrEqual",
        }
    }

    /// The operator with its operands swapped (`a lt b` ⇔ `b gt a`).
    pub fn flipped(self) -> Self {
        match self {
            Self::Gt => Self::Lt,
            Self::Ge => Self::Le,
            Self::Lt => Self::Gt,
            Self::Le => Self::Ge,
            same => same,
        }
    }
}

/// A `$filter` expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// `a or b or …`: every operand of one unparenthesized chain, in order
    /// (at least two when built by the parser).
    Or(Vec<Expr>),
    /// `a and b and …`: every operand of one unparenthesized chain, in order
    /// (at least two when built by the parser).
    And(Vec<Expr>),
    /// `not a`.
    Not(Box<Expr>),
    /// `a op b`.
    Cmp(CmpOp, Box<Expr>, Box<Expr>),
    /// A property reference.
    Field(String),
    /// A literal.
    Lit(Literal),
    /// A function call such as `contains(Name,'x')`.
    Call(String, Vec<Expr>),
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Null => f.write_str("null"),
            Self::Bool(b) => write!(f, "{b}"),
            Self::Int(i) => write!(f, "{i}"),
            Self::Num(n) => {
                let s = format!("{n:?}");
                // Debug prints whole floats as `2.0` but huge/small ones as
                // `1e20`; both re-read as non-integral.
                f.write_str(&s)
            }
            Self::Str(s) => write!(f, "'{}'", s.replace('\'', "''")),
            Self::DateTime(ms) => f.write_str(&crate::data::datetime::render(*ms)),
            Self::Enum { ty, member } => write!(f, "{ty}'{}'", member.replace('\'', "''")),
        }
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Or(items) => chain(f, items, " or "),
            Self::And(items) => chain(f, items, " and "),
            Self::Not(a) => write!(f, "(not {a})"),
            Self::Cmp(op, a, b) => write!(f, "({a} {} {b})", op.keyword()),
            Self::Field(name) => f.write_str(name),
            Self::Lit(l) => write!(f, "{l}"),
            Self::Call(name, args) => {
                write!(f, "{name}(")?;
                for (i, a) in args.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{a}")?;
                }
                f.write_str(")")
            }
        }
    }
}

/// Prints `(a op b op …)`.
fn chain(f: &mut fmt::Formatter<'_>, items: &[Expr], op: &str) -> fmt::Result {
    f.write_str("(")?;
    for (i, e) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(op)?;
        }
        write!(f, "{e}")?;
    }
    f.write_str(")")
}
