//! The MCP tools the cluster offers: names, descriptions written for a model,
//! argument types, JSON Schemas and annotations. The edge lists them; the
//! worker executes them, reading each call's arguments into the same types
//! the input schemas are derived from.
//!
//! One file per [`Group`], each with its `names`, its argument types (e.g.
//! [`data::QueryArgs`]) and its `specs()`:
//!
//! - [`data`]: read and write entity records, `$batch`;
//! - [`execution`]: OData actions, JSON services, reports;
//! - [`metadata`]: connection, versions, entities, enumerations, labels;
//! - [`server`]: statistics and configuration of the cluster itself.
//!
//! [`toolsets`] says which tools an agent sees listed by default and how
//! configuration shows it more (`data`, `metadata`, `labels`, `execution`,
//! `operator`); what it may call is the tenant policy's business.
//!
//! [`args`] holds the field readers the argument types deserialize with
//! (errors a model can act on); [`input`] derives a tool's input schema from
//! its argument type with schemars, in a portable form (inlined, one `type`
//! per node). [`output`] derives a tool's output schema the same way from
//! its result type (e.g. [`server::StatsResult`]), which the worker builds
//! and serializes as the tool's `structuredContent`. Each spec carries
//! example arguments, which the `agreement` tests run through both the
//! schema and the argument type; the `results` tests check a sample of
//! each result type against its tool's output schema.
//!
//! Every tool takes an optional `environment` argument ([`input`] adds it),
//! which the edge routes on and the worker resolves.

pub mod args;
mod confirm;
pub mod data;
pub mod execution;
pub mod metadata;
mod schema;
pub mod server;
pub mod toolsets;

use std::sync::OnceLock;

use serde_json::Value;

pub use confirm::asks_confirmation;
pub use schema::{Portable, any_json, any_json_schema, environment_property, input, output};
pub use toolsets::{Toolset, Toolsets};

use crate::proto::ToolDescriptor;

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

/// Which part of the catalogue a tool belongs to; the worker dispatches on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Group {
    /// Entity records: query, read, create, update, delete, batch.
    Data,
    /// Actions, JSON services and reports.
    Execution,
    /// Metadata, labels, versions and the connection.
    Metadata,
    /// The cluster's own statistics and configuration.
    Server,
}

/// One tool's definition.
#[derive(Debug, Clone)]
pub struct ToolSpec {
    /// The group whose module runs it.
    pub group: Group,
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
    /// Example `arguments`, each a JSON object. Every argument object the
    /// description quotes is among them, and each is checked against both
    /// the input schema and the argument type (`agreement` tests).
    pub examples: &'static [&'static str],
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
    TOOLS.get_or_init(|| {
        let mut all = metadata::specs();
        all.extend(data::specs());
        all.extend(execution::specs());
        all.extend(server::specs());
        all
    })
}

/// The tool called `name`.
pub fn find(name: &str) -> Option<&'static ToolSpec> {
    tools().iter().find(|t| t.name == name)
}

/// Every tool's name, whatever its group.
pub mod names {
    pub use super::data::names::*;
    pub use super::execution::names::*;
    pub use super::metadata::names::*;
    pub use super::server::names::*;
}

#[cfg(test)]
mod agreement;

#[cfg(test)]
mod results;

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn names_are_unique_and_prefixed() {
        let mut seen = std::collections::HashSet::new();
        for tool in tools() {
            assert!(tool.name.starts_with("d365fo_"), "{}", tool.name);
            assert!(seen.insert(tool.name), "duplicate {}", tool.name);
            assert_eq!(tool.input_schema["type"], "object", "{}", tool.name);
            assert_eq!(
                tool.input_schema["properties"]["environment"]["type"], "string",
                "{} must take `environment`",
                tool.name
            );
            assert!(
                tool.description.len() > 15,
                "{} needs a real description",
                tool.name
            );
            // What the default toolsets list travels with every request
            // an agent's model makes: said in a few lines, or not at all.
            if Toolsets::DEFAULT.lists(tool) {
                assert!(
                    tool.description.len() <= 320,
                    "{}'s description is {} bytes; the default surface's are at most 320",
                    tool.name,
                    tool.description.len()
                );
            }
            assert!(
                !tool.effects.read_only || !tool.effects.destructive,
                "{}",
                tool.name
            );
        }
        assert!(find(names::QUERY_ENTITIES).is_some());
        assert!(find("nope").is_none());
    }

    /// Every schema node is portable: a single `type` (never an array;
    /// nullable values are `anyOf` branches) and at least one validation
    /// keyword (no bare `{}` that any dialect reads differently).
    #[test]
    fn every_schema_is_portable() {
        fn walk(tool: &str, path: &str, schema: &Value, problems: &mut Vec<String>) {
            let Some(node) = schema.as_object() else {
                return;
            };
            if node.get("type").is_some_and(Value::is_array) {
                problems.push(format!("{tool} {path}: `type` is an array"));
            }
            let keywords = [
                "type", "enum", "const", "anyOf", "oneOf", "allOf", "$ref", "not",
            ];
            if !keywords.iter().any(|k| node.contains_key(*k)) {
                problems.push(format!("{tool} {path}: no validation keyword"));
            }
            if let Some(properties) = node.get("properties").and_then(Value::as_object) {
                for (name, child) in properties {
                    walk(tool, &format!("{path}.properties.{name}"), child, problems);
                }
            }
            for key in ["items", "additionalProperties"] {
                if let Some(child) = node.get(key).filter(|c| c.is_object()) {
                    walk(tool, &format!("{path}.{key}"), child, problems);
                }
            }
            for key in ["anyOf", "oneOf", "allOf"] {
                for (i, child) in node
                    .get(key)
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .enumerate()
                {
                    walk(tool, &format!("{path}.{key}[{i}]"), child, problems);
                }
            }
        }
        let mut problems = Vec::new();
        for tool in tools() {
            walk(tool.name, "inputSchema", &tool.input_schema, &mut problems);
            if let Some(output) = &tool.output_schema {
                walk(tool.name, "outputSchema", output, &mut problems);
            }
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }

    #[test]
    fn descriptor_carries_schemas() {
        let d = find(names::GET_ENTITY_RECORD).unwrap().to_proto();
        let schema: Value = serde_json::from_str(&d.input_schema_json).unwrap();
        assert_eq!(schema["required"], json!(["entity_set", "key"]));
        assert!(d.read_only && d.idempotent && !d.destructive);
    }
}
