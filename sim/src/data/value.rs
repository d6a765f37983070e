//! [`Value`]: one field value of a row or a `$filter` literal.

use std::cmp::Ordering;

use super::datetime;
use crate::json;

/// A typed value. Enum members are held as their member name
/// (`"Organization"`); date-times as UTC epoch milliseconds, so equal
/// instants compare equal however they were written.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `null`.
    Null,
    /// `Edm.Boolean`.
    Bool(bool),
    /// `Edm.Int32` / `Edm.Int64`.
    Int(i64),
    /// `Edm.Decimal` / `Edm.Double`.
    Decimal(f64),
    /// `Edm.String` or an enum member name.
    Str(String),
    /// `Edm.DateTimeOffset`: milliseconds since 1970-01-01T00:00:00Z.
    DateTime(i64),
}

impl Value {
    /// Appends the JSON form of the value.
    pub(crate) fn write_json(&self, out: &mut String) {
        match self {
            Self::Null => out.push_str("null"),
            Self::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Self::Int(i) => out.push_str(&i.to_string()),
            Self::Decimal(d) => json::push_decimal(out, *d),
            Self::Str(s) => json::push_str(out, s),
            Self::DateTime(ms) => {
                out.push('"');
                datetime::write(*ms, out);
                out.push('"');
            }
        }
    }

    /// Appends the value as text in a message or a URL key: strings as they
    /// are, date-times as D365FO renders them, the rest as JSON.
    pub(crate) fn write_text(&self, out: &mut String) {
        match self {
            Self::Str(s) => out.push_str(s),
            Self::DateTime(ms) => datetime::write(*ms, out),
            other => other.write_json(out),
        }
    }

    /// Appends the key-index form: strings lowered, so lookups ignore case.
    pub(crate) fn write_key(&self, out: &mut String) {
        match self {
            Self::Str(s) => out.extend(s.chars().flat_map(char::to_lowercase)),
            Self::Decimal(d) if d.fract() == 0.0 && d.abs() < 1e15 => {
                out.push_str(&(*d as i64).to_string())
            }
            Self::Null => out.push_str("\u{0}null"),
            Self::DateTime(ms) => out.push_str(&ms.to_string()),
            other => other.write_json(out),
        }
    }

    /// Compares two values the way D365FO's SQL back end would: strings
    /// case-insensitively, integers and decimals numerically, `null` first.
    /// Values of unrelated types compare as unordered (`None`).
    pub fn compare(&self, other: &Value) -> Option<Ordering> {
        match (self, other) {
            (Self::Null, Self::Null) => Some(Ordering::Equal),
            (Self::Null, _) => Some(Ordering::Less),
            (_, Self::Null) => Some(Ordering::Greater),
            (Self::Bool(a), Self::Bool(b)) => Some(a.cmp(b)),
            (Self::Int(a), Self::Int(b)) => Some(a.cmp(b)),
            (Self::Int(a), Self::Decimal(b)) => (*a as f64).partial_cmp(b),
            (Self::Decimal(a), Self::Int(b)) => a.partial_cmp(&(*b as f64)),
            (Self::Decimal(a), Self::Decimal(b)) => a.partial_cmp(b),
            (Self::Str(a), Self::Str(b)) => Some(cmp_ignore_case(a, b)),
            (Self::DateTime(a), Self::DateTime(b)) => Some(a.cmp(b)),
            _ => None,
        }
    }
}

/// Case-insensitive ordering of two strings (simple lowercase folding).
pub(crate) fn cmp_ignore_case(a: &str, b: &str) -> Ordering {
    a.chars()
        .flat_map(char::to_lowercase)
        .cmp(b.chars().flat_map(char::to_lowercase))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compares_across_numeric_types_and_case() {
        assert_eq!(
            Value::Int(2).compare(&Value::Decimal(2.0)),
            Some(Ordering::Equal)
        );
        assert_eq!(
            Value::Str("abc".into()).compare(&Value::Str("ABD".into())),
            Some(Ordering::Less)
        );
        assert_eq!(Value::Str("1".into()).compare(&Value::Int(1)), None);
    }
}
