//! Labels: the translatable texts D365FO names by id (`@SYS13342`,
//! `@AccountsReceivable:CustomersV3`) and serves from
//! `/Metadata/Labels(Id='…',Language='…')`.
//!
//! Entities, fields, enums and members listed below get hand-written ids and
//! texts in `en-US` and `de`. Anything else — a set or field the data plane
//! adds later — gets a generated id in the same `@Module:Name` style and a
//! text made from its name, so new sets are labelled without touching this
//! file. A generated label's German text is its English one: D365FO, too,
//! falls back to `en-US` where a label file lacks a translation.

use std::collections::HashMap;

use super::label_texts::{ENTITIES, ENUMS, FIELDS, MEMBERS};

/// The languages served, as D365FO spells them in responses.
pub const LANGUAGES: [&str; 2] = ["en-US", "de"];

/// What a label id is asked for.
#[derive(Debug, Clone, Copy)]
pub enum LabelOf<'a> {
    /// An entity set, by set name.
    Entity(&'a str),
    /// A field, by property name.
    Field(&'a str),
    /// An enumeration, by short name.
    Enum(&'a str),
    /// An enum member: enum short name and member name.
    Member(&'a str, &'a str),
}

/// Every label of one environment, by id.
#[derive(Debug, Default)]
pub struct Labels {
    texts: HashMap<String, [String; 2]>,
}

impl Labels {
    /// The label id of `what`, registering its texts on first use.
    pub fn assign(&mut self, what: LabelOf<'_>) -> String {
        let listed = |table: &[(&str, &'static str, &'static str, &'static str)], key: &str| {
            table
                .iter()
                .find(|row| row.0 == key)
                .map(|row| (row.1.to_owned(), row.2.to_owned(), row.3.to_owned()))
        };
        let (id, en, de) = match what {
            LabelOf::Entity(set) => listed(ENTITIES, set).unwrap_or_else(|| {
                let text = humanize(set);
                (format!("@ApplicationSuite:{set}Entity"), text.clone(), text)
            }),
            LabelOf::Field(name) => listed(FIELDS, name).unwrap_or_else(|| {
                let text = humanize(name);
                (format!("@ApplicationSuite:{name}"), text.clone(), text)
            }),
            LabelOf::Enum(name) => listed(ENUMS, name).unwrap_or_else(|| {
                let text = humanize(name);
                (format!("@ApplicationSuite:{name}Enum"), text.clone(), text)
            }),
            LabelOf::Member(ty, member) => listed(MEMBERS, &format!("{ty}.{member}"))
                .unwrap_or_else(|| {
                    let text = humanize(member);
                    (
                        format!("@ApplicationSuite:{ty}_{member}"),
                        text.clone(),
                        text,
                    )
                }),
        };
        // First registration wins: ids shared by several fields carry one text.
        self.texts.entry(id.clone()).or_insert([en, de]);
        id
    }

    /// The text of label `id` in `language` (case-insensitive), with the
    /// language as D365FO spells it; `None` for an unknown id or language.
    pub fn get(&self, id: &str, language: &str) -> Option<(&'static str, &str)> {
        let slot = LANGUAGES
            .iter()
            .position(|l| l.eq_ignore_ascii_case(language))?;
        let texts = self.texts.get(id)?;
        Some((LANGUAGES[slot], texts[slot].as_str()))
    }

    /// Number of distinct label ids.
    pub fn len(&self) -> usize {
        self.texts.len()
    }

    /// Whether no label is registered.
    pub fn is_empty(&self) -> bool {
        self.texts.is_empty()
    }
}

/// `SalesOrderHeadersV2` → `Sales order headers V2`; `dataAreaId` →
/// `Data area id`. Acronyms and words with digits keep their case.
pub fn humanize(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut words: Vec<String> = Vec::new();
    let mut word = String::new();
    for (i, &c) in chars.iter().enumerate() {
        let prev = i.checked_sub(1).and_then(|p| chars.get(p)).copied();
        let next = chars.get(i + 1).copied();
        let boundary = match prev {
            None => false,
            Some(p) if c.is_uppercase() => {
                p.is_lowercase() || (p.is_uppercase() && next.is_some_and(char::is_lowercase))
            }
            Some(_) => false,
        };
        if (boundary || c == '_' || c == ' ') && !word.is_empty() {
            words.push(std::mem::take(&mut word));
        }
        if c != '_' && c != ' ' {
            word.push(c);
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    let mut out = String::with_capacity(name.len() + words.len());
    for (i, w) in words.iter().enumerate() {
        let keep = w
            .chars()
            .filter(|c| c.is_alphabetic())
            .all(char::is_uppercase)
            || w.chars().any(|c| c.is_ascii_digit());
        if i > 0 {
            out.push(' ');
        }
        if i == 0 || keep {
            let mut cs = w.chars();
            if let Some(first) = cs.next() {
                out.extend(first.to_uppercase());
                out.push_str(cs.as_str());
            }
        } else {
            out.push_str(&w.to_lowercase());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn humanizes_names() {
        assert_eq!(humanize("SalesOrderHeadersV2"), "Sales order headers V2");
        assert_eq!(humanize("dataAreaId"), "Data area id");
        assert_eq!(humanize("XMLParser"), "XML parser");
        assert_eq!(humanize(""), "");
    }

    #[test]
    fn listed_and_generated_labels_resolve_in_both_languages() {
        let mut labels = Labels::default();
        assert_eq!(labels.assign(LabelOf::Field("dataAreaId")), "@SYS13342");
        assert_eq!(labels.get("@SYS13342", "EN-us"), Some(("en-US", "Company")));
        assert_eq!(labels.get("@SYS13342", "de"), Some(("de", "Unternehmen")));
        let id = labels.assign(LabelOf::Entity("WarehousesV9"));
        assert_eq!(id, "@ApplicationSuite:WarehousesV9Entity");
        assert_eq!(labels.get(&id, "de"), Some(("de", "Warehouses V9")));
        assert_eq!(labels.get(&id, "fr"), None);
        assert_eq!(labels.get("@SYS0", "en-us"), None);
        let m = labels.assign(LabelOf::Member("NoYes", "Yes"));
        assert_eq!(labels.get(&m, "de"), Some(("de", "Ja")));
    }
}
