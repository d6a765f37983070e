//! Which calls change data that already exists: what a client is asked to
//! confirm before it runs (the edge's `confirm` module), and what a tenant
//! whose policy says `writes = "refuse"` may not run.
//!
//! An update or a delete changes a record someone may rely on; a batch that
//! holds one of them (or a create) changes several at once; an action or a
//! JSON service call runs business logic whose effects no argument shows. A
//! create overwrites nothing (an existing key is a conflict), so it is not
//! asked about on its own. Reads never are.

use serde_json::{Map, Value};

use super::{ToolSpec, names};

/// Whether calling `tool` with `arguments` asks the client to confirm.
pub fn asks_confirmation(tool: &ToolSpec, arguments: &Map<String, Value>) -> bool {
    match tool.name {
        names::UPDATE_ENTITY_RECORD
        | names::DELETE_ENTITY_RECORD
        | names::CALL_ACTION
        | names::CALL_JSON_SERVICE => true,
        // A batch of gets changes nothing; anything else in it (or a list
        // that cannot be read, which the worker will refuse) is asked about.
        names::EXECUTE_BATCH => match arguments.get("operations") {
            Some(Value::Array(operations)) => operations
                .iter()
                .any(|op| op.get("op").and_then(Value::as_str) != Some("get")),
            _ => true,
        },
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::catalogue::{find, tools};

    fn asks(name: &str, arguments: Value) -> bool {
        let Value::Object(arguments) = arguments else {
            panic!("arguments must be an object")
        };
        asks_confirmation(find(name).unwrap(), &arguments)
    }

    #[test]
    fn changes_to_existing_data_are_asked_about_and_reads_and_creates_are_not() {
        assert!(asks(names::UPDATE_ENTITY_RECORD, json!({})));
        assert!(asks(names::DELETE_ENTITY_RECORD, json!({})));
        assert!(asks(names::CALL_ACTION, json!({})));
        assert!(asks(names::CALL_JSON_SERVICE, json!({})));
        assert!(!asks(names::CREATE_ENTITY_RECORD, json!({})));
        let gets = json!({"operations": [{"op": "get"}, {"op": "get"}]});
        assert!(!asks(names::EXECUTE_BATCH, gets));
        let mixed = json!({"operations": [{"op": "get"}, {"op": "create"}]});
        assert!(asks(names::EXECUTE_BATCH, mixed));
        assert!(asks(names::EXECUTE_BATCH, json!({"operations": "x"})));
        for tool in tools().iter().filter(|t| t.effects.read_only) {
            assert!(!asks_confirmation(tool, &Map::new()), "{}", tool.name);
        }
    }
}
