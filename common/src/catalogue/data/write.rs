//! The write tools: create, update and delete one record.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{CROSS_COMPANY, ENTITY_SET, FIELDS, IF_MATCH, KEY, names};
use crate::catalogue::args::{
    data::{self as data_de, Key},
    de,
};
use crate::catalogue::{Effects, Group, ToolSpec, input, output};

/// Arguments of `d365fo_create_entity_record`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateArgs {
    /// The entity set to add the record to.
    #[serde(deserialize_with = "de::entity_set")]
    #[schemars(length(min = 1), description = ENTITY_SET)]
    pub entity_set: String,
    /// The new record's fields, key fields included.
    #[serde(deserialize_with = "data_de::fields")]
    #[schemars(extend("minProperties" = 1), description = FIELDS)]
    pub fields: Map<String, Value>,
}

/// Arguments of `d365fo_update_entity_record`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateArgs {
    /// The record's entity set.
    #[serde(deserialize_with = "de::entity_set")]
    #[schemars(length(min = 1), description = ENTITY_SET)]
    pub entity_set: String,
    /// The record's key.
    #[schemars(description = KEY)]
    pub key: Key,
    /// The fields to change and their new values.
    #[serde(deserialize_with = "data_de::fields")]
    #[schemars(extend("minProperties" = 1), description = FIELDS)]
    pub fields: Map<String, Value>,
    /// The ETag the record must still have.
    #[serde(default, deserialize_with = "data_de::if_match")]
    #[schemars(length(min = 1), description = IF_MATCH)]
    pub if_match: Option<String>,
    /// Whether the record belongs to another company than the default one.
    #[serde(default, deserialize_with = "de::cross_company")]
    #[schemars(description = CROSS_COMPANY)]
    pub cross_company: bool,
}

/// Arguments of `d365fo_delete_entity_record`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteArgs {
    /// The record's entity set.
    #[serde(deserialize_with = "de::entity_set")]
    #[schemars(length(min = 1), description = ENTITY_SET)]
    pub entity_set: String,
    /// The record's key.
    #[schemars(description = KEY)]
    pub key: Key,
    /// The ETag the record must still have.
    #[serde(default, deserialize_with = "data_de::if_match")]
    #[schemars(length(min = 1), description = IF_MATCH)]
    pub if_match: Option<String>,
    /// Whether the record belongs to another company than the default one.
    #[serde(default, deserialize_with = "de::cross_company")]
    #[schemars(description = CROSS_COMPANY)]
    pub cross_company: bool,
}

/// A create adds a record and overwrites nothing; a second identical call
/// fails on the duplicate key or adds a second record (number sequences).
const CREATE: Effects = Effects {
    read_only: false,
    destructive: false,
    idempotent: false,
    open_world: true,
};

/// An update overwrites fields; sending the same fields again leaves the
/// same state.
const UPDATE: Effects = Effects {
    read_only: false,
    destructive: true,
    idempotent: true,
    open_world: true,
};

/// A delete removes a record; deleting it again changes nothing more.
const DELETE: Effects = Effects {
    read_only: false,
    destructive: true,
    idempotent: true,
    open_world: true,
};

/// The result of a create or an update: the record's key, its new ETag,
/// the record.
#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct WriteResult {
    // The entity set written.
    pub entity_set: String,
    /// The record's key, for later reads and writes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<Map<String, Value>>,
    /// The record's new @odata.etag, for `if_match` of a later write.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    // The record as D365FO stored it, when it sent it back.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<Map<String, Value>>")]
    pub record: Option<Value>,
    /// True when the record D365FO sent back was too large to return;
    /// `note` says how to read it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record_omitted: Option<bool>,
    // Why the record is not here, and how to read it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The result of `d365fo_delete_entity_record`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct DeleteResult {
    // The entity set written.
    pub entity_set: String,
    // The deleted record's key.
    pub key: Map<String, Value>,
    // Always true: the record was deleted.
    pub deleted: bool,
}

/// This file's tools, in listing order.
pub(super) fn specs() -> Vec<ToolSpec> {
    vec![
        ToolSpec {
            group: Group::Data,
            name: names::CREATE_ENTITY_RECORD,
            title: "Create a record",
            description: "Creates one record from `fields`, key fields included (`dataAreaId` picks the\
                company). Returns it with its `key` and `etag`. Not idempotent: if the outcome is\
                unknown, read before creating again.",
            input_schema: input::<CreateArgs>(),
            output_schema: Some(output::<WriteResult>()),
            examples: &[
                r#"{"entity_set": "CustomersV3", "fields": {"dataAreaId": "usmf", "CustomerAccount": "US-900", "OrganizationName": "Contoso Retail", "CustomerGroupId": "10"}}"#,
            ],
            effects: CREATE,
        },
        ToolSpec {
            group: Group::Data,
            name: names::UPDATE_ENTITY_RECORD,
            title: "Update a record",
            description: "Changes the given `fields` of one record (not its key). Returns the new `etag`.",
            input_schema: input::<UpdateArgs>(),
            output_schema: Some(output::<WriteResult>()),
            examples: &[
                r#"{"entity_set": "CustomersV3", "key": {"dataAreaId": "usmf", "CustomerAccount": "US-001"}, "fields": {"CreditLimit": 25000, "OnHoldStatus": "No"}, "if_match": "W/\"JzEsNTYzNzE0NDU3Nic=\""}"#,
            ],
            effects: UPDATE,
        },
        ToolSpec {
            group: Group::Data,
            name: names::DELETE_ENTITY_RECORD,
            title: "Delete a record",
            description: "Deletes one record.",
            input_schema: input::<DeleteArgs>(),
            output_schema: Some(output::<DeleteResult>()),
            examples: &[
                r#"{"entity_set": "CustomersV3", "key": {"dataAreaId": "usmf", "CustomerAccount": "US-900"}}"#,
            ],
            effects: DELETE,
        },
    ]
}
