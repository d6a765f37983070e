//! The batch tool: several reads and writes in one OData `$batch`.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{
    CROSS_COMPANY, ENTITY_SET, EXPAND, FIELDS, IF_MATCH, KEY, MAX_BATCH_OPERATIONS, MAX_EXPAND,
    SELECT, names,
};
use crate::catalogue::args::{
    data::{self as data_de, ExpandEntry, Key},
    de,
};
use crate::catalogue::{Effects, Group, ToolSpec, input};
use crate::odata::ExpandItem;

/// Arguments of `d365fo_execute_batch`. Each operation is read on its own
/// (`op` first, then [`OpArgs`]), so an error names the operation.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchArgs {
    /// The operations, run in this order.
    #[serde(deserialize_with = "data_de::operations")]
    #[schemars(
        with = "Vec<Operation>",
        length(min = 1, max = MAX_BATCH_OPERATIONS)
    )]
    pub operations: Vec<Value>,
}

/// What one batch operation does: its `op`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    /// Read one record by key.
    Get,
    /// Create one record.
    Create,
    /// Change fields of one record.
    Update,
    /// Delete one record.
    Delete,
}

impl OpKind {
    /// Every kind, in the order the schema lists them.
    pub const ALL: [Self; 4] = [Self::Get, Self::Create, Self::Update, Self::Delete];

    /// The `op` name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "get",
            Self::Create => "create",
            Self::Update => "update",
            Self::Delete => "delete",
        }
    }

    /// The kind called `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// `op`: the name of one of [`OpKind::ALL`].
impl JsonSchema for OpKind {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "OpKind".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string", "enum": Self::ALL.map(Self::as_str) })
    }
}

// One item of `operations`, for the schema only: `op` and that op's
// arguments. The planner reads `op` first, then `OpArgs`.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Operation {
    op: OpKind,
    #[serde(flatten)]
    args: OpArgs,
}

/// An operation's arguments besides `op`; which of them each `op` takes
/// is the batch planner's check.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
// Flattened into an item of `operations`, whose schema has no description.
#[schemars(description = "")]
pub struct OpArgs {
    /// The record's entity set.
    #[serde(deserialize_with = "de::entity_set")]
    #[schemars(length(min = 1), description = ENTITY_SET)]
    pub entity_set: String,
    /// The record's key (get, update, delete).
    #[serde(default)]
    #[schemars(description = KEY)]
    pub key: Option<Key>,
    /// Index in `operations` of an earlier create in the same changeset;
    /// this update or delete targets the record it creates. Instead of `key`.
    #[serde(default, deserialize_with = "data_de::key_ref")]
    pub key_ref: Option<usize>,
    /// Fields of a create or update.
    #[serde(default, deserialize_with = "data_de::opt_fields")]
    #[schemars(extend("minProperties" = 1), description = FIELDS)]
    pub fields: Option<Map<String, Value>>,
    /// `$select` of a get.
    #[serde(default, deserialize_with = "de::select")]
    #[schemars(description = SELECT)]
    pub select: Vec<String>,
    /// `$expand` of a get.
    #[serde(default, deserialize_with = "data_de::expand")]
    #[schemars(with = "Vec<ExpandEntry>", length(max = MAX_EXPAND), description = EXPAND)]
    pub expand: Vec<ExpandItem>,
    /// `If-Match` of an update or delete.
    #[serde(default, deserialize_with = "data_de::if_match")]
    #[schemars(length(min = 1), description = IF_MATCH)]
    pub if_match: Option<String>,
    /// `cross-company=true`.
    #[serde(default, deserialize_with = "de::cross_company")]
    #[schemars(description = CROSS_COMPANY)]
    pub cross_company: bool,
    /// Label of an atomic group of writes, e.g. "a": adjacent writes with
    /// the same label are applied all or nothing.
    #[serde(default, deserialize_with = "data_de::changeset")]
    #[schemars(length(min = 1))]
    pub changeset: Option<String>,
}

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
        input_schema: input::<BatchArgs>(),
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
        examples: &[
            r#"{"operations": [{"op": "create", "entity_set": "CustomerGroups", "fields": {"CustomerGroupId": "80", "Description": "Export"}, "changeset": "a"}, {"op": "create", "entity_set": "CustomersV3", "fields": {"CustomerAccount": "US-901", "CustomerGroupId": "80"}, "changeset": "a"}, {"op": "get", "entity_set": "CustomersV3", "key": {"dataAreaId": "usmf", "CustomerAccount": "US-001"}}]}"#,
        ],
        effects: BATCH,
    }
}
