//! Readers of the metadata tools' arguments, phrased like [`super::de`]:
//! "`language` must be a language tag such as en-us".

use schemars::{Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, de::Error as _};
use serde_json::Value;

use super::{de::expected, describe};

/// Most ids one `d365fo_get_labels` call resolves.
pub const MAX_LABEL_IDS: usize = 100;
/// Most results a search returns per call.
pub const MAX_TOP: u64 = 200;
/// Results a search returns when `top` is left out.
pub const DEFAULT_TOP: usize = 20;
/// The language labels are read in when none is asked for.
pub const DEFAULT_LANGUAGE: &str = "en-us";
/// Longest search text or filter, in characters.
pub const MAX_TEXT: usize = 200;
/// Longest label id.
pub const MAX_LABEL_ID: usize = 200;
/// The binding kinds of an action, as the metadata API names them.
pub const BINDINGS: [&str; 3] = ["Unbound", "BoundToEntitySet", "BoundToEntityInstance"];

/// The schema of `binding`: one of [`BINDINGS`].
pub fn binding_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "string", "enum": BINDINGS })
}

/// `#[serde(default = …)]` of `top`.
pub fn default_top() -> usize {
    DEFAULT_TOP
}

/// `#[serde(default = …)]` of `language`.
pub fn default_language() -> String {
    DEFAULT_LANGUAGE.to_owned()
}

/// Whether `tag` looks like a language tag D365FO knows: `en-us`, `de`,
/// `zh-hans`, `sr-latn-rs`.
pub fn is_language(tag: &str) -> bool {
    let mut parts = tag.split('-');
    let primary = parts.next().unwrap_or_default();
    let subtags: Vec<&str> = parts.collect();
    (2..=3).contains(&primary.len())
        && primary.chars().all(|c| c.is_ascii_alphabetic())
        && subtags.len() <= 2
        && subtags
            .iter()
            .all(|s| (2..=8).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric()))
}

/// Whether `id` is a label reference: `@SYS1234`, `@AccountsReceivable:CustomersV3`.
pub fn is_label_id(id: &str) -> bool {
    id.len() <= MAX_LABEL_ID
        && id.strip_prefix('@').is_some_and(|rest| {
            !rest.is_empty()
                && rest
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | ':' | '.' | '-'))
        })
}

/// `language`: a language tag, lower-cased; default `en-us`.
pub fn language<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(DEFAULT_LANGUAGE.to_owned()),
        Value::String(s) if is_language(s.trim()) => Ok(s.trim().to_ascii_lowercase()),
        other => Err(expected(
            "language",
            "a language tag such as \"en-us\" or \"de\"",
            &other,
        )),
    }
}

/// `query`: free text up to 200 characters; default empty (list all).
pub fn query<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(String::new()),
        Value::String(s) if s.chars().count() <= MAX_TEXT => Ok(s),
        other => Err(expected(
            "query",
            "text of at most 200 characters such as \"customer\"",
            &other,
        )),
    }
}

/// An optional string filter such as `category`.
pub fn text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        Value::String(s) if s.chars().count() <= MAX_TEXT => Ok(Some(s.trim().to_owned())),
        other => Err(D::Error::custom(format!(
            "expected a string of at most 200 characters, got {}",
            describe(&other)
        ))),
    }
}

/// An optional boolean filter.
pub fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        Value::Bool(b) => Ok(Some(b)),
        other => Err(D::Error::custom(format!(
            "expected true or false, got {}",
            describe(&other)
        ))),
    }
}

/// `top`: 1..=200, default 20.
pub fn top<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    let value = Value::deserialize(d)?;
    if value.is_null() {
        return Ok(DEFAULT_TOP);
    }
    value
        .as_u64()
        .filter(|n| (1..=MAX_TOP).contains(n))
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| expected("top", "an integer between 1 and 200", &value))
}

/// `skip`: 0 or more, default 0.
pub fn skip<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    let value = Value::deserialize(d)?;
    if value.is_null() {
        return Ok(0);
    }
    value
        .as_u64()
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| expected("skip", "a whole number of results to skip", &value))
}

/// A name such as `entity` or `name`: a plain identifier.
pub fn name<'de, D: Deserializer<'de>>(
    d: D,
    field: &str,
    example: &str,
) -> Result<String, D::Error> {
    match Value::deserialize(d)? {
        Value::String(s) => {
            crate::odata::check_identifier(&format!("`{field}`"), s.trim())
                .map_err(D::Error::custom)?;
            Ok(s.trim().to_owned())
        }
        other => Err(expected(
            field,
            &format!("a name such as \"{example}\""),
            &other,
        )),
    }
}

/// `entity` of `d365fo_get_entity_schema`.
pub fn entity_name<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    name(d, "entity", "CustomersV3")
}

/// `name` of `d365fo_get_enumeration`.
pub fn enum_name<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    name(d, "name", "NoYes")
}

/// `label_id`: one label reference.
pub fn label_id<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match Value::deserialize(d)? {
        Value::String(s) if is_label_id(s.trim()) => Ok(s.trim().to_owned()),
        other => Err(expected(
            "label_id",
            "a label id such as \"@SYS13342\" or \"@AccountsReceivable:CustomersV3\"",
            &other,
        )),
    }
}

/// `label_ids`: 1 to 100 label references.
pub fn label_ids<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let items = match Value::deserialize(d)? {
        Value::Array(items) if !items.is_empty() && items.len() <= MAX_LABEL_IDS => items,
        Value::Array(items) if items.len() > MAX_LABEL_IDS => {
            return Err(D::Error::custom(format!(
                "`label_ids` holds {} ids; at most {MAX_LABEL_IDS} per call, so split them \
                 over several calls",
                items.len()
            )));
        }
        other => {
            return Err(expected(
                "label_ids",
                "a non-empty array of label ids such as [\"@SYS13342\", \"@SYS7399\"]",
                &other,
            ));
        }
    };
    items
        .into_iter()
        .map(|item| match item {
            Value::String(s) if is_label_id(s.trim()) => Ok(s.trim().to_owned()),
            other => Err(expected(
                "each `label_ids` entry",
                "a label id such as \"@SYS13342\"",
                &other,
            )),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn languages_and_label_ids() {
        for ok in ["en-us", "de", "EN-US", "zh-hans", "sr-latn-rs"] {
            assert!(is_language(ok), "{ok}");
        }
        for bad in [
            "",
            "e",
            "english",
            "en_us",
            "en-",
            "en-u",
            "en-us-x-y-z",
            "12",
        ] {
            assert!(!is_language(bad), "{bad}");
        }
        for ok in ["@SYS1", "@AccountsReceivable:CustomersV3", "@a.b-c_d"] {
            assert!(is_label_id(ok), "{ok}");
        }
        for bad in ["SYS1", "@", "@a b", "@x'", "@x)"] {
            assert!(!is_label_id(bad), "{bad}");
        }
        assert!(!is_label_id(&format!("@{}", "a".repeat(300))));
    }
}
