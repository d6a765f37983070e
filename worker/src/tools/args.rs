//! Reading a tool's `arguments_json` into its typed argument struct.
//!
//! Each tool's struct is defined beside its spec in `common::catalogue`
//! (the tool's input schema is derived from it) and derives `Deserialize`
//! with `deny_unknown_fields`; each field reads through one of the readers
//! in `common::catalogue::args`, which check type and range and phrase the
//! error as "`top` must be an integer between 1 and 10000, got \"ten\"".
//! Deserializing from a parsed [`Value`] rather than the text keeps serde's
//! "at line 1 column 12" out of those messages.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::WorkerError;

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

// Shown in the executor's messages too.
pub use common::catalogue::args::describe;

#[cfg(test)]
mod tests {
    use common::catalogue::args::de;
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
