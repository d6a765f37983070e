//! The batch tool: several reads and writes in one OData `$batch`.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{MAX_BATCH_OPERATIONS, MAX_EXPAND, names};
use crate::catalogue::args::{
    data::{self as data_de, ExpandEntry, Key},
    de,
};
use crate::catalogue::{Effects, Group, ToolSpec, input, output};
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
// Flattened into an item of `operations`, whose schema has no description;
// the fields the single-record tools describe are not described again.
#[schemars(description = "")]
pub struct OpArgs {
    /// The record's entity set.
    #[serde(deserialize_with = "de::entity_set")]
    #[schemars(length(min = 1), description = "")]
    pub entity_set: String,
    /// The record's key (get, update, delete).
    #[serde(default)]
    #[schemars(description = "")]
    pub key: Option<Key>,
    /// Index of an earlier create in this changeset, instead of `key`.
    #[serde(default, deserialize_with = "data_de::key_ref")]
    pub key_ref: Option<usize>,
    /// Fields of a create or update.
    #[serde(default, deserialize_with = "data_de::opt_fields")]
    #[schemars(extend("minProperties" = 1), description = "")]
    pub fields: Option<Map<String, Value>>,
    /// `$select` of a get.
    #[serde(default, deserialize_with = "de::select")]
    #[schemars(description = "")]
    pub select: Vec<String>,
    /// `$expand` of a get.
    #[serde(default, deserialize_with = "data_de::expand")]
    #[schemars(with = "Vec<ExpandEntry>", length(max = MAX_EXPAND), description = "")]
    pub expand: Vec<ExpandItem>,
    /// `If-Match` of an update or delete.
    #[serde(default, deserialize_with = "data_de::if_match")]
    #[schemars(length(min = 1), description = "")]
    pub if_match: Option<String>,
    /// `cross-company=true`.
    #[serde(default, deserialize_with = "de::cross_company")]
    #[schemars(description = "")]
    pub cross_company: bool,
    /// Label of an all-or-nothing group of adjacent writes, e.g. "a".
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

/// The result of `d365fo_execute_batch`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct BatchResult {
    // How many operations the batch held.
    pub operations: usize,
    // How many succeeded.
    pub succeeded: usize,
    // How many failed or were rolled back.
    pub failed: usize,
    // One result per operation, in order.
    pub results: Vec<OpResult>,
    // How many records were left out for the result's size, when any were.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

// The result of one operation of a batch.
#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct OpResult {
    // The operation's index in `operations`.
    pub index: usize,
    // `get`, `create`, `update` or `delete`.
    pub op: String,
    // The operation's entity set.
    pub entity_set: String,
    // The operation's `changeset` label, when it had one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changeset: Option<String>,
    // Whether it succeeded.
    pub ok: bool,
    // The HTTP status D365FO answered it with, when it answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    // The key of the record a create made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<Map<String, Value>>,
    // The record's @odata.etag after the operation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    // The record, when D365FO sent it back.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<Map<String, Value>>")]
    pub record: Option<Value>,
    // True when it was not applied because its changeset failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rolled_back: Option<bool>,
    // True when the record was left out for the result's size; `note`
    // says how to read it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record_omitted: Option<bool>,
    // Why it failed, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<BatchError>,
    // What else to know: a body that was not JSON, a record left out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

// Why one operation of a batch failed.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct BatchError {
    // The error code, as a failed tool call's.
    pub code: String,
    // What went wrong and what to do.
    pub message: String,
}

/// `d365fo_execute_batch`.
pub(super) fn spec() -> ToolSpec {
    ToolSpec {
        group: Group::Data,
        name: names::EXECUTE_BATCH,
        title: "Run a batch of operations",
        description: "Runs up to 100 gets, creates, updates and deletes in one OData $batch. Each \
            operation has `op` and the arguments of the single-record tool. Adjacent writes \
            with the same `changeset` label are all-or-nothing. Returns one result per \
            operation, in order.",
        input_schema: input::<BatchArgs>(),
        output_schema: Some(output::<BatchResult>()),
        examples: &[
            r#"{"operations": [{"op": "create", "entity_set": "CustomerGroups", "fields": {"CustomerGroupId": "80", "Description": "Export"}, "changeset": "a"}, {"op": "create", "entity_set": "CustomersV3", "fields": {"CustomerAccount": "US-901", "CustomerGroupId": "80"}, "changeset": "a"}, {"op": "get", "entity_set": "CustomersV3", "key": {"dataAreaId": "usmf", "CustomerAccount": "US-001"}}]}"#,
        ],
        effects: BATCH,
    }
}
