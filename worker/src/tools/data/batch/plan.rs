//! Reading `operations` into checked [`Operation`]s and grouping them into
//! `$batch` units: adjacent writes with one `changeset` label form an atomic
//! changeset; everything else stands alone.
//!
//! Every rule a batch must satisfy is checked here, before anything is
//! sent, so bad input changes nothing: the operation count, which arguments
//! each `op` takes, reads kept out of changesets, a label used for one run
//! of adjacent operations only, and `key_ref` pointing at an earlier create
//! of the same changeset and entity set.

use common::catalogue::args::{data::Key, describe};
use common::catalogue::data::OpArgs;
use serde_json::{Map, Value};

/// What an operation does (its `op`).
pub use common::catalogue::data::OpKind as Kind;

use crate::d365::batch::Unit;
use crate::d365::odata::{self, ExpandItem};

/// The record an operation works on.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// A new record (create).
    New,
    /// The record with this key.
    Key(Key),
    /// The record created by the operation at this index.
    Created(usize),
}

/// One checked operation.
#[derive(Debug, Clone, PartialEq)]
pub struct Operation {
    /// Its index in `operations`.
    pub index: usize,
    /// What it does.
    pub kind: Kind,
    /// The entity set.
    pub entity_set: String,
    /// The record.
    pub target: Target,
    /// Fields of a create or update.
    pub fields: Option<Map<String, Value>>,
    /// `$select` of a get.
    pub select: Vec<String>,
    /// `$expand` of a get.
    pub expand: Vec<ExpandItem>,
    /// `If-Match` of an update or delete.
    pub if_match: Option<String>,
    /// `cross-company=true`.
    pub cross_company: bool,
    /// The changeset label.
    pub changeset: Option<String>,
}

/// Reads `operations`; errors say which operation and what is wrong.
pub fn operations(values: Vec<Value>, max: usize) -> Result<Vec<Operation>, String> {
    if values.is_empty() {
        return Err("`operations` must hold at least one operation".into());
    }
    if values.len() > max {
        return Err(format!(
            "`operations` holds {} operations; at most {max} fit in one batch. Split them \
             into several calls",
            values.len()
        ));
    }
    let mut ops: Vec<Operation> = Vec::with_capacity(values.len());
    for (index, value) in values.into_iter().enumerate() {
        let op = operation(index, value, &ops).map_err(|e| format!("operations[{index}]: {e}"))?;
        ops.push(op);
    }
    Ok(ops)
}

fn operation(index: usize, value: Value, earlier: &[Operation]) -> Result<Operation, String> {
    let Value::Object(mut map) = value else {
        return Err(format!(
            "must be an object such as {{\"op\": \"get\", \"entity_set\": \"CustomersV3\", \
             \"key\": {{…}}}}, got {}",
            describe(&value)
        ));
    };
    let kind = match map.remove("op") {
        Some(Value::String(op)) => match Kind::from_name(&op) {
            Some(kind) => kind,
            None => return Err(bad_op(&Value::String(op))),
        },
        Some(other) => return Err(bad_op(&other)),
        None => return Err(bad_op(&Value::Null)),
    };
    let args: OpArgs = serde_json::from_value(Value::Object(map))
        .map_err(|e| format!("({}) {e}", kind.as_str()))?;
    let fail = |why: String| format!("({}) {why}", kind.as_str());
    let not_for = |present: bool, name: &str| {
        if present {
            Err(fail(format!(
                "`{name}` does not apply to a {}",
                kind.as_str()
            )))
        } else {
            Ok(())
        }
    };
    let writes = kind != Kind::Get;
    not_for(!writes && args.fields.is_some(), "fields")?;
    not_for(!writes && args.if_match.is_some(), "if_match")?;
    not_for(writes && !args.select.is_empty(), "select")?;
    not_for(writes && !args.expand.is_empty(), "expand")?;
    not_for(kind == Kind::Create && args.if_match.is_some(), "if_match")?;
    not_for(kind == Kind::Create && args.cross_company, "cross_company")?;
    not_for(kind == Kind::Delete && args.fields.is_some(), "fields")?;
    if kind == Kind::Get && args.changeset.is_some() {
        return Err(fail(
            "a get cannot be part of a changeset (D365FO runs only writes atomically); \
             remove its `changeset`"
                .into(),
        ));
    }
    if matches!(kind, Kind::Create | Kind::Update) && args.fields.is_none() {
        return Err(fail(
            "`fields` is required, e.g. {\"CreditLimit\": 5000}".into(),
        ));
    }
    let target = match (kind, args.key, args.key_ref) {
        (Kind::Create, None, None) => Target::New,
        (Kind::Create, _, _) => {
            return Err(fail(
                "a create takes its key fields in `fields`, not `key` or `key_ref`".into(),
            ));
        }
        (_, Some(_), Some(_)) => return Err(fail("give `key` or `key_ref`, not both".into())),
        (_, Some(key), None) => Target::Key(key),
        (Kind::Get, None, Some(_)) => {
            return Err(fail(
                "a get needs `key`; `key_ref` works inside changesets only".into(),
            ));
        }
        (_, None, Some(at)) => {
            check_ref(at, args.changeset.as_deref(), &args.entity_set, earlier).map_err(fail)?;
            Target::Created(at)
        }
        (_, None, None) => {
            return Err(fail(
                "`key` is required, e.g. {\"dataAreaId\": \"usmf\", \"CustomerAccount\": \"US-001\"}"
                    .into(),
            ));
        }
    };
    Ok(Operation {
        index,
        kind,
        entity_set: args.entity_set,
        target,
        fields: args.fields,
        select: args.select,
        expand: args.expand,
        if_match: args.if_match,
        cross_company: args.cross_company,
        changeset: args.changeset,
    })
}

fn bad_op(got: &Value) -> String {
    format!(
        "`op` must be \"get\", \"create\", \"update\" or \"delete\", got {}",
        describe(got)
    )
}

/// `key_ref` must name an earlier create of the same changeset and set.
fn check_ref(
    at: usize,
    changeset: Option<&str>,
    entity_set: &str,
    earlier: &[Operation],
) -> Result<(), String> {
    let Some(label) = changeset else {
        return Err("`key_ref` works inside a changeset only; add `changeset`".into());
    };
    let Some(created) = earlier.get(at).filter(|o| o.kind == Kind::Create) else {
        return Err(format!(
            "`key_ref` {at} must be the index of an earlier create of the same changeset"
        ));
    };
    if created.changeset.as_deref() != Some(label) {
        return Err(format!(
            "`key_ref` {at} names a create outside changeset {}",
            odata::quote(label)
        ));
    }
    if created.entity_set != entity_set {
        return Err(format!(
            "`key_ref` {at} created a record of `{}`, not of `{entity_set}`",
            created.entity_set
        ));
    }
    Ok(())
}

/// Groups `ops` into units of operation indices; a label may mark one run
/// of adjacent operations only.
pub fn units(ops: &[Operation]) -> Result<Vec<Unit<usize>>, String> {
    let mut units: Vec<Unit<usize>> = Vec::new();
    let mut closed: Vec<&str> = Vec::new();
    let mut open: Option<&str> = None;
    for op in ops {
        match op.changeset.as_deref() {
            None => {
                closed.extend(open.take());
                units.push(Unit::Single(op.index));
            }
            Some(label) if open == Some(label) => {
                if let Some(Unit::Changeset(members)) = units.last_mut() {
                    members.push(op.index);
                }
            }
            Some(label) => {
                if closed.contains(&label) {
                    return Err(format!(
                        "operations[{}]: changeset {} must be one run of adjacent operations; \
                         put its operations next to each other",
                        op.index,
                        odata::quote(label)
                    ));
                }
                closed.extend(open.replace(label));
                units.push(Unit::Changeset(vec![op.index]));
            }
        }
    }
    Ok(units)
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
