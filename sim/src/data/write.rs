//! Turning a JSON request body into a row, and the errors D365FO gives
//! when it cannot.
//!
//! Two layers fail differently in the real service, and the simulator
//! keeps them apart: the OData reader rejects unknown properties and values
//! of the wrong type before any X++ runs ("The request is invalid."), while
//! the entity's `validateWrite` rejects empty mandatory fields, dangling
//! foreign keys and duplicate keys ("Write failed for table row of type …",
//! with the Infolog lines).

use axum::http::StatusCode;
use serde_json::{Map, Value as Json};

use super::{EntitySet, FieldType, Value, datetime};
use crate::SimError;

/// .NET type of D365FO's write failures.
pub const WRITE_EXCEPTION: &str =
    "Microsoft.Dynamics.Platform.Integration.Services.OData.AxODataWriteException";
/// .NET type of D365FO's delete failures.
pub const DELETE_EXCEPTION: &str =
    "Microsoft.Dynamics.Platform.Integration.Services.OData.AxODataDeleteException";

/// How a body combines with the stored row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// POST: absent properties get their type's default.
    Create,
    /// PATCH: absent properties keep their stored value.
    Merge,
    /// PUT: absent properties are reset to their default.
    Replace,
}

/// A 400 from the OData reader, before any application code runs.
pub(crate) fn invalid_request(detail: String) -> SimError {
    SimError::App {
        status: StatusCode::BAD_REQUEST,
        message: "The request is invalid.".to_owned(),
        inner: format!("entity : {detail}"),
        kind: "",
    }
}

/// A 400 from the entity's write logic, with its Infolog lines.
pub(crate) fn write_failed(set: &EntitySet, infolog: &[String]) -> SimError {
    let lines: Vec<String> = infolog.iter().map(|l| format!("Warning: {l}")).collect();
    SimError::App {
        status: StatusCode::BAD_REQUEST,
        message: "An error has occurred.".to_owned(),
        inner: format!(
            "Write failed for table row of type '{}'. Infolog: {}.",
            set.aot_name,
            lines.join("; ")
        ),
        kind: WRITE_EXCEPTION,
    }
}

/// The value D365FO stores for a property nobody set.
pub fn default_value(ty: FieldType) -> Value {
    match ty {
        FieldType::String => Value::Str(String::new()),
        FieldType::Int32 | FieldType::Int64 => Value::Int(0),
        FieldType::Decimal => Value::Decimal(0.0),
        FieldType::Boolean => Value::Bool(false),
        // D365FO's "no date" is 1900-01-01, never null.
        FieldType::DateTime => Value::DateTime(datetime::NO_DATE_MS),
        FieldType::Enum(e) => Value::Str(e.members.first().copied().unwrap_or("").to_owned()),
    }
}

/// Parses `body` (a JSON object) into the values of a row of `set`.
///
/// `current` is the stored row for PATCH/PUT. Keys come from `key` (the
/// URL's, for updates) or the body (creates); `dataAreaId` falls back to
/// `company` and is stored lower-case.
pub fn row_values(
    set: &EntitySet,
    body: &Map<String, Json>,
    current: Option<&[Value]>,
    mode: Mode,
    company: &str,
) -> Result<Vec<Value>, SimError> {
    let mut values: Vec<Value> = match (mode, current) {
        (Mode::Merge, Some(cur)) => cur.to_vec(),
        _ => set.fields.iter().map(|f| default_value(f.ty)).collect(),
    };
    if let (Mode::Replace, Some(cur)) = (mode, current) {
        for &k in &set.keys {
            if let (Some(slot), Some(v)) = (values.get_mut(k), cur.get(k)) {
                *slot = v.clone();
            }
        }
    }
    if mode == Mode::Create
        && let Some(i) = set.company
        && let Some(slot) = values.get_mut(i)
    {
        *slot = Value::Str(company.to_lowercase());
    }
    for (name, json) in body {
        if name.starts_with('@') || name.contains("@odata.") {
            continue; // annotations such as @odata.etag or @odata.type
        }
        let i = set.field_index(name).ok_or_else(|| {
            invalid_request(format!(
                "The property '{name}' does not exist on type '{}'. Make sure to only use property names that are defined by the type or mark the type as open type.",
                set.type_name
            ))
        })?;
        let mut value = convert(set.fields[i].ty, json)?;
        if Some(i) == set.company
            && let Value::Str(s) = &mut value
        {
            *s = s.to_lowercase();
        }
        if mode != Mode::Create
            && set.keys.contains(&i)
            && let Some(cur) = current.and_then(|c| c.get(i))
            && cur.compare(&value) != Some(std::cmp::Ordering::Equal)
        {
            return Err(write_failed(
                set,
                &[format!(
                    "The key field '{name}' cannot be changed. Delete the record and create a new one instead"
                )],
            ));
        }
        if let Some(slot) = values.get_mut(i) {
            *slot = value;
        }
    }
    Ok(values)
}

/// The set companies live in: a row's `dataAreaId` must name one of them.
pub const COMPANIES_SET: &str = "LegalEntities";

/// The Infolog line for a row whose company is blank or names no legal
/// entity (`exists` looks one up, ignoring case); `None` when it is fine or
/// the set is not company-specific. Without the check a create with
/// `"dataAreaId": null` or `"nosuchco"` would store a row no company sees.
pub fn company_problem(
    set: &EntitySet,
    values: &[Value],
    exists: impl FnOnce(&Value) -> bool,
) -> Option<String> {
    let value = values.get(set.company?)?;
    match value {
        Value::Str(id) if !id.trim().is_empty() => {
            (!exists(value)).then(|| format!("Company '{id}' does not exist."))
        }
        _ => Some("Field 'dataAreaId' must be filled in.".to_owned()),
    }
}

/// The Infolog lines for keys and mandatory properties left empty.
pub fn missing_mandatory(set: &EntitySet, values: &[Value]) -> Vec<String> {
    let empty = |v: Option<&Value>| match v {
        None | Some(Value::Null) => true,
        Some(Value::Str(s)) => s.trim().is_empty(),
        _ => false,
    };
    set.keys
        .iter()
        .chain(&set.mandatory)
        .filter(|&&i| Some(i) != set.company && empty(values.get(i)))
        .filter_map(|&i| set.fields.get(i))
        .map(|f| format!("Field '{}' must be filled in.", f.name))
        .collect()
}

fn convert(ty: FieldType, json: &Json) -> Result<Value, SimError> {
    let mismatch = || {
        invalid_request(format!(
            "Cannot convert the literal '{}' to the expected type '{}'.",
            literal(json),
            ty.edm_name()
        ))
    };
    Ok(match (ty, json) {
        (_, Json::Null) => Value::Null,
        (FieldType::String, Json::String(s)) => Value::Str(s.clone()),
        (FieldType::Int32, _) => {
            let n = integer(json).ok_or_else(mismatch)?;
            i32::try_from(n).map_err(|_| mismatch())?;
            Value::Int(n)
        }
        (FieldType::Int64, _) => Value::Int(integer(json).ok_or_else(mismatch)?),
        (FieldType::Decimal, Json::Number(n)) => Value::Decimal(n.as_f64().ok_or_else(mismatch)?),
        // IEEE754Compatible=true clients send decimals as strings.
        (FieldType::Decimal, Json::String(s)) => {
            let d: f64 = s.trim().parse().map_err(|_| mismatch())?;
            if !d.is_finite() {
                return Err(mismatch());
            }
            Value::Decimal(d)
        }
        (FieldType::Boolean, Json::Bool(b)) => Value::Bool(*b),
        // Stored in UTC, in whole seconds, as D365FO's utcdatetime is.
        (FieldType::DateTime, Json::String(s)) => Value::DateTime(datetime::truncate_to_seconds(
            datetime::parse(s).ok_or_else(mismatch)?,
        )),
        (FieldType::Enum(e), Json::String(s)) => {
            let member = e
                .members
                .iter()
                .find(|m| m.eq_ignore_ascii_case(s))
                .ok_or_else(|| {
                    invalid_request(format!(
                        "The string '{s}' is not a valid enumeration type constant."
                    ))
                })?;
            Value::Str((*member).to_owned())
        }
        _ => return Err(mismatch()),
    })
}

fn integer(json: &Json) -> Option<i64> {
    match json {
        Json::Number(n) => n.as_i64(),
        Json::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn literal(json: &Json) -> String {
    match json {
        Json::String(s) => s.clone(),
        other => {
            let text = other.to_string();
            text.chars().take(100).collect()
        }
    }
}

#[cfg(test)]
#[path = "write_tests.rs"]
mod tests;
