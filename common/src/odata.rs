//! OData's rules for the values a tool's arguments put into a request:
//! plain identifiers, key predicates and `$expand` items.
//!
//! They live here, below both the catalogue's argument readers (which
//! refuse a bad name with a message a model can act on) and the worker's
//! URL builder (`worker::d365::odata`, which uses them to build paths), so
//! the rule that keeps a caller's text from changing a request's shape is
//! written once.

use std::fmt::Write as _;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Map, Value};

/// Characters escaped in query option values: all but RFC 3986's unreserved.
pub const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Characters escaped inside a quoted key literal in the path. `'` stays, as
/// the doubled quote is OData's own escape and D365FO expects it unencoded.
const KEY_LITERAL: &AsciiSet = &QUERY_VALUE.remove(b'\'');

/// Longest identifier accepted; D365FO names are far shorter.
const MAX_IDENTIFIER: usize = 128;

/// Checks that `value` is a plain OData identifier (ASCII letters, digits and
/// `_`, not starting with a digit). `what` names the argument in the message.
pub fn check_identifier(what: &str, value: &str) -> Result<(), String> {
    let mut chars = value.chars();
    let valid_start = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    let valid_rest = chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid_start && valid_rest && value.len() <= MAX_IDENTIFIER {
        Ok(())
    } else {
        Err(format!(
            "{what} must be a plain name of letters, digits and underscores (e.g. CustomersV3), \
             got {}",
            quote(value)
        ))
    }
}

/// A value, shown to a person: JSON-quoted and cut to a readable length.
pub fn quote(value: &str) -> String {
    let mut shown: String = value.chars().take(80).collect();
    if shown.len() < value.len() {
        shown.push('…');
    }
    Value::String(shown).to_string()
}

/// The key predicate `(k1='v1',k2=2)` for `key`, each value by its JSON
/// type ([`key_literal`]). The worker retypes it by the entity's metadata
/// where D365FO wants another form (a date-time key is bare).
pub fn key_predicate(key: &Map<String, Value>) -> Result<String, String> {
    if key.is_empty() {
        return Err("`key` must name at least one key field".into());
    }
    let mut out = String::from("(");
    for (i, (name, value)) in key.iter().enumerate() {
        check_identifier(&format!("`key` field name {}", quote(name)), name)?;
        if i > 0 {
            out.push(',');
        }
        out.push_str(name);
        out.push('=');
        out.push_str(&key_literal(name, value)?);
    }
    out.push(')');
    Ok(out)
}

/// One value of key field `name` by its JSON type: a string quoted
/// ([`quoted_key_literal`]), a number or boolean bare.
pub fn key_literal(name: &str, value: &Value) -> Result<String, String> {
    match value {
        Value::String(s) => Ok(quoted_key_literal(s)),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(format!(
            "`key.{name}` must be a string, number or boolean, got {other}"
        )),
    }
}

/// `text` as a quoted key literal for a path: `'` doubled, the rest
/// percent-encoded.
pub fn quoted_key_literal(text: &str) -> String {
    let doubled = text.replace('\'', "''");
    let mut out = String::with_capacity(doubled.len() + 2);
    let _ = write!(out, "'{}'", utf8_percent_encode(&doubled, KEY_LITERAL));
    out
}

/// One `$expand` item: a navigation property and, optionally, the fields
/// of the related records to return. D365FO expands one level only.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpandItem {
    /// Navigation property, e.g. `SalesOrderLines`; validated as an identifier.
    pub name: String,
    /// Nested `$select`; empty means every field.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub select: Vec<String>,
}

/// The `$expand` text for `items`: `A,B($select=x,y)`.
pub fn expand_text(items: &[ExpandItem]) -> String {
    items
        .iter()
        .map(|item| {
            if item.select.is_empty() {
                item.name.clone()
            } else {
                format!("{}($select={})", item.name, item.select.join(","))
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    fn key(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn identifiers() {
        for ok in ["CustomersV3", "_x", "a1_b"] {
            assert!(check_identifier("`entity_set`", ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "1abc",
            "Customers V3",
            "a/b",
            "a(b)",
            "Cust'",
            "é",
            "a?b",
        ] {
            let err = check_identifier("`entity_set`", bad).unwrap_err();
            assert!(err.starts_with("`entity_set` must be"), "{err}");
        }
        assert!(check_identifier("x", &"a".repeat(129)).is_err());
    }

    #[test]
    fn key_formatting() {
        assert_eq!(
            key_predicate(&key(
                json!({"dataAreaId": "usmf", "CustomerAccount": "US-001"})
            ))
            .unwrap(),
            "(CustomerAccount='US-001',dataAreaId='usmf')"
        );
        assert_eq!(
            key_predicate(&key(json!({"Name": "O'Brien"}))).unwrap(),
            "(Name='O''Brien')"
        );
        assert_eq!(
            key_predicate(&key(
                json!({"RecId": 5637144576_u64, "Active": true, "Rate": 1.5})
            ))
            .unwrap(),
            "(Active=true,Rate=1.5,RecId=5637144576)"
        );
        assert_eq!(
            key_predicate(&key(json!({"Id": "a/b c?d#e%f&"}))).unwrap(),
            "(Id='a%2Fb%20c%3Fd%23e%25f%26')"
        );
        assert!(key_predicate(&Map::new()).is_err());
        assert!(key_predicate(&key(json!({"Id": null}))).is_err());
        assert!(key_predicate(&key(json!({"Id": [1]}))).is_err());
        assert!(key_predicate(&key(json!({"bad name": 1}))).is_err());
    }

    #[test]
    fn expand_texts() {
        let items = [
            ExpandItem {
                name: "Lines".into(),
                select: vec!["X".into(), "Y".into()],
            },
            ExpandItem {
                name: "Head".into(),
                select: vec![],
            },
        ];
        assert_eq!(expand_text(&items), "Lines($select=X,Y),Head");
    }

    proptest! {
        #[test]
        fn key_literals_never_break_out(s in "\\PC{0,24}") {
            let predicate = key_predicate(&key(json!({"Id": s}))).unwrap();
            let inner = &predicate["(Id='".len()..predicate.len() - 2];
            // A lone quote would end the literal; only doubled quotes may appear.
            prop_assert!(!inner.replace("''", "").contains('\''));
            prop_assert!(!inner.contains(['/', '?', '#', ' ', '(', ')', ',']));
        }
    }
}
