//! The simulator's data: seeded entity sets held in memory, readable and
//! writable by concurrent requests.
//!
//! - `schema`: property types, enum types, navigation and foreign-key
//!   descriptors; `sets`: the published entity sets.
//! - `seed`: deterministic generation at a [`Scale`].
//! - `table`: one set's rows with a key index and child indexes.
//! - `write`: turning a JSON body into a validated row.
//!
//! Each [`EntitySet`] keeps its schema as plain data and its rows behind a
//! `parking_lot::RwLock`: a keyed read takes the read lock for one hash
//! lookup. Lock order, so readers and writers never deadlock: a plain write
//! holds one set's write lock and nothing else (it validates foreign keys
//! before taking it); anything holding several locks (an `$expand`, a
//! changeset) takes them in [`Dataset::names`] order.

pub mod datetime;
mod scale;
mod schema;
mod seed;
mod sets;
mod table;
mod tx;
mod value;
pub(crate) mod write;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

pub use scale::Scale;
pub use schema::{EnumType, Field, FieldType, ForeignKey, Navigation};
pub use table::{Access, Row, Table};
pub(crate) use tx::{Op, Outcome, Tx, not_found};
pub use value::Value;

use crate::json;

/// A public data entity exposed as an OData entity set.
#[derive(Debug)]
pub struct EntitySet {
    /// Entity set name, e.g. `CustomersV3`.
    pub name: &'static str,
    /// Qualified entity type, e.g. `Microsoft.Dynamics.DataEntities.CustomerV3`.
    pub type_name: &'static str,
    /// The data entity's AOT name, e.g. `CustCustomerV3Entity`.
    pub aot_name: &'static str,
    /// The table label D365FO uses in messages, e.g. `Customers`.
    pub label: &'static str,
    /// The entity's properties, in output order.
    pub fields: Vec<Field>,
    /// Indexes into `fields` of the entity key, in key order.
    pub keys: Vec<usize>,
    /// Index of `dataAreaId` when the set is company-specific.
    pub company: Option<usize>,
    /// Indexes of properties a create must fill (besides the keys).
    pub mandatory: Vec<usize>,
    navigations: &'static [Navigation],
    foreign_keys: &'static [ForeignKey],
    table: RwLock<Table>,
}

impl EntitySet {
    fn new(def: &'static schema::SetDef, records: seed::Records) -> Self {
        let fields = def.fields.to_vec();
        let position = |name: &str| fields.iter().position(|f| f.name == name);
        let keys: Vec<usize> = def.keys.iter().filter_map(|k| position(k)).collect();
        let mandatory = def.mandatory.iter().filter_map(|k| position(k)).collect();
        let company = position("dataAreaId");
        let mut table = Table::new(keys.clone(), records.len());
        for (values, rec_id) in records {
            // Seeded keys are unique by construction; a clash would only drop a row.
            let _ = table.insert(Row {
                values,
                rec_id,
                version: 1,
            });
        }
        Self {
            name: def.name,
            type_name: def.type_name,
            aot_name: def.aot_name,
            label: def.label,
            fields,
            keys,
            company,
            mandatory,
            navigations: def.navigations,
            foreign_keys: def.foreign_keys,
            table: RwLock::new(table),
        }
    }

    /// Navigation properties, as the EDMX declares them.
    pub fn navigations(&self) -> &'static [Navigation] {
        self.navigations
    }

    /// The navigation property called `name`.
    pub fn navigation(&self, name: &str) -> Option<&'static Navigation> {
        self.navigations.iter().find(|n| n.name == name)
    }

    /// Relations a write must satisfy.
    pub fn foreign_keys(&self) -> &'static [ForeignKey] {
        self.foreign_keys
    }

    /// Read access to the rows (a shared lock; hold it briefly).
    pub fn rows(&self) -> RwLockReadGuard<'_, Table> {
        self.table.read()
    }

    pub(crate) fn rows_mut(&self) -> RwLockWriteGuard<'_, Table> {
        self.table.write()
    }

    /// Index of the property called `name` (case-sensitive, as in OData).
    pub fn field_index(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.name == name)
    }

    /// A copy of the row whose key equals `key` (values in key order).
    /// String comparison ignores case, as D365FO's SQL collation does. The
    /// copy holds no lock; hot paths read through [`EntitySet::rows`].
    pub fn lookup(&self, key: &[Value]) -> Option<Row> {
        self.table.read().lookup(key).cloned()
    }

    /// The JSON fragment of `row` limited to `select` (all fields if `None`).
    pub fn row_json(&self, row: &Row, select: Option<&[usize]>) -> String {
        let mut out = String::with_capacity(64 + row.values.len() * 24);
        self.write_row_json(&mut out, row, select);
        out
    }

    /// Appends `"@odata.etag":…,"Field":value,…` (no braces) to `out`.
    pub fn write_row_json(&self, out: &mut String, row: &Row, select: Option<&[usize]>) {
        out.push_str("\"@odata.etag\":");
        json::push_str(out, &row.etag());
        let mut field = |i: usize| {
            if let (Some(field), Some(value)) = (self.fields.get(i), row.values.get(i)) {
                out.push(',');
                json::push_str(out, field.name);
                out.push(':');
                value.write_json(out);
            }
        };
        match select {
            Some(chosen) => chosen.iter().for_each(|&i| field(i)),
            None => (0..self.fields.len()).for_each(field),
        }
    }

    /// The key predicate of `row` as written in a URL, e.g.
    /// `dataAreaId='usmf',CustomerAccount='US-001'`: percent-encoded, so a
    /// key holding a space, `#`, `?`, `%`, `/` or non-ASCII text still
    /// makes a valid URL that reads the row back, with `'(),=` (and the
    /// `:` of date-times) left literal, as D365FO clients expect.
    pub fn key_text(&self, row: &Row) -> String {
        let mut text = String::new();
        let out = &mut text;
        for (n, &k) in self.keys.iter().enumerate() {
            if n > 0 {
                out.push(',');
            }
            let (Some(field), Some(value)) = (self.fields.get(k), row.values.get(k)) else {
                continue;
            };
            out.push_str(field.name);
            out.push('=');
            match (field.ty, value) {
                (FieldType::String | FieldType::Enum(_), Value::Str(s)) => {
                    out.push('\'');
                    out.push_str(&s.replace('\'', "''"));
                    out.push('\'');
                }
                (_, other) => other.write_text(out),
            }
        }
        utf8_percent_encode(&text, KEY_URL).to_string()
    }
}

/// What [`EntitySet::key_text`] encodes: everything but RFC 3986's
/// unreserved characters and the key syntax `'(),=:`.
const KEY_URL: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')')
    .remove(b',')
    .remove(b'=')
    .remove(b':');

/// D365FO's weak ETag: base64 of `'{version},{RecId}'`.
fn weak_etag(version: u32, rec_id: u64) -> String {
    format!(
        "W/\"{}\"",
        base64(format!("'{version},{rec_id}'").as_bytes())
    )
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let at = |i: usize| u32::from(chunk.get(i).copied().unwrap_or(0));
        let n = (at(0) << 16) | (at(1) << 8) | at(2);
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

/// Every entity set of one simulated environment.
#[derive(Debug)]
pub struct Dataset {
    sets: HashMap<&'static str, EntitySet>,
    names: Vec<&'static str>,
    next_rec_id: AtomicU64,
}

impl Dataset {
    /// The small data set for `seed`; equal seeds give equal data.
    pub fn seeded(seed: u64) -> Self {
        Self::generate(seed, Scale::Small)
    }

    /// Generates the data set for `seed` at `scale`; equal inputs give equal data.
    pub fn generate(seed: u64, scale: Scale) -> Self {
        let (generated, last_rec_id) = seed::generate(seed, scale);
        let mut sets = HashMap::new();
        let mut names = Vec::new();
        for (def, records) in generated {
            names.push(def.name);
            sets.insert(def.name, EntitySet::new(def, records));
        }
        names.sort_unstable();
        // Every navigation's target side is indexed: the key index when the
        // join is the target's key (a line's header), else a child index (an
        // order's lines), so each `$expand` row is a hash lookup, not a scan.
        for set in sets.values() {
            for nav in set.navigations {
                let Some(target) = sets.get(nav.target) else {
                    continue;
                };
                let fields: Vec<usize> = nav
                    .constraints
                    .iter()
                    .filter_map(|(_, theirs)| target.field_index(theirs))
                    .collect();
                target.rows_mut().add_child_index(fields);
            }
        }
        Self {
            sets,
            names,
            next_rec_id: AtomicU64::new(last_rec_id + 1),
        }
    }

    /// The set called `name` (case-sensitive).
    pub fn get(&self, name: &str) -> Option<&EntitySet> {
        self.sets.get(name)
    }

    /// Entity set names, in service-document (and lock) order.
    pub fn names(&self) -> &[&'static str] {
        &self.names
    }

    /// Every enum type some property uses, each once, by name.
    pub fn enum_types(&self) -> Vec<&'static EnumType> {
        let mut out: Vec<&'static EnumType> = Vec::new();
        for set in self.sets.values() {
            for field in &set.fields {
                if let FieldType::Enum(e) = field.ty
                    && !out.iter().any(|o| o.name == e.name)
                {
                    out.push(e);
                }
            }
        }
        out.sort_unstable_by_key(|e| e.name);
        out
    }

    /// Live rows across all sets.
    pub fn total_rows(&self) -> usize {
        self.sets.values().map(|s| s.rows().len()).sum()
    }

    /// A fresh RecId for a created row.
    pub(crate) fn next_rec_id(&self) -> u64 {
        self.next_rec_id.fetch_add(1, Ordering::Relaxed)
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
