//! Data tools: query, read and write entity records.

use serde_json::json;

use super::{Effects, Group, ToolSpec, input};

/// Tool names of this group.
pub mod names {
    /// OData query on an entity set.
    pub const QUERY_ENTITIES: &str = "d365fo_query_entities";
    /// One record by key.
    pub const GET_ENTITY_RECORD: &str = "d365fo_get_entity_record";
}

/// This group's tools, in listing order.
pub fn specs() -> Vec<ToolSpec> {
    vec![
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
                return; ask only for what you need. Rows come from the caller's default company \
                unless `cross_company` is true. At most `top` rows are returned (default 100); \
                when more exist the result has `more: true` and a `next_cursor` to pass back \
                as `cursor` for the next rows.",
            input_schema: input(
                json!({
                    "entity_set": {
                        "type": "string",
                        "minLength": 1,
                        "description": "Entity set (public collection) name, e.g. CustomersV3."
                    },
                    "filter": {
                        "type": "string",
                        "description": "OData $filter, e.g. \"CustomerGroupId eq '10'\"."
                    },
                    "select": {
                        "type": "array",
                        "items": { "type": "string" },
                        "description": "Fields to return, e.g. [\"CustomerAccount\", \"OrganizationName\"]."
                    },
                    "orderby": {
                        "type": "string",
                        "description": "OData $orderby, e.g. \"CustomerAccount desc\"."
                    },
                    "top": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": 10000,
                        "description": "Most rows to return (default 100)."
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
                    "next_cursor": { "type": "string" }
                },
                "required": ["entity_set", "rows", "returned", "more"]
            })),
            effects: Effects::READ,
        },
        ToolSpec {
            group: Group::Data,
            name: names::GET_ENTITY_RECORD,
            title: "Get one D365FO record",
            description: "Reads one record of a D365FO data entity by its key. `key` is an \
                object of key field to value; most entities are keyed by company and an id, \
                e.g. `{\"dataAreaId\": \"usmf\", \"CustomerAccount\": \"US-001\"}`. Use \
                `select` to return only some fields. A record of another company than the \
                default one needs `cross_company: true`. Returns a not-found error when no \
                record has that key.",
            input_schema: input(
                json!({
                    "entity_set": {
                        "type": "string",
                        "minLength": 1,
                        "description": "Entity set name, e.g. CustomersV3."
                    },
                    "key": {
                        "type": "object",
                        "minProperties": 1,
                        "additionalProperties": { "type": ["string", "number", "boolean"] },
                        "description": "Key fields and values, e.g. {\"dataAreaId\": \"usmf\", \"CustomerAccount\": \"US-001\"}."
                    },
                    "select": {
                        "type": "array",
                        "items": { "type": "string" },
                        "description": "Fields to return."
                    },
                    "cross_company": {
                        "type": "boolean",
                        "description": "Required to read a record of a company other than the caller's default company (D365FO answers not-found otherwise)."
                    }
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
        },
    ]
}
