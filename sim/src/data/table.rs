//! [`Table`]: the mutable rows of one entity set and their indexes.
//!
//! Rows live in a `Vec` addressed by a stable row id. A delete leaves a
//! tombstone instead of shifting the vector, so ids held by the key index,
//! the child indexes and a changeset's undo log stay valid; new rows are
//! appended, which keeps collection reads in RecId order as D365FO returns
//! them. Each row holds its typed values once: JSON is rendered on demand,
//! which costs about a microsecond a row and keeps memory proportional to
//! the data at a million rows.

use std::collections::HashMap;

use super::Value;

/// One row of an entity set.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Field values, in the order of the set's fields.
    pub values: Vec<Value>,
    /// The row's RecId (the second half of its ETag).
    pub rec_id: u64,
    /// Bumped by every update, so the ETag changes with it.
    pub version: u32,
}

impl Row {
    /// The weak ETag, e.g. `W/"JzEsNTYzNzE0NDU3Nic="`.
    pub fn etag(&self) -> String {
        super::weak_etag(self.version, self.rec_id)
    }
}

/// Rows grouped by the values of some fields: the reverse side of a
/// one-to-many navigation (order lines by company and order number).
#[derive(Debug, Default)]
struct ChildIndex {
    fields: Vec<usize>,
    map: HashMap<Box<str>, Vec<u32>>,
}

/// How rows are found by the values of some fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// One hash lookup in the key index.
    Key,
    /// One hash lookup in a child index.
    Child,
    /// A pass over every row.
    Scan,
}

/// The rows of one entity set, with a key index and child indexes.
#[derive(Debug, Default)]
pub struct Table {
    keys: Vec<usize>,
    rows: Vec<Option<Row>>,
    index: HashMap<Box<str>, u32>,
    children: Vec<ChildIndex>,
    live: usize,
}

impl Table {
    pub(crate) fn new(keys: Vec<usize>, capacity: usize) -> Self {
        Self {
            keys,
            rows: Vec::with_capacity(capacity),
            index: HashMap::with_capacity(capacity),
            children: Vec::new(),
            live: 0,
        }
    }

    /// Starts maintaining a child index over `fields` (no-op if present).
    pub(crate) fn add_child_index(&mut self, fields: Vec<usize>) {
        if self.access(&fields) != Access::Scan {
            return;
        }
        let mut child = ChildIndex {
            fields,
            map: HashMap::new(),
        };
        for (id, row) in self.rows.iter().enumerate() {
            if let Some(row) = row {
                let key = index_key(child.fields.iter().map(|&f| field(row, f)));
                child.map.entry(key).or_default().push(id as u32);
            }
        }
        self.children.push(child);
    }

    /// Live rows, in insertion (RecId) order.
    pub fn iter(&self) -> impl Iterator<Item = &Row> {
        self.rows.iter().flatten()
    }

    /// Number of live rows.
    pub fn len(&self) -> usize {
        self.live
    }

    /// Whether the table has no live rows.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// The row whose key equals `key` (values in key order). Strings
    /// compare case-insensitively, as D365FO's SQL collation does.
    pub fn lookup(&self, key: &[Value]) -> Option<&Row> {
        self.get(self.id_of(key)?)
    }

    /// How [`Table::matching`] finds rows by `fields`: the key index when
    /// they are the key (in any order), a child index over exactly these
    /// fields, else a scan of every row.
    pub fn access(&self, fields: &[usize]) -> Access {
        if self.key_order(fields).is_some() {
            Access::Key
        } else if self.children.iter().any(|c| c.fields == fields) {
            Access::Child
        } else {
            Access::Scan
        }
    }

    /// Rows whose `fields` equal `values` (case-insensitively), in RecId
    /// order, found as [`Table::access`] says.
    pub fn matching<'a>(&'a self, fields: &[usize], values: &[&Value]) -> Vec<&'a Row> {
        if let Some(order) = self.key_order(fields) {
            let key = index_key(
                order
                    .iter()
                    .map(|&p| values.get(p).copied().unwrap_or(&Value::Null)),
            );
            return self
                .index
                .get(&key)
                .and_then(|&id| self.get(id))
                .into_iter()
                .collect();
        }
        let key = index_key(values.iter().copied());
        if let Some(child) = self.children.iter().find(|c| c.fields == fields) {
            return child
                .map
                .get(&key)
                .map(|ids| ids.iter().filter_map(|&id| self.get(id)).collect())
                .unwrap_or_default();
        }
        self.iter()
            .filter(|r| index_key(fields.iter().map(|&f| field(r, f))) == key)
            .collect()
    }

    /// Where each key field sits in `fields`, in key order, if `fields` is
    /// the key in some order.
    fn key_order(&self, fields: &[usize]) -> Option<Vec<usize>> {
        if fields.len() != self.keys.len() || fields.is_empty() {
            return None;
        }
        self.keys
            .iter()
            .map(|k| fields.iter().position(|f| f == k))
            .collect()
    }

    pub(crate) fn id_of(&self, key: &[Value]) -> Option<u32> {
        self.index.get(&index_key(key.iter())).copied()
    }

    pub(crate) fn get(&self, id: u32) -> Option<&Row> {
        self.rows.get(id as usize).and_then(Option::as_ref)
    }

    fn key_of(&self, row: &Row) -> Box<str> {
        index_key(self.keys.iter().map(|&k| field(row, k)))
    }

    /// Appends `row`; gives it back if its key is taken.
    pub(crate) fn insert(&mut self, row: Row) -> Result<u32, Row> {
        let key = self.key_of(&row);
        if self.index.contains_key(&key) {
            return Err(row);
        }
        let id = self.rows.len() as u32;
        self.index.insert(key, id);
        self.link_children(id, &row);
        self.rows.push(Some(row));
        self.live += 1;
        Ok(id)
    }

    /// Replaces the row at `id` (same key), returning the old one.
    pub(crate) fn replace(&mut self, id: u32, row: Row) -> Option<Row> {
        let old = self.rows.get_mut(id as usize)?.take()?;
        self.unlink_children(id, &old);
        self.link_children(id, &row);
        if let Some(slot) = self.rows.get_mut(id as usize) {
            *slot = Some(row);
        }
        Some(old)
    }

    /// Deletes the row at `id`, returning it.
    pub(crate) fn remove(&mut self, id: u32) -> Option<Row> {
        let old = self.rows.get_mut(id as usize)?.take()?;
        let key = self.key_of(&old);
        self.index.remove(&key);
        self.unlink_children(id, &old);
        self.live -= 1;
        Some(old)
    }

    /// Puts a removed row back at its old id (undo of a delete).
    pub(crate) fn restore(&mut self, id: u32, row: Row) {
        let Some(slot) = self.rows.get_mut(id as usize) else {
            return;
        };
        if slot.is_some() {
            return;
        }
        let key = index_key(self.keys.iter().map(|&k| field(&row, k)));
        self.index.insert(key, id);
        self.link_children(id, &row);
        if let Some(slot) = self.rows.get_mut(id as usize) {
            *slot = Some(row);
        }
        self.live += 1;
    }

    fn link_children(&mut self, id: u32, row: &Row) {
        for child in &mut self.children {
            let key = index_key(child.fields.iter().map(|&f| field(row, f)));
            let ids = child.map.entry(key).or_default();
            // Sorted by row id, i.e. RecId order, however often a row is
            // re-linked by an update or a rollback.
            if let Err(at) = ids.binary_search(&id) {
                ids.insert(at, id);
            }
        }
    }

    fn unlink_children(&mut self, id: u32, row: &Row) {
        for child in &mut self.children {
            let key = index_key(child.fields.iter().map(|&f| field(row, f)));
            if let Some(ids) = child.map.get_mut(&key) {
                if let Ok(at) = ids.binary_search(&id) {
                    ids.remove(at);
                }
                if ids.is_empty() {
                    child.map.remove(&key);
                }
            }
        }
    }
}

fn field(row: &Row, i: usize) -> &Value {
    row.values.get(i).unwrap_or(&Value::Null)
}

/// The index form of a key: values joined by U+001F, strings lowered.
pub(crate) fn index_key<'a>(values: impl Iterator<Item = &'a Value>) -> Box<str> {
    let mut out = String::new();
    for (i, v) in values.enumerate() {
        if i > 0 {
            out.push('\u{1f}');
        }
        v.write_key(&mut out);
    }
    out.into_boxed_str()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(company: &str, id: &str, parent: &str) -> Row {
        Row {
            values: vec![
                Value::Str(company.into()),
                Value::Str(id.into()),
                Value::Str(parent.into()),
            ],
            rec_id: 1,
            version: 1,
        }
    }

    #[test]
    fn insert_lookup_remove_restore_keep_indexes_in_step() {
        let mut t = Table::new(vec![0, 1], 4);
        t.add_child_index(vec![0, 2]);
        let a = t.insert(row("usmf", "L1", "S1")).unwrap();
        t.insert(row("usmf", "L2", "S1")).unwrap();
        assert!(
            t.insert(row("USMF", "l1", "S9")).is_err(),
            "keys ignore case"
        );
        let s1 = [&Value::Str("USMF".into()), &Value::Str("s1".into())];
        assert_eq!(t.matching(&[0, 2], &s1).len(), 2);
        let old = t.remove(a).unwrap();
        assert_eq!(t.len(), 1);
        assert_eq!(t.matching(&[0, 2], &s1).len(), 1);
        assert!(t.lookup(&old.values[..2]).is_none());
        t.restore(a, old.clone());
        assert_eq!(t.lookup(&old.values[..2]), Some(&old));
        let moved = t.replace(a, row("usmf", "L1", "S2")).unwrap();
        assert_eq!(moved, old);
        assert_eq!(t.matching(&[0, 2], &s1).len(), 1);
        assert_eq!(t.iter().count(), 2);
    }

    #[test]
    fn key_fields_in_any_order_use_the_key_index() {
        let mut t = Table::new(vec![0, 1], 4);
        t.insert(row("usmf", "L1", "S1")).unwrap();
        t.insert(row("usmf", "L2", "S1")).unwrap();
        assert_eq!(t.access(&[0, 1]), Access::Key);
        assert_eq!(t.access(&[1, 0]), Access::Key);
        assert_eq!(t.access(&[0, 2]), Access::Scan);
        let (company, id) = (Value::Str("USMF".into()), Value::Str("l2".into()));
        let found = t.matching(&[1, 0], &[&id, &company]);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].values[1], Value::Str("L2".into()));
        assert!(t.matching(&[0, 1], &[&company, &company]).is_empty());
        t.add_child_index(vec![1, 0]);
        assert_eq!(t.children.len(), 0, "the key needs no child index");
        t.add_child_index(vec![0, 2]);
        assert_eq!(t.access(&[0, 2]), Access::Child);
    }

    #[test]
    fn child_lists_stay_in_row_order_through_updates_and_restores() {
        let mut t = Table::new(vec![0, 1], 4);
        t.add_child_index(vec![0, 2]);
        let ids: Vec<u32> = ["L1", "L2", "L3"]
            .iter()
            .map(|l| t.insert(row("usmf", l, "S1")).unwrap())
            .collect();
        let s1 = [&Value::Str("usmf".into()), &Value::Str("S1".into())];
        let lines = |t: &Table| -> Vec<Value> {
            t.matching(&[0, 2], &s1)
                .iter()
                .map(|r| r.values[1].clone())
                .collect()
        };
        let before = lines(&t);
        t.replace(ids[0], row("usmf", "L1", "S1")).unwrap();
        assert_eq!(lines(&t), before, "an update keeps the line's place");
        let old = t.remove(ids[1]).unwrap();
        t.restore(ids[1], old);
        assert_eq!(lines(&t), before, "a restored line goes back to its place");
    }
}
