//! The key of a record D365FO just created, read from the `Location` (or
//! `OData-EntityId`) header of its answer:
//! `…/data/CustomersV3(dataAreaId='usmf',CustomerAccount='US-042')`.
//!
//! A model needs the key as an object to read, change or delete the record
//! next; the header is the one place that names the key fields without a
//! metadata lookup. The header comes from outside, so anything this reader
//! does not understand gives `None` (the caller then leaves `key` out), never
//! a guess and never a panic.

use percent_encoding::percent_decode_str;
use serde_json::{Map, Number, Value};

use super::odata::check_identifier;

/// The key of `entity_set`'s record at `location`, when the URL names its
/// fields (`(A='x',B=2)`). A positional key (`('USD')`) names no field and
/// gives `None`.
pub fn key_of_location(location: &str, entity_set: &str) -> Option<Map<String, Value>> {
    let text = percent_decode_str(location).decode_utf8_lossy();
    let marker = format!("/{entity_set}(");
    let start = text.find(&marker)? + marker.len();
    parse_pairs(text.get(start..)?)
}

/// Reads `A='x',B=2)` up to its closing parenthesis.
fn parse_pairs(text: &str) -> Option<Map<String, Value>> {
    let mut key = Map::new();
    let mut rest = text;
    loop {
        let eq = rest.find('=')?;
        let name = rest.get(..eq)?.trim();
        check_identifier("", name).ok()?;
        rest = rest.get(eq + 1..)?;
        let (value, after) = if let Some(quoted) = rest.strip_prefix('\'') {
            let (s, after) = quoted_literal(quoted)?;
            (Value::String(s), after)
        } else {
            let end = rest.find([',', ')'])?;
            (bare_literal(rest.get(..end)?.trim())?, rest.get(end..)?)
        };
        if key.insert(name.to_owned(), value).is_some() {
            return None;
        }
        match after.chars().next()? {
            ',' => rest = after.get(1..)?,
            ')' => return Some(key),
            _ => return None,
        }
    }
}

/// A `'…'` literal after its opening quote, `''` read as `'`; returns the
/// text and what follows the closing quote.
fn quoted_literal(text: &str) -> Option<(String, &str)> {
    let mut out = String::new();
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        if c != '\'' {
            out.push(c);
            continue;
        }
        if text.get(i + 1..)?.starts_with('\'') {
            out.push('\'');
            chars.next();
            continue;
        }
        return Some((out, text.get(i + 1..)?));
    }
    None
}

/// An unquoted literal: a boolean, a number, or anything else D365FO writes
/// bare (a date-time key) as text.
fn bare_literal(text: &str) -> Option<Value> {
    if text.is_empty() {
        return None;
    }
    Some(match text {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        _ => {
            if let Ok(n) = text.parse::<i64>() {
                Value::from(n)
            } else if let Some(n) = text.parse::<f64>().ok().and_then(Number::from_f64) {
                Value::Number(n)
            } else {
                Value::String(text.to_owned())
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;
    use crate::d365::odata::key_predicate;

    fn key(location: &str) -> Option<Value> {
        key_of_location(location, "CustomersV3").map(Value::Object)
    }

    #[test]
    fn keys_from_locations() {
        assert_eq!(
            key("http://h/data/CustomersV3(dataAreaId='usmf',CustomerAccount='US-042')"),
            Some(json!({"dataAreaId": "usmf", "CustomerAccount": "US-042"}))
        );
        assert_eq!(
            key(
                "https://h/data/CustomersV3(dataAreaId=%27usmf%27,CustomerAccount=%27O%27%27Brien%2C%20Ltd%29%27)"
            ),
            Some(json!({"dataAreaId": "usmf", "CustomerAccount": "O'Brien, Ltd)"}))
        );
        assert_eq!(
            key(
                "https://h/data/CustomersV3(RecId=5637144576,Active=true,Rate=1.5,Start=2024-01-01T00:00:00Z)"
            ),
            Some(
                json!({"RecId": 5637144576_u64, "Active": true, "Rate": 1.5, "Start": "2024-01-01T00:00:00Z"})
            )
        );
        for bad in [
            "https://h/data/CustomersV3('US-042')",
            "https://h/data/Other(A='x')",
            "https://h/data/CustomersV3(A='x'",
            "https://h/data/CustomersV3(A='x',A='y')",
            "https://h/data/CustomersV3(A=)",
            "https://h/data/CustomersV3(bad name='x')",
            "https://h/data/CustomersV3(A='x'B)",
            "",
        ] {
            assert_eq!(key(bad), None, "{bad}");
        }
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,80}") {
            let _ = key_of_location(&s, "CustomersV3");
            let _ = key_of_location(&format!("http://h/data/CustomersV3({s}"), "CustomersV3");
        }

        #[test]
        fn reads_what_key_predicate_writes(a in "\\PC{0,20}", n in any::<i64>(), b in any::<bool>()) {
            let original = json!({"Account": a, "Line": n, "Flag": b});
            let Value::Object(map) = original.clone() else { unreachable!() };
            let url = format!("https://h/data/CustomersV3{}", key_predicate(&map).unwrap());
            prop_assert_eq!(key(&url), Some(original));
        }
    }
}
