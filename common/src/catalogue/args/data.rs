//! Readers of the data tools' arguments, beside the shared ones in
//! [`super::de`]: the key kept as an object as well as a predicate (results
//! echo it), `fields`, `if_match`, `expand`, and the items of a batch. Each
//! error names the argument and shows an example of what is expected.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, de::Error as _};
use serde_json::{Map, Value};

use super::{de::expected, describe};
use crate::odata::{self, ExpandItem};

/// Most operations one batch call may hold.
pub const MAX_BATCH_OPERATIONS: usize = 100;

/// Most `$expand` items one read may name.
pub const MAX_EXPAND: usize = 10;

/// Most fields one create or update may set.
const MAX_FIELDS: usize = 1_000;

/// Longest ETag accepted; D365FO's are a few dozen characters.
const MAX_ETAG: usize = 1_024;

/// Longest batch `changeset` label.
const MAX_CHANGESET: usize = 100;

/// A record's key, as given and as an OData key predicate.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    /// Key field to value, e.g. `{"dataAreaId": "usmf", "CustomerAccount": "US-001"}`.
    pub fields: Map<String, Value>,
    /// `(CustomerAccount='US-001',dataAreaId='usmf')`, encoded for a path.
    pub predicate: String,
}

impl Key {
    /// Reads `value` as the key argument called `name`.
    pub fn from_value(name: &str, value: Value) -> Result<Self, String> {
        let Value::Object(fields) = value else {
            return Err(format!(
                "`{name}` must be an object such as {{\"dataAreaId\": \"usmf\", \
                 \"CustomerAccount\": \"US-001\"}}, got {}",
                describe(&value)
            ));
        };
        let predicate = odata::key_predicate(&fields)?;
        Ok(Self { fields, predicate })
    }
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::from_value("key", Value::deserialize(d)?).map_err(D::Error::custom)
    }
}

/// What [`Key::from_value`] accepts: a non-empty object of key field to a
/// string, number or boolean.
impl JsonSchema for Key {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "Key".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        // Values are strings, numbers or booleans: the description's
        // example shows them and the reader says so; spelling it out here
        // would cost every agent request about 90 bytes per keyed tool.
        json_schema!({ "type": "object", "minProperties": 1 })
    }
}

/// `fields`: a non-empty object of field name to JSON value.
pub fn fields<'de, D: Deserializer<'de>>(d: D) -> Result<Map<String, Value>, D::Error> {
    let map = match Value::deserialize(d)? {
        Value::Object(map) => map,
        other => {
            return Err(expected(
                "fields",
                "an object of field name to value such as {\"CreditLimit\": 5000}",
                &other,
            ));
        }
    };
    if map.is_empty() {
        return Err(D::Error::custom(
            "`fields` must name at least one field to set, e.g. {\"CreditLimit\": 5000}",
        ));
    }
    if map.len() > MAX_FIELDS {
        return Err(D::Error::custom(format!(
            "`fields` names {} fields; at most {MAX_FIELDS} are accepted",
            map.len()
        )));
    }
    for name in map.keys() {
        odata::check_identifier(&format!("`fields` name {}", odata::quote(name)), name)
            .map_err(D::Error::custom)?;
    }
    Ok(map)
}

/// `fields` of a batch operation, which only some operations take.
pub fn opt_fields<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Map<String, Value>>, D::Error> {
    fields(d).map(Some)
}

/// `if_match`: an ETag as D365FO wrote it (`W/"…"`), or `*`.
pub fn if_match<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let value = Value::deserialize(d)?;
    let etag = match value {
        Value::Null => return Ok(None),
        Value::String(s) => s.trim().to_owned(),
        other => {
            return Err(expected(
                "if_match",
                "the record's @odata.etag text such as \"W/\\\"JzEsNTYzNzE0NDU3Nic=\\\"\"",
                &other,
            ));
        }
    };
    // Only visible ASCII and spaces can travel in a header unchanged.
    let printable = etag.bytes().all(|b| (b' '..=b'~').contains(&b));
    if etag.is_empty() || etag.len() > MAX_ETAG || !printable {
        return Err(D::Error::custom(format!(
            "`if_match` must be the record's @odata.etag exactly as read, such as \
             \"W/\\\"JzEsNTYzNzE0NDU3Nic=\\\"\", got {}",
            odata::quote(&etag)
        )));
    }
    Ok(Some(etag))
}

// One item of `expand` as [`expand`] reads it, for the schema only (its
// doc comments are descriptions in the schema).
#[derive(JsonSchema)]
#[serde(untagged, deny_unknown_fields)]
#[allow(dead_code)]
pub(crate) enum ExpandEntry {
    // A navigation property name (`expand` describes both forms).
    Name(String),
    // A navigation property and the fields of it to return.
    Select {
        name: String,
        #[serde(default)]
        select: Vec<String>,
    },
}

/// `expand`: navigation names, or `{"name", "select"}` objects.
pub fn expand<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<ExpandItem>, D::Error> {
    let items = match Value::deserialize(d)? {
        Value::Null => return Ok(Vec::new()),
        Value::Array(items) => items,
        other => {
            return Err(expected(
                "expand",
                "an array such as [\"SalesOrderLines\"]",
                &other,
            ));
        }
    };
    if items.len() > MAX_EXPAND {
        return Err(D::Error::custom(format!(
            "`expand` names {} navigation properties; at most {MAX_EXPAND} are accepted",
            items.len()
        )));
    }
    items
        .into_iter()
        .map(|item| expand_item(item).map_err(D::Error::custom))
        .collect()
}

fn expand_item(item: Value) -> Result<ExpandItem, String> {
    let bad = |got: &Value| {
        format!(
            "each `expand` entry must be a navigation property name such as \"SalesOrderLines\" \
             or an object such as {{\"name\": \"SalesOrderLines\", \"select\": \
             [\"ItemNumber\"]}}, got {}",
            describe(got)
        )
    };
    let (name, select) = match item {
        Value::String(name) => (name, Vec::new()),
        Value::Object(mut map) => {
            if let Some(unknown) = map
                .keys()
                .find(|k| !matches!(k.as_str(), "name" | "select"))
            {
                return Err(format!(
                    "an `expand` entry has an unknown field {}; use `name` and `select`",
                    odata::quote(unknown)
                ));
            }
            let name = match map.remove("name") {
                Some(Value::String(name)) => name,
                _ => return Err(bad(&Value::Object(map))),
            };
            let select = match map.remove("select") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(fields)) => fields
                    .into_iter()
                    .map(|f| match f {
                        Value::String(s) => {
                            odata::check_identifier("each `expand` `select` entry", &s)?;
                            Ok(s)
                        }
                        other => Err(format!(
                            "each `expand` `select` entry must be a field name, got {}",
                            describe(&other)
                        )),
                    })
                    .collect::<Result<_, _>>()?,
                Some(other) => {
                    return Err(format!(
                        "an `expand` entry's `select` must be an array of field names, got {}",
                        describe(&other)
                    ));
                }
            };
            (name, select)
        }
        other => return Err(bad(&other)),
    };
    odata::check_identifier("each `expand` name", &name)?;
    Ok(ExpandItem { name, select })
}

/// `operations` of a batch: an array, each item read by the batch planner
/// (which names the operation in its errors).
pub fn operations<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Value>, D::Error> {
    match Value::deserialize(d)? {
        Value::Array(items) => Ok(items),
        other => Err(D::Error::custom(format!(
            "`operations` must be an array such as [{{\"op\": \"get\", \"entity_set\": \
             \"CustomersV3\", \"key\": {{\"dataAreaId\": \"usmf\", \"CustomerAccount\": \
             \"US-001\"}}}}], got {}",
            describe(&other)
        ))),
    }
}

/// `key_ref` of a batch operation: the index of an earlier create.
pub fn key_ref<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    let value = Value::deserialize(d)?;
    if value.is_null() {
        return Ok(None);
    }
    value
        .as_u64()
        .and_then(|n| usize::try_from(n).ok())
        .map(Some)
        .ok_or_else(|| {
            D::Error::custom(format!(
                "`key_ref` must be the index of an earlier create, such as 0, got {}",
                describe(&value)
            ))
        })
}

/// `changeset` of a batch operation: a short label, trimmed.
pub fn changeset<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        Value::String(s) if !s.trim().is_empty() && s.len() <= MAX_CHANGESET => {
            Ok(Some(s.trim().into()))
        }
        other => Err(D::Error::custom(format!(
            "`changeset` must be a short label such as \"a\", got {}",
            describe(&other)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Sample {
        #[serde(default)]
        key: Option<Key>,
        #[serde(default, deserialize_with = "fields")]
        fields: Map<String, Value>,
        #[serde(default, deserialize_with = "if_match")]
        if_match: Option<String>,
        #[serde(default, deserialize_with = "expand")]
        expand: Vec<ExpandItem>,
    }

    fn read(v: Value) -> Result<Sample, String> {
        serde_json::from_value(v).map_err(|e| e.to_string())
    }

    #[test]
    fn good_arguments() {
        let s = read(json!({
            "key": {"dataAreaId": "usmf", "CustomerAccount": "US-001"},
            "fields": {"CreditLimit": 5, "Note": null},
            "if_match": " W/\"abc=\" ",
            "expand": ["Lines", {"name": "Head", "select": ["A", "B"]}, {"name": "X", "select": null}]
        }))
        .unwrap();
        let key = s.key.unwrap();
        assert_eq!(
            key.predicate,
            "(CustomerAccount='US-001',dataAreaId='usmf')"
        );
        assert_eq!(key.fields["dataAreaId"], "usmf");
        assert_eq!(s.fields["CreditLimit"], 5);
        assert_eq!(s.if_match.as_deref(), Some("W/\"abc=\""));
        assert_eq!(odata::expand_text(&s.expand), "Lines,Head($select=A,B),X");
    }

    #[test]
    fn messages_name_the_argument() {
        let err = |v: Value| read(v).unwrap_err();
        assert!(err(json!({"key": "US-001"})).contains("`key` must be an object"));
        assert!(err(json!({"key": {}})).contains("at least one key field"));
        assert!(err(json!({"fields": {}})).contains("`fields` must name at least one field"));
        assert!(err(json!({"fields": [1]})).contains("`fields` must be an object"));
        assert!(err(json!({"fields": {"a b": 1}})).contains("`fields` name \"a b\""));
        assert!(err(json!({"if_match": 5})).contains("`if_match` must be"));
        assert!(err(json!({"if_match": ""})).contains("`if_match` must be"));
        assert!(err(json!({"if_match": "W/\"a\"\r\nX: y"})).contains("`if_match` must be"));
        assert!(err(json!({"expand": "Lines"})).contains("`expand` must be an array"));
        assert!(err(json!({"expand": [1]})).contains("each `expand` entry"));
        assert!(err(json!({"expand": ["A/B"]})).contains("each `expand` name"));
        assert!(
            err(json!({"expand": [{"name": "A", "top": 1}]})).contains("unknown field \"top\"")
        );
        assert!(
            err(json!({"expand": [{"name": "A", "select": "B"}]}))
                .contains("`select` must be an array")
        );
        assert!(
            err(json!({"expand": [{"name": "A", "select": ["B,C"]}]})).contains("`select` entry")
        );
        assert!(err(json!({"expand": [{"select": ["B"]}]})).contains("each `expand` entry"));
        let many: Vec<String> = (0..11).map(|i| format!("N{i}")).collect();
        assert!(err(json!({"expand": many})).contains("at most 10"));
    }
}
