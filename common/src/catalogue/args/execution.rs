//! Readers of the execution tools' arguments, in the style of
//! [`super::de`]: each names its field and shows what it expected, so a
//! model can correct the call from the message alone. Names that end up in
//! a URL path (actions, entity sets, services) must be plain identifiers;
//! nothing a caller sends can change the shape of the request.

use serde::{Deserialize, Deserializer, de::Error as _};
use serde_json::{Map, Value};

use super::{data::Key, de::expected};
use crate::odata;

/// The namespace D365FO puts before action names, which callers may copy.
pub const ACTION_NAMESPACE: &str = "Microsoft.Dynamics.DataEntities.";

/// Longest `document_id` accepted; D365FO's ids are far shorter.
const MAX_VALUE: usize = 1000;

/// A plain identifier, or `None` for null.
fn name<'de, D: Deserializer<'de>>(
    d: D,
    field: &str,
    example: &str,
) -> Result<Option<String>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        Value::String(s) => {
            odata::check_identifier(&format!("`{field}`"), &s).map_err(D::Error::custom)?;
            Ok(Some(s))
        }
        other => Err(expected(
            field,
            &format!("a name such as \"{example}\""),
            &other,
        )),
    }
}

/// A required identifier: null is as wrong as any other non-string.
fn required<'de, D: Deserializer<'de>>(
    d: D,
    field: &str,
    example: &str,
) -> Result<String, D::Error> {
    name(d, field, example)?.ok_or_else(|| expected(field, "a string", &Value::Null))
}

/// `action`: an action name, with or without D365FO's namespace.
pub fn action<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let raw = match Value::deserialize(d)? {
        Value::String(s) => s,
        other => {
            return Err(expected(
                "action",
                "an action name such as \"GetApplicationVersion\"",
                &other,
            ));
        }
    };
    let bare = raw.strip_prefix(ACTION_NAMESPACE).unwrap_or(&raw);
    odata::check_identifier("`action`", bare).map_err(D::Error::custom)?;
    Ok(bare.to_owned())
}

/// `entity_set`, optional.
pub fn entity_set<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    name(d, "entity_set", "DataManagementEntities")
}

/// `key`, optional: a record's key, as the data tools read it (its fields,
/// and the untyped predicate the worker types by the metadata).
pub fn key<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Key>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        map @ Value::Object(_) => Key::from_value("key", map)
            .map(Some)
            .map_err(D::Error::custom),
        other => Err(expected(
            "key",
            "an object such as {\"dataAreaId\": \"usmf\", \"CustomerAccount\": \"US-001\"}",
            &other,
        )),
    }
}

/// `parameters`: a JSON object; absent or null is no parameters.
pub fn parameters<'de, D: Deserializer<'de>>(d: D) -> Result<Map<String, Value>, D::Error> {
    object(d, "parameters")
}

/// `report_parameters`: a JSON object; absent or null is none.
pub fn report_parameters<'de, D: Deserializer<'de>>(d: D) -> Result<Map<String, Value>, D::Error> {
    object(d, "report_parameters")
}

fn object<'de, D: Deserializer<'de>>(d: D, field: &str) -> Result<Map<String, Value>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(Map::new()),
        Value::Object(map) => Ok(map),
        other => Err(expected(
            field,
            "an object of parameter name to value, such as {\"CompanyId\": \"DEMF\"}",
            &other,
        )),
    }
}

/// `service_group`, required.
pub fn service_group<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    required(d, "service_group", "UserSessionService")
}

/// `service`, required.
pub fn service<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    required(d, "service", "AifUserSessionService")
}

/// `operation`, required.
pub fn operation<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    required(d, "operation", "GetUserSessionInfo")
}

/// `service_group`, optional (discovery).
pub fn opt_service_group<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    name(d, "service_group", "UserSessionService")
}

/// `service`, optional (discovery).
pub fn opt_service<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    name(d, "service", "AifUserSessionService")
}

/// `operation`, optional (discovery).
pub fn opt_operation<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    name(d, "operation", "GetUserSessionInfo")
}

/// `controller`: a report controller class.
pub fn controller<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    required(d, "controller", "SalesInvoiceController")
}

/// `legal_entity`: a company id.
pub fn legal_entity<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    required(d, "legal_entity", "USMF")
}

/// `data_table`: the table holding the document.
pub fn data_table<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    required(d, "data_table", "CustInvoiceJour")
}

/// `data_field`: the field identifying the document.
pub fn data_field<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    required(d, "data_field", "InvoiceId")
}

/// `contract`, optional: a data contract class.
pub fn contract<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    name(d, "contract", "SrsCopilotArgsContract")
}

/// `document_id`: any non-blank text of reasonable length. It travels inside
/// a JSON string, never in a URL, so it needs no stricter check.
pub fn document_id<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match Value::deserialize(d)? {
        Value::String(s) if !s.trim().is_empty() && s.chars().count() <= MAX_VALUE => Ok(s),
        other => Err(expected(
            "document_id",
            "a non-empty string of at most 1000 characters, such as \"CIV-000708\"",
            &other,
        )),
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Sample {
        #[serde(deserialize_with = "action")]
        action: String,
        #[serde(default, deserialize_with = "entity_set")]
        entity_set: Option<String>,
        #[serde(default, deserialize_with = "key")]
        key: Option<Key>,
        #[serde(default, deserialize_with = "parameters")]
        parameters: Map<String, Value>,
        #[serde(default, deserialize_with = "document_id")]
        document_id: String,
    }

    fn read(v: Value) -> Result<Sample, String> {
        serde_json::from_value(v).map_err(|e| e.to_string())
    }

    #[test]
    fn good_fields() {
        let s = read(json!({
            "action": "Microsoft.Dynamics.DataEntities.PrintAccountStatement",
            "entity_set": "CustomersV3",
            "key": {"dataAreaId": "usmf", "CustomerAccount": "US 1"},
            "parameters": {"FromDate": "2024-01-01T00:00:00Z"},
            "document_id": "CIV-1"
        }))
        .unwrap();
        assert_eq!(s.action, "PrintAccountStatement");
        assert_eq!(s.entity_set.as_deref(), Some("CustomersV3"));
        assert_eq!(
            s.key.map(|k| k.predicate).as_deref(),
            Some("(CustomerAccount='US%201',dataAreaId='usmf')")
        );
        assert_eq!(s.parameters.len(), 1);
        assert_eq!(s.document_id, "CIV-1");
        let none = read(json!({"action": "A", "entity_set": null, "parameters": null})).unwrap();
        assert!(none.entity_set.is_none() && none.parameters.is_empty());
    }

    #[test]
    fn messages_name_the_field_and_the_expectation() {
        let err = |v| read(v).unwrap_err();
        assert!(err(json!({"action": 5})).contains("`action` must be an action name"));
        assert!(err(json!({"action": "Get/../X"})).contains("`action` must be a plain name"));
        assert!(
            err(json!({"action": "Microsoft.Dynamics.DataEntities."}))
                .contains("`action` must be a plain name")
        );
        assert!(
            err(json!({"action": "A", "entity_set": 1})).contains("`entity_set` must be a name")
        );
        assert!(err(json!({"action": "A", "key": "US-001"})).contains("`key` must be an object"));
        assert!(err(json!({"action": "A", "key": {}})).contains("at least one key field"));
        assert!(
            err(json!({"action": "A", "parameters": [1]}))
                .contains("`parameters` must be an object of parameter name to value")
        );
        assert!(err(json!({"action": "A", "document_id": " "})).contains("non-empty string"));
        let long = "x".repeat(1001);
        assert!(err(json!({"action": "A", "document_id": long})).contains("at most 1000"));
    }
}
