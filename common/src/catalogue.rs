//! The MCP tools the cluster offers: names, descriptions written for a model,
//! JSON Schemas and annotations. The edge lists them; the worker executes
//! them and checks arguments against the same definitions.

use std::sync::OnceLock;

use serde_json::{Value, json};

use crate::proto::ToolDescriptor;

pub mod metadata;

/// Hints about a tool's effects, as MCP `annotations`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Effects {
    /// Changes nothing.
    pub read_only: bool,
    /// May delete or overwrite data.
    pub destructive: bool,
    /// Repeating the call with the same arguments has no further effect.
    pub idempotent: bool,
    /// Talks to a system outside this cluster (D365FO).
    pub open_world: bool,
}

impl Effects {
    /// Reads D365FO and changes nothing.
    pub const READ: Self = Self {
        read_only: true,
        destructive: false,
        idempotent: true,
        open_world: true,
    };
}

/// One tool's definition.
#[derive(Debug, Clone)]
pub struct ToolSpec {
    /// `d365fo_*` name.
    pub name: &'static str,
    /// Short human title.
    pub title: &'static str,
    /// What it does and how to call it, written for a model.
    pub description: &'static str,
    /// JSON Schema of `arguments`.
    pub input_schema: Value,
    /// JSON Schema of `structuredContent`, where the result is data.
    pub output_schema: Option<Value>,
    /// Effect hints.
    pub effects: Effects,
}

impl ToolSpec {
    /// The gRPC form.
    pub fn to_proto(&self) -> ToolDescriptor {
        ToolDescriptor {
            name: self.name.into(),
            title: self.title.into(),
            description: self.description.into(),
            input_schema_json: self.input_schema.to_string(),
            output_schema_json: self
                .output_schema
                .as_ref()
                .map(Value::to_string)
                .unwrap_or_default(),
            read_only: self.effects.read_only,
            destructive: self.effects.destructive,
            idempotent: self.effects.idempotent,
            open_world: self.effects.open_world,
        }
    }
}

/// Every tool, in listing order.
pub fn tools() -> &'static [ToolSpec] {
    static TOOLS: OnceLock<Vec<ToolSpec>> = OnceLock::new();
    TOOLS.get_or_init(build)
}

/// The tool called `name`.
pub fn find(name: &str) -> Option<&'static ToolSpec> {
    tools().iter().find(|t| t.name == name)
}

/// Tool names.
pub mod names {
    /// Checks that D365FO answers.
    pub const TEST_CONNECTION: &str = "d365fo_test_connection";
    /// Application and platform versions.
    pub const GET_ENVIRONMENT_INFO: &str = "d365fo_get_environment_info";
    /// OData query on an entity set.
    pub const QUERY_ENTITIES: &str = "d365fo_query_entities";
    /// One record by key.
    pub const GET_ENTITY_RECORD: &str = "d365fo_get_entity_record";
    pub use super::metadata::names::*;
}

/// The `environment` argument every tool takes.
pub fn environment_property() -> Value {
    json!({
        "type": "string",
        "description": "Name of a configured D365FO environment. Omit to use the default environment."
    })
}

fn build() -> Vec<ToolSpec> {
    let mut tools = core();
    tools.extend(metadata::specs());
    tools
}

fn core() -> Vec<ToolSpec> {
    vec![
        ToolSpec {
            name: names::TEST_CONNECTION,
            title: "Test D365FO connection",
            description: "Checks that the D365FO environment is reachable and that this server \
                can authenticate to it. Returns whether the connection works, the environment URL \
                and the round-trip time. Use it first when other tools fail with connection or \
                authentication errors.",
            input_schema: json!({
                "type": "object",
                "properties": { "environment": environment_property() },
                "additionalProperties": false
            }),
            output_schema: Some(json!({
                "type": "object",
                "properties": {
                    "ok": { "type": "boolean" },
                    "environment": { "type": "string" },
                    "base_url": { "type": "string" },
                    "latency_ms": { "type": "number" },
                    "message": { "type": "string" }
                },
                "required": ["ok", "environment", "base_url", "latency_ms"]
            })),
            effects: Effects::READ,
        },
        ToolSpec {
            name: names::GET_ENVIRONMENT_INFO,
            title: "Get D365FO environment info",
            description: "Returns the D365FO environment's URL, application version and platform \
                build version. Use it to tell which release an environment runs before relying \
                on version-specific entities or fields.",
            input_schema: json!({
                "type": "object",
                "properties": { "environment": environment_property() },
                "additionalProperties": false
            }),
            output_schema: Some(json!({
                "type": "object",
                "properties": {
                    "environment": { "type": "string" },
                    "base_url": { "type": "string" },
                    "application_version": { "type": "string" },
                    "platform_version": { "type": "string" }
                },
                "required": ["environment", "base_url", "application_version", "platform_version"]
            })),
            effects: Effects::READ,
        },
        ToolSpec {
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
            input_schema: json!({
                "type": "object",
                "properties": {
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
                    },
                    "environment": environment_property()
                },
                "required": ["entity_set"],
                "additionalProperties": false
            }),
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
            name: names::GET_ENTITY_RECORD,
            title: "Get one D365FO record",
            description: "Reads one record of a D365FO data entity by its key. `key` is an \
                object of key field to value; most entities are keyed by company and an id, \
                e.g. `{\"dataAreaId\": \"usmf\", \"CustomerAccount\": \"US-001\"}`. Use \
                `select` to return only some fields. A record of another company than the \
                default one needs `cross_company: true`. Returns a not-found error when no \
                record has that key.",
            input_schema: json!({
                "type": "object",
                "properties": {
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
                    },
                    "environment": environment_property()
                },
                "required": ["entity_set", "key"],
                "additionalProperties": false
            }),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_prefixed() {
        let mut seen = std::collections::HashSet::new();
        for tool in tools() {
            assert!(tool.name.starts_with("d365fo_"), "{}", tool.name);
            assert!(seen.insert(tool.name), "duplicate {}", tool.name);
            assert_eq!(tool.input_schema["type"], "object", "{}", tool.name);
            assert!(
                tool.description.len() > 40,
                "{} needs a real description",
                tool.name
            );
            assert!(
                !tool.effects.read_only || !tool.effects.destructive,
                "{}",
                tool.name
            );
        }
        assert!(find(names::QUERY_ENTITIES).is_some());
        assert!(find("nope").is_none());
    }

    #[test]
    fn descriptor_carries_schemas() {
        let d = find(names::GET_ENTITY_RECORD).unwrap().to_proto();
        let schema: Value = serde_json::from_str(&d.input_schema_json).unwrap();
        assert_eq!(schema["required"], json!(["entity_set", "key"]));
        assert!(d.read_only && d.idempotent && !d.destructive);
    }
}
