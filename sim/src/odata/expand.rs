//! `$expand`: one level of navigation properties, each with an optional
//! nested `$select` (`SalesOrderLines($select=ItemNumber,LineAmount)`).
//!
//! D365FO expands one level; deeper paths (`A/B`) and nested options other
//! than `$select` are refused with a 400 rather than silently ignored.

use crate::SimError;

/// One expanded navigation property, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpandItem {
    /// Navigation property name, or `*`.
    pub name: String,
    /// The nested `$select` text, if any.
    pub select: Option<String>,
}

fn syntax(text: &str) -> SimError {
    SimError::InvalidQuery(format!(
        "Syntax error at position {} in '{text}'.",
        text.len()
    ))
}

/// Splits `text` at top-level occurrences of `sep` (not inside parentheses).
fn split_top(text: &str, sep: char) -> Option<Vec<&str>> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.checked_sub(1)?,
            c if c == sep && depth == 0 => {
                out.push(&text[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    if depth != 0 {
        return None;
    }
    out.push(&text[start..]);
    Some(out)
}

/// Parses the `$expand` text.
pub fn parse_expand(text: &str) -> Result<Vec<ExpandItem>, SimError> {
    let mut items = Vec::new();
    for raw in split_top(text, ',').ok_or_else(|| syntax(text))? {
        let raw = raw.trim();
        let (name, options) = match raw.find('(') {
            Some(open) => {
                let inner = raw[open + 1..]
                    .strip_suffix(')')
                    .ok_or_else(|| syntax(text))?;
                (raw[..open].trim(), Some(inner))
            }
            None => (raw, None),
        };
        let valid = |c: char| c.is_alphanumeric() || c == '_';
        if name != "*" && (name.is_empty() || !name.chars().all(valid)) {
            if name.contains('/') {
                return Err(SimError::InvalidQuery(format!(
                    "The request includes a $expand path which is too deep. The maximum depth allowed is 1. To increase the limit, set the 'MaxExpansionDepth' property on EnableQueryAttribute or ODataValidationSettings, or set the 'MaxDepth' property in ExpandAttribute. '{name}'"
                )));
            }
            return Err(syntax(text));
        }
        let mut select = None;
        for option in options
            .map(|o| split_top(o, ';'))
            .unwrap_or(Some(Vec::new()))
            .ok_or_else(|| syntax(text))?
        {
            let option = option.trim();
            if option.is_empty() {
                continue;
            }
            match option.split_once('=') {
                Some((k, v)) if k.trim() == "$select" && select.is_none() => {
                    select = Some(v.trim().to_owned());
                }
                Some((k, _)) if k.trim().starts_with('$') => {
                    return Err(SimError::InvalidQuery(format!(
                        "Query option '{}' is not supported inside $expand.",
                        k.trim()
                    )));
                }
                _ => return Err(syntax(text)),
            }
        }
        if !items.iter().any(|i: &ExpandItem| i.name == name) {
            items.push(ExpandItem {
                name: name.to_owned(),
                select,
            });
        }
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_items_and_nested_select() {
        let items = parse_expand("SalesOrderLines($select=ItemNumber,LineAmount), Other").unwrap();
        assert_eq!(
            items,
            vec![
                ExpandItem {
                    name: "SalesOrderLines".into(),
                    select: Some("ItemNumber,LineAmount".into())
                },
                ExpandItem {
                    name: "Other".into(),
                    select: None
                },
            ]
        );
        assert!(
            parse_expand("A/B")
                .unwrap_err()
                .to_string()
                .contains("too deep")
        );
        for bad in ["A(", "A)", "A($select=x", "A(foo)", "A($top=1)", "", "A,,B"] {
            assert!(parse_expand(bad).is_err(), "{bad}");
        }
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,40}") {
            let _ = parse_expand(&s);
        }
    }
}
