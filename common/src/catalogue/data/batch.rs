//! The batch tool: several reads and writes in one OData `$batch`.

use serde_json::json;

use super::{
    MAX_BATCH_OPERATIONS, cross_company, entity_set, expand, fields, if_match, key, names, select,
};
use crate::catalogue::{Effects, Group, ToolSpec, input};

/// A batch may delete and overwrite, and holds creates, so repeating it may
/// create twice.
const BATCH: Effects = Effects {
    read_only: false,
    destructive: true,
    idempotent: false,
    open_world: true,
};

/// `d365fo_execute_batch`.
pub(super) fn spec() -> ToolSpec {
    ToolSpec {
        group: Group::Data,
        name: names::EXECUTE_BATCH,
        title: "Run several D365FO operations in one batch",
        description: "Runs up to 100 reads and writes of D365FO records in one OData $batch \
            request. Each item of `operations` has `op` (`get`, `create`, `update` or \
            `delete`) and the same arguments as d365fo_get_entity_record, \
            d365fo_create_entity_record, d365fo_update_entity_record and \
            d365fo_delete_entity_record. Writes that share a `changeset` label, and stand next \
            to each other, are atomic: if one fails, none of them is applied. A get cannot be \
            in a changeset. Inside a changeset, `key_ref` (the index of an earlier create of \
            the same changeset) targets the record that create makes, instead of `key`. \
            Example: `[{\"op\": \"create\", \"entity_set\": \"CustomerGroups\", \"fields\": \
            {\"CustomerGroupId\": \"80\", \"Description\": \"Export\"}, \"changeset\": \"a\"}, \
            {\"op\": \"create\", \"entity_set\": \"CustomersV3\", \"fields\": \
            {\"CustomerAccount\": \"US-901\", \"CustomerGroupId\": \"80\"}, \"changeset\": \
            \"a\"}, {\"op\": \"get\", \"entity_set\": \"CustomersV3\", \"key\": \
            {\"dataAreaId\": \"usmf\", \"CustomerAccount\": \"US-001\"}}]`. Returns one \
            result per operation, in order, each with `ok`, the HTTP `status` and the record \
            or the `error`; operations rolled back with their changeset say `rolled_back`.",
        input_schema: input(
            json!({
                "operations": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": MAX_BATCH_OPERATIONS,
                    "items": {
                        "type": "object",
                        "properties": {
                            "op": { "type": "string", "enum": ["get", "create", "update", "delete"] },
                            "entity_set": entity_set(),
                            "key": key(),
                            "key_ref": {
                                "type": "integer",
                                "minimum": 0,
                                "description": "Index in `operations` of an earlier create in the same changeset; this update or delete targets the record it creates. Instead of `key`."
                            },
                            "fields": fields(),
                            "select": select(),
                            "expand": expand(),
                            "if_match": if_match(),
                            "cross_company": cross_company(),
                            "changeset": {
                                "type": "string",
                                "minLength": 1,
                                "description": "Label of an atomic group of writes, e.g. \"a\": adjacent writes with the same label are applied all or nothing."
                            }
                        },
                        "required": ["op", "entity_set"],
                        "additionalProperties": false
                    },
                    "description": "The operations, run in this order."
                }
            }),
            &["operations"],
        ),
        output_schema: Some(json!({
            "type": "object",
            "properties": {
                "operations": { "type": "integer" },
                "succeeded": { "type": "integer" },
                "failed": { "type": "integer" },
                "results": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "index": { "type": "integer" },
                            "op": { "type": "string" },
                            "entity_set": { "type": "string" },
                            "changeset": { "type": "string" },
                            "ok": { "type": "boolean" },
                            "status": { "type": "integer" },
                            "key": { "type": "object" },
                            "etag": { "type": "string" },
                            "record": { "type": "object" },
                            "rolled_back": { "type": "boolean" },
                            "record_omitted": { "type": "boolean" },
                            "error": {
                                "type": "object",
                                "properties": {
                                    "code": { "type": "string" },
                                    "message": { "type": "string" }
                                },
                                "required": ["code", "message"]
                            },
                            "note": { "type": "string" }
                        },
                        "required": ["index", "op", "entity_set", "ok"]
                    }
                },
                "note": { "type": "string" }
            },
            "required": ["operations", "succeeded", "failed", "results"]
        })),
        effects: BATCH,
    }
}
