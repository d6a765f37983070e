//! Data tools: query, read and write entity records, and `$batch`.
//!
//! Reads are here; writes in [`write`], the batch tool in [`batch`]. The
//! schema pieces every data tool shares (entity set, key, fields, ETag) are
//! built once below, so the tools describe them the same way.

mod batch;
mod write;

use serde_json::{Value, json};

use super::{Effects, Group, ToolSpec, input};

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

/// Most operations one batch call may hold.
pub const MAX_BATCH_OPERATIONS: usize = 100;

/// Most `$expand` items one read may name.
pub const MAX_EXPAND: usize = 10;

/// This group's tools, in listing order.
pub fn specs() -> Vec<ToolSpec> {
    let mut specs = vec![query_entities(), get_entity_record()];
    specs.extend(write::specs());
    specs.push(batch::spec());
    specs
}

/// `entity_set`.
fn entity_set() -> Value {
    json!({
        "type": "string",
        "minLength": 1,
        "description": "Entity set (public collection) name, e.g. CustomersV3, VendorsV2, SalesOrderHeadersV2. Case-sensitive."
    })
}

/// `key`: an object of key field to value.
fn key() -> Value {
    json!({
        "type": "object",
        "minProperties": 1,
        "additionalProperties": { "anyOf": [{ "type": "string" }, { "type": "number" }, { "type": "boolean" }] },
        "description": "Every key field and its value, e.g. {\"dataAreaId\": \"usmf\", \"CustomerAccount\": \"US-001\"}."
    })
}

/// `select`.
fn select() -> Value {
    json!({
        "type": "array",
        "items": { "type": "string" },
        "description": "Fields to return, e.g. [\"CustomerAccount\", \"OrganizationName\"]. Omit for all fields."
    })
}

/// `expand`: navigation properties, one level, each with an optional select.
fn expand() -> Value {
    json!({
        "type": "array",
        "maxItems": MAX_EXPAND,
        "items": {
            "anyOf": [
                { "type": "string", "description": "Navigation property name, e.g. \"SalesOrderLines\"." },
                {
                    "type": "object",
                    "properties": {
                        "name": { "type": "string", "description": "Navigation property name." },
                        "select": { "type": "array", "items": { "type": "string" }, "description": "Fields of the related records to return." }
                    },
                    "required": ["name"],
                    "additionalProperties": false
                }
            ]
        },
        "description": "Related records to include inside each row, one level deep (D365FO expands no further). Each item is a navigation property name, e.g. [\"SalesOrderLines\"], or an object to return only some of their fields, e.g. [{\"name\": \"SalesOrderLines\", \"select\": [\"ItemNumber\", \"OrderedSalesQuantity\"]}]."
    })
}

/// `cross_company` of a keyed read or write.
fn cross_company() -> Value {
    json!({
        "type": "boolean",
        "description": "Set to true when the record belongs to a company other than the caller's default company (D365FO answers that it does not exist otherwise)."
    })
}

/// `fields` of a create or update.
fn fields() -> Value {
    json!({
        "type": "object",
        "minProperties": 1,
        "description": "Field names and their new values as JSON, e.g. {\"OrganizationName\": \"Contoso Retail\", \"CreditLimit\": 5000}. Enums as their member name, e.g. \"Yes\"; dates as ISO 8601 text, e.g. \"2025-01-31T00:00:00Z\"."
    })
}

/// `if_match`: an ETag from an earlier read.
fn if_match() -> Value {
    json!({
        "type": "string",
        "minLength": 1,
        "description": "The record's `@odata.etag` from an earlier read, e.g. \"W/\\\"JzEsNTYzNzE0NDU3Nic=\\\"\"; the change is refused with a conflict if the record changed since. Omit to change it whatever its state."
    })
}

fn query_entities() -> ToolSpec {
    ToolSpec {
        group: Group::Data,
        name: names::QUERY_ENTITIES,
        title: "Query D365FO entities",
        description: "Reads rows of a D365FO data entity through OData. `entity_set` is the \
            public collection name, e.g. `CustomersV3`, `VendorsV2`, `ReleasedProductsV2`, \
            `SalesOrderHeadersV2`. `filter` is an OData $filter expression, e.g. \
            `CustomerGroupId eq '10'` or `dataAreaId eq 'usmf' and CreditLimit gt 1000`; \
            strings in single quotes, enums as \
            `Microsoft.Dynamics.DataEntities.NoYes'Yes'`. `select` lists the fields to \
            return; ask only for what you need. `expand` includes related records, e.g. \
            `[\"SalesOrderLines\"]` on SalesOrderHeadersV2. Rows come from the caller's \
            default company unless `cross_company` is true. At most `top` rows are returned \
            (default 100), and never more than the server's limit per call (1,000 unless \
            configured otherwise; d365fo_get_server_config shows it as `max_rows`): a larger \
            `top` returns only that many, with a `note` saying so. When more rows exist the \
            result has `more: true` and a `next_cursor` to pass back as `cursor` for the next \
            rows.",
        input_schema: input(
            json!({
                "entity_set": entity_set(),
                "filter": {
                    "type": "string",
                    "description": "OData $filter, e.g. \"CustomerGroupId eq '10'\"."
                },
                "select": select(),
                "expand": expand(),
                "orderby": {
                    "type": "string",
                    "description": "OData $orderby, e.g. \"CustomerAccount desc\"."
                },
                "top": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 10000,
                    "description": "Most rows to return (default 100). The server returns at most its `max_rows` (1,000 by default) per call; continue with `next_cursor`."
                },
                "count": {
                    "type": "boolean",
                    "description": "Also return the total number of matching rows."
                },
                "cross_company": {
                    "type": "boolean",
                    "description": "Read all companies instead of the default company."
                },
                "cursor": {
                    "type": "string",
                    "description": "`next_cursor` of a previous call, to continue it. Other arguments are ignored when given."
                }
            }),
            &["entity_set"],
        ),
        output_schema: Some(json!({
            "type": "object",
            "properties": {
                "entity_set": { "type": "string" },
                "rows": { "type": "array", "items": { "type": "object" } },
                "returned": { "type": "integer" },
                "total_count": { "type": "integer" },
                "more": { "type": "boolean" },
                "next_cursor": { "type": "string" },
                "note": { "type": "string" }
            },
            "required": ["entity_set", "rows", "returned", "more"]
        })),
        effects: Effects::READ,
    }
}

fn get_entity_record() -> ToolSpec {
    ToolSpec {
        group: Group::Data,
        name: names::GET_ENTITY_RECORD,
        title: "Get one D365FO record",
        description: "Reads one record of a D365FO data entity by its key. `key` is an \
            object of key field to value; most entities are keyed by company and an id, \
            e.g. `{\"dataAreaId\": \"usmf\", \"CustomerAccount\": \"US-001\"}`. Use \
            `select` to return only some fields and `expand` to include related records, \
            e.g. `[\"SalesOrderLines\"]` on SalesOrderHeadersV2. A record of another \
            company than the default one needs `cross_company: true`. The record's \
            `@odata.etag` is what `if_match` of an update or delete expects. Returns a \
            not-found error when no record has that key, and an invalid-arguments error \
            when the record is too large for one result (narrow `select`, or drop `expand`).",
        input_schema: input(
            json!({
                "entity_set": entity_set(),
                "key": key(),
                "select": select(),
                "expand": expand(),
                "cross_company": cross_company()
            }),
            &["entity_set", "key"],
        ),
        output_schema: Some(json!({
            "type": "object",
            "properties": {
                "entity_set": { "type": "string" },
                "record": { "type": "object" }
            },
            "required": ["entity_set", "record"]
        })),
        effects: Effects::READ,
    }
}

#[cfg(test)]
mod tests {
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
            assert!(
                spec.description.contains("e.g.") || spec.description.contains("Example"),
                "{}",
                spec.name
            );
            assert_eq!(spec.group, Group::Data);
        }
        let query = find(names::QUERY_ENTITIES).map(|t| t.description);
        assert!(
            query.is_some_and(|d| d.contains("`max_rows`") && d.contains("`note`")),
            "the query tool says `top` is capped per call"
        );
        let batch = find(names::EXECUTE_BATCH).map(|t| t.input_schema.clone());
        assert_eq!(
            batch.map(|s| s["properties"]["operations"]["maxItems"].clone()),
            Some(json!(MAX_BATCH_OPERATIONS))
        );
    }
}
