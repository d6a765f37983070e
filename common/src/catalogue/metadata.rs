//! Metadata tools: connection, versions, entities, enumerations, labels.

use serde_json::json;

use super::{Effects, Group, ToolSpec, input};

/// Tool names of this group.
pub mod names {
    /// Checks that D365FO answers.
    pub const TEST_CONNECTION: &str = "d365fo_test_connection";
    /// Application and platform versions.
    pub const GET_ENVIRONMENT_INFO: &str = "d365fo_get_environment_info";
}

/// This group's tools, in listing order.
pub fn specs() -> Vec<ToolSpec> {
    vec![
        ToolSpec {
            group: Group::Metadata,
            name: names::TEST_CONNECTION,
            title: "Test D365FO connection",
            description: "Checks that the D365FO environment is reachable and that this server \
                can authenticate to it. Returns whether the connection works, the environment URL \
                and the round-trip time. Use it first when other tools fail with connection or \
                authentication errors.",
            input_schema: input(json!({}), &[]),
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
            group: Group::Metadata,
            name: names::GET_ENVIRONMENT_INFO,
            title: "Get D365FO environment info",
            description: "Returns the D365FO environment's URL, application version and platform \
                build version. Use it to tell which release an environment runs before relying \
                on version-specific entities or fields.",
            input_schema: input(json!({}), &[]),
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
    ]
}
