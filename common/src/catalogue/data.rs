//! Data tools: query, read and write entity records, and `$batch`.
//!
//! Reads are here; writes in [`write`], the batch tool in [`batch`]. The
//! descriptions of the arguments every data tool shares (entity set, key,
//! fields, ETag) are written once below, so the tools describe them the
//! same way.

mod batch;
mod write;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use self::batch::{BatchArgs, BatchError, BatchResult, OpArgs, OpKind, OpResult};
pub use self::write::{CreateArgs, DeleteArgs, DeleteResult, UpdateArgs, WriteResult};
use super::args::{
    data::{self as data_de, ExpandEntry, Key},
    de,
};
use super::{Effects, Group, ToolSpec, input, output};
use crate::odata::ExpandItem;

/// Tool names of this group.
pub mod names {
    /// OData query on an entity set.
    pub const QUERY_ENTITIES: &str = "d365fo_query_entities";
    /// One record by key.
    pub const GET_ENTITY_RECORD: &str = "d365fo_get_entity_record";
    /// Creates one record.
    pub const CREATE_ENTITY_RECORD: &str = "d365fo_create_entity_record";
    /// Changes fields of one record by key.
    pub const UPDATE_ENTITY_RECORD: &str = "d365fo_update_entity_record";
    /// Deletes one record by key.
    pub const DELETE_ENTITY_RECORD: &str = "d365fo_delete_entity_record";
    /// Several reads and writes in one `$batch`.
    pub const EXECUTE_BATCH: &str = "d365fo_execute_batch";
}

pub use super::args::data::{MAX_BATCH_OPERATIONS, MAX_EXPAND};

/// This group's tools, in listing order.
pub fn specs() -> Vec<ToolSpec> {
    let mut specs = vec![query_entities(), get_entity_record()];
    specs.extend(write::specs());
    specs.push(batch::spec());
    specs
}

/// The description of `entity_set`, which every data tool takes.
const ENTITY_SET: &str = "Entity set name, e.g. CustomersV3 (case-sensitive).";

/// The description of `key`: an object of key field to value.
const KEY: &str =
    "Every key field, e.g. {\"dataAreaId\": \"usmf\", \"CustomerAccount\": \"US-001\"}.";

/// The description of `select`.
const SELECT: &str = "Fields to return; omit for all.";

/// The description of `expand`: navigation properties, one level, each
/// with an optional select.
const EXPAND: &str = "Navigation properties to include, one level: names or {name, select}.";

/// The description of `cross_company` of a keyed read or write.
const CROSS_COMPANY: &str = "True for a record outside the caller's default company.";

/// The description of `fields` of a create or update.
const FIELDS: &str =
    "Field values, e.g. {\"CreditLimit\": 5000}; enums by member name, dates as ISO 8601.";

/// The description of `if_match`: an ETag from an earlier read.
const IF_MATCH: &str = "`@odata.etag` of your last read; a conflict if the record changed since.";

/// Arguments of `d365fo_query_entities`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QueryArgs {
    /// The entity set to read.
    #[serde(deserialize_with = "de::entity_set")]
    #[schemars(length(min = 1), description = ENTITY_SET)]
    pub entity_set: String,
    /// OData $filter, e.g. "CustomerGroupId eq '10'".
    #[serde(default, deserialize_with = "de::filter")]
    pub filter: Option<String>,
    /// Fields to return; empty for all.
    #[serde(default, deserialize_with = "de::select")]
    #[schemars(description = SELECT)]
    pub select: Vec<String>,
    /// Related records to include.
    #[serde(default, deserialize_with = "data_de::expand")]
    #[schemars(with = "Vec<ExpandEntry>", length(max = MAX_EXPAND), description = EXPAND)]
    pub expand: Vec<ExpandItem>,
    /// OData $orderby, e.g. "CustomerAccount desc".
    #[serde(default, deserialize_with = "de::orderby")]
    pub orderby: Option<String>,
    /// Most rows (default 100; at most the server's `max_rows` per call).
    #[serde(default, deserialize_with = "de::top")]
    #[schemars(range(min = 1, max = de::MAX_TOP))]
    pub top: Option<usize>,
    /// Also return `total_count`, the number of matching rows.
    #[serde(default, deserialize_with = "de::count")]
    pub count: bool,
    /// Read every company, not only the default one.
    #[serde(default, deserialize_with = "de::cross_company")]
    pub cross_company: bool,
    /// `next_cursor` of the previous page; other arguments are then ignored.
    #[serde(default, deserialize_with = "de::cursor")]
    pub cursor: Option<String>,
}

/// Arguments of `d365fo_get_entity_record`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordArgs {
    /// The entity set to read.
    #[serde(deserialize_with = "de::entity_set")]
    #[schemars(length(min = 1), description = ENTITY_SET)]
    pub entity_set: String,
    /// The record's key.
    #[schemars(description = KEY)]
    pub key: Key,
    /// Fields to return; empty for all.
    #[serde(default, deserialize_with = "de::select")]
    #[schemars(description = SELECT)]
    pub select: Vec<String>,
    /// Related records to include.
    #[serde(default, deserialize_with = "data_de::expand")]
    #[schemars(with = "Vec<ExpandEntry>", length(max = MAX_EXPAND), description = EXPAND)]
    pub expand: Vec<ExpandItem>,
    /// Whether the record belongs to another company than the default one.
    #[serde(default, deserialize_with = "de::cross_company")]
    #[schemars(description = CROSS_COMPANY)]
    pub cross_company: bool,
}

/// The result of `d365fo_query_entities`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct QueryResult {
    // The entity set read.
    pub entity_set: String,
    // The rows, as D365FO sent them.
    #[schemars(with = "Vec<Map<String, Value>>")]
    pub rows: Vec<Value>,
    // How many rows `rows` holds.
    pub returned: usize,
    // How many rows match, when `count` asked for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_count: Option<u64>,
    // Whether more rows exist; `next_cursor` reads them.
    pub more: bool,
    // The `cursor` of the next call, when more rows exist.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
    // Why fewer rows came than asked for, when that was this server's
    // limit rather than the end of the rows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The result of `d365fo_get_entity_record`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct RecordResult {
    // The entity set read.
    pub entity_set: String,
    // The record, as D365FO sent it, with its `@odata.etag`.
    #[schemars(with = "Map<String, Value>")]
    pub record: Value,
}

fn query_entities() -> ToolSpec {
    ToolSpec {
        group: Group::Data,
        name: names::QUERY_ENTITIES,
        title: "Query entities",
        description: "Reads rows of an entity set with OData. In `filter`, strings are in single\
            quotes and enums `Microsoft.Dynamics.DataEntities.NoYes'Yes'`. Rows come from the\
            default company unless `cross_company`. Returns `rows`, and `next_cursor` while\
            `more`.",
        input_schema: input::<QueryArgs>(),
        output_schema: Some(output::<QueryResult>()),
        examples: &[
            r#"{"entity_set": "CustomersV3", "filter": "CustomerGroupId eq '10'", "select": ["CustomerAccount", "OrganizationName"], "top": 10}"#,
            r#"{"entity_set": "SalesOrderHeadersV2", "expand": [{"name": "SalesOrderLines", "select": ["ItemNumber", "OrderedSalesQuantity"]}], "cross_company": true, "count": true}"#,
        ],
        effects: Effects::READ,
    }
}

fn get_entity_record() -> ToolSpec {
    ToolSpec {
        group: Group::Data,
        name: names::GET_ENTITY_RECORD,
        title: "Get one record",
        description: "Reads one record by its full key, with its `@odata.etag` for `if_match`.",
        input_schema: input::<RecordArgs>(),
        output_schema: Some(output::<RecordResult>()),
        examples: &[
            r#"{"entity_set": "CustomersV3", "key": {"dataAreaId": "usmf", "CustomerAccount": "US-001"}}"#,
            r#"{"entity_set": "SalesOrderHeadersV2", "key": {"dataAreaId": "usmf", "SalesOrderNumber": "000001"}, "expand": ["SalesOrderLines"]}"#,
        ],
        effects: Effects::READ,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::catalogue::find;

    #[test]
    fn annotations_say_what_each_tool_does() {
        let effects = |name| find(name).map(|t| t.effects);
        let e = |read_only, destructive, idempotent| {
            Some(Effects {
                read_only,
                destructive,
                idempotent,
                open_world: true,
            })
        };
        assert_eq!(effects(names::QUERY_ENTITIES), e(true, false, true));
        assert_eq!(effects(names::GET_ENTITY_RECORD), e(true, false, true));
        assert_eq!(effects(names::CREATE_ENTITY_RECORD), e(false, false, false));
        assert_eq!(effects(names::UPDATE_ENTITY_RECORD), e(false, true, true));
        assert_eq!(effects(names::DELETE_ENTITY_RECORD), e(false, true, true));
        assert_eq!(effects(names::EXECUTE_BATCH), e(false, true, false));
    }

    #[test]
    fn every_data_tool_has_an_output_schema_and_examples() {
        for spec in specs() {
            assert!(spec.output_schema.is_some(), "{}", spec.name);
            assert!(!spec.examples.is_empty(), "{}", spec.name);
            assert_eq!(spec.group, Group::Data);
        }
        let query = find(names::QUERY_ENTITIES).map(|t| t.input_schema.clone());
        assert!(
            query.is_some_and(|s| s["properties"]["top"]["description"]
                .as_str()
                .is_some_and(|d| d.contains("`max_rows`"))),
            "the query tool says `top` is capped per call"
        );
        let batch = find(names::EXECUTE_BATCH).map(|t| t.input_schema.clone());
        assert_eq!(
            batch.map(|s| s["properties"]["operations"]["maxItems"].clone()),
            Some(json!(MAX_BATCH_OPERATIONS))
        );
    }
}
