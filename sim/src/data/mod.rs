//! The simulator's data: seeded entity sets held in memory.
//!
//! Every set is built once at start-up. Each row is kept three ways: typed
//! values (for `$filter` and `$orderby`), a pre-serialized JSON fragment (so
//! an unprojected read copies bytes instead of serializing) and an entry in a
//! key index (so a keyed read is one hash lookup). Requests share the data
//! through an `Arc` and never clone a table.

mod schema;
mod seed;
mod value;

use std::collections::HashMap;

pub use schema::{EnumType, Field, FieldType};
pub use value::Value;

use crate::json;

/// One row of an entity set.
#[derive(Debug, Clone)]
pub struct Row {
    /// Field values, in the order of [`EntitySet::fields`].
    pub values: Vec<Value>,
    /// The weak ETag, e.g. `W/"JzEsNTYzNzE0NDU3Nic="`.
    pub etag: String,
    /// `"@odata.etag":…,"Field":value,…` without braces.
    pub json: String,
}

/// A public data entity exposed as an OData entity set.
#[derive(Debug)]
pub struct EntitySet {
    /// Entity set name, e.g. `CustomersV3`.
    pub name: &'static str,
    /// Qualified entity type, e.g. `Microsoft.Dynamics.DataEntities.CustomerV3`.
    pub type_name: &'static str,
    /// The entity's properties, in output order.
    pub fields: Vec<Field>,
    /// Indexes into `fields` of the entity key, in key order.
    pub keys: Vec<usize>,
    /// Index of `dataAreaId` when the set is company-specific.
    pub company: Option<usize>,
    rows: Vec<Row>,
    index: HashMap<String, usize>,
}

impl EntitySet {
    fn new(def: &schema::SetDef, records: seed::Records) -> Self {
        let fields = def.fields.to_vec();
        let keys: Vec<usize> = def
            .keys
            .iter()
            .filter_map(|k| fields.iter().position(|f| f.name == *k))
            .collect();
        let company = fields.iter().position(|f| f.name == "dataAreaId");
        let mut set = Self {
            name: def.name,
            type_name: def.type_name,
            fields,
            keys,
            company,
            rows: Vec::with_capacity(records.len()),
            index: HashMap::with_capacity(records.len()),
        };
        for (values, rec_id) in records {
            let etag = weak_etag(rec_id);
            let mut row = Row {
                values,
                etag,
                json: String::new(),
            };
            row.json = set.row_json(&row, None);
            let key = index_key(set.keys.iter().map(|&k| &row.values[k]));
            set.index.insert(key, set.rows.len());
            set.rows.push(row);
        }
        set
    }

    /// All rows, in key order.
    pub fn rows(&self) -> &[Row] {
        &self.rows
    }

    /// Index of the property called `name` (case-sensitive, as in OData).
    pub fn field_index(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.name == name)
    }

    /// The row whose key equals `key` (values in key order). String
    /// comparison ignores case, as D365FO's SQL collation does.
    pub fn lookup(&self, key: &[Value]) -> Option<&Row> {
        let idx = self.index.get(&index_key(key.iter()))?;
        self.rows.get(*idx)
    }

    /// The JSON fragment of `row` limited to `select` (all fields if `None`).
    pub fn row_json(&self, row: &Row, select: Option<&[usize]>) -> String {
        let mut out = String::with_capacity(256);
        out.push_str("\"@odata.etag\":");
        json::push_str(&mut out, &row.etag);
        let all: Vec<usize>;
        let chosen = match select {
            Some(s) => s,
            None => {
                all = (0..self.fields.len()).collect();
                &all
            }
        };
        for &i in chosen {
            let (Some(field), Some(value)) = (self.fields.get(i), row.values.get(i)) else {
                continue;
            };
            out.push(',');
            json::push_str(&mut out, field.name);
            out.push(':');
            value.write_json(&mut out);
        }
        out
    }
}

/// D365FO's weak ETag: base64 of `'{version},{RecId}'`.
fn weak_etag(rec_id: u64) -> String {
    format!("W/\"{}\"", base64(format!("'1,{rec_id}'").as_bytes()))
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The key-index form of a key: values joined by U+001F, strings lowered.
fn index_key<'a>(values: impl Iterator<Item = &'a Value>) -> String {
    let mut out = String::new();
    for (i, v) in values.enumerate() {
        if i > 0 {
            out.push('\u{1f}');
        }
        v.write_key(&mut out);
    }
    out
}

/// Every entity set of one simulated environment.
#[derive(Debug)]
pub struct Dataset {
    sets: HashMap<&'static str, EntitySet>,
    names: Vec<&'static str>,
}

impl Dataset {
    /// Generates the data set for `seed`; equal seeds give equal data.
    pub fn seeded(seed: u64) -> Self {
        let mut sets = HashMap::new();
        let mut names = Vec::new();
        for (def, records) in seed::generate(seed) {
            names.push(def.name);
            sets.insert(def.name, EntitySet::new(def, records));
        }
        Self { sets, names }
    }

    /// The set called `name` (case-sensitive).
    pub fn get(&self, name: &str) -> Option<&EntitySet> {
        self.sets.get(name)
    }

    /// Entity set names, in service-document order.
    pub fn names(&self) -> &[&'static str] {
        &self.names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etag_matches_d365_encoding() {
        assert_eq!(weak_etag(5637144576), "W/\"JzEsNTYzNzE0NDU3Nic=\"");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b"a"), "YQ==");
    }

    #[test]
    fn seeding_is_deterministic() {
        let a = Dataset::seeded(7);
        let b = Dataset::seeded(7);
        let (Some(ca), Some(cb)) = (a.get("CustomersV3"), b.get("CustomersV3")) else {
            panic!("CustomersV3 missing");
        };
        assert_eq!(ca.rows().len(), cb.rows().len());
        for (x, y) in ca.rows().iter().zip(cb.rows()) {
            assert_eq!(x.json, y.json);
        }
    }

    #[test]
    fn lookup_ignores_case() {
        let d = Dataset::seeded(1);
        let Some(c) = d.get("CustomersV3") else {
            panic!("CustomersV3 missing")
        };
        let key = [Value::Str("USMF".into()), Value::Str("us-001".into())];
        let row = c.lookup(&key).map(|r| r.json.clone()).unwrap_or_default();
        assert!(row.contains("\"CustomerAccount\":\"US-001\""), "{row}");
    }
}
