//! [`Tx`]: applying creates, updates and deletes, singly or as an atomic
//! changeset.
//!
//! A single write validates first (reading other sets under their own read
//! locks, one at a time) and only then takes its set's write lock, so it
//! never holds two locks. A changeset takes every set's write lock up front
//! in [`Dataset::names`] order and keeps an undo log; a failed operation
//! rolls back everything before it.

use axum::http::StatusCode;
use parking_lot::RwLockWriteGuard;
use serde_json::{Map, Value as Json};

use super::write::{
    COMPANIES_SET, DELETE_EXCEPTION, Mode, WRITE_EXCEPTION, company_problem, missing_mandatory,
    row_values, write_failed,
};
use super::{Dataset, EntitySet, Row, Table, Value};
use crate::SimError;

/// One write.
#[derive(Debug)]
pub enum Op<'b> {
    /// POST to the set.
    Create(&'b Map<String, Json>),
    /// PATCH (`Mode::Merge`) or PUT (`Mode::Replace`) of the row at `key`.
    Update {
        /// Key values in key order.
        key: Vec<Value>,
        /// The body.
        body: &'b Map<String, Json>,
        /// Merge or replace.
        mode: Mode,
        /// The `If-Match` header, if sent.
        if_match: Option<&'b str>,
    },
    /// DELETE of the row at `key`.
    Delete {
        /// Key values in key order.
        key: Vec<Value>,
        /// The `If-Match` header, if sent.
        if_match: Option<&'b str>,
    },
}

/// What a successful write did.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The created row.
    Created(Row),
    /// The row was updated; its new version.
    Updated(Row),
    /// The row was deleted.
    Deleted,
}

enum Undo {
    Insert(u32),
    Replace(u32, Row),
    Remove(u32, Row),
}

/// A unit of work over the data set.
pub struct Tx<'a> {
    data: &'a Dataset,
    locks: Vec<(&'static str, RwLockWriteGuard<'a, Table>)>,
    whole: bool,
    undo: Vec<(&'static str, Undo)>,
}

impl<'a> Tx<'a> {
    /// A transaction for one write: locks lazily, one set at most.
    pub fn single(data: &'a Dataset) -> Self {
        Self {
            data,
            locks: Vec::new(),
            whole: false,
            undo: Vec::new(),
        }
    }

    /// A changeset: every set write-locked, in lock order, until dropped.
    pub fn changeset(data: &'a Dataset) -> Self {
        let locks = data
            .names()
            .iter()
            .filter_map(|&n| data.get(n).map(|s| (n, s.rows_mut())))
            .collect();
        Self {
            data,
            locks,
            whole: true,
            undo: Vec::new(),
        }
    }

    fn held(&self, name: &str) -> Option<&Table> {
        self.locks
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, g)| &**g)
    }

    fn table_mut(&mut self, set: &'a EntitySet) -> &mut Table {
        if !self.locks.iter().any(|(n, _)| *n == set.name) {
            self.locks.push((set.name, set.rows_mut()));
        }
        let at = self.locks.iter().position(|(n, _)| *n == set.name);
        // Just pushed if absent, so `at` is always found.
        let at = at.unwrap_or(self.locks.len().saturating_sub(1));
        &mut self.locks[at].1
    }

    fn snapshot(&self, set: &EntitySet, key: &[Value]) -> Option<Row> {
        match self.held(set.name) {
            Some(t) => t.lookup(key).cloned(),
            None => set.rows().lookup(key).cloned(),
        }
    }

    fn exists(&self, target: &EntitySet, fields: &[usize], values: &[&Value]) -> bool {
        let found = |t: &Table| {
            if fields == target.keys.as_slice() {
                let key: Vec<Value> = values.iter().map(|v| (*v).clone()).collect();
                t.lookup(&key).is_some()
            } else {
                !t.matching(fields, values).is_empty()
            }
        };
        match self.held(target.name) {
            Some(t) => found(t),
            None if self.whole => false,
            None => found(&target.rows()),
        }
    }

    /// Applies `op` to `set`; `company` is the default for creates.
    pub fn apply(
        &mut self,
        set: &'a EntitySet,
        op: Op<'_>,
        company: &str,
    ) -> Result<Outcome, SimError> {
        match op {
            Op::Create(body) => {
                let values = row_values(set, body, None, Mode::Create, company)?;
                self.validate(set, &values)?;
                let row = Row {
                    values,
                    rec_id: self.data.next_rec_id(),
                    version: 1,
                };
                match self.table_mut(set).insert(row.clone()) {
                    Ok(id) => {
                        self.undo.push((set.name, Undo::Insert(id)));
                        Ok(Outcome::Created(row))
                    }
                    Err(row) => Err(duplicate(set, &row)),
                }
            }
            Op::Update {
                key,
                body,
                mode,
                if_match,
            } => {
                let snap = self.snapshot(set, &key).ok_or_else(|| not_found("edit"))?;
                check_etag(set, &snap, if_match)?;
                let values = row_values(set, body, Some(&snap.values), mode, company)?;
                self.validate(set, &values)?;
                let table = self.table_mut(set);
                let id = table.id_of(&key).ok_or_else(|| not_found("edit"))?;
                if table.get(id).map(|r| r.version) != Some(snap.version) {
                    return Err(conflict(set));
                }
                let row = Row {
                    values,
                    rec_id: snap.rec_id,
                    version: snap.version.wrapping_add(1),
                };
                let old = table
                    .replace(id, row.clone())
                    .ok_or_else(|| not_found("edit"))?;
                self.undo.push((set.name, Undo::Replace(id, old)));
                Ok(Outcome::Updated(row))
            }
            Op::Delete { key, if_match } => {
                let table = self.table_mut(set);
                let id = table.id_of(&key).ok_or_else(|| not_found("delete"))?;
                if let Some(row) = table.get(id) {
                    check_etag(set, row, if_match)?;
                }
                let old = table.remove(id).ok_or_else(|| not_found("delete"))?;
                self.undo.push((set.name, Undo::Remove(id, old)));
                Ok(Outcome::Deleted)
            }
        }
    }

    fn validate(&self, set: &EntitySet, values: &[Value]) -> Result<(), SimError> {
        let mut infolog = missing_mandatory(set, values);
        let companies = self.data.get(COMPANIES_SET);
        infolog.extend(company_problem(set, values, |id| {
            companies.is_some_and(|c| self.exists(c, &c.keys, &[id]))
        }));
        for fk in set.foreign_keys() {
            let Some(target) = self.data.get(fk.target) else {
                continue;
            };
            let ours: Vec<&Value> = fk
                .fields
                .iter()
                .filter_map(|(o, _)| set.field_index(o).and_then(|i| values.get(i)))
                .collect();
            let theirs: Vec<usize> = fk
                .fields
                .iter()
                .filter_map(|(_, t)| target.field_index(t))
                .collect();
            // An empty reference is "no relation"; mandatory checks catch it if needed.
            let Some(Value::Str(shown)) = ours.last().copied() else {
                continue;
            };
            if shown.is_empty() || ours.len() != fk.fields.len() {
                continue;
            }
            if !self.exists(target, &theirs, &ours) {
                let field = fk.fields.last().map_or("", |(o, _)| *o);
                infolog.push(format!(
                    "The value '{shown}' in field '{field}' is not found in the relating table '{}'.",
                    target.label
                ));
            }
        }
        if infolog.is_empty() {
            Ok(())
        } else {
            Err(write_failed(set, &infolog))
        }
    }

    /// Undoes every applied operation, newest first.
    pub fn rollback(mut self) {
        while let Some((name, undo)) = self.undo.pop() {
            let Some(set) = self.data.get(name) else {
                continue;
            };
            let table = self.table_mut(set);
            match undo {
                Undo::Insert(id) => {
                    table.remove(id);
                }
                Undo::Replace(id, row) => {
                    table.replace(id, row);
                }
                Undo::Remove(id, row) => table.restore(id, row),
            }
        }
    }
}

/// Whether `if_match` (absent, `*`, or a list of ETags) admits `row`.
fn check_etag(set: &EntitySet, row: &Row, if_match: Option<&str>) -> Result<(), SimError> {
    let Some(header) = if_match.map(str::trim).filter(|h| !h.is_empty()) else {
        return Ok(());
    };
    let current = row.etag();
    let bare = |t: &str| t.trim().trim_start_matches("W/").to_owned();
    if header == "*" || header.split(',').any(|t| bare(t) == bare(&current)) {
        Ok(())
    } else {
        Err(conflict(set))
    }
}

/// 412: the row changed since the client read it.
fn conflict(set: &EntitySet) -> SimError {
    SimError::App {
        status: StatusCode::PRECONDITION_FAILED,
        message: "An error has occurred.".to_owned(),
        inner: format!(
            "Cannot edit a record in {} ({}). An update conflict occurred due to another user process deleting the record or changing one or more fields in the record.",
            set.label, set.aot_name
        ),
        kind: "Microsoft.Dynamics.Ax.Xpp.UpdateConflictException",
    }
}

/// 400: an update or delete named a key that matches no row (or a row of
/// another company, without `cross-company=true`). The words are D365FO's
/// OData layer's, recorded from real environments and matched by other
/// D365FO clients (hotglue's `target-dynamics-finance` skips a record on a
/// 400 with this text); that they sit in `innererror.message` under the
/// generic outer message, and that a delete gets the same words, is a
/// guess.
pub(crate) fn not_found(verb: &str) -> SimError {
    SimError::App {
        status: StatusCode::BAD_REQUEST,
        message: "An error has occurred.".to_owned(),
        inner: "No resources were found when selecting for update.".to_owned(),
        kind: if verb == "delete" {
            DELETE_EXCEPTION
        } else {
            WRITE_EXCEPTION
        },
    }
}

fn duplicate(set: &EntitySet, row: &Row) -> SimError {
    let (names, values): (Vec<&str>, Vec<String>) = set
        .keys
        .iter()
        .filter_map(|&k| {
            let mut v = String::new();
            row.values.get(k)?.write_text(&mut v);
            Some((set.fields.get(k)?.name, v))
        })
        .unzip();
    write_failed(
        set,
        &[format!(
            "Cannot create a record in {} ({}). {}: {}. The record already exists.",
            set.label,
            set.aot_name,
            names.join(", "),
            values.join(", ")
        )],
    )
}
