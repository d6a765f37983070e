//! Binding a parsed `$filter` to an entity set, and evaluating it.
//!
//! Binding resolves property names to column indexes, checks operand types
//! the way Microsoft.OData.Core does (with its messages), turns string
//! enum members into canonical member names, and recognises D365FO's
//! wildcard equality (`Name eq '*Contoso*'`). Evaluation then touches no
//! strings but the row's own.

use super::ast::{CmpOp, Expr, Literal};
use crate::data::{EntitySet, FieldType, Value};

/// A bound, ready-to-evaluate filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Predicate {
    /// Always this value (e.g. `1 eq 1`).
    Const(bool),
    /// All hold (one `and` chain; evaluated with a loop, short-circuiting).
    And(Vec<Predicate>),
    /// Any holds (one `or` chain; evaluated with a loop, short-circuiting).
    Or(Vec<Predicate>),
    /// Does not hold.
    Not(Box<Predicate>),
    /// `field op value`.
    Cmp(CmpOp, usize, Value),
    /// `field op field`.
    CmpFields(CmpOp, usize, usize),
    /// `field eq 'pat*tern'`: case-insensitive glob on `*`.
    Like(usize, Vec<String>),
    /// A boolean property used as a condition.
    Truthy(usize),
}

enum Operand {
    Field(usize, FieldType),
    Lit(Literal),
    Bool(Predicate),
}

/// Binds `expr` to `set`; the error is the OData message.
pub fn bind(expr: &Expr, set: &EntitySet) -> Result<Predicate, String> {
    match operand(expr, set)? {
        Operand::Bool(p) => Ok(p),
        Operand::Field(i, FieldType::Boolean) => Ok(Predicate::Truthy(i)),
        Operand::Lit(Literal::Bool(b)) => Ok(Predicate::Const(b)),
        _ => Err("The $filter expression must evaluate to a single boolean value.".to_owned()),
    }
}

fn lit_type(l: &Literal) -> &'static str {
    match l {
        Literal::Null => "<null>",
        Literal::Bool(_) => "Edm.Boolean",
        Literal::Int(i) if i32::try_from(*i).is_ok() => "Edm.Int32",
        Literal::Int(_) => "Edm.Int64",
        Literal::Num(_) => "Edm.Double",
        Literal::Str(_) => "Edm.String",
        Literal::DateTime(_) => "Edm.DateTimeOffset",
        Literal::Enum { .. } => "Edm.Enum",
    }
}

fn type_name(o: &Operand) -> String {
    match o {
        Operand::Field(_, t) => t.edm_name().to_owned(),
        Operand::Lit(Literal::Enum { ty, .. }) => ty.clone(),
        Operand::Lit(l) => lit_type(l).to_owned(),
        Operand::Bool(_) => "Edm.Boolean".to_owned(),
    }
}

fn boolean(o: Operand, op: &str, other: &Operand) -> Result<Predicate, String> {
    match o {
        Operand::Bool(p) => Ok(p),
        Operand::Field(i, FieldType::Boolean) => Ok(Predicate::Truthy(i)),
        Operand::Lit(Literal::Bool(b)) => Ok(Predicate::Const(b)),
        o => Err(format!(
            "A binary operator with incompatible types was detected. Found operand types '{}' and '{}' for operator kind '{op}'.",
            type_name(&o),
            type_name(other)
        )),
    }
}

fn operand(expr: &Expr, set: &EntitySet) -> Result<Operand, String> {
    Ok(match expr {
        Expr::Field(name) => {
            let i = set.field_index(name).ok_or_else(|| {
                format!(
                    "Could not find a property named '{name}' on type '{}'.",
                    set.type_name
                )
            })?;
            Operand::Field(i, set.fields[i].ty)
        }
        Expr::Lit(l) => Operand::Lit(l.clone()),
        Expr::And(items) => Operand::Bool(Predicate::And(chain(items, "And", set)?)),
        Expr::Or(items) => Operand::Bool(Predicate::Or(chain(items, "Or", set)?)),
        Expr::Not(a) => {
            let inner = operand(a, set)?;
            match inner {
                Operand::Bool(p) => Operand::Bool(Predicate::Not(Box::new(p))),
                Operand::Field(i, FieldType::Boolean) => {
                    Operand::Bool(Predicate::Not(Box::new(Predicate::Truthy(i))))
                }
                Operand::Lit(Literal::Bool(b)) => Operand::Bool(Predicate::Const(!b)),
                o => {
                    return Err(format!(
                        "A unary operator with an incompatible type was detected. Found operand type '{}' for operator kind 'Not'.",
                        type_name(&o)
                    ));
                }
            }
        }
        Expr::Cmp(op, a, b) => Operand::Bool(compare(*op, operand(a, set)?, operand(b, set)?)?),
        Expr::Call(name, _) => {
            let hint = match name.as_str() {
                "contains" | "startswith" | "endswith" => {
                    " Use a wildcard with eq instead, e.g. Name eq '*text*'."
                }
                _ => "",
            };
            return Err(format!("The function '{name}' is not supported.{hint}"));
        }
    })
}

/// Binds the operands of one `and` / `or` chain with a loop (so a chain of
/// any length adds no recursion), checking types as the left-nested binary
/// tree `((a op b) op c) …` would: each operand is bound before the pair
/// is checked, and the left side is named first in a type error.
fn chain(items: &[Expr], op: &str, set: &EntitySet) -> Result<Vec<Predicate>, String> {
    let mut out = Vec::with_capacity(items.len());
    let mut rest = items.iter();
    let Some(first) = rest.next() else {
        return Ok(out);
    };
    let mut pending = Some(operand(first, set)?);
    let placeholder = Operand::Bool(Predicate::Const(true));
    for item in rest {
        let r = operand(item, set)?;
        if let Some(l) = pending.take() {
            out.push(boolean(l, op, &r)?);
        }
        out.push(boolean(r, op, &placeholder)?);
    }
    if let Some(only) = pending {
        out.push(boolean(only, op, &placeholder)?);
    }
    Ok(out)
}

fn compare(op: CmpOp, l: Operand, r: Operand) -> Result<Predicate, String> {
    let incompatible = |l: &Operand, r: &Operand| {
        format!(
            "A binary operator with incompatible types was detected. Found operand types '{}' and '{}' for operator kind '{}'.",
            type_name(l),
            type_name(r),
            op.kind_name()
        )
    };
    match (l, r) {
        (Operand::Field(i, ft), Operand::Lit(lit)) => field_vs_literal(op, i, ft, lit),
        (Operand::Lit(lit), Operand::Field(i, ft)) => field_vs_literal(op.flipped(), i, ft, lit),
        (Operand::Field(a, fa), Operand::Field(b, fb)) => {
            if comparable(fa, fb) {
                Ok(Predicate::CmpFields(op, a, b))
            } else {
                Err(incompatible(&Operand::Field(a, fa), &Operand::Field(b, fb)))
            }
        }
        (Operand::Lit(a), Operand::Lit(b)) => {
            let (va, vb) = (plain_value(&a), plain_value(&b));
            match va.compare(&vb) {
                Some(ord) => Ok(Predicate::Const(holds(op, Some(ord), &va, &vb))),
                None => Err(incompatible(&Operand::Lit(a), &Operand::Lit(b))),
            }
        }
        (l, r) => Err(incompatible(&l, &r)),
    }
}

fn comparable(a: FieldType, b: FieldType) -> bool {
    use FieldType::*;
    matches!(
        (a, b),
        (String, String) | (Boolean, Boolean) | (DateTime, DateTime)
    ) || (matches!(a, Int32 | Int64 | Decimal) && matches!(b, Int32 | Int64 | Decimal))
        || matches!((a, b), (Enum(x), Enum(y)) if x == y)
}

fn plain_value(l: &Literal) -> Value {
    match l {
        Literal::Null => Value::Null,
        Literal::Bool(b) => Value::Bool(*b),
        Literal::Int(i) => Value::Int(*i),
        Literal::Num(n) => Value::Decimal(*n),
        Literal::Str(s) => Value::Str(s.clone()),
        Literal::DateTime(ms) => Value::DateTime(*ms),
        Literal::Enum { member, .. } => Value::Str(member.clone()),
    }
}

fn field_vs_literal(op: CmpOp, i: usize, ft: FieldType, lit: Literal) -> Result<Predicate, String> {
    let value = match (ft, &lit) {
        (_, Literal::Null) => Value::Null,
        (FieldType::String, Literal::Str(s)) => {
            if op == CmpOp::Eq && s.contains('*') {
                let parts = s.split('*').map(str::to_lowercase).collect();
                return Ok(Predicate::Like(i, parts));
            }
            Value::Str(s.clone())
        }
        (
            FieldType::Int32 | FieldType::Int64 | FieldType::Decimal,
            Literal::Int(_) | Literal::Num(_),
        ) => plain_value(&lit),
        (FieldType::Boolean, Literal::Bool(b)) => Value::Bool(*b),
        (FieldType::DateTime, Literal::DateTime(ms)) => Value::DateTime(*ms),
        (FieldType::Enum(e), Literal::Enum { ty, member }) if ty == e.name => {
            enum_member(e.members, member)?
        }
        (FieldType::Enum(e), Literal::Str(member)) => enum_member(e.members, member)?,
        _ => {
            return Err(format!(
                "A binary operator with incompatible types was detected. Found operand types '{}' and '{}' for operator kind '{}'.",
                ft.edm_name(),
                type_name(&Operand::Lit(lit.clone())),
                op.kind_name()
            ));
        }
    };
    Ok(Predicate::Cmp(op, i, value))
}

fn enum_member(members: &[&str], name: &str) -> Result<Value, String> {
    members
        .iter()
        .find(|m| m.eq_ignore_ascii_case(name))
        .map(|m| Value::Str((*m).to_owned()))
        .ok_or_else(|| format!("The string '{name}' is not a valid enumeration type constant."))
}

fn holds(op: CmpOp, ord: Option<std::cmp::Ordering>, a: &Value, b: &Value) -> bool {
    use std::cmp::Ordering::*;
    let has_null = matches!(a, Value::Null) || matches!(b, Value::Null);
    match op {
        CmpOp::Eq => ord == Some(Equal),
        CmpOp::Ne => ord != Some(Equal),
        _ if has_null => false,
        CmpOp::Gt => ord == Some(Greater),
        CmpOp::Ge => matches!(ord, Some(Greater | Equal)),
        CmpOp::Lt => ord == Some(Less),
        CmpOp::Le => matches!(ord, Some(Less | Equal)),
    }
}

/// Case-insensitive glob: `parts` is the lowered pattern split on `*`.
fn like(text: &str, parts: &[String]) -> bool {
    let text = text.to_lowercase();
    let [first, middle @ .., last] = parts else {
        return parts.first().is_some_and(|p| *p == text);
    };
    if !text.starts_with(first.as_str()) {
        return false;
    }
    let mut rest = &text[first.len()..];
    for part in middle {
        match rest.find(part.as_str()) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.ends_with(last.as_str())
}

impl Predicate {
    /// Whether `row` (values in schema order) satisfies the filter.
    pub fn eval(&self, row: &[Value]) -> bool {
        let get = |i: usize| row.get(i).unwrap_or(&Value::Null);
        match self {
            Self::Const(b) => *b,
            Self::And(items) => items.iter().all(|p| p.eval(row)),
            Self::Or(items) => items.iter().any(|p| p.eval(row)),
            Self::Not(a) => !a.eval(row),
            Self::Cmp(op, i, v) => {
                let x = get(*i);
                holds(*op, x.compare(v), x, v)
            }
            Self::CmpFields(op, i, j) => {
                let (x, y) = (get(*i), get(*j));
                holds(*op, x.compare(y), x, y)
            }
            Self::Like(i, parts) => match get(*i) {
                Value::Str(s) => like(s, parts),
                _ => false,
            },
            Self::Truthy(i) => matches!(get(*i), Value::Bool(true)),
        }
    }
}

#[cfg(test)]
#[path = "bind_tests.rs"]
mod tests;
