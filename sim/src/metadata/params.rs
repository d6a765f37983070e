//! Checking an action's JSON body against its parameters, the way
//! Microsoft.OData.Core's parameter reader does: D365FO passes that
//! reader's messages through unchanged in its 400 responses.

use serde_json::{Map, Value as Json};

use super::operations::{ActionDef, Param};

/// Checks an action's JSON body against its parameters and returns them.
/// The error is Microsoft.OData.Core's message for the first problem.
pub fn bind_args(def: &ActionDef, body: &[u8]) -> Result<Map<String, Json>, String> {
    let args = if body.iter().all(u8::is_ascii_whitespace) {
        Map::new()
    } else {
        match serde_json::from_slice::<Json>(body) {
            Ok(Json::Object(map)) => map,
            Ok(Json::Array(_)) => {
                return Err("An unexpected 'StartArray' node was found when reading from the JSON reader. A 'StartObject' node was expected.".to_owned());
            }
            Ok(_) => {
                return Err("An unexpected 'PrimitiveValue' node was found when reading from the JSON reader. A 'StartObject' node was expected.".to_owned());
            }
            Err(e) => {
                return Err(format!("Invalid JSON. {e}"));
            }
        }
    };
    if let Some(unknown) = args
        .keys()
        .find(|k| !def.params.iter().any(|p| p.name == *k))
    {
        return Err(format!(
            "The parameter '{unknown}' in the request payload is not a valid parameter for the operation '{}'.",
            def.name
        ));
    }
    let missing: Vec<&str> = def
        .params
        .iter()
        .filter(|p| !p.nullable && !args.contains_key(p.name))
        .map(|p| p.name)
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "One or more parameters of the operation '{}' are missing from the request payload. The missing parameters are: {}.",
            def.name,
            missing.join(", ")
        ));
    }
    for param in def.params {
        if let Some(value) = args.get(param.name) {
            check_type(param, value)?;
        }
    }
    Ok(args)
}

fn check_type(param: &Param, value: &Json) -> Result<(), String> {
    let primitive = || {
        format!(
            "Cannot convert a primitive value to the expected type '{}'. See the inner exception for more details.",
            param.edm
        )
    };
    let ok = match (param.edm, value) {
        (_, Json::Null) => param.nullable,
        ("Edm.String", v) => v.is_string(),
        ("Edm.Boolean", v) => v.is_boolean(),
        ("Edm.Int32", v) => v.as_i64().is_some_and(|i| i32::try_from(i).is_ok()),
        ("Edm.Int64", v) => v.is_i64(),
        ("Edm.Decimal" | "Edm.Double", v) => v.is_number(),
        ("Edm.DateTimeOffset", Json::String(s)) => {
            if !is_date_time(s) {
                return Err(format!(
                    "Cannot convert the literal '{s}' to the expected type 'Edm.DateTimeOffset'."
                ));
            }
            true
        }
        _ => false,
    };
    if ok { Ok(()) } else { Err(primitive()) }
}

/// `YYYY-MM-DDThh:mm[:ss[.f]](Z|±hh:mm)` with every field in range, as
/// `Edm.DateTimeOffset` accepts.
pub fn is_date_time(s: &str) -> bool {
    crate::data::datetime::parse(s).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::operations::{Binding, find};

    fn report() -> &'static ActionDef {
        find("PrintAccountStatement", Binding::Instance("CustomersV3")).unwrap()
    }

    #[test]
    fn binds_valid_args_and_names_the_first_problem() {
        let ok = bind_args(
            report(),
            br#"{"FromDate":"2024-01-01T00:00:00Z","ToDate":"2024-12-31T00:00:00+01:00"}"#,
        );
        assert_eq!(ok.map(|m| m.len()), Ok(2));
        let e = bind_args(report(), br#"{"FromDate":"2024-01-01T00:00:00Z"}"#).unwrap_err();
        assert!(e.ends_with("The missing parameters are: ToDate."), "{e}");
        let e = bind_args(report(), br#"{"Nope":1}"#).unwrap_err();
        assert!(
            e.starts_with("The parameter 'Nope' in the request payload"),
            "{e}"
        );
        let e = bind_args(
            report(),
            br#"{"FromDate":"yesterday","ToDate":"2024-01-01T00:00Z"}"#,
        )
        .unwrap_err();
        assert!(e.contains("'yesterday'"), "{e}");
        let e = bind_args(report(), br#"{"FromDate":5,"ToDate":"2024-01-01T00:00Z"}"#).unwrap_err();
        assert!(e.contains("expected type 'Edm.DateTimeOffset'"), "{e}");
        assert!(bind_args(report(), b"[1]").is_err());
        assert!(bind_args(report(), b"{").is_err());
    }

    #[test]
    fn empty_body_is_no_arguments() {
        let def = find(
            "GetApplicationVersion",
            Binding::Set("DataManagementEntities"),
        )
        .unwrap();
        assert_eq!(bind_args(def, b"  ").map(|m| m.len()), Ok(0));
    }
}
