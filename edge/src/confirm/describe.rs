//! What a confirmation shows its user: the change a call would make, in
//! words — the entity, the record's key (its company), the fields and
//! their new values, the operation or action — bounded in length whatever
//! the arguments hold.

use common::catalogue::{ToolSpec, names};
use serde_json::{Map, Value};

/// Longest message shown.
const MAX_MESSAGE: usize = 2_000;
/// Longest value repeated.
const MAX_VALUE: usize = 80;
/// Most fields, parameters or batch operations spelled out.
const MAX_ITEMS: usize = 12;

/// The question a user is asked before `tool` runs with `arguments`.
pub fn question(tool: &ToolSpec, arguments: &Map<String, Value>) -> String {
    let text = |name: &str| arguments.get(name).map(value).unwrap_or_default();
    let set = text("entity_set");
    let record = record(arguments);
    let what = match tool.name {
        names::UPDATE_ENTITY_RECORD => format!(
            "Update {set} record {record}: set {}",
            pairs(arguments.get("fields"))
        ),
        names::DELETE_ENTITY_RECORD => format!("Delete {set} record {record}"),
        names::EXECUTE_BATCH => batch(arguments.get("operations")),
        names::CALL_ACTION => {
            let target = match (set.is_empty(), arguments.contains_key("key")) {
                (true, _) => String::new(),
                (false, false) => format!(" on {set}"),
                (false, true) => format!(" on {set} record {record}"),
            };
            format!(
                "Run the action {}{target} with {}",
                text("action"),
                pairs(arguments.get("parameters"))
            )
        }
        names::CALL_JSON_SERVICE => format!(
            "Call the service operation {}/{}/{} with {}",
            text("service_group"),
            text("service"),
            text("operation"),
            pairs(arguments.get("parameters"))
        ),
        other => format!("Run {other}"),
    };
    let place = match arguments.get("environment").and_then(Value::as_str) {
        Some(environment) => format!(" in environment {}", clip(environment)),
        None => " in the default environment".to_owned(),
    };
    let mut message = format!("{what}{place}. Apply this change to D365FO?");
    if message.len() > MAX_MESSAGE {
        let mut end = MAX_MESSAGE;
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        message.truncate(end);
        message.push('…');
    }
    message
}

/// A record's key, with where its company comes from.
fn record(arguments: &Map<String, Value>) -> String {
    let key = pairs(arguments.get("key"));
    let cross = arguments.get("cross_company") == Some(&Value::Bool(true));
    if cross {
        format!("{{{key}}} (any company)")
    } else {
        format!("{{{key}}}")
    }
}

/// `name = value, …` of an object, bounded; `nothing` for none.
fn pairs(object: Option<&Value>) -> String {
    let Some(Value::Object(members)) = object else {
        return "nothing".to_owned();
    };
    if members.is_empty() {
        return "nothing".to_owned();
    }
    let mut out: Vec<String> = members
        .iter()
        .take(MAX_ITEMS)
        .map(|(name, v)| format!("{} = {}", clip(name), value(v)))
        .collect();
    if members.len() > MAX_ITEMS {
        out.push(format!("and {} more", members.len() - MAX_ITEMS));
    }
    out.join(", ")
}

/// The writes of a batch, one phrase each.
fn batch(operations: Option<&Value>) -> String {
    let Some(Value::Array(operations)) = operations else {
        return "Run a batch".to_owned();
    };
    let mut phrases: Vec<String> = operations
        .iter()
        .filter(|op| op.get("op").and_then(Value::as_str) != Some("get"))
        .take(MAX_ITEMS)
        .map(|op| {
            let field = |name: &str| op.get(name).map(value).unwrap_or_default();
            let key = match op.get("key_ref") {
                Some(index) => format!("made by operation {}", value(index)),
                None => format!("{{{}}}", pairs(op.get("key"))),
            };
            match op.get("op").and_then(Value::as_str) {
                Some("create") => format!(
                    "create {} with {}",
                    field("entity_set"),
                    pairs(op.get("fields"))
                ),
                Some("update") => format!(
                    "update {} record {key}: set {}",
                    field("entity_set"),
                    pairs(op.get("fields"))
                ),
                Some("delete") => format!("delete {} record {key}", field("entity_set")),
                _ => format!("{} {}", field("op"), field("entity_set")),
            }
        })
        .collect();
    let writes = operations
        .iter()
        .filter(|op| op.get("op").and_then(Value::as_str) != Some("get"))
        .count();
    if writes > MAX_ITEMS {
        phrases.push(format!("and {} more", writes - MAX_ITEMS));
    }
    format!(
        "Run a batch of {} operations: {}",
        operations.len(),
        phrases.join("; ")
    )
}

/// A JSON value as a user reads it: strings bare, the rest as JSON; clipped.
fn value(v: &Value) -> String {
    match v {
        Value::String(s) => clip(s),
        other => clip(&other.to_string()),
    }
}

fn clip(text: &str) -> String {
    match text.char_indices().nth(MAX_VALUE) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use common::catalogue::find;
    use serde_json::json;

    use super::*;

    fn ask(name: &str, arguments: Value) -> String {
        let Value::Object(arguments) = arguments else {
            panic!("an object")
        };
        question(find(name).unwrap(), &arguments)
    }

    #[test]
    fn the_question_names_entity_key_company_and_fields() {
        let update = ask(
            names::UPDATE_ENTITY_RECORD,
            json!({"entity_set": "CustomersV3", "environment": "contoso",
                   "key": {"dataAreaId": "usmf", "CustomerAccount": "US-001"},
                   "fields": {"CreditLimit": 25000}}),
        );
        assert_eq!(
            update,
            "Update CustomersV3 record {CustomerAccount = US-001, dataAreaId = usmf}: set \
             CreditLimit = 25000 in environment contoso. Apply this change to D365FO?"
        );
        let delete = ask(
            names::DELETE_ENTITY_RECORD,
            json!({"entity_set": "CustomersV3", "cross_company": true,
                   "key": {"dataAreaId": "demf", "CustomerAccount": "DE-1"}}),
        );
        assert!(
            delete
                .contains("Delete CustomersV3 record {CustomerAccount = DE-1, dataAreaId = demf}")
        );
        assert!(delete.contains("(any company) in the default environment"));
        let batch = ask(
            names::EXECUTE_BATCH,
            json!({"operations": [
                {"op": "get", "entity_set": "CustomersV3", "key": {"a": 1}},
                {"op": "create", "entity_set": "CustomerGroups", "fields": {"CustomerGroupId": "80"}},
                {"op": "delete", "entity_set": "CustomersV3", "key_ref": 1}
            ]}),
        );
        assert!(batch.starts_with("Run a batch of 3 operations: create CustomerGroups with CustomerGroupId = 80; delete CustomersV3 record made by operation 1"), "{batch}");
        let action = ask(
            names::CALL_ACTION,
            json!({"action": "Post", "entity_set": "SalesOrderHeadersV2",
                   "key": {"SalesOrderNumber": "1"}, "parameters": {"Date": "2025-01-01"}}),
        );
        assert!(action.starts_with("Run the action Post on SalesOrderHeadersV2 record {SalesOrderNumber = 1} with Date = 2025-01-01"), "{action}");
        let service = ask(
            names::CALL_JSON_SERVICE,
            json!({"service_group": "G", "service": "S", "operation": "O"}),
        );
        assert!(service.starts_with("Call the service operation G/S/O with nothing"));
    }

    #[test]
    fn the_question_is_bounded_whatever_the_arguments() {
        let fields: Map<String, Value> = (0..1000)
            .map(|i| (format!("Field{i}"), json!("x".repeat(10_000))))
            .collect();
        let update = ask(
            names::UPDATE_ENTITY_RECORD,
            json!({"entity_set": "S".repeat(10_000), "key": {"k": "v"}, "fields": fields}),
        );
        assert!(
            update.len() <= MAX_MESSAGE + '…'.len_utf8(),
            "{}",
            update.len()
        );
        let ops: Vec<Value> = (0..100)
            .map(|_| json!({"op": "delete", "entity_set": "X", "key": {"k": 1}}))
            .collect();
        let batch = ask(names::EXECUTE_BATCH, json!({ "operations": ops }));
        assert!(batch.contains("and 88 more"), "{batch}");
    }
}
