//! Key predicates typed by the entity's metadata.
//!
//! D365FO reads each key value in the literal form of its property's EDM
//! type: a date-time key is bare (`StartDate=2019-10-04T12:00:00Z`) and a
//! quoted one is refused with a 400. A tool's `key` is JSON, where a date,
//! a GUID and an enum member are all strings, so the predicate
//! `Key::from_value` renders (every string quoted) is right for string keys
//! only. [`KeyTyper`] renders each value in its property's form, taking
//! the types from the `PublicEntities` record in the metadata cache.
//! The forms are OData v4's `primitiveLiteral` and `enum` rules (OData
//! Version 4.01, URL Conventions, ABNF construction rules).
//!
//! | property type | `key` value accepted | sent |
//! |---|---|---|
//! | `Edm.String` | a string (a number is taken as its text) | `'O''Brien'`: `'` doubled, percent-encoded |
//! | `Edm.Int16/32/64`, `Edm.Byte`, `Edm.SByte` | an integer, or a string of one | `5637144576` |
//! | `Edm.Decimal/Double/Single` | a number, or a string of one | `1.5` |
//! | `Edm.Boolean` | a boolean, or `"true"` / `"false"` | `true` |
//! | `Edm.Guid` | 8-4-4-4-12 hex digits | bare |
//! | `Edm.Date` | `2019-10-04` | bare |
//! | `Edm.DateTimeOffset` | `2019-10-04T12:00:00Z`, or with an offset or fractional seconds | bare, `+` as `%2B` |
//! | an enum, e.g. `Microsoft.Dynamics.DataEntities.NoYes` | a member name or value, or the whole literal | `Microsoft.Dynamics.DataEntities.NoYes'Yes'` |
//!
//! Any other type, and a field the metadata does not know, keep the
//! untyped rendering. A value that does not fit its type is refused with
//! `invalid_arguments` naming the field, its type and an example; nothing
//! is sent.
//!
//! Decisions:
//! - The metadata is read only when some key value is a string: numbers
//!   and booleans are right as they are. The entity list and schema come
//!   from the metadata cache (L1 in memory once the warm-up or an earlier
//!   call filled it; a cold cache costs what a schema lookup costs), and a
//!   batch reads each entity set's once.
//! - When the metadata cannot be read, the untyped predicate is sent (and
//!   the reason logged): a metadata outage must not stop reads and writes of
//!   string-keyed records, the common case; a date-keyed call then gets
//!   D365FO's own refusal.
//! - A field the metadata does not know is rendered by its JSON type and
//!   left to D365FO, which refuses a key that does not match the entity's:
//!   the schema copy types literals, it does not judge which keys D365FO
//!   accepts.
//! - A date alone for an `Edm.DateTimeOffset` key is refused, not completed:
//!   the key must name the stored instant exactly, and which time of day
//!   D365FO stores for a date field is not something this code should guess
//!   (a wrong guess reads as "not found"). The message says to copy the
//!   value a query of the record shows.
//! - Enum members are not checked against the enumeration (another
//!   lookup); D365FO refuses a member it does not have.

use std::collections::HashMap;

use common::catalogue::args::{data::Key, describe};
use common::catalogue::names::GET_ENUMERATION;
use common::odata::{check_identifier, key_literal, quoted_key_literal};
use serde_json::{Map, Value};

use crate::metadata::{Metadata, str_field};
use crate::tools::Context;

/// Types key predicates for one call, reading each entity set's property
/// types at most once.
pub struct KeyTyper<'c> {
    meta: Metadata<'c>,
    /// Entity set to property name to `TypeName`; `None` when unreadable.
    types: HashMap<String, Option<HashMap<String, String>>>,
}

impl<'c> KeyTyper<'c> {
    /// A typer reading the metadata of `ctx`'s environment.
    pub fn new(ctx: &'c Context<'_>) -> Self {
        let meta = Metadata {
            client: ctx.client,
            cache: ctx.cache,
            deadline: ctx.deadline,
            progress: None,
        };
        Self {
            meta,
            types: HashMap::new(),
        }
    }

    /// The predicate to send for `key` of `entity_set`; the error says
    /// which field is wrong and what it takes.
    pub async fn predicate(&mut self, entity_set: &str, key: &Key) -> Result<String, String> {
        if !key.fields.values().any(Value::is_string) {
            return Ok(key.predicate.clone());
        }
        if !self.types.contains_key(entity_set) {
            let types = self.read(entity_set).await;
            self.types.insert(entity_set.to_owned(), types);
        }
        match self.types.get(entity_set) {
            Some(Some(types)) => predicate(entity_set, &key.fields, types),
            _ => Ok(key.predicate.clone()),
        }
    }

    /// Property name to `TypeName` of `entity_set`, or `None` (logged)
    /// when the metadata cannot be read.
    async fn read(&self, entity_set: &str) -> Option<HashMap<String, String>> {
        let public = match self.meta.resolve_entity(entity_set).await {
            Ok(entity) => self.meta.public_entity(&entity).await,
            Err(error) => Err(error),
        };
        match public {
            Ok(public) => Some(property_types(&public)),
            Err(error) => {
                tracing::info!(entity_set, %error, "key types unavailable; string keys quoted");
                None
            }
        }
    }
}

/// Property name to `TypeName` from a `PublicEntities` record.
pub fn property_types(public: &Value) -> HashMap<String, String> {
    public
        .get("Properties")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice)
        .iter()
        .map(|p| (str_field(p, "Name"), str_field(p, "TypeName")))
        .filter(|(name, _)| !name.is_empty())
        .collect()
}

/// The predicate `(k1=v1,…)` of `fields`, each value in the literal form
/// of its property's type in `types`.
pub fn predicate(
    entity_set: &str,
    fields: &Map<String, Value>,
    types: &HashMap<String, String>,
) -> Result<String, String> {
    let mut parts = Vec::with_capacity(fields.len());
    for (name, value) in fields {
        let literal = match types.get(name) {
            Some(type_name) => literal(type_name, value).ok_or_else(|| {
                let expected = Form::of(type_name).expected(type_name);
                format!(
                    "`key.{name}` of {entity_set} has type {type_name}; give {expected}, got {}",
                    describe(value)
                )
            })?,
            None => key_literal(name, value)?,
        };
        parts.push(format!("{name}={literal}"));
    }
    Ok(format!("({})", parts.join(",")))
}

/// The literal forms a key value can take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    Text,
    Integer {
        min: i64,
        max: i64,
    },
    Number,
    Boolean,
    Guid,
    Date,
    DateTimeOffset,
    Enum,
    /// A type without a rule here: the value's JSON type decides.
    Untyped,
}

impl Form {
    fn of(type_name: &str) -> Self {
        let integer = |min, max| Self::Integer { min, max };
        match type_name {
            "Edm.String" => Self::Text,
            "Edm.Int64" => integer(i64::MIN, i64::MAX),
            "Edm.Int32" => integer(i32::MIN.into(), i32::MAX.into()),
            "Edm.Int16" => integer(i16::MIN.into(), i16::MAX.into()),
            "Edm.Byte" => integer(0, 255),
            "Edm.SByte" => integer(-128, 127),
            "Edm.Decimal" | "Edm.Double" | "Edm.Single" => Self::Number,
            "Edm.Boolean" => Self::Boolean,
            "Edm.Guid" => Self::Guid,
            "Edm.Date" => Self::Date,
            "Edm.DateTimeOffset" => Self::DateTimeOffset,
            t if !t.starts_with("Edm.") && is_qualified_name(t) => Self::Enum,
            _ => Self::Untyped,
        }
    }

    /// What a value of this form looks like, for a refusal.
    fn expected(self, type_name: &str) -> String {
        match self {
            Self::Text | Self::Untyped => "a text such as \"US-001\"".into(),
            Self::Integer { min, max } => {
                format!("a whole number such as 42 (from {min} to {max})")
            }
            Self::Number => "a number such as 1.5".into(),
            Self::Boolean => "true or false".into(),
            Self::Guid => "a GUID such as \"1b4e28ba-2fa1-11d2-883f-0016d3cca427\"".into(),
            Self::Date => "a date such as \"2019-10-04\"".into(),
            Self::DateTimeOffset => "a date-time with its offset such as \
                 \"2019-10-04T12:00:00Z\", exactly as a query of the record shows it (a date \
                 alone is not enough: the key names one instant)"
                .into(),
            Self::Enum => {
                let short = type_name.rsplit('.').next().unwrap_or(type_name);
                format!(
                    "a member name such as \"Yes\" or the literal {type_name}'Yes' \
                     ({GET_ENUMERATION} {short} lists its members)"
                )
            }
        }
    }
}

/// `value` as a key literal of type `type_name`, or `None` when it does
/// not fit.
fn literal(type_name: &str, value: &Value) -> Option<String> {
    let text = value.as_str();
    match Form::of(type_name) {
        Form::Text => match value {
            Value::String(s) => Some(quoted_key_literal(s)),
            Value::Number(n) => Some(quoted_key_literal(&n.to_string())),
            _ => None,
        },
        Form::Integer { min, max } => {
            let n = match value {
                Value::Number(n) => n.as_i64()?,
                Value::String(s) if !s.starts_with('+') => s.parse::<i64>().ok()?,
                _ => return None,
            };
            (min..=max).contains(&n).then(|| n.to_string())
        }
        Form::Number => match value {
            Value::Number(n) => Some(n.to_string()),
            Value::String(s) if is_decimal(s) => Some(s.replace('+', "%2B")),
            _ => None,
        },
        Form::Boolean => match value {
            Value::Bool(b) => Some(b.to_string()),
            Value::String(s) if s.eq_ignore_ascii_case("true") => Some("true".into()),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Some("false".into()),
            _ => None,
        },
        Form::Guid => text.filter(|s| is_guid(s)).map(str::to_owned),
        Form::Date => text.filter(|s| is_date(s)).map(str::to_owned),
        // `+` in a path is a plus sign, but some servers and proxies
        // still read it as a space; encoded, it cannot be misread.
        Form::DateTimeOffset => text
            .filter(|s| is_date_time_offset(s))
            .map(|s| s.replace('+', "%2B")),
        Form::Enum => enum_literal(type_name, value),
        Form::Untyped => key_literal("", value).ok(),
    }
}

/// `Type'Member'` from a member name, a member value, or the literal
/// itself (whose type must be `type_name`).
fn enum_literal(type_name: &str, value: &Value) -> Option<String> {
    let member = match value {
        Value::Number(n) => n.as_i64()?.to_string(),
        Value::String(s) => match s.split_once('\'') {
            Some((ty, rest)) if ty.eq_ignore_ascii_case(type_name) => {
                rest.strip_suffix('\'')?.to_owned()
            }
            Some(_) => return None,
            None => s.clone(),
        },
        _ => return None,
    };
    let valid = check_identifier("", &member).is_ok() || member.parse::<i64>().is_ok();
    valid.then(|| format!("{type_name}'{member}'"))
}

/// A dotted name of identifiers, e.g. `Microsoft.Dynamics.DataEntities.NoYes`.
fn is_qualified_name(name: &str) -> bool {
    name.contains('.') && name.split('.').all(|p| check_identifier("", p).is_ok())
}

fn digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit())
}

/// `-1.5`, `10`, `2e3`: OData's `decimalValue` without `INF` and `NaN`.
fn is_decimal(s: &str) -> bool {
    let s = s.strip_prefix('-').unwrap_or(s);
    let (mantissa, exponent) = match s.split_once(['e', 'E']) {
        Some((m, e)) => (m, Some(e.strip_prefix(['+', '-']).unwrap_or(e))),
        None => (s, None),
    };
    let (int, frac) = match mantissa.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (mantissa, None),
    };
    digits(int) && frac.is_none_or(digits) && exponent.is_none_or(digits)
}

fn is_guid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|c| c.is_ascii_hexdigit()))
}

/// The number in two or four ASCII digits.
fn number(s: &str) -> Option<u32> {
    digits(s).then(|| s.parse().ok()).flatten()
}

/// `YYYY-MM-DD`, a real day of the Gregorian calendar.
fn is_date(s: &str) -> bool {
    let mut parts = s.split('-');
    let (Some(y), Some(m), Some(d), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let (Some(year), Some(month), Some(day)) = (
        number(y).filter(|_| y.len() == 4),
        number(m).filter(|_| m.len() == 2),
        number(d).filter(|_| d.len() == 2),
    ) else {
        return false;
    };
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&day)
}

/// Two digits no greater than `max`.
fn two(s: &str, max: u32) -> bool {
    s.len() == 2 && number(s).is_some_and(|n| n <= max)
}

/// `hh:mm[:ss[.fffffff]]`; OData allows up to 12 fractional digits.
fn is_time(s: &str) -> bool {
    let (hms, fraction) = match s.split_once('.') {
        Some((t, f)) => (t, Some(f)),
        None => (s, None),
    };
    let fraction_ok = fraction.is_none_or(|f| f.len() <= 12 && digits(f));
    match hms.split(':').collect::<Vec<_>>().as_slice() {
        [h, m] => fraction.is_none() && two(h, 23) && two(m, 59),
        [h, m, sec] => fraction_ok && two(h, 23) && two(m, 59) && two(sec, 59),
        _ => false,
    }
}

/// `YYYY-MM-DDThh:mm[:ss[.f…]]` then `Z` or `±hh:mm` (at most ±14:00).
fn is_date_time_offset(s: &str) -> bool {
    if !s.is_ascii() {
        return false;
    }
    let Some((date, rest)) = s.split_once('T') else {
        return false;
    };
    let (time, zone) = match rest.strip_suffix('Z') {
        Some(time) => (time, None),
        None if rest.len() > 6 => {
            let (time, zone) = rest.split_at(rest.len() - 6);
            (time, Some(zone))
        }
        None => return false,
    };
    let zone_ok = zone.is_none_or(|z| {
        let (sign, hm) = z.split_at(1);
        match hm.split_once(':') {
            Some((h, m)) if matches!(sign, "+" | "-") => {
                two(h, 14) && two(m, 59) && (h != "14" || m == "00")
            }
            _ => false,
        }
    });
    is_date(date) && is_time(time) && zone_ok
}

#[cfg(test)]
#[path = "keys_tests.rs"]
mod tests;
