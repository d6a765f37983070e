//! OData URL building: identifiers, key predicates and query options.
//!
//! Everything a caller supplies ends up either in the path (entity set, key
//! names and values) or in the query string (filter, select, orderby). Path
//! parts are validated or percent-encoded so nothing can change the request's
//! shape; query values are percent-encoded with everything outside RFC 3986's
//! unreserved set escaped, so `&`, `=`, `#` and `+` stay inside their option.

use std::fmt::Write as _;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Map, Value};
use url::Url;

/// Characters escaped in query option values: all but unreserved.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
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

/// The key predicate `(k1='v1',k2=2)` for `key`. Strings are quoted with `'`
/// doubled and percent-encoded; numbers and booleans are bare.
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
        match value {
            Value::String(s) => {
                let doubled = s.replace('\'', "''");
                let _ = write!(out, "'{}'", utf8_percent_encode(&doubled, KEY_LITERAL));
            }
            Value::Number(n) => out.push_str(&n.to_string()),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            other => {
                return Err(format!(
                    "`key.{name}` must be a string, number or boolean, got {other}"
                ));
            }
        }
    }
    out.push(')');
    Ok(out)
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

/// Query options of a read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryOptions {
    /// `$filter`.
    pub filter: Option<String>,
    /// `$select`, already validated as identifiers.
    pub select: Vec<String>,
    /// `$expand`, names already validated as identifiers.
    pub expand: Vec<ExpandItem>,
    /// `$orderby`.
    pub orderby: Option<String>,
    /// `$top`.
    pub top: Option<usize>,
    /// `$skip`.
    pub skip: Option<usize>,
    /// `$count=true`.
    pub count: bool,
    /// `cross-company=true`.
    pub cross_company: bool,
}

impl QueryOptions {
    /// The query string, without the leading `?`; empty when no option is set.
    pub fn to_query_string(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        let mut push = |name: &str, value: &str| {
            parts.push(format!(
                "{name}={}",
                utf8_percent_encode(value, QUERY_VALUE)
            ));
        };
        if let Some(filter) = self.filter.as_deref().filter(|f| !f.trim().is_empty()) {
            push("$filter", filter);
        }
        if !self.select.is_empty() {
            push("$select", &self.select.join(","));
        }
        if !self.expand.is_empty() {
            push("$expand", &expand_text(&self.expand));
        }
        if let Some(orderby) = self.orderby.as_deref().filter(|o| !o.trim().is_empty()) {
            push("$orderby", orderby);
        }
        if let Some(top) = self.top {
            push("$top", &top.to_string());
        }
        if let Some(skip) = self.skip.filter(|s| *s > 0) {
            push("$skip", &skip.to_string());
        }
        if self.count {
            push("$count", "true");
        }
        if self.cross_company {
            push("cross-company", "true");
        }
        parts.join("&")
    }
}

/// `{base}/data/{path}?{query}`.
pub fn data_url(base: &Url, path: &str, query: &QueryOptions) -> String {
    let mut url = format!("{}/data/{path}", base.as_str().trim_end_matches('/'));
    let qs = query.to_query_string();
    if !qs.is_empty() {
        url.push('?');
        url.push_str(&qs);
    }
    url
}

/// Whether `link` (a `@odata.nextLink` or a cursor's link) points into the
/// environment at `base`: same scheme, host and port, path under base's. A
/// link anywhere else is refused, so a bad upstream or a forged cursor can
/// never make the worker send its token to another host.
pub fn is_within(base: &Url, link: &str) -> bool {
    let Ok(link) = Url::parse(link) else {
        return false;
    };
    let base_path = base.path().trim_end_matches('/');
    link.scheme() == base.scheme()
        && link.host_str() == base.host_str()
        && link.port_or_known_default() == base.port_or_known_default()
        && link.username().is_empty()
        && link.password().is_none()
        && (link.path() == base_path || link.path().starts_with(&format!("{base_path}/")))
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
    fn query_strings_are_encoded() {
        let q = QueryOptions {
            filter: Some("Name eq 'A&B' and X eq '1+1=2#'".into()),
            select: vec!["A".into(), "B".into()],
            expand: vec![
                ExpandItem {
                    name: "Lines".into(),
                    select: vec!["X".into(), "Y".into()],
                },
                ExpandItem {
                    name: "Head".into(),
                    select: vec![],
                },
            ],
            orderby: Some("A desc".into()),
            top: Some(101),
            skip: Some(0),
            count: true,
            cross_company: true,
        };
        assert_eq!(
            q.to_query_string(),
            "$filter=Name%20eq%20%27A%26B%27%20and%20X%20eq%20%271%2B1%3D2%23%27\
             &$select=A%2CB&$expand=Lines%28%24select%3DX%2CY%29%2CHead&$orderby=A%20desc&$top=101&$count=true&cross-company=true"
        );
        let base = Url::parse("https://h.example/").unwrap();
        assert_eq!(
            data_url(&base, "CustomersV3", &QueryOptions::default()),
            "https://h.example/data/CustomersV3"
        );
    }

    #[test]
    fn links_must_stay_in_the_environment() {
        let base = Url::parse("https://h.example").unwrap();
        assert!(is_within(&base, "https://h.example/data/X?$skiptoken=1"));
        assert!(is_within(&base, "https://h.example:443/data/X"));
        for bad in [
            "https://evil.example/data/X",
            "http://h.example/data/X",
            "https://h.example:8443/data/X",
            "https://user@h.example/data/X",
            "https://h.example.evil.example/data/X",
            "/data/X",
            "nonsense",
        ] {
            assert!(!is_within(&base, bad), "{bad}");
        }
        let nested = Url::parse("https://h.example/tenant1").unwrap();
        assert!(is_within(&nested, "https://h.example/tenant1/data/X"));
        assert!(!is_within(&nested, "https://h.example/tenant10/data/X"));
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
