//! Reading a tool's `arguments_json` into its typed argument struct.
//!
//! Each tool's struct derives `Deserialize` with `deny_unknown_fields`; each
//! field reads through one of the functions in [`de`], which check type and
//! range and phrase the error as "`top` must be an integer between 1 and
//! 10000, got \"ten\"". Deserializing from a parsed [`Value`] rather than the
//! text keeps serde's "at line 1 column 12" out of those messages.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::{d365::odata, error::WorkerError};

/// Reads a call's `arguments_json` (empty means `{}`) as an object; errors
/// name the tool.
pub fn object(tool: &str, json: &str) -> Result<Map<String, Value>, WorkerError> {
    let json = if json.trim().is_empty() { "{}" } else { json };
    let value: Value = serde_json::from_str(json).map_err(|e| {
        WorkerError::invalid_args(tool, format!("arguments are not valid JSON: {e}"))
    })?;
    match value {
        Value::Object(map) => Ok(map),
        other => Err(WorkerError::invalid_args(
            tool,
            format!("arguments must be a JSON object, got {}", describe(&other)),
        )),
    }
}

/// Reads `args` into `T`; errors name the tool and the field.
pub fn parse<T: DeserializeOwned>(tool: &str, args: Map<String, Value>) -> Result<T, WorkerError> {
    serde_json::from_value(Value::Object(args))
        .map_err(|e| WorkerError::invalid_args(tool, e.to_string()))
}

/// A string field of a D365FO record; empty when absent or not a string
/// (D365FO leaves optional text fields out or null).
pub fn str_field(value: &Value, field: &str) -> String {
    value
        .get(field)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// A value as shown in a message: kind, and the value itself when short.
pub fn describe(value: &Value) -> String {
    match value {
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
        Value::String(s) => odata::quote(s),
        other => other.to_string(),
    }
}

/// Field readers for `#[serde(deserialize_with = ...)]`. A JSON `null` reads
/// as absent.
pub mod de {
    use serde::{Deserialize, Deserializer, de::Error as _};
    use serde_json::Value;

    use super::describe;
    use crate::d365::odata;

    /// Largest `top` the catalogue allows.
    pub const MAX_TOP: u64 = 10_000;

    fn expected<E: serde::de::Error>(field: &str, what: &str, got: &Value) -> E {
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

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Sample {
        #[serde(deserialize_with = "de::entity_set")]
        entity_set: String,
        #[serde(default, deserialize_with = "de::top")]
        top: Option<usize>,
        #[serde(default, deserialize_with = "de::select")]
        select: Vec<String>,
        #[serde(default, deserialize_with = "de::count")]
        count: bool,
    }

    fn read(json: &str) -> Result<Sample, WorkerError> {
        parse("t", object("t", json)?)
    }

    fn err(json: &str) -> String {
        read(json).unwrap_err().to_string()
    }

    #[test]
    fn good_arguments() {
        let s =
            read(r#"{"entity_set":"CustomersV3","top":5,"select":["A"],"count":null}"#).unwrap();
        assert_eq!(
            (s.entity_set.as_str(), s.top, s.count),
            ("CustomersV3", Some(5), false)
        );
        assert_eq!(s.select, ["A"]);
    }

    #[test]
    fn messages_name_the_field() {
        assert_eq!(
            err(r#"{"entity_set":"X","top":"ten"}"#),
            "invalid arguments for t: `top` must be an integer between 1 and 10000, got \"ten\""
        );
        assert!(err(r#"{"entity_set":"X","top":0}"#).contains("got 0"));
        assert!(err(r#"{"entity_set":"X","top":10001}"#).contains("between 1 and 10000"));
        assert!(err(r#"{"entity_set":"X","top":2.5}"#).contains("got 2.5"));
        assert!(
            err(r#"{"entity_set":"X","count":"yes"}"#).contains("`count` must be true or false")
        );
        assert!(err(r#"{"entity_set":"X","select":"A,B"}"#).contains("`select` must be an array"));
        assert!(err(r#"{"entity_set":"X","select":[1]}"#).contains("each `select` entry"));
        assert!(err(r#"{"entity_set":"X","select":["A B"]}"#).contains("plain name"));
        assert!(
            err(r#"{"entity_set":"Customers/../x"}"#).contains("`entity_set` must be a plain name")
        );
        assert!(err(r#"{"entity_set":5}"#).contains("`entity_set` must be a string"));
        assert!(err(r#"{}"#).contains("missing field `entity_set`"));
        assert!(err(r#"{"entity_set":"X","fitler":"a"}"#).contains("unknown field `fitler`"));
        assert!(err("[1]").contains("must be a JSON object, got an array"));
        assert!(err("{").contains("not valid JSON"));
        assert!(!err(r#"{"entity_set":"X","top":"ten"}"#).contains("line"));
    }

    #[test]
    fn empty_arguments_are_an_empty_object() {
        assert!(err("").contains("missing field `entity_set`"));
    }
}
