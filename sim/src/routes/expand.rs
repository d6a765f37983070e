//! `$expand` at run time: binding items to navigation properties, taking
//! the read locks a response needs in lock order, and writing expanded
//! rows inside their parent.

use parking_lot::RwLockReadGuard;

use crate::SimError;
use crate::data::{Dataset, EntitySet, Navigation, Row, Table, Value};
use crate::odata::expand::ExpandItem;
use crate::odata::query::bind_select;

/// One `$expand` item resolved against the schema.
pub(super) struct Bound<'a> {
    pub nav: &'static Navigation,
    pub target: &'a EntitySet,
    pub select: Option<Vec<usize>>,
    /// The parent's joined fields, in constraint order.
    ours: Vec<usize>,
    /// The target's joined fields, in constraint order.
    theirs: Vec<usize>,
}

/// Resolves `items` on `set`; an unknown name is Microsoft.OData.Core's 400.
pub(super) fn bind<'a>(
    data: &'a Dataset,
    set: &EntitySet,
    items: &[ExpandItem],
) -> Result<Vec<Bound<'a>>, SimError> {
    let mut out = Vec::new();
    for item in items {
        let navs: Vec<&'static Navigation> = if item.name == "*" {
            set.navigations().iter().collect()
        } else {
            match set.navigation(&item.name) {
                Some(nav) => vec![nav],
                None if set.field_index(&item.name).is_some() => {
                    return Err(SimError::InvalidQuery(format!(
                        "Property '{}' on type '{}' is not a navigation property or complex property. Only navigation properties can be expanded.",
                        item.name, set.type_name
                    )));
                }
                None => {
                    return Err(SimError::InvalidQuery(format!(
                        "Could not find a property named '{}' on type '{}'.",
                        item.name, set.type_name
                    )));
                }
            }
        };
        for nav in navs {
            let Some(target) = data.get(nav.target) else {
                continue;
            };
            let select = bind_select(target, item.select.as_deref())?;
            let ours = nav
                .constraints
                .iter()
                .filter_map(|(o, _)| set.field_index(o))
                .collect();
            let theirs = nav
                .constraints
                .iter()
                .filter_map(|(_, t)| target.field_index(t))
                .collect();
            out.push(Bound {
                nav,
                target,
                select,
                ours,
                theirs,
            });
        }
    }
    Ok(out)
}

/// Read guards on several tables, taken in [`Dataset::names`] order so a
/// reader never waits on a lock while holding one a changeset needs first.
pub(super) struct Locked<'a> {
    guards: Vec<(&'static str, RwLockReadGuard<'a, Table>)>,
}

impl<'a> Locked<'a> {
    pub fn new(data: &'a Dataset, wanted: &[&str]) -> Self {
        let guards = data
            .names()
            .iter()
            .filter(|n| wanted.contains(n))
            .filter_map(|&n| data.get(n).map(|s| (n, s.rows())))
            .collect();
        Self { guards }
    }

    pub fn get(&self, name: &str) -> Option<&Table> {
        self.guards
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, g)| &**g)
    }
}

/// The sets a response over `set` with `expand` reads.
pub(super) fn tables_for<'s>(set: &'s EntitySet, expand: &[Bound<'_>]) -> Vec<&'s str> {
    let mut names = vec![set.name];
    names.extend(expand.iter().map(|b| b.nav.target));
    names
}

/// Appends `,"Nav":[…]` (or `{…}` / `null`) for each expanded property of `row`.
pub(super) fn write_expanded(
    out: &mut String,
    row: &Row,
    expand: &[Bound<'_>],
    locked: &Locked<'_>,
) {
    for b in expand {
        let Some(table) = locked.get(b.nav.target) else {
            continue;
        };
        let values: Vec<&Value> = b
            .ours
            .iter()
            .map(|&i| row.values.get(i).unwrap_or(&Value::Null))
            .collect();
        let related = table.matching(&b.theirs, &values);
        out.push(',');
        crate::json::push_str(out, b.nav.name);
        out.push(':');
        if b.nav.collection {
            out.push('[');
            for (n, r) in related.iter().enumerate() {
                if n > 0 {
                    out.push(',');
                }
                out.push('{');
                b.target.write_row_json(out, r, b.select.as_deref());
                out.push('}');
            }
            out.push(']');
        } else {
            match related.first() {
                Some(r) => {
                    out.push('{');
                    b.target.write_row_json(out, r, b.select.as_deref());
                    out.push('}');
                }
                None => out.push_str("null"),
            }
        }
    }
}

/// The `(…)` suffix of `@odata.context` for a projection and expansion,
/// e.g. `(SalesOrderNumber,SalesOrderLines(ItemNumber,LineAmount))`.
pub(super) fn context_suffix(
    set: &EntitySet,
    select: Option<&[usize]>,
    expand: &[Bound<'_>],
) -> String {
    let names = |s: &EntitySet, sel: &[usize]| -> Vec<&'static str> {
        sel.iter()
            .filter_map(|&i| s.fields.get(i).map(|f| f.name))
            .collect()
    };
    let mut parts: Vec<String> = select
        .map(|sel| names(set, sel).into_iter().map(str::to_owned).collect())
        .unwrap_or_default();
    for b in expand {
        match &b.select {
            Some(sel) => parts.push(format!(
                "{}({})",
                b.nav.name,
                names(b.target, sel).join(",")
            )),
            None if select.is_some() => parts.push(b.nav.name.to_owned()),
            None => {}
        }
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("({})", parts.join(","))
    }
}
