//! Field readers of the tools' argument types.
//!
//! Each tool's argument type (beside its spec, e.g. [`super::data::QueryArgs`])
//! derives `Deserialize` with `deny_unknown_fields` and `JsonSchema`; each
//! field reads through one of the functions here, which check type and
//! range and phrase the error as "`top` must be an integer between 1 and
//! 10000, got \"ten\"", so a model can correct the call from the message
//! alone. A JSON `null` reads as absent. The schema of a field whose reader
//! accepts more than its Rust type says is given with `#[schemars(with)]`.
//!
//! - [`de`]: the readers several groups share (entity set, select, top…);
//! - [`data`]: the record key, `fields`, `if_match`, `expand`, batch items;
//! - [`execution`]: action, service and report names;
//! - [`metadata`]: search text, language tags, label ids.

pub mod data;
pub mod execution;
pub mod metadata;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use crate::odata;

/// A value as shown in a message: kind, and the value itself when short.
pub fn describe(value: &Value) -> String {
    match value {
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
        Value::String(s) => odata::quote(s),
        other => other.to_string(),
    }
}

/// The arguments of a tool that takes none besides `environment`, which the
/// executor has taken out.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoArgs {}

/// Field readers several groups share, for `#[serde(deserialize_with = ...)]`.
pub mod de {
    use serde::{Deserialize, Deserializer, de::Error as _};
    use serde_json::Value;

    use super::describe;
    use crate::odata;

    /// Largest `top` of a query.
    pub const MAX_TOP: u64 = 10_000;

    /// The error "`{field}` must be {what}, got {got}".
    pub fn expected<E: serde::de::Error>(field: &str, what: &str, got: &Value) -> E {
        E::custom(format!("`{field}` must be {what}, got {}", describe(got)))
    }

    fn string<'de, D: Deserializer<'de>>(d: D, field: &str) -> Result<Option<String>, D::Error> {
        match Value::deserialize(d)? {
            Value::Null => Ok(None),
            Value::String(s) => Ok(Some(s)),
            other => Err(expected(field, "a string", &other)),
        }
    }

    fn flag<'de, D: Deserializer<'de>>(d: D, field: &str) -> Result<bool, D::Error> {
        match Value::deserialize(d)? {
            Value::Null => Ok(false),
            Value::Bool(b) => Ok(b),
            other => Err(expected(field, "true or false", &other)),
        }
    }

    /// `entity_set`: a plain identifier.
    pub fn entity_set<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        let name = match Value::deserialize(d)? {
            Value::String(name) => name,
            other => {
                return Err(expected(
                    "entity_set",
                    "a string such as \"CustomersV3\"",
                    &other,
                ));
            }
        };
        odata::check_identifier("`entity_set`", &name).map_err(D::Error::custom)?;
        Ok(name)
    }

    /// `filter`: an OData `$filter` expression.
    pub fn filter<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        string(d, "filter")
    }

    /// `orderby`: an OData `$orderby` expression.
    pub fn orderby<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        string(d, "orderby")
    }

    /// `cursor`: an opaque string.
    pub fn cursor<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        string(d, "cursor")
    }

    /// `select`: an array of field names.
    pub fn select<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
        let value = Value::deserialize(d)?;
        let items = match value {
            Value::Null => return Ok(Vec::new()),
            Value::Array(items) => items,
            other => {
                return Err(expected(
                    "select",
                    "an array of field names such as [\"CustomerAccount\"]",
                    &other,
                ));
            }
        };
        items
            .into_iter()
            .map(|item| match item {
                Value::String(name) => {
                    odata::check_identifier("each `select` entry", &name)
                        .map_err(D::Error::custom)?;
                    Ok(name)
                }
                other => Err(expected("each `select` entry", "a field name", &other)),
            })
            .collect()
    }

    /// `top`: an integer in 1..=10000.
    pub fn top<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
        let value = Value::deserialize(d)?;
        if value.is_null() {
            return Ok(None);
        }
        value
            .as_u64()
            .filter(|n| (1..=MAX_TOP).contains(n))
            .and_then(|n| usize::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| expected("top", "an integer between 1 and 10000", &value))
    }

    /// `count`: a boolean.
    pub fn count<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
        flag(d, "count")
    }

    /// `cross_company`: a boolean.
    pub fn cross_company<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
        flag(d, "cross_company")
    }
}
